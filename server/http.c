/*
 * http.c - HTTP/1.1 requests (http-parser) and static file responses.
 *
 * Path safety, in order: percent-decode (a %00 or malformed escape is 400),
 * refuse any ".." segment (404), then open the file with openat2()
 * RESOLVE_BENEATH relative to the document root, so neither ".." nor a
 * symlink can leave the root, even if the tree changes between requests.
 * Where openat2() is missing (Linux before 5.6, valgrind, some sandboxes:
 * ENOSYS), the path is walked one component at a time with openat() and
 * O_NOFOLLOW, which is as safe and stricter: no symbolic link is followed
 * at all, even one that stays inside the root.  Only regular files are
 * served.
 *
 * Request limits (struct http_limits) are counted here in the parser's
 * callbacks, since http-parser's own bound is one global value.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
/* " HTTP/1.1" after the target, and the space before it */
#define HTTP_LINE_EXTRA (sizeof(" HTTP/1.1") - 1 + 1)

static void http_request_reset(struct http_session *hs)
{
	size_t i;

	hs->url_len = 0;
	hs->field_len = 0;
	hs->in_field = false;
	hs->cur = HTTP_H_OTHER;
	for (i = 0; i < HTTP_H_COUNT; i++) {
		hs->hdr[i].len = 0;
		hs->hdr[i].buf[0] = '\0';
		hs->hdr[i].lines = 0;
		hs->hdr[i].overflow = false;
	}
	hs->nheaders = 0;
	hs->head_size = 0;
	hs->raw_head = 0;
	hs->status = 0;
	hs->head_done = false;
}

static int http_on_message_begin(http_parser *p)
{
	struct http_session *hs = p->data;

	http_request_reset(hs);
	hs->started = true;
	return 0;
}

/* Refuse the request from a callback: http_feed() reports status. */
static int http_refuse(struct http_session *hs, int status)
{
	hs->status = status;
	return -1;
}

/* Adds n to the counted head size; 431 beyond the limit. */
static int http_count(struct http_session *hs, size_t n)
{
	hs->head_size += n;
	if (hs->head_size > hs->limits->max_header_size)
		return http_refuse(hs, 431);
	return 0;
}

static const struct {
	const char *name;
	enum http_hdr id;
} http_hdr_names[] = {
	{ "host",              HTTP_H_HOST },
	{ "if-none-match",     HTTP_H_IF_NONE_MATCH },
	{ "if-modified-since", HTTP_H_IF_MODIFIED_SINCE },
	{ "range",             HTTP_H_RANGE },
	{ "if-range",          HTTP_H_IF_RANGE },
	{ "referer",           HTTP_H_REFERER },
	{ "user-agent",        HTTP_H_USER_AGENT },
};

static enum http_hdr http_hdr_id(const struct http_session *hs)
{
	if (hs->field_len > sizeof(hs->field))
		return HTTP_H_OTHER;    /* longer than any name used here */
	return http_hdr_lookup(hs->field, hs->field_len);
}

/* RFC 9110 5.6.2 tchar: http-parser lets spaces into names, RFC 9112 5.1 does not. */
static bool http_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Names may arrive in pieces; only the first bytes and the length matter. */
static int http_on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_session *hs = p->data;
	size_t i, n;

	if (!hs->in_field) {
		hs->in_field = true;
		hs->field_len = 0;
		if (++hs->nheaders > hs->limits->max_headers)
			return http_refuse(hs, 431);
		if (http_count(hs, sizeof(": \r\n") - 1) == -1)
			return -1;
	}
	for (i = 0; i < len; i++)
		if (!http_tchar((unsigned char)at[i]))
			return http_refuse(hs, 400);
	if (hs->field_len < sizeof(hs->field)) {
		n = sizeof(hs->field) - hs->field_len;
		memcpy(hs->field + hs->field_len, at, len < n ? len : n);
	}
	hs->field_len += len;
	return http_count(hs, len);
}

static void http_hval_add(struct http_hval *h, const char *at, size_t len)
{
	if (h->overflow)
		return;
	if (len > sizeof(h->buf) - 1 - h->len) {
		h->overflow = true;
		return;
	}
	memcpy(h->buf + h->len, at, len);
	h->len += len;
	h->buf[h->len] = '\0';
}

/* The first piece of a value: the name is complete now. */
static void http_value_start(struct http_session *hs)
{
	struct http_hval *h;

	hs->in_field = false;
	hs->cur = http_hdr_id(hs);
	if (hs->cur == HTTP_H_OTHER)
		return;
	h = &hs->hdr[hs->cur];
	http_hval_line(h, hs->cur, "", 0);     /* the value follows in pieces */
}

static int http_on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_session *hs = p->data;

	if (hs->in_field)
		http_value_start(hs);
	if (hs->cur != HTTP_H_OTHER)
		http_hval_add(&hs->hdr[hs->cur], at, len);
	return http_count(hs, len);
}

static int http_on_headers_complete(http_parser *p)
{
	struct http_session *hs = p->data;
	struct http_hval *h;
	size_t i;

	if (hs->in_field)
		http_value_start(hs);
	hs->head_done = true;
	for (i = 0; i < HTTP_H_COUNT; i++) {
		h = &hs->hdr[i];    /* http-parser keeps trailing whitespace */
		while (h->len > 0 && (h->buf[h->len - 1] == ' ' ||
		    h->buf[h->len - 1] == '\t'))
			h->buf[--h->len] = '\0';
	}
	if (http_count(hs, 2) == -1)
		return -1;
	if (p->http_major != 1)
		return http_refuse(hs, p->http_major == 0 ? 400 : 505);
	/* A static file takes no body: refuse it rather than read it. */
	if ((p->method == HTTP_GET || p->method == HTTP_HEAD) &&
	    ((p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) &&
	    p->content_length > 0)))
		return http_refuse(hs, 413);
	return 0;
}

static int http_on_url(http_parser *p, const char *at, size_t len)
{
	struct http_session *hs = p->data;
	size_t method = strlen(http_method_str((enum http_method)p->method));
	bool first = hs->url_len == 0;
	size_t cap;
	char *url;

	if (method + hs->url_len + len + HTTP_LINE_EXTRA >
	    hs->limits->max_request_line)
		return http_refuse(hs, 414);
	if (hs->url_len + len + 1 > hs->url_cap) {
		for (cap = hs->url_cap * 2; cap < hs->url_len + len + 1; cap *= 2)
			;
		if ((url = malloc(cap)) == NULL)
			return http_refuse(hs, 503);
		memcpy(url, hs->url, hs->url_len);
		if (hs->url != hs->url_inline)
			free(hs->url);
		hs->url = url;
		hs->url_cap = cap;
	}
	memcpy(hs->url + hs->url_len, at, len);
	hs->url_len += len;
	hs->url[hs->url_len] = '\0';
	/* The method, version and CRLF count toward the head once. */
	return http_count(hs, len + (first ? method + HTTP_LINE_EXTRA + 2 : 0));
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
	http_parser_set_max_header_size(HTTP_HEADER_CEILING);
}

static atomic_bool http_no_openat2;     /* ENOSYS seen: walk the path instead */

/*
 * Open path below dirfd one component at a time, never following a
 * symbolic link (O_NOFOLLOW: ELOOP) and never going up: "" and "."
 * components are skipped, ".." is refused.  Directories on the way are
 * opened O_PATH; the last component with flags.
 */
static int http_walk_open(int dirfd, const char *path, int flags)
{
	char comp[256];
	const char *p = path, *e;
	int fd = -1, next, saved;
	size_t len;

	for (;;) {
		while (*p == '/')
			p++;
		e = strchr(p, '/');
		len = e != NULL ? (size_t)(e - p) : strlen(p);
		while (e != NULL && e[1] == '/')
			e++;
		if (len >= sizeof(comp) || (len == 2 && p[0] == '.' &&
		    p[1] == '.')) {
			errno = len >= sizeof(comp) ? ENAMETOOLONG : ENOENT;
			goto err;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		if (len == 0 || (len == 1 && comp[0] == '.'))
			strcpy(comp, ".");
		if (e == NULL || e[1] == '\0') {
			/* The last component. */
			next = openat(fd == -1 ? dirfd : fd, comp,
			    flags | O_NOFOLLOW | O_CLOEXEC);
			saved = errno;
			if (fd != -1)
				close(fd);
			errno = saved;
			return next;
		}
		next = openat(fd == -1 ? dirfd : fd, comp,
		    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next == -1)
			goto err;
		if (fd != -1)
			close(fd);
		fd = next;
		p = e + 1;
	}
err:
	saved = errno;
	if (fd != -1)
		close(fd);
	errno = saved;
	return -1;
}

static long http_openat2(int dirfd, const char *path, int flags)
{
	struct open_how how;
	long fd;

	if (http_no_openat2)
		return http_walk_open(dirfd, path, flags);
	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)flags;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	if (fd == -1 && errno == ENOSYS) {
		http_no_openat2 = true;
		log_info("openat2() is not available here: files are opened "
		    "one path component at a time, and no symbolic link in the "
		    "document root is followed");
		return http_walk_open(dirfd, path, flags);
	}
	return fd;
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
	/* The root can be opened the way every file will be. */
	fd = http_openat2(site->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1) {
		log_error("document root '%s': %s", root, strerror(errno));
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

static const struct http_limits http_default_limits = {
	HTTP_DEFAULT_REQUEST_LINE, HTTP_DEFAULT_HEADER_SIZE, HTTP_DEFAULT_HEADERS
};

void http_session_init(struct http_session *hs)
{
	memset(hs, 0, sizeof(*hs));
	hs->limits = &http_default_limits;
	hs->url = hs->url_inline;
	hs->url_cap = sizeof(hs->url_inline);
	http_parser_init(&hs->parser, HTTP_REQUEST);
	hs->parser.data = hs;
	http_request_reset(hs);
}

void http_session_limits(struct http_session *hs,
    const struct http_limits *limits)
{
	hs->limits = limits;
}

void http_session_free(struct http_session *hs)
{
	if (hs->url != hs->url_inline)
		free(hs->url);
	hs->url = hs->url_inline;
	hs->url_cap = sizeof(hs->url_inline);
	hs->url_len = 0;
}

/*
 * The callbacks count the head exactly as written; this also counts the
 * bytes they never see (padding around the request line), so a head
 * cannot grow without bound between them.
 */
static int http_raw_limit(struct http_session *hs, size_t used)
{
	const struct http_limits *l = hs->limits;

	if (!hs->started || hs->head_done)
		return 0;
	hs->raw_head += used;
	if (hs->nheaders == 0 && hs->raw_head > l->max_request_line + 2)
		return 414;
	if (hs->raw_head > l->max_header_size)
		return 431;
	return 0;
}

enum http_feed http_feed(struct http_session *hs, const char *buf, size_t len,
    size_t *used, int *status)
{
	enum http_errno err;

	*used = http_parser_execute(&hs->parser, &http_settings, buf, len);
	if (hs->complete)
		return HTTP_FEED_REQUEST;
	err = HTTP_PARSER_ERRNO(&hs->parser);
	if (err == HPE_OK) {
		if ((*status = http_raw_limit(hs, *used)) == 0)
			return HTTP_FEED_MORE;
		return HTTP_FEED_BAD;
	}
	if (hs->status != 0)
		*status = hs->status;
	else
		*status = err == HPE_HEADER_OVERFLOW ? 431 : 400;
	return HTTP_FEED_BAD;
}

void http_next(struct http_session *hs)
{
	hs->complete = false;
	hs->started = false;
	http_request_reset(hs);
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

/*
 * Percent-decode src[0..len) into dst; -1 on %00 or a malformed escape,
 * -2 if it does not fit.
 */
static int http_decode(const char *src, size_t len, char *dst, size_t size)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (o + 1 >= size)
			return -2;
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
 * The file for a decoded path: "/" and directories mean their index.html;
 * a directory named without its trailing slash is 301 (relative links in
 * its index would otherwise resolve against its parent).  rel[] receives
 * the path opened, relative to the root.
 */
static int http_resolve(const struct http_site *site, const char *path,
    char *rel, struct stat *st, int *status)
{
	size_t n;
	bool dir;
	int fd;

	while (*path == '/')
		path++;         /* relative to the root fd */
	n = strlen(path);
	/* A directory by its name: straight to its index (the open of the
	 * directory first would be three system calls more). */
	dir = n == 0 || path[n - 1] == '/';
	snprintf(rel, HTTP_REL_MAX, dir ? "%sindex.html" : "%s", path);
	if ((fd = http_open_file(site, rel, st, status)) == -1)
		return -1;
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		*status = !dir && S_ISDIR(st->st_mode) ? 301 : 404;
		return -1;
	}
	return fd;
}

/* The request target as sent: its path and query (both undecoded). */
struct http_target {
	const char *path;
	size_t path_len;
	const char *query;      /* NULL without a query */
	size_t query_len;
};

/* Decode and check the request target; the path goes to path[]. */
static int http_target(const struct http_request *rq, char *path, size_t size,
    struct http_target *t, int *status)
{
	struct http_parser_url u;
	int n = 0;

	http_parser_url_init(&u);
	if (http_parser_parse_url(rq->url, rq->url_len, 0, &u) != 0) {
		*status = 400;
		return -1;
	}
	if (!(u.field_set & (1 << UF_PATH))) {
		t->path = "/";  /* absolute-form without a path */
		t->path_len = 1;
	} else {
		t->path = rq->url + u.field_data[UF_PATH].off;
		t->path_len = u.field_data[UF_PATH].len;
	}
	t->query = NULL;
	t->query_len = 0;
	if (u.field_set & (1 << UF_QUERY)) {
		t->query = rq->url + u.field_data[UF_QUERY].off;
		t->query_len = u.field_data[UF_QUERY].len;
	}
	/* The query only matters to a redirect; the fragment never. */
	if (t->path[0] != '/' ||
	    (n = http_decode(t->path, t->path_len, path, size)) == -1) {
		*status = 400;
		return -1;
	}
	if (n == -2) {          /* longer than any path openat2() takes */
		*status = 404;
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
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default:  return "Internal Server Error";
	}
}

static const struct {
	const char *ext;
	const char *type;
} http_types[] = {
	{ "html",  "text/html; charset=utf-8" },
	{ "htm",   "text/html; charset=utf-8" },
	{ "css",   "text/css; charset=utf-8" },
	{ "js",    "text/javascript; charset=utf-8" },
	{ "mjs",   "text/javascript; charset=utf-8" },
	{ "json",  "application/json" },
	{ "map",   "application/json" },
	{ "webmanifest", "application/manifest+json" },
	{ "xml",   "application/xml" },
	{ "txt",   "text/plain; charset=utf-8" },
	{ "md",    "text/markdown; charset=utf-8" },
	{ "csv",   "text/csv; charset=utf-8" },
	{ "svg",   "image/svg+xml" },
	{ "png",   "image/png" },
	{ "jpg",   "image/jpeg" },
	{ "jpeg",  "image/jpeg" },
	{ "gif",   "image/gif" },
	{ "webp",  "image/webp" },
	{ "avif",  "image/avif" },
	{ "ico",   "image/vnd.microsoft.icon" },
	{ "bmp",   "image/bmp" },
	{ "wasm",  "application/wasm" },
	{ "woff",  "font/woff" },
	{ "woff2", "font/woff2" },
	{ "ttf",   "font/ttf" },
	{ "otf",   "font/otf" },
	{ "pdf",   "application/pdf" },
	{ "zip",   "application/zip" },
	{ "gz",    "application/gzip" },
	{ "mp4",   "video/mp4" },
	{ "webm",  "video/webm" },
	{ "mp3",   "audio/mpeg" },
	{ "ogg",   "audio/ogg" },
	{ "wav",   "audio/wav" },
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

/*
 * RFC 9110 IMF-fixdate; the C locale is never changed, so names are English.
 * A response formats two (Date, and Last-Modified of a file that rarely
 * changes): the last two are kept per thread, as most seconds repeat.
 */
#define HTTP_DATE_LEN sizeof("Thu, 01 Jan 1970 00:00:00 GMT")

static void http_date(time_t t, char *buf, size_t size)
{
	static _Thread_local struct {
		time_t t;
		char s[HTTP_DATE_LEN];
	} memo[2] = { { -1, "" }, { -1, "" } };
	static _Thread_local unsigned next;
	struct tm tm;
	unsigned i;

	for (i = 0; i < 2; i++)
		if (memo[i].t == t && memo[i].s[0] != '\0' &&
		    strlen(memo[i].s) < size) {
			memcpy(buf, memo[i].s, strlen(memo[i].s) + 1);
			return;
		}
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0) {
		snprintf(buf, size, "Thu, 01 Jan 1970 00:00:00 GMT");
		return;
	}
	i = next++ & 1;
	if (strlen(buf) < sizeof(memo[i].s)) {
		memo[i].t = t;
		memcpy(memo[i].s, buf, strlen(buf) + 1);
	}
}

/* RFC 9110 5.6.7: IMF-fixdate and, as recipients must, the two obsolete forms. */
static bool http_parse_date(const char *s, time_t *t)
{
	static const char *const fmts[] = {
		"%a, %d %b %Y %H:%M:%S GMT",
		"%A, %d-%b-%y %H:%M:%S GMT",
		"%a %b %e %H:%M:%S %Y",
	};
	struct tm tm;
	const char *end;
	size_t i;

	for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, fmts[i], &tm);
		if (end != NULL && *end == '\0') {
			*t = timegm(&tm);
			return *t != (time_t)-1;
		}
	}
	return false;
}

/* Add a header field; a value that does not fit marks the response full. */
static void http_field(struct http_response *r, const char *name,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void http_field(struct http_response *r, const char *name,
    const char *fmt, ...)
{
	size_t room = sizeof(r->vals) - r->vals_len;
	va_list ap;
	int n;

	if (r->full || r->nfields == HTTP_FIELDS_MAX || room == 0) {
		r->full = true;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(r->vals + r->vals_len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		r->full = true;
		return;
	}
	r->fields[r->nfields].name = name;
	r->fields[r->nfields].off = r->vals_len;
	r->fields[r->nfields].len = (size_t)n;
	r->nfields++;
	r->vals_len += (size_t)n + 1;
}

static void http_begin(struct http_response *r, int status)
{
	char date[64];

	http_date(time(NULL), date, sizeof(date));
	r->status = status;
	r->nfields = 0;
	r->vals_len = 0;
	r->full = false;
	r->page_len = 0;
	http_field(r, "Server", "hsmtls");
	http_field(r, "Date", "%s", date);
}

static void http_error_page(struct http_response *r, int status, bool head_only,
    const char *xname, const char *xval);

/* The fields are complete; false if they did not fit and became a 500. */
static bool http_end(struct http_response *r)
{
	if (!r->full)
		return true;
	if (r->body_fd != -1)
		close(r->body_fd);
	r->body_fd = -1;
	r->body_len = 0;
	r->keep_alive = false;
	http_error_page(r, 500, false, NULL, NULL);
	return false;
}

/* A short text/plain page; xname (may be NULL) is one more field. */
static void http_error_page(struct http_response *r, int status, bool head_only,
    const char *xname, const char *xval)
{
	int n;

	http_begin(r, status);
	n = snprintf(r->page, sizeof(r->page), "%d %s\n", status,
	    http_reason(status));
	http_field(r, "Content-Type", "text/plain; charset=utf-8");
	http_field(r, "Content-Length", "%d", n);
	if (xname != NULL)
		http_field(r, xname, "%s", xval);
	if (http_end(r) && !head_only)
		r->page_len = (size_t)n;
}

static void http_response_init(struct http_response *r, bool keep_alive)
{
	r->status = 0;
	r->nfields = 0;
	r->vals_len = 0;
	r->full = false;
	r->page_len = 0;
	r->head_len = 0;
	r->body_fd = -1;
	r->body_off = 0;
	r->body_len = 0;
	r->keep_alive = keep_alive;
}

/* Append to the HTTP/1.1 head; a head that does not fit is marked full. */
static void http_add(struct http_response *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void http_add(struct http_response *r, const char *fmt, ...)
{
	size_t room = sizeof(r->head) - r->head_len;
	va_list ap;
	int n;

	if (room == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->head + r->head_len, room, fmt, ap);
	va_end(ap);
	r->head_len = n < 0 || (size_t)n >= room ? sizeof(r->head) :
	    r->head_len + (size_t)n;
}

/*
 * HTTP/1.1 serialization: status line, the fields, Connection, and a
 * generated page when it fits.  A head over HTTP_HEAD_MAX becomes a 500
 * (which fits).
 */
static void http_serialize(struct http_response *r)
{
	size_t i;

	r->head_len = 0;
	http_add(r, "HTTP/1.1 %d %s\r\n", r->status, http_reason(r->status));
	for (i = 0; i < r->nfields; i++)
		http_add(r, "%s: %s\r\n", r->fields[i].name,
		    r->vals + r->fields[i].off);
	http_add(r, "Connection: %s\r\n\r\n", r->keep_alive ? "keep-alive" :
	    "close");
	if (r->head_len >= sizeof(r->head)) {
		r->full = true;
		http_end(r);
		http_serialize(r);
		return;
	}
	if (r->page_len > 0 && r->head_len + r->page_len < sizeof(r->head)) {
		memcpy(r->head + r->head_len, r->page, r->page_len);
		r->head_len += r->page_len;
	}
}

void http_respond_error(int status, struct http_response *r)
{
	http_response_init(r, false);
	http_error_page(r, status, false, NULL, NULL);
	http_serialize(r);
}

const char *http_field_value(const struct http_response *r, size_t i)
{
	return i < r->nfields ? r->vals + r->fields[i].off : NULL;
}

/* A captured header usable as one value: present, one line, not cut off. */
static const char *http_single(const struct http_hval *hdr, enum http_hdr id)
{
	const struct http_hval *h = &hdr[id];

	return h->lines == 1 && !h->overflow ? h->buf : NULL;
}

const char *http_header(const struct http_session *hs, enum http_hdr id)
{
	return id < HTTP_H_COUNT ? http_single(hs->hdr, id) : NULL;
}

/* Strong validator from the inode, size and modification time (ns). */
static void http_etag(const struct stat *st, char *buf, size_t size)
{
	snprintf(buf, size, "\"%llx-%llx-%llx.%lx\"",
	    (unsigned long long)st->st_ino, (unsigned long long)st->st_size,
	    (unsigned long long)st->st_mtim.tv_sec,
	    (unsigned long)st->st_mtim.tv_nsec);
}

/*
 * If-None-Match (RFC 9110 13.1.2): "*", or a list of entity tags compared
 * weakly (W/ ignored on both sides; ours is strong).  A malformed list
 * matches nothing, so the full response is sent.
 */
static bool http_none_match(const char *v, const char *etag)
{
	size_t elen = strlen(etag);
	const char *q;

	if (strcmp(v, "*") == 0)
		return true;
	for (;;) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		if (*v == '\0')
			return false;
		if (v[0] == 'W' && v[1] == '/')
			v += 2;
		if (*v != '"' || (q = strchr(v + 1, '"')) == NULL)
			return false;
		if ((size_t)(q + 1 - v) == elen && memcmp(v, etag, elen) == 0)
			return true;
		v = q + 1;
	}
}

/* Conditional GET/HEAD (RFC 9110 13.2.2 order): true for 304. */
static bool http_not_modified(const struct http_hval *hdr,
    const struct stat *st, const char *etag)
{
	const struct http_hval *inm = &hdr[HTTP_H_IF_NONE_MATCH];
	const char *v;
	time_t t;

	if (inm->lines > 0)     /* then If-Modified-Since is ignored */
		return !inm->overflow && http_none_match(inm->buf, etag);
	if ((v = http_single(hdr, HTTP_H_IF_MODIFIED_SINCE)) == NULL ||
	    !http_parse_date(v, &t))
		return false;
	return t >= st->st_mtim.tv_sec;
}

/*
 * If-Range (RFC 9110 13.1.5): an entity tag must match strongly (a weak
 * one never does), a date must equal Last-Modified.  Without If-Range the
 * range applies.
 */
static bool http_if_range(const struct http_hval *hdr, const struct stat *st,
    const char *etag)
{
	const char *v;
	time_t t;

	if (hdr[HTTP_H_IF_RANGE].lines == 0)
		return true;
	if ((v = http_single(hdr, HTTP_H_IF_RANGE)) == NULL)
		return false;
	if (v[0] == '"')
		return strcmp(v, etag) == 0;
	if (v[0] == 'W' && v[1] == '/')
		return false;
	return http_parse_date(v, &t) && t == st->st_mtim.tv_sec;
}

enum http_range {
	HTTP_RANGE_WHOLE,       /* no usable Range: 200 with everything */
	HTTP_RANGE_PART,        /* 206 */
	HTTP_RANGE_UNSAT,       /* 416 */
};

/* Digits to a non-negative off_t, saturating; NULL if there are none. */
static const char *http_number(const char *s, off_t *n)
{
	const char *start = s;
	uint64_t v = 0;

	while (*s >= '0' && *s <= '9') {
		v = v > (uint64_t)INT64_MAX / 10 ? (uint64_t)INT64_MAX :
		    v * 10 + (uint64_t)(*s - '0');
		if (v > (uint64_t)INT64_MAX)
			v = (uint64_t)INT64_MAX;
		s++;
	}
	*n = (off_t)v;
	return s == start ? NULL : s;
}

/*
 * Range: bytes=... (RFC 9110 14.1.2, 14.2).  One range is served as 206;
 * several, a syntax error or another unit mean the whole file (a server
 * may ignore Range).
 */
static enum http_range http_range(const char *v, off_t size, off_t *first,
    off_t *last)
{
	const char *s, *spec = NULL;
	unsigned specs = 0;
	off_t a, b;

	if (strncasecmp(v, "bytes", 5) != 0)
		return HTTP_RANGE_WHOLE;
	for (s = v + 5; *s == ' ' || *s == '\t'; s++)
		;
	if (*s++ != '=')
		return HTTP_RANGE_WHOLE;
	/* Count the list's non-empty elements. */
	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (*s == '\0')
			break;
		if (specs++ == 0)
			spec = s;
		while (*s != '\0' && *s != ',')
			s++;
	}
	if (specs != 1)
		return HTTP_RANGE_WHOLE;
	s = spec;
	if (*s == '-') {
		if ((s = http_number(s + 1, &b)) == NULL)
			return HTTP_RANGE_WHOLE;
		a = -1;
	} else {
		if ((s = http_number(s, &a)) == NULL || *s++ != '-')
			return HTTP_RANGE_WHOLE;
		b = -1;
		if (*s >= '0' && *s <= '9') {
			s = http_number(s, &b);
			if (b < a)
				return HTTP_RANGE_WHOLE;    /* invalid */
		}
	}
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s != '\0' && *s != ',')
		return HTTP_RANGE_WHOLE;
	if (a == -1) {          /* the last b bytes */
		if (b == 0 || size == 0)
			return HTTP_RANGE_UNSAT;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return HTTP_RANGE_PART;
	}
	if (a >= size)
		return HTTP_RANGE_UNSAT;
	*first = a;
	*last = b == -1 || b >= size ? size - 1 : b;
	return HTTP_RANGE_PART;
}

/* The validators of a file response, and their header lines. */
static void http_validators(struct http_response *r, const struct stat *st,
    const char *etag)
{
	char modified[64];

	http_date(st->st_mtim.tv_sec, modified, sizeof(modified));
	http_field(r, "Last-Modified", "%s", modified);
	http_field(r, "ETag", "%s", etag);
}

static void http_file_response(const struct http_hval *hdr,
    struct http_response *r, int fd, const struct stat *st, const char *path,
    bool head_only)
{
	char etag[96], extra[64];
	off_t first = 0, last = st->st_size - 1;
	enum http_range range = HTTP_RANGE_WHOLE;
	const char *v;

	http_etag(st, etag, sizeof(etag));
	if (http_not_modified(hdr, st, etag)) {
		close(fd);
		http_begin(r, 304);
		http_validators(r, st, etag);
		http_end(r);
		return;
	}
	/* Range is defined for GET only (RFC 9110 14.2). */
	if (!head_only && (v = http_single(hdr, HTTP_H_RANGE)) != NULL &&
	    http_if_range(hdr, st, etag))
		range = http_range(v, st->st_size, &first, &last);
	if (range == HTTP_RANGE_UNSAT) {
		close(fd);
		snprintf(extra, sizeof(extra), "bytes */%lld",
		    (long long)st->st_size);
		http_error_page(r, 416, false, "Content-Range", extra);
		return;
	}
	if (range == HTTP_RANGE_PART &&
	    lseek(fd, first, SEEK_SET) == (off_t)-1) {
		close(fd);
		http_error_page(r, 500, head_only, NULL, NULL);
		return;
	}
	http_begin(r, range == HTTP_RANGE_PART ? 206 : 200);
	http_field(r, "Content-Type", "%s", http_content_type(path));
	http_field(r, "Content-Length", "%lld", (long long)(last - first + 1));
	if (range == HTTP_RANGE_PART)
		http_field(r, "Content-Range", "bytes %lld-%lld/%lld",
		    (long long)first, (long long)last, (long long)st->st_size);
	http_field(r, "Accept-Ranges", "bytes");
	http_validators(r, st, etag);
	if (head_only || last < first) {
		close(fd);
	} else {
		r->body_fd = fd;
		r->body_off = first;
		r->body_len = last - first + 1;
	}
	http_end(r);
}

/*
 * Location for a directory named without its slash: the path as sent,
 * with a slash added and the query kept.  Leading slashes become one and
 * bytes a browser might read as a scheme or host separator are escaped,
 * so the target cannot be another site ("//host", "/\host").
 */
static void http_redirect(struct http_response *r, const struct http_target *t,
    bool head_only)
{
	char loc[HTTP_HEAD_MAX / 2];
	size_t i, o = 0, skip = 0;
	unsigned char c;
	const char *src;
	size_t len, part;

	while (skip < t->path_len && t->path[skip] == '/')
		skip++;
	loc[o++] = '/';
	for (part = 0; part < 2; part++) {
		src = part == 0 ? t->path + skip : t->query;
		len = part == 0 ? t->path_len - skip : t->query_len;
		if (part == 1) {
			if (src == NULL)
				break;
			loc[o++] = '?';
		}
		for (i = 0; i < len; i++) {
			if (o + 5 >= sizeof(loc)) {
				http_error_page(r, 414, head_only, NULL, NULL);
				return;
			}
			c = (unsigned char)src[i];
			if (c <= 0x20 || c >= 0x7f || c == '\\')
				o += (size_t)snprintf(loc + o, 4, "%%%02X", c);
			else
				loc[o++] = (char)c;
		}
		if (part == 0)
			loc[o++] = '/';
	}
	loc[o] = '\0';
	http_error_page(r, 301, head_only, "Location", loc);
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
		http_error_page(r, 500, head_only, NULL, NULL);
		return;
	}
	http_begin(r, 200);
	http_field(r, "Content-Type", "text/plain; version=0.0.4");
	http_field(r, "Content-Length", "%d", n);
	http_field(r, "Cache-Control", "no-store");
	if (head_only || n == 0) {
		close(fd);
	} else {
		r->body_fd = fd;
		r->body_len = n;
	}
	http_end(r);
}

void http_decide(const struct http_site *site, const struct http_request *rq,
    struct http_response *r)
{
	char path[HTTP_PATH_MAX], rel[HTTP_REL_MAX];
	struct http_target t;
	struct stat st;
	int fd, status = 0;
	bool head_only = rq->method == HTTP_HEAD;

	http_response_init(r, rq->keep_alive);
	if (rq->bad_host) {
		r->keep_alive = false;
		http_error_page(r, 400, false, NULL, NULL);
		return;
	}
	if (rq->method != HTTP_GET && !head_only) {
		http_error_page(r, 405, false, "Allow", "GET, HEAD");
		return;
	}
	if (http_target(rq, path, sizeof(path), &t, &status) == -1) {
		if (status == 400)
			r->keep_alive = false;
		http_error_page(r, status, head_only, NULL, NULL);
		return;
	}
	if (site->metrics_path != NULL && strcmp(path, site->metrics_path) == 0) {
		http_generated(site, r, head_only);
		return;
	}
	if ((fd = http_resolve(site, path, rel, &st, &status)) == -1) {
		if (status == 301)
			http_redirect(r, &t, head_only);
		else
			http_error_page(r, status, head_only, NULL, NULL);
		return;
	}
	http_file_response(rq->hdr, r, fd, &st, rel, head_only);
}

void http_respond(const struct http_site *site, const struct http_session *hs,
    bool closing, struct http_response *r)
{
	const struct http_hval *host = &hs->hdr[HTTP_H_HOST];
	struct http_request rq = {
		.method = (int)hs->parser.method,
		.url = hs->url,
		.url_len = hs->url_len,
		.hdr = hs->hdr,
		/* After CONNECT or Upgrade the peer's next bytes are not HTTP/1.1. */
		.keep_alive = !closing && !hs->parser.upgrade &&
		    http_should_keep_alive(&hs->parser),
		/* RFC 9112 3.2: Host required, once */
		.bad_host = host->lines > 1 || (host->lines == 0 &&
		    hs->parser.http_major == 1 && hs->parser.http_minor >= 1),
	};

	http_decide(site, &rq, r);
	http_serialize(r);
}

void http_response_clear(struct http_response *r)
{
	if (r->body_fd != -1)
		close(r->body_fd);
	r->body_fd = -1;
	r->body_len = 0;
	r->head_len = 0;
	r->page_len = 0;
}

enum http_hdr http_hdr_lookup(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(http_hdr_names) / sizeof(http_hdr_names[0]); i++)
		if (strlen(http_hdr_names[i].name) == len &&
		    strncasecmp(name, http_hdr_names[i].name, len) == 0)
			return http_hdr_names[i].id;
	return HTTP_H_OTHER;
}

void http_hval_line(struct http_hval *h, enum http_hdr id, const char *v,
    size_t len)
{
	/* If-None-Match is a list: several lines mean one joined list. */
	if (h->lines++ > 0 && id == HTTP_H_IF_NONE_MATCH)
		http_hval_add(h, ", ", 2);
	http_hval_add(h, v, len);
}
