/*
 * log.c - one-line messages on stderr.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "log.h"

/*
 * Format the whole line first and write it with one call, so lines from a
 * later multi-threaded server never interleave mid-line.
 */
static void log_line(const char *prefix, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "%s%s\n", prefix, msg);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_PROGNAME ": ", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line("", fmt, ap);
	va_end(ap);
}
