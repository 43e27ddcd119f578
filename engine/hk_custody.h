/*
 * hk_custody.h - a private key's custody: what its attributes say about
 * whether it can leave the token or ever could (CKA_SENSITIVE,
 * CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_LOCAL)
 * and what it may be used for (CKA_ALLOWED_MECHANISMS).  One reader and one
 * formatter for the engine and hsmtls-token, so both print the same line.
 *
 * No PKCS#11 type here (hk_internal.h includes this): the reader takes
 * the module's CK_FUNCTION_LIST as a void pointer and the handles as the
 * plain values they are (CK_ULONG).
 */
#ifndef HK_CUSTODY_H
#define HK_CUSTODY_H

#include <stddef.h>

#define HK_CUSTODY_MECHS 16     /* allowed mechanisms kept; more are counted */

/* Each flag is 1, 0, or -1 when the token does not say. */
struct hk_custody {
	char type[32];          /* "ec:P-256", "rsa:2048"; "unknown" */
	int sensitive, extractable, never_extractable, always_sensitive, local;
	int always_authenticate, decrypt;
	int nmechs;             /* CKA_ALLOWED_MECHANISMS; -1: not reported */
	int mechs_more;         /* how many beyond HK_CUSTODY_MECHS */
	unsigned long mechs[HK_CUSTODY_MECHS];
};

/*
 * Read a private key's custody attributes on a session, one attribute per
 * C_GetAttributeValue (a module refusing one hides none of the others).
 * Never fails: what cannot be read is -1 or "unknown".
 */
void hk_custody_read(void *function_list, unsigned long session,
    unsigned long object, struct hk_custody *c);

/*
 * The report line, without a newline:
 *   token=LABEL key=URI type=ec:P-256 sensitive=1 extractable=0
 *   never-extractable=1 always-sensitive=1 local=1 mechanisms=any
 * (one line; mechanisms are CKM names, comma-separated, "any" when the key
 * has no CKA_ALLOWED_MECHANISMS or an empty one; a flag the token does
 * not report is "unknown").  Spaces and control bytes in the label are
 * written as %XX.  0, or -1 when buf was too small (it is cut, but ends
 * in NUL).
 */
int hk_custody_format(const struct hk_custody *c, const char *token,
    const char *uri, char *buf, size_t len);

#endif /* HK_CUSTODY_H */
