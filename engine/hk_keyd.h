/*
 * hk_keyd.h - the key daemon transport (keyd_client.c): key operations
 * over hsmtls-keyd's socket.  No PKCS#11: the daemon has the token.
 */
#ifndef HK_KEYD_H
#define HK_KEYD_H

#include <stddef.h>
#include "hk.h"
#include "hk_key.h"
#include "hk_xport.h"

struct hk_keyd;

struct hk_keyd *hk_keyd_new(struct hk_engine *e, const char *path, char *err,
    size_t errlen);
void hk_keyd_free(struct hk_keyd *d);
int hk_keyd_open(struct hk_keyd *d, struct hk_key *k, X509 *cert, char *err,
    size_t errlen);
void hk_keyd_stats(struct hk_keyd *d, struct hk_stats *st);
/* Link k into its engine's key list (under the transport's lock). */
void hk_keyd_add_key(struct hk_keyd *d, struct hk_key *k);
/* The key daemon transport; its arg is a struct hk_keyd. */
extern const struct hk_xport_ops hk_keyd_xport;

#endif /* HK_KEYD_H */
