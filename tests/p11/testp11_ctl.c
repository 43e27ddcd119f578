/*
 * testp11_ctl.c - the test module's control file, parsed into directives.
 *
 * One directive a line, words separated by blanks, '#' to the end of the
 * line is a comment:
 *   latency FN MS
 *   hang FN MS [count N]
 *   fail FN CKR every N | fail FN CKR nth N | fail FN CKR always
 *   flags FLAG...
 *   latency FN MS serial
 *   removed
 *   action close-sessions ID | action logout ID
 * latency, hang, fail and removed may end in "token LABEL": the line then
 * applies only to calls on the token of that label (the call's slot, or
 * its session's slot), so one of two tokens can be slowed or removed.
 * "serial" models a token's finite throughput: the token's calls of FN
 * sleep one at a time (a mutex per token held across the sleep; the real
 * call itself stays concurrent), so a token does at most 1000/MS of them
 * a second.  Without "token", every token has its own queue.
 * A line that does not parse (unknown word, bad number, too long, too many
 * directives) is reported through warn and ignored; the others still apply,
 * so a typo in one line never turns every fault off.
 */
#include "config.h"

#include <string.h>

#include "testp11.h"

#define MAX_WORDS 16

/* Each returns NULL, or why the line is ignored. */
typedef const char *parse_fn(struct tp_config *, int, char **);

static const char *
parse_fn_name(const char *word, int *fn)
{
	*fn = tp_fn_lookup(word);
	return *fn < 0 ? "unknown PKCS#11 function" : NULL;
}

static struct tp_directive *
directive_add(struct tp_config *cfg)
{
	struct tp_directive *d;

	if (cfg->nd == TP_MAX_DIRECTIVES)
		return NULL;
	d = &cfg->d[cfg->nd];
	memset(d, 0, sizeof(*d));
	return d;
}

/* latency FN MS */
static const char *
parse_latency(struct tp_config *cfg, int argc, char **argv)
{
	struct tp_directive *d = directive_add(cfg);
	const char *err;

	if (d == NULL)
		return "too many directives";
	if (argc == 4 && strcmp(argv[3], "serial") == 0) {
		d->serial = 1;
		argc--;
	}
	if (argc != 3)
		return "usage: latency FN MS [serial]";
	if ((err = parse_fn_name(argv[1], &d->fn)) != NULL)
		return err;
	if (tp_ulong_parse(argv[2], TP_MS_MAX, &d->ms) == -1)
		return "bad milliseconds";
	d->kind = D_LATENCY;
	cfg->nd++;
	return NULL;
}

/* hang FN MS [count N] */
static const char *
parse_hang(struct tp_config *cfg, int argc, char **argv)
{
	struct tp_directive *d = directive_add(cfg);
	const char *err;

	if (d == NULL)
		return "too many directives";
	if (argc != 3 && (argc != 5 || strcmp(argv[3], "count") != 0))
		return "usage: hang FN MS [count N]";
	if ((err = parse_fn_name(argv[1], &d->fn)) != NULL)
		return err;
	if (tp_ulong_parse(argv[2], TP_MS_MAX, &d->ms) == -1)
		return "bad milliseconds";
	d->n = 1;
	if (argc == 5 && (tp_ulong_parse(argv[4], TP_N_MAX, &d->n) == -1 ||
	    d->n == 0))
		return "bad count";
	d->kind = D_HANG;
	cfg->nd++;
	return NULL;
}

static const char *
parse_fail_mode(struct tp_directive *d, int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[3], "always") == 0) {
		d->mode = F_ALWAYS;
		return NULL;
	}
	if (argc != 5)
		return "usage: fail FN CKR every N|nth N|always";
	if (strcmp(argv[3], "every") == 0)
		d->mode = F_EVERY;
	else if (strcmp(argv[3], "nth") == 0)
		d->mode = F_NTH;
	else
		return "usage: fail FN CKR every N|nth N|always";
	if (tp_ulong_parse(argv[4], TP_N_MAX, &d->n) == -1 || d->n == 0)
		return "bad N";
	return NULL;
}

/* fail FN CKR every N | nth N | always */
static const char *
parse_fail(struct tp_config *cfg, int argc, char **argv)
{
	struct tp_directive *d = directive_add(cfg);
	const char *err;

	if (d == NULL)
		return "too many directives";
	if (argc < 4)
		return "usage: fail FN CKR every N|nth N|always";
	if ((err = parse_fn_name(argv[1], &d->fn)) != NULL)
		return err;
	/* CKR_OK would be a fault that changes nothing: surely a typo. */
	if (tp_ckr_parse(argv[2], &d->rv) == -1 || d->rv == CKR_OK)
		return "bad CKR";
	if ((err = parse_fail_mode(d, argc, argv)) != NULL)
		return err;
	d->kind = D_FAIL;
	cfg->nd++;
	return NULL;
}

/* flags FLAG... (all or nothing: one bad name ignores the line) */
static const char *
parse_flags(struct tp_config *cfg, int argc, char **argv)
{
	CK_FLAGS flags = 0, f;
	int i;

	if (argc < 2)
		return "usage: flags FLAG...";
	for (i = 1; i < argc; i++) {
		if (tp_flag_parse(argv[i], &f) == -1)
			return "bad flag";
		flags |= f;
	}
	cfg->flags |= flags;
	return NULL;
}

static const char *
parse_removed(struct tp_config *cfg, int argc, char **argv)
{
	if (argc != 1)
		return "usage: removed [token LABEL]";
	cfg->removed = 1;
	return NULL;
}

/* action close-sessions ID | action logout ID */
static const char *
parse_action(struct tp_config *cfg, int argc, char **argv)
{
	struct tp_action *a;

	if (cfg->na == TP_MAX_ACTIONS)
		return "too many actions";
	a = &cfg->a[cfg->na];
	if (argc != 3)
		return "usage: action close-sessions|logout ID";
	if (strcmp(argv[1], tp_action_name(A_CLOSE_SESSIONS)) == 0)
		a->kind = A_CLOSE_SESSIONS;
	else if (strcmp(argv[1], tp_action_name(A_LOGOUT)) == 0)
		a->kind = A_LOGOUT;
	else
		return "unknown action";
	if (strlen(argv[2]) >= sizeof(a->id))
		return "action id too long";
	strcpy(a->id, argv[2]);
	cfg->na++;
	return NULL;
}

static const struct {
	const char *word;
	parse_fn *parse;
	int scoped;             /* may end in "token LABEL" */
} directives[] = {
	{ "latency", parse_latency, 1 }, { "hang", parse_hang, 1 },
	{ "fail", parse_fail, 1 }, { "flags", parse_flags, 0 },
	{ "removed", parse_removed, 1 }, { "action", parse_action, 0 },
};

/* "removed token LABEL": one more removed token, the rest still in. */
static const char *
scope_removed(struct tp_config *cfg, const char *label)
{
	if (cfg->nremoved == TP_MAX_REMOVED)
		return "too many removed tokens";
	strcpy(cfg->removed_tok[cfg->nremoved++], label);
	return NULL;
}

/* Split line (modified in place) at blanks, dropping a '#' comment. */
static int
split(char *line, char **argv)
{
	char *p, *save = NULL;
	int argc = 0;

	if ((p = strchr(line, '#')) != NULL)
		*p = '\0';
	for (p = strtok_r(line, " \t\r\f\v", &save); p != NULL;
	    p = strtok_r(NULL, " \t\r\f\v", &save)) {
		if (argc == MAX_WORDS)
			return -1;
		argv[argc++] = p;
	}
	return argc;
}

static void
parse_line(struct tp_config *cfg, unsigned lineno, char *line,
    tp_warn_fn *warn)
{
	char *argv[MAX_WORDS], *label;
	const char *err;
	size_t i;
	int argc;

	if ((argc = split(line, argv)) == -1) {
		warn(lineno, "too many words", NULL);
		return;
	}
	if (argc == 0)
		return;
	for (i = 0; i < sizeof(directives) / sizeof(directives[0]); i++)
		if (strcmp(directives[i].word, argv[0]) == 0)
			break;
	if (i == sizeof(directives) / sizeof(directives[0])) {
		warn(lineno, "unknown directive", argv[0]);
		return;
	}
	if (argc >= 3 && strcmp(argv[argc - 2], "token") == 0) {
		label = argv[argc - 1];
		argc -= 2;
		if (!directives[i].scoped)
			err = "takes no token";
		else if (strlen(label) >= TP_LABEL_MAX)
			err = "token label too long";
		else if (strcmp(argv[0], "removed") == 0)
			err = argc == 1 ? scope_removed(cfg, label) :
			    "usage: removed [token LABEL]";
		else if ((err = directives[i].parse(cfg, argc, argv)) == NULL)
			strcpy(cfg->d[cfg->nd - 1].token, label);
		if (err == NULL)
			cfg->scoped = 1;
	} else
		err = directives[i].parse(cfg, argc, argv);
	if (err == NULL && cfg->nd > 0 && cfg->d[cfg->nd - 1].serial)
		cfg->scoped = 1;
	if (err != NULL)
		warn(lineno, err, NULL);
}

/* cfg is overwritten; text need not end in a newline nor hold a NUL. */
void
tp_config_parse(struct tp_config *cfg, const char *text, size_t len,
    tp_warn_fn *warn)
{
	char line[TP_LINE_MAX + 1];
	const char *p = text, *end = text + len, *nl;
	unsigned lineno = 0;
	size_t n;

	memset(cfg, 0, sizeof(*cfg));
	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		if (n > TP_LINE_MAX || memchr(p, '\0', n) != NULL)
			warn(lineno, n > TP_LINE_MAX ? "line too long" :
			    "NUL byte in line", NULL);
		else {
			memcpy(line, p, n);
			line[n] = '\0';
			parse_line(cfg, lineno, line, warn);
		}
		p = nl != NULL ? nl + 1 : end;
	}
}

/* The same directive, state aside: a rewrite that keeps it keeps its state. */
int
tp_directive_same(const struct tp_directive *a, const struct tp_directive *b)
{
	return a->kind == b->kind && a->fn == b->fn && a->ms == b->ms &&
	    a->n == b->n && a->mode == b->mode && a->rv == b->rv &&
	    a->serial == b->serial && strcmp(a->token, b->token) == 0;
}

const char *
tp_action_name(enum tp_akind kind)
{
	return kind == A_LOGOUT ? "logout" : "close-sessions";
}
