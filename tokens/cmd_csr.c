/*
 * cmd_csr.c - a PKCS#10 certificate signing request for a token key, to
 * send to a certificate authority (or to dev-ca).  The request is signed on
 * the token through the engine, as the server's handshakes are, and the
 * signature is checked in software before the file is written.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "hk.h"
#include "tok.h"

/*
 * The subject and subjectAltName from command-line strings.  san NULL: a
 * name from the subject's CN (clients match only subjectAltName, RFC 6125
 * 6.4.4); "": none.
 */
int
tok_csr_names(const char *subject, const char *san, X509_NAME **name,
    X509_EXTENSION **ext)
{
	char buf[512];

	*ext = NULL;
	if ((*name = X509_NAME_new()) == NULL) {
		tok_err("out of memory");
		return -1;
	}
	if (tok_x509_name(*name, subject) == -1)
		goto err;
	if (san == NULL &&
	    (san = tok_default_san(subject, buf, sizeof(buf))) == NULL) {
		tok_err("--subject '%s' has no CN to take a subjectAltName "
		    "from; give --san", subject);
		goto err;
	}
	if (san[0] == '\0')
		return 0;
	*ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	if (*ext == NULL) {
		tok_err("--san '%s': %s", san, tok_ossl_err());
		goto err;
	}
	return 0;
err:
	X509_NAME_free(*name);
	*name = NULL;
	return -1;
}

/* The subjectAltName as an extension request (PKCS#9 extensionRequest). */
static int
csr_add_san(X509_REQ *req, X509_EXTENSION *san)
{
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	int ret = -1;

	if (exts == NULL || !sk_X509_EXTENSION_push(exts, san)) {
		tok_err("out of memory");
		goto end;
	}
	if (!X509_REQ_add_extensions(req, exts)) {
		tok_err("adding the subjectAltName request: %s", tok_ossl_err());
		goto end;
	}
	ret = 0;
end:
	/* The stack borrows san; the caller frees it. */
	sk_X509_EXTENSION_free(exts);
	return ret;
}

static X509_REQ *
csr_build(EVP_PKEY *pkey, const X509_NAME *name, X509_EXTENSION *san)
{
	X509_REQ *req = X509_REQ_new();

	if (req == NULL) {
		tok_err("out of memory");
		return NULL;
	}
	if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, pkey)) {
		tok_err("building the request: %s", tok_ossl_err());
		goto err;
	}
	if (san != NULL && csr_add_san(req, san) == -1)
		goto err;
	return req;
err:
	X509_REQ_free(req);
	return NULL;
}

static int
csr_verify(X509_REQ *req)
{
	EVP_PKEY *pub = tok_pubkey_copy(X509_REQ_get_X509_PUBKEY(req));
	int ok;

	if (pub == NULL)
		return -1;
	ok = X509_REQ_verify(req, pub) == 1;
	EVP_PKEY_free(pub);
	if (!ok) {
		tok_err("the token's signature on the request does not verify "
		    "with the key's public key");
		return -1;
	}
	return 0;
}

static int
pem_req(FILE *f, void *req)
{
	return PEM_write_X509_REQ(f, req);
}

/* Sign a request for the key on the token; san may be NULL. */
int
tok_csr_make(const char *key_uri, const char *module, const char *pin_file,
    const X509_NAME *name, X509_EXTENSION *san, const char *out)
{
	struct hk_engine *e = NULL;
	struct hk_key *k;
	X509_REQ *req = NULL;
	int ret = -1;

	if ((e = hk_engine_new()) == NULL) {
		tok_err("cannot start the key engine");
		return -1;
	}
	/* Custody is the server's and check's to judge: an imported key
	 * may still need a certificate (the server refuses it unless told). */
	hk_engine_set_allow_imported_key(e, 1);
	if ((k = hk_engine_load_key(e, key_uri, module, pin_file, NULL)) ==
	    NULL) {
		tok_err("%s", hk_engine_error(e));
		goto end;
	}
	if ((req = csr_build(hk_key_pkey(k), name, san)) == NULL)
		goto end;
	if (X509_REQ_sign(req, hk_key_pkey(k), EVP_sha256()) <= 0) {
		tok_err("signing the request on the token: %s%s%s",
		    hk_engine_error(e), hk_engine_error(e)[0] ? ": " : "",
		    tok_ossl_err());
		goto end;
	}
	if (csr_verify(req) == -1 ||
	    tok_write_pem(out, 0644, pem_req, req) == -1)
		goto end;
	ret = 0;
end:
	/* The request holds a reference to the engine's key: free it first. */
	X509_REQ_free(req);
	hk_engine_free(e);
	return ret;
}

int
tok_cmd_csr(const struct tok_opts *o)
{
	X509_NAME *name = NULL;
	X509_EXTENSION *san = NULL;
	int ret;

	if (tok_csr_names(o->subject, o->san, &name, &san) == -1)
		return -1;
	ret = tok_csr_make(o->key, o->module, o->pin_file, name, san, o->out);
	X509_NAME_free(name);
	X509_EXTENSION_free(san);
	return ret;
}
