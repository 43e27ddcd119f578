/*
 * hk_xport.h - the key-operation transport: how a key operation gets from
 * the provider to the token.  Two implementations: the in-process worker
 * pool (pool.c, over the token layer) and the key daemon's socket
 * (keyd_client.c).  The provider knows only this header; xport.c is the
 * one caller of a transport's functions, for both.
 */
#ifndef HK_XPORT_H
#define HK_XPORT_H

#include <stdatomic.h>
#include <stdint.h>
#include "hk_err.h"
#include "hk_key.h"

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

/*
 * One operation of a paused async job.  Two references, the job's and the
 * transport's; the transport finishes it by setting HK_OP_DONE and calling
 * hk_op_signal(), or by setting expired (deadline) and signalling.  The
 * signal is a write to efd, or, for an op with a sink, one push onto the
 * loop's sink (which holds a reference until the loop collects it).
 */
struct hk_op {
	atomic_int refs;
	atomic_int state;           /* enum hk_op_state */
	atomic_int expired;         /* deadline passed (monitor) or stopping */
	int efd;                    /* our own dup of the job's eventfd, or -1 */
	struct hk_sink *sink;       /* or: where it completes (op.c) */
	void *cookie;               /* the sink's word for the job */
	atomic_int signalled;       /* pushed onto the sink already */
	int dropped;                /* the job stopped waiting (loop thread) */
	struct hk_op *sink_next;
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
	struct hk_op *next;         /* a transport's queue */
	struct hk_op *inflight_next;
};

/* op.c: an op's life, the same for both transports. */
struct hk_op *hk_op_new(int efd, unsigned deadline_ms);
/* An op that completes into sink (hk.h), for the job of cookie. */
struct hk_op *hk_op_new_sink(struct hk_sink *sink, void *cookie,
    unsigned deadline_ms);
/* The target the loop thread set (hk_async_target): sink or NULL. */
struct hk_sink *hk_async_sink(void **cookie);
void hk_op_abandon(struct hk_op *op);
void hk_op_release(struct hk_op *op);
/* Wake the op's job (a write to its eventfd). */
void hk_op_signal(struct hk_op *op);
uint64_t hk_op_now_ms(void);

/* What a transport does; arg is its own state. */
struct hk_xport_ops {
	/* Queue op and take its reference; -1 when it cannot (full,
	 * disconnected: then op->err may say why). */
	int (*submit)(void *arg, struct hk_op *op);
	/* The same operations waited for, outside an async job (start-up
	 * self-test, a caller without SSL_MODE_ASYNC). */
	int (*sign)(void *arg, const struct hk_key *k, enum hk_mech mech,
	    int md_nid, int saltlen, const unsigned char *in, size_t inlen,
	    unsigned char *sig, size_t *siglen, char *err, size_t errlen);
	unsigned long (*decrypt_raw)(void *arg, const struct hk_key *k,
	    const unsigned char *in, size_t inlen, unsigned char *out,
	    size_t outlen);
};

/* The engine's transport and its counters (hk_engine_stats). */
struct hk_xport {
	const struct hk_xport_ops *ops;     /* NULL: none yet */
	void *arg;
	unsigned deadline_ms;
	atomic_uint_fast64_t sign_ok;
	atomic_uint_fast64_t sign_failed;
	atomic_uint_fast64_t decrypt_ok;
	atomic_uint_fast64_t decrypt_failed;
	atomic_uint_fast64_t ops_cancelled;
};

/* xport.c: the provider's entry points. */
/* Sign a digest on the token; counts the result.  0 / -1 (error raised
 * on the OpenSSL error queue). */
int hk_key_sign(const struct hk_key *k, enum hk_mech mech, int md_nid,
    int saltlen, const unsigned char *dgst, size_t dlen,
    unsigned char *sig, size_t *siglen);
/* Decrypt a TLS RSA pre-master secret: raw RSA on the token, then the
 * constant-time check.  0, or -1 only for a token failure that does not
 * depend on the ciphertext's content. */
int hk_key_decrypt_premaster(const struct hk_key *k, const unsigned char *in,
    size_t inlen, unsigned client_version, unsigned alt_version,
    unsigned char out[48]);

#endif /* HK_XPORT_H */
