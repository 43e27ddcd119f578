/*
 * accesslog.c - the access log (accesslog.h): combined log format plus
 * TLS fields, one write(2) per entry, no stdio.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accesslog.h"

#define CAP_TARGET 4096
#define CAP_HEADER 1024
#define CAP_FIELD 256

struct accesslog {
	int fd;
	char *path;                 /* NULL: stderr */
	pthread_mutex_t lock;       /* reopen only */
	atomic_int refs;            /* each event loop's */
};

/* The line being built; never longer than ACCESSLOG_LINE_MAX - 1, so the
 * newline always fits. */
struct line {
	char *p;
	size_t n;
};

static void
put(struct line *l, const char *s, size_t len)
{
	if (len > ACCESSLOG_LINE_MAX - 1 - l->n)
		len = ACCESSLOG_LINE_MAX - 1 - l->n;
	memcpy(l->p + l->n, s, len);
	l->n += len;
}

static void
puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static int
needs_escape(unsigned char c, int space)
{
	return c < 0x20 || c >= 0x7f || c == '"' || c == '\\' ||
	    (space && c == ' ');
}

/*
 * One field, escaped, in at most cap bytes; cut with "..." when longer.
 * NULL is "-"; so is "" where a field must not be empty (unquoted).
 */
static void
field(struct line *l, const char *s, size_t cap, int unquoted)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;
	char esc[4] = { '\\', 'x', 0, 0 };
	size_t total = 0, limit, used = 0, w;

	if (s == NULL || (unquoted && *s == '\0')) {
		put(l, "-", 1);
		return;
	}
	/* Whole if it fits; else as much as fits before "...". */
	for (p = (const unsigned char *)s; *p != '\0' && total <= cap; p++)
		total += needs_escape(*p, unquoted) ? 4 : 1;
	limit = total <= cap ? cap : cap - 3;
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		w = needs_escape(*p, unquoted) ? 4 : 1;
		if (used + w > limit)
			break;
		if (w == 4) {
			esc[2] = hex[*p >> 4];
			esc[3] = hex[*p & 15];
			put(l, esc, 4);
		} else {
			put(l, (const char *)p, 1);
		}
		used += w;
	}
	if (total > cap)
		put(l, "...", 3);
}

static const char months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* [01/Dec/2026:23:59:59 +0000], local time, without the locale. */
static void
put_time(struct line *l, time_t t)
{
	char buf[64];
	struct tm tm;
	long off;
	int n;

	if (localtime_r(&t, &tm) == NULL) {
		puts_(l, "[-]");
		return;
	}
	off = tm.tm_gmtoff / 60;
	n = snprintf(buf, sizeof(buf), "[%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld]",
	    tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 60,
	    labs(off) % 60);
	if (n > 0)
		put(l, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void
put_num(struct line *l, long long v)
{
	char buf[32];
	int n;

	if (v <= 0) {
		put(l, "-", 1);
		return;
	}
	n = snprintf(buf, sizeof(buf), "%lld", v);
	put(l, buf, (size_t)n);
}

size_t
accesslog_format(char *buf, const struct access_entry *e)
{
	struct line l = { buf, 0 };
	char rt[32];
	double secs = e->request_secs;
	int n;

	field(&l, e->client_addr, CAP_FIELD, 1);
	puts_(&l, " - - ");
	put_time(&l, e->start.tv_sec);
	puts_(&l, " \"");
	if (e->method == NULL && e->target == NULL) {
		put(&l, "-", 1);
	} else {
		field(&l, e->method, CAP_FIELD, 0);
		put(&l, " ", 1);
		field(&l, e->target, CAP_TARGET, 0);
		if (e->protocol != NULL) {
			put(&l, " ", 1);
			field(&l, e->protocol, CAP_FIELD, 0);
		}
	}
	puts_(&l, "\" ");
	put_num(&l, e->status);
	put(&l, " ", 1);
	put_num(&l, e->bytes);
	puts_(&l, " \"");
	field(&l, e->referer, CAP_HEADER, 0);
	puts_(&l, "\" \"");
	field(&l, e->user_agent, CAP_HEADER, 0);
	puts_(&l, "\" tls=");
	field(&l, e->tls_version, CAP_FIELD, 1);
	puts_(&l, " cipher=");
	field(&l, e->cipher, CAP_FIELD, 1);
	puts_(&l, " sni=");
	field(&l, e->sni, CAP_FIELD, 1);
	puts_(&l, e->resumed ? " resumed=1 rt=" : " resumed=0 rt=");
	if (!(secs >= 0 && secs < 1e9))
		secs = 0;       /* NaN, negative (clock step), absurd */
	n = snprintf(rt, sizeof(rt), "%.3f", secs);
	put(&l, rt, (size_t)n);
	puts_(&l, " site=");
	field(&l, e->site, CAP_FIELD, 1);
	if (e->upstream != NULL) {
		puts_(&l, " upstream=");
		field(&l, e->upstream, CAP_FIELD, 1);
		n = snprintf(rt, sizeof(rt), " to_upstream=%lld",
		    e->to_upstream > 0 ? e->to_upstream : 0);
		put(&l, rt, (size_t)n);
		n = snprintf(rt, sizeof(rt), " to_client=%lld",
		    e->to_client > 0 ? e->to_client : 0);
		put(&l, rt, (size_t)n);
	}
	buf[l.n++] = '\n';
	return l.n;
}

static int
open_file(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY,
	    0640);
}

int
accesslog_open(struct accesslog **out, const char *path)
{
	struct accesslog *log;
	int saved;

	*out = NULL;
	if (path == NULL)
		return 0;
	if ((log = calloc(1, sizeof(*log))) == NULL)
		return -1;
	log->fd = STDERR_FILENO;
	if (strcmp(path, "stderr") != 0) {
		if ((log->path = strdup(path)) == NULL ||
		    (log->fd = open_file(path)) < 0) {
			saved = errno;
			free(log->path);
			free(log);
			errno = saved;
			return -1;
		}
	}
	pthread_mutex_init(&log->lock, NULL);
	atomic_init(&log->refs, 1);
	*out = log;
	return 0;
}

/* The descriptor number stays: writers never see it closed or reused. */
int
accesslog_reopen(struct accesslog *log)
{
	int fd, rc = 0, saved;

	if (log == NULL || log->path == NULL)
		return 0;
	pthread_mutex_lock(&log->lock);
	if ((fd = open_file(log->path)) < 0) {
		rc = -1;
	} else {
		while ((rc = dup3(fd, log->fd, O_CLOEXEC)) < 0 && errno == EINTR)
			;
		saved = errno;
		close(fd);
		errno = saved;
		rc = rc < 0 ? -1 : 0;
	}
	pthread_mutex_unlock(&log->lock);
	return rc;
}

void
accesslog_write(struct accesslog *log, const struct access_entry *e)
{
	char buf[ACCESSLOG_LINE_MAX];
	const char *p = buf;
	size_t len;
	ssize_t n;
	int saved = errno;

	if (log == NULL)
		return;
	len = accesslog_format(buf, e);
	while (len > 0) {
		n = write(log->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;          /* a full disk loses the entry, not the request */
		p += n;
		len -= (size_t)n;
	}
	errno = saved;
}

struct accesslog *
accesslog_ref(struct accesslog *log)
{
	if (log != NULL)
		atomic_fetch_add_explicit(&log->refs, 1, memory_order_relaxed);
	return log;
}

void
accesslog_close(struct accesslog *log)
{
	if (log == NULL || atomic_fetch_sub_explicit(&log->refs, 1,
	    memory_order_acq_rel) > 1)
		return;
	if (log->path != NULL)
		close(log->fd);
	pthread_mutex_destroy(&log->lock);
	free(log->path);
	free(log);
}
