/*
 * p11.c - the PKCS#11 control plane: module, token, login, objects.
 *
 * libp11 loads the module (C_Initialize with OS locking).  Everything
 * else, the slot list included, uses our own calls and sessions on the
 * loaded module's function list: libp11's slot list is not used, because
 * releasing it calls C_CloseAllSessions on every slot it holds, which
 * would log out the other tokens of a module that several engines share
 * (one token's recovery must not disturb another's).  We log in ourselves rather than through PKCS11_login()
 * because libp11 0.4.12 keeps its own unlocked heap copy of the PIN for
 * re-login; the only copy here is the locked page in pin.c.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include "p11_internal.h"

uint64_t
hk_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
hk_p11_log(struct hk_p11 *p, const char *fmt, ...)
{
	char msg[HK_ERRLEN];
	va_list ap;

	if (p->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->log(p->log_arg, msg);
}

static void
trim_label(char *dst, const unsigned char *src, size_t n)
{
	memcpy(dst, src, n);
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

/* Our handle on the library first, for a precise error and the function
 * list; libp11's load of the same path then shares the same copy. */
static int
open_library(struct hk_p11 *p, char *err, size_t errlen)
{
	CK_C_GetFunctionList getfl;

	if ((p->dl = dlopen(p->module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		hk_fmterr(err, errlen, "cannot load PKCS#11 module: %s",
		    dlerror());
		return -1;
	}
	getfl = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
	if (getfl == NULL || getfl(&p->f) != CKR_OK || p->f == NULL) {
		hk_fmterr(err, errlen, "'%s' is not a PKCS#11 module "
		    "(no C_GetFunctionList)", p->module);
		return -1;
	}
	return 0;
}

/*
 * One libp11 context per module path in the process, shared by every
 * token of that module (several token blocks may name the same module,
 * e.g. two SoftHSM tokens).  C_Initialize runs when the first user loads
 * it and C_Finalize when the last one unloads it, so recovering one token
 * never finalizes the module under another token's sessions.
 */
struct hk_module {
	char *path;
	PKCS11_CTX *ctx;
	int users;
	struct hk_module *next;
};

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hk_module *modules;

static struct hk_module *
module_get(const char *path, char *err, size_t errlen)
{
	struct hk_module *m;

	for (m = modules; m != NULL; m = m->next)
		if (strcmp(m->path, path) == 0)
			break;
	if (m == NULL) {
		if ((m = calloc(1, sizeof(*m))) == NULL ||
		    (m->path = strdup(path)) == NULL) {
			free(m);
			hk_fmterr(err, errlen, "out of memory");
			return NULL;
		}
		m->next = modules;
		modules = m;
	}
	if (m->users == 0) {
		if ((m->ctx = PKCS11_CTX_new()) == NULL ||
		    PKCS11_CTX_load(m->ctx, path) != 0) {
			if (m->ctx != NULL)
				PKCS11_CTX_free(m->ctx);
			m->ctx = NULL;
			hk_fmterr(err, errlen, "PKCS#11 module '%s': "
			    "C_Initialize failed", path);
			return NULL;
		}
	}
	m->users++;
	return m;
}

static void
module_put(PKCS11_CTX *ctx)
{
	struct hk_module **pp, *m;

	for (pp = &modules; (m = *pp) != NULL; pp = &m->next)
		if (m->ctx == ctx)
			break;
	if (m == NULL || --m->users > 0)
		return;
	PKCS11_CTX_unload(m->ctx);
	PKCS11_CTX_free(m->ctx);
	*pp = m->next;
	free(m->path);
	free(m);
}

/* Keep the module as it is (no reset by the prober) until unhold. */
void
hk_p11_hold(struct hk_p11 *p)
{
	pthread_rwlock_rdlock(&p->rw);
}

void
hk_p11_unhold(struct hk_p11 *p)
{
	pthread_rwlock_unlock(&p->rw);
}

/* C_Initialize, through libp11, once per module. */
int
hk_p11_load(struct hk_p11 *p, char *err, size_t errlen)
{
	CK_C_INITIALIZE_ARGS args;
	struct hk_module *m;
	CK_INFO info;
	CK_RV rv;

	pthread_mutex_lock(&modules_lock);
	if ((m = module_get(p->module, err, errlen)) == NULL) {
		pthread_mutex_unlock(&modules_lock);
		return -1;
	}
	p->ctx = m->ctx;
	pthread_mutex_unlock(&modules_lock);
	/* Some modules (p11-kit-client.so) give each C_GetFunctionList()
	 * caller an instance of its own, which libp11's C_Initialize did not
	 * reach: ours is then initialised here, and finalised by us. */
	if (p->f->C_GetInfo(&info) == CKR_CRYPTOKI_NOT_INITIALIZED) {
		memset(&args, 0, sizeof(args));
		args.flags = CKF_OS_LOCKING_OK;
		if ((rv = p->f->C_Initialize(&args)) != CKR_OK) {
			hk_fmterr(err, errlen, "PKCS#11 module '%s': "
			    "C_Initialize: %s", p->module, hk_ckr_str(rv));
			hk_p11_unload(p);
			return -1;
		}
		p->own_init = 1;
	}
	return 0;
}

/* C_Finalize if no other token uses the module.  The caller has closed
 * our sessions and holds rw for writing (or is alone). */
void
hk_p11_unload(struct hk_p11 *p)
{
	if (p->ctx == NULL)
		return;
	if (p->own_init) {
		(void)p->f->C_Finalize(NULL);
		p->own_init = 0;
	}
	pthread_mutex_lock(&modules_lock);
	module_put(p->ctx);
	p->ctx = NULL;
	pthread_mutex_unlock(&modules_lock);
}

/* Exactly one initialised token must match the URI's token attributes. */
int
hk_p11_select(struct hk_p11 *p, char *err, size_t errlen)
{
	CK_SLOT_ID sid, *ids = NULL;
	CK_ULONG i, n = 0;
	CK_TOKEN_INFO ti;
	P11KitUri *uri;
	unsigned int found = 0;
	CK_RV rv;

	if ((uri = hk_uri_parse(p->uri, err, errlen)) == NULL)
		return -1;
	/* Slots with a token present; the list may grow between the calls. */
	for (;;) {
		if ((rv = p->f->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK)
			break;
		free(ids);
		if ((ids = calloc(n + 1, sizeof(*ids))) == NULL) {
			p11_kit_uri_free(uri);
			hk_fmterr(err, errlen, "out of memory");
			return -1;
		}
		if ((rv = p->f->C_GetSlotList(CK_TRUE, ids, &n)) !=
		    CKR_BUFFER_TOO_SMALL)
			break;
	}
	if (rv != CKR_OK) {
		free(ids);
		p11_kit_uri_free(uri);
		hk_fmterr(err, errlen, "PKCS#11 module '%s': C_GetSlotList: %s",
		    p->module, hk_ckr_str(rv));
		return -1;
	}
	for (i = 0; i < n; i++) {
		sid = ids[i];
		if (p->f->C_GetTokenInfo(sid, &ti) != CKR_OK ||
		    !(ti.flags & CKF_TOKEN_INITIALIZED) ||
		    !p11_kit_uri_match_token_info(uri, &ti))
			continue;
		if (found++ == 0) {
			p->slot_id = sid;
			p->info = ti;
		}
	}
	free(ids);
	p11_kit_uri_free(uri);
	if (found == 0) {
		hk_fmterr(err, errlen, "no token matches '%s'", p->uri);
		return -1;
	}
	if (found > 1) {
		hk_fmterr(err, errlen, "%u tokens match '%s'; name one with "
		    "token=, serial= or slot-id=", found, p->uri);
		return -1;
	}
	/* Named once, at the first select: operations and logs read the name
	 * without a lock, so a recovery (which selects again, as the same URI
	 * finds the same token) must not rewrite it under them. */
	if (p->label[0] == '\0')
		trim_label(p->label, p->info.label, sizeof(p->info.label));
	return 0;
}

/*
 * Open the control session and log in: one C_Login, never retried, and
 * none at all when the token warns that a wrong PIN could lock it.  A
 * refused PIN blocks every later login until the engine is rebuilt.
 */
CK_RV
hk_p11_login(struct hk_p11 *p, char *err, size_t errlen)
{
	CK_SESSION_INFO si;
	const char *value;
	CK_TOKEN_INFO ti;
	size_t len;
	CK_RV rv;

	/* A control session that still works is kept: the session copies of
	 * keys belong to it. */
	if (p->have_control &&
	    p->f->C_GetSessionInfo(p->control, &si) != CKR_OK) {
		p->f->C_CloseSession(p->control);
		p->have_control = 0;
	}
	if (!p->have_control) {
		rv = p->f->C_OpenSession(p->slot_id, CKF_SERIAL_SESSION, NULL,
		    NULL, &p->control);
		if (rv != CKR_OK) {
			hk_metrics_fault(p->metrics, rv);
			hk_fmterr(err, errlen, "token '%s': C_OpenSession: %s",
			    p->label, hk_ckr_str(rv));
			return rv;
		}
		p->have_control = 1;
	}
	if ((rv = p->f->C_GetTokenInfo(p->slot_id, &ti)) != CKR_OK) {
		hk_fmterr(err, errlen, "token '%s': C_GetTokenInfo: %s",
		    p->label, hk_ckr_str(rv));
		return rv;
	}
	if (!(ti.flags & CKF_LOGIN_REQUIRED))
		return CKR_OK;
	if (p->pin == NULL) {
		hk_fmterr(err, errlen, "token '%s' needs a login: give "
		    "--pin-file or pin-source in the key URI", p->label);
		return CKR_USER_NOT_LOGGED_IN;
	}
	if (atomic_load(&p->login_blocked)) {
		hk_fmterr(err, errlen, "token '%s': not logging in again after "
		    "a refused PIN; fix the PIN and reload", p->label);
		return CKR_PIN_INCORRECT;
	}
	if (ti.flags & CKF_USER_PIN_LOCKED) {
		atomic_store(&p->login_blocked, 1);
		hk_fmterr(err, errlen, "token '%s': the user PIN is locked",
		    p->label);
		return CKR_PIN_LOCKED;
	}
	if (ti.flags & CKF_USER_PIN_FINAL_TRY) {
		atomic_store(&p->login_blocked, 1);
		hk_fmterr(err, errlen, "token '%s': refusing to log in: one "
		    "more wrong PIN would lock it (PIN final try)", p->label);
		return CKR_PIN_LOCKED;
	}
	value = hk_pin_value(p->pin, &len);
	rv = p->f->C_Login(p->control, CKU_USER, (CK_UTF8CHAR_PTR)value, len);
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		return CKR_OK;
	if (rv != CKR_OK)
		hk_metrics_fault(p->metrics, rv);
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ||
	    rv == CKR_PIN_EXPIRED || rv == CKR_PIN_INVALID ||
	    rv == CKR_PIN_LEN_RANGE)
		atomic_store(&p->login_blocked, 1);
	if (rv != CKR_OK)
		hk_fmterr(err, errlen, "token '%s': C_Login: %s (not retried)",
		    p->label, hk_ckr_str(rv));
	return rv;
}

/* Close every session of ours, for shutdown and re-initialisation. */
void
hk_p11_close_sessions(struct hk_p11 *p)
{
	size_t i;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->nidle; i++)
		p->f->C_CloseSession(p->idle[i]);
	p->nopen -= p->nidle;
	p->nidle = 0;
	if (p->have_control) {
		p->f->C_CloseSession(p->control);
		p->have_control = 0;
	}
	pthread_mutex_unlock(&p->lock);
}

/*
 * SoftHSM's file store reads the key's file again on every operation
 * (about a dozen file system calls per signature).  A session copy of the
 * key (C_CopyObject with CKA_TOKEN false) lives in the module's memory and
 * is just as non-extractable and sensitive: the attributes cannot be
 * weakened by copying.  Other modules keep using the token object.
 */
static int
decide_copies(struct hk_p11 *p)
{
	CK_INFO info;

	p->copy_keys = p->f->C_GetInfo(&info) == CKR_OK &&
	    memcmp(info.manufacturerID, "SoftHSM", 7) == 0;
	return 0;
}

/* A session copy of a token key (under p->lock), or h itself when the
 * module keeps no copies or refuses one. */
CK_OBJECT_HANDLE
hk_p11_session_copy(struct hk_p11 *p, CK_OBJECT_HANDLE h)
{
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE t[] = { { CKA_TOKEN, &no, sizeof(no) } };
	CK_OBJECT_HANDLE copy;

	if (!p->copy_keys ||
	    p->f->C_CopyObject(p->control, h, t, 1, &copy) != CKR_OK)
		return h;
	return copy;
}

/* Operations use the key's session copy from now on, where there is one. */
void
hk_p11_use_key(struct hk_p11 *p, struct hk_key *k)
{
	pthread_mutex_lock(&p->lock);
	atomic_store(&k->handle, hk_p11_session_copy(p,
	    atomic_load(&k->handle)));
	pthread_mutex_unlock(&p->lock);
}

struct hk_p11 *
hk_p11_open(const char *module, const char *s, const struct hk_pin *pin,
    struct hk_metrics *metrics, hk_log_fn log, void *log_arg, char *err,
    size_t errlen)
{
	struct hk_p11 *p;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		hk_fmterr(err, errlen, "out of memory");
		return NULL;
	}
	pthread_rwlock_init(&p->rw, NULL);
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->login_lock, NULL);
	pthread_mutex_init(&p->plock, NULL);
	pthread_cond_init(&p->pwake, NULL);
	atomic_init(&p->up, 1);
	p->pin = pin;
	p->metrics = metrics;
	p->log = log;
	p->log_arg = log_arg;
	if ((p->module = strdup(module)) == NULL ||
	    (p->uri = strdup(s)) == NULL) {
		hk_fmterr(err, errlen, "out of memory");
		goto err;
	}
	if (open_library(p, err, errlen) != 0 ||
	    hk_p11_load(p, err, errlen) != 0 ||
	    decide_copies(p) != 0 ||
	    hk_p11_select(p, err, errlen) != 0 ||
	    hk_p11_login(p, err, errlen) != CKR_OK ||
	    hk_p11_start_prober(p) != 0)
		goto err;
	return p;
err:
	hk_p11_close(p);
	return NULL;
}

int
hk_p11_same_token(struct hk_p11 *p, const char *s)
{
	P11KitUri *uri;
	char err[HK_ERRLEN];
	int same;

	if ((uri = hk_uri_parse(s, err, sizeof(err))) == NULL)
		return 0;
	same = p11_kit_uri_match_token_info(uri, &p->info);
	p11_kit_uri_free(uri);
	return same;
}

unsigned long
hk_p11_max_sessions(const struct hk_p11 *p)
{
	CK_ULONG m = p->info.ulMaxSessionCount;

	return m == CK_EFFECTIVELY_INFINITE || m == CK_UNAVAILABLE_INFORMATION ?
	    0 : m;
}

const char *
hk_p11_token_label(const struct hk_p11 *p)
{
	return p->label;
}

void
hk_p11_close(struct hk_p11 *p)
{
	if (p == NULL)
		return;
	hk_p11_stop_prober(p);
	if (p->f != NULL) {
		if (p->have_control)
			p->f->C_Logout(p->control);
		hk_p11_close_sessions(p);
	}
	hk_p11_unload(p);
	if (p->dl != NULL)
		dlclose(p->dl);
	free(p->keys);
	free(p->module);
	free(p->uri);
	pthread_rwlock_destroy(&p->rw);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->login_lock);
	pthread_mutex_destroy(&p->plock);
	pthread_cond_destroy(&p->pwake);
	free(p);
}

/* Keys the token must find again after a fault or a re-initialisation. */
int
hk_p11_track_key(struct hk_p11 *p, struct hk_key *k)
{
	struct hk_key **keys;

	pthread_mutex_lock(&p->lock);
	keys = realloc(p->keys, (p->nkeys + 1) * sizeof(*keys));
	if (keys != NULL) {
		keys[p->nkeys++] = k;
		p->keys = keys;
	}
	pthread_mutex_unlock(&p->lock);
	return keys != NULL ? 0 : -1;
}

/* ---- objects ---- */

/* Read one attribute into a new buffer; caller frees. */
CK_RV
hk_p11_get_attr(struct hk_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
    CK_ATTRIBUTE_TYPE type, unsigned char **val, size_t *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv;

	*val = NULL;
	*len = 0;
	rv = p->f->C_GetAttributeValue(s, h, &a, 1);
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	if ((a.pValue = malloc(a.ulValueLen + 1)) == NULL)
		return CKR_HOST_MEMORY;
	rv = p->f->C_GetAttributeValue(s, h, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return rv;
	}
	((unsigned char *)a.pValue)[a.ulValueLen] = '\0';
	*val = a.pValue;
	*len = a.ulValueLen;
	return CKR_OK;
}

CK_RV
hk_p11_find(struct hk_p11 *p, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl,
    CK_ULONG n, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *found)
{
	CK_RV rv;

	*found = 0;
	rv = p->f->C_FindObjectsInit(s, tmpl, n);
	if (rv != CKR_OK)
		return rv;
	rv = p->f->C_FindObjects(s, out, max, found);
	p->f->C_FindObjectsFinal(s);
	return rv;
}

static EVP_PKEY *
pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto end;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, type, "provider=default");
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
end:
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static EVP_PKEY *
rsa_public(struct hk_p11 *p, CK_OBJECT_HANDLE h)
{
	unsigned char *n = NULL, *e = NULL;
	size_t nlen, elen;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	if (hk_p11_get_attr(p, p->control, h, CKA_MODULUS, &n, &nlen) != CKR_OK ||
	    hk_p11_get_attr(p, p->control, h, CKA_PUBLIC_EXPONENT, &e, &elen) !=
	    CKR_OK)
		goto end;
	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	if (bn == NULL || be == NULL || (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		goto end;
	pkey = pkey_fromdata("RSA", bld);
end:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return pkey;
}

/* CKA_EC_POINT is a DER OCTET STRING (PKCS#11 2.40); some tokens send raw. */
static EVP_PKEY *
ec_from_point(const char *group, const unsigned char *pt, size_t len)
{
	const unsigned char *q = pt;
	ASN1_OCTET_STRING *os = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)len);
	if (os != NULL && q == pt + len) {
		pt = ASN1_STRING_get0_data(os);
		len = (size_t)ASN1_STRING_length(os);
	}
	if ((bld = OSSL_PARAM_BLD_new()) != NULL &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pt, len))
		pkey = pkey_fromdata("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	ASN1_OCTET_STRING_free(os);
	return pkey;
}

/* The group from the private key's CKA_EC_PARAMS (a named-curve OID). */
static const char *
ec_group(struct hk_p11 *p, CK_OBJECT_HANDLE h)
{
	unsigned char *der = NULL;
	const unsigned char *q;
	ASN1_OBJECT *oid = NULL;
	const char *name = NULL;
	size_t len;

	if (hk_p11_get_attr(p, p->control, h, CKA_EC_PARAMS, &der, &len) != CKR_OK)
		return NULL;
	q = der;
	if ((oid = d2i_ASN1_OBJECT(NULL, &q, (long)len)) != NULL)
		name = OBJ_nid2sn(OBJ_obj2nid(oid));
	ASN1_OBJECT_free(oid);
	free(der);
	return name;
}

/*
 * EC private keys carry no point: take it from the public key object with
 * the same CKA_ID, else from the certificate when its group matches.
 */
static EVP_PKEY *
ec_public(struct hk_p11 *p, CK_OBJECT_HANDLE h, const struct hk_key *k,
    X509 *cert)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, k->id, k->id_len },
	};
	CK_OBJECT_HANDLE pub;
	CK_ULONG n = 0;
	unsigned char *pt = NULL;
	size_t len;
	const char *group = ec_group(p, h);
	EVP_PKEY *pkey = NULL, *cpub;
	char cgroup[64];

	if (group == NULL)
		return NULL;
	if (hk_p11_find(p, p->control, tmpl, 2, &pub, 1, &n) == CKR_OK && n == 1 &&
	    hk_p11_get_attr(p, p->control, pub, CKA_EC_POINT, &pt, &len) == CKR_OK)
		pkey = ec_from_point(group, pt, len);
	free(pt);
	if (pkey != NULL || cert == NULL)
		return pkey;
	cpub = X509_get0_pubkey(cert);
	if (cpub != NULL && EVP_PKEY_is_a(cpub, "EC") &&
	    EVP_PKEY_get_utf8_string_param(cpub, OSSL_PKEY_PARAM_GROUP_NAME,
	    cgroup, sizeof(cgroup), NULL) &&
	    OBJ_sn2nid(cgroup) == OBJ_sn2nid(group) && EVP_PKEY_up_ref(cpub))
		pkey = cpub;
	return pkey;
}

static struct hk_key *
describe_key(struct hk_p11 *p, CK_OBJECT_HANDLE h, X509 *cert)
{
	struct hk_key *k;
	unsigned char *kt = NULL, *label = NULL;
	size_t ktlen, llen;
	CK_KEY_TYPE type;

	if ((k = hk_key_new()) == NULL)
		return NULL;
	atomic_init(&k->handle, h);
	if (hk_p11_get_attr(p, p->control, h, CKA_KEY_TYPE, &kt, &ktlen) != CKR_OK ||
	    ktlen != sizeof(type))
		goto err;
	memcpy(&type, kt, sizeof(type));
	if (hk_p11_get_attr(p, p->control, h, CKA_ID, &k->id, &k->id_len) != CKR_OK)
		k->id_len = 0;
	if (hk_p11_get_attr(p, p->control, h, CKA_LABEL, &label, &llen) != CKR_OK)
		label = (unsigned char *)strdup("");
	k->label = (char *)label;
	if (type == CKK_RSA) {
		k->type = EVP_PKEY_RSA;
		k->pub = rsa_public(p, h);
	} else if (type == CKK_EC) {
		k->type = EVP_PKEY_EC;
		k->pub = ec_public(p, h, k, cert);
	}
	if (k->pub == NULL || k->label == NULL)
		goto err;
	free(kt);
	return k;
err:
	free(kt);
	hk_key_free(k);
	return NULL;
}

/*
 * The URI's object attributes as a C_FindObjects template for token
 * objects (never our session copies) of class *cls; returns the count.
 * The template points into uri, cls and yes.
 */
static CK_ULONG
uri_template(P11KitUri *uri, const CK_OBJECT_CLASS *cls, const CK_BBOOL *yes,
    CK_ATTRIBUTE *tmpl, CK_ULONG max)
{
	CK_ATTRIBUTE *uattrs;
	CK_ULONG nu = 0, nt = 0, i;

	uattrs = p11_kit_uri_get_attributes(uri, &nu);
	for (i = 0; i < nu && nt < max - 2; i++)
		if (uattrs[i].type != CKA_CLASS && uattrs[i].type != CKA_TOKEN)
			tmpl[nt++] = uattrs[i];
	tmpl[nt].type = CKA_CLASS;
	tmpl[nt].pValue = (void *)cls;
	tmpl[nt++].ulValueLen = sizeof(*cls);
	tmpl[nt].type = CKA_TOKEN;
	tmpl[nt].pValue = (void *)yes;
	tmpl[nt++].ulValueLen = sizeof(*yes);
	return nt;
}

int
hk_p11_find_keys(struct hk_p11 *p, const char *s, X509 *cert,
    struct hk_key **list, char *err, size_t errlen)
{
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[16];
	CK_OBJECT_HANDLE h[FIND_MAX];
	CK_ULONG nt, n = 0, i;
	P11KitUri *uri;
	struct hk_key *k;
	long cls;
	int count = 0;
	CK_RV rv;

	*list = NULL;
	if ((uri = hk_uri_parse(s, err, errlen)) == NULL)
		return -1;
	cls = hk_uri_class(uri);
	if (cls != -1 && cls != CKO_PRIVATE_KEY) {
		hk_fmterr(err, errlen, "'%s' does not name a private key "
		    "(want type=private)", s);
		p11_kit_uri_free(uri);
		return -1;
	}
	nt = uri_template(uri, &priv, &yes, tmpl, 16);
	pthread_mutex_lock(&p->lock);
	rv = hk_p11_find(p, p->control, tmpl, nt, h, FIND_MAX, &n);
	for (i = 0; rv == CKR_OK && i < n; i++) {
		if ((k = describe_key(p, h[i], cert)) == NULL)
			continue;
		k->next = *list;
		*list = k;
		count++;
	}
	pthread_mutex_unlock(&p->lock);
	p11_kit_uri_free(uri);
	if (rv != CKR_OK) {
		hk_fmterr(err, errlen, "token '%s': C_FindObjects: %s",
		    p->label, hk_ckr_str(rv));
		return -1;
	}
	if (count == 0)
		hk_fmterr(err, errlen, "no usable private key matches '%s' on "
		    "token '%s'", s, p->label);
	return count;
}


/* CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_LOCAL, CKA_ALLOWED_MECHANISMS...:
 * read from the token object (not a session copy), kept in the key. */
void
hk_p11_key_custody(struct hk_p11 *p, struct hk_key *k)
{
	pthread_mutex_lock(&p->lock);
	hk_custody_read(p->f, p->control, atomic_load(&k->handle),
	    &k->custody);
	pthread_mutex_unlock(&p->lock);
}

/* Whether the token offers a mechanism for signing or decrypting: it must
 * be in C_GetMechanismList (SoftHSM, for one, answers C_GetMechanismInfo
 * for mechanisms its configuration disables) with the right flag. */
int
hk_p11_has_mech(struct hk_p11 *p, enum hk_p11_mech which)
{
	static const struct { CK_MECHANISM_TYPE m; CK_FLAGS need; } t[] = {
		[HK_P11_RSA_PKCS] = { CKM_RSA_PKCS, CKF_SIGN },
		[HK_P11_RSA_PSS] = { CKM_RSA_PKCS_PSS, CKF_SIGN },
		[HK_P11_RSA_RAW_SIGN] = { CKM_RSA_X_509, CKF_SIGN },
		[HK_P11_RSA_RAW_DECRYPT] = { CKM_RSA_X_509, CKF_DECRYPT },
		[HK_P11_ECDSA] = { CKM_ECDSA, CKF_SIGN },
	};
	CK_MECHANISM_TYPE *list = NULL;
	CK_MECHANISM_INFO mi;
	CK_ULONG n = 0, i;
	int listed = 0, has;

	hk_p11_hold(p);
	if (p->f->C_GetMechanismList(p->slot_id, NULL, &n) != CKR_OK ||
	    (list = calloc(n + 1, sizeof(*list))) == NULL ||
	    p->f->C_GetMechanismList(p->slot_id, list, &n) != CKR_OK)
		n = 0;
	for (i = 0; i < n; i++)
		listed |= list[i] == t[which].m;
	free(list);
	has = listed && p->f->C_GetMechanismInfo(p->slot_id, t[which].m,
	    &mi) == CKR_OK && (mi.flags & t[which].need) != 0;
	hk_p11_unhold(p);
	return has;
}

/* A token certificate named by a URI with type=cert, as DER. */
int
hk_p11_find_cert(struct hk_p11 *p, const char *s, unsigned char **der,
    size_t *len, char *err, size_t errlen)
{
	CK_OBJECT_CLASS cert = CKO_CERTIFICATE;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[16];
	CK_OBJECT_HANDLE h[2];
	CK_ULONG nt, n = 0;
	P11KitUri *uri;
	CK_RV rv;

	*der = NULL;
	if ((uri = hk_uri_parse(s, err, errlen)) == NULL)
		return -1;
	nt = uri_template(uri, &cert, &yes, tmpl, 16);
	hk_p11_hold(p);
	pthread_mutex_lock(&p->lock);
	rv = hk_p11_find(p, p->control, tmpl, nt, h, 2, &n);
	if (rv == CKR_OK && n == 1)
		rv = hk_p11_get_attr(p, p->control, h[0], CKA_VALUE, der, len);
	pthread_mutex_unlock(&p->lock);
	hk_p11_unhold(p);
	p11_kit_uri_free(uri);
	if (rv != CKR_OK)
		hk_fmterr(err, errlen, "token '%s': reading certificate '%s': "
		    "%s", p->label, s, hk_ckr_str(rv));
	else if (n != 1)
		hk_fmterr(err, errlen, "%s certificate matches '%s' on token "
		    "'%s'", n == 0 ? "no" : "more than one", s, p->label);
	return rv == CKR_OK && n == 1 ? 0 : -1;
}
