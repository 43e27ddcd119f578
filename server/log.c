/*
 * log.c - one-line messages by level, on stderr or in a file (log.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define MSG_MAX 1024            /* a message, before escaping */
#define LINE_MAX_BYTES 2048     /* what one write may carry */

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static atomic_int max_level = LOG_LEVEL_INFO;
static atomic_bool stamps;
/* Writers load this and write to it; it only ever changes from stderr to
 * our own descriptor, which is then never closed (see log_open). */
static atomic_int out_fd = STDERR_FILENO;

/* log_open/log_reopen only. */
static pthread_mutex_t ctl = PTHREAD_MUTEX_INITIALIZER;
static int own_fd = -1;
static char *path;

void
log_set_level(enum log_level level)
{
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	atomic_store(&max_level, (int)level);
}

bool
log_enabled(enum log_level level)
{
	return level == LOG_LEVEL_ERROR ||
	    (int)level <= atomic_load_explicit(&max_level, memory_order_relaxed);
}

int
log_level_parse(const char *name, enum log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	return level <= LOG_LEVEL_DEBUG ? level_names[level] : "debug";
}

void
log_set_timestamps(bool on)
{
	atomic_store(&stamps, on);
}

/* "2026-12-01T23:59:59.123Z error " */
static size_t
stamp(char *buf, size_t size, enum log_level level)
{
	struct timespec ts;
	struct tm tm;
	size_t n;
	int m;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	m = snprintf(buf + n, size - n, ".%03ldZ %s ", ts.tv_nsec / 1000000,
	    log_level_name(level));
	return m > 0 && (size_t)m < size - n ? n + (size_t)m : n;
}

static void
write_all(const char *buf, size_t len)
{
	int fd = atomic_load(&out_fd);
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;         /* nowhere else to report it */
		buf += n;
		len -= (size_t)n;
	}
}

static void
log_line(enum log_level level, bool progname, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	log_line(level, true, fmt, ap);
}

void
log_located(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(level, false, fmt, ap);
	va_end(ap);
}

static void
log_line(enum log_level level, bool progname, const char *fmt, va_list ap)
{
	static const char hex[] = "0123456789abcdef";
	char msg[MSG_MAX], line[LINE_MAX_BYTES];
	const unsigned char *p;
	size_t n = 0;
	int saved = errno;

	if (!log_enabled(level))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (atomic_load(&stamps))
		n = stamp(line, sizeof(line), level);
	if (progname && level <= LOG_LEVEL_WARN) {
		memcpy(line + n, LOG_PROGNAME ": ", sizeof(LOG_PROGNAME ": ") - 1);
		n += sizeof(LOG_PROGNAME ": ") - 1;
	}
	/* Room for one escape and the newline is always kept. */
	for (p = (const unsigned char *)msg; *p != '\0' &&
	    n + 5 < sizeof(line); p++) {
		if (*p < 0x20 ? *p != '\t' : *p == 0x7f) {
			line[n++] = '\\';
			line[n++] = 'x';
			line[n++] = hex[*p >> 4];
			line[n++] = hex[*p & 15];
		} else {
			line[n++] = (char)*p;
		}
	}
	line[n++] = '\n';
	write_all(line, n);
	errno = saved;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_DEBUG, fmt, ap);
	va_end(ap);
}

/*
 * Put fd in place as the log (ctl held; fd is closed).  The first file
 * becomes our descriptor; later targets are dup3'd over that number, so a
 * writer that loaded it a moment ago writes to the old or the new target,
 * never to a closed or reused descriptor.
 */
static void
install(int fd)
{
	if (own_fd < 0) {
		own_fd = fd;
		atomic_store(&out_fd, own_fd);
		return;
	}
	while (dup3(fd, own_fd, O_CLOEXEC) < 0 && errno == EINTR)
		;
	close(fd);
}

static int
open_file(const char *p)
{
	return open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY,
	    0640);
}

int
log_open(const char *p)
{
	char *copy = NULL;
	int fd, rc = 0;

	pthread_mutex_lock(&ctl);
	if (p == NULL || strcmp(p, "stderr") == 0) {
		/* A copy of stderr over our number; stderr itself if none. */
		if (own_fd >= 0 &&
		    (fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0)) >= 0)
			install(fd);
		free(path);
		path = NULL;
	} else if ((copy = strdup(p)) == NULL) {
		rc = -1;
	} else if ((fd = open_file(p)) < 0) {
		rc = -1;
		free(copy);
	} else {
		install(fd);
		free(path);
		path = copy;
	}
	pthread_mutex_unlock(&ctl);
	return rc;
}

int
log_reopen(void)
{
	int fd, rc = 0;

	pthread_mutex_lock(&ctl);
	if (path != NULL) {
		if ((fd = open_file(path)) < 0)
			rc = -1;
		else
			install(fd);
	}
	pthread_mutex_unlock(&ctl);
	return rc;
}
