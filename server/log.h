/*
 * log.h - the server's error log: one line per message, by level.
 *
 * Errors and warnings carry the program name ("hsmtls-server: <cause>") so
 * a start-up failure is exactly one self-explaining line; informational
 * lines such as "listening on 127.0.0.1:8443" are printed bare because
 * scripts parse them.  Once the server serves, log_set_timestamps(true)
 * puts an ISO-8601 UTC time and the level in front of every line:
 *   2026-12-01T23:59:59.123Z error hsmtls-server: accept: ...
 *   2026-12-01T23:59:59.124Z info token 'web' is back
 *
 * Any thread may log.  Each line is formatted whole and written with one
 * write(2) to stderr or to the file given to log_open(); control bytes in
 * a message (a newline from client data) are written as \xHH, so a
 * message is always exactly one line.
 */
#ifndef SRV_LOG_H
#define SRV_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#ifndef LOG_PROGNAME            /* hsmtls-keyd compiles log.c with its own */
#define LOG_PROGNAME "hsmtls-server"
#endif

/* Not LOG_ERR etc.: those are syslog.h's. */
enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* A message that begins with its own location ("FILE:LINE: "), as
 * compilers print them: no program name in front. */
void log_located(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Lines above this level are dropped; LOG_LEVEL_INFO by default.  Errors
 * are always written. */
void log_set_level(enum log_level level);
/* Whether a line of this level would be written (skip costly formatting). */
bool log_enabled(enum log_level level);
/* "error", "warn", "info", "debug" -> level; -1 for anything else. */
int log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

/* Timestamp and level in front of each line; off by default, so start-up
 * lines keep their plain form.  Turn on after start-up. */
void log_set_timestamps(bool on);

/*
 * Where lines go: path NULL or "stderr" is stderr (the default); else the
 * file, opened for appending (created 0640, close-on-exec).  -1 with errno
 * when the file cannot be opened; the previous target is kept then.
 * Switching targets never closes a descriptor a writer may be using: the
 * log keeps one descriptor number for its life and dup2s new targets over
 * it.
 */
int log_open(const char *path);
/* Open the same path again (after logrotate moved it: SIGHUP/SIGUSR1) and
 * put it in place of the old one; 0 for stderr.  -1 with errno, and the
 * old file is kept, when it cannot be opened. */
int log_reopen(void);

#endif /* SRV_LOG_H */
