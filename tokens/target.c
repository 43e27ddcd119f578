/*
 * target.c - which module, token and PIN file a command works on.
 *
 * --token takes a token label or a pkcs11: URI naming the token; --key a
 * pkcs11: URI naming a key.  A URI may carry module-path and pin-source
 * (RFC 7512); each must agree with --module / --pin-file rather than
 * silently win over it.  pin-value is refused: a PIN never sits on a
 * command line.  Also: hex ids from the command line, and URIs for output
 * (formatted by the engine's hk_uri_format, engine/uri.c).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "hk_uri.h"
#include "tok.h"

/* The engine's parser: the same rules as hsmtls-server's key URIs. */
static P11KitUri *
target_parse(const char *s)
{
	char err[HK_ERRLEN];
	P11KitUri *uri;

	if ((uri = hk_uri_parse(s, err, sizeof(err))) == NULL)
		tok_err("%s", err);
	return uri;
}

/* A plain label becomes a URI that matches that token label only. */
static P11KitUri *
target_label(const char *label)
{
	P11KitUri *uri;
	CK_TOKEN_INFO *ti;
	size_t len = strlen(label);

	if (len == 0 || len > sizeof(ti->label)) {
		tok_err("token label '%s': want 1 to 32 bytes", label);
		return NULL;
	}
	if ((uri = p11_kit_uri_new()) == NULL) {
		tok_err("out of memory");
		return NULL;
	}
	ti = p11_kit_uri_get_token_info(uri);
	memset(ti->label, ' ', sizeof(ti->label));
	memcpy(ti->label, label, len);
	return uri;
}

/* pin-source: a file: URI or an absolute path (RFC 8089 forms). */
static int
target_pin_source(struct tok_target *t, const char *source)
{
	const char *path = hk_pin_source_path(source);

	if (path == NULL) {
		tok_err("pin-source '%s': want a file: URI or an absolute "
		    "path", source);
		return -1;
	}
	if (strlen(path) >= sizeof(t->pin_buf)) {
		tok_err("pin-source '%s': path too long", source);
		return -1;
	}
	strcpy(t->pin_buf, path);
	t->pin_file = t->pin_buf;
	return 0;
}

static int
target_from_uri(struct tok_target *t, const struct tok_opts *o)
{
	const char *mp = p11_kit_uri_get_module_path(t->uri);
	const char *ps = p11_kit_uri_get_pin_source(t->uri);

	if (mp != NULL && o->module != NULL && strcmp(mp, o->module) != 0) {
		tok_err("two module paths: --module '%s' and module-path '%s' "
		    "in the URI; give one", o->module, mp);
		return -1;
	}
	if (mp != NULL)
		t->module = mp;
	if (ps != NULL && o->pin_file != NULL) {
		tok_err("two PINs: --pin-file and pin-source in the URI; give "
		    "one");
		return -1;
	}
	if (ps != NULL)
		return target_pin_source(t, ps);
	return 0;
}

/* spec: --token (label or URI) or --key (URI). */
int
tok_target_init(struct tok_target *t, const struct tok_opts *o,
    const char *spec)
{
	memset(t, 0, sizeof(*t));
	t->spec = spec;
	t->module = tok_module_default(o->module);
	t->pin_file = o->pin_file;
	t->spec_is_uri = strncmp(spec, "pkcs11:", 7) == 0;
	t->uri = t->spec_is_uri ? target_parse(spec) : target_label(spec);
	if (t->uri == NULL)
		return -1;
	if (t->spec_is_uri && target_from_uri(t, o) == -1) {
		tok_target_free(t);
		return -1;
	}
	return 0;
}

int
tok_target_need_pin(const struct tok_target *t)
{
	if (t->pin_file == NULL) {
		tok_err("no PIN: give --pin-file FILE (or pin-source in the "
		    "URI)");
		return -1;
	}
	return 0;
}

int
tok_target_token_matches(const struct tok_target *t, const CK_TOKEN_INFO *ti)
{
	return (ti->flags & CKF_TOKEN_INITIALIZED) &&
	    p11_kit_uri_match_token_info(t->uri, ti);
}

void
tok_target_free(struct tok_target *t)
{
	if (t->uri != NULL)
		p11_kit_uri_free(t->uri);
	t->uri = NULL;
}

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
