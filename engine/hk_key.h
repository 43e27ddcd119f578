/*
 * hk_key.h - the key object every layer shares (key.c): what the token
 * layer found, what a transport needs to name the key, what the provider
 * reads.  No PKCS#11 types: a token object is an opaque handle here.
 */
#ifndef HK_KEY_H
#define HK_KEY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "hk.h"
#include "hk_custody.h"
#include "hk_err.h"
#include "hk_metrics.h"

#define HK_KEY_MAGIC 0x686b6b79u /* "hkky" */
#define HK_MAX_MODULUS 1024 /* bytes: 8192-bit RSA */

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

struct hk_xport;

struct hk_key {
	unsigned magic;
	struct hk_engine *e;
	struct hk_xport *xport; /* how its operations are carried (hk_xport.h) */
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

/* key.c */
struct hk_key *hk_key_new(void);
void hk_key_free(struct hk_key *k);

/* pss.c */
int hk_pss_encode(unsigned char *block, size_t k, int modbits,
    const EVP_MD *md, const unsigned char *mhash, int saltlen);

#endif /* HK_KEY_H */
