/*
 * p11-drive.c - drive a PKCS#11 module through a script of steps given as
 * arguments, printing each call's CKR name, for the fault-injection tests.
 *
 *   p11-drive --module PATH --token LABEL --pin-file FILE --key LABEL STEP...
 *
 * The PIN is read from FILE (a regular file without group/other access),
 * never from argv.  Steps run in order on one "current" session:
 *   open            C_OpenSession; the new session becomes current
 *   close           C_CloseSession of the current session
 *   login, logout   C_Login (user) / C_Logout on the current session
 *   session         C_GetSessionInfo: "session CKR state=CKS_..."
 *   find            find the private key labelled --key: "find found|none"
 *   sign N          N x (C_SignInit, C_Sign): "sign FN CKR MS" per call,
 *                   FN the first function that failed (or C_Sign)
 *   qsign N         as sign, with a length query (NULL buffer) first
 *   psign T N       T threads, each opens its own session and signs N
 *                   times: "psign FN CKR MS" per call, then "psign wall MS"
 *   tokeninfo       "tokeninfo CKR [FLAG|FLAG]" (the PIN flags set)
 *   slots           "slots CKR N": slots with a token present
 *   slotinfo        "slotinfo CKR present=0|1"
 *   mechinfo        C_GetMechanismInfo of the signing mechanism
 *   ctl TEXT        replace $HSMTLS_TESTP11_CONTROL with TEXT (';' ends a
 *                   line) by writing a temporary file and renaming it
 *   sleep MS
 * Exit 0 when every step ran (whatever the CKRs), 1 on a setup or usage
 * error, with one line on stderr.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testp11.h"

#define PIN_MAX 256
#define THREADS_MAX 256
#define CALLS_MAX 100000

struct drive {
	CK_FUNCTION_LIST *p11;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	CK_OBJECT_HANDLE key;
	CK_MECHANISM_TYPE mech;
	const char *key_label;
	char pin[PIN_MAX];
	size_t pin_len;
};

/* One signature's outcome: the function that failed (or C_Sign). */
struct result {
	const char *fn;
	CK_RV rv;
	long ms;
};

struct worker {
	struct drive *dr;
	pthread_t thread;
	struct result *res;
	unsigned long n;
};

static const char *
ckr(CK_RV rv)
{
	static char buf[32];    /* only for codes not in the table */

	return tp_ckr_name(rv, buf, sizeof(buf));
}

static int
fail(const char *msg, const char *detail)
{
	fprintf(stderr, "p11-drive: %s%s%s\n", msg, detail ? ": " : "",
	    detail ? detail : "");
	return -1;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The PIN file: regular, no group/other access, first line is the PIN. */
static int
read_pin(struct drive *dr, const char *path)
{
	struct stat st;
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return fail(path, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		fail(path, "not a regular file");
	else if ((st.st_mode & 077) != 0)
		fail(path, "readable by group or others");
	else if ((n = read(fd, dr->pin, sizeof(dr->pin) - 1)) <= 0)
		fail(path, n == 0 ? "empty" : strerror(errno));
	else {
		dr->pin_len = strcspn(dr->pin, "\r\n");
		rc = dr->pin_len > 0 ? 0 : fail(path, "empty PIN");
	}
	close(fd);
	return rc;
}

static int
load_module(struct drive *dr, const char *path, void **dl)
{
	CK_C_INITIALIZE_ARGS args;
	CK_C_GetFunctionList get;
	CK_RV rv;

	if ((*dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return fail("dlopen", dlerror());
	get = (CK_C_GetFunctionList)dlsym(*dl, "C_GetFunctionList");
	if (get == NULL || get(&dr->p11) != CKR_OK)
		return fail(path, "no usable C_GetFunctionList");
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	if ((rv = dr->p11->C_Initialize(&args)) != CKR_OK)
		return fail("C_Initialize", ckr(rv));
	return 0;
}

/* The slot whose token carries label (space-padded to 32 bytes). */
static int
find_slot(struct drive *dr, const char *label)
{
	CK_SLOT_ID slots[64];
	CK_ULONG i, n = 64;
	CK_TOKEN_INFO ti;
	char want[32];
	size_t len = strlen(label);

	if (len > sizeof(want))
		return fail("token label too long", label);
	memset(want, ' ', sizeof(want));
	memcpy(want, label, len);
	if (dr->p11->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return fail("C_GetSlotList", "failed");
	for (i = 0; i < n; i++)
		if (dr->p11->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    memcmp(ti.label, want, sizeof(want)) == 0) {
			dr->slot = slots[i];
			return 0;
		}
	return fail("no token labelled", label);
}

static void
step_open(struct drive *dr)
{
	CK_SESSION_HANDLE s;
	CK_RV rv;

	rv = dr->p11->C_OpenSession(dr->slot,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv == CKR_OK)
		dr->session = s;
	printf("open %s\n", ckr(rv));
}

static void
step_find(struct drive *dr)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)dr->key_label, strlen(dr->key_label) },
	};
	CK_ATTRIBUTE type = { CKA_KEY_TYPE, &kt, sizeof(kt) };
	CK_ULONG n = 0;
	CK_RV rv;

	rv = dr->p11->C_FindObjectsInit(dr->session, tmpl, 2);
	if (rv == CKR_OK) {
		rv = dr->p11->C_FindObjects(dr->session, &dr->key, 1, &n);
		dr->p11->C_FindObjectsFinal(dr->session);
	}
	if (rv == CKR_OK && n == 1 && dr->p11->C_GetAttributeValue(
	    dr->session, dr->key, &type, 1) == CKR_OK)
		dr->mech = kt == CKK_RSA ? CKM_RSA_PKCS : CKM_ECDSA;
	printf("find %s\n", rv != CKR_OK ? ckr(rv) : n == 1 ? "found" : "none");
}

/* One signature on session s; query: ask for the length first. */
static struct result
sign_once(struct drive *dr, CK_SESSION_HANDLE s, int query)
{
	CK_MECHANISM mech = { dr->mech, NULL, 0 };
	CK_BYTE data[32], sig[1024];
	CK_ULONG len = sizeof(sig);
	struct result r = { "C_SignInit", CKR_OK, now_ms() };

	memset(data, 0x5a, sizeof(data));
	r.rv = dr->p11->C_SignInit(s, &mech, dr->key);
	if (r.rv == CKR_OK) {
		r.fn = "C_Sign";
		if (query)
			r.rv = dr->p11->C_Sign(s, data, sizeof(data), NULL,
			    &len);
		if (r.rv == CKR_OK)
			r.rv = dr->p11->C_Sign(s, data, sizeof(data), sig,
			    &len);
	}
	r.ms = now_ms() - r.ms;
	return r;
}

static void
step_sign(struct drive *dr, unsigned long n, int query)
{
	struct result r;
	unsigned long i;

	for (i = 0; i < n; i++) {
		r = sign_once(dr, dr->session, query);
		printf("%s %s %s %ld\n", query ? "qsign" : "sign", r.fn,
		    ckr(r.rv), r.ms);
	}
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	CK_SESSION_HANDLE s;
	unsigned long i;
	CK_RV rv;

	rv = w->dr->p11->C_OpenSession(w->dr->slot, CKF_SERIAL_SESSION, NULL,
	    NULL, &s);
	for (i = 0; i < w->n; i++) {
		if (rv != CKR_OK)
			w->res[i] = (struct result){ "C_OpenSession", rv, 0 };
		else
			w->res[i] = sign_once(w->dr, s, 0);
	}
	if (rv == CKR_OK)
		w->dr->p11->C_CloseSession(s);
	return NULL;
}

static int
step_psign(struct drive *dr, unsigned long t, unsigned long n)
{
	struct worker *w;
	unsigned long i, j, started;
	long start = now_ms();

	if ((w = calloc(t, sizeof(*w))) == NULL)
		return fail("psign", "out of memory");
	for (started = 0; started < t; started++) {
		w[started].dr = dr;
		w[started].n = n;
		if ((w[started].res = calloc(n, sizeof(struct result))) == NULL ||
		    pthread_create(&w[started].thread, NULL, worker_run,
		    &w[started]) != 0) {
			free(w[started].res);
			break;
		}
	}
	for (i = 0; i < started; i++)
		pthread_join(w[i].thread, NULL);
	for (i = 0; i < started; i++)
		for (j = 0; j < n; j++)
			printf("psign %s %s %ld\n", w[i].res[j].fn,
			    ckr(w[i].res[j].rv), w[i].res[j].ms);
	printf("psign wall %ld\n", now_ms() - start);
	for (i = 0; i < started; i++)
		free(w[i].res);
	free(w);
	return started == t ? 0 : fail("psign", "cannot start threads");
}

static void
step_tokeninfo(struct drive *dr)
{
	CK_TOKEN_INFO ti;
	char names[256] = "";
	CK_RV rv;

	rv = dr->p11->C_GetTokenInfo(dr->slot, &ti);
	if (rv == CKR_OK)
		tp_flags_format(ti.flags, names, sizeof(names));
	printf("tokeninfo %s%s%s\n", ckr(rv), names[0] ? " " : "", names);
}

static void
step_slots(struct drive *dr)
{
	CK_ULONG n = 0;
	CK_RV rv;

	rv = dr->p11->C_GetSlotList(CK_TRUE, NULL, &n);
	printf("slots %s %lu\n", ckr(rv), n);
}

static void
step_slotinfo(struct drive *dr)
{
	CK_SLOT_INFO si;
	CK_RV rv;

	memset(&si, 0, sizeof(si));
	rv = dr->p11->C_GetSlotInfo(dr->slot, &si);
	printf("slotinfo %s present=%d\n", ckr(rv),
	    (si.flags & CKF_TOKEN_PRESENT) != 0);
}

static void
step_session(struct drive *dr)
{
	static const char *const states[] = { "CKS_RO_PUBLIC_SESSION",
	    "CKS_RO_USER_FUNCTIONS", "CKS_RW_PUBLIC_SESSION",
	    "CKS_RW_USER_FUNCTIONS", "CKS_RW_SO_FUNCTIONS" };
	CK_SESSION_INFO si;
	CK_RV rv;

	memset(&si, 0, sizeof(si));
	rv = dr->p11->C_GetSessionInfo(dr->session, &si);
	printf("session %s state=%s\n", ckr(rv), rv != CKR_OK ? "-" :
	    si.state < 5 ? states[si.state] : "unknown");
}

/* Write TEXT (';' ends a line) beside the control file, then rename. */
static int
step_ctl(const char *text)
{
	const char *path = getenv("HSMTLS_TESTP11_CONTROL");
	char tmp[4096];
	FILE *f;
	int err;

	if (path == NULL || path[0] == '\0')
		return fail("ctl", "HSMTLS_TESTP11_CONTROL is not set");
	snprintf(tmp, sizeof(tmp), "%s.drive.%ld", path, (long)getpid());
	if ((f = fopen(tmp, "w")) == NULL)
		return fail(tmp, strerror(errno));
	for (; *text != '\0'; text++)
		fputc(*text == ';' ? '\n' : *text, f);
	fputc('\n', f);
	err = ferror(f);
	if (fclose(f) != 0 || err || rename(tmp, path) == -1) {
		unlink(tmp);
		return fail(path, "cannot replace");
	}
	printf("ctl\n");
	return 0;
}

static int
arg_count(char **argv, int i, int argc, unsigned long max,
    unsigned long *out)
{
	if (i >= argc || tp_ulong_parse(argv[i], max, out) == -1)
		return fail(argv[i - 1], "needs a number");
	return 0;
}

static void
sleep_ms(unsigned long ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
	    (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/* Step names taking no argument. */
static int
step_simple(struct drive *dr, const char *s)
{
	CK_RV rv;

	if (strcmp(s, "open") == 0)
		step_open(dr);
	else if (strcmp(s, "close") == 0)
		printf("close %s\n", ckr(dr->p11->C_CloseSession(dr->session)));
	else if (strcmp(s, "login") == 0) {
		rv = dr->p11->C_Login(dr->session, CKU_USER,
		    (CK_BYTE *)dr->pin, dr->pin_len);
		printf("login %s\n", ckr(rv));
	} else if (strcmp(s, "logout") == 0)
		printf("logout %s\n", ckr(dr->p11->C_Logout(dr->session)));
	else if (strcmp(s, "session") == 0)
		step_session(dr);
	else if (strcmp(s, "find") == 0)
		step_find(dr);
	else if (strcmp(s, "tokeninfo") == 0)
		step_tokeninfo(dr);
	else if (strcmp(s, "slots") == 0)
		step_slots(dr);
	else if (strcmp(s, "slotinfo") == 0)
		step_slotinfo(dr);
	else if (strcmp(s, "mechinfo") == 0) {
		CK_MECHANISM_INFO mi;

		rv = dr->p11->C_GetMechanismInfo(dr->slot, dr->mech, &mi);
		printf("mechinfo %s\n", ckr(rv));
	} else
		return fail("unknown step", s);
	return 0;
}

/* Run the steps in argv[i..argc); -1 on a usage error. */
static int
run_steps(struct drive *dr, int i, int argc, char **argv)
{
	unsigned long a, b;
	int rc = 0;

	for (; rc == 0 && i < argc; i++) {
		const char *s = argv[i];

		if (strcmp(s, "sign") == 0 || strcmp(s, "qsign") == 0) {
			if ((rc = arg_count(argv, ++i, argc, CALLS_MAX, &a)) == 0)
				step_sign(dr, a, s[0] == 'q');
		} else if (strcmp(s, "psign") == 0) {
			if ((rc = arg_count(argv, ++i, argc, THREADS_MAX, &a)) == 0 &&
			    (rc = arg_count(argv, ++i, argc, CALLS_MAX, &b)) == 0)
				rc = step_psign(dr, a, b);
		} else if (strcmp(s, "sleep") == 0) {
			if ((rc = arg_count(argv, ++i, argc, TP_MS_MAX, &a)) == 0)
				sleep_ms(a);
		} else if (strcmp(s, "ctl") == 0)
			rc = ++i < argc ? step_ctl(argv[i]) :
			    fail("ctl", "needs the text");
		else
			rc = step_simple(dr, s);
		fflush(stdout);
	}
	return rc;
}

static int
usage(void)
{
	return fail("usage", "p11-drive --module PATH --token LABEL "
	    "--pin-file FILE --key LABEL STEP...");
}

int
main(int argc, char **argv)
{
	static struct drive dr;
	const char *module = NULL, *token = NULL, *pin_file = NULL;
	void *dl = NULL;
	int i, rc = -1;

	dr.mech = CKM_ECDSA;
	for (i = 1; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--module") == 0)
			module = argv[i + 1];
		else if (strcmp(argv[i], "--token") == 0)
			token = argv[i + 1];
		else if (strcmp(argv[i], "--pin-file") == 0)
			pin_file = argv[i + 1];
		else if (strcmp(argv[i], "--key") == 0)
			dr.key_label = argv[i + 1];
		else
			break;
	}
	if (module == NULL || token == NULL || pin_file == NULL ||
	    dr.key_label == NULL) {
		usage();
		return 1;
	}
	if (read_pin(&dr, pin_file) == 0 && load_module(&dr, module, &dl) == 0) {
		if (find_slot(&dr, token) == 0)
			rc = run_steps(&dr, i, argc, argv);
		dr.p11->C_Finalize(NULL);
	}
	explicit_bzero(dr.pin, sizeof(dr.pin));
	if (dl != NULL)
		dlclose(dl);
	return rc == 0 ? 0 : 1;
}
