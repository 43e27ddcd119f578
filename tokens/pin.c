/*
 * pin.c - read a PIN from a file that only its owner can read.
 *
 * The PIN never comes from argv or the environment (other users can read
 * /proc/PID/cmdline and environ of a process).  The file must be a regular
 * file owned by the current user with no group/other permission bits, the
 * check relayd's check_file_secrecy() makes; it is done on the open
 * descriptor, so the file checked is the file read.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "tok.h"

static int
pin_check_secrecy(int fd, const char *what, const char *path)
{
	struct stat st;

	if (fstat(fd, &st) == -1) {
		tok_err_errno("%s %s: fstat", what, path);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		tok_err("%s %s: not a regular file", what, path);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		tok_err("%s %s: owned by uid %lu, not by the current "
		    "user (uid %lu)", what, path, (unsigned long)st.st_uid,
		    (unsigned long)geteuid());
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		tok_err("%s %s: group or other permission bits set "
		    "(mode %04o; chmod 600)", what, path,
		    (unsigned int)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* The same rule for other secret files (dev-ca's ca.key). */
int
tok_check_secrecy(int fd, const char *path)
{
	return pin_check_secrecy(fd, "key file", path);
}

/* Read up to size bytes; stops early at end of file. */
static ssize_t
pin_read_all(int fd, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;

	while (got < size) {
		n = read(fd, buf + got, size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * Store the first line of path, without its line ending, NUL-terminated in
 * pin[size].  The caller wipes pin with tok_pin_wipe() when done.
 */
int
tok_pin_read(const char *path, char *pin, size_t size)
{
	char buf[TOK_PIN_MAX + 2];
	ssize_t n;
	size_t len;
	int fd, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		tok_err_errno("PIN file %s", path);
		return -1;
	}
	if (pin_check_secrecy(fd, "PIN file", path) == -1)
		goto end;
	n = pin_read_all(fd, buf, sizeof(buf));
	if (n == -1) {
		tok_err_errno("PIN file %s: read", path);
		goto end;
	}
	for (len = 0; len < (size_t)n; len++)
		if (buf[len] == '\n' || buf[len] == '\r')
			break;
	if (memchr(buf, '\0', len) != NULL) {
		tok_err("PIN file %s: contains a NUL byte", path);
		goto end;
	}
	if (len == 0) {
		tok_err("PIN file %s: empty first line", path);
		goto end;
	}
	if (len > TOK_PIN_MAX || len >= size) {
		tok_err("PIN file %s: PIN longer than %d bytes", path,
		    TOK_PIN_MAX);
		goto end;
	}
	memcpy(pin, buf, len);
	pin[len] = '\0';
	ret = 0;
end:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return ret;
}

void
tok_pin_wipe(char *pin, size_t size)
{
	OPENSSL_cleanse(pin, size);
}
