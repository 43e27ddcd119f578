/*
 * keyd.h - hsmtls-keyd: the one process that loads PKCS#11 modules and
 * holds PINs.  load.c builds the served keys from hsmtls.conf; serve.c
 * answers requests on the Unix socket (doc/keyd-protocol.md).
 */
#ifndef KEYD_H
#define KEYD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "conf.h"
#include "hk.h"

/* One token block (or implicit token): one engine, one login. */
struct keyd_token {
	struct hk_engine *e;
	char *name;             /* the block's label, or the URI's */
	const struct conf_token *tb;
	struct keyd_token *next;
};

/*
 * One copy of a served key on one token.  The loop alone touches these
 * fields: inflight counts operations started and not yet collected, so
 * routing needs no lock.
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

struct keyd {
	struct keyd_token *tokens;
	struct keyd_key *keys;
	size_t nkeys;
	uid_t allowed[3];       /* root, our own uid, the configured user */
	size_t nallowed;
	const char *socket_path;
};

/* load.c: tokens, PINs, keys, self-tests.  0, or -1 with errors in err. */
int keyd_load(struct keyd *d, const struct conf *c, struct conf_errors *err);
void keyd_unload(struct keyd *d);

/* serve.c: bind (refusing a live daemon), then serve until SIGTERM. */
int keyd_bind(const char *path, gid_t group);
int keyd_serve(struct keyd *d, int lfd);

#endif /* KEYD_H */
