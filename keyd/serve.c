/*
 * serve.c - hsmtls-keyd's event loop: the Unix SOCK_SEQPACKET socket, the
 * peer check, and one message per request and per reply
 * (doc/keyd-protocol.md).
 *
 * The loop never calls the token: SIGN and DECRYPT_RAW go to the engine's
 * worker pool with the daemon's one eventfd, and when it fires every
 * connection's operations are looked at and finished ones answered.  Each
 * request holds one of its connection's slots until its reply is sent;
 * with every slot taken the connection is not read (the client's sends
 * then wait in the socket), so a connection's memory is bounded.
 *
 * A key cloned on several tokens (replicas) sends each operation to the
 * replica that is in and has the fewest operations in flight.  A token
 * fault (the token failed, or the deadline passed) takes the replica out
 * and the request is started again on another one; a probe, a signature
 * of a random digest started from a timer, puts it back once it answers.
 * With every replica out, operations go to the one out longest, so a
 * token that came back is seen by the next request too.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <ev.h>
#include <openssl/rand.h>

#include "hk_keyd_proto.h"
#include "keyd.h"
#include "log.h"

#define PROBE_SECS 0.3          /* a replica out is tried this often */

enum slot_state { SLOT_FREE, SLOT_RUNNING, SLOT_SENDING };

struct slot {
	enum slot_state state;
	uint32_t id, key;
	uint8_t type;
	struct hk_pending *op;
	/* SIGN and DECRYPT_RAW: the request, kept to start it again on
	 * another replica; the replica running it; those tried (bits). */
	struct keyd_key *kk;
	struct keyd_replica *rep;
	struct keyd *set;       /* kk's key set, held while the request runs */
	uint32_t tried;
	uint8_t mech, hash;
	uint16_t saltlen;
	size_t inlen;
	unsigned char in[HK_KEYD_MAX_PAYLOAD];
	size_t replylen;
	unsigned char reply[HK_KEYD_MAX_MSG];
};

struct conn {
	int fd;
	pid_t pid;
	uid_t uid;
	ev_io rio, wio;
	struct keyd_key *keys[HK_KEYD_MAX_KEYS];  /* key number - 1 */
	struct keyd *sets[HK_KEYD_MAX_KEYS];      /* each key's set, held */
	size_t nkeys;
	struct slot slots[HK_KEYD_MAX_INFLIGHT];
	size_t nbusy;
	struct conn *next;
};

struct server {
	struct keyd *d;
	struct ev_loop *loop;
	int lfd, efd;
	ev_io lio, eio;
	ev_signal sterm, sint, shup;
	ev_timer probe;
	uint64_t picks;
	struct conn *conns;
};

static struct server srv;

/* ---- socket ---- */

int
keyd_bind(const char *path, gid_t group)
{
	struct sockaddr_un sa;
	int fd, probe, saved;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("socket '%s': path longer than %zu bytes", path,
		    sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		log_error("socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		goto bound;
	if (errno != EADDRINUSE)
		goto err;
	/* A stale socket goes only if nobody answers on it. */
	if ((probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1)
		goto err;
	if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		close(fd);
		log_error("socket '%s': a key daemon is already serving on it",
		    path);
		return -1;
	}
	saved = errno;
	close(probe);
	if ((errno = saved) != ECONNREFUSED) {
		log_error("socket '%s': in use, and probing it failed: %s",
		    path, strerror(errno));
		close(fd);
		return -1;
	}
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		goto bound;
err:
	log_error("socket '%s': bind: %s", path, strerror(errno));
	close(fd);
	return -1;
bound:
	if (chmod(path, 0660) == -1 ||
	    (group != (gid_t)-1 && chown(path, (uid_t)-1, group) == -1)) {
		log_error("socket '%s': cannot set its mode or group: %s", path,
		    strerror(errno));
		close(fd);
		(void)unlink(path);
		return -1;
	}
	if (listen(fd, 64) == -1) {
		log_error("socket '%s': listen: %s", path, strerror(errno));
		close(fd);
		(void)unlink(path);
		return -1;
	}
	return fd;
}

/* ---- replies ---- */

static void conn_close(struct conn *c);

static void
slot_free(struct conn *c, struct slot *s)
{
	hk_keyop_free(s->op);
	s->op = NULL;
	s->state = SLOT_FREE;
	OPENSSL_cleanse(s->reply, s->replylen);
	s->replylen = 0;
	OPENSSL_cleanse(s->in, s->inlen);
	s->inlen = 0;
	s->kk = NULL;
	s->rep = NULL;
	if (s->set != NULL)
		keyd_put(s->set);
	s->set = NULL;
	if (c->nbusy-- == HK_KEYD_MAX_INFLIGHT)
		ev_io_start(srv.loop, &c->rio);   /* read again */
}

/* Send every reply that waits; -1 when the connection has gone. */
static int
flush(struct conn *c)
{
	size_t i;
	ssize_t n;
	int blocked = 0;

	for (i = 0; i < HK_KEYD_MAX_INFLIGHT; i++) {
		struct slot *s = &c->slots[i];

		if (s->state != SLOT_SENDING)
			continue;
		n = send(c->fd, s->reply, s->replylen, MSG_NOSIGNAL |
		    MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			blocked = 1;
			break;
		}
		if (n == -1 && errno == EINTR) {
			i--;
			continue;
		}
		if (n == -1)
			return -1;
		slot_free(c, s);
	}
	if (blocked)
		ev_io_start(srv.loop, &c->wio);
	else
		ev_io_stop(srv.loop, &c->wio);
	return 0;
}

static void
reply_error(struct conn *c, struct slot *s, int status, const char *why)
{
	s->replylen = hk_keyd_encode_error(s->reply, sizeof(s->reply), s->id,
	    s->key, status, why);
	s->state = SLOT_SENDING;
}

static void
reply_msg(struct conn *c, struct slot *s, struct hk_keyd_msg *m)
{
	m->id = s->id;
	m->key = s->key;
	s->replylen = hk_keyd_encode(s->reply, sizeof(s->reply), m);
	if (s->replylen == 0)
		reply_error(c, s, HK_KEYD_E_INTERNAL, "reply does not fit");
	else
		s->state = SLOT_SENDING;
}

/* A request refused: logged with the peer, answered, never fatal. */
static void
refuse(struct conn *c, struct slot *s, int status, const char *why)
{
	log_warn("peer pid %ld uid %u: request %u (type %u) refused: %s: %s",
	    (long)c->pid, (unsigned)c->uid, (unsigned)s->id,
	    (unsigned)s->type, hk_keyd_status_name(status), why);
	reply_error(c, s, status, why);
}

/* ---- requests ---- */

static int
same_text(const char *a, const unsigned char *b, size_t blen)
{
	return a != NULL && strlen(a) == blen && memcmp(a, b, blen) == 0;
}

/* Any replica's URI, as configured or canonical, names the key. */
static int
key_named(const struct keyd_key *kk, const unsigned char *uri, size_t len)
{
	size_t i;

	for (i = 0; i < kk->nr; i++)
		if (same_text(kk->r[i].uri, uri, len) ||
		    same_text(hk_key_uri(kk->r[i].k), uri, len))
			return 1;
	return 0;
}

static void
do_open(struct conn *c, struct slot *s, const struct hk_keyd_msg *m)
{
	struct hk_keyd_msg r;
	struct keyd_key *kk;
	size_t i;

	for (kk = srv.d->keys; kk != NULL; kk = kk->next) {
		if (!key_named(kk, m->uri, m->urilen))
			continue;
		if (kk->spkilen == m->spkilen &&
		    memcmp(kk->spki, m->spki, m->spkilen) == 0)
			break;
	}
	if (kk == NULL) {
		refuse(c, s, HK_KEYD_E_NOT_FOUND, "no served key has this URI "
		    "and public key");
		return;
	}
	/* The same key again (also from the set before a reload: the server
	 * opens its keys again after its own reload) keeps its number, now
	 * naming the current set's copy, so the table does not grow with
	 * reloads.  Requests already running hold their own set. */
	for (i = 0; i < c->nkeys; i++)
		if (c->keys[i] == kk || (c->keys[i]->spkilen == kk->spkilen &&
		    memcmp(c->keys[i]->spki, kk->spki, kk->spkilen) == 0 &&
		    key_named(c->keys[i], m->uri, m->urilen)))
			break;
	if (i < c->nkeys && c->sets[i] != srv.d) {
		keyd_ref(srv.d);
		keyd_put(c->sets[i]);
		c->sets[i] = srv.d;
		c->keys[i] = kk;
	}
	if (i == c->nkeys) {
		if (c->nkeys >= HK_KEYD_MAX_KEYS) {
			refuse(c, s, HK_KEYD_E_LIMIT, "too many keys open on "
			    "this connection");
			return;
		}
		c->sets[c->nkeys] = srv.d;
		keyd_ref(srv.d);
		c->keys[c->nkeys++] = kk;
	}
	memset(&r, 0, sizeof(r));
	r.type = HK_KEYD_OPEN | HK_KEYD_REPLY;
	s->key = (uint32_t)(i + 1);
	r.keytype = kk->info.type == EVP_PKEY_EC ? HK_KEYD_KEY_EC :
	    HK_KEYD_KEY_RSA;
	r.bits = (uint16_t)kk->info.bits;
	if (kk->info.type == EVP_PKEY_RSA) {
		r.caps = kk->info.pss_on_token ? HK_KEYD_CAP_PSS_TOKEN :
		    HK_KEYD_CAP_PSS_SOFT;
		if (kk->info.rsa_kx)
			r.caps |= HK_KEYD_CAP_RSA_KX;
	}
	r.spki = kk->spki;
	r.spkilen = kk->spkilen;
	reply_msg(c, s, &r);
}

static int
status_of(int keyop)
{
	switch (keyop) {
	case HK_KEYOP_OK:          return HK_KEYD_OK;
	case HK_KEYOP_INVALID:     return HK_KEYD_E_MALFORMED;
	case HK_KEYOP_NOT_ALLOWED: return HK_KEYD_E_NOT_ALLOWED;
	case HK_KEYOP_BUSY:        return HK_KEYD_E_BUSY;
	case HK_KEYOP_TIMEOUT:     return HK_KEYD_E_TIMEOUT;
	case HK_KEYOP_DATA:        return HK_KEYD_E_DATA;
	}
	return HK_KEYD_E_TOKEN;
}

/* ---- replicas ---- */

static const enum hk_sign_mech mechs[] = {
	[HK_KEYD_MECH_RSA_PKCS] = HK_SIGN_RSA_PKCS,
	[HK_KEYD_MECH_RSA_PSS] = HK_SIGN_RSA_PSS,
	[HK_KEYD_MECH_ECDSA] = HK_SIGN_ECDSA,
};

static uint64_t
now_ms(void)
{
	return (uint64_t)(ev_now(srv.loop) * 1000.0);
}

/* What another token might not share: its failure or its silence. */
static int
token_fault(int rc)
{
	return rc == HK_KEYOP_TOKEN || rc == HK_KEYOP_TIMEOUT;
}

static void
take_out(struct keyd_key *kk, struct keyd_replica *r, const char *why)
{
	if (r->out || kk->nr < 2)
		return;
	r->out = 1;
	r->out_since_ms = now_ms();
	log_warn("token %s taken out of key %s: %s", r->t->name, kk->name,
	    why);
}

static void
put_back(struct keyd_key *kk, struct keyd_replica *r)
{
	if (!r->out)
		return;
	r->out = 0;
	log_info("token %s back in key %s (out %llu ms)", r->t->name,
	    kk->name, (unsigned long long)(now_ms() - r->out_since_ms));
}

/*
 * The replica for a request: of those in and not tried yet, the one with
 * the fewest operations in flight (then the one chosen least recently, so
 * that light load alternates; a count of all operations would instead
 * send a burst to a slow token that had fallen behind).  With every
 * replica out and none tried, the one out longest: its engine recovers by
 * itself, and a success puts it back.
 */
static struct keyd_replica *
pick(struct keyd_key *kk, uint32_t tried)
{
	struct keyd_replica *best = NULL, *r;
	size_t i;

	for (i = 0; i < kk->nr; i++) {
		r = &kk->r[i];
		if ((tried & (1u << i)) || r->out)
			continue;
		if (best == NULL || r->inflight < best->inflight ||
		    (r->inflight == best->inflight &&
		    r->picked < best->picked))
			best = r;
	}
	if (best != NULL || tried != 0)
		return best;
	for (i = 0; i < kk->nr; i++)
		if (best == NULL || kk->r[i].out_since_ms < best->out_since_ms)
			best = &kk->r[i];
	return best;
}

/* Start the slot's request on a replica: HK_KEYOP_OK, or the status of
 * the last replica tried (err set). */
static int
start_op(struct slot *s, char *err, size_t errlen)
{
	struct keyd_replica *r;
	int rc = HK_KEYOP_TOKEN;

	while ((r = pick(s->kk, s->tried)) != NULL) {
		s->tried |= 1u << (r - s->kk->r);
		if (s->type == HK_KEYD_SIGN)
			rc = hk_keyop_sign(r->k, mechs[s->mech],
			    hk_keyd_hash_nid(s->hash), s->saltlen, s->in,
			    s->inlen, srv.efd, &s->op, err, errlen);
		else
			rc = hk_keyop_decrypt_raw(r->k, s->in, s->inlen,
			    srv.efd, &s->op, err, errlen);
		if (rc == HK_KEYOP_OK) {
			r->inflight++;
			r->picked = ++srv.picks;
			s->rep = r;
			return rc;
		}
		/* A full queue is this token's only: another may have room.
		 * Bad input is bad on every replica. */
		if (rc != HK_KEYOP_BUSY)
			return rc;
	}
	return rc;
}

/* The probe of a replica out: cheap, never waited for. */
static void
on_probe(struct ev_loop *loop, ev_timer *w, int revents)
{
	unsigned char dg[32];
	struct keyd_replica *r;
	struct keyd_key *kk;
	struct hk_stats st;
	char err[512];
	size_t i;

	for (kk = srv.d->keys; kk != NULL; kk = kk->next)
		for (i = 0; i < kk->nr; i++) {
			r = &kk->r[i];
			if (!r->out || r->probe != NULL)
				continue;
			/* The engine knows its token is down: no call. */
			hk_engine_stats(r->t->e, &st);
			if (!st.token_up || RAND_bytes(dg, sizeof(dg)) != 1)
				continue;
			if (hk_keyop_sign(r->k, kk->info.type == EVP_PKEY_EC ?
			    HK_SIGN_ECDSA : HK_SIGN_RSA_PKCS, NID_sha256, 0, dg,
			    sizeof(dg), srv.efd, &r->probe, err,
			    sizeof(err)) != HK_KEYOP_OK)
				r->probe = NULL;
		}
}

/* Probes that finished: a signature puts the replica back. */
static void
probes_done(void)
{
	unsigned char out[HK_KEYD_MAX_PAYLOAD];
	struct keyd_replica *r;
	struct keyd_key *kk;
	size_t i, outlen;
	char err[512];
	int rc;

	for (kk = srv.d->keys; kk != NULL; kk = kk->next)
		for (i = 0; i < kk->nr; i++) {
			r = &kk->r[i];
			if (r->probe == NULL)
				continue;
			outlen = sizeof(out);
			rc = hk_keyop_result(r->probe, out, &outlen, err,
			    sizeof(err));
			if (rc == HK_KEYOP_PENDING)
				continue;
			hk_keyop_free(r->probe);
			r->probe = NULL;
			if (rc == HK_KEYOP_OK)
				put_back(kk, r);
		}
}

static void
probes_free(void)
{
	struct keyd_key *kk;
	size_t i;

	for (kk = srv.d->keys; kk != NULL; kk = kk->next)
		for (i = 0; i < kk->nr; i++) {
			hk_keyop_free(kk->r[i].probe);
			kk->r[i].probe = NULL;
		}
}

static void
do_keyop(struct conn *c, struct slot *s, const struct hk_keyd_msg *m)
{
	char err[512];
	int rc;

	/* Only a number this connection opened; never another key. */
	if (m->key == 0 || m->key > c->nkeys) {
		refuse(c, s, HK_KEYD_E_NO_KEY, "key number not opened on this "
		    "connection");
		return;
	}
	if (m->datalen > sizeof(s->in)) {
		refuse(c, s, HK_KEYD_E_MALFORMED, "input too long");
		return;
	}
	s->kk = c->keys[m->key - 1];
	s->set = c->sets[m->key - 1];
	keyd_ref(s->set);
	s->tried = 0;
	s->mech = m->mech;
	s->hash = m->hash;
	s->saltlen = m->saltlen;
	memcpy(s->in, m->data, m->datalen);
	s->inlen = m->datalen;
	if ((rc = start_op(s, err, sizeof(err))) != HK_KEYOP_OK) {
		refuse(c, s, status_of(rc), err);
		return;
	}
	s->state = SLOT_RUNNING;
}

static void
do_health(struct conn *c, struct slot *s)
{
	struct hk_keyd_token toks[HK_KEYD_MAX_TOKENS];
	struct keyd_token *t;
	struct hk_keyd_msg r;
	struct hk_stats st;
	size_t n = 0;

	memset(toks, 0, sizeof(toks));
	for (t = srv.d->tokens; t != NULL && n < HK_KEYD_MAX_TOKENS;
	    t = t->next, n++) {
		const char *label = hk_engine_token_label(t->e);

		hk_engine_stats(t->e, &st);
		toks[n].label = label[0] != '\0' ? label : t->name;
		toks[n].labellen = strlen(toks[n].label);
		if (toks[n].labellen > HK_KEYD_MAX_TEXT)
			toks[n].labellen = HK_KEYD_MAX_TEXT;
		toks[n].up = st.token_up != 0;
		toks[n].c[HK_KEYD_C_SIGN_OK] = st.sign_ok;
		toks[n].c[HK_KEYD_C_SIGN_FAILED] = st.sign_failed;
		toks[n].c[HK_KEYD_C_DECRYPT_OK] = st.decrypt_ok;
		toks[n].c[HK_KEYD_C_DECRYPT_FAILED] = st.decrypt_failed;
		toks[n].c[HK_KEYD_C_REJECTED] = st.ops_rejected;
		toks[n].c[HK_KEYD_C_EXPIRED] = st.ops_expired;
		toks[n].c[HK_KEYD_C_DOWN_EVENTS] = st.token_down_events;
		toks[n].c[HK_KEYD_C_RECOVERIES] = st.token_recoveries;
		toks[n].c[HK_KEYD_C_RELOGINS] = st.relogins;
		toks[n].c[HK_KEYD_C_SESSIONS] = st.sessions_open;
		toks[n].c[HK_KEYD_C_BUSY] = st.workers_busy;
		toks[n].c[HK_KEYD_C_QUEUE] = st.queue_depth;
	}
	memset(&r, 0, sizeof(r));
	r.type = HK_KEYD_HEALTH | HK_KEYD_REPLY;
	r.tokens = toks;
	r.ntokens = n;
	reply_msg(c, s, &r);
}

static struct slot *
slot_take(struct conn *c)
{
	size_t i;

	for (i = 0; i < HK_KEYD_MAX_INFLIGHT; i++)
		if (c->slots[i].state == SLOT_FREE) {
			if (++c->nbusy == HK_KEYD_MAX_INFLIGHT)
				ev_io_stop(srv.loop, &c->rio);
			return &c->slots[i];
		}
	return NULL;
}

static void
request(struct conn *c, const unsigned char *buf, size_t len, int trunc)
{
	struct hk_keyd_msg m;
	struct slot *s = slot_take(c);
	int rc;

	rc = hk_keyd_decode(buf, trunc && len > HK_KEYD_MAX_MSG ?
	    HK_KEYD_MAX_MSG + 1 : len, &m);
	if (trunc && rc != HK_KEYD_E_MALFORMED && rc != HK_KEYD_E_VERSION)
		rc = HK_KEYD_E_TOO_BIG;
	s->id = m.id;
	s->key = m.key;
	s->type = m.type;
	if (rc != HK_KEYD_OK) {
		refuse(c, s, rc, rc == HK_KEYD_E_TOO_BIG ? "message larger than "
		    "4096 bytes" : rc == HK_KEYD_E_TYPE ? "unknown request type" :
		    rc == HK_KEYD_E_VERSION ? "protocol version is not 1" :
		    "malformed message");
		return;
	}
	switch (m.type) {
	case HK_KEYD_OPEN:
		do_open(c, s, &m);
		break;
	case HK_KEYD_SIGN:
	case HK_KEYD_DECRYPT_RAW:
		do_keyop(c, s, &m);
		break;
	case HK_KEYD_HEALTH:
		do_health(c, s);
		break;
	default:
		refuse(c, s, HK_KEYD_E_TYPE, "not a request");
		break;
	}
}

static void
on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	unsigned char buf[HK_KEYD_MAX_MSG + 1];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh;
	ssize_t n;

	while (c->nbusy < HK_KEYD_MAX_INFLIGHT) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {           /* the peer closed, or an error */
			conn_close(c);
			return;
		}
		/* MSG_TRUNC: n is the message's real size. */
		request(c, buf, (size_t)n > sizeof(buf) ? sizeof(buf) :
		    (size_t)n, (mh.msg_flags & MSG_TRUNC) != 0 ||
		    (size_t)n > HK_KEYD_MAX_MSG);
	}
	if (flush(c) != 0)
		conn_close(c);
}

static void
on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	if (flush(c) != 0)
		conn_close(c);
}

/* A worker finished (or a deadline passed): answer what is done. */
static void
on_done(struct ev_loop *loop, ev_io *w, int revents)
{
	unsigned char out[HK_KEYD_MAX_PAYLOAD];
	struct conn *c, *next;
	struct hk_keyd_msg r;
	uint64_t v;
	size_t i, outlen;
	char err[512], retry_err[512];
	int rc;

	while (read(srv.efd, &v, sizeof(v)) == -1 && errno == EINTR)
		;
	probes_done();
	for (c = srv.conns; c != NULL; c = next) {
		next = c->next;
		for (i = 0; i < HK_KEYD_MAX_INFLIGHT; i++) {
			struct slot *s = &c->slots[i];

			if (s->state != SLOT_RUNNING)
				continue;
			outlen = 1024;
			rc = hk_keyop_result(s->op, out, &outlen, err,
			    sizeof(err));
			if (rc == HK_KEYOP_PENDING)
				continue;
			hk_keyop_free(s->op);
			s->op = NULL;
			s->rep->inflight--;
			if (rc == HK_KEYOP_OK)
				put_back(s->kk, s->rep);
			else if (token_fault(rc) && s->kk->nr > 1) {
				/* Again on another replica: the client sees
				 * this token's fault only if all fail. */
				take_out(s->kk, s->rep, err);
				if (start_op(s, retry_err, sizeof(retry_err)) ==
				    HK_KEYOP_OK)
					continue;
			}
			if (rc != HK_KEYOP_OK) {
				refuse(c, s, status_of(rc), err);
				continue;
			}
			memset(&r, 0, sizeof(r));
			r.type = s->type | HK_KEYD_REPLY;
			r.data = out;
			r.datalen = outlen;
			reply_msg(c, s, &r);
		}
		OPENSSL_cleanse(out, sizeof(out));
		if (flush(c) != 0)
			conn_close(c);
	}
}

/* ---- connections ---- */

static int
peer_allowed(uid_t uid)
{
	size_t i;

	for (i = 0; i < srv.d->nallowed; i++)
		if (srv.d->allowed[i] == uid)
			return 1;
	return 0;
}

static void
conn_close(struct conn *c)
{
	struct conn **pp;
	size_t i;

	for (pp = &srv.conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	ev_io_stop(srv.loop, &c->rio);
	ev_io_stop(srv.loop, &c->wio);
	/* A worker's late result is dropped with its operation. */
	for (i = 0; i < HK_KEYD_MAX_INFLIGHT; i++) {
		if (c->slots[i].state == SLOT_RUNNING && c->slots[i].rep != NULL)
			c->slots[i].rep->inflight--;
		hk_keyop_free(c->slots[i].op);
		if (c->slots[i].set != NULL)
			keyd_put(c->slots[i].set);
	}
	/* A set replaced by a reload goes with its last user. */
	for (i = 0; i < c->nkeys; i++)
		keyd_put(c->sets[i]);
	close(c->fd);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	unsigned char msg[HK_KEYD_HDR_LEN + 128];
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct conn *c;
	size_t n;
	int fd;

	for (;;) {
		fd = accept4(srv.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_error("accept: %s", strerror(errno));
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1) {
			log_error("peer credentials: %s", strerror(errno));
			close(fd);
			continue;
		}
		if (!peer_allowed(cr.uid)) {
			log_warn("peer pid %ld uid %u refused: not root, the "
			    "daemon's user or the configured user", (long)cr.pid,
			    (unsigned)cr.uid);
			n = hk_keyd_encode_error(msg, sizeof(msg), 0, 0,
			    HK_KEYD_E_PEER, "peer not allowed");
			(void)send(fd, msg, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->pid = cr.pid;
		c->uid = cr.uid;
		ev_io_init(&c->rio, on_read, fd, EV_READ);
		ev_io_init(&c->wio, on_write, fd, EV_WRITE);
		c->rio.data = c->wio.data = c;
		ev_io_start(srv.loop, &c->rio);
		c->next = srv.conns;
		srv.conns = c;
	}
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("signal %d: stopping", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

/* New OPENs use the new set; a failed reload keeps the old one. */
static void
on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	srv.d = keyd_reload(srv.d);
}

int
keyd_serve(struct keyd *d, int lfd)
{
	memset(&srv, 0, sizeof(srv));
	srv.d = d;
	srv.lfd = lfd;
	signal(SIGPIPE, SIG_IGN);
	if ((srv.loop = ev_default_loop(EVFLAG_AUTO)) == NULL) {
		log_error("cannot start the event loop");
		keyd_put(d);
		return -1;
	}
	if ((srv.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		log_error("eventfd: %s", strerror(errno));
		keyd_put(d);
		return -1;
	}
	ev_io_init(&srv.lio, on_accept, lfd, EV_READ);
	ev_io_init(&srv.eio, on_done, srv.efd, EV_READ);
	ev_signal_init(&srv.sterm, on_signal, SIGTERM);
	ev_signal_init(&srv.sint, on_signal, SIGINT);
	ev_signal_init(&srv.shup, on_hup, SIGHUP);
	ev_timer_init(&srv.probe, on_probe, PROBE_SECS, PROBE_SECS);
	ev_io_start(srv.loop, &srv.lio);
	ev_io_start(srv.loop, &srv.eio);
	ev_signal_start(srv.loop, &srv.sterm);
	ev_signal_start(srv.loop, &srv.sint);
	ev_signal_start(srv.loop, &srv.shup);
	ev_timer_start(srv.loop, &srv.probe);
	ev_run(srv.loop, 0);
	while (srv.conns != NULL)
		conn_close(srv.conns);
	probes_free();
	close(srv.efd);
	close(srv.lfd);
	keyd_put(srv.d);
	srv.d = NULL;
	return 0;
}
