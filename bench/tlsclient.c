/*
 * tlsclient.c - the benchmark clients' TLS context, target address and
 * request text.  Resumption is off everywhere (no tickets, no session
 * cache, no session ever set on a connection) so every connection costs
 * the server a full handshake with a token key operation.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "bench.h"

int tls_opt(struct tls_opts *o, int code, const char *arg)
{
	switch (code) {
	case OPT_TLS:
		if (strcmp(arg, "1.2") == 0)
			o->version = 12;
		else if (strcmp(arg, "1.3") == 0)
			o->version = 13;
		else {
			bench_err("--tls '%s': want 1.2 or 1.3", arg);
			return -1;
		}
		return 1;
	case OPT_GROUPS: o->groups = arg; return 1;
	case OPT_CIPHERS: o->ciphers = arg; return 1;
	case OPT_CIPHERSUITES: o->ciphersuites = arg; return 1;
	case OPT_SIGALGS: o->sigalgs = arg; return 1;
	case OPT_CAFILE: o->cafile = arg; return 1;
	case OPT_INSECURE: o->insecure = 1; return 1;
	default:
		return 0;
	}
}

const char *tls_errstr(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "no OpenSSL error queued");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static int ctx_versions(SSL_CTX *ctx, int version)
{
	int lo = version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION;
	int hi = version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;

	return SSL_CTX_set_min_proto_version(ctx, lo) &&
	    SSL_CTX_set_max_proto_version(ctx, hi);
}

/* Apply the lists the user gave; each failure names its option. */
static int ctx_lists(SSL_CTX *ctx, const struct tls_opts *o)
{
	char eb[256];

	if (o->groups && !SSL_CTX_set1_groups_list(ctx, o->groups)) {
		bench_err("--groups '%s': %s", o->groups, tls_errstr(eb, sizeof(eb)));
		return -1;
	}
	if (o->ciphers && !SSL_CTX_set_cipher_list(ctx, o->ciphers)) {
		bench_err("--ciphers '%s': %s", o->ciphers, tls_errstr(eb, sizeof(eb)));
		return -1;
	}
	if (o->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, o->ciphersuites)) {
		bench_err("--ciphersuites '%s': %s", o->ciphersuites,
		    tls_errstr(eb, sizeof(eb)));
		return -1;
	}
	if (o->sigalgs && !SSL_CTX_set1_sigalgs_list(ctx, o->sigalgs)) {
		bench_err("--sigalgs '%s': %s", o->sigalgs, tls_errstr(eb, sizeof(eb)));
		return -1;
	}
	return 0;
}

SSL_CTX *tls_client_ctx(const struct tls_opts *o)
{
	SSL_CTX *ctx;
	char eb[256];

	if (!o->insecure && o->cafile == NULL) {
		bench_err("give --cafile FILE or --insecure");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		bench_err("SSL_CTX_new: %s", tls_errstr(eb, sizeof(eb)));
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!ctx_versions(ctx, o->version)) {
		bench_err("TLS version: %s", tls_errstr(eb, sizeof(eb)));
		goto err;
	}
	if (ctx_lists(ctx, o) == -1)
		goto err;
	if (o->cafile) {
		if (!SSL_CTX_load_verify_locations(ctx, o->cafile, NULL)) {
			bench_err("--cafile %s: %s", o->cafile,
			    tls_errstr(eb, sizeof(eb)));
			goto err;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	if (o->insecure)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
err:
	SSL_CTX_free(ctx);
	return NULL;
}

static int is_ip(const char *host)
{
	unsigned char b[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, b) == 1 ||
	    inet_pton(AF_INET6, host, b) == 1;
}

int tls_conn_setup(SSL *ssl, const struct tls_opts *o, const char *host)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	int ip = is_ip(host);

	/* RFC 6066: SNI carries host names only, never addresses. */
	if (!ip && !SSL_set_tlsext_host_name(ssl, host))
		return -1;
	if (o->insecure)
		return 0;
	return (ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) :
	    X509_VERIFY_PARAM_set1_host(vp, host, 0)) ? 0 : -1;
}

/* Split "HOST:PORT" / "[V6]:PORT" into host and port. */
static int split_hostport(const char *s, char *host, size_t hlen,
    const char **port)
{
	const char *colon;
	size_t n;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return -1;
		n = (size_t)(rb - s - 1);
		s++;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		n = (size_t)(colon - s);
	}
	if (n == 0 || n >= hlen || colon[1] == '\0')
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
}

int target_parse(struct target *t, const char *hostport)
{
	struct addrinfo hints, *res = NULL;
	const char *port;
	int rc;

	memset(t, 0, sizeof(*t));
	if (split_hostport(hostport, t->host, sizeof(t->host), &port) == -1) {
		bench_err("--connect '%s': want HOST:PORT or [V6]:PORT", hostport);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(t->host, port, &hints, &res)) != 0) {
		bench_err("--connect '%s': %s", hostport, gai_strerror(rc));
		return -1;
	}
	memcpy(&t->ss, res->ai_addr, res->ai_addrlen);
	t->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

char *http_request(const struct target *t, const char *path, int close_conn,
    size_t *len)
{
	char host[sizeof(t->host) + 2];
	const char *extra = close_conn ? "Connection: close\r\n" : "";
	char *req;
	int n;

	snprintf(host, sizeof(host), strchr(t->host, ':') ? "[%s]" : "%s",
	    t->host);
	n = snprintf(NULL, 0, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n",
	    path, host, extra);
	if (n < 0 || (req = malloc((size_t)n + 1)) == NULL)
		return NULL;
	snprintf(req, (size_t)n + 1, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n",
	    path, host, extra);
	*len = (size_t)n;
	return req;
}
