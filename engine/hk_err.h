/*
 * hk_err.h - one-line error messages into a caller's buffer (error.c).
 * Shared by every layer of the engine and by hsmtls-token.
 */
#ifndef HK_ERR_H
#define HK_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define HK_ERRLEN 512

void hk_vseterr(char *buf, size_t len, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
void hk_fmterr(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* HK_ERR_H */
