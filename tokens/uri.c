/*
 * uri.c - hex ids from the command line and RFC 7512 URIs for output.
 *
 * Attribute values are percent-encoded except for RFC 3986 unreserved
 * characters, which is always valid in a pkcs11: path and leaves no doubt
 * about ';', '?' or '%' inside a label.  An id is encoded byte by byte.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

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

static int
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/* Append to buf at *pos; returns -1 when it would not fit. */
static int
uri_put(char *buf, size_t size, size_t *pos, const char *s)
{
	size_t len = strlen(s);

	if (*pos + len >= size)
		return -1;
	memcpy(buf + *pos, s, len + 1);
	*pos += len;
	return 0;
}

static int
uri_put_encoded(char *buf, size_t size, size_t *pos, const unsigned char *v,
    size_t len, int encode_all)
{
	char one[4];
	size_t i;

	for (i = 0; i < len; i++) {
		if (!encode_all && is_unreserved(v[i]))
			snprintf(one, sizeof(one), "%c", v[i]);
		else
			snprintf(one, sizeof(one), "%%%02X", v[i]);
		if (uri_put(buf, size, pos, one) == -1)
			return -1;
	}
	return 0;
}

/* pkcs11:token=T;object=O;id=%XX..;type=TYPE  (object/id may be absent) */
int
tok_uri(char *buf, size_t size, const char *token, const char *object,
    const unsigned char *id, size_t id_len, const char *type)
{
	size_t pos = 0;

	buf[0] = '\0';
	if (uri_put(buf, size, &pos, "pkcs11:token=") == -1 ||
	    uri_put_encoded(buf, size, &pos, (const unsigned char *)token,
	    strlen(token), 0) == -1)
		goto toolong;
	if (object != NULL && (uri_put(buf, size, &pos, ";object=") == -1 ||
	    uri_put_encoded(buf, size, &pos, (const unsigned char *)object,
	    strlen(object), 0) == -1))
		goto toolong;
	if (id != NULL && id_len > 0 && (uri_put(buf, size, &pos, ";id=") == -1 ||
	    uri_put_encoded(buf, size, &pos, id, id_len, 1) == -1))
		goto toolong;
	if (type != NULL && (uri_put(buf, size, &pos, ";type=") == -1 ||
	    uri_put(buf, size, &pos, type) == -1))
		goto toolong;
	return 0;
toolong:
	tok_err("PKCS#11 URI longer than %zu bytes", size - 1);
	return -1;
}
