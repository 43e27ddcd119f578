/*
 * keyop.c - key operations for a caller with its own event loop (the key
 * daemon): the same worker pool, deadlines and counters as the provider's
 * operations, but started and collected without an OpenSSL async job.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "hk_ckr.h"
#include "hk_internal.h"
#include "hk_token.h"

struct hk_pending {
	struct hk_op *op;
	struct hk_key *k;
	enum hk_keyop count_as;
	int decrypt;
	int counted;
};

void
hk_key_get_info(const struct hk_key *k, struct hk_key_info *info)
{
	memset(info, 0, sizeof(*info));
	info->type = k->type;
	info->bits = EVP_PKEY_get_bits(k->pub);
	info->rsa_kx = k->rsa_kx;
	info->pss_on_token = k->type == EVP_PKEY_RSA && k->pss == HK_PSS_TOKEN;
}

EVP_PKEY *
hk_key_public(const struct hk_key *k)
{
	return k->pub;
}

/* DigestInfo(hash OID, digest), as the provider builds it for CKM_RSA_PKCS. */
static int
digest_info(int nid, const unsigned char *d, size_t dlen, unsigned char *out,
    size_t size)
{
	X509_SIG *xs = X509_SIG_new();
	X509_ALGOR *alg;
	ASN1_OCTET_STRING *os;
	unsigned char *q = out;
	int len = -1;

	if (xs == NULL)
		return -1;
	X509_SIG_getm(xs, &alg, &os);
	if (X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_NULL, NULL) &&
	    ASN1_OCTET_STRING_set(os, d, (int)dlen) &&
	    i2d_X509_SIG(xs, NULL) <= (int)size)
		len = i2d_X509_SIG(xs, &q);
	X509_SIG_free(xs);
	return len;
}

static int
submit(struct hk_key *k, struct hk_op *op, enum hk_keyop count_as,
    int decrypt, struct hk_pending **out, char *err, size_t errlen)
{
	struct hk_pending *ko = calloc(1, sizeof(*ko));

	if (ko == NULL) {
		hk_op_release(op);
		hk_op_release(op);
		hk_fmterr(err, errlen, "out of memory");
		return HK_KEYOP_BUSY;
	}
	if (hk_pool_submit(k->e->pool, op) != 0) {
		hk_op_release(op);      /* the pool's reference */
		hk_op_release(op);      /* ours */
		free(ko);
		hk_keyop_count(&k->ops, count_as, 0);
		if (decrypt)
			atomic_fetch_add(&k->e->xport.decrypt_failed, 1);
		else
			atomic_fetch_add(&k->e->xport.sign_failed, 1);
		hk_fmterr(err, errlen, "key-operation queue full");
		return HK_KEYOP_BUSY;
	}
	ko->op = op;
	ko->k = k;
	ko->count_as = count_as;
	ko->decrypt = decrypt;
	*out = ko;
	return HK_KEYOP_OK;
}

static struct hk_op *
new_op(struct hk_key *k, int efd, char *err, size_t errlen)
{
	struct hk_op *op;

	if (k->e->pool == NULL) {
		hk_fmterr(err, errlen, "the key's token is not open");
		return NULL;
	}
	if ((op = hk_op_new(efd, k->e->pool_cfg.deadline_ms)) == NULL) {
		hk_fmterr(err, errlen, "out of memory");
		return NULL;
	}
	op->key = k;
	return op;
}

/*
 * What the token is given for a signature: the block (digest, DigestInfo,
 * or a PSS-encoded block when the token lacks PSS), its mechanism and
 * how it is counted.  HK_KEYOP_OK, or a status with err set.
 */
static int
sign_block(struct hk_key *k, enum hk_sign_mech mech, int md_nid, int saltlen,
    const unsigned char *in, size_t inlen, unsigned char block[HK_OP_BUF],
    size_t *blenp, enum hk_mech *mp, enum hk_keyop *count_asp, char *err,
    size_t errlen)
{
	size_t modlen = (size_t)EVP_PKEY_get_size(k->pub), blen = 0;
	int bits = EVP_PKEY_get_bits(k->pub), hlen, n;
	const EVP_MD *md = NULL;

	if ((mech == HK_SIGN_ECDSA) != (k->type == EVP_PKEY_EC)) {
		hk_fmterr(err, errlen, "mechanism does not fit a%s key",
		    k->type == EVP_PKEY_EC ? "n EC" : "n RSA");
		return HK_KEYOP_NOT_ALLOWED;
	}
	if (md_nid != NID_undef &&
	    ((md = EVP_get_digestbynid(md_nid)) == NULL ||
	    (size_t)EVP_MD_get_size(md) != inlen)) {
		hk_fmterr(err, errlen, "digest length does not fit its hash");
		return HK_KEYOP_INVALID;
	}
	if (inlen == 0 || inlen > HK_OP_BUF || modlen > HK_OP_BUF) {
		hk_fmterr(err, errlen, "input size out of range");
		return HK_KEYOP_INVALID;
	}
	switch (mech) {
	case HK_SIGN_ECDSA:
		*mp = HK_MECH_ECDSA;
		*count_asp = HK_KEYOP_ECDSA;
		memcpy(block, in, inlen);
		blen = inlen;
		break;
	case HK_SIGN_RSA_PKCS:
		*mp = HK_MECH_RSA_PKCS;
		*count_asp = HK_KEYOP_RSA_PKCS;
		if (md == NULL) {
			memcpy(block, in, inlen);
			blen = inlen;
		} else if ((n = digest_info(md_nid, in, inlen, block,
		    HK_OP_BUF)) > 0) {
			blen = (size_t)n;
		}
		if (blen == 0 || blen + 11 > modlen) {
			hk_fmterr(err, errlen, "input too long for PKCS#1");
			return HK_KEYOP_INVALID;
		}
		break;
	case HK_SIGN_RSA_PSS:
	default:
		hlen = md != NULL ? EVP_MD_get_size(md) : 0;
		if (md == NULL || saltlen < 0 ||
		    saltlen > (bits - 1 + 7) / 8 - hlen - 2) {
			hk_fmterr(err, errlen, "RSA-PSS digest or salt length "
			    "out of range");
			return HK_KEYOP_INVALID;
		}
		if (k->pss == HK_PSS_TOKEN) {
			*mp = HK_MECH_RSA_PSS;
			*count_asp = HK_KEYOP_RSA_PSS;
			memcpy(block, in, inlen);
			blen = inlen;
		} else {
			*mp = HK_MECH_RSA_RAW;
			*count_asp = HK_KEYOP_RSA_PSS_RAW;
			blen = modlen;
			if (hk_pss_encode(block, modlen, bits, md, in,
			    saltlen) != 0) {
				hk_fmterr(err, errlen, "RSA-PSS encoding failed");
				return HK_KEYOP_INVALID;
			}
		}
		break;
	}
	*blenp = blen;
	return HK_KEYOP_OK;
}

int
hk_keyop_sign(struct hk_key *k, enum hk_sign_mech mech, int md_nid,
    int saltlen, const unsigned char *in, size_t inlen, int efd,
    struct hk_pending **out, char *err, size_t errlen)
{
	unsigned char block[HK_OP_BUF];
	enum hk_keyop count_as;
	enum hk_mech m;
	struct hk_op *op;
	size_t blen;
	int rc;

	*out = NULL;
	if ((rc = sign_block(k, mech, md_nid, saltlen, in, inlen, block, &blen,
	    &m, &count_as, err, errlen)) != HK_KEYOP_OK)
		return rc;
	if ((op = new_op(k, efd, err, errlen)) == NULL) {
		OPENSSL_cleanse(block, sizeof(block));
		return HK_KEYOP_BUSY;
	}
	op->kind = HK_OP_SIGN;
	op->mech = m;
	op->md_nid = md_nid;
	op->saltlen = saltlen;
	memcpy(op->in, block, blen);
	op->inlen = blen;
	OPENSSL_cleanse(block, sizeof(block));
	return submit(k, op, count_as, 0, out, err, errlen);
}

int
hk_keyop_decrypt_raw(struct hk_key *k, const unsigned char *in, size_t inlen,
    int efd, struct hk_pending **out, char *err, size_t errlen)
{
	size_t modlen = (size_t)EVP_PKEY_get_size(k->pub);
	struct hk_op *op;

	*out = NULL;
	if (k->type != EVP_PKEY_RSA || !k->rsa_kx) {
		hk_fmterr(err, errlen, "RSA key exchange is not enabled for "
		    "this key");
		return HK_KEYOP_NOT_ALLOWED;
	}
	if (inlen != modlen || modlen > HK_OP_BUF) {
		hk_fmterr(err, errlen, "ciphertext of %zu bytes for a "
		    "%zu-byte modulus", inlen, modlen);
		return HK_KEYOP_DATA;
	}
	if ((op = new_op(k, efd, err, errlen)) == NULL)
		return HK_KEYOP_BUSY;
	op->kind = HK_OP_DECRYPT_RAW;
	op->modlen = modlen;
	memcpy(op->in, in, inlen);
	op->inlen = inlen;
	return submit(k, op, HK_KEYOP_RSA_DECRYPT_RAW, 1, out, err, errlen);
}

static void
count(struct hk_pending *ko, int ok)
{
	struct hk_engine *e = ko->k->e;

	if (ko->counted)
		return;
	ko->counted = 1;
	hk_keyop_count(&ko->k->ops, ko->count_as, ok);
	if (ko->decrypt)
		atomic_fetch_add(ok ? &e->xport.decrypt_ok : &e->xport.decrypt_failed, 1);
	else
		atomic_fetch_add(ok ? &e->xport.sign_ok : &e->xport.sign_failed, 1);
}

int
hk_keyop_result(struct hk_pending *ko, unsigned char *out, size_t *outlen,
    char *err, size_t errlen)
{
	struct hk_op *op = ko->op;
	int state = atomic_load(&op->state);

	if (state != HK_OP_DONE) {
		if (!atomic_load(&op->expired))
			return HK_KEYOP_PENDING;
		hk_op_abandon(op);
		if (atomic_load(&op->state) != HK_OP_DONE) {
			count(ko, 0);
			hk_fmterr(err, errlen, "key operation timed out");
			return HK_KEYOP_TIMEOUT;
		}
	}
	if (ko->decrypt && op->rv != 0) {
		int data = hk_ckr_is_data_error(op->rv);

		/* Raw RSA judges no padding: only the number's range. */
		count(ko, data);
		hk_fmterr(err, errlen, data ? "ciphertext rejected by the "
		    "token" : "token decryption failed");
		return data ? HK_KEYOP_DATA : HK_KEYOP_TOKEN;
	}
	if (!ko->decrypt && op->rc != 0) {
		count(ko, 0);
		hk_fmterr(err, errlen, "%s", op->err);
		return HK_KEYOP_TOKEN;
	}
	if (op->outlen > *outlen) {
		count(ko, 0);
		hk_fmterr(err, errlen, "result larger than the buffer");
		return HK_KEYOP_INVALID;
	}
	memcpy(out, op->out, op->outlen);
	*outlen = op->outlen;
	count(ko, 1);
	return HK_KEYOP_OK;
}

void
hk_keyop_free(struct hk_pending *ko)
{
	if (ko == NULL)
		return;
	hk_op_abandon(ko->op);
	hk_op_release(ko->op);
	free(ko);
}

/*
 * The same operations on the caller's thread, for a caller that has
 * threads of its own to block (the key daemon's request threads): no
 * hand-off to a pool worker and back.  At most the pool's worker count
 * run at once on one token, so a token's session limit holds; past it
 * HK_KEYOP_BUSY, nothing counted, and the caller uses the pool instead.
 * No deadline here: the caller watches the time itself.
 */
static int
now_enter(struct hk_engine *e, char *err, size_t errlen)
{
	if (e->xport.ops == NULL || e->pool == NULL) {
		hk_fmterr(err, errlen, "the key's token is not open");
		return -1;
	}
	if (atomic_fetch_add(&e->now_busy, 1) >= e->pool_cfg.threads) {
		atomic_fetch_sub(&e->now_busy, 1);
		hk_fmterr(err, errlen, "every token session is in use");
		return -1;
	}
	return 0;
}

int
hk_keyop_sign_now(struct hk_key *k, enum hk_sign_mech mech, int md_nid,
    int saltlen, const unsigned char *in, size_t inlen, unsigned char *out,
    size_t *outlen, char *err, size_t errlen)
{
	unsigned char block[HK_OP_BUF], sig[HK_OP_BUF];
	struct hk_engine *e = k->e;
	enum hk_keyop count_as;
	size_t blen, siglen = sizeof(sig);
	enum hk_mech m;
	int rc;

	if ((rc = sign_block(k, mech, md_nid, saltlen, in, inlen, block, &blen,
	    &m, &count_as, err, errlen)) != HK_KEYOP_OK)
		return rc;
	if (now_enter(e, err, errlen) != 0) {
		OPENSSL_cleanse(block, sizeof(block));
		return HK_KEYOP_BUSY;
	}
	rc = e->xport.ops->sign(e->xport.arg, k, m, md_nid, saltlen, block,
	    blen, sig, &siglen, err, errlen);
	atomic_fetch_sub(&e->now_busy, 1);
	OPENSSL_cleanse(block, sizeof(block));
	if (rc == 0 && siglen > *outlen) {
		hk_fmterr(err, errlen, "result larger than the buffer");
		rc = -1;
	}
	hk_keyop_count(&k->ops, count_as, rc == 0);
	atomic_fetch_add(rc == 0 ? &e->xport.sign_ok : &e->xport.sign_failed, 1);
	if (rc != 0) {
		OPENSSL_cleanse(sig, sizeof(sig));
		return HK_KEYOP_TOKEN;
	}
	memcpy(out, sig, siglen);
	*outlen = siglen;
	OPENSSL_cleanse(sig, sizeof(sig));
	return HK_KEYOP_OK;
}

int
hk_keyop_decrypt_raw_now(struct hk_key *k, const unsigned char *in,
    size_t inlen, unsigned char *out, size_t *outlen, char *err,
    size_t errlen)
{
	size_t modlen = (size_t)EVP_PKEY_get_size(k->pub);
	struct hk_engine *e = k->e;
	unsigned long rv;
	int data;

	if (k->type != EVP_PKEY_RSA || !k->rsa_kx) {
		hk_fmterr(err, errlen, "RSA key exchange is not enabled for "
		    "this key");
		return HK_KEYOP_NOT_ALLOWED;
	}
	if (inlen != modlen || modlen > HK_OP_BUF || *outlen < modlen) {
		hk_fmterr(err, errlen, "ciphertext of %zu bytes for a "
		    "%zu-byte modulus", inlen, modlen);
		return HK_KEYOP_DATA;
	}
	if (now_enter(e, err, errlen) != 0)
		return HK_KEYOP_BUSY;
	rv = e->xport.ops->decrypt_raw(e->xport.arg, k, in, inlen, out,
	    modlen);
	atomic_fetch_sub(&e->now_busy, 1);
	/* Raw RSA judges no padding: only the number's range. */
	data = rv != 0 && hk_ckr_is_data_error(rv);
	hk_keyop_count(&k->ops, HK_KEYOP_RSA_DECRYPT_RAW, rv == 0 || data);
	atomic_fetch_add(rv == 0 || data ? &e->xport.decrypt_ok :
	    &e->xport.decrypt_failed, 1);
	if (rv != 0) {
		OPENSSL_cleanse(out, modlen);
		hk_fmterr(err, errlen, data ? "ciphertext rejected by the "
		    "token" : "token decryption failed");
		return data ? HK_KEYOP_DATA : HK_KEYOP_TOKEN;
	}
	*outlen = modlen;
	return HK_KEYOP_OK;
}

unsigned
hk_key_deadline_ms(const struct hk_key *k)
{
	return k->e->pool_cfg.deadline_ms;
}

void
hk_keyop_expired_now(struct hk_key *k)
{
	atomic_fetch_add(&k->e->now_expired, 1);
}
