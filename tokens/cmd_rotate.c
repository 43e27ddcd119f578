/*
 * cmd_rotate.c - a new key beside the old one, and its CSR.
 *
 * The old key keeps serving until the new certificate is deployed; only
 * "delete --confirm" removes it.  The new key gets a new label and a fresh
 * id, so the engine, which finds keys by id, can never confuse the two.  By
 * default it has the old key's type and usage, and the request the subject
 * and subjectAltName of the old key's certificate.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "tok.h"

struct rotate {
	const struct tok_key_type *kt;
	int decrypt;
	char label[256];
	unsigned char id[TOK_ID_MAX];
	size_t id_len;
	X509_NAME *name;
	X509_EXTENSION *san;
	char uri[TOK_URI_MAX];
};

static int
rotate_old_key(struct tok_p11 *p, const char *label, CK_OBJECT_HANDLE *key)
{
	CK_OBJECT_CLASS c = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &c, sizeof(c) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE keys[2];
	CK_ULONG n;

	if (tok_p11_find(p, tmpl, 2, keys, 2, &n) == -1)
		return -1;
	if (n != 1) {
		tok_err(n == 0 ? "token '%s': no private key labelled '%s' to "
		    "rotate" : "token '%s': more than one private key labelled "
		    "'%s'", tok_p11_label(p), label);
		return -1;
	}
	*key = keys[0];
	return 0;
}

/* s starts with "-" and 14 digits. */
static int
rotate_is_stamp(const char *s)
{
	return s[0] == '-' && strspn(s + 1, "0123456789") == 14;
}

/* Length of OLD without a "-YYYYMMDDHHMMSS" or "-YYYYMMDDHHMMSS-N" tail. */
static size_t
rotate_base_len(const char *old)
{
	size_t len = strlen(old), n = len;

	while (n > 0 && old[n - 1] >= '0' && old[n - 1] <= '9')
		n--;
	if (n < len && n > 16 && old[n - 1] == '-' &&
	    rotate_is_stamp(old + n - 16))
		len = n - 1;
	if (len > 15 && rotate_is_stamp(old + len - 15))
		len -= 15;
	return len;
}

/*
 * OLD-YYYYMMDDHHMMSS (UTC), replacing such a suffix already on OLD; when a
 * key already has that label (a second rotation within the same second),
 * OLD-YYYYMMDDHHMMSS-2, -3, ...: the label stays readable and sortable.
 */
static int
rotate_label(struct tok_p11 *p, struct rotate *r, const char *old,
    const char *given)
{
	size_t len = rotate_base_len(old);
	char stamp[16];
	time_t now = time(NULL);
	struct tm tm;
	int seq, used;

	if (given != NULL) {
		snprintf(r->label, sizeof(r->label), "%s", given);
		return 0;
	}
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm) == 0) {
		tok_err("cannot read the clock for the new key's label");
		return -1;
	}
	for (seq = 1; seq < 1000; seq++) {
		if ((seq == 1 ? snprintf(r->label, sizeof(r->label), "%.*s-%s",
		    (int)len, old, stamp) : snprintf(r->label,
		    sizeof(r->label), "%.*s-%s-%d", (int)len, old, stamp,
		    seq)) >= (int)sizeof(r->label)) {
			tok_err("--label '%s': too long to add a date to", old);
			return -1;
		}
		used = tok_p11_label_used(p, r->label, CKO_PRIVATE_KEY,
		    CKO_PUBLIC_KEY);
		if (used == -1)
			return -1;
		if (!used)
			return 0;
	}
	tok_err("token '%s': every label from '%s' to '%s' is taken; give "
	    "--new-label", tok_p11_label(p), stamp, r->label);
	return -1;
}

/* The certificate for the old key: --cert FILE, else on the token by id. */
static X509 *
rotate_old_cert(struct tok_p11 *p, const struct tok_opts *o,
    const unsigned char *id, size_t id_len)
{
	CK_OBJECT_CLASS c = CKO_CERTIFICATE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &c, sizeof(c) },
		{ CKA_ID, (void *)id, id_len },
	};
	CK_OBJECT_HANDLE cert;
	CK_ULONG n = 0;
	unsigned char *der;
	const unsigned char *q;
	size_t len;
	X509 *x = NULL;

	if (o->cert != NULL)
		return tok_x509_read(o->cert);
	if (tok_p11_find(p, tmpl, 2, &cert, 1, &n) == -1 || n == 0)
		return NULL;
	if ((der = tok_p11_get_bytes(p, cert, CKA_VALUE, &len)) == NULL)
		return NULL;
	q = der;
	x = d2i_X509(NULL, &q, (long)len);
	free(der);
	return x;
}

/* Subject and SAN: --subject/--san, else those of the old certificate. */
static int
rotate_names(struct tok_p11 *p, const struct tok_opts *o, struct rotate *r,
    const unsigned char *id, size_t id_len)
{
	X509 *x;
	int i;

	if (o->subject != NULL)
		return tok_csr_names(o->subject, o->san, &r->name, &r->san);
	if ((x = rotate_old_cert(p, o, id, id_len)) == NULL) {
		tok_err("--subject is required: no certificate for key '%s' "
		    "(import it, or give --cert FILE)", o->label);
		return -1;
	}
	r->name = X509_NAME_dup(X509_get_subject_name(x));
	i = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
	if (i >= 0)
		r->san = X509_EXTENSION_dup(X509_get_ext(x, i));
	X509_free(x);
	if (r->name == NULL || (i >= 0 && r->san == NULL)) {
		tok_err("out of memory");
		return -1;
	}
	return 0;
}

/* Everything the new key takes from the old one or from the options. */
static int
rotate_plan(struct tok_p11 *p, const struct tok_opts *o, struct rotate *r)
{
	CK_OBJECT_HANDLE old;
	unsigned char *id = NULL;
	size_t id_len = 0;
	int ret = -1;

	if (rotate_old_key(p, o->label, &old) == -1)
		return -1;
	r->kt = o->type != NULL ? tok_key_type(o->type) :
	    tok_key_type_of(p, old);
	if (r->kt == NULL)
		return -1;
	if (o->usage != NULL) {
		if (tok_usage_decrypt(o->usage, r->kt, &r->decrypt) == -1)
			return -1;
	} else {
		r->decrypt = r->kt->type == CKK_RSA &&
		    tok_p11_get_flag(p, old, CKA_DECRYPT) == 1;
	}
	id = tok_p11_get_bytes(p, old, CKA_ID, &id_len);
	if (rotate_label(p, r, o->label, o->new_label) == -1 ||
	    rotate_names(p, o, r, id, id_len) == -1 ||
	    tok_p11_free_id(p, id, id_len, r->id, &r->id_len) == -1)
		goto end;
	ret = 0;
end:
	free(id);
	return ret;
}

int
tok_cmd_rotate(const struct tok_opts *o)
{
	struct tok_p11 p = { .session = CK_INVALID_HANDLE };
	struct rotate r = { .kt = NULL };
	struct tok_target t;
	int ret = -1;

	if (tok_target_init(&t, o, o->token) == -1)
		return -1;
	if (tok_p11_open(&p, &t, 1) == -1 || rotate_plan(&p, o, &r) == -1 ||
	    tok_keygen_on(&p, r.kt, r.label, r.id, r.id_len, r.decrypt) == -1 ||
	    tok_uri(r.uri, sizeof(r.uri), tok_p11_label(&p), r.label, r.id,
	    r.id_len, "private") == -1) {
		tok_p11_close(&p);
		goto end;
	}
	/* The engine loads the module itself: ours must be finalized first. */
	tok_p11_close(&p);
	/* The key exists now: name it even if the request fails ("csr"). */
	printf("%s\n", r.uri);
	fflush(stdout);
	if (tok_csr_make(r.uri, t.module, t.pin_file, r.name, r.san,
	    o->out) == -1)
		goto end;
	ret = 0;
end:
	X509_NAME_free(r.name);
	X509_EXTENSION_free(r.san);
	tok_target_free(&t);
	return ret;
}
