/*
 * testp11.c - hsmtls-testp11.so, a PKCS#11 module for tests that forwards
 * every call to a real module, counts the calls per function and, when
 * told to, injects faults (testp11_faults.c; all off by default).
 *
 *   HSMTLS_TESTP11_MODULE   the real module (default HK_DEFAULT_MODULE, SoftHSM)
 *   HSMTLS_TESTP11_COUNTS   if set, a file rewritten atomically (temporary
 *                           file + rename) after every call: "NAME COUNT"
 *                           lines, first C_Sign C_SignInit C_Decrypt
 *                           C_DecryptInit C_Login C_GetAttributeValue
 *                           C_Initialize C_Finalize (always, even if 0),
 *                           then every other function called at least once,
 *                           then per token "NAME@LABEL COUNT" for those of
 *                           the first five called on it at least once
 *                           (blanks in a label written as '_')
 *   HSMTLS_TESTP11_CONTROL  the fault control file (testp11_ctl.c)
 *   HSMTLS_TESTP11_LOG      the injected-fault log (testp11_faults.c)
 *
 * Every wrapper is generated from testp11_funcs.h and runs
 *     rv = call_begin(&c, id);        count; reject, sleep or fail it
 *     if (rv == CKR_OK)
 *         rv = call_forwarded(&c, real->fn(args));
 *     return call_end(&c, rv);        write the counts
 * A few have hand-written wrappers: C_GetSlotList, C_GetSlotInfo and
 * C_GetTokenInfo edit the real answer (removed token, injected flags), and
 * the single-part operations make sure a failure injected after forwarding
 * leaves no operation active in the real module.
 *
 * The module is linked with -z nodelete: a caller that unloads and reloads
 * it (libp11 does, to recover a token) keeps its counts, its fault state
 * and the ids of actions already run.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "testp11.h"

/* Always written, in this order, so a test can read a count that is 0. */
static const enum tp_fn fn_always[] = {
	FN_C_Sign, FN_C_SignInit, FN_C_Decrypt, FN_C_DecryptInit, FN_C_Login,
	FN_C_GetAttributeValue, FN_C_Initialize, FN_C_Finalize,
};

static atomic_ulong counts[FN_COUNT];
/* The first five of fn_always, per token (tp_token.idx). */
#define TOK_FNS 5
static atomic_ulong tok_counts[TP_MAX_TOKENS][TOK_FNS];
static pthread_mutex_t counts_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *counts_path;   /* NULL: do not write */

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
/* The real module's function list; NULL if loading it failed. */
static CK_FUNCTION_LIST *real;

static int
is_always(int id)
{
	size_t i;

	for (i = 0; i < sizeof(fn_always) / sizeof(fn_always[0]); i++)
		if ((int)fn_always[i] == id)
			return 1;
	return 0;
}

static size_t
counts_line(char *buf, size_t size, size_t len, int id)
{
	int n;

	if (len >= size)
		return len;
	n = snprintf(buf + len, size - len, "%s %lu\n", tp_fn_name(id),
	    atomic_load(&counts[id]));
	return n < 0 ? len : len + (size_t)n;
}

/* Which per-token count fn has, or -1. */
static int
tok_fn(int fn)
{
	int i;

	for (i = 0; i < TOK_FNS; i++)
		if ((int)fn_always[i] == fn)
			return i;
	return -1;
}

static size_t
tok_lines(char *buf, size_t size, size_t len)
{
	char label[TP_LABEL_MAX], *p;
	const char *l;
	unsigned long n;
	size_t t;
	int i, w;

	for (t = 0; t < TP_MAX_TOKENS && (l = tp_token_label(t)) != NULL; t++)
		for (i = 0; i < TOK_FNS; i++) {
			if ((n = atomic_load(&tok_counts[t][i])) == 0 ||
			    len >= size)
				continue;
			snprintf(label, sizeof(label), "%s", l);
			for (p = label; *p != '\0'; p++)
				if (*p == ' ' || *p == '\t')
					*p = '_';
			w = snprintf(buf + len, size - len, "%s@%s %lu\n",
			    tp_fn_name(fn_always[i]), label, n);
			len = w < 0 ? len : len + (size_t)w;
		}
	return len;
}

/* The contract's lines first, then every other function called so far,
 * then the per-token counts. */
static size_t
counts_format(char *buf, size_t size)
{
	size_t i, len = 0;
	int id;

	for (i = 0; i < sizeof(fn_always) / sizeof(fn_always[0]); i++)
		len = counts_line(buf, size, len, fn_always[i]);
	for (id = 0; id < FN_COUNT; id++)
		if (!is_always(id) && atomic_load(&counts[id]) > 0)
			len = counts_line(buf, size, len, id);
	len = tok_lines(buf, size, len);
	return len < size ? len : size - 1;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Rewrite the counts file; readers see the old or the new file, never half. */
static void
counts_write(void)
{
	char buf[4096], tmp[4096];
	size_t len;
	int fd, err = 0;

	if (counts_path == NULL)
		return;
	pthread_mutex_lock(&counts_lock);
	len = counts_format(buf, sizeof(buf));
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", counts_path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || write_all(fd, buf, len) == -1)
		err = errno;
	if (fd != -1 && close(fd) == -1 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, counts_path) == -1)
		err = errno;
	if (err != 0) {
		unlink(tmp);
		fprintf(stderr, "hsmtls-testp11: counts file %s: %s\n",
		    counts_path, strerror(err));
	}
	pthread_mutex_unlock(&counts_lock);
}

/* One call in flight: its function and the faults chosen for it. */
struct call {
	enum tp_fn fn;
	struct tp_decision d;
	bool forwarding;        /* holds real_lock for reading */
};

/* Forwarded calls hold it shared; device events, exclusive (testp11.h). */
static pthread_rwlock_t real_lock;
static pthread_once_t real_lock_once = PTHREAD_ONCE_INIT;

static void
real_lock_init(void)
{
	pthread_rwlockattr_t a;

	/* A steady stream of calls must not starve a device event. */
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&real_lock, &a);
	pthread_rwlockattr_destroy(&a);
}

void
tp_real_exclusive_begin(void)
{
	pthread_once(&real_lock_once, real_lock_init);
	pthread_rwlock_wrlock(&real_lock);
}

void
tp_real_exclusive_end(void)
{
	pthread_rwlock_unlock(&real_lock);
}

void
tp_real_shared_begin(void)
{
	pthread_once(&real_lock_once, real_lock_init);
	pthread_rwlock_rdlock(&real_lock);
}

void
tp_real_shared_end(void)
{
	pthread_rwlock_unlock(&real_lock);
}

static void
sleep_ms(unsigned long ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
	    (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

static pthread_mutex_t serial_any = PTHREAD_MUTEX_INITIALIZER;

/*
 * Every call enters here first, with its slot or session (handle; 0 when
 * it has neither).  Counted even when faulted.  A non-OK answer is
 * returned without forwarding.  The sleep holds no lock, so concurrent
 * calls overlap, unless the latency is serial: then the token's calls
 * sleep one after the other.
 */
static CK_RV
call_begin(struct call *c, enum tp_fn fn, CK_ULONG handle)
{
	pthread_mutex_t *m;
	int tf = tok_fn(fn);

	c->fn = fn;
	c->forwarding = false;
	atomic_fetch_add(&counts[fn], 1);
	tp_faults_decide(fn, handle, tf >= 0 && counts_path != NULL, &c->d);
	if (tf >= 0 && c->d.tok != NULL)
		atomic_fetch_add(&tok_counts[c->d.tok->idx][tf], 1);
	if (c->d.reject != CKR_OK)
		return c->d.reject;
	if (c->d.serial) {
		m = c->d.tok != NULL ? &c->d.tok->serial : &serial_any;
		pthread_mutex_lock(m);
		sleep_ms(c->d.latency_ms + c->d.hang_ms);
		pthread_mutex_unlock(m);
	} else if (c->d.latency_ms + c->d.hang_ms > 0)
		sleep_ms(c->d.latency_ms + c->d.hang_ms);
	if (c->d.fail != CKR_OK && tp_fn_kind(fn) != KIND_OP)
		return c->d.fail;
	pthread_once(&real_lock_once, real_lock_init);
	pthread_rwlock_rdlock(&real_lock);
	c->forwarding = true;
	return CKR_OK;
}

/* The real module answered rv; an operation's injected failure replaces
 * it now that the real operation has ended as an error would end it. */
static CK_RV
call_forwarded(const struct call *c, CK_RV rv)
{
	return c->d.fail != CKR_OK ? c->d.fail : rv;
}

/* Every call leaves through here, with its final answer. */
static CK_RV
call_end(struct call *c, CK_RV rv)
{
	if (c->forwarding) {
		pthread_rwlock_unlock(&real_lock);
		c->forwarding = false;
	}
	tp_faults_note(c->fn, rv);
	counts_write();
	return rv;
}

/* The call's slot or session: its first argument, by kind. */
#define FIRST_ARG(a, ...) ((CK_ULONG)(a))
#define HANDLE_NONE(args) 0
#define HANDLE_SLOT(args) FIRST_ARG args
#define HANDLE_SESSION(args) FIRST_ARG args
#define HANDLE_OP(args) FIRST_ARG args

/* The generated wrappers: static, so only C_GetFunctionList is exported. */
#define WRAP_gen(name, kind, params, args) \
	static CK_RV w_##name params \
	{ \
		struct call c; \
		CK_RV rv = call_begin(&c, FN_##name, HANDLE_##kind(args)); \
		if (rv == CKR_OK) \
			rv = call_forwarded(&c, real->name args); \
		return call_end(&c, rv); \
	}
#define WRAP_own(name, kind, params, args)
#define X(name, impl, kind, params, args) \
	WRAP_##impl(name, kind, params, args)
TESTP11_FUNCTIONS(X)
#undef X

/* A removed token takes its slot out of the list of slots with a token. */
static CK_RV
w_C_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID *slot_list,
    CK_ULONG *count)
{
	struct call c;
	CK_RV rv = call_begin(&c, FN_C_GetSlotList, 0);
	CK_ULONG i, n;

	if (rv == CKR_OK && c.d.removed && token_present && count != NULL) {
		*count = 0;
		tp_fault_log("C_GetSlotList removed");
	} else if (rv == CKR_OK)
		rv = call_forwarded(&c,
		    real->C_GetSlotList(token_present, slot_list, count));
	/* A token removed by label leaves the list; a length query may
	 * then have promised one slot more than is given. */
	if (rv == CKR_OK && token_present && slot_list != NULL &&
	    count != NULL) {
		for (i = n = 0; i < *count; i++)
			if (!tp_slot_removed(slot_list[i]))
				slot_list[n++] = slot_list[i];
			else
				tp_fault_log("C_GetSlotList removed");
		*count = n;
	}
	return call_end(&c, rv);
}

static CK_RV
w_C_GetSlotInfo(CK_SLOT_ID slot_id, CK_SLOT_INFO *info)
{
	struct call c;
	CK_RV rv = call_begin(&c, FN_C_GetSlotInfo, slot_id);

	if (rv == CKR_OK)
		rv = call_forwarded(&c, real->C_GetSlotInfo(slot_id, info));
	if (rv == CKR_OK && c.d.removed && info != NULL) {
		info->flags &= ~(CK_FLAGS)CKF_TOKEN_PRESENT;
		tp_fault_log("C_GetSlotInfo removed");
	}
	return call_end(&c, rv);
}

/* Injected PIN flags: the caller must refuse to log in by itself. */
static CK_RV
w_C_GetTokenInfo(CK_SLOT_ID slot_id, CK_TOKEN_INFO *info)
{
	struct call c;
	CK_RV rv = call_begin(&c, FN_C_GetTokenInfo, slot_id);
	char names[256];

	if (rv == CKR_OK)
		rv = call_forwarded(&c, real->C_GetTokenInfo(slot_id, info));
	if (rv == CKR_OK && c.d.flags != 0 && info != NULL) {
		info->flags |= c.d.flags;
		tp_flags_format(c.d.flags, names, sizeof(names));
		tp_fault_log("C_GetTokenInfo flags %s", names);
	}
	return call_end(&c, rv);
}

/*
 * A length query (no output buffer) or CKR_BUFFER_TOO_SMALL leaves the
 * operation active; an error ends it.  When an error is injected there,
 * finish the real operation into a scratch buffer so the real module's
 * state matches the error the caller sees (the next *Init must work).
 */
static void
op_finish(CK_C_Sign fn, CK_SESSION_HANDLE s, CK_BYTE *in, CK_ULONG in_len,
    CK_BYTE *out, CK_ULONG *out_len, CK_RV rv)
{
	CK_ULONG len;
	CK_BYTE *scratch;

	if (out_len == NULL ||
	    !(rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && out == NULL)))
		return;
	len = *out_len;
	if ((scratch = malloc(len > 0 ? len : 1)) == NULL)
		return;
	fn(s, in, in_len, scratch, &len);
	free(scratch);
}

static CK_RV
op_forward(const struct call *c, CK_C_Sign fn, CK_SESSION_HANDLE s,
    CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len)
{
	CK_RV rv = fn(s, in, in_len, out, out_len);

	if (c->d.fail != CKR_OK)
		op_finish(fn, s, in, in_len, out, out_len, rv);
	return call_forwarded(c, rv);
}

/* C_Encrypt, C_Decrypt, C_Digest and C_Sign share one shape. */
#define WRAP_OP(name) \
	static CK_RV w_##name(CK_SESSION_HANDLE s, CK_BYTE *in, \
	    CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len) \
	{ \
		struct call c; \
		CK_RV rv = call_begin(&c, FN_##name, s); \
		if (rv == CKR_OK) \
			rv = op_forward(&c, real->name, s, in, in_len, out, \
			    out_len); \
		return call_end(&c, rv); \
	}
WRAP_OP(C_Encrypt)
WRAP_OP(C_Decrypt)
WRAP_OP(C_Digest)
WRAP_OP(C_Sign)
#undef WRAP_OP

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
    __attribute__((visibility("default")));

static CK_FUNCTION_LIST forward_list = {
	.version = { CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR },
#define X(name, impl, kind, params, args) .name = w_##name,
	TESTP11_FUNCTIONS(X)
#undef X
	.C_GetFunctionList = C_GetFunctionList,
};

/* A fork while another thread writes the counts must not leave it locked. */
static void lock_counts(void) { pthread_mutex_lock(&counts_lock); }
static void unlock_counts(void) { pthread_mutex_unlock(&counts_lock); }

static void
load_real(void)
{
	const char *path = getenv("HSMTLS_TESTP11_MODULE");
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST *fl = NULL;
	void *dl;

	if (path == NULL || path[0] == '\0')
		path = HK_DEFAULT_MODULE;
	counts_path = getenv("HSMTLS_TESTP11_COUNTS");
	if (counts_path != NULL && counts_path[0] == '\0')
		counts_path = NULL;
	pthread_atfork(lock_counts, unlock_counts, unlock_counts);
	/* Kept loaded until exit: the real module is never unloaded. */
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "hsmtls-testp11: %s\n", dlerror());
		return;
	}
	get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	if (get == C_GetFunctionList) {
		fprintf(stderr, "hsmtls-testp11: HSMTLS_TESTP11_MODULE names "
		    "this module itself\n");
		return;
	}
	if (get == NULL || get(&fl) != CKR_OK || fl == NULL) {
		fprintf(stderr, "hsmtls-testp11: %s: no usable "
		    "C_GetFunctionList\n", path);
		return;
	}
	forward_list.version = fl->version;
	real = fl;
	tp_faults_init(fl);
}

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	struct call c;
	CK_RV rv;

	pthread_once(&load_once, load_real);
	rv = call_begin(&c, FN_C_GetFunctionList, 0);
	if (rv == CKR_OK && list == NULL)
		rv = CKR_ARGUMENTS_BAD;
	if (rv == CKR_OK && real == NULL)
		rv = CKR_GENERAL_ERROR;
	if (rv == CKR_OK)
		*list = &forward_list;
	return call_end(&c, rv);
}
