/*
 * test_http_walk.c - the document-root path walk that http.c uses where
 * openat2() is missing: files and directories below the root open, a
 * symbolic link anywhere on the path is refused (inside the root too),
 * ".." is refused, and empty or "." components are skipped.  The same
 * requests through the openat2() path: the link that stays inside opens.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "http.c"

/* http.c logs through log.c; the messages do not matter here. */
void log_error(const char *fmt, ...) { (void)fmt; }
void log_warn(const char *fmt, ...) { (void)fmt; }
void log_info(const char *fmt, ...) { (void)fmt; }
void log_debug(const char *fmt, ...) { (void)fmt; }

static char root[64];
static int rootfd;

static void
put(const char *rel, const char *text)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int
setup(void **state)
{
	char p[256];

	snprintf(root, sizeof(root), "/tmp/hsmtls-walk.XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(p, sizeof(p), "%s/sub", root);
	assert_int_equal(mkdir(p, 0755), 0);
	put("index.html", "top");
	put("sub/page.html", "page");
	snprintf(p, sizeof(p), "%s/inside", root);
	assert_int_equal(symlink("index.html", p), 0);
	snprintf(p, sizeof(p), "%s/out", root);
	assert_int_equal(symlink("/etc", p), 0);
	snprintf(p, sizeof(p), "%s/subl", root);
	assert_int_equal(symlink("sub", p), 0);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	close(rootfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

/* What the open found: the file's first bytes, or "" and errno. */
static const char *
walk(const char *rel, int *err)
{
	static char buf[16];
	ssize_t n;
	int fd;

	errno = 0;
	fd = http_walk_open(rootfd, rel, O_RDONLY);
	*err = errno;
	if (fd == -1)
		return "";
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void
test_files_open(void **state)
{
	int err;

	assert_string_equal(walk("index.html", &err), "top");
	assert_string_equal(walk("sub/page.html", &err), "page");
	assert_string_equal(walk("sub//page.html", &err), "page");
	assert_string_equal(walk("./sub/./page.html", &err), "page");
	assert_string_equal(walk("/sub/page.html", &err), "page");
}

static void
test_links_and_dotdot_refused(void **state)
{
	int err;

	assert_string_equal(walk("inside", &err), "");
	assert_int_equal(err, ELOOP);
	assert_string_equal(walk("out/passwd", &err), "");
	assert_int_equal(err, ENOTDIR);
	assert_string_equal(walk("subl/page.html", &err), "");
	assert_string_equal(walk("sub/../index.html", &err), "");
	assert_int_equal(err, ENOENT);
	assert_string_equal(walk("..", &err), "");
	assert_string_equal(walk("nothere/x", &err), "");
	assert_int_equal(err, ENOENT);
}

static void
test_directories(void **state)
{
	int fd;

	fd = http_walk_open(rootfd, ".", O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	close(fd);
	fd = http_walk_open(rootfd, "sub/", O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	close(fd);
	fd = http_walk_open(rootfd, "", O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	close(fd);
}

/* The openat2() path, where the kernel has it: the inside link opens,
 * the escaping one does not. */
static void
test_openat2_path(void **state)
{
	long fd;

	http_no_openat2 = false;
	fd = http_openat2(rootfd, "out/passwd", O_RDONLY);
	assert_int_equal(fd, -1);
	fd = http_openat2(rootfd, "inside", O_RDONLY);
	if (http_no_openat2) {          /* ENOSYS: the walk answered */
		assert_int_equal(fd, -1);
		skip();
	}
	assert_true(fd >= 0);
	close((int)fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files_open),
		cmocka_unit_test(test_links_and_dotdot_refused),
		cmocka_unit_test(test_directories),
		cmocka_unit_test(test_openat2_path),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
