/*
 * keyd_client.c - the key-daemon transport: key operations of an engine
 * that loads no module, sent to hsmtls-keyd over its SOCK_SEQPACKET
 * socket (doc/keyd-protocol.md).
 *
 * An operation from a paused async job is the same struct hk_op the
 * worker pool takes: it is encoded, sent without blocking (or queued
 * while 64 are in flight) and kept by request id; the event loop watches
 * the socket (hk_engine_keyd_fd) and calls hk_engine_keyd_dispatch(),
 * which completes operations by writing their eventfds, exactly as a
 * pool worker does.  So the server runs no worker thread in this mode.
 * The server runs several event-loop threads over one connection: each
 * watches the socket and submits from its own jobs, so every entry point
 * takes d->lock (the reader that gets it completes every reply waiting,
 * whoever's they are; a job's eventfd wakes the loop that owns it).  The
 * start-up and reload calls (OPEN, the self-test's SIGN) wait for their
 * reply under the lock and complete any other reply that arrives
 * meanwhile; they are rare and bounded by KD_SYNC_MS.
 *
 * A daemon that goes away fails every queued and in-flight operation at
 * once, and new ones fail at once too; hk_engine_keyd_tick() connects
 * again with backoff (50 ms doubling to 1 s) and opens every key again.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "hk_ckr.h"
#include "hk_internal.h"
#include "hk_keyd.h"
#include "hk_keyd_proto.h"

#define KD_QUEUE 1024           /* operations waiting or in flight */
#define KD_SYNC_MS 5000         /* a start-up or reload call's bound */
#define KD_BACKOFF_MIN 50
#define KD_BACKOFF_MAX 1000

struct kd_slot {
	struct hk_op *op;       /* NULL: free */
	uint32_t id;
	int sent;
};

struct hk_keyd {
	pthread_mutex_t lock;   /* everything below */
	char *path;
	_Atomic int fd;         /* -1 while not connected */
	/* +1 at every connect and loss: a loop watches its own dup of fd
	 * (hk_engine_keyd_dup), so closing fd never pulls a descriptor from
	 * under another thread's epoll set, and it takes a new dup when this
	 * changes (a new connection may reuse the number). */
	atomic_ulong gen;
	uint32_t next_id;
	struct kd_slot q[KD_QUEUE];
	size_t nused, nsent;
	uint64_t retry_at, backoff;
	struct hk_engine *e;
	uint64_t down_events, recoveries, expired, rejected;
	char why[HK_ERRLEN];    /* why it is down */
};

static uint32_t
new_id(struct hk_keyd *d)
{
	if (++d->next_id == 0)
		d->next_id = 1;
	return d->next_id;
}

/* The op is finished (result set, or failed): tell its job, drop ours. */
static void
finish(struct kd_slot *s, struct hk_keyd *d)
{
	struct hk_op *op = s->op;
	int state = HK_OP_QUEUED;

	if (!atomic_compare_exchange_strong(&op->state, &state, HK_OP_DONE)) {
		state = HK_OP_RUNNING;
		atomic_compare_exchange_strong(&op->state, &state, HK_OP_DONE);
	}
	hk_op_signal(op);
	hk_op_release(op);
	if (s->sent)
		d->nsent--;
	s->op = NULL;
	s->sent = 0;
	d->nused--;
}

static void
fail_op(struct hk_op *op, const char *why)
{
	op->rc = -1;
	op->rv = CKR_FUNCTION_FAILED_VALUE;
	snprintf(op->err, sizeof(op->err), "key daemon: %s", why);
}

static int
connect_socket(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		hk_fmterr(err, errlen, "key daemon socket '%s': path too long",
		    path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		hk_fmterr(err, errlen, "key daemon socket '%s': %s (is "
		    "hsmtls-keyd running?)", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The daemon is gone: fail everything, retry later. */
static void
lost(struct hk_keyd *d, const char *why)
{
	size_t i;

	if (d->fd >= 0) {
		/* Every loop's dup sees the end now, and drops it. */
		(void)shutdown(d->fd, SHUT_RDWR);
		close(d->fd);
		d->fd = -1;
		atomic_fetch_add(&d->gen, 1);
		d->down_events++;
		if (d->e->log != NULL) {
			char msg[HK_ERRLEN];

			snprintf(msg, sizeof(msg), "key daemon '%s' is gone (%s); "
			    "handshakes fail until it is back", d->path, why);
			d->e->log(d->e->log_arg, msg);
		}
	}
	snprintf(d->why, sizeof(d->why), "key daemon '%s': %s", d->path, why);
	for (i = 0; i < KD_QUEUE; i++)
		if (d->q[i].op != NULL) {
			fail_op(d->q[i].op, "connection lost");
			finish(&d->q[i], d);
		}
	d->backoff = KD_BACKOFF_MIN;
	d->retry_at = hk_op_now_ms() + d->backoff;
}

static int
send_msg(struct hk_keyd *d, const struct hk_keyd_msg *m)
{
	unsigned char buf[HK_KEYD_MAX_MSG];
	size_t n = hk_keyd_encode(buf, sizeof(buf), m);
	ssize_t w;

	if (n == 0 || d->fd < 0)
		return -1;
	do
		w = send(d->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	OPENSSL_cleanse(buf, n);
	if (w == (ssize_t)n)
		return 0;
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 1;       /* full: try again later */
	lost(d, w < 0 ? strerror(errno) : "short send");
	return -1;
}

static int
op_msg(const struct hk_op *op, uint32_t id, struct hk_keyd_msg *m)
{
	const struct hk_key *k = op->key;

	memset(m, 0, sizeof(*m));
	m->id = id;
	m->key = k->keyd_key;
	m->data = op->in;
	m->datalen = op->inlen;
	if (op->kind == HK_OP_DECRYPT_RAW) {
		m->type = HK_KEYD_DECRYPT_RAW;
		return 0;
	}
	m->type = HK_KEYD_SIGN;
	switch (op->mech) {
	case HK_MECH_ECDSA:
		m->mech = HK_KEYD_MECH_ECDSA;
		m->hash = HK_KEYD_HASH_NONE;
		return 0;
	case HK_MECH_RSA_PKCS:
		/* The provider hands over the DigestInfo itself: sent as is. */
		m->mech = HK_KEYD_MECH_RSA_PKCS;
		m->hash = HK_KEYD_HASH_NONE;
		return 0;
	case HK_MECH_RSA_PSS:
		m->mech = HK_KEYD_MECH_RSA_PSS;
		m->saltlen = (uint16_t)op->saltlen;
		break;
	default:
		return -1;      /* raw blocks are never sent: PSS is the daemon's */
	}
	if (op->md_nid == NID_undef)
		m->hash = HK_KEYD_HASH_NONE;
	else if (hk_keyd_hash_from_nid(op->md_nid) < 0)
		return -1;
	else
		m->hash = (uint8_t)hk_keyd_hash_from_nid(op->md_nid);
	return 0;
}

/* Send queued operations while the daemon takes more. */
static void
pump(struct hk_keyd *d)
{
	struct hk_keyd_msg m;
	size_t i;
	int rc;

	for (i = 0; i < KD_QUEUE && d->nsent < HK_KEYD_MAX_INFLIGHT &&
	    d->fd >= 0; i++) {
		struct kd_slot *s = &d->q[i];

		if (s->op == NULL || s->sent)
			continue;
		if (op_msg(s->op, s->id, &m) != 0) {
			fail_op(s->op, "operation the protocol does not carry");
			finish(s, d);
			continue;
		}
		if ((rc = send_msg(d, &m)) == 1)
			return;
		if (rc != 0)
			return;         /* lost() failed everything */
		s->sent = 1;
		d->nsent++;
	}
}

/* A reply for an async operation: its result into the op. */
static void
complete(struct hk_keyd *d, const struct hk_keyd_msg *r)
{
	struct kd_slot *s = NULL;
	struct hk_op *op;
	size_t i;

	for (i = 0; i < KD_QUEUE; i++)
		if (d->q[i].op != NULL && d->q[i].sent && d->q[i].id == r->id) {
			s = &d->q[i];
			break;
		}
	if (s == NULL)
		return;         /* expired or cancelled before the reply came */
	op = s->op;
	if (r->type == HK_KEYD_ERROR) {
		op->rc = -1;
		op->rv = r->status == HK_KEYD_E_DATA ?
		    CKR_ENCRYPTED_DATA_INVALID_VALUE : CKR_FUNCTION_FAILED_VALUE;
		snprintf(op->err, sizeof(op->err), "key daemon: %s: %.*s",
		    hk_keyd_status_name(r->status), (int)r->textlen, r->text);
	} else if (r->datalen > sizeof(op->out) ||
	    (op->kind == HK_OP_DECRYPT_RAW && r->datalen != op->modlen)) {
		fail_op(op, "reply of the wrong size");
	} else {
		memcpy(op->out, r->data, r->datalen);
		op->outlen = r->datalen;
		op->rc = 0;
		op->rv = 0;
	}
	finish(s, d);
}

/* Read one reply into buf/m: 1 got one, 0 none waiting, -1 lost. */
static int
recv_one(struct hk_keyd *d, unsigned char *buf, struct hk_keyd_msg *m)
{
	ssize_t n;

	do
		n = recv(d->fd, buf, HK_KEYD_MAX_MSG, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0) {
		lost(d, n == 0 ? "closed by the daemon" : strerror(errno));
		return -1;
	}
	if (hk_keyd_decode(buf, (size_t)n, m) != HK_KEYD_OK ||
	    !(m->type & HK_KEYD_REPLY)) {
		lost(d, "malformed reply");
		return -1;
	}
	return 1;
}

void
hk_engine_keyd_dispatch(struct hk_engine *e)
{
	unsigned char buf[HK_KEYD_MAX_MSG];
	struct hk_keyd_msg m;
	struct hk_keyd *d = e->keyd;

	if (d == NULL || d->fd < 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (d->fd >= 0) {
		while (recv_one(d, buf, &m) == 1)
			complete(d, &m);
		pump(d);
	}
	pthread_mutex_unlock(&d->lock);
	OPENSSL_cleanse(buf, sizeof(buf));
}

/* Wait for the reply to id, completing others that come first. */
static int
await(struct hk_keyd *d, uint32_t id, unsigned char *buf,
    struct hk_keyd_msg *m, char *err, size_t errlen)
{
	uint64_t end = hk_op_now_ms() + KD_SYNC_MS;
	struct pollfd p;
	int rc;

	for (;;) {
		if (d->fd < 0) {
			hk_fmterr(err, errlen, "%s", d->why);
			return -1;
		}
		if ((rc = recv_one(d, buf, m)) == 1) {
			if (m->id == id)
				return 0;
			complete(d, m);
			continue;
		}
		if (rc < 0)
			continue;       /* reported above, through d->why */
		if (hk_op_now_ms() >= end) {
			lost(d, "no reply in time");
			continue;
		}
		p.fd = d->fd;
		p.events = POLLIN;
		(void)poll(&p, 1, (int)(end - hk_op_now_ms()));
	}
}

/* A request that waits for its reply (start-up, reload, self-test). */
static int
call(struct hk_keyd *d, struct hk_keyd_msg *req, unsigned char *buf,
    struct hk_keyd_msg *rep, char *err, size_t errlen)
{
	struct pollfd p;
	int rc;

	req->id = new_id(d);
	while ((rc = send_msg(d, req)) == 1) {
		p.fd = d->fd;
		p.events = POLLOUT;
		(void)poll(&p, 1, 100);
	}
	if (rc != 0) {
		hk_fmterr(err, errlen, "%s", d->fd < 0 ? d->why :
		    "key daemon: cannot send");
		return -1;
	}
	if (await(d, req->id, buf, rep, err, errlen) != 0)
		return -1;
	if (rep->type == HK_KEYD_ERROR) {
		hk_fmterr(err, errlen, "key daemon: %s: %.*s",
		    hk_keyd_status_name(rep->status), (int)rep->textlen,
		    rep->text);
		return -1;
	}
	return 0;
}

struct hk_keyd *
hk_keyd_new(struct hk_engine *e, const char *path, char *err, size_t errlen)
{
	struct hk_keyd *d = calloc(1, sizeof(*d));

	if (d == NULL || (d->path = strdup(path)) == NULL) {
		free(d);
		hk_fmterr(err, errlen, "out of memory");
		return NULL;
	}
	d->e = e;
	pthread_mutex_init(&d->lock, NULL);
	/* Not there: the engine stays in key daemon mode (never loads a
	 * module) and hk_engine_keyd_tick() keeps trying. */
	d->fd = connect_socket(path, err, errlen);
	if (d->fd >= 0) {
		atomic_store(&d->gen, 1);
	} else {
		snprintf(d->why, sizeof(d->why), "%s", err);
		d->backoff = KD_BACKOFF_MIN;
		d->retry_at = hk_op_now_ms() + d->backoff;
	}
	return d;
}

void
hk_keyd_free(struct hk_keyd *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < KD_QUEUE; i++)
		if (d->q[i].op != NULL) {
			fail_op(d->q[i].op, "stopping");
			finish(&d->q[i], d);
		}
	if (d->fd >= 0)
		close(d->fd);
	pthread_mutex_destroy(&d->lock);
	free(d->path);
	free(d);
}

/* OPEN a key by its URI and its certificate's public key (d->lock held). */
static int
open_key(struct hk_keyd *d, struct hk_key *k, X509 *cert, char *err,
    size_t errlen)
{
	unsigned char buf[HK_KEYD_MAX_MSG], *spki = NULL;
	const unsigned char *q;
	struct hk_keyd_msg req, rep;
	EVP_PKEY *pub;
	int n;

	if (k->spki == NULL) {
		if (cert == NULL || (pub = X509_get0_pubkey(cert)) == NULL ||
		    (n = i2d_PUBKEY(pub, &spki)) <= 0) {
			hk_fmterr(err, errlen, "'%s': the key daemon needs the "
			    "key's certificate", k->uri);
			return -1;
		}
		k->spki = spki;
		k->spkilen = (size_t)n;
	}
	memset(&req, 0, sizeof(req));
	req.type = HK_KEYD_OPEN;
	req.uri = (const unsigned char *)k->uri;
	req.urilen = strlen(k->uri);
	req.spki = k->spki;
	req.spkilen = k->spkilen;
	if (call(d, &req, buf, &rep, err, errlen) != 0)
		return -1;
	if (rep.keytype != HK_KEYD_KEY_EC && rep.keytype != HK_KEYD_KEY_RSA) {
		hk_fmterr(err, errlen, "key daemon: OPEN '%s': unknown key type",
		    k->uri);
		return -1;
	}
	k->keyd_key = rep.key;
	k->keyd_caps = rep.caps;
	k->type = rep.keytype == HK_KEYD_KEY_EC ? EVP_PKEY_EC : EVP_PKEY_RSA;
	/* The daemon encodes PSS where the token cannot: to us it is PSS. */
	k->pss = HK_PSS_TOKEN;
	if (k->pub == NULL) {
		q = rep.spki;
		k->pub = d2i_PUBKEY(NULL, &q, (long)rep.spkilen);
		if (k->pub == NULL) {
			hk_fmterr(err, errlen, "key daemon: OPEN '%s': bad "
			    "public key", k->uri);
			return -1;
		}
	}
	return 0;
}

int
hk_keyd_open(struct hk_keyd *d, struct hk_key *k, X509 *cert, char *err,
    size_t errlen)
{
	int rc;

	pthread_mutex_lock(&d->lock);
	rc = open_key(d, k, cert, err, errlen);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* Publish k in its engine's key list, which hk_engine_keyd_tick() reads. */
void
hk_keyd_add_key(struct hk_keyd *d, struct hk_key *k)
{
	pthread_mutex_lock(&d->lock);
	k->next = d->e->keys;
	d->e->keys = k;
	pthread_mutex_unlock(&d->lock);
}

static int
keyd_submit(void *arg, struct hk_op *op)
{
	struct hk_keyd *d = arg;
	size_t i;

	pthread_mutex_lock(&d->lock);
	if (d->fd < 0 || d->nused >= KD_QUEUE) {
		d->rejected++;
		snprintf(op->err, sizeof(op->err), "key daemon: %s",
		    d->fd < 0 ? "not connected" : "queue full");
		pthread_mutex_unlock(&d->lock);
		return -1;
	}
	for (i = 0; i < KD_QUEUE && d->q[i].op != NULL; i++)
		;
	d->q[i].op = op;
	d->q[i].id = new_id(d);
	d->q[i].sent = 0;
	d->nused++;
	pump(d);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* Synchronous signature or raw decryption (outside an async job). */
static int
keyd_sign(void *arg, const struct hk_key *k, enum hk_mech mech, int md_nid,
    int saltlen, const unsigned char *in, size_t inlen, unsigned char *sig,
    size_t *siglen, char *err, size_t errlen)
{
	struct hk_keyd *d = arg;
	unsigned char buf[HK_KEYD_MAX_MSG];
	struct hk_keyd_msg req, rep;
	struct hk_op op;
	int rc = -1;

	memset(&op, 0, sizeof(op));
	op.kind = HK_OP_SIGN;
	op.key = k;
	op.mech = mech;
	op.md_nid = md_nid;
	op.saltlen = saltlen;
	if (inlen > sizeof(op.in))
		return -1;
	memcpy(op.in, in, inlen);
	op.inlen = inlen;
	if (op_msg(&op, 0, &req) != 0) {
		hk_fmterr(err, errlen, "key daemon: operation the protocol "
		    "does not carry");
		return -1;
	}
	pthread_mutex_lock(&d->lock);
	rc = call(d, &req, buf, &rep, err, errlen);
	pthread_mutex_unlock(&d->lock);
	if (rc == 0) {
		rc = -1;
		if (rep.datalen <= *siglen) {
			memcpy(sig, rep.data, rep.datalen);
			*siglen = rep.datalen;
			rc = 0;
		} else {
			hk_fmterr(err, errlen, "key daemon: signature too long");
		}
	}
	OPENSSL_cleanse(&op, sizeof(op));
	return rc;
}

static unsigned long
keyd_decrypt_raw(void *arg, const struct hk_key *k, const unsigned char *in,
    size_t inlen, unsigned char *out, size_t outlen)
{
	struct hk_keyd *d = arg;
	unsigned char buf[HK_KEYD_MAX_MSG];
	struct hk_keyd_msg req, rep;
	char err[HK_ERRLEN];
	unsigned long rv = CKR_FUNCTION_FAILED_VALUE;
	int rc;

	memset(&rep, 0, sizeof(rep));
	memset(&req, 0, sizeof(req));
	req.type = HK_KEYD_DECRYPT_RAW;
	req.key = k->keyd_key;
	req.data = in;
	req.datalen = inlen;
	pthread_mutex_lock(&d->lock);
	rc = call(d, &req, buf, &rep, err, sizeof(err));
	pthread_mutex_unlock(&d->lock);
	if (rc == 0) {
		if (rep.datalen == outlen) {
			memcpy(out, rep.data, outlen);
			rv = 0;
		}
	} else if (rep.type == HK_KEYD_ERROR && rep.status == HK_KEYD_E_DATA) {
		rv = CKR_ENCRYPTED_DATA_INVALID_VALUE;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return rv;
}

const struct hk_xport_ops hk_keyd_xport = {
	.submit = keyd_submit,
	.sign = keyd_sign,
	.decrypt_raw = keyd_decrypt_raw,
};

int
hk_engine_keyd_fd(const struct hk_engine *e)
{
	return e->keyd != NULL ? e->keyd->fd : -1;
}

unsigned long
hk_engine_keyd_generation(const struct hk_engine *e)
{
	return e->keyd != NULL ? atomic_load(&e->keyd->gen) : 0;
}

int
hk_engine_keyd_dup(struct hk_engine *e, unsigned long *gen)
{
	struct hk_keyd *d = e->keyd;
	int fd = -1;

	*gen = 0;
	if (d == NULL)
		return -1;
	pthread_mutex_lock(&d->lock);
	*gen = atomic_load(&d->gen);
	if (d->fd >= 0)
		fd = fcntl(d->fd, F_DUPFD_CLOEXEC, 0);
	pthread_mutex_unlock(&d->lock);
	return fd;
}

/* hk_engine_keyd_tick() with d->lock held. */
static void
tick(struct hk_keyd *d, uint64_t now)
{
	struct hk_engine *e = d->e;
	char err[HK_ERRLEN];
	struct hk_key *k;
	size_t i;

	for (i = 0; i < KD_QUEUE; i++)
		if (d->q[i].op != NULL && now >= d->q[i].op->deadline_ms) {
			atomic_store(&d->q[i].op->expired, 1);
			fail_op(d->q[i].op, "no reply before the deadline");
			d->expired++;
			finish(&d->q[i], d);
		}
	if (d->fd >= 0 || now < d->retry_at)
		return;
	d->fd = connect_socket(d->path, err, sizeof(err));
	if (d->fd >= 0)
		atomic_fetch_add(&d->gen, 1);
	if (d->fd < 0) {
		d->backoff = d->backoff * 2 > KD_BACKOFF_MAX ? KD_BACKOFF_MAX :
		    d->backoff * 2;
		d->retry_at = now + d->backoff;
		return;
	}
	/* Key numbers are per connection: open every key again. */
	for (k = e->keys; k != NULL; k = k->next)
		if (open_key(d, k, NULL, err, sizeof(err)) != 0) {
			if (d->fd >= 0)
				lost(d, err);
			d->retry_at = hk_op_now_ms() + KD_BACKOFF_MAX;
			return;
		}
	d->recoveries++;
	if (e->log != NULL) {
		char msg[HK_ERRLEN];

		snprintf(msg, sizeof(msg), "key daemon '%s' is back", d->path);
		e->log(e->log_arg, msg);
	}
}

/* Deadlines, and reconnecting with backoff; call every 100 ms or so. */
void
hk_engine_keyd_tick(struct hk_engine *e)
{
	struct hk_keyd *d = e->keyd;
	uint64_t now = hk_op_now_ms();

	if (d == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	tick(d, now);
	pthread_mutex_unlock(&d->lock);
}

void
hk_keyd_stats(struct hk_keyd *d, struct hk_stats *st)
{
	pthread_mutex_lock(&d->lock);
	st->token_up = d->fd >= 0;
	st->token_down_events = d->down_events;
	st->token_recoveries = d->recoveries;
	st->ops_expired = d->expired;
	st->ops_rejected = d->rejected;
	st->queue_depth = d->nused - d->nsent;
	st->workers_busy = d->nsent;
	st->sessions_open = d->fd >= 0;
	pthread_mutex_unlock(&d->lock);
}
