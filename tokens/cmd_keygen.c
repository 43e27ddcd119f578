/*
 * cmd_keygen.c - generate a key pair on the token.
 *
 * libp11 0.4.12 cannot set key attributes, so C_GenerateKeyPair is called
 * through the function list with the exact templates: the private key is
 * sensitive and never extractable from the moment it exists, which is what
 * makes CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE true.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tok.h"

/* DER encodings of the curve OIDs, the value of CKA_EC_PARAMS. */
static const unsigned char oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
};
static const unsigned char oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22
};
static const unsigned char rsa_f4[] = { 0x01, 0x00, 0x01 }; /* 65537 */

struct key_type {
	const char *name;
	CK_KEY_TYPE type;
	CK_ULONG bits;              /* RSA */
	const unsigned char *oid;   /* EC */
	size_t oid_len;
};

static const struct key_type key_types[] = {
	{ "ec:P-256", CKK_EC, 0, oid_p256, sizeof(oid_p256) },
	{ "ec:P-384", CKK_EC, 0, oid_p384, sizeof(oid_p384) },
	{ "rsa:2048", CKK_RSA, 2048, NULL, 0 },
	{ "rsa:3072", CKK_RSA, 3072, NULL, 0 },
	{ "rsa:4096", CKK_RSA, 4096, NULL, 0 },
};

static const struct key_type *
keygen_type(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strcmp(key_types[i].name, name) == 0)
			return &key_types[i];
	tok_err("unknown key type '%s' (want ec:P-256, ec:P-384, rsa:2048, "
	    "rsa:3072 or rsa:4096)", name);
	return NULL;
}

/* The engine finds keys by CKA_ID, so neither label nor id may repeat. */
static int
keygen_check_unused(struct tok_p11 *p, const char *label,
    const unsigned char *id, size_t id_len)
{
	CK_OBJECT_CLASS cls[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY };
	CK_ATTRIBUTE tmpl[2];
	CK_OBJECT_HANDLE obj;
	CK_ULONG count;
	size_t i;
	int used;

	used = tok_p11_label_used(p, label, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY);
	if (used == -1)
		return -1;
	if (used) {
		tok_err("token '%s': a key labelled '%s' already exists",
		    p->slot->token->label, label);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		tmpl[0] = (CK_ATTRIBUTE){ CKA_CLASS, &cls[i], sizeof(cls[i]) };
		tmpl[1] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, id_len };
		if (tok_p11_find(p, tmpl, 2, &obj, 1, &count) == -1)
			return -1;
		if (count > 0) {
			tok_err("token '%s': a key with this id already "
			    "exists", p->slot->token->label);
			return -1;
		}
	}
	return 0;
}

static int
keygen_generate(struct tok_p11 *p, const struct key_type *kt,
    const char *label, unsigned char *id, size_t id_len)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = kt->bits;
	CK_MECHANISM mech = { kt->type == CKK_RSA ?
	    CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pub[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_WRAP, &no, sizeof(no) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, id, id_len },
		/* EC uses entries 0-7; RSA replaces 7 and adds 8 (below). */
		{ CKA_EC_PARAMS, (void *)kt->oid, kt->oid_len },
		{ CKA_PUBLIC_EXPONENT, (void *)rsa_f4, sizeof(rsa_f4) },
	};
	CK_ATTRIBUTE priv[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_DECRYPT, &no, sizeof(no) },
		/* SoftHSM defaults unwrap to true: decryption by another name. */
		{ CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, id, id_len },
	};
	CK_ULONG npub = 8;
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_RV rv;

	if (kt->type == CKK_RSA) {
		pub[7] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof(bits) };
		npub = 9;
	}
	rv = p->fl->C_GenerateKeyPair(p->session, &mech, pub, npub, priv,
	    sizeof(priv) / sizeof(priv[0]), &hpub, &hpriv);
	if (rv != CKR_OK) {
		tok_err("token '%s': C_GenerateKeyPair (%s): %s",
		    p->slot->token->label, kt->name, tok_ckr_name(rv));
		return -1;
	}
	return 0;
}

int
tok_cmd_keygen(const struct tok_opts *o)
{
	struct tok_p11 p = { .session = CK_INVALID_HANDLE };
	unsigned char id[TOK_ID_MAX];
	char uri[TOK_URI_MAX];
	const struct key_type *kt;
	size_t id_len;
	int ret = -1;

	if ((kt = keygen_type(o->type)) == NULL ||
	    tok_hex_decode(o->id, id, sizeof(id), &id_len) == -1)
		return -1;
	if (tok_p11_open(&p, o, 1) == -1 ||
	    keygen_check_unused(&p, o->label, id, id_len) == -1 ||
	    keygen_generate(&p, kt, o->label, id, id_len) == -1 ||
	    tok_uri(uri, sizeof(uri), p.slot->token->label, o->label, id,
	    id_len, "private") == -1)
		goto end;
	printf("%s\n", uri);
	ret = 0;
end:
	tok_p11_close(&p);
	return ret;
}
