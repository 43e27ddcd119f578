/*
 * signrate.c - how many signatures per second a key gives at a fixed
 * number of operations in flight, through the two transports a server can
 * use: the engine's worker pool in this process (--module: SoftHSM, or
 * p11-kit-client.so in front of "p11-kit server"), or hsmtls-keyd's
 * socket (--keyd).  Either way one thread keeps --inflight operations
 * going, as the server's event loop does, and a fresh random digest is
 * signed each time.  Prints one key=value line.
 *
 *   signrate --uri URI --cert PEM (--pin-file F [--module M] | --keyd SOCK)
 *            [--inflight N] [--duration S]
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "hk.h"
#include "hk_keyd_proto.h"

#define MAX_INFLIGHT 64

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "signrate: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static X509 *
read_cert(const char *path)
{
	X509 *x;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		die("cannot open '%s'", path);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		die("no certificate in '%s'", path);
	return x;
}

struct run {
	unsigned inflight;
	double duration;
	unsigned long signs, errors;
	double elapsed;
};

/* ---- in-process: the engine's pool, as hsmtls-keyd drives it ---- */

static int
start_one(struct hk_key *k, int ec, int efd, struct hk_pending **op)
{
	unsigned char dgst[32];
	char err[256];

	RAND_bytes(dgst, sizeof(dgst));
	if (hk_keyop_sign(k, ec ? HK_SIGN_ECDSA : HK_SIGN_RSA_PKCS,
	    NID_sha256, 0, dgst, sizeof(dgst), efd, op, err,
	    sizeof(err)) != HK_KEYOP_OK) {
		fprintf(stderr, "signrate: %s\n", err);
		return -1;
	}
	return 0;
}

static void
run_inproc(struct run *r, const char *uri, const char *module,
    const char *pin_file, X509 *cert)
{
	struct hk_pending *ops[MAX_INFLIGHT];
	struct hk_engine *e;
	struct hk_key *k;
	unsigned char out[1024];
	size_t outlen;
	char err[256];
	double t0, end;
	uint64_t v;
	unsigned i;
	int efd, ec, rc;

	if ((e = hk_engine_new()) == NULL)
		die("%s", "cannot start the engine");
	hk_engine_set_allow_imported_key(e, 1);
	if (hk_engine_read_pin(e, uri, pin_file) != 0 ||
	    (k = hk_engine_load_key(e, uri, module, pin_file, cert)) == NULL)
		die("%s", hk_engine_error(e));
	ec = EVP_PKEY_get_base_id(hk_key_public(k)) == EVP_PKEY_EC;
	if ((efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		die("eventfd: %s", strerror(errno));
	for (i = 0; i < r->inflight; i++)
		if (start_one(k, ec, efd, &ops[i]) != 0)
			exit(1);
	t0 = now_s();
	end = t0 + r->duration;
	while (now_s() < end) {
		struct pollfd p = { efd, POLLIN, 0 };

		(void)poll(&p, 1, 100);
		(void)read(efd, &v, sizeof(v));
		for (i = 0; i < r->inflight; i++) {
			outlen = sizeof(out);
			rc = hk_keyop_result(ops[i], out, &outlen, err,
			    sizeof(err));
			if (rc == HK_KEYOP_PENDING)
				continue;
			if (rc == HK_KEYOP_OK)
				r->signs++;
			else
				r->errors++;
			hk_keyop_free(ops[i]);
			if (start_one(k, ec, efd, &ops[i]) != 0)
				exit(1);
		}
	}
	r->elapsed = now_s() - t0;
	for (i = 0; i < r->inflight; i++)
		hk_keyop_free(ops[i]);
	close(efd);
	hk_engine_free(e);
}

/* ---- hsmtls-keyd: one connection, requests pipelined ---- */

static void
send_msg(int fd, const struct hk_keyd_msg *m)
{
	unsigned char buf[HK_KEYD_MAX_MSG];
	size_t n = hk_keyd_encode(buf, sizeof(buf), m);

	if (n == 0 || send(fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n)
		die("send: %s", strerror(errno));
}

static void
recv_msg(int fd, unsigned char *buf, struct hk_keyd_msg *m)
{
	ssize_t n = recv(fd, buf, HK_KEYD_MAX_MSG, 0);

	if (n <= 0 || hk_keyd_decode(buf, (size_t)n, m) != HK_KEYD_OK)
		die("%s", n <= 0 ? "the daemon closed the connection" :
		    "malformed reply");
}

static void
send_sign(int fd, uint32_t id, uint32_t key, int ec)
{
	unsigned char dgst[32];
	struct hk_keyd_msg m;

	RAND_bytes(dgst, sizeof(dgst));
	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_SIGN;
	m.id = id;
	m.key = key;
	m.mech = ec ? HK_KEYD_MECH_ECDSA : HK_KEYD_MECH_RSA_PKCS;
	m.hash = HK_KEYD_HASH_SHA256;
	m.data = dgst;
	m.datalen = sizeof(dgst);
	send_msg(fd, &m);
}

static void
run_keyd(struct run *r, const char *sock, const char *uri, X509 *cert)
{
	unsigned char buf[HK_KEYD_MAX_MSG], *spki = NULL;
	struct sockaddr_un sa;
	struct hk_keyd_msg m;
	uint32_t key, id = 0;
	double t0, end;
	unsigned i;
	int fd, n, ec;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof(sa.sun_path))
		die("socket path too long: %s", sock);
	strcpy(sa.sun_path, sock);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		die("connect: %s", strerror(errno));
	if ((n = i2d_PUBKEY(X509_get0_pubkey(cert), &spki)) <= 0)
		die("%s", "the certificate's public key");
	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_OPEN;
	m.id = ++id;
	m.uri = (const unsigned char *)uri;
	m.urilen = strlen(uri);
	m.spki = spki;
	m.spkilen = (size_t)n;
	send_msg(fd, &m);
	recv_msg(fd, buf, &m);
	if (m.type != (HK_KEYD_OPEN | HK_KEYD_REPLY))
		die("OPEN refused: %s", hk_keyd_status_name(m.status));
	key = m.key;
	ec = m.keytype == HK_KEYD_KEY_EC;
	OPENSSL_free(spki);
	for (i = 0; i < r->inflight; i++)
		send_sign(fd, ++id, key, ec);
	t0 = now_s();
	end = t0 + r->duration;
	while (now_s() < end) {
		recv_msg(fd, buf, &m);
		if (m.type == (HK_KEYD_SIGN | HK_KEYD_REPLY))
			r->signs++;
		else
			r->errors++;
		send_sign(fd, ++id, key, ec);
	}
	r->elapsed = now_s() - t0;
	close(fd);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "uri", required_argument, NULL, 'u' },
		{ "cert", required_argument, NULL, 'c' },
		{ "pin-file", required_argument, NULL, 'p' },
		{ "module", required_argument, NULL, 'm' },
		{ "keyd", required_argument, NULL, 'k' },
		{ "inflight", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	const char *uri = NULL, *certf = NULL, *pin = NULL, *module = NULL,
	    *keyd = NULL;
	struct run r = { 1, 5.0, 0, 0, 0 };
	X509 *cert;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'u': uri = optarg; break;
		case 'c': certf = optarg; break;
		case 'p': pin = optarg; break;
		case 'm': module = optarg; break;
		case 'k': keyd = optarg; break;
		case 'n': r.inflight = (unsigned)atoi(optarg); break;
		case 'd': r.duration = atof(optarg); break;
		default: return 2;
		}
	}
	if (uri == NULL || certf == NULL || (keyd == NULL) == (pin == NULL) ||
	    r.inflight < 1 || r.inflight > MAX_INFLIGHT || r.duration <= 0) {
		fprintf(stderr, "usage: signrate --uri URI --cert PEM "
		    "(--pin-file F [--module M] | --keyd SOCK) [--inflight "
		    "1..%d] [--duration S]\n", MAX_INFLIGHT);
		return 2;
	}
	cert = read_cert(certf);
	if (keyd != NULL)
		run_keyd(&r, keyd, uri, cert);
	else
		run_inproc(&r, uri, module, pin, cert);
	X509_free(cert);
	printf("mode=%s inflight=%u signs=%lu errors=%lu elapsed_s=%.3f "
	    "signs_per_s=%.1f\n", keyd != NULL ? "keyd" : "inproc",
	    r.inflight, r.signs, r.errors, r.elapsed,
	    r.elapsed > 0 ? (double)r.signs / r.elapsed : 0.0);
	return r.errors > 0 ? 1 : 0;
}
