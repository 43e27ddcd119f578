/*
 * hk_metrics.h - the engine's metrics (metrics.c): token operation
 * latency, token faults by CKR value, key operations by mechanism.
 * Writers are key operations on any thread; readers are hk.h's
 * hk_engine_latency/faults/key_ops.  Everything is a relaxed atomic: no
 * lock, and zero-filled memory (calloc) is a valid empty state.
 */
#ifndef HK_METRICS_H
#define HK_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "hk.h"

#define HK_FAULT_SLOTS 32

/* One distinct CKR value; rv 0 (CKR_OK, never counted) marks a free slot. */
struct hk_fault_slot {
	atomic_ulong rv;
	atomic_uint_fast64_t count;
};

struct hk_metrics {
	atomic_uint_fast64_t lat[HK_LATENCY_BUCKETS];   /* not cumulative */
	atomic_uint_fast64_t lat_sum_ns;
	struct hk_fault_slot faults[HK_FAULT_SLOTS];
	atomic_uint_fast64_t faults_other;              /* table full */
};

/* How a key operation reached the token, for hk_engine_key_ops. */
enum hk_keyop {
	HK_KEYOP_RSA_PKCS,
	HK_KEYOP_RSA_PSS,
	HK_KEYOP_RSA_PSS_RAW,
	HK_KEYOP_ECDSA,
	HK_KEYOP_RSA_DECRYPT_RAW,
	HK_KEYOP_N,
};

struct hk_keyop_counts {
	atomic_uint_fast64_t ok[HK_KEYOP_N];
	atomic_uint_fast64_t failed[HK_KEYOP_N];
};

extern const char *const hk_keyop_names[HK_KEYOP_N];

/* The bucket an operation of ns nanoseconds falls in (value <= bound). */
size_t hk_latency_bucket(uint64_t ns);
void hk_metrics_latency(struct hk_metrics *m, uint64_t ns);
void hk_metrics_fault(struct hk_metrics *m, unsigned long rv);
void hk_metrics_read_latency(const struct hk_metrics *m,
    struct hk_latency *out);
void hk_metrics_read_faults(const struct hk_metrics *m, hk_fault_fn fn,
    void *arg);
void hk_keyop_count(struct hk_keyop_counts *c, enum hk_keyop op, int ok);
/* A monotonic clock in nanoseconds, for the latency around a token call. */
uint64_t hk_mono_ns(void);

#endif /* HK_METRICS_H */
