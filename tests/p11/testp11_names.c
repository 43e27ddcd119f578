/*
 * testp11_names.c - names of the module's functions, return values and
 * token flags, and strict number parsing, for the control file, the fault
 * log and p11-drive's output.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testp11.h"

static const char *const fn_names[FN_COUNT] = {
#define X(name, impl, kind, params, args) [FN_##name] = #name,
	TESTP11_FUNCTIONS(X)
#undef X
	[FN_C_GetFunctionList] = "C_GetFunctionList",
};

static const enum tp_kind fn_kinds[FN_COUNT] = {
#define X(name, impl, kind, params, args) [FN_##name] = KIND_##kind,
	TESTP11_FUNCTIONS(X)
#undef X
	[FN_C_GetFunctionList] = KIND_NONE,
};

#define NAME(x) { x, #x }
struct name {
	unsigned long value;
	const char *name;
};

/* Every CKR_ value in p11-kit's pkcs11.h (PKCS#11 2.40). */
static const struct name ckr_names[] = {
	NAME(CKR_OK),
	NAME(CKR_CANCEL),
	NAME(CKR_HOST_MEMORY),
	NAME(CKR_SLOT_ID_INVALID),
	NAME(CKR_GENERAL_ERROR),
	NAME(CKR_FUNCTION_FAILED),
	NAME(CKR_ARGUMENTS_BAD),
	NAME(CKR_NO_EVENT),
	NAME(CKR_NEED_TO_CREATE_THREADS),
	NAME(CKR_CANT_LOCK),
	NAME(CKR_ATTRIBUTE_READ_ONLY),
	NAME(CKR_ATTRIBUTE_SENSITIVE),
	NAME(CKR_ATTRIBUTE_TYPE_INVALID),
	NAME(CKR_ATTRIBUTE_VALUE_INVALID),
	NAME(CKR_ACTION_PROHIBITED),
	NAME(CKR_DATA_INVALID),
	NAME(CKR_DATA_LEN_RANGE),
	NAME(CKR_DEVICE_ERROR),
	NAME(CKR_DEVICE_MEMORY),
	NAME(CKR_DEVICE_REMOVED),
	NAME(CKR_ENCRYPTED_DATA_INVALID),
	NAME(CKR_ENCRYPTED_DATA_LEN_RANGE),
	NAME(CKR_FUNCTION_CANCELED),
	NAME(CKR_FUNCTION_NOT_PARALLEL),
	NAME(CKR_FUNCTION_NOT_SUPPORTED),
	NAME(CKR_KEY_HANDLE_INVALID),
	NAME(CKR_KEY_SIZE_RANGE),
	NAME(CKR_KEY_TYPE_INCONSISTENT),
	NAME(CKR_KEY_NOT_NEEDED),
	NAME(CKR_KEY_CHANGED),
	NAME(CKR_KEY_NEEDED),
	NAME(CKR_KEY_INDIGESTIBLE),
	NAME(CKR_KEY_FUNCTION_NOT_PERMITTED),
	NAME(CKR_KEY_NOT_WRAPPABLE),
	NAME(CKR_KEY_UNEXTRACTABLE),
	NAME(CKR_MECHANISM_INVALID),
	NAME(CKR_MECHANISM_PARAM_INVALID),
	NAME(CKR_OBJECT_HANDLE_INVALID),
	NAME(CKR_OPERATION_ACTIVE),
	NAME(CKR_OPERATION_NOT_INITIALIZED),
	NAME(CKR_PIN_INCORRECT),
	NAME(CKR_PIN_INVALID),
	NAME(CKR_PIN_LEN_RANGE),
	NAME(CKR_PIN_EXPIRED),
	NAME(CKR_PIN_LOCKED),
	NAME(CKR_SESSION_CLOSED),
	NAME(CKR_SESSION_COUNT),
	NAME(CKR_SESSION_HANDLE_INVALID),
	NAME(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
	NAME(CKR_SESSION_READ_ONLY),
	NAME(CKR_SESSION_EXISTS),
	NAME(CKR_SESSION_READ_ONLY_EXISTS),
	NAME(CKR_SESSION_READ_WRITE_SO_EXISTS),
	NAME(CKR_SIGNATURE_INVALID),
	NAME(CKR_SIGNATURE_LEN_RANGE),
	NAME(CKR_TEMPLATE_INCOMPLETE),
	NAME(CKR_TEMPLATE_INCONSISTENT),
	NAME(CKR_TOKEN_NOT_PRESENT),
	NAME(CKR_TOKEN_NOT_RECOGNIZED),
	NAME(CKR_TOKEN_WRITE_PROTECTED),
	NAME(CKR_UNWRAPPING_KEY_SIZE_RANGE),
	NAME(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
	NAME(CKR_USER_ALREADY_LOGGED_IN),
	NAME(CKR_USER_NOT_LOGGED_IN),
	NAME(CKR_USER_PIN_NOT_INITIALIZED),
	NAME(CKR_USER_TYPE_INVALID),
	NAME(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
	NAME(CKR_USER_TOO_MANY_TYPES),
	NAME(CKR_WRAPPED_KEY_INVALID),
	NAME(CKR_WRAPPED_KEY_LEN_RANGE),
	NAME(CKR_WRAPPING_KEY_HANDLE_INVALID),
	NAME(CKR_WRAPPING_KEY_SIZE_RANGE),
	NAME(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
	NAME(CKR_RANDOM_SEED_NOT_SUPPORTED),
	NAME(CKR_RANDOM_NO_RNG),
	NAME(CKR_DOMAIN_PARAMS_INVALID),
	NAME(CKR_CURVE_NOT_SUPPORTED),
	NAME(CKR_BUFFER_TOO_SMALL),
	NAME(CKR_SAVED_STATE_INVALID),
	NAME(CKR_INFORMATION_SENSITIVE),
	NAME(CKR_STATE_UNSAVEABLE),
	NAME(CKR_CRYPTOKI_NOT_INITIALIZED),
	NAME(CKR_CRYPTOKI_ALREADY_INITIALIZED),
	NAME(CKR_MUTEX_BAD),
	NAME(CKR_MUTEX_NOT_LOCKED),
	NAME(CKR_NEW_PIN_MODE),
	NAME(CKR_NEXT_OTP),
	NAME(CKR_EXCEEDED_MAX_ITERATIONS),
	NAME(CKR_FIPS_SELF_TEST_FAILED),
	NAME(CKR_LIBRARY_LOAD_FAILED),
	NAME(CKR_PIN_TOO_WEAK),
	NAME(CKR_PUBLIC_KEY_INVALID),
	NAME(CKR_FUNCTION_REJECTED),
};

static const struct name flag_names[] = {
	NAME(CKF_USER_PIN_COUNT_LOW), NAME(CKF_USER_PIN_FINAL_TRY),
	NAME(CKF_USER_PIN_LOCKED), NAME(CKF_USER_PIN_TO_BE_CHANGED),
	NAME(CKF_SO_PIN_COUNT_LOW), NAME(CKF_SO_PIN_FINAL_TRY),
	NAME(CKF_SO_PIN_LOCKED), NAME(CKF_SO_PIN_TO_BE_CHANGED),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *
tp_fn_name(int fn)
{
	return fn >= 0 && fn < FN_COUNT ? fn_names[fn] : "C_unknown";
}

enum tp_kind
tp_fn_kind(int fn)
{
	return fn >= 0 && fn < FN_COUNT ? fn_kinds[fn] : KIND_NONE;
}

/* The function's id, or -1 if no PKCS#11 function has that name. */
int
tp_fn_lookup(const char *name)
{
	int fn;

	for (fn = 0; fn < FN_COUNT; fn++)
		if (strcmp(fn_names[fn], name) == 0)
			return fn;
	return -1;
}

/* A static name, or a hex rendering in buf for codes not in the table. */
const char *
tp_ckr_name(CK_RV rv, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < COUNT(ckr_names); i++)
		if (ckr_names[i].value == rv)
			return ckr_names[i].name;
	snprintf(buf, len, "CKR_0x%08lx", rv);
	return buf;
}

/*
 * Digits only: strtoul alone would accept signs, blanks and "-1" as
 * ULONG_MAX.  Base 16 with a 0x prefix, else base 10.
 */
int
tp_ulong_parse(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v;
	const char *p = s, *q;
	char *end;
	int base = 10;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (*p == '\0')
		return -1;
	for (q = p; *q != '\0'; q++)
		if (base == 10 ? !isdigit((unsigned char)*q) :
		    !isxdigit((unsigned char)*q))
			return -1;
	errno = 0;
	v = strtoul(p, &end, base);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
name_parse(const struct name *t, size_t n, const char *s, unsigned long *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(t[i].name, s) == 0) {
			*out = t[i].value;
			return 0;
		}
	return tp_ulong_parse(s, (unsigned long)-1, out);
}

/* A CKR_ name or a number; 0 on success. */
int
tp_ckr_parse(const char *s, CK_RV *rv)
{
	return name_parse(ckr_names, COUNT(ckr_names), s, rv);
}

/* A CKF_ token flag name or a number; 0 on success. */
int
tp_flag_parse(const char *s, CK_FLAGS *flag)
{
	return name_parse(flag_names, COUNT(flag_names), s, flag);
}

/* The PIN flags set in flags, by name, separated by '|'; "" if none. */
void
tp_flags_format(CK_FLAGS flags, char *buf, size_t len)
{
	size_t i, used = 0;
	int n;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < COUNT(flag_names) && used < len; i++) {
		if ((flags & flag_names[i].value) == 0)
			continue;
		n = snprintf(buf + used, len - used, "%s%s",
		    used > 0 ? "|" : "", flag_names[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}
