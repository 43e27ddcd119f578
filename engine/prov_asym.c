/*
 * prov_asym.c - RSA decryption for TLS 1.2 RSA key exchange, and nothing
 * else.  libssl asks for RSA_PKCS1_WITH_TLS_PADDING (7, which has no string
 * name) with the client's and the negotiated version; the token does raw
 * RSA and key.c checks the block in constant time.  Other paddings are
 * refused: a general PKCS#1 decryption service would be an oracle.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include "prov.h"
#include "hk_rsa_kx.h"

struct asym_ctx {
	const struct hk_pkey *k;
	int pad;
	unsigned int client_version;
	unsigned int alt_version;
};

static void *
asym_newctx(void *provctx)
{
	return calloc(1, sizeof(struct asym_ctx));
}

static void
asym_freectx(void *vc)
{
	free(vc);
}

static void *
asym_dupctx(void *vc)
{
	struct asym_ctx *d = malloc(sizeof(*d));

	if (d != NULL)
		*d = *(struct asym_ctx *)vc;
	return d;
}

static int
asym_set_ctx_params(void *vc, const OSSL_PARAM params[])
{
	struct asym_ctx *c = vc;
	const OSSL_PARAM *p;

	if (params == NULL)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE);
	if (p != NULL) {
		if (p->data_type == OSSL_PARAM_UTF8_STRING)
			return 0;   /* TLS padding has no string name */
		if (!OSSL_PARAM_get_int(p, &c->pad))
			return 0;
	}
	p = OSSL_PARAM_locate_const(params,
	    OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION);
	if (p != NULL && !OSSL_PARAM_get_uint(p, &c->client_version))
		return 0;
	p = OSSL_PARAM_locate_const(params,
	    OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION);
	if (p != NULL && !OSSL_PARAM_get_uint(p, &c->alt_version))
		return 0;
	return 1;
}

static const OSSL_PARAM settable[] = {
	OSSL_PARAM_int(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL),
	OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, NULL),
	OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
asym_settable(void *vc, void *provctx)
{
	return settable;
}

static int
asym_get_ctx_params(void *vc, OSSL_PARAM params[])
{
	struct asym_ctx *c = vc;
	OSSL_PARAM *p;

	p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE);
	if (p != NULL && !OSSL_PARAM_set_int(p, c->pad))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION);
	if (p != NULL && !OSSL_PARAM_set_uint(p, c->client_version))
		return 0;
	return 1;
}

static const OSSL_PARAM gettable[] = {
	OSSL_PARAM_int(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL),
	OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
asym_gettable(void *vc, void *provctx)
{
	return gettable;
}

static int
asym_decrypt_init(void *vc, void *keydata, const OSSL_PARAM params[])
{
	struct asym_ctx *c = vc;
	const struct hk_pkey *k = keydata;

	if (k == NULL || k->key == NULL || k->type != EVP_PKEY_RSA ||
	    !k->key->rsa_kx) {
		ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
		    "hsmtls: RSA key exchange is not enabled for this key");
		return 0;
	}
	c->k = k;
	c->pad = RSA_PKCS1_WITH_TLS_PADDING;
	c->client_version = c->alt_version = 0;
	return asym_set_ctx_params(c, params);
}

static int
asym_decrypt(void *vc, unsigned char *out, size_t *outlen, size_t outsize,
    const unsigned char *in, size_t inlen)
{
	struct asym_ctx *c = vc;

	if (c->pad != RSA_PKCS1_WITH_TLS_PADDING || c->client_version == 0) {
		ERR_raise_data(ERR_LIB_USER, ERR_R_UNSUPPORTED,
		    "hsmtls: only TLS pre-master decryption is offered");
		return 0;
	}
	*outlen = HK_TLS_PREMASTER_LEN;
	if (out == NULL)
		return 1;
	if (outsize < HK_TLS_PREMASTER_LEN)
		return 0;
	return hk_key_decrypt_premaster(c->k->key, in, inlen,
	    c->client_version, c->alt_version, out) == 0;
}

const OSSL_DISPATCH hk_rsa_asym_cipher[] = {
	{ OSSL_FUNC_ASYM_CIPHER_NEWCTX, (void (*)(void))asym_newctx },
	{ OSSL_FUNC_ASYM_CIPHER_FREECTX, (void (*)(void))asym_freectx },
	{ OSSL_FUNC_ASYM_CIPHER_DUPCTX, (void (*)(void))asym_dupctx },
	{ OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT,
	    (void (*)(void))asym_decrypt_init },
	{ OSSL_FUNC_ASYM_CIPHER_DECRYPT, (void (*)(void))asym_decrypt },
	{ OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS,
	    (void (*)(void))asym_get_ctx_params },
	{ OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS,
	    (void (*)(void))asym_gettable },
	{ OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS,
	    (void (*)(void))asym_set_ctx_params },
	{ OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS,
	    (void (*)(void))asym_settable },
	{ 0, NULL }
};
