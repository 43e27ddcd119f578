/*
 * accesslog.h - one line per HTTP request, in the combined log format
 * followed by the TLS details:
 *
 *   127.0.0.1 - - [01/Dec/2026:23:59:59 +0000] "GET / HTTP/1.1" 200 1234
 *   "https://example.com/" "curl/8.0" tls=TLSv1.3
 *   cipher=TLS_AES_256_GCM_SHA384 sni=localhost resumed=0 rt=0.001 site=www
 *
 * (one line; wrapped here).  A connection passed to a backend (a site with
 * an upstream) has one line for its whole life, "PROXY BACKEND" as its
 * request, its duration as rt=, and the bytes each way at the end:
 *
 *   ... "PROXY tcp:127.0.0.1:8080" - 5120 "-" "-" tls=TLSv1.3 ... rt=2.503
 *   site=app upstream=tcp:127.0.0.1:8080 to_upstream=310 to_client=5120
 *  The time is the request's start in local time
 * with its UTC offset, as Apache and nginx write it.  A field that is
 * absent (NULL) is "-", and so are a size of 0 and a status of 0; an
 * empty unquoted field is "-" too.
 *
 * Client data never breaks a line or a field: in every field, '"', '\',
 * control bytes and bytes from 0x7f up are written as \xHH, and in the
 * unquoted fields (address, sni=, tls=, cipher=, site=) so is a space.  A
 * field longer than its share of the line (target 4096 bytes, referer and
 * user agent 1024, the rest 256, after escaping) is cut and ends in "...".
 *
 * Each entry is formatted into one buffer and written with one write(2),
 * so entries from several threads never interleave.
 */
#ifndef SRV_ACCESSLOG_H
#define SRV_ACCESSLOG_H

#include <stdbool.h>
#include <time.h>

struct accesslog;

struct access_entry {
	const char *client_addr;        /* "127.0.0.1", "::1" */
	struct timespec start;          /* CLOCK_REALTIME, request started */
	const char *method;             /* NULL: no request line was read */
	const char *target;
	const char *protocol;           /* "HTTP/1.1" */
	int status;                     /* 0: none sent */
	long long bytes;                /* body bytes sent */
	const char *referer;
	const char *user_agent;
	const char *tls_version;        /* SSL_get_version() */
	const char *cipher;             /* SSL_get_cipher_name() */
	const char *sni;                /* server name the client sent */
	bool resumed;
	double request_secs;            /* request start to response sent */
	const char *site;
	/* A connection passed to a backend (method "PROXY", target the
	 * backend): then upstream= to_upstream= to_client= follow site=. */
	const char *upstream;
	long long to_upstream, to_client;
};

/*
 * path: a file (opened for appending, created 0640, close-on-exec), or
 * "stderr"; NULL (access-log off) gives *out = NULL, which every other
 * call takes as a no-op.  -1 with errno when the file cannot be opened.
 */
int accesslog_open(struct accesslog **out, const char *path);
/* Open the path again (logrotate moved it) and put it in place of the old
 * descriptor; a write in progress goes to the old file or the new one.
 * 0 for stderr.  -1 with errno, and the old file is kept, on failure. */
int accesslog_reopen(struct accesslog *log);
void accesslog_write(struct accesslog *log, const struct access_entry *e);
/* Format an entry, with its newline, into buf; the length, at most
 * ACCESSLOG_LINE_MAX.  (accesslog_write's formatting; for tests.) */
#define ACCESSLOG_LINE_MAX 8192
size_t accesslog_format(char *buf, const struct access_entry *e);
/* Another holder (each event loop has one); log may be NULL. */
struct accesslog *accesslog_ref(struct accesslog *log);
/* Drop a reference; the last one closes the file. */
void accesslog_close(struct accesslog *log);

#endif /* SRV_ACCESSLOG_H */
