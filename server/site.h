/*
 * site.h - a configuration built into what serves it: one token engine
 * per token, one SSL_CTX per site (SNI picks it), the document roots.
 *
 * A generation is everything one reading of the configuration made.  The
 * server serves the newest; each connection holds a reference to the one
 * it was accepted under, so a reload (SIGHUP) builds the next generation
 * beside the current one and swaps, and connections in flight finish on
 * theirs.  Token engines outlive generations: a reload reuses the engine
 * of a token whose block is unchanged (its login, sessions and workers).
 */
#ifndef SRV_SITE_H
#define SRV_SITE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "http.h"
#include "tls.h"

struct hk_engine;
struct hk_key;
struct tickets;

/* One token engine, kept across reloads. */
struct token_rt {
	char *name;             /* the block's name, or the URI's token label */
	bool cli;               /* the command line's token (any label) */
	bool retired;           /* replaced at a reload; kept for old contexts */
	char *keyd;             /* key daemon socket (keyd mode), else NULL */
	bool failed;            /* could not connect to the key daemon */
	char *module;
	char *pin_file;
	struct hk_engine *e;
	struct token_rt *next;
};

struct tokens {
	struct token_rt *list;
	const struct conf *conf;        /* pool settings of the first build */
	bool logging;                   /* engines log (after start-up) */
};

/* A site as served: owned by its SSL_CTX (freed with it), so a context
 * kept across a reload keeps its site. */
struct site_rt {
	char *name;
	char **names;           /* server names, lower case */
	size_t nnames;
	struct http_site http;  /* a site with a document root ... */
	struct upstream *upstream;      /* ... or with a backend (proxy.h) */
	SSL_CTX *ctx;           /* not a reference: the site is the ctx's */
	struct tls_alpn alpn;   /* offered; the ctx's ALPN callback reads it */
	bool rsa_kx;
	/* its keys, for the custody report (the engines own them) */
	struct hk_engine *key_engine[CONF_SITE_KEYS];
	const struct hk_key *keys[CONF_SITE_KEYS];
	size_t nkeys;
};

struct gen {
	atomic_int refs;                /* every event loop and connection */
	unsigned long id;               /* 1 for the first configuration */
	struct conf conf;
	struct site_rt **sites;         /* each with a reference on its ctx */
	size_t nsites;
};

/*
 * Build a generation from conf (which it takes over).  Every error is
 * collected in err as "FILE:LINE: message"; with stop_first (command-line
 * configuration) the build stops at the first one.  A site that cannot be
 * built is an error; NULL when any error was found.  prev (may be NULL):
 * the generation being replaced, whose site contexts are kept for sites
 * whose token is down (keep_down), so a down token does not stop a reload
 * of the other sites.
 */
struct gen *gen_build(struct conf *conf, struct tokens *tk,
    struct tickets *tickets, const struct gen *prev, bool stop_first,
    struct conf_errors *err);

/* Log one "custody: ..." line per key of the generation's sites (each
 * key once), and a warning for each key accepted only by allow-weak-key
 * or allow-imported-key.  No token call. */
void gen_custody_report(const struct gen *g);

struct gen *gen_ref(struct gen *g);
void gen_unref(struct gen *g);

/* The site a connection's SSL ended up on (after SNI). */
const struct site_rt *site_of(const SSL *ssl);

/* A new SSL for a connection accepted under g (default site; SNI may
 * switch it); NULL on failure. */
SSL *gen_ssl_new(struct gen *g);

/*
 * Start the engine of every token the configuration's keys use and read
 * their PINs, without loading a module (so privileges can be dropped
 * between this and gen_build()).  0, or -1 with errors in err.
 */
int tokens_prepare(struct conf *c, struct tokens *tk, bool stop_first,
    struct conf_errors *err);

void tokens_free(struct tokens *tk);
void tokens_set_logger(struct tokens *tk, void (*fn)(void *, const char *));

#endif /* SRV_SITE_H */
