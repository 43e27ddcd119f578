/* Unit tests of PIN files (engine/pin.c). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "hk_err.h"
#include "hk_pin.h"

static char dir[] = "/tmp/hk-pin-test.XXXXXX";

static const char *
write_file(const char *name, const char *content, size_t len, mode_t mode)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(content, 1, len, f), len);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

struct pin_case {
	const char *name;
	const char *content;
	size_t len;
	mode_t mode;
	const char *want_pin;   /* NULL: refused */
	const char *want_err;
};

static const struct pin_case cases[] = {
	{ "plain", "123456\n", 7, 0600, "123456", NULL },
	{ "crlf", "abc def\r\nsecond line\n", 21, 0600, "abc def", NULL },
	{ "nonl", "9999", 4, 0400, "9999", NULL },
	{ "group", "1234\n", 5, 0640, NULL,
	    "group or other permission bits set (mode 0640; chmod 600)" },
	{ "other", "1234\n", 5, 0604, NULL, "mode 0604" },
	{ "nul", "12\0" "34\n", 6, 0600, NULL, "contains a NUL byte" },
	{ "nulnext", "1234\n\0x", 7, 0600, "1234", NULL },
	{ "empty", "", 0, 0600, NULL, "empty first line" },
	{ "blank", "\nlater\n", 7, 0600, NULL, "empty first line" },
};

/* Test: PIN files are read to their first line, or refused by reason. */
static void
test_pin_table(void **state)
{
	size_t i, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pin_case *c = &cases[i];
		const char *path = write_file(c->name, c->content, c->len,
		    c->mode);
		char err[HK_ERRLEN] = "";
		struct hk_pin *pin = hk_pin_read_file(path, err, sizeof(err));

		if (c->want_pin == NULL) {
			if (pin != NULL)
				fail_msg("%s: read, want refused", c->name);
			if (strstr(err, c->want_err) == NULL ||
			    strstr(err, path) == NULL)
				fail_msg("%s: got error '%s', want '%s' and "
				    "the path", c->name, err, c->want_err);
			continue;
		}
		if (pin == NULL)
			fail_msg("%s: got error '%s', want PIN", c->name, err);
		assert_string_equal(hk_pin_value(pin, &len), c->want_pin);
		assert_int_equal(len, strlen(c->want_pin));
		hk_pin_free(pin);
		unlink(path);
	}
}

/* Test: a PIN of HK_PIN_MAX bytes is read, one more byte is refused. */
static void
test_pin_max(void **state)
{
	char content[HK_PIN_MAX + 2], err[HK_ERRLEN] = "";
	struct hk_pin *pin;
	const char *path;
	size_t len;

	memset(content, '7', sizeof(content));
	path = write_file("max", content, HK_PIN_MAX, 0600);
	assert_non_null(pin = hk_pin_read_file(path, err, sizeof(err)));
	hk_pin_value(pin, &len);
	assert_int_equal(len, HK_PIN_MAX);
	hk_pin_free(pin);
	path = write_file("long", content, HK_PIN_MAX + 1, 0600);
	assert_null(hk_pin_read_file(path, err, sizeof(err)));
	assert_non_null(strstr(err, "PIN longer than 256 bytes"));
	unlink(path);
	snprintf(err, sizeof(err), "%s/max", dir);
	unlink(err);
}

/* Test: the CA key file of hsmtls-token dev-ca meets the same rule, by
 * its own name. */
static void
test_secret_check_names_file(void **state)
{
	const char *path = write_file("ca.key", "x\n", 2, 0640);
	char err[HK_ERRLEN], want[300];
	int fd;

	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_int_equal(hk_secret_check(fd, "key file", path, err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "key file %s: group or other "
	    "permission bits set", path);
	if (strstr(err, want) == NULL)
		fail_msg("got '%s', want '%s'", err, want);
	assert_int_equal(fchmod(fd, 0600), 0);
	assert_int_equal(hk_secret_check(fd, "key file", path, err,
	    sizeof(err)), 0);
	close(fd);
	unlink(path);
}

/* Test: a missing file and a directory are refused by name. */
static void
test_pin_not_file(void **state)
{
	char err[HK_ERRLEN], path[256];

	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_null(hk_pin_read_file(path, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
	assert_null(hk_pin_read_file(dir, err, sizeof(err)));
	assert_non_null(strstr(err, "not a regular file"));
}

/* Test: pin-source takes file: URIs and absolute paths only. */
static void
test_pin_source(void **state)
{
	const char *path = write_file("src", "4321\n", 5, 0600);
	char err[HK_ERRLEN], uri[300];
	struct hk_pin *pin;
	size_t len;

	snprintf(uri, sizeof(uri), "file://%s", path);
	assert_non_null(pin = hk_pin_from_source(uri, err, sizeof(err)));
	assert_string_equal(hk_pin_value(pin, &len), "4321");
	hk_pin_free(pin);
	snprintf(uri, sizeof(uri), "file:%s", path);
	assert_non_null(pin = hk_pin_from_source(uri, err, sizeof(err)));
	hk_pin_free(pin);
	assert_null(hk_pin_from_source("relative/pin", err, sizeof(err)));
	assert_non_null(strstr(err, "absolute path"));
	assert_null(hk_pin_from_source("https://example/pin", err,
	    sizeof(err)));
	unlink(path);
}

static int
setup(void **state)
{
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	return rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pin_table),
		cmocka_unit_test(test_pin_max),
		cmocka_unit_test(test_secret_check_names_file),
		cmocka_unit_test(test_pin_not_file),
		cmocka_unit_test(test_pin_source),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
