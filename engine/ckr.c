/* ckr.c - names of PKCS#11 return values, for one-line errors, and of
 * mechanisms, for custody reports (used by the engine and by
 * hsmtls-token: one table of each for all programs). */
#include "config.h"

#include <stdio.h>
#include <p11-kit/pkcs11.h>
#include "hk_ckr.h"

#define CKR(x) { x, #x }
static const struct {
	unsigned long rv;
	const char *name;
} ckr_names[] = {
	CKR(CKR_OK), CKR(CKR_CANCEL), CKR(CKR_HOST_MEMORY),
	CKR(CKR_SLOT_ID_INVALID), CKR(CKR_GENERAL_ERROR),
	CKR(CKR_FUNCTION_FAILED), CKR(CKR_ARGUMENTS_BAD),
	CKR(CKR_ATTRIBUTE_SENSITIVE), CKR(CKR_ATTRIBUTE_TYPE_INVALID),
	CKR(CKR_ATTRIBUTE_VALUE_INVALID), CKR(CKR_DATA_INVALID),
	CKR(CKR_DATA_LEN_RANGE), CKR(CKR_DEVICE_ERROR),
	CKR(CKR_DEVICE_MEMORY), CKR(CKR_DEVICE_REMOVED),
	CKR(CKR_ENCRYPTED_DATA_INVALID), CKR(CKR_ENCRYPTED_DATA_LEN_RANGE),
	CKR(CKR_FUNCTION_CANCELED), CKR(CKR_FUNCTION_NOT_SUPPORTED),
	CKR(CKR_KEY_HANDLE_INVALID), CKR(CKR_KEY_SIZE_RANGE),
	CKR(CKR_KEY_TYPE_INCONSISTENT), CKR(CKR_KEY_FUNCTION_NOT_PERMITTED),
	CKR(CKR_MECHANISM_INVALID), CKR(CKR_MECHANISM_PARAM_INVALID),
	CKR(CKR_OBJECT_HANDLE_INVALID), CKR(CKR_OPERATION_ACTIVE),
	CKR(CKR_OPERATION_NOT_INITIALIZED), CKR(CKR_PIN_INCORRECT),
	CKR(CKR_PIN_INVALID), CKR(CKR_PIN_LEN_RANGE), CKR(CKR_PIN_EXPIRED),
	CKR(CKR_PIN_LOCKED), CKR(CKR_SESSION_CLOSED), CKR(CKR_SESSION_COUNT),
	CKR(CKR_SESSION_HANDLE_INVALID), CKR(CKR_SESSION_READ_ONLY),
	CKR(CKR_SIGNATURE_INVALID), CKR(CKR_SIGNATURE_LEN_RANGE),
	CKR(CKR_TEMPLATE_INCOMPLETE), CKR(CKR_TEMPLATE_INCONSISTENT),
	CKR(CKR_TOKEN_NOT_PRESENT), CKR(CKR_TOKEN_NOT_RECOGNIZED),
	CKR(CKR_TOKEN_WRITE_PROTECTED), CKR(CKR_USER_ALREADY_LOGGED_IN),
	CKR(CKR_USER_NOT_LOGGED_IN), CKR(CKR_USER_PIN_NOT_INITIALIZED),
	CKR(CKR_USER_TYPE_INVALID), CKR(CKR_BUFFER_TOO_SMALL),
	CKR(CKR_CRYPTOKI_NOT_INITIALIZED),
	CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED), CKR(CKR_FUNCTION_REJECTED),
	CKR(CKR_ATTRIBUTE_READ_ONLY),
	CKR(CKR_CANT_LOCK),
	CKR(CKR_CURVE_NOT_SUPPORTED),
	CKR(CKR_DOMAIN_PARAMS_INVALID),
	CKR(CKR_FUNCTION_NOT_PARALLEL),
	CKR(CKR_NEED_TO_CREATE_THREADS),
	CKR(CKR_NO_EVENT),
	CKR(CKR_RANDOM_NO_RNG),
	CKR(CKR_SESSION_EXISTS),
	CKR(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
	CKR(CKR_SESSION_READ_ONLY_EXISTS),
	CKR(CKR_SESSION_READ_WRITE_SO_EXISTS),
	CKR(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
	CKR(CKR_USER_TOO_MANY_TYPES),
};

/* A static name, or a hex rendering in buf for unlisted codes. */
const char *
hk_ckr_name(unsigned long rv, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
		if (ckr_names[i].rv == rv)
			return ckr_names[i].name;
	snprintf(buf, len, "CKR_0x%08lx", rv);
	return buf;
}

/* The same, unlisted codes in a buffer of the calling thread's. */
const char *
hk_ckr_str(unsigned long rv)
{
	static _Thread_local char buf[32];

	return hk_ckr_name(rv, buf, sizeof(buf));
}

#define CKM(x) { x, #x }
static const struct {
	unsigned long mech;
	const char *name;
} ckm_names[] = {
	CKM(CKM_RSA_PKCS_KEY_PAIR_GEN), CKM(CKM_RSA_PKCS), CKM(CKM_RSA_9796),
	CKM(CKM_RSA_X_509), CKM(CKM_MD5_RSA_PKCS), CKM(CKM_SHA1_RSA_PKCS),
	CKM(CKM_RIPEMD128_RSA_PKCS), CKM(CKM_RIPEMD160_RSA_PKCS),
	CKM(CKM_RSA_PKCS_OAEP), CKM(CKM_RSA_X9_31_KEY_PAIR_GEN),
	CKM(CKM_RSA_X9_31), CKM(CKM_SHA1_RSA_X9_31), CKM(CKM_RSA_PKCS_PSS),
	CKM(CKM_SHA1_RSA_PKCS_PSS), CKM(CKM_SHA224_RSA_PKCS),
	CKM(CKM_SHA256_RSA_PKCS), CKM(CKM_SHA384_RSA_PKCS),
	CKM(CKM_SHA512_RSA_PKCS), CKM(CKM_SHA224_RSA_PKCS_PSS),
	CKM(CKM_SHA256_RSA_PKCS_PSS), CKM(CKM_SHA384_RSA_PKCS_PSS),
	CKM(CKM_SHA512_RSA_PKCS_PSS), CKM(CKM_RSA_AES_KEY_WRAP),
	CKM(CKM_EC_KEY_PAIR_GEN), CKM(CKM_ECDSA), CKM(CKM_ECDSA_SHA1),
	CKM(CKM_ECDSA_SHA224), CKM(CKM_ECDSA_SHA256), CKM(CKM_ECDSA_SHA384),
	CKM(CKM_ECDSA_SHA512), CKM(CKM_ECDH1_DERIVE),
	CKM(CKM_ECDH1_COFACTOR_DERIVE), CKM(CKM_ECDH_AES_KEY_WRAP),
	CKM(CKM_EC_EDWARDS_KEY_PAIR_GEN), CKM(CKM_EDDSA),
	CKM(CKM_SHA_1), CKM(CKM_SHA224), CKM(CKM_SHA256), CKM(CKM_SHA384),
	CKM(CKM_SHA512),
};

/* A static CKM_* name, or a hex rendering in buf for unlisted mechanisms. */
const char *
hk_ckm_name(unsigned long mech, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(ckm_names) / sizeof(ckm_names[0]); i++)
		if (ckm_names[i].mech == mech)
			return ckm_names[i].name;
	snprintf(buf, len, "CKM_0x%08lx", mech);
	return buf;
}

/* Errors that describe the ciphertext rather than the token. */
int
hk_ckr_is_data_error(unsigned long rv)
{
	return rv == CKR_ENCRYPTED_DATA_INVALID ||
	    rv == CKR_ENCRYPTED_DATA_LEN_RANGE || rv == CKR_DATA_INVALID ||
	    rv == CKR_DATA_LEN_RANGE;
}
