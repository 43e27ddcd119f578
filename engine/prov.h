/*
 * prov.h - what the hsmtls provider's files share.  The provider knows
 * keys (hk_key.h) and the transport (hk_xport.h), nothing of the token
 * layer or of PKCS#11.
 */
#ifndef HK_PROV_H
#define HK_PROV_H

#include <openssl/core_dispatch.h>
#include "hk_key.h"
#include "hk_xport.h"

#define HK_PROVIDER_NAME "hsmtls"
#define HK_PARAM_KEY_REF "hsmtls-key-ref"

/* Key data behind an EVP_PKEY of the hsmtls provider. */
struct hk_pkey {
	int type;                   /* EVP_PKEY_RSA or EVP_PKEY_EC */
	EVP_PKEY *pub;              /* public key in the default provider */
	const struct hk_key *key;   /* the token key; NULL: public only */
};

extern const OSSL_DISPATCH hk_rsa_keymgmt[];
extern const OSSL_DISPATCH hk_ec_keymgmt[];
extern const OSSL_DISPATCH hk_rsa_signature[];
extern const OSSL_DISPATCH hk_ecdsa_signature[];
extern const OSSL_DISPATCH hk_rsa_asym_cipher[];

/* provider.c */
int hk_provider_register(void);
void hk_provider_unregister(void);
/* k->pkey: an EVP_PKEY of this provider holding a reference to k. */
int hk_key_make_pkey(struct hk_key *k);

#endif
