/*
 * load.c - the keys hsmtls-keyd serves: every site's key lines, loaded on
 * one engine per token block (as the server does in-process), each
 * self-tested against its certificate.  A key line naming several URIs
 * is one key cloned on several tokens: every replica is loaded, tested
 * against the same certificate and must hold the same public key.  No
 * TLS context is made here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "keyd.h"
#include "log.h"

static void
engine_log(void *arg, const char *msg)
{
	log_info("%s", msg);
}

static int
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static struct keyd_token *
token_get(struct keyd *d, const struct conf *c, const struct conf_token *tb,
    const char *uri)
{
	struct hk_pool_config pc = { c->pool_threads, c->queue_max,
	    c->key_timeout_ms };
	struct keyd_token *t;
	char label[256];
	const char *name;

	if (tb != NULL && tb->name != NULL)
		name = tb->name;
	else
		name = hk_uri_token_label(uri, label, sizeof(label)) == 1 ?
		    label : "";
	for (t = d->tokens; t != NULL; t = t->next)
		if (t->tb == tb && same(t->name, name))
			return t;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((t->name = strdup(name)) == NULL) {
		free(t);
		return NULL;
	}
	t->tb = tb;
	/* A reload keeps the engine (login, PIN) of an unchanged block. */
	if (keyd_token_reuse(d, t) != 0) {
		if ((t->e = hk_engine_new()) == NULL ||
		    (t->erefs = calloc(1, sizeof(*t->erefs))) == NULL) {
			hk_engine_free(t->e);
			free(t->name);
			free(t);
			return NULL;
		}
		*t->erefs = 1;
		hk_engine_set_pool(t->e, &pc);
		hk_engine_set_logger(t->e, engine_log, NULL);
	}
	hk_engine_set_allow_weak_key(t->e, c->allow_weak_key);
	hk_engine_set_allow_imported_key(t->e, c->allow_imported_key);
	t->next = d->tokens;
	d->tokens = t;
	return t;
}

/* The leaf of a PEM chain file, or a certificate on the token. */
static X509 *
load_cert(struct keyd_token *t, const struct conf_key *ck,
    const struct conf_token *tb, char *why, size_t len)
{
	X509 *x;
	FILE *f;

	if (strncmp(ck->cert, "pkcs11:", 7) == 0) {
		x = hk_engine_load_cert(t->e, ck->cert,
		    tb != NULL ? tb->module : NULL,
		    tb != NULL ? tb->pin_file : NULL);
		if (x == NULL)
			snprintf(why, len, "%s", hk_engine_error(t->e));
		return x;
	}
	if ((f = fopen(ck->cert, "r")) == NULL) {
		snprintf(why, len, "certificate '%s': cannot open", ck->cert);
		return NULL;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (x == NULL)
		snprintf(why, len, "certificate '%s': no PEM certificate in it",
		    ck->cert);
	return x;
}

/* The object= of a URI as written, else the site's name: log lines name
 * a key by what the operator called it. */
static char *
key_name(const char *uri, const char *site)
{
	const char *p = strstr(uri, "object="), *q;

	if (p == NULL || (p != uri + 7 && p[-1] != ';'))
		return strdup(site);
	p += 7;
	q = p + strcspn(p, ";?");
	return q > p ? strndup(p, (size_t)(q - p)) : strdup(site);
}

/* One replica: its token's engine, the key, the self-test against x and
 * the same public key as the first replica. */
static int
load_replica(struct keyd *d, const struct conf *c, const struct conf_site *cs,
    const struct conf_key *ck, size_t i, X509 *x, struct keyd_replica *r,
    struct conf_errors *err)
{
	const char *uri = conf_key_uri(ck, i);
	const struct conf_token *tb = conf_token_for(c, uri);
	char custody[2048];
	struct keyd_token *t;
	struct hk_key *k;

	if ((t = token_get(d, c, tb, uri)) == NULL) {
		conf_errors_add(err, c->file, ck->line, "cannot start the key "
		    "engine (OpenSSL providers)");
		return -1;
	}
	k = hk_engine_load_key(t->e, uri, tb != NULL ? tb->module : NULL,
	    tb != NULL ? tb->pin_file : NULL, x);
	if (k == NULL || hk_key_selftest(t->e, k, x, ck->cert) != 0 ||
	    (cs->rsa_kx && EVP_PKEY_get_base_id(hk_key_public(k)) ==
	    EVP_PKEY_RSA && hk_key_enable_rsa_kx(t->e, k) != 0)) {
		conf_errors_add(err, c->file, ck->line, "%s",
		    hk_engine_error(t->e));
		return -1;
	}
	/* The certificate matched; a replica must also be the same key. */
	if (i > 0 && EVP_PKEY_eq(hk_key_public(k), hk_key_public(r[-i].k))
	    != 1) {
		conf_errors_add(err, c->file, ck->line, "key '%s' is not the "
		    "same key as '%s': the URIs of one key line must name "
		    "copies of one key", uri, ck->uri);
		return -1;
	}
	if ((r->uri = strdup(uri)) == NULL) {
		conf_errors_add(err, c->file, ck->line, "out of memory");
		return -1;
	}
	r->k = k;
	r->t = t;
	hk_key_custody(t->e, k, custody, sizeof(custody));
	log_info("custody: %s", custody);
	if (hk_key_warning(k)[0] != '\0')
		log_warn("%s", hk_key_warning(k));
	return 0;
}

static void
key_free(struct keyd_key *kk)
{
	size_t i;

	if (kk == NULL)
		return;
	for (i = 0; i < kk->nr; i++)
		free(kk->r[i].uri);
	free(kk->r);
	free(kk->name);
	free(kk->uri);
	free(kk->spki);
	free(kk);
}

static int
load_one(struct keyd *d, const struct conf *c, const struct conf_site *cs,
    const struct conf_key *ck, struct conf_errors *err)
{
	const struct conf_token *tb = conf_token_for(c, ck->uri);
	size_t i, nr = conf_key_nuris(ck);
	struct keyd_token *t;
	struct keyd_key *kk;
	unsigned char *q;
	char why[600];
	X509 *x;
	int n;

	if ((t = token_get(d, c, tb, ck->uri)) == NULL) {
		conf_errors_add(err, c->file, ck->line, "cannot start the key "
		    "engine (OpenSSL providers)");
		return -1;
	}
	if ((x = load_cert(t, ck, tb, why, sizeof(why))) == NULL) {
		conf_errors_add(err, c->file, ck->line, "%s", why);
		return -1;
	}
	if ((kk = calloc(1, sizeof(*kk))) == NULL ||
	    (kk->r = calloc(nr, sizeof(*kk->r))) == NULL ||
	    (kk->uri = strdup(ck->uri)) == NULL ||
	    (kk->name = key_name(ck->uri, cs->name)) == NULL) {
		key_free(kk);
		X509_free(x);
		conf_errors_add(err, c->file, ck->line, "out of memory");
		return -1;
	}
	for (i = 0; i < nr; i++, kk->nr++)
		if (load_replica(d, c, cs, ck, i, x, &kk->r[i], err) != 0) {
			key_free(kk);
			X509_free(x);
			return -1;
		}
	X509_free(x);
	if ((n = i2d_PUBKEY(hk_key_public(kk->r[0].k), NULL)) <= 0 ||
	    (kk->spki = malloc((size_t)n)) == NULL) {
		key_free(kk);
		conf_errors_add(err, c->file, ck->line, "out of memory");
		return -1;
	}
	q = kk->spki;
	kk->spkilen = (size_t)i2d_PUBKEY(hk_key_public(kk->r[0].k), &q);
	kk->next = d->keys;
	d->keys = kk;
	d->nkeys++;
	return 0;
}

int
keyd_read_pins(struct keyd *d, const struct conf *c, struct conf_errors *err)
{
	const struct conf_token *tb;
	struct keyd_token *t;
	size_t i, j, r, before = conf_errors_count(err);

	/* Every PIN first, each once; then the modules. */
	for (i = 0; i < c->nsites; i++)
		for (j = 0; j < c->sites[i].nkeys; j++) {
			const struct conf_key *ck = &c->sites[i].keys[j];

			for (r = 0; r < conf_key_nuris(ck); r++) {
				const char *uri = conf_key_uri(ck, r);

				tb = conf_token_for(c, uri);
				if ((t = token_get(d, c, tb, uri)) == NULL) {
					conf_errors_add(err, c->file, ck->line,
					    "cannot start the key engine "
					    "(OpenSSL providers)");
					continue;
				}
				if (hk_engine_read_pin(t->e, uri,
				    tb != NULL ? tb->pin_file : NULL) != 0)
					conf_errors_add(err, c->file, ck->line,
					    "%s", hk_engine_error(t->e));
			}
		}
	return conf_errors_count(err) > before ? -1 : 0;
}

int
keyd_load(struct keyd *d, const struct conf *c, struct conf_errors *err)
{
	struct keyd_key *kk;
	size_t i, j;

	if (keyd_read_pins(d, c, err) != 0)
		return -1;
	/* One line per failure, as the server: stop at the first. */
	for (i = 0; i < c->nsites; i++)
		for (j = 0; j < c->sites[i].nkeys; j++)
			if (load_one(d, c, &c->sites[i], &c->sites[i].keys[j],
			    err) != 0)
				return -1;
	for (kk = d->keys; kk != NULL; kk = kk->next)
		hk_key_get_info(kk->r[0].k, &kk->info);
	return 0;
}

void
keyd_unload(struct keyd *d)
{
	struct keyd_token *t, *tn;
	struct keyd_key *kk, *kn;

	for (kk = d->keys; kk != NULL; kk = kn) {
		kn = kk->next;
		key_free(kk);
	}
	d->keys = NULL;
	/* Each engine logs out and finalizes its module. */
	for (t = d->tokens; t != NULL; t = tn) {
		tn = t->next;
		if (--*t->erefs == 0) {
			hk_engine_free(t->e);
			free(t->erefs);
		}
		free(t->name);
		free(t);
	}
	d->tokens = NULL;
}
