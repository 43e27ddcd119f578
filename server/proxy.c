/*
 * proxy.c - a TLS connection spliced to its site's backend (proxy.h).
 *
 *   client --TLS--> [to_up buffer] --TCP/Unix--> backend
 *   client <--TLS-- [to_cl buffer] <------------ backend
 *
 * One fixed buffer per direction.  A side is read only while the buffer it
 * fills has room, and written while the other has bytes, so a slow reader
 * on either side stalls its own pair only, at no more than the two
 * buffers.  Every readiness event runs proxy_drive(), which tries each of
 * the four moves (client read, backend write, backend read, client write)
 * until none makes progress: a move that cannot go on says what it waits
 * for, and no state is kept per event.  Trying again after any progress
 * also drains what libssl holds decrypted inside the SSL (SSL_pending),
 * which no socket event would announce.
 *
 * Half-close: the client's close_notify (or its FIN) becomes a FIN to the
 * backend once to_up is flushed; the backend's FIN becomes a close_notify
 * and a FIN to the client once to_cl is flushed.  The pair is over when
 * both directions are, or at the first error or timeout.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/err.h>

#include "accesslog.h"
#include "log.h"
#include "loop.h"
#include "proxy.h"
#include "proxyv2.h"
#include "site.h"
#include "tls.h"

#define PROXY_MAGIC     0x70726f78U     /* "prox" */
#define PROXY_MAX_ROUNDS 16             /* then yield to other connections */

const char *const upstream_fail_names[UPSTREAM_FAIL_COUNT] = {
	"refused", "timeout", "reset", "no_answer", "header",
};

/* One direction: bytes [off, len) of d wait to be written. */
struct pbuf {
	char *d;
	size_t cap, off, len;
	ev_tstamp since;        /* last write progress, or when it filled */
};

struct proxy {
	uint32_t magic;
	struct server *srv;
	SSL *ssl;
	int cfd, ufd;
	const struct upstream *up;
	const char *peer;
	ev_io cio, uio;
	int cev, uev;           /* the events each watcher is set to */
	ev_timer timer;
	struct pbuf to_up, to_cl;
	size_t header_left;     /* PROXY header bytes still in to_up */
	bool connecting;
	bool cl_eof;            /* the client sent close_notify or FIN */
	bool up_shut;           /* FIN sent to the backend */
	bool up_eof;            /* the backend sent FIN */
	bool cl_shut;           /* close_notify and FIN sent to the client */
	bool up_spoke;          /* the backend sent a byte */
	bool rd_wants_write;    /* SSL_read waits for the socket writable */
	bool wr_wants_read;     /* SSL_write (or SSL_shutdown) for readable */
	bool finished;          /* done() called */
	ev_tstamp started, active;
	struct timespec wall;   /* the pair's start, for the access log */
	long long bytes_up, bytes_cl;
	void (*done)(void *);
	void *arg;
};

/* What a move did. */
enum move { MOVE_NONE, MOVE_PROGRESS, MOVE_CLOSE };

/* ---- the backend's address ---- */

static int upstream_unix(struct upstream *up, const char *path, char *why,
    size_t len)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&up->addr;

	if (strlen(path) >= sizeof(sun->sun_path)) {
		snprintf(why, len, "upstream '%s': path too long", up->spec);
		return -1;
	}
	sun->sun_family = AF_UNIX;
	strcpy(sun->sun_path, path);
	up->addrlen = sizeof(*sun);
	return 0;
}

static int upstream_tcp(struct upstream *up, const struct conf_listen *t,
    char *why, size_t len)
{
	struct addrinfo hints, *res;
	int err;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((err = getaddrinfo(t->host, t->port, &hints, &res)) != 0) {
		snprintf(why, len, "upstream '%s': %s", up->spec,
		    gai_strerror(err));
		return -1;
	}
	memcpy(&up->addr, res->ai_addr, res->ai_addrlen);
	up->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

struct upstream *upstream_new(const struct conf_upstream *cu, bool proxy_v2,
    char *why, size_t len)
{
	struct upstream *up = calloc(1, sizeof(*up));

	if (up == NULL || (up->spec = strdup(cu->spec)) == NULL) {
		snprintf(why, len, "out of memory");
		free(up);
		return NULL;
	}
	up->proxy_v2 = proxy_v2;
	if ((cu->path != NULL ? upstream_unix(up, cu->path, why, len) :
	    upstream_tcp(up, &cu->tcp, why, len)) == -1) {
		upstream_free(up);
		return NULL;
	}
	return up;
}

void upstream_free(struct upstream *up)
{
	if (up == NULL)
		return;
	free(up->spec);
	free(up);
}

/* ---- ending the pair ---- */

static void proxy_finish(struct proxy *p)
{
	if (p->finished)
		return;
	p->finished = true;
	ev_io_stop(p->srv->ev, &p->cio);
	ev_io_stop(p->srv->ev, &p->uio);
	ev_timer_stop(p->srv->ev, &p->timer);
	p->done(p->arg);        /* frees p */
}

/*
 * The backend failed before the pair got going: count it, say so, and
 * end the client's connection with a close_notify if it goes out at
 * once (a client that sees it knows no byte was lost in between).
 */
static void proxy_fail(struct proxy *p, enum upstream_fail why,
    const char *what)
{
	p->srv->st.upstream_failures[why]++;
	log_warn("upstream %s for %s: %s", p->up->spec, p->peer, what);
	if (!p->cl_shut) {
		ERR_clear_error();
		if (SSL_shutdown(p->ssl) >= 0)
			(void)shutdown(p->cfd, SHUT_WR);
		ERR_clear_error();
		p->cl_shut = true;
	}
	proxy_finish(p);
}

/* A socket error on the backend: a failure if it never answered. */
static enum move proxy_up_error(struct proxy *p, const char *op, int err)
{
	char what[256];

	snprintf(what, sizeof(what), "%s: %s", op, strerror(err));
	if (!p->up_spoke && (err == ECONNRESET || err == EPIPE)) {
		proxy_fail(p, UPSTREAM_RESET, what);
		return MOVE_CLOSE;
	}
	/* Mid-stream: no close_notify, so the client sees the cut. */
	log_warn("upstream %s for %s: %s", p->up->spec, p->peer, what);
	p->cl_shut = true;
	proxy_finish(p);
	return MOVE_CLOSE;
}

static enum move proxy_cl_error(struct proxy *p, const char *op)
{
	unsigned long code = ERR_peek_last_error();
	const char *why = code ? ERR_reason_error_string(code) : NULL;

	log_info("upstream %s: client %s: %s: %s", p->up->spec, p->peer, op,
	    why != NULL ? why : errno ? strerror(errno) : "connection closed");
	ERR_clear_error();
	p->cl_shut = true;
	proxy_finish(p);
	return MOVE_CLOSE;
}

/* ---- buffers ---- */

static size_t pbuf_pending(const struct pbuf *b)
{
	return b->len - b->off;
}

/* Room at the end, moving what is pending to the front when that helps.
 * (The SSL accepts a moved buffer: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER.) */
static size_t pbuf_room(struct pbuf *b)
{
	if (b->off == b->len) {
		b->off = b->len = 0;
	} else if (b->off > 0 && b->cap - b->len < b->cap / 4) {
		memmove(b->d, b->d + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	return b->cap - b->len;
}

/* ---- the four moves ---- */

/*
 * An SSL call on the client returned ret <= 0: what it waits for.  *other
 * is set when that is the socket's other way (a read that must write, a
 * write or close_notify that must read).  A read seeing the client's
 * close_notify (or FIN, see proxy_start()) is the end of its direction.
 */
static enum move client_wait(struct proxy *p, int ret, bool reading,
    bool *other, const char *op)
{
	switch (tls_io_result(p->ssl, ret)) {
	case TLS_IO_WANT_READ:
		*other = !reading;
		return MOVE_NONE;
	case TLS_IO_WANT_WRITE:
		*other = reading;
		return MOVE_NONE;
	case TLS_IO_CLOSED:
		if (reading) {
			p->cl_eof = true;
			return MOVE_PROGRESS;
		}
		return proxy_cl_error(p, op);
	default:
		return proxy_cl_error(p, op);
	}
}

static enum move client_read(struct proxy *p)
{
	size_t room;
	int n;

	if (p->cl_eof || (room = pbuf_room(&p->to_up)) == 0)
		return MOVE_NONE;
	if (room > INT32_MAX)
		room = INT32_MAX;
	ERR_clear_error();
	errno = 0;
	n = SSL_read(p->ssl, p->to_up.d + p->to_up.len, (int)room);
	if (n > 0) {
		if (pbuf_pending(&p->to_up) == 0)
			p->to_up.since = ev_now(p->srv->ev);
		p->to_up.len += (size_t)n;
		p->rd_wants_write = false;
		return MOVE_PROGRESS;
	}
	return client_wait(p, n, true, &p->rd_wants_write, "read");
}

static enum move up_write(struct proxy *p)
{
	size_t n = pbuf_pending(&p->to_up);
	ssize_t w;

	if (p->connecting || p->up_shut)
		return MOVE_NONE;
	if (n == 0) {
		if (!p->cl_eof)
			return MOVE_NONE;
		/* Everything the client sent is out: pass its FIN on. */
		if (shutdown(p->ufd, SHUT_WR) == -1 && errno != ENOTCONN)
			return proxy_up_error(p, "shutdown", errno);
		p->up_shut = true;
		return MOVE_PROGRESS;
	}
	w = send(p->ufd, p->to_up.d + p->to_up.off, n, MSG_NOSIGNAL);
	if (w == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return MOVE_NONE;
		return proxy_up_error(p, "write", errno);
	}
	p->to_up.off += (size_t)w;
	p->to_up.since = ev_now(p->srv->ev);
	if (p->header_left > 0) {
		size_t h = (size_t)w < p->header_left ? (size_t)w :
		    p->header_left;

		p->header_left -= h;
		w -= (ssize_t)h;
	}
	p->bytes_up += w;
	p->srv->st.upstream_bytes_to_up += (unsigned long long)w;
	return MOVE_PROGRESS;
}

static enum move up_read(struct proxy *p)
{
	size_t room;
	ssize_t n;

	if (p->connecting || p->up_eof || (room = pbuf_room(&p->to_cl)) == 0)
		return MOVE_NONE;
	n = recv(p->ufd, p->to_cl.d + p->to_cl.len, room, 0);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return MOVE_NONE;
		return proxy_up_error(p, "read", errno);
	}
	if (n == 0) {
		p->up_eof = true;
		return MOVE_PROGRESS;
	}
	if (pbuf_pending(&p->to_cl) == 0)
		p->to_cl.since = ev_now(p->srv->ev);
	p->to_cl.len += (size_t)n;
	p->up_spoke = true;
	return MOVE_PROGRESS;
}

/* Everything the backend sent is out: close_notify, then a FIN. */
static enum move client_shutdown(struct proxy *p)
{
	int ret;

	ERR_clear_error();
	ret = SSL_shutdown(p->ssl);
	if (ret < 0)
		return client_wait(p, ret, false, &p->wr_wants_read,
		    "close_notify");
	(void)shutdown(p->cfd, SHUT_WR);
	p->cl_shut = true;
	return MOVE_PROGRESS;
}

static enum move client_write(struct proxy *p)
{
	size_t n = pbuf_pending(&p->to_cl);
	int w;

	if (p->cl_shut)
		return MOVE_NONE;
	if (n == 0)
		return p->up_eof ? client_shutdown(p) : MOVE_NONE;
	if (n > INT32_MAX)
		n = INT32_MAX;
	ERR_clear_error();
	errno = 0;
	w = SSL_write(p->ssl, p->to_cl.d + p->to_cl.off, (int)n);
	if (w > 0) {
		p->to_cl.off += (size_t)w;
		p->to_cl.since = ev_now(p->srv->ev);
		p->bytes_cl += w;
		p->srv->st.upstream_bytes_to_cl += (unsigned long long)w;
		p->wr_wants_read = false;
		return MOVE_PROGRESS;
	}
	return client_wait(p, w, false, &p->wr_wants_read, "write");
}

/* ---- connecting ---- */

/*
 * Has the connect finished, and did it work?  Any event of the pair runs
 * this (the client may speak first), so the socket's own word counts:
 * SO_ERROR is 0 while the connect is still going on too.
 */
static enum move proxy_connected(struct proxy *p)
{
	struct pollfd pfd = { p->ufd, POLLOUT, 0 };
	int err = 0;
	socklen_t len = sizeof(err);
	char what[256];

	if (poll(&pfd, 1, 0) == 0)
		return MOVE_NONE;
	if (getsockopt(p->ufd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	/* Accepted, then reset before the loop saw the connect complete (a
	 * slow or busy loop): a reset, not a refusal. */
	if (err == ECONNRESET || err == EPIPE)
		return proxy_up_error(p, "connect", err);
	if (err != 0) {
		snprintf(what, sizeof(what), "connect: %s", strerror(err));
		proxy_fail(p, UPSTREAM_REFUSED, what);
		return MOVE_CLOSE;
	}
	p->connecting = false;
	p->to_up.since = ev_now(p->srv->ev);    /* its send-timeout starts */
	return MOVE_PROGRESS;
}

/* One round of the four moves: progress if any moved. */
static enum move proxy_round(struct proxy *p)
{
	enum move (*const moves[])(struct proxy *) = {
		client_read, up_write, up_read, client_write,
	};
	enum move r, any = MOVE_NONE;
	size_t i;

	for (i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		if ((r = moves[i](p)) == MOVE_CLOSE)
			return MOVE_CLOSE;
		if (r == MOVE_PROGRESS)
			any = MOVE_PROGRESS;
	}
	return any;
}

static bool proxy_over(const struct proxy *p)
{
	return p->cl_eof && p->up_shut && p->up_eof && p->cl_shut;
}

/* ---- waiting ---- */

static void proxy_set(struct proxy *p, ev_io *w, int fd, int *cur, int ev)
{
	if (*cur == ev && (ev == 0) == !ev_is_active(w))
		return;
	ev_io_stop(p->srv->ev, w);
	*cur = ev;
	if (ev == 0)
		return;
	ev_io_set(w, fd, ev);
	ev_io_start(p->srv->ev, w);
}

/* Watch what the moves wait for, and nothing else (back-pressure). */
static void proxy_watch(struct proxy *p)
{
	int cev = 0, uev = 0;

	if (!p->cl_eof && p->to_up.len < p->to_up.cap)
		cev |= p->rd_wants_write ? EV_WRITE : EV_READ;
	if (!p->cl_shut && (pbuf_pending(&p->to_cl) > 0 || p->up_eof))
		cev |= p->wr_wants_read ? EV_READ : EV_WRITE;
	if (p->connecting) {
		uev = EV_WRITE;
	} else {
		if (!p->up_eof && p->to_cl.len < p->to_cl.cap)
			uev |= EV_READ;
		if (!p->up_shut && pbuf_pending(&p->to_up) > 0)
			uev |= EV_WRITE;
	}
	proxy_set(p, &p->cio, p->cfd, &p->cev, cev);
	proxy_set(p, &p->uio, p->ufd, &p->uev, uev);
}

/* Bytes wait in either direction (then send-timeout bounds the pair). */
static bool proxy_pending(const struct proxy *p)
{
	return pbuf_pending(&p->to_up) > 0 || pbuf_pending(&p->to_cl) > 0;
}

/* The client's direction is the one waiting longest. */
static bool proxy_client_stalled(const struct proxy *p)
{
	return pbuf_pending(&p->to_cl) > 0 && (pbuf_pending(&p->to_up) == 0 ||
	    p->to_cl.since <= p->to_up.since);
}

/*
 * The pair's next deadline: the connect; each direction with bytes
 * waiting and no write progress for send-timeout; with nothing waiting,
 * no byte either way for idle-timeout.
 */
static ev_tstamp proxy_deadline(const struct proxy *p)
{
	const struct conn_timeouts *t = &p->srv->timeouts;

	if (p->connecting)
		return p->started + t->upstream_connect;
	if (!proxy_pending(p))
		return p->active + t->idle;
	return (proxy_client_stalled(p) ? p->to_cl.since : p->to_up.since) +
	    t->send;
}

static void proxy_arm(struct proxy *p)
{
	ev_tstamp left = proxy_deadline(p) - ev_now(p->srv->ev);

	ev_timer_stop(p->srv->ev, &p->timer);
	ev_timer_set(&p->timer, left > 0.001 ? left : 0.001, 0.0);
	ev_timer_start(p->srv->ev, &p->timer);
}

static void proxy_drive(struct proxy *p)
{
	enum move r = MOVE_NONE;
	int rounds = 0;

	if (p->connecting && (r = proxy_connected(p)) == MOVE_CLOSE)
		return;
	do {
		r = proxy_round(p);
		if (r == MOVE_CLOSE)
			return;         /* p is gone */
		if (r == MOVE_PROGRESS)
			p->active = ev_now(p->srv->ev);
	} while (r == MOVE_PROGRESS && ++rounds < PROXY_MAX_ROUNDS);
	if (proxy_over(p)) {
		proxy_finish(p);
		return;
	}
	proxy_watch(p);
	proxy_arm(p);
	if (r == MOVE_PROGRESS)
		ev_feed_event(p->srv->ev, &p->cio, EV_CUSTOM);  /* fairness */
}

static struct proxy *proxy_from(void *data)
{
	struct proxy *p = data;

	if (p == NULL || p->magic != PROXY_MAGIC)
		abort();        /* a watcher outlived its pair */
	return p;
}

static void proxy_io_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	proxy_drive(proxy_from(w->data));
}

static void proxy_timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct proxy *p = proxy_from(w->data);
	ev_tstamp idle = p->srv->timeouts.idle;
	char what[128];

	if (proxy_deadline(p) > ev_now(ev) + 0.0005) {
		proxy_arm(p);   /* progress moved the deadline */
		return;
	}
	if (p->connecting) {
		snprintf(what, sizeof(what), "connect: no connection within "
		    "%gs (upstream-connect-timeout)",
		    p->srv->timeouts.upstream_connect);
		proxy_fail(p, UPSTREAM_TIMEOUT, what);
		return;
	}
	if (!proxy_pending(p) && !p->up_spoke && p->bytes_up > 0) {
		snprintf(what, sizeof(what), "no answer within %gs "
		    "(idle-timeout)", idle);
		proxy_fail(p, UPSTREAM_NO_ANSWER, what);
		return;
	}
	log_info("upstream %s for %s: closed: %s", p->up->spec, p->peer,
	    !proxy_pending(p) ? "idle-timeout" :
	    proxy_client_stalled(p) ? "send-timeout: the client does not read" :
	    "send-timeout: the backend does not read");
	p->cl_shut = true;      /* no close_notify: the client may be stuck */
	proxy_finish(p);
}

/* ---- start ---- */

/* The PROXY v2 header: the first bytes for the backend. */
static int proxy_header(struct proxy *p)
{
	struct sockaddr_storage src, dst;
	socklen_t slen = sizeof(src), dlen = sizeof(dst);
	struct pp2_info in;
	const unsigned char *alpn;
	unsigned alpn_len = 0;
	size_t len;

	memset(&in, 0, sizeof(in));
	if (getpeername(p->cfd, (struct sockaddr *)&src, &slen) == 0)
		in.src = (struct sockaddr *)&src;
	if (getsockname(p->cfd, (struct sockaddr *)&dst, &dlen) == 0)
		in.dst = (struct sockaddr *)&dst;
	SSL_get0_alpn_selected(p->ssl, &alpn, &alpn_len);
	in.alpn = alpn;
	in.alpn_len = alpn_len;
	in.authority = SSL_get_servername(p->ssl, TLSEXT_NAMETYPE_host_name);
	in.tls = 1;
	/* proxy-protocol.txt: zero only for a verified client certificate;
	 * the server asks for none. */
	in.verify = 1;
	in.tls_version = SSL_get_version(p->ssl);
	in.cipher = SSL_get_cipher_name(p->ssl);
	if (pp2_encode(&in, (unsigned char *)p->to_up.d, p->to_up.cap,
	    &len) == -1)
		return -1;
	p->to_up.len = len;
	p->header_left = len;
	return 0;
}

/* Start the non-blocking connect; a failure now is handled in the drive. */
static int proxy_connect(struct proxy *p, int *err)
{
	int one = 1;

	*err = 0;
	p->ufd = socket(p->up->addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->ufd == -1) {
		*err = errno;
		return -1;
	}
	if (p->up->addr.ss_family != AF_UNIX)
		(void)setsockopt(p->ufd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	if (connect(p->ufd, (const struct sockaddr *)&p->up->addr,
	    p->up->addrlen) == 0)
		return 0;
	/* A Unix socket's full backlog is EAGAIN: no waiting for that. */
	if (errno == EINPROGRESS)
		p->connecting = true;
	else
		*err = errno;
	return 0;
}

/* Runs from the loop: so done() is never called inside proxy_start(). */
static void proxy_first_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct proxy *p = proxy_from(w->data);
	char what[256];
	int err = 0;

	ev_timer_stop(ev, w);
	ev_init(&p->timer, proxy_timer_cb);
	if (p->up->proxy_v2 && proxy_header(p) == -1) {
		proxy_fail(p, UPSTREAM_HEADER, "the PROXY v2 header does not "
		    "fit its buffer");
		return;
	}
	if (proxy_connect(p, &err) == -1 || err != 0) {
		snprintf(what, sizeof(what), "connect: %s", strerror(err));
		proxy_fail(p, UPSTREAM_REFUSED, what);
		return;
	}
	ev_io_init(&p->uio, proxy_io_cb, p->ufd, 0);
	p->uio.data = p;
	proxy_drive(p);
}

struct proxy *proxy_start(struct server *s, SSL *ssl, int cfd,
    const struct upstream *up, const char *peer, char *to_up, char *to_cl,
    size_t cap, void (*done)(void *), void *arg)
{
	struct proxy *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->magic = PROXY_MAGIC;
	p->srv = s;
	p->ssl = ssl;
	p->cfd = cfd;
	p->ufd = -1;
	p->up = up;
	p->peer = peer;
	p->to_up.d = to_up;
	p->to_cl.d = to_cl;
	p->to_up.cap = p->to_cl.cap = cap;
	p->done = done;
	p->arg = arg;
	p->started = p->active = ev_now(s->ev);
	clock_gettime(CLOCK_REALTIME, &p->wall);
	/* A client's FIN without close_notify is passed on as a FIN, as the
	 * backend would see it without us; moved buffers are compacted. */
	SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	ev_io_init(&p->cio, proxy_io_cb, cfd, 0);
	p->cio.data = p;
	ev_io_init(&p->uio, proxy_io_cb, 0, 0);
	p->uio.data = p;
	ev_timer_init(&p->timer, proxy_first_cb, 0.0, 0.0);
	p->timer.data = p;
	ev_timer_start(s->ev, &p->timer);
	s->st.upstream_conns++;
	return p;
}

static void proxy_log(const struct proxy *p)
{
	struct access_entry e;
	const struct site_rt *site = site_of(p->ssl);

	if (p->srv->alog == NULL)
		return;
	memset(&e, 0, sizeof(e));
	e.client_addr = p->peer;
	e.start = p->wall;
	e.method = "PROXY";
	e.target = p->up->spec;
	e.bytes = p->bytes_cl;
	e.tls_version = SSL_get_version(p->ssl);
	e.cipher = SSL_get_cipher_name(p->ssl);
	e.sni = SSL_get_servername(p->ssl, TLSEXT_NAMETYPE_host_name);
	e.resumed = SSL_session_reused(p->ssl);
	e.request_secs = ev_now(p->srv->ev) - p->started;
	e.site = site != NULL ? site->name : NULL;
	e.upstream = p->up->spec;
	e.to_upstream = p->bytes_up;
	e.to_client = p->bytes_cl;
	accesslog_write(p->srv->alog, &e);
}

void proxy_free(struct proxy *p)
{
	if (p == NULL)
		return;
	ev_io_stop(p->srv->ev, &p->cio);
	ev_io_stop(p->srv->ev, &p->uio);
	ev_timer_stop(p->srv->ev, &p->timer);
	proxy_log(p);
	if (p->ufd != -1)
		close(p->ufd);
	p->magic = 0;
	free(p);
}
