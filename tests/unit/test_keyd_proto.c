/* Unit tests of the key daemon's wire protocol (engine/keyd_proto.c). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "hk_keyd_proto.h"

static unsigned char buf[HK_KEYD_MAX_MSG + 64];

static size_t
enc(const struct hk_keyd_msg *m)
{
	size_t n = hk_keyd_encode(buf, sizeof(buf), m);

	assert_true(n >= HK_KEYD_HDR_LEN);
	return n;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void
test_open_round_trip(void **state)
{
	static const char uri[] = "pkcs11:token=web;object=key;type=private";
	static const unsigned char spki[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
	struct hk_keyd_msg m, d;
	size_t n;

	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_OPEN;
	m.id = 0x01020304;
	m.uri = (const unsigned char *)uri;
	m.urilen = strlen(uri);
	m.spki = spki;
	m.spkilen = sizeof(spki);
	n = enc(&m);
	assert_int_equal(n, HK_KEYD_HDR_LEN + 2 + strlen(uri) + 2 + sizeof(spki));
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[1], HK_KEYD_OPEN);
	assert_memory_equal(buf + 4, "\x01\x02\x03\x04", 4);
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_OK);
	assert_int_equal(d.id, 0x01020304);
	assert_int_equal(d.urilen, strlen(uri));
	assert_memory_equal(d.uri, uri, d.urilen);
	assert_int_equal(d.spkilen, sizeof(spki));
	assert_memory_equal(d.spki, spki, sizeof(spki));

	/* The reply. */
	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_OPEN | HK_KEYD_REPLY;
	m.id = 7;
	m.key = 3;
	m.keytype = HK_KEYD_KEY_RSA;
	m.caps = HK_KEYD_CAP_RSA_KX | HK_KEYD_CAP_PSS_TOKEN;
	m.bits = 2048;
	m.spki = spki;
	m.spkilen = sizeof(spki);
	n = enc(&m);
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_OK);
	assert_int_equal(d.key, 3);
	assert_int_equal(d.keytype, HK_KEYD_KEY_RSA);
	assert_int_equal(d.caps, 3);
	assert_int_equal(d.bits, 2048);
}

static void
test_sign_and_decrypt_round_trip(void **state)
{
	unsigned char dg[48], ct[256];
	struct hk_keyd_msg m, d;
	size_t n;

	memset(dg, 0xab, sizeof(dg));
	memset(ct, 0x5a, sizeof(ct));
	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_SIGN;
	m.id = 99;
	m.key = 1;
	m.mech = HK_KEYD_MECH_RSA_PSS;
	m.hash = HK_KEYD_HASH_SHA384;
	m.saltlen = 48;
	m.data = dg;
	m.datalen = sizeof(dg);
	n = enc(&m);
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_OK);
	assert_int_equal(d.mech, HK_KEYD_MECH_RSA_PSS);
	assert_int_equal(d.hash, HK_KEYD_HASH_SHA384);
	assert_int_equal(d.saltlen, 48);
	assert_int_equal(d.datalen, sizeof(dg));
	assert_memory_equal(d.data, dg, sizeof(dg));

	m.type = HK_KEYD_DECRYPT_RAW;
	m.data = ct;
	m.datalen = sizeof(ct);
	n = enc(&m);
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_OK);
	assert_int_equal(d.datalen, sizeof(ct));
	assert_int_equal(d.key, 1);

	m.type = HK_KEYD_SIGN | HK_KEYD_REPLY;
	n = enc(&m);
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_OK);
	assert_memory_equal(d.data, ct, sizeof(ct));

	/* Hash numbers map to NIDs and back. */
	assert_int_equal(hk_keyd_hash_from_nid(hk_keyd_hash_nid(
	    HK_KEYD_HASH_SHA256)), HK_KEYD_HASH_SHA256);
	assert_int_equal(hk_keyd_hash_nid(9), -1);
}

static void
test_health_and_error_round_trip(void **state)
{
	struct hk_keyd_token t[2], got;
	struct hk_keyd_msg m, d;
	size_t n;
	int i;

	memset(t, 0, sizeof(t));
	t[0].label = "web";
	t[0].labellen = 3;
	t[0].up = 1;
	t[1].label = "second token";
	t[1].labellen = strlen(t[1].label);
	for (i = 0; i < HK_KEYD_NCOUNTERS; i++)
		t[1].c[i] = 1000000000000ULL + (uint64_t)i;
	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_HEALTH;
	m.id = 5;
	n = enc(&m);
	assert_int_equal(n, HK_KEYD_HDR_LEN);
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_OK);

	m.type = HK_KEYD_HEALTH | HK_KEYD_REPLY;
	m.tokens = t;
	m.ntokens = 2;
	n = enc(&m);
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_OK);
	assert_int_equal(d.ntokens, 2);
	assert_int_equal(hk_keyd_health_token(&d, 0, &got), 0);
	assert_int_equal(got.labellen, 3);
	assert_memory_equal(got.label, "web", 3);
	assert_int_equal(got.up, 1);
	assert_int_equal(hk_keyd_health_token(&d, 1, &got), 0);
	assert_int_equal(got.up, 0);
	assert_true(got.c[HK_KEYD_C_QUEUE] == 1000000000000ULL + HK_KEYD_C_QUEUE);
	assert_int_equal(hk_keyd_health_token(&d, 2, &got), -1);

	n = hk_keyd_encode_error(buf, sizeof(buf), 77, 2, HK_KEYD_E_NO_KEY,
	    "key 2\nnot opened");
	assert_true(n > 0);
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_OK);
	assert_int_equal(d.type, HK_KEYD_ERROR);
	assert_int_equal(d.id, 77);
	assert_int_equal(d.status, HK_KEYD_E_NO_KEY);
	assert_int_equal(d.textlen, strlen("key 2?not opened"));
	assert_memory_equal(d.text, "key 2?not opened", d.textlen);
	assert_string_equal(hk_keyd_status_name(HK_KEYD_E_NO_KEY), "no-key");
}

/* A valid SIGN request of n bytes in buf, to break. */
static size_t
valid_sign(void)
{
	static const unsigned char dg[32] = { 1 };
	struct hk_keyd_msg m;

	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_SIGN;
	m.id = 0xdeadbeef;
	m.key = 1;
	m.mech = HK_KEYD_MECH_ECDSA;
	m.hash = HK_KEYD_HASH_SHA256;
	m.data = dg;
	m.datalen = sizeof(dg);
	return enc(&m);
}

static void
test_rejects_malformed(void **state)
{
	struct hk_keyd_msg d;
	size_t n, i;

	/* Short header: nothing is read, whatever the length. */
	n = valid_sign();
	for (i = 0; i < HK_KEYD_HDR_LEN; i++)
		assert_int_equal(hk_keyd_decode(buf, i, &d), HK_KEYD_E_MALFORMED);
	assert_int_equal(hk_keyd_decode(NULL, 100, &d), HK_KEYD_E_MALFORMED);

	/* Wrong version; the id is still reported. */
	n = valid_sign();
	buf[0] = 2;
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_E_VERSION);
	assert_int_equal(d.id, 0xdeadbeef);

	/* Length field and message size disagree, both ways. */
	n = valid_sign();
	assert_int_equal(hk_keyd_decode(buf, n - 1, &d), HK_KEYD_E_MALFORMED);
	buf[n] = 0;
	assert_int_equal(hk_keyd_decode(buf, n + 1, &d), HK_KEYD_E_MALFORMED);
	put32(buf + 12, 0xffffffff);
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_E_MALFORMED);

	/* Oversized: refused before the payload is looked at. */
	n = valid_sign();
	put32(buf + 12, HK_KEYD_MAX_MSG + 1 - HK_KEYD_HDR_LEN);
	assert_int_equal(hk_keyd_decode(buf, HK_KEYD_MAX_MSG + 1, &d),
	    HK_KEYD_E_TOO_BIG);
	assert_int_equal(d.id, 0xdeadbeef);

	/* Unknown type; reserved flags. */
	n = valid_sign();
	buf[1] = 0x42;
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_E_TYPE);
	n = valid_sign();
	buf[3] = 1;
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_E_MALFORMED);

	/* Fields out of range. */
	n = valid_sign();
	buf[16] = 9;            /* mechanism */
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_E_MALFORMED);
	n = valid_sign();
	buf[17] = HK_KEYD_HASH_SHA384;  /* digest is 32 bytes */
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_E_MALFORMED);
	n = valid_sign();
	buf[19] = 20;           /* salt without PSS */
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_E_MALFORMED);
	n = valid_sign();
	buf[16] = HK_KEYD_MECH_RSA_PSS;
	buf[17] = HK_KEYD_HASH_NONE;
	assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_E_MALFORMED);

	/* Truncated fields: every cut of a valid SIGN, OPEN and ERROR, with
	 * the length field following the cut, is refused. */
	n = valid_sign();
	for (i = HK_KEYD_HDR_LEN; i < HK_KEYD_HDR_LEN + 5; i++) {
		put32(buf + 12, (uint32_t)(i - HK_KEYD_HDR_LEN));
		assert_int_equal(hk_keyd_decode(buf, i, &d), HK_KEYD_E_MALFORMED);
	}
	{
		static const unsigned char spki[] = { 0x30, 0x00 };
		struct hk_keyd_msg m;

		memset(&m, 0, sizeof(m));
		m.type = HK_KEYD_OPEN;
		m.uri = (const unsigned char *)"pkcs11:object=k";
		m.urilen = 15;
		m.spki = spki;
		m.spkilen = sizeof(spki);
		n = enc(&m);
		for (i = HK_KEYD_HDR_LEN; i < n; i++) {
			put32(buf + 12, (uint32_t)(i - HK_KEYD_HDR_LEN));
			assert_int_equal(hk_keyd_decode(buf, i, &d),
			    HK_KEYD_E_MALFORMED);
		}
		/* A control byte in the URI; a key number in an OPEN. */
		n = enc(&m);
		buf[HK_KEYD_HDR_LEN + 4] = '\n';
		assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_E_MALFORMED);
		m.key = 4;
		n = enc(&m);
		assert_int_equal(hk_keyd_decode(buf, n, &d), HK_KEYD_E_MALFORMED);
	}
	n = hk_keyd_encode_error(buf, sizeof(buf), 1, 0, HK_KEYD_E_TOKEN,
	    "token down");
	for (i = HK_KEYD_HDR_LEN; i < n; i++) {
		put32(buf + 12, (uint32_t)(i - HK_KEYD_HDR_LEN));
		assert_int_equal(hk_keyd_decode(buf, i, &d), HK_KEYD_E_MALFORMED);
	}

	/* HEALTH: no payload; a reply whose token list runs short. */
	memset(buf, 0, HK_KEYD_HDR_LEN + 1);
	buf[0] = 1;
	buf[1] = HK_KEYD_HEALTH;
	put32(buf + 12, 1);
	assert_int_equal(hk_keyd_decode(buf, HK_KEYD_HDR_LEN + 1, &d),
	    HK_KEYD_E_MALFORMED);
	buf[1] = HK_KEYD_HEALTH | HK_KEYD_REPLY;
	buf[HK_KEYD_HDR_LEN] = 1;       /* one token, no bytes for it */
	assert_int_equal(hk_keyd_decode(buf, HK_KEYD_HDR_LEN + 1, &d),
	    HK_KEYD_E_MALFORMED);
}

static void
test_encoder_refuses(void **state)
{
	unsigned char big[2048];
	struct hk_keyd_msg m;

	memset(&m, 0, sizeof(m));
	memset(big, 1, sizeof(big));
	m.type = HK_KEYD_SIGN | HK_KEYD_REPLY;
	m.data = big;
	m.datalen = sizeof(big);        /* over the data limit */
	assert_int_equal(hk_keyd_encode(buf, sizeof(buf), &m), 0);
	m.datalen = 100;
	assert_int_equal(hk_keyd_encode(buf, 50, &m), 0);
	m.type = 0x42;
	assert_int_equal(hk_keyd_encode(buf, sizeof(buf), &m), 0);
	m.type = HK_KEYD_ERROR;
	m.status = HK_KEYD_OK;          /* an error needs a status */
	assert_int_equal(hk_keyd_encode(buf, sizeof(buf), &m), 0);
}

/* Every byte string of a few lengths decodes or is refused, never read
 * past its end (run under the sanitizers too). */
static void
test_decoder_total(void **state)
{
	unsigned char b[64];
	struct hk_keyd_msg d;
	unsigned seed = 12345, i, j, len;

	for (i = 0; i < 20000; i++) {
		len = HK_KEYD_HDR_LEN + (i % 48);
		for (j = 0; j < len; j++) {
			seed = seed * 1103515245u + 12345u;
			b[j] = (unsigned char)(seed >> 16);
		}
		b[0] = 1;
		b[1] = (unsigned char)(1 + i % 5) | (i & 8 ? 0x80 : 0);
		b[2] = b[3] = 0;
		put32(b + 12, len - HK_KEYD_HDR_LEN);
		(void)hk_keyd_decode(b, len, &d);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_round_trip),
		cmocka_unit_test(test_sign_and_decrypt_round_trip),
		cmocka_unit_test(test_health_and_error_round_trip),
		cmocka_unit_test(test_rejects_malformed),
		cmocka_unit_test(test_encoder_refuses),
		cmocka_unit_test(test_decoder_total),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
