/*
 * main.c - hsmtls-keyd: read hsmtls.conf, load every site's keys from
 * their tokens, then answer key requests on a Unix socket.  One line per
 * start-up error, as hsmtls-server prints them.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "keyd.h"
#include "log.h"

#define KEYD_DEFAULT_USER "hsmtls-keyd"

static void
usage(FILE *f)
{
	fprintf(f, "Usage: " LOG_PROGNAME " -c FILE [--socket PATH] [--user NAME]\n"
	    "  -c, --config FILE   hsmtls.conf: token blocks and key lines\n"
	    "  -s, --socket PATH   the Unix socket (overrides keyd PATH;)\n"
	    "  -u, --user NAME     the user to run as when started as root\n"
	    "                      (overrides keyd-user NAME;, default "
	    KEYD_DEFAULT_USER ")\n"
	    "  -h, --help          this text\n"
	    "  -V, --version       the version\n");
}

/* An error about the file is located (FILE[:LINE]: ...), as conf.c's. */
static void __attribute__((format(printf, 2, 3)))
log_msg_at(int located, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (located)
		log_located(LOG_LEVEL_ERROR, "%s", msg);
	else
		log_error("%s", msg);
}

/*
 * The user to drop to: only when started as root.  A missing user is an
 * error (running on as root is what the drop is there to prevent), with
 * how to make it.  NULL with *ok set: no switch.
 */
static const struct passwd *
keyd_user(const struct conf *c, const char *opt, int *ok)
{
	const char *name = opt != NULL ? opt : c->keyd_user != NULL ?
	    c->keyd_user : KEYD_DEFAULT_USER;
	const struct passwd *pw;
	char where[600];

	*ok = 1;
	if (geteuid() != 0) {
		if (opt != NULL || c->keyd_user != NULL)
			log_info("not started as root: staying uid %u (keyd-user "
			    "'%s' is for a start as root)", (unsigned)geteuid(),
			    name);
		return NULL;
	}
	if (opt != NULL)
		snprintf(where, sizeof(where), "--user");
	else if (c->keyd_user != NULL)
		snprintf(where, sizeof(where), "%s:%d: keyd-user", c->file,
		    c->keyd_user_line);
	else
		snprintf(where, sizeof(where), "%s: keyd-user (default)",
		    c->file);
	errno = 0;
	if ((pw = getpwnam(name)) == NULL) {
		*ok = 0;
		log_msg_at(opt == NULL, "%s '%s': %s; create it (useradd "
		    "--system --no-create-home --shell /usr/sbin/nologin %s) or "
		    "name another with 'keyd-user NAME;' or --user", where, name,
		    errno ? strerror(errno) : "no such user", name);
		return NULL;
	}
	if (pw->pw_uid == 0)
		return NULL;            /* keyd-user root: asked for, no drop */
	return pw;
}

/* Root, ourselves (as we will run), and the configured server user. */
static int
allowed_peers(struct keyd *d, const char *user, uid_t self, gid_t *group)
{
	struct passwd *pw;

	d->allowed[d->nallowed++] = 0;
	d->allowed[d->nallowed++] = self;
	*group = (gid_t)-1;
	if (user == NULL)
		return 0;
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		log_error("user '%s': %s", user, errno ? strerror(errno) :
		    "no such user");
		return -1;
	}
	d->allowed[d->nallowed++] = pw->pw_uid;
	/* The socket is 0660: the server reaches it through its group. */
	if (geteuid() == 0)
		*group = pw->pw_gid;
	return 0;
}

/*
 * After the socket is bound and every PIN is read, before any PKCS#11
 * module is loaded: a module's code and the token's files then run with
 * the keyd user's rights only.  setuid() makes the process dumpable again;
 * the PIN pages must never reach a core file.
 */
static int
drop_privileges(const struct passwd *pw)
{
	if (setgroups(0, NULL) == -1 ||
	    initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		log_error("keyd-user '%s': cannot switch to uid %u: %s",
		    pw->pw_name, (unsigned)pw->pw_uid, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_error("keyd-user '%s': could switch back to root",
		    pw->pw_name);
		return -1;
	}
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	log_info("running as user '%s' (uid %u)", pw->pw_name,
	    (unsigned)pw->pw_uid);
	return 0;
}

/*
 * systemd's Type=notify: "READY=1" once the socket answers, so that
 * hsmtls.service (After=hsmtls-keyd.service) starts only then.  The
 * protocol is one datagram to $NOTIFY_SOCKET; no library needed.
 */
static void
notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	static const char msg[] = "READY=1";
	struct sockaddr_un sa;
	socklen_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sa.sun_path))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (path[0] == '@')
		sa.sun_path[0] = '\0';          /* an abstract address */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, len) == -1)
		log_warn("NOTIFY_SOCKET '%s': %s", path, strerror(errno));
	close(fd);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *user = NULL, *sockopt = NULL;
	char *sock = NULL, *name = NULL;
	const struct passwd *pw;
	struct passwd kpw;
	struct conf_errors err;
	struct conf *c;
	struct keyd *d;
	gid_t group;
	int ch, lfd, ok, rc = 1;

	while ((ch = getopt_long(argc, argv, "c:s:u:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': file = optarg; break;
		case 's': sockopt = optarg; break;
		case 'u': user = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf(LOG_PROGNAME " " PACKAGE_VERSION "\n"); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (file == NULL) {
		log_error("no configuration: give -c FILE");
		return 2;
	}
	/* The PIN pages must never reach a core file. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	memset(&err, 0, sizeof(err));
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		log_error("out of memory");
		return 1;
	}
	d->refs = 1;
	c = &d->conf;
	conf_defaults(c);
	if (conf_load(c, file, &err) != 0) {
		conf_errors_print(&err);
		conf_errors_clear(&err);
		keyd_put(d);
		return 1;
	}
	conf_errors_clear(&err);        /* warnings concern the server */
	log_set_level((enum log_level)c->log_level);
	if (sockopt == NULL)
		sockopt = c->keyd;
	if (sockopt == NULL) {
		log_error("%s: no socket: give 'keyd PATH;' or --socket PATH",
		    file);
		goto end;
	}
	/* Every set uses it, and a reload may free this one's conf. */
	if ((sock = strdup(sockopt)) == NULL)
		goto end;
	d->socket_path = sock;
	pw = keyd_user(c, user, &ok);
	if (!ok)
		goto end;
	if (pw != NULL) {
		/* getpwnam's buffer is reused by the next lookup. */
		kpw = *pw;
		if ((name = strdup(pw->pw_name)) == NULL)
			goto end;
		kpw.pw_name = name;
		pw = &kpw;
		d->user = name;
	}
	if (allowed_peers(d, c->user, pw != NULL ? pw->pw_uid : geteuid(),
	    &group) != 0)
		goto end;
	/* Bind before any token work: a second daemon stops here. */
	if ((lfd = keyd_bind(sock, group)) == -1)
		goto end;
	/* PINs as root (root-only PIN files), then drop, then the modules. */
	if (keyd_read_pins(d, c, &err) != 0 ||
	    (pw != NULL && drop_privileges(pw) != 0) ||
	    (ok = 2, keyd_load(d, c, &err)) != 0) {
		conf_errors_print(&err);
		/* SoftHSM says little more than "no token" for a token
		 * directory it may not read. */
		if (ok == 2 && pw != NULL)
			log_error("the tokens were opened as user '%s' "
			    "(keyd-user): a token whose files that user cannot "
			    "read and write fails to open", pw->pw_name);
		conf_errors_clear(&err);
		close(lfd);
		(void)unlink(sock);
		goto end;
	}
	log_info("serving %zu key%s", d->nkeys, d->nkeys == 1 ? "" : "s");
	log_info("listening on %s", sock);
	notify_ready();
	log_set_timestamps(true);
	if (keyd_serve(d, lfd) == 0)
		rc = 0;
	d = NULL;
	(void)unlink(sock);
end:
	keyd_put(d);
	free(sock);
	free(name);
	return rc;
}
