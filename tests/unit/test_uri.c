/* Unit tests of the PKCS#11 URI rules (engine/uri.c). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "hk_err.h"
#include "hk_uri.h"

struct uri_case {
	const char *uri;
	int want_ok;
	const char *want_err;   /* substring of the error, when refused */
	long want_class;        /* CKA_CLASS, -1 when absent */
	const char *want_label; /* CKA_LABEL, NULL when absent */
	const char *want_id;    /* CKA_ID bytes, NULL when absent */
	size_t want_id_len;
};

static const struct uri_case cases[] = {
	{ "pkcs11:token=web;object=key;type=private", 1, NULL,
	    CKO_PRIVATE_KEY, "key", NULL, 0 },
	{ "pkcs11:token=my%20token;id=%01%02", 1, NULL, -1, NULL,
	    "\x01\x02", 2 },
	{ "pkcs11:object=a%3bb;type=cert", 1, NULL, CKO_CERTIFICATE, "a;b",
	    NULL, 0 },
	{ "pkcs11:object=k?module-path=/usr/lib/x.so&pin-source=file:/p", 1,
	    NULL, -1, "k", NULL, 0 },
	{ "pkcs11:object=k?pin-value=1234", 0, "pin-value is refused", -1,
	    NULL, NULL, 0 },
	{ "file:/etc/key.pem", 0, "not a PKCS#11 URI", -1, NULL, NULL, 0 },
	{ "", 0, "not a PKCS#11 URI", -1, NULL, NULL, 0 },
	{ "pkcs11:object=k;colour=blue", 0, "unrecognized attribute", -1,
	    NULL, NULL, 0 },
	{ "pkcs11:id=%zz", 0, "PKCS#11 URI", -1, NULL, NULL, 0 },
	{ "pkcs11:type=sausage", 0, "PKCS#11 URI", -1, NULL, NULL, 0 },
};

static void
check_attr(P11KitUri *uri, CK_ATTRIBUTE_TYPE type, const char *want,
    size_t want_len, const char *what)
{
	CK_ATTRIBUTE *a = p11_kit_uri_get_attribute(uri, type);

	if (want == NULL) {
		if (a != NULL)
			fail_msg("%s: got an attribute, want none", what);
		return;
	}
	if (a == NULL)
		fail_msg("%s: got no attribute, want '%s'", what, want);
	assert_int_equal(a->ulValueLen, want_len);
	assert_memory_equal(a->pValue, want, want_len);
}

/* Test: each URI parses or is refused with the expected reason. */
static void
test_uri_table(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct uri_case *c = &cases[i];
		char err[HK_ERRLEN] = "";
		P11KitUri *uri = hk_uri_parse(c->uri, err, sizeof(err));

		if (!c->want_ok) {
			if (uri != NULL)
				fail_msg("'%s': parsed, want refused", c->uri);
			if (strstr(err, c->want_err) == NULL)
				fail_msg("'%s': got error '%s', want '%s'",
				    c->uri, err, c->want_err);
			continue;
		}
		if (uri == NULL)
			fail_msg("'%s': got error '%s', want parsed", c->uri,
			    err);
		assert_int_equal(hk_uri_class(uri), c->want_class);
		check_attr(uri, CKA_LABEL, c->want_label,
		    c->want_label ? strlen(c->want_label) : 0, c->uri);
		check_attr(uri, CKA_ID, c->want_id, c->want_id_len, c->uri);
		p11_kit_uri_free(uri);
	}
}

/* Test: module-path and pin-source come back decoded. */
static void
test_uri_query(void **state)
{
	char err[HK_ERRLEN];
	P11KitUri *uri = hk_uri_parse("pkcs11:object=k?module-path="
	    "/opt/hsm/lib%20p11.so&pin-source=file:///etc/hsm/pin", err,
	    sizeof(err));

	assert_non_null(uri);
	assert_string_equal(p11_kit_uri_get_module_path(uri),
	    "/opt/hsm/lib p11.so");
	assert_string_equal(p11_kit_uri_get_pin_source(uri),
	    "file:///etc/hsm/pin");
	p11_kit_uri_free(uri);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_table),
		cmocka_unit_test(test_uri_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
