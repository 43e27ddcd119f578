/*
 * bench.h - pieces shared by the benchmark clients hsbench and kaprobe:
 * a monotonic clock, latency samples, an HTTP/1.1 response reader, the
 * client TLS context and the target address.
 *
 * The clients link OpenSSL and pthreads only: they measure servers, so
 * nothing here touches PKCS#11 or the engine.
 */
#ifndef HSMTLS_BENCH_H
#define HSMTLS_BENCH_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

/* Name used in error lines: "<prog>: <cause>". */
extern const char *bench_prog;

void bench_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic time in nanoseconds. */
uint64_t bench_now_ns(void);

/* Parse a non-negative decimal number (strict: whole string); 0/-1. */
int bench_parse_double(const char *s, double *out);
int bench_parse_long(const char *s, long long min, long long max,
    long long *out);

/* ---- latency samples (microseconds) ---- */
struct samples {
	uint32_t *v;
	size_t n, cap;
};

int samples_add(struct samples *s, uint64_t ns);
int samples_merge(struct samples *dst, const struct samples *src);
/* Sorts in place; then samples_ms() gives the nearest-rank percentile. */
void samples_sort(struct samples *s);
double samples_ms(const struct samples *s, double pct);
void samples_free(struct samples *s);

/* ---- HTTP/1.1 response reader ---- */
#define RESP_HDR_MAX 8192

struct resp {
	char hdr[RESP_HDR_MAX];
	size_t hlen;
	int hdr_done;
	int status;
	int conn_close;         /* "Connection: close" seen */
	long long clen;         /* -1: no Content-Length, body ends at EOF */
	long long body;
};

void resp_reset(struct resp *r);
/* Feed received bytes: 1 response complete, 0 need more, -1 malformed. */
int resp_feed(struct resp *r, const char *buf, size_t n);
/* The peer closed: 1 if that completes the response, else -1. */
int resp_eof(const struct resp *r);

/* ---- client TLS ---- */
struct tls_opts {
	int version;            /* 0: 1.2 or 1.3; 12; 13 */
	const char *groups, *ciphers, *ciphersuites, *sigalgs, *cafile;
	int insecure;
};

enum {
	OPT_TLS = 1000, OPT_GROUPS, OPT_CIPHERS, OPT_CIPHERSUITES,
	OPT_SIGALGS, OPT_CAFILE, OPT_INSECURE, BENCH_OPT_NEXT
};

#define TLS_LONGOPTS \
	{ "tls", required_argument, NULL, OPT_TLS }, \
	{ "groups", required_argument, NULL, OPT_GROUPS }, \
	{ "ciphers", required_argument, NULL, OPT_CIPHERS }, \
	{ "ciphersuites", required_argument, NULL, OPT_CIPHERSUITES }, \
	{ "sigalgs", required_argument, NULL, OPT_SIGALGS }, \
	{ "cafile", required_argument, NULL, OPT_CAFILE }, \
	{ "insecure", no_argument, NULL, OPT_INSECURE }

#define TLS_USAGE \
	"  --tls 1.2|1.3          protocol version (default: either)\n" \
	"  --groups LIST          key-exchange groups, e.g. X25519 or P-256\n" \
	"  --ciphers LIST         TLS 1.2 cipher list, e.g. AES128-GCM-SHA256\n" \
	"  --ciphersuites LIST    TLS 1.3 cipher suites\n" \
	"  --sigalgs LIST         signature algorithms, e.g. rsa_pss_rsae_sha256\n" \
	"  --cafile FILE          verify the server against FILE\n" \
	"  --insecure             skip verification (the handshake still completes)\n"

/* Handle one TLS option from getopt_long: 1 handled, 0 not ours, -1 bad. */
int tls_opt(struct tls_opts *o, int code, const char *arg);
/* A client context without resumption: no tickets, no session cache. */
SSL_CTX *tls_client_ctx(const struct tls_opts *o);
/* Set SNI (names only) and the name or IP the certificate must carry. */
int tls_conn_setup(SSL *ssl, const struct tls_opts *o, const char *host);
/* The first queued OpenSSL error as text (clears the queue). */
const char *tls_errstr(char *buf, size_t len);

/* ---- target ---- */
struct target {
	struct sockaddr_storage ss;
	socklen_t len;
	char host[256];         /* without brackets */
};

/* "HOST:PORT" or "[V6]:PORT", resolved once. */
int target_parse(struct target *t, const char *hostport);
/* "GET PATH HTTP/1.1" with Host; "Connection: close" if close_conn. */
char *http_request(const struct target *t, const char *path, int close_conn,
    size_t *len);

#endif
