/*
 * h2.h - HTTP/2 (RFC 9113) for a static site, over libnghttp2.
 *
 * One session per connection that negotiated ALPN "h2".  No sockets and
 * no TLS here: conn.c feeds the plaintext it reads to h2_recv() and
 * writes what h2_send() gives it, keeping its own waits and timers.
 * Each stream's response is http_decide()'s, as for HTTP/1.1; bodies are
 * read from the file (pread) as nghttp2 asks for them, so flow control
 * and a full socket hold a body back without buffering it.
 */
#ifndef SRV_H2_H
#define SRV_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

struct server;
struct h2;

#define H2_DEFAULT_MAX_STREAMS 100

/* Why a connection or a stream was cut, for /metrics. */
enum h2_cut {
	H2_CUT_MAX_STREAMS,     /* a stream over SETTINGS_MAX_CONCURRENT_STREAMS */
	H2_CUT_HEADER_LIST,     /* a header list over the http limits: 431 */
	H2_CUT_RAPID_RESET,     /* CVE-2023-44487: GOAWAY ENHANCE_YOUR_CALM */
	H2_CUT_SETTINGS_FLOOD,  /* SETTINGS acks piling up, or too many entries */
	H2_CUT_PING_FLOOD,      /* PING acks piling up */
	H2_CUT_SEND_TIMEOUT,    /* open streams and no progress (window 0) */
	H2_CUT_PROTOCOL,        /* any other error that ends the session */
	H2_CUT_COUNT,
};

extern const char *const h2_cut_names[H2_CUT_COUNT];

/* A session for the connection ssl (after its handshake); NULL if out of
 * memory.  peer is the client's address, for the access log. */
struct h2 *h2_new(struct server *s, SSL *ssl, const char *peer);
/* Log and free the streams still open, then the session; NULL is a no-op. */
void h2_free(struct h2 *h);

/* Received plaintext; 0, or -1 when the connection must close now. */
int h2_recv(struct h2 *h, const char *buf, size_t len);
/* Up to cap bytes to send into buf: their number, 0 when there is nothing
 * to send now, -1 when the connection must close. */
ssize_t h2_send(struct h2 *h, char *buf, size_t cap);
/* Nothing more to read or send: close the connection (close_notify). */
bool h2_done(const struct h2 *h);
/* Streams open (their response is not fully sent). */
unsigned h2_streams(const struct h2 *h);
/* Grows with each stream opened and each HEADERS or DATA frame sent: the
 * send timeout is restarted only by progress, never by PING or SETTINGS. */
unsigned long long h2_progress(const struct h2 *h);
/* Graceful stop: GOAWAY, and the open streams are finished. */
void h2_stop(struct h2 *h);
/* The connection's timer expired: counted as a send timeout cut when
 * streams were open. */
void h2_timed_out(struct h2 *h);

#endif /* SRV_H2_H */
