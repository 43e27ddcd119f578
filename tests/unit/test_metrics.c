/* Unit tests of the engine's metrics (engine/metrics.c): latency buckets,
 * the fault table, key operations by mechanism. */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "hk_internal.h"
#include "hk_metrics.h"

#define MS 1000000ull   /* ns */

/* Test: the bounds are the documented ones, ending in +Inf. */
static void
test_bounds(void **state)
{
	static const double want[HK_LATENCY_BUCKETS] = { 0.0005, 0.001,
	    0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
	size_t i;

	(void)state;
	for (i = 0; i < HK_LATENCY_BUCKETS - 1; i++)
		assert_true(hk_latency_bounds[i] == want[i]);
	assert_true(isinf(hk_latency_bounds[HK_LATENCY_BUCKETS - 1]));
}

/* Test: a value on a bound is in that bound's bucket (le), one
 * nanosecond more is in the next; beyond 2.5 s is +Inf. */
static void
test_bucket_edges(void **state)
{
	size_t i;
	uint64_t b;

	(void)state;
	assert_int_equal(hk_latency_bucket(0), 0);
	for (i = 0; i < HK_LATENCY_BUCKETS - 1; i++) {
		b = (uint64_t)(hk_latency_bounds[i] * 1e9 + 0.5);
		assert_int_equal(hk_latency_bucket(b), i);
		assert_int_equal(hk_latency_bucket(b + 1), i + 1);
		if (i > 0)
			assert_int_equal(hk_latency_bucket(b - 1), i);
	}
	assert_int_equal(hk_latency_bucket(3600ull * 1000 * MS),
	    HK_LATENCY_BUCKETS - 1);
	assert_int_equal(hk_latency_bucket(UINT64_MAX), HK_LATENCY_BUCKETS - 1);
}

/* Test: read-out is cumulative, count is the +Inf bucket, sum in seconds. */
static void
test_latency_read(void **state)
{
	struct hk_metrics *m = calloc(1, sizeof(*m));
	struct hk_latency l;
	static const uint64_t obs[] = { 100000, 500000, 700000, 3 * MS,
	    30 * MS, 30 * MS, 999 * MS, 5000 * MS };
	static const uint64_t want[HK_LATENCY_BUCKETS] = {
	    2, 3, 3, 4, 4, 4, 6, 6, 6, 6, 7, 7, 8 };
	size_t i;

	(void)state;
	assert_non_null(m);
	hk_metrics_read_latency(m, &l);
	assert_int_equal(l.count, 0);
	assert_true(l.sum == 0.0);
	for (i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		hk_metrics_latency(m, obs[i]);
	hk_metrics_read_latency(m, &l);
	for (i = 0; i < HK_LATENCY_BUCKETS; i++)
		assert_int_equal(l.bucket[i], want[i]);
	assert_int_equal(l.count, 8);
	assert_true(l.sum > 6.0633 - 1e-9 && l.sum < 6.0633 + 1e-9);
	free(m);
}

struct seen {
	char name[16][40];
	uint64_t count[16];
	size_t n;
};

static void
collect(void *arg, const char *name, uint64_t count)
{
	struct seen *s = arg;

	assert_true(s->n < 16);
	snprintf(s->name[s->n], sizeof(s->name[0]), "%s", name);
	s->count[s->n++] = count;
}

/* Test: faults by name, in the order first seen; CKR_OK is never a fault;
 * unlisted values get a hex name. */
static void
test_faults_named(void **state)
{
	struct hk_metrics *m = calloc(1, sizeof(*m));
	struct seen s = { .n = 0 };

	(void)state;
	assert_non_null(m);
	hk_metrics_read_faults(m, collect, &s);
	assert_int_equal(s.n, 0);
	hk_metrics_fault(m, 0x30);      /* CKR_DEVICE_ERROR */
	hk_metrics_fault(m, 0);         /* CKR_OK */
	hk_metrics_fault(m, 0xb3);      /* CKR_SESSION_HANDLE_INVALID */
	hk_metrics_fault(m, 0x30);
	hk_metrics_fault(m, 0x80001234ul);
	hk_metrics_read_faults(m, collect, &s);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.name[0], "CKR_DEVICE_ERROR");
	assert_int_equal(s.count[0], 2);
	assert_string_equal(s.name[1], "CKR_SESSION_HANDLE_INVALID");
	assert_int_equal(s.count[1], 1);
	assert_string_equal(s.name[2], "CKR_0x80001234");
	assert_int_equal(s.count[2], 1);
	free(m);
}

static void
sum_faults(void *arg, const char *name, uint64_t count)
{
	uint64_t *t = arg;

	t[0] += count;
	t[1]++;
	if (strcmp(name, "other") == 0)
		t[2] = count;
}

/* Test: values beyond the table's slots are counted as "other". */
static void
test_faults_overflow(void **state)
{
	struct hk_metrics *m = calloc(1, sizeof(*m));
	uint64_t t[3] = { 0, 0, 0 };
	unsigned long rv;

	(void)state;
	assert_non_null(m);
	for (rv = 1; rv <= HK_FAULT_SLOTS + 5; rv++)
		hk_metrics_fault(m, 0x1000 + rv);
	hk_metrics_fault(m, 0x1001);    /* has a slot: not "other" */
	hk_metrics_fault(m, 0x2000);
	hk_metrics_read_faults(m, sum_faults, t);
	assert_int_equal(t[0], HK_FAULT_SLOTS + 7);
	assert_int_equal(t[1], HK_FAULT_SLOTS + 1);
	assert_int_equal(t[2], 6);
	free(m);
}

#define THREADS 8
#define PER_THREAD 20000

static struct hk_metrics *shared;

static void *
hammer(void *arg)
{
	unsigned long base = (unsigned long)(uintptr_t)arg;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		/* 0x50.. 0x53 from every thread: they race for the slots. */
		hk_metrics_fault(shared, 0x50 + (unsigned long)(i + base) % 4);
		hk_metrics_latency(shared, (uint64_t)(i % 7) * MS);
	}
	return NULL;
}

/* Test: concurrent writers lose no count and claim no value twice. */
static void
test_concurrent(void **state)
{
	pthread_t th[THREADS];
	struct seen s = { .n = 0 };
	struct hk_latency l;
	uint64_t total = 0;
	size_t i, j;

	(void)state;
	assert_non_null(shared = calloc(1, sizeof(*shared)));
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer,
		    (void *)(uintptr_t)i), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	hk_metrics_read_faults(shared, collect, &s);
	assert_int_equal(s.n, 4);
	for (i = 0; i < s.n; i++) {
		total += s.count[i];
		assert_int_equal(s.count[i], THREADS * PER_THREAD / 4);
		for (j = 0; j < i; j++)
			assert_string_not_equal(s.name[i], s.name[j]);
	}
	assert_int_equal(total, THREADS * PER_THREAD);
	hk_metrics_read_latency(shared, &l);
	assert_int_equal(l.count, THREADS * PER_THREAD);
	free(shared);
}

struct keyops {
	char line[16][160];
	size_t n;
};

static void
collect_ops(void *arg, const char *uri, const char *label, const char *mech,
    uint64_t ok, uint64_t failed)
{
	struct keyops *s = arg;

	assert_true(s->n < 16);
	snprintf(s->line[s->n++], sizeof(s->line[0]), "%s %s %s %llu %llu",
	    uri, label, mech, (unsigned long long)ok,
	    (unsigned long long)failed);
}

/* Test: key operations are reported per key and mechanism, only those
 * with a count; a fresh engine has no token label yet. */
static void
test_key_ops(void **state)
{
	struct hk_engine *e;
	struct hk_key *a, *b;
	struct keyops s = { .n = 0 };

	(void)state;
	assert_non_null(e = hk_engine_new());
	assert_string_equal(hk_engine_token_label(e), "");
	assert_non_null(a = hk_key_new());
	assert_non_null(b = hk_key_new());
	a->uri = strdup("pkcs11:object=a");
	a->label = strdup("a");
	b->uri = strdup("pkcs11:object=b");
	b->label = strdup("b");
	hk_engine_key_ops(e, collect_ops, &s);
	assert_int_equal(s.n, 0);
	a->next = b;
	e->keys = a;
	hk_keyop_count(&a->ops, HK_KEYOP_RSA_PSS, 1);
	hk_keyop_count(&a->ops, HK_KEYOP_RSA_PSS, 1);
	hk_keyop_count(&a->ops, HK_KEYOP_RSA_PSS, 0);
	hk_keyop_count(&a->ops, HK_KEYOP_RSA_DECRYPT_RAW, 0);
	hk_keyop_count(&b->ops, HK_KEYOP_ECDSA, 1);
	hk_engine_key_ops(e, collect_ops, &s);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.line[0], "pkcs11:object=a a rsa-pss 2 1");
	assert_string_equal(s.line[1], "pkcs11:object=a a rsa-decrypt-raw 0 1");
	assert_string_equal(s.line[2], "pkcs11:object=b b ecdsa 1 0");
	e->keys = NULL;
	hk_key_free(a);
	hk_key_free(b);
	hk_engine_free(e);
}

/* Test: every mechanism has its documented name. */
static void
test_keyop_names(void **state)
{
	(void)state;
	assert_string_equal(hk_keyop_names[HK_KEYOP_RSA_PKCS], "rsa-pkcs");
	assert_string_equal(hk_keyop_names[HK_KEYOP_RSA_PSS], "rsa-pss");
	assert_string_equal(hk_keyop_names[HK_KEYOP_RSA_PSS_RAW], "rsa-pss-raw");
	assert_string_equal(hk_keyop_names[HK_KEYOP_ECDSA], "ecdsa");
	assert_string_equal(hk_keyop_names[HK_KEYOP_RSA_DECRYPT_RAW],
	    "rsa-decrypt-raw");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_bucket_edges),
		cmocka_unit_test(test_latency_read),
		cmocka_unit_test(test_faults_named),
		cmocka_unit_test(test_faults_overflow),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_key_ops),
		cmocka_unit_test(test_keyop_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
