/*
 * cmd_delete.c - remove a key from the token: the private key, its public
 * key and its certificates, which are the objects sharing its CKA_ID (the
 * link PKCS#11 and the engine use).  Without --confirm nothing is deleted:
 * the objects are listed and the command fails, so a script that forgot
 * --confirm cannot silently destroy a key.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok.h"

#define DELETE_MAX 64

struct victims {
	CK_OBJECT_HANDLE h[3 * DELETE_MAX];
	CK_ULONG n;
	unsigned char *id;
	size_t id_len;
};

/* The one private key the URI names. */
static int
delete_find_key(struct tok_p11 *p, const struct tok_target *t,
    CK_OBJECT_HANDLE *key)
{
	CK_OBJECT_HANDLE keys[2];
	CK_ULONG n = 0;

	if (tok_p11_find_keys(p, t, keys, 2, &n) == -1)
		return -1;
	if (n != 1) {
		tok_err(n == 0 ? "token '%s': no private key matches '%s'" :
		    "token '%s': more than one private key matches '%s'; name "
		    "one with object= and id=", tok_p11_label(p), t->spec);
		return -1;
	}
	*key = keys[0];
	return 0;
}

/* Objects of class c with the key's id, appended to v. */
static int
delete_collect(struct tok_p11 *p, struct victims *v, CK_OBJECT_CLASS c,
    CK_ULONG *found)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &c, sizeof(c) },
		{ CKA_ID, v->id, v->id_len },
	};

	if (tok_p11_find(p, tmpl, 2, v->h + v->n, DELETE_MAX, found) == -1)
		return -1;
	v->n += *found;
	return 0;
}

/* Certificates and the public key first: if a destroy fails half way the
 * private key, the object that matters, is still there to retry. */
static int
delete_victims(struct tok_p11 *p, CK_OBJECT_HANDLE key, struct victims *v)
{
	CK_ULONG n;

	v->id = tok_p11_get_bytes(p, key, CKA_ID, &v->id_len);
	if (v->id == NULL || v->id_len == 0) {
		tok_err("the key has no CKA_ID, so its public key and "
		    "certificates cannot be told apart; not deleting");
		return -1;
	}
	if (delete_collect(p, v, CKO_CERTIFICATE, &n) == -1 ||
	    delete_collect(p, v, CKO_PUBLIC_KEY, &n) == -1 ||
	    delete_collect(p, v, CKO_PRIVATE_KEY, &n) == -1)
		return -1;
	if (n != 1) {
		tok_err("%lu private keys share this key's CKA_ID; not "
		    "deleting", (unsigned long)n);
		return -1;
	}
	return 0;
}

static int
delete_print(struct tok_p11 *p, const struct victims *v, const char *verb)
{
	char uri[TOK_URI_MAX];
	CK_ULONG i;

	for (i = 0; i < v->n; i++) {
		if (tok_p11_object_uri(p, v->h[i], uri, sizeof(uri)) == -1)
			return -1;
		printf("%s %s\n", verb, uri);
	}
	return 0;
}

static int
delete_destroy(struct tok_p11 *p, const struct victims *v)
{
	char uri[TOK_URI_MAX];
	CK_ULONG i;
	CK_RV rv;

	for (i = 0; i < v->n; i++) {
		if (tok_p11_object_uri(p, v->h[i], uri, sizeof(uri)) == -1)
			return -1;
		rv = p->fl->C_DestroyObject(p->session, v->h[i]);
		if (rv != CKR_OK) {
			tok_err("%s: C_DestroyObject: %s", uri,
			    hk_ckr_str(rv));
			return -1;
		}
		printf("deleted %s\n", uri);
	}
	return 0;
}

int
tok_cmd_delete(const struct tok_opts *o)
{
	struct tok_p11 p = { .session = CK_INVALID_HANDLE };
	struct tok_target t;
	struct victims *v;
	CK_OBJECT_HANDLE key;
	int ret = -1;

	if (strncmp(o->key, "pkcs11:", 7) != 0) {
		tok_err("--key '%s' is not a PKCS#11 URI", o->key);
		return -1;
	}
	if ((v = calloc(1, sizeof(*v))) == NULL) {
		tok_err("out of memory");
		return -1;
	}
	if (tok_target_init(&t, o, o->key) == -1)
		goto end;
	if (tok_p11_open(&p, &t, 1) == -1 ||
	    delete_find_key(&p, &t, &key) == -1 ||
	    delete_victims(&p, key, v) == -1)
		goto close;
	if (!o->confirm) {
		if (delete_print(&p, v, "would delete") == 0)
			tok_err("nothing deleted: add --confirm to delete the "
			    "%lu objects listed", (unsigned long)v->n);
		goto close;
	}
	ret = delete_destroy(&p, v);
close:
	fflush(stdout);
	tok_p11_close(&p);
	tok_target_free(&t);
end:
	if (v != NULL)
		free(v->id);
	free(v);
	return ret;
}
