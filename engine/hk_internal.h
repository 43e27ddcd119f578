/*
 * hk_internal.h - what the engine's files share.  Nothing here is seen by
 * server/ or tokens/.  PKCS#11 types stay in p11.c and uri.c; the rest of
 * the engine names token objects by opaque handles.
 */
#ifndef HK_INTERNAL_H
#define HK_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include "hk.h"

#define HK_KEY_MAGIC 0x686b6b79u /* "hkky" */
#define HK_ERRLEN 512
#define CKR_FUNCTION_FAILED_VALUE 0x6UL /* CKR_FUNCTION_FAILED, without pkcs11.h */

struct hk_pin;
struct hk_p11;

/* How the token is asked to sign. */
enum hk_mech {
	HK_MECH_RSA_PKCS,  /* DigestInfo || hash, CKM_RSA_PKCS */
	HK_MECH_RSA_PSS,   /* hash, CKM_RSA_PKCS_PSS */
	HK_MECH_ECDSA,     /* hash, CKM_ECDSA; r||s out */
};

struct hk_key {
	unsigned magic;
	struct hk_engine *e;
	unsigned long handle;   /* CK_OBJECT_HANDLE of the private key */
	unsigned char *id;      /* CKA_ID */
	size_t id_len;
	char *label;            /* CKA_LABEL, "" when absent */
	int type;               /* EVP_PKEY_RSA or EVP_PKEY_EC */
	EVP_PKEY *pub;          /* public key, default provider */
	EVP_PKEY *pkey;         /* the hsmtls provider's key libssl uses */
	char *uri;
	int rsa_kx;             /* RSA key exchange checked and enabled */
	struct hk_key *next;
};

struct hk_pool;

struct hk_engine {
	char err[HK_ERRLEN];
	struct hk_pool *pool;
	struct hk_pool_config pool_cfg;
	char *module;
	struct hk_pin *pin;
	struct hk_p11 *p11;
	struct hk_key *keys;
	atomic_uint_fast64_t sign_ok;
	atomic_uint_fast64_t sign_failed;
	atomic_uint_fast64_t decrypt_ok;
	atomic_uint_fast64_t decrypt_failed;
};

/* error.c */
void hk_seterr(struct hk_engine *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void hk_vseterr(char *buf, size_t len, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
void hk_fmterr(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* pin.c: one locked, non-dumpable copy of the PIN. */
struct hk_pin *hk_pin_read_file(const char *path, char *err, size_t errlen);
struct hk_pin *hk_pin_from_source(const char *source, char *err, size_t errlen);
const char *hk_pin_value(const struct hk_pin *pin, size_t *len);
void hk_pin_free(struct hk_pin *pin);

/* p11.c: module, token, login, objects and operations. */
struct hk_p11 *hk_p11_open(const char *module, const char *uri,
    const struct hk_pin *pin, char *err, size_t errlen);
int hk_p11_same_token(struct hk_p11 *p, const char *uri);
const char *hk_p11_token_label(const struct hk_p11 *p);
void hk_p11_close(struct hk_p11 *p);
/* Private keys matching uri; each with its public key.  cert may supply a
 * missing EC public key.  Returns the count, -1 on error. */
int hk_p11_find_keys(struct hk_p11 *p, const char *uri, X509 *cert,
    struct hk_key **list, char *err, size_t errlen);
int hk_p11_sign(struct hk_p11 *p, const struct hk_key *k, enum hk_mech mech,
    int md_nid, int saltlen, const unsigned char *in, size_t inlen,
    unsigned char *sig, size_t *siglen, char *err, size_t errlen);
void hk_p11_stats(struct hk_p11 *p, uint64_t *sessions_open);
/* The token's session limit; 0 when it has none or does not say. */
unsigned long hk_p11_max_sessions(const struct hk_p11 *p);
unsigned long hk_p11_decrypt_raw(struct hk_p11 *p, const struct hk_key *k,
    const unsigned char *in, size_t inlen, unsigned char *out, size_t outsize);
int hk_p11_rv_is_data_error(unsigned long rv);
int hk_p11_check_raw_decrypt(struct hk_p11 *p, const struct hk_key *k,
    char *err, size_t errlen);

/* key.c */
struct hk_key *hk_key_new(void);
void hk_key_free(struct hk_key *k);
int hk_key_make_pkey(struct hk_key *k);
/* Sign a digest on the token; counts the result.  0 / -1 (error raised
 * on the OpenSSL error queue). */
int hk_key_sign(const struct hk_key *k, enum hk_mech mech, int md_nid,
    int saltlen, const unsigned char *dgst, size_t dlen,
    unsigned char *sig, size_t *siglen);

/* Decrypt a TLS RSA pre-master secret: raw RSA on the token, then the
 * constant-time check.  0, or -1 only for a token failure that does not
 * depend on the ciphertext's content. */
int hk_key_decrypt_premaster(const struct hk_key *k, const unsigned char *in,
    size_t inlen, unsigned client_version, unsigned alt_version,
    unsigned char out[48]);

/* provider.c */
#define HK_PROVIDER_NAME "hsmtls"
#define HK_PARAM_KEY_REF "hsmtls-key-ref"
int hk_provider_register(void);
void hk_provider_unregister(void);

#endif /* HK_INTERNAL_H */
