/*
 * cmd_check.c - is a key fit to be a server's TLS key?  A key passes when
 * the token will never reveal it and never did (sensitive, not extractable,
 * always sensitive, never extractable), it was generated on the token
 * (CKA_LOCAL: no copy of it exists outside), and it can sign without a
 * login per operation (no CKA_ALWAYS_AUTHENTICATE, which a server that
 * signs for every handshake cannot satisfy).  CKA_DECRYPT is reported: it
 * is needed only for TLS 1.2 RSA key exchange.
 *
 * The attributes are read once per key by the engine's reader
 * (hk_custody_read), and the key's custody line is the engine's too, so
 * it is the line hsmtls-server prints at start-up for the same key.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk_custody.h"
#include "tok.h"

#define CHECK_MAX_KEYS 1024

struct rule {
	size_t off;             /* the flag in struct hk_custody */
	const char *name;       /* as in list's output */
	int want;               /* the value a good key has */
	int absent_ok;          /* an unreported value counts as "want" */
	const char *why;        /* the reason when it does not */
};

static const struct rule rules[] = {
#define F(name) offsetof(struct hk_custody, name)
	{ F(sensitive), "sensitive", 1, 0, "not sensitive" },
	{ F(extractable), "extractable", 0, 0, "extractable" },
	{ F(local), "local", 1, 0, "not generated on the token" },
	{ F(always_sensitive), "always-sensitive", 1, 0,
	    "was not always sensitive" },
	{ F(never_extractable), "never-extractable", 1, 0,
	    "was once extractable" },
	/* Optional in PKCS#11; absent means false. */
	{ F(always_authenticate), "always-authenticate", 0, 1,
	    "CKA_ALWAYS_AUTHENTICATE (a login for every signature; a server "
	    "cannot use it)" },
};

static const char *
word(int v)
{
	return v == 1 ? "yes" : v == 0 ? "no" : "unknown";
}

static void
append(char *buf, size_t size, const char *sep, const char *s)
{
	size_t len = strlen(buf);

	snprintf(buf + len, size - len, "%s%s", len > 0 ? sep : "", s);
}

static int
flag_of(const struct hk_custody *c, size_t off)
{
	int v;

	memcpy(&v, (const char *)c + off, sizeof(v));
	return v;
}

/*
 * 0 if the key passes, 1 if not (reason line on stderr), -1 on error.
 * Two lines on stdout: "ok|FAIL URI flags" and "custody: ..." as
 * hsmtls-server prints it.
 */
static int
check_key(struct tok_p11 *p, CK_OBJECT_HANDLE key)
{
	char uri[TOK_URI_MAX], flags[256] = "", why[512] = "", one[64];
	char custody[TOK_URI_MAX + 512];
	struct hk_custody c;
	size_t i;
	int v;

	if (tok_p11_object_uri(p, key, uri, sizeof(uri)) == -1)
		return -1;
	hk_custody_read(p->fl, p->session, key, &c);
	hk_custody_format(&c, tok_p11_label(p), uri, custody,
	    sizeof(custody));
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		v = flag_of(&c, rules[i].off);
		snprintf(one, sizeof(one), "%s=%s", rules[i].name, word(v));
		append(flags, sizeof(flags), " ", one);
		if (v == -1 && rules[i].absent_ok)
			continue;
		if (v != rules[i].want)
			append(why, sizeof(why), ", ", v == -1 ?
			    rules[i].name : rules[i].why);
	}
	snprintf(one, sizeof(one), "decrypt=%s", word(c.decrypt));
	append(flags, sizeof(flags), " ", one);
	printf("%s %s %s\ncustody: %s\n", why[0] ? "FAIL" : "ok", uri, flags,
	    custody);
	if (why[0] == '\0')
		return 0;
	fprintf(stderr, "hsmtls-token: %s: %s\n", uri, why);
	return 1;
}

static int
check_target(const struct tok_opts *o, const char **spec)
{
	if ((o->key == NULL) == (o->token == NULL)) {
		tok_err("check: give --key URI (one key) or --token LABEL "
		    "(every private key on it)");
		return -1;
	}
	*spec = o->key != NULL ? o->key : o->token;
	if (o->key != NULL && strncmp(o->key, "pkcs11:", 7) != 0) {
		tok_err("--key '%s' is not a PKCS#11 URI", o->key);
		return -1;
	}
	return 0;
}

int
tok_cmd_check(const struct tok_opts *o)
{
	struct tok_p11 p = { .session = CK_INVALID_HANDLE };
	struct tok_target t;
	CK_OBJECT_HANDLE *keys = NULL;
	CK_ULONG n = 0, i;
	const char *spec;
	int r, failed = 0, ret = -1;

	if (check_target(o, &spec) == -1 ||
	    tok_target_init(&t, o, spec) == -1)
		return -1;
	if ((keys = calloc(CHECK_MAX_KEYS, sizeof(*keys))) == NULL) {
		tok_err("out of memory");
		goto end;
	}
	if (tok_p11_open(&p, &t, 0) == -1 ||
	    tok_p11_find_keys(&p, &t, keys, CHECK_MAX_KEYS, &n) == -1)
		goto end;
	if (n == 0) {
		tok_err("token '%s': no private key matches '%s'",
		    tok_p11_label(&p), spec);
		goto end;
	}
	for (i = 0; i < n; i++) {
		if ((r = check_key(&p, keys[i])) == -1)
			goto end;
		failed |= r;
	}
	fflush(stdout);
	ret = failed;
end:
	free(keys);
	tok_p11_close(&p);
	tok_target_free(&t);
	return ret;
}
