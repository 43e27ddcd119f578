/*
 * cmd_keygen.c - generate a key pair on the token.
 *
 * libp11 0.4.12 cannot set key attributes, so C_GenerateKeyPair is called
 * through the function list with the exact templates: the private key is
 * sensitive and never extractable from the moment it exists, which is what
 * makes CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE true.
 *
 * Before generating, the token's C_GetMechanismInfo must offer the
 * key-pair mechanism for that size, so an operator learns "this HSM cannot
 * make rsa:4096 keys" from us rather than a bare CKR_KEY_SIZE_RANGE.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok.h"

/* Not in every pkcs11.h (PKCS#11 2.40 section 2.3.5). */
#ifndef CKF_EC_F_2M
#define CKF_EC_F_2M (1UL << 21)
#endif
#ifndef CKF_EC_ECPARAMETERS
#define CKF_EC_ECPARAMETERS (1UL << 22)
#endif

/* DER encodings of the curve OIDs, the value of CKA_EC_PARAMS. */
static const unsigned char oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
};
static const unsigned char oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22
};
static const unsigned char rsa_f4[] = { 0x01, 0x00, 0x01 }; /* 65537 */

static const struct tok_key_type key_types[] = {
	{ "ec:P-256", CKK_EC, 256, oid_p256, sizeof(oid_p256) },
	{ "ec:P-384", CKK_EC, 384, oid_p384, sizeof(oid_p384) },
	{ "rsa:2048", CKK_RSA, 2048, NULL, 0 },
	{ "rsa:3072", CKK_RSA, 3072, NULL, 0 },
	{ "rsa:4096", CKK_RSA, 4096, NULL, 0 },
};

const struct tok_key_type *
tok_key_type(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strcmp(key_types[i].name, name) == 0)
			return &key_types[i];
	tok_err("unsupported key type '%s' (want ec:P-256, ec:P-384, "
	    "rsa:2048, rsa:3072 or rsa:4096)", name);
	return NULL;
}

/* The type of a key on the token, for rotate's default; NULL if not ours. */
const struct tok_key_type *
tok_key_type_of(struct tok_p11 *p, CK_OBJECT_HANDLE key)
{
	unsigned char *v;
	size_t len, i;
	CK_ULONG kt;
	const struct tok_key_type *found = NULL;
	CK_ATTRIBUTE_TYPE what;

	if (tok_p11_get_ulong(p, key, CKA_KEY_TYPE, &kt) == -1)
		return NULL;
	what = kt == CKK_RSA ? CKA_MODULUS : CKA_EC_PARAMS;
	if ((v = tok_p11_get_bytes(p, key, what, &len)) == NULL)
		len = 0;
	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
		const struct tok_key_type *t = &key_types[i];

		if (t->type == kt && ((kt == CKK_RSA && len * 8 == t->bits) ||
		    (kt == CKK_EC && len == t->oid_len &&
		    memcmp(v, t->oid, len) == 0)))
			found = t;
	}
	free(v);
	if (found == NULL)
		tok_err("token '%s': the old key is of a type keygen does not "
		    "make; give --type", tok_p11_label(p));
	return found;
}

/*
 * "sign" (the default) or "sign,decrypt".  Decryption is only for TLS 1.2
 * RSA key exchange: a key that cannot decrypt can never be turned into a
 * signing oracle through a padding attack on decryption (ROBOT).
 */
int
tok_usage_decrypt(const char *usage, const struct tok_key_type *kt,
    int *decrypt)
{
	*decrypt = 0;
	if (usage == NULL || strcmp(usage, "sign") == 0)
		return 0;
	if (strcmp(usage, "sign,decrypt") != 0 &&
	    strcmp(usage, "decrypt,sign") != 0) {
		tok_err("--usage '%s': want sign or sign,decrypt", usage);
		return -1;
	}
	if (kt->type != CKK_RSA) {
		tok_err("--usage sign,decrypt is for RSA keys only (RSA key "
		    "exchange); %s keys sign", kt->name);
		return -1;
	}
	*decrypt = 1;
	return 0;
}

/* The EC capability flags, when the token states any, must allow ours. */
static int
keygen_ec_flags_ok(CK_FLAGS f)
{
	CK_FLAGS field = CKF_EC_F_P | CKF_EC_F_2M;
	CK_FLAGS params = CKF_EC_ECPARAMETERS | CKF_EC_NAMEDCURVE;

	if ((f & field) && !(f & CKF_EC_F_P))
		return 0;
	if ((f & params) && !(f & CKF_EC_NAMEDCURVE))
		return 0;
	return 1;
}

static int
keygen_check_mech(struct tok_p11 *p, const struct tok_key_type *kt)
{
	CK_MECHANISM_TYPE m = kt->type == CKK_RSA ?
	    CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN;
	const char *mn = kt->type == CKK_RSA ?
	    "CKM_RSA_PKCS_KEY_PAIR_GEN" : "CKM_EC_KEY_PAIR_GEN";
	const char *tl = tok_p11_label(p);
	CK_MECHANISM_INFO mi;
	CK_RV rv;

	rv = p->fl->C_GetMechanismInfo(PKCS11_get_slotid_from_slot(p->slot),
	    m, &mi);
	if (rv == CKR_MECHANISM_INVALID) {
		tok_err("token '%s' cannot generate %s keys (no %s)", tl,
		    kt->name, mn);
		return -1;
	}
	if (rv != CKR_OK) {
		tok_err("token '%s': C_GetMechanismInfo(%s): %s", tl, mn,
		    hk_ckr_str(rv));
		return -1;
	}
	if (!(mi.flags & CKF_GENERATE_KEY_PAIR)) {
		tok_err("token '%s' cannot generate %s keys (%s without "
		    "CKF_GENERATE_KEY_PAIR)", tl, kt->name, mn);
		return -1;
	}
	if (kt->bits < mi.ulMinKeySize ||
	    (mi.ulMaxKeySize != 0 && kt->bits > mi.ulMaxKeySize)) {
		tok_err("token '%s' cannot generate %s keys (%s supports "
		    "%lu..%lu bits)", tl, kt->name, mn,
		    (unsigned long)mi.ulMinKeySize,
		    (unsigned long)mi.ulMaxKeySize);
		return -1;
	}
	if (kt->type == CKK_EC && !keygen_ec_flags_ok(mi.flags)) {
		tok_err("token '%s' cannot generate %s keys (%s flags 0x%lx: "
		    "no named prime curves)", tl, kt->name, mn,
		    (unsigned long)mi.flags);
		return -1;
	}
	return 0;
}

/* The engine finds keys by CKA_ID, so neither label nor id may repeat. */
static int
keygen_check_unused(struct tok_p11 *p, const char *label,
    const unsigned char *id, size_t id_len)
{
	int used;

	used = tok_p11_label_used(p, label, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY);
	if (used == -1)
		return -1;
	if (used) {
		tok_err("token '%s': a key labelled '%s' already exists",
		    tok_p11_label(p), label);
		return -1;
	}
	if ((used = tok_p11_id_used(p, id, id_len)) == -1)
		return -1;
	if (used) {
		tok_err("token '%s': an object with this id already exists",
		    tok_p11_label(p));
		return -1;
	}
	return 0;
}

static int
keygen_generate(struct tok_p11 *p, const struct tok_key_type *kt,
    const char *label, const unsigned char *id, size_t id_len, int decrypt)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BBOOL dec = decrypt ? CK_TRUE : CK_FALSE;
	CK_ULONG bits = kt->bits;
	CK_MECHANISM mech = { kt->type == CKK_RSA ?
	    CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pub[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &dec, sizeof(dec) },
		{ CKA_WRAP, &no, sizeof(no) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, id_len },
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
		{ CKA_DECRYPT, &dec, sizeof(dec) },
		/* SoftHSM defaults unwrap to true: decryption by another name. */
		{ CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, id_len },
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
		    tok_p11_label(p), kt->name, hk_ckr_str(rv));
		return -1;
	}
	return 0;
}

/* Check mechanism and uniqueness, then generate: keygen and rotate. */
int
tok_keygen_on(struct tok_p11 *p, const struct tok_key_type *kt,
    const char *label, const unsigned char *id, size_t id_len, int decrypt)
{
	if (keygen_check_mech(p, kt) == -1 ||
	    keygen_check_unused(p, label, id, id_len) == -1 ||
	    keygen_generate(p, kt, label, id, id_len, decrypt) == -1)
		return -1;
	return 0;
}

int
tok_cmd_keygen(const struct tok_opts *o)
{
	struct tok_p11 p = { .session = CK_INVALID_HANDLE };
	struct tok_target t;
	unsigned char id[TOK_ID_MAX];
	char uri[TOK_URI_MAX];
	const struct tok_key_type *kt;
	size_t id_len = 0;
	int decrypt, ret = -1;

	if ((kt = tok_key_type(o->type)) == NULL ||
	    tok_usage_decrypt(o->usage, kt, &decrypt) == -1 ||
	    (o->id != NULL &&
	    tok_hex_decode(o->id, id, sizeof(id), &id_len) == -1))
		return -1;
	if (tok_target_init(&t, o, o->token) == -1)
		return -1;
	if (tok_p11_open(&p, &t, 1) == -1 ||
	    (o->id == NULL && tok_p11_free_id(&p, NULL, 0, id, &id_len) == -1) ||
	    tok_keygen_on(&p, kt, o->label, id, id_len, decrypt) == -1 ||
	    tok_uri(uri, sizeof(uri), tok_p11_label(&p), o->label, id, id_len,
	    "private") == -1)
		goto end;
	printf("%s\n", uri);
	ret = 0;
end:
	tok_p11_close(&p);
	tok_target_free(&t);
	return ret;
}
