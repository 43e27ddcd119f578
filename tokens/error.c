/*
 * error.c - one error line per run.  The innermost failure names the cause;
 * callers above it only return -1, so the first message set is kept.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tok.h"

/* Room for a "where it looked" hint with two paths (p11.c). */
static char errbuf[2048];

static void tok_verr(int with_errno, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
tok_verr(int with_errno, const char *fmt, va_list ap)
{
	int saved = errno;
	size_t len;

	if (errbuf[0] != '\0')
		return;
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	len = strlen(errbuf);
	if (with_errno && len < sizeof(errbuf))
		snprintf(errbuf + len, sizeof(errbuf) - len, ": %s",
		    strerror(saved));
}

void
tok_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tok_verr(0, fmt, ap);
	va_end(ap);
}

void
tok_err_errno(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tok_verr(1, fmt, ap);
	va_end(ap);
}

const char *
tok_errmsg(void)
{
	return errbuf;
}
