/* Unit tests of the access log (server/accesslog.c). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "accesslog.c"

static char dir[] = "/tmp/hk-accesslog-test.XXXXXX";
static char file[256], rotated[256], errfile[256];

static char *
slurp(const char *p)
{
	static char buf[1 << 16];
	size_t len = 0;
	ssize_t n;
	int fd;

	buf[0] = '\0';
	if ((fd = open(p, O_RDONLY)) < 0)
		return buf;
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return buf;
}

static void
set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

/* 2026-12-01T23:59:59Z */
static time_t
fixed_time(void)
{
	struct tm tm = { .tm_year = 126, .tm_mon = 11, .tm_mday = 1,
	    .tm_hour = 23, .tm_min = 59, .tm_sec = 59 };

	return timegm(&tm);
}

static struct access_entry
fixed_entry(void)
{
	struct access_entry e = {
		.client_addr = "127.0.0.1",
		.method = "GET",
		.target = "/index.html",
		.protocol = "HTTP/1.1",
		.status = 200,
		.bytes = 1234,
		.referer = "https://example.com/",
		.user_agent = "curl/8.0.1",
		.tls_version = "TLSv1.3",
		.cipher = "TLS_AES_256_GCM_SHA384",
		.sni = "localhost",
		.resumed = false,
		.request_secs = 0.0012,
		.site = "www",
	};

	e.start.tv_sec = fixed_time();
	e.start.tv_nsec = 123456789;
	return e;
}

static const char *
fmt(const struct access_entry *e)
{
	static char buf[ACCESSLOG_LINE_MAX + 1];
	size_t n = accesslog_format(buf, e);

	assert_true(n <= ACCESSLOG_LINE_MAX);
	buf[n] = '\0';
	return buf;
}

/* Test: a proxied connection's line: PROXY BACKEND, then the byte counts. */
static void
test_proxied(void **state)
{
	struct access_entry e = fixed_entry();

	(void)state;
	set_tz("UTC");
	e.method = "PROXY";
	e.target = "unix:/run/app sock";
	e.protocol = NULL;
	e.status = 0;
	e.referer = e.user_agent = NULL;
	e.upstream = e.target;
	e.to_upstream = 310;
	e.to_client = 0;
	e.bytes = 0;
	e.request_secs = 2.5034;
	assert_string_equal(fmt(&e),
	    "127.0.0.1 - - [01/Dec/2026:23:59:59 +0000] \"PROXY unix:/run/app "
	    "sock\" - - \"-\" \"-\" tls=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 "
	    "sni=localhost resumed=0 rt=2.503 site=www "
	    "upstream=unix:/run/app\\x20sock to_upstream=310 to_client=0\n");
}

/* Test: the exact line for a fixed entry (UTC). */
static void
test_fixed_format(void **state)
{
	struct access_entry e = fixed_entry();

	(void)state;
	set_tz("UTC");
	assert_string_equal(fmt(&e),
	    "127.0.0.1 - - [01/Dec/2026:23:59:59 +0000] \"GET /index.html "
	    "HTTP/1.1\" 200 1234 \"https://example.com/\" \"curl/8.0.1\" "
	    "tls=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 sni=localhost "
	    "resumed=0 rt=0.001 site=www\n");
	e.resumed = true;
	e.request_secs = 2.5;
	e.client_addr = "::1";
	e.status = 404;
	e.tls_version = "TLSv1.2";
	e.cipher = "ECDHE-ECDSA-AES128-GCM-SHA256";
	assert_string_equal(fmt(&e),
	    "::1 - - [01/Dec/2026:23:59:59 +0000] \"GET /index.html "
	    "HTTP/1.1\" 404 1234 \"https://example.com/\" \"curl/8.0.1\" "
	    "tls=TLSv1.2 cipher=ECDHE-ECDSA-AES128-GCM-SHA256 sni=localhost "
	    "resumed=1 rt=2.500 site=www\n");
}

/* Test: local time with its offset, either side of UTC, and the month
 * name whatever the locale. */
static void
test_time_zones(void **state)
{
	struct access_entry e = fixed_entry();

	(void)state;
	set_tz("IST-5:30");
	assert_non_null(strstr(fmt(&e), " - - [02/Dec/2026:05:29:59 +0530] "));
	set_tz("EST5");
	assert_non_null(strstr(fmt(&e), " - - [01/Dec/2026:18:59:59 -0500] "));
	e.start.tv_sec -= 86400 * 334;  /* 1 January */
	assert_non_null(strstr(fmt(&e), " - - [01/Jan/2026:18:59:59 -0500] "));
	set_tz("UTC");
}

/* Test: absent fields are "-", and so are no status and no body. */
static void
test_absent_fields(void **state)
{
	struct access_entry e = { .start = { fixed_time(), 0 } };

	(void)state;
	set_tz("UTC");
	assert_string_equal(fmt(&e),
	    "- - - [01/Dec/2026:23:59:59 +0000] \"-\" - - \"-\" \"-\" "
	    "tls=- cipher=- sni=- resumed=0 rt=0.000 site=-\n");
	e.method = "GET";
	e.target = "/";
	e.status = 304;
	e.referer = "";
	e.sni = "";
	e.request_secs = -1;    /* a clock step: never a negative time */
	assert_string_equal(fmt(&e),
	    "- - - [01/Dec/2026:23:59:59 +0000] \"GET /\" 304 - \"\" \"-\" "
	    "tls=- cipher=- sni=- resumed=0 rt=0.000 site=-\n");
}

/* Test: quotes, backslashes, control bytes and high bytes are \xHH in every
 * field; a space too where the field is not quoted. */
static void
test_escaping(void **state)
{
	struct access_entry e = fixed_entry();

	(void)state;
	set_tz("UTC");
	e.method = "G\"ET";
	e.target = "/a\"b\\c\nd\r\x01\x7f\xff e";
	e.protocol = "HTTP/1.1\r\n";
	e.referer = "x\" \"y";
	e.user_agent = "evil\n127.0.0.1 - - [forged]";
	e.sni = "a b\tc";
	e.site = "s\"";
	e.client_addr = "1 2";
	assert_string_equal(fmt(&e),
	    "1\\x202 - - [01/Dec/2026:23:59:59 +0000] \"G\\x22ET "
	    "/a\\x22b\\x5cc\\x0ad\\x0d\\x01\\x7f\\xff e HTTP/1.1\\x0d\\x0a\" "
	    "200 1234 \"x\\x22 \\x22y\" \"evil\\x0a127.0.0.1 - - [forged]\" "
	    "tls=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 sni=a\\x20b\\x09c "
	    "resumed=0 rt=0.001 site=s\\x22\n");
}

/* Test: any bytes at all in every client field give one line of printable
 * ASCII with exactly its six quotes. */
static void
test_random_bytes(void **state)
{
	static char f[7][300];
	struct access_entry e = fixed_entry();
	const char *line;
	size_t i, j, quotes;
	unsigned seed = 12345;

	(void)state;
	for (i = 0; i < 2000; i++) {
		for (j = 0; j < 7; j++) {
			size_t k, len = (size_t)rand_r(&seed) % 299;

			for (k = 0; k < len; k++)
				f[j][k] = (char)(1 + rand_r(&seed) % 255);
			f[j][len] = '\0';
		}
		e.method = f[0];
		e.target = f[1];
		e.protocol = f[2];
		e.referer = f[3];
		e.user_agent = f[4];
		e.sni = f[5];
		e.client_addr = f[6];
		line = fmt(&e);
		for (quotes = 0, j = 0; line[j] != '\n'; j++) {
			assert_true(line[j] >= 0x20 && line[j] < 0x7f);
			quotes += line[j] == '"';
		}
		assert_int_equal(line[j + 1], '\0');
		assert_int_equal(quotes, 6);
	}
}

/* Test: an over-long field is cut with "..." inside its share, never in
 * the middle of an escape, and the line keeps its tail. */
static void
test_long_fields(void **state)
{
	static char big[20000], ua[3000];
	struct access_entry e = fixed_entry();
	const char *line, *q;
	size_t len;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	memset(ua, '\n', sizeof(ua) - 1);
	e.target = big;
	e.user_agent = ua;
	e.referer = big;
	e.sni = big;
	e.site = big;
	e.cipher = big;
	e.tls_version = big;
	e.method = big;
	e.protocol = big;
	e.client_addr = big;
	line = fmt(&e);
	len = strlen(line);
	assert_true(len <= ACCESSLOG_LINE_MAX);
	assert_int_equal(line[len - 1], '\n');
	assert_non_null(strstr(line, "aaa... "));
	/* 1024 bytes of escapes: 255 of them, then "..." */
	q = strstr(line, "\"\\x0a");
	assert_non_null(q);
	assert_int_equal(strncmp(q + 1 + 255 * 4, "...\" tls=", 9), 0);
	assert_non_null(strstr(line, " site=aaa"));
	assert_true(strcmp(line + len - 4, "...\n") == 0);
	/* Exactly at the cap: no cut. */
	big[CAP_FIELD] = '\0';
	e.site = big;
	line = fmt(&e);
	assert_true(strcmp(line + strlen(line) - 2, "a\n") == 0);
	big[CAP_FIELD] = 'a';
}

/* Test: the file is created 0640 and appended to; after a rename,
 * reopen writes to a new file on the same descriptor; NULL is off. */
static void
test_file(void **state)
{
	struct access_entry e = fixed_entry();
	struct accesslog *log;
	struct stat st;
	char want[ACCESSLOG_LINE_MAX + 1];
	int fd;

	(void)state;
	set_tz("UTC");
	umask(022);
	snprintf(want, sizeof(want), "%s", fmt(&e));
	assert_int_equal(accesslog_open(&log, file), 0);
	assert_non_null(log);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	fd = log->fd;
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	accesslog_write(log, &e);
	assert_int_equal(rename(file, rotated), 0);
	accesslog_write(log, &e);
	assert_int_equal(accesslog_reopen(log), 0);
	assert_int_equal(log->fd, fd);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	e.status = 500;
	accesslog_write(log, &e);
	accesslog_close(log);
	assert_int_equal(strlen(slurp(rotated)), 2 * strlen(want));
	assert_int_equal(strncmp(slurp(rotated), want, strlen(want)), 0);
	assert_non_null(strstr(slurp(file), "\" 500 1234 \""));
	assert_int_equal(strlen(slurp(file)), strlen(want));

	assert_int_equal(accesslog_open(&log, NULL), 0);
	assert_null(log);
	accesslog_write(log, &e);
	assert_int_equal(accesslog_reopen(log), 0);
	accesslog_close(log);

	snprintf(want, sizeof(want), "%s/no/such/dir", dir);
	errno = 0;
	assert_int_equal(accesslog_open(&log, want), -1);
	assert_int_equal(errno, ENOENT);
	assert_null(log);
}

/* Test: "stderr" writes to descriptor 2 and is never closed by us. */
static void
test_stderr(void **state)
{
	struct access_entry e = fixed_entry();
	struct accesslog *log;
	int saved = dup(STDERR_FILENO), efd;

	(void)state;
	set_tz("UTC");
	efd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && efd >= 0);
	dup2(efd, STDERR_FILENO);
	close(efd);
	assert_int_equal(accesslog_open(&log, "stderr"), 0);
	accesslog_write(log, &e);
	assert_int_equal(accesslog_reopen(log), 0);
	accesslog_close(log);
	assert_true(fcntl(STDERR_FILENO, F_GETFD) >= 0);
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_string_equal(slurp(errfile), fmt(&e));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_format),
		cmocka_unit_test(test_proxied),
		cmocka_unit_test(test_time_zones),
		cmocka_unit_test(test_absent_fields),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_long_fields),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_stderr),
	};
	int rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(file, sizeof(file), "%s/access.log", dir);
	snprintf(rotated, sizeof(rotated), "%s/access.log.1", dir);
	snprintf(errfile, sizeof(errfile), "%s/stderr", dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(file);
	unlink(rotated);
	unlink(errfile);
	rmdir(dir);
	return rc;
}
