/*
 * tls_matrix.c - every handshake signature the engine offers, made on the
 * token and counted there.
 *
 * usage: tls_matrix KEY-URI PIN-FILE [MODULE|-] [rsa-kx]
 * For the key: a certificate is self-signed on the token, then an in-memory
 * TLS client and the server handshake over a BIO pair for each (version,
 * signature algorithm) the key type supports.  Each handshake must succeed
 * with the signature algorithm asked for (the client verifies it against
 * the certificate), and must add exactly one signature to the engine's
 * C_Sign counter.  With "rsa-kx", TLS 1.2 RSA key exchange is enabled and
 * each TLS_RSA_* suite must make exactly one token decryption and no
 * signature.  Every case runs twice: once synchronously, once with
 * SSL_MODE_ASYNC, where the token call runs on the engine's worker pool
 * while the handshake waits on the async wait fd.
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "hk.h"

struct sigcase {
	int version;
	const char *sigalg;     /* client's only offered signature algorithm */
	const char *cipher;     /* TLS 1.2 cipher suite, NULL: default */
	int want_type;          /* peer signature type NID */
	int want_md;            /* peer signature digest NID */
};

static const struct sigcase rsa_cases[] = {
	{ TLS1_3_VERSION, "rsa_pss_rsae_sha256", NULL, NID_rsassaPss, NID_sha256 },
	{ TLS1_3_VERSION, "rsa_pss_rsae_sha384", NULL, NID_rsassaPss, NID_sha384 },
	{ TLS1_3_VERSION, "rsa_pss_rsae_sha512", NULL, NID_rsassaPss, NID_sha512 },
	{ TLS1_2_VERSION, "RSA+SHA256", NULL, NID_rsaEncryption, NID_sha256 },
	{ TLS1_2_VERSION, "RSA+SHA384", NULL, NID_rsaEncryption, NID_sha384 },
	{ TLS1_2_VERSION, "RSA+SHA512", NULL, NID_rsaEncryption, NID_sha512 },
	{ TLS1_2_VERSION, "rsa_pss_rsae_sha256", NULL, NID_rsassaPss, NID_sha256 },
	{ 0, NULL, NULL, 0, 0 }
};

/* RSA key exchange: no signature at all, one raw RSA decryption. */
static const struct sigcase rsa_kx_cases[] = {
	{ TLS1_2_VERSION, "RSA+SHA256", "AES128-GCM-SHA256", NID_undef,
	    NID_undef },
	{ TLS1_2_VERSION, "RSA+SHA256", "AES256-GCM-SHA384", NID_undef,
	    NID_undef },
	{ 0, NULL, NULL, 0, 0 }
};

static const struct sigcase p256_cases[] = {
	{ TLS1_3_VERSION, "ecdsa_secp256r1_sha256", NULL, NID_X9_62_id_ecPublicKey,
	    NID_sha256 },
	{ TLS1_2_VERSION, "ECDSA+SHA256", NULL, NID_X9_62_id_ecPublicKey, NID_sha256 },
	{ TLS1_2_VERSION, "ECDSA+SHA384", NULL, NID_X9_62_id_ecPublicKey, NID_sha384 },
	{ 0, NULL, NULL, 0, 0 }
};

static const struct sigcase p384_cases[] = {
	{ TLS1_3_VERSION, "ecdsa_secp384r1_sha384", NULL, NID_X9_62_id_ecPublicKey,
	    NID_sha384 },
	{ TLS1_2_VERSION, "ECDSA+SHA512", NULL, NID_X9_62_id_ecPublicKey, NID_sha512 },
	{ 0, NULL, NULL, 0, 0 }
};

static X509 *
self_signed(EVP_PKEY *pk)
{
	X509 *x = X509_new();
	X509_NAME *n;

	if (x == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 3600) ||
	    !X509_set_pubkey(x, pk) || (n = X509_get_subject_name(x)) == NULL ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"tls-matrix", -1, -1, 0) ||
	    !X509_set_issuer_name(x, n) || !X509_sign(x, pk, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static unsigned async_waits;

/* A paused server job: wait (bounded) for the engine to wake it. */
static int
wait_async(SSL *s)
{
	OSSL_ASYNC_FD fds[4];
	struct pollfd pfd[4];
	size_t n = 0, i;

	if (!SSL_get_all_async_fds(s, NULL, &n) || n == 0 || n > 4 ||
	    !SSL_get_all_async_fds(s, fds, &n))
		return -1;
	for (i = 0; i < n; i++) {
		pfd[i].fd = fds[i];
		pfd[i].events = POLLIN;
	}
	async_waits++;
	return poll(pfd, n, 5000) > 0 ? 0 : -1;
}

/* Drive both ends over a BIO pair until both finish or one fails. */
static int
handshake(SSL *c, SSL *s)
{
	int i, rc, err, cdone = 0, sdone = 0;

	for (i = 0; i < 256 && !(cdone && sdone); i++) {
		if (!cdone) {
			rc = SSL_do_handshake(c);
			if (rc == 1)
				cdone = 1;
			else if (SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
				return -1;
		}
		if (!sdone) {
			rc = SSL_do_handshake(s);
			err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(s, rc);
			if (rc == 1)
				sdone = 1;
			else if (err == SSL_ERROR_WANT_ASYNC) {
				if (wait_async(s) != 0)
					return -1;
			} else if (err != SSL_ERROR_WANT_READ)
				return -1;
		}
	}
	return cdone && sdone ? 0 : -1;
}

static int
check_kx(SSL *c, const struct sigcase *sc, const struct hk_stats *before,
    const struct hk_stats *after)
{
	if (strcmp(SSL_get_cipher_name(c), sc->cipher) != 0) {
		printf("FAIL: got cipher %s, want %s\n", SSL_get_cipher_name(c),
		    sc->cipher);
		return -1;
	}
	if (after->decrypt_ok - before->decrypt_ok != 1 ||
	    after->sign_ok != before->sign_ok) {
		printf("FAIL: %s: token decryptions = %llu, signatures = %llu; "
		    "want 1 and 0\n", sc->cipher,
		    (unsigned long long)(after->decrypt_ok - before->decrypt_ok),
		    (unsigned long long)(after->sign_ok - before->sign_ok));
		return -1;
	}
	return 0;
}

static int
run_case(struct hk_engine *e, SSL_CTX *sctx, X509 *cert,
    const struct sigcase *sc, int async)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	X509_STORE *store;
	SSL *c = NULL, *s = NULL;
	BIO *cb, *sb;
	struct hk_stats before, after;
	int type = 0, md = 0, rc = -1;
	unsigned waits;

	if (cctx == NULL || (store = SSL_CTX_get_cert_store(cctx)) == NULL ||
	    !X509_STORE_add_cert(store, cert))
		goto end;
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_min_proto_version(cctx, sc->version);
	SSL_CTX_set_max_proto_version(cctx, sc->version);
	if ((sc->cipher != NULL && !SSL_CTX_set_cipher_list(cctx, sc->cipher)) ||
	    !SSL_CTX_set1_sigalgs_list(cctx, sc->sigalg) ||
	    (c = SSL_new(cctx)) == NULL || (s = SSL_new(sctx)) == NULL ||
	    !BIO_new_bio_pair(&cb, 0, &sb, 0))
		goto end;
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	if (async)
		SSL_set_mode(s, SSL_MODE_ASYNC);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	hk_engine_stats(e, &before);
	waits = async_waits;
	if (handshake(c, s) != 0) {
		printf("FAIL: %s %s: handshake failed\n",
		    sc->version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2",
		    sc->sigalg);
		ERR_print_errors_fp(stdout);
		goto end;
	}
	hk_engine_stats(e, &after);
	SSL_get_peer_signature_type_nid(c, &type);
	SSL_get_peer_signature_nid(c, &md);
	if (async && async_waits == waits)
		printf("FAIL: %s: the handshake never waited for the pool\n",
		    sc->sigalg);
	else if (sc->cipher != NULL)
		rc = check_kx(c, sc, &before, &after);
	else if (type != sc->want_type || md != sc->want_md)
		printf("FAIL: %s: got signature %s/%s, want %s/%s\n", sc->sigalg,
		    OBJ_nid2sn(type), OBJ_nid2sn(md), OBJ_nid2sn(sc->want_type),
		    OBJ_nid2sn(sc->want_md));
	else if (after.sign_ok - before.sign_ok != 1)
		printf("FAIL: %s: token sign calls = %llu, want 1\n", sc->sigalg,
		    (unsigned long long)(after.sign_ok - before.sign_ok));
	else
		rc = 0;
	if (rc == 0)
		printf("ok: %s %s on the token%s\n", SSL_get_version(c),
		    sc->cipher ? sc->cipher : sc->sigalg,
		    async ? ", async" : "");
end:
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	return rc;
}

static const struct sigcase *
cases_for(EVP_PKEY *pk)
{
	char group[32] = "";

	if (EVP_PKEY_is_a(pk, "RSA"))
		return rsa_cases;
	EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof(group), NULL);
	if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
		return p384_cases;
	return p256_cases;
}

int
main(int argc, char **argv)
{
	struct hk_engine *e;
	struct hk_key *k;
	const struct sigcase *sc;
	SSL_CTX *sctx = NULL;
	X509 *cert = NULL;
	int failed = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: tls_matrix KEY-URI PIN-FILE [MODULE]\n");
		return 2;
	}
	if ((e = hk_engine_new()) == NULL)
		return 1;
	k = hk_engine_load_key(e, argv[1], argc > 3 && strcmp(argv[3], "-") ?
	    argv[3] : NULL, argv[2], NULL);
	if (k == NULL) {
		printf("FAIL: load %s: %s\n", argv[1], hk_engine_error(e));
		hk_engine_free(e);
		return 1;
	}
	if ((cert = self_signed(hk_key_pkey(k))) == NULL ||
	    hk_key_selftest(e, k, cert, "self-signed") != 0 ||
	    (sctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    !SSL_CTX_use_certificate(sctx, cert) ||
	    !SSL_CTX_use_PrivateKey(sctx, hk_key_pkey(k))) {
		printf("FAIL: set-up: %s\n", hk_engine_error(e));
		failed = 1;
	}
	for (sc = cases_for(hk_key_pkey(k)); !failed && sc->sigalg; sc++)
		failed |= run_case(e, sctx, cert, sc, 0) != 0 ||
		    run_case(e, sctx, cert, sc, 1) != 0;
	if (!failed && argc > 4 && strcmp(argv[4], "rsa-kx") == 0) {
		if (hk_key_enable_rsa_kx(e, k) != 0 ||
		    !SSL_CTX_set_cipher_list(sctx, "kRSA:ECDHE")) {
			printf("FAIL: enable RSA key exchange: %s\n",
			    hk_engine_error(e));
			failed = 1;
		}
		for (sc = rsa_kx_cases; !failed && sc->sigalg; sc++)
			failed |= run_case(e, sctx, cert, sc, 0) != 0 ||
			    run_case(e, sctx, cert, sc, 1) != 0;
	}
	SSL_CTX_free(sctx);
	X509_free(cert);
	hk_engine_free(e);
	return failed;
}
