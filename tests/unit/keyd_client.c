/*
 * keyd_client - a test client of hsmtls-keyd (doc/keyd-protocol.md), for
 * tests/integration/t9x.  It checks what it gets in software, with the
 * certificate's public key.
 *
 *   keyd_client SOCKET sign URI CERT MECH HASH N   N SIGNs sent before any
 *       reply is read; every reply's id must be one sent, once; every
 *       signature must verify.  MECH rsa-pkcs|rsa-pss|ecdsa.
 *   keyd_client SOCKET decrypt URI CERT N   N DECRYPT_RAWs of PKCS#1
 *       encryptions made here; each block must be the padded secret and
 *       encrypt back to the ciphertext.
 *   keyd_client SOCKET malformed URI CERT   bad messages, each answered by
 *       the expected ERROR; then the connection still serves.
 *   keyd_client SOCKET health     one line per token
 *   keyd_client SOCKET peer       exit 0 when the daemon refuses us
 *
 * Exit 0 on success, 1 on a failed check, 2 on a usage or set-up error.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "hk_keyd_proto.h"

#define WAIT_MS 30000

static int fd = -1;
static unsigned char rbuf[HK_KEYD_MAX_MSG + 16];
static EVP_PKEY *cpub;
static unsigned char *spki;
static size_t spkilen;

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "keyd_client: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void
connect_to(const char *path)
{
	struct sockaddr_un sa;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		die("socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		die("connect: %s", strerror(errno));
}

static void
send_raw(const void *b, size_t n)
{
	if (send(fd, b, n, MSG_NOSIGNAL) != (ssize_t)n)
		die("send: %s", strerror(errno));
}

static void
send_msg(const struct hk_keyd_msg *m)
{
	unsigned char b[HK_KEYD_MAX_MSG];
	size_t n = hk_keyd_encode(b, sizeof(b), m);

	if (n == 0)
		die("cannot encode a message of type %s", "?");
	send_raw(b, n);
}

/* The next reply, decoded into m; -1 at end of stream. */
static int
recv_msg(struct hk_keyd_msg *m)
{
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;
	int rc;

	if (poll(&p, 1, WAIT_MS) != 1)
		die("no reply within %d ms", WAIT_MS);
	n = recv(fd, rbuf, sizeof(rbuf), 0);
	if (n <= 0)
		return -1;
	if ((rc = hk_keyd_decode(rbuf, (size_t)n, m)) != HK_KEYD_OK)
		die("the daemon sent an invalid message: %s",
		    hk_keyd_status_name(rc));
	return 0;
}

static void
load_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;
	unsigned char *q;
	int n;

	if (f == NULL || (x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		die("cannot read certificate %s", path);
	fclose(f);
	cpub = X509_get_pubkey(x);
	X509_free(x);
	if (cpub == NULL || (n = i2d_PUBKEY(cpub, NULL)) <= 0 ||
	    (spki = malloc((size_t)n)) == NULL)
		die("certificate %s has no usable public key", path);
	q = spki;
	spkilen = (size_t)i2d_PUBKEY(cpub, &q);
}

/* OPEN uri with the certificate's key; the key number. */
static uint32_t
open_key(const char *uri, uint8_t *keytype, uint8_t *caps)
{
	struct hk_keyd_msg m, r;

	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_OPEN;
	m.id = 1;
	m.uri = (const unsigned char *)uri;
	m.urilen = strlen(uri);
	m.spki = spki;
	m.spkilen = spkilen;
	send_msg(&m);
	if (recv_msg(&r) != 0)
		die("OPEN: connection closed");
	if (r.type == HK_KEYD_ERROR) {
		fprintf(stderr, "keyd_client: OPEN refused: %s: %.*s\n",
		    hk_keyd_status_name(r.status), (int)r.textlen, r.text);
		exit(1);
	}
	if (r.type != (HK_KEYD_OPEN | HK_KEYD_REPLY) || r.id != 1)
		die("OPEN: unexpected reply");
	if (r.spkilen != spkilen || memcmp(r.spki, spki, spkilen) != 0) {
		fprintf(stderr, "keyd_client: OPEN: public key differs from "
		    "the certificate's\n");
		exit(1);
	}
	printf("open key=%u type=%s bits=%u caps=%u\n", (unsigned)r.key,
	    r.keytype == HK_KEYD_KEY_EC ? "ec" : "rsa", (unsigned)r.bits,
	    (unsigned)r.caps);
	if (keytype != NULL)
		*keytype = r.keytype;
	if (caps != NULL)
		*caps = r.caps;
	return r.key;
}

static int
parse_hash(const char *s)
{
	static const char *const names[] = { "none", "sha1", "sha224",
	    "sha256", "sha384", "sha512" };
	int i;

	for (i = 0; i < 6; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	die("unknown hash %s", s);
	return -1;
}

static int
verify(int mech, int hash, const unsigned char *dg, size_t dlen,
    const unsigned char *sig, size_t siglen)
{
	const EVP_MD *md = EVP_get_digestbynid(hk_keyd_hash_nid(hash));
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(cpub, NULL);
	unsigned char der[256], *q = der;
	ECDSA_SIG *es = NULL;
	int ok = 0, n;

	if (ctx == NULL || EVP_PKEY_verify_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0)
		goto end;
	if (mech == HK_KEYD_MECH_ECDSA) {
		/* The daemon sends r||s, as PKCS#11 does; verify wants DER. */
		BIGNUM *r = BN_bin2bn(sig, (int)siglen / 2, NULL);
		BIGNUM *s = BN_bin2bn(sig + siglen / 2, (int)siglen / 2, NULL);

		if (siglen % 2 || (es = ECDSA_SIG_new()) == NULL ||
		    !ECDSA_SIG_set0(es, r, s) ||
		    (n = i2d_ECDSA_SIG(es, NULL)) > (int)sizeof(der))
			goto end;
		n = i2d_ECDSA_SIG(es, &q);
		sig = der;
		siglen = (size_t)n;
	} else if (mech == HK_KEYD_MECH_RSA_PSS) {
		if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)dlen) <= 0)
			goto end;
	} else if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0) {
		goto end;
	}
	ok = EVP_PKEY_verify(ctx, sig, siglen, dg, dlen) == 1;
end:
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static int
cmd_sign(const char *uri, const char *cert, const char *mechs,
    const char *hashs, int n)
{
	unsigned char (*dg)[64] = calloc((size_t)n, 64);
	char *seen = calloc((size_t)n, 1);
	int mech, hash, i, verified = 0, errors = 0, matched = 0;
	uint32_t key, base;
	struct hk_keyd_msg m, r;
	size_t dlen;

	if (dg == NULL || seen == NULL)
		die("out of memory");
	if (strcmp(mechs, "rsa-pkcs") == 0)
		mech = HK_KEYD_MECH_RSA_PKCS;
	else if (strcmp(mechs, "rsa-pss") == 0)
		mech = HK_KEYD_MECH_RSA_PSS;
	else if (strcmp(mechs, "ecdsa") == 0)
		mech = HK_KEYD_MECH_ECDSA;
	else
		die("unknown mechanism %s", mechs);
	hash = parse_hash(hashs);
	dlen = hk_keyd_hash_size(hash);
	load_cert(cert);
	key = open_key(uri, NULL, NULL);
	if (RAND_bytes((unsigned char *)&base, sizeof(base)) != 1)
		die("RAND_bytes");
	base = (base & 0x7fffffff) + 1000;
	/* Every request first, then every reply. */
	for (i = 0; i < n; i++) {
		RAND_bytes(dg[i], (int)dlen);
		memset(&m, 0, sizeof(m));
		m.type = HK_KEYD_SIGN;
		m.id = base + (uint32_t)i;
		m.key = key;
		m.mech = (uint8_t)mech;
		m.hash = (uint8_t)hash;
		m.saltlen = mech == HK_KEYD_MECH_RSA_PSS ? (uint16_t)dlen : 0;
		m.data = dg[i];
		m.datalen = dlen;
		send_msg(&m);
	}
	for (i = 0; i < n; i++) {
		uint32_t j;

		if (recv_msg(&r) != 0)
			die("connection closed before reply ");
		j = r.id - base;
		if (r.id < base || j >= (uint32_t)n || seen[j]) {
			fprintf(stderr, "keyd_client: reply id %u was not sent "
			    "or came twice\n", (unsigned)r.id);
			return 1;
		}
		seen[j] = 1;
		matched++;
		if (r.type == HK_KEYD_ERROR) {
			printf("error id=%u status=%s text=%.*s\n", (unsigned)r.id,
			    hk_keyd_status_name(r.status), (int)r.textlen, r.text);
			errors++;
			continue;
		}
		if (r.type != (HK_KEYD_SIGN | HK_KEYD_REPLY) || r.key != key) {
			fprintf(stderr, "keyd_client: reply %u: type %u key %u\n",
			    (unsigned)r.id, r.type, (unsigned)r.key);
			return 1;
		}
		if (verify(mech, hash, dg[j], dlen, r.data, r.datalen))
			verified++;
		else
			fprintf(stderr, "keyd_client: signature %u does not "
			    "verify\n", (unsigned)r.id);
	}
	printf("sent %d replies %d ids-matched %d verified %d errors %d\n", n,
	    matched, matched, verified, errors);
	free(dg);
	free(seen);
	return verified == n ? 0 : 1;
}

static int
cmd_decrypt(const char *uri, const char *cert, int n)
{
	unsigned char secret[48], ct[1024], back[1024];
	size_t ctlen, backlen, k;
	struct hk_keyd_msg m, r;
	EVP_PKEY_CTX *ctx;
	uint8_t caps;
	uint32_t key;
	int i, good = 0;

	load_cert(cert);
	key = open_key(uri, NULL, &caps);
	if (!(caps & HK_KEYD_CAP_RSA_KX))
		printf("rsa-kx not enabled\n");
	k = (size_t)EVP_PKEY_get_size(cpub);
	for (i = 0; i < n; i++) {
		RAND_bytes(secret, sizeof(secret));
		ctlen = sizeof(ct);
		ctx = EVP_PKEY_CTX_new(cpub, NULL);
		if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0 ||
		    EVP_PKEY_encrypt(ctx, ct, &ctlen, secret,
		    sizeof(secret)) <= 0)
			die("RSA encryption failed");
		EVP_PKEY_CTX_free(ctx);
		memset(&m, 0, sizeof(m));
		m.type = HK_KEYD_DECRYPT_RAW;
		m.id = 500 + (uint32_t)i;
		m.key = key;
		m.data = ct;
		m.datalen = ctlen;
		send_msg(&m);
		if (recv_msg(&r) != 0)
			die("connection closed");
		if (r.type == HK_KEYD_ERROR) {
			printf("error status=%s text=%.*s\n",
			    hk_keyd_status_name(r.status), (int)r.textlen, r.text);
			continue;
		}
		if (r.id != m.id || r.datalen != k) {
			fprintf(stderr, "keyd_client: block of %zu bytes, want "
			    "%zu\n", r.datalen, k);
			continue;
		}
		/* 00 02 PS 00 secret, and raw RSA maps it back to ct. */
		if (r.data[0] != 0 || r.data[1] != 2 ||
		    r.data[k - sizeof(secret) - 1] != 0 ||
		    memcmp(r.data + k - sizeof(secret), secret,
		    sizeof(secret)) != 0) {
			fprintf(stderr, "keyd_client: block is not the padded "
			    "secret\n");
			continue;
		}
		backlen = sizeof(back);
		ctx = EVP_PKEY_CTX_new(cpub, NULL);
		if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) <= 0 ||
		    EVP_PKEY_encrypt(ctx, back, &backlen, r.data, k) <= 0 ||
		    backlen != ctlen || memcmp(back, ct, ctlen) != 0) {
			fprintf(stderr, "keyd_client: block does not encrypt "
			    "back to the ciphertext\n");
			EVP_PKEY_CTX_free(ctx);
			continue;
		}
		EVP_PKEY_CTX_free(ctx);
		good++;
	}
	printf("decrypted %d good %d\n", n, good);
	return good == n ? 0 : 1;
}

static void
hdr(unsigned char *b, int version, int type, uint32_t id, uint32_t key,
    uint32_t len)
{
	memset(b, 0, HK_KEYD_HDR_LEN);
	b[0] = (unsigned char)version;
	b[1] = (unsigned char)type;
	b[4] = (unsigned char)(id >> 24);
	b[5] = (unsigned char)(id >> 16);
	b[6] = (unsigned char)(id >> 8);
	b[7] = (unsigned char)id;
	b[8] = (unsigned char)(key >> 24);
	b[9] = (unsigned char)(key >> 16);
	b[10] = (unsigned char)(key >> 8);
	b[11] = (unsigned char)key;
	b[12] = (unsigned char)(len >> 24);
	b[13] = (unsigned char)(len >> 16);
	b[14] = (unsigned char)(len >> 8);
	b[15] = (unsigned char)len;
}

/* One case: the reply must be ERROR with status want and id want_id. */
static int
expect(const char *name, int want, uint32_t want_id)
{
	struct hk_keyd_msg r;

	if (recv_msg(&r) != 0) {
		printf("case %s: connection closed\n", name);
		return 0;
	}
	printf("case %s: %s id=%u\n", name, r.type == HK_KEYD_ERROR ?
	    hk_keyd_status_name(r.status) : "not-an-error", (unsigned)r.id);
	return r.type == HK_KEYD_ERROR && r.status == want && r.id == want_id;
}

static uint32_t
sign_req(uint32_t id, uint32_t key)
{
	unsigned char dg[32];
	struct hk_keyd_msg m;

	RAND_bytes(dg, sizeof(dg));
	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_SIGN;
	m.id = id;
	m.key = key;
	m.mech = HK_KEYD_MECH_ECDSA;
	m.hash = HK_KEYD_HASH_SHA256;
	m.data = dg;
	m.datalen = sizeof(dg);
	send_msg(&m);
	return id;
}

static int
cmd_malformed(const char *uri, const char *cert)
{
	static unsigned char big[5000];
	unsigned char b[64];
	struct hk_keyd_msg m, r;
	uint8_t keytype;
	uint32_t key;
	int ok = 1, mech;

	load_cert(cert);
	key = open_key(uri, &keytype, NULL);

	send_raw("\x01\x04\0\0\0\0\0\x09", 8);
	ok &= expect("short-header", HK_KEYD_E_MALFORMED, 0);
	hdr(b, 2, HK_KEYD_HEALTH, 11, 0, 0);
	send_raw(b, HK_KEYD_HDR_LEN);
	ok &= expect("wrong-version", HK_KEYD_E_VERSION, 11);
	hdr(b, 1, HK_KEYD_HEALTH, 12, 0, 5);
	send_raw(b, HK_KEYD_HDR_LEN);
	ok &= expect("length-mismatch", HK_KEYD_E_MALFORMED, 12);
	hdr(big, 1, HK_KEYD_SIGN, 13, key, sizeof(big) - HK_KEYD_HDR_LEN);
	send_raw(big, sizeof(big));
	ok &= expect("oversized", HK_KEYD_E_TOO_BIG, 13);
	hdr(b, 1, 0x42, 14, 0, 0);
	send_raw(b, HK_KEYD_HDR_LEN);
	ok &= expect("unknown-type", HK_KEYD_E_TYPE, 14);
	hdr(b, 1, HK_KEYD_SIGN | HK_KEYD_REPLY, 15, key, 4);
	memcpy(b + HK_KEYD_HDR_LEN, "abcd", 4);
	send_raw(b, HK_KEYD_HDR_LEN + 4);
	ok &= expect("reply-as-request", HK_KEYD_E_TYPE, 15);
	hdr(b, 1, HK_KEYD_OPEN, 16, 0, 12);
	memcpy(b + HK_KEYD_HDR_LEN, "\x00\x64pkcs11:ob", 12);
	send_raw(b, HK_KEYD_HDR_LEN + 12);
	ok &= expect("truncated-open", HK_KEYD_E_MALFORMED, 16);
	hdr(b, 1, HK_KEYD_SIGN, 17, key, 2);
	memcpy(b + HK_KEYD_HDR_LEN, "\x03\x03", 2);
	send_raw(b, HK_KEYD_HDR_LEN + 2);
	ok &= expect("truncated-sign", HK_KEYD_E_MALFORMED, 17);

	/* Key numbers this connection never opened. */
	ok &= expect("key-zero", HK_KEYD_E_NO_KEY, sign_req(20, 0));
	ok &= expect("key-next", HK_KEYD_E_NO_KEY, sign_req(21, key + 1));
	ok &= expect("key-7", HK_KEYD_E_NO_KEY, sign_req(22, 7));
	ok &= expect("key-max", HK_KEYD_E_NO_KEY, sign_req(23, 0xffffffff));

	/* An OPEN whose public key is not the served key's. */
	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_OPEN;
	m.id = 24;
	m.uri = (const unsigned char *)uri;
	m.urilen = strlen(uri);
	m.spki = (const unsigned char *)"\x30\x03\x02\x01\x01";
	m.spkilen = 5;
	send_msg(&m);
	ok &= expect("open-wrong-public-key", HK_KEYD_E_NOT_FOUND, 24);

	/* The wrong mechanism for the key. */
	mech = keytype == HK_KEYD_KEY_EC ? HK_KEYD_MECH_RSA_PKCS :
	    HK_KEYD_MECH_ECDSA;
	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_SIGN;
	m.id = 25;
	m.key = key;
	m.mech = (uint8_t)mech;
	m.hash = HK_KEYD_HASH_SHA256;
	m.data = b;
	m.datalen = 32;
	send_msg(&m);
	ok &= expect("wrong-mechanism", HK_KEYD_E_NOT_ALLOWED, 25);

	/* Still serving: HEALTH on this connection. */
	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_HEALTH;
	m.id = 30;
	send_msg(&m);
	if (recv_msg(&r) != 0 || r.type != (HK_KEYD_HEALTH | HK_KEYD_REPLY) ||
	    r.id != 30) {
		printf("case health-after: no HEALTH reply\n");
		ok = 0;
	} else {
		printf("case health-after: ok\n");
	}
	printf("malformed %s\n", ok ? "all-answered" : "FAILED");
	return ok ? 0 : 1;
}

static int
cmd_health(void)
{
	struct hk_keyd_token t;
	struct hk_keyd_msg m, r;
	size_t i;

	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_HEALTH;
	m.id = 3;
	send_msg(&m);
	if (recv_msg(&r) != 0 || r.type != (HK_KEYD_HEALTH | HK_KEYD_REPLY))
		return 1;
	for (i = 0; hk_keyd_health_token(&r, i, &t) == 0; i++)
		printf("token %.*s up=%d sign_ok=%llu sign_failed=%llu "
		    "decrypt_ok=%llu expired=%llu\n", (int)t.labellen, t.label,
		    t.up, (unsigned long long)t.c[HK_KEYD_C_SIGN_OK],
		    (unsigned long long)t.c[HK_KEYD_C_SIGN_FAILED],
		    (unsigned long long)t.c[HK_KEYD_C_DECRYPT_OK],
		    (unsigned long long)t.c[HK_KEYD_C_EXPIRED]);
	return 0;
}

static int
cmd_peer(void)
{
	struct hk_keyd_msg m, r;

	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_HEALTH;
	m.id = 3;
	/* A refused peer may find the socket closed before it sends. */
	{
		unsigned char b[HK_KEYD_MAX_MSG];
		size_t n = hk_keyd_encode(b, sizeof(b), &m);

		if (send(fd, b, n, MSG_NOSIGNAL) == -1) {
			printf("refused (closed)\n");
			return 0;
		}
	}
	for (;;) {
		if (recv_msg(&r) != 0) {
			printf("refused (closed)\n");
			return 0;
		}
		if (r.type == HK_KEYD_ERROR && r.status == HK_KEYD_E_PEER) {
			printf("refused (%s)\n", hk_keyd_status_name(r.status));
			return 0;
		}
		if (r.type == (HK_KEYD_HEALTH | HK_KEYD_REPLY)) {
			printf("served\n");
			return 1;
		}
	}
}

int
main(int argc, char **argv)
{
	if (argc < 3)
		die("usage: keyd_client SOCKET sign|decrypt|malformed|health|"
		    "peer ...");
	connect_to(argv[1]);
	if (strcmp(argv[2], "sign") == 0 && argc == 8)
		return cmd_sign(argv[3], argv[4], argv[5], argv[6],
		    atoi(argv[7]));
	if (strcmp(argv[2], "decrypt") == 0 && argc == 6)
		return cmd_decrypt(argv[3], argv[4], atoi(argv[5]));
	if (strcmp(argv[2], "malformed") == 0 && argc == 5)
		return cmd_malformed(argv[3], argv[4]);
	if (strcmp(argv[2], "health") == 0 && argc == 3)
		return cmd_health();
	if (strcmp(argv[2], "peer") == 0 && argc == 3)
		return cmd_peer();
	die("bad arguments for %s", argv[2]);
	return 2;
}
