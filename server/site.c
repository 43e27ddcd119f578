/*
 * site.c - building a configuration into token engines and one SSL_CTX
 * per site, and the SNI choice between them (see site.h).
 *
 * SNI is decided in the ClientHello callback, before libssl looks at
 * ciphers, tickets or signature algorithms: the connection moves to the
 * site's context there, so the certificate (RSA or ECDSA, whichever the
 * client can verify), the cipher list and the ticket's session context
 * are the chosen site's from the start.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "hk.h"
#include "log.h"
#include "proxy.h"
#include "site.h"
#include "ticket.h"
#include "tls.h"

static int ctx_site_idx = -1;   /* SSL_CTX -> its struct site_rt (owned) */
static int ssl_gen_idx = -1;    /* SSL -> the generation it was accepted in */
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void site_rt_free(struct site_rt *s)
{
	size_t i;

	if (s == NULL)
		return;
	http_site_close(&s->http);
	upstream_free(s->upstream);
	for (i = 0; i < s->nnames; i++)
		free(s->names[i]);
	free(s->names);
	free((char *)s->http.root);
	free(s->name);
	free(s);
}

static void ctx_site_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
    int idx, long argl, void *argp)
{
	site_rt_free(ptr);
}

static void idx_init(void)
{
	ctx_site_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
	    ctx_site_free);
	ssl_gen_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

const struct site_rt *site_of(const SSL *ssl)
{
	return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_site_idx);
}

/* ---- SNI ---- */

/* The host_name of a server_name extension (RFC 6066 3), lower case. */
static int sni_name(const unsigned char *p, size_t len, char *out,
    size_t size)
{
	size_t list, n, i;

	if (len < 2)
		return -1;
	list = (size_t)p[0] << 8 | p[1];
	p += 2;
	len -= 2;
	if (list != len || len < 3 || p[0] != 0)
		return -1;
	n = (size_t)p[1] << 8 | p[2];
	p += 3;
	if (n == 0 || n > len - 3 || n >= size)
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] == 0)
			return -1;
		out[i] = (char)tolower(p[i]);
	}
	out[n] = '\0';
	if (n > 0 && out[n - 1] == '.')
		out[n - 1] = '\0';      /* an absolute name */
	return 0;
}

/* "*.example.com" matches exactly one more label in front. */
static bool name_matches(const char *pattern, const char *name)
{
	const char *dot;

	if (strcmp(pattern, name) == 0)
		return true;
	if (pattern[0] != '*' || pattern[1] != '.')
		return false;
	dot = strchr(name, '.');
	return dot != NULL && dot != name && strcmp(dot, pattern + 1) == 0;
}

static struct site_rt *site_for_name(const struct gen *g, const char *name)
{
	size_t i, j;

	/* Exact names first, so a.example.com beats *.example.com. */
	for (i = 0; i < g->nsites; i++)
		for (j = 0; j < g->sites[i]->nnames; j++)
			if (strcmp(g->sites[i]->names[j], name) == 0)
				return g->sites[i];
	for (i = 0; i < g->nsites; i++)
		for (j = 0; j < g->sites[i]->nnames; j++)
			if (name_matches(g->sites[i]->names[j], name))
				return g->sites[i];
	return NULL;
}

static int hello_cb(SSL *ssl, int *al, void *arg)
{
	const struct gen *g = SSL_get_ex_data(ssl, ssl_gen_idx);
	struct site_rt *site = NULL;
	const unsigned char *ext;
	size_t len;
	char name[256];

	if (g == NULL)
		return SSL_CLIENT_HELLO_SUCCESS;
	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len)) {
		if (sni_name(ext, len, name, sizeof(name)) != 0) {
			*al = SSL_AD_DECODE_ERROR;
			return SSL_CLIENT_HELLO_ERROR;
		}
		site = site_for_name(g, name);
	}
	if (site == NULL) {
		if (g->conf.strict_sni) {
			*al = SSL_AD_UNRECOGNIZED_NAME;
			return SSL_CLIENT_HELLO_ERROR;
		}
		site = g->sites[0];
	}
	if (site->ctx != SSL_get_SSL_CTX(ssl)) {
		if (SSL_set_SSL_CTX(ssl, site->ctx) == NULL ||
		    !SSL_set_cipher_list(ssl, tls_ciphers(site->rsa_kx))) {
			*al = SSL_AD_INTERNAL_ERROR;
			return SSL_CLIENT_HELLO_ERROR;
		}
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

SSL *gen_ssl_new(struct gen *g)
{
	SSL *ssl = SSL_new(g->sites[0]->ctx);

	if (ssl != NULL && !SSL_set_ex_data(ssl, ssl_gen_idx, g)) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/* ---- tokens ---- */

static const char *engine_why(struct hk_engine *e)
{
	const char *m = hk_engine_error(e);

	return m != NULL && m[0] != '\0' ? m : "key engine: unknown error";
}

static bool same_str(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* Engine lines by what they say: faults are errors, recoveries news. */
static void engine_log(void *arg, const char *msg)
{
	if (strncmp(msg, "warning: ", 9) == 0)
		log_warn("engine: %s", msg + 9);
	else if (strstr(msg, " down") != NULL || strstr(msg, "not ") != NULL ||
	    strstr(msg, "failed") != NULL || strstr(msg, "C_") != NULL)
		log_error("engine: %s", msg);
	else
		log_info("engine: %s", msg);
}

void tokens_set_logger(struct tokens *tk, void (*fn)(void *, const char *))
{
	struct token_rt *t;

	tk->logging = true;
	for (t = tk->list; t != NULL; t = t->next)
		hk_engine_set_logger(t->e, fn != NULL ? fn : engine_log, NULL);
}

/*
 * The engine for a key: its token block's (the same engine as long as the
 * block's module and PIN file stay), or an implicit one named by the
 * URI's token label.
 */
static struct token_rt *token_get(struct tokens *tk, const struct conf *c,
    const struct conf_token *tb, const char *uri)
{
	struct hk_pool_config pc = { c->pool_threads, c->queue_max,
	    c->key_timeout_ms };
	struct token_rt *t;
	char label[256];
	const char *name;

	if (c->keyd != NULL) {
		/* Key daemon mode: one connection for every key. */
		for (t = tk->list; t != NULL; t = t->next)
			if (!t->retired && t->keyd != NULL &&
			    strcmp(t->keyd, c->keyd) == 0)
				return t;
		if ((t = calloc(1, sizeof(*t))) == NULL)
			return NULL;
		if ((t->e = hk_engine_new()) == NULL) {
			free(t);
			return NULL;
		}
		t->name = strdup("keyd");
		t->keyd = strdup(c->keyd);
		hk_engine_set_pool(t->e, &pc);
		if (tk->logging)
			hk_engine_set_logger(t->e, engine_log, NULL);
		if (hk_engine_use_keyd(t->e, c->keyd) != 0)
			t->failed = true;       /* the caller reports why */
		t->next = tk->list;
		tk->list = t;
		return t;
	}
	if (tb != NULL && tb->name != NULL)
		name = tb->name;
	else
		name = hk_uri_token_label(uri, label, sizeof(label)) == 1 ?
		    label : "";
	for (t = tk->list; t != NULL; t = t->next) {
		struct hk_stats st;

		if (t->retired ||
		    !(tb != NULL && tb->name == NULL ? t->cli :
		    same_str(t->name, name)) ||
		    !same_str(t->module, tb != NULL ? tb->module : NULL) ||
		    !same_str(t->pin_file, tb != NULL ? tb->pin_file : NULL))
			continue;
		hk_engine_stats(t->e, &st);
		if (!st.login_blocked)
			goto found;
		/* Its PIN was refused: a reload reads the PIN file again with a
		 * new engine (the old one stays for contexts that use it). */
		t->retired = true;
		log_info("token '%s': PIN refused before; reading the PIN "
		    "again for a new login", name);
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((t->e = hk_engine_new()) == NULL) {
		free(t);
		return NULL;
	}
	t->name = strdup(name);
	t->cli = tb != NULL && tb->name == NULL;
	if (tb != NULL && tb->module != NULL)
		t->module = strdup(tb->module);
	if (tb != NULL && tb->pin_file != NULL)
		t->pin_file = strdup(tb->pin_file);
	hk_engine_set_pool(t->e, &pc);
	if (tk->logging)
		hk_engine_set_logger(t->e, engine_log, NULL);
	t->next = tk->list;
	tk->list = t;
found:
	/* This configuration's settings, also for an engine kept from the
	 * last one (the engine judges a key again when it is named again). */
	hk_engine_set_allow_weak_key(t->e, c->allow_weak_key);
	hk_engine_set_allow_imported_key(t->e, c->allow_imported_key);
	return t;
}

int tokens_prepare(struct conf *c, struct tokens *tk, bool stop_first,
    struct conf_errors *err)
{
	struct conf_token *tb;
	struct token_rt *t;
	size_t i, j, before = conf_errors_count(err);

	for (i = 0; i < c->nsites; i++)
		for (j = 0; j < c->sites[i].nkeys; j++) {
			const struct conf_key *k = &c->sites[i].keys[j];

			if (stop_first && conf_errors_count(err) > before)
				return -1;
			tb = conf_token_for(c, k->uri);
			if ((t = token_get(tk, c, tb, k->uri)) == NULL) {
				conf_errors_add(err, c->file, k->line, "cannot "
				    "start the key engine (OpenSSL providers)");
				continue;
			}
			if (t->keyd != NULL) {
				/* No PIN here: the daemon holds it. */
				if (t->failed) {
					conf_errors_add(err, c->file, k->line, "%s",
					    engine_why(t->e));
					t->failed = false;
				}
				continue;
			}
			if (hk_engine_read_pin(t->e, k->uri,
			    tb != NULL ? tb->pin_file : NULL) != 0)
				conf_errors_add(err, c->file, k->line, "%s",
				    engine_why(t->e));
		}
	return conf_errors_count(err) > before ? -1 : 0;
}

void tokens_free(struct tokens *tk)
{
	struct token_rt *t, *next;

	for (t = tk->list; t != NULL; t = next) {
		next = t->next;
		hk_engine_free(t->e);
		free(t->name);
		free(t->module);
		free(t->pin_file);
		free(t->keyd);
		free(t);
	}
	tk->list = NULL;
}

/* ---- building ---- */

struct build {
	struct conf *conf;
	struct tokens *tk;
	struct tickets *tickets;
	const struct gen *prev;
	bool stop_first;
	struct conf_errors *err;
	size_t errors_before;
};

struct loaded_key {
	X509 *leaf;
	STACK_OF(X509) *chain;
	EVP_PKEY *pkey;         /* the engine's; not a reference */
	struct hk_engine *e;    /* the key's engine and the key (its owner's) */
	const struct hk_key *key;
	int type;               /* EVP_PKEY_RSA or EVP_PKEY_EC */
	int line;
};

static bool build_stopped(const struct build *b)
{
	return b->stop_first && conf_errors_count(b->err) > b->errors_before;
}

static void build_err(struct build *b, int line, const char *msg)
{
	conf_errors_add(b->err, b->conf->file, line, "%s", msg);
}

/* Certificate, key, self-test: -1 for a configuration error, -2 for a
 * fault of the token (it may be down). */
static int load_key(struct build *b, const struct conf_site *cs,
    const struct conf_key *ck, struct loaded_key *out)
{
	struct conf_token *tb = conf_token_for(b->conf, ck->uri);
	struct token_rt *t;
	struct hk_key *key;
	char why[1024];
	size_t i;

	memset(out, 0, sizeof(*out));
	out->line = ck->line;
	/* Routing among replicas, taking one out and probing it back is the
	 * key daemon's work, where the tokens' PINs already are; a network
	 * HSM's client library usually spreads keys by itself. */
	if (b->conf->keyd == NULL && conf_key_nuris(ck) > 1) {
		for (i = 0; i < conf_key_nuris(ck); i++)
			if ((tb = conf_token_for(b->conf,
			    conf_key_uri(ck, i))) != NULL)
				tb->used = true;        /* no warning too */
		snprintf(why, sizeof(why), "a key on %zu tokens needs the key "
		    "daemon: spreading a key over tokens is done by "
		    "hsmtls-keyd ('keyd PATH;'); in-process, name one URI",
		    conf_key_nuris(ck));
		build_err(b, ck->line, why);
		return -1;
	}
	if (strncmp(ck->cert, "pkcs11:", 7) != 0 &&
	    tls_read_certs(ck->cert, &out->leaf, &out->chain, why,
	    sizeof(why)) != 0) {
		build_err(b, ck->line, why);
		return -1;
	}
	if (tb != NULL)
		tb->used = true;
	if ((t = token_get(b->tk, b->conf, tb, ck->uri)) == NULL) {
		build_err(b, ck->line, "cannot start the key engine (OpenSSL "
		    "providers)");
		return -1;
	}
	if (out->leaf == NULL) {
		out->leaf = hk_engine_load_cert(t->e, ck->cert,
		    tb != NULL ? tb->module : NULL,
		    tb != NULL ? tb->pin_file : NULL);
		if (out->leaf == NULL ||
		    (out->chain = sk_X509_new_null()) == NULL) {
			build_err(b, ck->line, engine_why(t->e));
			return -2;
		}
	}
	key = hk_engine_load_key(t->e, ck->uri, tb != NULL ? tb->module : NULL,
	    tb != NULL ? tb->pin_file : NULL, out->leaf);
	if (key == NULL && hk_engine_key_refused(t->e)) {
		/* The key is refused as it is, token up or not. */
		build_err(b, ck->line, engine_why(t->e));
		return -1;
	}
	if (key == NULL ||
	    hk_key_selftest(t->e, key, out->leaf, ck->cert) == -1) {
		build_err(b, ck->line, engine_why(t->e));
		return -2;
	}
	out->pkey = hk_key_pkey(key);
	out->e = t->e;
	out->key = key;
	out->type = EVP_PKEY_get_base_id(out->pkey);
	if (cs->rsa_kx && out->type == EVP_PKEY_RSA &&
	    hk_key_enable_rsa_kx(t->e, key) == -1) {
		build_err(b, ck->line, engine_why(t->e));
		return -1;
	}
	return 0;
}

static void loaded_free(struct loaded_key *k, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		sk_X509_pop_free(k[i].chain, X509_free);
		X509_free(k[i].leaf);
	}
}

static int check_root(struct build *b, const struct conf_site *cs)
{
	int fd = open(cs->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char why[1024];

	if (fd == -1) {
		snprintf(why, sizeof(why), "document root '%s': %s", cs->root,
		    strerror(errno));
		build_err(b, cs->line, why);
		return -1;
	}
	close(fd);
	return 0;
}

static struct site_rt *site_new(const struct conf_site *cs)
{
	struct site_rt *s = calloc(1, sizeof(*s));
	size_t i, j;

	if (s == NULL)
		return NULL;
	s->http.root_fd = -1;
	s->rsa_kx = cs->rsa_kx;
	s->name = strdup(cs->name);
	if (cs->nnames > 0 &&
	    (s->names = calloc(cs->nnames, sizeof(*s->names))) == NULL) {
		site_rt_free(s);
		return NULL;
	}
	for (i = 0; i < cs->nnames; i++) {
		s->names[i] = strdup(cs->names[i]);
		if (s->names[i] == NULL) {
			site_rt_free(s);
			return NULL;
		}
		for (j = 0; s->names[i][j] != '\0'; j++)
			s->names[i][j] = (char)tolower((unsigned char)s->names[i][j]);
		s->nnames++;
	}
	return s;
}

static SSL_CTX *site_ctx(struct build *b, const struct conf_site *cs,
    struct loaded_key *keys, size_t n)
{
	unsigned char sid[SHA256_DIGEST_LENGTH];
	char label[300], why[1024];
	SSL_CTX *ctx;
	size_t i;

	snprintf(label, sizeof(label), "hsmtls site %s", cs->name);
	SHA256((const unsigned char *)label, strlen(label), sid);
	if ((ctx = tls_ctx_new(cs->rsa_kx, sid, sizeof(sid))) == NULL) {
		build_err(b, cs->line, "cannot make the TLS context");
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (tls_ctx_add_key(ctx, keys[i].leaf, keys[i].chain,
		    keys[i].pkey, why, sizeof(why)) != 0) {
			build_err(b, keys[i].line, why);
			SSL_CTX_free(ctx);
			return NULL;
		}
	SSL_CTX_set_client_hello_cb(ctx, hello_cb, NULL);
	/* Ticket lifetime: one key period (see ticket.c). */
	SSL_CTX_set_timeout(ctx, (long)b->conf->ticket_rotate_secs);
	if (b->tickets != NULL && tickets_attach(b->tickets, ctx) != 0) {
		build_err(b, cs->line, "cannot set the session ticket keys");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* What the site serves: its document root, or its backend. */
/* The site's own list, else the top level's, else one by its kind. */
static int site_alpn(struct build *b, const struct conf_site *cs,
    struct site_rt *s)
{
	const char *list = cs->alpn != NULL ? cs->alpn : b->conf->alpn != NULL ?
	    b->conf->alpn : cs->upstream.spec != NULL ? CONF_ALPN_UPSTREAM :
	    CONF_ALPN_FILES;
	char why[256];

	if (conf_parse_alpn(list, s->alpn.wire, &s->alpn.len, why,
	    sizeof(why)) == -1) {
		build_err(b, cs->line, why);
		return -1;
	}
	return 0;
}

static int site_serve(struct build *b, const struct conf_site *cs,
    struct site_rt *s)
{
	char why[1024], *root;

	if (site_alpn(b, cs, s) != 0)
		return -1;

	if (cs->upstream.spec != NULL) {
		s->upstream = upstream_new(&cs->upstream, cs->proxy_v2, why,
		    sizeof(why));
		if (s->upstream == NULL) {
			build_err(b, cs->upstream.line, why);
			return -1;
		}
		return 0;
	}
	if ((root = strdup(cs->root)) == NULL) {
		build_err(b, cs->line, "out of memory");
		return -1;
	}
	if (http_site_open(&s->http, root) != 0) {
		build_err(b, cs->line, "document root cannot be served (see "
		    "the line above)");
		if (s->http.root == NULL)
			free(root);
		return -1;
	}
	return 0;
}

/* The previous generation's site of this name, to keep serving it. */
static struct site_rt *prev_site(const struct gen *prev, const char *name)
{
	size_t i;

	for (i = 0; prev != NULL && i < prev->nsites; i++)
		if (strcmp(prev->sites[i]->name, name) == 0)
			return prev->sites[i];
	return NULL;
}

/*
 * One site: 1 built, 0 kept from the previous generation or left out
 * (its token is down at a reload: a warning), -1 error.
 */
static int site_build(struct build *b, const struct conf_site *cs,
    struct site_rt **out)
{
	struct loaded_key keys[CONF_SITE_KEYS];
	struct site_rt *s = NULL;
	size_t n = 0, i;
	int rc, token_fault = 0, bad = 0;

	*out = NULL;
	if (cs->upstream.spec == NULL && check_root(b, cs) != 0)
		return -1;
	for (i = 0; i < cs->nkeys && !build_stopped(b); i++) {
		rc = load_key(b, cs, &cs->keys[i], &keys[n]);
		if (rc == 0) {
			n++;
			continue;
		}
		loaded_free(&keys[n], 1);
		if (rc == -2)
			token_fault = 1;
		else
			bad = 1;
	}
	for (i = 1; i < n; i++)
		if (keys[i].type == keys[0].type) {
			conf_errors_add(b->err, b->conf->file, keys[i].line,
			    "site '%s' has two %s keys (lines %d and %d): a "
			    "site holds one RSA and one ECDSA key", cs->name,
			    keys[i].type == EVP_PKEY_RSA ? "RSA" : "EC",
			    keys[0].line, keys[i].line);
			bad = 1;
		}
	if (!bad && !token_fault && cs->rsa_kx) {
		for (i = 0; i < n && keys[i].type != EVP_PKEY_RSA; i++)
			;
		if (i == n) {
			conf_errors_add(b->err, b->conf->file, cs->line,
			    "site '%s': rsa-key-exchange needs an RSA key, and "
			    "key '%s' is not RSA", cs->name, cs->keys[0].uri);
			bad = 1;
		}
	}
	if (bad || token_fault || build_stopped(b)) {
		loaded_free(keys, n);
		return bad || b->prev == NULL ? -1 : -2;
	}
	if ((s = site_new(cs)) == NULL) {
		build_err(b, cs->line, "out of memory");
		loaded_free(keys, n);
		return -1;
	}
	if (site_serve(b, cs, s) != 0 ||
	    (s->ctx = site_ctx(b, cs, keys, n)) == NULL) {
		site_rt_free(s);
		loaded_free(keys, n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		s->key_engine[i] = keys[i].e;
		s->keys[i] = keys[i].key;
	}
	s->nkeys = n;
	loaded_free(keys, n);
	tls_ctx_set_alpn(s->ctx, &s->alpn);
	if (!SSL_CTX_set_ex_data(s->ctx, ctx_site_idx, s)) {
		SSL_CTX_free(s->ctx);
		site_rt_free(s);
		return -1;
	}
	*out = s;
	return 1;
}

struct gen *gen_build(struct conf *conf, struct tokens *tk,
    struct tickets *tickets, const struct gen *prev, bool stop_first,
    struct conf_errors *err)
{
	struct build b = { conf, tk, tickets, prev, stop_first, err,
	    conf_errors_count(err) };
	struct gen *g;
	struct site_rt *s, *old;
	size_t i;
	int rc;

	pthread_once(&idx_once, idx_init);
	if (ctx_site_idx < 0 || ssl_gen_idx < 0 ||
	    (g = calloc(1, sizeof(*g))) == NULL ||
	    (g->sites = calloc(conf->nsites, sizeof(*g->sites))) == NULL) {
		conf_errors_add(err, conf->file, 0, "out of memory");
		return NULL;
	}
	atomic_init(&g->refs, 1);
	g->id = prev != NULL ? prev->id + 1 : 1;
	for (i = 0; i < conf->nsites && !build_stopped(&b); i++) {
		size_t mark = err->n;

		rc = site_build(&b, &conf->sites[i], &s);
		if (rc == 1) {
			g->sites[g->nsites++] = s;
			continue;
		}
		if (rc != -2)
			continue;
		/* A token fault at a reload: the errors become warnings and
		 * the site keeps its previous contexts, if it had any. */
		conf_errors_soften(err, mark);
		old = prev_site(prev, conf->sites[i].name);
		conf_errors_warn(err, conf->file, conf->sites[i].line,
		    "site '%s': %s", conf->sites[i].name, old != NULL ?
		    "keeps serving its previous keys and certificates" :
		    "left out until its token is back and the server reloads");
		if (old != NULL && SSL_CTX_up_ref(old->ctx))
			g->sites[g->nsites++] = old;
	}
	for (i = 0; i < conf->ntokens; i++)
		if (!conf->tokens[i].used && conf->tokens[i].name != NULL)
			conf_errors_warn(err, conf->file, conf->tokens[i].line,
			    "token '%s' is not used by any key",
			    conf->tokens[i].name);
	if (conf_errors_count(err) > b.errors_before || g->nsites == 0) {
		if (g->nsites == 0 && conf_errors_count(err) == b.errors_before)
			conf_errors_add(err, conf->file, 0, "no site could be "
			    "built");
		g->conf = *conf;
		memset(conf, 0, sizeof(*conf));
		gen_unref(g);
		return NULL;
	}
	g->conf = *conf;
	memset(conf, 0, sizeof(*conf));
	return g;
}

void gen_custody_report(const struct gen *g)
{
	char line[2048];
	const struct hk_key *k;
	size_t i, j, a, b;
	bool seen;

	for (i = 0; i < g->nsites; i++)
		for (j = 0; j < g->sites[i]->nkeys; j++) {
			k = g->sites[i]->keys[j];
			seen = false;
			for (a = 0; a <= i && !seen; a++)
				for (b = 0; b < (a < i ? g->sites[a]->nkeys : j); b++)
					seen |= g->sites[a]->keys[b] == k;
			if (seen)
				continue;
			hk_key_custody(g->sites[i]->key_engine[j], k, line,
			    sizeof(line));
			log_info("custody: %s", line);
			if (hk_key_warning(k)[0] != '\0')
				log_warn("%s", hk_key_warning(k));
		}
}

struct gen *gen_ref(struct gen *g)
{
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	return g;
}

void gen_unref(struct gen *g)
{
	size_t i;

	if (g == NULL || atomic_fetch_sub_explicit(&g->refs, 1,
	    memory_order_acq_rel) > 1)
		return;
	for (i = 0; i < g->nsites; i++)
		SSL_CTX_free(g->sites[i]->ctx);
	free(g->sites);
	conf_free(&g->conf);
	free(g);
}
