/*
 * proxy.h - TLS termination: after the handshake, a connection of a site
 * with an upstream is spliced to a new connection to its backend, bytes
 * copied both ways (see doc/DESIGN.md, "TLS termination").
 *
 * conn.c keeps the client's socket, its SSL and its place in the server's
 * list of connections; a struct proxy owns the backend socket, the two
 * directions' state and the watchers of both sockets, and says when the
 * pair is over through its done callback.
 */
#ifndef SRV_PROXY_H
#define SRV_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

#include "conf.h"

struct server;
struct proxy;

/* A site's backend, resolved when the configuration is built. */
struct upstream {
	char *spec;             /* "tcp:HOST:PORT" or "unix:PATH", for logs */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool proxy_v2;          /* a PROXY v2 header first */
};

/*
 * Resolve cu (a TCP host name is looked up now, at start-up or reload,
 * never on the event loop while serving; the first address is used).
 * NULL with the reason in why.
 */
struct upstream *upstream_new(const struct conf_upstream *cu, bool proxy_v2,
    char *why, size_t len);
void upstream_free(struct upstream *up);

/* Why a backend failed, for the failure counter's label. */
enum upstream_fail {
	UPSTREAM_REFUSED,       /* connection refused, unreachable, no socket */
	UPSTREAM_TIMEOUT,       /* no connection within upstream-connect-timeout */
	UPSTREAM_RESET,         /* reset before it sent a byte */
	UPSTREAM_NO_ANSWER,     /* took the client's bytes, never answered */
	UPSTREAM_HEADER,        /* the PROXY header could not be built */
	UPSTREAM_FAIL_COUNT,
};

extern const char *const upstream_fail_names[UPSTREAM_FAIL_COUNT];

/*
 * Start passing the connection on: connect (non-blocking) to up and copy
 * between the client's SSL (on fd cfd, handshake done) and the backend.
 * The two buffers, of cap bytes each, are the caller's (the connection's
 * own, idle once it proxies).  peer is the client's address as text.
 * done(arg) is called once, from the event loop, when the pair is over;
 * the caller then calls proxy_free() and closes the client.  NULL on
 * failure (out of memory).
 */
struct proxy *proxy_start(struct server *s, SSL *ssl, int cfd,
    const struct upstream *up, const char *peer, char *to_up, char *to_cl,
    size_t cap, void (*done)(void *), void *arg);

/* Stop the pair's watchers, close the backend, write its access log line. */
void proxy_free(struct proxy *p);

#endif /* SRV_PROXY_H */
