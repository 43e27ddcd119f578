/*
 * custody.c - reading and formatting a private key's custody attributes
 * (hk_custody.h), shared by the engine and hsmtls-token.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/pkcs11.h>
#include <openssl/asn1.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include "hk_ckr.h"
#include "hk_custody.h"

/* A boolean attribute: 1, 0, or -1 when not reported. */
static int
get_flag(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
    CK_ATTRIBUTE_TYPE t)
{
	CK_BBOOL b = CK_FALSE;
	CK_ATTRIBUTE a = { t, &b, sizeof(b) };

	if (f->C_GetAttributeValue(s, h, &a, 1) != CKR_OK ||
	    a.ulValueLen != sizeof(b))
		return -1;
	return b == CK_TRUE;
}

/* A variable-length attribute, malloc'd; NULL when absent or empty. */
static unsigned char *
get_bytes(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
    CK_ATTRIBUTE_TYPE t, size_t *len)
{
	CK_ATTRIBUTE a = { t, NULL, 0 };

	*len = 0;
	if (f->C_GetAttributeValue(s, h, &a, 1) != CKR_OK ||
	    a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen == 0 ||
	    (a.pValue = malloc(a.ulValueLen)) == NULL)
		return NULL;
	if (f->C_GetAttributeValue(s, h, &a, 1) != CKR_OK) {
		free(a.pValue);
		return NULL;
	}
	*len = a.ulValueLen;
	return a.pValue;
}

/* Bits of a big-endian unsigned number. */
static unsigned
bits_of(const unsigned char *v, size_t len)
{
	unsigned char top;
	unsigned n;

	while (len > 0 && v[0] == 0) {
		v++;
		len--;
	}
	if (len == 0)
		return 0;
	for (n = 0, top = v[0]; top != 0; top >>= 1)
		n++;
	return (unsigned)(len - 1) * 8 + n;
}

/* "P-256" for a named curve's OID (the NIST name where it has one). */
static void
ec_type(const unsigned char *der, size_t len, char *out, size_t size)
{
	const unsigned char *q = der;
	ASN1_OBJECT *oid;
	const char *name = NULL;
	int nid;

	if (der != NULL &&
	    (oid = d2i_ASN1_OBJECT(NULL, &q, (long)len)) != NULL) {
		nid = OBJ_obj2nid(oid);
		if (nid != NID_undef && (name = EC_curve_nid2nist(nid)) == NULL)
			name = OBJ_nid2sn(nid);
		ASN1_OBJECT_free(oid);
	}
	snprintf(out, size, "ec:%s", name != NULL ? name : "unknown");
}

static void
key_type(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
    char *out, size_t size)
{
	CK_KEY_TYPE kt;
	CK_ULONG mbits = 0;
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof(kt) };
	unsigned char *v;
	size_t len;

	snprintf(out, size, "unknown");
	if (f->C_GetAttributeValue(s, h, &a, 1) != CKR_OK ||
	    a.ulValueLen != sizeof(kt))
		return;
	switch (kt) {
	case CKK_RSA:
		v = get_bytes(f, s, h, CKA_MODULUS, &len);
		if (v != NULL)
			mbits = bits_of(v, len);
		free(v);
		a.type = CKA_MODULUS_BITS;
		a.pValue = &mbits;
		a.ulValueLen = sizeof(mbits);
		if (mbits == 0 && (f->C_GetAttributeValue(s, h, &a, 1) != CKR_OK ||
		    a.ulValueLen != sizeof(mbits)))
			mbits = 0;
		if (mbits != 0)
			snprintf(out, size, "rsa:%lu", (unsigned long)mbits);
		else
			snprintf(out, size, "rsa:unknown");
		break;
	case CKK_EC:
		v = get_bytes(f, s, h, CKA_EC_PARAMS, &len);
		ec_type(v, len, out, size);
		free(v);
		break;
	case CKK_EC_EDWARDS:
		snprintf(out, size, "eddsa");
		break;
	default:
		snprintf(out, size, "ckk:0x%lx", (unsigned long)kt);
		break;
	}
}

static void
allowed_mechs(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
    struct hk_custody *c)
{
	CK_ATTRIBUTE a = { CKA_ALLOWED_MECHANISMS, NULL, 0 };
	CK_MECHANISM_TYPE *m;
	size_t n, i;

	c->nmechs = -1;
	if (f->C_GetAttributeValue(s, h, &a, 1) != CKR_OK ||
	    a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return;
	c->nmechs = 0;
	if (a.ulValueLen < sizeof(*m) || (m = malloc(a.ulValueLen)) == NULL)
		return;
	a.pValue = m;
	if (f->C_GetAttributeValue(s, h, &a, 1) == CKR_OK) {
		n = a.ulValueLen / sizeof(*m);
		for (i = 0; i < n; i++) {
			if (i < HK_CUSTODY_MECHS)
				c->mechs[c->nmechs++] = m[i];
			else
				c->mechs_more++;
		}
	}
	free(m);
}

void
hk_custody_read(void *function_list, unsigned long session,
    unsigned long object, struct hk_custody *c)
{
	CK_FUNCTION_LIST *f = function_list;

	memset(c, 0, sizeof(*c));
	key_type(f, session, object, c->type, sizeof(c->type));
	c->sensitive = get_flag(f, session, object, CKA_SENSITIVE);
	c->extractable = get_flag(f, session, object, CKA_EXTRACTABLE);
	c->never_extractable = get_flag(f, session, object,
	    CKA_NEVER_EXTRACTABLE);
	c->always_sensitive = get_flag(f, session, object,
	    CKA_ALWAYS_SENSITIVE);
	c->local = get_flag(f, session, object, CKA_LOCAL);
	c->always_authenticate = get_flag(f, session, object,
	    CKA_ALWAYS_AUTHENTICATE);
	c->decrypt = get_flag(f, session, object, CKA_DECRYPT);
	allowed_mechs(f, session, object, c);
}

struct out {
	char *buf;
	size_t len, used;
	int cut;
};

static void
put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->cut)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->len - o->used) {
		o->cut = 1;
		return;
	}
	o->used += (size_t)n;
}

static const char *
flag(int v)
{
	return v == 1 ? "1" : v == 0 ? "0" : "unknown";
}

int
hk_custody_format(const struct hk_custody *c, const char *token,
    const char *uri, char *buf, size_t len)
{
	struct out o = { buf, len, 0, 0 };
	char hex[32];
	const unsigned char *p;
	int i;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	put(&o, "token=");
	for (p = (const unsigned char *)token; *p != '\0'; p++)
		if (*p <= ' ' || *p == '%' || *p >= 0x7f)
			put(&o, "%%%02X", *p);
		else
			put(&o, "%c", *p);
	put(&o, " key=%s type=%s sensitive=%s extractable=%s "
	    "never-extractable=%s always-sensitive=%s local=%s mechanisms=",
	    uri, c->type, flag(c->sensitive), flag(c->extractable),
	    flag(c->never_extractable), flag(c->always_sensitive),
	    flag(c->local));
	if (c->nmechs <= 0)
		put(&o, "any");
	for (i = 0; i < c->nmechs; i++)
		put(&o, "%s%s", i > 0 ? "," : "",
		    hk_ckm_name(c->mechs[i], hex, sizeof(hex)));
	if (c->mechs_more > 0)
		put(&o, ",+%d-more", c->mechs_more);
	if (o.cut)
		buf[o.used] = '\0';
	return o.cut ? -1 : 0;
}
