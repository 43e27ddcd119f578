/*
 * loop.h - the listening sockets, the libev loop, signals, the graceful
 * stop and reload.  Connections (conn.c) register here so the loop can
 * bound their number and close them at shutdown; admin connections
 * (admin.c) are counted apart.
 */
#ifndef SRV_LOOP_H
#define SRV_LOOP_H

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

struct server_stats {
	unsigned long long accepted;
	unsigned long long evicted;     /* idle ones closed to admit new ones */
	unsigned long long handshakes[VER_COUNT];       /* completed, full */
	unsigned long long resumed[VER_COUNT];          /* completed, resumed */
	unsigned long long handshake_failures[VER_COUNT];
	unsigned long long requests;
	unsigned long long reloads_ok, reloads_failed;
	/* TLS termination (proxy.c) */
	unsigned long long upstream_conns;              /* pairs started */
	unsigned long long upstream_failures[UPSTREAM_FAIL_COUNT];
	unsigned long long upstream_bytes_to_up, upstream_bytes_to_cl;
	/* HTTP/2 (h2.c) */
	unsigned long long h2_conns;                    /* sessions started */
	unsigned long long h2_streams;                  /* streams opened */
	unsigned long long h2_cuts[H2_CUT_COUNT];       /* limits and floods */
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
	unsigned nconns;
	unsigned conns_peak;            /* most open since memory was trimmed */
	unsigned max_conns;
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
	int keyd_fd;
	ev_io keyd_io;
	ev_timer keyd_timer;
	/* the application's part of reload and log reopening */
	void (*on_reload)(struct server *s);
	void (*on_reopen)(struct server *s);
	void *app;
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

/* Serve until SIGTERM/SIGINT and the graceful stop are done. */
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
