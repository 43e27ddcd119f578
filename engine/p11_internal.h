/*
 * p11_internal.h - what the PKCS#11 files of the engine share (p11.c:
 * module, token, login, objects; p11_ops.c: sessions and operations;
 * recover.c: token faults and recovery).  Only these files see PKCS#11.
 */
#ifndef HK_P11_INTERNAL_H
#define HK_P11_INTERNAL_H

#include <pthread.h>
#include <libp11.h>
#include "hk_ckr.h"
#include "hk_err.h"
#include "hk_token.h"
#include "hk_uri.h"

#define POOL_IDLE_MAX 64
#define FIND_MAX 64

struct hk_p11 {
	/* set at open, constant after */
	char *module;
	char *uri;                      /* selects the token on re-init */
	const struct hk_pin *pin;
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	hk_log_fn log;
	void *log_arg;
	int copy_keys;                  /* use session copies of token keys */
	struct hk_metrics *metrics;     /* the engine's: faults by CKR */

	/* replaced on re-initialisation, under rw held for writing */
	PKCS11_CTX *ctx;
	int own_init;                   /* we ran C_Initialize on f */
	CK_SLOT_ID slot_id;
	CK_TOKEN_INFO info;
	char label[sizeof(((CK_TOKEN_INFO *)0)->label) + 1];

	/* operations hold rw for reading; re-initialisation for writing */
	pthread_rwlock_t rw;
	pthread_mutex_t lock;           /* control session, idle pool, keys */
	CK_SESSION_HANDLE control;      /* holds the login; lookups */
	int have_control;
	CK_SESSION_HANDLE idle[POOL_IDLE_MAX];
	size_t nidle;
	size_t nopen;
	struct hk_key **keys;           /* keys to find again after faults */
	size_t nkeys;

	/* health */
	atomic_int up;
	atomic_int login_blocked;       /* a login was refused: until reload */
	pthread_mutex_t login_lock;
	uint64_t down_since_ms;
	pthread_t prober;
	int prober_started;
	int stop;
	pthread_mutex_t plock;
	pthread_cond_t pwake;
	atomic_uint_fast64_t down_events, recoveries, relogins, refinds,
	    session_retries;
};

uint64_t hk_now_ms(void);
void hk_p11_log(struct hk_p11 *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* p11.c */
CK_RV hk_p11_get_attr(struct hk_p11 *p, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, unsigned char **val,
    size_t *len);
CK_RV hk_p11_find(struct hk_p11 *p, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl,
    CK_ULONG n, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *found);
int hk_p11_load(struct hk_p11 *p, char *err, size_t errlen);
void hk_p11_unload(struct hk_p11 *p);
int hk_p11_select(struct hk_p11 *p, char *err, size_t errlen);
CK_RV hk_p11_login(struct hk_p11 *p, char *err, size_t errlen);
void hk_p11_close_sessions(struct hk_p11 *p);
CK_OBJECT_HANDLE hk_p11_session_copy(struct hk_p11 *p, CK_OBJECT_HANDLE h);

/* recover.c */
enum hk_fault {
	HK_FAULT_NONE,          /* success, or the data's fault */
	HK_FAULT_SESSION,       /* replace the session, retry once */
	HK_FAULT_LOGIN,         /* log in again, retry once */
	HK_FAULT_KEY,           /* find the key again, retry once */
	HK_FAULT_OP,            /* this operation failed; probe the token */
	HK_FAULT_DOWN,          /* the token is gone */
};
enum hk_fault hk_p11_classify(CK_RV rv);
void hk_p11_mark_down(struct hk_p11 *p, const char *what, CK_RV rv);
int hk_p11_relogin(struct hk_p11 *p);
int hk_p11_refind(struct hk_p11 *p, struct hk_key *k);
void hk_p11_probe(struct hk_p11 *p, const char *what, CK_RV rv);
int hk_p11_start_prober(struct hk_p11 *p);
void hk_p11_stop_prober(struct hk_p11 *p);

#endif
