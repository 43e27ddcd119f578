/*
 * http.h - HTTP/1.1 request parsing (http-parser) and static file responses.
 *
 * No sockets and no TLS here: the connection feeds received bytes in and
 * sends the response head and body out.  One request is handled at a time;
 * pipelined requests wait in the connection's input buffer.
 */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <http_parser.h>

/* Request line plus headers; larger requests get 431. */
#define HTTP_MAX_HEADER 8192
#define HTTP_HEAD_MAX   1024

/*
 * Fill buf with a generated text body (len bytes at most); the number of
 * bytes written, or -1.
 */
typedef int (*http_status_fn)(void *arg, char *buf, size_t len);

struct http_site {
	int root_fd;            /* O_PATH descriptor of the document root */
	const char *root;
	const char *metrics_path;   /* served from metrics(), or NULL */
	http_status_fn metrics;
	void *metrics_arg;
};

struct http_session {
	http_parser parser;
	char url[HTTP_MAX_HEADER + 1];
	size_t url_len;
	char field[8];          /* start of the header name being parsed */
	size_t field_len;       /* its full length */
	bool in_field;          /* the last callback was on_header_field */
	unsigned hosts;         /* Host header lines seen */
	bool started;           /* bytes of a request have arrived */
	bool complete;          /* a whole request is parsed (parser paused) */
};

enum http_feed {
	HTTP_FEED_MORE,         /* all bytes consumed, no complete request */
	HTTP_FEED_REQUEST,      /* a request is complete: respond, then http_next() */
	HTTP_FEED_BAD,          /* malformed: respond with *status and close */
};

struct http_response {
	char head[HTTP_HEAD_MAX];
	size_t head_len;
	int body_fd;            /* -1: no body beyond head */
	off_t body_len;         /* bytes to send from body_fd */
	bool keep_alive;
};

/* Check root is a directory and open it; 0, or -1 with one line logged. */
int http_site_open(struct http_site *site, const char *root);
void http_site_close(struct http_site *site);

/* Limit request heads to HTTP_MAX_HEADER; call once at start-up. */
void http_global_init(void);

void http_session_init(struct http_session *hs);
enum http_feed http_feed(struct http_session *hs, const char *buf, size_t len,
    size_t *used, int *status);
/* Ready to parse the next (pipelined) request. */
void http_next(struct http_session *hs);
/* True when no byte of a next request has arrived. */
bool http_idle(const struct http_session *hs);

/*
 * Build the response to the complete request in hs.  closing forces
 * "Connection: close" (the server is shutting down).
 */
void http_respond(const struct http_site *site, const struct http_session *hs,
    bool closing, struct http_response *r);
/* A short error response that closes the connection (400, 431). */
void http_respond_error(int status, struct http_response *r);
/* Release the response's file descriptor, if any. */
void http_response_clear(struct http_response *r);

#endif /* SRV_HTTP_H */
