/*
 * keyd.h - hsmtls-keyd: the one process that loads PKCS#11 modules and
 * holds PINs.  load.c builds the served keys from hsmtls.conf; serve.c
 * answers requests on the Unix socket (doc/keyd-protocol.md).
 */
#ifndef KEYD_H
#define KEYD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "conf.h"
#include "hk.h"

/* One token block (or implicit token): one engine, one login. */
struct keyd_token {
	struct hk_engine *e;
	unsigned *erefs;        /* sets sharing e (a reload reuses it) */
	char *name;             /* the block's label, or the URI's */
	const struct conf_token *tb;
	struct keyd_token *next;
};

/*
 * One copy of a served key on one token.  inflight counts operations
 * started and not yet collected; it, picked, out and out_since_ms are
 * read and written under serve.c's replica lock (the loop and the request
 * threads both route); probe is the loop's alone.
 */
struct keyd_replica {
	struct hk_key *k;
	struct keyd_token *t;
	char *uri;              /* as configured */
	unsigned inflight;
	uint64_t picked;        /* when last chosen (a sequence number) */
	int out;                /* taken out after a token fault */
	uint64_t out_since_ms;
	struct hk_pending *probe;
	unsigned stuck;         /* same-thread calls past their deadline */
};

/* A key line of a site: the key, its replicas, how a client names it. */
struct keyd_key {
	struct keyd_replica *r;
	size_t nr;
	char *name;             /* for log lines: object=, else the site */
	char *uri;              /* the first URI, as configured */
	unsigned char *spki;    /* DER SubjectPublicKeyInfo */
	size_t spkilen;
	struct hk_key_info info;
	struct keyd_key *next;
};

/*
 * A key set: what one reading of hsmtls.conf serves.  SIGHUP builds a new
 * set; the old one lives on while a connection holds a key opened from it
 * (refs: the daemon's current set, plus one per opened key).
 */
struct keyd {
	struct conf conf;       /* the tokens' blocks point into it */
	struct keyd_token *tokens;
	struct keyd_key *keys;
	size_t nkeys;
	uid_t allowed[3];       /* root, our own uid, the configured user */
	size_t nallowed;
	const char *socket_path;
	const char *user;       /* the user we run as after the drop, or NULL */
	const struct keyd *prev;  /* while loading: engines to reuse */
	atomic_uint refs;       /* any thread; the last put unloads */
};

/* load.c: tokens, PINs, keys, self-tests.  0, or -1 with errors in err.
 * keyd_read_pins reads every token's PIN (before the drop to keyd-user);
 * keyd_load reads those not read yet, then loads the modules and keys. */
int keyd_read_pins(struct keyd *d, const struct conf *c,
    struct conf_errors *err);
int keyd_load(struct keyd *d, const struct conf *c, struct conf_errors *err);
void keyd_unload(struct keyd *d);

/* reload.c: the set's references, and SIGHUP.  A reference may be
 * dropped on any thread; engines shared between sets are counted under
 * one lock, held also while a reload builds a set.  keyd_token_reuse gives t
 * (its name and block set) the engine of the same token in d->prev: 0, or
 * -1 when there is none (t needs a new engine). */
int keyd_token_reuse(struct keyd *d, struct keyd_token *t);
void keyd_ref(struct keyd *d);
void keyd_put(struct keyd *d);
/* Read the configuration again; the new current set, or cur itself (the
 * errors logged) when anything fails.  Takes cur's current reference. */
struct keyd *keyd_reload(struct keyd *cur);

/* serve.c: bind (refusing a live daemon), then serve until SIGTERM;
 * keyd_serve takes d's reference and drops the current set's at exit. */
int keyd_bind(const char *path, gid_t group);
int keyd_serve(struct keyd *d, int lfd);

#endif /* KEYD_H */
