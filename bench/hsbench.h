/*
 * hsbench.h - hsbench's run configuration and one load thread's state.
 * hsbench.c parses options and reports; hsloop.c runs the connections.
 */
#ifndef HSMTLS_HSBENCH_H
#define HSMTLS_HSBENCH_H

#include <pthread.h>

#include "bench.h"

struct hb_cfg {
	struct target target;
	struct tls_opts tls;
	SSL_CTX *ctx;
	char *request;          /* NULL with --no-request */
	size_t reqlen;
	int concurrency;
	int threads;
	double duration;        /* seconds; 0 when --requests is given */
	long long requests;     /* 0 when --duration is given */
	double rate;            /* handshakes/s cap over all threads; 0 none */
	int burst;              /* with rate: starts per due time (1: even) */
	int timeout_ms;
	int linger0;
	int resume;             /* resume from the last ticket each thread got */
};

/* Error classes, counted separately so a report says what failed. */
enum hb_err { E_CONNECT, E_TLS, E_HTTP, E_TIMEOUT, E_NKINDS };

struct hb_worker {
	const struct hb_cfg *cfg;
	int id;
	int nconn;              /* this thread's share of --concurrency */
	double rate;            /* this thread's share of --rate */
	double phase;           /* offset of its first start, seconds */
	long long quota;        /* this thread's share of --requests */
	uint64_t t0, t_end;     /* common start; end of the window (0: none) */
	/* results */
	long long hs, ok, abandoned, late;  /* handshakes, full successes */
	long long resumed;      /* handshakes that resumed a session */
	long long err[E_NKINDS];
	char first_err[E_NKINDS][200];
	struct samples lat;
	uint64_t t_last;        /* when the last connection finished */
	int failed;             /* the thread itself failed (not a conn) */
	pthread_t tid;
};

void *hb_worker_run(void *arg);

#endif
