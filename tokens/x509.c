/*
 * x509.c - certificate helpers shared by selfsign, csr and dev-ca: subject
 * syntax, serial numbers, extensions, PEM files written whole or not at all.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "tok.h"

/* The first OpenSSL error on the queue as text, for one-line messages. */
const char *
tok_ossl_err(void)
{
	static char buf[256];
	unsigned long e = ERR_peek_error();

	if (e == 0)
		return "unknown OpenSSL error";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

int
tok_parse_days(const char *s, int def, int *days)
{
	char *end;
	long v;

	if (s == NULL) {
		*days = def;
		return 0;
	}
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
int
tok_x509_name(X509_NAME *name, const char *subject)
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

/*
 * Without --san, a name for the CN: clients match only subjectAltName
 * (RFC 6125 6.4.4), so a CN alone would be useless.  NULL if no CN.
 */
const char *
tok_default_san(const char *subject, char *buf, size_t size)
{
	X509_NAME *name = X509_NAME_new();
	ASN1_OCTET_STRING *ip = NULL;
	unsigned char *cn = NULL;
	int i;

	buf[0] = '\0';
	if (name == NULL || tok_x509_name(name, subject) == -1)
		goto end;
	i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (i < 0 || ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(
	    X509_NAME_get_entry(name, i))) < 0)
		goto end;
	/* An address goes in as IP:, a host name as DNS:. */
	ip = a2i_IPADDRESS((char *)cn);
	ERR_clear_error();
	snprintf(buf, size, "%s:%s", ip != NULL ? "IP" : "DNS", (char *)cn);
end:
	ASN1_OCTET_STRING_free(ip);
	OPENSSL_free(cn);
	X509_NAME_free(name);
	return buf[0] != '\0' ? buf : NULL;
}

/* A random positive 127-bit serial number (RFC 5280 4.1.2.2: <= 20 bytes). */
int
tok_x509_serial(X509 *x)
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
		tok_err("certificate serial number: %s", tok_ossl_err());
	BN_free(bn);
	return ret;
}

/* issuer: the issuing certificate (x itself when self-signed). */
int
tok_x509_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL) {
		tok_err("certificate extension %s '%s': %s", OBJ_nid2sn(nid),
		    value, tok_ossl_err());
		return -1;
	}
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ok) {
		tok_err("certificate extension %s: %s", OBJ_nid2sn(nid),
		    tok_ossl_err());
		return -1;
	}
	return 0;
}

int
tok_pem_x509(FILE *f, void *x)
{
	return PEM_write_X509(f, x);
}

/*
 * Write path through a temporary file created with mode, then rename, so
 * path is whole or absent and never briefly readable with looser bits.
 */
int
tok_write_pem(const char *path, int mode, int (*write)(FILE *, void *),
    void *arg)
{
	char tmp[PATH_MAX];
	FILE *f = NULL;
	int fd, ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		tok_err("%s: path too long", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    (mode_t)mode);
	if (fd == -1 || fchmod(fd, (mode_t)mode) == -1 ||
	    (f = fdopen(fd, "w")) == NULL) {
		tok_err_errno("writing %s", path);
		if (fd != -1) {
			close(fd);
			unlink(tmp);
		}
		return -1;
	}
	ok = write(f, arg);
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) == -1) {
		tok_err_errno("writing %s", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

X509 *
tok_x509_read(const char *path)
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

/*
 * A software copy of a public key (default provider), so a check of the
 * token's signature does not go back through the token.
 */
EVP_PKEY *
tok_pubkey_copy(X509_PUBKEY *xpk)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	int len;

	len = i2d_X509_PUBKEY(xpk, &der);
	p = der;
	if (len > 0)
		pub = d2i_PUBKEY_ex(NULL, &p, len, NULL, "provider=default");
	if (pub == NULL)
		tok_err("copying the public key: %s", tok_ossl_err());
	OPENSSL_free(der);
	return pub;
}
