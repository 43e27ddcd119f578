#ifndef HK_CKR_H
#define HK_CKR_H
#include <stddef.h>
/* Names of PKCS#11 return values ("CKR_PIN_INCORRECT") and mechanisms
 * ("CKM_ECDSA"); an unlisted value is written into buf as hex. */
const char *hk_ckr_name(unsigned long rv, char *buf, size_t len);
/* hk_ckr_name() with a per-thread buffer: valid until the thread's next
 * call. */
const char *hk_ckr_str(unsigned long rv);
const char *hk_ckm_name(unsigned long mech, char *buf, size_t len);
#endif
