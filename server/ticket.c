/*
 * ticket.c - session ticket keys (see ticket.h).
 *
 * libssl calls one callback per ticket: with enc=1 to pick the key a new
 * ticket is sealed with (AES-256-CBC + HMAC-SHA256, libssl's ticket
 * format), with enc=0 to find the key a presented ticket names.  A ticket
 * under a key that is still accepted but no longer issues is answered
 * with 2, which makes libssl send a fresh ticket under the current key.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "log.h"
#include "ticket.h"

#define TICKET_NAME_LEN 16
#define TICKET_AES_LEN  32
#define TICKET_HMAC_LEN 32
#define TICKET_KEY_LEN  (TICKET_NAME_LEN + TICKET_AES_LEN + TICKET_HMAC_LEN)
#define TICKET_MAX_KEYS 16
#define TICKET_FILE_MAX 65536

struct ticket_key {
	unsigned char name[TICKET_NAME_LEN];
	unsigned char aes[TICKET_AES_LEN];
	unsigned char hmac[TICKET_HMAC_LEN];
};

struct tickets {
	pthread_rwlock_t lock;
	struct ticket_key *keys;        /* secure heap; [0] issues */
	unsigned nkeys;
	bool from_file;
	char *file;
	unsigned rotate_secs;
	time_t made;                    /* when keys[0] was made (memory) */
	unsigned long long issued, resumed_ok, unknown_key, rotations;
};

static struct tickets *active;   /* libssl's callback has no argument */

static struct ticket_key *keys_alloc(void)
{
	/* The secure heap when one is set up; plain (but wiped) memory else. */
	struct ticket_key *k = OPENSSL_secure_zalloc(TICKET_MAX_KEYS *
	    sizeof(*k));

	return k;
}

static void keys_free(struct ticket_key *k)
{
	if (k != NULL)
		OPENSSL_secure_clear_free(k, TICKET_MAX_KEYS * sizeof(*k));
}

static int key_random(struct ticket_key *k)
{
	return RAND_bytes(k->name, sizeof(k->name)) == 1 &&
	    RAND_priv_bytes(k->aes, sizeof(k->aes)) == 1 &&
	    RAND_priv_bytes(k->hmac, sizeof(k->hmac)) == 1 ? 0 : -1;
}

/* One line of 160 hex digits into k; -1 if it is not that. */
static int key_parse(const char *s, size_t len, struct ticket_key *k)
{
	unsigned char raw[TICKET_KEY_LEN];
	char hex[2 * TICKET_KEY_LEN + 1];
	size_t got = 0;
	int ok;

	if (len != 2 * TICKET_KEY_LEN)
		return -1;
	memcpy(hex, s, len);
	hex[len] = '\0';
	ok = OPENSSL_hexstr2buf_ex(raw, sizeof(raw), &got, hex, '\0') == 1 &&
	    got == sizeof(raw);
	OPENSSL_cleanse(hex, sizeof(hex));
	if (!ok)
		ERR_clear_error();
	if (ok) {
		memcpy(k->name, raw, TICKET_NAME_LEN);
		memcpy(k->aes, raw + TICKET_NAME_LEN, TICKET_AES_LEN);
		memcpy(k->hmac, raw + TICKET_NAME_LEN + TICKET_AES_LEN,
		    TICKET_HMAC_LEN);
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	return ok ? 0 : -1;
}

/* The file holds secrets: a regular file, not readable by others. */
static int read_secret_file(const char *path, char *buf, size_t size,
    size_t *len, struct conf_errors *err, const char *cfile)
{
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		conf_errors_add(err, cfile, 0, "ticket-key-file '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		conf_errors_add(err, cfile, 0, "ticket-key-file '%s': not a "
		    "regular file", path);
		close(fd);
		return -1;
	}
	if ((st.st_mode & 0077) != 0) {
		conf_errors_add(err, cfile, 0, "ticket-key-file '%s': mode %04o "
		    "lets others read it; chmod 600", path,
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	*len = 0;
	while ((n = read(fd, buf + *len, size - 1 - *len)) > 0)
		*len += (size_t)n;
	close(fd);
	if (n < 0 || *len >= size - 1) {
		conf_errors_add(err, cfile, 0, "ticket-key-file '%s': %s", path,
		    n < 0 ? strerror(errno) : "too large");
		return -1;
	}
	buf[*len] = '\0';
	return 0;
}

/* Parse the key file into keys; the count, or -1 with errors. */
static int keys_from_file(const char *path, struct ticket_key *keys,
    struct conf_errors *err)
{
	char *buf = OPENSSL_secure_malloc(TICKET_FILE_MAX);
	size_t len, i, start;
	int n = 0, line = 0, rc = 0;

	if (buf == NULL)
		return -1;
	if (read_secret_file(path, buf, TICKET_FILE_MAX, &len, err, path) != 0) {
		OPENSSL_secure_clear_free(buf, TICKET_FILE_MAX);
		return -1;
	}
	for (start = 0; start < len; start = i + 1) {
		size_t e;

		for (i = start; i < len && buf[i] != '\n'; i++)
			;
		line++;
		e = i;
		while (e > start && (buf[e - 1] == '\r' || buf[e - 1] == ' ' ||
		    buf[e - 1] == '\t'))
			e--;
		while (start < e && (buf[start] == ' ' || buf[start] == '\t'))
			start++;
		if (start == e || buf[start] == '#')
			continue;
		if (n >= TICKET_MAX_KEYS) {
			conf_errors_add(err, path, line, "more than %d keys",
			    TICKET_MAX_KEYS);
			rc = -1;
			break;
		}
		if (key_parse(buf + start, e - start, &keys[n]) != 0) {
			conf_errors_add(err, path, line, "want %d hex digits "
			    "(openssl rand -hex %d)", 2 * TICKET_KEY_LEN,
			    TICKET_KEY_LEN);
			rc = -1;
			continue;
		}
		n++;
	}
	OPENSSL_secure_clear_free(buf, TICKET_FILE_MAX);
	if (rc == 0 && n == 0) {
		conf_errors_add(err, path, 0, "no ticket key in the file");
		rc = -1;
	}
	return rc == 0 ? n : -1;
}

/*
 * In-memory keys, checked on every use: after one period the issuing key
 * becomes the previous one (still accepted) and a new key issues; after
 * two periods without a rotation the previous key is too old as well.
 * The session lifetime equals the period (site.c), so a ticket is never
 * accepted for longer than it claims.
 */
static void rotate_locked(struct tickets *t, time_t now)
{
	struct ticket_key next;
	time_t age = now - t->made;

	if (t->from_file || age < (time_t)t->rotate_secs)
		return;
	if (key_random(&next) != 0)
		return;         /* keep the current key a while longer */
	if (age < 2 * (time_t)t->rotate_secs) {
		t->keys[1] = t->keys[0];
		t->nkeys = 2;
	} else {
		t->nkeys = 1;
	}
	t->keys[0] = next;
	OPENSSL_cleanse(&next, sizeof(next));
	t->made = now;
	t->rotations++;
}

static void maybe_rotate(struct tickets *t)
{
	time_t now = time(NULL);

	pthread_rwlock_rdlock(&t->lock);
	if (t->from_file || now - t->made < (time_t)t->rotate_secs) {
		pthread_rwlock_unlock(&t->lock);
		return;
	}
	pthread_rwlock_unlock(&t->lock);
	pthread_rwlock_wrlock(&t->lock);
	rotate_locked(t, now);
	pthread_rwlock_unlock(&t->lock);
}

static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tickets *t = active;
	const struct ticket_key *k = NULL;
	OSSL_PARAM params[3];
	unsigned i;
	int rc = -1;

	if (t == NULL)
		return enc ? -1 : 0;
	maybe_rotate(t);
	pthread_rwlock_rdlock(&t->lock);
	if (enc) {
		k = &t->keys[0];
		memcpy(name, k->name, TICKET_NAME_LEN);
		if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1 ||
		    EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes,
		    iv) != 1)
			goto end;
		rc = 1;
	} else {
		for (i = 0; i < t->nkeys; i++)
			if (CRYPTO_memcmp(name, t->keys[i].name,
			    TICKET_NAME_LEN) == 0) {
				k = &t->keys[i];
				break;
			}
		if (k == NULL) {
			__atomic_add_fetch(&t->unknown_key, 1, __ATOMIC_RELAXED);
			rc = 0;         /* unknown: a full handshake */
			goto end;
		}
		if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes,
		    iv) != 1)
			goto end;
		rc = i == 0 ? 1 : 2;    /* 2: accepted, issue a new one */
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    (void *)k->hmac, TICKET_HMAC_LEN);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(hctx, params)) {
		rc = -1;
		goto end;
	}
	if (enc)
		__atomic_add_fetch(&t->issued, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&t->resumed_ok, 1, __ATOMIC_RELAXED);
end:
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

/* Keys for the settings of c into t (under the write lock or alone). */
static int tickets_load(struct tickets *t, const struct conf *c,
    struct conf_errors *err)
{
	struct ticket_key *keys;
	int n;

	if (c->ticket_key_file != NULL) {
		if ((keys = keys_alloc()) == NULL)
			return -1;
		if ((n = keys_from_file(c->ticket_key_file, keys, err)) < 0) {
			keys_free(keys);
			return -1;
		}
		pthread_rwlock_wrlock(&t->lock);
		keys_free(t->keys);
		t->keys = keys;
		t->nkeys = (unsigned)n;
		t->from_file = true;
	} else {
		pthread_rwlock_wrlock(&t->lock);
		if (t->from_file || t->keys == NULL) {
			/* From a file to memory, or the first keys. */
			if ((keys = keys_alloc()) == NULL ||
			    key_random(&keys[0]) != 0) {
				keys_free(keys);
				pthread_rwlock_unlock(&t->lock);
				return -1;
			}
			keys_free(t->keys);
			t->keys = keys;
			t->nkeys = 1;
			t->made = time(NULL);
		}
		t->from_file = false;
	}
	t->rotate_secs = c->ticket_rotate_secs;
	pthread_rwlock_unlock(&t->lock);
	return 0;
}

struct tickets *tickets_new(const struct conf *c, struct conf_errors *err)
{
	struct tickets *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	pthread_rwlock_init(&t->lock, NULL);
	if (tickets_load(t, c, err) != 0) {
		tickets_free(t);
		return NULL;
	}
	active = t;
	return t;
}

int tickets_reload(struct tickets *t, const struct conf *c,
    struct conf_errors *err)
{
	return tickets_load(t, c, err);
}

int tickets_attach(struct tickets *t, SSL_CTX *ctx)
{
	(void)t;
	return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) == 1 ? 0
	    : -1;
}

void tickets_stats(struct tickets *t, struct ticket_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (t == NULL)
		return;
	st->issued = __atomic_load_n(&t->issued, __ATOMIC_RELAXED);
	st->resumed_ok = __atomic_load_n(&t->resumed_ok, __ATOMIC_RELAXED);
	st->unknown_key = __atomic_load_n(&t->unknown_key, __ATOMIC_RELAXED);
	pthread_rwlock_rdlock(&t->lock);
	st->rotations = t->rotations;
	st->keys = t->nkeys;
	st->from_file = t->from_file;
	pthread_rwlock_unlock(&t->lock);
}

void tickets_free(struct tickets *t)
{
	if (t == NULL)
		return;
	if (active == t)
		active = NULL;
	keys_free(t->keys);
	pthread_rwlock_destroy(&t->lock);
	free(t->file);
	free(t);
}
