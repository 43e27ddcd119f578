/* Unit tests of a loop's completion sink (engine/op.c): an op finished on
 * any thread reaches the loop once, in completion order, with one wake-up
 * for a burst, and never after its job stopped waiting or the sink closed. */
#include "config.h"

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "hk.h"
#include "hk_xport.h"

#define NTHREADS 4
#define PER_THREAD 2000

static int seen[NTHREADS * PER_THREAD + 8];
static int order[16], norder;

static void
ready(void *cookie)
{
	int i = (int)(intptr_t)cookie;

	seen[i]++;
	if (norder < 16)
		order[norder++] = i;
}

static void
reset(void)
{
	memset(seen, 0, sizeof(seen));
	norder = 0;
}

static int
readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* What the transport does when it is done: DONE, signal, drop its ref. */
static void
finish(struct hk_op *op)
{
	atomic_store(&op->state, HK_OP_DONE);
	hk_op_signal(op);
	hk_op_release(op);
}

/* Test: one op: the fd wakes, the loop is told once, a second signal (a
 * deadline after the result) is not a second completion. */
static void
test_one(void **state)
{
	struct hk_sink *k = hk_sink_new();
	struct hk_op *op;

	(void)state;
	reset();
	assert_non_null(k);
	assert_false(readable(hk_sink_fd(k), 0));
	op = hk_op_new_sink(k, (void *)(intptr_t)1, 1000);
	assert_non_null(op);
	assert_int_equal(op->efd, -1);
	hk_op_signal(op);       /* e.g. the deadline */
	finish(op);             /* then the result */
	assert_true(readable(hk_sink_fd(k), 1000));
	hk_sink_collect(k, ready);
	assert_int_equal(seen[1], 1);
	assert_false(readable(hk_sink_fd(k), 0));
	hk_sink_collect(k, ready);      /* a spurious wake finds nothing */
	assert_int_equal(seen[1], 1);
	hk_op_release(op);      /* the job's */
	hk_sink_close(k);
}

/* Test: completions in the order they happened; one wake for all; an op
 * whose job stopped waiting is skipped. */
static void
test_order_and_dropped(void **state)
{
	struct hk_sink *k = hk_sink_new();
	struct hk_op *op[4];
	uint64_t v;
	int i;

	(void)state;
	reset();
	for (i = 0; i < 4; i++)
		assert_non_null(op[i] = hk_op_new_sink(k,
		    (void *)(intptr_t)i, 1000));
	op[2]->dropped = 1;
	finish(op[3]);
	finish(op[0]);
	finish(op[2]);
	finish(op[1]);
	/* Four completions, one write: the counter says 1. */
	assert_int_equal(read(hk_sink_fd(k), &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	hk_sink_collect(k, ready);
	assert_int_equal(norder, 3);
	assert_int_equal(order[0], 3);
	assert_int_equal(order[1], 0);
	assert_int_equal(order[2], 1);
	assert_int_equal(seen[2], 0);
	for (i = 0; i < 4; i++)
		hk_op_release(op[i]);
	hk_sink_close(k);
}

struct pusher {
	struct hk_op **ops;
	int n;
};

static void *
push_all(void *arg)
{
	struct pusher *p = arg;
	int i;

	for (i = 0; i < p->n; i++)
		finish(p->ops[i]);
	return NULL;
}

/* Test: threads finishing at once, the loop collecting meanwhile: every
 * op reaches the loop exactly once, and no wake-up is lost. */
static void
test_threads(void **state)
{
	struct hk_sink *k = hk_sink_new();
	static struct hk_op *ops[NTHREADS][PER_THREAD];
	struct pusher p[NTHREADS];
	pthread_t th[NTHREADS];
	int i, j, total;

	(void)state;
	reset();
	for (i = 0; i < NTHREADS; i++) {
		for (j = 0; j < PER_THREAD; j++)
			assert_non_null(ops[i][j] = hk_op_new_sink(k,
			    (void *)(intptr_t)(i * PER_THREAD + j), 1000));
		p[i].ops = ops[i];
		p[i].n = PER_THREAD;
	}
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, push_all, &p[i]),
		    0);
	/* Only wait on the fd: a lost wake-up shows as a 5 s timeout. */
	for (total = 0; total < NTHREADS * PER_THREAD; ) {
		assert_true(readable(hk_sink_fd(k), 5000));
		hk_sink_collect(k, ready);
		for (total = 0, i = 0; i < NTHREADS * PER_THREAD; i++)
			total += seen[i] > 0;
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	hk_sink_collect(k, ready);
	for (i = 0; i < NTHREADS * PER_THREAD; i++)
		assert_int_equal(seen[i], 1);
	for (i = 0; i < NTHREADS; i++)
		for (j = 0; j < PER_THREAD; j++)
			hk_op_release(ops[i][j]);
	hk_sink_close(k);
}

/* Test: after close, a late result is dropped, and the op that outlives
 * the sink's loop keeps it alive until it goes (LeakSanitizer and the
 * sanitizer build see a leak or a use after free). */
static void
test_close(void **state)
{
	struct hk_sink *k = hk_sink_new();
	struct hk_op *listed, *late;

	(void)state;
	reset();
	listed = hk_op_new_sink(k, (void *)(intptr_t)1, 1000);
	late = hk_op_new_sink(k, (void *)(intptr_t)2, 1000);
	assert_non_null(listed);
	assert_non_null(late);
	finish(listed);         /* listed, never collected */
	hk_op_release(listed);  /* the job gave up */
	hk_sink_close(k);       /* releases the listed one */
	finish(late);           /* after close: not pushed */
	assert_int_equal(atomic_load(&late->refs), 1);
	hk_op_release(late);    /* the last reference: frees the sink */
	assert_int_equal(seen[1] + seen[2], 0);
}

/* Test: the thread's target is what async_op reads; NULL is none. */
static void
test_target(void **state)
{
	struct hk_sink *k = hk_sink_new();
	void *cookie = NULL;

	(void)state;
	hk_async_target(k, (void *)(intptr_t)7);
	assert_ptr_equal(hk_async_sink(&cookie), k);
	assert_ptr_equal(cookie, (void *)(intptr_t)7);
	hk_async_target(NULL, NULL);
	assert_null(hk_async_sink(&cookie));
	hk_sink_close(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one),
		cmocka_unit_test(test_order_and_dropped),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_target),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
