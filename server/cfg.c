/*
 * cfg.c - command-line parsing and validation for hsmtls-server.
 *
 * Every error is one line naming the option and the fault; nothing here
 * touches the network, the token or the file system beyond argv.
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
	OPT_QUEUE_MAX,
	OPT_KEY_TIMEOUT,
};

static const struct option cfg_options[] = {
	{ "listen",          required_argument, NULL, 'l' },
	{ "cert",            required_argument, NULL, 'c' },
	{ "key",             required_argument, NULL, 'k' },
	{ "pin-file",        required_argument, NULL, 'p' },
	{ "module",          required_argument, NULL, 'm' },
	{ "root",            required_argument, NULL, 'r' },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONNS },
	{ "rsa-key-exchange", no_argument,      NULL, OPT_RSA_KX },
	{ "allow-weak-key",  no_argument,       NULL, OPT_WEAK_KEY },
	{ "daemon",          no_argument,       NULL, OPT_DAEMON },
	{ "pid-file",        required_argument, NULL, OPT_PID_FILE },
	{ "log-file",        required_argument, NULL, OPT_LOG_FILE },
	{ "metrics-path",    required_argument, NULL, OPT_METRICS },
	{ "pool-threads",    required_argument, NULL, OPT_POOL_THREADS },
	{ "queue-max",       required_argument, NULL, OPT_QUEUE_MAX },
	{ "key-timeout",     required_argument, NULL, OPT_KEY_TIMEOUT },
	{ "help",            no_argument,       NULL, 'h' },
	{ "version",         no_argument,       NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void cfg_usage(void)
{
	printf("Usage: " LOG_PROGNAME " --cert FILE --key URI --root DIR [options]\n"
	    "Serve static files over HTTPS with the TLS key on a PKCS#11 token.\n"
	    "\n"
	    "  --listen HOST:PORT     address to listen on, also [ADDR]:PORT\n"
	    "                         (default " CFG_DEFAULT_LISTEN "; port 0: any free port)\n"
	    "  --cert FILE            PEM certificate: leaf first, then chain\n"
	    "  --key URI              RFC 7512 PKCS#11 URI of the private key\n"
	    "  --pin-file FILE        file holding the token PIN (mode 0600 or stricter)\n"
	    "  --module PATH          PKCS#11 module (default " HK_DEFAULT_MODULE ")\n"
	    "  --root DIR             document root\n"
	    "  --max-connections N    concurrent connections (default %u)\n"
	    "  --rsa-key-exchange     also offer TLS 1.2 RSA key exchange (needs a key\n"
	    "                         with CKA_DECRYPT and raw RSA on the token)\n"
	    "  --allow-weak-key       accept a key that is not sensitive or extractable\n"
	    "  --pool-threads N       token worker threads (default: min(32, token limit-2))\n"
	    "  --queue-max N          key operations waiting for a worker (default 8 x threads)\n"
	    "  --key-timeout MS       deadline of one key operation (default 2000)\n"
	    "  --metrics-path PATH    serve counters at PATH (e.g. /metrics; default off)\n"
	    "  --daemon               detach after start-up (before any token call)\n"
	    "  --pid-file FILE        write the server's pid to FILE\n"
	    "  --log-file FILE        append log lines to FILE instead of stderr\n"
	    "  --help                 show this help\n"
	    "  --version              show the version\n",
	    CFG_DEFAULT_MAX_CONNS);
}

/* Parse a decimal in [min, max] with nothing after it. */
static int cfg_number(const char *s, unsigned long min, unsigned long max,
    unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int cfg_set_host(struct cfg *cfg, const char *host, size_t len)
{
	if (len == 0 || len >= sizeof(cfg->host))
		return -1;
	memcpy(cfg->host, host, len);
	cfg->host[len] = '\0';
	return 0;
}

static int cfg_split_listen(struct cfg *cfg, const char *spec)
{
	const char *colon, *close;
	unsigned long port;

	if (spec[0] == '[') {
		close = strchr(spec, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		if (cfg_set_host(cfg, spec + 1, (size_t)(close - spec - 1)) == -1)
			return -1;
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL || memchr(spec, ':', (size_t)(colon - spec)))
			return -1;      /* bare IPv6 needs brackets */
		if (cfg_set_host(cfg, spec, (size_t)(colon - spec)) == -1)
			return -1;
	}
	if (cfg_number(colon + 1, 0, 65535, &port) == -1)
		return -1;
	snprintf(cfg->port, sizeof(cfg->port), "%lu", port);
	return 0;
}

int cfg_parse_listen(struct cfg *cfg, const char *spec)
{
	if (cfg_split_listen(cfg, spec) == -1) {
		log_error("--listen '%s': want HOST:PORT or [ADDR]:PORT with "
		    "PORT 0..65535", spec);
		return -1;
	}
	cfg->listen = spec;
	return 0;
}

static int cfg_max_conns(struct cfg *cfg, const char *s)
{
	unsigned long n;

	if (cfg_number(s, 1, 1000000, &n) == -1) {
		log_error("--max-connections '%s': want a number 1..1000000", s);
		return -1;
	}
	cfg->max_conns = (unsigned)n;
	return 0;
}

static int cfg_count(const char *s, const char *name, unsigned long max,
    unsigned *out)
{
	unsigned long n;

	if (cfg_number(s, 1, max, &n) == -1) {
		log_error("%s '%s': want a number 1..%lu", name, s, max);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

static int cfg_path(const char *s, const char *name, const char **out)
{
	if (s[0] != '/') {
		log_error("%s '%s': want a path starting with /", name, s);
		return -1;
	}
	*out = s;
	return 0;
}

static void cfg_defaults(struct cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_conns = CFG_DEFAULT_MAX_CONNS;
	/* The default is well-formed, so this cannot fail. */
	(void)cfg_split_listen(cfg, CFG_DEFAULT_LISTEN);
	cfg->listen = CFG_DEFAULT_LISTEN;
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

/* Returns 0, -1 (error printed) or 1 (help/version printed). */
static int cfg_option(struct cfg *cfg, int opt, int argc, char **argv)
{
	switch (opt) {
	case 'l': return cfg_parse_listen(cfg, optarg);
	case 'c': cfg->cert = optarg; return 0;
	case 'k': cfg->key = optarg; return 0;
	case 'p': cfg->pin_file = optarg; return 0;
	case 'm': cfg->module = optarg; return 0;
	case 'r': cfg->root = optarg; return 0;
	case OPT_MAX_CONNS: return cfg_max_conns(cfg, optarg);
	case OPT_RSA_KX: cfg->rsa_kx = true; return 0;
	case OPT_WEAK_KEY: cfg->allow_weak_key = true; return 0;
	case OPT_DAEMON: cfg->daemon = true; return 0;
	case OPT_PID_FILE: cfg->pid_file = optarg; return 0;
	case OPT_LOG_FILE: cfg->log_file = optarg; return 0;
	case OPT_METRICS:
		return cfg_path(optarg, "--metrics-path", &cfg->metrics_path);
	case OPT_POOL_THREADS:
		return cfg_count(optarg, "--pool-threads", 1024,
		    &cfg->pool_threads);
	case OPT_QUEUE_MAX:
		return cfg_count(optarg, "--queue-max", 1000000, &cfg->queue_max);
	case OPT_KEY_TIMEOUT:
		return cfg_count(optarg, "--key-timeout", 600000,
		    &cfg->key_timeout_ms);
	case 'h': cfg_usage(); return 1;
	case 'V': printf(LOG_PROGNAME " " PACKAGE_VERSION "\n"); return 1;
	default: return cfg_bad_option(opt, argc, argv);
	}
}

static int cfg_require(const char *value, const char *name)
{
	if (value == NULL || value[0] == '\0') {
		log_error("%s is required (see --help)", name);
		return -1;
	}
	return 0;
}

static int cfg_validate(const struct cfg *cfg, int argc, char **argv)
{
	if (optind < argc) {
		log_error("unexpected argument '%s' (see --help)", argv[optind]);
		return -1;
	}
	if (cfg_require(cfg->cert, "--cert") == -1 ||
	    cfg_require(cfg->key, "--key") == -1 ||
	    cfg_require(cfg->root, "--root") == -1)
		return -1;
	if (cfg->pin_file != NULL && cfg->pin_file[0] == '\0') {
		log_error("--pin-file: empty file name");
		return -1;
	}
	if (cfg->module != NULL && cfg->module[0] == '\0') {
		log_error("--module: empty path");
		return -1;
	}
	return 0;
}

enum cfg_result cfg_parse(struct cfg *cfg, int argc, char **argv)
{
	int opt, r;

	cfg_defaults(cfg);
	opterr = 0;     /* our own one-line messages instead of getopt's */
	while ((opt = getopt_long(argc, argv, ":", cfg_options, NULL)) != -1) {
		r = cfg_option(cfg, opt, argc, argv);
		if (r == -1)
			return CFG_ERROR;
		if (r == 1)
			return CFG_EXIT_OK;
	}
	return cfg_validate(cfg, argc, argv) == 0 ? CFG_OK : CFG_ERROR;
}
