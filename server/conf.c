/*
 * conf.c - hsmtls.conf: lexer, parser and the directive table.
 *
 *   directive value ...;
 *   block LABEL { directive value ...; ... }
 *
 * The file is read whole and parsed in two passes: first into statements
 * (words with their line numbers), then each statement is checked against
 * the table of directives for its block.  Every error is collected with
 * its line, so one run reports all of them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "hk.h"
#include "log.h"

#define CONF_MAX_FILE   (1024 * 1024)
#define CONF_MAX_ARGS   64
#define CONF_MAX_DEPTH  1

/* ---- errors ---- */

static void conf_errors_vadd(struct conf_errors *e, const char *file,
    int line, bool warning, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static void conf_errors_vadd(struct conf_errors *e, const char *file,
    int line, bool warning, const char *fmt, va_list ap)
{
	char msg[1024], where[1100];
	struct conf_error *grown;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (file != NULL && line > 0)
		snprintf(where, sizeof(where), "%s:%d: ", file, line);
	else if (file != NULL)
		snprintf(where, sizeof(where), "%s: ", file);
	else
		where[0] = '\0';
	grown = realloc(e->e, (e->n + 1) * sizeof(*grown));
	if (grown == NULL)
		return;
	e->e = grown;
	grown[e->n].where = strdup(where);
	grown[e->n].text = strdup(msg);
	grown[e->n].warning = warning;
	if (grown[e->n].where == NULL || grown[e->n].text == NULL) {
		free(grown[e->n].where);
		free(grown[e->n].text);
		return;
	}
	e->n++;
	if (warning)
		e->warnings++;
}

void conf_errors_add(struct conf_errors *e, const char *file, int line,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_errors_vadd(e, file, line, false, fmt, ap);
	va_end(ap);
}

void conf_errors_warn(struct conf_errors *e, const char *file, int line,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_errors_vadd(e, file, line, true, fmt, ap);
	va_end(ap);
}

void conf_errors_soften(struct conf_errors *e, size_t from)
{
	for (; from < e->n; from++)
		if (!e->e[from].warning) {
			e->e[from].warning = true;
			e->warnings++;
		}
}

size_t conf_errors_count(const struct conf_errors *e)
{
	return e->n - e->warnings;
}

void conf_errors_print(const struct conf_errors *e)
{
	size_t i;

	/* A located line is FILE:LINE: message, as a compiler prints it. */
	for (i = 0; i < e->n; i++)
		if (e->e[i].where[0] != '\0')
			log_located(e->e[i].warning ? LOG_LEVEL_WARN :
			    LOG_LEVEL_ERROR, "%s%s%s", e->e[i].where,
			    e->e[i].warning ? "warning: " : "", e->e[i].text);
		else if (e->e[i].warning)
			log_warn("warning: %s", e->e[i].text);
		else
			log_error("%s", e->e[i].text);
}

void conf_errors_clear(struct conf_errors *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		free(e->e[i].where);
		free(e->e[i].text);
	}
	free(e->e);
	memset(e, 0, sizeof(*e));
}

/* ---- lexer ---- */

enum tok_kind { TOK_WORD, TOK_SEMI, TOK_OPEN, TOK_CLOSE, TOK_EOF, TOK_BAD };

struct lexer {
	const char *p, *end;
	int line;
	const char *file;
	struct conf_errors *err;
	char word[4096];
	size_t wlen;
	int word_line;
};

static void lex_skip(struct lexer *lx)
{
	while (lx->p < lx->end) {
		if (*lx->p == '\n') {
			lx->line++;
			lx->p++;
		} else if (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r') {
			lx->p++;
		} else if (*lx->p == '#') {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		} else {
			return;
		}
	}
}

static bool lex_put(struct lexer *lx, char ch)
{
	if (lx->wlen + 1 >= sizeof(lx->word))
		return false;
	lx->word[lx->wlen++] = ch;
	return true;
}

static enum tok_kind lex_quoted(struct lexer *lx)
{
	lx->p++;        /* the opening quote */
	while (lx->p < lx->end && *lx->p != '"') {
		char ch = *lx->p++;

		if (ch == '\n') {
			conf_errors_add(lx->err, lx->file, lx->word_line,
			    "unterminated quoted string");
			return TOK_BAD;
		}
		if (ch == '\\' && lx->p < lx->end &&
		    (*lx->p == '"' || *lx->p == '\\'))
			ch = *lx->p++;
		if (ch == '\0' || !lex_put(lx, ch)) {
			conf_errors_add(lx->err, lx->file, lx->word_line,
			    ch == '\0' ? "NUL byte in a value" :
			    "value longer than %zu bytes", sizeof(lx->word) - 1);
			return TOK_BAD;
		}
	}
	if (lx->p >= lx->end) {
		conf_errors_add(lx->err, lx->file, lx->word_line,
		    "unterminated quoted string");
		return TOK_BAD;
	}
	lx->p++;
	lx->word[lx->wlen] = '\0';
	return TOK_WORD;
}

static enum tok_kind lex_next(struct lexer *lx)
{
	lex_skip(lx);
	lx->wlen = 0;
	lx->word_line = lx->line;
	if (lx->p >= lx->end)
		return TOK_EOF;
	switch (*lx->p) {
	case ';': lx->p++; return TOK_SEMI;
	case '{': lx->p++; return TOK_OPEN;
	case '}': lx->p++; return TOK_CLOSE;
	case '"': return lex_quoted(lx);
	}
	while (lx->p < lx->end && strchr(" \t\r\n;{}\"#", *lx->p) == NULL) {
		if (*lx->p == '\0' || !lex_put(lx, *lx->p)) {
			conf_errors_add(lx->err, lx->file, lx->word_line,
			    *lx->p == '\0' ? "NUL byte in the file" :
			    "word longer than %zu bytes", sizeof(lx->word) - 1);
			return TOK_BAD;
		}
		lx->p++;
	}
	lx->word[lx->wlen] = '\0';
	return TOK_WORD;
}

/* ---- statements ---- */

struct stmt {
	char *args[CONF_MAX_ARGS];      /* args[0] is the directive */
	int nargs;
	int line;
	bool block;
	struct stmt *child;             /* first statement of the block */
	struct stmt *next;
};

static void stmt_free(struct stmt *s)
{
	struct stmt *next;
	int i;

	for (; s != NULL; s = next) {
		next = s->next;
		for (i = 0; i < s->nargs; i++)
			free(s->args[i]);
		stmt_free(s->child);
		free(s);
	}
}

/*
 * Statements until '}' (depth > 0) or the end.  Returns 0, or -1 after a
 * lexical error or a structure that cannot be followed.
 */
static int parse_block(struct lexer *lx, int depth, struct stmt **out)
{
	struct stmt **tail = out, *s = NULL;
	enum tok_kind t;

	*out = NULL;
	for (;;) {
		t = lex_next(lx);
		if (t == TOK_BAD)
			goto err;
		if (t == TOK_EOF) {
			if (s != NULL) {
				conf_errors_add(lx->err, lx->file, s->line,
				    "'%s': missing ';' at the end of the file",
				    s->args[0]);
				goto err;
			}
			if (depth > 0) {
				conf_errors_add(lx->err, lx->file, lx->line,
				    "missing '}' at the end of the file");
				goto err;
			}
			return 0;
		}
		if (t == TOK_CLOSE) {
			if (s != NULL) {
				conf_errors_add(lx->err, lx->file, s->line,
				    "'%s': missing ';' before '}'", s->args[0]);
				goto err;
			}
			if (depth == 0) {
				conf_errors_add(lx->err, lx->file, lx->word_line,
				    "'}' without a block to close");
				goto err;
			}
			return 0;
		}
		if (t == TOK_SEMI) {
			if (s == NULL) {
				conf_errors_add(lx->err, lx->file, lx->word_line,
				    "';' without a directive");
				goto err;
			}
			*tail = s;
			tail = &s->next;
			s = NULL;
			continue;
		}
		if (t == TOK_OPEN) {
			if (s == NULL) {
				conf_errors_add(lx->err, lx->file, lx->word_line,
				    "'{' without a block name");
				goto err;
			}
			if (depth >= CONF_MAX_DEPTH) {
				conf_errors_add(lx->err, lx->file, s->line,
				    "'%s': blocks cannot be nested", s->args[0]);
				goto err;
			}
			s->block = true;
			if (parse_block(lx, depth + 1, &s->child) != 0)
				goto err;
			*tail = s;
			tail = &s->next;
			s = NULL;
			continue;
		}
		/* a word */
		if (s == NULL) {
			if ((s = calloc(1, sizeof(*s))) == NULL)
				goto oom;
			s->line = lx->word_line;
		}
		if (s->nargs >= CONF_MAX_ARGS) {
			conf_errors_add(lx->err, lx->file, s->line,
			    "'%s': more than %d values", s->args[0],
			    CONF_MAX_ARGS - 1);
			goto err;
		}
		if ((s->args[s->nargs] = strdup(lx->word)) == NULL)
			goto oom;
		s->nargs++;
	}
oom:
	conf_errors_add(lx->err, lx->file, lx->line, "out of memory");
err:
	stmt_free(s);
	stmt_free(*out);
	*out = NULL;
	return -1;
}

/* ---- values ---- */

struct ctx {
	struct conf *c;
	const char *file;
	struct conf_errors *err;
	const struct stmt *s;
	unsigned seen[64];              /* directives seen in this block */
};

static void bad(struct ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void bad(struct ctx *x, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_errors_add(x->err, x->file, x->s->line, "'%s': %s", x->s->args[0],
	    msg);
}

static int want_args(struct ctx *x, int min, int max)
{
	int n = x->s->nargs - 1;

	if (n >= min && n <= max)
		return 0;
	if (min == max)
		bad(x, "takes %d value%s, got %d", min, min == 1 ? "" : "s", n);
	else if (max == CONF_MAX_ARGS)
		bad(x, "takes at least %d value%s, got %d", min,
		    min == 1 ? "" : "s", n);
	else
		bad(x, "takes %d to %d values, got %d", min, max, n);
	return -1;
}

static int parse_uint(const char *s, unsigned long long max,
    unsigned long long *out, const char **rest)
{
	unsigned long long v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (max - (unsigned)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned)(*p - '0');
	}
	*out = v;
	*rest = p;
	return 0;
}

/* N, Ns, Nms or Nm: seconds. */
static int conf_duration(const char *s, double *out)
{
	unsigned long long v;
	const char *rest;

	if (parse_uint(s, 100000000ULL, &v, &rest) == -1)
		return -1;
	if (*rest == '\0' || strcmp(rest, "s") == 0)
		*out = (double)v;
	else if (strcmp(rest, "ms") == 0)
		*out = (double)v / 1000.0;
	else if (strcmp(rest, "m") == 0)
		*out = (double)v * 60.0;
	else if (strcmp(rest, "h") == 0)
		*out = (double)v * 3600.0;
	else
		return -1;
	return 0;
}

/* N, Nk or Nm: bytes. */
static int conf_size(const char *s, size_t *out)
{
	unsigned long long v;
	const char *rest;

	if (parse_uint(s, 1ULL << 40, &v, &rest) == -1)
		return -1;
	if (*rest == 'k' || *rest == 'K')
		v *= 1024, rest++;
	else if (*rest == 'm' || *rest == 'M')
		v *= 1024 * 1024, rest++;
	if (*rest != '\0' || v > SIZE_MAX)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int set_str(struct ctx *x, char **dst)
{
	if (want_args(x, 1, 1) == -1)
		return -1;
	if (x->s->args[1][0] == '\0') {
		bad(x, "empty value");
		return -1;
	}
	free(*dst);
	*dst = strdup(x->s->args[1]);
	return 0;
}

static int set_bool(struct ctx *x, bool *dst)
{
	if (want_args(x, 1, 1) == -1)
		return -1;
	if (strcmp(x->s->args[1], "on") == 0)
		*dst = true;
	else if (strcmp(x->s->args[1], "off") == 0)
		*dst = false;
	else {
		bad(x, "want on or off, got '%s'", x->s->args[1]);
		return -1;
	}
	return 0;
}

static int set_count(struct ctx *x, unsigned min, unsigned max, unsigned *dst)
{
	unsigned long long v;
	const char *rest;

	if (want_args(x, 1, 1) == -1)
		return -1;
	if (parse_uint(x->s->args[1], max, &v, &rest) == -1 || *rest != '\0' ||
	    v < min) {
		bad(x, "want a number %u..%u, got '%s'", min, max,
		    x->s->args[1]);
		return -1;
	}
	*dst = (unsigned)v;
	return 0;
}

static int set_duration(struct ctx *x, double min, double max, double *dst)
{
	double v;

	if (want_args(x, 1, 1) == -1)
		return -1;
	if (conf_duration(x->s->args[1], &v) == -1 || v < min || v > max) {
		bad(x, "want a duration such as 30s, 500ms or 5m "
		    "(%gs to %gs), got '%s'", min, max, x->s->args[1]);
		return -1;
	}
	*dst = v;
	return 0;
}

static int set_size(struct ctx *x, size_t min, size_t max, size_t *dst)
{
	size_t v;

	if (want_args(x, 1, 1) == -1)
		return -1;
	if (conf_size(x->s->args[1], &v) == -1 || v < min || v > max) {
		bad(x, "want a size such as 8k (%zu to %zu bytes), got '%s'",
		    min, max, x->s->args[1]);
		return -1;
	}
	*dst = v;
	return 0;
}

static int set_path(struct ctx *x, char **dst)
{
	if (set_str(x, dst) == -1)
		return -1;
	return 0;
}

/* ---- listen ---- */

static int conf_set_host(struct conf_listen *l, const char *host, size_t len)
{
	if (len == 0 || len >= sizeof(l->host))
		return -1;
	memcpy(l->host, host, len);
	l->host[len] = '\0';
	return 0;
}

int conf_split_listen(struct conf_listen *l, const char *spec)
{
	const char *colon, *close;
	unsigned long long port;
	const char *rest;

	if (spec[0] == '[') {
		close = strchr(spec, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		if (conf_set_host(l, spec + 1, (size_t)(close - spec - 1)) == -1)
			return -1;
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL || memchr(spec, ':', (size_t)(colon - spec)))
			return -1;      /* bare IPv6 needs brackets */
		if (conf_set_host(l, spec, (size_t)(colon - spec)) == -1)
			return -1;
	}
	if (parse_uint(colon + 1, 65535, &port, &rest) == -1 || *rest != '\0')
		return -1;
	snprintf(l->port, sizeof(l->port), "%llu", port);
	return 0;
}

static int add_listen(struct ctx *x, struct conf_listen **list, size_t *n)
{
	struct conf_listen l, *grown;
	size_t i;

	if (want_args(x, 1, 1) == -1)
		return -1;
	memset(&l, 0, sizeof(l));
	if (conf_split_listen(&l, x->s->args[1]) == -1) {
		bad(x, "'%s': want HOST:PORT or [ADDR]:PORT with PORT 0..65535",
		    x->s->args[1]);
		return -1;
	}
	for (i = 0; i < *n; i++)
		if (strcmp((*list)[i].spec, x->s->args[1]) == 0 &&
		    strcmp(l.port, "0") != 0) {
			bad(x, "'%s' is already given on line %d",
			    x->s->args[1], (*list)[i].line);
			return -1;
		}
	if ((grown = realloc(*list, (*n + 1) * sizeof(*grown))) == NULL)
		return -1;
	*list = grown;
	l.spec = strdup(x->s->args[1]);
	l.line = x->s->line;
	grown[(*n)++] = l;
	return 0;
}

/* ---- ALPN ---- */

int conf_parse_alpn(const char *list, unsigned char *wire, size_t *wire_len,
    char *why, size_t len)
{
	static const char *const known[] = { "h2", "http/1.1" };
	const char *p = list, *e;
	size_t o = 0, n, i, seen = 0;

	for (;;) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		for (e = p; *e != '\0' && *e != ',' && *e != ' ' && *e != '\t'; e++)
			;
		n = (size_t)(e - p);
		for (i = 0; i < 2; i++)
			if (strlen(known[i]) == n && memcmp(p, known[i], n) == 0)
				break;
		if (i == 2) {
			snprintf(why, len, "ALPN protocol '%.*s': want h2 or "
			    "http/1.1", (int)n, p);
			return -1;
		}
		if (seen & (1U << i)) {
			snprintf(why, len, "ALPN protocol '%s' given twice",
			    known[i]);
			return -1;
		}
		seen |= 1U << i;
		wire[o++] = (unsigned char)n;
		memcpy(wire + o, p, n);
		o += n;
		p = e;
	}
	if (o == 0) {
		snprintf(why, len, "empty ALPN list: want h2, http/1.1 or both");
		return -1;
	}
	*wire_len = o;
	return 0;
}

/* alpn h2,http/1.1; or alpn h2 http/1.1; */
static int set_alpn(struct ctx *x, char **dst)
{
	unsigned char wire[CONF_ALPN_WIRE_MAX];
	char list[256], why[256];
	size_t o = 0, wlen;
	int i;

	if (want_args(x, 1, CONF_MAX_ARGS) == -1)
		return -1;
	/* Stop at the first word that does not fit: list + o past the end
	 * of the array is not a pointer C allows to be formed. */
	for (i = 1; i < x->s->nargs && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
		    i > 1 ? "," : "", x->s->args[i]);
	if (o >= sizeof(list)) {
		bad(x, "ALPN list too long");
		return -1;
	}
	if (conf_parse_alpn(list, wire, &wlen, why, sizeof(why)) == -1) {
		bad(x, "%s", why);
		return -1;
	}
	free(*dst);
	*dst = strdup(list);
	return *dst != NULL ? 0 : -1;
}

/* ---- upstream ---- */

int conf_parse_upstream(struct conf_upstream *u, const char *spec, char *why,
    size_t len)
{
	struct sockaddr_un sun;

	memset(u, 0, sizeof(*u));
	if (strncmp(spec, "unix:", 5) == 0) {
		if (spec[5] != '/' || strlen(spec + 5) >= sizeof(sun.sun_path)) {
			snprintf(why, len, "'%s': want unix:/PATH, an absolute "
			    "path of at most %zu bytes", spec,
			    sizeof(sun.sun_path) - 1);
			return -1;
		}
		u->path = strdup(spec + 5);
	} else if (strncmp(spec, "tcp:", 4) != 0 ||
	    conf_split_listen(&u->tcp, spec + 4) == -1 ||
	    strcmp(u->tcp.port, "0") == 0) {
		snprintf(why, len, "'%s': want tcp:HOST:PORT, tcp:[ADDR]:PORT "
		    "(PORT 1..65535) or unix:/PATH", spec);
		return -1;
	}
	if ((u->spec = strdup(spec)) == NULL) {
		snprintf(why, len, "out of memory");
		conf_upstream_free(u);
		return -1;
	}
	return 0;
}

void conf_upstream_free(struct conf_upstream *u)
{
	free(u->spec);
	free(u->path);
	memset(u, 0, sizeof(*u));
}

/* ---- the directive tables ---- */

static int expand_env(struct ctx *x, char **val);

typedef int (*dir_fn)(struct ctx *x, void *obj);

struct directive {
	const char *name;
	dir_fn fn;
	bool repeat;            /* may be given more than once */
	bool block;             /* takes a { } block */
};

#define C(x) ((x)->c)

static int d_listen(struct ctx *x, void *o)
{ return add_listen(x, &C(x)->listens, &C(x)->nlistens); }
static int d_admin(struct ctx *x, void *o)
{ return add_listen(x, &C(x)->admin, &C(x)->nadmin); }
static int d_user(struct ctx *x, void *o) { return set_str(x, &C(x)->user); }
static int d_pid(struct ctx *x, void *o) { return set_path(x, &C(x)->pid_file); }
static int d_keyd(struct ctx *x, void *o) { return set_path(x, &C(x)->keyd); }
static int d_keyd_user(struct ctx *x, void *o)
{
	C(x)->keyd_user_line = x->s->line;
	return set_str(x, &C(x)->keyd_user);
}

static int d_access_log(struct ctx *x, void *o)
{
	if (set_str(x, &C(x)->access_log) == -1)
		return -1;
	if (strcmp(C(x)->access_log, "off") == 0) {
		free(C(x)->access_log);
		C(x)->access_log = NULL;
	}
	return 0;
}

static int d_error_log(struct ctx *x, void *o)
{
	if (set_str(x, &C(x)->error_log) == -1)
		return -1;
	if (strcmp(C(x)->error_log, "off") == 0) {
		bad(x, "the error log cannot be off; use a file or stderr");
		return -1;
	}
	return 0;
}

static int d_log_level(struct ctx *x, void *o)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	int i;

	if (want_args(x, 1, 1) == -1)
		return -1;
	for (i = 0; i < 4; i++)
		if (strcmp(x->s->args[1], names[i]) == 0) {
			C(x)->log_level = i;
			return 0;
		}
	bad(x, "want error, warn, info or debug, got '%s'", x->s->args[1]);
	return -1;
}

static int d_ticket_file(struct ctx *x, void *o)
{
	if (set_path(x, &C(x)->ticket_key_file) == -1)
		return -1;
	return expand_env(x, &C(x)->ticket_key_file);
}

static int d_ticket_rotate(struct ctx *x, void *o)
{
	double v;

	if (set_duration(x, 1, 7 * 86400, &v) == -1)
		return -1;
	C(x)->ticket_rotate_secs = (unsigned)v;
	return 0;
}

static int d_strict_sni(struct ctx *x, void *o)
{ return set_bool(x, &C(x)->strict_sni); }
static int d_weak(struct ctx *x, void *o)
{ return set_bool(x, &C(x)->allow_weak_key); }
static int d_imported(struct ctx *x, void *o)
{ return set_bool(x, &C(x)->allow_imported_key); }
static int d_max_conns(struct ctx *x, void *o)
{ return set_count(x, 1, 1000000, &C(x)->max_conns); }
static int d_affinity(struct ctx *x, void *o)
{ return set_bool(x, &C(x)->worker_cpu_affinity); }
static int d_workers(struct ctx *x, void *o)
{ return set_count(x, 1, CONF_MAX_WORKERS, &C(x)->workers); }
static int d_hs_timeout(struct ctx *x, void *o)
{ return set_duration(x, 0.001, 3600, &C(x)->handshake_timeout); }
static int d_hdr_timeout(struct ctx *x, void *o)
{ return set_duration(x, 0.001, 3600, &C(x)->header_timeout); }
static int d_idle_timeout(struct ctx *x, void *o)
{ return set_duration(x, 0.001, 86400, &C(x)->idle_timeout); }
static int d_send_timeout(struct ctx *x, void *o)
{ return set_duration(x, 0.001, 3600, &C(x)->send_timeout); }
static int d_shut_timeout(struct ctx *x, void *o)
{ return set_duration(x, 0, 3600, &C(x)->shutdown_timeout); }
static int d_up_timeout(struct ctx *x, void *o)
{ return set_duration(x, 0.001, 600, &C(x)->upstream_connect_timeout); }
static int d_req_line(struct ctx *x, void *o)
{ return set_size(x, 64, 1024 * 1024, &C(x)->max_request_line); }
static int d_hdr_size(struct ctx *x, void *o)
{ return set_size(x, 256, 1024 * 1024, &C(x)->max_header_size); }
static int d_max_headers(struct ctx *x, void *o)
{ return set_count(x, 1, 10000, &C(x)->max_headers); }
static int d_alpn(struct ctx *x, void *o)
{ return set_alpn(x, &C(x)->alpn); }
static int d_h2_streams(struct ctx *x, void *o)
{ return set_count(x, 1, 10000, &C(x)->h2_max_streams); }
static int d_pool_threads(struct ctx *x, void *o)
{ return set_count(x, 1, 1024, &C(x)->pool_threads); }
static int d_queue_max(struct ctx *x, void *o)
{ return set_count(x, 1, 1000000, &C(x)->queue_max); }

static int d_key_timeout(struct ctx *x, void *o)
{
	double v;

	if (set_duration(x, 0.001, 600, &v) == -1)
		return -1;
	C(x)->key_timeout_ms = (unsigned)(v * 1000.0 + 0.5);
	return 0;
}

/* token blocks */
static int t_module(struct ctx *x, void *o)
{ return set_path(x, &((struct conf_token *)o)->module); }
/*
 * ${NAME} in a value becomes the environment variable NAME: systemd hands
 * a LoadCredential= PIN over in ${CREDENTIALS_DIRECTORY}.  An unset
 * variable is an error, never an empty string.
 */
static int expand_env(struct ctx *x, char **val)
{
	char out[4096], name[256];
	const char *p = *val, *end, *v;
	size_t o = 0, n;

	if (strstr(p, "${") == NULL)
		return 0;
	while (*p != '\0') {
		if (p[0] == '$' && p[1] == '{') {
			if ((end = strchr(p + 2, '}')) == NULL ||
			    (n = (size_t)(end - p - 2)) == 0 || n >= sizeof(name)) {
				bad(x, "'%s': want ${NAME}", *val);
				return -1;
			}
			memcpy(name, p + 2, n);
			name[n] = '\0';
			if ((v = getenv(name)) == NULL) {
				bad(x, "'%s': environment variable %s is not set",
				    *val, name);
				return -1;
			}
			n = strlen(v);
			if (o + n >= sizeof(out))
				goto long_;
			memcpy(out + o, v, n);
			o += n;
			p = end + 1;
			continue;
		}
		if (o + 1 >= sizeof(out))
			goto long_;
		out[o++] = *p++;
	}
	out[o] = '\0';
	free(*val);
	*val = strdup(out);
	return *val != NULL ? 0 : -1;
long_:
	bad(x, "'%s': too long once expanded", *val);
	return -1;
}

static int t_pin_file(struct ctx *x, void *o)
{
	struct conf_token *t = o;

	if (set_path(x, &t->pin_file) == -1)
		return -1;
	return expand_env(x, &t->pin_file);
}

static const struct directive token_dirs[] = {
	{ "module", t_module, false, false },
	{ "pin-file", t_pin_file, false, false },
	{ NULL, NULL, false, false },
};

/* site blocks */
static int s_server_name(struct ctx *x, void *o)
{
	struct conf_site *site = o;
	char **grown;
	int i;

	if (want_args(x, 1, CONF_MAX_ARGS) == -1)
		return -1;
	for (i = 1; i < x->s->nargs; i++) {
		grown = realloc(site->names, (site->nnames + 1) * sizeof(*grown));
		if (grown == NULL)
			return -1;
		site->names = grown;
		site->names[site->nnames++] = strdup(x->s->args[i]);
	}
	return 0;
}

static int s_root(struct ctx *x, void *o)
{
	((struct conf_site *)o)->root_line = x->s->line;
	return set_path(x, &((struct conf_site *)o)->root);
}

static int s_upstream(struct ctx *x, void *o)
{
	struct conf_site *site = o;
	char why[512];

	if (want_args(x, 1, 1) == -1)
		return -1;
	if (conf_parse_upstream(&site->upstream, x->s->args[1], why,
	    sizeof(why)) == -1) {
		bad(x, "%s", why);
		site->upstream.line = x->s->line;      /* given, if wrong */
		return -1;
	}
	site->upstream.line = x->s->line;
	return 0;
}

static int s_proxy_protocol(struct ctx *x, void *o)
{
	struct conf_site *site = o;

	if (want_args(x, 1, 1) == -1)
		return -1;
	site->proxy_line = x->s->line;
	if (strcmp(x->s->args[1], "v2") == 0)
		site->proxy_v2 = true;
	else if (strcmp(x->s->args[1], "off") == 0)
		site->proxy_v2 = false;
	else {
		bad(x, "want v2 or off, got '%s'", x->s->args[1]);
		return -1;
	}
	return 0;
}
static int s_alpn(struct ctx *x, void *o)
{ return set_alpn(x, &((struct conf_site *)o)->alpn); }
static int s_rsa_kx(struct ctx *x, void *o)
{ return set_bool(x, &((struct conf_site *)o)->rsa_kx); }

static int s_key(struct ctx *x, void *o)
{
	struct conf_site *site = o;
	struct conf_key *k;
	char li[256], lj[256];
	int i, j, n, hi, hj;

	if (want_args(x, 2, CONF_KEY_REPLICAS + 1) == -1)
		return -1;
	/* Every word but the last (the certificate) names a private key. */
	n = x->s->nargs - 2;
	for (i = 1; i <= n; i++)
		if (strncmp(x->s->args[i], "pkcs11:", 7) != 0) {
			bad(x, "'%s' is not a PKCS#11 URI (pkcs11:...; quote it, "
			    "since it contains ';')%s", x->s->args[i], n > 1 ?
			    "; only the last word is the certificate" : "");
			return -1;
		}
	/* Replicas are for surviving a token: two on one token is a typo. */
	for (i = 1; i <= n; i++) {
		hi = hk_uri_token_label(x->s->args[i], li, sizeof(li));
		for (j = 1; j < i && n > 1; j++) {
			hj = hk_uri_token_label(x->s->args[j], lj, sizeof(lj));
			if (hi >= 0 && hi == hj &&
			    (hi == 0 || strcmp(li, lj) == 0)) {
				bad(x, "'%s' and '%s' name the same token; the "
				    "URIs of one key must each name another "
				    "token (token=...)", x->s->args[j],
				    x->s->args[i]);
				return -1;
			}
		}
	}
	if (site->nkeys >= CONF_SITE_KEYS) {
		bad(x, "a site holds at most %d keys (one RSA, one ECDSA)",
		    CONF_SITE_KEYS);
		return -1;
	}
	k = &site->keys[site->nkeys++];
	k->uri = strdup(x->s->args[1]);
	k->cert = strdup(x->s->args[n + 1]);
	k->line = x->s->line;
	if ((k->uris = calloc((size_t)n, sizeof(*k->uris))) == NULL)
		return -1;
	k->uris[0] = k->uri;
	for (i = 2; i <= n; i++)
		k->uris[i - 1] = strdup(x->s->args[i]);
	k->nuris = (size_t)n;
	return 0;
}

static const struct directive site_dirs[] = {
	{ "server-name", s_server_name, true, false },
	{ "root", s_root, false, false },
	{ "upstream", s_upstream, false, false },
	{ "proxy-protocol", s_proxy_protocol, false, false },
	{ "alpn", s_alpn, false, false },
	{ "key", s_key, true, false },
	{ "rsa-key-exchange", s_rsa_kx, false, false },
	{ NULL, NULL, false, false },
};

static int run_block(struct ctx *x, const struct directive *table, void *obj,
    const struct stmt *list);

static int d_token(struct ctx *x, void *o)
{
	struct conf *c = C(x);
	struct conf_token *t, *grown;
	const struct stmt *s = x->s;
	size_t i;

	if (want_args(x, 1, 1) == -1)
		return -1;
	for (i = 0; i < c->ntokens; i++)
		if (strcmp(c->tokens[i].name, s->args[1]) == 0) {
			bad(x, "token '%s' is already defined on line %d",
			    s->args[1], c->tokens[i].line);
			return -1;
		}
	if ((grown = realloc(c->tokens, (c->ntokens + 1) * sizeof(*grown))) ==
	    NULL)
		return -1;
	c->tokens = grown;
	t = &c->tokens[c->ntokens++];
	memset(t, 0, sizeof(*t));
	t->name = strdup(s->args[1]);
	t->line = s->line;
	return run_block(x, token_dirs, t, s->child);
}

/* A site serves files (root) or passes its connections on (upstream). */
static int site_serves(struct ctx *x, const struct conf_site *site)
{
	if (site->root != NULL && site->upstream.spec != NULL) {
		conf_errors_add(x->err, x->file, site->upstream.line, "site '%s' "
		    "has both root (line %d) and upstream: a site serves files "
		    "or passes its connections to a backend; give one",
		    site->name, site->root_line);
		return -1;
	}
	if (site->root == NULL && site->upstream.line == 0) {
		bad(x, "site '%s' has no root and no upstream: give one "
		    "(root DIR; or upstream tcp:HOST:PORT|unix:PATH;)",
		    site->name);
		return -1;
	}
	if (site->proxy_v2 && site->upstream.line == 0) {
		conf_errors_add(x->err, x->file, site->proxy_line, "site '%s': "
		    "proxy-protocol is for a site with an upstream", site->name);
		return -1;
	}
	return 0;
}

static int d_site(struct ctx *x, void *o)
{
	struct conf *c = C(x);
	struct conf_site *site, *grown;
	const struct stmt *s = x->s;
	size_t i;
	int rc;

	if (want_args(x, 1, 1) == -1)
		return -1;
	for (i = 0; i < c->nsites; i++)
		if (strcmp(c->sites[i].name, s->args[1]) == 0) {
			bad(x, "site '%s' is already defined on line %d",
			    s->args[1], c->sites[i].line);
			return -1;
		}
	if ((grown = realloc(c->sites, (c->nsites + 1) * sizeof(*grown))) ==
	    NULL)
		return -1;
	c->sites = grown;
	site = &c->sites[c->nsites++];
	memset(site, 0, sizeof(*site));
	site->name = strdup(s->args[1]);
	site->line = s->line;
	rc = run_block(x, site_dirs, site, s->child);
	x->s = s;
	if (site_serves(x, site) == -1)
		rc = -1;
	if (site->nkeys == 0) {
		bad(x, "site '%s' has no key", site->name);
		rc = -1;
	}
	return rc;
}

static const struct directive top_dirs[] = {
	{ "listen", d_listen, true, false },
	{ "admin-listen", d_admin, true, false },
	{ "user", d_user, false, false },
	{ "pid-file", d_pid, false, false },
	{ "keyd", d_keyd, false, false },
	{ "keyd-user", d_keyd_user, false, false },
	{ "access-log", d_access_log, false, false },
	{ "error-log", d_error_log, false, false },
	{ "log-level", d_log_level, false, false },
	{ "ticket-key-file", d_ticket_file, false, false },
	{ "ticket-rotate", d_ticket_rotate, false, false },
	{ "strict-sni", d_strict_sni, false, false },
	{ "allow-weak-key", d_weak, false, false },
	{ "allow-imported-key", d_imported, false, false },
	{ "max-connections", d_max_conns, false, false },
	{ "workers", d_workers, false, false },
	{ "worker-cpu-affinity", d_affinity, false, false },
	{ "handshake-timeout", d_hs_timeout, false, false },
	{ "header-timeout", d_hdr_timeout, false, false },
	{ "idle-timeout", d_idle_timeout, false, false },
	{ "send-timeout", d_send_timeout, false, false },
	{ "shutdown-timeout", d_shut_timeout, false, false },
	{ "upstream-connect-timeout", d_up_timeout, false, false },
	{ "max-request-line", d_req_line, false, false },
	{ "max-header-size", d_hdr_size, false, false },
	{ "max-headers", d_max_headers, false, false },
	{ "alpn", d_alpn, false, false },
	{ "h2-max-streams", d_h2_streams, false, false },
	{ "pool-threads", d_pool_threads, false, false },
	{ "queue-max", d_queue_max, false, false },
	{ "key-timeout", d_key_timeout, false, false },
	{ "token", d_token, true, true },
	{ "site", d_site, true, true },
	{ NULL, NULL, false, false },
};

static const char *block_name(const struct directive *table)
{
	if (table == token_dirs)
		return "a token block";
	if (table == site_dirs)
		return "a site block";
	return "the top level";
}

/* Another table that knows the directive, to say where it belongs. */
static const char *belongs_in(const char *name)
{
	const struct directive *tables[] = { top_dirs, token_dirs, site_dirs };
	size_t i, j;

	for (i = 0; i < 3; i++)
		for (j = 0; tables[i][j].name != NULL; j++)
			if (strcmp(tables[i][j].name, name) == 0)
				return block_name(tables[i]);
	return NULL;
}

static int run_block(struct ctx *x, const struct directive *table, void *obj,
    const struct stmt *list)
{
	unsigned seen[64];
	int first[64] = { 0 };
	const struct stmt *s;
	size_t i;
	int rc = 0;

	memset(seen, 0, sizeof(seen));
	for (s = list; s != NULL; s = s->next) {
		const char *where;

		x->s = s;
		for (i = 0; table[i].name != NULL; i++)
			if (strcmp(table[i].name, s->args[0]) == 0)
				break;
		if (table[i].name == NULL) {
			where = belongs_in(s->args[0]);
			if (where != NULL)
				conf_errors_add(x->err, x->file, s->line,
				    "'%s' is not allowed in %s (it belongs in "
				    "%s)", s->args[0], block_name(table), where);
			else
				conf_errors_add(x->err, x->file, s->line,
				    "unknown directive '%s'", s->args[0]);
			rc = -1;
			continue;
		}
		if (table[i].block != s->block) {
			bad(x, table[i].block ? "needs a { } block" :
			    "takes no { } block (is a ';' missing?)");
			rc = -1;
			continue;
		}
		if (seen[i]++ && !table[i].repeat) {
			bad(x, "duplicate: already given on line %d", first[i]);
			rc = -1;
			continue;
		}
		if (seen[i] == 1)
			first[i] = s->line;
		if (table[i].fn(x, obj) == -1)
			rc = -1;
	}
	return rc;
}

/* ---- whole-file checks ---- */

static bool site_name_taken(const struct conf *c, size_t upto,
    const char *name, const struct conf_site **by)
{
	size_t i, j;

	for (i = 0; i < upto; i++)
		for (j = 0; j < c->sites[i].nnames; j++)
			if (strcasecmp(c->sites[i].names[j], name) == 0) {
				*by = &c->sites[i];
				return true;
			}
	return false;
}

static int check_whole(struct conf *c, const char *file,
    struct conf_errors *err)
{
	const struct conf_site *by;
	size_t i, j;
	int rc = 0;

	if (c->nsites == 0) {
		conf_errors_add(err, file, 0, "no site block: nothing to serve");
		rc = -1;
	}
	for (i = 1; i < c->nsites; i++)
		if (c->sites[i].nnames == 0)
			conf_errors_warn(err, file, c->sites[i].line, "site '%s' "
			    "has no server-name and is not the first site: no "
			    "client can reach it", c->sites[i].name);
	for (i = 0; i < c->nsites; i++)
		for (j = 0; j < c->sites[i].nnames; j++)
			if (site_name_taken(c, i, c->sites[i].names[j], &by)) {
				conf_errors_add(err, file, c->sites[i].line,
				    "server-name '%s' of site '%s' is already "
				    "served by site '%s' (line %d)",
				    c->sites[i].names[j], c->sites[i].name,
				    by->name, by->line);
				rc = -1;
			}
	return rc;
}

static void conf_default_listen(struct conf *c)
{
	if (c->nlistens > 0)
		return;
	if ((c->listens = calloc(1, sizeof(*c->listens))) == NULL)
		return;
	(void)conf_split_listen(&c->listens[0], CONF_DEFAULT_LISTEN);
	c->listens[0].spec = strdup(CONF_DEFAULT_LISTEN);
	c->nlistens = 1;
}

int conf_parse_text(struct conf *c, const char *name, const char *text,
    size_t len, struct conf_errors *err)
{
	struct lexer lx;
	struct stmt *top = NULL;
	struct ctx x;
	size_t before = conf_errors_count(err);
	int rc;

	memset(&lx, 0, sizeof(lx));
	lx.p = text;
	lx.end = text + len;
	lx.line = 1;
	lx.file = name;
	lx.err = err;
	if (parse_block(&lx, 0, &top) != 0)
		return -1;
	memset(&x, 0, sizeof(x));
	x.c = c;
	x.file = name;
	x.err = err;
	rc = run_block(&x, top_dirs, c, top);
	stmt_free(top);
	if (check_whole(c, name, err) != 0)
		rc = -1;
	conf_default_listen(c);
	return rc == 0 && conf_errors_count(err) == before ? 0 : -1;
}

int conf_load(struct conf *c, const char *file, struct conf_errors *err)
{
	struct stat st;
	char *text = NULL;
	ssize_t n;
	size_t off = 0;
	int fd, rc = -1;

	if ((c->file = strdup(file)) == NULL)
		return -1;
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		conf_errors_add(err, file, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		conf_errors_add(err, file, 0, "not a regular file");
		goto end;
	}
	if (st.st_size > CONF_MAX_FILE) {
		conf_errors_add(err, file, 0, "larger than %d bytes",
		    CONF_MAX_FILE);
		goto end;
	}
	if ((text = malloc((size_t)st.st_size + 1)) == NULL)
		goto end;
	while (off < (size_t)st.st_size) {
		n = read(fd, text + off, (size_t)st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			conf_errors_add(err, file, 0, "cannot read: %s",
			    n == 0 ? "file shrank" : strerror(errno));
			goto end;
		}
		off += (size_t)n;
	}
	rc = conf_parse_text(c, file, text, off, err);
end:
	free(text);
	close(fd);
	return rc;
}

void conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->log_level = CONF_LOG_INFO;
	c->ticket_rotate_secs = 3600;
	c->max_conns = 1024;
	c->handshake_timeout = 10;
	c->header_timeout = 10;
	c->idle_timeout = 30;
	c->send_timeout = 30;
	c->shutdown_timeout = 10;
	c->upstream_connect_timeout = 5;
	c->max_request_line = 8192;
	c->max_header_size = 16384;
	c->max_headers = 100;
	c->h2_max_streams = 100;
}

void conf_free(struct conf *c)
{
	size_t i, j;

	for (i = 0; i < c->nlistens; i++)
		free(c->listens[i].spec);
	free(c->listens);
	for (i = 0; i < c->nadmin; i++)
		free(c->admin[i].spec);
	free(c->admin);
	for (i = 0; i < c->ntokens; i++) {
		free(c->tokens[i].name);
		free(c->tokens[i].module);
		free(c->tokens[i].pin_file);
	}
	free(c->tokens);
	for (i = 0; i < c->nsites; i++) {
		struct conf_site *s = &c->sites[i];

		free(s->name);
		for (j = 0; j < s->nnames; j++)
			free(s->names[j]);
		free(s->names);
		free(s->root);
		free(s->alpn);
		conf_upstream_free(&s->upstream);
		for (j = 0; j < s->nkeys; j++) {
			size_t r;

			for (r = 1; r < s->keys[j].nuris; r++)
				free(s->keys[j].uris[r]);
			free(s->keys[j].uris);
			free(s->keys[j].uri);
			free(s->keys[j].cert);
		}
	}
	free(c->sites);
	free(c->file);
	free(c->user);
	free(c->keyd);
	free(c->keyd_user);
	free(c->pid_file);
	free(c->access_log);
	free(c->error_log);
	free(c->ticket_key_file);
	free(c->alpn);
	memset(c, 0, sizeof(*c));
}

struct conf_token *conf_token_for(const struct conf *c, const char *uri)
{
	char label[256];
	size_t i;
	int has = hk_uri_token_label(uri, label, sizeof(label));

	for (i = 0; i < c->ntokens; i++) {
		if (c->tokens[i].name == NULL)
			return &c->tokens[i];   /* the command line's */
		if (has == 1 && strcmp(c->tokens[i].name, label) == 0)
			return &c->tokens[i];
	}
	if (has == 0 && c->ntokens == 1)
		return &c->tokens[0];
	return NULL;
}
