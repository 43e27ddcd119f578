/*
 * loop.c - listening socket, accept, signals and the graceful stop.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

#include "accesslog.h"
#include "admin.h"
#include "hk.h"
#include "conn.h"
#include "log.h"
#include "loop.h"
#include "site.h"

#define LOOP_BACKLOG       511
#define LOOP_ACCEPT_BATCH  64   /* accepts per wake-up, then serve others */
/*
 * With several loops, fewer per wake-up: every loop is woken for a burst,
 * and one that takes it all would work through its handshakes while the
 * others sit idle.
 */
#define LOOP_ACCEPT_SHARE  4
#define LOOP_RETRY_SECS    1.0  /* after running out of descriptors */
#define LOOP_FD_RESERVE    64   /* descriptors not for connections */
#define LOOP_FD_KEYOPS     1024 /* key operations in flight, at most */

static void server_accept_cb(struct ev_loop *ev, ev_io *w, int revents);
static void server_retry_cb(struct ev_loop *ev, ev_timer *w, int revents);
static void server_signal_cb(struct ev_loop *ev, ev_signal *w, int revents);
static void server_drain_cb(struct ev_loop *ev, ev_timer *w, int revents);
static void server_hup_cb(struct ev_loop *ev, ev_signal *w, int revents);
static void server_usr1_cb(struct ev_loop *ev, ev_signal *w, int revents);
static void server_wake_cb(struct ev_loop *ev, ev_async *w, int revents);
static void server_begin_stop(struct server *s);

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
	s->main = s;
	ev_async_init(&s->wake, server_wake_cb);
	s->wake.data = s;
	pthread_mutex_init(&s->inbox_lock, NULL);
	atomic_init(&s->listening, 1);
	conn_loop_init(s);
}

/*
 * Keep the watcher on the daemon's current socket (it changes on
 * reconnect), through this loop's own dup of it: another loop may close
 * the engine's descriptor at any time (hk_engine_keyd_dup).
 */
static void server_keyd_refresh(struct server *s)
{
	if (hk_engine_keyd_generation(s->keyd) == s->keyd_gen)
		return;
	ev_io_stop(s->ev, &s->keyd_io);
	if (s->keyd_fd >= 0)
		close(s->keyd_fd);
	s->keyd_fd = hk_engine_keyd_dup(s->keyd, &s->keyd_gen);
	if (s->keyd_fd >= 0) {
		ev_io_set(&s->keyd_io, s->keyd_fd, EV_READ);
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
		if (s->keyd_fd >= 0)
			close(s->keyd_fd);
	}
	s->keyd = e;
	s->keyd_fd = -1;
	s->keyd_gen = ULONG_MAX;        /* none taken yet */
	if (e == NULL)
		return;
	ev_init(&s->keyd_io, server_keyd_io_cb);
	s->keyd_io.data = s;
	ev_timer_init(&s->keyd_timer, server_keyd_timer_cb, 0.1, 0.1);
	s->keyd_timer.data = s;
	ev_timer_start(s->ev, &s->keyd_timer);
	server_keyd_refresh(s);
}

/*
 * The descriptors n connections may need: each its socket, and its backend
 * socket when a site has an upstream; a handshake's key operation holds an
 * eventfd while it runs, and those in flight are bounded by the key queues
 * (LOOP_FD_KEYOPS) as well as by n; LOOP_FD_RESERVE more for listeners,
 * logs, the token module and the key daemon.
 */
static rlim_t server_fd_need(unsigned n, unsigned per_conn)
{
	return (rlim_t)n * per_conn + (n < LOOP_FD_KEYOPS ? n : LOOP_FD_KEYOPS) +
	    LOOP_FD_RESERVE;
}

/*
 * The connections the open-file limit allows, at most want; the soft limit
 * is raised toward the hard one first.
 */
static unsigned server_fd_cap(unsigned want, unsigned per_conn, rlim_t *limit)
{
	rlim_t need = server_fd_need(want, per_conn), l;
	struct rlimit rl, up;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return want;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		up = rl;
		up.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ?
		    need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	*limit = l = rl.rlim_cur;
	if (l == RLIM_INFINITY || l >= need)
		return want;
	if (l <= server_fd_need(1, per_conn))
		return 1;
	if (l <= server_fd_need(LOOP_FD_KEYOPS, per_conn))
		return (unsigned)((l - LOOP_FD_RESERVE) / (per_conn + 1));
	return (unsigned)((l - LOOP_FD_RESERVE - LOOP_FD_KEYOPS) / per_conn);
}

/* 2 when a site passes its connections to an upstream, else 1. */
static unsigned server_fds_per_conn(const struct conf *c)
{
	size_t i;

	for (i = 0; i < c->nsites; i++)
		if (c->sites[i].upstream.spec != NULL)
			return 2;
	return 1;
}

void server_apply(struct server *s, const struct conf *c)
{
	unsigned n = s->main->nloops > 0 ? s->main->nloops : 1;
	unsigned max = c->max_conns;
	rlim_t limit = 0;

	unsigned per = server_fds_per_conn(c);

	if (s->main == s && (max = server_fd_cap(c->max_conns, per, &limit)) <
	    c->max_conns && !s->fd_warned) {
		log_warn("max-connections %u needs %llu open files, and the "
		    "limit is %llu: serving at most %u connections (raise "
		    "LimitNOFILE or ulimit -n)", c->max_conns,
		    (unsigned long long)server_fd_need(c->max_conns, per),
		    (unsigned long long)limit, max);
		s->fd_warned = true;
	}
	if (s->main != s)
		max = s->main->fd_max_conns;
	s->fd_max_conns = max;
	/* Each loop admits its share (rounded up). */
	s->max_conns = (max + n - 1) / n;
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
 * server bind the same port silently instead of failing.  TCP_NODELAY is
 * set here once: Linux gives each accepted socket the listener's.  Each
 * TLS flight and response is written whole, so Nagle only delays: without
 * it a TLS 1.3 session ticket followed by the first response waits ~40 ms
 * for the client's delayed ACK.
 */
static int server_socket(const struct addrinfo *ai)
{
	int fd, one = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1 ||
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
	/* A one-shot timer that has fired must be set again (libev keeps
	 * the time left, now none): else it fires at once and accept spins. */
	ev_timer_set(&s->accept_retry, LOOP_RETRY_SECS, 0.0);
	ev_timer_start(s->ev, &s->accept_retry);
}

static void server_accept_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct listener *ln = w->data;
	struct server *s = ln->srv;
	struct sockaddr_storage peer;
	socklen_t plen;
	int i, fd, batch = s->main->nloops > 1 && !ln->admin ?
	    LOOP_ACCEPT_SHARE : LOOP_ACCEPT_BATCH;

	for (i = 0; i < batch && !s->stopping; i++) {
		if (!ln->admin && s->nconns >= s->max_conns &&
		    !conn_evict_idle(s)) {
			/* None idle: resumed by server_conn_closed(). */
			server_accept_all(s, false);
			return;
		}
		plen = sizeof(peer);
		fd = accept4(ln->fd, (struct sockaddr *)&peer, &plen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
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
		conn_new(s, fd, (struct sockaddr *)&peer);
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

/* Stopping, and nothing is left to wait for: loop 0 waits for the others. */
static bool server_drained(const struct server *s)
{
	unsigned i;

	if (s->nconns > 0)
		return false;
	if (s->main != s)
		return true;
	for (i = 1; i < s->nloops; i++)
		if (!atomic_load(&s->loops[i]->finished))
			return false;
	return true;
}

void server_conn_closed(struct server *s)
{
	s->nconns--;
	server_trim(s);
	if (s->stopping) {
		if (server_drained(s))
			ev_break(s->ev, EVBREAK_ALL);
		return;
	}
	if (s->nconns < s->max_conns && !ev_is_active(&s->accept_retry))
		server_accept_all(s, true);
}

/*
 * Stop watching the listeners; the last loop to do so closes them (loop
 * 0's), so no loop ever watches a closed or reused descriptor, and new
 * connections are refused as soon as every loop has stopped.
 */
static void server_stop_listening(struct server *s)
{
	struct server *m = s->main;
	size_t i;

	ev_timer_stop(s->ev, &s->accept_retry);
	for (i = 0; i < s->nls; i++)
		if (!s->ls[i].admin)    /* /healthz answers while draining */
			ev_io_stop(s->ev, &s->ls[i].io);
	if (s->released)
		return;
	s->released = true;
	if (atomic_fetch_sub(&m->listening, 1) != 1)
		return;
	for (i = 0; i < m->nls; i++) {
		if (m->ls[i].admin)
			continue;
		if (m->ls[i].fd != -1)
			close(m->ls[i].fd);
		m->ls[i].fd = -1;
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

/* Put a stop in every other loop's inbox (loop 0). */
static void server_tell_stop(struct server *s, bool now)
{
	unsigned i;

	for (i = 1; i < s->nloops; i++) {
		struct server *w = s->loops[i];

		pthread_mutex_lock(&w->inbox_lock);
		if (now)
			w->inbox.stop_now = true;
		else
			w->inbox.stop = true;
		pthread_mutex_unlock(&w->inbox_lock);
		ev_async_send(w->ev, &w->wake);
	}
}

/* No new connections; finish those with a request in progress. */
static void server_begin_stop(struct server *s)
{
	s->stopping = true;
	server_stop_listening(s);
	conn_stop_all(s);
	if (server_drained(s)) {
		ev_break(s->ev, EVBREAK_ALL);
		return;
	}
	ev_timer_set(&s->drain, s->shutdown_timeout, 0.0);
	ev_timer_start(s->ev, &s->drain);
}

/* First signal: graceful stop.  A second one: stop now. */
static void server_signal_cb(struct ev_loop *ev, ev_signal *w, int revents)
{
	struct server *s = w->data;
	struct server_totals t;

	if (s->stopping) {
		server_tell_stop(s, true);
		ev_break(ev, EVBREAK_ALL);
		return;
	}
	server_totals(s, &t);
	log_info("stopping: no new connections; draining %u for at most "
	    "%gs", t.conns_open, s->shutdown_timeout);
	server_tell_stop(s, false);
	server_begin_stop(s);
}

/* Another thread left something in this loop's inbox. */
static void server_wake_cb(struct ev_loop *ev, ev_async *w, int revents)
{
	struct server *s = w->data;
	struct gen *g = NULL;
	struct accesslog *alog = NULL;
	struct hk_engine *keyd = NULL;
	bool publish, stop, now;

	pthread_mutex_lock(&s->inbox_lock);
	publish = s->inbox.publish;
	if (publish) {
		g = s->inbox.gen;
		alog = s->inbox.alog;
		keyd = s->inbox.keyd;
		s->inbox.gen = NULL;
		s->inbox.alog = NULL;
		s->inbox.publish = false;
	}
	stop = s->inbox.stop;
	now = s->inbox.stop_now;
	s->inbox.stop = false;
	pthread_mutex_unlock(&s->inbox_lock);
	if (publish) {
		if (g != NULL && g != s->gen)
			server_swap(s, g);
		gen_unref(g);
		accesslog_close(s->alog);
		s->alog = alog;
		server_watch_keyd(s, keyd);
	}
	if (now) {
		ev_break(ev, EVBREAK_ALL);
		return;
	}
	if (stop && !s->stopping)
		server_begin_stop(s);
	/* Loop 0 is woken too when another loop has finished. */
	if (s->main == s && s->stopping && server_drained(s))
		ev_break(ev, EVBREAK_ALL);
}

void server_publish(struct server *s)
{
	unsigned i;

	for (i = 1; i < s->nloops; i++) {
		struct server *w = s->loops[i];

		pthread_mutex_lock(&w->inbox_lock);
		gen_unref(w->inbox.gen);
		accesslog_close(w->inbox.alog);
		w->inbox.gen = gen_ref(s->gen);
		w->inbox.alog = accesslog_ref(s->alog);
		w->inbox.keyd = s->keyd;
		w->inbox.publish = true;
		pthread_mutex_unlock(&w->inbox_lock);
		ev_async_send(w->ev, &w->wake);
	}
}

/*
 * Both structs are SERVER_STATS() of one element type each, so a loop's
 * counters add up element by element: a counter added to the list is
 * summed without a line here.
 */
#define SERVER_NSTATS (sizeof(struct server_stats) / sizeof(server_counter))
_Static_assert(sizeof(struct server_stats) % sizeof(server_counter) == 0,
    "struct server_stats holds counters only");
_Static_assert(offsetof(struct server_totals, conns_open) ==
    SERVER_NSTATS * sizeof(unsigned long long),
    "struct server_totals starts with the same counters");

void server_totals(const struct server *s, struct server_totals *t)
{
	const struct server *m = s->main;
	unsigned i, n = m->nloops > 0 ? m->nloops : 1;
	unsigned long long *sum = (unsigned long long *)t;
	size_t k;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < n; i++) {
		const struct server *l = i == 0 ? m : m->loops[i];
		const server_counter *c = (const server_counter *)&l->st;

		for (k = 0; k < SERVER_NSTATS; k++)
			sum[k] += c[k];
		t->conns_open += l->nconns;
	}
}

unsigned server_default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > CONF_MAX_WORKERS ? CONF_MAX_WORKERS :
	    (unsigned)n;
}

/*
 * worker-cpu-affinity: loop i runs on the i-th of the CPUs the process was
 * allowed when the loops started (taskset, cgroup cpusets), modulo their
 * count.  Two loops on one CPU wait for each other in scheduler ticks
 * while the other CPU runs something else: bench/burst.sh, two loops,
 * keep-alive p99 under bursts, medians of 4.98 ms unpinned, 2.65 pinned.
 */
static cpu_set_t server_cpus;

static int server_pin(unsigned idx, bool say)
{
	cpu_set_t one;
	int cpu, n = CPU_COUNT(&server_cpus), k;

	if (n == 0)
		return -1;
	k = (int)(idx % (unsigned)n);
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &server_cpus) && k-- == 0)
			break;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	errno = pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
	if (errno != 0) {
		log_warn("worker-cpu-affinity: loop %u: %s", idx, strerror(errno));
		return -1;
	}
	if (say)
		log_info("event loop %u runs on CPU %d", idx, cpu);
	return 0;
}

void server_affinity(struct server *s, bool pinned)
{
	if (!s->pinned)
		return;
	if (pinned)
		(void)server_pin(0, false);
	else if ((errno = pthread_setaffinity_np(pthread_self(),
	    sizeof(server_cpus), &server_cpus)) != 0)
		log_warn("worker-cpu-affinity: loop 0: %s", strerror(errno));
}

static void *server_worker_main(void *arg)
{
	struct server *w = arg;
	char name[16];

	/* "top -H" and /proc/PID/task/TID/comm tell the loops apart. */
	snprintf(name, sizeof(name), "loop %u", w->idx);
	(void)pthread_setname_np(pthread_self(), name);
	if (w->main->pinned)
		(void)server_pin(w->idx, true);

	ev_run(w->ev, 0);
	atomic_store(&w->finished, true);
	ev_async_send(w->main->ev, &w->main->wake);
	return NULL;
}

static void server_worker_free(struct server *w)
{
	if (w == NULL)
		return;
	if (w->ev != NULL) {
		w->stopping = true;
		conn_free_all(w);
		ev_timer_stop(w->ev, &w->drain);
		server_stop_listening(w);
		ev_async_stop(w->ev, &w->wake);
		server_watch_keyd(w, NULL);
		conn_loop_fini(w);
		ev_loop_destroy(w->ev);
	}
	gen_unref(w->gen);
	gen_unref(w->inbox.gen);
	accesslog_close(w->alog);
	accesslog_close(w->inbox.alog);
	pthread_mutex_destroy(&w->inbox_lock);
	free(w->ls);
	free(w);
}

/* Loop i: its own libev loop and watchers on loop 0's listeners. */
static struct server *server_worker_new(struct server *s, unsigned i)
{
	struct server *w = calloc(1, sizeof(*w));
	struct ev_loop *ev;
	size_t j;

	if (w == NULL)
		return NULL;
	if ((ev = ev_loop_new(EVFLAG_AUTO)) == NULL) {
		free(w);
		return NULL;
	}
	server_init(w, ev);
	w->main = s;
	w->idx = i;
	w->released = true;     /* until it is counted in s->listening */
	w->app = s->app;
	w->tokens = s->tokens;
	w->tickets = s->tickets;
	w->alog = accesslog_ref(s->alog);
	if ((w->ls = calloc(s->nls, sizeof(*w->ls))) == NULL) {
		server_worker_free(w);
		return NULL;
	}
	for (j = 0; j < s->nls; j++) {
		struct listener *ln;

		if (s->ls[j].admin)
			continue;
		ln = &w->ls[w->nls++];
		*ln = s->ls[j];
		ln->srv = w;
		ev_io_init(&ln->io, server_accept_cb, ln->fd, EV_READ);
		ln->io.data = ln;
	}
	return w;
}

/*
 * Loop 0, after its ev_run: stop the loops still running, join them and
 * free them with their connections.
 */
static void server_stop_workers(struct server *s)
{
	unsigned i;

	server_tell_stop(s, true);
	for (i = 1; i < s->nloops; i++)
		pthread_join(s->loops[i]->thread, NULL);
	for (i = 1; i < s->nloops; i++)
		server_worker_free(s->loops[i]);
	s->nloops = 1;
}

int server_start_workers(struct server *s, unsigned n)
{
	sigset_t all, old;
	unsigned i, started;
	size_t j;
	int err = 0;

	if ((s->loops = calloc(n, sizeof(*s->loops))) == NULL) {
		log_error("out of memory");
		return -1;
	}
	s->loops[0] = s;
	s->nloops = 1;
	atomic_store(&s->listening, 1);
	s->pinned = false;
	if (s->gen->conf.worker_cpu_affinity) {
		if ((errno = pthread_getaffinity_np(pthread_self(),
		    sizeof(server_cpus), &server_cpus)) != 0)
			log_warn("worker-cpu-affinity: %s: the loops are not "
			    "pinned", strerror(errno));
		else
			s->pinned = true;
	}
	for (i = 1; i < n; i++) {
		struct server *w = server_worker_new(s, i);

		if (w == NULL) {
			log_error("cannot create event loop %u: %s", i,
			    strerror(errno));
			for (j = 1; j < i; j++)
				server_worker_free(s->loops[j]);
			return -1;
		}
		s->loops[i] = w;
	}
	/* Every loop's share of max-connections counts all of them. */
	s->nloops = n;
	server_apply(s, &s->gen->conf);
	for (i = 1; i < n; i++) {
		struct server *w = s->loops[i];

		server_swap(w, s->gen);
		server_watch_keyd(w, s->keyd);
		ev_async_start(w->ev, &w->wake);
		for (j = 0; j < w->nls; j++)
			ev_io_start(w->ev, &w->ls[j].io);
		w->released = false;
		atomic_fetch_add(&s->listening, 1);
	}
	/* Signals are loop 0's: the other threads block them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (started = 1; started < n; started++)
		if ((err = pthread_create(&s->loops[started]->thread, NULL,
		    server_worker_main, s->loops[started])) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (started == n) {
		if (s->pinned)
			(void)server_pin(0, true);
		return 0;
	}
	log_error("cannot start event loop %u: %s", started, strerror(err));
	for (i = started; i < n; i++)
		server_worker_free(s->loops[i]);
	s->nloops = started;
	server_stop_workers(s);
	return -1;
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

	if (s->main == s) {
		struct server_totals t;

		server_totals(s, &t);
		log_info("shutdown-timeout reached: closing %u connections",
		    t.conns_open);
		server_tell_stop(s, true);
	}
	ev_break(ev, EVBREAK_ALL);
}

void server_run(struct server *s)
{
	size_t i;

	ev_signal_start(s->ev, &s->sigterm);
	ev_signal_start(s->ev, &s->sigint);
	ev_signal_start(s->ev, &s->sighup);
	ev_signal_start(s->ev, &s->sigusr1);
	ev_async_start(s->ev, &s->wake);
	if (!s->released)
		for (i = 0; i < s->nls; i++)
			ev_io_start(s->ev, &s->ls[i].io);
	ev_run(s->ev, 0);
	server_stop_workers(s);
}

void server_close(struct server *s)
{
	if (s->ev == NULL)
		return;
	server_stop_workers(s);         /* if server_run() did not */
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
	ev_async_stop(s->ev, &s->wake);
	server_watch_keyd(s, NULL);
	conn_loop_fini(s);
	if (s->gen != NULL)
		gen_unref(s->gen);
	s->gen = NULL;
	free(s->loops);
	s->loops = NULL;
	s->nloops = 0;
}
