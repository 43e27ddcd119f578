/* error.c - one-line error messages into a caller's buffer. */
#include "config.h"

#include <stdio.h>
#include "hk_err.h"

void
hk_vseterr(char *buf, size_t len, const char *fmt, va_list ap)
{
	vsnprintf(buf, len, fmt, ap);
}

void
hk_fmterr(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hk_vseterr(buf, len, fmt, ap);
	va_end(ap);
}
