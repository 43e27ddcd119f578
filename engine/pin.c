/*
 * pin.c - the token PIN: read once from a file, checked for secrecy, kept
 * in one page that is locked in memory, excluded from core dumps and wiped
 * when freed.  The process is made non-dumpable while it holds a PIN.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "hk_err.h"
#include "hk_pin.h"

struct hk_pin {
	size_t len;
	size_t pagesize;
	char value[];   /* NUL-terminated; the rest of the page */
};

static struct hk_pin *
pin_alloc(char *err, size_t errlen)
{
	size_t pagesize = (size_t)sysconf(_SC_PAGESIZE);
	struct hk_pin *pin;

	pin = mmap(NULL, pagesize, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pin == MAP_FAILED) {
		hk_fmterr(err, errlen, "PIN buffer: %s", strerror(errno));
		return NULL;
	}
	if (mlock(pin, pagesize) != 0) {
		hk_fmterr(err, errlen, "cannot lock PIN memory: %s",
		    strerror(errno));
		munmap(pin, pagesize);
		return NULL;
	}
	(void)madvise(pin, pagesize, MADV_DONTDUMP);
	/* No core dumps or ptrace by the same user while a PIN is held. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	pin->pagesize = pagesize;
	pin->len = 0;
	return pin;
}

void
hk_pin_free(struct hk_pin *pin)
{
	size_t pagesize;

	if (pin == NULL)
		return;
	pagesize = pin->pagesize;
	OPENSSL_cleanse(pin, pagesize);
	munlock(pin, pagesize);
	munmap(pin, pagesize);
}

/* Wipe the PIN but keep the page mapped, for threads that may still read
 * it (they then find an empty PIN). */
void
hk_pin_wipe(struct hk_pin *pin)
{
	if (pin == NULL)
		return;
	OPENSSL_cleanse(pin->value, pin->len);
	pin->len = 0;
}

const char *
hk_pin_value(const struct hk_pin *pin, size_t *len)
{
	*len = pin->len;
	return pin->value;
}

/*
 * Checked on the open descriptor, so the file checked is the file read.
 * Root may own it: a root-owned mode 0600 file is readable only by root.
 */
int
hk_secret_check(int fd, const char *what, const char *path, char *err,
    size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		hk_fmterr(err, errlen, "%s %s: fstat: %s", what, path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		hk_fmterr(err, errlen, "%s %s: not a regular file", what, path);
		return -1;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		hk_fmterr(err, errlen, "%s %s: owned by uid %lu, not by the "
		    "current user (uid %lu) or root", what, path,
		    (unsigned long)st.st_uid, (unsigned long)geteuid());
		return -1;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		hk_fmterr(err, errlen, "%s %s: group or other permission bits "
		    "set (mode %04o; chmod 600)", what, path,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Read the first line into the locked page; nothing else holds it. */
static int
read_first_line(int fd, struct hk_pin *pin, const char *path, char *err,
    size_t errlen)
{
	size_t room = pin->pagesize - sizeof(*pin) - 1, got = 0, len;
	ssize_t n;

	while (got < room) {
		n = read(fd, pin->value + got, room - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			hk_fmterr(err, errlen, "PIN file %s: read: %s", path,
			    strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	/* The line ends at CR or LF only: a NUL inside it is refused, not
	 * taken as its end. */
	for (len = 0; len < got; len++)
		if (pin->value[len] == '\n' || pin->value[len] == '\r')
			break;
	OPENSSL_cleanse(pin->value + len, got - len);
	if (memchr(pin->value, '\0', len) != NULL) {
		OPENSSL_cleanse(pin->value, len);
		hk_fmterr(err, errlen, "PIN file %s: contains a NUL byte", path);
		return -1;
	}
	pin->len = len;
	pin->value[len] = '\0';
	if (len == 0) {
		hk_fmterr(err, errlen, "PIN file %s: empty first line", path);
		return -1;
	}
	if (len > HK_PIN_MAX) {
		hk_fmterr(err, errlen, "PIN file %s: PIN longer than %d bytes",
		    path, HK_PIN_MAX);
		return -1;
	}
	return 0;
}

struct hk_pin *
hk_pin_read_file(const char *path, char *err, size_t errlen)
{
	struct hk_pin *pin = NULL;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		hk_fmterr(err, errlen, "PIN file %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (hk_secret_check(fd, "PIN file", path, err, errlen) != 0)
		goto err;
	if ((pin = pin_alloc(err, errlen)) == NULL)
		goto err;
	if (read_first_line(fd, pin, path, err, errlen) != 0)
		goto err;
	close(fd);
	return pin;
err:
	hk_pin_free(pin);
	close(fd);
	return NULL;
}

const char *
hk_pin_source_path(const char *source)
{
	const char *path = source;

	if (strncmp(path, "file://", 7) == 0) {
		path += 7;
		if (strncmp(path, "localhost/", 10) == 0)
			path += 9;
	} else if (strncmp(path, "file:", 5) == 0) {
		path += 5;
	}
	return path[0] == '/' ? path : NULL;
}

/* RFC 7512 pin-source: a file: URI or an absolute path (RFC 8089 forms). */
struct hk_pin *
hk_pin_from_source(const char *source, char *err, size_t errlen)
{
	const char *path = hk_pin_source_path(source);

	if (path == NULL) {
		hk_fmterr(err, errlen, "pin-source '%s': want a file: URI or "
		    "an absolute path", source);
		return NULL;
	}
	return hk_pin_read_file(path, err, errlen);
}
