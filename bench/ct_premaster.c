/*
 * ct_premaster.c - a dudect-style timing test of the TLS pre-master check.
 *
 * Two classes of 2048-bit RSA results are fed to hk_tls_premaster() in a
 * random interleaving: class 0 is one well-formed block, class 1 is random
 * bytes (almost always malformed: bad framing, separator, length, version).
 * Each call is timed with the TSC; the slowest samples are cropped at a few
 * percentiles (scheduling noise), and Welch's t statistic compares the two
 * classes' means.  |t| < 4.5 after millions of samples: no timing
 * difference detected.  Prints the statistic for each crop and exits 1 when
 * any |t| >= 4.5.
 *
 * usage: ct-premaster [samples-per-round] [rounds]
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>
#include <openssl/rand.h>
#include "hk_rsa_kx.h"

#define K 256
#define NCROP 5
#define THRESHOLD 4.5

struct welch {
	double n[2], mean[2], m2[2];
};

static void
welch_push(struct welch *w, int cls, double x)
{
	double d;

	w->n[cls] += 1;
	d = x - w->mean[cls];
	w->mean[cls] += d / w->n[cls];
	w->m2[cls] += d * (x - w->mean[cls]);
}

static double
welch_t(const struct welch *w)
{
	double v0 = w->m2[0] / (w->n[0] - 1), v1 = w->m2[1] / (w->n[1] - 1);

	return (w->mean[0] - w->mean[1]) / sqrt(v0 / w->n[0] + v1 / w->n[1]);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
valid_block(unsigned char *em)
{
	size_t i;

	RAND_bytes(em, K);
	em[0] = 0;
	em[1] = 2;
	for (i = 2; i < K - 49; i++)
		em[i] |= 1;
	em[K - 49] = 0;
	em[K - 48] = 3;
	em[K - 47] = 3;
}

int
main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
	int rounds = argc > 2 ? atoi(argv[2]) : 10, r, c, worst_fail = 0;
	unsigned char *in = malloc(n * K), rnd[48], out[48], valid[K];
	uint64_t *t = malloc(n * sizeof(*t)), *sorted = malloc(n * sizeof(*t));
	unsigned char *cls = malloc(n);
	static const double pct[NCROP] = { 1.0, 0.99, 0.95, 0.90, 0.75 };
	struct welch w[NCROP];
	uint64_t cut[NCROP];
	double worst = 0;
	size_t i;

	if (in == NULL || t == NULL || sorted == NULL || cls == NULL)
		return 2;
	memset(w, 0, sizeof(w));
	valid_block(valid);
	RAND_bytes(rnd, sizeof(rnd));
	for (r = 0; r < rounds; r++) {
		RAND_bytes(cls, n);
		for (i = 0; i < n; i++) {
			cls[i] &= 1;
			if (cls[i] == 0)
				memcpy(in + i * K, valid, K);
			else
				RAND_bytes(in + i * K, K);
		}
		for (i = 0; i < n; i++) {
			uint64_t t0 = __rdtsc();

			hk_tls_premaster(in + i * K, K, 0x0303, 0, rnd, out);
			t[i] = __rdtsc() - t0;
		}
		memcpy(sorted, t, n * sizeof(*t));
		qsort(sorted, n, sizeof(*t), cmp_u64);
		for (c = 0; c < NCROP; c++)
			cut[c] = sorted[(size_t)(pct[c] * (double)(n - 1))];
		for (i = 0; i < n; i++)
			for (c = 0; c < NCROP; c++)
				if (t[i] <= cut[c])
					welch_push(&w[c], cls[i], (double)t[i]);
	}
	printf("ct-premaster: %zu samples per class approx, %d rounds\n",
	    n * (size_t)rounds / 2, rounds);
	for (c = 0; c < NCROP; c++) {
		double tv = fabs(welch_t(&w[c]));

		printf("  crop %3.0f%%: mean valid %.1f, invalid %.1f cycles, "
		    "|t| = %.2f\n", pct[c] * 100, w[c].mean[0], w[c].mean[1], tv);
		if (tv > worst)
			worst = tv;
		worst_fail |= tv >= THRESHOLD;
	}
	printf("max |t| = %.2f (threshold %.1f): %s\n", worst, THRESHOLD,
	    worst_fail ? "TIMING DIFFERENCE" : "no difference detected");
	free(in);
	free(t);
	free(sorted);
	free(cls);
	return worst_fail;
}
