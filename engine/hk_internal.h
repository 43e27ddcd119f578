/*
 * hk_internal.h - the engine's own state (struct hk_engine), for the
 * files that implement hk.h: engine.c, keyop.c and the key daemon
 * client's public calls.  It names the token layer and the key daemon
 * client by opaque pointers only, so including it brings in neither;
 * nothing here is seen by server/ or tokens/.
 */
#ifndef HK_INTERNAL_H
#define HK_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "hk.h"
#include "hk_err.h"
#include "hk_key.h"
#include "hk_metrics.h"
#include "hk_pin.h"
#include "hk_xport.h"

struct hk_p11;
struct hk_pool;
struct hk_keyd;

struct hk_engine {
	char err[HK_ERRLEN];
	hk_log_fn log;
	void *log_arg;
	int allow_weak_key;
	int allow_imported_key;
	int key_refused;        /* the last load failed on the key's attributes */
	struct hk_pool *pool;
	struct hk_pool_config pool_cfg;
	char *module;
	struct hk_pin *pin;
	int pin_read;           /* hk_engine_read_pin() ran: keep its PIN */
	struct hk_p11 *p11;
	struct hk_key *keys;
	struct hk_xport xport;          /* the pool's, or the key daemon's */
	struct hk_metrics metrics;      /* metrics.c */
	struct hk_keyd *keyd;           /* key daemon mode: no module, no PIN */
	atomic_uint now_busy;           /* hk_keyop_*_now calls in the token */
	atomic_uint_fast64_t now_expired;  /* ... past the caller's deadline */
};

/* engine.c */
void hk_seterr(struct hk_engine *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* HK_INTERNAL_H */
