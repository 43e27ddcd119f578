/*
 * cfg.c - command-line parsing for hsmtls-server.
 *
 * The flags of a one-site server are turned into a configuration with one
 * token block (the --module and --pin-file, for every key) and one site,
 * so the rest of the server only ever sees a struct conf.  Every error is
 * one line naming the option and the fault.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"

enum {
	OPT_MAX_CONNS = 256,
	OPT_RSA_KX,
	OPT_WEAK_KEY,
	OPT_DAEMON,
	OPT_PID_FILE,
	OPT_LOG_FILE,
	OPT_METRICS,
	OPT_POOL_THREADS,
	OPT_WORKERS,
	OPT_QUEUE_MAX,
	OPT_KEY_TIMEOUT,
	OPT_ADMIN,
	OPT_ACCESS_LOG,
	OPT_IMPORTED_KEY,
	OPT_KEYD,
	OPT_UPSTREAM,
	OPT_PROXY_PROTOCOL,
	OPT_ALPN,
	OPT_AFFINITY,
	OPT_COUNT,
};

static const struct option cfg_options[] = {
	{ "config",          required_argument, NULL, 'c' },
	{ "test",            no_argument,       NULL, 't' },
	{ "listen",          required_argument, NULL, 'l' },
	{ "cert",            required_argument, NULL, 'C' },
	{ "key",             required_argument, NULL, 'k' },
	{ "pin-file",        required_argument, NULL, 'p' },
	{ "module",          required_argument, NULL, 'm' },
	{ "root",            required_argument, NULL, 'r' },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONNS },
	{ "rsa-key-exchange", no_argument,      NULL, OPT_RSA_KX },
	{ "allow-weak-key",  no_argument,       NULL, OPT_WEAK_KEY },
	{ "allow-imported-key", no_argument,    NULL, OPT_IMPORTED_KEY },
	{ "daemon",          no_argument,       NULL, OPT_DAEMON },
	{ "pid-file",        required_argument, NULL, OPT_PID_FILE },
	{ "log-file",        required_argument, NULL, OPT_LOG_FILE },
	{ "metrics-path",    required_argument, NULL, OPT_METRICS },
	{ "pool-threads",    required_argument, NULL, OPT_POOL_THREADS },
	{ "workers",         required_argument, NULL, OPT_WORKERS },
	{ "queue-max",       required_argument, NULL, OPT_QUEUE_MAX },
	{ "key-timeout",     required_argument, NULL, OPT_KEY_TIMEOUT },
	{ "admin-listen",    required_argument, NULL, OPT_ADMIN },
	{ "access-log",      required_argument, NULL, OPT_ACCESS_LOG },
	{ "keyd",            required_argument, NULL, OPT_KEYD },
	{ "upstream",        required_argument, NULL, OPT_UPSTREAM },
	{ "proxy-protocol",  required_argument, NULL, OPT_PROXY_PROTOCOL },
	{ "alpn",            required_argument, NULL, OPT_ALPN },
	{ "worker-cpu-affinity", no_argument,   NULL, OPT_AFFINITY },
	{ "help",            no_argument,       NULL, 'h' },
	{ "version",         no_argument,       NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void cfg_usage(void)
{
	printf("Usage: " LOG_PROGNAME " -c FILE [-t] [--daemon]\n"
	    "       " LOG_PROGNAME " --cert FILE --key URI --root DIR [options]\n"
	    "       " LOG_PROGNAME " --cert FILE --key URI --upstream BACKEND [options]\n"
	    "Serve static files over HTTPS with the TLS keys on PKCS#11 tokens.\n"
	    "\n"
	    "  -c, --config FILE      serve the sites of FILE (see hsmtls.conf(5))\n"
	    "  -t, --test             check the configuration (parse it, log in to\n"
	    "                         each token, self-test each key) and exit\n"
	    "\n"
	    "Without -c, one site from these flags:\n"
	    "  --listen HOST:PORT     address to listen on, also [ADDR]:PORT\n"
	    "                         (default " CONF_DEFAULT_LISTEN "; port 0: any free port)\n"
	    "  --cert FILE            PEM certificate: leaf first, then chain\n"
	    "  --key URI              RFC 7512 PKCS#11 URI of the private key\n"
	    "  --pin-file FILE        file holding the token PIN (mode 0600 or stricter)\n"
	    "  --module PATH          PKCS#11 module (default " HK_DEFAULT_MODULE ")\n"
	    "  --root DIR             document root\n"
	    "  --upstream tcp:HOST:PORT|unix:PATH\n"
	    "                         instead of --root: pass each TLS connection's\n"
	    "                         bytes to this backend\n"
	    "  --proxy-protocol v2    with --upstream: send a PROXY v2 header first\n"
	    "  --alpn LIST            ALPN protocols offered, in order: h2,http/1.1\n"
	    "                         (default; http/1.1 with --upstream)\n"
	    "  --max-connections N    concurrent connections (default 1024)\n"
	    "  --workers N            event-loop threads (default: one per core)\n"
	    "  --worker-cpu-affinity  each event loop on a CPU of its own\n"
	    "  --rsa-key-exchange     also offer TLS 1.2 RSA key exchange (needs a key\n"
	    "                         with CKA_DECRYPT and raw RSA on the token)\n"
	    "  --allow-weak-key       accept a key that is not sensitive or extractable\n"
	    "  --allow-imported-key   accept a key that was imported or once extractable\n"
	    "  --pool-threads N       token worker threads (default: min(32, token limit-2))\n"
	    "  --queue-max N          key operations waiting for a worker (default 8 x threads)\n"
	    "  --key-timeout MS       deadline of one key operation (default 2000)\n"
	    "  --admin-listen ADDR:PORT  plain HTTP /healthz and /metrics (default off)\n"
	    "  --access-log FILE      access log (FILE or stderr; default off)\n"
	    "  --keyd PATH            use the key daemon at PATH (hsmtls-keyd): load\n"
	    "                         no module, read no PIN\n"
	    "  --pid-file FILE        write the server's pid to FILE\n"
	    "  --log-file FILE        append log lines to FILE instead of stderr\n"
	    "\n"
	    "  --daemon               detach after start-up (before any token call)\n"
	    "  --help                 show this help\n"
	    "  --version              show the version\n");
}

struct cli {
	const char *file, *listen, *cert, *key, *pin_file, *module, *root;
	const char *pid_file, *log_file, *admin, *access_log, *keyd;
	const char *upstream, *proxy_protocol, *alpn;
	const char *max_conns, *pool_threads, *queue_max, *key_timeout;
	const char *workers;
	bool rsa_kx, weak, imported, daemon, test, affinity;
	const char *given[128];         /* first spelling of each option */
};

/* Parse a decimal in [min, max] with nothing after it. */
static int cfg_number(const char *s, unsigned long min, unsigned long max,
    unsigned *out)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int cfg_count(const char *s, const char *name, unsigned long min,
    unsigned long max, unsigned *out)
{
	if (s == NULL)
		return 0;
	if (cfg_number(s, min, max, out) == -1) {
		log_error("%s '%s': want a number %lu..%lu", name, s, min, max);
		return -1;
	}
	return 0;
}

/* getopt reports '?' for an unknown option, ':' for a missing argument. */
static int cfg_bad_option(int opt, int argc, char **argv)
{
	const char *arg = (optind > 0 && optind <= argc) ? argv[optind - 1] : "?";

	if (opt == ':')
		log_error("option '%s' needs an argument", arg);
	else if (arg[0] == '-' && arg[1] != '-')
		log_error("unknown option '-%c' (see --help)", optopt);
	else
		log_error("unknown option '%s' (see --help)", arg);
	return -1;
}

static const char *opt_name(int opt)
{
	const struct option *o;

	for (o = cfg_options; o->name != NULL; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

/* A single-valued option given twice is refused, not silently replaced. */
static int cfg_once(struct cli *cl, int opt, const char **dst)
{
	int slot = opt >= OPT_MAX_CONNS ? opt - OPT_MAX_CONNS : opt % 64 + 64;

	if (cl->given[slot] != NULL) {
		log_error("--%s given twice ('%s' and '%s'); give it once",
		    opt_name(opt), cl->given[slot], optarg != NULL ? optarg : "");
		return -1;
	}
	cl->given[slot] = optarg != NULL ? optarg : "(set)";
	if (dst != NULL)
		*dst = optarg;
	return 0;
}

/* Returns 0, -1 (error printed) or 1 (help/version printed). */
static int cfg_option(struct cli *cl, int opt, int argc, char **argv)
{
	bool flag = true;

	switch (opt) {
	case 'c': return cfg_once(cl, opt, &cl->file);
	case 't': cl->test = true; return cfg_once(cl, opt, NULL);
	case 'l': return cfg_once(cl, opt, &cl->listen);
	case 'C': return cfg_once(cl, opt, &cl->cert);
	case 'k': return cfg_once(cl, opt, &cl->key);
	case 'p': return cfg_once(cl, opt, &cl->pin_file);
	case 'm': return cfg_once(cl, opt, &cl->module);
	case 'r': return cfg_once(cl, opt, &cl->root);
	case OPT_MAX_CONNS: return cfg_once(cl, opt, &cl->max_conns);
	case OPT_RSA_KX: cl->rsa_kx = flag; return cfg_once(cl, opt, NULL);
	case OPT_WEAK_KEY: cl->weak = flag; return cfg_once(cl, opt, NULL);
	case OPT_IMPORTED_KEY: cl->imported = flag; return cfg_once(cl, opt, NULL);
	case OPT_DAEMON: cl->daemon = flag; return cfg_once(cl, opt, NULL);
	case OPT_PID_FILE: return cfg_once(cl, opt, &cl->pid_file);
	case OPT_LOG_FILE: return cfg_once(cl, opt, &cl->log_file);
	case OPT_METRICS:
		log_error("--metrics-path is gone: the counters are served on "
		    "the admin listener only (--admin-listen 127.0.0.1:PORT, "
		    "then /metrics and /healthz)");
		return -1;
	case OPT_POOL_THREADS: return cfg_once(cl, opt, &cl->pool_threads);
	case OPT_WORKERS: return cfg_once(cl, opt, &cl->workers);
	case OPT_QUEUE_MAX: return cfg_once(cl, opt, &cl->queue_max);
	case OPT_KEY_TIMEOUT: return cfg_once(cl, opt, &cl->key_timeout);
	case OPT_ADMIN: return cfg_once(cl, opt, &cl->admin);
	case OPT_ACCESS_LOG: return cfg_once(cl, opt, &cl->access_log);
	case OPT_KEYD: return cfg_once(cl, opt, &cl->keyd);
	case OPT_UPSTREAM: return cfg_once(cl, opt, &cl->upstream);
	case OPT_PROXY_PROTOCOL: return cfg_once(cl, opt, &cl->proxy_protocol);
	case OPT_ALPN: return cfg_once(cl, opt, &cl->alpn);
	case OPT_AFFINITY: cl->affinity = flag; return cfg_once(cl, opt, NULL);
	case 'h': cfg_usage(); return 1;
	case 'V': printf(LOG_PROGNAME " " PACKAGE_VERSION "\n"); return 1;
	default: return cfg_bad_option(opt, argc, argv);
	}
}

static int cfg_require(const char *value, const char *name)
{
	if (value == NULL || value[0] == '\0') {
		log_error("%s is required (see --help), or use -c FILE", name);
		return -1;
	}
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static int cfg_listen(struct conf_listen **list, size_t *n, const char *spec,
    const char *name)
{
	struct conf_listen *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return -1;
	if (conf_split_listen(l, spec) == -1) {
		log_error("%s '%s': want HOST:PORT or [ADDR]:PORT with "
		    "PORT 0..65535", name, spec);
		free(l);
		return -1;
	}
	l->spec = strdup(spec);
	*list = l;
	*n = 1;
	return 0;
}

/* Exactly one of --root and --upstream; --proxy-protocol v2 with the latter. */
static int cfg_serves(const struct cli *cl)
{
	if (cl->root != NULL && cl->upstream != NULL) {
		log_error("--root and --upstream: give one (a site serves files "
		    "or passes its connections to a backend)");
		return -1;
	}
	if (cl->upstream == NULL && cfg_require(cl->root,
	    "--root (or --upstream)") == -1)
		return -1;
	if (cl->proxy_protocol != NULL &&
	    strcmp(cl->proxy_protocol, "v2") != 0) {
		log_error("--proxy-protocol '%s': want v2", cl->proxy_protocol);
		return -1;
	}
	if (cl->proxy_protocol != NULL && cl->upstream == NULL) {
		log_error("--proxy-protocol is for --upstream");
		return -1;
	}
	return 0;
}

static int cfg_upstream(struct conf_site *s, const struct cli *cl)
{
	unsigned char wire[CONF_ALPN_WIRE_MAX];
	char why[512];
	size_t wlen;

	if (cl->alpn != NULL) {
		if (conf_parse_alpn(cl->alpn, wire, &wlen, why,
		    sizeof(why)) == -1) {
			log_error("--alpn %s", why);
			return -1;
		}
		if ((s->alpn = strdup(cl->alpn)) == NULL)
			return -1;
	}
	if (cl->upstream == NULL) {
		s->root = strdup(cl->root);
		return 0;
	}
	if (conf_parse_upstream(&s->upstream, cl->upstream, why,
	    sizeof(why)) == -1) {
		log_error("--upstream %s", why);
		return -1;
	}
	s->proxy_v2 = cl->proxy_protocol != NULL;
	return 0;
}

/* The flags of a one-site server as a configuration. */
static int cfg_from_flags(struct conf *c, const struct cli *cl)
{
	struct conf_site *s;
	struct conf_token *t;
	unsigned ms = 0;

	if (cfg_require(cl->cert, "--cert") == -1 ||
	    cfg_require(cl->key, "--key") == -1 ||
	    cfg_serves(cl) == -1)
		return -1;
	if (cl->pin_file != NULL && cl->pin_file[0] == '\0') {
		log_error("--pin-file: empty file name");
		return -1;
	}
	if (cl->module != NULL && cl->module[0] == '\0') {
		log_error("--module: empty path");
		return -1;
	}
	if (cfg_listen(&c->listens, &c->nlistens,
	    cl->listen != NULL ? cl->listen : CONF_DEFAULT_LISTEN,
	    "--listen") == -1)
		return -1;
	if (cl->admin != NULL &&
	    cfg_listen(&c->admin, &c->nadmin, cl->admin, "--admin-listen") == -1)
		return -1;
	if (cfg_count(cl->max_conns, "--max-connections", 1, 1000000,
	    &c->max_conns) == -1 ||
	    cfg_count(cl->pool_threads, "--pool-threads", 1, 1024,
	    &c->pool_threads) == -1 ||
	    cfg_count(cl->workers, "--workers", 1, CONF_MAX_WORKERS,
	    &c->workers) == -1 ||
	    cfg_count(cl->queue_max, "--queue-max", 1, 1000000,
	    &c->queue_max) == -1 ||
	    cfg_count(cl->key_timeout, "--key-timeout", 1, 600000, &ms) == -1)
		return -1;
	if (ms != 0)
		c->key_timeout_ms = ms;
	if ((c->tokens = calloc(1, sizeof(*c->tokens))) == NULL ||
	    (c->sites = calloc(1, sizeof(*c->sites))) == NULL)
		return -1;
	c->ntokens = 1;
	t = &c->tokens[0];
	t->module = dup_or_null(cl->module);
	t->pin_file = dup_or_null(cl->pin_file);
	c->nsites = 1;
	s = &c->sites[0];
	s->name = strdup("default");
	if (cfg_upstream(s, cl) == -1)
		return -1;
	s->keys[0].uri = strdup(cl->key);
	s->keys[0].cert = strdup(cl->cert);
	s->nkeys = 1;
	s->rsa_kx = cl->rsa_kx;
	c->allow_weak_key = cl->weak;
	c->worker_cpu_affinity = cl->affinity;
	c->keyd = dup_or_null(cl->keyd);
	c->allow_imported_key = cl->imported;
	c->access_log = dup_or_null(cl->access_log);
	if (c->access_log != NULL && strcmp(c->access_log, "off") == 0) {
		free(c->access_log);
		c->access_log = NULL;
	}
	return 0;
}

/* With -c, only the flags that are not part of a configuration. */
static int cfg_with_file(const struct cli *cl)
{
	static const char *const site_flags[] = {
		"listen", "cert", "key", "pin-file", "module", "root",
		"max-connections", "workers", "rsa-key-exchange", "allow-weak-key",
		"allow-imported-key",
		"pool-threads", "queue-max", "key-timeout", "admin-listen",
		"access-log", "log-file", "upstream", "proxy-protocol", "alpn",
		"worker-cpu-affinity",
	};
	const struct option *o;
	size_t i;
	int slot;

	for (i = 0; i < sizeof(site_flags) / sizeof(site_flags[0]); i++)
		for (o = cfg_options; o->name != NULL; o++) {
			if (strcmp(o->name, site_flags[i]) != 0)
				continue;
			slot = o->val >= OPT_MAX_CONNS ? o->val - OPT_MAX_CONNS :
			    o->val % 64 + 64;
			if (cl->given[slot] != NULL) {
				log_error("--%s cannot be combined with -c: set "
				    "it in the configuration file", o->name);
				return -1;
			}
		}
	return 0;
}

enum cfg_result cfg_parse(struct conf *c, int argc, char **argv)
{
	struct conf_errors err;
	struct cli cl;
	int opt, r;

	memset(&cl, 0, sizeof(cl));
	conf_defaults(c);
	opterr = 0;     /* our own one-line messages instead of getopt's */
	optind = 0;     /* GNU: start afresh (parsed again at reload) */
	while ((opt = getopt_long(argc, argv, ":c:th", cfg_options, NULL)) != -1) {
		r = cfg_option(&cl, opt, argc, argv);
		if (r == -1)
			return CFG_ERROR;
		if (r == 1)
			return CFG_EXIT_OK;
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see --help)", argv[optind]);
		return CFG_ERROR;
	}
	c->daemon = cl.daemon;
	c->check_only = cl.test;
	if (cl.file == NULL) {
		if (cfg_from_flags(c, &cl) == -1)
			return CFG_ERROR;
		c->pid_file = dup_or_null(cl.pid_file);
		c->error_log = dup_or_null(cl.log_file);
		return CFG_OK;
	}
	if (cfg_with_file(&cl) == -1)
		return CFG_ERROR;
	memset(&err, 0, sizeof(err));
	r = conf_load(c, cl.file, &err);
	conf_errors_print(&err);
	conf_errors_clear(&err);
	if (r != 0)
		return CFG_ERROR;
	/* As hsmtls-keyd --socket: the daemon's socket for this run. */
	if (cl.keyd != NULL) {
		free(c->keyd);
		if ((c->keyd = strdup(cl.keyd)) == NULL)
			return CFG_ERROR;
	}
	c->daemon = cl.daemon;
	c->check_only = cl.test;
	if (cl.pid_file != NULL) {
		free(c->pid_file);
		c->pid_file = strdup(cl.pid_file);
	}
	return CFG_OK;
}
