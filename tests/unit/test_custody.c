/* Unit tests of the custody line (engine/custody.c), the CKM and CKR name
 * tables (engine/ckr.c) and the URI formatter (engine/uri.c). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "hk_ckr.h"
#include "hk_custody.h"
#include "hk_uri.h"

static struct hk_custody
good(void)
{
	struct hk_custody c;

	memset(&c, 0, sizeof(c));
	strcpy(c.type, "ec:P-256");
	c.sensitive = c.never_extractable = c.always_sensitive = c.local = 1;
	c.extractable = 0;
	c.nmechs = -1;
	return c;
}

static void
test_line(void **state)
{
	struct hk_custody c = good();
	char buf[512];

	(void)state;
	assert_int_equal(hk_custody_format(&c, "web", "pkcs11:token=web;"
	    "object=k;type=private", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "token=web key=pkcs11:token=web;object=k;"
	    "type=private type=ec:P-256 sensitive=1 extractable=0 "
	    "never-extractable=1 always-sensitive=1 local=1 mechanisms=any");
	/* An empty CKA_ALLOWED_MECHANISMS allows any, as an absent one. */
	c.nmechs = 0;
	hk_custody_format(&c, "web", "u", buf, sizeof(buf));
	assert_non_null(strstr(buf, " mechanisms=any"));
}

static void
test_imported_and_unknown(void **state)
{
	struct hk_custody c = good();
	char buf[512];

	(void)state;
	strcpy(c.type, "rsa:2048");
	c.never_extractable = c.always_sensitive = c.local = 0;
	c.sensitive = -1;
	c.nmechs = 2;
	c.mechs[0] = CKM_RSA_PKCS;
	c.mechs[1] = 0x80001234UL;      /* vendor-defined */
	assert_int_equal(hk_custody_format(&c, "my token", "u", buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "token=my%20token key=u type=rsa:2048 "
	    "sensitive=unknown extractable=0 never-extractable=0 "
	    "always-sensitive=0 local=0 mechanisms=CKM_RSA_PKCS,CKM_0x80001234");
	c.mechs_more = 3;
	hk_custody_format(&c, "t", "u", buf, sizeof(buf));
	assert_non_null(strstr(buf, ",CKM_0x80001234,+3-more"));
}

static void
test_cut(void **state)
{
	struct hk_custody c = good();
	char buf[40];

	(void)state;
	assert_int_equal(hk_custody_format(&c, "web", "pkcs11:token=web;"
	    "object=a-long-label;type=private", buf, sizeof(buf)), -1);
	assert_true(strlen(buf) < sizeof(buf));
	assert_string_equal(buf, "token=web");
}

static void
test_names(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(hk_ckm_name(CKM_ECDSA, buf, sizeof(buf)),
	    "CKM_ECDSA");
	assert_string_equal(hk_ckm_name(CKM_SHA256_RSA_PKCS_PSS, buf,
	    sizeof(buf)), "CKM_SHA256_RSA_PKCS_PSS");
	assert_string_equal(hk_ckm_name(0x8000beefUL, buf, sizeof(buf)),
	    "CKM_0x8000beef");
	assert_string_equal(hk_ckr_name(CKR_PIN_INCORRECT, buf, sizeof(buf)),
	    "CKR_PIN_INCORRECT");
}

static void
test_uri_format(void **state)
{
	const unsigned char id[] = { 0x0a, 0x0b };
	char buf[128];

	(void)state;
	assert_int_equal(hk_uri_format(buf, sizeof(buf), "web hsm", "a;b",
	    id, sizeof(id), "private"), 0);
	assert_string_equal(buf, "pkcs11:token=web%20hsm;object=a%3Bb;"
	    "id=%0A%0B;type=private");
	assert_int_equal(hk_uri_format(buf, sizeof(buf), "t", NULL, NULL, 0,
	    "private"), 0);
	assert_string_equal(buf, "pkcs11:token=t;type=private");
	assert_int_equal(hk_uri_format(buf, 16, "t", "label", NULL, 0,
	    "private"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line),
		cmocka_unit_test(test_imported_and_unknown),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_uri_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
