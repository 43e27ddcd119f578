/* error.c - the engine's one-line error messages. */
#include "config.h"

#include <stdio.h>
#include "hk_internal.h"

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

void
hk_seterr(struct hk_engine *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hk_vseterr(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
}

const char *
hk_engine_error(const struct hk_engine *e)
{
	return e == NULL ? "out of memory" : e->err;
}
