/*
 * cmd_devca.c - a development certificate authority for tests and demos.
 *
 * DIR/ca.key is a software EC P-256 key in a file: anyone who reads it can
 * issue certificates that clients trusting DIR/ca.pem accept, which is why
 * it is for development only, says so in the file and in the CA's name,
 * and is refused when group or other can read it.  The server certificate
 * it issues is for a token key: dev-ca only ever sees that key's CSR.
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
#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tok.h"

#define CA_DAYS 3650
#define CA_SUBJECT "CN=hsmtls DEVELOPMENT ONLY CA,O=hsmtls-token dev-ca"
#define CA_WARNING \
	"# hsmtls-token dev-ca: DEVELOPMENT ONLY.\n" \
	"# This CA private key is a plain file, not on a token.  Whoever\n" \
	"# reads it can issue certificates that anything trusting ca.pem\n" \
	"# accepts.  Use it for tests and demos; never add ca.pem to a\n" \
	"# trust store used for anything else.\n"

struct ca {
	char key_path[PATH_MAX];
	char cert_path[PATH_MAX];
	char dir[PATH_MAX];
	EVP_PKEY *key;
	X509 *cert;
};

static int
ca_paths(struct ca *ca, const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		tok_err_errno("mkdir %s", dir);
		return -1;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid()) {
		tok_err("%s: not a directory owned by the current user", dir);
		return -1;
	}
	if (realpath(dir, ca->dir) == NULL) {
		tok_err_errno("%s", dir);
		return -1;
	}
	if (snprintf(ca->key_path, sizeof(ca->key_path), "%s/ca.key",
	    ca->dir) >= (int)sizeof(ca->key_path) ||
	    snprintf(ca->cert_path, sizeof(ca->cert_path), "%s/ca.pem",
	    ca->dir) >= (int)sizeof(ca->cert_path)) {
		tok_err("%s: path too long", dir);
		return -1;
	}
	return 0;
}

static int
pem_key(FILE *f, void *key)
{
	return fputs(CA_WARNING, f) >= 0 &&
	    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
}

static int
ca_create(struct ca *ca)
{
	X509_NAME *name = X509_NAME_new();
	X509 *x = X509_new();
	int ret = -1;

	if (name == NULL || x == NULL ||
	    (ca->key = EVP_EC_gen("P-256")) == NULL) {
		tok_err("making the CA key: %s", tok_ossl_err());
		goto end;
	}
	if (tok_x509_name(name, CA_SUBJECT) == -1 || tok_x509_serial(x) == -1)
		goto end;
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), CA_DAYS, 0, NULL) == NULL ||
	    !X509_set_pubkey(x, ca->key)) {
		tok_err("building the CA certificate: %s", tok_ossl_err());
		goto end;
	}
	if (tok_x509_add_ext(x, x, NID_basic_constraints,
	    "critical,CA:TRUE,pathlen:0") == -1 ||
	    tok_x509_add_ext(x, x, NID_key_usage,
	    "critical,keyCertSign,cRLSign") == -1 ||
	    tok_x509_add_ext(x, x, NID_subject_key_identifier, "hash") == -1)
		goto end;
	if (X509_sign(x, ca->key, EVP_sha256()) <= 0) {
		tok_err("signing the CA certificate: %s", tok_ossl_err());
		goto end;
	}
	/* The key first: a ca.pem without its key would be useless. */
	if (tok_write_pem(ca->key_path, 0600, pem_key, ca->key) == -1 ||
	    tok_write_pem(ca->cert_path, 0644, tok_pem_x509, x) == -1)
		goto end;
	ca->cert = x;
	x = NULL;
	ret = 0;
end:
	X509_NAME_free(name);
	X509_free(x);
	return ret;
}

static int
ca_load_key(struct ca *ca)
{
	char err[HK_ERRLEN];
	FILE *f = NULL;
	int fd;

	fd = open(ca->key_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		tok_err_errno("%s", ca->key_path);
		return -1;
	}
	if (hk_secret_check(fd, "key file", ca->key_path, err,
	    sizeof(err)) == -1) {
		tok_err("%s", err);
		close(fd);
		return -1;
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		tok_err_errno("%s", ca->key_path);
		close(fd);
		return -1;
	}
	ca->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (ca->key == NULL) {
		tok_err("%s: no PEM private key", ca->key_path);
		return -1;
	}
	return 0;
}

static int
ca_load(struct ca *ca)
{
	if (ca_load_key(ca) == -1 ||
	    (ca->cert = tok_x509_read(ca->cert_path)) == NULL)
		return -1;
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		tok_err("%s does not belong to %s", ca->cert_path,
		    ca->key_path);
		return -1;
	}
	return 0;
}

/* Use the CA in dir, or make one when dir holds neither file. */
static int
ca_open(struct ca *ca, const char *dir)
{
	int has_key, has_cert;

	if (ca_paths(ca, dir) == -1)
		return -1;
	has_key = access(ca->key_path, F_OK) == 0;
	has_cert = access(ca->cert_path, F_OK) == 0;
	if (!has_key && !has_cert)
		return ca_create(ca);
	if (has_key != has_cert) {
		tok_err("%s has %s but no %s; remove it or restore the other",
		    ca->dir, has_key ? "ca.key" : "ca.pem",
		    has_key ? "ca.pem" : "ca.key");
		return -1;
	}
	return ca_load(ca);
}

static X509_REQ *
csr_read(const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	X509_REQ *req = NULL;
	EVP_PKEY *pub;

	if (b == NULL) {
		tok_err_errno("%s", path);
		return NULL;
	}
	if ((req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL)) == NULL) {
		ERR_clear_error();
		if (BIO_reset(b) == 0)
			req = d2i_X509_REQ_bio(b, NULL);
	}
	BIO_free(b);
	if (req == NULL) {
		tok_err("%s: no PEM or DER certificate request", path);
		return NULL;
	}
	pub = X509_REQ_get0_pubkey(req);
	if (pub == NULL || X509_REQ_verify(req, pub) != 1) {
		tok_err("%s: the request's signature does not verify", path);
		X509_REQ_free(req);
		return NULL;
	}
	return req;
}

/* The requested subjectAltName, as an extension to copy; NULL if none. */
static X509_EXTENSION *
csr_san(X509_REQ *req, const char *path)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	X509_EXTENSION *san = NULL;
	int i;

	i = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
	if (i >= 0)
		san = X509_EXTENSION_dup(X509v3_get_ext(exts, i));
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	if (san == NULL)
		tok_err("%s: no subjectAltName (clients check only that; make "
		    "the request with --san)", path);
	return san;
}

static int
leaf_extensions(X509 *x, X509 *issuer, X509_EXTENSION *san)
{
	/* keyEncipherment: TLS 1.2 RSA key exchange (RFC 5246 7.4.2). */
	const char *ku = EVP_PKEY_is_a(X509_get0_pubkey(x), "RSA") ?
	    "critical,digitalSignature,keyEncipherment" :
	    "critical,digitalSignature";

	if (tok_x509_add_ext(x, issuer, NID_basic_constraints,
	    "critical,CA:FALSE") == -1 ||
	    tok_x509_add_ext(x, issuer, NID_key_usage, ku) == -1 ||
	    tok_x509_add_ext(x, issuer, NID_ext_key_usage, "serverAuth") == -1 ||
	    tok_x509_add_ext(x, issuer, NID_subject_key_identifier,
	    "hash") == -1 ||
	    tok_x509_add_ext(x, issuer, NID_authority_key_identifier,
	    "keyid:always") == -1)
		return -1;
	if (!X509_add_ext(x, san, -1)) {
		tok_err("copying the subjectAltName: %s", tok_ossl_err());
		return -1;
	}
	return 0;
}

static X509 *
leaf_issue(struct ca *ca, X509_REQ *req, X509_EXTENSION *san, int days)
{
	X509 *x = X509_new();

	if (x == NULL || tok_x509_serial(x) == -1)
		goto err;
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_subject_name(x, X509_REQ_get_subject_name(req)) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL ||
	    !X509_set_pubkey(x, X509_REQ_get0_pubkey(req))) {
		tok_err("building the certificate: %s", tok_ossl_err());
		goto err;
	}
	if (ASN1_TIME_compare(X509_get0_notAfter(ca->cert),
	    X509_get0_notAfter(x)) < 0) {
		tok_err("--days %d: the certificate would outlive the CA in "
		    "%s", days, ca->dir);
		goto err;
	}
	if (leaf_extensions(x, ca->cert, san) == -1)
		goto err;
	if (X509_sign(x, ca->key, EVP_sha256()) <= 0) {
		tok_err("signing the certificate: %s", tok_ossl_err());
		goto err;
	}
	return x;
err:
	X509_free(x);
	return NULL;
}

struct chain {
	X509 *leaf, *ca;        /* ca NULL: leaf only */
};

static int
pem_chain(FILE *f, void *arg)
{
	struct chain *c = arg;

	return PEM_write_X509(f, c->leaf) &&
	    (c->ca == NULL || PEM_write_X509(f, c->ca));
}

/* An IP SAN as text for a URL, IPv6 in brackets; 0 when not 4/16 bytes. */
static int
ip_text(const ASN1_OCTET_STRING *ip, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	int len = ASN1_STRING_length(ip);
	int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : -1;

	if (af == -1 ||
	    inet_ntop(af, ASN1_STRING_get0_data(ip), a, sizeof(a)) == NULL)
		return 0;
	snprintf(buf, size, af == AF_INET6 ? "[%s]" : "%s", a);
	return 1;
}

/* "curl --cacert DIR/ca.pem https://HOST:8443/" with HOST from the SAN. */
static void
print_hint(const struct ca *ca, X509 *leaf)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name,
	    NULL, NULL);
	char host[256] = "localhost";
	int i, have_ip = 0;

	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type == GEN_DNS) {
			snprintf(host, sizeof(host), "%s",
			    (const char *)ASN1_STRING_get0_data(g->d.dNSName));
			break;
		}
		if (g->type == GEN_IPADD && !have_ip)
			have_ip = ip_text(g->d.iPAddress, host, sizeof(host));
	}
	fprintf(stderr, "dev-ca: DEVELOPMENT ONLY CA; try: curl --cacert "
	    "%s https://%s:8443/\n", ca->cert_path, host);
	GENERAL_NAMES_free(gens);
}

int
tok_cmd_dev_ca(const struct tok_opts *o)
{
	struct ca ca = { .key = NULL };
	struct chain c = { NULL, NULL };
	X509_REQ *req = NULL;
	X509_EXTENSION *san = NULL;
	int days, ret = -1;

	if (tok_parse_days(o->days, 90, &days) == -1)
		return -1;
	if ((req = csr_read(o->csr)) == NULL ||
	    (san = csr_san(req, o->csr)) == NULL ||
	    ca_open(&ca, o->dir) == -1 ||
	    (c.leaf = leaf_issue(&ca, req, san, days)) == NULL)
		goto end;
	c.ca = o->chain ? ca.cert : NULL;
	if (tok_write_pem(o->out, 0644, pem_chain, &c) == -1)
		goto end;
	print_hint(&ca, c.leaf);
	ret = 0;
end:
	X509_free(c.leaf);
	X509_free(ca.cert);
	EVP_PKEY_free(ca.key);
	X509_EXTENSION_free(san);
	X509_REQ_free(req);
	return ret;
}
