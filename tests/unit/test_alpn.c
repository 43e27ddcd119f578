/*
 * test_alpn.c - conf_parse_alpn(): the ALPN lists of the alpn directive
 * and --alpn to their wire form (RFC 7301 3.1), in the order written, and
 * the exact refusals.  Then the directive itself, at the top level and in
 * a site, through conf_parse_text().
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "conf.c"
#include "log.c"

static const struct {
	const char *list;
	const char *want_wire;          /* NULL: refused */
	size_t want_len;
	const char *want_why;
} cases[] = {
	{ "h2,http/1.1", "\x02h2\x08http/1.1", 12, NULL },
	{ "http/1.1 h2", "\x08http/1.1\x02h2", 12, NULL },
	{ " h2 ,, ", "\x02h2", 3, NULL },
	{ "http/1.1", "\x08http/1.1", 9, NULL },
	{ "h2,h2", NULL, 0, "ALPN protocol 'h2' given twice" },
	{ "h3", NULL, 0, "ALPN protocol 'h3': want h2 or http/1.1" },
	{ "HTTP/1.1", NULL, 0, "ALPN protocol 'HTTP/1.1': want h2 or http/1.1" },
	{ ",", NULL, 0, "empty ALPN list: want h2, http/1.1 or both" },
	{ "", NULL, 0, "empty ALPN list: want h2, http/1.1 or both" },
};

/* Test: each list becomes its wire form, or is refused with its reason. */
static void test_lists(void **state)
{
	unsigned char wire[CONF_ALPN_WIRE_MAX];
	char why[256];
	size_t i, len;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		len = 0;
		rc = conf_parse_alpn(cases[i].list, wire, &len, why, sizeof(why));
		if (cases[i].want_wire == NULL) {
			if (rc != -1 || strcmp(why, cases[i].want_why) != 0)
				fail_msg("'%s': got %d '%s', want -1 '%s'",
				    cases[i].list, rc, why, cases[i].want_why);
			continue;
		}
		if (rc != 0 || len != cases[i].want_len ||
		    memcmp(wire, cases[i].want_wire, len) != 0)
			fail_msg("'%s': got %d, %zu bytes, want 0, %zu bytes",
			    cases[i].list, rc, len, cases[i].want_len);
	}
}

/* Test: alpn at the top level and in a site; a bad one names its line. */
static void test_directive(void **state)
{
	static const char text[] =
	    "alpn http/1.1;\n"
	    "h2-max-streams 8;\n"
	    "site a {\n"
	    "  root /srv;\n"
	    "  alpn h2 http/1.1;\n"
	    "  key \"pkcs11:token=t;object=a;type=private\" /a.pem;\n"
	    "}\n";
	static const char bad[] =
	    "site a {\n"
	    "  root /srv;\n"
	    "  alpn spdy/3;\n"
	    "  key \"pkcs11:token=t;object=a;type=private\" /a.pem;\n"
	    "}\n";
	struct conf_errors err = { 0 };
	struct conf c;

	conf_defaults(&c);
	assert_int_equal(c.h2_max_streams, 100);
	assert_int_equal(conf_parse_text(&c, "t.conf", text, sizeof(text) - 1,
	    &err), 0);
	assert_string_equal(c.alpn, "http/1.1");
	assert_int_equal(c.h2_max_streams, 8);
	assert_int_equal(c.nsites, 1);
	assert_string_equal(c.sites[0].alpn, "h2,http/1.1");
	conf_free(&c);

	conf_defaults(&c);
	assert_int_equal(conf_parse_text(&c, "t.conf", bad, sizeof(bad) - 1,
	    &err), -1);
	assert_int_equal(conf_errors_count(&err), 1);
	assert_string_equal(err.e[0].where, "t.conf:3: ");
	if (strstr(err.e[0].text, "'spdy/3': want h2 or http/1.1") == NULL)
		fail_msg("got '%s'", err.e[0].text);
	conf_errors_clear(&err);
	conf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_directive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
