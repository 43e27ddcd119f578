/*
 * pool.c - worker threads that run token operations, so that an event loop
 * never waits on the token.
 *
 * A key operation started inside an OpenSSL async job (SSL_MODE_ASYNC) is
 * posted here as a one-shot hk_op and the job pauses; the connection's
 * eventfd, registered in the job's ASYNC_WAIT_CTX, wakes the loop when a
 * worker has finished.  The job never calls the module itself: 3.0 job
 * stacks are small, unguarded heap blocks.
 *
 * The pool is the in-process transport (hk_xport.h): op.c holds an op's
 * life and references; a worker skips abandoned or expired ops.
 *
 * A slow token (a network HSM: milliseconds a signature, many at once)
 * needs more operations in flight than a fast one, which is bound by CPU
 * or by its own locks.  Which it is shows only in what more workers
 * achieve, so by default the pool climbs: each second in which
 * operations queued behind busy workers most of the time, it adds a
 * quarter more workers, up to its ceiling (the token's session limit, at
 * most 256, engine.c), as long as the last step raised the completions
 * per second by POOL_GAIN or more; a step that did not stops the climb
 * for POOL_REST_MS.  Workers are not retired.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "hk_token.h"

#define POOL_WINDOW_MS 1000     /* one step of the climb */
#define POOL_GAIN      1.10     /* what a step must bring to go on */
#define POOL_REST_MS   30000    /* after a step that did not */

/* A worker's own wake-up, so the pool can choose which worker runs next. */
struct hk_worker {
	struct hk_pool *pool;
	pthread_cond_t cv;
	int woken;
};

struct hk_pool {
	struct hk_p11 *p11;
	pthread_mutex_t lock;
	pthread_cond_t tick;        /* wakes the deadline monitor */
	struct hk_op *head, *tail;  /* queued ops, FIFO */
	struct hk_op *inflight;     /* queued or running ops, for deadlines */
	size_t depth, max_depth;
	size_t busy_or_queued;      /* ops submitted and not yet finished */
	pthread_t *threads;
	struct hk_worker *workers;
	struct hk_worker **idle;    /* stack: the last to go idle is on top */
	size_t nidle;
	size_t nstarted;            /* workers running */
	size_t ceiling;             /* the most it may grow to */
	/* the climb (monitor thread, under lock) */
	uint64_t done;              /* operations finished, ever */
	uint64_t win_start, win_done, rest_until;
	unsigned win_ticks, win_queued;
	double last_rate;           /* completions/s before the last step */
	int grew;                   /* the last window ended in a step */
	pthread_t monitor;
	int monitor_started;
	int stop;
	atomic_size_t busy;         /* workers inside the token */
	atomic_uint_fast64_t rejected, expired;
};

static void
inflight_remove(struct hk_pool *p, struct hk_op *op)
{
	struct hk_op **pp;

	for (pp = &p->inflight; *pp != NULL; pp = &(*pp)->inflight_next)
		if (*pp == op) {
			*pp = op->inflight_next;
			return;
		}
}

static void
run(struct hk_pool *p, struct hk_op *op)
{
	char err[HK_ERRLEN];

	if (op->kind == HK_OP_SIGN) {
		op->outlen = sizeof(op->out);
		op->rc = hk_p11_sign(p->p11, op->key, op->mech, op->md_nid,
		    op->saltlen, op->in, op->inlen, op->out, &op->outlen, err,
		    sizeof(err));
		if (op->rc != 0)
			memcpy(op->err, err, sizeof(op->err));
	} else {
		op->outlen = op->modlen;
		op->rv = hk_p11_decrypt_raw(p->p11, op->key, op->in, op->inlen,
		    op->out, op->modlen);
		op->rc = 0;
	}
}

/*
 * Idle workers wait on their own condition in a stack: the next operation
 * goes to the worker that finished last, whose caches are still warm, and
 * the others stay asleep.  (Called with the pool lock held.)
 */
static void
worker_wait(struct hk_pool *p, struct hk_worker *w)
{
	w->woken = 0;
	p->idle[p->nidle++] = w;
	while (!w->woken && !p->stop)
		pthread_cond_wait(&w->cv, &p->lock);
}

static void
wake_one(struct hk_pool *p)
{
	struct hk_worker *w;

	if (p->nidle == 0)
		return;         /* all busy: the first to finish takes it */
	w = p->idle[--p->nidle];
	w->woken = 1;
	pthread_cond_signal(&w->cv);
}

static void *
worker(void *arg)
{
	struct hk_worker *w = arg;
	struct hk_pool *p = w->pool;
	struct hk_op *op;
	int expected;

	(void)pthread_setname_np(pthread_self(), "keyop");
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->head == NULL && !p->stop)
			worker_wait(p, w);
		if (p->head == NULL)
			break;
		op = p->head;
		p->head = op->next;
		if (p->head == NULL)
			p->tail = NULL;
		p->depth--;
		pthread_mutex_unlock(&p->lock);
		/* The worker now owns the pool's reference. */
		expected = HK_OP_QUEUED;
		if (!atomic_load(&op->expired) &&
		    atomic_compare_exchange_strong(&op->state,
		    &expected, HK_OP_RUNNING)) {
			atomic_fetch_add(&p->busy, 1);
			run(p, op);
			atomic_fetch_sub(&p->busy, 1);
			expected = HK_OP_RUNNING;
			if (atomic_compare_exchange_strong(&op->state,
			    &expected, HK_OP_DONE))
				hk_op_signal(op);
		}
		/* Released with the lock held, once off the inflight list the
		 * monitor walks: one lock a finished op, not two. */
		pthread_mutex_lock(&p->lock);
		inflight_remove(p, op);
		p->busy_or_queued--;
		p->done++;
		hk_op_release(op);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void pool_climb(struct hk_pool *p, uint64_t now);

/* Past its deadline, an op's job is woken to fail the handshake; the
 * worker, if any, finishes on its own time and its result lands nowhere. */
static void *
monitor(void *arg)
{
	struct hk_pool *p = arg;
	struct hk_op *op;
	struct timespec ts;
	uint64_t now;

	(void)pthread_setname_np(pthread_self(), "keyop-monitor");
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		now = hk_op_now_ms();
		for (op = p->inflight; op != NULL; op = op->inflight_next) {
			if (atomic_load(&op->expired) || now < op->deadline_ms)
				continue;
			atomic_store(&op->expired, 1);
			atomic_fetch_add(&p->expired, 1);
			hk_op_signal(op);
		}
		pool_climb(p, now);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->tick, &p->lock, &ts);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* One more worker (the pool lock held, or the pool not yet shared). */
static int
pool_start_worker(struct hk_pool *p)
{
	struct hk_worker *w = &p->workers[p->nstarted];

	if (p->nstarted >= p->ceiling)
		return -1;
	w->pool = p;
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&p->threads[p->nstarted], NULL, worker, w) != 0) {
		pthread_cond_destroy(&w->cv);
		return -1;
	}
	p->nstarted++;
	return 0;
}

/*
 * One tick of the climb (every 50 ms, lock held): count whether work was
 * queued behind busy workers; at the end of a window, maybe step up.
 */
static void
pool_climb(struct hk_pool *p, uint64_t now)
{
	double rate;
	size_t step;

	if (p->nstarted >= p->ceiling)
		return;
	if (p->win_start == 0) {
		p->win_start = now;
		p->win_done = p->done;
	}
	p->win_ticks++;
	if (p->depth > 0 && p->nidle == 0)
		p->win_queued++;
	if (now - p->win_start < POOL_WINDOW_MS)
		return;
	rate = (double)(p->done - p->win_done) * 1000.0 /
	    (double)(now - p->win_start);
	if (p->grew && rate < p->last_rate * POOL_GAIN)
		p->rest_until = now + POOL_REST_MS;    /* it did not help */
	p->grew = 0;
	if (p->win_queued * 2 >= p->win_ticks && now >= p->rest_until) {
		step = p->nstarted / 4 > 0 ? p->nstarted / 4 : 1;
		p->last_rate = rate;
		while (step-- > 0 && pool_start_worker(p) == 0)
			p->grew = 1;
	}
	p->win_start = now;
	p->win_done = p->done;
	p->win_ticks = p->win_queued = 0;
}

struct hk_pool *
hk_pool_new(struct hk_p11 *p11, size_t nthreads, size_t ceiling,
    size_t max_depth)
{
	struct hk_pool *p = calloc(1, sizeof(*p));

	if (ceiling < nthreads)
		ceiling = nthreads;
	if (p == NULL || (p->threads = calloc(ceiling, sizeof(pthread_t))) ==
	    NULL || (p->workers = calloc(ceiling, sizeof(*p->workers))) ==
	    NULL || (p->idle = calloc(ceiling, sizeof(*p->idle))) == NULL) {
		if (p != NULL) {
			free(p->threads);
			free(p->workers);
		}
		free(p);
		return NULL;
	}
	p->p11 = p11;
	p->ceiling = ceiling;
	p->max_depth = max_depth;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->tick, NULL);
	while (p->nstarted < nthreads && pool_start_worker(p) == 0)
		;
	if (p->nstarted == 0 || pthread_create(&p->monitor, NULL, monitor, p)) {
		hk_pool_free(p, 0);
		return NULL;
	}
	p->monitor_started = 1;
	return p;
}

/*
 * Stop the workers.  Queued ops are dropped (their jobs see them expire);
 * a worker still inside a hung token call is waited for up to wait_ms, then
 * left behind.  Returns 0 when every worker has stopped, -1 otherwise (the
 * caller must not finalize the module under a thread that is still in it).
 */
int
hk_pool_free(struct hk_pool *p, unsigned wait_ms)
{
	struct hk_op *op;
	struct timespec ts;
	size_t i;
	int all = 0;

	if (p == NULL)
		return 0;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	while ((op = p->head) != NULL) {
		p->head = op->next;
		atomic_store(&op->expired, 1);
		hk_op_signal(op);
		inflight_remove(p, op);
		p->busy_or_queued--;
		hk_op_release(op);
	}
	p->tail = NULL;
	for (i = 0; i < p->nstarted; i++)
		pthread_cond_signal(&p->workers[i].cv);
	pthread_cond_broadcast(&p->tick);
	pthread_mutex_unlock(&p->lock);
	if (p->monitor_started)
		pthread_join(p->monitor, NULL);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += wait_ms / 1000;
	ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	for (i = 0; i < p->nstarted; i++)
		if (pthread_timedjoin_np(p->threads[i], NULL, &ts) != 0)
			all = -1;
	if (all != 0)
		return -1;      /* leave the pool: a worker may still use it */
	for (i = 0; i < p->nstarted; i++)
		pthread_cond_destroy(&p->workers[i].cv);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->tick);
	free(p->threads);
	free(p->workers);
	free(p->idle);
	free(p);
	return 0;
}

/*
 * Queue an op; the pool takes its reference.  -1 when every worker is busy
 * and max_depth ops already wait: the handshake fails now rather than
 * memory growing with the backlog.  (Counting busy workers too makes the
 * bound exact even when a burst arrives before any worker has woken.)
 */
int
hk_pool_submit(struct hk_pool *p, struct hk_op *op)
{
	pthread_mutex_lock(&p->lock);
	if (p->stop || p->busy_or_queued >= p->nstarted + p->max_depth) {
		pthread_mutex_unlock(&p->lock);
		atomic_fetch_add(&p->rejected, 1);
		return -1;
	}
	if (p->tail != NULL)
		p->tail->next = op;
	else
		p->head = op;
	p->tail = op;
	p->depth++;
	p->busy_or_queued++;
	op->inflight_next = p->inflight;
	p->inflight = op;
	wake_one(p);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void
hk_pool_stats(struct hk_pool *p, struct hk_stats *st)
{
	pthread_mutex_lock(&p->lock);
	st->queue_depth = p->depth;
	st->workers = p->nstarted;      /* the monitor may be adding */
	pthread_mutex_unlock(&p->lock);
	st->workers_busy = atomic_load(&p->busy);
	st->ops_rejected = atomic_load(&p->rejected);
	st->ops_expired = atomic_load(&p->expired);
}

/* The in-process transport: the pool's workers, or for a caller outside
 * an async job the token layer on the caller's thread. */
static int
pool_submit(void *arg, struct hk_op *op)
{
	return hk_pool_submit(arg, op);
}

static int
pool_sign(void *arg, const struct hk_key *k, enum hk_mech mech, int md_nid,
    int saltlen, const unsigned char *in, size_t inlen, unsigned char *sig,
    size_t *siglen, char *err, size_t errlen)
{
	struct hk_pool *p = arg;

	return hk_p11_sign(p->p11, k, mech, md_nid, saltlen, in, inlen, sig,
	    siglen, err, errlen);
}

static unsigned long
pool_decrypt_raw(void *arg, const struct hk_key *k, const unsigned char *in,
    size_t inlen, unsigned char *out, size_t outlen)
{
	struct hk_pool *p = arg;

	return hk_p11_decrypt_raw(p->p11, k, in, inlen, out, outlen);
}

const struct hk_xport_ops hk_pool_xport = {
	.submit = pool_submit,
	.sign = pool_sign,
	.decrypt_raw = pool_decrypt_raw,
};
