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

static const struct {
	CK_ATTRIBUTE_TYPE type;
	const char *name;
} key_flags[] = {
	{ CKA_SENSITIVE, "sensitive" },
	{ CKA_EXTRACTABLE, "extractable" },
	{ CKA_LOCAL, "local" },
	{ CKA_ALWAYS_SENSITIVE, "always-sensitive" },
	{ CKA_NEVER_EXTRACTABLE, "never-extractable" },
};

static const char *
class_type(CK_OBJECT_CLASS c)
{
	switch (c) {
	case CKO_PRIVATE_KEY:
		return "private";
	case CKO_PUBLIC_KEY:
		return "public";
	case CKO_SECRET_KEY:
		return "secret-key";
	case CKO_CERTIFICATE:
		return "cert";
	case CKO_DATA:
		return "data";
	default:
		return NULL;
	}
}

/* A variable-length attribute, malloc'd and NUL-terminated; NULL if absent. */
static unsigned char *
list_get_bytes(struct tok_p11 *p, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE t,
    size_t *len)
{
	CK_ATTRIBUTE a = { t, NULL, 0 };
	unsigned char *v;

	*len = 0;
	if (p->fl->C_GetAttributeValue(p->session, obj, &a, 1) != CKR_OK ||
	    a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return NULL;
	if ((v = malloc(a.ulValueLen + 1)) == NULL)
		return NULL;
	a.pValue = v;
	if (p->fl->C_GetAttributeValue(p->session, obj, &a, 1) != CKR_OK) {
		free(v);
		return NULL;
	}
	v[a.ulValueLen] = '\0';
	*len = a.ulValueLen;
	return v;
}

static const char *
list_get_flag(struct tok_p11 *p, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE t)
{
	CK_BBOOL b = CK_FALSE;
	CK_ATTRIBUTE a = { t, &b, sizeof(b) };

	if (p->fl->C_GetAttributeValue(p->session, obj, &a, 1) != CKR_OK)
		return "unknown";
	return b ? "yes" : "no";
}

static void
list_append_flags(struct tok_p11 *p, CK_OBJECT_HANDLE obj, char *line,
    size_t size)
{
	size_t i, len;

	for (i = 0; i < sizeof(key_flags) / sizeof(key_flags[0]); i++) {
		len = strlen(line);
		snprintf(line + len, size - len, " %s=%s", key_flags[i].name,
		    list_get_flag(p, obj, key_flags[i].type));
	}
}

/* The output line for one object, malloc'd; NULL (error set) on failure. */
static char *
list_line(struct tok_p11 *p, CK_OBJECT_HANDLE obj)
{
	CK_OBJECT_CLASS c;
	CK_ATTRIBUTE a = { CKA_CLASS, &c, sizeof(c) };
	unsigned char *label = NULL, *id = NULL;
	size_t label_len, id_len;
	const char *type;
	char *line = NULL;
	CK_RV rv;

	rv = p->fl->C_GetAttributeValue(p->session, obj, &a, 1);
	if (rv != CKR_OK) {
		tok_err("C_GetAttributeValue(CKA_CLASS): %s", tok_ckr_name(rv));
		return NULL;
	}
	label = list_get_bytes(p, obj, CKA_LABEL, &label_len);
	id = list_get_bytes(p, obj, CKA_ID, &id_len);
	if ((line = malloc(LIST_LINE_MAX)) == NULL) {
		tok_err("out of memory");
		goto end;
	}
	type = class_type(c);
	if (tok_uri(line, LIST_LINE_MAX, p->slot->token->label,
	    label != NULL && label_len > 0 ? (char *)label : NULL, id, id_len,
	    type) == -1) {
		free(line);
		line = NULL;
		goto end;
	}
	if (c == CKO_PRIVATE_KEY || c == CKO_SECRET_KEY)
		list_append_flags(p, obj, line, LIST_LINE_MAX);
end:
	free(label);
	free(id);
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
	CK_OBJECT_HANDLE *objs = NULL;
	char **lines = NULL;
	CK_ULONG n = 0, i;
	int ret = -1;

	/* One more than we list, to tell "exactly the maximum" from "more". */
	objs = calloc(LIST_MAX_OBJECTS + 1, sizeof(*objs));
	lines = calloc(LIST_MAX_OBJECTS, sizeof(*lines));
	if (objs == NULL || lines == NULL) {
		tok_err("out of memory");
		goto end;
	}
	if (tok_p11_open(&p, o, 0) == -1 ||
	    tok_p11_find(&p, NULL, 0, objs, LIST_MAX_OBJECTS + 1, &n) == -1)
		goto end;
	if (n > LIST_MAX_OBJECTS) {
		tok_err("token '%s' holds more than %d objects", o->token,
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
	return ret;
}
