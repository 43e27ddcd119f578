/*
 * testp11.c - hsmtls-testp11.so, a PKCS#11 module for tests that forwards
 * every call to a real module and counts the calls per function.
 *
 *   HSMTLS_TESTP11_MODULE  the real module (default HK_DEFAULT_MODULE, SoftHSM)
 *   HSMTLS_TESTP11_COUNTS  if set, a file rewritten atomically (temporary
 *                          file + rename) after every call: "NAME COUNT"
 *                          lines, first C_Sign C_SignInit C_Decrypt
 *                          C_DecryptInit C_Login C_GetAttributeValue
 *                          C_Initialize C_Finalize (always, even if 0),
 *                          then every other function called at least once
 *
 * Every wrapper is generated from testp11_funcs.h and runs
 *     rv = pre_call(id);
 *     if (rv == CKR_OK)
 *         rv = real->fn(args);
 *     return post_call(id, rv);
 * so a chosen CKR on the Nth call, added latency or a simulated token
 * removal can later be added in pre_call/post_call alone.  Injecting token
 * flags means editing C_GetTokenInfo's output: give that one function a
 * hand-written wrapper instead of the generated one.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "testp11_funcs.h"

enum fn_id {
#define X(name, params, args) FN_##name,
	TESTP11_FUNCTIONS(X)
#undef X
	FN_C_GetFunctionList,
	FN_COUNT
};

static const char *const fn_names[FN_COUNT] = {
#define X(name, params, args) [FN_##name] = #name,
	TESTP11_FUNCTIONS(X)
#undef X
	[FN_C_GetFunctionList] = "C_GetFunctionList",
};

/* Always written, in this order, so a test can read a count that is 0. */
static const enum fn_id fn_always[] = {
	FN_C_Sign, FN_C_SignInit, FN_C_Decrypt, FN_C_DecryptInit, FN_C_Login,
	FN_C_GetAttributeValue, FN_C_Initialize, FN_C_Finalize,
};

static atomic_ulong counts[FN_COUNT];
static pthread_mutex_t counts_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *counts_path;   /* NULL: do not write */

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
/* The real module's function list; NULL if loading it failed. */
static CK_FUNCTION_LIST *real;

static int
is_always(enum fn_id id)
{
	size_t i;

	for (i = 0; i < sizeof(fn_always) / sizeof(fn_always[0]); i++)
		if (fn_always[i] == id)
			return 1;
	return 0;
}

static size_t
counts_line(char *buf, size_t size, size_t len, int id)
{
	int n;

	if (len >= size)
		return len;
	n = snprintf(buf + len, size - len, "%s %lu\n", fn_names[id],
	    atomic_load(&counts[id]));
	return n < 0 ? len : len + (size_t)n;
}

/* The contract's lines first, then every other function called so far. */
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

/* Every call enters here first.  Fault injection will hook in here. */
static CK_RV
pre_call(enum fn_id id)
{
	atomic_fetch_add(&counts[id], 1);
	return CKR_OK;
}

/* Every call leaves through here, with the real module's answer. */
static CK_RV
post_call(enum fn_id id, CK_RV rv)
{
	counts_write();
	return rv;
}

/* The wrappers: static, so only C_GetFunctionList is exported. */
#define X(name, params, args) \
	static CK_RV w_##name params \
	{ \
		CK_RV rv = pre_call(FN_##name); \
		if (rv == CKR_OK) \
			rv = real->name args; \
		return post_call(FN_##name, rv); \
	}
TESTP11_FUNCTIONS(X)
#undef X

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
    __attribute__((visibility("default")));

static CK_FUNCTION_LIST forward_list = {
	.version = { CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR },
#define X(name, params, args) .name = w_##name,
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
}

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	CK_RV rv;

	pthread_once(&load_once, load_real);
	rv = pre_call(FN_C_GetFunctionList);
	if (rv == CKR_OK && list == NULL)
		rv = CKR_ARGUMENTS_BAD;
	if (rv == CKR_OK && real == NULL)
		rv = CKR_GENERAL_ERROR;
	if (rv == CKR_OK)
		*list = &forward_list;
	return post_call(FN_C_GetFunctionList, rv);
}
