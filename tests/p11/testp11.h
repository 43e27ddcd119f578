/*
 * testp11.h - internals shared by the files of the test PKCS#11 module
 * (testp11.c forwarding and counting, testp11_faults.c fault state,
 * testp11_ctl.c control-file parser, testp11_names.c name tables).
 */
#ifndef TESTP11_H
#define TESTP11_H

#include <pthread.h>
#include <stddef.h>
#include <p11-kit/pkcs11.h>

#include "testp11_funcs.h"

enum tp_fn {
#define X(name, impl, kind, params, args) FN_##name,
	TESTP11_FUNCTIONS(X)
#undef X
	FN_C_GetFunctionList,
	FN_COUNT
};

/* What a removed token does to a call; see testp11_funcs.h. */
enum tp_kind { KIND_NONE, KIND_SLOT, KIND_SESSION, KIND_OP };

/* testp11_names.c */
const char *tp_fn_name(int fn);
enum tp_kind tp_fn_kind(int fn);
int tp_fn_lookup(const char *name);
const char *tp_ckr_name(CK_RV rv, char *buf, size_t len);
int tp_ckr_parse(const char *s, CK_RV *rv);
int tp_flag_parse(const char *s, CK_FLAGS *flag);
void tp_flags_format(CK_FLAGS flags, char *buf, size_t len);
int tp_ulong_parse(const char *s, unsigned long max, unsigned long *out);

/* testp11_ctl.c: the control file's text as directives. */
#define TP_MAX_DIRECTIVES 128
#define TP_MAX_ACTIONS 64
#define TP_ID_MAX 64            /* action id, with its NUL */
#define TP_LINE_MAX 512         /* longer lines are ignored */
#define TP_MS_MAX 3600000UL     /* one hour */
#define TP_N_MAX 1000000000UL
#define TP_LABEL_MAX 33         /* a token label, trimmed, with its NUL */
#define TP_MAX_REMOVED 16       /* "removed token LABEL" lines */
#define TP_MAX_TOKENS 16        /* slots whose label is remembered */

enum tp_dkind { D_LATENCY, D_HANG, D_FAIL };
enum tp_fmode { F_EVERY, F_NTH, F_ALWAYS };
enum tp_akind { A_CLOSE_SESSIONS, A_LOGOUT };

struct tp_directive {
	enum tp_dkind kind;
	int fn;
	unsigned long ms;       /* latency, hang */
	unsigned long n;        /* hang: how many calls; fail: every/nth N */
	enum tp_fmode mode;     /* fail */
	CK_RV rv;               /* fail */
	int serial;             /* latency: one call of the token at a time */
	char token[TP_LABEL_MAX]; /* "token LABEL": only that token; "" all */
	/* State, carried over while the same directive stays in the file:
	 * fail: calls of fn counted; hang: calls already hung. */
	unsigned long seen;
};

struct tp_action {
	enum tp_akind kind;
	char id[TP_ID_MAX];
};

struct tp_config {
	struct tp_directive d[TP_MAX_DIRECTIVES];
	size_t nd;
	struct tp_action a[TP_MAX_ACTIONS];
	size_t na;
	CK_FLAGS flags;         /* ORed into C_GetTokenInfo's flags */
	int removed;
	char removed_tok[TP_MAX_REMOVED][TP_LABEL_MAX];
	size_t nremoved;
	int scoped;             /* some line names a token, or is serial */
};

/* word is the unknown directive's name, or NULL for other faults. */
typedef void tp_warn_fn(unsigned lineno, const char *msg, const char *word);

void tp_config_parse(struct tp_config *cfg, const char *text, size_t len,
    tp_warn_fn *warn);
int tp_directive_same(const struct tp_directive *a,
    const struct tp_directive *b);
const char *tp_action_name(enum tp_akind kind);

/* testp11_faults.c: a slot with a token, as the real module named it
 * (label trimmed); idx numbers the tokens seen, from 0. */
struct tp_token {
	size_t idx;
	CK_SLOT_ID slot;
	char label[TP_LABEL_MAX];
	pthread_mutex_t serial; /* held across a serial latency's sleep */
};

/* testp11_faults.c: what to do to one call. */
struct tp_decision {
	CK_RV reject;           /* not CKR_OK: answer this, do not forward */
	CK_RV fail;             /* not CKR_OK: answer this (KIND_OP: after
	                         * forwarding; others: without forwarding) */
	unsigned long latency_ms, hang_ms;
	CK_FLAGS flags;         /* C_GetTokenInfo only */
	int removed;
	int serial;             /* sleep holding tok's serial mutex */
	struct tp_token *tok;   /* the call's token, when it was looked up */
};

void tp_faults_init(CK_FUNCTION_LIST *real);
/* handle: the call's slot (SLOT kind, C_GetSlotInfo) or session (SESSION,
 * OP); want_token: look the token up even if no directive needs it. */
void tp_faults_decide(int fn, CK_ULONG handle, int want_token,
    struct tp_decision *d);
/* 1 when the slot's token is removed by a "removed token LABEL" line. */
int tp_slot_removed(CK_SLOT_ID slot);
/* The label of token idx (tp_token.idx); NULL past the last. */
const char *tp_token_label(size_t idx);
void tp_faults_note(int fn, CK_RV rv);
/*
 * A simulated device event (every session closed, a logout) runs between
 * these, with no forwarded call in flight: the real module (SoftHSM) is
 * not safe against a session closed while another thread is inside a
 * call on it, where a real device would only fail that call.
 */
void tp_real_exclusive_begin(void);
void tp_real_exclusive_end(void);
/* Around a call of our own into the real module (not a forwarded one). */
void tp_real_shared_begin(void);
void tp_real_shared_end(void);
void tp_fault_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* TESTP11_H */
