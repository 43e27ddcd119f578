/*
 * provider.c - the built-in OpenSSL provider "hsmtls".
 *
 * It offers key management and signatures for RSA and EC keys whose private
 * half is on a PKCS#11 token.  It is added to the default library context
 * beside the "default" provider (loaded first: loading any provider
 * explicitly stops "default" from loading itself), and "?provider=default"
 * becomes the default property query so that ordinary fetches (ECDHE key
 * generation, certificate keys, digests) keep using the default provider;
 * only keys we create are ours.  Teardown never calls the token.
 */
#include "config.h"

#include <pthread.h>
#include <openssl/core_names.h>
#include <openssl/provider.h>
#include "prov.h"

#define PROPS "provider=" HK_PROVIDER_NAME

static const OSSL_ALGORITHM keymgmts[] = {
	{ "RSA:rsaEncryption:1.2.840.113549.1.1.1", PROPS, hk_rsa_keymgmt,
	    "RSA key on a PKCS#11 token" },
	{ "EC:id-ecPublicKey:1.2.840.10045.2.1", PROPS, hk_ec_keymgmt,
	    "EC key on a PKCS#11 token" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM signatures[] = {
	{ "RSA:rsaEncryption:1.2.840.113549.1.1.1", PROPS, hk_rsa_signature,
	    "RSA signature on a PKCS#11 token" },
	{ "ECDSA", PROPS, hk_ecdsa_signature,
	    "ECDSA signature on a PKCS#11 token" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM asym_ciphers[] = {
	{ "RSA:rsaEncryption:1.2.840.113549.1.1.1", PROPS, hk_rsa_asym_cipher,
	    "TLS RSA pre-master decryption on a PKCS#11 token" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM *
query_operation(void *provctx, int op, int *no_cache)
{
	*no_cache = 0;
	switch (op) {
	case OSSL_OP_KEYMGMT:
		return keymgmts;
	case OSSL_OP_SIGNATURE:
		return signatures;
	case OSSL_OP_ASYM_CIPHER:
		return asym_ciphers;
	default:
		return NULL;
	}
}

static const OSSL_PARAM provider_gettable[] = {
	OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, NULL, 0),
	OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, NULL, 0),
	OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
gettable_params(void *provctx)
{
	return provider_gettable;
}

static int
get_params(void *provctx, OSSL_PARAM params[])
{
	OSSL_PARAM *p;

	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
	if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "hsmtls PKCS#11 keys"))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
	if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, PACKAGE_VERSION))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
	if (p != NULL && !OSSL_PARAM_set_int(p, 1))
		return 0;
	return 1;
}

static void
teardown(void *provctx)
{
}

static const OSSL_DISPATCH provider_functions[] = {
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))query_operation },
	{ OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))gettable_params },
	{ OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))get_params },
	{ OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))teardown },
	{ 0, NULL }
};

static int
provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
    const OSSL_DISPATCH **out, void **provctx)
{
	*out = provider_functions;
	*provctx = (void *)handle;
	return 1;
}

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static int builtin_added, users;
static OSSL_PROVIDER *prov_default, *prov_hsmtls;

static int
load_providers(void)
{
	if (!builtin_added) {
		if (!OSSL_PROVIDER_add_builtin(NULL, HK_PROVIDER_NAME,
		    provider_init))
			return -1;
		builtin_added = 1;
	}
	prov_default = OSSL_PROVIDER_load(NULL, "default");
	if (prov_default == NULL)
		return -1;
	prov_hsmtls = OSSL_PROVIDER_load(NULL, HK_PROVIDER_NAME);
	if (prov_hsmtls == NULL ||
	    !EVP_set_default_properties(NULL, "?provider=default")) {
		OSSL_PROVIDER_unload(prov_default);
		prov_default = NULL;
		return -1;
	}
	return 0;
}

/* Each live engine holds the providers loaded; the last one unloads them.
 * Keys still referenced (by an SSL_CTX, say) keep their methods alive. */
int
hk_provider_register(void)
{
	int rc = 0;

	pthread_mutex_lock(&reg_lock);
	if (users == 0)
		rc = load_providers();
	if (rc == 0)
		users++;
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

void
hk_provider_unregister(void)
{
	pthread_mutex_lock(&reg_lock);
	if (users > 0 && --users == 0) {
		OSSL_PROVIDER_unload(prov_hsmtls);
		OSSL_PROVIDER_unload(prov_default);
		prov_hsmtls = prov_default = NULL;
	}
	pthread_mutex_unlock(&reg_lock);
}

/* The provider's import takes the reference; the public parts come with it. */
int
hk_key_make_pkey(struct hk_key *k)
{
	const char *type = k->type == EVP_PKEY_RSA ? "RSA" : "EC";
	struct hk_key *ref = k;
	OSSL_PARAM params[] = {
		OSSL_PARAM_octet_string(HK_PARAM_KEY_REF, &ref, sizeof(ref)),
		OSSL_PARAM_END
	};
	EVP_PKEY_CTX *ctx;
	int ok;

	ctx = EVP_PKEY_CTX_new_from_name(NULL, type,
	    "provider=" HK_PROVIDER_NAME);
	ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) > 0 &&
	    EVP_PKEY_fromdata(ctx, &k->pkey, EVP_PKEY_KEYPAIR, params) > 0;
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}
