/*
 * keymatch.c - find the private key on the token whose public half is in a
 * certificate: import-cert's default label and id, and its refusal to store
 * a certificate that no key on the token can serve.
 *
 * An RSA private key carries its modulus and exponent; an EC private key
 * carries only its curve, so its point comes from the public key object
 * with the same CKA_ID (as the engine does).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>

#include "tok.h"

#define MATCH_MAX_KEYS 1024

static int
bytes_eq_bn(const unsigned char *v, size_t len, EVP_PKEY *pk, const char *name)
{
	BIGNUM *a = NULL, *b = NULL;
	int eq;

	b = BN_bin2bn(v, (int)len, NULL);
	eq = b != NULL && EVP_PKEY_get_bn_param(pk, name, &a) == 1 &&
	    BN_cmp(a, b) == 0;
	BN_free(a);
	BN_free(b);
	return eq;
}

static int
match_rsa(struct tok_p11 *p, CK_OBJECT_HANDLE key, EVP_PKEY *pk)
{
	unsigned char *n, *e;
	size_t nlen, elen;
	int eq;

	n = tok_p11_get_bytes(p, key, CKA_MODULUS, &nlen);
	e = tok_p11_get_bytes(p, key, CKA_PUBLIC_EXPONENT, &elen);
	eq = n != NULL && e != NULL &&
	    bytes_eq_bn(n, nlen, pk, OSSL_PKEY_PARAM_RSA_N) &&
	    bytes_eq_bn(e, elen, pk, OSSL_PKEY_PARAM_RSA_E);
	free(n);
	free(e);
	return eq;
}

/* CKA_EC_POINT of the public key object with this private key's id. */
static unsigned char *
ec_point(struct tok_p11 *p, CK_OBJECT_HANDLE key, size_t *len)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_OBJECT_HANDLE pub;
	CK_ULONG n = 0;
	unsigned char *id, *pt = NULL;
	size_t id_len;

	if ((id = tok_p11_get_bytes(p, key, CKA_ID, &id_len)) == NULL)
		return NULL;
	tmpl[1] = (CK_ATTRIBUTE){ CKA_ID, id, id_len };
	if (tok_p11_find(p, tmpl, 2, &pub, 1, &n) == 0 && n == 1)
		pt = tok_p11_get_bytes(p, pub, CKA_EC_POINT, len);
	free(id);
	return pt;
}

/* CKA_EC_POINT is a DER OCTET STRING (PKCS#11 2.40); some tokens send raw. */
static int
point_eq(const unsigned char *pt, size_t len, const unsigned char *want,
    size_t want_len)
{
	const unsigned char *q = pt;
	ASN1_OCTET_STRING *os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)len);
	int eq;

	if (os != NULL && q == pt + len) {
		pt = ASN1_STRING_get0_data(os);
		len = (size_t)ASN1_STRING_length(os);
	}
	eq = len == want_len && memcmp(pt, want, len) == 0;
	ASN1_OCTET_STRING_free(os);
	ERR_clear_error();
	return eq;
}

static int
match_ec(struct tok_p11 *p, CK_OBJECT_HANDLE key, EVP_PKEY *pk)
{
	unsigned char want[256], *pt;
	size_t want_len = 0, len;
	int eq;

	/* The certificate's point, uncompressed, as tokens store it. */
	if (EVP_PKEY_get_octet_string_param(pk,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, want, sizeof(want),
	    &want_len) != 1)
		return 0;
	if ((pt = ec_point(p, key, &len)) == NULL)
		return 0;
	eq = point_eq(pt, len, want, want_len);
	free(pt);
	return eq;
}

/* 1 and *key when a private key matches the certificate, 0 if none, -1. */
int
tok_p11_key_for_cert(struct tok_p11 *p, X509 *x, CK_OBJECT_HANDLE *key)
{
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &priv, sizeof(priv) } };
	CK_OBJECT_HANDLE *keys;
	CK_ULONG n = 0, i, kt;
	EVP_PKEY *pk = X509_get0_pubkey(x);
	int found = 0;

	if (pk == NULL) {
		tok_err("certificate: cannot read its public key: %s",
		    tok_ossl_err());
		return -1;
	}
	if ((keys = calloc(MATCH_MAX_KEYS, sizeof(*keys))) == NULL) {
		tok_err("out of memory");
		return -1;
	}
	if (tok_p11_find(p, tmpl, 1, keys, MATCH_MAX_KEYS, &n) == -1) {
		free(keys);
		return -1;
	}
	for (i = 0; i < n && !found; i++) {
		CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof(kt) };

		if (p->fl->C_GetAttributeValue(p->session, keys[i], &a, 1) !=
		    CKR_OK)
			continue;
		if ((kt == CKK_RSA && EVP_PKEY_is_a(pk, "RSA") &&
		    match_rsa(p, keys[i], pk)) ||
		    (kt == CKK_EC && EVP_PKEY_is_a(pk, "EC") &&
		    match_ec(p, keys[i], pk))) {
			*key = keys[i];
			found = 1;
		}
	}
	free(keys);
	return found;
}
