/*
 * prov_keymgmt.c - key management for token keys.
 *
 * Public parts live in a default-provider EVP_PKEY, so parameters, matching
 * and public export are the default provider's own answers.  The private
 * part is only a reference to the token object: export of anything that
 * includes the private key fails, which makes libcrypto fall back to our
 * own signature implementation instead of the default provider's.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include "prov.h"

#define SEL_PRIV OSSL_KEYMGMT_SELECT_PRIVATE_KEY
#define SEL_PUB OSSL_KEYMGMT_SELECT_PUBLIC_KEY
#define SEL_DOMAIN OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS

static struct hk_pkey *
pkey_new(int type)
{
	struct hk_pkey *d = calloc(1, sizeof(*d));

	if (d != NULL)
		d->type = type;
	return d;
}

static void *rsa_new(void *provctx) { return pkey_new(EVP_PKEY_RSA); }
static void *ec_new(void *provctx) { return pkey_new(EVP_PKEY_EC); }

static void
km_free(void *keydata)
{
	struct hk_pkey *d = keydata;

	if (d == NULL)
		return;
	EVP_PKEY_free(d->pub);
	free(d);
}

static int
km_has(const void *keydata, int selection)
{
	const struct hk_pkey *d = keydata;

	if (d == NULL)
		return 0;
	if ((selection & SEL_PRIV) && d->key == NULL)
		return 0;
	if ((selection & (SEL_PUB | SEL_DOMAIN)) && d->pub == NULL)
		return 0;
	return 1;
}

static int
km_match(const void *a, const void *b, int selection)
{
	const struct hk_pkey *x = a, *y = b;

	if (x->pub == NULL || y->pub == NULL || x->type != y->type)
		return 0;
	return EVP_PKEY_eq(x->pub, y->pub) == 1;
}

/* A token key made by hk_key_make_pkey(): the reference carries it all. */
static int
import_ref(struct hk_pkey *d, const OSSL_PARAM *p)
{
	const struct hk_key *k;

	if (p->data_type != OSSL_PARAM_OCTET_STRING ||
	    p->data_size != sizeof(k))
		return 0;
	memcpy(&k, p->data, sizeof(k));
	if (k == NULL || k->magic != HK_KEY_MAGIC || k->type != d->type ||
	    !EVP_PKEY_up_ref(k->pub))
		return 0;
	EVP_PKEY_free(d->pub);
	d->pub = k->pub;
	d->key = k;
	return 1;
}

/* Anything else is a public key (matching a certificate, for instance). */
static int
import_public(struct hk_pkey *d, int selection, const OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pub = NULL;
	int sel = (selection & SEL_PUB) ? EVP_PKEY_PUBLIC_KEY
	    : EVP_PKEY_KEY_PARAMETERS;

	ctx = EVP_PKEY_CTX_new_from_name(NULL,
	    d->type == EVP_PKEY_RSA ? "RSA" : "EC", "provider=default");
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pub, sel, (OSSL_PARAM *)params) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		return 0;
	}
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(d->pub);
	d->pub = pub;
	d->key = NULL;
	return 1;
}

static int
km_import(void *keydata, int selection, const OSSL_PARAM params[])
{
	struct hk_pkey *d = keydata;
	const OSSL_PARAM *p;

	if (d == NULL)
		return 0;
	p = OSSL_PARAM_locate_const(params, HK_PARAM_KEY_REF);
	if (p != NULL)
		return (selection & SEL_PRIV) ? import_ref(d, p) : 0;
	if (!(selection & (SEL_PUB | SEL_DOMAIN)))
		return 0;
	return import_public(d, selection, params);
}

static int
km_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
	struct hk_pkey *d = keydata;
	OSSL_PARAM *params = NULL;
	int sel, ok;

	/* The private key never leaves the token, not even as a handle. */
	if (d == NULL || d->pub == NULL || (selection & SEL_PRIV))
		return 0;
	sel = (selection & SEL_PUB) ? EVP_PKEY_PUBLIC_KEY
	    : EVP_PKEY_KEY_PARAMETERS;
	if (EVP_PKEY_todata(d->pub, sel, &params) <= 0)
		return 0;
	ok = cb(params, cbarg);
	OSSL_PARAM_free(params);
	return ok;
}

static const OSSL_PARAM rsa_types[] = {
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_octet_string(HK_PARAM_KEY_REF, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM ec_types[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_octet_string(HK_PARAM_KEY_REF, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *rsa_io_types(int sel) { return rsa_types; }
static const OSSL_PARAM *ec_io_types(int sel) { return ec_types; }

/* bits, security-bits, max-size, group name...: the public key's answers. */
static int
km_get_params(void *keydata, OSSL_PARAM params[])
{
	struct hk_pkey *d = keydata;

	if (d == NULL || d->pub == NULL)
		return 0;
	return EVP_PKEY_get_params(d->pub, params);
}

static const OSSL_PARAM gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
	    NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
km_gettable_params(void *provctx)
{
	return gettable;
}

static void *
km_dup(const void *keydata, int selection)
{
	const struct hk_pkey *d = keydata;
	struct hk_pkey *c;

	if (d == NULL || (c = pkey_new(d->type)) == NULL)
		return NULL;
	if (d->pub != NULL && !EVP_PKEY_up_ref(d->pub)) {
		free(c);
		return NULL;
	}
	c->pub = d->pub;
	c->key = (selection & SEL_PRIV) ? d->key : NULL;
	return c;
}

static int
km_validate(const void *keydata, int selection, int checktype)
{
	return km_has(keydata, selection);
}

static const char *
rsa_opname(int op)
{
	return op == OSSL_OP_SIGNATURE ? "RSA" : NULL;
}

static const char *
ec_opname(int op)
{
	return op == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}

#define KEYMGMT_COMMON(io) \
	{ OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free }, \
	{ OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has }, \
	{ OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match }, \
	{ OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))km_import }, \
	{ OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))io }, \
	{ OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))km_export }, \
	{ OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))io }, \
	{ OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params }, \
	{ OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, \
	    (void (*)(void))km_gettable_params }, \
	{ OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))km_dup }, \
	{ OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))km_validate }

const OSSL_DISPATCH hk_rsa_keymgmt[] = {
	{ OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))rsa_new },
	{ OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))rsa_opname },
	KEYMGMT_COMMON(rsa_io_types),
	{ 0, NULL }
};

const OSSL_DISPATCH hk_ec_keymgmt[] = {
	{ OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))ec_new },
	{ OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))ec_opname },
	KEYMGMT_COMMON(ec_io_types),
	{ 0, NULL }
};
