/*
 * main.c - hsmtls-token: provision keys and certificates on a PKCS#11
 * token.  Dispatches the subcommand and parses its options; each option is
 * accepted only by the subcommands it means something to.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "tok.h"

enum {
	C_INIT = 1 << 0,
	C_KEYGEN = 1 << 1,
	C_SELFSIGN = 1 << 2,
	C_IMPORT = 1 << 3,
	C_LIST = 1 << 4,
	C_CSR = 1 << 5,
	C_DEVCA = 1 << 6,
	C_CHECK = 1 << 7,
	C_ROTATE = 1 << 8,
	C_DELETE = 1 << 9,
	C_TOKEN = C_KEYGEN | C_IMPORT | C_LIST | C_CHECK | C_ROTATE,
	C_KEY = C_SELFSIGN | C_CSR | C_CHECK | C_DELETE,
	C_ON_TOKEN = C_TOKEN | C_KEY,
};

struct command {
	const char *name;
	int bit;
	int (*run)(const struct tok_opts *);
	const char *required;   /* option names, space separated */
	const char *synopsis;   /* options, for usage */
	const char *summary;
};

static const struct command commands[] = {
	{ "init", C_INIT, tok_cmd_init, "dir",
	    "--dir DIR [--label LABEL] [--force] [--module PATH]",
	    "create a SoftHSM development token and its PIN files" },
	{ "keygen", C_KEYGEN, tok_cmd_keygen, "token type label",
	    "--token TOKEN --pin-file F --type ec:P-256|ec:P-384|rsa:2048|"
	    "rsa:3072|rsa:4096\n        --label L [--id HEX] "
	    "[--usage sign|sign,decrypt] [--module PATH]",
	    "generate a non-extractable key pair on the token" },
	{ "csr", C_CSR, tok_cmd_csr, "key subject out",
	    "--key URI [--pin-file F] --subject CN=NAME[,O=ORG...]\n"
	    "        [--san DNS:NAME,IP:ADDR...] --out FILE [--module PATH]",
	    "write a PKCS#10 request signed by the token key" },
	{ "dev-ca", C_DEVCA, tok_cmd_dev_ca, "dir csr out",
	    "--dir CADIR --csr FILE --out CERT [--days 90] [--chain]",
	    "issue a certificate from a CSR with a DEVELOPMENT-ONLY CA" },
	{ "selfsign", C_SELFSIGN, tok_cmd_selfsign, "key out",
	    "--key URI [--pin-file F] [--subject CN=localhost]\n"
	    "        [--san DNS:localhost,IP:127.0.0.1] [--days 365] "
	    "--out FILE [--module PATH]",
	    "write a self-signed certificate signed by the token key" },
	{ "import-cert", C_IMPORT, tok_cmd_import_cert, "token cert",
	    "--token TOKEN --pin-file F --cert FILE [--label L] [--id HEX]\n"
	    "        [--force] [--module PATH]",
	    "store a certificate on the token beside its key" },
	{ "list", C_LIST, tok_cmd_list, "token",
	    "--token TOKEN --pin-file F [--module PATH]",
	    "print every object's URI and the keys' protection attributes" },
	{ "check", C_CHECK, tok_cmd_check, "",
	    "--key URI | --token TOKEN  [--pin-file F] [--module PATH]",
	    "fail unless each key is sensitive, non-extractable, made on the "
	    "token" },
	{ "rotate", C_ROTATE, tok_cmd_rotate, "token label out",
	    "--token TOKEN --pin-file F --label OLD --out CSR\n"
	    "        [--new-label L] [--type TYPE] [--usage U] "
	    "[--subject S] [--san LIST]\n        [--cert FILE] "
	    "[--module PATH]",
	    "generate a new key and its CSR beside the old key" },
	{ "delete", C_DELETE, tok_cmd_delete, "key",
	    "--key URI [--pin-file F] [--confirm] [--module PATH]",
	    "delete a key with its public key and certificates" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

enum opt_id {
	O_DIR = 256, O_LABEL, O_FORCE, O_TOKEN, O_PIN_FILE, O_TYPE, O_ID,
	O_MODULE, O_KEY, O_SUBJECT, O_SAN, O_DAYS, O_OUT, O_CERT, O_USAGE,
	O_NEW_LABEL, O_CSR, O_CHAIN, O_CONFIRM, O_HELP,
};

static const struct option long_opts[] = {
	{ "dir", required_argument, NULL, O_DIR },
	{ "label", required_argument, NULL, O_LABEL },
	{ "force", no_argument, NULL, O_FORCE },
	{ "token", required_argument, NULL, O_TOKEN },
	{ "pin-file", required_argument, NULL, O_PIN_FILE },
	{ "type", required_argument, NULL, O_TYPE },
	{ "id", required_argument, NULL, O_ID },
	{ "module", required_argument, NULL, O_MODULE },
	{ "key", required_argument, NULL, O_KEY },
	{ "subject", required_argument, NULL, O_SUBJECT },
	{ "san", required_argument, NULL, O_SAN },
	{ "days", required_argument, NULL, O_DAYS },
	{ "out", required_argument, NULL, O_OUT },
	{ "cert", required_argument, NULL, O_CERT },
	{ "usage", required_argument, NULL, O_USAGE },
	{ "new-label", required_argument, NULL, O_NEW_LABEL },
	{ "csr", required_argument, NULL, O_CSR },
	{ "chain", no_argument, NULL, O_CHAIN },
	{ "confirm", no_argument, NULL, O_CONFIRM },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

/* Which subcommands accept each option (indexed by opt_id - O_DIR). */
static const int opt_allowed[] = {
	[O_DIR - O_DIR] = C_INIT | C_DEVCA,
	[O_LABEL - O_DIR] = C_INIT | C_KEYGEN | C_IMPORT | C_ROTATE,
	[O_FORCE - O_DIR] = C_INIT | C_IMPORT,
	[O_TOKEN - O_DIR] = C_TOKEN,
	[O_PIN_FILE - O_DIR] = C_ON_TOKEN,
	[O_TYPE - O_DIR] = C_KEYGEN | C_ROTATE,
	[O_ID - O_DIR] = C_KEYGEN | C_IMPORT,
	[O_MODULE - O_DIR] = C_INIT | C_ON_TOKEN,
	[O_KEY - O_DIR] = C_KEY,
	[O_SUBJECT - O_DIR] = C_SELFSIGN | C_CSR | C_ROTATE,
	[O_SAN - O_DIR] = C_SELFSIGN | C_CSR | C_ROTATE,
	[O_DAYS - O_DIR] = C_SELFSIGN | C_DEVCA,
	[O_OUT - O_DIR] = C_SELFSIGN | C_CSR | C_DEVCA | C_ROTATE,
	[O_CERT - O_DIR] = C_IMPORT | C_ROTATE,
	[O_USAGE - O_DIR] = C_KEYGEN | C_ROTATE,
	[O_NEW_LABEL - O_DIR] = C_ROTATE,
	[O_CSR - O_DIR] = C_DEVCA,
	[O_CHAIN - O_DIR] = C_DEVCA,
	[O_CONFIRM - O_DIR] = C_DELETE,
	[O_HELP - O_DIR] = ~0,
};

static void
usage_one(FILE *f, const struct command *c)
{
	fprintf(f, "hsmtls-token %s %s\n    %s\n", c->name, c->synopsis,
	    c->summary);
}

static void
usage(FILE *f, const struct command *only)
{
	size_t i;

	if (only != NULL) {
		fprintf(f, "usage: ");
		usage_one(f, only);
	} else {
		fprintf(f, "usage: hsmtls-token COMMAND [OPTIONS]  "
		    "(hsmtls-token COMMAND --help)\n\n");
		for (i = 0; i < NCOMMANDS; i++)
			usage_one(f, &commands[i]);
	}
	fprintf(f, "\nTOKEN is a token label or a pkcs11: URI; URIs may carry "
	    "module-path and\npin-source.  PINs are read only from files "
	    "(mode 0600).  See hsmtls-token(1).\n");
}

static const char **
opt_slot(struct tok_opts *o, int id)
{
	switch (id) {
	case O_DIR: return &o->dir;
	case O_LABEL: return &o->label;
	case O_TOKEN: return &o->token;
	case O_PIN_FILE: return &o->pin_file;
	case O_TYPE: return &o->type;
	case O_ID: return &o->id;
	case O_MODULE: return &o->module;
	case O_KEY: return &o->key;
	case O_SUBJECT: return &o->subject;
	case O_SAN: return &o->san;
	case O_DAYS: return &o->days;
	case O_OUT: return &o->out;
	case O_CERT: return &o->cert;
	case O_USAGE: return &o->usage;
	case O_NEW_LABEL: return &o->new_label;
	case O_CSR: return &o->csr;
	default: return NULL;
	}
}

static int *
flag_slot(struct tok_opts *o, int id)
{
	switch (id) {
	case O_FORCE: return &o->force;
	case O_CHAIN: return &o->chain;
	case O_CONFIRM: return &o->confirm;
	default: return NULL;
	}
}

static const char *
opt_name(int id)
{
	const struct option *lo;

	for (lo = long_opts; lo->name != NULL; lo++)
		if (lo->val == id)
			return lo->name;
	return "?";
}

static int
parse_one(const struct command *cmd, struct tok_opts *o, int c)
{
	const char **slot;

	if (!(opt_allowed[c - O_DIR] & cmd->bit)) {
		tok_err("%s: --%s is not an option of this command", cmd->name,
		    opt_name(c));
		return -1;
	}
	if (flag_slot(o, c) != NULL) {
		*flag_slot(o, c) = 1;
		return 0;
	}
	slot = opt_slot(o, c);
	if (*slot != NULL) {
		tok_err("%s: --%s given twice", cmd->name, opt_name(c));
		return -1;
	}
	*slot = optarg;
	return 0;
}

/* 0 ok, 1 --help, -1 error */
static int
parse_opts(const struct command *cmd, int argc, char **argv,
    struct tok_opts *o)
{
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (c == '?' || c == ':' || c < O_DIR) {
			tok_err("%s: unknown option or missing argument: %s",
			    cmd->name, argv[optind - 1]);
			return -1;
		}
		if (c == O_HELP)
			return 1;
		if (parse_one(cmd, o, c) == -1)
			return -1;
	}
	if (optind < argc) {
		tok_err("%s: unexpected argument '%s'", cmd->name, argv[optind]);
		return -1;
	}
	return 0;
}

static int
check_required(const struct command *cmd, struct tok_opts *o)
{
	char req[128], *name, *save = NULL;
	const struct option *lo;

	snprintf(req, sizeof(req), "%s", cmd->required);
	for (name = strtok_r(req, " ", &save); name != NULL;
	    name = strtok_r(NULL, " ", &save)) {
		for (lo = long_opts; lo->name != NULL; lo++)
			if (strcmp(lo->name, name) == 0)
				break;
		if (lo->name == NULL || *opt_slot(o, lo->val) == NULL) {
			tok_err("%s: --%s is required", cmd->name, name);
			return -1;
		}
		if ((*opt_slot(o, lo->val))[0] == '\0') {
			tok_err("%s: --%s is empty", cmd->name, name);
			return -1;
		}
	}
	return 0;
}

static const struct command *
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int
fail(void)
{
	const char *msg = tok_errmsg();

	fprintf(stderr, "hsmtls-token: %s\n", msg[0] ? msg : "failed");
	return 1;
}

int
main(int argc, char **argv)
{
	struct tok_opts o = { 0 };
	const struct command *cmd;
	int r;

	if (argc < 2) {
		tok_err("no command; --help lists them");
		return fail();
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout, argc > 2 ? find_command(argv[2]) : NULL);
		return 0;
	}
	if ((cmd = find_command(argv[1])) == NULL) {
		tok_err("unknown command '%s'; --help lists them", argv[1]);
		return fail();
	}
	r = parse_opts(cmd, argc - 1, argv + 1, &o);
	if (r == 1) {
		usage(stdout, cmd);
		return 0;
	}
	if (r == -1 || check_required(cmd, &o) == -1)
		return fail();
	/* -1: error, message pending; 1: failed, already reported. */
	r = cmd->run(&o);
	return r == -1 ? fail() : r;
}
