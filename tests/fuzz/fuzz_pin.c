/*
 * fuzz_pin.c - the PIN file reader (engine/pin.c).  The input is written
 * to a private (0600) file and read as a PIN file.  Beyond not crashing:
 * a PIN is accepted exactly when the first line (up to CR or LF) is 1 to
 * 256 bytes without a NUL, and the PIN is then exactly that line.
 */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "hk_pin.h"

#define PIN_MAX 256

static char path[64];

static void
remove_file(void)
{
	if (path[0] != '\0')
		(void)unlink(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t line, len;
	struct hk_pin *pin;
	const char *v;
	char err[512];
	int fd, want;

	if (size > 3000)        /* more than the first line is never read */
		return 0;
	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "/tmp/hsmtls-fuzz-pin.XXXXXX");
		if ((fd = mkstemp(path)) == -1)
			fuzz_fail("mkstemp");
		close(fd);
		atexit(remove_file);
	}
	if ((fd = open(path, O_WRONLY | O_TRUNC)) == -1)
		fuzz_fail("open %s", path);
	if (write(fd, data, size) != (ssize_t)size)
		fuzz_fail("write %s", path);
	close(fd);
	for (line = 0; line < size && data[line] != '\r' && data[line] != '\n';
	    line++)
		;
	want = line >= 1 && line <= PIN_MAX && memchr(data, '\0', line) == NULL;
	pin = hk_pin_read_file(path, err, sizeof(err));
	if (want && pin == NULL)
		fuzz_fail("a %zu-byte text PIN was refused: %s", line, err);
	if (!want && pin != NULL)
		fuzz_fail("a first line of %zu bytes%s was taken as a PIN", line,
		    memchr(data, '\0', line) != NULL ? " with a NUL" : "");
	if (pin != NULL) {
		v = hk_pin_value(pin, &len);
		if (len != line || memcmp(v, data, line) != 0)
			fuzz_fail("the PIN is not the file's first line");
		hk_pin_free(pin);
	}
	return 0;
}
