/*
 * recover.c - token faults and recovery.
 *
 *   session invalid/closed      replace the session, retry once (p11_ops.c)
 *   user not logged in          log in again with the kept PIN, retry once
 *   key/object handle invalid   find the key again by CKA_ID, retry once
 *   device/general errors       fail that operation only; the token is
 *                               marked down only if C_GetTokenInfo fails too
 *   device removed, token not   mark the token down: operations fail at
 *   present, not initialized    once; a prober re-initialises the module,
 *                               logs in and finds the keys again, with
 *                               backoff capped at 1 s
 *   wrong or locked PIN         never retried: logins stop until reload
 */
#include "config.h"

#include <string.h>
#include <time.h>
#include "p11_internal.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000

enum hk_fault
hk_p11_classify(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
	case CKR_ENCRYPTED_DATA_INVALID:
	case CKR_ENCRYPTED_DATA_LEN_RANGE:
	case CKR_DATA_INVALID:
	case CKR_DATA_LEN_RANGE:
	case CKR_BUFFER_TOO_SMALL:
		return HK_FAULT_NONE;
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
		return HK_FAULT_SESSION;
	case CKR_USER_NOT_LOGGED_IN:
		return HK_FAULT_LOGIN;
	case CKR_KEY_HANDLE_INVALID:
	case CKR_OBJECT_HANDLE_INVALID:
		return HK_FAULT_KEY;
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_SLOT_ID_INVALID:
		return HK_FAULT_DOWN;
	default:
		return HK_FAULT_OP;
	}
}

void
hk_p11_mark_down(struct hk_p11 *p, const char *what, CK_RV rv)
{
	int was_up = 1;

	if (!atomic_compare_exchange_strong(&p->up, &was_up, 0))
		return;
	atomic_fetch_add(&p->down_events, 1);
	p->down_since_ms = hk_now_ms();
	hk_p11_log(p, "token '%s' is down (%s: %s); handshakes fail until it "
	    "is back", p->label, what, hk_ckr_str(rv));
	pthread_mutex_lock(&p->plock);
	pthread_cond_signal(&p->pwake);
	pthread_mutex_unlock(&p->plock);
}

/* A failed operation says little: the token is down only if it also fails
 * to answer C_GetTokenInfo. */
void
hk_p11_probe(struct hk_p11 *p, const char *what, CK_RV rv)
{
	CK_TOKEN_INFO ti;
	CK_RV prv = p->f->C_GetTokenInfo(p->slot_id, &ti);

	if (prv != CKR_OK)
		hk_p11_mark_down(p, what, prv);
	(void)rv;
}

/* Called with rw held for reading. */
int
hk_p11_relogin(struct hk_p11 *p)
{
	char err[HK_ERRLEN];
	CK_SESSION_INFO si;
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&p->login_lock);
	pthread_mutex_lock(&p->lock);
	/* Another thread may have logged in already. */
	if (!p->have_control ||
	    p->f->C_GetSessionInfo(p->control, &si) != CKR_OK ||
	    (si.state != CKS_RO_USER_FUNCTIONS &&
	    si.state != CKS_RW_USER_FUNCTIONS)) {
		rv = hk_p11_login(p, err, sizeof(err));
		if (rv == CKR_OK) {
			atomic_fetch_add(&p->relogins, 1);
			hk_p11_log(p, "token '%s': logged in again", p->label);
		} else {
			hk_p11_log(p, "%s", err);
		}
	}
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_unlock(&p->login_lock);
	if (hk_p11_classify(rv) == HK_FAULT_DOWN)
		hk_p11_mark_down(p, "C_Login", rv);
	return rv == CKR_OK ? 0 : -1;
}

static CK_RV
refind_locked(struct hk_p11 *p, struct hk_key *k)
{
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &priv, sizeof(priv) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_ID, k->id, k->id_len },
		{ CKA_LABEL, k->label, strlen(k->label) },
	};
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;
	CK_RV rv;

	/* By CKA_ID; by label only for keys that have no id. */
	rv = hk_p11_find(p, p->control, tmpl, k->id_len ? 3 : 4, &h, 1, &n);
	if (rv == CKR_OK && n != 1)
		rv = CKR_KEY_HANDLE_INVALID;
	if (rv == CKR_OK)
		atomic_store(&k->handle, hk_p11_session_copy(p, h));
	return rv;
}

static CK_RV
refind_once(struct hk_p11 *p, struct hk_key *k)
{
	CK_RV rv;

	pthread_mutex_lock(&p->lock);
	rv = refind_locked(p, k);
	pthread_mutex_unlock(&p->lock);
	return rv;
}

/* Private objects vanish from view when the login is lost (SoftHSM then
 * answers CKR_OBJECT_HANDLE_INVALID rather than CKR_USER_NOT_LOGGED_IN),
 * and a token reset takes the control session with it: a key not found is
 * looked for once more after logging in again on a new control session. */
int
hk_p11_refind(struct hk_p11 *p, struct hk_key *k)
{
	CK_RV rv;

	rv = refind_once(p, k);
	if ((rv == CKR_KEY_HANDLE_INVALID ||
	    hk_p11_classify(rv) == HK_FAULT_SESSION ||
	    hk_p11_classify(rv) == HK_FAULT_LOGIN) && hk_p11_relogin(p) == 0)
		rv = refind_once(p, k);
	if (rv == CKR_OK) {
		atomic_fetch_add(&p->refinds, 1);
		hk_p11_log(p, "token '%s': found key '%s' again", p->label,
		    k->label);
	} else if (hk_p11_classify(rv) == HK_FAULT_DOWN) {
		hk_p11_mark_down(p, "C_FindObjects", rv);
	}
	return rv == CKR_OK ? 0 : -1;
}

/*
 * Rebuild everything from the module up, with no operation in flight (rw
 * held for writing): close our sessions, C_Finalize, C_Initialize, select
 * the token again, log in, find every key again.
 */
static int
reinitialise(struct hk_p11 *p, char *err, size_t errlen)
{
	size_t i;
	CK_RV rv;

	hk_p11_close_sessions(p);
	hk_p11_unload(p);
	if (hk_p11_load(p, err, errlen) != 0 ||
	    hk_p11_select(p, err, errlen) != 0)
		return -1;
	pthread_mutex_lock(&p->lock);
	rv = hk_p11_login(p, err, errlen);
	for (i = 0; rv == CKR_OK && i < p->nkeys; i++)
		if ((rv = refind_locked(p, p->keys[i])) != CKR_OK)
			hk_fmterr(err, errlen, "token '%s': key '%s' not found "
			    "again: %s", p->label, p->keys[i]->label,
			    hk_ckr_str(rv));
	pthread_mutex_unlock(&p->lock);
	return rv == CKR_OK ? 0 : -1;
}

/* Sleep up to ms, or until stop; returns stop. */
static int
nap(struct hk_p11 *p, unsigned ms)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->plock);
	if (!p->stop)
		pthread_cond_timedwait(&p->pwake, &p->plock, &ts);
	stop = p->stop;
	pthread_mutex_unlock(&p->plock);
	return stop;
}

static void
recover(struct hk_p11 *p)
{
	char err[HK_ERRLEN] = "", last[HK_ERRLEN] = "";
	unsigned backoff = BACKOFF_MIN_MS;
	int ok;

	while (!nap(p, backoff)) {
		if (atomic_load(&p->login_blocked)) {
			hk_p11_log(p, "token '%s': not recovering: its PIN was "
			    "refused; fix it and reload", p->label);
			return;
		}
		pthread_rwlock_wrlock(&p->rw);
		ok = reinitialise(p, err, sizeof(err)) == 0;
		if (ok)
			atomic_store(&p->up, 1);
		pthread_rwlock_unlock(&p->rw);
		if (ok) {
			atomic_fetch_add(&p->recoveries, 1);
			hk_p11_log(p, "token '%s' is back after %llu ms", p->label,
			    (unsigned long long)(hk_now_ms() - p->down_since_ms));
			return;
		}
		if (strcmp(err, last) != 0) {   /* say each new reason once */
			hk_p11_log(p, "token '%s': still down: %s", p->label, err);
			memcpy(last, err, sizeof(last));
		}
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
		    : backoff * 2;
	}
}

static void *
prober(void *arg)
{
	struct hk_p11 *p = arg;

	(void)pthread_setname_np(pthread_self(), "token-prober");
	pthread_mutex_lock(&p->plock);
	while (!p->stop) {
		if (atomic_load(&p->up)) {
			pthread_cond_wait(&p->pwake, &p->plock);
			continue;
		}
		pthread_mutex_unlock(&p->plock);
		recover(p);
		pthread_mutex_lock(&p->plock);
		if (!atomic_load(&p->up) && !p->stop)   /* gave up: PIN */
			pthread_cond_wait(&p->pwake, &p->plock);
	}
	pthread_mutex_unlock(&p->plock);
	return NULL;
}

int
hk_p11_start_prober(struct hk_p11 *p)
{
	if (pthread_create(&p->prober, NULL, prober, p) != 0)
		return -1;
	p->prober_started = 1;
	return 0;
}

void
hk_p11_stop_prober(struct hk_p11 *p)
{
	if (!p->prober_started)
		return;
	pthread_mutex_lock(&p->plock);
	p->stop = 1;
	pthread_cond_broadcast(&p->pwake);
	pthread_mutex_unlock(&p->plock);
	pthread_join(p->prober, NULL);
	p->prober_started = 0;
}
