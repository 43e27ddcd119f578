/*
 * pss.c - EMSA-PSS encoding (RFC 8017 9.1.1) for tokens that sign with raw
 * RSA (CKM_RSA_X_509) but not CKM_RSA_PKCS_PSS: the block is built here and
 * the token applies the private key to it.  MGF1 uses the message digest.
 */
#include "config.h"

#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "hk_key.h"

static int
mgf1_xor(unsigned char *out, size_t len, const unsigned char *seed,
    size_t seedlen, const EVP_MD *md)
{
	unsigned char c[4], h[EVP_MAX_MD_SIZE];
	unsigned int hlen, i;
	uint32_t counter;
	size_t done = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL;

	for (counter = 0; ok && done < len; counter++) {
		c[0] = (unsigned char)(counter >> 24);
		c[1] = (unsigned char)(counter >> 16);
		c[2] = (unsigned char)(counter >> 8);
		c[3] = (unsigned char)counter;
		ok = EVP_DigestInit_ex2(ctx, md, NULL) &&
		    EVP_DigestUpdate(ctx, seed, seedlen) &&
		    EVP_DigestUpdate(ctx, c, 4) &&
		    EVP_DigestFinal_ex(ctx, h, &hlen);
		for (i = 0; ok && i < hlen && done < len; i++)
			out[done++] ^= h[i];
	}
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

/*
 * Encode mhash (the message digest) for a modbits-bit modulus into the
 * k-byte block the token's raw RSA takes: leading zero bytes, then EM.
 */
int
hk_pss_encode(unsigned char *block, size_t k, int modbits, const EVP_MD *md,
    const unsigned char *mhash, int saltlen)
{
	size_t embits = (size_t)modbits - 1, emlen = (embits + 7) / 8;
	size_t hlen = (size_t)EVP_MD_get_size(md), dblen, slen = (size_t)saltlen;
	unsigned char *em = block + (k - emlen), *db, *h, salt[EVP_MAX_MD_SIZE * 2];
	static const unsigned char zeros[8];
	EVP_MD_CTX *ctx;
	unsigned int outlen;
	int ok;

	if (saltlen < 0 || emlen > k || emlen < hlen + slen + 2 ||
	    slen > sizeof(salt) || (slen > 0 && RAND_bytes(salt, (int)slen) != 1))
		return -1;
	memset(block, 0, k);
	dblen = emlen - hlen - 1;
	db = em;
	h = em + dblen;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex2(ctx, md, NULL) &&
	    EVP_DigestUpdate(ctx, zeros, sizeof(zeros)) &&
	    EVP_DigestUpdate(ctx, mhash, hlen) &&
	    EVP_DigestUpdate(ctx, salt, slen) &&
	    EVP_DigestFinal_ex(ctx, h, &outlen);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	/* DB = PS (zeros, already) || 0x01 || salt, then masked. */
	db[dblen - slen - 1] = 0x01;
	memcpy(db + dblen - slen, salt, slen);
	if (mgf1_xor(db, dblen, h, hlen, md) != 0)
		return -1;
	db[0] &= (unsigned char)(0xff >> (8 * emlen - embits));
	em[emlen - 1] = 0xbc;
	OPENSSL_cleanse(salt, sizeof(salt));
	return 0;
}
