/*
 * metrics_probe.c - runs key operations on a token key and prints the
 * engine's metrics, for tests/integration/t65.
 *
 * usage: metrics_probe KEY-URI PIN-FILE MODULE OP...
 * Each OP runs in order; OP*N runs it N times:
 *   sign, sign-pss        EVP_DigestSign (ECDSA or PKCS#1 v1.5; RSA-PSS)
 *   async-sign, async-sign-pss   the same inside an OpenSSL async job, so
 *                         the token call runs on the engine's worker pool
 *   decrypt               a TLS pre-master decryption (raw RSA on the token)
 *   ctl=TEXT              replace the test module's control file
 *                         ($HSMTLS_TESTP11_CONTROL) with the line TEXT
 * Prints "op N NAME ok|failed" per operation, then the metrics:
 *   token_label L / latency_bucket LE N / latency_count N / latency_sum S /
 *   fault CKR_NAME N / keyop LABEL MECHANISM OK FAILED
 * Exit status 0 unless set-up fails; the caller judges the numbers.
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/async.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include "hk_internal.h"

struct job {
	struct hk_key *k;
	int pss;
	int rc;
};

static int
sign_once(struct hk_key *k, int pss)
{
	static const unsigned char msg[] = "metrics probe";
	unsigned char sig[1024];
	size_t len = sizeof(sig);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	int ok;

	ok = c != NULL && EVP_DigestSignInit_ex(c, &pc, "SHA256", NULL, NULL,
	    hk_key_pkey(k), NULL) == 1 && (!pss ||
	    (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) ==
	    1)) && EVP_DigestSign(c, sig, &len, msg, sizeof(msg)) == 1;
	EVP_MD_CTX_free(c);
	ERR_clear_error();
	return ok ? 0 : -1;
}

static int
job_fn(void *arg)
{
	struct job *j = *(struct job **)arg;

	j->rc = sign_once(j->k, j->pss);
	return 0;
}

/* Run the signature as an async job, waiting on its fds while it pauses. */
static int
sign_async(struct hk_key *k, int pss)
{
	struct job j = { k, pss, -1 }, *jp = &j;
	ASYNC_WAIT_CTX *w = ASYNC_WAIT_CTX_new();
	ASYNC_JOB *job = NULL;
	OSSL_ASYNC_FD fds[4];
	struct pollfd pfd[4];
	size_t n, i;
	int ret, rc, paused = 0;

	if (w == NULL)
		return -1;
	for (;;) {
		rc = ASYNC_start_job(&job, w, &ret, job_fn, &jp, sizeof(jp));
		if (rc != ASYNC_PAUSE)
			break;
		paused = 1;
		n = 0;
		if (!ASYNC_WAIT_CTX_get_all_fds(w, NULL, &n) || n == 0 ||
		    n > 4 || !ASYNC_WAIT_CTX_get_all_fds(w, fds, &n))
			break;
		for (i = 0; i < n; i++) {
			pfd[i].fd = fds[i];
			pfd[i].events = POLLIN;
		}
		if (poll(pfd, n, 10000) <= 0)
			break;
	}
	ASYNC_WAIT_CTX_free(w);
	if (rc != ASYNC_FINISH || !paused) {
		fprintf(stderr, "metrics_probe: async job %s\n",
		    paused ? "did not finish" : "never waited for the pool");
		return -1;
	}
	return j.rc;
}

static int
decrypt_once(struct hk_key *k)
{
	unsigned char in[HK_MAX_MODULUS], out[48];
	int len = EVP_PKEY_get_size(hk_key_pkey(k));

	if (len <= 0 || len > HK_MAX_MODULUS ||
	    RAND_bytes(in, len) != 1)
		return -1;
	in[0] = 0;      /* below the modulus: the token decrypts it */
	ERR_clear_error();
	return hk_key_decrypt_premaster(k, in, (size_t)len, 0x0303, 0x0303,
	    out);
}

static int
write_control(const char *text)
{
	const char *path = getenv("HSMTLS_TESTP11_CONTROL");
	char tmp[4096];
	FILE *f;

	if (path == NULL || snprintf(tmp, sizeof(tmp), "%s.new", path) >=
	    (int)sizeof(tmp) || (f = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(f, "%s\n", text);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return -1;
	return 0;
}

static void
print_fault(void *arg, const char *name, uint64_t count)
{
	(void)arg;
	printf("fault %s %llu\n", name, (unsigned long long)count);
}

static void
print_keyop(void *arg, const char *uri, const char *label, const char *mech,
    uint64_t ok, uint64_t failed)
{
	(void)arg;
	(void)uri;
	printf("keyop %s %s %llu %llu\n", label, mech, (unsigned long long)ok,
	    (unsigned long long)failed);
}

static void
dump(struct hk_engine *e)
{
	struct hk_latency l;
	size_t i;

	printf("token_label %s\n", hk_engine_token_label(e));
	hk_engine_latency(e, &l);
	for (i = 0; i < HK_LATENCY_BUCKETS; i++)
		if (i == HK_LATENCY_BUCKETS - 1)
			printf("latency_bucket +Inf %llu\n",
			    (unsigned long long)l.bucket[i]);
		else
			printf("latency_bucket %g %llu\n", hk_latency_bounds[i],
			    (unsigned long long)l.bucket[i]);
	printf("latency_count %llu\n", (unsigned long long)l.count);
	printf("latency_sum %.6f\n", l.sum);
	hk_engine_faults(e, print_fault, NULL);
	hk_engine_key_ops(e, print_keyop, NULL);
}

static int
run(struct hk_engine *e, struct hk_key *k, const char *op, unsigned *seq)
{
	char name[256], *star;
	long times = 1, i;
	int rc;

	if (strncmp(op, "ctl=", 4) == 0) {
		if (write_control(op + 4) != 0) {
			fprintf(stderr, "metrics_probe: cannot write control\n");
			return -1;
		}
		return 0;
	}
	snprintf(name, sizeof(name), "%s", op);
	if ((star = strchr(name, '*')) != NULL) {
		*star = '\0';
		times = strtol(star + 1, NULL, 10);
	}
	if (strcmp(name, "decrypt") == 0 && !k->rsa_kx &&
	    hk_key_enable_rsa_kx(e, k) != 0) {
		fprintf(stderr, "metrics_probe: %s\n", hk_engine_error(e));
		return -1;
	}
	for (i = 0; i < times; i++) {
		if (strcmp(name, "sign") == 0)
			rc = sign_once(k, 0);
		else if (strcmp(name, "sign-pss") == 0)
			rc = sign_once(k, 1);
		else if (strcmp(name, "async-sign") == 0)
			rc = sign_async(k, 0);
		else if (strcmp(name, "async-sign-pss") == 0)
			rc = sign_async(k, 1);
		else if (strcmp(name, "decrypt") == 0)
			rc = decrypt_once(k);
		else {
			fprintf(stderr, "metrics_probe: unknown op '%s'\n", op);
			return -1;
		}
		printf("op %u %s %s\n", ++*seq, name, rc == 0 ? "ok" : "failed");
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct hk_engine *e;
	struct hk_key *k;
	unsigned seq = 0;
	int i, rc = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: metrics_probe KEY-URI PIN-FILE MODULE "
		    "OP...\n");
		return 2;
	}
	if ((e = hk_engine_new()) == NULL)
		return 1;
	if ((k = hk_engine_load_key(e, argv[1], argv[3], argv[2], NULL)) ==
	    NULL) {
		fprintf(stderr, "metrics_probe: load %s: %s\n", argv[1],
		    hk_engine_error(e));
		hk_engine_free(e);
		return 1;
	}
	for (i = 4; i < argc && rc == 0; i++)
		rc = run(e, k, argv[i], &seq);
	dump(e);
	hk_engine_free(e);
	return rc == 0 ? 0 : 1;
}
