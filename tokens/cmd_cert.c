/*
 * cmd_cert.c - certificates for token keys: selfsign (a self-signed X.509
 * v3 certificate signed on the token through the engine) and import-cert
 * (store a certificate on the token with libp11, beside its key).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "hk.h"
#include "tok.h"

/*
 * CA:TRUE so the certificate can be its own trust anchor (curl --cacert).
 * An RSA key also gets keyEncipherment: TLS 1.2 RSA key exchange requires
 * it (RFC 5246 7.4.2), and clients such as GnuTLS enforce it.
 */
static int
cert_extensions(X509 *x, EVP_PKEY *pkey, const char *san)
{
	const char *ku = EVP_PKEY_is_a(pkey, "RSA") ?
	    "critical,digitalSignature,keyEncipherment,keyCertSign" :
	    "critical,digitalSignature,keyCertSign";

	if (tok_x509_add_ext(x, x, NID_basic_constraints,
	    "critical,CA:TRUE") == -1 ||
	    tok_x509_add_ext(x, x, NID_key_usage, ku) == -1 ||
	    tok_x509_add_ext(x, x, NID_ext_key_usage, "serverAuth") == -1 ||
	    tok_x509_add_ext(x, x, NID_subject_key_identifier, "hash") == -1 ||
	    tok_x509_add_ext(x, x, NID_authority_key_identifier,
	    "keyid:always") == -1)
		return -1;
	if (san[0] != '\0' &&
	    tok_x509_add_ext(x, x, NID_subject_alt_name, san) == -1)
		return -1;
	return 0;
}

/* Everything but the signature. */
static X509 *
cert_build(EVP_PKEY *pkey, const char *subject, const char *san, int days)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	if (x == NULL || name == NULL) {
		tok_err("out of memory");
		goto err;
	}
	if (tok_x509_name(name, subject) == -1 || tok_x509_serial(x) == -1)
		goto err;
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL ||
	    !X509_set_pubkey(x, pkey)) {
		tok_err("building the certificate: %s", tok_ossl_err());
		goto err;
	}
	if (cert_extensions(x, pkey, san) == -1)
		goto err;
	X509_NAME_free(name);
	return x;
err:
	X509_NAME_free(name);
	X509_free(x);
	return NULL;
}

/*
 * Check the token's signature with a software copy of the public key, so a
 * key/engine fault shows here rather than in a client's handshake.
 */
static int
cert_check_signature(X509 *x)
{
	EVP_PKEY *pub = tok_pubkey_copy(X509_get_X509_PUBKEY(x));
	int ret = -1;

	if (pub != NULL && X509_verify(x, pub) != 1)
		tok_err("the token's signature does not verify with the "
		    "certificate's public key");
	else if (pub != NULL)
		ret = 0;
	EVP_PKEY_free(pub);
	return ret;
}

int
tok_cmd_selfsign(const struct tok_opts *o)
{
	const char *subject = o->subject ? o->subject : "CN=localhost";
	struct hk_engine *e = NULL;
	struct hk_key *k;
	X509 *x = NULL;
	int days, ret = -1;

	if (tok_parse_days(o->days, 365, &days) == -1)
		return -1;
	if ((e = hk_engine_new()) == NULL) {
		tok_err("cannot start the key engine");
		return -1;
	}
	/* Custody is the server's and check's to judge: an imported key
	 * may still need a certificate (the server refuses it unless told). */
	hk_engine_set_allow_imported_key(e, 1);
	k = hk_engine_load_key(e, o->key, o->module, o->pin_file, NULL);
	if (k == NULL) {
		tok_err("%s", hk_engine_error(e));
		goto end;
	}
	x = cert_build(hk_key_pkey(k), subject,
	    o->san ? o->san : "DNS:localhost,IP:127.0.0.1", days);
	if (x == NULL)
		goto end;
	if (X509_sign(x, hk_key_pkey(k), EVP_sha256()) <= 0) {
		tok_err("signing the certificate on the token: %s%s%s",
		    hk_engine_error(e), hk_engine_error(e)[0] ? ": " : "",
		    tok_ossl_err());
		goto end;
	}
	if (cert_check_signature(x) == -1 ||
	    tok_write_pem(o->out, 0644, tok_pem_x509, x) == -1)
		goto end;
	ret = 0;
end:
	/* The certificate holds a reference to the engine's key: free it first. */
	X509_free(x);
	hk_engine_free(e);
	return ret;
}

struct import {
	unsigned char id[TOK_ID_MAX];
	size_t id_len;
	char *label;            /* malloc'd */
	int found;              /* a private key matches the certificate */
	unsigned char *kid;     /* that key's CKA_ID and CKA_LABEL, malloc'd */
	size_t kid_len;
	unsigned char *klabel;
};

static int
import_id(const struct tok_opts *o, struct import *im)
{
	if (o->id != NULL) {
		if (tok_hex_decode(o->id, im->id, sizeof(im->id),
		    &im->id_len) == -1)
			return -1;
		if (im->found && !o->force && (im->kid_len != im->id_len ||
		    memcmp(im->kid, im->id, im->id_len) != 0)) {
			tok_err("certificate %s belongs to the key with a "
			    "different id; omit --id to use the key's", o->cert);
			return -1;
		}
		return 0;
	}
	if (im->kid_len == 0 || im->kid_len > sizeof(im->id)) {
		tok_err(im->found ? "--id is required: the certificate's key "
		    "has no id" : "--id is required: no key on the token "
		    "matches the certificate");
		return -1;
	}
	memcpy(im->id, im->kid, im->kid_len);
	im->id_len = im->kid_len;
	return 0;
}

static int
import_label(const struct tok_opts *o, struct import *im)
{
	const char *l = o->label;

	if (l == NULL && im->klabel != NULL && im->klabel[0] != '\0')
		l = (const char *)im->klabel;
	if (l == NULL) {
		tok_err(im->found ? "--label is required: the certificate's "
		    "key has no label" : "--label is required: no key on the "
		    "token matches the certificate");
		return -1;
	}
	if ((im->label = strdup(l)) == NULL) {
		tok_err("out of memory");
		return -1;
	}
	return 0;
}

/* The label and id the certificate is stored with: given, or its key's. */
static int
import_names(struct tok_p11 *p, const struct tok_opts *o, X509 *x,
    struct import *im)
{
	CK_OBJECT_HANDLE key;
	size_t len;

	if ((im->found = tok_p11_key_for_cert(p, x, &key)) == -1)
		return -1;
	if (im->found) {
		im->kid = tok_p11_get_bytes(p, key, CKA_ID, &im->kid_len);
		im->klabel = tok_p11_get_bytes(p, key, CKA_LABEL, &len);
	} else if (!o->force) {
		tok_err("certificate %s matches no private key on token '%s' "
		    "(--force stores it anyway)", o->cert, tok_p11_label(p));
		return -1;
	}
	return import_id(o, im) == -1 || import_label(o, im) == -1 ? -1 : 0;
}

static int
import_store(struct tok_p11 *p, X509 *x, struct import *im)
{
	char uri[TOK_URI_MAX];
	int used;

	used = tok_p11_label_used(p, im->label, CKO_CERTIFICATE,
	    CKO_CERTIFICATE);
	if (used != 0) {
		if (used == 1)
			tok_err("token '%s': a certificate labelled '%s' "
			    "already exists", tok_p11_label(p), im->label);
		return -1;
	}
	ERR_clear_error();
	if (PKCS11_store_certificate(p->slot->token, x, im->label, im->id,
	    im->id_len, NULL) != 0) {
		tok_p11_libp11_err("token '%s': storing the certificate",
		    tok_p11_label(p));
		return -1;
	}
	if (tok_uri(uri, sizeof(uri), tok_p11_label(p), im->label, im->id,
	    im->id_len, "cert") == -1)
		return -1;
	printf("%s\n", uri);
	return 0;
}

int
tok_cmd_import_cert(const struct tok_opts *o)
{
	struct tok_p11 p = { .session = CK_INVALID_HANDLE };
	struct import im = { .id_len = 0 };
	struct tok_target t;
	X509 *x = NULL;
	int ret = -1;

	if ((x = tok_x509_read(o->cert)) == NULL)
		return -1;
	if (tok_target_init(&t, o, o->token) == -1)
		goto end;
	if (tok_p11_open(&p, &t, 1) == -1 ||
	    import_names(&p, o, x, &im) == -1 ||
	    import_store(&p, x, &im) == -1)
		goto close;
	ret = 0;
close:
	tok_p11_close(&p);
	tok_target_free(&t);
end:
	free(im.label);
	free(im.kid);
	free(im.klabel);
	X509_free(x);
	return ret;
}
