/*
 * p11_ops.c - key operations on pooled sessions, with the fault handling
 * of the design's table: a dropped session is replaced, a lost login is
 * redone, a lost key handle is found again (each followed by one retry);
 * a device gone marks the token down, and while it is down operations fail
 * at once without touching the module.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "p11_internal.h"

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

/*
 * A session the token no longer knows: forget it.  Its idle siblings most
 * likely died with it (C_CloseAllSessions, a token reset), so they go too
 * rather than failing one operation each.
 */
static void
session_drop_all(struct hk_p11 *p, CK_SESSION_HANDLE s)
{
	CK_SESSION_HANDLE idle[POOL_IDLE_MAX];
	size_t n, i;

	pthread_mutex_lock(&p->lock);
	n = p->nidle;
	memcpy(idle, p->idle, n * sizeof(idle[0]));
	p->nidle = 0;
	p->nopen -= n + 1;
	pthread_mutex_unlock(&p->lock);
	p->f->C_CloseSession(s);
	for (i = 0; i < n; i++)
		p->f->C_CloseSession(idle[i]);
	atomic_fetch_add(&p->session_retries, 1);
}

void
hk_p11_stats(struct hk_p11 *p, struct hk_stats *st)
{
	pthread_mutex_lock(&p->lock);
	st->sessions_open = p->nopen + (p->have_control ? 1 : 0);
	pthread_mutex_unlock(&p->lock);
	st->token_up = atomic_load(&p->up);
	st->token_down_events = atomic_load(&p->down_events);
	st->token_recoveries = atomic_load(&p->recoveries);
	st->relogins = atomic_load(&p->relogins);
	st->key_refinds = atomic_load(&p->refinds);
	st->session_replacements = atomic_load(&p->session_retries);
	st->login_blocked = atomic_load(&p->login_blocked) ? 1 : 0;
}

/*
 * The module's functions are looked up in p->f at each attempt, with rw
 * held: a token reset (recover.c) unloads and loads the module again, and
 * a pointer taken before it would call into a library no longer mapped.
 */
struct op {
	const char *name;       /* for logs: "C_Sign" */
	bool decrypt;           /* C_Decrypt; else C_Sign */
	CK_MECHANISM *mech;
	struct hk_key *key;
	const unsigned char *in;
	size_t inlen;
	unsigned char *out;
	size_t *outlen;
};

/* The init and the operation are timed together: that is the token's
 * share of a handshake, whichever of the two it spends its time in. */
static CK_RV
op_once(struct hk_p11 *p, struct op *o, CK_SESSION_HANDLE s)
{
	struct hk_metrics *m = p->metrics;
	CK_ULONG len = *o->outlen;
	uint64_t t0 = hk_mono_ns();
	CK_OBJECT_HANDLE h = atomic_load(&o->key->handle);
	CK_FUNCTION_LIST_PTR f = p->f;
	CK_RV rv;

	rv = o->decrypt ? f->C_DecryptInit(s, o->mech, h) :
	    f->C_SignInit(s, o->mech, h);
	if (rv == CKR_OK) {
		rv = o->decrypt ? f->C_Decrypt(s, (CK_BYTE_PTR)o->in, o->inlen,
		    o->out, &len) : f->C_Sign(s, (CK_BYTE_PTR)o->in, o->inlen,
		    o->out, &len);
		*o->outlen = len;
	}
	if (m != NULL)
		hk_metrics_latency(m, hk_mono_ns() - t0);
	return rv;
}

static void
session_done(struct hk_p11 *p, CK_SESSION_HANDLE s, int have, int dead)
{
	if (!have)
		return;
	if (dead)
		session_drop_all(p, s);
	else
		session_put(p, s);
}

/* One attempt; *retry says whether the fault was mended and worth one more. */
static CK_RV
attempt(struct hk_p11 *p, struct op *o, int *retry)
{
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	enum hk_fault fault;
	int have;
	CK_RV rv;

	*retry = 0;
	rv = session_get(p, &s);
	if ((have = rv == CKR_OK))
		rv = op_once(p, o, s);
	if (rv != CKR_OK && p->metrics != NULL)
		hk_metrics_fault(p->metrics, rv);
	fault = hk_p11_classify(rv);
	session_done(p, s, have, fault == HK_FAULT_SESSION ||
	    (fault == HK_FAULT_DOWN && rv != CKR_TOKEN_NOT_PRESENT));
	switch (fault) {
	case HK_FAULT_NONE:
		break;
	case HK_FAULT_SESSION:
		*retry = 1;
		break;
	case HK_FAULT_LOGIN:
		*retry = hk_p11_relogin(p) == 0;
		break;
	case HK_FAULT_KEY:
		*retry = hk_p11_refind(p, o->key) == 0;
		break;
	case HK_FAULT_DOWN:
		hk_p11_mark_down(p, o->name, rv);
		break;
	case HK_FAULT_OP:
		hk_p11_probe(p, o->name, rv);
		break;
	}
	return rv;
}

/*
 * While the token is down, fail at once: no queue builds up on it.  Each
 * mended fault earns one more attempt, up to three in all: a token reset
 * can cost a session and then a login before the operation goes through.
 */
static CK_RV
run_op(struct hk_p11 *p, struct op *o)
{
	int retry = 1, n;
	CK_RV rv = CKR_TOKEN_NOT_PRESENT;

	if (!atomic_load(&p->up))
		return rv;
	pthread_rwlock_rdlock(&p->rw);
	for (n = 0; n < 3 && retry && atomic_load(&p->up); n++)
		rv = attempt(p, o, &retry);
	pthread_rwlock_unlock(&p->rw);
	return rv;
}

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

int
hk_p11_sign(struct hk_p11 *p, const struct hk_key *k, enum hk_mech mech,
    int md_nid, int saltlen, const unsigned char *in, size_t inlen,
    unsigned char *sig, size_t *siglen, char *err, size_t errlen)
{
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
	struct op o = { "C_Sign", false, &m,
	    (struct hk_key *)k, in, inlen, sig, siglen };
	CK_RV rv;

	if (mech == HK_MECH_ECDSA) {
		m.mechanism = CKM_ECDSA;
	} else if (mech == HK_MECH_RSA_RAW) {
		m.mechanism = CKM_RSA_X_509;
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
	if ((rv = run_op(p, &o)) != CKR_OK) {
		hk_fmterr(err, errlen, "token '%s': C_Sign: %s", p->label,
		    hk_ckr_str(rv));
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
	struct op o = { "C_Decrypt", true, &m,
	    (struct hk_key *)k, in, inlen, out, &len };
	CK_RV rv;

	rv = run_op(p, &o);
	if (rv == CKR_OK && len > outsize)
		rv = CKR_BUFFER_TOO_SMALL;
	if (rv == CKR_OK && len < outsize) {
		memmove(out + (outsize - len), out, len);
		memset(out, 0, outsize - len);
	}
	return rv;
}

