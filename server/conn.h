/*
 * conn.h - one TLS connection: handshake, requests, responses, close.
 */
#ifndef SRV_CONN_H
#define SRV_CONN_H

#include <stdbool.h>
#include <sys/socket.h>

struct server;
struct conn;

/* Defaults of struct conn_timeouts, in seconds (server_init() sets them). */
#define CONN_HANDSHAKE_TIMEOUT 10.0
#define CONN_HEADER_TIMEOUT    10.0
#define CONN_IDLE_TIMEOUT      30.0
#define CONN_SEND_TIMEOUT      30.0
#define CONN_UPSTREAM_TIMEOUT  5.0

/* Seconds each wait of a connection may last; read at every wait. */
struct conn_timeouts {
	double handshake;       /* accept to the end of the TLS handshake */
	double header;          /* a request's first byte to its complete head */
	double idle;            /* before a request's first byte (keep-alive) */
	double send;            /* a response without any write progress */
	double upstream_connect;        /* a backend's connect (proxy.c) */
};

/* Take over the accepted non-blocking socket fd; 0, or -1 (fd closed). */
/* peer: the client's address, from accept(). */
int conn_new(struct server *s, int fd, const struct sockaddr *peer);

/*
 * Graceful stop: close idle connections now; let those with a request in
 * progress finish it with "Connection: close".
 */
void conn_stop_all(struct server *s);

/*
 * The server is full: close the idle connection accepted longest ago (no
 * TLS byte yet, or a keep-alive one between requests) to make room for a
 * new one.  true if one was closed, false if none is idle.
 */
bool conn_evict_idle(struct server *s);

/* Close every connection at once. */
void conn_free_all(struct server *s);

/* A loop's share of conn.c: its handshake queue and budget (the loop
 * exists); undone by conn_loop_fini() before the loop is destroyed. */
void conn_loop_init(struct server *s);
void conn_loop_fini(struct server *s);

#endif /* SRV_CONN_H */
