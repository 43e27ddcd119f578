/*
 * hsloop.c - one hsbench load thread: an epoll loop driving up to nconn
 * non-blocking connections, each a new TCP connection and a full TLS
 * handshake, then optionally one HTTP request.  A single thread drives
 * hundreds of connections so the client stays cheap next to the server
 * it measures on the same machine.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "hsbench.h"

#define NS 1000000000ull
#define SCAN_NS (50 * 1000000ull)      /* timeout scan period */
#define BACKLOG_NS (100 * 1000000ull)  /* paced starts may lag this much */
#define IDLE_WAIT_NS (10 * 1000000ull)

enum cstate { C_FREE, C_CONNECTING, C_HANDSHAKE, C_WRITE, C_READ };

struct conn {
	int fd;
	SSL *ssl;
	enum cstate st;
	uint32_t events;
	uint64_t t_connect, t_hs, deadline;
	size_t wpos;
	struct conn *next_free;
	struct resp resp;
};

struct loop {
	struct hb_worker *w;
	const struct hb_cfg *cfg;
	int epfd;
	struct conn *conns;
	struct conn *free;
	int active;
	long long started;
	uint64_t next_due, interval, last_scan;
	int in_burst;           /* started since next_due was last moved */
	int no_pwait2;          /* the kernel lacks epoll_pwait2 */
	SSL_SESSION *sess;      /* --resume: the newest resumable session */
};

static const char *state_name(enum cstate st)
{
	switch (st) {
	case C_CONNECTING: return "connecting";
	case C_HANDSHAKE: return "handshake";
	case C_WRITE: return "writing the request";
	case C_READ: return "reading the response";
	default: return "idle";
	}
}

static void close_conn(struct loop *l, struct conn *c, int clean)
{
	if (c->ssl) {
		/* A clean end sends close_notify; its result does not matter. */
		if (clean) {
			ERR_clear_error();
			SSL_shutdown(c->ssl);
		}
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	/*
	 * RST instead of FIN: with --linger0 it keeps ephemeral ports out of
	 * TIME_WAIT.  A failed or abandoned connection always resets, so a
	 * ClientHello still queued at the server is dropped instead of
	 * costing it a token operation after the measurement ended.
	 */
	if (l->cfg->linger0 || !clean) {
		struct linger lg = { 1, 0 };

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->fd);
	c->fd = -1;
	c->st = C_FREE;
	c->next_free = l->free;
	l->free = c;
	l->active--;
	ERR_clear_error();
}

/* --resume: keep the connection's session (with its ticket) for the next. */
static void keep_session(struct loop *l, struct conn *c)
{
	SSL_SESSION *s;

	if (!l->cfg->resume || (s = SSL_get1_session(c->ssl)) == NULL)
		return;
	if (!SSL_SESSION_is_resumable(s)) {
		SSL_SESSION_free(s);
		return;
	}
	SSL_SESSION_free(l->sess);
	l->sess = s;
}

static void conn_ok(struct loop *l, struct conn *c)
{
	keep_session(l, c);
	l->w->ok++;
	l->w->t_last = bench_now_ns();
	close_conn(l, c, 1);
}

static void conn_fail(struct loop *l, struct conn *c, enum hb_err kind,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void conn_fail(struct loop *l, struct conn *c, enum hb_err kind,
    const char *fmt, ...)
{
	struct hb_worker *w = l->w;
	va_list ap;

	if (w->err[kind]++ == 0) {
		va_start(ap, fmt);
		vsnprintf(w->first_err[kind], sizeof(w->first_err[kind]), fmt, ap);
		va_end(ap);
	}
	w->t_last = bench_now_ns();
	close_conn(l, c, 0);
}

static int set_interest(struct loop *l, struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (c->events == ev)
		return 0;
	c->events = ev;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->fd, &e);
}

/* Say why an SSL call failed, including a failed certificate check. */
static void tls_fail(struct loop *l, struct conn *c, int sslerr)
{
	char eb[200];
	long vr = SSL_get_verify_result(c->ssl);

	if (vr != X509_V_OK)
		conn_fail(l, c, E_TLS, "%s: certificate: %s", state_name(c->st),
		    X509_verify_cert_error_string(vr));
	else if (sslerr == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		conn_fail(l, c, E_TLS, "%s: %s", state_name(c->st),
		    errno ? strerror(errno) : "connection closed by the server");
	else
		conn_fail(l, c, E_TLS, "%s: %s", state_name(c->st),
		    tls_errstr(eb, sizeof(eb)));
}

/* Non-blocking TLS call result: 1 done, 0 waiting (interest set), -1 failed. */
static int tls_wait(struct loop *l, struct conn *c, int ret)
{
	int e = SSL_get_error(c->ssl, ret);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		if (set_interest(l, c, e == SSL_ERROR_WANT_READ ? EPOLLIN :
		    EPOLLOUT) == -1) {
			conn_fail(l, c, E_CONNECT, "epoll_ctl: %s", strerror(errno));
			return -1;
		}
		return 0;
	}
	tls_fail(l, c, e);
	return -1;
}

static int conn_connected(struct loop *l, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		conn_fail(l, c, E_CONNECT, "connect: %s", strerror(err));
		return -1;
	}
	if ((c->ssl = SSL_new(l->cfg->ctx)) == NULL ||
	    !SSL_set_fd(c->ssl, c->fd) ||
	    tls_conn_setup(c->ssl, &l->cfg->tls, l->cfg->target.host) == -1 ||
	    (l->sess != NULL && !SSL_set_session(c->ssl, l->sess))) {
		char eb[200];

		conn_fail(l, c, E_TLS, "SSL_new: %s", tls_errstr(eb, sizeof(eb)));
		return -1;
	}
	c->st = C_HANDSHAKE;
	return 0;
}

static int conn_handshake(struct loop *l, struct conn *c)
{
	int r;

	ERR_clear_error();
	errno = 0;
	if ((r = SSL_connect(c->ssl)) != 1)
		return tls_wait(l, c, r) == 0 ? 1 : -1;
	/*
	 * Counted here, not when the response is in: a server that blocks on
	 * its token answers requests only after it has signed for every
	 * queued ClientHello, which would hide the handshakes it did.
	 */
	c->t_hs = bench_now_ns();
	l->w->hs++;
	if (SSL_session_reused(c->ssl))
		l->w->resumed++;
	if (samples_add(&l->w->lat, c->t_hs - c->t_connect) == -1)
		l->w->failed = 1;
	if (l->cfg->request == NULL) {
		conn_ok(l, c);
		return 1;
	}
	c->st = C_WRITE;
	c->wpos = 0;
	return 0;
}

static int conn_write(struct loop *l, struct conn *c)
{
	const struct hb_cfg *cfg = l->cfg;
	int r;

	while (c->wpos < cfg->reqlen) {
		ERR_clear_error();
		errno = 0;
		r = SSL_write(c->ssl, cfg->request + c->wpos,
		    (int)(cfg->reqlen - c->wpos));
		if (r <= 0)
			return tls_wait(l, c, r) == 0 ? 1 : -1;
		c->wpos += (size_t)r;
	}
	c->st = C_READ;
	resp_reset(&c->resp);
	return 0;
}

/* The response is complete (rc 1) or broken (rc -1). */
static void conn_response(struct loop *l, struct conn *c, int rc)
{
	if (rc == -1)
		conn_fail(l, c, E_HTTP, "malformed or incomplete HTTP response");
	else if (c->resp.status < 200 || c->resp.status > 299)
		conn_fail(l, c, E_HTTP, "HTTP status %d", c->resp.status);
	else
		conn_ok(l, c);
}

static void conn_read(struct loop *l, struct conn *c)
{
	char buf[16384];
	int r, e, rc;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		r = SSL_read(c->ssl, buf, sizeof(buf));
		if (r > 0) {
			if ((rc = resp_feed(&c->resp, buf, (size_t)r)) != 0) {
				conn_response(l, c, rc);
				return;
			}
			continue;
		}
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_ZERO_RETURN ||
		    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0)) {
			conn_response(l, c, resp_eof(&c->resp));
			return;
		}
		tls_wait(l, c, r);
		return;
	}
}

static void conn_io(struct loop *l, struct conn *c)
{
	if (c->st == C_CONNECTING && conn_connected(l, c) == -1)
		return;
	if (c->st == C_HANDSHAKE && conn_handshake(l, c) != 0)
		return;
	if (c->st == C_WRITE && conn_write(l, c) != 0)
		return;
	if (c->st == C_READ)
		conn_read(l, c);
}

static void conn_start(struct loop *l)
{
	const struct target *t = &l->cfg->target;
	struct conn *c = l->free;
	struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
	int one = 1;

	l->free = c->next_free;
	l->active++;
	c->st = C_CONNECTING;
	c->events = EPOLLOUT;
	c->fd = socket(t->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		/* Nothing to close: count it and hand the slot back. */
		if (l->w->err[E_CONNECT]++ == 0)
			snprintf(l->w->first_err[E_CONNECT], sizeof(l->w->first_err[0]),
			    "socket: %s", strerror(errno));
		c->st = C_FREE;
		c->next_free = l->free;
		l->free = c;
		l->active--;
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->t_connect = bench_now_ns();
	c->deadline = c->t_connect + (uint64_t)l->cfg->timeout_ms * 1000000u;
	if (connect(c->fd, (const struct sockaddr *)&t->ss, t->len) == -1 &&
	    errno != EINPROGRESS) {
		conn_fail(l, c, E_CONNECT, "connect: %s", strerror(errno));
		return;
	}
	/* Even an immediate connect reports EPOLLOUT at once. */
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, c->fd, &e) == -1)
		conn_fail(l, c, E_CONNECT, "epoll_ctl: %s", strerror(errno));
}

static int may_start(const struct loop *l)
{
	return l->free != NULL && (l->w->t_end != 0 || l->started < l->w->quota);
}

/* Start every connection that is due; paced starts keep an even rhythm. */
static void start_due(struct loop *l, uint64_t now)
{
	while (may_start(l)) {
		if (l->interval) {
			if (l->next_due > now)
				return;
			if (now - l->next_due > BACKLOG_NS) {
				/* Too far behind: drop the backlog, no burst. */
				l->w->late++;
				l->next_due = now;
				l->in_burst = 0;
			}
			/* --burst N: N starts share one due time. */
			if (++l->in_burst >= (l->cfg->burst > 0 ? l->cfg->burst : 1)) {
				l->in_burst = 0;
				l->next_due += l->interval *
				    (uint64_t)(l->cfg->burst > 0 ? l->cfg->burst : 1);
			}
		}
		conn_start(l);
		l->started++;
	}
}

static void scan_timeouts(struct loop *l, uint64_t now)
{
	int i;

	l->last_scan = now;
	for (i = 0; i < l->w->nconn; i++) {
		struct conn *c = &l->conns[i];

		if (c->st != C_FREE && now > c->deadline)
			conn_fail(l, c, E_TIMEOUT, "no progress within %d ms while %s",
			    l->cfg->timeout_ms, state_name(c->st));
	}
}

static uint64_t wait_ns(const struct loop *l, uint64_t now)
{
	uint64_t wait = IDLE_WAIT_NS;

	if (l->interval && may_start(l))
		wait = l->next_due > now ? l->next_due - now : 0;
	if (l->w->t_end && l->w->t_end - now < wait)
		wait = l->w->t_end - now;
	return wait;
}

static int loop_done(const struct loop *l, uint64_t now)
{
	if (l->w->t_end)
		return now >= l->w->t_end;
	return l->started >= l->w->quota && l->active == 0;
}

/*
 * epoll_pwait2 takes a nanosecond timeout, which paces --rate evenly;
 * kernels before 5.11 lack it, and get epoll_wait rounded up to 1 ms.
 */
static int wait_events(struct loop *l, struct epoll_event *ev, int max,
    uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / NS), (long)(ns % NS) };
	int n;

	if (!l->no_pwait2) {
		n = epoll_pwait2(l->epfd, ev, max, &ts, NULL);
		if (n != -1 || errno != ENOSYS)
			return n;
		l->no_pwait2 = 1;
	}
	return epoll_wait(l->epfd, ev, max, (int)((ns + 999999) / 1000000));
}

static void loop_run(struct loop *l)
{
	struct epoll_event ev[64];
	uint64_t now;
	int i, n;

	while (!loop_done(l, now = bench_now_ns())) {
		start_due(l, now);
		n = wait_events(l, ev, 64, wait_ns(l, now));
		if (n == -1 && errno != EINTR) {
			bench_err("epoll_wait: %s", strerror(errno));
			l->w->failed = 1;
			return;
		}
		for (i = 0; i < n; i++)
			conn_io(l, ev[i].data.ptr);
		now = bench_now_ns();
		if (now - l->last_scan >= SCAN_NS)
			scan_timeouts(l, now);
	}
}

/* The window closed: connections still open count neither way. */
static void abandon_all(struct loop *l)
{
	int i;

	for (i = 0; i < l->w->nconn; i++) {
		if (l->conns[i].st != C_FREE) {
			l->w->abandoned++;
			close_conn(l, &l->conns[i], 0);
		}
	}
}

static int loop_init(struct loop *l, struct hb_worker *w)
{
	int i;

	memset(l, 0, sizeof(*l));
	l->w = w;
	l->cfg = w->cfg;
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		bench_err("epoll_create1: %s", strerror(errno));
		return -1;
	}
	if ((l->conns = calloc((size_t)w->nconn, sizeof(*l->conns))) == NULL) {
		bench_err("out of memory for %d connections", w->nconn);
		close(l->epfd);
		return -1;
	}
	for (i = w->nconn - 1; i >= 0; i--) {
		l->conns[i].fd = -1;
		l->conns[i].next_free = l->free;
		l->free = &l->conns[i];
	}
	if (w->rate > 0) {
		l->interval = (uint64_t)(1e9 / w->rate);
		l->next_due = w->t0 + (uint64_t)(w->phase * 1e9);
	}
	l->last_scan = w->t0;
	return 0;
}

void *hb_worker_run(void *arg)
{
	struct hb_worker *w = arg;
	struct loop l;

	if (loop_init(&l, w) == -1) {
		w->failed = 1;
		return NULL;
	}
	loop_run(&l);
	abandon_all(&l);
	SSL_SESSION_free(l.sess);
	free(l.conns);
	close(l.epfd);
	/* OpenSSL keeps a per-thread error queue; free it with the thread. */
	OPENSSL_thread_stop();
	return NULL;
}
