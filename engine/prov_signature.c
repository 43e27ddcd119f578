/*
 * prov_signature.c - RSA (PKCS#1 v1.5, PSS) and ECDSA signatures made on
 * the token.  The message is hashed here in software; the token gets one
 * single-part C_Sign over the digest (or DigestInfo for PKCS#1 v1.5).
 * OpenSSL 3.0 has no fallback from EVP_DigestSign* to plain sign, so the
 * digest_sign_* functions are the ones libssl actually uses.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "prov.h"

#define MAX_DIGEST 64
#define MAX_ECDSA_RAW 132   /* r||s for P-521 */
#define MAX_DIGESTINFO (MAX_DIGEST + 32)

struct sig_ctx {
	const struct hk_pkey *k;
	int type;
	int pad;         /* RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
	int saltlen;     /* RSA_PSS_SALTLEN_* or a byte count */
	EVP_MD *md;
	EVP_MD *mgf1;
	EVP_MD_CTX *mdctx;
};

static void *
sig_newctx(int type)
{
	struct sig_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->type = type;
	c->pad = RSA_PKCS1_PADDING;
	c->saltlen = RSA_PSS_SALTLEN_AUTO;
	return c;
}

static void *rsa_newctx(void *provctx, const char *pq)
{ return sig_newctx(EVP_PKEY_RSA); }
static void *ec_newctx(void *provctx, const char *pq)
{ return sig_newctx(EVP_PKEY_EC); }

static void
sig_freectx(void *vc)
{
	struct sig_ctx *c = vc;

	if (c == NULL)
		return;
	EVP_MD_CTX_free(c->mdctx);
	EVP_MD_free(c->md);
	EVP_MD_free(c->mgf1);
	free(c);
}

/* EVP_DigestSignFinal() signs on a duplicate, so duplication is required. */
static void *
sig_dupctx(void *vc)
{
	struct sig_ctx *c = vc, *d;

	if ((d = malloc(sizeof(*d))) == NULL)
		return NULL;
	*d = *c;
	d->mdctx = NULL;
	if ((d->md != NULL && !EVP_MD_up_ref(d->md)) ||
	    (d->mgf1 != NULL && !EVP_MD_up_ref(d->mgf1))) {
		free(d);
		return NULL;
	}
	if (c->mdctx != NULL && ((d->mdctx = EVP_MD_CTX_new()) == NULL ||
	    !EVP_MD_CTX_copy_ex(d->mdctx, c->mdctx))) {
		sig_freectx(d);
		return NULL;
	}
	return d;
}

static int
set_md(EVP_MD **slot, const char *name, const char *props)
{
	EVP_MD *md;

	if (props == NULL)
		props = "provider=default";
	if ((md = EVP_MD_fetch(NULL, name, props)) == NULL)
		return 0;
	EVP_MD_free(*slot);
	*slot = md;
	return 1;
}

static int
set_pad(struct sig_ctx *c, const OSSL_PARAM *p)
{
	int pad;

	if (p->data_type == OSSL_PARAM_UTF8_STRING) {
		if (strcmp(p->data, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0)
			pad = RSA_PKCS1_PADDING;
		else if (strcmp(p->data, OSSL_PKEY_RSA_PAD_MODE_PSS) == 0)
			pad = RSA_PKCS1_PSS_PADDING;
		else
			return 0;
	} else if (!OSSL_PARAM_get_int(p, &pad)) {
		return 0;
	}
	if (pad != RSA_PKCS1_PADDING && pad != RSA_PKCS1_PSS_PADDING)
		return 0;
	c->pad = pad;
	return 1;
}

static int
set_saltlen(struct sig_ctx *c, const OSSL_PARAM *p)
{
	const char *s = p->data;

	if (p->data_type != OSSL_PARAM_UTF8_STRING)
		return OSSL_PARAM_get_int(p, &c->saltlen);
	if (strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) == 0)
		c->saltlen = RSA_PSS_SALTLEN_DIGEST;
	else if (strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX) == 0)
		c->saltlen = RSA_PSS_SALTLEN_MAX;
	else if (strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO) == 0)
		c->saltlen = RSA_PSS_SALTLEN_AUTO;
	else
		c->saltlen = atoi(s);
	return 1;
}

static int
sig_set_ctx_params(void *vc, const OSSL_PARAM params[])
{
	struct sig_ctx *c = vc;
	const OSSL_PARAM *p, *pp;
	const char *props = NULL;

	if (params == NULL)
		return 1;
	pp = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PROPERTIES);
	if (pp != NULL && !OSSL_PARAM_get_utf8_string_ptr(pp, &props))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (p != NULL && (p->data_type != OSSL_PARAM_UTF8_STRING ||
	    !set_md(&c->md, p->data, props)))
		return 0;
	if (c->type != EVP_PKEY_RSA)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
	if (p != NULL && !set_pad(c, p))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
	if (p != NULL && !set_saltlen(c, p))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
	if (p != NULL && (p->data_type != OSSL_PARAM_UTF8_STRING ||
	    !set_md(&c->mgf1, p->data, NULL)))
		return 0;
	return 1;
}

static const OSSL_PARAM rsa_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM ec_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
rsa_settable_params(void *vc, void *provctx)
{
	return rsa_settable;
}

static const OSSL_PARAM *
ec_settable_params(void *vc, void *provctx)
{
	return ec_settable;
}

/* DER AlgorithmIdentifier, for X509_sign() and friends. */
static int
algorithm_id(const struct sig_ctx *c, unsigned char **der)
{
	X509_ALGOR *alg;
	int sigid, len = -1;
	int keynid = c->type == EVP_PKEY_RSA ? NID_rsaEncryption
	    : NID_X9_62_id_ecPublicKey;

	*der = NULL;
	if (c->md == NULL || (c->type == EVP_PKEY_RSA &&
	    c->pad != RSA_PKCS1_PADDING) ||
	    !OBJ_find_sigid_by_algs(&sigid, EVP_MD_get_type(c->md), keynid) ||
	    (alg = X509_ALGOR_new()) == NULL)
		return -1;
	if (X509_ALGOR_set0(alg, OBJ_nid2obj(sigid), c->type == EVP_PKEY_RSA ?
	    V_ASN1_NULL : V_ASN1_UNDEF, NULL))
		len = i2d_X509_ALGOR(alg, der);
	X509_ALGOR_free(alg);
	return len;
}

static int
sig_get_ctx_params(void *vc, OSSL_PARAM params[])
{
	struct sig_ctx *c = vc;
	unsigned char *der;
	OSSL_PARAM *p;
	int len, ok = 1;

	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
	if (p != NULL) {
		if ((len = algorithm_id(c, &der)) <= 0)
			return 0;
		ok = OSSL_PARAM_set_octet_string(p, der, (size_t)len);
		OPENSSL_free(der);
	}
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (ok && p != NULL && c->md != NULL)
		ok = OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(c->md));
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
	if (ok && p != NULL && c->type == EVP_PKEY_RSA)
		ok = OSSL_PARAM_set_int(p, c->pad);
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
	if (ok && p != NULL && c->type == EVP_PKEY_RSA)
		ok = OSSL_PARAM_set_int(p, c->saltlen);
	return ok;
}

static const OSSL_PARAM gettable[] = {
	OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL),
	OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
sig_gettable_params(void *vc, void *provctx)
{
	return gettable;
}

static int
sig_init(void *vc, void *keydata, const OSSL_PARAM params[])
{
	struct sig_ctx *c = vc;
	const struct hk_pkey *k = keydata;

	if (k == NULL || k->key == NULL || k->type != c->type) {
		ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
		    "hsmtls: not a token key");
		return 0;
	}
	c->k = k;
	return sig_set_ctx_params(c, params);
}

static int
digest_sign_init(void *vc, const char *mdname, void *keydata,
    const OSSL_PARAM params[])
{
	struct sig_ctx *c = vc;

	if (!sig_init(c, keydata, params))
		return 0;
	if (!set_md(&c->md, mdname != NULL ? mdname : "SHA256", NULL))
		return 0;
	if (c->mdctx == NULL && (c->mdctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	return EVP_DigestInit_ex2(c->mdctx, c->md, NULL);
}

static int
digest_sign_update(void *vc, const unsigned char *data, size_t len)
{
	struct sig_ctx *c = vc;

	return c->mdctx != NULL && EVP_DigestUpdate(c->mdctx, data, len);
}

static size_t
max_sig_size(const struct sig_ctx *c)
{
	int n = EVP_PKEY_get_size(c->k->pub);

	return n > 0 ? (size_t)n : 0;
}

/* PKCS#1 v1.5: the token pads DigestInfo(hash OID, digest). */
static int
sign_pkcs1(const struct sig_ctx *c, const unsigned char *dgst, size_t dlen,
    unsigned char *sig, size_t *siglen)
{
	unsigned char info[MAX_DIGESTINFO], *q = info;
	X509_SIG *xs = NULL;
	X509_ALGOR *alg;
	ASN1_OCTET_STRING *os;
	int len = -1;

	if (c->md == NULL)      /* raw input, as the default provider does */
		return hk_key_sign(c->k->key, HK_MECH_RSA_PKCS, NID_undef, 0,
		    dgst, dlen, sig, siglen);
	if ((xs = X509_SIG_new()) == NULL)
		return -1;
	X509_SIG_getm(xs, &alg, &os);
	if (X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(c->md)),
	    V_ASN1_NULL, NULL) && ASN1_OCTET_STRING_set(os, dgst, (int)dlen) &&
	    i2d_X509_SIG(xs, NULL) <= (int)sizeof(info))
		len = i2d_X509_SIG(xs, &q);
	X509_SIG_free(xs);
	if (len <= 0)
		return -1;
	return hk_key_sign(c->k->key, HK_MECH_RSA_PKCS, EVP_MD_get_type(c->md),
	    0, info, (size_t)len, sig, siglen);
}

/* A token without CKM_RSA_PKCS_PSS: encode here, raw RSA there. */
static int
sign_pss_raw(const struct sig_ctx *c, int bits, int salt,
    const unsigned char *dgst, unsigned char *sig, size_t *siglen)
{
	unsigned char block[HK_MAX_MODULUS];
	size_t k = (size_t)(bits + 7) / 8;
	int rc;

	if (k > sizeof(block) ||
	    hk_pss_encode(block, k, bits, c->md, dgst, salt) != 0)
		return -1;
	rc = hk_key_sign(c->k->key, HK_MECH_RSA_RAW, EVP_MD_get_type(c->md), 0,
	    block, k, sig, siglen);
	OPENSSL_cleanse(block, sizeof(block));
	return rc;
}

static int
sign_pss(const struct sig_ctx *c, const unsigned char *dgst, size_t dlen,
    unsigned char *sig, size_t *siglen)
{
	int bits = EVP_PKEY_get_bits(c->k->pub);
	int emlen = (bits - 1 + 7) / 8, hlen, salt = c->saltlen;

	if (c->md == NULL || (c->mgf1 != NULL &&
	    EVP_MD_get_type(c->mgf1) != EVP_MD_get_type(c->md))) {
		ERR_raise_data(ERR_LIB_USER, ERR_R_UNSUPPORTED,
		    "hsmtls: RSA-PSS needs one digest for hash and MGF1");
		return -1;
	}
	hlen = EVP_MD_get_size(c->md);
	if (salt == RSA_PSS_SALTLEN_DIGEST)
		salt = hlen;
	else if (salt == RSA_PSS_SALTLEN_MAX || salt == RSA_PSS_SALTLEN_AUTO)
		salt = emlen - hlen - 2;
	if (salt < 0 || salt > emlen - hlen - 2) {
		ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
		    "hsmtls: RSA-PSS salt length %d out of range", salt);
		return -1;
	}
	if (c->k->key->pss == HK_PSS_SOFTWARE)
		return sign_pss_raw(c, bits, salt, dgst, sig, siglen);
	return hk_key_sign(c->k->key, HK_MECH_RSA_PSS, EVP_MD_get_type(c->md),
	    salt, dgst, dlen, sig, siglen);
}

/* The token returns r||s (PKCS#11 CKM_ECDSA); TLS and X.509 want DER. */
static int
sign_ecdsa(const struct sig_ctx *c, const unsigned char *dgst, size_t dlen,
    unsigned char *sig, size_t *siglen, size_t sigsize)
{
	unsigned char raw[MAX_ECDSA_RAW], *q = sig;
	size_t rawlen = sizeof(raw), half;
	ECDSA_SIG *es = NULL;
	BIGNUM *r, *s;
	int len = -1;

	if (hk_key_sign(c->k->key, HK_MECH_ECDSA, NID_undef, 0, dgst, dlen,
	    raw, &rawlen) != 0)
		return -1;
	half = rawlen / 2;
	r = BN_bin2bn(raw, (int)half, NULL);
	s = BN_bin2bn(raw + half, (int)half, NULL);
	if (rawlen % 2 != 0 || r == NULL || s == NULL ||
	    (es = ECDSA_SIG_new()) == NULL || !ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return -1;
	}
	if (i2d_ECDSA_SIG(es, NULL) <= (int)sigsize)
		len = i2d_ECDSA_SIG(es, &q);
	ECDSA_SIG_free(es);
	if (len <= 0)
		return -1;
	*siglen = (size_t)len;
	return 0;
}

static int
do_sign(struct sig_ctx *c, unsigned char *sig, size_t *siglen,
    size_t sigsize, const unsigned char *dgst, size_t dlen)
{
	size_t max = max_sig_size(c);
	int rc;

	if (sig == NULL) {
		*siglen = max;
		return 1;
	}
	if (max == 0 || sigsize < max) {
		ERR_raise(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT);
		return 0;
	}
	*siglen = sigsize;
	if (c->type == EVP_PKEY_EC)
		rc = sign_ecdsa(c, dgst, dlen, sig, siglen, sigsize);
	else if (c->pad == RSA_PKCS1_PSS_PADDING)
		rc = sign_pss(c, dgst, dlen, sig, siglen);
	else
		rc = sign_pkcs1(c, dgst, dlen, sig, siglen);
	return rc == 0;
}

static int
sig_sign(void *vc, unsigned char *sig, size_t *siglen, size_t sigsize,
    const unsigned char *tbs, size_t tbslen)
{
	return do_sign(vc, sig, siglen, sigsize, tbs, tbslen);
}

static int
digest_sign_final(void *vc, unsigned char *sig, size_t *siglen,
    size_t sigsize)
{
	struct sig_ctx *c = vc;
	unsigned char dgst[MAX_DIGEST];
	unsigned int dlen = 0;

	if (c->mdctx == NULL)
		return 0;
	if (sig == NULL)        /* size query: no hashing, no token call */
		return do_sign(c, NULL, siglen, 0, NULL, 0);
	if (!EVP_DigestFinal_ex(c->mdctx, dgst, &dlen))
		return 0;
	return do_sign(c, sig, siglen, sigsize, dgst, dlen);
}

/* Verification needs no token: the default provider checks against the
 * public key, so a token key is a complete key for X509_verify() and such. */
static int
digest_verify_init(void *vc, const char *mdname, void *keydata,
    const OSSL_PARAM params[])
{
	struct sig_ctx *c = vc;
	const struct hk_pkey *k = keydata;

	if (k == NULL || k->pub == NULL || k->type != c->type)
		return 0;
	c->k = k;
	if (!sig_set_ctx_params(c, params) ||
	    !set_md(&c->md, mdname != NULL ? mdname : "SHA256", NULL))
		return 0;
	if (c->mdctx == NULL && (c->mdctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	return EVP_DigestInit_ex2(c->mdctx, c->md, NULL);
}

static int
digest_verify_final(void *vc, const unsigned char *sig, size_t siglen)
{
	struct sig_ctx *c = vc;
	unsigned char dgst[MAX_DIGEST];
	unsigned int dlen = 0;
	EVP_PKEY_CTX *pctx;
	int ok;

	if (c->mdctx == NULL || !EVP_DigestFinal_ex(c->mdctx, dgst, &dlen))
		return 0;
	pctx = EVP_PKEY_CTX_new_from_pkey(NULL, c->k->pub, "provider=default");
	ok = pctx != NULL && EVP_PKEY_verify_init(pctx) > 0 &&
	    EVP_PKEY_CTX_set_signature_md(pctx, c->md) > 0;
	if (ok && c->type == EVP_PKEY_RSA) {
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, c->pad) > 0 &&
		    (c->pad != RSA_PKCS1_PSS_PADDING ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, c->saltlen) > 0);
	}
	ok = ok && EVP_PKEY_verify(pctx, sig, siglen, dgst, dlen) == 1;
	EVP_PKEY_CTX_free(pctx);
	return ok;
}

#define SIGNATURE_COMMON \
	{ OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx }, \
	{ OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx }, \
	{ OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sig_init }, \
	{ OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sig_sign }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, \
	    (void (*)(void))digest_sign_init }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, \
	    (void (*)(void))digest_sign_update }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, \
	    (void (*)(void))digest_sign_final }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, \
	    (void (*)(void))digest_verify_init }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, \
	    (void (*)(void))digest_sign_update }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, \
	    (void (*)(void))digest_verify_final }, \
	{ OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, \
	    (void (*)(void))sig_get_ctx_params }, \
	{ OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, \
	    (void (*)(void))sig_gettable_params }, \
	{ OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, \
	    (void (*)(void))sig_set_ctx_params }

const OSSL_DISPATCH hk_rsa_signature[] = {
	{ OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))rsa_newctx },
	{ OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
	    (void (*)(void))rsa_settable_params },
	SIGNATURE_COMMON,
	{ 0, NULL }
};

const OSSL_DISPATCH hk_ecdsa_signature[] = {
	{ OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))ec_newctx },
	{ OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
	    (void (*)(void))ec_settable_params },
	SIGNATURE_COMMON,
	{ 0, NULL }
};
