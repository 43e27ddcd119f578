/*
 * p11-attr.c - probe a private key's protection attributes straight through
 * a module's function list, independent of hsmtls-token and the engine:
 *
 *   p11-attr --module PATH --token LABEL --pin-file F --label L
 *
 * prints CKA_SENSITIVE=1, CKA_EXTRACTABLE=0, ... and, for each secret part
 * of the key, the CKR the module returned for reading that attribute alone
 * ("CKA_VALUE: CKR_ATTRIBUTE_SENSITIVE"), or "CKR_OK len=N" if it leaked.
 *
 *   p11-attr ... --list
 *
 * prints one line per object the user sees, "CKO_PRIVATE_KEY id=01
 * label=web", sorted, so tests can count objects by id.
 *
 *   p11-attr ... --make-key KIND --label L --id HEX
 *
 * makes a bad EC P-256 private key for tests of "hsmtls-token check":
 * KIND "extractable" (generated, not sensitive, extractable),
 * "always-authenticate" (generated, CKA_ALWAYS_AUTHENTICATE) or "imported"
 * (created from a fixed test value: not CKA_LOCAL, not always sensitive).
 *
 *   p11-attr ... --delete-public --label L
 *
 * destroys the public-key object labelled L, leaving its private key, as
 * on tokens that keep no public object for EC keys.
 */
#include "config.h"

#include <dlfcn.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#define CKR(name) { name, #name }

static const struct {
	CK_RV rv;
	const char *name;
} ckr_names[] = {
	CKR(CKR_OK),
	CKR(CKR_CANCEL),
	CKR(CKR_HOST_MEMORY),
	CKR(CKR_SLOT_ID_INVALID),
	CKR(CKR_GENERAL_ERROR),
	CKR(CKR_FUNCTION_FAILED),
	CKR(CKR_ARGUMENTS_BAD),
	CKR(CKR_NO_EVENT),
	CKR(CKR_NEED_TO_CREATE_THREADS),
	CKR(CKR_CANT_LOCK),
	CKR(CKR_ATTRIBUTE_READ_ONLY),
	CKR(CKR_ATTRIBUTE_SENSITIVE),
	CKR(CKR_ATTRIBUTE_TYPE_INVALID),
	CKR(CKR_ATTRIBUTE_VALUE_INVALID),
	CKR(CKR_DATA_INVALID),
	CKR(CKR_DATA_LEN_RANGE),
	CKR(CKR_DEVICE_ERROR),
	CKR(CKR_DEVICE_MEMORY),
	CKR(CKR_DEVICE_REMOVED),
	CKR(CKR_ENCRYPTED_DATA_INVALID),
	CKR(CKR_ENCRYPTED_DATA_LEN_RANGE),
	CKR(CKR_FUNCTION_CANCELED),
	CKR(CKR_FUNCTION_NOT_PARALLEL),
	CKR(CKR_FUNCTION_NOT_SUPPORTED),
	CKR(CKR_KEY_HANDLE_INVALID),
	CKR(CKR_KEY_SIZE_RANGE),
	CKR(CKR_KEY_TYPE_INCONSISTENT),
	CKR(CKR_KEY_FUNCTION_NOT_PERMITTED),
	CKR(CKR_MECHANISM_INVALID),
	CKR(CKR_MECHANISM_PARAM_INVALID),
	CKR(CKR_OBJECT_HANDLE_INVALID),
	CKR(CKR_OPERATION_ACTIVE),
	CKR(CKR_OPERATION_NOT_INITIALIZED),
	CKR(CKR_PIN_INCORRECT),
	CKR(CKR_PIN_INVALID),
	CKR(CKR_PIN_LEN_RANGE),
	CKR(CKR_PIN_EXPIRED),
	CKR(CKR_PIN_LOCKED),
	CKR(CKR_SESSION_CLOSED),
	CKR(CKR_SESSION_COUNT),
	CKR(CKR_SESSION_HANDLE_INVALID),
	CKR(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
	CKR(CKR_SESSION_READ_ONLY),
	CKR(CKR_SESSION_EXISTS),
	CKR(CKR_SESSION_READ_ONLY_EXISTS),
	CKR(CKR_SESSION_READ_WRITE_SO_EXISTS),
	CKR(CKR_SIGNATURE_INVALID),
	CKR(CKR_SIGNATURE_LEN_RANGE),
	CKR(CKR_TEMPLATE_INCOMPLETE),
	CKR(CKR_TEMPLATE_INCONSISTENT),
	CKR(CKR_TOKEN_NOT_PRESENT),
	CKR(CKR_TOKEN_NOT_RECOGNIZED),
	CKR(CKR_TOKEN_WRITE_PROTECTED),
	CKR(CKR_USER_ALREADY_LOGGED_IN),
	CKR(CKR_USER_NOT_LOGGED_IN),
	CKR(CKR_USER_PIN_NOT_INITIALIZED),
	CKR(CKR_USER_TYPE_INVALID),
	CKR(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
	CKR(CKR_USER_TOO_MANY_TYPES),
	CKR(CKR_DOMAIN_PARAMS_INVALID),
	CKR(CKR_CURVE_NOT_SUPPORTED),
	CKR(CKR_BUFFER_TOO_SMALL),
	CKR(CKR_RANDOM_NO_RNG),
	CKR(CKR_CRYPTOKI_NOT_INITIALIZED),
	CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED),
};

struct attr {
	CK_ATTRIBUTE_TYPE type;
	const char *name;
};

#define A(t) { t, #t }
static const struct attr flag_attrs[] = {
	A(CKA_TOKEN), A(CKA_PRIVATE), A(CKA_SENSITIVE), A(CKA_EXTRACTABLE),
	A(CKA_ALWAYS_SENSITIVE), A(CKA_NEVER_EXTRACTABLE), A(CKA_LOCAL),
	A(CKA_SIGN), A(CKA_DECRYPT), A(CKA_UNWRAP), A(CKA_DERIVE),
	/* Appended: earlier lines keep their order for scripts that parse. */
	A(CKA_ALWAYS_AUTHENTICATE),
};
static const struct attr rsa_secrets[] = {
	A(CKA_PRIVATE_EXPONENT), A(CKA_PRIME_1), A(CKA_PRIME_2),
	A(CKA_EXPONENT_1), A(CKA_EXPONENT_2), A(CKA_COEFFICIENT),
};
static const struct attr ec_secrets[] = { A(CKA_VALUE) };

struct probe {
	const char *module, *token, *pin_file, *label;
	const char *make, *id;
	int list, delete_public;
	void *dl;
	CK_FUNCTION_LIST *fl;
	int initialized;
	CK_SESSION_HANDLE session;
};

static const char *
ckr_name(CK_RV rv)
{
	static char unknown[32];
	size_t i;

	for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
		if (ckr_names[i].rv == rv)
			return ckr_names[i].name;
	snprintf(unknown, sizeof(unknown), "CKR_0x%08lX", (unsigned long)rv);
	return unknown;
}

static int
fail(const char *what, CK_RV rv)
{
	fprintf(stderr, "p11-attr: %s: %s\n", what, ckr_name(rv));
	return -1;
}

static int
load(struct probe *p)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_C_GetFunctionList get;
	CK_RV rv;

	if ((p->dl = dlopen(p->module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "p11-attr: %s\n", dlerror());
		return -1;
	}
	get = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
	if (get == NULL) {
		fprintf(stderr, "p11-attr: %s: no C_GetFunctionList\n",
		    p->module);
		return -1;
	}
	if ((rv = get(&p->fl)) != CKR_OK)
		return fail("C_GetFunctionList", rv);
	if ((rv = p->fl->C_Initialize(&args)) != CKR_OK)
		return fail("C_Initialize", rv);
	p->initialized = 1;
	return 0;
}

/* CK_TOKEN_INFO.label is blank-padded, not NUL-terminated. */
static int
label_matches(const unsigned char padded[32], const char *label)
{
	size_t len = strlen(label), i;

	if (len > 32 || memcmp(padded, label, len) != 0)
		return 0;
	for (i = len; i < 32; i++)
		if (padded[i] != ' ')
			return 0;
	return 1;
}

static int
find_slot(struct probe *p, CK_SLOT_ID *slot)
{
	CK_SLOT_ID ids[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	CK_RV rv;

	if ((rv = p->fl->C_GetSlotList(CK_TRUE, ids, &n)) != CKR_OK)
		return fail("C_GetSlotList", rv);
	for (i = 0; i < n; i++)
		if (p->fl->C_GetTokenInfo(ids[i], &ti) == CKR_OK &&
		    label_matches(ti.label, p->token)) {
			*slot = ids[i];
			return 0;
		}
	fprintf(stderr, "p11-attr: no token labelled '%s'\n", p->token);
	return -1;
}

/* The PIN file's first line; the probe trusts its caller's file. */
static int
read_pin(const char *path, char *pin, size_t size)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	ok = fgets(pin, (int)size, f) != NULL;
	fclose(f);
	if (!ok) {
		fprintf(stderr, "p11-attr: %s: empty\n", path);
		return -1;
	}
	pin[strcspn(pin, "\r\n")] = '\0';
	return 0;
}

static int
login(struct probe *p)
{
	char pin[256];
	CK_SLOT_ID slot = 0;
	CK_RV rv;

	if (find_slot(p, &slot) == -1)
		return -1;
	rv = p->fl->C_OpenSession(slot, CKF_SERIAL_SESSION |
	    (p->make != NULL || p->delete_public ? CKF_RW_SESSION : 0), NULL, NULL, &p->session);
	if (rv != CKR_OK)
		return fail("C_OpenSession", rv);
	if (read_pin(p->pin_file, pin, sizeof(pin)) == -1)
		return -1;
	rv = p->fl->C_Login(p->session, CKU_USER, (CK_UTF8CHAR *)pin,
	    strlen(pin));
	memset(pin, 0, sizeof(pin));
	if (rv != CKR_OK)
		return fail("C_Login", rv);
	return 0;
}

static int
find_key(struct probe *p, CK_OBJECT_HANDLE *key)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)p->label, strlen(p->label) },
	};
	CK_OBJECT_HANDLE objs[2];
	CK_ULONG n = 0;
	CK_RV rv;

	if ((rv = p->fl->C_FindObjectsInit(p->session, tmpl, 2)) != CKR_OK)
		return fail("C_FindObjectsInit", rv);
	rv = p->fl->C_FindObjects(p->session, objs, 2, &n);
	p->fl->C_FindObjectsFinal(p->session);
	if (rv != CKR_OK)
		return fail("C_FindObjects", rv);
	if (n != 1) {
		fprintf(stderr, "p11-attr: %lu private keys labelled '%s', "
		    "want 1\n", (unsigned long)n, p->label);
		return -1;
	}
	*key = objs[0];
	return 0;
}

static void
print_flag(struct probe *p, CK_OBJECT_HANDLE key, const struct attr *a)
{
	CK_BBOOL b = CK_FALSE;
	CK_ATTRIBUTE t = { a->type, &b, sizeof(b) };
	CK_RV rv = p->fl->C_GetAttributeValue(p->session, key, &t, 1);

	if (rv == CKR_OK)
		printf("%s=%d\n", a->name, b ? 1 : 0);
	else
		printf("%s: %s\n", a->name, ckr_name(rv));
}

/* Ask for the value itself, with room for it: a length alone proves little. */
static void
print_secret(struct probe *p, CK_OBJECT_HANDLE key, const struct attr *a)
{
	unsigned char buf[4096];
	CK_ATTRIBUTE t = { a->type, buf, sizeof(buf) };
	CK_RV rv = p->fl->C_GetAttributeValue(p->session, key, &t, 1);

	if (rv == CKR_OK)
		printf("%s: CKR_OK len=%lu\n", a->name,
		    (unsigned long)t.ulValueLen);
	else
		printf("%s: %s\n", a->name, ckr_name(rv));
	memset(buf, 0, sizeof(buf));
}

static int
probe_key(struct probe *p, CK_OBJECT_HANDLE key)
{
	CK_KEY_TYPE kt;
	CK_ATTRIBUTE t = { CKA_KEY_TYPE, &kt, sizeof(kt) };
	const struct attr *secrets;
	size_t i, n;
	CK_RV rv;

	if ((rv = p->fl->C_GetAttributeValue(p->session, key, &t, 1)) != CKR_OK)
		return fail("C_GetAttributeValue(CKA_KEY_TYPE)", rv);
	if (kt == CKK_RSA) {
		secrets = rsa_secrets;
		n = sizeof(rsa_secrets) / sizeof(rsa_secrets[0]);
	} else if (kt == CKK_EC) {
		secrets = ec_secrets;
		n = sizeof(ec_secrets) / sizeof(ec_secrets[0]);
	} else {
		fprintf(stderr, "p11-attr: key type 0x%lx is neither RSA nor "
		    "EC\n", (unsigned long)kt);
		return -1;
	}
	printf("CKA_KEY_TYPE=%s\n", kt == CKK_RSA ? "CKK_RSA" : "CKK_EC");
	for (i = 0; i < sizeof(flag_attrs) / sizeof(flag_attrs[0]); i++)
		print_flag(p, key, &flag_attrs[i]);
	for (i = 0; i < n; i++)
		print_secret(p, key, &secrets[i]);
	return 0;
}

/* ---- --list ---- */

static const char *
class_name(CK_OBJECT_CLASS c)
{
	switch (c) {
	case CKO_DATA: return "CKO_DATA";
	case CKO_CERTIFICATE: return "CKO_CERTIFICATE";
	case CKO_PUBLIC_KEY: return "CKO_PUBLIC_KEY";
	case CKO_PRIVATE_KEY: return "CKO_PRIVATE_KEY";
	case CKO_SECRET_KEY: return "CKO_SECRET_KEY";
	default: return "CKO_OTHER";
	}
}

/* "CLASS id=HEX label=TEXT" for one object, into buf. */
static void
object_line(struct probe *p, CK_OBJECT_HANDLE h, char *buf, size_t size)
{
	CK_OBJECT_CLASS c = (CK_OBJECT_CLASS)-1;
	unsigned char id[256], label[256];
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &c, sizeof(c) },
		{ CKA_ID, id, sizeof(id) },
		{ CKA_LABEL, label, sizeof(label) - 1 },
	};
	size_t i, len;

	if (p->fl->C_GetAttributeValue(p->session, h, t, 3) != CKR_OK) {
		t[1].ulValueLen = 0;
		t[2].ulValueLen = 0;
	}
	if (t[1].ulValueLen == CK_UNAVAILABLE_INFORMATION)
		t[1].ulValueLen = 0;
	if (t[2].ulValueLen == CK_UNAVAILABLE_INFORMATION)
		t[2].ulValueLen = 0;
	len = (size_t)snprintf(buf, size, "%s id=", class_name(c));
	for (i = 0; i < t[1].ulValueLen && len + 3 < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%02x", id[i]);
	label[t[2].ulValueLen] = '\0';
	snprintf(buf + len, size - len, " label=%s", (char *)label);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
list_objects(struct probe *p)
{
	CK_OBJECT_HANDLE h[512];
	char *lines[512];
	CK_ULONG n = 0, i;
	CK_RV rv;

	if ((rv = p->fl->C_FindObjectsInit(p->session, NULL, 0)) != CKR_OK)
		return fail("C_FindObjectsInit", rv);
	rv = p->fl->C_FindObjects(p->session, h, 512, &n);
	p->fl->C_FindObjectsFinal(p->session);
	if (rv != CKR_OK)
		return fail("C_FindObjects", rv);
	for (i = 0; i < n; i++) {
		if ((lines[i] = malloc(1024)) == NULL)
			return fail("malloc", CKR_HOST_MEMORY);
		object_line(p, h[i], lines[i], 1024);
	}
	qsort(lines, n, sizeof(lines[0]), cmp_str);
	for (i = 0; i < n; i++) {
		printf("%s\n", lines[i]);
		free(lines[i]);
	}
	return 0;
}

/* ---- --make-key ---- */

static int
hex_id(const char *hex, unsigned char *id, CK_ULONG *len)
{
	unsigned int b;

	for (*len = 0; hex[0] != '\0' && hex[1] != '\0' && *len < 64;
	    hex += 2) {
		if (sscanf(hex, "%2x", &b) != 1)
			return -1;
		id[(*len)++] = (unsigned char)b;
	}
	return *len > 0 && hex[0] == '\0' ? 0 : -1;
}

/* P-256 (prime256v1) as CKA_EC_PARAMS. */
static const unsigned char p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
};

static int
make_generated(struct probe *p, CK_ATTRIBUTE *extra, CK_ULONG nextra,
    unsigned char *id, CK_ULONG id_len)
{
	CK_BBOOL yes = CK_TRUE;
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pub[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
		{ CKA_LABEL, (void *)p->label, strlen(p->label) },
		{ CKA_ID, id, id_len },
	};
	CK_ATTRIBUTE priv[8] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)p->label, strlen(p->label) },
		{ CKA_ID, id, id_len },
	};
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_ULONG i;
	CK_RV rv;

	for (i = 0; i < nextra && i < 3; i++)
		priv[5 + i] = extra[i];
	rv = p->fl->C_GenerateKeyPair(p->session, &m, pub, 4, priv, 5 + i,
	    &hpub, &hpriv);
	return rv == CKR_OK ? 0 : fail("C_GenerateKeyPair", rv);
}

/* A fixed, publicly known scalar: this key is bad by construction. */
static int
make_imported(struct probe *p, unsigned char *id, CK_ULONG id_len)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	unsigned char value[32];
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
		{ CKA_VALUE, value, sizeof(value) },
		{ CKA_LABEL, (void *)p->label, strlen(p->label) },
		{ CKA_ID, id, id_len },
	};
	CK_OBJECT_HANDLE h;
	CK_RV rv;

	memset(value, 0x11, sizeof(value));
	rv = p->fl->C_CreateObject(p->session, t, sizeof(t) / sizeof(t[0]),
	    &h);
	return rv == CKR_OK ? 0 : fail("C_CreateObject", rv);
}

static int
make_key(struct probe *p)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE weak[] = {
		{ CKA_SENSITIVE, &no, sizeof(no) },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
	};
	CK_ATTRIBUTE always[] = {
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_ALWAYS_AUTHENTICATE, &yes, sizeof(yes) },
	};
	unsigned char id[64];
	CK_ULONG id_len;

	if (p->id == NULL || hex_id(p->id, id, &id_len) == -1) {
		fprintf(stderr, "p11-attr: --make-key needs --id HEX\n");
		return -1;
	}
	if (strcmp(p->make, "extractable") == 0)
		return make_generated(p, weak, 2, id, id_len);
	if (strcmp(p->make, "always-authenticate") == 0)
		return make_generated(p, always, 3, id, id_len);
	if (strcmp(p->make, "imported") == 0)
		return make_imported(p, id, id_len);
	fprintf(stderr, "p11-attr: --make-key '%s': want extractable, "
	    "always-authenticate or imported\n", p->make);
	return -1;
}

/* ---- --delete-public ---- */

static int
delete_public(struct probe *p)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)p->label, strlen(p->label) },
	};
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;
	CK_RV rv;

	rv = p->fl->C_FindObjectsInit(p->session, t, 2);
	if (rv == CKR_OK) {
		rv = p->fl->C_FindObjects(p->session, &h, 1, &n);
		p->fl->C_FindObjectsFinal(p->session);
	}
	if (rv != CKR_OK)
		return fail("C_FindObjects", rv);
	if (n != 1) {
		fprintf(stderr, "p11-attr: no public key labelled '%s'\n",
		    p->label);
		return -1;
	}
	rv = p->fl->C_DestroyObject(p->session, h);
	return rv == CKR_OK ? 0 : fail("C_DestroyObject", rv);
}

static int
parse_args(int argc, char **argv, struct probe *p)
{
	static const struct option opts[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "token", required_argument, NULL, 't' },
		{ "pin-file", required_argument, NULL, 'p' },
		{ "label", required_argument, NULL, 'l' },
		{ "list", no_argument, NULL, 'L' },
		{ "make-key", required_argument, NULL, 'k' },
		{ "id", required_argument, NULL, 'i' },
		{ "delete-public", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm': p->module = optarg; break;
		case 't': p->token = optarg; break;
		case 'p': p->pin_file = optarg; break;
		case 'l': p->label = optarg; break;
		case 'L': p->list = 1; break;
		case 'k': p->make = optarg; break;
		case 'i': p->id = optarg; break;
		case 'D': p->delete_public = 1; break;
		default: return -1;
		}
	}
	if (optind != argc || p->module == NULL || p->token == NULL ||
	    p->pin_file == NULL || (p->label == NULL && !p->list) ||
	    (p->list && p->make != NULL)) {
		fprintf(stderr, "usage: p11-attr --module PATH --token LABEL "
		    "--pin-file F\n"
		    "         (--label L | --list | "
		    "--make-key KIND --label L --id HEX | "
		    "--delete-public --label L)\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct probe p = { .session = CK_INVALID_HANDLE };
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	int ret = 1;

	if (parse_args(argc, argv, &p) == -1)
		return 1;
	if (load(&p) == 0 && login(&p) == 0) {
		if (p.list)
			ret = list_objects(&p) == 0 ? 0 : 1;
		else if (p.make != NULL)
			ret = make_key(&p) == 0 ? 0 : 1;
		else if (p.delete_public)
			ret = delete_public(&p) == 0 ? 0 : 1;
		else if (find_key(&p, &key) == 0 && probe_key(&p, key) == 0)
			ret = 0;
	}
	if (p.session != CK_INVALID_HANDLE)
		p.fl->C_CloseSession(p.session);
	if (p.initialized)
		p.fl->C_Finalize(NULL);
	/* The module stays mapped: unloading SoftHSM at exit can crash. */
	fflush(stdout);
	return ret;
}
