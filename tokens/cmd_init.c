/*
 * cmd_init.c - a throwaway SoftHSM token for development and tests.
 *
 * DIR holds one token: DIR/softhsm2.conf, DIR/tokens/, DIR/so.pin and
 * DIR/user.pin.  The token is initialised through PKCS#11, never with
 * softhsm2-util, whose PIN arguments any user can read in /proc.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "tok.h"

#define PIN_BYTES 8 /* 16 hex digits, 64 random bits */

struct init_state {
	char dir[PATH_MAX];
	char conf[PATH_MAX];
	char so_path[PATH_MAX];
	char user_path[PATH_MAX];
	char so_pin[2 * PIN_BYTES + 1];
	char user_pin[2 * PIN_BYTES + 1];
	int so_fd, user_fd;     /* -1 when not ours */
	int files_created;      /* unlink the PIN files if init fails */
};

static int
init_path(char *buf, size_t size, const char *dir, const char *name)
{
	if (snprintf(buf, size, "%s/%s", dir, name) >= (int)size) {
		tok_err("%s/%s: path too long", dir, name);
		return -1;
	}
	return 0;
}

/* mkdir 0700, or accept an existing directory of ours. */
static int
init_mkdir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST) {
		tok_err_errno("mkdir %s", path);
		return -1;
	}
	if (stat(path, &st) == -1) {
		tok_err_errno("%s", path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
		tok_err("%s: not a directory owned by the current user", path);
		return -1;
	}
	return 0;
}

/* DIR and DIR/tokens; all later paths are absolute (SoftHSM needs that). */
static int
init_dirs(struct init_state *s, const char *dir)
{
	char tokens[PATH_MAX];

	if (init_mkdir(dir) == -1)
		return -1;
	if (realpath(dir, s->dir) == NULL) {
		tok_err_errno("%s", dir);
		return -1;
	}
	if (init_path(tokens, sizeof(tokens), s->dir, "tokens") == -1 ||
	    init_mkdir(tokens) == -1 ||
	    init_path(s->conf, sizeof(s->conf), s->dir, "softhsm2.conf") == -1 ||
	    init_path(s->so_path, sizeof(s->so_path), s->dir, "so.pin") == -1 ||
	    init_path(s->user_path, sizeof(s->user_path), s->dir,
	    "user.pin") == -1)
		return -1;
	return 0;
}

static int
init_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* softhsm2.conf, written to a temporary file and renamed into place. */
static int
init_write_conf(const struct init_state *s)
{
	char text[PATH_MAX + 128], tmp[PATH_MAX + 16];
	int fd, len;

	len = snprintf(text, sizeof(text), "# written by hsmtls-token init\n"
	    "directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
	    "log.level = ERROR\n", s->dir);
	if (len >= (int)sizeof(text) ||
	    init_path(tmp, sizeof(tmp), s->dir, "softhsm2.conf.tmp") == -1) {
		tok_err("%s: path too long", s->dir);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		tok_err_errno("%s", tmp);
		return -1;
	}
	if (init_write_all(fd, text, (size_t)len) == -1 || close(fd) == -1 ||
	    rename(tmp, s->conf) == -1) {
		tok_err_errno("writing %s", s->conf);
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Remove one SoftHSM token directory: it holds only flat files. */
static int
init_remove_token_dir(int parent, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd, ret = 0;

	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    unlinkat(dirfd(d), de->d_name, 0) == -1)
			ret = -1;
	closedir(d);
	if (ret == 0 && unlinkat(parent, name, AT_REMOVEDIR) == -1)
		ret = -1;
	return ret;
}

/* --force: remove every token in DIR/tokens (dirs with a token.object). */
static int
init_wipe_tokens(const struct init_state *s)
{
	char tokens[PATH_MAX], marker[NAME_MAX + 16];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int ret = 0;

	if (init_path(tokens, sizeof(tokens), s->dir, "tokens") == -1)
		return -1;
	if ((d = opendir(tokens)) == NULL) {
		tok_err_errno("%s", tokens);
		return -1;
	}
	while (ret == 0 && (de = readdir(d)) != NULL) {
		snprintf(marker, sizeof(marker), "%s/token.object", de->d_name);
		if (de->d_name[0] == '.' ||
		    fstatat(dirfd(d), marker, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (init_remove_token_dir(dirfd(d), de->d_name) == -1) {
			tok_err_errno("removing %s/%s", tokens, de->d_name);
			ret = -1;
		}
	}
	closedir(d);
	if (ret == 0 && ((unlink(s->so_path) == -1 && errno != ENOENT) ||
	    (unlink(s->user_path) == -1 && errno != ENOENT))) {
		tok_err_errno("removing the old PIN files in %s", s->dir);
		ret = -1;
	}
	return ret;
}

/* Create both PIN files empty, 0600, failing if either exists. */
static int
init_create_pin_files(struct init_state *s)
{
	s->so_fd = open(s->so_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (s->so_fd == -1 && errno == EEXIST) {
		tok_err("%s already exists (a token was already made in this "
		    "directory; --force replaces it)", s->so_path);
		return -1;
	}
	if (s->so_fd == -1) {
		tok_err_errno("%s", s->so_path);
		return -1;
	}
	s->user_fd = open(s->user_path, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->user_fd == -1) {
		tok_err_errno("%s", s->user_path);
		unlink(s->so_path);
		return -1;
	}
	s->files_created = 1;
	return 0;
}

static int
init_random_pin(char *pin, size_t size)
{
	unsigned char r[PIN_BYTES];
	size_t i;

	if (size < 2 * PIN_BYTES + 1 || RAND_bytes(r, sizeof(r)) != 1) {
		tok_err("cannot generate a random PIN");
		return -1;
	}
	for (i = 0; i < PIN_BYTES; i++)
		snprintf(pin + 2 * i, 3, "%02x", r[i]);
	OPENSSL_cleanse(r, sizeof(r));
	return 0;
}

static int
init_write_pin(int fd, const char *path, const char *pin)
{
	if (init_write_all(fd, pin, strlen(pin)) == -1 ||
	    init_write_all(fd, "\n", 1) == -1 || fsync(fd) == -1) {
		tok_err_errno("writing %s", path);
		return -1;
	}
	return 0;
}

static int
init_pins(struct init_state *s)
{
	if (init_create_pin_files(s) == -1 ||
	    init_random_pin(s->so_pin, sizeof(s->so_pin)) == -1 ||
	    init_random_pin(s->user_pin, sizeof(s->user_pin)) == -1 ||
	    init_write_pin(s->so_fd, s->so_path, s->so_pin) == -1 ||
	    init_write_pin(s->user_fd, s->user_path, s->user_pin) == -1)
		return -1;
	return 0;
}

static int
init_check_label(const char *label)
{
	size_t len = strlen(label);

	/* CK_TOKEN_INFO.label is 32 bytes, blank-padded. */
	if (len == 0 || len > 32 || label[len - 1] == ' ') {
		tok_err("token label '%s': want 1 to 32 bytes, no trailing "
		    "blank", label);
		return -1;
	}
	return 0;
}

static int
init_refuse_existing(struct tok_p11 *p, const char *label, const char *dir)
{
	unsigned int i;

	for (i = 0; i < p->nslots; i++) {
		PKCS11_TOKEN *t = p->slots[i].token;

		if (t != NULL && t->initialized && t->label != NULL &&
		    strcmp(t->label, label) == 0) {
			tok_err("token '%s' already exists in %s (--force "
			    "replaces it)", label, dir);
			return -1;
		}
	}
	return 0;
}

static PKCS11_SLOT *
init_free_slot(struct tok_p11 *p)
{
	unsigned int i;

	for (i = 0; i < p->nslots; i++)
		if (p->slots[i].token != NULL && !p->slots[i].token->initialized)
			return &p->slots[i];
	tok_err("module %s: no slot with an uninitialised token", p->module);
	return NULL;
}

/* C_InitToken as SO, then log in as SO on the new token and C_InitPIN. */
static int
init_token(struct tok_p11 *p, struct init_state *s, const char *label)
{
	char padded[33];
	PKCS11_SLOT *slot;

	if ((slot = init_free_slot(p)) == NULL)
		return -1;
	/*
	 * C_InitToken reads exactly 32 bytes of label, blank-padded, and
	 * libp11 passes our pointer through: a short C string would make the
	 * module read past it and store the bytes after the NUL.
	 */
	memset(padded, ' ', 32);
	memcpy(padded, label, strlen(label));
	padded[32] = '\0';
	ERR_clear_error();
	if (PKCS11_init_token(slot->token, s->so_pin, padded) != 0) {
		tok_p11_libp11_err("token '%s': C_InitToken", label);
		return -1;
	}
	/* The initialised token may appear under a new slot id. */
	if (tok_p11_reload_slots(p) == -1 || tok_p11_find_token(p, label) == -1)
		return -1;
	if (PKCS11_open_session(p->slot, 1) != 0 ||
	    PKCS11_login(p->slot, 1, s->so_pin) != 0) {
		tok_p11_libp11_err("token '%s': C_Login as SO", label);
		return -1;
	}
	if (PKCS11_init_pin(p->slot->token, s->user_pin) != 0) {
		tok_p11_libp11_err("token '%s': C_InitPIN", label);
		return -1;
	}
	PKCS11_logout(p->slot);
	return 0;
}

static void
init_cleanup(struct init_state *s, int failed)
{
	OPENSSL_cleanse(s->so_pin, sizeof(s->so_pin));
	OPENSSL_cleanse(s->user_pin, sizeof(s->user_pin));
	if (s->so_fd != -1)
		close(s->so_fd);
	if (s->user_fd != -1)
		close(s->user_fd);
	if (failed && s->files_created) {
		unlink(s->so_path);
		unlink(s->user_path);
	}
}

int
tok_cmd_init(const struct tok_opts *o)
{
	struct tok_p11 p = { .session = CK_INVALID_HANDLE };
	const char *label = o->label != NULL ? o->label : "hsmtls-dev";
	struct init_state s = { .so_fd = -1, .user_fd = -1 };
	int ret = -1;

	if (init_check_label(label) == -1 || init_dirs(&s, o->dir) == -1 ||
	    init_write_conf(&s) == -1)
		goto end;
	/* SoftHSM reads SOFTHSM2_CONF in C_Initialize. */
	if (setenv("SOFTHSM2_CONF", s.conf, 1) == -1) {
		tok_err_errno("setenv SOFTHSM2_CONF");
		goto end;
	}
	if (o->force && init_wipe_tokens(&s) == -1)
		goto end;
	if (tok_p11_load(&p, o->module) == -1 ||
	    init_refuse_existing(&p, label, s.dir) == -1 ||
	    init_pins(&s) == -1 || init_token(&p, &s, label) == -1)
		goto end;
	printf("export SOFTHSM2_CONF=%s\n", s.conf);
	ret = 0;
end:
	init_cleanup(&s, ret == -1);
	tok_p11_close(&p);
	return ret;
}
