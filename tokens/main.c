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
};

struct command {
	const char *name;
	int bit;
	int (*run)(const struct tok_opts *);
	const char *required; /* option names, space separated */
};

static const struct command commands[] = {
	{ "init", C_INIT, tok_cmd_init, "dir" },
	{ "keygen", C_KEYGEN, tok_cmd_keygen, "token pin-file type label id" },
	{ "selfsign", C_SELFSIGN, tok_cmd_selfsign, "key out" },
	{ "import-cert", C_IMPORT, tok_cmd_import_cert,
	    "token pin-file cert label id" },
	{ "list", C_LIST, tok_cmd_list, "token pin-file" },
};

enum opt_id {
	O_DIR = 256, O_LABEL, O_FORCE, O_TOKEN, O_PIN_FILE, O_TYPE, O_ID,
	O_MODULE, O_KEY, O_SUBJECT, O_SAN, O_DAYS, O_OUT, O_CERT, O_HELP,
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
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

/* Which subcommands accept each option (indexed by opt_id - O_DIR). */
static const int opt_allowed[] = {
	[O_DIR - O_DIR] = C_INIT,
	[O_LABEL - O_DIR] = C_INIT | C_KEYGEN | C_IMPORT,
	[O_FORCE - O_DIR] = C_INIT,
	[O_TOKEN - O_DIR] = C_KEYGEN | C_IMPORT | C_LIST,
	[O_PIN_FILE - O_DIR] = C_KEYGEN | C_SELFSIGN | C_IMPORT | C_LIST,
	[O_TYPE - O_DIR] = C_KEYGEN,
	[O_ID - O_DIR] = C_KEYGEN | C_IMPORT,
	[O_MODULE - O_DIR] = C_INIT | C_KEYGEN | C_SELFSIGN | C_IMPORT | C_LIST,
	[O_KEY - O_DIR] = C_SELFSIGN,
	[O_SUBJECT - O_DIR] = C_SELFSIGN,
	[O_SAN - O_DIR] = C_SELFSIGN,
	[O_DAYS - O_DIR] = C_SELFSIGN,
	[O_OUT - O_DIR] = C_SELFSIGN,
	[O_CERT - O_DIR] = C_IMPORT,
	[O_HELP - O_DIR] = ~0,
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: hsmtls-token init --dir DIR [--label LABEL] [--force]\n"
	    "       hsmtls-token keygen --token LABEL --pin-file F --type "
	    "ec:P-256|ec:P-384|rsa:2048|rsa:3072|rsa:4096\n"
	    "                    --label L --id HEX [--module PATH]\n"
	    "       hsmtls-token selfsign --key URI [--pin-file F] "
	    "[--module PATH] [--subject CN=localhost]\n"
	    "                    [--san DNS:localhost,IP:127.0.0.1] "
	    "[--days 365] --out FILE\n"
	    "       hsmtls-token import-cert --token LABEL --pin-file F "
	    "--cert FILE --label L --id HEX\n"
	    "                    [--module PATH]\n"
	    "       hsmtls-token list --token LABEL --pin-file F "
	    "[--module PATH]\n");
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

/* 0 ok, 1 --help, -1 error */
static int
parse_opts(const struct command *cmd, int argc, char **argv,
    struct tok_opts *o)
{
	const char **slot;
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
		if (!(opt_allowed[c - O_DIR] & cmd->bit)) {
			tok_err("%s: --%s is not an option of this command",
			    cmd->name, opt_name(c));
			return -1;
		}
		if (c == O_FORCE) {
			o->force = 1;
			continue;
		}
		slot = opt_slot(o, c);
		if (*slot != NULL) {
			tok_err("%s: --%s given twice", cmd->name, opt_name(c));
			return -1;
		}
		*slot = optarg;
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

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
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
		tok_err("no command (init, keygen, selfsign, import-cert, "
		    "list); --help shows usage");
		return fail();
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if ((cmd = find_command(argv[1])) == NULL) {
		tok_err("unknown command '%s' (init, keygen, selfsign, "
		    "import-cert, list)", argv[1]);
		return fail();
	}
	r = parse_opts(cmd, argc - 1, argv + 1, &o);
	if (r == 1) {
		usage(stdout);
		return 0;
	}
	if (r == -1 || check_required(cmd, &o) == -1 || cmd->run(&o) == -1)
		return fail();
	return 0;
}
