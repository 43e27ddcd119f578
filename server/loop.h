/*
 * loop.h - the listening socket, the libev loop, signals and the graceful
 * stop.  Connections (conn.c) register here so the loop can bound their
 * number and close them at shutdown.
 */
#ifndef SRV_LOOP_H
#define SRV_LOOP_H

#include <stdbool.h>

#include <ev.h>
#include <openssl/ssl.h>

#include "cfg.h"
#include "conn.h"
#include "http.h"

struct conn;

struct server {
	struct ev_loop *ev;
	SSL_CTX *ctx;
	const struct http_site *site;
	int listen_fd;
	ev_io accept_io;
	ev_timer accept_retry;  /* re-enables accept after EMFILE/ENFILE */
	ev_signal sigterm;
	ev_signal sigint;
	ev_timer drain;         /* bounds the graceful stop */
	struct conn *conns;     /* live connections (linked by conn.c) */
	unsigned nconns;
	unsigned max_conns;
	bool stopping;
	struct http_limits limits;      /* per request, read by http.c */
	struct conn_timeouts timeouts;  /* per connection, read by conn.c */
	/* counters for /metrics; touched by the loop thread only */
	unsigned long long accepted;
	unsigned long long handshakes;          /* completed */
	unsigned long long handshake_failures;  /* closed before completing */
};

void server_init(struct server *s, struct ev_loop *ev, SSL_CTX *ctx,
    const struct http_site *site, unsigned max_conns);

/*
 * Bind and listen on cfg's address, then print "listening on HOST:PORT"
 * with the bound port.  0, or -1 with one line logged.
 */
int server_listen(struct server *s, const struct cfg *cfg);

/* Serve until SIGTERM/SIGINT and the graceful stop are done. */
void server_run(struct server *s);

/* Close every connection and the listener. */
void server_close(struct server *s);

/* Called by conn.c when a connection is freed. */
void server_conn_closed(struct server *s);

#endif /* SRV_LOOP_H */
