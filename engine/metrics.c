/*
 * metrics.c - token operation latency, token faults by CKR value, key
 * operations by mechanism.  Key operations write relaxed atomics only; a
 * reader (the server's /metrics) takes no lock they could wait for.
 */
#include "config.h"

#include <math.h>
#include <time.h>
#include "hk_ckr.h"
#include "hk_metrics.h"

const double hk_latency_bounds[HK_LATENCY_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
	2.5, INFINITY
};

/* The same bounds in nanoseconds: bucketing compares integers only. */
static const uint64_t bounds_ns[HK_LATENCY_BUCKETS - 1] = {
	500000, 1000000, 2500000, 5000000, 10000000, 25000000, 50000000,
	100000000, 250000000, 500000000, 1000000000, 2500000000u
};

const char *const hk_keyop_names[HK_KEYOP_N] = {
	[HK_KEYOP_RSA_PKCS] = "rsa-pkcs",
	[HK_KEYOP_RSA_PSS] = "rsa-pss",
	[HK_KEYOP_RSA_PSS_RAW] = "rsa-pss-raw",
	[HK_KEYOP_ECDSA] = "ecdsa",
	[HK_KEYOP_RSA_DECRYPT_RAW] = "rsa-decrypt-raw",
};

uint64_t
hk_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

size_t
hk_latency_bucket(uint64_t ns)
{
	size_t i;

	for (i = 0; i < HK_LATENCY_BUCKETS - 1; i++)
		if (ns <= bounds_ns[i])
			break;
	return i;
}

void
hk_metrics_latency(struct hk_metrics *m, uint64_t ns)
{
	atomic_fetch_add_explicit(&m->lat[hk_latency_bucket(ns)], 1,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&m->lat_sum_ns, ns, memory_order_relaxed);
}

/*
 * A slot is claimed by swapping its rv from 0 to ours; a thread that
 * loses the race to the same value counts there too, one that loses to
 * another value moves on.  Slots are never freed, so a value keeps its
 * slot and the table only fills up.
 */
void
hk_metrics_fault(struct hk_metrics *m, unsigned long rv)
{
	unsigned long cur;
	size_t i;

	if (rv == 0)
		return;
	for (i = 0; i < HK_FAULT_SLOTS; i++) {
		cur = atomic_load(&m->faults[i].rv);
		if (cur == 0 &&
		    atomic_compare_exchange_strong(&m->faults[i].rv, &cur, rv))
			cur = rv;
		if (cur == rv) {
			atomic_fetch_add_explicit(&m->faults[i].count, 1,
			    memory_order_relaxed);
			return;
		}
	}
	atomic_fetch_add_explicit(&m->faults_other, 1, memory_order_relaxed);
}

/* Buckets are kept apart and summed here, so count always equals the
 * +Inf bucket even while operations are being counted. */
void
hk_metrics_read_latency(const struct hk_metrics *m, struct hk_latency *out)
{
	uint64_t total = 0;
	size_t i;

	for (i = 0; i < HK_LATENCY_BUCKETS; i++) {
		total += atomic_load_explicit(&m->lat[i], memory_order_relaxed);
		out->bucket[i] = total;
	}
	out->count = total;
	out->sum = (double)atomic_load_explicit(&m->lat_sum_ns,
	    memory_order_relaxed) / 1e9;
}

void
hk_metrics_read_faults(const struct hk_metrics *m, hk_fault_fn fn, void *arg)
{
	char buf[32];
	unsigned long rv;
	uint64_t n;
	size_t i;

	for (i = 0; i < HK_FAULT_SLOTS; i++) {
		if ((rv = atomic_load(&m->faults[i].rv)) == 0)
			break;  /* slots fill in order */
		/* Zero while its first count is on its way: not yet seen. */
		if ((n = atomic_load_explicit(&m->faults[i].count,
		    memory_order_relaxed)) != 0)
			fn(arg, hk_ckr_name(rv, buf, sizeof(buf)), n);
	}
	if ((n = atomic_load_explicit(&m->faults_other,
	    memory_order_relaxed)) != 0)
		fn(arg, "other", n);
}

void
hk_keyop_count(struct hk_keyop_counts *c, enum hk_keyop op, int ok)
{
	atomic_fetch_add_explicit(ok ? &c->ok[op] : &c->failed[op], 1,
	    memory_order_relaxed);
}
