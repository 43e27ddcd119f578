/*
 * admin.h - the admin listener: plain HTTP/1.1, one request per
 * connection, GET /healthz and GET /metrics.  Meant for loopback or a
 * management network; it serves no file and no TLS.
 */
#ifndef SRV_ADMIN_H
#define SRV_ADMIN_H

#include <stddef.h>

struct server;

/* Take over an accepted admin socket. */
void admin_conn_new(struct server *s, int fd);

/* Close every admin connection at once. */
void admin_free_all(struct server *s);

/* A growing text buffer for the generated bodies. */
struct strbuf {
	char *buf;
	size_t len, cap;
	int failed;             /* out of memory: the body is incomplete */
};

void sb_printf(struct strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The application's answers (main.c): the body and the HTTP status of
 * /healthz (200 when every token is up, else 503 naming those down) and
 * /metrics (Prometheus text format).
 */
int status_healthz(struct server *s, struct strbuf *b);
int status_metrics(struct server *s, struct strbuf *b);

#endif /* SRV_ADMIN_H */
