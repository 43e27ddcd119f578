/*
 * loop.h - the listening sockets, the libev loops, signals, the graceful
 * stop and reload.  Connections (conn.c) register here so the loop can
 * bound their number and close them at shutdown; admin connections
 * (admin.c) are counted apart.
 *
 * The server runs "workers" event loops, each a struct server on its own
 * thread: loop 0 is the main thread's (signals, the admin listeners,
 * reload); the others are started by server_start_workers().  Every loop
 * watches the same listening sockets and owns the connections it accepts;
 * they share the tokens, ticket keys and key daemon connection.  Other
 * threads reach a loop only through its inbox (server_publish(), stop).
 */
#ifndef SRV_LOOP_H
#define SRV_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <ev.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "conn.h"
#include "h2.h"
#include "http.h"
#include "proxy.h"

struct conn;
struct server;
struct gen;
struct hk_engine;
struct accesslog;
struct tokens;
struct tickets;
struct admin_conn;

struct listener {
	int fd;
	bool admin;             /* plain HTTP: /healthz and /metrics */
	ev_io io;
	struct server *srv;
	char name[80];          /* HOST:PORT as bound */
};

/* Handshake counters by TLS version (index) and result. */
enum { VER_TLS12, VER_TLS13, VER_OTHER, VER_COUNT };

/*
 * A loop's counters: only that loop writes them; /metrics (loop 0) reads
 * every loop's, so they are atomic (a relaxed increment on the writer's
 * own cache line).
 */
typedef _Atomic unsigned long long server_counter;

#define SERVER_STATS(T) \
	T accepted; \
	T evicted;      /* idle ones closed to admit new ones */ \
	T handshakes[VER_COUNT];        /* completed, full */ \
	T resumed[VER_COUNT];           /* completed, resumed */ \
	T handshake_failures[VER_COUNT]; \
	T requests; \
	T reloads_ok, reloads_failed; \
	/* TLS termination (proxy.c) */ \
	T upstream_conns;               /* pairs started */ \
	T upstream_failures[UPSTREAM_FAIL_COUNT]; \
	T upstream_bytes_to_up, upstream_bytes_to_cl; \
	/* HTTP/2 (h2.c) */ \
	T h2_conns;                     /* sessions started */ \
	T h2_streams;                   /* streams opened */ \
	T h2_cuts[H2_CUT_COUNT];        /* limits and floods */

struct server_stats {
	SERVER_STATS(server_counter)
};

/* Every loop's counters added up (server_totals()). */
struct server_totals {
	SERVER_STATS(unsigned long long)
	unsigned conns_open;
};

struct server {
	struct ev_loop *ev;
	struct gen *gen;                /* what new connections are served by */
	struct listener *ls;
	size_t nls;
	ev_timer accept_retry;          /* re-enables accept after EMFILE/ENFILE */
	ev_signal sigterm, sigint, sighup, sigusr1;
	ev_timer drain;                 /* bounds the graceful stop */
	struct conn *conns;             /* live connections, newest first */
	struct conn *conns_tail;        /* the oldest (conn.c links both) */
	struct admin_conn *admins;      /* live admin connections (admin.c) */
	unsigned nadmins;
	_Atomic unsigned nconns;
	/* handshakes past the budget of a turn of the loop (conn.c) */
	struct conn *hs_head, *hs_tail;
	unsigned hs_steps;              /* since the last poll */
	ev_idle hs_idle;
	ev_prepare hs_prepare;
	/* where this loop's key operations complete (conn.c; NULL: each
	 * op has an eventfd of its own) */
	struct hk_sink *sink;
	ev_io sink_io;
	unsigned conns_peak;            /* most open since memory was trimmed */
	unsigned max_conns;             /* this loop's share */
	unsigned fd_max_conns;          /* all loops' (max-connections, capped
	                                   by the open-file limit; loop 0's) */
	bool fd_warned;                 /* said once that it was capped */
	double shutdown_timeout;
	bool stopping;
	struct http_limits limits;      /* per request, read by http.c */
	unsigned h2_max_streams;        /* SETTINGS_MAX_CONCURRENT_STREAMS */
	struct conn_timeouts timeouts;  /* per connection, read by conn.c */
	struct accesslog *alog;         /* NULL: off */
	struct tokens *tokens;          /* the token engines, for /metrics */
	struct tickets *tickets;
	struct server_stats st;         /* touched by the loop thread only */
	/* key daemon mode: its socket and its deadline/reconnect timer */
	struct hk_engine *keyd;
	int keyd_fd;                    /* this loop's dup of its socket */
	unsigned long keyd_gen;         /* which connection it is */
	ev_io keyd_io;
	ev_timer keyd_timer;
	/* the application's part of reload and log reopening */
	void (*on_reload)(struct server *s);
	void (*on_reopen)(struct server *s);
	void *app;
	/* the event loops (see the top) */
	struct server *main;            /* loop 0 (itself there) */
	struct server **loops;          /* loop 0: every loop, [0] itself */
	unsigned nloops;                /* loop 0: how many run */
	unsigned idx;                   /* this loop's number */
	bool pinned;                    /* loop 0: worker-cpu-affinity on */
	pthread_t thread;               /* loops 1..: their thread */
	ev_async wake;                  /* the inbox has something */
	pthread_mutex_t inbox_lock;
	struct {
		struct gen *gen;                /* serve it from now on */
		struct accesslog *alog;         /* log to it from now on */
		struct hk_engine *keyd;         /* watch it from now on */
		bool publish;                   /* the three above are set */
		bool stop, stop_now;            /* graceful stop; break now */
	} inbox;
	atomic_bool finished;           /* loops 1..: ev_run has returned */
	atomic_uint listening;          /* loop 0: loops watching listeners */
	bool released;                  /* this loop stopped watching them */
};

void server_init(struct server *s, struct ev_loop *ev);

/*
 * Bind and listen on every listen and admin-listen address of c.  0, or
 * -1 with one line logged.
 */
int server_listen(struct server *s, const struct conf *c);

/* Print "admin on HOST:PORT" and "listening on HOST:PORT" with the bound
 * ports: the server is ready. */
void server_announce(struct server *s);

/*
 * Start the event loops 1..n-1, each on its own thread, watching the
 * listeners of loop 0 (s) and serving its generation.  0, or -1 with one
 * line logged (then none runs).  max-connections is shared evenly.
 */
int server_start_workers(struct server *s, unsigned n);

/*
 * Loop 0 runs on the process's main thread, and the threads it starts
 * (the key operation pools of a reload) take its CPU affinity: around
 * that, server_affinity(s, false) lets it run on every CPU again and
 * server_affinity(s, true) puts it back on its own.  No-ops without
 * worker-cpu-affinity.
 */
void server_affinity(struct server *s, bool pinned);

/*
 * Loop 0: give every other loop s's generation, access log and key
 * daemon engine (after a reload); each takes them on its own thread.
 */
void server_publish(struct server *s);

/* Every loop's counters and open connections, added up (loop 0). */
void server_totals(const struct server *s, struct server_totals *t);

/* The number of cores online, for the default of "workers". */
unsigned server_default_workers(void);

/* Serve until SIGTERM/SIGINT and the graceful stop are done; then the
 * other loops are stopped and joined. */
void server_run(struct server *s);

/* Serve g from now on (start-up, then each reload); the old generation
 * lives on in the connections that hold it. */
void server_swap(struct server *s, struct gen *g);

/* Close every connection and the listeners. */
void server_close(struct server *s);

/* Called by conn.c when a connection is freed. */
void server_conn_opened(struct server *s);
void server_conn_closed(struct server *s);

/* Drive engine e's key daemon connection from the loop (NULL: none). */
void server_watch_keyd(struct server *s, struct hk_engine *e);

/* Apply the limits of a configuration (max connections, timeouts). */
void server_apply(struct server *s, const struct conf *c);

#endif /* SRV_LOOP_H */
