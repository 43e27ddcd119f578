/*
 * tls.h - the server's SSL_CTX, certificate loading, and the one place that
 * turns libssl's return codes into what the event loop must wait for.
 */
#ifndef SRV_TLS_H
#define SRV_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* What a connection must do after an SSL_* I/O call. */
enum tls_io {
	TLS_IO_DONE,            /* the call succeeded */
	TLS_IO_WANT_READ,       /* wait until the socket is readable, retry */
	TLS_IO_WANT_WRITE,      /* wait until the socket is writable, retry */
	TLS_IO_WANT_ASYNC,      /* a key operation is pending: watch the async fds */
	TLS_IO_CLOSED,          /* the peer sent close_notify */
	TLS_IO_ERROR,           /* fatal: close the connection */
};

/*
 * Read a PEM file holding the leaf certificate first, then its chain.
 * 0 on success (*chain may be empty); -1 with the cause in why.
 */
int tls_read_certs(const char *path, X509 **leaf, STACK_OF(X509) **chain,
    char *why, size_t len);

/*
 * A TLS 1.2 + 1.3 server context without keys; rsa_kx adds the TLS 1.2
 * RSA key exchange suites (AES-GCM only).  sid_ctx names the site, so
 * tickets resume only where they were issued.  NULL with one line logged.
 */
SSL_CTX *tls_ctx_new(bool rsa_kx, const unsigned char *sid_ctx,
    size_t sid_len);

/* ALPN protocols offered, in wire format (RFC 7301 3.1), in preference order. */
struct tls_alpn {
	unsigned char wire[16];
	size_t len;
};

/* Offer alpn (which must outlive ctx) instead of http/1.1 alone. */
void tls_ctx_set_alpn(SSL_CTX *ctx, const struct tls_alpn *alpn);

/* The cipher list tls_ctx_new() sets, for a connection moved by SNI. */
const char *tls_ciphers(bool rsa_kx);

/* Add a certificate chain and its token key; -1 with the cause in why. */
int tls_ctx_add_key(SSL_CTX *ctx, X509 *leaf, STACK_OF(X509) *chain,
    EVP_PKEY *pkey, char *why, size_t len);

/* Map the return value ret of an SSL_* call on ssl; clears the error queue. */
enum tls_io tls_io_result(SSL *ssl, int ret);

/*
 * The file descriptors of the paused key operations of ssl (after
 * TLS_IO_WANT_ASYNC).  0 and *n set, or -1 if there are more than max.
 */
int tls_async_fds(SSL *ssl, int *fds, size_t max, size_t *n);

#endif /* SRV_TLS_H */
