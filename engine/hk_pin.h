/*
 * hk_pin.h - the one PIN reader (pin.c), used by the engine, hsmtls-keyd
 * and hsmtls-token: a PIN file is checked for secrecy on the open
 * descriptor, its first line is kept in one page that is locked in
 * memory and excluded from core dumps, the process is made non-dumpable
 * while it holds a PIN, and the page is wiped when freed.
 */
#ifndef HK_PIN_H
#define HK_PIN_H

#include <stddef.h>

#define HK_PIN_MAX 256  /* longest PIN, without the line ending */

struct hk_pin;

struct hk_pin *hk_pin_read_file(const char *path, char *err, size_t errlen);
/* RFC 7512 pin-source: a file: URI or an absolute path. */
struct hk_pin *hk_pin_from_source(const char *source, char *err,
    size_t errlen);
/* NUL-terminated; *len without the NUL. */
const char *hk_pin_value(const struct hk_pin *pin, size_t *len);
void hk_pin_free(struct hk_pin *pin);
void hk_pin_wipe(struct hk_pin *pin);

/* The file a pin-source names (a file: URI or an absolute path, RFC 8089
 * forms), pointing into source; NULL when it names no absolute path. */
const char *hk_pin_source_path(const char *source);

/* The rule for every secret file (a PIN file, hsmtls-token's CA key):
 * a regular file, owned by this user or root, no group or other
 * permission bits.  what names the file in the message ("PIN file").
 * 0, or -1 with the reason in err. */
int hk_secret_check(int fd, const char *what, const char *path, char *err,
    size_t errlen);

#endif /* HK_PIN_H */
