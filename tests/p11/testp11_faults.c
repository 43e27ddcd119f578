/*
 * testp11_faults.c - the test module's fault state.
 *
 *   HSMTLS_TESTP11_CONTROL  the control file (testp11_ctl.c).  Every call
 *                           stats it and re-reads it when its device, inode,
 *                           size, mtime or ctime changed, so a test rewrites
 *                           it (temporary file + mv) while the server runs.
 *                           Unset, or no such file: no faults.
 *   HSMTLS_TESTP11_LOG      if set, one line is appended per injected fault:
 *                           "C_Sign CKR_DEVICE_ERROR", "C_Sign latency 5",
 *                           "C_Sign hang 500", "C_GetSlotList removed",
 *                           "C_GetTokenInfo flags CKF_USER_PIN_LOCKED",
 *                           "removed", "inserted", "action logout ID".
 *
 * One mutex guards the parsed configuration, the directives' counters and
 * the ids of actions already run.  A call holds it only to compare the
 * file's identity, re-read it if needed and decide; sleeping, actions
 * (which call the real module) and the log happen after it is released, so
 * concurrent calls overlap as they would on a real HSM.
 *
 * Directive state ("fail ... nth 3" counts calls, "hang ... count 2"
 * counts hung calls) starts when the directive appears and is carried over
 * re-reads that keep the same directive.  A removed token short-circuits
 * everything else: its calls are neither delayed nor counted by directives.
 *
 * A directive scoped to a token ("... token LABEL") needs the call's
 * token: a slot's label comes from the real C_GetTokenInfo, remembered
 * per slot; a session's slot from the real C_GetSessionInfo (a closed
 * session has none, and no scoped directive applies to it).  The look-up
 * is made only while some line is scoped, or when the caller asks (the
 * per-token counts).  "removed token LABEL" hides that slot's token from
 * C_GetSlotList and C_GetSlotInfo, fails its calls as "removed" does, and
 * closes that slot's sessions (a device loss) when it appears.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testp11.h"

#define CTL_MAX 65536           /* bytes read from the control file */
#define MEMO_MAX 256            /* distinct action ids per process */
#define UNKNOWN_MAX 32          /* distinct unknown words reported */

/* What a re-read must be triggered by; present = 0 for "no file". */
struct file_id {
	int present;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
};

/* An action id seen in the control file; it runs once, ever. */
struct memo {
	enum tp_akind kind;
	char id[TP_ID_MAX];
	int done;
};

/* What a re-read changed, to act on once the lock is released. */
struct change {
	int removed, inserted;
	char tok_removed[TP_MAX_REMOVED][TP_LABEL_MAX];
	char tok_inserted[TP_MAX_REMOVED][TP_LABEL_MAX];
	size_t ntok_removed, ntok_inserted;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Two configurations: the next one is parsed beside the current one so
 * directive state can be carried over; no allocation, nothing to free. */
static struct tp_config configs[2];
static struct tp_config *cur = &configs[0];
static struct file_id loaded;
static struct memo memo[MEMO_MAX];
static size_t nmemo, npending;
static int memo_full_told;
static char unknown[UNKNOWN_MAX][TP_ID_MAX];
static size_t nunknown;
static char text[CTL_MAX];

static CK_FUNCTION_LIST *real;
static const char *control_path, *log_path;

/* Slots seen with a token; a slot's entry is never changed nor freed. */
static pthread_mutex_t toks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tp_token toks[TP_MAX_TOKENS];
static atomic_size_t ntoks;
static atomic_int initialized;
static atomic_int log_failed;

static const char *
env_path(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

static void lock_faults(void) { pthread_mutex_lock(&lock); }
static void unlock_faults(void) { pthread_mutex_unlock(&lock); }

/* Called once, from C_GetFunctionList, with the real module loaded. */
void
tp_faults_init(CK_FUNCTION_LIST *fl)
{
	real = fl;
	control_path = env_path("HSMTLS_TESTP11_CONTROL");
	log_path = env_path("HSMTLS_TESTP11_LOG");
	pthread_atfork(lock_faults, unlock_faults, unlock_faults);
}

/* Actions need an initialised module: remember when it is. */
void
tp_faults_note(int fn, CK_RV rv)
{
	if (fn == FN_C_Initialize &&
	    (rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED))
		atomic_store(&initialized, 1);
	else if (fn == FN_C_Finalize && rv == CKR_OK)
		atomic_store(&initialized, 0);
}

/* One write(2) per line with O_APPEND: lines from threads never mix. */
void
tp_fault_log(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int fd, n;

	if (log_path == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if ((fd == -1 || write(fd, line, (size_t)n) != n) &&
	    atomic_exchange(&log_failed, 1) == 0)
		fprintf(stderr, "hsmtls-testp11: fault log %s: %s\n",
		    log_path, strerror(errno));
	if (fd != -1)
		close(fd);
}

/* Unknown words once per process: a file re-read often must not flood. */
static int
unknown_seen(const char *word)
{
	size_t i;

	for (i = 0; i < nunknown; i++)
		if (strcmp(unknown[i], word) == 0)
			return 1;
	if (nunknown == UNKNOWN_MAX)
		return 1;       /* enough said */
	if (strlen(word) < TP_ID_MAX)
		strcpy(unknown[nunknown++], word);
	return 0;
}

static void
warn(unsigned lineno, const char *msg, const char *word)
{
	if (word != NULL && unknown_seen(word))
		return;
	fprintf(stderr, "hsmtls-testp11: %s:%u: %s%s%s, line ignored\n",
	    control_path, lineno, msg, word != NULL ? " " : "",
	    word != NULL ? word : "");
}

static void
file_id_set(struct file_id *id, const struct stat *st)
{
	memset(id, 0, sizeof(*id));
	id->present = 1;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtim = st->st_mtim;
	id->ctim = st->st_ctim;
}

static int
file_id_equal(const struct file_id *a, const struct file_id *b)
{
	if (a->present != b->present)
		return 0;
	return !a->present || (a->dev == b->dev && a->ino == b->ino &&
	    a->size == b->size && a->mtim.tv_sec == b->mtim.tv_sec &&
	    a->mtim.tv_nsec == b->mtim.tv_nsec &&
	    a->ctim.tv_sec == b->ctim.tv_sec &&
	    a->ctim.tv_nsec == b->ctim.tv_nsec);
}

static void
control_stat(struct file_id *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (stat(control_path, &st) == 0)
		file_id_set(id, &st);
}

/* Fill text; *len 0 and id absent if the file cannot be read. */
static void
control_read(struct file_id *id, size_t *len)
{
	struct stat st;
	ssize_t n = 0;
	int fd;

	memset(id, 0, sizeof(*id));
	*len = 0;
	fd = open(control_path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		if (errno != ENOENT)
			fprintf(stderr, "hsmtls-testp11: %s: %s\n",
			    control_path, strerror(errno));
		goto end;
	}
	file_id_set(id, &st);
	while (*len < sizeof(text) && ((n = read(fd, text + *len,
	    sizeof(text) - *len)) > 0 || (n == -1 && errno == EINTR)))
		*len += n > 0 ? (size_t)n : 0;
	if (*len == sizeof(text)) {
		fprintf(stderr, "hsmtls-testp11: %s: longer than %d bytes, "
		    "the rest is ignored\n", control_path, CTL_MAX);
		/* Drop the cut line too. */
		while (*len > 0 && text[*len - 1] != '\n')
			(*len)--;
	}
end:
	if (fd != -1)
		close(fd);
}

/* ---- the call's token ---- */

static struct tp_token *
tok_of_slot(CK_SLOT_ID slot)
{
	CK_TOKEN_INFO ti;
	struct tp_token *t = NULL;
	size_t i, n = atomic_load(&ntoks), len;

	for (i = 0; i < n; i++)
		if (toks[i].slot == slot)
			return &toks[i];
	if (real == NULL || real->C_GetTokenInfo(slot, &ti) != CKR_OK)
		return NULL;
	pthread_mutex_lock(&toks_lock);
	n = atomic_load(&ntoks);
	for (i = 0; i < n; i++)
		if (toks[i].slot == slot)
			t = &toks[i];
	if (t == NULL && n < TP_MAX_TOKENS) {
		t = &toks[n];
		t->idx = n;
		t->slot = slot;
		len = sizeof(ti.label);
		while (len > 0 && ti.label[len - 1] == ' ')
			len--;
		memcpy(t->label, ti.label, len);
		t->label[len] = '\0';
		pthread_mutex_init(&t->serial, NULL);
		atomic_store(&ntoks, n + 1);
	}
	pthread_mutex_unlock(&toks_lock);
	return t;
}

static struct tp_token *
tok_of_call(int fn, CK_ULONG handle)
{
	CK_SESSION_INFO si;

	if (fn == FN_C_GetSlotInfo || tp_fn_kind(fn) == KIND_SLOT)
		return tok_of_slot(handle);
	if (tp_fn_kind(fn) == KIND_NONE || real == NULL ||
	    real->C_GetSessionInfo(handle, &si) != CKR_OK)
		return NULL;
	return tok_of_slot(si.slotID);
}

const char *
tp_token_label(size_t idx)
{
	return idx < atomic_load(&ntoks) ? toks[idx].label : NULL;
}

static int
label_in(char list[][TP_LABEL_MAX], size_t n, const char *label)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], label) == 0)
			return 1;
	return 0;
}

/* A directive kept by a rewrite keeps its count. */
static void
carry_state(const struct tp_config *old, struct tp_config *next)
{
	char taken[TP_MAX_DIRECTIVES] = { 0 };
	size_t i, j;

	for (i = 0; i < next->nd; i++)
		for (j = 0; j < old->nd; j++)
			if (!taken[j] &&
			    tp_directive_same(&next->d[i], &old->d[j])) {
				next->d[i].seen = old->d[j].seen;
				taken[j] = 1;
				break;
			}
}

static void
remember_action(const struct tp_action *a)
{
	size_t i;

	for (i = 0; i < nmemo; i++)
		if (memo[i].kind == a->kind && strcmp(memo[i].id, a->id) == 0)
			return;
	if (nmemo == MEMO_MAX) {
		if (!memo_full_told)
			fprintf(stderr, "hsmtls-testp11: more than %d action "
			    "ids, new ones ignored\n", MEMO_MAX);
		memo_full_told = 1;
		return;
	}
	memo[nmemo].kind = a->kind;
	strcpy(memo[nmemo].id, a->id);
	memo[nmemo].done = 0;
	nmemo++;
	npending++;
}

static void
reload(struct change *ch)
{
	struct tp_config *next = cur == &configs[0] ? &configs[1] : &configs[0];
	size_t i, len;

	control_read(&loaded, &len);
	tp_config_parse(next, text, len, warn);
	carry_state(cur, next);
	ch->removed = !cur->removed && next->removed;
	ch->inserted = cur->removed && !next->removed;
	for (i = 0; i < next->nremoved; i++)
		if (!label_in(cur->removed_tok, cur->nremoved,
		    next->removed_tok[i]))
			strcpy(ch->tok_removed[ch->ntok_removed++],
			    next->removed_tok[i]);
	for (i = 0; i < cur->nremoved; i++)
		if (!label_in(next->removed_tok, next->nremoved,
		    cur->removed_tok[i]))
			strcpy(ch->tok_inserted[ch->ntok_inserted++],
			    cur->removed_tok[i]);
	for (i = 0; i < next->na; i++)
		remember_action(&next->a[i]);
	cur = next;
}

/* Actions wait for C_Initialize: run before it, they would do nothing. */
static size_t
claim_actions(size_t *idx)
{
	size_t i, n = 0;

	if (npending == 0 || !atomic_load(&initialized))
		return 0;
	for (i = 0; i < nmemo; i++)
		if (!memo[i].done) {
			memo[i].done = 1;
			idx[n++] = i;
		}
	npending = 0;
	return n;
}

static int
fail_fires(struct tp_directive *d)
{
	d->seen++;
	switch (d->mode) {
	case F_EVERY:
		return d->seen % d->n == 0;
	case F_NTH:
		return d->seen == d->n;
	case F_ALWAYS:
		return 1;
	}
	return 0;
}

static void
apply_directive(struct tp_directive *d, struct tp_decision *out)
{
	switch (d->kind) {
	case D_LATENCY:
		out->latency_ms += d->ms;
		break;
	case D_HANG:
		if (d->seen < d->n) {
			d->seen++;
			out->hang_ms += d->ms;
		}
		break;
	case D_FAIL:
		/* Every fail directive counts the call; the first to fire
		 * gives the answer. */
		if (fail_fires(d) && out->fail == CKR_OK)
			out->fail = d->rv;
		break;
	}
}

static void
decide_locked(int fn, struct tp_decision *d)
{
	const struct tp_token *t = d->tok;
	size_t i;

	d->removed = cur->removed || (t != NULL &&
	    label_in(cur->removed_tok, cur->nremoved, t->label));
	if (d->removed) {
		if (tp_fn_kind(fn) == KIND_SLOT)
			d->reject = CKR_TOKEN_NOT_PRESENT;
		else if (tp_fn_kind(fn) != KIND_NONE)
			d->reject = CKR_DEVICE_REMOVED;
		return;
	}
	for (i = 0; i < cur->nd; i++) {
		if (cur->d[i].fn != fn || (cur->d[i].token[0] != '\0' &&
		    (t == NULL || strcmp(cur->d[i].token, t->label) != 0)))
			continue;
		apply_directive(&cur->d[i], d);
		if (cur->d[i].kind == D_LATENCY && cur->d[i].serial)
			d->serial = 1;
	}
	if (fn == FN_C_GetTokenInfo)
		d->flags = cur->flags;
}

/* Slot ids from the real module, malloc'd; NULL (and *n 0) if none. */
static CK_SLOT_ID *
slot_list(CK_BBOOL present, CK_ULONG *n)
{
	CK_SLOT_ID *slots = NULL, *p;
	CK_RV rv;
	int tries;

	for (tries = 0; tries < 4; tries++) {
		*n = 0;
		if (real->C_GetSlotList(present, NULL, n) != CKR_OK || *n == 0)
			break;
		if ((p = realloc(slots, *n * sizeof(*slots))) == NULL)
			break;
		slots = p;
		rv = real->C_GetSlotList(present, slots, n);
		if (rv == CKR_OK)
			return slots;
		if (rv != CKR_BUFFER_TOO_SMALL)
			break;
	}
	free(slots);
	*n = 0;
	return NULL;
}

/* What the loss of one token does: its slot's sessions are gone. */
static void
close_token_sessions(const char *label)
{
	CK_SLOT_ID *slots;
	CK_ULONG i, n;
	struct tp_token *t;

	slots = slot_list(CK_FALSE, &n);
	for (i = 0; i < n; i++)
		if ((t = tok_of_slot(slots[i])) != NULL &&
		    strcmp(t->label, label) == 0)
			real->C_CloseAllSessions(slots[i]);
	free(slots);
}

int
tp_slot_removed(CK_SLOT_ID slot)
{
	const struct tp_token *t;
	int removed;

	if (control_path == NULL || (t = tok_of_slot(slot)) == NULL)
		return 0;
	pthread_mutex_lock(&lock);
	removed = label_in(cur->removed_tok, cur->nremoved, t->label);
	pthread_mutex_unlock(&lock);
	return removed;
}

/* What a device loss does: every session of every slot is gone. */
static void
close_all_sessions(void)
{
	CK_SLOT_ID *slots;
	CK_ULONG i, n;

	slots = slot_list(CK_FALSE, &n);
	for (i = 0; i < n; i++)
		real->C_CloseAllSessions(slots[i]);
	free(slots);
}

/* Log out every token through a session of our own, left closed. */
static void
logout_all(void)
{
	CK_SESSION_HANDLE s;
	CK_SLOT_ID *slots;
	CK_ULONG i, n;
	CK_RV rv;
	char buf[32];

	slots = slot_list(CK_TRUE, &n);
	for (i = 0; i < n; i++) {
		if (real->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL,
		    NULL, &s) != CKR_OK)
			continue;
		rv = real->C_Logout(s);
		if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN)
			fprintf(stderr, "hsmtls-testp11: action logout: "
			    "C_Logout: %s\n", tp_ckr_name(rv, buf, sizeof(buf)));
		real->C_CloseSession(s);
	}
	free(slots);
}

static void
run_action(const struct memo *m)
{
	tp_real_exclusive_begin();
	if (m->kind == A_CLOSE_SESSIONS)
		close_all_sessions();
	else
		logout_all();
	tp_real_exclusive_end();
	tp_fault_log("action %s %s", tp_action_name(m->kind), m->id);
}

static void
log_decision(int fn, const struct tp_decision *d)
{
	const char *name = tp_fn_name(fn);
	char buf[32];

	if (d->reject != CKR_OK)
		tp_fault_log("%s %s", name,
		    tp_ckr_name(d->reject, buf, sizeof(buf)));
	if (d->latency_ms > 0)
		tp_fault_log("%s latency %lu", name, d->latency_ms);
	if (d->hang_ms > 0)
		tp_fault_log("%s hang %lu", name, d->hang_ms);
	if (d->fail != CKR_OK)
		tp_fault_log("%s %s", name,
		    tp_ckr_name(d->fail, buf, sizeof(buf)));
}

/* tok_of_call() asks the real module: not while a device event runs. */
static struct tp_token *
tok_of_call_shared(int fn, CK_ULONG handle)
{
	struct tp_token *t;

	tp_real_shared_begin();
	t = tok_of_call(fn, handle);
	tp_real_shared_end();
	return t;
}

/* The faults for one call of fn; d is all zero when there are none. */
void
tp_faults_decide(int fn, CK_ULONG handle, int want_token,
    struct tp_decision *d)
{
	struct change ch;
	struct file_id seen;
	size_t idx[MEMO_MAX], i, nact;
	int scoped;

	memset(d, 0, sizeof(*d));
	memset(&ch, 0, sizeof(ch));
	if (control_path == NULL) {
		if (want_token)
			d->tok = tok_of_call_shared(fn, handle);
		return;
	}
	control_stat(&seen);
	pthread_mutex_lock(&lock);
	if (!file_id_equal(&seen, &loaded))
		reload(&ch);
	scoped = cur->scoped;
	pthread_mutex_unlock(&lock);
	/* The look-up calls the real module: not under the lock. */
	if (scoped || want_token)
		d->tok = tok_of_call_shared(fn, handle);
	pthread_mutex_lock(&lock);
	decide_locked(fn, d);
	nact = claim_actions(idx);
	pthread_mutex_unlock(&lock);
	if (ch.removed) {
		tp_fault_log("removed");
		tp_real_exclusive_begin();
		close_all_sessions();
		tp_real_exclusive_end();
	}
	if (ch.inserted)
		tp_fault_log("inserted");
	for (i = 0; i < ch.ntok_removed; i++) {
		tp_fault_log("removed token %s", ch.tok_removed[i]);
		tp_real_exclusive_begin();
		close_token_sessions(ch.tok_removed[i]);
		tp_real_exclusive_end();
	}
	for (i = 0; i < ch.ntok_inserted; i++)
		tp_fault_log("inserted token %s", ch.tok_inserted[i]);
	for (i = 0; i < nact; i++)
		run_action(&memo[idx[i]]);
	log_decision(fn, d);
}
