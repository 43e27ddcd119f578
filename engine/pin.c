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
#include "hk_internal.h"
#include "hk_uri.h"

#define PIN_MAX 256

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

/* The file must be ours (or root's) and closed to group and others. */
static int
check_secrecy(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		hk_fmterr(err, errlen, "PIN file '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		hk_fmterr(err, errlen, "PIN file '%s': not a regular file",
		    path);
		return -1;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		hk_fmterr(err, errlen, "PIN file '%s': owned by uid %u, "
		    "not by this user or root", path, (unsigned)st.st_uid);
		return -1;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		hk_fmterr(err, errlen, "PIN file '%s': mode %04o gives access "
		    "to group or others; chmod 600 it", path,
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
	size_t room = pin->pagesize - sizeof(*pin) - 1, got = 0;
	ssize_t n;

	while (got < room) {
		n = read(fd, pin->value + got, room - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			hk_fmterr(err, errlen, "PIN file '%s': %s", path,
			    strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	/* The first line ends at CR or LF.  (Not strcspn(): it stops at a
	 * NUL too, and would take the text before it as a shorter PIN.) */
	for (pin->len = 0; pin->len < got && pin->value[pin->len] != '\r' &&
	    pin->value[pin->len] != '\n'; pin->len++)
		;
	OPENSSL_cleanse(pin->value + pin->len, got - pin->len);
	pin->value[pin->len] = '\0';
	if (pin->len == 0) {
		hk_fmterr(err, errlen, "PIN file '%s': empty first line", path);
		return -1;
	}
	if (pin->len > PIN_MAX || memchr(pin->value, '\0', pin->len)) {
		hk_fmterr(err, errlen, "PIN file '%s': PIN longer than %d bytes "
		    "or not text", path, PIN_MAX);
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
		hk_fmterr(err, errlen, "PIN file '%s': %s", path,
		    strerror(errno));
		return NULL;
	}
	if (check_secrecy(fd, path, err, errlen) != 0)
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
