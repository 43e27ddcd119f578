/* Unit tests of the constant-time TLS pre-master check (engine/rsa_kx.c). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "hk_rsa_kx.h"

#define K 256   /* RSA-2048 */

enum fault {
	VALID,
	FIRST_BYTE,     /* em[0] != 0 */
	BLOCK_TYPE,     /* type 1 (signature) instead of 2 */
	NO_SEPARATOR,   /* padding runs to the end */
	ZERO_IN_PAD,    /* a zero inside the first 8 padding bytes */
	LONG_MESSAGE,   /* separator early: 49+ byte message */
	SHORT_MESSAGE,  /* separator late: 47-byte message */
	VERSION_LOW,    /* message starts with 3,1 for a 3,3 client */
	VERSION_MAJOR,  /* message starts with 2,3 */
};

struct kx_case {
	const char *name;
	enum fault fault;
	unsigned client_version;
	unsigned alt_version;   /* negotiated version (rollback workaround) */
	unsigned char msg_version[2];
	int want_valid;
};

static const struct kx_case cases[] = {
	{ "valid TLS 1.2", VALID, 0x0303, 0, { 3, 3 }, 1 },
	{ "valid TLS 1.0", VALID, 0x0301, 0, { 3, 1 }, 1 },
	{ "first byte not zero", FIRST_BYTE, 0x0303, 0, { 3, 3 }, 0 },
	{ "block type 1", BLOCK_TYPE, 0x0303, 0, { 3, 3 }, 0 },
	{ "no zero separator", NO_SEPARATOR, 0x0303, 0, { 3, 3 }, 0 },
	{ "zero in first 8 padding bytes", ZERO_IN_PAD, 0x0303, 0, { 3, 3 },
	    0 },
	{ "message too long", LONG_MESSAGE, 0x0303, 0, { 3, 3 }, 0 },
	{ "message too short", SHORT_MESSAGE, 0x0303, 0, { 3, 3 }, 0 },
	{ "version below client's", VERSION_LOW, 0x0303, 0, { 3, 1 }, 0 },
	{ "wrong major version", VERSION_MAJOR, 0x0303, 0, { 2, 3 }, 0 },
	/* OpenSSL's SSL_OP_TLS_ROLLBACK_BUG: the negotiated version is also
	 * accepted, and only then. */
	{ "negotiated version, workaround on", VERSION_LOW, 0x0303, 0x0301,
	    { 3, 1 }, 1 },
	{ "other version, workaround on", VERSION_LOW, 0x0303, 0x0302,
	    { 3, 1 }, 0 },
};

static void
make_block(const struct kx_case *c, unsigned char em[K],
    unsigned char msg[HK_TLS_PREMASTER_LEN])
{
	size_t i, sep = K - HK_TLS_PREMASTER_LEN - 1;

	for (i = 0; i < HK_TLS_PREMASTER_LEN; i++)
		msg[i] = (unsigned char)(0xa0 + i);
	msg[0] = c->msg_version[0];
	msg[1] = c->msg_version[1];
	em[0] = 0x00;
	em[1] = 0x02;
	for (i = 2; i < K; i++)
		em[i] = (unsigned char)(1 + (i * 7) % 255);  /* nonzero */
	if (c->fault == LONG_MESSAGE)
		sep -= 5;
	if (c->fault == SHORT_MESSAGE)
		sep += 1;
	if (c->fault != NO_SEPARATOR)
		em[sep] = 0x00;
	memcpy(em + K - HK_TLS_PREMASTER_LEN, msg, HK_TLS_PREMASTER_LEN);
	if (c->fault == NO_SEPARATOR)
		em[K - HK_TLS_PREMASTER_LEN - 1] = 0x55;
	if (c->fault == FIRST_BYTE)
		em[0] = 0x01;
	if (c->fault == BLOCK_TYPE)
		em[1] = 0x01;
	if (c->fault == ZERO_IN_PAD)
		em[5] = 0x00;
}

/* Test: every block gives 48 bytes and success; bad ones the substitute. */
static void
test_kx_table(void **state)
{
	unsigned char em[K], msg[HK_TLS_PREMASTER_LEN];
	unsigned char rnd[HK_TLS_PREMASTER_LEN], out[HK_TLS_PREMASTER_LEN];
	size_t i;
	int rc;

	memset(rnd, 0x5a, sizeof(rnd));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct kx_case *c = &cases[i];

		make_block(c, em, msg);
		memset(out, 0, sizeof(out));
		rc = hk_tls_premaster(em, K, c->client_version, c->alt_version,
		    rnd, out);
		if (rc != 0)
			fail_msg("%s: got rc %d, want 0", c->name, rc);
		if (memcmp(out, c->want_valid ? msg : rnd, sizeof(out)) != 0)
			fail_msg("%s: got the %s, want the %s", c->name,
			    c->want_valid ? "substitute" : "decrypted secret",
			    c->want_valid ? "decrypted secret" : "substitute");
	}
}

/* Test: a modulus too small for any secret is refused (public fact). */
static void
test_kx_small_modulus(void **state)
{
	unsigned char em[58] = { 0 }, rnd[48] = { 0 }, out[48];

	assert_int_equal(hk_tls_premaster(em, sizeof(em), 0x0303, 0, rnd, out),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kx_table),
		cmocka_unit_test(test_kx_small_modulus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
