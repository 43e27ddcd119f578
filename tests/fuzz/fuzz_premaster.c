/*
 * fuzz_premaster.c - the TLS 1.2 RSA pre-master check
 * (engine/rsa_kx.c), against a plain reference written from RFC 5246
 * 7.4.7.1 and RFC 8017 7.2.2: the constant-time code must pick the
 * block's secret exactly when the reference says the block is valid, and
 * the random secret otherwise.
 *
 * Input: 1 byte of flags (bit 0: the rollback workaround's alt_version is
 * set), 2 bytes of client_version, then the raw RSA block (its length is
 * the modulus size).  Most random blocks are invalid, so the seed corpus
 * holds valid ones and near misses for the fuzzer to mutate.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "hk_rsa_kx.h"

#define PMS HK_TLS_PREMASTER_LEN

/* 1 when em is 00 02 PS(>= 8 non-zero) 00 then 48 bytes starting with a
 * version the server takes. */
static int
reference_valid(const unsigned char *em, size_t k, unsigned cv, unsigned alt)
{
	size_t i;

	if (k < PMS + 11 || em[0] != 0x00 || em[1] != 0x02)
		return 0;
	for (i = 2; i < k && em[i] != 0; i++)
		;
	if (i == k || i < 10 || k - i - 1 != PMS)
		return 0;
	i++;
	if (em[i] == ((cv >> 8) & 0xff) && em[i + 1] == (cv & 0xff))
		return 1;
	return alt != 0 && em[i] == ((alt >> 8) & 0xff) &&
	    em[i + 1] == (alt & 0xff);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char rnd[PMS], out[PMS];
	unsigned cv, alt;
	const unsigned char *em;
	size_t k, i;
	int rc, valid;

	if (size < 3)
		return 0;
	cv = (unsigned)data[1] << 8 | data[2];
	alt = (data[0] & 1) ? 0x0301 : 0;
	em = data + 3;
	k = size - 3;
	for (i = 0; i < PMS; i++)
		rnd[i] = (unsigned char)(0xa5 ^ i);
	memset(out, 0, sizeof(out));
	rc = hk_tls_premaster(em, k, cv, alt, rnd, out);
	if (k < PMS + 11) {
		if (rc != -1)
			fuzz_fail("a %zu-byte block was taken", k);
		return 0;
	}
	if (rc != 0)
		fuzz_fail("hk_tls_premaster failed on a %zu-byte block", k);
	valid = reference_valid(em, k, cv, alt);
	if (memcmp(out, valid ? em + k - PMS : rnd, PMS) != 0)
		fuzz_fail("the reference judges the block %s, the constant-time "
		    "check does not", valid ? "valid" : "invalid");
	return 0;
}
