/*
 * uri.c - RFC 7512 PKCS#11 URIs, parsed by p11-kit, with the rules hsmtls
 * adds: a PIN never sits in a URI (pin-value is refused), every attribute
 * must be understood, and a key URI names a private key.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include "hk.h"
#include "hk_err.h"
#include "hk_uri.h"

P11KitUri *
hk_uri_parse(const char *s, char *err, size_t errlen)
{
	P11KitUri *uri;
	int rc;

	if (s == NULL || strncmp(s, "pkcs11:", 7) != 0) {
		hk_fmterr(err, errlen, "key '%s' is not a PKCS#11 URI "
		    "(want pkcs11:token=...;object=...)", s ? s : "");
		return NULL;
	}
	if ((uri = p11_kit_uri_new()) == NULL) {
		hk_fmterr(err, errlen, "out of memory");
		return NULL;
	}
	rc = p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, uri);
	if (rc != P11_KIT_URI_OK) {
		hk_fmterr(err, errlen, "PKCS#11 URI '%s': %s", s,
		    p11_kit_uri_message(rc));
		goto err;
	}
	if (p11_kit_uri_get_pin_value(uri) != NULL) {
		hk_fmterr(err, errlen, "PKCS#11 URI: pin-value is refused: a PIN "
		    "never sits in a URI; use pin-source=file:... or --pin-file");
		goto err;
	}
	if (p11_kit_uri_any_unrecognized(uri)) {
		hk_fmterr(err, errlen, "PKCS#11 URI '%s': unrecognized attribute",
		    s);
		goto err;
	}
	return uri;
err:
	p11_kit_uri_free(uri);
	return NULL;
}

/* The CKA_CLASS the URI asks for, or -1 when it names none. */
long
hk_uri_class(P11KitUri *uri)
{
	CK_ATTRIBUTE *a = p11_kit_uri_get_attribute(uri, CKA_CLASS);
	CK_OBJECT_CLASS c;

	if (a == NULL || a->ulValueLen != sizeof(c))
		return -1;
	memcpy(&c, a->pValue, sizeof(c));
	return (long)c;
}

int
hk_uri_token_label(const char *s, char *label, size_t len)
{
	char err[HK_ERRLEN];
	P11KitUri *uri = hk_uri_parse(s, err, sizeof(err));
	CK_TOKEN_INFO *ti;
	size_t n;

	if (uri == NULL)
		return -1;
	ti = p11_kit_uri_get_token_info(uri);
	/* p11-kit keeps an unset label as all zero bytes, a set one space-padded. */
	n = sizeof(ti->label);
	while (n > 0 && (ti->label[n - 1] == ' ' || ti->label[n - 1] == '\0'))
		n--;
	if (ti->label[0] == '\0' || n == 0 || n >= len) {
		p11_kit_uri_free(uri);
		return n >= len ? -1 : 0;
	}
	memcpy(label, ti->label, n);
	label[n] = '\0';
	p11_kit_uri_free(uri);
	return 1;
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

/*
 * pkcs11:token=T;object=O;id=%XX..;type=TYPE (object/id may be absent):
 * the URI form of every program here.  Values are percent-encoded except
 * for RFC 3986 unreserved characters, which is always valid in a pkcs11:
 * path and leaves no doubt about ';', '?' or '%' inside a label; an id is
 * encoded byte by byte.  0, or -1 when it does not fit.
 */
int
hk_uri_format(char *buf, size_t size, const char *token, const char *object,
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
	return -1;
}
