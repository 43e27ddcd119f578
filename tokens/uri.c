/*
 * uri.c - hex ids from the command line and RFC 7512 URIs for output
 * (formatted by the engine's hk_uri_format, engine/uri.c).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "hk_uri.h"
#include "tok.h"

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "01ab" (an optional "0x" prefix and ':' separators allowed) -> bytes */
int
tok_hex_decode(const char *hex, unsigned char *out, size_t size, size_t *len)
{
	const char *arg = hex;
	size_t n = 0;
	int hi, lo;

	if (strncmp(hex, "0x", 2) == 0 || strncmp(hex, "0X", 2) == 0)
		hex += 2;
	while (*hex != '\0') {
		if (*hex == ':') {
			hex++;
			continue;
		}
		hi = hex_value(hex[0]);
		lo = hi < 0 ? -1 : hex_value(hex[1]);
		if (lo < 0) {
			tok_err("id '%s': want pairs of hex digits", arg);
			return -1;
		}
		if (n == size) {
			tok_err("id '%s' is longer than %zu bytes", arg,
			    size);
			return -1;
		}
		out[n++] = (unsigned char)(hi << 4 | lo);
		hex += 2;
	}
	if (n == 0) {
		tok_err("id '%s' is empty", arg);
		return -1;
	}
	*len = n;
	return 0;
}

/* pkcs11:token=T;object=O;id=%XX..;type=TYPE  (object/id may be absent);
 * the engine's formatter, so the server names keys the same way. */
int
tok_uri(char *buf, size_t size, const char *token, const char *object,
    const unsigned char *id, size_t id_len, const char *type)
{
	if (hk_uri_format(buf, size, token, object, id, id_len, type) == 0)
		return 0;
	tok_err("PKCS#11 URI longer than %zu bytes", size - 1);
	return -1;
}
