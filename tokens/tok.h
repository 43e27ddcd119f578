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
#include <libp11.h>
#include <p11-kit/pkcs11.h>

#define TOK_PIN_MAX 256 /* longest PIN we read, excluding the line ending */
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
	int force;
};

/* error.c: the first error set is the one printed (the root cause). */
void tok_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tok_err_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *tok_errmsg(void);

/* pin.c */
int tok_pin_read(const char *path, char *pin, size_t size);
void tok_pin_wipe(char *pin, size_t size);

/* uri.c */
int tok_hex_decode(const char *hex, unsigned char *out, size_t size,
    size_t *len);
int tok_uri(char *buf, size_t size, const char *token, const char *object,
    const unsigned char *id, size_t id_len, const char *type);

/* ckr.c */
const char *tok_ckr_name(CK_RV rv);

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
int tok_p11_login(struct tok_p11 *p, const char *pin_file, int rw);
int tok_p11_session(struct tok_p11 *p, int rw);
int tok_p11_open(struct tok_p11 *p, const struct tok_opts *o, int rw);
void tok_p11_close(struct tok_p11 *p);
CK_RV tok_p11_libp11_rv(void);
void tok_p11_libp11_err(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
int tok_p11_find(struct tok_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG n,
    CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *count);
int tok_p11_label_used(struct tok_p11 *p, const char *label,
    CK_OBJECT_CLASS c1, CK_OBJECT_CLASS c2);
const char *tok_module_default(const char *module);

/* subcommands */
int tok_cmd_init(const struct tok_opts *o);
int tok_cmd_keygen(const struct tok_opts *o);
int tok_cmd_selfsign(const struct tok_opts *o);
int tok_cmd_import_cert(const struct tok_opts *o);
int tok_cmd_list(const struct tok_opts *o);

#endif /* TOK_H */
