/*
 * cmd_cert.c - certificates for token keys: selfsign (a self-signed X.509
 * v3 certificate signed on the token through the engine) and import-cert
 * (store a certificate on the token with libp11).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "hk.h"
#include "tok.h"

/* The first OpenSSL error on the queue as text, for one-line messages. */
static const char *
ossl_err(void)
{
	static char buf[256];
	unsigned long e = ERR_peek_error();

	if (e == 0)
		return "unknown OpenSSL error";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

static int
parse_days(const char *s, int *days)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 36500) {
		tok_err("--days '%s': want a number of days from 1 to 36500", s);
		return -1;
	}
	*days = (int)v;
	return 0;
}

/* "CN=localhost,O=Example" or "/CN=localhost/O=Example" (no escapes). */
static int
cert_subject(X509_NAME *name, const char *subject)
{
	char *copy, *field, *save = NULL, *eq;
	const char *sep = subject[0] == '/' ? "/" : ",";
	int ret = -1, n = 0;

	if ((copy = strdup(subject)) == NULL) {
		tok_err("out of memory");
		return -1;
	}
	for (field = strtok_r(copy, sep, &save); field != NULL;
	    field = strtok_r(NULL, sep, &save), n++) {
		while (*field == ' ')
			field++;
		if ((eq = strchr(field, '=')) == NULL || eq == field ||
		    eq[1] == '\0') {
			tok_err("--subject '%s': want FIELD=VALUE", subject);
			goto end;
		}
		*eq = '\0';
		if (!X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
		    (unsigned char *)eq + 1, -1, -1, 0)) {
			tok_err("--subject: unknown field '%s'", field);
			goto end;
		}
	}
	if (n == 0) {
		tok_err("--subject '%s' is empty", subject);
		goto end;
	}
	ret = 0;
end:
	free(copy);
	return ret;
}

/* A random positive 127-bit serial number (RFC 5280 4.1.2.2: <= 20 bytes). */
static int
cert_serial(X509 *x)
{
	unsigned char r[16];
	BIGNUM *bn = NULL;
	int ret = -1;

	if (RAND_bytes(r, sizeof(r)) != 1)
		goto end;
	r[0] &= 0x7f;
	r[0] |= 0x01; /* never zero, never negative */
	if ((bn = BN_bin2bn(r, sizeof(r), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto end;
	ret = 0;
end:
	if (ret == -1)
		tok_err("certificate serial number: %s", ossl_err());
	BN_free(bn);
	return ret;
}

static int
cert_add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	/* Self-signed: x is its own issuer (for authorityKeyIdentifier). */
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL) {
		tok_err("certificate extension %s '%s': %s", OBJ_nid2sn(nid),
		    value, ossl_err());
		return -1;
	}
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ok) {
		tok_err("certificate extension %s: %s", OBJ_nid2sn(nid),
		    ossl_err());
		return -1;
	}
	return 0;
}

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

	if (cert_add_ext(x, NID_basic_constraints, "critical,CA:TRUE") == -1 ||
	    cert_add_ext(x, NID_key_usage, ku) == -1 ||
	    cert_add_ext(x, NID_ext_key_usage, "serverAuth") == -1 ||
	    cert_add_ext(x, NID_subject_key_identifier, "hash") == -1 ||
	    cert_add_ext(x, NID_authority_key_identifier, "keyid:always") == -1)
		return -1;
	if (san[0] != '\0' && cert_add_ext(x, NID_subject_alt_name, san) == -1)
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
	if (cert_subject(name, subject) == -1 || cert_serial(x) == -1)
		goto err;
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL ||
	    !X509_set_pubkey(x, pkey)) {
		tok_err("building the certificate: %s", ossl_err());
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
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	int len, ret = -1;

	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	p = der;
	if (len > 0)
		pub = d2i_PUBKEY_ex(NULL, &p, len, NULL, "provider=default");
	if (pub == NULL)
		tok_err("reading back the certificate's key: %s", ossl_err());
	else if (X509_verify(x, pub) != 1)
		tok_err("the token's signature does not verify with the "
		    "certificate's public key");
	else
		ret = 0;
	EVP_PKEY_free(pub);
	OPENSSL_free(der);
	return ret;
}

/* Write PEM to path through a temporary file, so path is whole or absent. */
static int
cert_write(X509 *x, const char *path)
{
	char tmp[PATH_MAX];
	FILE *f = NULL;
	int fd, ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		tok_err("%s: path too long", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd == -1 || (f = fdopen(fd, "w")) == NULL) {
		tok_err_errno("writing %s", path);
		if (fd != -1)
			close(fd);
		return -1;
	}
	ok = PEM_write_X509(f, x);
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) == -1) {
		tok_err_errno("writing %s", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

int
tok_cmd_selfsign(const struct tok_opts *o)
{
	struct hk_engine *e = NULL;
	struct hk_key *k;
	X509 *x = NULL;
	int days, ret = -1;

	if (parse_days(o->days != NULL ? o->days : "365", &days) == -1)
		return -1;
	if ((e = hk_engine_new()) == NULL) {
		tok_err("cannot start the key engine");
		return -1;
	}
	k = hk_engine_load_key(e, o->key, o->module, o->pin_file, NULL);
	if (k == NULL) {
		tok_err("%s", hk_engine_error(e));
		goto end;
	}
	x = cert_build(hk_key_pkey(k), o->subject ? o->subject : "CN=localhost",
	    o->san ? o->san : "DNS:localhost,IP:127.0.0.1", days);
	if (x == NULL)
		goto end;
	if (X509_sign(x, hk_key_pkey(k), EVP_sha256()) <= 0) {
		tok_err("signing the certificate on the token: %s%s%s",
		    hk_engine_error(e), hk_engine_error(e)[0] ? ": " : "",
		    ossl_err());
		goto end;
	}
	if (cert_check_signature(x) == -1 || cert_write(x, o->out) == -1)
		goto end;
	ret = 0;
end:
	/* The certificate holds a reference to the engine's key: free it first. */
	X509_free(x);
	hk_engine_free(e);
	return ret;
}

static X509 *
cert_read(const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *x = NULL;

	if (b == NULL) {
		tok_err_errno("%s", path);
		return NULL;
	}
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (x == NULL) {
		/* Not PEM: try DER from the start. */
		ERR_clear_error();
		if (BIO_reset(b) == 0)
			x = d2i_X509_bio(b, NULL);
	}
	if (x == NULL)
		tok_err("%s: no PEM or DER certificate", path);
	BIO_free(b);
	return x;
}

int
tok_cmd_import_cert(const struct tok_opts *o)
{
	struct tok_p11 p = { .session = CK_INVALID_HANDLE };
	unsigned char id[TOK_ID_MAX];
	char uri[TOK_URI_MAX];
	size_t id_len;
	X509 *x = NULL;
	int used, ret = -1;

	if (tok_hex_decode(o->id, id, sizeof(id), &id_len) == -1 ||
	    (x = cert_read(o->cert)) == NULL)
		goto end;
	if (tok_p11_open(&p, o, 1) == -1)
		goto end;
	used = tok_p11_label_used(&p, o->label, CKO_CERTIFICATE,
	    CKO_CERTIFICATE);
	if (used != 0) {
		if (used == 1)
			tok_err("token '%s': a certificate labelled '%s' "
			    "already exists", o->token, o->label);
		goto end;
	}
	ERR_clear_error();
	if (PKCS11_store_certificate(p.slot->token, x, (char *)o->label, id,
	    id_len, NULL) != 0) {
		tok_p11_libp11_err("token '%s': storing the certificate",
		    o->token);
		goto end;
	}
	if (tok_uri(uri, sizeof(uri), o->token, o->label, id, id_len,
	    "cert") == -1)
		goto end;
	printf("%s\n", uri);
	ret = 0;
end:
	tok_p11_close(&p);
	X509_free(x);
	return ret;
}
