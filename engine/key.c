/*
 * key.c - the key object every layer shares: made by the token layer (or
 * by the key daemon client's OPEN), read by the provider.
 */
#include "config.h"

#include <stdlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "hk_key.h"

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
	OPENSSL_free(k->spki);
	k->magic = 0;
	free(k);
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
