/*
 * fuzz_uri.c - PKCS#11 URIs (engine/uri.c over p11-kit) and RFC 7512
 * pin-source values: every key line, token block and --key flag passes
 * through these.  A URI that parses must also give a token label answer
 * without failing, and a pin-source path, when one is found, must be an
 * absolute path.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "hk.h"
#include "hk_pin.h"
#include "hk_uri.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], label[256], *s;
	const char *path;
	P11KitUri *uri;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if ((uri = hk_uri_parse(s, err, sizeof(err))) != NULL) {
		(void)hk_uri_class(uri);
		p11_kit_uri_free(uri);
		if (strlen(s) == size &&
		    hk_uri_token_label(s, label, sizeof(label)) == -1 &&
		    strlen(s) < 200)
			fuzz_fail("a URI that parses has no token label answer");
	}
	if (memchr(err, '\0', sizeof(err)) == NULL)
		fuzz_fail("error message not terminated");
	if ((path = hk_pin_source_path(s)) != NULL && path[0] != '/')
		fuzz_fail("pin-source '%s' gave the relative path '%s'", s, path);
	free(s);
	return 0;
}
