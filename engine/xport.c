/*
 * xport.c - the provider's key operations, carried by the engine's
 * transport (hk_xport.h): inside an OpenSSL async job the op is handed to
 * the transport and the job pauses on its eventfd; outside one the
 * transport's waiting call is used.  The same code for the worker pool
 * and the key daemon.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <openssl/async.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include "hk_ckr.h"
#include "hk_rsa_kx.h"
#include "hk_xport.h"

static const char wait_key[] = "hsmtls";   /* our entry in the wait ctx */
static _Thread_local int cancelling;

void
hk_async_cancel(int on)
{
	cancelling = on;
}

static void
close_wait_fd(ASYNC_WAIT_CTX *ctx, const void *key, OSSL_ASYNC_FD fd,
    void *custom)
{
	close(fd);
}

/* The job's eventfd, made at its first key operation and closed after the
 * operation (job_eventfd_done): an established connection holds none. */
static int
job_eventfd(ASYNC_JOB *job)
{
	ASYNC_WAIT_CTX *w = ASYNC_get_wait_ctx(job);
	OSSL_ASYNC_FD fd;
	void *custom;

	if (w == NULL)
		return -1;
	if (ASYNC_WAIT_CTX_get_fd(w, wait_key, &fd, &custom))
		return fd;
	if ((fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return -1;
	if (!ASYNC_WAIT_CTX_set_wait_fd(w, wait_key, fd, NULL, close_wait_fd)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The op is over: its own dup of the eventfd takes any late completion. */
static void
job_eventfd_done(int efd)
{
	ASYNC_JOB *job = ASYNC_get_current_job();
	ASYNC_WAIT_CTX *w = job != NULL ? ASYNC_get_wait_ctx(job) : NULL;

	/* Cleared without its cleanup, which is then ours to do. */
	if (w != NULL && ASYNC_WAIT_CTX_clear_fd(w, wait_key))
		close(efd);
}

static void
drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

/*
 * Post the op and pause until a worker is done with it, its deadline has
 * passed, or the connection is being torn down.  Nothing here calls the
 * module.  0 when the op's result may be used.
 */
static int run_async_wait(struct hk_xport *x, int efd, struct hk_op *op);

static int
run_async(struct hk_xport *x, int efd, struct hk_op *op)
{
	int sink = op->sink != NULL;
	int rc = run_async_wait(x, efd, op);

	if (!sink)
		job_eventfd_done(efd);
	return rc;
}

static int
run_async_wait(struct hk_xport *x, int efd, struct hk_op *op)
{
	int state;

	if (x->ops->submit(x->arg, op) != 0) {
		hk_op_release(op);      /* the transport's reference */
		hk_op_release(op);      /* ours */
		ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
		    "hsmtls: key-operation queue full");
		return -1;
	}
	for (;;) {
		ASYNC_pause_job();
		if (op->sink == NULL)
			drain(efd);
		state = atomic_load(&op->state);
		if (state == HK_OP_DONE) {
			op->dropped = 1;
			return 0;
		}
		if (cancelling || atomic_load(&op->expired)) {
			op->dropped = 1;    /* before the sink can see it */
			hk_op_abandon(op);
			if (atomic_load(&op->state) == HK_OP_DONE)
				return 0;
			hk_op_release(op);
			if (cancelling)
				atomic_fetch_add(&x->ops_cancelled, 1);
			ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
			    "hsmtls: key operation %s", cancelling ?
			    "cancelled" : "timed out");
			return -1;
		}
	}
}

/* An op for the current job, or NULL to run synchronously. */
static struct hk_op *
async_op(const struct hk_key *k, enum hk_op_kind kind, const void *in,
    size_t inlen, int *efd)
{
	ASYNC_JOB *job = ASYNC_get_current_job();
	struct hk_sink *sink;
	struct hk_op *op;
	void *cookie;

	if (job == NULL || inlen > HK_OP_BUF)
		return NULL;
	if ((sink = hk_async_sink(&cookie)) != NULL) {
		/* The loop's sink: no eventfd of the job's own. */
		*efd = -1;
		if ((op = hk_op_new_sink(sink, cookie,
		    k->xport->deadline_ms)) == NULL)
			return NULL;
	} else {
		if ((*efd = job_eventfd(job)) < 0)
			return NULL;
		if ((op = hk_op_new(*efd, k->xport->deadline_ms)) == NULL) {
			job_eventfd_done(*efd);
			return NULL;
		}
	}
	op->kind = kind;
	op->key = k;
	memcpy(op->in, in, inlen);
	op->inlen = inlen;
	return op;
}

static int
sign_async(const struct hk_key *k, struct hk_op *op, int efd,
    unsigned char *sig, size_t *siglen, char *err, size_t errlen)
{
	int rc = -1;

	if (run_async(k->xport, efd, op) != 0)
		return -2;      /* error already raised */
	if (op->rc == 0 && op->outlen <= *siglen) {
		memcpy(sig, op->out, op->outlen);
		*siglen = op->outlen;
		rc = 0;
	} else {
		hk_fmterr(err, errlen, "%s", op->err);
	}
	hk_op_release(op);
	return rc;
}

/* Counters are the one part of a key that changes while it is in use. */
static void
count_op(const struct hk_key *k, enum hk_keyop op, int ok)
{
	hk_keyop_count((struct hk_keyop_counts *)&k->ops, op, ok);
}

static enum hk_keyop
keyop_of(enum hk_mech mech)
{
	switch (mech) {
	case HK_MECH_RSA_PKCS:  return HK_KEYOP_RSA_PKCS;
	case HK_MECH_RSA_PSS:   return HK_KEYOP_RSA_PSS;
	case HK_MECH_RSA_RAW:   return HK_KEYOP_RSA_PSS_RAW;
	case HK_MECH_ECDSA:     break;
	}
	return HK_KEYOP_ECDSA;
}

int
hk_key_sign(const struct hk_key *k, enum hk_mech mech, int md_nid,
    int saltlen, const unsigned char *dgst, size_t dlen,
    unsigned char *sig, size_t *siglen)
{
	char err[HK_ERRLEN] = "token signature failed";
	struct hk_xport *x = k->xport;
	struct hk_op *op;
	int efd, rc;

	if (x == NULL || x->ops == NULL) {
		rc = -1;
		hk_fmterr(err, sizeof(err), "the key's token is not open");
	} else if ((op = async_op(k, HK_OP_SIGN, dgst, dlen, &efd)) != NULL) {
		op->mech = mech;
		op->md_nid = md_nid;
		op->saltlen = saltlen;
		rc = sign_async(k, op, efd, sig, siglen, err, sizeof(err));
	} else {
		rc = x->ops->sign(x->arg, k, mech, md_nid, saltlen, dgst, dlen,
		    sig, siglen, err, sizeof(err));
	}
	count_op(k, keyop_of(mech), rc == 0);
	if (rc != 0) {
		if (x != NULL)
			atomic_fetch_add(&x->sign_failed, 1);
		if (rc == -1)
			ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "%s",
			    err);
		return -1;
	}
	atomic_fetch_add(&x->sign_ok, 1);
	return 0;
}

/* Raw RSA on the token: through the transport inside an async job, else
 * its waiting call. */
static unsigned long
decrypt_raw(const struct hk_key *k, const unsigned char *in, size_t inlen,
    unsigned char *em, size_t klen)
{
	struct hk_xport *x = k->xport;
	struct hk_op *op;
	unsigned long rv;
	int efd;

	if ((op = async_op(k, HK_OP_DECRYPT_RAW, in, inlen, &efd)) == NULL)
		return x->ops->decrypt_raw(x->arg, k, in, inlen, em, klen);
	op->modlen = klen;
	if (run_async(x, efd, op) != 0)
		return CKR_FUNCTION_FAILED_VALUE;
	rv = op->rv;
	if (rv == 0)
		memcpy(em, op->out, klen);
	hk_op_release(op);
	return rv;
}

/*
 * The random substitute is drawn first, the token's result is judged in
 * constant time, and the two are merged without a branch.  A ciphertext the
 * token rejects as data (wrong length, not below the modulus) is judged as
 * an all-zero block, i.e. replaced too: only a failure of the token itself
 * (session, device) fails the handshake, and that does not depend on the
 * padding.  No log line is written on this path.
 */
int
hk_key_decrypt_premaster(const struct hk_key *k, const unsigned char *in,
    size_t inlen, unsigned client_version, unsigned alt_version,
    unsigned char out[HK_TLS_PREMASTER_LEN])
{
	unsigned char rnd[HK_TLS_PREMASTER_LEN], em[HK_MAX_MODULUS];
	int klen = EVP_PKEY_get_size(k->pub);
	unsigned long rv;
	int rc = -1;

	if (klen <= 0 || klen > HK_MAX_MODULUS || k->xport == NULL ||
	    k->xport->ops == NULL || RAND_priv_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	rv = decrypt_raw(k, in, inlen, em, (size_t)klen);
	if (hk_ckr_is_data_error(rv)) {
		memset(em, 0, (size_t)klen);
		rv = 0;
	}
	if (rv == 0)
		rc = hk_tls_premaster(em, (size_t)klen, client_version,
		    alt_version, rnd, out);
	count_op(k, HK_KEYOP_RSA_DECRYPT_RAW, rc == 0);
	if (rc == 0)
		atomic_fetch_add(&k->xport->decrypt_ok, 1);
	else
		atomic_fetch_add(&k->xport->decrypt_failed, 1);
	OPENSSL_cleanse(em, sizeof(em));
	OPENSSL_cleanse(rnd, sizeof(rnd));
	if (rc != 0)
		ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
		    "hsmtls: token decryption failed");
	return rc;
}
