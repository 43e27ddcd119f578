/*
 * test-mechlimit.c - hsmtls-mechlimit.so, a PKCS#11 module for the tests of
 * "hsmtls-token keygen" (never installed).  It forwards every call to the
 * real module and narrows what C_GetMechanismInfo reports for key-pair
 * generation, so SoftHSM can stand in for an HSM with smaller limits:
 *
 *   HSMTLS_MECHLIMIT_MODULE   the real module (default: SoftHSM)
 *   HSMTLS_MECHLIMIT_RSA_MAX  ulMaxKeySize of CKM_RSA_PKCS_KEY_PAIR_GEN
 *   HSMTLS_MECHLIMIT_EC_MAX   ulMaxKeySize of CKM_EC_KEY_PAIR_GEN
 *   HSMTLS_MECHLIMIT_HIDE     "rsa" or "ec": that key-pair mechanism is
 *                             CKR_MECHANISM_INVALID
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

static CK_FUNCTION_LIST ours;
static CK_FUNCTION_LIST_PTR real;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
limit(const char *var, CK_MECHANISM_INFO_PTR info)
{
	const char *v = getenv(var);
	unsigned long max;

	if (v == NULL || *v == '\0')
		return;
	max = strtoul(v, NULL, 10);
	if (info->ulMaxKeySize > max)
		info->ulMaxKeySize = max;
	if (info->ulMinKeySize > max)
		info->ulMinKeySize = max;
}

static int
hidden(CK_MECHANISM_TYPE m)
{
	const char *h = getenv("HSMTLS_MECHLIMIT_HIDE");

	if (h == NULL)
		return 0;
	return (m == CKM_RSA_PKCS_KEY_PAIR_GEN && strcmp(h, "rsa") == 0) ||
	    (m == CKM_EC_KEY_PAIR_GEN && strcmp(h, "ec") == 0);
}

static CK_RV
limited_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE m,
    CK_MECHANISM_INFO_PTR info)
{
	CK_RV rv;

	if (hidden(m))
		return CKR_MECHANISM_INVALID;
	rv = real->C_GetMechanismInfo(slot, m, info);

	if (rv != CKR_OK)
		return rv;
	if (m == CKM_RSA_PKCS_KEY_PAIR_GEN)
		limit("HSMTLS_MECHLIMIT_RSA_MAX", info);
	else if (m == CKM_EC_KEY_PAIR_GEN)
		limit("HSMTLS_MECHLIMIT_EC_MAX", info);
	return CKR_OK;
}

static void
load_real(void)
{
	const char *path = getenv("HSMTLS_MECHLIMIT_MODULE");
	CK_C_GetFunctionList get;
	void *dl;

	/* Never closed: the real module lives as long as the process. */
	dl = dlopen(path != NULL ? path : HK_DEFAULT_MODULE, RTLD_NOW);
	if (dl == NULL) {
		fprintf(stderr, "hsmtls-mechlimit: %s\n", dlerror());
		return;
	}
	get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	if (get == NULL || get(&real) != CKR_OK || real == NULL) {
		real = NULL;
		return;
	}
	ours = *real;
	ours.C_GetFunctionList = C_GetFunctionList;
	ours.C_GetMechanismInfo = limited_mechanism_info;
}

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_once(&once, load_real);
	if (real == NULL)
		return CKR_GENERAL_ERROR;
	*list = &ours;
	return CKR_OK;
}
