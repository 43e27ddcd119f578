/*
 * kaprobe.c - keep-alive latency probe.  Holds one established TLS
 * connection and sends "GET PATH HTTP/1.1" on it every --interval-ms,
 * waiting for each full response.  It shows whether a server's
 * established connections stall while other connections' handshakes wait
 * for a slow token (an event loop blocked in C_Sign would stall them).
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "bench.h"

enum {
	OPT_CONNECT = BENCH_OPT_NEXT, OPT_INTERVAL, OPT_DURATION, OPT_PATH,
	OPT_TIMEOUT, OPT_STRICT, OPT_HELP
};

static const struct option longopts[] = {
	{ "connect", required_argument, NULL, OPT_CONNECT },
	{ "interval-ms", required_argument, NULL, OPT_INTERVAL },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "path", required_argument, NULL, OPT_PATH },
	{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
	{ "strict", no_argument, NULL, OPT_STRICT },
	{ "help", no_argument, NULL, OPT_HELP },
	TLS_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

struct probe {
	struct target target;
	struct tls_opts tls;
	const char *connect, *path;
	long long interval_ms, timeout_ms;
	double duration;
	int strict;
	SSL_CTX *ctx;
	char *req;
	size_t reqlen;
	int fd;
	SSL *ssl;
	struct resp resp;
	long long requests, errors, connects, missed;
	struct samples lat;
	char first_err[200];
};

static void usage(FILE *f)
{
	fputs("Usage: kaprobe --connect HOST:PORT (--cafile FILE | --insecure) "
	    "[options]\n"
	    "Latency of requests on one established keep-alive connection.\n\n"
	    "  --connect HOST:PORT    server (also [V6]:PORT)\n"
	    "  --interval-ms MS       one request every MS (default 10)\n"
	    "  --duration SECONDS     for this long (default 10)\n"
	    "  --path PATH            request path (default /)\n"
	    "  --timeout-ms MS        per-request limit (default 5000)\n"
	    "  --strict               exit 1 if any request failed\n"
	    TLS_USAGE
	    "\nOutput: requests= errors= p50_ms= p99_ms= max_ms= connects= "
	    "missed=\n", f);
}

static void probe_fail(struct probe *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void probe_fail(struct probe *p, const char *fmt, ...)
{
	va_list ap;

	if (p->errors++ == 0) {
		va_start(ap, fmt);
		vsnprintf(p->first_err, sizeof(p->first_err), fmt, ap);
		va_end(ap);
	}
}

static void probe_close(struct probe *p)
{
	SSL_free(p->ssl);
	p->ssl = NULL;
	if (p->fd != -1)
		close(p->fd);
	p->fd = -1;
	ERR_clear_error();
}

/* Why an SSL call on the connection failed, as text. */
static const char *io_reason(struct probe *p, int ret, char *buf, size_t len)
{
	int e = SSL_get_error(p->ssl, ret);

	if (e == SSL_ERROR_ZERO_RETURN)
		return "the server closed the connection";
	/* SO_RCVTIMEO/SO_SNDTIMEO expiring look like a retry to OpenSSL. */
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return "timed out";
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" :
		    errno ? strerror(errno) : "the server closed the connection";
	return tls_errstr(buf, len);
}

static int probe_socket(struct probe *p)
{
	struct timeval tv = { (time_t)(p->timeout_ms / 1000),
		(suseconds_t)(p->timeout_ms % 1000) * 1000 };
	int one = 1;

	p->fd = socket(p->target.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->fd == -1)
		return -1;
	/* Blocking I/O bounded by the timeout keeps the probe simple. */
	setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(p->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return connect(p->fd, (const struct sockaddr *)&p->target.ss,
	    p->target.len);
}

static int probe_connect(struct probe *p)
{
	char eb[200];
	int r;

	p->connects++;
	if (probe_socket(p) == -1) {
		probe_fail(p, "connect: %s", strerror(errno));
		probe_close(p);
		return -1;
	}
	if ((p->ssl = SSL_new(p->ctx)) == NULL || !SSL_set_fd(p->ssl, p->fd) ||
	    tls_conn_setup(p->ssl, &p->tls, p->target.host) == -1) {
		probe_fail(p, "SSL_new: %s", tls_errstr(eb, sizeof(eb)));
		probe_close(p);
		return -1;
	}
	ERR_clear_error();
	errno = 0;
	if ((r = SSL_connect(p->ssl)) != 1) {
		probe_fail(p, "handshake: %s", io_reason(p, r, eb, sizeof(eb)));
		probe_close(p);
		return -1;
	}
	return 0;
}

static int read_response(struct probe *p)
{
	char buf[16384], eb[200];
	int r, rc = 0;

	resp_reset(&p->resp);
	while (rc == 0) {
		ERR_clear_error();
		errno = 0;
		if ((r = SSL_read(p->ssl, buf, sizeof(buf))) <= 0) {
			probe_fail(p, "reading the response: %s",
			    io_reason(p, r, eb, sizeof(eb)));
			return -1;
		}
		rc = resp_feed(&p->resp, buf, (size_t)r);
	}
	if (rc == -1 || p->resp.clen < 0) {
		probe_fail(p, "response without a usable Content-Length");
		return -1;
	}
	if (p->resp.status < 200 || p->resp.status > 299) {
		probe_fail(p, "HTTP status %d", p->resp.status);
		return -1;
	}
	return 0;
}

/* One request on the kept connection; its latency is write to last byte. */
static int probe_request(struct probe *p)
{
	uint64_t t0 = bench_now_ns();
	char eb[200];
	int r;

	ERR_clear_error();
	errno = 0;
	if ((r = SSL_write(p->ssl, p->req, (int)p->reqlen)) <= 0) {
		probe_fail(p, "writing the request: %s",
		    io_reason(p, r, eb, sizeof(eb)));
		return -1;
	}
	if (read_response(p) == -1)
		return -1;
	p->requests++;
	if (samples_add(&p->lat, bench_now_ns() - t0) == -1) {
		bench_err("out of memory");
		return -1;
	}
	/* A server may end keep-alive politely; that is not an error. */
	if (p->resp.conn_close)
		probe_close(p);
	return 0;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000u),
		(long)(t % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void probe_run(struct probe *p)
{
	uint64_t step = (uint64_t)p->interval_ms * 1000000u;
	uint64_t start = bench_now_ns(), next = start;
	uint64_t end = start + (uint64_t)(p->duration * 1e9);

	while (next < end) {
		sleep_until(next);
		/* A failed connect is counted; the next tick tries again. */
		if ((p->ssl != NULL || probe_connect(p) == 0) &&
		    probe_request(p) == -1)
			probe_close(p);
		next += step;
		/* A slow answer skips ticks instead of bursting to catch up. */
		while (next < bench_now_ns()) {
			next += step;
			p->missed++;
		}
	}
}

static int parse_args(int argc, char **argv, struct probe *p)
{
	int code, r;

	while ((code = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if ((r = tls_opt(&p->tls, code, optarg)) != 0) {
			if (r == -1)
				return -1;
			continue;
		}
		switch (code) {
		case OPT_CONNECT: p->connect = optarg; break;
		case OPT_PATH: p->path = optarg; break;
		case OPT_STRICT: p->strict = 1; break;
		case OPT_HELP: usage(stdout); exit(0);
		case OPT_INTERVAL:
		case OPT_TIMEOUT:
			if (bench_parse_long(optarg, 1, 3600000, code == OPT_INTERVAL ?
			    &p->interval_ms : &p->timeout_ms) == -1) {
				bench_err("bad value '%s' for a milliseconds option", optarg);
				return -1;
			}
			break;
		case OPT_DURATION:
			if (bench_parse_double(optarg, &p->duration) == -1 ||
			    p->duration <= 0) {
				bench_err("--duration '%s': want seconds > 0", optarg);
				return -1;
			}
			break;
		default:
			return -1;
		}
	}
	if (optind != argc || p->connect == NULL || p->path[0] != '/') {
		bench_err("need --connect HOST:PORT, a --path starting with /, "
		    "and no other arguments");
		return -1;
	}
	return 0;
}

static void report(struct probe *p)
{
	samples_sort(&p->lat);
	printf("requests=%lld errors=%lld p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
	    "connects=%lld missed=%lld\n", p->requests, p->errors,
	    samples_ms(&p->lat, 50), samples_ms(&p->lat, 99),
	    samples_ms(&p->lat, 100), p->connects, p->missed);
	fflush(stdout);
	if (p->errors)
		bench_err("%lld errors, first: %s", p->errors, p->first_err);
}

int main(int argc, char **argv)
{
	struct probe p = { .path = "/", .interval_ms = 10, .timeout_ms = 5000,
		.duration = 10, .fd = -1 };
	int rc = 2;

	bench_prog = "kaprobe";
	signal(SIGPIPE, SIG_IGN);
	if (parse_args(argc, argv, &p) == -1) {
		usage(stderr);
		goto out;
	}
	if (target_parse(&p.target, p.connect) == -1 ||
	    (p.ctx = tls_client_ctx(&p.tls)) == NULL)
		goto out;
	if ((p.req = http_request(&p.target, p.path, 0, &p.reqlen)) == NULL) {
		bench_err("out of memory");
		goto out;
	}
	probe_run(&p);
	report(&p);
	rc = p.strict && p.errors > 0 ? 1 : 0;
out:
	probe_close(&p);
	samples_free(&p.lat);
	free(p.req);
	SSL_CTX_free(p.ctx);
	return rc;
}
