/*
 * op.c - the life of a key operation handed from a paused async job to a
 * transport (the worker pool or the key daemon client).
 *
 * Ownership: an op has two references, the job's and the transport's
 * (queue, then worker or request slot).  Either side may drop first; the
 * last one frees the op and closes its own dup of the eventfd, so a late
 * completion only ever writes to an eventfd object nobody reads, never to
 * a reused descriptor.  States: queued -> running -> done, or -> abandoned
 * when the job stops waiting (deadline, cancellation).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "hk_xport.h"

uint64_t
hk_op_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct hk_op *
hk_op_new(int efd, unsigned deadline_ms)
{
	struct hk_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	if ((op->efd = dup(efd)) < 0) {
		free(op);
		return NULL;
	}
	atomic_init(&op->refs, 2);
	atomic_init(&op->state, HK_OP_QUEUED);
	op->deadline_ms = hk_op_now_ms() + deadline_ms;
	return op;
}

/* Wake the job: eventfd counters add, so any number of writes is fine. */
void
hk_op_signal(struct hk_op *op)
{
	uint64_t one = 1;
	ssize_t n;

	do
		n = write(op->efd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
}

/* The job stops waiting: from now on the op's result is nobody's. */
void
hk_op_abandon(struct hk_op *op)
{
	int expected = HK_OP_QUEUED;

	if (!atomic_compare_exchange_strong(&op->state, &expected,
	    HK_OP_ABANDONED)) {
		expected = HK_OP_RUNNING;
		atomic_compare_exchange_strong(&op->state, &expected,
		    HK_OP_ABANDONED);
	}
}

void
hk_op_release(struct hk_op *op)
{
	if (atomic_fetch_sub(&op->refs, 1) != 1)
		return;
	if (op->efd >= 0)
		close(op->efd);
	OPENSSL_cleanse(op->out, sizeof(op->out));
	free(op);
}
