/* Unit tests of the PROXY protocol v2 encoder (server/proxyv2.c). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proxyv2.c"

static struct sockaddr_in v4(const char *a, unsigned port)
{
	struct sockaddr_in s;

	memset(&s, 0, sizeof(s));
	s.sin_family = AF_INET;
	s.sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
	return s;
}

static struct sockaddr_in6 v6(const char *a, unsigned port)
{
	struct sockaddr_in6 s;

	memset(&s, 0, sizeof(s));
	s.sin6_family = AF_INET6;
	s.sin6_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
	return s;
}

/* Test: IPv4 with every TLV, byte for byte. */
static void test_ipv4_all_tlvs(void **state)
{
	struct sockaddr_in src = v4("192.0.2.1", 51000);
	struct sockaddr_in dst = v4("198.51.100.7", 443);
	struct pp2_info in = {
		(struct sockaddr *)&src, (struct sockaddr *)&dst,
		(const unsigned char *)"http/1.1", 8, "example.com", 1, 1,
		"TLSv1.3", "TLS_AES_128_GCM_SHA256",
	};
	static const unsigned char want[] =
	    "\r\n\r\n\0\r\nQUIT\n"
	    "\x21\x11\x00\x50"                 /* 12 + 11 + 14 + 43 bytes */
	    "\xc0\x00\x02\x01" "\xc6\x33\x64\x07" "\xc7\x38" "\x01\xbb"
	    "\x01\x00\x08" "http/1.1"
	    "\x02\x00\x0b" "example.com"
	    "\x20\x00\x28" "\x01" "\x00\x00\x00\x01"
	    "\x21\x00\x07" "TLSv1.3"
	    "\x23\x00\x16" "TLS_AES_128_GCM_SHA256";
	unsigned char buf[512];
	size_t len = 99;

	assert_int_equal(pp2_encode(&in, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);
}

/* Test: IPv6 addresses and ports, no TLV at all. */
static void test_ipv6_no_tlvs(void **state)
{
	struct sockaddr_in6 src = v6("2001:db8::1", 1);
	struct sockaddr_in6 dst = v6("::1", 65535);
	struct pp2_info in = { (struct sockaddr *)&src,
	    (struct sockaddr *)&dst, NULL, 0, NULL, 0, 0, NULL, NULL };
	unsigned char buf[64];
	size_t len;

	assert_int_equal(pp2_encode(&in, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 16 + 36);
	assert_int_equal(buf[12], 0x21);
	assert_int_equal(buf[13], PP2_FAM_TCP6);
	assert_int_equal(buf[14] << 8 | buf[15], 36);
	assert_memory_equal(buf + 16, &src.sin6_addr, 16);
	assert_memory_equal(buf + 32, &dst.sin6_addr, 16);
	assert_memory_equal(buf + 48, "\x00\x01\xff\xff", 4);
}

/* Test: no addresses, or families that differ or are not IP: UNSPEC. */
static void test_unspec(void **state)
{
	struct sockaddr_in a4 = v4("127.0.0.1", 80);
	struct sockaddr_in6 a6 = v6("::1", 80);
	struct sockaddr un = { .sa_family = AF_UNIX };
	const struct sockaddr *pairs[][2] = {
		{ NULL, NULL },
		{ (struct sockaddr *)&a4, NULL },
		{ (struct sockaddr *)&a4, (struct sockaddr *)&a6 },
		{ &un, &un },
	};
	unsigned char buf[64];
	size_t i, len;

	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct pp2_info in = { pairs[i][0], pairs[i][1], NULL, 0,
		    "h", 0, 0, NULL, NULL };

		assert_int_equal(pp2_encode(&in, buf, sizeof(buf), &len), 0);
		assert_int_equal(len, 16 + 4);
		assert_int_equal(buf[13], PP2_FAM_UNSPEC);
		assert_int_equal(buf[14] << 8 | buf[15], 4);
		assert_memory_equal(buf + 16, "\x02\x00\x01h", 4);
	}
}

/* Test: a buffer one byte short of the header is refused, at any size. */
static void test_too_small(void **state)
{
	struct sockaddr_in src = v4("10.0.0.1", 1), dst = v4("10.0.0.2", 2);
	struct pp2_info in = { (struct sockaddr *)&src,
	    (struct sockaddr *)&dst, (const unsigned char *)"h2", 2, "a.test",
	    1, 1, "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256" };
	unsigned char buf[256];
	size_t need, size, len;

	assert_int_equal(pp2_encode(&in, buf, sizeof(buf), &need), 0);
	for (size = 0; size < need; size++) {
		len = 7;
		memset(buf, 0xaa, sizeof(buf));
		assert_int_equal(pp2_encode(&in, buf, size, &len), -1);
		assert_int_equal(len, 0);
		/* and nothing written past size */
		assert_true(size == sizeof(buf) || buf[size] == 0xaa);
	}
	assert_int_equal(pp2_encode(&in, buf, need, &len), 0);
	assert_int_equal(len, need);
}

/* Test: values too long for a 16-bit length are refused. */
static void test_too_long(void **state)
{
	static unsigned char big[0x10000 + 0x200];
	static char name[0x10001], cipher[0xfff8];
	struct pp2_info in;
	size_t len;

	memset(name, 'a', sizeof(name) - 1);
	memset(&in, 0, sizeof(in));
	in.authority = name;                    /* 65536 bytes */
	assert_int_equal(pp2_encode(&in, big, sizeof(big), &len), -1);

	/* The sub-TLV alone fits; the SSL TLV around it does not. */
	memset(cipher, 'c', sizeof(cipher) - 1);
	memset(&in, 0, sizeof(in));
	in.tls = 1;
	in.cipher = cipher;                     /* 65527 + 3 + 5 + 3 > 65535 */
	in.tls_version = "TLSv1.3";
	assert_int_equal(pp2_encode(&in, big, sizeof(big), &len), -1);

	/* The header's own length: TLVs that each fit, together too long. */
	memset(&in, 0, sizeof(in));
	in.alpn = (const unsigned char *)cipher;
	in.alpn_len = sizeof(cipher) - 1;
	in.authority = "x";
	in.tls = 1;
	in.tls_version = "TLSv1.3";
	assert_int_equal(pp2_encode(&in, big, sizeof(big), &len), -1);
	assert_int_equal(len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_all_tlvs),
		cmocka_unit_test(test_ipv6_no_tlvs),
		cmocka_unit_test(test_unspec),
		cmocka_unit_test(test_too_small),
		cmocka_unit_test(test_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
