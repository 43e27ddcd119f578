/*
 * fuzz_http.c - HTTP/1.1 request handling (server/http.c): the parser
 * callbacks, the limits, and the response to every request it completes,
 * against a small document root (a file, a subdirectory with an index, a
 * symbolic link out of the root).  The first input byte chooses how the
 * rest is cut into reads, as a slow or pipelining client would send it.
 *
 * Beyond not crashing: a response fits its buffer and has the blank line
 * that ends its head (a short error page follows it in the same buffer),
 * and a file body is never longer than the file.
 */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "http.h"

static struct http_site site;
static char root[64];
static const struct http_limits small = { 256, 1024, 16 };

static void
setup(void)
{
	char p[128];
	int fd;

	snprintf(root, sizeof(root), "/tmp/hsmtls-fuzz-www.XXXXXX");
	if (mkdtemp(root) == NULL)
		fuzz_fail("mkdtemp");
	snprintf(p, sizeof(p), "%s/index.html", root);
	if ((fd = open(p, O_WRONLY | O_CREAT, 0644)) == -1 ||
	    write(fd, "<p>hello</p>\n", 13) != 13)
		fuzz_fail("index.html");
	close(fd);
	snprintf(p, sizeof(p), "%s/d", root);
	(void)mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/d/index.html", root);
	if ((fd = open(p, O_WRONLY | O_CREAT, 0644)) == -1)
		fuzz_fail("d/index.html");
	close(fd);
	snprintf(p, sizeof(p), "%s/out", root);
	(void)symlink("/etc/passwd", p);
	http_global_init();
	if (http_site_open(&site, root) != 0)
		fuzz_fail("document root %s", root);
}

static void
check(const struct http_response *r)
{
	struct stat st;

	if (r->head_len < 4 || r->head_len > sizeof(r->head) ||
	    memmem(r->head, r->head_len, "\r\n\r\n", 4) == NULL)
		fuzz_fail("a response head of %zu bytes without its end",
		    r->head_len);
	if (r->body_fd >= 0 && (fstat(r->body_fd, &st) != 0 ||
	    r->body_len > st.st_size))
		fuzz_fail("a body longer than its file");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_session hs;
	struct http_response r;
	size_t cut, off = 0, used, n;
	enum http_feed f;
	int status;

	if (root[0] == '\0')
		setup();
	if (size < 1)
		return 0;
	cut = (size_t)(data[0] & 0x3f) + 1;
	data++;
	size--;
	http_session_init(&hs);
	if (data[-1] & 0x40)
		http_session_limits(&hs, &small);
	while (off < size) {
		n = size - off < cut ? size - off : cut;
		used = 0;
		status = 0;
		f = http_feed(&hs, (const char *)data + off, n, &used, &status);
		if (used > n)
			fuzz_fail("http_feed used %zu of %zu bytes", used, n);
		off += used;
		if (f == HTTP_FEED_BAD) {
			http_respond_error(status, &r);
			check(&r);
			http_response_clear(&r);
			break;
		}
		if (f == HTTP_FEED_REQUEST) {
			http_respond(&site, &hs, false, &r);
			check(&r);
			http_response_clear(&r);
			if (!r.keep_alive)
				break;
			http_next(&hs);
		} else if (used == 0) {
			break;
		}
	}
	http_session_free(&hs);
	return 0;
}
