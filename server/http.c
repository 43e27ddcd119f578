/*
 * http.c - HTTP/1.1 requests (http-parser) and static file responses.
 *
 * Path safety, in order: percent-decode (a %00 or malformed escape is 400),
 * refuse any ".." segment (404), then open the file with openat2()
 * RESOLVE_BENEATH relative to the document root, so neither ".." nor a
 * symlink can leave the root, even if the tree changes between requests.
 * Only regular files are served.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "http.h"
#include "log.h"

#define HTTP_PATH_MAX 4096

static int http_on_message_begin(http_parser *p)
{
	struct http_session *hs = p->data;

	hs->started = true;
	hs->url_len = 0;
	hs->hosts = 0;
	hs->in_field = false;
	return 0;
}

/* A header name is complete: count Host lines (RFC 9112 section 3.2). */
static void http_field_done(struct http_session *hs)
{
	if (hs->in_field && hs->field_len == 4 &&
	    strncasecmp(hs->field, "host", 4) == 0)
		hs->hosts++;
	hs->in_field = false;
}

/* Names may arrive in pieces; only the first bytes and the length matter. */
static int http_on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_session *hs = p->data;
	size_t n;

	if (!hs->in_field) {
		hs->in_field = true;
		hs->field_len = 0;
	}
	if (hs->field_len < sizeof(hs->field)) {
		n = sizeof(hs->field) - hs->field_len;
		memcpy(hs->field + hs->field_len, at, len < n ? len : n);
	}
	hs->field_len += len;
	return 0;
}

static int http_on_header_value(http_parser *p, const char *at, size_t len)
{
	http_field_done(p->data);
	return 0;
}

static int http_on_headers_complete(http_parser *p)
{
	http_field_done(p->data);
	return 0;
}

static int http_on_url(http_parser *p, const char *at, size_t len)
{
	struct http_session *hs = p->data;

	/* The header limit bounds the URL too; this only guards the copy. */
	if (len > sizeof(hs->url) - 1 - hs->url_len)
		return -1;
	memcpy(hs->url + hs->url_len, at, len);
	hs->url_len += len;
	hs->url[hs->url_len] = '\0';
	return 0;
}

/* Stop after each request so pipelined ones are answered in order. */
static int http_on_message_complete(http_parser *p)
{
	struct http_session *hs = p->data;

	hs->complete = true;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings http_settings = {
	.on_message_begin = http_on_message_begin,
	.on_url = http_on_url,
	.on_header_field = http_on_header_field,
	.on_header_value = http_on_header_value,
	.on_headers_complete = http_on_headers_complete,
	.on_message_complete = http_on_message_complete,
};

void http_global_init(void)
{
	http_parser_set_max_header_size(HTTP_MAX_HEADER);
}

static long http_openat2(int dirfd, const char *path, int flags)
{
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)flags;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	return syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int http_site_open(struct http_site *site, const char *root)
{
	long fd;

	site->root = root;
	site->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (site->root_fd == -1) {
		log_error("document root '%s': %s", root, strerror(errno));
		return -1;
	}
	/* Fail at start-up, not per request, on kernels without openat2. */
	fd = http_openat2(site->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1) {
		log_error("document root '%s': openat2: %s (Linux 5.6 or later "
		    "required)", root, strerror(errno));
		close(site->root_fd);
		site->root_fd = -1;
		return -1;
	}
	close((int)fd);
	return 0;
}

void http_site_close(struct http_site *site)
{
	if (site->root_fd != -1)
		close(site->root_fd);
	site->root_fd = -1;
}

void http_session_init(struct http_session *hs)
{
	memset(hs, 0, sizeof(*hs));
	http_parser_init(&hs->parser, HTTP_REQUEST);
	hs->parser.data = hs;
}

enum http_feed http_feed(struct http_session *hs, const char *buf, size_t len,
    size_t *used, int *status)
{
	enum http_errno err;

	*used = http_parser_execute(&hs->parser, &http_settings, buf, len);
	if (hs->complete)
		return HTTP_FEED_REQUEST;
	err = HTTP_PARSER_ERRNO(&hs->parser);
	if (err == HPE_OK)
		return HTTP_FEED_MORE;
	*status = err == HPE_HEADER_OVERFLOW ? 431 : 400;
	return HTTP_FEED_BAD;
}

void http_next(struct http_session *hs)
{
	hs->complete = false;
	hs->started = false;
	hs->url_len = 0;
	http_parser_pause(&hs->parser, 0);
}

bool http_idle(const struct http_session *hs)
{
	return !hs->started;
}

static int http_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode src[0..len) into dst; -1 on %00 or a malformed escape. */
static int http_decode(const char *src, size_t len, char *dst, size_t size)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (o + 1 >= size)
			return -1;
		if (src[i] != '%') {
			dst[o++] = src[i];
			continue;
		}
		if (i + 2 >= len)
			return -1;
		hi = http_hex(src[i + 1]);
		lo = hi < 0 ? -1 : http_hex(src[i + 2]);
		if (lo < 0 || (hi == 0 && lo == 0))
			return -1;
		dst[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	dst[o] = '\0';
	return 0;
}

/* True if a segment of path is exactly "..". */
static bool http_has_dotdot(const char *path)
{
	const char *s = path;

	while (*s != '\0') {
		if (s[0] == '.' && s[1] == '.' && (s[2] == '/' || s[2] == '\0'))
			return true;
		s = strchr(s, '/');
		if (s == NULL)
			break;
		s++;
	}
	return false;
}

/*
 * Open a regular file at rel below the root.  Returns the fd, or -1 with
 * *status set (404 for anything missing, escaping or not a regular file).
 */
static int http_open_file(const struct http_site *site, const char *rel,
    struct stat *st, int *status)
{
	/* O_NONBLOCK: opening a FIFO in the root must not hang the loop. */
	long fd = http_openat2(site->root_fd, rel,
	    O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd == -1) {
		*status = (errno == EMFILE || errno == ENFILE ||
		    errno == ENOMEM) ? 503 : 404;
		return -1;
	}
	if (fstat((int)fd, st) == -1) {
		close((int)fd);
		*status = 500;
		return -1;
	}
	return (int)fd;
}

#define HTTP_REL_MAX (HTTP_PATH_MAX + sizeof("/index.html"))

/*
 * The file for a decoded path: "/" and directories mean their index.html.
 * rel[] receives the path opened, relative to the root.
 */
static int http_resolve(const struct http_site *site, const char *path,
    char *rel, struct stat *st, int *status)
{
	size_t n;
	int fd;

	while (*path == '/')
		path++;         /* relative to the root fd */
	n = (size_t)snprintf(rel, HTTP_REL_MAX, "%s", *path ? path : ".");
	if ((fd = http_open_file(site, rel, st, status)) == -1)
		return -1;
	if (S_ISDIR(st->st_mode)) {
		close(fd);
		snprintf(rel + n, HTTP_REL_MAX - n, "%sindex.html",
		    rel[n - 1] == '/' ? "" : "/");
		if ((fd = http_open_file(site, rel, st, status)) == -1)
			return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		*status = 404;
		return -1;
	}
	return fd;
}

/* Decode and check the request target; the path goes to path[]. */
static int http_target(const struct http_session *hs, char *path, size_t size,
    int *status)
{
	struct http_parser_url u;
	const char *p;
	size_t len;

	http_parser_url_init(&u);
	if (http_parser_parse_url(hs->url, hs->url_len, 0, &u) != 0) {
		*status = 400;
		return -1;
	}
	if (!(u.field_set & (1 << UF_PATH))) {
		p = "/";        /* absolute-form without a path */
		len = 1;
	} else {
		p = hs->url + u.field_data[UF_PATH].off;
		len = u.field_data[UF_PATH].len;
	}
	/* The query and fragment are ignored: only UF_PATH is used. */
	if (p[0] != '/' || http_decode(p, len, path, size) == -1) {
		*status = 400;
		return -1;
	}
	if (http_has_dotdot(path)) {
		*status = 404;
		return -1;
	}
	return 0;
}

static const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default:  return "Internal Server Error";
	}
}

static const struct {
	const char *ext;
	const char *type;
} http_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm",  "text/html; charset=utf-8" },
	{ "css",  "text/css; charset=utf-8" },
	{ "js",   "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "txt",  "text/plain; charset=utf-8" },
	{ "png",  "image/png" },
	{ "jpg",  "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "svg",  "image/svg+xml" },
	{ "ico",  "image/x-icon" },
	{ "wasm", "application/wasm" },
};

static const char *http_content_type(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(path, '.');
	size_t i;

	if (dot != NULL && (slash == NULL || dot > slash)) {
		for (i = 0; i < sizeof(http_types) / sizeof(http_types[0]); i++)
			if (strcasecmp(dot + 1, http_types[i].ext) == 0)
				return http_types[i].type;
	}
	return "application/octet-stream";
}

/* RFC 9110 IMF-fixdate; the C locale is never changed, so names are English. */
static void http_date(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		snprintf(buf, size, "Thu, 01 Jan 1970 00:00:00 GMT");
}

/* The status line and headers; extra is "" or complete header lines. */
static void http_head(struct http_response *r, int status, const char *type,
    long long length, const char *extra)
{
	char date[64];
	int n;

	http_date(time(NULL), date, sizeof(date));
	n = snprintf(r->head, sizeof(r->head),
	    "HTTP/1.1 %d %s\r\n"
	    "Server: hsmtls\r\n"
	    "Date: %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %lld\r\n"
	    "%s"
	    "Connection: %s\r\n"
	    "\r\n",
	    status, http_reason(status), date, type, length, extra,
	    r->keep_alive ? "keep-alive" : "close");
	r->head_len = n < 0 ? 0 : (size_t)n < sizeof(r->head) ?
	    (size_t)n : sizeof(r->head) - 1;
}

/* A short text/plain error page, carried in the head buffer itself. */
static void http_error_page(struct http_response *r, int status, bool head_only)
{
	char body[64];
	int n;

	n = snprintf(body, sizeof(body), "%d %s\n", status, http_reason(status));
	http_head(r, status, "text/plain; charset=utf-8", n,
	    status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head_only && r->head_len + (size_t)n < sizeof(r->head)) {
		memcpy(r->head + r->head_len, body, (size_t)n);
		r->head_len += (size_t)n;
	}
}

static void http_response_init(struct http_response *r, bool keep_alive)
{
	r->head_len = 0;
	r->body_fd = -1;
	r->body_len = 0;
	r->keep_alive = keep_alive;
}

void http_respond_error(int status, struct http_response *r)
{
	http_response_init(r, false);
	http_error_page(r, status, false);
}

static void http_file_response(struct http_response *r, int fd,
    const struct stat *st, const char *path, bool head_only)
{
	char modified[64], extra[96];

	http_date(st->st_mtime, modified, sizeof(modified));
	snprintf(extra, sizeof(extra), "Last-Modified: %s\r\n", modified);
	http_head(r, 200, http_content_type(path), (long long)st->st_size,
	    extra);
	if (head_only || st->st_size == 0) {
		close(fd);
		return;
	}
	r->body_fd = fd;
	r->body_len = st->st_size;
}

/* A generated body, handed over as a memory file like any other file. */
static void http_generated(const struct http_site *site,
    struct http_response *r, bool head_only)
{
	char body[8192];
	int n = site->metrics(site->metrics_arg, body, sizeof(body));
	int fd = -1;

	if (n < 0 || (fd = memfd_create("hsmtls-metrics", MFD_CLOEXEC)) == -1 ||
	    write(fd, body, (size_t)n) != n || lseek(fd, 0, SEEK_SET) != 0) {
		if (fd != -1)
			close(fd);
		http_error_page(r, 500, head_only);
		return;
	}
	http_head(r, 200, "text/plain; version=0.0.4", (long long)n,
	    "Cache-Control: no-store\r\n");
	if (head_only || n == 0) {
		close(fd);
		return;
	}
	r->body_fd = fd;
	r->body_len = n;
}

void http_respond(const struct http_site *site, const struct http_session *hs,
    bool closing, struct http_response *r)
{
	char path[HTTP_PATH_MAX], rel[HTTP_REL_MAX];
	struct stat st;
	int fd, status = 0;
	bool head_only = hs->parser.method == HTTP_HEAD;

	/* After CONNECT or Upgrade the peer's next bytes are not HTTP/1.1. */
	http_response_init(r, !closing && !hs->parser.upgrade &&
	    http_should_keep_alive(&hs->parser));
	if (hs->hosts > 1 || (hs->hosts == 0 && hs->parser.http_major == 1 &&
	    hs->parser.http_minor >= 1)) {
		r->keep_alive = false;  /* RFC 9112 3.2: Host required, once */
		http_error_page(r, 400, false);
		return;
	}
	if (hs->parser.method != HTTP_GET && !head_only) {
		http_error_page(r, 405, false);
		return;
	}
	if (http_target(hs, path, sizeof(path), &status) == -1) {
		if (status == 400)
			r->keep_alive = false;
		http_error_page(r, status, head_only);
		return;
	}
	if (site->metrics_path != NULL && strcmp(path, site->metrics_path) == 0) {
		http_generated(site, r, head_only);
		return;
	}
	if ((fd = http_resolve(site, path, rel, &st, &status)) == -1) {
		http_error_page(r, status, head_only);
		return;
	}
	http_file_response(r, fd, &st, rel, head_only);
}

void http_response_clear(struct http_response *r)
{
	if (r->body_fd != -1)
		close(r->body_fd);
	r->body_fd = -1;
	r->body_len = 0;
	r->head_len = 0;
}
