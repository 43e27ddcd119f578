/*
 * conn.c - per-connection state machine.
 *
 *   HANDSHAKE -> READ <-> WRITE -> SHUTDOWN -> LINGER -> freed
 *            \-> PROXY -> freed        (a site with an upstream, proxy.c)
 *            \-> H2 -> SHUTDOWN        (ALPN h2: the session in h2.c)
 *
 * conn_drive() runs steps until one has to wait; each step returns what it
 * waits for (socket readable/writable, or the async fds of a paused key
 * operation), so readiness of any kind simply re-runs the current step.
 * Every wait is bounded by the connection's timer, from struct
 * conn_timeouts: the handshake; idle until a request's first byte; from
 * that byte until its head is complete (not restarted by each byte, so a
 * client trickling a head cannot hold the connection); and each send.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>

#include <openssl/err.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <time.h>

#include "accesslog.h"
#include "conn.h"
#include "h2.h"
#include "hk.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "proxy.h"
#include "site.h"
#include "tls.h"

#define CONN_MAGIC          0x636f6e6eU /* "conn" */
#define CONN_LINGER_SECS    2.0
#define CONN_BUF            16384       /* file bodies go out in chunks of this */
#define CONN_MAX_ASYNC_FDS  4
#define CONN_MAX_STEPS      64          /* then yield to other connections */
/*
 * Handshake steps (a ClientHello's key exchange, a signature's final
 * flight: 100-300 us of CPU each) between two polls of the loop, at
 * most.  Beyond, a handshake waits in the loop's queue (conn_defer), so a
 * burst of new connections cannot hold up the requests of established
 * ones for the whole burst: the queue is drained a few at a time, after a
 * poll has seen what else is ready.
 */
#define CONN_HS_BUDGET      2

enum conn_state {
	CONN_HANDSHAKE,
	CONN_READ,              /* waiting for or parsing a request */
	CONN_WRITE,             /* sending a response */
	CONN_SHUTDOWN,          /* sending close_notify */
	CONN_LINGER,            /* draining the peer after our FIN */
	CONN_PROXY,             /* passed to the site's backend (c->px) */
	CONN_H2,                /* HTTP/2 frames both ways (c->h2) */
};

/* What a step wants next. */
enum conn_next {
	NEXT_RUN,               /* progress made: run the next step now */
	NEXT_READ,
	NEXT_WRITE,
	NEXT_ASYNC,
	NEXT_PROXY,             /* hand the connection to proxy.c */
	NEXT_CLOSE,
};

struct conn {
	uint32_t magic;
	struct server *srv;
	struct gen *gen;        /* the configuration it was accepted under */
	char peer[INET6_ADDRSTRLEN];    /* client address, for the access log */
	struct timespec req_wall;       /* request started (CLOCK_REALTIME) */
	struct timespec req_mono;       /* and CLOCK_MONOTONIC */
	bool req_timed;                 /* req_* hold this request's start */
	int resp_status;                /* status of the response being sent */
	size_t resp_head;               /* bytes of it that are the head */
	long long resp_sent;            /* bytes of it written so far */
	struct conn *prev, *next;
	int fd;
	SSL *ssl;
	enum conn_state state;
	bool closing;           /* server stopping: finish this request, then close */
	bool dead;              /* closed while a key operation was paused */
	bool evicted;           /* closed idle to admit another: no failure */
	bool async_pending;
	bool header_timer;      /* the timer bounds the arriving request head */
	bool hs_queued;         /* waits in srv->hs_head (conn_defer) */
	struct conn *hs_next;
	int io_events;
	ev_io io;
	ev_timer timer;
	ev_io async_io[CONN_MAX_ASYNC_FDS];
	size_t n_async;
	struct proxy *px;       /* CONN_PROXY: the backend side */
	struct h2 *h2;          /* CONN_H2: the session */
	unsigned long long h2_mark;     /* its progress when the timer was set */
	bool h2_busy;                   /* streams were open then */
	struct http_session http;
	struct http_response resp;
	/*
	 * Requests and responses; a proxied connection's two directions.
	 * CONN_BUF bytes each, held only while in use (a request being read,
	 * a response being sent, a proxied pair): an idle keep-alive
	 * connection holds neither (conn_buf_get(), conn_buf_put()).
	 */
	char *in;
	size_t in_off, in_len;
	char *out;
	size_t out_off, out_len;
};

static void conn_drive(struct conn *c);
static void conn_log(struct conn *c);

/* *buf, allocated if it is not; -1 when out of memory. */
static int conn_buf_get(char **buf)
{
	if (*buf == NULL && (*buf = malloc(CONN_BUF)) == NULL)
		return -1;
	return 0;
}

static void conn_buf_put(char **buf)
{
	free(*buf);
	*buf = NULL;
}

/* The negotiated version, for the counters; VER_OTHER before ServerHello. */
static int conn_version(const struct conn *c)
{
	if (SSL_get_current_cipher(c->ssl) == NULL)
		return VER_OTHER;
	switch (SSL_version(c->ssl)) {
	case TLS1_2_VERSION: return VER_TLS12;
	case TLS1_3_VERSION: return VER_TLS13;
	default:             return VER_OTHER;
	}
}

static struct conn *conn_from(void *data)
{
	struct conn *c = data;

	if (c == NULL || c->magic != CONN_MAGIC)
		abort();        /* a watcher outlived its connection */
	return c;
}

static void conn_timeout(struct conn *c, double secs)
{
	ev_timer_stop(c->srv->ev, &c->timer);
	ev_timer_set(&c->timer, secs, 0.0);
	ev_timer_start(c->srv->ev, &c->timer);
}

static void conn_async_stop(struct conn *c)
{
	size_t i;

	for (i = 0; i < c->n_async; i++)
		ev_io_stop(c->srv->ev, &c->async_io[i]);
	c->n_async = 0;
	c->async_pending = false;
}

/* Wait for a later turn of the loop (see CONN_HS_BUDGET). */
static void conn_defer(struct conn *c)
{
	struct server *s = c->srv;

	ev_io_stop(s->ev, &c->io);
	c->hs_next = NULL;
	c->hs_queued = true;
	if (s->hs_tail != NULL)
		s->hs_tail->hs_next = c;
	else
		s->hs_head = c;
	s->hs_tail = c;
	ev_idle_start(s->ev, &s->hs_idle);
}

static void conn_undefer(struct conn *c)
{
	struct server *s = c->srv;
	struct conn **pp, *prev = NULL;

	for (pp = &s->hs_head; *pp != NULL; prev = *pp, pp = &(*pp)->hs_next)
		if (*pp == c) {
			*pp = c->hs_next;
			if (s->hs_tail == c)
				s->hs_tail = prev;
			break;
		}
	c->hs_queued = false;
	c->hs_next = NULL;
}

static void conn_unlink(struct conn *c)
{
	struct server *s = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		s->conns_tail = c->prev;
}

/*
 * Release everything.  Only conn_free_all() at exit (or a failure to watch
 * the job's fds) reaches this with a key operation still paused; that SSL
 * is leaked on purpose, since freeing it would let the job resume into
 * freed memory.
 */
static void conn_free(struct conn *c)
{
	struct server *s = c->srv;
	bool paused = SSL_waiting_for_async(c->ssl);

	if (c->state == CONN_HANDSHAKE && !c->evicted)
		s->st.handshake_failures[conn_version(c)]++;
	if (c->state == CONN_WRITE)
		conn_log(c);    /* cut short: what was sent */
	proxy_free(c->px);
	h2_free(c->h2);
	ev_io_stop(s->ev, &c->io);
	ev_timer_stop(s->ev, &c->timer);
	conn_async_stop(c);
	if (!paused)
		SSL_free(c->ssl);
	ERR_clear_error();
	close(c->fd);
	http_response_clear(&c->resp);
	http_session_free(&c->http);
	conn_buf_put(&c->in);
	conn_buf_put(&c->out);
	conn_unlink(c);
	gen_unref(c->gen);
	c->magic = 0;
	free(c);
	server_conn_closed(s);
}

static enum conn_next conn_step(struct conn *c);
static int conn_watch_async(struct conn *c);

/*
 * Resume the paused key operation with cancellation on (the engine then
 * gives up at once instead of waiting for the token), so the job finishes
 * and the SSL can be freed.  The step's result does not matter any more.
 */
static void conn_cancel_async(struct conn *c)
{
	conn_async_stop(c);
	hk_async_cancel(1);
	(void)conn_step(c);
	hk_async_cancel(0);
	ERR_clear_error();
}

/*
 * libssl must not free an SSL whose async job is paused (the job would
 * resume into freed memory).  If the job pauses even after cancellation,
 * the connection stops its socket and timer and is freed when the job ends.
 */
static void conn_close(struct conn *c)
{
	if (c->async_pending)
		conn_cancel_async(c);
	if (!SSL_waiting_for_async(c->ssl)) {
		conn_free(c);
		return;
	}
	c->dead = true;
	ev_io_stop(c->srv->ev, &c->io);
	ev_timer_stop(c->srv->ev, &c->timer);
	if (conn_watch_async(c) == -1)
		conn_free(c);   /* leaks the SSL, see conn_free() */
}

static enum conn_next conn_tls_next(struct conn *c, int ret)
{
	switch (tls_io_result(c->ssl, ret)) {
	case TLS_IO_DONE:       return NEXT_RUN;
	case TLS_IO_WANT_READ:  return NEXT_READ;
	case TLS_IO_WANT_WRITE: return NEXT_WRITE;
	case TLS_IO_WANT_ASYNC: return NEXT_ASYNC;
	default:                return NEXT_CLOSE;
	}
}

static bool conn_alpn_h2(const struct conn *c)
{
	const unsigned char *p;
	unsigned len;

	SSL_get0_alpn_selected(c->ssl, &p, &len);
	return len == 2 && memcmp(p, "h2", 2) == 0;
}

static enum conn_next conn_h2_start(struct conn *c)
{
	if ((c->h2 = h2_new(c->srv, c->ssl, c->peer)) == NULL) {
		log_error("connection: out of memory");
		return NEXT_CLOSE;
	}
	c->state = CONN_H2;
	c->h2_busy = false;
	c->h2_mark = 0;
	conn_timeout(c, c->srv->timeouts.idle);
	return NEXT_RUN;
}

/*
 * Before an HTTP/2 wait: the idle timeout with no stream open, the send
 * timeout with one, restarted only when a stream opens or a HEADERS or
 * DATA frame goes out (so PINGs and a window kept at 0 do not hold it).
 */
static enum conn_next conn_h2_wait(struct conn *c, enum conn_next next)
{
	bool busy = h2_streams(c->h2) > 0 || c->out_off < c->out_len;
	unsigned long long mark = h2_progress(c->h2);

	if ((next == NEXT_READ || next == NEXT_WRITE) &&
	    (busy != c->h2_busy || mark != c->h2_mark)) {
		c->h2_busy = busy;
		c->h2_mark = mark;
		conn_timeout(c, busy ? c->srv->timeouts.send :
		    c->srv->timeouts.idle);
	}
	return next;
}

/*
 * HTTP/2: write what is buffered; then read what the client sent, if
 * anything (between chunks too, so a RST_STREAM or GOAWAY is seen while a
 * body streams); then take the session's next bytes, or wait.
 */
static enum conn_next conn_h2(struct conn *c)
{
	enum conn_next next;
	ssize_t n;
	int r;

	if (c->out_off < c->out_len) {
		ERR_clear_error();
		r = SSL_write(c->ssl, c->out + c->out_off,
		    (int)(c->out_len - c->out_off));
		if (r <= 0)
			return conn_h2_wait(c, conn_tls_next(c, r));
		c->out_off += (size_t)r;
		return NEXT_RUN;
	}
	c->out_off = c->out_len = 0;
	/* Both buffers only while in use, as for HTTP/1.1. */
	if (conn_buf_get(&c->in) == -1) {
		log_error("connection: out of memory");
		return NEXT_CLOSE;
	}
	ERR_clear_error();
	r = SSL_read(c->ssl, c->in, CONN_BUF);
	if (r > 0)
		return h2_recv(c->h2, c->in, (size_t)r) == 0 ? NEXT_RUN :
		    NEXT_CLOSE;
	conn_buf_put(&c->in);
	if ((next = conn_tls_next(c, r)) != NEXT_READ)
		return conn_h2_wait(c, next);
	if (conn_buf_get(&c->out) == -1) {
		log_error("connection: out of memory");
		return NEXT_CLOSE;
	}
	if ((n = h2_send(c->h2, c->out, CONN_BUF)) != 0) {
		c->out_len = n > 0 ? (size_t)n : 0;
		return n > 0 ? NEXT_RUN : NEXT_CLOSE;
	}
	conn_buf_put(&c->out);
	if (h2_done(c->h2)) {
		c->state = CONN_SHUTDOWN;
		return NEXT_RUN;
	}
	return conn_h2_wait(c, NEXT_READ);
}

static enum conn_next conn_handshake(struct conn *c)
{
	int ret;

	ERR_clear_error();
	ret = SSL_do_handshake(c->ssl);
	if (ret != 1) {
		unsigned long code = ERR_peek_last_error();
		enum conn_next next = conn_tls_next(c, ret);

		/* Why a handshake failed, once, for the error log (info). */
		if (next == NEXT_CLOSE && log_enabled(LOG_LEVEL_INFO)) {
			const char *why = code ? ERR_reason_error_string(code) :
			    NULL;

			log_info("handshake with %s failed: %s", c->peer,
			    why != NULL ? why : "connection closed by the client");
		}
		return next;
	}
	if (SSL_session_reused(c->ssl))
		c->srv->st.resumed[conn_version(c)]++;
	else
		c->srv->st.handshakes[conn_version(c)]++;
	/*
	 * Key operations happen only in the handshake (no renegotiation, no
	 * post-handshake authentication): reads and writes need no async job.
	 */
	SSL_clear_mode(c->ssl, SSL_MODE_ASYNC);
	if (site_of(c->ssl)->upstream != NULL) {
		c->state = CONN_PROXY;
		return NEXT_PROXY;
	}
	if (conn_alpn_h2(c))
		return conn_h2_start(c);
	c->state = CONN_READ;
	conn_timeout(c, c->srv->timeouts.idle);
	return NEXT_RUN;
}

/* Append file data to the output buffer; -1 if the file shrank. */
static int conn_fill(struct conn *c)
{
	size_t space = CONN_BUF - c->out_len;
	ssize_t n;

	if (c->resp.body_len == 0 || space == 0)
		return 0;
	if ((off_t)space > c->resp.body_len)
		space = (size_t)c->resp.body_len;
	do
		n = read(c->resp.body_fd, c->out + c->out_len, space);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return -1;      /* Content-Length already sent: must close */
	c->out_len += (size_t)n;
	c->resp.body_len -= n;
	return 0;
}

/* One access log line for the response now finished (or cut short). */
static void conn_log(struct conn *c)
{
	struct access_entry e;
	struct timespec now;
	const struct site_rt *site = site_of(c->ssl);
	const char *sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
	char proto[32], *target = NULL;
	bool have_line = c->http.url_len > 0 || c->http.complete;

	if (c->srv->alog == NULL || !c->req_timed)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	memset(&e, 0, sizeof(e));
	e.client_addr = c->peer;
	e.start = c->req_wall;
	if (have_line) {
		snprintf(proto, sizeof(proto), "HTTP/%u.%u",
		    c->http.parser.http_major, c->http.parser.http_minor);
		e.method = http_method_str(c->http.parser.method);
		target = strndup(c->http.url, c->http.url_len);
		e.target = target;
		e.protocol = proto;
		e.referer = http_header(&c->http, HTTP_H_REFERER);
		e.user_agent = http_header(&c->http, HTTP_H_USER_AGENT);
	}
	e.status = c->resp_status;
	e.bytes = c->resp_sent > (long long)c->resp_head ?
	    c->resp_sent - (long long)c->resp_head : 0;
	e.tls_version = SSL_get_version(c->ssl);
	e.cipher = SSL_get_cipher_name(c->ssl);
	e.sni = sni;
	e.resumed = SSL_session_reused(c->ssl);
	e.request_secs = (double)(now.tv_sec - c->req_mono.tv_sec) +
	    (double)(now.tv_nsec - c->req_mono.tv_nsec) / 1e9;
	e.site = site != NULL ? site->name : NULL;
	accesslog_write(c->srv->alog, &e);
	free(target);
	c->req_timed = false;
}

static enum conn_next conn_start_response(struct conn *c)
{
	const char *end = memmem(c->resp.head, c->resp.head_len, "\r\n\r\n", 4);

	c->resp_status = c->resp.head_len > 12 ? atoi(c->resp.head + 9) : 0;
	c->resp_head = end != NULL ? (size_t)(end - c->resp.head) + 4 :
	    c->resp.head_len;
	c->resp_sent = 0;
	c->srv->st.requests++;
	if (conn_buf_get(&c->out) == -1) {
		log_error("connection: out of memory");
		return NEXT_CLOSE;
	}
	memcpy(c->out, c->resp.head, c->resp.head_len);
	c->out_off = 0;
	c->out_len = c->resp.head_len;
	if (conn_fill(c) == -1)
		return NEXT_CLOSE;
	c->state = CONN_WRITE;
	c->header_timer = false;
	conn_timeout(c, c->srv->timeouts.send);
	return NEXT_RUN;
}

/* Parse buffered input; NEXT_READ when more bytes are needed. */
static enum conn_next conn_parse(struct conn *c)
{
	size_t used = 0;
	int status = 400;
	enum http_feed r;

	if (!c->req_timed) {
		clock_gettime(CLOCK_REALTIME, &c->req_wall);
		clock_gettime(CLOCK_MONOTONIC, &c->req_mono);
		c->req_timed = true;
	}
	r = http_feed(&c->http, c->in + c->in_off, c->in_len - c->in_off,
	    &used, &status);
	c->in_off += used;
	if (c->in_off >= c->in_len)
		c->in_off = c->in_len = 0;
	if (r == HTTP_FEED_MORE) {
		if (!c->header_timer && !http_idle(&c->http)) {
			c->header_timer = true;
			conn_timeout(c, c->srv->timeouts.header);
		}
		return NEXT_READ;
	}
	if (r == HTTP_FEED_REQUEST)
		http_respond(&site_of(c->ssl)->http, &c->http, c->closing,
		    &c->resp);
	else
		http_respond_error(status, &c->resp);
	return conn_start_response(c);
}

static enum conn_next conn_read(struct conn *c)
{
	enum conn_next next;
	int n;

	if (c->in_len > 0 && (next = conn_parse(c)) != NEXT_READ)
		return next;
	if (c->closing && http_idle(&c->http)) {
		c->state = CONN_SHUTDOWN;
		return NEXT_RUN;
	}
	if (conn_buf_get(&c->in) == -1) {
		log_error("connection: out of memory");
		return NEXT_CLOSE;
	}
	ERR_clear_error();
	n = SSL_read(c->ssl, c->in, CONN_BUF);
	if (n <= 0) {
		conn_buf_put(&c->in);   /* nothing buffered: hold no memory */
		return conn_tls_next(c, n);
	}
	c->in_off = 0;
	c->in_len = (size_t)n;
	return NEXT_RUN;
}

static enum conn_next conn_response_done(struct conn *c)
{
	bool keep_alive = c->resp.keep_alive && !c->closing;

	conn_log(c);
	http_response_clear(&c->resp);
	conn_buf_put(&c->out);
	if (!keep_alive) {
		c->state = CONN_SHUTDOWN;
		return NEXT_RUN;
	}
	http_next(&c->http);
	c->state = CONN_READ;
	conn_timeout(c, c->srv->timeouts.idle);
	return NEXT_RUN;
}

static enum conn_next conn_write(struct conn *c)
{
	int n;

	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (conn_fill(c) == -1)
			return NEXT_CLOSE;
		if (c->out_len == 0)
			return conn_response_done(c);
	}
	ERR_clear_error();
	n = SSL_write(c->ssl, c->out + c->out_off,
	    (int)(c->out_len - c->out_off));
	if (n <= 0)
		return conn_tls_next(c, n);
	c->out_off += (size_t)n;
	c->resp_sent += n;
	conn_timeout(c, c->srv->timeouts.send);
	return NEXT_RUN;
}

/*
 * Send close_notify without waiting for the peer's, then half-close: a
 * client still sending (pipelined requests after a 400) would otherwise get
 * a reset that can destroy the response it has not read yet.
 */
static enum conn_next conn_shutdown(struct conn *c)
{
	int ret;

	ERR_clear_error();
	ret = SSL_shutdown(c->ssl);
	if (ret < 0) {
		enum conn_next next = conn_tls_next(c, ret);

		return next == NEXT_RUN ? NEXT_CLOSE : next;
	}
	if (shutdown(c->fd, SHUT_WR) == -1)
		return NEXT_CLOSE;
	c->state = CONN_LINGER;
	conn_timeout(c, CONN_LINGER_SECS);
	return NEXT_RUN;
}

static enum conn_next conn_linger(struct conn *c)
{
	char buf[4096];
	ssize_t n;

	n = read(c->fd, buf, sizeof(buf));
	if (n > 0)
		return NEXT_RUN;
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return NEXT_READ;
	return NEXT_CLOSE;
}

static enum conn_next conn_step(struct conn *c)
{
	/* A key operation this step's job starts completes into our sink. */
	hk_async_target(c->srv->sink, c);
	switch (c->state) {
	case CONN_HANDSHAKE: return conn_handshake(c);
	case CONN_READ:      return conn_read(c);
	case CONN_WRITE:     return conn_write(c);
	case CONN_SHUTDOWN:  return conn_shutdown(c);
	case CONN_LINGER:    return conn_linger(c);
	case CONN_PROXY:     return NEXT_PROXY;
	case CONN_H2:        return conn_h2(c);
	}
	return NEXT_CLOSE;
}

static void conn_watch(struct conn *c, int events)
{
	if (c->io_events != events) {
		ev_io_stop(c->srv->ev, &c->io);
		ev_io_set(&c->io, c->fd, events);
		c->io_events = events;
	}
	ev_io_start(c->srv->ev, &c->io);
}

/* An event for c: run it, or queue it if the loop's handshake budget is
 * spent (CONN_HS_BUDGET). */
static void conn_run(struct conn *c)
{
	struct server *s = c->srv;

	if (c->state == CONN_HANDSHAKE && !c->dead) {
		if (s->hs_steps >= CONN_HS_BUDGET) {
			conn_defer(c);
			return;
		}
		s->hs_steps++;
	}
	conn_drive(c);
}

static void conn_async_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct conn *c = conn_from(w->data);

	conn_async_stop(c);
	conn_run(c);
}

/*
 * A key operation paused inside the TLS stack: wait on the fds its job
 * registered (the engine's completion eventfds), not on the socket.
 */
static int conn_watch_async(struct conn *c)
{
	int fds[CONN_MAX_ASYNC_FDS];
	size_t i, n;

	ev_io_stop(c->srv->ev, &c->io);
	conn_async_stop(c);
	if (tls_async_fds(c->ssl, fds, CONN_MAX_ASYNC_FDS, &n) == -1)
		return -1;
	/* No fd: the op completes into the loop's sink (conn_async_ready). */
	if (n == 0 && c->srv->sink == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		ev_io_init(&c->async_io[i], conn_async_cb, fds[i], EV_READ);
		c->async_io[i].data = c;
		ev_io_start(c->srv->ev, &c->async_io[i]);
	}
	c->n_async = n;
	c->async_pending = true;
	conn_watch(c, EV_READ);         /* only to see the client leave */
	return 0;
}

static void conn_proxy_done(void *arg)
{
	conn_free(conn_from(arg));
}

/* The backend side takes over both sockets' events and the timeouts. */
static int conn_proxy(struct conn *c)
{
	if (c->px != NULL)
		return 0;
	if (conn_buf_get(&c->in) == -1 || conn_buf_get(&c->out) == -1) {
		log_error("connection: out of memory");
		return -1;
	}
	ev_io_stop(c->srv->ev, &c->io);
	ev_timer_stop(c->srv->ev, &c->timer);
	c->px = proxy_start(c->srv, c->ssl, c->fd, site_of(c->ssl)->upstream,
	    c->peer, c->in, c->out, CONN_BUF, conn_proxy_done, c);
	if (c->px == NULL) {
		log_error("connection: out of memory");
		return -1;
	}
	return 0;
}

/* Arrange the wait a step asked for; -1 if the connection must close. */
static int conn_wait(struct conn *c, enum conn_next next)
{
	switch (next) {
	case NEXT_READ:
		conn_watch(c, EV_READ);
		return 0;
	case NEXT_WRITE:
		conn_watch(c, EV_WRITE);
		return 0;
	case NEXT_ASYNC:
		return conn_watch_async(c);
	case NEXT_PROXY:
		return conn_proxy(c);
	default:
		return -1;
	}
}

static void conn_drive(struct conn *c)
{
	enum conn_next next;
	int steps = 0;

	do
		next = conn_step(c);
	while (next == NEXT_RUN && !c->dead && ++steps < CONN_MAX_STEPS);
	if (c->dead && next != NEXT_ASYNC) {
		conn_free(c);
		return;
	}
	if (next == NEXT_RUN) {
		/* Fairness: let other connections run, then continue here. */
		ev_feed_event(c->srv->ev, &c->io, EV_CUSTOM);
		return;
	}
	if (conn_wait(c, next) == -1)
		conn_close(c);
}

/*
 * While a key operation is pending, the socket is watched only to notice
 * the client going away: then the job is resumed cancelled and the
 * connection freed, instead of waiting for the token.  Bytes the client
 * sent meanwhile stay queued for after the operation.
 */
static void conn_peer_check(struct conn *c)
{
	char b;
	ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR)) {
		conn_close(c);
		return;
	}
	ev_io_stop(c->srv->ev, &c->io);
}

static void conn_io_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct conn *c = conn_from(w->data);

	if (c->async_pending) {
		conn_peer_check(c);
		return;
	}
	conn_run(c);
}

/* Before each poll: a new handshake budget. */
static void conn_prepare_cb(struct ev_loop *ev, ev_prepare *w, int revents)
{
	struct server *s = w->data;

	s->hs_steps = 0;
}

/*
 * Queued handshakes, a budget's worth per turn of the loop.  At the top
 * priority, so it runs first in every turn, before the new events of the
 * poll that ran because it is active (a poll that does not block).
 */
static void conn_hs_idle_cb(struct ev_loop *ev, ev_idle *w, int revents)
{
	struct server *s = w->data;
	struct conn *c;
	unsigned n;

	for (n = 0; n < CONN_HS_BUDGET && (c = s->hs_head) != NULL; n++) {
		conn_undefer(c);
		s->hs_steps++;
		conn_drive(c);
	}
	if (s->hs_head == NULL)
		ev_idle_stop(ev, w);
}

/* A finished key operation whose job still waits: resume it. */
static void conn_async_ready(void *cookie)
{
	struct conn *c = conn_from(cookie);

	if (!c->async_pending)
		return;
	conn_async_stop(c);
	conn_run(c);
}

static void conn_sink_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct server *s = w->data;

	hk_sink_collect(s->sink, conn_async_ready);
}

void conn_loop_init(struct server *s)
{
	ev_idle_init(&s->hs_idle, conn_hs_idle_cb);
	ev_set_priority(&s->hs_idle, EV_MAXPRI);
	s->hs_idle.data = s;
	ev_prepare_init(&s->hs_prepare, conn_prepare_cb);
	s->hs_prepare.data = s;
	ev_prepare_start(s->ev, &s->hs_prepare);
	ev_unref(s->ev);        /* it alone does not keep the loop running */
	/*
	 * One eventfd for all of this loop's key operations, registered
	 * once, instead of an eventfd per operation made, duplicated,
	 * registered and closed (hk.h).  Without it (no descriptor left),
	 * operations fall back to their own.
	 */
	if ((s->sink = hk_sink_new()) != NULL) {
		ev_io_init(&s->sink_io, conn_sink_cb, hk_sink_fd(s->sink),
		    EV_READ);
		s->sink_io.data = s;
		ev_io_start(s->ev, &s->sink_io);
		ev_unref(s->ev);
	}
}

/* After conn_free_all(): no connection is left to resume. */
void conn_loop_fini(struct server *s)
{
	ev_ref(s->ev);
	ev_prepare_stop(s->ev, &s->hs_prepare);
	ev_idle_stop(s->ev, &s->hs_idle);
	if (s->sink != NULL) {
		ev_ref(s->ev);
		ev_io_stop(s->ev, &s->sink_io);
		hk_sink_close(s->sink);
		s->sink = NULL;
	}
}

static void conn_timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct conn *c = conn_from(w->data);

	if (c->state == CONN_H2)
		h2_timed_out(c->h2);
	conn_close(c);
}

static void conn_link(struct server *s, struct conn *c)
{
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	else
		s->conns_tail = c;
	s->conns = c;
	server_conn_opened(s);
}

static struct conn *conn_alloc(struct server *s, int fd)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->ssl = gen_ssl_new(s->gen)) == NULL || !SSL_set_fd(c->ssl, fd)) {
		SSL_free(c->ssl);
		ERR_clear_error();
		free(c);
		return NULL;
	}
	c->magic = CONN_MAGIC;
	c->srv = s;
	c->gen = gen_ref(s->gen);
	c->fd = fd;
	c->state = CONN_HANDSHAKE;
	c->resp.body_fd = -1;
	http_session_init(&c->http);
	http_session_limits(&c->http, &s->limits);
	ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
	c->io.data = c;
	c->io_events = EV_READ;
	ev_timer_init(&c->timer, conn_timer_cb, s->timeouts.handshake, 0.0);
	c->timer.data = c;
	return c;
}

/* The client's address as text, for the access log. */
static void conn_peer_name(struct conn *c, const struct sockaddr *sa)
{
	const void *a = NULL;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (a == NULL || inet_ntop(sa->sa_family, a, c->peer,
	    sizeof(c->peer)) == NULL)
		strcpy(c->peer, "-");
}

int conn_new(struct server *s, int fd, const struct sockaddr *peer)
{
	struct conn *c;

	/* TCP_NODELAY comes from the listening socket (server_socket()). */
	if ((c = conn_alloc(s, fd)) == NULL) {
		log_error("connection: out of memory");
		close(fd);
		return -1;
	}
	conn_peer_name(c, peer);
	SSL_set_accept_state(c->ssl);
	conn_link(s, c);
	ev_timer_start(s->ev, &c->timer);
	/*
	 * The client speaks first in TLS: the handshake starts when its
	 * first bytes arrive.  Started now, it would find nothing to read
	 * but leave libssl's record and handshake buffers (about 33 KiB)
	 * allocated on every silent connection.
	 */
	conn_watch(c, EV_READ);
	return 0;
}

/* Idle: between requests with nothing buffered, or not yet a TLS peer. */
static bool conn_idle(const struct conn *c)
{
	if (c->async_pending)
		return false;
	if (c->state == CONN_HANDSHAKE)
		return true;
	if (c->state == CONN_H2)
		return h2_streams(c->h2) == 0 && c->out_off == c->out_len;
	return c->state == CONN_READ && c->in_len == 0 && http_idle(&c->http);
}

/*
 * Idle connections cost a descriptor and memory and nothing else, so a
 * flood of them (opened and never spoken on) must not keep a real client
 * out: when the server is full, the oldest idle one makes room.  A client
 * that has sent part of a request or is mid-handshake with a key operation
 * running is not idle.  The oldest first: a flood's own connections are
 * replaced before a newer client's, which speaks within milliseconds.
 */
bool conn_evict_idle(struct server *s)
{
	struct conn *c;

	for (c = s->conns_tail; c != NULL; c = c->prev) {
		if (c->dead || c->closing || !conn_idle(c))
			continue;
		/* A handshake past its ClientHello is not idle either. */
		if (c->state == CONN_HANDSHAKE &&
		    SSL_get_state(c->ssl) != TLS_ST_BEFORE)
			continue;
		s->st.evicted++;
		c->evicted = true;
		conn_close(c);
		return true;
	}
	return false;
}

void conn_stop_all(struct server *s)
{
	struct conn *c, *next;

	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		c->closing = true;
		if (c->state == CONN_HANDSHAKE && conn_idle(c)) {
			conn_close(c);
		} else if (c->state == CONN_H2) {
			h2_stop(c->h2);         /* GOAWAY; open streams finish */
			conn_drive(c);
		} else if (conn_idle(c)) {
			c->state = CONN_SHUTDOWN;
			conn_drive(c);
		}
	}
}

void conn_free_all(struct server *s)
{
	struct conn *c;

	while ((c = s->conns) != NULL) {
		if (c->async_pending)
			conn_cancel_async(c);
		conn_free(c);
	}
}
