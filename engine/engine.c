/*
 * engine.c - the public face of the engine (hk.h): one module, one token
 * login, the keys loaded from it, and the start-up self-test.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include "hk_ckr.h"
#include "hk_internal.h"
#include "hk_keyd.h"
#include "hk_token.h"
#include "hk_uri.h"
#include "prov.h"

#define POOL_THREADS_MAX 32     /* workers to start with, by default */
#define POOL_CEILING 256        /* and at most, grown on a slow token */
#define STOP_WAIT_MS 2000

void
hk_seterr(struct hk_engine *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hk_vseterr(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
}

const char *
hk_engine_error(const struct hk_engine *e)
{
	return e == NULL ? "out of memory" : e->err;
}

struct hk_engine *
hk_engine_new(void)
{
	struct hk_engine *e;

	if (hk_provider_register() != 0)
		return NULL;
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		hk_provider_unregister();
		return NULL;
	}
	e->pool_cfg.deadline_ms = 2000;
	e->xport.deadline_ms = e->pool_cfg.deadline_ms;
	atomic_init(&e->xport.sign_ok, 0);
	atomic_init(&e->xport.sign_failed, 0);
	atomic_init(&e->xport.decrypt_ok, 0);
	atomic_init(&e->xport.decrypt_failed, 0);
	atomic_init(&e->xport.ops_cancelled, 0);
	return e;
}

void
hk_engine_free(struct hk_engine *e)
{
	struct hk_key *k, *next;

	if (e == NULL)
		return;
	/*
	 * A worker stuck in a hung token call keeps the module, the keys and
	 * the PIN page in use: then the module is not finalized and they are
	 * left behind for the process's last moments, the PIN wiped.
	 */
	if (hk_pool_free(e->pool, STOP_WAIT_MS) != 0) {
		hk_pin_wipe(e->pin);
		return;
	}
	hk_keyd_free(e->keyd);
	for (k = e->keys; k != NULL; k = next) {
		next = k->next;
		hk_key_free(k);
	}
	hk_p11_close(e->p11);
	hk_pin_free(e->pin);
	free(e->module);
	free(e);
	hk_provider_unregister();
}

void
hk_engine_set_logger(struct hk_engine *e, hk_log_fn fn, void *arg)
{
	e->log = fn;
	e->log_arg = arg;
}

void
hk_engine_set_allow_weak_key(struct hk_engine *e, int allow)
{
	e->allow_weak_key = allow;
}

void
hk_engine_set_allow_imported_key(struct hk_engine *e, int allow)
{
	e->allow_imported_key = allow;
}

static void
elog(struct hk_engine *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
elog(struct hk_engine *e, const char *fmt, ...)
{
	char msg[HK_ERRLEN];
	va_list ap;

	if (e->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e->log(e->log_arg, msg);
}

void
hk_engine_stats(const struct hk_engine *e, struct hk_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->sign_ok = atomic_load(&e->xport.sign_ok);
	st->sign_failed = atomic_load(&e->xport.sign_failed);
	st->decrypt_ok = atomic_load(&e->xport.decrypt_ok);
	st->decrypt_failed = atomic_load(&e->xport.decrypt_failed);
	st->ops_cancelled = atomic_load(&e->xport.ops_cancelled);
	if (e->p11 != NULL)
		hk_p11_stats(e->p11, st);
	if (e->keyd != NULL)
		hk_keyd_stats(e->keyd, st);
	if (e->pool != NULL)
		hk_pool_stats(e->pool, st);
	/* Same-thread calls (hk_keyop_*_now) count with the pool's. */
	st->workers_busy += atomic_load(&e->now_busy);
	st->ops_expired += atomic_load(&e->now_expired);
}

void
hk_engine_set_pool(struct hk_engine *e, const struct hk_pool_config *c)
{
	if (c->threads)
		e->pool_cfg.threads = c->threads;
	if (c->queue_max)
		e->pool_cfg.queue_max = c->queue_max;
	if (c->deadline_ms)
		e->pool_cfg.deadline_ms = c->deadline_ms;
	e->xport.deadline_ms = e->pool_cfg.deadline_ms;
}

/* Workers start with the token, after any daemonising fork. */
static int
start_pool(struct hk_engine *e)
{
	struct hk_pool_config *c = &e->pool_cfg;
	unsigned long max = hk_p11_max_sessions(e->p11);
	unsigned ceiling;

	/* A configured count is kept; the default grows on a slow token. */
	if (c->threads == 0) {
		c->threads = POOL_THREADS_MAX;
		ceiling = POOL_CEILING;
		if (max != 0 && max < POOL_CEILING + 2)
			ceiling = max > 3 ? (unsigned)max - 2 : 1;
		if (c->threads > ceiling)
			c->threads = ceiling;
	} else {
		ceiling = c->threads;
	}
	if (c->queue_max == 0)
		c->queue_max = 8 * c->threads;
	e->pool = hk_pool_new(e->p11, c->threads, ceiling, c->queue_max);
	if (e->pool == NULL) {
		hk_seterr(e, "cannot start %u key-operation workers", c->threads);
		return -1;
	}
	e->xport.ops = &hk_pool_xport;
	e->xport.arg = e->pool;
	return 0;
}

/* --module beats nothing, must agree with the URI's module-path. */
static const char *
pick_module(struct hk_engine *e, P11KitUri *uri, const char *module)
{
	const char *um = p11_kit_uri_get_module_path(uri);

	if (module != NULL && um != NULL && strcmp(module, um) != 0) {
		hk_seterr(e, "two module paths: --module '%s' and module-path "
		    "'%s' in the key URI", module, um);
		return NULL;
	}
	if (module == NULL)
		module = um != NULL ? um : HK_DEFAULT_MODULE;
	return module;
}

static struct hk_pin *
read_pin(struct hk_engine *e, P11KitUri *uri, const char *pin_file)
{
	const char *source = p11_kit_uri_get_pin_source(uri);
	struct hk_pin *pin;

	if (pin_file != NULL && source != NULL) {
		hk_seterr(e, "two PINs: --pin-file and pin-source in the key "
		    "URI; give one");
		return NULL;
	}
	if (pin_file != NULL)
		pin = hk_pin_read_file(pin_file, e->err, sizeof(e->err));
	else if (source != NULL)
		pin = hk_pin_from_source(source, e->err, sizeof(e->err));
	else
		return NULL;    /* no PIN: fine if the token needs no login */
	return pin;
}

/* First key: load the module, read the PIN once, log in once. */
static int
open_token(struct hk_engine *e, const char *s, const char *module,
    const char *pin_file)
{
	P11KitUri *uri;
	const char *m;
	int rc = -1;

	if ((uri = hk_uri_parse(s, e->err, sizeof(e->err))) == NULL)
		return -1;
	if ((m = pick_module(e, uri, module)) == NULL)
		goto end;
	if (e->p11 != NULL) {
		if (strcmp(m, e->module) != 0 || !hk_p11_same_token(e->p11, s))
			hk_seterr(e, "'%s': all keys must be on one token of "
			    "one module", s);
		else
			rc = 0;
		goto end;
	}
	e->err[0] = '\0';
	if (!e->pin_read) {
		e->pin = read_pin(e, uri, pin_file);
		if (e->pin == NULL && e->err[0] != '\0')
			goto end;
	}
	if ((e->module = strdup(m)) == NULL)
		goto end;
	e->p11 = hk_p11_open(m, s, e->pin, &e->metrics, e->log, e->log_arg,
	    e->err, sizeof(e->err));
	rc = e->p11 != NULL ? start_pool(e) : -1;
end:
	p11_kit_uri_free(uri);
	return rc;
}

int
hk_engine_read_pin(struct hk_engine *e, const char *s, const char *pin_file)
{
	P11KitUri *uri;
	int rc = -1;

	if (e->pin_read || e->p11 != NULL)
		return 0;
	if ((uri = hk_uri_parse(s, e->err, sizeof(e->err))) == NULL)
		return -1;
	e->err[0] = '\0';
	e->pin = read_pin(e, uri, pin_file);
	if (e->pin != NULL || e->err[0] == '\0') {
		e->pin_read = 1;
		rc = 0;
	}
	p11_kit_uri_free(uri);
	return rc;
}

/* pkcs11:token=..;object=..;id=..;type=private, percent-encoded, as
 * hsmtls-token prints it (one formatter, uri.c). */
static char *
canonical_uri(const struct hk_p11 *p, const struct hk_key *k)
{
	const char *label = hk_p11_token_label(p);
	size_t size = 64 + 3 * (strlen(label) + strlen(k->label) + k->id_len);
	char *s = malloc(size);

	if (s != NULL && hk_uri_format(s, size, label, k->label[0] != '\0' ?
	    k->label : NULL, k->id, k->id_len, "private") != 0) {
		free(s);
		s = NULL;
	}
	return s;
}

/* With a certificate, the key whose public half it holds; else the one key. */
static struct hk_key *
choose(struct hk_engine *e, struct hk_key **list, int n, X509 *cert,
    const char *s)
{
	struct hk_key **pp, *k;
	EVP_PKEY *cpub = cert != NULL ? X509_get0_pubkey(cert) : NULL;

	for (pp = list; *pp != NULL; pp = &(*pp)->next) {
		if (cert != NULL && (cpub == NULL ||
		    EVP_PKEY_eq(cpub, (*pp)->pub) != 1))
			continue;
		if (cert == NULL && n != 1)
			break;
		k = *pp;
		*pp = k->next;
		k->next = NULL;
		return k;
	}
	if (cert != NULL)
		hk_seterr(e, "certificate does not match key '%s': no private "
		    "key it names has the certificate's public key", s);
	else
		hk_seterr(e, "%d private keys match '%s'; name one with object= "
		    "or id=", n, s);
	return NULL;
}

static void
free_list(struct hk_key *k)
{
	struct hk_key *next;

	for (; k != NULL; k = next) {
		next = k->next;
		hk_key_free(k);
	}
}

/* The custody attributes that say a key was imported or once extractable:
 * "CKA_NEVER_EXTRACTABLE false, CKA_LOCAL false"; "" for none. */
static void
imported_attrs(const struct hk_custody *c, char *buf, size_t len)
{
	static const struct { size_t off; const char *name; } a[] = {
		{ offsetof(struct hk_custody, never_extractable),
		    "CKA_NEVER_EXTRACTABLE" },
		{ offsetof(struct hk_custody, always_sensitive),
		    "CKA_ALWAYS_SENSITIVE" },
		{ offsetof(struct hk_custody, local), "CKA_LOCAL" },
	};
	size_t i, used = 0;
	int v;

	buf[0] = '\0';
	for (i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
		memcpy(&v, (const char *)c + a[i].off, sizeof(v));
		if (v == 0 && used < len)
			used += (size_t)snprintf(buf + used, len - used,
			    "%s%s false", used > 0 ? ", " : "", a[i].name);
	}
}

/*
 * A server key must stay on the token, must never have been anywhere else
 * (generated there, never extractable), and must be usable without a
 * prompt.  allow-weak-key accepts a key that can leave the token now (and
 * so one that could before); allow-imported-key one that could before or
 * was imported.  Accepted keys keep the reason in k->warning.
 */
static int
check_flags(struct hk_engine *e, struct hk_key *k)
{
	const struct hk_custody *c = &k->custody;
	char why[128];

	k->warning[0] = '\0';
	if (c->always_authenticate == 1) {
		hk_seterr(e, "key '%s' has CKA_ALWAYS_AUTHENTICATE: every "
		    "signature would need a PIN entry, which a server cannot "
		    "give", k->uri);
		return -1;
	}
	if (c->sensitive != 1 || c->extractable != 0) {
		if (!e->allow_weak_key) {
			hk_seterr(e, "key '%s' is %s: its private part could "
			    "leave the token; use a key generated on the token "
			    "as sensitive and non-extractable, or allow-weak-key",
			    k->uri, c->sensitive != 1 ? "not sensitive" :
			    "extractable");
			return -1;
		}
		snprintf(k->warning, sizeof(k->warning), "key '%s' is not "
		    "sensitive or is extractable (allowed by allow-weak-key)",
		    k->uri);
		return 0;
	}
	imported_attrs(c, why, sizeof(why));
	if (why[0] == '\0')
		return 0;
	if (!e->allow_imported_key) {
		hk_seterr(e, "key '%s' was imported or once extractable (%s): "
		    "a copy of it may exist outside the token; use a key "
		    "generated on the token (hsmtls-token keygen), or "
		    "allow-imported-key", k->uri, why);
		return -1;
	}
	snprintf(k->warning, sizeof(k->warning), "key '%s' was imported or "
	    "once extractable (%s; allowed by allow-imported-key)", k->uri,
	    why);
	return 0;
}

/* Which mechanisms the key's signatures will use; refuse what cannot work. */
static int
check_mechanisms(struct hk_engine *e, struct hk_key *k)
{
	if (k->type == EVP_PKEY_EC) {
		if (hk_p11_has_mech(e->p11, HK_P11_ECDSA))
			return 0;
		hk_seterr(e, "token '%s' offers no CKM_ECDSA signing for key "
		    "'%s'", hk_p11_token_label(e->p11), k->uri);
		return -1;
	}
	if (hk_p11_has_mech(e->p11, HK_P11_RSA_PSS))
		k->pss = HK_PSS_TOKEN;
	else if (hk_p11_has_mech(e->p11, HK_P11_RSA_RAW_SIGN))
		k->pss = HK_PSS_SOFTWARE;
	else {
		hk_seterr(e, "token '%s' offers neither CKM_RSA_PKCS_PSS nor "
		    "CKM_RSA_X_509: TLS 1.3 with RSA key '%s' needs RSA-PSS",
		    hk_p11_token_label(e->p11), k->uri);
		return -1;
	}
	if (k->pss == HK_PSS_SOFTWARE)
		elog(e, "token '%s' has no CKM_RSA_PKCS_PSS: RSA-PSS is padded "
		    "here and signed with CKM_RSA_X_509",
		    hk_p11_token_label(e->p11));
	if (!hk_p11_has_mech(e->p11, HK_P11_RSA_PKCS))
		elog(e, "warning: token '%s' has no CKM_RSA_PKCS: TLS 1.2 "
		    "clients without RSA-PSS will fail",
		    hk_p11_token_label(e->p11));
	return 0;
}

/* A key already loaded for the same token object (CKA_ID, label, public key). */
static struct hk_key *
same_key(struct hk_engine *e, const struct hk_key *k)
{
	struct hk_key *o;

	for (o = e->keys; o != NULL; o = o->next)
		if (o->id_len == k->id_len &&
		    (k->id_len == 0 || memcmp(o->id, k->id, k->id_len) == 0) &&
		    strcmp(o->label, k->label) == 0 &&
		    EVP_PKEY_eq(o->pub, k->pub) == 1)
			return o;
	return NULL;
}

int
hk_engine_use_keyd(struct hk_engine *e, const char *path)
{
	if (e->keyd != NULL || e->p11 != NULL) {
		hk_seterr(e, "key daemon: the engine is already in use");
		return -1;
	}
	e->err[0] = '\0';
	if ((e->keyd = hk_keyd_new(e, path, e->err, sizeof(e->err))) == NULL)
		return -1;
	e->xport.ops = &hk_keyd_xport;
	e->xport.arg = e->keyd;
	return hk_engine_keyd_fd(e) >= 0 ? 0 : -1;
}

/* Key daemon mode: OPEN the key there (the daemon judges its custody). */
static struct hk_key *
load_keyd_key(struct hk_engine *e, const char *uri, X509 *cert)
{
	struct hk_key *k, *o;
	EVP_PKEY *cpub = cert != NULL ? X509_get0_pubkey(cert) : NULL;

	for (o = e->keys; o != NULL; o = o->next)
		if (strcmp(o->uri, uri) == 0 && cpub != NULL &&
		    EVP_PKEY_eq(o->pub, cpub) == 1)
			return o;
	if ((k = hk_key_new()) == NULL || (k->uri = strdup(uri)) == NULL ||
	    (k->label = strdup("")) == NULL) {
		hk_key_free(k);
		hk_seterr(e, "out of memory");
		return NULL;
	}
	k->e = e;
	k->xport = &e->xport;
	if (hk_keyd_open(e->keyd, k, cert, e->err, sizeof(e->err)) != 0) {
		hk_key_free(k);
		return NULL;
	}
	if (hk_key_make_pkey(k) != 0) {
		hk_seterr(e, "'%s': cannot make an OpenSSL key for it", uri);
		hk_key_free(k);
		return NULL;
	}
	hk_keyd_add_key(e->keyd, k);
	return k;
}

static struct hk_key *load_p11_key(struct hk_engine *e, const char *uri,
    X509 *cert);

struct hk_key *
hk_engine_load_key(struct hk_engine *e, const char *uri, const char *module,
    const char *pin_file, X509 *cert)
{
	struct hk_key *k;

	e->key_refused = 0;
	if (e->keyd != NULL)
		return load_keyd_key(e, uri, cert);
	if (open_token(e, uri, module, pin_file) != 0)
		return NULL;
	/* No token reset (recover.c) while the key is looked up and tracked. */
	hk_p11_hold(e->p11);
	k = load_p11_key(e, uri, cert);
	hk_p11_unhold(e->p11);
	return k;
}

static struct hk_key *
load_p11_key(struct hk_engine *e, const char *uri, X509 *cert)
{
	struct hk_key *list = NULL, *k = NULL, *known;
	int n;

	n = hk_p11_find_keys(e->p11, uri, cert, &list, e->err, sizeof(e->err));
	if (n <= 0)
		return NULL;
	if ((k = choose(e, &list, n, cert, uri)) == NULL)
		goto err;
	if ((known = same_key(e, k)) != NULL) {
		/* Loaded before (a reload names it again): one key, one
		 * session copy, however often the configuration is read.
		 * Its custody is judged again (the allow-* settings may have
		 * changed) from what was read at its load. */
		hk_key_free(k);
		free_list(list);
		if (check_flags(e, known) == 0)
			return known;
		e->key_refused = 1;
		return NULL;
	}
	k->e = e;
	k->xport = &e->xport;
	if ((k->uri = canonical_uri(e->p11, k)) == NULL ||
	    hk_key_make_pkey(k) != 0) {
		hk_seterr(e, "'%s': cannot make an OpenSSL key for it", uri);
		goto err;
	}
	hk_p11_key_custody(e->p11, k);
	if (check_flags(e, k) != 0 || check_mechanisms(e, k) != 0) {
		e->key_refused = 1;
		goto err;
	}
	if (hk_p11_track_key(e->p11, k) != 0) {
		hk_seterr(e, "out of memory");
		goto err;
	}
	hk_p11_use_key(e->p11, k);
	free_list(list);
	k->next = e->keys;
	e->keys = k;
	return k;
err:
	hk_key_free(k);
	free_list(list);
	return NULL;
}

/* Sign random bytes through libcrypto as libssl would; verify in software. */
int
hk_key_selftest(struct hk_engine *e, const struct hk_key *k, X509 *cert,
    const char *cert_name)
{
	unsigned char msg[32], sig[1024];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *sctx = EVP_MD_CTX_new(), *vctx = EVP_MD_CTX_new();
	EVP_PKEY *cpub = X509_get0_pubkey(cert);
	int ok = 0;

	if (sctx == NULL || vctx == NULL || cpub == NULL ||
	    RAND_bytes(msg, sizeof(msg)) != 1)
		goto end;
	if (EVP_DigestSignInit_ex(sctx, NULL, "SHA256", NULL, NULL, k->pkey,
	    NULL) != 1 ||
	    EVP_DigestSign(sctx, sig, &siglen, msg, sizeof(msg)) != 1) {
		unsigned long ec = ERR_peek_last_error();
		char buf[256];

		ERR_error_string_n(ec, buf, sizeof(buf));
		hk_seterr(e, "self-test: signing with '%s' failed: %s", k->uri,
		    ec ? buf : "unknown error");
		goto clear;
	}
	ok = EVP_DigestVerifyInit_ex(vctx, NULL, "SHA256", NULL, NULL, cpub,
	    NULL) == 1 && EVP_DigestVerify(vctx, sig, siglen, msg,
	    sizeof(msg)) == 1;
	if (!ok)
		hk_seterr(e, "certificate '%s' does not match key '%s': the "
		    "token's signature does not verify", cert_name, k->uri);
	goto clear;
end:
	hk_seterr(e, "self-test: out of memory");
clear:
	ERR_clear_error();
	EVP_MD_CTX_free(sctx);
	EVP_MD_CTX_free(vctx);
	return ok ? 0 : -1;
}

int
hk_key_enable_rsa_kx(struct hk_engine *e, struct hk_key *k)
{
	if (e->keyd != NULL) {
		if (k->type != EVP_PKEY_RSA || !(k->keyd_caps & 0x01)) {
			hk_seterr(e, "key '%s': the key daemon does not allow RSA "
			    "key exchange with it (an RSA key with usage "
			    "sign,decrypt, in a site with rsa-key-exchange on, "
			    "in the daemon's configuration)", k->uri);
			return -1;
		}
		k->rsa_kx = 1;
		return 0;
	}
	if (k->type != EVP_PKEY_RSA) {
		hk_seterr(e, "key '%s' is not RSA: RSA key exchange needs an "
		    "RSA key", k->uri);
		return -1;
	}
	if (k->custody.decrypt != 1) {
		hk_seterr(e, "key '%s' cannot decrypt (CKA_DECRYPT is not "
		    "true): RSA key exchange needs a key made with usage "
		    "sign,decrypt", k->uri);
		return -1;
	}
	/* Never a fallback to the token's own PKCS#1 unpadding: an oracle. */
	if (!hk_p11_has_mech(e->p11, HK_P11_RSA_RAW_DECRYPT)) {
		hk_seterr(e, "token '%s' has no raw RSA decryption "
		    "(CKM_RSA_X_509): RSA key exchange refused, since letting "
		    "the token check PKCS#1 padding would make it a padding "
		    "oracle", hk_p11_token_label(e->p11));
		return -1;
	}
	k->rsa_kx = 1;
	return 0;
}

X509 *
hk_engine_load_cert(struct hk_engine *e, const char *uri, const char *module,
    const char *pin_file)
{
	unsigned char *der = NULL;
	const unsigned char *q;
	X509 *x = NULL;
	size_t len;

	if (e->keyd != NULL) {
		hk_seterr(e, "certificate '%s': with a key daemon, certificates "
		    "are files (type=cert URIs need the module in-process)", uri);
		return NULL;
	}
	if (open_token(e, uri, module, pin_file) != 0)
		return NULL;
	if (hk_p11_find_cert(e->p11, uri, &der, &len, e->err,
	    sizeof(e->err)) != 0)
		return NULL;
	q = der;
	if ((x = d2i_X509(NULL, &q, (long)len)) == NULL)
		hk_seterr(e, "certificate '%s' on the token is not valid DER "
		    "X.509", uri);
	free(der);
	return x;
}

/* From what was read at load: no token call. */
int
hk_key_custody(struct hk_engine *e, const struct hk_key *k, char *buf,
    size_t len)
{
	if (e == NULL)
		e = k->e;
	if (e != NULL && e->keyd != NULL)
		return snprintf(buf, len, "key=%s held by hsmtls-keyd (the "
		    "daemon checks and reports its custody)", k->uri) <
		    (int)len ? 0 : -1;
	return hk_custody_format(&k->custody, e != NULL && e->p11 != NULL ?
	    hk_p11_token_label(e->p11) : "", k->uri, buf, len);
}

int
hk_engine_key_refused(const struct hk_engine *e)
{
	return e->key_refused;
}

const char *
hk_key_warning(const struct hk_key *k)
{
	return k->warning;
}

/* Metrics read for hk.h: the counters are metrics.c's. */
void
hk_engine_latency(const struct hk_engine *e, struct hk_latency *out)
{
	hk_metrics_read_latency(&e->metrics, out);
}

void
hk_engine_faults(const struct hk_engine *e, hk_fault_fn fn, void *arg)
{
	hk_metrics_read_faults(&e->metrics, fn, arg);
}

void
hk_engine_key_ops(const struct hk_engine *e, hk_keyop_fn fn, void *arg)
{
	const struct hk_key *k;
	uint64_t ok, failed;
	size_t i;

	for (k = e->keys; k != NULL; k = k->next)
		for (i = 0; i < HK_KEYOP_N; i++) {
			ok = atomic_load_explicit(&k->ops.ok[i],
			    memory_order_relaxed);
			failed = atomic_load_explicit(&k->ops.failed[i],
			    memory_order_relaxed);
			if (ok != 0 || failed != 0)
				fn(arg, k->uri, k->label, hk_keyop_names[i], ok,
				    failed);
		}
}

const char *
hk_engine_token_label(const struct hk_engine *e)
{
	return e->p11 != NULL ? hk_p11_token_label(e->p11) : "";
}
