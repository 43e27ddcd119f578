/*
 * cfg.h - command-line options of hsmtls-server, parsed and validated.
 *
 * (Named cfg.h, not config.h: "config.h" is autoconf's header, and a
 * same-named file in this directory would shadow it.)
 */
#ifndef SRV_CFG_H
#define SRV_CFG_H

#include <stdbool.h>
#include <stddef.h>

#define CFG_DEFAULT_LISTEN "127.0.0.1:8443"
#define CFG_DEFAULT_MAX_CONNS 1024

struct cfg {
	const char *listen;     /* as given, for messages */
	char host[256];         /* without the brackets of "[v6]:port" */
	char port[6];           /* decimal, 0..65535 */
	const char *cert;       /* PEM: leaf, then chain */
	const char *key;        /* RFC 7512 PKCS#11 URI */
	const char *pin_file;   /* NULL: the URI's pin-source */
	const char *module;     /* NULL: the URI's module-path, else SoftHSM */
	const char *root;       /* document root */
	unsigned max_conns;
	bool rsa_kx;            /* TLS 1.2 RSA key exchange (off by default) */
	bool allow_weak_key;    /* accept sensitive=false / extractable keys */
	bool daemon;            /* detach; fork before any PKCS#11 call */
	const char *pid_file;
	const char *log_file;   /* where a daemon's log lines go */
	const char *metrics_path; /* e.g. /metrics; NULL: not served */
	unsigned pool_threads;  /* 0: engine default */
	unsigned queue_max;     /* 0: engine default */
	unsigned key_timeout_ms; /* 0: engine default (2000) */
};

enum cfg_result {
	CFG_OK,
	CFG_EXIT_OK,    /* --help or --version printed; exit 0 */
	CFG_ERROR,      /* one line printed; exit 1 */
};

enum cfg_result cfg_parse(struct cfg *cfg, int argc, char **argv);

/* Split "HOST:PORT" or "[ADDR]:PORT"; 0/-1 (error line printed). */
int cfg_parse_listen(struct cfg *cfg, const char *spec);

#endif /* SRV_CFG_H */
