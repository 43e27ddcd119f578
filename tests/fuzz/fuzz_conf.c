/*
 * fuzz_conf.c - the configuration parser (server/conf.c): lexer,
 * directive table and whole-file checks, on any text.  A parse that
 * reports success must have collected no error.
 */
#include "config.h"

#include <string.h>

#include "conf.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_errors err;
	struct conf c;
	size_t i, errors = 0;
	int rc;

	memset(&err, 0, sizeof(err));
	conf_defaults(&c);
	rc = conf_parse_text(&c, "fuzz.conf", (const char *)data, size, &err);
	for (i = 0; i < err.n; i++)
		if (!err.e[i].warning)
			errors++;
	if (rc == 0 && errors != 0)
		fuzz_fail("parse succeeded with %zu errors", errors);
	if (rc != 0 && errors == 0)
		fuzz_fail("parse failed without an error line");
	conf_errors_clear(&err);
	conf_free(&c);
	return 0;
}
