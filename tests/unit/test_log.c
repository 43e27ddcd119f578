/* Unit tests of the server's error log (server/log.c). */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
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

/* The file under test, with its statics, so each test can start afresh. */
#include "log.c"

static char dir[] = "/tmp/hk-log-test.XXXXXX";
static char file[256], rotated[256], errfile[256];

static char *
slurp(const char *p)
{
	static char buf[4 << 20];
	size_t len = 0;
	ssize_t n;
	int fd;

	buf[0] = '\0';
	if ((fd = open(p, O_RDONLY)) < 0)
		return buf;
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	assert_true(len < sizeof(buf) - 1);
	buf[len] = '\0';
	return buf;
}

static int
setup(void **state)
{
	(void)state;
	log_open(NULL);
	log_set_level(LOG_LEVEL_INFO);
	log_set_timestamps(false);
	unlink(file);
	unlink(rotated);
	return 0;
}

/* Test: before start-up, lines keep their plain form: errors and
 * warnings named by the program, info bare (scripts grep '^listening on '),
 * debug dropped at the default level. */
static void
test_startup_form(void **state)
{
	(void)state;
	assert_int_equal(log_open(file), 0);
	log_error("cannot listen on %s: %s", "127.0.0.1:1", "Address in use");
	log_info("listening on %s", "127.0.0.1:8443");
	log_warn("token '%s' has no CKM_RSA_PKCS", "web");
	log_debug("not shown");
	assert_string_equal(slurp(file),
	    "hsmtls-server: cannot listen on 127.0.0.1:1: Address in use\n"
	    "listening on 127.0.0.1:8443\n"
	    "hsmtls-server: token 'web' has no CKM_RSA_PKCS\n");
}

/* Test: with timestamps, each line starts with an ISO-8601 UTC time in
 * milliseconds (now) and the level. */
static void
test_timestamps(void **state)
{
	static const char *const re_src =
	    "^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
	    "\\.[0-9]{3}Z (error hsmtls-server: boom|info up 1|"
	    "warn hsmtls-server: careful|debug detail)$";
	regex_t re;
	regmatch_t m[7];
	char *text, *line, *save;
	struct tm tm;
	time_t t, now = time(NULL);
	int lines = 0;

	(void)state;
	assert_int_equal(log_open(file), 0);
	log_set_timestamps(true);
	log_set_level(LOG_LEVEL_DEBUG);
	log_error("boom");
	log_info("up %d", 1);
	log_warn("careful");
	log_debug("detail");
	assert_int_equal(regcomp(&re, re_src, REG_EXTENDED), 0);
	text = slurp(file);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save), lines++) {
		assert_int_equal(regexec(&re, line, 7, m, 0), 0);
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = atoi(line + m[1].rm_so) - 1900;
		tm.tm_mon = atoi(line + m[2].rm_so) - 1;
		tm.tm_mday = atoi(line + m[3].rm_so);
		tm.tm_hour = atoi(line + m[4].rm_so);
		tm.tm_min = atoi(line + m[5].rm_so);
		tm.tm_sec = atoi(line + m[6].rm_so);
		t = timegm(&tm);
		assert_true(t >= now - 1 && t <= now + 5);
	}
	assert_int_equal(lines, 4);
	regfree(&re);
}

/* Test: the level drops what is below it; errors always pass. */
static void
test_levels(void **state)
{
	enum log_level lv;

	(void)state;
	assert_int_equal(log_open(file), 0);
	log_set_level(LOG_LEVEL_ERROR);
	log_warn("w1");
	log_info("i1");
	log_error("e1");
	log_set_level(LOG_LEVEL_WARN);
	log_warn("w2");
	log_info("i2");
	assert_false(log_enabled(LOG_LEVEL_INFO));
	assert_true(log_enabled(LOG_LEVEL_ERROR));
	log_set_level(LOG_LEVEL_DEBUG);
	log_msg(LOG_LEVEL_DEBUG, "d3");
	assert_string_equal(slurp(file), "hsmtls-server: e1\n"
	    "hsmtls-server: w2\nd3\n");
	assert_int_equal(log_level_parse("warn", &lv), 0);
	assert_int_equal(lv, LOG_LEVEL_WARN);
	assert_int_equal(log_level_parse("debug", &lv), 0);
	assert_int_equal(lv, LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("warning", &lv), -1);
	assert_int_equal(log_level_parse("", &lv), -1);
	assert_string_equal(log_level_name(LOG_LEVEL_ERROR), "error");
}

/* Test: control bytes are escaped, so a message is always one line; an
 * over-long one is cut, still one line. */
static void
test_escaping(void **state)
{
	char big[3000], *text;

	(void)state;
	assert_int_equal(log_open(file), 0);
	log_info("GET /a\nb\r\x1b[31m\x7f\tc \xc3\xa9");
	assert_string_equal(slurp(file),
	    "GET /a\\x0ab\\x0d\\x1b[31m\\x7f\tc \xc3\xa9\n");
	unlink(file);
	assert_int_equal(log_open(file), 0);
	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("%s", big);
	text = slurp(file);
	assert_true(strlen(text) <= LINE_MAX_BYTES);
	assert_non_null(strchr(text, '\n'));
	assert_true(strchr(text, '\n') == text + strlen(text) - 1);
	assert_int_equal(strncmp(text, "\\x0a\\x0a", 8), 0);
}

/* Test: the file is created 0640 (under umask 022); after logrotate's
 * rename, log_reopen writes to a new file at the path, on the same
 * descriptor number. */
static void
test_reopen(void **state)
{
	struct stat st;
	int fd;

	(void)state;
	umask(022);
	assert_int_equal(log_open(file), 0);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	fd = atomic_load(&out_fd);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	log_info("before");
	assert_int_equal(rename(file, rotated), 0);
	log_info("still old");
	assert_int_equal(log_reopen(), 0);
	log_info("after");
	assert_int_equal(atomic_load(&out_fd), fd);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_string_equal(slurp(rotated), "before\nstill old\n");
	assert_string_equal(slurp(file), "after\n");
}

/* Test: a file that cannot be opened is an error and the old target stays;
 * "stderr" goes back to stderr. */
static void
test_open_errors(void **state)
{
	char bad[300];
	int saved = dup(STDERR_FILENO), efd;

	(void)state;
	assert_true(saved >= 0);
	efd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(efd >= 0);
	assert_int_equal(dup2(efd, STDERR_FILENO), STDERR_FILENO);
	close(efd);
	assert_int_equal(log_open(file), 0);
	snprintf(bad, sizeof(bad), "%s/no/such/dir/log", dir);
	assert_int_equal(log_open(bad), -1);
	log_info("kept");
	assert_int_equal(log_reopen(), 0);
	log_info("kept again");
	assert_int_equal(log_open("stderr"), 0);
	log_info("to stderr");
	assert_int_equal(log_reopen(), 0);
	log_info("stderr again");
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_string_equal(slurp(file), "kept\nkept again\n");
	assert_string_equal(slurp(errfile), "to stderr\nstderr again\n");
}

#define THREADS 4
#define LINES 2000

static const char pad[] = "................................................"
    "................................................................";

static void *
writer(void *arg)
{
	int t = (int)(intptr_t)arg, i;

	for (i = 0; i < LINES; i++)
		log_info("thread %d line %d %s", t, i, pad);
	return NULL;
}

/* Test: lines from concurrent threads never interleave, none is lost. */
static void
test_threads(void **state)
{
	pthread_t th[THREADS];
	int seen[THREADS] = { 0 }, t, i, n = 0;
	char *text, *line, *save, want[256];

	(void)state;
	assert_int_equal(log_open(file), 0);
	for (t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, writer,
		    (void *)(intptr_t)t), 0);
	for (t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	text = slurp(file);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save), n++) {
		assert_int_equal(sscanf(line, "thread %d line %d", &t, &i), 2);
		assert_true(t >= 0 && t < THREADS);
		assert_int_equal(i, seen[t]);   /* in order, none missing */
		seen[t]++;
		snprintf(want, sizeof(want), "thread %d line %d %s", t, i, pad);
		assert_string_equal(line, want);
	}
	assert_int_equal(n, THREADS * LINES);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_startup_form, setup),
		cmocka_unit_test_setup(test_timestamps, setup),
		cmocka_unit_test_setup(test_levels, setup),
		cmocka_unit_test_setup(test_escaping, setup),
		cmocka_unit_test_setup(test_reopen, setup),
		cmocka_unit_test_setup(test_open_errors, setup),
		cmocka_unit_test_setup(test_threads, setup),
	};
	int rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(file, sizeof(file), "%s/error.log", dir);
	snprintf(rotated, sizeof(rotated), "%s/error.log.1", dir);
	snprintf(errfile, sizeof(errfile), "%s/stderr", dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(file);
	unlink(rotated);
	unlink(errfile);
	rmdir(dir);
	return rc;
}
