/*
 * tls.c - SSL_CTX set-up and libssl result mapping.
 *
 * The private key is an EVP_PKEY from the engine: it holds only public parts
 * and a reference to the token object, so every signature the handshake needs
 * goes to the token through the engine's provider.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "log.h"
#include "tls.h"

/* TLS 1.2: forward secrecy and AEAD only.  TLS 1.3 suites are all AEAD. */
#define TLS_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"
#define TLS_GROUPS  "X25519:P-256:P-384"
/* Static RSA key exchange, when asked for: AEAD suites only. */
#define TLS_RSA_KX_CIPHERS "AES128-GCM-SHA256:AES256-GCM-SHA384"

/* ALPN protocol list in wire format when a context sets none. */
static const unsigned char tls_alpn_protos[] = "\x08http/1.1";

/*
 * The most specific reason OpenSSL queued, then an empty queue: start-up
 * errors are one line, never a dump of the error stack.
 */
static const char *tls_reason(void)
{
	unsigned long code = ERR_peek_last_error();
	const char *reason = code ? ERR_reason_error_string(code) : NULL;

	ERR_clear_error();
	return reason != NULL ? reason : "unknown OpenSSL error";
}

/* Why PEM_read_X509() failed, in words a user can act on. */
static const char *tls_pem_error(void)
{
	unsigned long code = ERR_peek_last_error();

	if (ERR_GET_LIB(code) == ERR_LIB_PEM &&
	    ERR_GET_REASON(code) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		return "no PEM certificate found";
	}
	ERR_clear_error();
	return "not a valid PEM certificate";
}

/* After the leaf: more certificates, until the end of the PEM data. */
static int tls_read_chain(FILE *f, const char *path, STACK_OF(X509) *chain,
    char *why, size_t len)
{
	X509 *x;
	unsigned long code;

	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(chain, x)) {
			X509_free(x);
			snprintf(why, len, "certificate '%s': out of memory", path);
			return -1;
		}
	}
	code = ERR_peek_last_error();
	if (ERR_GET_LIB(code) == ERR_LIB_PEM &&
	    ERR_GET_REASON(code) == PEM_R_NO_START_LINE) {
		ERR_clear_error();      /* the normal end of the file */
		return 0;
	}
	snprintf(why, len, "certificate '%s': chain certificate %d: %s", path,
	    sk_X509_num(chain) + 1, tls_pem_error());
	return -1;
}

int tls_read_certs(const char *path, X509 **leaf, STACK_OF(X509) **chain,
    char *why, size_t len)
{
	FILE *f = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *sk = NULL;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(why, len, "certificate '%s': %s", path, strerror(errno));
		goto err;
	}
	if ((x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		snprintf(why, len, "certificate '%s': %s", path, tls_pem_error());
		goto err;
	}
	if ((sk = sk_X509_new_null()) == NULL) {
		snprintf(why, len, "certificate '%s': out of memory", path);
		goto err;
	}
	if (tls_read_chain(f, path, sk, why, len) == -1)
		goto err;
	fclose(f);
	*leaf = x;
	*chain = sk;
	return 0;
err:
	sk_X509_pop_free(sk, X509_free);
	X509_free(x);
	if (f != NULL)
		fclose(f);
	return -1;
}

/*
 * The first protocol of the context's list (the server's preference) that
 * the client offers; none in common: go on without ALPN (HTTP/1.1).  The
 * callback is the context's, and SNI has switched the SSL to its site's
 * context before ALPN is read, so the list is the site's.
 */
static int tls_alpn_select(SSL *ssl, const unsigned char **out,
    unsigned char *outlen, const unsigned char *in, unsigned int inlen,
    void *arg)
{
	const struct tls_alpn *a = arg;
	unsigned char *sel;

	if (SSL_select_next_proto(&sel, outlen, a != NULL ? a->wire :
	    tls_alpn_protos, a != NULL ? (unsigned)a->len :
	    (unsigned)sizeof(tls_alpn_protos) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int tls_ctx_params(SSL_CTX *ctx, bool rsa_kx)
{
	const char *ciphers = rsa_kx ? TLS_CIPHERS ":" TLS_RSA_KX_CIPHERS
	    : TLS_CIPHERS;

	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		log_error("TLS versions: %s", tls_reason());
		return -1;
	}
	if (!SSL_CTX_set_cipher_list(ctx, ciphers)) {
		log_error("TLS ciphers '%s': %s", ciphers, tls_reason());
		return -1;
	}
	if (!SSL_CTX_set1_groups_list(ctx, TLS_GROUPS)) {
		log_error("TLS groups '%s': %s", TLS_GROUPS, tls_reason());
		return -1;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	/*
	 * Resumption is by session tickets (stateless, ticket.c); a
	 * server-side cache would only cost a lock and an allocation per
	 * handshake, and would not be shared between instances.  One TLS 1.3
	 * ticket per handshake: a client resumes one connection at a time.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	/*
	 * Partial writes let a connection stream a file chunk by chunk and
	 * track its own offset.  SSL_MODE_ASYNC: every key operation runs on
	 * the engine's worker pool while the loop serves other connections;
	 * conn.c waits on the job's fd (SSL_ERROR_WANT_ASYNC) and cancels a
	 * paused job before freeing its SSL.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ASYNC);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, NULL);
	return 0;
}

void tls_ctx_set_alpn(SSL_CTX *ctx, const struct tls_alpn *alpn)
{
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, (void *)alpn);
}

const char *tls_ciphers(bool rsa_kx)
{
	return rsa_kx ? TLS_CIPHERS ":" TLS_RSA_KX_CIPHERS : TLS_CIPHERS;
}

SSL_CTX *tls_ctx_new(bool rsa_kx, const unsigned char *sid_ctx,
    size_t sid_len)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		log_error("SSL_CTX_new: %s", tls_reason());
		return NULL;
	}
	if (tls_ctx_params(ctx, rsa_kx) == -1)
		goto err;
	/* A ticket resumes only on the site it was issued for. */
	if (!SSL_CTX_set_session_id_context(ctx, sid_ctx,
	    (unsigned)sid_len)) {
		log_error("session id context: %s", tls_reason());
		goto err;
	}
	return ctx;
err:
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_ctx_add_key(SSL_CTX *ctx, X509 *leaf, STACK_OF(X509) *chain,
    EVP_PKEY *pkey, char *why, size_t len)
{
	/* Also checks that the token key matches the certificate. */
	if (!SSL_CTX_use_cert_and_key(ctx, leaf, pkey, chain, 1)) {
		snprintf(why, len, "certificate and token key: %s", tls_reason());
		return -1;
	}
	return 0;
}

enum tls_io tls_io_result(SSL *ssl, int ret)
{
	int err = SSL_get_error(ssl, ret);

	ERR_clear_error();
	switch (err) {
	case SSL_ERROR_NONE:
		return TLS_IO_DONE;
	case SSL_ERROR_WANT_READ:
		return TLS_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	case SSL_ERROR_WANT_ASYNC:
		return TLS_IO_WANT_ASYNC;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_IO_CLOSED;
	default:
		/*
		 * SSL_ERROR_SYSCALL and SSL_ERROR_SSL are fatal for the
		 * connection.  SSL_ERROR_WANT_ASYNC_JOB cannot happen: the
		 * job pool is unbounded unless ASYNC_init_thread() sets a
		 * maximum, which this server never does.
		 */
		return TLS_IO_ERROR;
	}
}

int tls_async_fds(SSL *ssl, int *fds, size_t max, size_t *n)
{
	size_t num = 0;

	if (!SSL_get_all_async_fds(ssl, NULL, &num) || num > max) {
		ERR_clear_error();
		return -1;
	}
	if (num > 0 && !SSL_get_all_async_fds(ssl, fds, &num)) {
		ERR_clear_error();
		return -1;
	}
	*n = num;
	return 0;
}
