#ifndef HK_CKR_H
#define HK_CKR_H
#include <stddef.h>
/* Two CKR values for code that includes no pkcs11.h (transports). */
#define CKR_FUNCTION_FAILED_VALUE 0x6UL
#define CKR_ENCRYPTED_DATA_INVALID_VALUE 0x40UL
/* Names of PKCS#11 return values ("CKR_PIN_INCORRECT") and mechanisms
 * ("CKM_ECDSA"); an unlisted value is written into buf as hex. */
const char *hk_ckr_name(unsigned long rv, char *buf, size_t len);
/* hk_ckr_name() with a per-thread buffer: valid until the thread's next
 * call. */
const char *hk_ckr_str(unsigned long rv);
const char *hk_ckm_name(unsigned long mech, char *buf, size_t len);
/* 1 for a CKR value that describes the ciphertext rather than the token
 * (a TLS pre-master block is then replaced, never an error). */
int hk_ckr_is_data_error(unsigned long rv);
#endif
