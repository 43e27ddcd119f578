/*
 * hsbench.c - a TLS handshake load client.  Every request is a new TCP
 * connection and a full handshake (no tickets, no session cache), so it
 * measures what a TLS server's private key costs it; with --resume each
 * connection resumes the session of the one before (tickets), which
 * measures what resumption saves.  Prints one
 * key=value line; latency is from connect() to the end of the handshake.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <openssl/err.h>

#include "hsbench.h"

enum {
	OPT_CONNECT = BENCH_OPT_NEXT, OPT_CONCURRENCY, OPT_THREADS,
	OPT_DURATION, OPT_REQUESTS, OPT_RATE, OPT_BURST, OPT_TIMEOUT, OPT_PATH,
	OPT_NOREQ, OPT_LINGER0, OPT_STRICT, OPT_RESUME, OPT_HELP
};

static const struct option longopts[] = {
	{ "connect", required_argument, NULL, OPT_CONNECT },
	{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "requests", required_argument, NULL, OPT_REQUESTS },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "burst", required_argument, NULL, OPT_BURST },
	{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
	{ "path", required_argument, NULL, OPT_PATH },
	{ "no-request", no_argument, NULL, OPT_NOREQ },
	{ "linger0", no_argument, NULL, OPT_LINGER0 },
	{ "strict", no_argument, NULL, OPT_STRICT },
	{ "resume", no_argument, NULL, OPT_RESUME },
	{ "help", no_argument, NULL, OPT_HELP },
	TLS_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

struct opts {
	struct hb_cfg cfg;
	const char *connect, *path;
	int no_request, strict;
};

static void usage(FILE *f)
{
	fputs("Usage: hsbench --connect HOST:PORT (--cafile FILE | --insecure) "
	    "[options]\n"
	    "TLS handshake load: a new connection and full handshake per "
	    "request.\n\n"
	    "  --connect HOST:PORT    server (also [V6]:PORT)\n"
	    "  --concurrency N        connections in flight (default 1)\n"
	    "  --threads N            client threads, each an epoll loop "
	    "(default 1)\n"
	    "  --duration SECONDS     measure for this long (default 10)\n"
	    "  --requests N           or: make exactly N connections\n"
	    "  --rate R               cap at R handshakes/s, evenly paced\n"
	    "  --burst N              with --rate: start them N at once, every\n"
	    "                         N/R seconds (default 1)\n"
	    "  --timeout-ms MS        per-connection limit (default 10000)\n"
	    "  --path PATH            request path (default /); each response "
	    "is read in full\n"
	    "  --no-request           handshake only, then close_notify\n"
	    "  --linger0              close with RST (no TIME_WAIT)\n"
	    "  --strict               exit 1 if any connection failed\n"
	    "  --resume               accept session tickets and resume each new\n"
	    "                         connection from the last one (per thread)\n"
	    TLS_USAGE
	    "\nOutput: handshakes= errors= hs_per_s= p50_ms= p99_ms= max_ms= "
	    "...\n", f);
}

static int opt_num(int code, const char *arg, struct opts *o)
{
	struct hb_cfg *c = &o->cfg;
	long long v;

	switch (code) {
	case OPT_CONCURRENCY:
	case OPT_THREADS:
	case OPT_TIMEOUT:
	case OPT_BURST:
		if (bench_parse_long(arg, 1, 1000000, &v) == -1)
			goto bad;
		if (code == OPT_CONCURRENCY)
			c->concurrency = (int)v;
		else if (code == OPT_THREADS)
			c->threads = (int)v;
		else if (code == OPT_BURST)
			c->burst = (int)v;
		else
			c->timeout_ms = (int)v;
		return 0;
	case OPT_REQUESTS:
		if (bench_parse_long(arg, 1, (long long)1 << 40, &c->requests) == -1)
			goto bad;
		c->duration = 0;
		return 0;
	case OPT_DURATION:
		if (bench_parse_double(arg, &c->duration) == -1 || c->duration <= 0)
			goto bad;
		c->requests = 0;
		return 0;
	default:        /* OPT_RATE */
		if (bench_parse_double(arg, &c->rate) == -1 || c->rate <= 0)
			goto bad;
		return 0;
	}
bad:
	bench_err("bad value '%s' for an option", arg);
	return -1;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	int code, r;

	while ((code = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if ((r = tls_opt(&o->cfg.tls, code, optarg)) != 0) {
			if (r == -1)
				return -1;
			continue;
		}
		switch (code) {
		case OPT_CONNECT: o->connect = optarg; break;
		case OPT_PATH: o->path = optarg; break;
		case OPT_NOREQ: o->no_request = 1; break;
		case OPT_RESUME: o->cfg.resume = 1; break;
		case OPT_LINGER0: o->cfg.linger0 = 1; break;
		case OPT_STRICT: o->strict = 1; break;
		case OPT_HELP: usage(stdout); exit(0);
		case '?': return -1;
		default:
			if (opt_num(code, optarg, o) == -1)
				return -1;
		}
	}
	if (optind != argc) {
		bench_err("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (o->connect == NULL) {
		bench_err("--connect HOST:PORT is required");
		return -1;
	}
	if (o->path[0] != '/') {
		bench_err("--path '%s': must start with /", o->path);
		return -1;
	}
	return 0;
}

static int setup(struct opts *o)
{
	struct hb_cfg *c = &o->cfg;

	if (target_parse(&c->target, o->connect) == -1)
		return -1;
	if ((c->ctx = tls_client_ctx(&c->tls)) == NULL)
		return -1;
	if (c->resume) {
		/* TLS 1.3 tickets come after the handshake: read a response. */
		if (o->no_request) {
			bench_err("--resume needs a request (not --no-request)");
			return -1;
		}
		SSL_CTX_clear_options(c->ctx, SSL_OP_NO_TICKET);
	}
	if (!o->no_request &&
	    (c->request = http_request(&c->target, o->path, 1, &c->reqlen)) == NULL) {
		bench_err("out of memory");
		return -1;
	}
	if (c->threads > c->concurrency)
		c->threads = c->concurrency;
	return 0;
}

/* Share concurrency, requests and rate out; stagger paced starts. */
static void worker_init(struct hb_worker *w, const struct hb_cfg *c, int i,
    uint64_t t0)
{
	int t = c->threads;

	memset(w, 0, sizeof(*w));
	w->cfg = c;
	w->id = i;
	w->nconn = c->concurrency / t + (i < c->concurrency % t);
	w->quota = c->requests / t + (i < c->requests % t);
	w->rate = c->rate / t;
	w->phase = c->rate > 0 ? i / c->rate : 0;
	w->t0 = t0;
	w->t_end = c->duration > 0 ? t0 + (uint64_t)(c->duration * 1e9) : 0;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct total {
	long long hs, ok, abandoned, late, resumed, err[E_NKINDS], errors;
	uint64_t t_last;
	struct samples lat;
	char first_err[E_NKINDS][200];  /* copied: the workers are freed */
	int failed;
};

static void add_worker(struct total *s, const struct hb_worker *w)
{
	int k;

	s->hs += w->hs;
	s->ok += w->ok;
	s->abandoned += w->abandoned;
	s->late += w->late;
	s->resumed += w->resumed;
	for (k = 0; k < E_NKINDS; k++) {
		s->err[k] += w->err[k];
		s->errors += w->err[k];
		if (s->first_err[k][0] == '\0' && w->err[k] > 0)
			memcpy(s->first_err[k], w->first_err[k], sizeof(s->first_err[k]));
	}
	if (w->t_last > s->t_last)
		s->t_last = w->t_last;
	if (w->failed || samples_merge(&s->lat, &w->lat) == -1)
		s->failed = 1;
}

static void report(struct total *s, const struct hb_cfg *c, uint64_t t0,
    double cpu)
{
	static const char *kind[E_NKINDS] = { "connect", "tls", "http", "timeout" };
	double el = c->duration > 0 ? c->duration :
	    (s->t_last > t0 ? (s->t_last - t0) / 1e9 : 0);
	int k;

	samples_sort(&s->lat);
	printf("handshakes=%lld errors=%lld hs_per_s=%.1f p50_ms=%.3f "
	    "p99_ms=%.3f max_ms=%.3f elapsed_s=%.3f concurrency=%d threads=%d "
	    "completed=%lld err_connect=%lld err_tls=%lld err_http=%lld "
	    "err_timeout=%lld abandoned=%lld late=%lld resumed=%lld "
	    "client_cpu_s=%.3f\n",
	    s->hs, s->errors, el > 0 ? s->hs / el : 0.0,
	    samples_ms(&s->lat, 50), samples_ms(&s->lat, 99),
	    samples_ms(&s->lat, 100), el, c->concurrency, c->threads, s->ok,
	    s->err[E_CONNECT], s->err[E_TLS], s->err[E_HTTP], s->err[E_TIMEOUT],
	    s->abandoned, s->late, s->resumed, cpu);
	fflush(stdout);
	for (k = 0; k < E_NKINDS; k++)
		if (s->first_err[k][0] != '\0')
			bench_err("%lld %s errors, first: %s", s->err[k], kind[k],
			    s->first_err[k]);
}

/* Run the workers; 0 when every thread ran (connections may have failed). */
static int run(const struct hb_cfg *c, struct total *s)
{
	struct hb_worker *w = calloc((size_t)c->threads, sizeof(*w));
	uint64_t t0 = bench_now_ns();
	double cpu0 = cpu_seconds();
	int i, n = 0, rc;

	if (w == NULL) {
		bench_err("out of memory");
		return -1;
	}
	for (n = 0; n < c->threads; n++) {
		worker_init(&w[n], c, n, t0);
		if ((rc = pthread_create(&w[n].tid, NULL, hb_worker_run, &w[n])) != 0) {
			bench_err("pthread_create: %s", strerror(rc));
			s->failed = 1;
			break;
		}
	}
	for (i = 0; i < n; i++) {
		pthread_join(w[i].tid, NULL);
		add_worker(s, &w[i]);
		samples_free(&w[i].lat);
	}
	free(w);
	if (s->failed) {
		bench_err("a load thread failed; no result");
		return -1;
	}
	report(s, c, t0, cpu_seconds() - cpu0);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .path = "/" };
	struct total s;
	int rc = 2;

	bench_prog = "hsbench";
	o.cfg.concurrency = 1;
	o.cfg.threads = 1;
	o.cfg.duration = 10;
	o.cfg.timeout_ms = 10000;
	memset(&s, 0, sizeof(s));
	/* A server closing early must be an error count, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (parse_args(argc, argv, &o) == -1) {
		usage(stderr);
		goto out;
	}
	if (setup(&o) == -1)
		goto out;
	rc = 1;
	if (run(&o.cfg, &s) == -1)
		goto out;
	rc = o.strict && s.errors > 0 ? 1 : 0;
out:
	samples_free(&s.lat);
	free(o.cfg.request);
	SSL_CTX_free(o.cfg.ctx);
	return rc;
}
