#ifndef HK_CKR_H
#define HK_CKR_H
#include <stddef.h>
const char *hk_ckr_name(unsigned long rv, char *buf, size_t len);
#endif
