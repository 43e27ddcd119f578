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
#include <stdint.h>
#include "hk.h"
#include "hk_custody.h"
#include "hk_err.h"
#include "hk_metrics.h"
#include "hk_pin.h"

#define HK_KEY_MAGIC 0x686b6b79u /* "hkky" */
#define HK_MAX_MODULUS 1024 /* bytes: 8192-bit RSA */
#define CKR_FUNCTION_FAILED_VALUE 0x6UL /* CKR_FUNCTION_FAILED, without pkcs11.h */

struct hk_pin;
struct hk_p11;

/* How the token is asked to sign. */
enum hk_mech {
	HK_MECH_RSA_PKCS,  /* DigestInfo || hash, CKM_RSA_PKCS */
	HK_MECH_RSA_PSS,   /* hash, CKM_RSA_PKCS_PSS */
	HK_MECH_ECDSA,     /* hash, CKM_ECDSA; r||s out */
	HK_MECH_RSA_RAW,   /* an encoded block, CKM_RSA_X_509 (PSS in software) */
};

/* How RSA-PSS signatures are made on this token. */
enum hk_pss {
	HK_PSS_TOKEN,      /* CKM_RSA_PKCS_PSS */
	HK_PSS_SOFTWARE,   /* EMSA-PSS here, raw RSA on the token */
	HK_PSS_NONE,
};

/* Mechanisms asked about with C_GetMechanismInfo. */
enum hk_p11_mech {
	HK_P11_RSA_PKCS,
	HK_P11_RSA_PSS,
	HK_P11_RSA_RAW_SIGN,
	HK_P11_RSA_RAW_DECRYPT,
	HK_P11_ECDSA,
};

struct hk_key {
	unsigned magic;
	struct hk_engine *e;
	atomic_ulong handle;    /* CK_OBJECT_HANDLE; found again after faults */
	unsigned char *id;      /* CKA_ID */
	size_t id_len;
	char *label;            /* CKA_LABEL, "" when absent */
	int type;               /* EVP_PKEY_RSA or EVP_PKEY_EC */
	EVP_PKEY *pub;          /* public key, default provider */
	EVP_PKEY *pkey;         /* the hsmtls provider's key libssl uses */
	char *uri;
	int rsa_kx;             /* RSA key exchange checked and enabled */
	enum hk_pss pss;
	struct hk_custody custody;      /* read once, at load */
	char warning[HK_ERRLEN];        /* accepted only by an allow-*: why */
	struct hk_key *next;
	struct hk_keyop_counts ops;     /* metrics.c */
	/* key daemon mode (keyd_client.c) */
	uint32_t keyd_key;              /* its number on the daemon connection */
	unsigned keyd_caps;             /* HK_KEYD_CAP_* */
	unsigned char *spki;            /* the certificate's public key, DER */
	size_t spkilen;
};

struct hk_pool;

struct hk_engine {
	char err[HK_ERRLEN];
	hk_log_fn log;
	void *log_arg;
	int allow_weak_key;
	int allow_imported_key;
	int key_refused;        /* the last load failed on the key's attributes */
	struct hk_pool *pool;
	struct hk_pool_config pool_cfg;
	char *module;
	struct hk_pin *pin;
	int pin_read;           /* hk_engine_read_pin() ran: keep its PIN */
	struct hk_p11 *p11;
	struct hk_key *keys;
	atomic_uint_fast64_t sign_ok;
	atomic_uint_fast64_t sign_failed;
	atomic_uint_fast64_t decrypt_ok;
	atomic_uint_fast64_t decrypt_failed;
	atomic_uint_fast64_t ops_cancelled;
	struct hk_metrics metrics;      /* metrics.c */
	struct hk_keyd *keyd;           /* key daemon mode: no module, no PIN */
};

/* engine.c */
void hk_seterr(struct hk_engine *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* p11.c, p11_ops.c, recover.c: the PKCS#11 boundary. */
struct hk_p11 *hk_p11_open(const char *module, const char *uri,
    const struct hk_pin *pin, struct hk_metrics *metrics, hk_log_fn log,
    void *log_arg, char *err, size_t errlen);
int hk_p11_same_token(struct hk_p11 *p, const char *uri);
const char *hk_p11_token_label(const struct hk_p11 *p);
void hk_p11_close(struct hk_p11 *p);
int hk_p11_track_key(struct hk_p11 *p, struct hk_key *k);
void hk_p11_use_key(struct hk_p11 *p, struct hk_key *k);
/* Private keys matching uri; each with its public key.  cert may supply a
 * missing EC public key.  Returns the count, -1 on error. */
int hk_p11_find_keys(struct hk_p11 *p, const char *uri, X509 *cert,
    struct hk_key **list, char *err, size_t errlen);
int hk_p11_find_cert(struct hk_p11 *p, const char *uri, unsigned char **der,
    size_t *len, char *err, size_t errlen);
/* Read the key's custody attributes into k->custody (once, at load). */
void hk_p11_key_custody(struct hk_p11 *p, struct hk_key *k);
int hk_p11_has_mech(struct hk_p11 *p, enum hk_p11_mech which);
int hk_p11_sign(struct hk_p11 *p, const struct hk_key *k, enum hk_mech mech,
    int md_nid, int saltlen, const unsigned char *in, size_t inlen,
    unsigned char *sig, size_t *siglen, char *err, size_t errlen);
void hk_p11_stats(struct hk_p11 *p, struct hk_stats *st);
/* The token's session limit; 0 when it has none or does not say. */
unsigned long hk_p11_max_sessions(const struct hk_p11 *p);
unsigned long hk_p11_decrypt_raw(struct hk_p11 *p, const struct hk_key *k,
    const unsigned char *in, size_t inlen, unsigned char *out, size_t outsize);
int hk_p11_rv_is_data_error(unsigned long rv);

/* pss.c */
int hk_pss_encode(unsigned char *block, size_t k, int modbits,
    const EVP_MD *md, const unsigned char *mhash, int saltlen);

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

/* keyd_client.c: the key daemon transport */
struct hk_keyd;
struct hk_op;
struct hk_keyd *hk_keyd_new(struct hk_engine *e, const char *path, char *err,
    size_t errlen);
void hk_keyd_free(struct hk_keyd *d);
int hk_keyd_open(struct hk_keyd *d, struct hk_key *k, X509 *cert, char *err,
    size_t errlen);
int hk_keyd_submit(struct hk_keyd *d, struct hk_op *op);
int hk_keyd_sign_sync(struct hk_keyd *d, const struct hk_key *k,
    enum hk_mech mech, int md_nid, int saltlen, const unsigned char *in,
    size_t inlen, unsigned char *sig, size_t *siglen, char *err,
    size_t errlen);
unsigned long hk_keyd_decrypt_sync(struct hk_keyd *d, const struct hk_key *k,
    const unsigned char *in, size_t inlen, unsigned char *out, size_t outlen);
void hk_keyd_stats(const struct hk_keyd *d, struct hk_stats *st);

/* provider.c */
#define HK_PROVIDER_NAME "hsmtls"
#define HK_PARAM_KEY_REF "hsmtls-key-ref"
int hk_provider_register(void);
void hk_provider_unregister(void);

#endif /* HK_INTERNAL_H */
