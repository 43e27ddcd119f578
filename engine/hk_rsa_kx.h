#ifndef HK_RSA_KX_H
#define HK_RSA_KX_H
#include <stddef.h>

#define HK_TLS_PREMASTER_LEN 48

/*
 * em: the k-byte raw RSA result.  Writes the 48-byte pre-master secret to
 * out: em's if em is a well-formed PKCS#1 v1.5 type 2 block carrying 48
 * bytes that start with client_version (or alt_version, when nonzero),
 * else rnd.  Returns -1 only when k is too small to hold any secret (a
 * public fact); otherwise 0, whatever em holds.
 */
int hk_tls_premaster(const unsigned char *em, size_t k,
    unsigned client_version, unsigned alt_version,
    const unsigned char rnd[HK_TLS_PREMASTER_LEN],
    unsigned char out[HK_TLS_PREMASTER_LEN]);

#endif
