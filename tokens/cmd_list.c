/*
 * cmd_list.c - one line per object on the token: its URI, and for private
 * and secret keys the attributes that say whether the key can leave it.
 *
 * The attributes are read with C_GetAttributeValue (libp11 0.4.12 does not
 * expose them), one attribute per call so that a module refusing one does
 * not hide the others.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok.h"

#define LIST_MAX_OBJECTS 4096
#define LIST_LINE_MAX (TOK_URI_MAX + 128)

/* The first five are the list contract; scripts may parse them. */
static const struct {
	CK_ATTRIBUTE_TYPE type;
	const char *name;
} key_flags[] = {
	{ CKA_SENSITIVE, "sensitive" },
	{ CKA_EXTRACTABLE, "extractable" },
	{ CKA_LOCAL, "local" },
	{ CKA_ALWAYS_SENSITIVE, "always-sensitive" },
	{ CKA_NEVER_EXTRACTABLE, "never-extractable" },
	{ CKA_ALWAYS_AUTHENTICATE, "always-authenticate" },
	{ CKA_DECRYPT, "decrypt" },
};

static const char *
flag_word(int v)
{
	return v == 1 ? "yes" : v == 0 ? "no" : "unknown";
}

static void
list_append_flags(struct tok_p11 *p, CK_OBJECT_HANDLE obj, char *line,
    size_t size)
{
	size_t i, len;

	for (i = 0; i < sizeof(key_flags) / sizeof(key_flags[0]); i++) {
		len = strlen(line);
		snprintf(line + len, size - len, " %s=%s", key_flags[i].name,
		    flag_word(tok_p11_get_flag(p, obj, key_flags[i].type)));
	}
}

/* The output line for one object, malloc'd; NULL (error set) on failure. */
static char *
list_line(struct tok_p11 *p, CK_OBJECT_HANDLE obj)
{
	CK_ULONG c;
	char *line;

	if ((line = malloc(LIST_LINE_MAX)) == NULL) {
		tok_err("out of memory");
		return NULL;
	}
	if (tok_p11_get_ulong(p, obj, CKA_CLASS, &c) == -1 ||
	    tok_p11_object_uri(p, obj, line, LIST_LINE_MAX) == -1) {
		free(line);
		return NULL;
	}
	if (c == CKO_PRIVATE_KEY || c == CKO_SECRET_KEY)
		list_append_flags(p, obj, line, LIST_LINE_MAX);
	return line;
}

static int
cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
tok_cmd_list(const struct tok_opts *o)
{
	struct tok_p11 p = { .session = CK_INVALID_HANDLE };
	struct tok_target t;
	CK_OBJECT_HANDLE *objs = NULL;
	char **lines = NULL;
	CK_ULONG n = 0, i;
	int ret = -1;

	if (tok_target_init(&t, o, o->token) == -1)
		return -1;
	/* One more than we list, to tell "exactly the maximum" from "more". */
	objs = calloc(LIST_MAX_OBJECTS + 1, sizeof(*objs));
	lines = calloc(LIST_MAX_OBJECTS, sizeof(*lines));
	if (objs == NULL || lines == NULL) {
		tok_err("out of memory");
		goto end;
	}
	if (tok_p11_open(&p, &t, 0) == -1 ||
	    tok_p11_find(&p, NULL, 0, objs, LIST_MAX_OBJECTS + 1, &n) == -1)
		goto end;
	if (n > LIST_MAX_OBJECTS) {
		tok_err("token '%s' holds more than %d objects", tok_p11_label(&p),
		    LIST_MAX_OBJECTS);
		n = 0;
		goto end;
	}
	for (i = 0; i < n; i++)
		if ((lines[i] = list_line(&p, objs[i])) == NULL)
			goto end;
	/* Handles are in no useful order; sorted output diffs well. */
	qsort(lines, n, sizeof(*lines), cmp_lines);
	for (i = 0; i < n; i++)
		printf("%s\n", lines[i]);
	ret = 0;
end:
	for (i = 0; lines != NULL && i < n; i++)
		free(lines[i]);
	free(lines);
	free(objs);
	tok_p11_close(&p);
	tok_target_free(&t);
	return ret;
}
