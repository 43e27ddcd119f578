/*
 * serve.c - hsmtls-keyd's event loop and request threads: the Unix
 * SOCK_SEQPACKET socket, the peer check, and one message per request and
 * per reply (doc/keyd-protocol.md).
 *
 * Request threads read the connections (one epoll set, each connection
 * armed one-shot: the thread that takes a message arms it again at once,
 * so the next pipelined message goes to another thread) and run a SIGN or
 * DECRYPT_RAW on the token themselves, then send the reply: the request
 * crosses one thread hand-off each way, as in-process signing does.  A
 * thread takes the same-thread path only while another thread is left
 * waiting for messages, the token has no same-thread call past its
 * deadline and has a session to spare; otherwise, and for OPEN, HEALTH
 * and anything malformed, the message is handed to the loop.
 *
 * The loop never calls the token: its operations go to the engine's
 * worker pool with the daemon's one eventfd, and when it fires every
 * connection's operations are looked at and finished ones answered.  The
 * loop also accepts, reloads, probes, and watches the threads' calls: one
 * past its deadline is answered for the thread (started again on another
 * replica, or TIMEOUT), its token is taken out of the key, and the loop
 * path serves that token until the call returns.  A connection has at
 * most 64 requests read and not answered, on both paths together; at 64
 * it is not read (the client's sends then wait in the socket), so its
 * memory is bounded.
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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
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
#define WATCH_SECS 0.05         /* the threads' deadlines are looked at */
#define THREADS_MIN 4
#define THREADS_MAX 32
#define MORE_MAX 16             /* messages a thread reads after its first */

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

/*
 * A connection.  References: the loop's (until conn_close), the reader's
 * (held by the epoll set while armed, by the thread that took the event,
 * or parked in paused), and one per request a thread or a hand-off holds.
 * The fd is closed with the last one, so it is never reused under a
 * thread.
 */
struct conn {
	int fd;
	pid_t pid;
	uid_t uid;
	atomic_int refs;
	atomic_int closing;     /* no more replies: it is going */
	pthread_mutex_t lock;   /* keys, sets, nkeys, pending, paused */
	struct keyd_key *keys[HK_KEYD_MAX_KEYS];  /* key number - 1 */
	struct keyd *sets[HK_KEYD_MAX_KEYS];      /* each key's set, held */
	size_t nkeys;
	size_t pending;         /* read and not answered, both paths */
	int paused;             /* not armed: pending is at the limit */
	/* The loop's alone: */
	ev_io wio;
	struct slot slots[HK_KEYD_MAX_INFLIGHT];
	size_t nbusy;
	int listed;
	struct conn *next;
};

/* A message for the loop (a request, a reply the socket had no room for,
 * or the end of a connection), from a thread. */
enum handoff_kind { H_REQUEST, H_REPLY, H_CLOSE };

struct handoff {
	struct handoff *next;
	struct conn *c;         /* holds a reference */
	enum handoff_kind kind;
	int trunc;
	size_t len;
	unsigned char buf[];
};

/* A request thread; the fields after th are under srv.wlock. */
struct worker {
	pthread_t th;
	int started;
	int busy;               /* in a same-thread token call */
	int expired;            /* the loop answered for it */
	uint64_t deadline_ms;
	struct conn *c;
	struct slot s;          /* the request being run */
};

struct server {
	struct keyd *d;
	struct ev_loop *loop;
	int lfd, efd;
	ev_io lio, eio;
	ev_signal sterm, sint, shup;
	ev_timer probe, watch;
	ev_async qwake;
	uint64_t picks;         /* under rlock */
	struct conn *conns;
	/* Request threads. */
	int epfd, stopfd;
	struct worker *w;
	size_t nw;
	atomic_int idle;        /* threads waiting for a message */
	pthread_mutex_t rlock;  /* replicas' routing state */
	pthread_mutex_t wlock;  /* workers' calls */
	pthread_mutex_t qlock;  /* q */
	struct handoff *q, **qtail;
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

/* ---- connections' references and reading ---- */

static void conn_close(struct conn *c);
static void conn_kill(struct conn *c);

static void
conn_hold(struct conn *c)
{
	atomic_fetch_add(&c->refs, 1);
}

static void
conn_drop(struct conn *c)
{
	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	close(c->fd);
	pthread_mutex_destroy(&c->lock);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

/* Give the reader's reference to the epoll set: the next message. */
static void
arm(struct conn *c)
{
	struct epoll_event ev = { EPOLLIN | EPOLLRDHUP | EPOLLONESHOT,
	    { .ptr = c } };

	if (epoll_ctl(srv.epfd, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
		/* Only when the loop has already taken it out. */
		conn_drop(c);
	}
}

/* A request answered (or given up): below the limit, read again. */
static void
done_one(struct conn *c)
{
	int resume = 0;

	pthread_mutex_lock(&c->lock);
	c->pending--;
	if (c->paused && c->pending < HK_KEYD_MAX_INFLIGHT) {
		c->paused = 0;
		resume = 1;
	}
	pthread_mutex_unlock(&c->lock);
	if (resume)
		arm(c);
}

/* Queue work for the loop; the hand-off takes a reference of c's. */
static void
handoff(struct conn *c, enum handoff_kind kind, const unsigned char *buf,
    size_t len, int trunc)
{
	struct handoff *h = malloc(sizeof(*h) + len);

	if (h == NULL) {
		/* Nothing is lost quietly: the client sees the connection
		 * go and fails its requests at once. */
		log_error("out of memory: dropping a connection");
		shutdown(c->fd, SHUT_RDWR);
		if (kind != H_CLOSE)
			conn_drop(c);
		return;
	}
	h->next = NULL;
	h->c = c;
	h->kind = kind;
	h->trunc = trunc;
	h->len = len;
	if (len > 0)
		memcpy(h->buf, buf, len);
	pthread_mutex_lock(&srv.qlock);
	*srv.qtail = h;
	srv.qtail = &h->next;
	pthread_mutex_unlock(&srv.qlock);
	ev_async_send(srv.loop, &srv.qwake);
}

/* ---- replies ---- */

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
	c->nbusy--;
	done_one(c);
}

/* Send every reply that waits; -1 when the connection has gone. */
static int
flush(struct conn *c)
{
	size_t i;
	ssize_t n;
	int blocked = 0;

	if (atomic_load(&c->closing))
		return 0;
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
	pthread_mutex_lock(&c->lock);
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
			pthread_mutex_unlock(&c->lock);
			refuse(c, s, HK_KEYD_E_LIMIT, "too many keys open on "
			    "this connection");
			return;
		}
		c->sets[c->nkeys] = srv.d;
		keyd_ref(srv.d);
		c->keys[c->nkeys++] = kk;
	}
	pthread_mutex_unlock(&c->lock);
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
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* What another token might not share: its failure or its silence. */
static int
token_fault(int rc)
{
	return rc == HK_KEYOP_TOKEN || rc == HK_KEYOP_TIMEOUT;
}

/* take_out, put_back and pick: under srv.rlock. */
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

	for (;;) {
		pthread_mutex_lock(&srv.rlock);
		if ((r = pick(s->kk, s->tried)) == NULL) {
			pthread_mutex_unlock(&srv.rlock);
			break;
		}
		s->tried |= 1u << (r - s->kk->r);
		r->inflight++;
		r->picked = ++srv.picks;
		pthread_mutex_unlock(&srv.rlock);
		if (s->type == HK_KEYD_SIGN)
			rc = hk_keyop_sign(r->k, mechs[s->mech],
			    hk_keyd_hash_nid(s->hash), s->saltlen, s->in,
			    s->inlen, srv.efd, &s->op, err, errlen);
		else
			rc = hk_keyop_decrypt_raw(r->k, s->in, s->inlen,
			    srv.efd, &s->op, err, errlen);
		if (rc == HK_KEYOP_OK) {
			s->rep = r;
			return rc;
		}
		pthread_mutex_lock(&srv.rlock);
		r->inflight--;
		pthread_mutex_unlock(&srv.rlock);
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
			int out;

			r = &kk->r[i];
			pthread_mutex_lock(&srv.rlock);
			out = r->out;
			pthread_mutex_unlock(&srv.rlock);
			if (!out || r->probe != NULL)
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
			if (rc == HK_KEYOP_OK) {
				pthread_mutex_lock(&srv.rlock);
				put_back(kk, r);
				pthread_mutex_unlock(&srv.rlock);
			}
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
	pthread_mutex_lock(&c->lock);
	if (m->key == 0 || m->key > c->nkeys) {
		pthread_mutex_unlock(&c->lock);
		refuse(c, s, HK_KEYD_E_NO_KEY, "key number not opened on this "
		    "connection");
		return;
	}
	s->kk = c->keys[m->key - 1];
	s->set = c->sets[m->key - 1];
	keyd_ref(s->set);
	pthread_mutex_unlock(&c->lock);
	if (m->datalen > sizeof(s->in)) {
		refuse(c, s, HK_KEYD_E_MALFORMED, "input too long");
		return;
	}
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
			c->nbusy++;
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

	if (s == NULL) {        /* cannot be: pending bounds the slots */
		log_error("peer pid %ld: no request slot; disconnecting",
		    (long)c->pid);
		done_one(c);
		conn_kill(c);
		return;
	}
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
on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	if (flush(c) != 0)
		conn_kill(c);
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
	int rc, retry;

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
			retry = 0;
			pthread_mutex_lock(&srv.rlock);
			s->rep->inflight--;
			if (rc == HK_KEYOP_OK)
				put_back(s->kk, s->rep);
			else if (token_fault(rc) && s->kk->nr > 1) {
				/* Again on another replica: the client sees
				 * this token's fault only if all fail. */
				take_out(s->kk, s->rep, err);
				retry = 1;
			}
			pthread_mutex_unlock(&srv.rlock);
			if (retry && start_op(s, retry_err, sizeof(retry_err)) ==
			    HK_KEYOP_OK)
				continue;
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
			conn_kill(c);
	}
}

/* ---- request threads ---- */

/*
 * A reply from a thread: 0 when sent (or the connection is going), 1
 * when the socket has no room and the reply went to the loop, which sends
 * it when the client reads (the request stays counted until then).  A
 * send error ends the connection (its reader sees the end).  The caller's
 * reference of c goes with the reply to the loop.
 */
static int
thread_send(struct conn *c, const unsigned char *buf, size_t len)
{
	ssize_t n;

	while (!atomic_load(&c->closing)) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			handoff(c, H_REPLY, buf, len, 0);
			return 1;
		}
		shutdown(c->fd, SHUT_RDWR);
		break;
	}
	return 0;
}

enum { RUN_DONE, RUN_LOOP, RUN_EXPIRED };

/*
 * Run the worker's request on this thread, replica after replica while
 * token faults allow: RUN_DONE with *rc and out set, RUN_LOOP when the
 * first replica chosen must go through the loop (a call of its token is
 * past its deadline, or it has no session to spare), RUN_EXPIRED when the
 * loop answered for this thread meanwhile.
 */
static int
run_here(struct worker *w, struct conn *c, unsigned char *out,
    size_t *outlen, int *rc, char *err, size_t errlen)
{
	struct slot *s = &w->s;
	struct keyd_replica *r;
	size_t size = *outlen;
	int expired;

	*rc = HK_KEYOP_TOKEN;
	snprintf(err, errlen, "no replica of the key is usable");
	for (;;) {
		pthread_mutex_lock(&srv.rlock);
		if ((r = pick(s->kk, s->tried)) == NULL) {
			pthread_mutex_unlock(&srv.rlock);
			return RUN_DONE;
		}
		if (r->stuck > 0 && s->tried == 0) {
			pthread_mutex_unlock(&srv.rlock);
			return RUN_LOOP;
		}
		s->tried |= 1u << (r - s->kk->r);
		if (r->stuck > 0) {
			pthread_mutex_unlock(&srv.rlock);
			continue;
		}
		r->inflight++;
		r->picked = ++srv.picks;
		pthread_mutex_unlock(&srv.rlock);

		pthread_mutex_lock(&srv.wlock);
		w->busy = 1;
		w->expired = 0;
		w->deadline_ms = now_ms() + hk_key_deadline_ms(r->k);
		w->c = c;
		s->rep = r;
		pthread_mutex_unlock(&srv.wlock);
		*outlen = size;
		if (s->type == HK_KEYD_SIGN)
			*rc = hk_keyop_sign_now(r->k, mechs[s->mech],
			    hk_keyd_hash_nid(s->hash), s->saltlen, s->in,
			    s->inlen, out, outlen, err, errlen);
		else
			*rc = hk_keyop_decrypt_raw_now(r->k, s->in, s->inlen,
			    out, outlen, err, errlen);
		pthread_mutex_lock(&srv.wlock);
		expired = w->expired;
		w->busy = 0;
		w->c = NULL;
		pthread_mutex_unlock(&srv.wlock);

		pthread_mutex_lock(&srv.rlock);
		r->inflight--;
		if (expired)
			r->stuck--;     /* back; the probe judges the token */
		else if (*rc == HK_KEYOP_OK)
			put_back(s->kk, r);
		else if (token_fault(*rc) && s->kk->nr > 1)
			take_out(s->kk, r, err);
		pthread_mutex_unlock(&srv.rlock);
		if (expired)
			return RUN_EXPIRED;
		if (*rc == HK_KEYOP_BUSY && s->tried == (1u << (r - s->kk->r)))
			return RUN_LOOP;
		if (*rc == HK_KEYOP_BUSY || (token_fault(*rc) && s->kk->nr > 1))
			continue;
		return RUN_DONE;
	}
}

/*
 * One message read by a thread: a SIGN or DECRYPT_RAW of an opened key is
 * run here when another thread is left reading; anything else goes to
 * the loop.  Holds a reference of c's, given up here or to the loop.
 */
static void
thread_request(struct worker *w, struct conn *c, const unsigned char *buf,
    size_t len, int trunc)
{
	unsigned char out[HK_KEYD_MAX_PAYLOAD], reply[HK_KEYD_MAX_MSG];
	struct slot *s = &w->s;
	struct hk_keyd_msg m, r;
	size_t outlen = sizeof(out), rlen;
	char err[512];
	int rc, how, queued = 0;

	if (trunc || atomic_load(&srv.idle) == 0 ||
	    hk_keyd_decode(buf, len, &m) != HK_KEYD_OK ||
	    (m.type != HK_KEYD_SIGN && m.type != HK_KEYD_DECRYPT_RAW) ||
	    m.datalen > sizeof(s->in)) {
		handoff(c, H_REQUEST, buf, len, trunc);
		return;
	}
	pthread_mutex_lock(&c->lock);
	if (m.key == 0 || m.key > c->nkeys) {
		pthread_mutex_unlock(&c->lock);
		handoff(c, H_REQUEST, buf, len, trunc);     /* refused there */
		return;
	}
	s->kk = c->keys[m.key - 1];
	s->set = c->sets[m.key - 1];
	keyd_ref(s->set);
	pthread_mutex_unlock(&c->lock);
	s->id = m.id;
	s->key = m.key;
	s->type = m.type;
	s->tried = 0;
	s->mech = m.mech;
	s->hash = m.hash;
	s->saltlen = m.saltlen;
	memcpy(s->in, m.data, m.datalen);
	s->inlen = m.datalen;

	how = run_here(w, c, out, &outlen, &rc, err, sizeof(err));
	if (how == RUN_LOOP)
		handoff(c, H_REQUEST, buf, len, trunc);
	if (how == RUN_DONE) {
		if (rc == HK_KEYOP_OK) {
			memset(&r, 0, sizeof(r));
			r.type = s->type | HK_KEYD_REPLY;
			r.id = s->id;
			r.key = s->key;
			r.data = out;
			r.datalen = outlen;
			rlen = hk_keyd_encode(reply, sizeof(reply), &r);
		} else {
			log_warn("peer pid %ld uid %u: request %u (type %u) "
			    "refused: %s: %s", (long)c->pid, (unsigned)c->uid,
			    (unsigned)s->id, (unsigned)s->type,
			    hk_keyd_status_name(status_of(rc)), err);
			rlen = hk_keyd_encode_error(reply, sizeof(reply), s->id,
			    s->key, status_of(rc), err);
		}
		if ((queued = thread_send(c, reply, rlen)) == 0)
			done_one(c);
		OPENSSL_cleanse(reply, rlen);
	}
	OPENSSL_cleanse(out, sizeof(out));
	OPENSSL_cleanse(s->in, s->inlen);
	s->inlen = 0;
	keyd_put(s->set);
	s->set = NULL;
	s->kk = NULL;
	s->rep = NULL;
	if (how != RUN_LOOP && !queued)
		conn_drop(c);
}

/* One message, without waiting: its size (MSG_TRUNC: the real size of
 * one longer than size), 0 at the end, -1 with errno; *trunc when it was
 * longer than a message may be. */
static ssize_t
recv_one(struct conn *c, unsigned char *buf, size_t size, int *trunc)
{
	struct iovec iov = { buf, size };
	struct msghdr mh;
	ssize_t n;

	do {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
	} while (n == -1 && errno == EINTR);
	*trunc = n > 0 && ((mh.msg_flags & MSG_TRUNC) != 0 ||
	    (size_t)n > HK_KEYD_MAX_MSG);
	return n;
}

/*
 * The reader of c (this thread holds the reader's reference): one
 * message, then c is armed again for the next one at once, unless its
 * limit of requests is reached.
 */
static void
thread_read(struct worker *w, struct conn *c)
{
	unsigned char buf[HK_KEYD_MAX_MSG + 1];
	ssize_t n;
	int park, more, extra, trunc;

	n = recv_one(c, buf, sizeof(buf), &trunc);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		arm(c);
		return;
	}
	if (n <= 0 || atomic_load(&c->closing)) {
		handoff(c, H_CLOSE, NULL, 0, 0);  /* the peer closed, or an error */
		return;
	}
	conn_hold(c);                   /* this request's */
	pthread_mutex_lock(&c->lock);
	park = ++c->pending >= HK_KEYD_MAX_INFLIGHT;
	c->paused = park;
	pthread_mutex_unlock(&c->lock);
	if (!park)
		arm(c);
	conn_hold(c);                   /* for the messages after this one */
	for (extra = 0;; extra++) {
		thread_request(w, c, buf, (size_t)n > sizeof(buf) ?
		    sizeof(buf) : (size_t)n, trunc);
		/*
		 * A busy client has sent more meanwhile: take the next one
		 * here rather than sleep and wake another thread for it (the
		 * reader, if woken too, finds nothing and re-arms).  Bounded,
		 * so one connection cannot keep a thread from the others.
		 */
		if (extra == MORE_MAX || atomic_load(&c->closing))
			break;
		pthread_mutex_lock(&c->lock);
		more = c->pending + 1 < HK_KEYD_MAX_INFLIGHT;
		if (more)
			c->pending++;
		pthread_mutex_unlock(&c->lock);
		if (!more)
			break;
		n = recv_one(c, buf, sizeof(buf), &trunc);
		if (n <= 0) {           /* nothing, or the end: the reader's */
			done_one(c);
			break;
		}
		conn_hold(c);           /* this request's */
	}
	conn_drop(c);
	OPENSSL_cleanse(buf, sizeof(buf));
}

static void *
thread_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev;
	int n;

	for (;;) {
		atomic_fetch_add(&srv.idle, 1);
		n = epoll_wait(srv.epfd, &ev, 1, -1);
		atomic_fetch_sub(&srv.idle, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		if (n == 0)
			continue;
		if (ev.data.ptr == NULL)
			break;          /* stopping */
		thread_read(w, ev.data.ptr);
	}
	return NULL;
}

/*
 * Same-thread calls past their deadline: answered here as the loop's own
 * would be (another replica, or TIMEOUT), their token taken out, and the
 * loop path used for that token until the call returns.
 */
static void
on_watch(struct ev_loop *loop, ev_timer *tw, int revents)
{
	struct worker *w;
	struct slot *s;
	struct conn *c;
	uint64_t now = now_ms();
	size_t i;
	char err[512];

	for (i = 0; i < srv.nw; i++) {
		w = &srv.w[i];
		pthread_mutex_lock(&srv.wlock);
		if (!w->busy || w->expired || now < w->deadline_ms) {
			pthread_mutex_unlock(&srv.wlock);
			continue;
		}
		w->expired = 1;
		c = w->c;
		conn_hold(c);
		pthread_mutex_lock(&srv.rlock);
		w->s.rep->stuck++;
		hk_keyop_expired_now(w->s.rep->k);
		take_out(w->s.kk, w->s.rep, "key operation timed out");
		pthread_mutex_unlock(&srv.rlock);
		s = atomic_load(&c->closing) ? NULL : slot_take(c);
		if (s != NULL) {
			s->id = w->s.id;
			s->key = w->s.key;
			s->type = w->s.type;
			s->kk = w->s.kk;
			s->set = w->s.set;
			keyd_ref(s->set);
			s->tried = w->s.tried;
			s->mech = w->s.mech;
			s->hash = w->s.hash;
			s->saltlen = w->s.saltlen;
			memcpy(s->in, w->s.in, w->s.inlen);
			s->inlen = w->s.inlen;
		}
		pthread_mutex_unlock(&srv.wlock);
		if (s != NULL) {
			if (s->kk->nr > 1 && start_op(s, err, sizeof(err)) ==
			    HK_KEYOP_OK)
				s->state = SLOT_RUNNING;
			else
				refuse(c, s, HK_KEYD_E_TIMEOUT, "key operation "
				    "timed out");
			if (flush(c) != 0)
				conn_kill(c);
		}
		conn_drop(c);
	}
}

/* Messages and ends of connections handed over by the threads. */
static void
on_queue(struct ev_loop *loop, ev_async *aw, int revents)
{
	struct handoff *h, *next;

	pthread_mutex_lock(&srv.qlock);
	h = srv.q;
	srv.q = NULL;
	srv.qtail = &srv.q;
	pthread_mutex_unlock(&srv.qlock);
	struct slot *s;

	for (; h != NULL; h = next) {
		next = h->next;
		if (h->kind == H_CLOSE)
			conn_close(h->c);       /* with the reader's reference */
		else {
			if (atomic_load(&h->c->closing))
				;
			else if (h->kind == H_REQUEST)
				request(h->c, h->buf, h->len, h->trunc);
			else if ((s = slot_take(h->c)) != NULL) {
				/* h->len <= HK_KEYD_MAX_MSG: encoded there */
				memcpy(s->reply, h->buf, h->len);
				s->replylen = h->len;
				s->state = SLOT_SENDING;
			} else {        /* cannot be: pending bounds the slots */
				log_error("peer pid %ld: no slot for a reply",
				    (long)h->c->pid);
				done_one(h->c);
			}
			if (!atomic_load(&h->c->closing) && flush(h->c) != 0)
				conn_kill(h->c);
			conn_drop(h->c);
		}
		OPENSSL_cleanse(h->buf, h->len);
		free(h);
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

/* Done with c (the loop; given the reader's reference, which goes with
 * the loop's).  Threads still running a request of c finish with it and
 * send nothing. */
static void
conn_close(struct conn *c)
{
	struct conn **pp;
	size_t i;

	atomic_store(&c->closing, 1);
	if (c->listed) {
		for (pp = &srv.conns; *pp != NULL; pp = &(*pp)->next)
			if (*pp == c) {
				*pp = c->next;
				break;
			}
		c->listed = 0;
	}
	(void)epoll_ctl(srv.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	ev_io_stop(srv.loop, &c->wio);
	/* A worker's late result is dropped with its operation. */
	for (i = 0; i < HK_KEYD_MAX_INFLIGHT; i++) {
		if (c->slots[i].state == SLOT_RUNNING &&
		    c->slots[i].rep != NULL) {
			pthread_mutex_lock(&srv.rlock);
			c->slots[i].rep->inflight--;
			pthread_mutex_unlock(&srv.rlock);
		}
		hk_keyop_free(c->slots[i].op);
		c->slots[i].op = NULL;
		c->slots[i].state = SLOT_FREE;
		if (c->slots[i].set != NULL)
			keyd_put(c->slots[i].set);
		c->slots[i].set = NULL;
	}
	/* A set replaced by a reload goes with its last user. */
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nkeys; i++)
		keyd_put(c->sets[i]);
	c->nkeys = 0;
	pthread_mutex_unlock(&c->lock);
	conn_drop(c);           /* the reader's */
	conn_drop(c);           /* the loop's */
}

/* The loop gives up on c (a send failed): its reader ends it, or the loop
 * does at once when it holds the reader's reference (c is parked). */
static void
conn_kill(struct conn *c)
{
	int parked;

	if (atomic_exchange(&c->closing, 1))
		return;
	shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_lock(&c->lock);
	parked = c->paused;
	c->paused = 0;
	pthread_mutex_unlock(&c->lock);
	if (parked)
		conn_close(c);
}

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	unsigned char msg[HK_KEYD_HDR_LEN + 128];
	struct epoll_event ev;
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
		atomic_init(&c->refs, 2);       /* the loop's, the reader's */
		pthread_mutex_init(&c->lock, NULL);
		ev_io_init(&c->wio, on_write, fd, EV_WRITE);
		c->wio.data = c;
		c->next = srv.conns;
		srv.conns = c;
		c->listed = 1;
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
		ev.data.ptr = c;
		if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			log_error("epoll_ctl: %s", strerror(errno));
			conn_close(c);
		}
	}
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("signal %d: stopping", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

/* New OPENs use the new set; a failed reload keeps the old one.  The
 * threads go on serving the old set's keys meanwhile. */
static void
on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	srv.d = keyd_reload(srv.d);
}

/* Twice the CPUs and two more: enough to keep every CPU signing while
 * others wait on a slow token; the loop's path takes the rest. */
static size_t
thread_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	n = 2 * n + 2;
	return n < THREADS_MIN ? THREADS_MIN : n > THREADS_MAX ? THREADS_MAX :
	    (size_t)n;
}

static int
threads_start(void)
{
	struct epoll_event ev = { EPOLLIN, { .ptr = NULL } };
	size_t i, want = thread_count();

	if ((srv.epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (srv.stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    epoll_ctl(srv.epfd, EPOLL_CTL_ADD, srv.stopfd, &ev) == -1) {
		log_error("epoll: %s", strerror(errno));
		return -1;
	}
	if ((srv.w = calloc(want, sizeof(*srv.w))) == NULL) {
		log_error("out of memory");
		return -1;
	}
	for (i = 0; i < want; i++) {
		if (pthread_create(&srv.w[i].th, NULL, thread_main,
		    &srv.w[i]) != 0)
			break;
		srv.w[i].started = 1;
		srv.nw++;
	}
	if (srv.nw == 0) {
		log_error("cannot start request threads");
		return -1;
	}
	return 0;
}

/* Wake every thread to stop; one inside a hung token call is left. */
static int
threads_stop(void)
{
	struct timespec ts;
	uint64_t one = 1;
	size_t i;
	int all = 0;

	if (srv.stopfd != -1)
		(void)write(srv.stopfd, &one, sizeof(one));
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	for (i = 0; i < srv.nw; i++)
		if (pthread_timedjoin_np(srv.w[i].th, NULL, &ts) != 0)
			all = -1;
	return all;
}

int
keyd_serve(struct keyd *d, int lfd)
{
	struct handoff *h;
	int rc = 0;

	memset(&srv, 0, sizeof(srv));
	srv.d = d;
	srv.lfd = lfd;
	srv.epfd = srv.stopfd = srv.efd = -1;
	srv.qtail = &srv.q;
	pthread_mutex_init(&srv.rlock, NULL);
	pthread_mutex_init(&srv.wlock, NULL);
	pthread_mutex_init(&srv.qlock, NULL);
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
	ev_timer_init(&srv.watch, on_watch, WATCH_SECS, WATCH_SECS);
	ev_async_init(&srv.qwake, on_queue);
	ev_io_start(srv.loop, &srv.lio);
	ev_io_start(srv.loop, &srv.eio);
	ev_signal_start(srv.loop, &srv.sterm);
	ev_signal_start(srv.loop, &srv.sint);
	ev_signal_start(srv.loop, &srv.shup);
	ev_timer_start(srv.loop, &srv.probe);
	ev_timer_start(srv.loop, &srv.watch);
	ev_async_start(srv.loop, &srv.qwake);
	if (threads_start() != 0) {
		rc = -1;
		goto out;
	}
	ev_run(srv.loop, 0);
out:
	if (threads_stop() != 0) {
		/* A thread is inside the token: leave everything to exit. */
		log_warn("a request thread is still in a token call; exiting "
		    "without closing the tokens");
		close(srv.lfd);
		return rc;
	}
	/* No thread runs now: every connection goes, whatever it holds. */
	on_queue(srv.loop, &srv.qwake, 0);
	while (srv.conns != NULL) {
		struct conn *c = srv.conns;

		atomic_store(&c->refs, 2);
		conn_close(c);
	}
	while ((h = srv.q) != NULL) {
		srv.q = h->next;
		free(h);
	}
	probes_free();
	free(srv.w);
	if (srv.epfd != -1)
		close(srv.epfd);
	if (srv.stopfd != -1)
		close(srv.stopfd);
	close(srv.efd);
	close(srv.lfd);
	keyd_put(srv.d);
	srv.d = NULL;
	return rc;
}
