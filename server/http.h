/*
 * http.h - HTTP/1.1 request parsing (http-parser) and static file responses
 * (http_decide(), shared with HTTP/2 in h2.c).
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

/* Defaults of struct http_limits (server_init() sets them). */
#define HTTP_DEFAULT_REQUEST_LINE 8192
#define HTTP_DEFAULT_HEADER_SIZE  16384
#define HTTP_DEFAULT_HEADERS      100
/*
 * http-parser's own bound on a request head is global; it is set to this
 * ceiling and the configured limits are enforced per request below it.
 * A configured size above this still ends at 431 here.
 */
#define HTTP_HEADER_CEILING   (1024 * 1024)

#define HTTP_HEAD_MAX   2048    /* a response's status line and headers */
/* Request targets up to this long need no allocation; a longer one is
 * allocated (up to max-request-line).  Small: every idle connection holds
 * a session. */
#define HTTP_URL_INLINE 512
#define HTTP_HVAL_MAX   512     /* kept bytes of each header this server reads */

/* Per-request bounds; a request beyond one is refused and the connection closed. */
struct http_limits {
	size_t max_request_line;        /* method, target and version: 414 */
	size_t max_header_size;         /* request line and header lines: 431 */
	unsigned max_headers;           /* header lines: 431 */
};

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

/* The request headers the responses depend on. */
enum http_hdr {
	HTTP_H_HOST,
	HTTP_H_IF_NONE_MATCH,
	HTTP_H_IF_MODIFIED_SINCE,
	HTTP_H_RANGE,
	HTTP_H_IF_RANGE,
	HTTP_H_REFERER,         /* for the access log */
	HTTP_H_USER_AGENT,
	HTTP_H_COUNT,
	HTTP_H_OTHER = HTTP_H_COUNT,
};

struct http_hval {
	char buf[HTTP_HVAL_MAX];
	size_t len;
	unsigned lines;         /* how many header lines had this name */
	bool overflow;          /* longer than buf: the header is not used */
};

struct http_session {
	http_parser parser;
	const struct http_limits *limits;
	char *url;              /* the request target: url_inline, or allocated */
	size_t url_len, url_cap;
	char url_inline[HTTP_URL_INLINE + 1];
	char field[24];         /* start of the header name being parsed */
	size_t field_len;       /* its full length */
	bool in_field;          /* the last callback was on_header_field */
	enum http_hdr cur;      /* header whose value is arriving */
	struct http_hval hdr[HTTP_H_COUNT];
	unsigned nheaders;      /* header lines so far */
	size_t head_size;       /* request line and headers as counted so far */
	size_t raw_head;        /* bytes consumed before the head was complete */
	int status;             /* set by a callback that refused the request */
	bool started;           /* bytes of a request have arrived */
	bool head_done;         /* the header block is complete */
	bool complete;          /* a whole request is parsed (parser paused) */
};

enum http_feed {
	HTTP_FEED_MORE,         /* all bytes consumed, no complete request */
	HTTP_FEED_REQUEST,      /* a request is complete: respond, then http_next() */
	HTTP_FEED_BAD,          /* malformed: respond with *status and close */
};

/* One response header field: name in its HTTP/1.1 case, value in vals[]. */
struct http_field {
	const char *name;
	size_t off, len;
};

#define HTTP_FIELDS_MAX 12

/*
 * A request as the response logic sees it, read by HTTP/1.1 (http-parser)
 * or HTTP/2 (h2.c) alike.
 */
struct http_request {
	int method;                     /* enum http_method */
	const char *url;                /* the target: origin- or absolute-form */
	size_t url_len;
	const struct http_hval *hdr;    /* HTTP_H_COUNT captured headers */
	bool keep_alive;                /* HTTP/1.1: the connection may stay */
	bool bad_host;                  /* HTTP/1.1: Host missing or repeated */
};

/*
 * What to answer (http_decide()), independent of the protocol: status,
 * header fields, and a body from a file (body_fd from body_off, body_len
 * bytes) or a short generated page.  head[] is its HTTP/1.1 form.
 */
struct http_response {
	int status;
	struct http_field fields[HTTP_FIELDS_MAX];
	size_t nfields;
	char vals[HTTP_HEAD_MAX];       /* field values, each NUL-terminated */
	size_t vals_len;
	bool full;                      /* a field did not fit: becomes a 500 */
	char page[64];                  /* a generated text body ... */
	size_t page_len;                /* ... 0: none, or not for HEAD */
	int body_fd;            /* -1: no body beyond head */
	off_t body_off;         /* where the body starts in body_fd */
	off_t body_len;         /* bytes to send from body_fd's offset */
	bool keep_alive;
	/* HTTP/1.1: status line, fields, Connection, then the page */
	char head[HTTP_HEAD_MAX];
	size_t head_len;
};

/* Check root is a directory and open it; 0, or -1 with one line logged. */
int http_site_open(struct http_site *site, const char *root);
void http_site_close(struct http_site *site);

/* Set http-parser's global head bound; call once at start-up. */
void http_global_init(void);

/* A session under the default limits; the session must not move. */
void http_session_init(struct http_session *hs);
/* Other limits; they must outlive the session (read at every request). */
void http_session_limits(struct http_session *hs,
    const struct http_limits *limits);
/* Free a target longer than HTTP_URL_INLINE, if one was allocated. */
void http_session_free(struct http_session *hs);
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
/*
 * The response to rq (fields and body, no serialization).  The file
 * descriptor in r is the caller's (http_response_clear()).
 */
void http_decide(const struct http_site *site, const struct http_request *rq,
    struct http_response *r);
/* The value of r's field i, or NULL. */
const char *http_field_value(const struct http_response *r, size_t i);
/* The id of a request header name (any case), or HTTP_H_OTHER. */
enum http_hdr http_hdr_lookup(const char *name, size_t len);
/* One more line of header id: If-None-Match lines join as one list. */
void http_hval_line(struct http_hval *h, enum http_hdr id, const char *v,
    size_t len);
/* A short error response that closes the connection (400, 413, 414, 431). */
void http_respond_error(int status, struct http_response *r);
/* A request header read once, or NULL (absent, repeated, too long). */
const char *http_header(const struct http_session *hs, enum http_hdr id);

/* Release the response's file descriptor, if any. */
void http_response_clear(struct http_response *r);

#endif /* SRV_HTTP_H */
