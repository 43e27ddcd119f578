/* hk_pool.h - the key-operation worker pool (pool.c). */
#ifndef HK_POOL_H
#define HK_POOL_H

#include <stdatomic.h>
#include <stdint.h>
#include "hk_internal.h"

#define HK_OP_BUF 1024          /* 8192-bit RSA */

enum hk_op_state {
	HK_OP_QUEUED,
	HK_OP_RUNNING,
	HK_OP_DONE,
	HK_OP_ABANDONED,
};

enum hk_op_kind {
	HK_OP_SIGN,
	HK_OP_DECRYPT_RAW,
};

struct hk_op {
	atomic_int refs;
	atomic_int state;           /* enum hk_op_state */
	atomic_int expired;         /* deadline passed (monitor) or stopping */
	int efd;                    /* our own dup of the job's eventfd */
	uint64_t deadline_ms;       /* CLOCK_MONOTONIC */
	enum hk_op_kind kind;
	const struct hk_key *key;
	enum hk_mech mech;
	int md_nid, saltlen;
	size_t modlen;
	unsigned char in[HK_OP_BUF];
	size_t inlen;
	unsigned char out[HK_OP_BUF];
	size_t outlen;
	int rc;                     /* 0 or -1 (sign) */
	unsigned long rv;           /* CKR value (decrypt) */
	char err[HK_ERRLEN];
	struct hk_op *next;         /* queue */
	struct hk_op *inflight_next;
};

struct hk_pool;

struct hk_pool *hk_pool_new(struct hk_p11 *p11, size_t nthreads,
    size_t max_depth);
int hk_pool_free(struct hk_pool *p, unsigned wait_ms);
struct hk_op *hk_op_new(int efd, unsigned deadline_ms);
int hk_pool_submit(struct hk_pool *p, struct hk_op *op);
void hk_op_abandon(struct hk_op *op);
void hk_op_release(struct hk_op *op);
void hk_pool_stats(struct hk_pool *p, struct hk_stats *st);

#endif
