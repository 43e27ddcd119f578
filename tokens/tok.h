/*
 * tok.h - internal interfaces of hsmtls-token, the provisioning tool.
 *
 * libp11 is the control plane (load module, find token, log in, init token
 * and PIN, store certificates).  The few calls libp11 cannot make with the
 * attributes we need (C_GenerateKeyPair, C_GetAttributeValue, C_FindObjects)
 * go through the CK_FUNCTION_LIST of the module libp11 already loaded.
 */
#ifndef TOK_H
#define TOK_H

#include <stddef.h>
#include <stdio.h>
#include <limits.h>
#include <libp11.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "hk_ckr.h"
#include "hk_err.h"
#include "hk_pin.h"

#define TOK_ID_MAX 64   /* longest CKA_ID accepted from --id */
#define TOK_URI_MAX 1024

/* Options shared by all subcommands; main.c checks which are allowed. */
struct tok_opts {
	const char *dir;
	const char *label;
	const char *token;
	const char *pin_file;
	const char *type;
	const char *id;
	const char *module;
	const char *key;
	const char *subject;
	const char *san;
	const char *days;
	const char *out;
	const char *cert;
	const char *usage;
	const char *new_label;
	const char *csr;
	int force;
	int chain;
	int confirm;
};

/*
 * Where a command works: the module, the token (a label from --token, or
 * the token attributes of a pkcs11: URI from --token or --key) and the PIN
 * file (--pin-file, or the URI's pin-source).
 */
struct tok_target {
	const char *module;         /* never NULL after tok_target_init */
	const char *spec;           /* --token or --key as given, for messages */
	int spec_is_uri;
	P11KitUri *uri;             /* token (and object) attributes to match */
	const char *pin_file;       /* NULL: no PIN given */
	char pin_buf[PATH_MAX];     /* pin_file's storage for a pin-source */
};

/* error.c: the first error set is the one printed (the root cause). */
void tok_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tok_err_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *tok_errmsg(void);

/* target.c */
int tok_target_init(struct tok_target *t, const struct tok_opts *o,
    const char *spec);
int tok_target_need_pin(const struct tok_target *t);
void tok_target_free(struct tok_target *t);
int tok_target_token_matches(const struct tok_target *t,
    const CK_TOKEN_INFO *ti);
int tok_hex_decode(const char *hex, unsigned char *out, size_t size,
    size_t *len);
int tok_uri(char *buf, size_t size, const char *token, const char *object,
    const unsigned char *id, size_t id_len, const char *type);

/* p11.c */
struct tok_p11 {
	const char *module;
	PKCS11_CTX *ctx;
	int loaded;
	PKCS11_SLOT *slots;
	unsigned int nslots;
	PKCS11_SLOT *slot;          /* the token's slot, after find_token */
	void *dl;                   /* our reference to the loaded module */
	CK_FUNCTION_LIST *fl;       /* that module's function list */
	CK_SESSION_HANDLE session;  /* our own session, CK_INVALID_HANDLE if none */
};

int tok_p11_load(struct tok_p11 *p, const char *module);
int tok_p11_reload_slots(struct tok_p11 *p);
int tok_p11_find_token(struct tok_p11 *p, const char *label);
int tok_p11_find_target(struct tok_p11 *p, const struct tok_target *t);
int tok_p11_login(struct tok_p11 *p, const char *pin_file, int rw);
int tok_p11_session(struct tok_p11 *p, int rw);
int tok_p11_open(struct tok_p11 *p, const struct tok_target *t, int rw);
const char *tok_p11_label(const struct tok_p11 *p);
unsigned char *tok_p11_get_bytes(struct tok_p11 *p, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_TYPE t, size_t *len);
int tok_p11_get_flag(struct tok_p11 *p, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_TYPE t);
int tok_p11_get_ulong(struct tok_p11 *p, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_TYPE t, CK_ULONG *v);
int tok_p11_object_uri(struct tok_p11 *p, CK_OBJECT_HANDLE obj, char *buf,
    size_t size);
int tok_p11_find_keys(struct tok_p11 *p, const struct tok_target *t,
    CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *count);
int tok_p11_id_used(struct tok_p11 *p, const unsigned char *id,
    size_t id_len);
int tok_p11_key_for_cert(struct tok_p11 *p, X509 *x, CK_OBJECT_HANDLE *key);
int tok_p11_free_id(struct tok_p11 *p, const unsigned char *base,
    size_t base_len, unsigned char *id, size_t *id_len);
void tok_p11_close(struct tok_p11 *p);
CK_RV tok_p11_libp11_rv(void);
void tok_p11_libp11_err(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
int tok_p11_find(struct tok_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG n,
    CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *count);
int tok_p11_label_used(struct tok_p11 *p, const char *label,
    CK_OBJECT_CLASS c1, CK_OBJECT_CLASS c2);
const char *tok_module_default(const char *module);

/* cmd_keygen.c: generation, shared with rotate */
struct tok_key_type {
	const char *name;
	CK_KEY_TYPE type;
	CK_ULONG bits;              /* RSA modulus or EC field size */
	const unsigned char *oid;   /* EC */
	size_t oid_len;
};
const struct tok_key_type *tok_key_type(const char *name);
const struct tok_key_type *tok_key_type_of(struct tok_p11 *p,
    CK_OBJECT_HANDLE key);
int tok_usage_decrypt(const char *usage, const struct tok_key_type *kt,
    int *decrypt);
int tok_keygen_on(struct tok_p11 *p, const struct tok_key_type *kt,
    const char *label, const unsigned char *id, size_t id_len, int decrypt);

/* x509.c: helpers shared by selfsign, csr, dev-ca */
const char *tok_ossl_err(void);
int tok_parse_days(const char *s, int def, int *days);
int tok_x509_name(X509_NAME *name, const char *subject);
int tok_x509_serial(X509 *x);
int tok_x509_add_ext(X509 *x, X509 *issuer, int nid, const char *value);
int tok_write_pem(const char *path, int mode, int (*write)(FILE *, void *),
    void *arg);
int tok_pem_x509(FILE *f, void *x);
X509 *tok_x509_read(const char *path);
EVP_PKEY *tok_pubkey_copy(X509_PUBKEY *xpk);
const char *tok_default_san(const char *subject, char *buf, size_t size);

/* cmd_csr.c: a CSR signed by a token key, shared with rotate */
int tok_csr_names(const char *subject, const char *san, X509_NAME **name,
    X509_EXTENSION **ext);
int tok_csr_make(const char *key_uri, const char *module,
    const char *pin_file, const X509_NAME *name, X509_EXTENSION *san,
    const char *out);

/* subcommands */
int tok_cmd_init(const struct tok_opts *o);
int tok_cmd_keygen(const struct tok_opts *o);
int tok_cmd_selfsign(const struct tok_opts *o);
int tok_cmd_import_cert(const struct tok_opts *o);
int tok_cmd_list(const struct tok_opts *o);
int tok_cmd_csr(const struct tok_opts *o);
int tok_cmd_dev_ca(const struct tok_opts *o);
int tok_cmd_check(const struct tok_opts *o);
int tok_cmd_rotate(const struct tok_opts *o);
int tok_cmd_delete(const struct tok_opts *o);

#endif /* TOK_H */
