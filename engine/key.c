/*
 * key.c - a private key on the token as OpenSSL sees it: an EVP_PKEY of
 * the hsmtls provider holding the public key and a reference to this
 * struct, and the signing entry point the provider calls.
 */
#include "config.h"

#include <stdlib.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <string.h>
#include <openssl/rand.h>
#include "hk_internal.h"
#include "hk_rsa_kx.h"

#define MAX_MODULUS 1024    /* bytes: 8192-bit RSA */

struct hk_key *
hk_key_new(void)
{
	struct hk_key *k = calloc(1, sizeof(*k));

	if (k != NULL)
		k->magic = HK_KEY_MAGIC;
	return k;
}

void
hk_key_free(struct hk_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	EVP_PKEY_free(k->pub);
	free(k->id);
	free(k->label);
	free(k->uri);
	k->magic = 0;
	free(k);
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

int
hk_key_sign(const struct hk_key *k, enum hk_mech mech, int md_nid,
    int saltlen, const unsigned char *dgst, size_t dlen,
    unsigned char *sig, size_t *siglen)
{
	char err[HK_ERRLEN];
	struct hk_engine *e = k->e;

	if (hk_p11_sign(e->p11, k, mech, md_nid, saltlen, dgst, dlen, sig,
	    siglen, err, sizeof(err)) != 0) {
		atomic_fetch_add(&e->sign_failed, 1);
		ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "%s", err);
		return -1;
	}
	atomic_fetch_add(&e->sign_ok, 1);
	return 0;
}

EVP_PKEY *
hk_key_pkey(const struct hk_key *k)
{
	return k->pkey;
}

const char *
hk_key_uri(const struct hk_key *k)
{
	return k->uri;
}

/*
 * The random substitute is drawn first, the token's result is judged in
 * constant time, and the two are merged without a branch.  A ciphertext the
 * token rejects as data (wrong length, not below the modulus) is judged as
 * an all-zero block, i.e. replaced too: only a failure of the token itself
 * (session, device) fails the handshake, and that does not depend on the
 * padding.  No log line is written on this path.
 */
int
hk_key_decrypt_premaster(const struct hk_key *k, const unsigned char *in,
    size_t inlen, unsigned client_version, unsigned alt_version,
    unsigned char out[HK_TLS_PREMASTER_LEN])
{
	unsigned char rnd[HK_TLS_PREMASTER_LEN], em[MAX_MODULUS];
	int klen = EVP_PKEY_get_size(k->pub);
	unsigned long rv;
	int rc = -1;

	if (klen <= 0 || klen > MAX_MODULUS ||
	    RAND_priv_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	rv = hk_p11_decrypt_raw(k->e->p11, k, in, inlen, em, (size_t)klen);
	if (hk_p11_rv_is_data_error(rv)) {
		memset(em, 0, (size_t)klen);
		rv = 0;
	}
	if (rv == 0)
		rc = hk_tls_premaster(em, (size_t)klen, client_version,
		    alt_version, rnd, out);
	if (rc == 0)
		atomic_fetch_add(&k->e->decrypt_ok, 1);
	else
		atomic_fetch_add(&k->e->decrypt_failed, 1);
	OPENSSL_cleanse(em, sizeof(em));
	OPENSSL_cleanse(rnd, sizeof(rnd));
	if (rc != 0)
		ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
		    "hsmtls: token decryption failed");
	return rc;
}
