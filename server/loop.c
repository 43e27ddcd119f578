/*
 * loop.c - listening socket, accept, signals and the graceful stop.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

#include "admin.h"
#include "hk.h"
#include "conn.h"
#include "log.h"
#include "loop.h"
#include "site.h"

#define LOOP_BACKLOG       511
#define LOOP_ACCEPT_BATCH  64   /* accepts per wake-up, then serve others */
#define LOOP_RETRY_SECS    1.0  /* after running out of descriptors */

static void server_accept_cb(struct ev_loop *ev, ev_io *w, int revents);
static void server_retry_cb(struct ev_loop *ev, ev_timer *w, int revents);
static void server_signal_cb(struct ev_loop *ev, ev_signal *w, int revents);
static void server_drain_cb(struct ev_loop *ev, ev_timer *w, int revents);
static void server_hup_cb(struct ev_loop *ev, ev_signal *w, int revents);
static void server_usr1_cb(struct ev_loop *ev, ev_signal *w, int revents);

void server_init(struct server *s, struct ev_loop *ev)
{
	memset(s, 0, sizeof(*s));
	s->ev = ev;
	s->limits.max_request_line = HTTP_DEFAULT_REQUEST_LINE;
	s->limits.max_header_size = HTTP_DEFAULT_HEADER_SIZE;
	s->limits.max_headers = HTTP_DEFAULT_HEADERS;
	s->h2_max_streams = H2_DEFAULT_MAX_STREAMS;
	s->timeouts.handshake = CONN_HANDSHAKE_TIMEOUT;
	s->timeouts.header = CONN_HEADER_TIMEOUT;
	s->timeouts.idle = CONN_IDLE_TIMEOUT;
	s->timeouts.send = CONN_SEND_TIMEOUT;
	s->timeouts.upstream_connect = CONN_UPSTREAM_TIMEOUT;
	ev_timer_init(&s->accept_retry, server_retry_cb, LOOP_RETRY_SECS, 0.0);
	ev_timer_init(&s->drain, server_drain_cb, 10.0, 0.0);
	ev_signal_init(&s->sigterm, server_signal_cb, SIGTERM);
	ev_signal_init(&s->sigint, server_signal_cb, SIGINT);
	ev_signal_init(&s->sighup, server_hup_cb, SIGHUP);
	ev_signal_init(&s->sigusr1, server_usr1_cb, SIGUSR1);
	s->accept_retry.data = s->drain.data = s;
	s->sigterm.data = s->sigint.data = s;
	s->sighup.data = s->sigusr1.data = s;
}

/* Keep the watcher on the daemon's current socket (it changes on reconnect). */
static void server_keyd_refresh(struct server *s)
{
	int fd = hk_engine_keyd_fd(s->keyd);

	if (fd == s->keyd_fd)
		return;
	ev_io_stop(s->ev, &s->keyd_io);
	s->keyd_fd = fd;
	if (fd >= 0) {
		ev_io_set(&s->keyd_io, fd, EV_READ);
		ev_io_start(s->ev, &s->keyd_io);
	}
}

static void server_keyd_io_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct server *s = w->data;

	hk_engine_keyd_dispatch(s->keyd);
	server_keyd_refresh(s);
}

static void server_keyd_timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct server *s = w->data;

	hk_engine_keyd_tick(s->keyd);
	hk_engine_keyd_dispatch(s->keyd);
	server_keyd_refresh(s);
}

void server_watch_keyd(struct server *s, struct hk_engine *e)
{
	if (s->keyd == e)
		return;
	if (s->keyd != NULL) {
		ev_io_stop(s->ev, &s->keyd_io);
		ev_timer_stop(s->ev, &s->keyd_timer);
	}
	s->keyd = e;
	s->keyd_fd = -1;
	if (e == NULL)
		return;
	ev_init(&s->keyd_io, server_keyd_io_cb);
	s->keyd_io.data = s;
	ev_timer_init(&s->keyd_timer, server_keyd_timer_cb, 0.1, 0.1);
	s->keyd_timer.data = s;
	ev_timer_start(s->ev, &s->keyd_timer);
	server_keyd_refresh(s);
}

void server_apply(struct server *s, const struct conf *c)
{
	s->max_conns = c->max_conns;
	s->shutdown_timeout = c->shutdown_timeout;
	s->limits.max_request_line = c->max_request_line;
	s->limits.max_header_size = c->max_header_size;
	s->limits.max_headers = c->max_headers;
	s->h2_max_streams = c->h2_max_streams;
	s->timeouts.handshake = c->handshake_timeout;
	s->timeouts.header = c->header_timeout;
	s->timeouts.idle = c->idle_timeout;
	s->timeouts.send = c->send_timeout;
	s->timeouts.upstream_connect = c->upstream_connect_timeout;
}

void server_swap(struct server *s, struct gen *g)
{
	struct gen *old = s->gen;

	s->gen = gen_ref(g);
	server_apply(s, &g->conf);
	if (old != NULL)
		gen_unref(old);
}

/*
 * SO_REUSEADDR lets a restarted server bind while old connections sit in
 * TIME_WAIT.  SO_REUSEPORT is deliberately not set: it would let a second
 * server bind the same port silently instead of failing.
 */
static int server_socket(const struct addrinfo *ai)
{
	int fd, one = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, LOOP_BACKLOG) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* "HOST:PORT" of the bound socket, IPv6 as "[ADDR]:PORT". */
static int server_bound_name(int fd, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	const void *addr;
	unsigned port;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		addr = &sin6->sin6_addr;
		port = ntohs(sin6->sin6_port);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		addr = &sin->sin_addr;
		port = ntohs(sin->sin_port);
	}
	if (inet_ntop(ss.ss_family, addr, host, sizeof(host)) == NULL)
		return -1;
	snprintf(buf, size, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
	    host, port);
	return 0;
}

/* Bind the first address of host that works. */
static int server_bind(const struct conf_listen *cfg)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, err, saved = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((err = getaddrinfo(cfg->host, cfg->port, &hints, &res)) != 0) {
		log_error("cannot listen on %s: %s", cfg->spec,
		    gai_strerror(err));
		return -1;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		if ((fd = server_socket(ai)) == -1 && saved == 0)
			saved = errno;
	}
	freeaddrinfo(res);
	if (fd == -1)
		log_error("cannot listen on %s: %s", cfg->spec, strerror(saved));
	return fd;
}

static int server_listen_one(struct server *s, const struct conf_listen *l,
    bool admin)
{
	struct listener *ln = &s->ls[s->nls];

	if ((ln->fd = server_bind(l)) == -1)
		return -1;
	s->nls++;
	if (server_bound_name(ln->fd, ln->name, sizeof(ln->name)) == -1) {
		log_error("cannot listen on %s: getsockname: %s", l->spec,
		    strerror(errno));
		return -1;
	}
	ln->admin = admin;
	ln->srv = s;
	ev_io_init(&ln->io, server_accept_cb, ln->fd, EV_READ);
	ln->io.data = ln;
	return 0;
}

void server_announce(struct server *s)
{
	size_t i;

	for (i = 0; i < s->nls; i++)
		log_info("%s on %s", s->ls[i].admin ? "admin" : "listening",
		    s->ls[i].name);
}

int server_listen(struct server *s, const struct conf *c)
{
	size_t i;

	if ((s->ls = calloc(c->nlistens + c->nadmin, sizeof(*s->ls))) == NULL) {
		log_error("out of memory");
		return -1;
	}
	/* Admin first: a script waiting for "listening on" may then use both. */
	for (i = 0; i < c->nadmin; i++)
		if (server_listen_one(s, &c->admin[i], true) == -1)
			return -1;
	for (i = 0; i < c->nlistens; i++)
		if (server_listen_one(s, &c->listens[i], false) == -1)
			return -1;
	return 0;
}

static void server_accept_all(struct server *s, bool on)
{
	size_t i;

	for (i = 0; i < s->nls; i++) {
		if (s->ls[i].admin)
			continue;
		if (on)
			ev_io_start(s->ev, &s->ls[i].io);
		else
			ev_io_stop(s->ev, &s->ls[i].io);
	}
}

/* Stop accepting for a while when out of descriptors or memory. */
static void server_accept_error(struct server *s, int err)
{
	if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR ||
	    err == ECONNABORTED || err == EPROTO)
		return;
	log_error("accept: %s", strerror(err));
	server_accept_all(s, false);
	ev_timer_start(s->ev, &s->accept_retry);
}

static void server_accept_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct listener *ln = w->data;
	struct server *s = ln->srv;
	int i, fd;

	for (i = 0; i < LOOP_ACCEPT_BATCH && !s->stopping; i++) {
		if (!ln->admin && s->nconns >= s->max_conns &&
		    !conn_evict_idle(s)) {
			/* None idle: resumed by server_conn_closed(). */
			server_accept_all(s, false);
			return;
		}
		fd = accept4(ln->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (ln->admin)
				return;
			server_accept_error(s, errno);
			return;
		}
		if (ln->admin) {
			admin_conn_new(s, fd);
			continue;
		}
		s->st.accepted++;
		conn_new(s, fd);
	}
}

static void server_retry_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct server *s = w->data;

	if (!s->stopping && s->nconns < s->max_conns)
		server_accept_all(s, true);
}

/*
 * A burst of connections leaves their freed memory in the allocator's
 * heap (each connection is tens of KiB), so the process would keep the
 * RSS of its busiest moment.  Once most of a burst of 64 or more is gone,
 * the free memory goes back to the system.
 */
#define LOOP_TRIM_MIN 64

static void server_trim(struct server *s)
{
	if (s->conns_peak >= LOOP_TRIM_MIN && s->nconns * 4 <= s->conns_peak) {
		(void)malloc_trim(0);
		s->conns_peak = s->nconns;
	}
}

void server_conn_opened(struct server *s)
{
	if (++s->nconns > s->conns_peak)
		s->conns_peak = s->nconns;
}

void server_conn_closed(struct server *s)
{
	s->nconns--;
	server_trim(s);
	if (s->stopping) {
		if (s->nconns == 0)
			ev_break(s->ev, EVBREAK_ALL);
		return;
	}
	if (s->nconns < s->max_conns && !ev_is_active(&s->accept_retry))
		server_accept_all(s, true);
}

static void server_stop_listening(struct server *s)
{
	size_t i;

	ev_timer_stop(s->ev, &s->accept_retry);
	for (i = 0; i < s->nls; i++) {
		if (s->ls[i].admin)
			continue;       /* /healthz answers while draining */
		ev_io_stop(s->ev, &s->ls[i].io);
		if (s->ls[i].fd != -1)
			close(s->ls[i].fd);
		s->ls[i].fd = -1;
	}
}

static void server_close_admin(struct server *s)
{
	size_t i;

	for (i = 0; i < s->nls; i++) {
		ev_io_stop(s->ev, &s->ls[i].io);
		if (s->ls[i].fd != -1)
			close(s->ls[i].fd);
		s->ls[i].fd = -1;
	}
}

/* First signal: graceful stop.  A second one: stop now. */
static void server_signal_cb(struct ev_loop *ev, ev_signal *w, int revents)
{
	struct server *s = w->data;

	if (s->stopping) {
		ev_break(ev, EVBREAK_ALL);
		return;
	}
	s->stopping = true;
	log_info("stopping: no new connections; draining %u for at most "
	    "%gs", s->nconns, s->shutdown_timeout);
	server_stop_listening(s);
	conn_stop_all(s);
	if (s->nconns == 0) {
		ev_break(ev, EVBREAK_ALL);
		return;
	}
	ev_timer_set(&s->drain, s->shutdown_timeout, 0.0);
	ev_timer_start(ev, &s->drain);
}

/* SIGHUP: the application re-reads its configuration (and reopens logs). */
static void server_hup_cb(struct ev_loop *ev, ev_signal *w, int revents)
{
	struct server *s = w->data;

	if (s->stopping)
		return;
	if (s->on_reopen != NULL)
		s->on_reopen(s);
	if (s->on_reload != NULL)
		s->on_reload(s);
}

/* SIGUSR1: reopen the log files (logrotate). */
static void server_usr1_cb(struct ev_loop *ev, ev_signal *w, int revents)
{
	struct server *s = w->data;

	if (s->on_reopen != NULL)
		s->on_reopen(s);
}

static void server_drain_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct server *s = w->data;

	log_info("shutdown-timeout reached: closing %u connections", s->nconns);
	ev_break(ev, EVBREAK_ALL);
}

void server_run(struct server *s)
{
	size_t i;

	ev_signal_start(s->ev, &s->sigterm);
	ev_signal_start(s->ev, &s->sigint);
	ev_signal_start(s->ev, &s->sighup);
	ev_signal_start(s->ev, &s->sigusr1);
	for (i = 0; i < s->nls; i++)
		ev_io_start(s->ev, &s->ls[i].io);
	ev_run(s->ev, 0);
}

void server_close(struct server *s)
{
	if (s->ev == NULL)
		return;
	s->stopping = true;     /* no accept restarts while freeing */
	conn_free_all(s);
	admin_free_all(s);
	server_stop_listening(s);
	server_close_admin(s);
	free(s->ls);
	s->ls = NULL;
	s->nls = 0;
	ev_timer_stop(s->ev, &s->drain);
	ev_signal_stop(s->ev, &s->sigterm);
	ev_signal_stop(s->ev, &s->sigint);
	ev_signal_stop(s->ev, &s->sighup);
	ev_signal_stop(s->ev, &s->sigusr1);
	server_watch_keyd(s, NULL);
	if (s->gen != NULL)
		gen_unref(s->gen);
	s->gen = NULL;
}
