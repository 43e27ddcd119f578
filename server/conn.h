/*
 * conn.h - one TLS connection: handshake, requests, responses, close.
 */
#ifndef SRV_CONN_H
#define SRV_CONN_H

struct server;
struct conn;

/* Take over the accepted non-blocking socket fd; 0, or -1 (fd closed). */
int conn_new(struct server *s, int fd);

/*
 * Graceful stop: close idle connections now; let those with a request in
 * progress finish it with "Connection: close".
 */
void conn_stop_all(struct server *s);

/* Close every connection at once. */
void conn_free_all(struct server *s);

#endif /* SRV_CONN_H */
