/*
 * main.c - hsmtls-server: start-up order and exit.
 *
 * Everything that can fail for a configuration reason (arguments, document
 * root, certificate, token login, key self-test, TLS context) is checked
 * before the port is bound, so "listening on" means ready to serve.  With
 * --daemon the process forks before the engine makes its first PKCS#11
 * call (a PKCS#11 library must be initialised in the process that uses
 * it), and the parent reports the child's start-up line and status.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/ssl.h>

#include "cfg.h"
#include "hk.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "tls.h"

struct app {
	struct cfg cfg;
	struct http_site site;
	X509 *leaf;
	STACK_OF(X509) *chain;
	struct hk_engine *engine;
	struct hk_key *key;
	SSL_CTX *ctx;
	struct server srv;
	bool pid_written;
};

/* Token state changes and recoveries while serving; may run on engine threads. */
static void engine_log(void *arg, const char *msg)
{
	log_error("engine: %s", msg);
}

static void engine_failed(const struct hk_engine *e)
{
	const char *msg = hk_engine_error(e);

	log_error("%s", msg != NULL && msg[0] != '\0' ? msg :
	    "key engine: unknown error");
}

static int app_engine(struct app *a)
{
	struct hk_pool_config pc = {
		a->cfg.pool_threads, a->cfg.queue_max, a->cfg.key_timeout_ms
	};

	if ((a->engine = hk_engine_new()) == NULL) {
		log_error("cannot start the key engine (OpenSSL providers)");
		return -1;
	}
	hk_engine_set_pool(a->engine, &pc);
	hk_engine_set_allow_weak_key(a->engine, a->cfg.allow_weak_key);
	return 0;
}

/* --cert is a PEM file, or a certificate on the token (pkcs11:...;type=cert). */
static int app_certs(struct app *a)
{
	if (strncmp(a->cfg.cert, "pkcs11:", 7) != 0)
		return tls_read_certs(a->cfg.cert, &a->leaf, &a->chain);
	a->leaf = hk_engine_load_cert(a->engine, a->cfg.cert, a->cfg.module,
	    a->cfg.pin_file);
	if (a->leaf == NULL || (a->chain = sk_X509_new_null()) == NULL) {
		engine_failed(a->engine);
		return -1;
	}
	return 0;
}

/* Token login and the start-up signature test against the certificate. */
static int app_load_key(struct app *a)
{
	a->key = hk_engine_load_key(a->engine, a->cfg.key, a->cfg.module,
	    a->cfg.pin_file, a->leaf);
	if (a->key == NULL ||
	    hk_key_selftest(a->engine, a->key, a->leaf, a->cfg.cert) == -1 ||
	    (a->cfg.rsa_kx && hk_key_enable_rsa_kx(a->engine, a->key) == -1)) {
		engine_failed(a->engine);
		return -1;
	}
	return 0;
}

/* Prometheus text format: the engine's and the loop's counters. */
static int app_metrics(void *arg, char *buf, size_t len)
{
	struct app *a = arg;
	struct hk_stats st;
	int n;

	hk_engine_stats(a->engine, &st);
	n = snprintf(buf, len,
	    "hsmtls_connections_accepted_total %llu\n"
	    "hsmtls_connections_open %u\n"
	    "hsmtls_handshakes_total %llu\n"
	    "hsmtls_handshake_failures_total %llu\n"
	    "hsmtls_token_sign_total %llu\n"
	    "hsmtls_token_sign_failures_total %llu\n"
	    "hsmtls_token_decrypt_total %llu\n"
	    "hsmtls_token_decrypt_failures_total %llu\n"
	    "hsmtls_token_up %llu\n"
	    "hsmtls_token_down_total %llu\n"
	    "hsmtls_token_recoveries_total %llu\n"
	    "hsmtls_token_relogins_total %llu\n"
	    "hsmtls_token_key_refinds_total %llu\n"
	    "hsmtls_token_session_replacements_total %llu\n"
	    "hsmtls_token_sessions_open %llu\n"
	    "hsmtls_pool_workers %llu\n"
	    "hsmtls_pool_workers_busy %llu\n"
	    "hsmtls_pool_queue_depth %llu\n"
	    "hsmtls_pool_rejected_total %llu\n"
	    "hsmtls_pool_expired_total %llu\n"
	    "hsmtls_pool_cancelled_total %llu\n",
	    a->srv.accepted, a->srv.nconns, a->srv.handshakes,
	    a->srv.handshake_failures,
	    (unsigned long long)st.sign_ok, (unsigned long long)st.sign_failed,
	    (unsigned long long)st.decrypt_ok,
	    (unsigned long long)st.decrypt_failed,
	    (unsigned long long)st.token_up,
	    (unsigned long long)st.token_down_events,
	    (unsigned long long)st.token_recoveries,
	    (unsigned long long)st.relogins,
	    (unsigned long long)st.key_refinds,
	    (unsigned long long)st.session_replacements,
	    (unsigned long long)st.sessions_open,
	    (unsigned long long)st.workers,
	    (unsigned long long)st.workers_busy,
	    (unsigned long long)st.queue_depth,
	    (unsigned long long)st.ops_rejected,
	    (unsigned long long)st.ops_expired,
	    (unsigned long long)st.ops_cancelled);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

static int app_pid_file(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 ||
	    fclose(f) != 0) {
		log_error("pid file '%s': %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int app_start(struct app *a)
{
	struct ev_loop *ev;

	if (http_site_open(&a->site, a->cfg.root) == -1 ||
	    app_engine(a) == -1 || app_certs(a) == -1 || app_load_key(a) == -1)
		return -1;
	if ((a->ctx = tls_ctx_new(a->leaf, a->chain, hk_key_pkey(a->key),
	    a->cfg.rsa_kx)) == NULL)
		return -1;
	if ((ev = ev_default_loop(0)) == NULL) {
		log_error("cannot create the event loop (check LIBEV_FLAGS)");
		return -1;
	}
	if (a->cfg.metrics_path != NULL) {
		a->site.metrics_path = a->cfg.metrics_path;
		a->site.metrics = app_metrics;
		a->site.metrics_arg = a;
	}
	server_init(&a->srv, ev, a->ctx, &a->site, a->cfg.max_conns);
	if (server_listen(&a->srv, &a->cfg) == -1)
		return -1;
	if (a->cfg.pid_file != NULL) {
		if (app_pid_file(a->cfg.pid_file) == -1)
			return -1;
		a->pid_written = true;
	}
	/* Only now: a failed start-up must print exactly one line. */
	hk_engine_set_logger(a->engine, engine_log, NULL);
	return 0;
}

/*
 * After start-up, later log lines go to --log-file, or nowhere for a
 * daemon without one.  This also closes a daemon's start-up pipe, which
 * tells the waiting parent that start-up is over.
 */
static int app_redirect_log(const struct cfg *cfg)
{
	int fd;

	if (cfg->log_file == NULL && !cfg->daemon)
		return 0;
	if (cfg->log_file != NULL)
		fd = open(cfg->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		    0640);
	else
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd == -1) {
		log_error("log file '%s': %s", cfg->log_file, strerror(errno));
		return -1;
	}
	dup2(fd, STDERR_FILENO);
	close(fd);
	return 0;
}

/* The write end of the daemon's status pipe, in the child; -1 otherwise. */
static int ready_fd = -1;

/* Child: start-up succeeded; the parent may exit 0. */
static void daemon_ready(void)
{
	char ok = '0';

	if (ready_fd == -1)
		return;
	if (write(ready_fd, &ok, 1) != 1)
		log_error("cannot report start-up to the parent: %s",
		    strerror(errno));
	close(ready_fd);
	ready_fd = -1;
}

/*
 * Parent: copy the child's start-up lines (the "listening on" line or the
 * one error line) to stderr, then exit 0 if the child said it is ready,
 * else with the child's exit status.
 */
static int daemon_parent(pid_t child, int lines, int ready)
{
	char buf[1024], ok = 0;
	ssize_t n;
	int status;

	while ((n = read(lines, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write(STDERR_FILENO, buf, (size_t)n) != n)
			break;
	}
	while ((n = read(ready, &ok, 1)) < 0 && errno == EINTR)
		;
	if (n == 1 && ok == '0')
		return EXIT_SUCCESS;
	while (waitpid(child, &status, 0) == -1 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) != 0 ?
	    WEXITSTATUS(status) : EXIT_FAILURE;
}

/* Returns in the child (0) or -1; the parent exits from here. */
static int daemonise(void)
{
	int lines[2], ready[2], null;
	pid_t pid;

	if (pipe2(lines, O_CLOEXEC) == -1 || pipe2(ready, O_CLOEXEC) == -1 ||
	    (pid = fork()) == -1) {
		log_error("cannot daemonise: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		close(lines[1]);
		close(ready[1]);
		exit(daemon_parent(pid, lines[0], ready[0]));
	}
	close(lines[0]);
	close(ready[0]);
	setsid();
	if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	dup2(lines[1], STDERR_FILENO);  /* start-up lines reach the parent */
	close(lines[1]);
	ready_fd = ready[1];
	return 0;
}

/*
 * Connections and the SSL_CTX hold references to the token key, so they go
 * before the engine; hk_engine_free() then runs C_Finalize while the
 * module is still loaded (not from atexit, see DESIGN.md).
 */
static void app_free(struct app *a)
{
	server_close(&a->srv);
	SSL_CTX_free(a->ctx);
	sk_X509_pop_free(a->chain, X509_free);
	X509_free(a->leaf);
	hk_engine_free(a->engine);
	http_site_close(&a->site);
	if (a->srv.ev != NULL)
		ev_loop_destroy(a->srv.ev);
	if (a->pid_written)
		unlink(a->cfg.pid_file);
}

int main(int argc, char **argv)
{
	struct app a;
	int rc = EXIT_FAILURE;

	memset(&a, 0, sizeof(a));
	a.site.root_fd = -1;
	a.srv.listen_fd = -1;
	/* A peer that resets must not kill the server mid-write. */
	signal(SIGPIPE, SIG_IGN);
	switch (cfg_parse(&a.cfg, argc, argv)) {
	case CFG_EXIT_OK:
		return EXIT_SUCCESS;
	case CFG_ERROR:
		return EXIT_FAILURE;
	case CFG_OK:
		break;
	}
	/* Nothing before this point touches PKCS#11, and nothing after forks. */
	if (a.cfg.daemon && daemonise() == -1)
		return EXIT_FAILURE;
	http_global_init();
	if (app_start(&a) == 0 && app_redirect_log(&a.cfg) == 0) {
		daemon_ready();
		server_run(&a.srv);
		rc = EXIT_SUCCESS;
	}
	app_free(&a);
	return rc;
}
