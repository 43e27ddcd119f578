/*
 * p11.c - module, slot, login and object helpers.
 *
 * libp11 loads the module (PKCS11_CTX_load calls C_Initialize with OS
 * locking) and logs in.  For the calls its API cannot make we use the same
 * module's CK_FUNCTION_LIST: we dlopen the path first (which also yields a
 * clean error for a file that is not a library; libp11 would print dlerror
 * on stderr itself), libp11's dlopen of the same path then returns that
 * same library, and login state is per application, so sessions we open
 * ourselves are logged in too.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>

#include "tok.h"

/* Where SoftHSMv2 2.6 looks when SOFTHSM2_CONF is unset, and its default. */
#define SOFTHSM_CONF_DEFAULT "/etc/softhsm/softhsm2.conf"
#define SOFTHSM_TOKENDIR_DEFAULT "/var/lib/softhsm/tokens/"
#define P11_WHERE_MAX 1536

const char *
tok_module_default(const char *module)
{
	return module != NULL ? module : HK_DEFAULT_MODULE;
}

/* The CK_RV libp11 left on the OpenSSL error queue (CKR_OK if none). */
CK_RV
tok_p11_libp11_rv(void)
{
	int lib = ERR_get_CKR_code();
	unsigned long e;
	CK_RV rv = CKR_OK;

	while ((e = ERR_get_error()) != 0)
		if (ERR_GET_LIB(e) == lib)
			rv = ERR_GET_REASON(e);
	return rv;
}

/* tok_err(fmt...) followed by ": CKR_..." from libp11, or " failed". */
void
tok_p11_libp11_err(const char *fmt, ...)
{
	CK_RV rv = tok_p11_libp11_rv();
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (rv != CKR_OK)
		tok_err("%s: %s", what, hk_ckr_str(rv));
	else
		tok_err("%s failed", what);
}

static int
p11_dlopen(struct tok_p11 *p)
{
	CK_C_GetFunctionList get;
	CK_RV rv;

	p->dl = dlopen(p->module, RTLD_NOW | RTLD_LOCAL);
	if (p->dl == NULL) {
		tok_err("module %s", dlerror());
		return -1;
	}
	get = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
	if (get == NULL) {
		tok_err("module %s: not a PKCS#11 module (no C_GetFunctionList)",
		    p->module);
		return -1;
	}
	rv = get(&p->fl);
	if (rv != CKR_OK || p->fl == NULL) {
		tok_err("module %s: C_GetFunctionList: %s", p->module,
		    hk_ckr_str(rv));
		p->fl = NULL;
		return -1;
	}
	return 0;
}

/* SoftHSM by what the module says of itself, else by its file name. */
static int
p11_is_softhsm(const struct tok_p11 *p)
{
	const char *base = strrchr(p->module, '/');
	CK_INFO info;

	if (p->loaded && p->fl != NULL && p->fl->C_GetInfo(&info) == CKR_OK)
		return memcmp(info.manufacturerID, "SoftHSM", 7) == 0;
	return strstr(base != NULL ? base + 1 : p->module, "softhsm") != NULL;
}

static char *
p11_trim(char *s)
{
	char *e;

	s += strspn(s, " \t");
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n", e[-1]) != NULL)
		*--e = '\0';
	return s;
}

/*
 * "; SoftHSM config: ..., token dir ...; for a token made by init ...":
 * the one thing a missing SoftHSM token most often means is a shell that
 * never ran the "export SOFTHSM2_CONF=" line init printed.  The token
 * directory is read from the file the way SoftHSM reads it (key = value,
 * '#' lines are comments).
 */
static void
p11_softhsm_where(char *buf, size_t size)
{
	const char *env = getenv("SOFTHSM2_CONF");
	const char *conf = env != NULL ? env : SOFTHSM_CONF_DEFAULT;
	char line[PATH_MAX + 64], dir[PATH_MAX], *eq;
	size_t len;
	FILE *f;

	len = (size_t)snprintf(buf, size, "; SoftHSM config: %s%s", env != NULL ?
	    "SOFTHSM2_CONF=" : "", conf);
	if (len < size && env == NULL)
		len += (size_t)snprintf(buf + len, size - len,
		    " (SOFTHSM2_CONF unset)");
	if (len < size && (f = fopen(conf, "r")) == NULL) {
		len += (size_t)snprintf(buf + len, size - len, ", cannot read "
		    "it: %s", strerror(errno));
	} else if (len < size) {
		snprintf(dir, sizeof(dir), "%s", SOFTHSM_TOKENDIR_DEFAULT);
		while (fgets(line, sizeof(line), f) != NULL) {
			if (line[0] == '#' || (eq = strchr(line, '=')) == NULL)
				continue;
			*eq = '\0';
			if (strcmp(p11_trim(line), "directories.tokendir") == 0)
				snprintf(dir, sizeof(dir), "%s", p11_trim(eq + 1));
		}
		fclose(f);
		len += (size_t)snprintf(buf + len, size - len, ", token dir %s",
		    dir);
	}
	if (len < size)
		snprintf(buf + len, size - len, "; for a token made by "
		    "'hsmtls-token init --dir DIR', run the line init printed: "
		    "export SOFTHSM2_CONF=DIR/softhsm2.conf");
}

/* "; tokens found: 'a', 'b'" (initialised ones) and, for SoftHSM, where. */
static void
p11_where(const struct tok_p11 *p, char *buf, size_t size)
{
	size_t len, n = 0;
	unsigned int i;

	len = (size_t)snprintf(buf, size, "; tokens found:");
	for (i = 0; i < p->nslots && len < size; i++) {
		PKCS11_TOKEN *t = p->slots[i].token;

		if (t == NULL || !t->initialized || t->label == NULL)
			continue;
		len += (size_t)snprintf(buf + len, size - len, "%s '%s'",
		    n++ > 0 ? "," : "", t->label);
	}
	if (len < size && n == 0)
		len += (size_t)snprintf(buf + len, size - len, " none");
	if (len < size && p11_is_softhsm(p))
		p11_softhsm_where(buf + len, size - len);
}

int
tok_p11_load(struct tok_p11 *p, const char *module)
{
	struct stat st;

	memset(p, 0, sizeof(*p));
	p->session = CK_INVALID_HANDLE;
	p->module = tok_module_default(module);
	if (strchr(p->module, '/') != NULL && stat(p->module, &st) == -1) {
		tok_err_errno("module %s", p->module);
		return -1;
	}
	p->ctx = PKCS11_CTX_new();
	if (p->ctx == NULL) {
		tok_err("out of memory");
		return -1;
	}
	if (p11_dlopen(p) == -1)
		return -1;
	ERR_clear_error();
	if (PKCS11_CTX_load(p->ctx, p->module) == -1) {
		CK_RV rv = tok_p11_libp11_rv();
		char where[P11_WHERE_MAX] = "";

		if (p11_is_softhsm(p))
			p11_softhsm_where(where, sizeof(where));
		tok_err("module %s: C_Initialize%s%s%s", p->module,
		    rv != CKR_OK ? ": " : " failed",
		    rv != CKR_OK ? hk_ckr_str(rv) : "", where);
		return -1;
	}
	p->loaded = 1;
	if (PKCS11_enumerate_slots(p->ctx, &p->slots, &p->nslots) == -1) {
		tok_p11_libp11_err("module %s: C_GetSlotList", p->module);
		return -1;
	}
	return 0;
}

/* Re-read the slot list, e.g. after C_InitToken changed it. */
int
tok_p11_reload_slots(struct tok_p11 *p)
{
	if (p->slots != NULL)
		PKCS11_release_all_slots(p->ctx, p->slots, p->nslots);
	p->slots = NULL;
	p->nslots = 0;
	p->slot = NULL;
	if (PKCS11_enumerate_slots(p->ctx, &p->slots, &p->nslots) == -1) {
		tok_p11_libp11_err("module %s: C_GetSlotList", p->module);
		return -1;
	}
	return 0;
}

/* Set p->slot to the one initialised token labelled label. */
int
tok_p11_find_token(struct tok_p11 *p, const char *label)
{
	PKCS11_SLOT *found = NULL;
	unsigned int i;

	for (i = 0; i < p->nslots; i++) {
		PKCS11_TOKEN *t = p->slots[i].token;

		if (t == NULL || !t->initialized || t->label == NULL ||
		    strcmp(t->label, label) != 0)
			continue;
		if (found != NULL) {
			tok_err("module %s: more than one token labelled '%s'",
			    p->module, label);
			return -1;
		}
		found = &p->slots[i];
	}
	if (found == NULL) {
		char where[P11_WHERE_MAX];

		p11_where(p, where, sizeof(where));
		tok_err("module %s: no token labelled '%s'%s", p->module, label,
		    where);
		return -1;
	}
	p->slot = found;
	return 0;
}

/*
 * Log in as the user with the PIN from pin_file: exactly one C_Login, never
 * retried, since each wrong try may count towards locking the PIN.
 * rw makes libp11's own sessions read-write (needed to store objects).
 */
int
tok_p11_login(struct tok_p11 *p, const char *pin_file, int rw)
{
	char err[HK_ERRLEN];
	struct hk_pin *pin;
	size_t len;
	int r;

	if ((pin = hk_pin_read_file(pin_file, err, sizeof(err))) == NULL) {
		tok_err("%s", err);
		return -1;
	}
	r = PKCS11_open_session(p->slot, rw);
	if (r == 0) {
		ERR_clear_error();
		r = PKCS11_login(p->slot, 0, hk_pin_value(pin, &len));
		if (r != 0)
			tok_p11_libp11_err("token '%s': C_Login",
			    p->slot->token->label);
	} else {
		tok_err("token '%s': cannot open a session",
		    p->slot->token->label);
	}
	hk_pin_free(pin);
	return r == 0 ? 0 : -1;
}

/* Open our own session on the token for direct function-list calls. */
int
tok_p11_session(struct tok_p11 *p, int rw)
{
	CK_FLAGS flags = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
	CK_SLOT_ID id = PKCS11_get_slotid_from_slot(p->slot);
	CK_RV rv;

	rv = p->fl->C_OpenSession(id, flags, NULL, NULL, &p->session);
	if (rv != CKR_OK) {
		p->session = CK_INVALID_HANDLE;
		tok_err("token '%s': C_OpenSession: %s", p->slot->token->label,
		    hk_ckr_str(rv));
		return -1;
	}
	return 0;
}

/* Set p->slot to the one initialised token the target names. */
int
tok_p11_find_target(struct tok_p11 *p, const struct tok_target *t)
{
	PKCS11_SLOT *found = NULL;
	CK_TOKEN_INFO ti;
	unsigned int i;

	if (!t->spec_is_uri)
		return tok_p11_find_token(p, t->spec);
	for (i = 0; i < p->nslots; i++) {
		if (p->slots[i].token == NULL ||
		    p->fl->C_GetTokenInfo(PKCS11_get_slotid_from_slot(
		    &p->slots[i]), &ti) != CKR_OK ||
		    !tok_target_token_matches(t, &ti))
			continue;
		if (found != NULL) {
			tok_err("module %s: more than one token matches '%s'",
			    p->module, t->spec);
			return -1;
		}
		found = &p->slots[i];
	}
	if (found == NULL) {
		char where[P11_WHERE_MAX];

		p11_where(p, where, sizeof(where));
		tok_err("module %s: no token matches '%s'%s", p->module,
		    t->spec, where);
		return -1;
	}
	p->slot = found;
	return 0;
}

/* load + find token + log in + own session: what most commands need. */
int
tok_p11_open(struct tok_p11 *p, const struct tok_target *t, int rw)
{
	if (tok_target_need_pin(t) == -1 ||
	    tok_p11_load(p, t->module) == -1 ||
	    tok_p11_find_target(p, t) == -1 ||
	    tok_p11_login(p, t->pin_file, rw) == -1 ||
	    tok_p11_session(p, rw) == -1)
		return -1;
	return 0;
}

const char *
tok_p11_label(const struct tok_p11 *p)
{
	return p->slot != NULL && p->slot->token->label != NULL ?
	    p->slot->token->label : "?";
}

/* Safe on a zeroed or partly opened struct. */
void
tok_p11_close(struct tok_p11 *p)
{
	if (p->loaded && p->session != CK_INVALID_HANDLE)
		p->fl->C_CloseSession(p->session);
	p->session = CK_INVALID_HANDLE;
	if (p->slots != NULL)
		PKCS11_release_all_slots(p->ctx, p->slots, p->nslots);
	p->slots = NULL;
	p->slot = NULL;
	/* C_Finalize before exit: SoftHSM must not be torn down by atexit. */
	if (p->loaded)
		PKCS11_CTX_unload(p->ctx);
	p->loaded = 0;
	if (p->ctx != NULL)
		PKCS11_CTX_free(p->ctx);
	p->ctx = NULL;
	p->fl = NULL;
	/* Our reference goes last: the module stays mapped until libp11 is done. */
	if (p->dl != NULL)
		dlclose(p->dl);
	p->dl = NULL;
}

/* All objects matching tmpl, at most max of them, in our session. */
int
tok_p11_find(struct tok_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG n,
    CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *count)
{
	CK_ULONG got;
	CK_RV rv;

	*count = 0;
	rv = p->fl->C_FindObjectsInit(p->session, tmpl, n);
	if (rv != CKR_OK) {
		tok_err("C_FindObjectsInit: %s", hk_ckr_str(rv));
		return -1;
	}
	do {
		rv = p->fl->C_FindObjects(p->session, objs + *count,
		    max - *count, &got);
		if (rv == CKR_OK)
			*count += got;
	} while (rv == CKR_OK && got > 0 && *count < max);
	p->fl->C_FindObjectsFinal(p->session);
	if (rv != CKR_OK) {
		tok_err("C_FindObjects: %s", hk_ckr_str(rv));
		return -1;
	}
	return 0;
}

static int
p11_class_label_used(struct tok_p11 *p, const char *label, CK_OBJECT_CLASS c)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &c, sizeof(c) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE obj;
	CK_ULONG count;

	if (tok_p11_find(p, tmpl, 2, &obj, 1, &count) == -1)
		return -1;
	return count > 0;
}

/* 1 if an object of class c1 or c2 has this label, 0 if none, -1 on error */
int
tok_p11_label_used(struct tok_p11 *p, const char *label, CK_OBJECT_CLASS c1,
    CK_OBJECT_CLASS c2)
{
	int r = p11_class_label_used(p, label, c1);

	if (r == 0 && c2 != c1)
		r = p11_class_label_used(p, label, c2);
	return r;
}

/* A variable-length attribute, malloc'd and NUL-terminated; NULL if absent. */
unsigned char *
tok_p11_get_bytes(struct tok_p11 *p, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE t,
    size_t *len)
{
	CK_ATTRIBUTE a = { t, NULL, 0 };
	unsigned char *v;

	*len = 0;
	if (p->fl->C_GetAttributeValue(p->session, obj, &a, 1) != CKR_OK ||
	    a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return NULL;
	if ((v = malloc(a.ulValueLen + 1)) == NULL)
		return NULL;
	a.pValue = v;
	if (p->fl->C_GetAttributeValue(p->session, obj, &a, 1) != CKR_OK) {
		free(v);
		return NULL;
	}
	v[a.ulValueLen] = '\0';
	*len = a.ulValueLen;
	return v;
}

/* 1 or 0; -1 when the module does not report it. */
int
tok_p11_get_flag(struct tok_p11 *p, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE t)
{
	CK_BBOOL b = CK_FALSE;
	CK_ATTRIBUTE a = { t, &b, sizeof(b) };

	if (p->fl->C_GetAttributeValue(p->session, obj, &a, 1) != CKR_OK ||
	    a.ulValueLen != sizeof(b))
		return -1;
	return b ? 1 : 0;
}

int
tok_p11_get_ulong(struct tok_p11 *p, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE t,
    CK_ULONG *v)
{
	CK_ATTRIBUTE a = { t, v, sizeof(*v) };
	CK_RV rv = p->fl->C_GetAttributeValue(p->session, obj, &a, 1);

	if (rv != CKR_OK || a.ulValueLen != sizeof(*v)) {
		tok_err("token '%s': C_GetAttributeValue(0x%lx): %s",
		    tok_p11_label(p), (unsigned long)t, hk_ckr_str(rv));
		return -1;
	}
	return 0;
}

static const char *
class_type(CK_OBJECT_CLASS c)
{
	switch (c) {
	case CKO_PRIVATE_KEY: return "private";
	case CKO_PUBLIC_KEY: return "public";
	case CKO_SECRET_KEY: return "secret-key";
	case CKO_CERTIFICATE: return "cert";
	case CKO_DATA: return "data";
	default: return NULL;
	}
}

/* pkcs11:token=..;object=..;id=..;type=.. for an object in our session. */
int
tok_p11_object_uri(struct tok_p11 *p, CK_OBJECT_HANDLE obj, char *buf,
    size_t size)
{
	unsigned char *label = NULL, *id = NULL;
	size_t label_len, id_len;
	CK_ULONG c;
	int ret = -1;

	if (tok_p11_get_ulong(p, obj, CKA_CLASS, &c) == -1)
		return -1;
	label = tok_p11_get_bytes(p, obj, CKA_LABEL, &label_len);
	id = tok_p11_get_bytes(p, obj, CKA_ID, &id_len);
	ret = tok_uri(buf, size, tok_p11_label(p),
	    label != NULL && label_len > 0 ? (char *)label : NULL, id, id_len,
	    class_type(c));
	free(label);
	free(id);
	return ret;
}

/* Private keys matching the target URI's object attributes (all if none). */
int
tok_p11_find_keys(struct tok_p11 *p, const struct tok_target *t,
    CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *count)
{
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[8], *ua;
	CK_ULONG nu = 0, nt = 0, i;

	ua = t->spec_is_uri ? p11_kit_uri_get_attributes(t->uri, &nu) : NULL;
	for (i = 0; i < nu && nt < 7; i++) {
		if (ua[i].type == CKA_CLASS) {
			if (ua[i].ulValueLen != sizeof(priv) ||
			    memcmp(ua[i].pValue, &priv, sizeof(priv)) != 0) {
				tok_err("'%s' does not name a private key "
				    "(want type=private)", t->spec);
				return -1;
			}
			continue;
		}
		tmpl[nt++] = ua[i];
	}
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_CLASS, &priv, sizeof(priv) };
	return tok_p11_find(p, tmpl, nt, objs, max, count);
}

/* 1 if any object has this CKA_ID, 0 if none, -1 on error. */
int
tok_p11_id_used(struct tok_p11 *p, const unsigned char *id, size_t id_len)
{
	CK_ATTRIBUTE tmpl[] = { { CKA_ID, (void *)id, id_len } };
	CK_OBJECT_HANDLE obj;
	CK_ULONG count;

	if (tok_p11_find(p, tmpl, 1, &obj, 1, &count) == -1)
		return -1;
	return count > 0;
}

/*
 * The first unused id after base, counting as a big-endian number of the
 * same length (01 -> 02 -> ...), or 01 with no base: short, predictable ids
 * an operator can type, never one already on the token.
 */
int
tok_p11_free_id(struct tok_p11 *p, const unsigned char *base, size_t base_len,
    unsigned char *id, size_t *id_len)
{
	size_t i;
	int used, tries;

	if (base_len == 0 || base_len > TOK_ID_MAX) {
		id[0] = 0;
		*id_len = 1;
	} else {
		memcpy(id, base, base_len);
		*id_len = base_len;
	}
	for (tries = 0; tries < 4096; tries++) {
		for (i = *id_len; i-- > 0;)
			if (++id[i] != 0)
				break;
		if ((used = tok_p11_id_used(p, id, *id_len)) == -1)
			return -1;
		if (!used)
			return 0;
	}
	tok_err("token '%s': no free key id found", tok_p11_label(p));
	return -1;
}
