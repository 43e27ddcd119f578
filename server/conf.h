/*
 * conf.h - the server's whole configuration: parsed from hsmtls.conf
 * (nginx's shape, see hsmtls.conf(5)) or made from the command-line flags
 * of a one-site server, then validated as a whole.
 *
 * Parsing touches no file but the configuration itself; what needs the
 * file system or the token (roots, certificates, keys) is checked when
 * the configuration is built into contexts (site.c), with the same
 * "FILE:LINE: message" errors.
 */
#ifndef SRV_CONF_H
#define SRV_CONF_H

#include <stdbool.h>
#include <stddef.h>

#define CONF_DEFAULT_LISTEN "127.0.0.1:8443"
#define CONF_MAX_WORKERS 256  /* event-loop threads */

enum log_level_value {
	CONF_LOG_ERROR,
	CONF_LOG_WARN,
	CONF_LOG_INFO,
	CONF_LOG_DEBUG,
};

struct conf_listen {
	char *spec;             /* as written, for messages */
	char host[256];         /* without the brackets of "[v6]:port" */
	char port[6];
	int line;
};

struct conf_token {
	char *name;             /* the token label; NULL: any (command line) */
	char *module;           /* NULL: the key URI's module-path or SoftHSM */
	char *pin_file;         /* NULL: the key URI's pin-source */
	int line;
	bool used;
};

struct conf_key {
	char *uri;              /* RFC 7512 PKCS#11 URI (the first replica) */
	char *cert;             /* PEM chain file, or a pkcs11: URI of a cert */
	/* Every URI of the key line, uris[0] == uri: one key cloned on
	 * several tokens (hsmtls-keyd only).  NULL and 0 for a key made from
	 * the command line: use conf_key_uri(). */
	char **uris;
	size_t nuris;
	int line;
};

#define CONF_KEY_REPLICAS 8     /* URIs on one key line */

/* How many URIs the key names, and the i-th of them. */
static inline size_t conf_key_nuris(const struct conf_key *k)
{
	return k->nuris > 0 ? k->nuris : 1;
}

static inline const char *conf_key_uri(const struct conf_key *k, size_t i)
{
	return i == 0 || k->uris == NULL ? k->uri : k->uris[i];
}

#define CONF_SITE_KEYS 2        /* one RSA and one ECDSA */

/* A backend that a site's TLS connections are passed to (upstream). */
struct conf_upstream {
	char *spec;             /* as written: "tcp:HOST:PORT" or "unix:PATH" */
	char *path;             /* unix: the socket's path, else NULL */
	struct conf_listen tcp; /* tcp: its host and port (spec NULL) */
	int line;
};

struct conf_site {
	char *name;
	char **names;           /* server-name values */
	size_t nnames;
	char *root;             /* either a document root ... */
	int root_line;
	struct conf_upstream upstream;  /* ... or a backend (spec non-NULL) */
	bool proxy_v2;          /* proxy-protocol v2: a header first */
	int proxy_line;
	char *alpn;             /* ALPN offered, "h2,http/1.1"; NULL: default */
	struct conf_key keys[CONF_SITE_KEYS];
	size_t nkeys;
	bool rsa_kx;
	int line;
};

struct conf {
	char *file;             /* NULL: built from the command line */
	struct conf_listen *listens;
	size_t nlistens;
	struct conf_listen *admin;
	size_t nadmin;
	struct conf_token *tokens;
	size_t ntokens;
	struct conf_site *sites;
	size_t nsites;

	char *user;
	char *keyd;             /* key daemon socket (hsmtls-keyd) */
	char *keyd_user;        /* hsmtls-keyd's user when started as root */
	int keyd_user_line;
	char *pid_file;
	char *access_log;       /* NULL: off; "stderr" or a path */
	char *error_log;        /* NULL: stderr */
	int log_level;
	char *ticket_key_file;
	unsigned ticket_rotate_secs;
	bool strict_sni;
	bool allow_weak_key;
	bool allow_imported_key;
	unsigned max_conns;
	unsigned workers;       /* event-loop threads; 0: one per core */
	bool worker_cpu_affinity;       /* each loop on a CPU of its own */
	double handshake_timeout, header_timeout, idle_timeout, send_timeout;
	double shutdown_timeout;
	double upstream_connect_timeout;
	size_t max_request_line, max_header_size;
	unsigned max_headers;
	char *alpn;             /* every site's default ALPN list, or NULL */
	unsigned h2_max_streams;
	unsigned pool_threads, queue_max, key_timeout_ms;

	/* command line only */
	bool daemon;
	bool check_only;        /* -t */
};

/* Errors collected while parsing or building: all are printed. */
struct conf_error {
	char *where;            /* "FILE:LINE: ", "FILE: " or "" */
	char *text;
	bool warning;           /* printed, but does not fail a check */
};

struct conf_errors {
	struct conf_error *e;
	size_t n;
	size_t warnings;
};

void conf_errors_add(struct conf_errors *e, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void conf_errors_warn(struct conf_errors *e, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Errors from index from on become warnings (a token fault at reload). */
void conf_errors_soften(struct conf_errors *e, size_t from);
/* Print each collected line (errors as errors, warnings as warnings). */
void conf_errors_print(const struct conf_errors *e);
size_t conf_errors_count(const struct conf_errors *e);
void conf_errors_clear(struct conf_errors *e);

void conf_defaults(struct conf *c);

/* Parse FILE into c (after conf_defaults); 0, or -1 with errors in err. */
int conf_load(struct conf *c, const char *file, struct conf_errors *err);

/* Parse text (for tests and the command line); name is used in messages. */
int conf_parse_text(struct conf *c, const char *name, const char *text,
    size_t len, struct conf_errors *err);

void conf_free(struct conf *c);

/* Split "HOST:PORT" or "[ADDR]:PORT"; 0 or -1. */
int conf_split_listen(struct conf_listen *l, const char *spec);

/*
 * Parse "tcp:HOST:PORT", "tcp:[ADDR]:PORT" or "unix:/PATH" into u (spec
 * and path allocated; free with conf_upstream_free()).  0, or -1 with
 * the reason in why.
 */
int conf_parse_upstream(struct conf_upstream *u, const char *spec, char *why,
    size_t len);
void conf_upstream_free(struct conf_upstream *u);

/* ALPN lists: what a site offers when neither it nor the top level says. */
#define CONF_ALPN_FILES    "h2,http/1.1"
#define CONF_ALPN_UPSTREAM "http/1.1"
#define CONF_ALPN_WIRE_MAX 16   /* "\x02h2\x08http/1.1" and room */

/*
 * An ALPN list, "h2,http/1.1" (comma- or space-separated, in the server's
 * order of preference), to its wire form (RFC 7301 3.1).  Only h2 and
 * http/1.1, each once.  0, or -1 with the reason in why.
 */
int conf_parse_alpn(const char *list, unsigned char *wire, size_t *wire_len,
    char *why, size_t len);

/* The token block a key URI belongs to, or NULL (an implicit token). */
struct conf_token *conf_token_for(const struct conf *c, const char *uri);

#endif /* SRV_CONF_H */
