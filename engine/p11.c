/*
 * p11.c - the PKCS#11 boundary.
 *
 * Control plane: libp11 loads the module (C_Initialize with OS locking) and
 * enumerates slots.  Data plane: our own sessions on the same loaded module's
 * function list, for login, object lookup and every key operation.  We log
 * in ourselves rather than through PKCS11_login() because libp11 0.4.12
 * keeps its own unlocked heap copy of the PIN for re-login; the only copy
 * here is the locked page in pin.c.
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <libp11.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include "hk_internal.h"
#include "hk_ckr.h"
#include "hk_uri.h"

#define POOL_IDLE_MAX 32
#define FIND_MAX 64

struct hk_p11 {
	PKCS11_CTX *ctx;
	PKCS11_SLOT *slots;
	unsigned int nslots;
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot_id;
	CK_TOKEN_INFO info;
	char label[sizeof(((CK_TOKEN_INFO *)0)->label) + 1];
	CK_SESSION_HANDLE control;      /* holds the login; lookups */
	int have_control;
	pthread_mutex_t lock;           /* control session and pool */
	CK_SESSION_HANDLE idle[POOL_IDLE_MAX];
	size_t nidle;
	size_t nopen;
};

static const char *
ckr(CK_RV rv)
{
	static _Thread_local char buf[32];

	return hk_ckr_name(rv, buf, sizeof(buf));
}

static void
trim_label(char *dst, const unsigned char *src, size_t n)
{
	memcpy(dst, src, n);
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

/* Load through libp11, then take the same library's function list. */
static int
load_module(struct hk_p11 *p, const char *module, char *err, size_t errlen)
{
	CK_C_GetFunctionList getfl;

	if ((p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		hk_fmterr(err, errlen, "cannot load PKCS#11 module: %s",
		    dlerror());
		return -1;
	}
	getfl = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
	if (getfl == NULL || getfl(&p->f) != CKR_OK || p->f == NULL) {
		hk_fmterr(err, errlen, "'%s' is not a PKCS#11 module "
		    "(no C_GetFunctionList)", module);
		return -1;
	}
	if ((p->ctx = PKCS11_CTX_new()) == NULL ||
	    PKCS11_CTX_load(p->ctx, module) != 0) {
		hk_fmterr(err, errlen, "PKCS#11 module '%s': C_Initialize "
		    "failed", module);
		return -1;
	}
	if (PKCS11_enumerate_slots(p->ctx, &p->slots, &p->nslots) != 0) {
		hk_fmterr(err, errlen, "PKCS#11 module '%s': cannot list "
		    "slots", module);
		return -1;
	}
	return 0;
}

/* Exactly one initialised token must match the URI's token attributes. */
static int
select_token(struct hk_p11 *p, P11KitUri *uri, const char *s, char *err,
    size_t errlen)
{
	CK_TOKEN_INFO ti;
	unsigned int i, found = 0;
	CK_SLOT_ID sid;

	for (i = 0; i < p->nslots; i++) {
		if (p->slots[i].token == NULL)
			continue;
		sid = PKCS11_get_slotid_from_slot(&p->slots[i]);
		if (p->f->C_GetTokenInfo(sid, &ti) != CKR_OK ||
		    !(ti.flags & CKF_TOKEN_INITIALIZED) ||
		    !p11_kit_uri_match_token_info(uri, &ti))
			continue;
		if (found++ == 0) {
			p->slot_id = sid;
			p->info = ti;
		}
	}
	if (found == 0) {
		hk_fmterr(err, errlen, "no token matches '%s'", s);
		return -1;
	}
	if (found > 1) {
		hk_fmterr(err, errlen, "%u tokens match '%s'; name one with "
		    "token=, serial= or slot-id=", found, s);
		return -1;
	}
	trim_label(p->label, p->info.label, sizeof(p->info.label));
	return 0;
}

/* One C_Login, never retried; refuse when the token warns of lockout. */
static int
login(struct hk_p11 *p, const struct hk_pin *pin, char *err, size_t errlen)
{
	const char *value;
	size_t len;
	CK_RV rv;

	rv = p->f->C_OpenSession(p->slot_id, CKF_SERIAL_SESSION, NULL, NULL,
	    &p->control);
	if (rv != CKR_OK) {
		hk_fmterr(err, errlen, "token '%s': C_OpenSession: %s",
		    p->label, ckr(rv));
		return -1;
	}
	p->have_control = 1;
	if (!(p->info.flags & CKF_LOGIN_REQUIRED))
		return 0;
	if (pin == NULL) {
		hk_fmterr(err, errlen, "token '%s' needs a login: give "
		    "--pin-file or pin-source in the URI", p->label);
		return -1;
	}
	if (p->info.flags & CKF_USER_PIN_LOCKED) {
		hk_fmterr(err, errlen, "token '%s': the user PIN is locked",
		    p->label);
		return -1;
	}
	if (p->info.flags & CKF_USER_PIN_FINAL_TRY) {
		hk_fmterr(err, errlen, "token '%s': refusing to log in: one "
		    "more wrong PIN would lock it (PIN final try)", p->label);
		return -1;
	}
	value = hk_pin_value(pin, &len);
	rv = p->f->C_Login(p->control, CKU_USER, (CK_UTF8CHAR_PTR)value, len);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		hk_fmterr(err, errlen, "token '%s': C_Login: %s (not retried)",
		    p->label, ckr(rv));
		return -1;
	}
	return 0;
}

struct hk_p11 *
hk_p11_open(const char *module, const char *s, const struct hk_pin *pin,
    char *err, size_t errlen)
{
	struct hk_p11 *p;
	P11KitUri *uri;

	if ((uri = hk_uri_parse(s, err, errlen)) == NULL)
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		hk_fmterr(err, errlen, "out of memory");
		p11_kit_uri_free(uri);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	if (load_module(p, module, err, errlen) != 0 ||
	    select_token(p, uri, s, err, errlen) != 0 ||
	    login(p, pin, err, errlen) != 0) {
		hk_p11_close(p);
		p = NULL;
	}
	p11_kit_uri_free(uri);
	return p;
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
	size_t i;

	if (p == NULL)
		return;
	if (p->f != NULL) {
		for (i = 0; i < p->nidle; i++)
			p->f->C_CloseSession(p->idle[i]);
		if (p->have_control) {
			p->f->C_Logout(p->control);
			p->f->C_CloseSession(p->control);
		}
	}
	if (p->ctx != NULL) {
		if (p->slots != NULL)
			PKCS11_release_all_slots(p->ctx, p->slots, p->nslots);
		PKCS11_CTX_unload(p->ctx);      /* C_Finalize */
		PKCS11_CTX_free(p->ctx);
	}
	if (p->dl != NULL)
		dlclose(p->dl);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void
hk_p11_stats(struct hk_p11 *p, uint64_t *sessions_open)
{
	pthread_mutex_lock(&p->lock);
	*sessions_open = p->nopen + (p->have_control ? 1 : 0);
	pthread_mutex_unlock(&p->lock);
}

/* ---- sessions for key operations ---- */

static CK_RV
session_get(struct hk_p11 *p, CK_SESSION_HANDLE *s)
{
	CK_RV rv;

	pthread_mutex_lock(&p->lock);
	if (p->nidle > 0) {
		*s = p->idle[--p->nidle];
		pthread_mutex_unlock(&p->lock);
		return CKR_OK;
	}
	p->nopen++;
	pthread_mutex_unlock(&p->lock);
	rv = p->f->C_OpenSession(p->slot_id, CKF_SERIAL_SESSION, NULL, NULL,
	    s);
	if (rv != CKR_OK) {
		pthread_mutex_lock(&p->lock);
		p->nopen--;
		pthread_mutex_unlock(&p->lock);
	}
	return rv;
}

static void
session_put(struct hk_p11 *p, CK_SESSION_HANDLE s)
{
	pthread_mutex_lock(&p->lock);
	if (p->nidle < POOL_IDLE_MAX) {
		p->idle[p->nidle++] = s;
		s = CK_INVALID_HANDLE;
	} else {
		p->nopen--;
	}
	pthread_mutex_unlock(&p->lock);
	if (s != CK_INVALID_HANDLE)
		p->f->C_CloseSession(s);
}

/* A session the token no longer knows: forget it, never reuse it. */
static void
session_drop(struct hk_p11 *p, CK_SESSION_HANDLE s)
{
	p->f->C_CloseSession(s);
	pthread_mutex_lock(&p->lock);
	p->nopen--;
	pthread_mutex_unlock(&p->lock);
}

/* ---- objects ---- */

/* Read one attribute into a new buffer; caller frees. */
static CK_RV
get_attr(struct hk_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
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

static CK_RV
find(struct hk_p11 *p, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl,
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

	if (get_attr(p, p->control, h, CKA_MODULUS, &n, &nlen) != CKR_OK ||
	    get_attr(p, p->control, h, CKA_PUBLIC_EXPONENT, &e, &elen) !=
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

	if (get_attr(p, p->control, h, CKA_EC_PARAMS, &der, &len) != CKR_OK)
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
	if (find(p, p->control, tmpl, 2, &pub, 1, &n) == CKR_OK && n == 1 &&
	    get_attr(p, p->control, pub, CKA_EC_POINT, &pt, &len) == CKR_OK)
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
	k->handle = h;
	if (get_attr(p, p->control, h, CKA_KEY_TYPE, &kt, &ktlen) != CKR_OK ||
	    ktlen != sizeof(type))
		goto err;
	memcpy(&type, kt, sizeof(type));
	if (get_attr(p, p->control, h, CKA_ID, &k->id, &k->id_len) != CKR_OK)
		k->id_len = 0;
	if (get_attr(p, p->control, h, CKA_LABEL, &label, &llen) != CKR_OK)
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

int
hk_p11_find_keys(struct hk_p11 *p, const char *s, X509 *cert,
    struct hk_key **list, char *err, size_t errlen)
{
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE *uattrs, tmpl[16];
	CK_OBJECT_HANDLE h[FIND_MAX];
	CK_ULONG nu = 0, nt = 0, n = 0, i;
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
	uattrs = p11_kit_uri_get_attributes(uri, &nu);
	for (i = 0; i < nu && nt < 15; i++)
		if (uattrs[i].type != CKA_CLASS)
			tmpl[nt++] = uattrs[i];
	tmpl[nt].type = CKA_CLASS;
	tmpl[nt].pValue = &priv;
	tmpl[nt++].ulValueLen = sizeof(priv);
	pthread_mutex_lock(&p->lock);
	rv = find(p, p->control, tmpl, nt, h, FIND_MAX, &n);
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
		    p->label, ckr(rv));
		return -1;
	}
	if (count == 0)
		hk_fmterr(err, errlen, "no usable private key matches '%s' on "
		    "token '%s'", s, p->label);
	return count;
}

/* ---- signing ---- */

static CK_MECHANISM_TYPE
hash_mech(int md_nid, CK_RSA_PKCS_MGF_TYPE *mgf)
{
	switch (md_nid) {
	case NID_sha1:   *mgf = CKG_MGF1_SHA1;   return CKM_SHA_1;
	case NID_sha224: *mgf = CKG_MGF1_SHA224; return CKM_SHA224;
	case NID_sha256: *mgf = CKG_MGF1_SHA256; return CKM_SHA256;
	case NID_sha384: *mgf = CKG_MGF1_SHA384; return CKM_SHA384;
	case NID_sha512: *mgf = CKG_MGF1_SHA512; return CKM_SHA512;
	default:         return CK_UNAVAILABLE_INFORMATION;
	}
}

typedef CK_RV (*op_init_fn)(CK_SESSION_HANDLE, CK_MECHANISM_PTR,
    CK_OBJECT_HANDLE);
typedef CK_RV (*op_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR,
    CK_ULONG_PTR);

static CK_RV
op_once(CK_SESSION_HANDLE s, op_init_fn init, op_fn op, CK_MECHANISM *m,
    CK_OBJECT_HANDLE h, const unsigned char *in, size_t inlen,
    unsigned char *out, size_t *outlen)
{
	CK_ULONG len = *outlen;
	CK_RV rv;

	rv = init(s, m, h);
	if (rv != CKR_OK)
		return rv;
	rv = op(s, (CK_BYTE_PTR)in, inlen, out, &len);
	*outlen = len;
	return rv;
}

/* One single-part operation on a pooled session.  A session the token
 * dropped is replaced and the operation retried once; any other failure
 * is the operation's alone. */
static CK_RV
run_op(struct hk_p11 *p, op_init_fn init, op_fn op, CK_MECHANISM *m,
    CK_OBJECT_HANDLE h, const unsigned char *in, size_t inlen,
    unsigned char *out, size_t *outlen)
{
	CK_SESSION_HANDLE s;
	CK_RV rv = CKR_OK;
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		if ((rv = session_get(p, &s)) != CKR_OK)
			break;
		rv = op_once(s, init, op, m, h, in, inlen, out, outlen);
		if (rv == CKR_SESSION_HANDLE_INVALID ||
		    rv == CKR_SESSION_CLOSED) {
			session_drop(p, s);
			continue;
		}
		session_put(p, s);
		break;
	}
	return rv;
}

int
hk_p11_sign(struct hk_p11 *p, const struct hk_key *k, enum hk_mech mech,
    int md_nid, int saltlen, const unsigned char *in, size_t inlen,
    unsigned char *sig, size_t *siglen, char *err, size_t errlen)
{
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
	CK_RV rv;

	if (mech == HK_MECH_ECDSA) {
		m.mechanism = CKM_ECDSA;
	} else if (mech == HK_MECH_RSA_PSS) {
		pss.hashAlg = hash_mech(md_nid, &pss.mgf);
		pss.sLen = (CK_ULONG)saltlen;
		if (pss.hashAlg == CK_UNAVAILABLE_INFORMATION) {
			hk_fmterr(err, errlen, "RSA-PSS: unsupported digest");
			return -1;
		}
		m.mechanism = CKM_RSA_PKCS_PSS;
		m.pParameter = &pss;
		m.ulParameterLen = sizeof(pss);
	}
	rv = run_op(p, p->f->C_SignInit, p->f->C_Sign, &m, k->handle, in,
	    inlen, sig, siglen);
	if (rv != CKR_OK) {
		hk_fmterr(err, errlen, "token '%s': C_Sign: %s", p->label,
		    ckr(rv));
		return -1;
	}
	return 0;
}

/* Raw RSA (CKM_RSA_X_509): the token never sees or judges padding.  The
 * result is left-padded to the modulus size for tokens that strip leading
 * zeros.  Returns the CKR value; 0 is CKR_OK. */
unsigned long
hk_p11_decrypt_raw(struct hk_p11 *p, const struct hk_key *k,
    const unsigned char *in, size_t inlen, unsigned char *out, size_t outsize)
{
	CK_MECHANISM m = { CKM_RSA_X_509, NULL, 0 };
	size_t len = outsize;
	CK_RV rv;

	rv = run_op(p, p->f->C_DecryptInit, p->f->C_Decrypt, &m, k->handle, in,
	    inlen, out, &len);
	if (rv == CKR_OK && len > outsize)
		rv = CKR_BUFFER_TOO_SMALL;
	if (rv == CKR_OK && len < outsize) {
		memmove(out + (outsize - len), out, len);
		memset(out, 0, outsize - len);
	}
	return rv;
}

/* RSA key exchange needs CKA_DECRYPT on the key and raw RSA on the token:
 * never a fallback to the token's own PKCS#1 unpadding (an oracle). */
int
hk_p11_check_raw_decrypt(struct hk_p11 *p, const struct hk_key *k, char *err,
    size_t errlen)
{
	CK_MECHANISM_INFO mi;
	unsigned char *v = NULL;
	size_t len;
	CK_RV rv;
	int can;

	pthread_mutex_lock(&p->lock);
	rv = get_attr(p, p->control, k->handle, CKA_DECRYPT, &v, &len);
	pthread_mutex_unlock(&p->lock);
	can = rv == CKR_OK && len == sizeof(CK_BBOOL) && v[0] == CK_TRUE;
	free(v);
	if (!can) {
		hk_fmterr(err, errlen, "key '%s' cannot decrypt (CKA_DECRYPT is "
		    "false): RSA key exchange needs a key made with usage "
		    "sign,decrypt", k->uri);
		return -1;
	}
	rv = p->f->C_GetMechanismInfo(p->slot_id, CKM_RSA_X_509, &mi);
	if (rv != CKR_OK || !(mi.flags & CKF_DECRYPT)) {
		hk_fmterr(err, errlen, "token '%s' has no raw RSA decryption "
		    "(CKM_RSA_X_509): RSA key exchange refused, since letting "
		    "the token check PKCS#1 padding would make it a padding "
		    "oracle", p->label);
		return -1;
	}
	return 0;
}

/* Errors that describe the ciphertext rather than the token. */
int
hk_p11_rv_is_data_error(unsigned long rv)
{
	return rv == CKR_ENCRYPTED_DATA_INVALID ||
	    rv == CKR_ENCRYPTED_DATA_LEN_RANGE || rv == CKR_DATA_INVALID ||
	    rv == CKR_DATA_LEN_RANGE;
}
