/*
 * main.c - hsmtls-server: start-up order, reload, status pages and exit.
 *
 * Everything that can fail for a configuration reason (the file, document
 * roots, certificates, token logins, key self-tests, TLS contexts) is
 * checked before a port is bound, so "listening on" means ready to serve.
 * With --daemon the process forks before the engine makes its first
 * PKCS#11 call (a PKCS#11 library must be initialised in the process that
 * uses it), and the parent reports the child's start-up line and status.
 *
 * Order: parse -> (fork) -> bind -> read PIN files -> drop to `user` ->
 * load modules, log in, find and self-test keys -> serve.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/ssl.h>

#include "accesslog.h"
#include "admin.h"
#include "cfg.h"
#include "conf.h"
#include "hk.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "site.h"
#include "ticket.h"
#include "tls.h"

struct app {
	int argc;
	char **argv;
	struct tokens tk;
	struct tickets *tickets;
	struct server srv;
	char *pid_file;
	bool pid_written;
	bool from_file;
};

/* ---- start-up ---- */

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

/*
 * Drop to the configured user: after binding and reading the PIN files,
 * before any PKCS#11 call.  The process stays non-dumpable (the engine's
 * PIN page must never reach a core file), which setuid() would undo.
 */
static int app_drop_privileges(const char *user)
{
	struct passwd *pw;

	if (user == NULL)
		return 0;
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		log_error("user '%s': %s", user, errno ? strerror(errno) :
		    "no such user");
		return -1;
	}
	if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid)
		return 0;
	if (setgroups(0, NULL) == -1 && errno != EPERM) {
		log_error("user '%s': setgroups: %s", user, strerror(errno));
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		log_error("user '%s': cannot switch to uid %u: %s", user,
		    (unsigned)pw->pw_uid, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_error("user '%s': could switch back to root", user);
		return -1;
	}
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return 0;
}

/* Print what a build said; warnings only: go on. */
static void app_report(struct conf_errors *err)
{
	conf_errors_print(err);
	conf_errors_clear(err);
}

/* -t: parse, log in, self-test; "configuration ok" or every error. */
static int app_check(struct conf *c)
{
	struct conf_errors err;
	struct tokens tk;
	struct tickets *t;
	struct gen *g = NULL;
	int rc;

	memset(&err, 0, sizeof(err));
	memset(&tk, 0, sizeof(tk));
	t = tickets_new(c, &err);
	if (t != NULL)
		g = gen_build(c, &tk, t, NULL, false, &err);
	rc = g != NULL && conf_errors_count(&err) == 0 ? 0 : -1;
	app_report(&err);
	gen_unref(g);
	tickets_free(t);
	tokens_free(&tk);
	if (rc == 0)
		printf("configuration ok\n");
	return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The engine that talks to the key daemon (the newest one), or NULL. */
static struct hk_engine *keyd_engine(struct tokens *tk)
{
	struct token_rt *t;

	for (t = tk->list; t != NULL; t = t->next)
		if (t->keyd != NULL && !t->retired)
			return t->e;
	return NULL;
}

/* Open the access log named by path (NULL: off), replacing the current one. */
static int app_access_log(struct server *s, const char *path)
{
	struct accesslog *l = NULL;

	if (path != NULL && accesslog_open(&l, path) == -1) {
		log_error("access-log '%s': %s", path, strerror(errno));
		return -1;
	}
	accesslog_close(s->alog);
	s->alog = l;
	return 0;
}

static int app_start(struct app *a, struct conf *c)
{
	struct conf_errors err;
	struct ev_loop *ev;
	struct gen *g;
	bool cli = c->file == NULL;
	int rc = -1;

	memset(&err, 0, sizeof(err));
	a->from_file = !cli;
	if ((ev = ev_default_loop(0)) == NULL) {
		log_error("cannot create the event loop (check LIBEV_FLAGS)");
		return -1;
	}
	server_init(&a->srv, ev);
	a->srv.app = a;
	a->srv.tokens = &a->tk;
	if (server_listen(&a->srv, c) == -1)
		return -1;
	if ((a->tickets = tickets_new(c, &err)) == NULL ||
	    tokens_prepare(c, &a->tk, cli, &err) != 0) {
		app_report(&err);
		return -1;
	}
	if (app_drop_privileges(c->user) != 0)
		return -1;
	a->srv.tickets = a->tickets;
	g = gen_build(c, &a->tk, a->tickets, NULL, cli, &err);
	app_report(&err);
	if (g == NULL)
		return -1;
	server_swap(&a->srv, g);
	gen_unref(g);
	server_watch_keyd(&a->srv, keyd_engine(&a->tk));
	if (a->srv.gen->conf.pid_file != NULL) {
		if ((a->pid_file = strdup(a->srv.gen->conf.pid_file)) == NULL ||
		    app_pid_file(a->pid_file) == -1)
			return -1;
		a->pid_written = true;
	}
	if (app_access_log(&a->srv, a->srv.gen->conf.access_log) != 0)
		return -1;
	if (server_start_workers(&a->srv, a->srv.gen->conf.workers != 0 ?
	    a->srv.gen->conf.workers : server_default_workers()) != 0)
		return -1;
	/* Start-up has succeeded: nothing below can fail it. */
	gen_custody_report(a->srv.gen);
	server_announce(&a->srv);
	/* Only now: a failed start-up must print exactly one line. */
	tokens_set_logger(&a->tk, NULL);
	rc = 0;
	return rc;
}

/* ---- reload ---- */

static bool same_path(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static void app_reload(struct server *s)
{
	struct app *a = s->app;
	struct conf_errors err;
	struct conf c;
	struct gen *g;
	enum cfg_result r;

	log_info("reloading (SIGHUP): %s", a->from_file ?
	    s->gen->conf.file : "certificates and keys of the command line");
	/* The same command line again: -c FILE is read anew, or the flags
	 * name the same certificate and key files, read anew. */
	r = cfg_parse(&c, a->argc, a->argv);
	if (r != CFG_OK) {
		conf_free(&c);
		s->st.reloads_failed++;
		log_error("reload failed: the configuration has errors; the "
		    "previous one keeps serving");
		return;
	}
	memset(&err, 0, sizeof(err));
	server_affinity(s, false);      /* new key threads: every CPU */
	g = gen_build(&c, &a->tk, a->tickets, s->gen, false, &err);
	server_affinity(s, true);
	/* Ticket keys only once the rest is good: a failed reload changes
	 * nothing. */
	if (g != NULL && tickets_reload(a->tickets, &g->conf, &err) != 0) {
		gen_unref(g);
		g = NULL;
	}
	app_report(&err);
	if (g == NULL) {
		s->st.reloads_failed++;
		log_error("reload failed; the previous configuration keeps "
		    "serving");
		return;
	}
	if (g->conf.nlistens != s->gen->conf.nlistens ||
	    g->conf.nadmin != s->gen->conf.nadmin)
		log_warn("listen and admin-listen changes take effect at the "
		    "next restart");
	if (g->conf.workers != s->gen->conf.workers)
		log_warn("a workers change takes effect at the next restart");
	if (g->conf.worker_cpu_affinity != s->gen->conf.worker_cpu_affinity)
		log_warn("a worker-cpu-affinity change takes effect at the next "
		    "restart");
	if (!same_path(g->conf.access_log, s->gen->conf.access_log) &&
	    app_access_log(s, g->conf.access_log) != 0)
		log_warn("the access log stays as it was");
	if (!same_path(g->conf.error_log, s->gen->conf.error_log) &&
	    log_open(g->conf.error_log != NULL ? g->conf.error_log :
	    (g->conf.daemon ? "/dev/null" : "stderr")) == -1)
		log_warn("error-log '%s': %s; the error log stays as it was",
		    g->conf.error_log, strerror(errno));
	server_swap(s, g);
	gen_unref(g);
	server_watch_keyd(s, keyd_engine(&a->tk));
	server_publish(s);
	s->st.reloads_ok++;
	log_info("reloaded: configuration %lu serves %zu site%s", s->gen->id,
	    s->gen->nsites, s->gen->nsites == 1 ? "" : "s");
	log_set_level((enum log_level)s->gen->conf.log_level);
	gen_custody_report(s->gen);
}

/* ---- logs ---- */

/*
 * After start-up, log lines go to the error log, with timestamps and
 * levels.  A daemon's stderr (its start-up pipe, which tells the waiting
 * parent that start-up is over) becomes /dev/null; library messages on
 * stderr then go nowhere, ours to the error log.
 */
static int app_logs(const struct conf *c)
{
	int fd;

	if (c->error_log != NULL && log_open(c->error_log) == -1) {
		log_error("error-log '%s': %s", c->error_log, strerror(errno));
		return -1;
	}
	if (c->daemon) {
		if (c->error_log == NULL || strcmp(c->error_log, "stderr") == 0)
			(void)log_open("/dev/null");
		if ((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1) {
			log_error("/dev/null: %s", strerror(errno));
			return -1;
		}
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	log_set_level((enum log_level)c->log_level);
	log_set_timestamps(true);
	return 0;
}

static void app_reopen(struct server *s)
{
	if (log_reopen() == -1)
		log_error("reopening the error log: %s", strerror(errno));
	if (accesslog_reopen(s->alog) == -1)
		log_error("reopening the access log: %s", strerror(errno));
}

/* ---- daemon ---- */

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
 * Connections and the SSL_CTXs hold references to the token keys, so they
 * go before the engines; tokens_free() then runs C_Finalize while the
 * modules are still loaded (not from atexit, see DESIGN.md).
 */
static void app_free(struct app *a)
{
	server_close(&a->srv);
	accesslog_close(a->srv.alog);
	a->srv.alog = NULL;
	tokens_free(&a->tk);
	tickets_free(a->tickets);
	if (a->srv.ev != NULL)
		ev_loop_destroy(a->srv.ev);
	if (a->pid_written)
		unlink(a->pid_file);
	free(a->pid_file);
}

int main(int argc, char **argv)
{
	struct app a;
	struct conf c;
	int rc = EXIT_FAILURE;

	memset(&a, 0, sizeof(a));
	a.argc = argc;
	a.argv = argv;
	/* A peer that resets must not kill the server mid-write, and a
	 * SIGHUP or SIGUSR1 during start-up must not kill it either. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	switch (cfg_parse(&c, argc, argv)) {
	case CFG_EXIT_OK:
		return EXIT_SUCCESS;
	case CFG_ERROR:
		conf_free(&c);
		return EXIT_FAILURE;
	case CFG_OK:
		break;
	}
	http_global_init();
	if (c.check_only) {
		rc = app_check(&c);
		conf_free(&c);
		return rc;
	}
	/* Nothing before this point touches PKCS#11, and nothing after forks. */
	if (c.daemon && daemonise() == -1) {
		conf_free(&c);
		return EXIT_FAILURE;
	}
	a.srv.ev = NULL;
	if (app_start(&a, &c) == 0) {
		a.srv.on_reload = app_reload;
		a.srv.on_reopen = app_reopen;
		if (app_logs(&a.srv.gen->conf) == 0) {
			log_info("serving %zu site%s (configuration %lu, pid %ld)",
			    a.srv.gen->nsites, a.srv.gen->nsites == 1 ? "" : "s",
			    a.srv.gen->id, (long)getpid());
			daemon_ready();
			server_run(&a.srv);
			log_info("stopped");
			rc = EXIT_SUCCESS;
		}
	}
	conf_free(&c);
	app_free(&a);
	return rc;
}
