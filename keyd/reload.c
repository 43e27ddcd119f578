/*
 * reload.c - SIGHUP: read hsmtls.conf again and serve the keys it names.
 *
 * The new key set is built beside the old one: a token block that is
 * unchanged (same label, module and PIN file) keeps its engine, so its
 * login and the PIN read at start-up stay (the daemon may no longer be
 * able to read a root-only PIN file); a new or changed block gets a new
 * engine, whose PIN file is read now, as the daemon's user.  Every key is
 * found and self-tested again.  Any error leaves the old set serving.
 *
 * OPEN resolves against the current set; a connection keeps the keys it
 * opened, so an old set lives until the last connection holding one of
 * its keys closes.  An engine is freed (logout, C_Finalize when its module
 * has no other user) with the last set that uses it.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "keyd.h"
#include "log.h"

static int
same_str(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static int
same_block(const struct conf_token *a, const struct conf_token *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return same_str(a->name, b->name) && same_str(a->module, b->module) &&
	    same_str(a->pin_file, b->pin_file);
}

int
keyd_token_reuse(struct keyd *d, struct keyd_token *t)
{
	const struct keyd_token *o;

	if (d->prev == NULL)
		return -1;
	for (o = d->prev->tokens; o != NULL; o = o->next)
		if (same_str(o->name, t->name) && same_block(o->tb, t->tb)) {
			t->e = o->e;
			t->erefs = o->erefs;
			(*t->erefs)++;
			return 0;
		}
	return -1;
}

/* Guards every set's engine counts (erefs): a set is unloaded on the
 * thread that drops its last reference, maybe while a reload shares its
 * engines with a new set. */
static pthread_mutex_t sets_lock = PTHREAD_MUTEX_INITIALIZER;

void
keyd_ref(struct keyd *d)
{
	atomic_fetch_add(&d->refs, 1);
}

void
keyd_put(struct keyd *d)
{
	if (d == NULL || atomic_fetch_sub(&d->refs, 1) != 1)
		return;
	pthread_mutex_lock(&sets_lock);
	keyd_unload(d);
	pthread_mutex_unlock(&sets_lock);
	conf_free(&d->conf);
	free(d);
}

/* What a reload cannot change: said once, not an error. */
static void
warn_fixed(const struct conf *old, const struct conf *new)
{
	if (!same_str(old->keyd, new->keyd))
		log_warn("reload: 'keyd' changed; the socket stays until the "
		    "next restart");
	if (!same_str(old->user, new->user) ||
	    !same_str(old->keyd_user, new->keyd_user))
		log_warn("reload: 'user' or 'keyd-user' changed; they take "
		    "effect at the next restart");
	if (old->pool_threads != new->pool_threads ||
	    old->queue_max != new->queue_max ||
	    old->key_timeout_ms != new->key_timeout_ms)
		log_warn("reload: pool-threads, queue-max and key-timeout apply "
		    "to new token blocks only until the next restart");
}

struct keyd *
keyd_reload(struct keyd *cur)
{
	struct conf_errors err;
	struct keyd_token *t;
	struct keyd *d;
	size_t kept = 0, ntok = 0;
	int rc;

	log_info("SIGHUP: reloading %s", cur->conf.file);
	memset(&err, 0, sizeof(err));
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		log_error("reload failed: out of memory; the previous keys keep "
		    "serving");
		return cur;
	}
	conf_defaults(&d->conf);
	memcpy(d->allowed, cur->allowed, sizeof(d->allowed));
	d->nallowed = cur->nallowed;
	d->socket_path = cur->socket_path;
	d->user = cur->user;
	d->prev = cur;
	if (conf_load(&d->conf, cur->conf.file, &err) != 0)
		goto fail;
	conf_errors_clear(&err);        /* warnings concern the server */
	pthread_mutex_lock(&sets_lock);
	rc = keyd_load(d, &d->conf, &err);
	pthread_mutex_unlock(&sets_lock);
	if (rc != 0)
		goto fail;
	d->prev = NULL;
	d->refs = 1;
	warn_fixed(&cur->conf, &d->conf);
	for (t = d->tokens; t != NULL; t = t->next, ntok++)
		if (*t->erefs > 1)
			kept++;
	/* The line before the new log-level, as the server does. */
	log_info("reloaded: serving %zu key%s (%zu of %zu token%s kept as "
	    "they were)", d->nkeys, d->nkeys == 1 ? "" : "s", kept, ntok,
	    ntok == 1 ? "" : "s");
	log_set_level((enum log_level)d->conf.log_level);
	keyd_put(cur);
	return d;
fail:
	conf_errors_print(&err);
	conf_errors_clear(&err);
	if (d->user != NULL)
		log_info("note: PIN files and tokens are read as user '%s' "
		    "now (only unchanged token blocks keep the PIN read at "
		    "start-up)", d->user);
	log_error("reload failed; the previous keys keep serving");
	d->prev = NULL;
	d->refs = 1;
	keyd_put(d);
	return cur;
}
