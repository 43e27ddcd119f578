/*
 * main.c - hsmtls-keyd: read hsmtls.conf, load every site's keys from
 * their tokens, then answer key requests on a Unix socket.  One line per
 * start-up error, as hsmtls-server prints them.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>

#include "keyd.h"
#include "log.h"

static void
usage(FILE *f)
{
	fprintf(f, "Usage: " LOG_PROGNAME " -c FILE [--socket PATH]\n"
	    "  -c, --config FILE   hsmtls.conf: token blocks and key lines\n"
	    "  -s, --socket PATH   the Unix socket (overrides keyd PATH;)\n"
	    "  -h, --help          this text\n"
	    "  -V, --version       the version\n");
}

/* Root, ourselves, and the configured server user may connect. */
static int
allowed_peers(struct keyd *d, const char *user, gid_t *group)
{
	struct passwd *pw;

	d->allowed[d->nallowed++] = 0;
	d->allowed[d->nallowed++] = geteuid();
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

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *sock = NULL;
	struct conf_errors err;
	struct conf c;
	struct keyd d;
	gid_t group;
	int ch, lfd, rc = 1;

	while ((ch = getopt_long(argc, argv, "c:s:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': file = optarg; break;
		case 's': sock = optarg; break;
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
	memset(&d, 0, sizeof(d));
	conf_defaults(&c);
	if (conf_load(&c, file, &err) != 0) {
		conf_errors_print(&err);
		conf_errors_clear(&err);
		conf_free(&c);
		return 1;
	}
	conf_errors_clear(&err);        /* warnings concern the server */
	log_set_level((enum log_level)c.log_level);
	if (sock == NULL)
		sock = c.keyd;
	if (sock == NULL) {
		log_error("%s: no socket: give 'keyd PATH;' or --socket PATH",
		    file);
		goto end;
	}
	d.socket_path = sock;
	if (allowed_peers(&d, c.user, &group) != 0)
		goto end;
	/* Bind before any token work: a second daemon stops here. */
	if ((lfd = keyd_bind(sock, group)) == -1)
		goto end;
	if (keyd_load(&d, &c, &err) != 0) {
		conf_errors_print(&err);
		conf_errors_clear(&err);
		close(lfd);
		(void)unlink(sock);
		goto unload;
	}
	log_info("serving %zu key%s", d.nkeys, d.nkeys == 1 ? "" : "s");
	log_info("listening on %s", sock);
	log_set_timestamps(true);
	if (keyd_serve(&d, lfd) == 0)
		rc = 0;
	(void)unlink(sock);
unload:
	keyd_unload(&d);
end:
	conf_free(&c);
	return rc;
}
