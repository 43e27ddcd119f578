/*
 * rsa_kx.c - the TLS 1.2 RSA pre-master secret check, in constant time.
 *
 * RFC 5246 7.4.7.1: whatever is wrong with the decrypted block (PKCS#1
 * v1.5 type 2 framing, length, client version), the server goes on with a
 * random pre-master secret and lets the Finished check fail.  Nothing here
 * branches, indexes memory or returns differently on the block's content:
 * the only inputs that steer control flow are the modulus size and whether
 * the rollback workaround is on, both public.  The token only ever does
 * raw RSA (CKM_RSA_X_509), so it cannot be a padding oracle either.
 */
#include "config.h"

#include <stddef.h>
#include "hk_rsa_kx.h"

#define PMS_LEN HK_TLS_PREMASTER_LEN

/* Masks are all ones (true) or all zeros (false).  The empty asm keeps the
 * compiler from turning a mask back into a branch. */
static inline size_t
barrier(size_t x)
{
	__asm__("" : "+r"(x));
	return x;
}

static inline size_t
ct_msb(size_t a)
{
	return 0 - (a >> (sizeof(a) * 8 - 1));
}

static inline size_t
ct_is_zero(size_t a)
{
	return ct_msb(~a & (a - 1));
}

static inline size_t
ct_eq(size_t a, size_t b)
{
	return ct_is_zero(a ^ b);
}

static inline size_t
ct_lt(size_t a, size_t b)
{
	return ct_msb(a ^ ((a ^ b) | ((a - b) ^ b)));
}

static inline size_t
ct_select(size_t mask, size_t a, size_t b)
{
	mask = barrier(mask);
	return (mask & a) | (~mask & b);
}

int
hk_tls_premaster(const unsigned char *em, size_t k, unsigned client_version,
    unsigned alt_version, const unsigned char rnd[PMS_LEN],
    unsigned char out[PMS_LEN])
{
	size_t good, found = 0, zero_index = 0, is0, version, m, i;

	/* 2 framing bytes, at least 8 padding bytes, a zero, the secret. */
	if (k < PMS_LEN + 11)
		return -1;
	good = ct_eq(em[0], 0x00) & ct_eq(em[1], 0x02);
	for (i = 2; i < k; i++) {
		is0 = ct_eq(em[i], 0);
		zero_index = ct_select(~found & is0, i, zero_index);
		found |= is0;
	}
	good &= found;
	good &= ~ct_lt(zero_index, 2 + 8);
	good &= ct_eq(k - zero_index - 1, PMS_LEN);
	/* A valid secret can only sit in the last 48 bytes. */
	m = k - PMS_LEN;
	version = ct_eq(em[m], (client_version >> 8) & 0xff) &
	    ct_eq(em[m + 1], client_version & 0xff);
	if (alt_version != 0)   /* public: the rollback-bug workaround is on */
		version |= ct_eq(em[m], (alt_version >> 8) & 0xff) &
		    ct_eq(em[m + 1], alt_version & 0xff);
	good &= version;
	for (i = 0; i < PMS_LEN; i++)
		out[i] = (unsigned char)ct_select(good, em[m + i], rnd[i]);
	return 0;
}
