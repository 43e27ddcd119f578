/*
 * hk_token.h - the token layer: module, login, sessions, key lookup,
 * operations, recovery (p11.c, p11_ops.c, recover.c) and the worker pool
 * that runs operations off the event loop (pool.c), which is also the
 * in-process transport.  Used by engine.c for hsmtls-server in-process
 * and hsmtls-keyd (through keyop.c).  PKCS#11 types stay in
 * p11_internal.h: callers name token objects by opaque handles.  Nothing
 * here knows the provider.
 */
#ifndef HK_TOKEN_H
#define HK_TOKEN_H

#include <stddef.h>
#include "hk.h"
#include "hk_key.h"
#include "hk_metrics.h"
#include "hk_pin.h"
#include "hk_xport.h"

struct hk_p11;
struct hk_pool;

/* Mechanisms asked about with C_GetMechanismInfo. */
enum hk_p11_mech {
	HK_P11_RSA_PKCS,
	HK_P11_RSA_PSS,
	HK_P11_RSA_RAW_SIGN,
	HK_P11_RSA_RAW_DECRYPT,
	HK_P11_ECDSA,
};

/* p11.c, p11_ops.c, recover.c: the PKCS#11 boundary. */
struct hk_p11 *hk_p11_open(const char *module, const char *uri,
    const struct hk_pin *pin, struct hk_metrics *metrics, hk_log_fn log,
    void *log_arg, char *err, size_t errlen);
int hk_p11_same_token(struct hk_p11 *p, const char *uri);
const char *hk_p11_token_label(const struct hk_p11 *p);
void hk_p11_close(struct hk_p11 *p);
/*
 * Hold the module as it is: the prober (recover.c) unloads and loads it
 * again to recover a token, so every call into it outside an operation
 * (key lookup at a load or reload) is made between these two.
 */
void hk_p11_hold(struct hk_p11 *p);
void hk_p11_unhold(struct hk_p11 *p);
int hk_p11_track_key(struct hk_p11 *p, struct hk_key *k);
void hk_p11_use_key(struct hk_p11 *p, struct hk_key *k);
/* Private keys matching uri; each with its public key.  cert may supply a
 * missing EC public key.  Returns the count, -1 on error. */
int hk_p11_find_keys(struct hk_p11 *p, const char *uri, X509 *cert,
    struct hk_key **list, char *err, size_t errlen);
int hk_p11_find_cert(struct hk_p11 *p, const char *uri, unsigned char **der,
    size_t *len, char *err, size_t errlen);
/* Read the key's custody attributes into k->custody (once, at load). */
void hk_p11_key_custody(struct hk_p11 *p, struct hk_key *k);
int hk_p11_has_mech(struct hk_p11 *p, enum hk_p11_mech which);
int hk_p11_sign(struct hk_p11 *p, const struct hk_key *k, enum hk_mech mech,
    int md_nid, int saltlen, const unsigned char *in, size_t inlen,
    unsigned char *sig, size_t *siglen, char *err, size_t errlen);
void hk_p11_stats(struct hk_p11 *p, struct hk_stats *st);
/* The token's session limit; 0 when it has none or does not say. */
unsigned long hk_p11_max_sessions(const struct hk_p11 *p);
unsigned long hk_p11_decrypt_raw(struct hk_p11 *p, const struct hk_key *k,
    const unsigned char *in, size_t inlen, unsigned char *out, size_t outsize);

/* pool.c: the key-operation worker pool. */
/* nthreads workers, growing up to ceiling on a slow token (pool.c). */
struct hk_pool *hk_pool_new(struct hk_p11 *p11, size_t nthreads,
    size_t ceiling, size_t max_depth);
int hk_pool_free(struct hk_pool *p, unsigned wait_ms);
int hk_pool_submit(struct hk_pool *p, struct hk_op *op);
void hk_pool_stats(struct hk_pool *p, struct hk_stats *st);
/* The in-process transport; its arg is a struct hk_pool. */
extern const struct hk_xport_ops hk_pool_xport;

#endif /* HK_TOKEN_H */
