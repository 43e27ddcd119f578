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
 *
 * An op of a loop with a completion sink has no eventfd: its signal pushes
 * it, once, onto the sink's list (a lock-free stack: any thread pushes,
 * only the loop takes the whole list), with a reference of its own, and
 * writes the sink's eventfd only if the list was empty.  The sink lives
 * while its loop or an op names it.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <openssl/crypto.h>
#include "hk.h"
#include "hk_xport.h"

struct hk_sink {
	_Atomic(struct hk_op *) head;   /* finished ops, newest first */
	atomic_uint refs;               /* the loop's, and one an op */
	int efd;
};

/* The head of a closed sink: nothing is pushed any more. */
static struct hk_op sink_closed;
#define SINK_CLOSED (&sink_closed)

static _Thread_local struct hk_sink *target_sink;
static _Thread_local void *target_cookie;

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

static void
efd_write(int fd)
{
	uint64_t one = 1;
	ssize_t n;

	do
		n = write(fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
}

static void
sink_unref(struct hk_sink *k)
{
	if (atomic_fetch_sub(&k->refs, 1) != 1)
		return;
	close(k->efd);
	free(k);
}

struct hk_op *
hk_op_new_sink(struct hk_sink *sink, void *cookie, unsigned deadline_ms)
{
	struct hk_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op->efd = -1;
	op->sink = sink;
	op->cookie = cookie;
	atomic_fetch_add(&sink->refs, 1);
	atomic_init(&op->refs, 2);
	atomic_init(&op->state, HK_OP_QUEUED);
	op->deadline_ms = hk_op_now_ms() + deadline_ms;
	return op;
}

/*
 * Wake the job.  An eventfd's counter adds, so any number of writes is
 * fine; a sink takes an op once (a deadline and a late result both
 * signal), and its eventfd is written by the push that found it empty.
 */
void
hk_op_signal(struct hk_op *op)
{
	struct hk_sink *k = op->sink;
	struct hk_op *old;

	if (k == NULL) {
		efd_write(op->efd);
		return;
	}
	if (atomic_exchange(&op->signalled, 1))
		return;
	atomic_fetch_add(&op->refs, 1);         /* the sink's */
	old = atomic_load(&k->head);
	do {
		if (old == SINK_CLOSED) {
			hk_op_release(op);
			return;
		}
		op->sink_next = old;
	} while (!atomic_compare_exchange_weak(&k->head, &old, op));
	if (old == NULL)
		efd_write(k->efd);
}

struct hk_sink *
hk_sink_new(void)
{
	struct hk_sink *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return NULL;
	if ((k->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		free(k);
		return NULL;
	}
	atomic_init(&k->head, NULL);
	atomic_init(&k->refs, 1);
	return k;
}

int
hk_sink_fd(const struct hk_sink *k)
{
	return k->efd;
}

/*
 * The eventfd is read before the list is taken: a push after the take
 * found the list empty and writes again, so no completion waits for a
 * wake that already happened.
 */
void
hk_sink_collect(struct hk_sink *k, void (*ready)(void *cookie))
{
	struct hk_op *op, *next, *fifo = NULL;
	uint64_t v;

	while (read(k->efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	for (op = atomic_exchange(&k->head, NULL); op != NULL; op = next) {
		next = op->sink_next;
		op->sink_next = fifo;
		fifo = op;
	}
	for (op = fifo; op != NULL; op = next) {
		next = op->sink_next;
		/* ready() may end another connection: its job then drops
		 * its op, which is later in this list. */
		if (!op->dropped)
			ready(op->cookie);
		hk_op_release(op);
	}
}

void
hk_sink_close(struct hk_sink *k)
{
	struct hk_op *op, *next;

	if (k == NULL)
		return;
	for (op = atomic_exchange(&k->head, SINK_CLOSED); op != NULL;
	    op = next) {
		next = op->sink_next;
		hk_op_release(op);
	}
	sink_unref(k);
}

void
hk_async_target(struct hk_sink *sink, void *cookie)
{
	target_sink = sink;
	target_cookie = cookie;
}

struct hk_sink *
hk_async_sink(void **cookie)
{
	*cookie = target_cookie;
	return target_sink;
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
	if (op->sink != NULL)
		sink_unref(op->sink);
	OPENSSL_cleanse(op->out, sizeof(op->out));
	free(op);
}
