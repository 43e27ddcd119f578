/* prov.h - what the hsmtls provider's files share. */
#ifndef HK_PROV_H
#define HK_PROV_H

#include <openssl/core_dispatch.h>
#include "hk_internal.h"

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

#endif
