/*
 * hk.h - the hsmtls key-offload engine: the one header that server/ and
 * tokens/ include from engine/.
 *
 * An hk_engine owns one PKCS#11 module (loaded through libp11), the login
 * to one token, a pool of PKCS#11 sessions for key operations, and the
 * built-in OpenSSL provider "hsmtls" through which libssl and libcrypto
 * reach keys on the token.  An hk_key is a private key on that token; its
 * EVP_PKEY carries only public parts and a reference to the token object.
 *
 * Callers never see a PKCS#11 type.  Functions return 0/-1 or a pointer/NULL;
 * on failure hk_engine_error() holds one line naming the cause.
 */
#ifndef HK_H
#define HK_H

#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

struct hk_engine;
struct hk_key;

/* A log line from the engine (token state changes, recoveries): no PIN
 * or key material is ever in it.  Called from engine threads. */
typedef void (*hk_log_fn)(void *arg, const char *msg);

/*
 * Load the "default" and "hsmtls" providers into the default library
 * context.  Call before any SSL_CTX_new().  No PKCS#11 call is made yet, so
 * a process may still fork (daemonise) after this.
 */
struct hk_engine *hk_engine_new(void);

/* Close sessions, log out, C_Finalize, wipe the PIN.  NULL is a no-op. */
void hk_engine_free(struct hk_engine *e);

/* Where the engine's log lines go; none by default. */
void hk_engine_set_logger(struct hk_engine *e, hk_log_fn fn, void *arg);

/* Accept keys that are not sensitive or are extractable (a warning is
 * logged instead of refusing them).  Off by default. */
void hk_engine_set_allow_weak_key(struct hk_engine *e, int allow);

/* Accept keys that were imported or once extractable (CKA_LOCAL,
 * CKA_ALWAYS_SENSITIVE or CKA_NEVER_EXTRACTABLE false): a copy of them may
 * exist outside the token.  Off by default: such keys are refused.
 * allow-weak-key accepts them too (a weak key is worse).  Both settings
 * are applied again to a key loaded before, when it is loaded again. */
void hk_engine_set_allow_imported_key(struct hk_engine *e, int allow);

/* The last error, one line without a newline; "" when there is none. */
const char *hk_engine_error(const struct hk_engine *e);

/*
 * Find the private key named by an RFC 7512 URI and make it usable.
 *
 *  uri        "pkcs11:token=...;object=...;id=%01;type=private?pin-source=..."
 *  module     PKCS#11 module path (--module), or NULL: the URI's module-path,
 *             else the default (SoftHSMv2).  Both given and different: error.
 *  pin_file   PIN file (--pin-file), or NULL: the URI's pin-source.  Both
 *             given: error.  pin-value in the URI: error.
 *  cert       the certificate the key must match, or NULL.  When several
 *             keys match the URI, the one whose public key equals the
 *             certificate's is used; no match is an error.  Without a
 *             certificate the URI must match exactly one private key.
 *
 * The first call loads the module and logs in (exactly one C_Login: a wrong
 * PIN is reported, never retried).  Later calls must name the same module
 * and token.  The engine owns the returned key.
 */
struct hk_key *hk_engine_load_key(struct hk_engine *e, const char *uri,
    const char *module, const char *pin_file, X509 *cert);

/*
 * Read the PIN for the token of a key URI now (pin_file, or the URI's
 * pin-source), before the module is loaded: a server reads its PIN files
 * and then drops privileges before any PKCS#11 call.  The first
 * hk_engine_load_key() then uses this PIN.  0, or -1 (hk_engine_error()).
 */
int hk_engine_read_pin(struct hk_engine *e, const char *uri,
    const char *pin_file);

/*
 * A certificate stored on the token, named by a URI with type=cert (same
 * module, PIN and token rules as hk_engine_load_key; loads the token).
 */
X509 *hk_engine_load_cert(struct hk_engine *e, const char *uri,
    const char *module, const char *pin_file);

/*
 * The token= label of a PKCS#11 URI: 1 and label set, 0 when the URI names
 * no token label, -1 when it is not a valid URI (or the label is too long).
 */
int hk_uri_token_label(const char *uri, char *label, size_t len);

/* The EVP_PKEY for libssl/libcrypto, owned by the key: EVP_PKEY_up_ref() to keep it. */
EVP_PKEY *hk_key_pkey(const struct hk_key *k);

/* The key's canonical PKCS#11 URI (token, object label, id, type). */
const char *hk_key_uri(const struct hk_key *k);

/*
 * The key's custody report, one line without a newline, from the
 * attributes read once when the key was loaded (no token call):
 *   token=LABEL key=URI type=ec:P-256 sensitive=1 extractable=0
 *   never-extractable=1 always-sensitive=1 local=1 mechanisms=any
 * mechanisms: CKA_ALLOWED_MECHANISMS as CKM names, comma-separated, "any"
 * when empty or absent; a flag the token does not report is "unknown".
 * 0, or -1 when buf is too small (cut, NUL-terminated).  e may be NULL.
 */
int hk_key_custody(struct hk_engine *e, const struct hk_key *k, char *buf,
    size_t len);

/* 1 when the last hk_engine_load_key() failed because of the key itself
 * (its custody attributes, CKA_ALWAYS_AUTHENTICATE, no mechanism for it):
 * a configuration error, not a token fault; 0 otherwise. */
int hk_engine_key_refused(const struct hk_engine *e);

/* Why the key was accepted only by allow-weak-key or allow-imported-key
 * (one line naming the key and the attributes), "" for a key in custody. */
const char *hk_key_warning(const struct hk_key *k);

/*
 * Sign a fresh random value on the token and verify the signature with the
 * certificate's public key.  On mismatch the error names cert_name and the
 * key URI.
 */
int hk_key_selftest(struct hk_engine *e, const struct hk_key *k, X509 *cert,
    const char *cert_name);

/*
 * Allow TLS 1.2 RSA key exchange with this key.  Refused unless the key has
 * CKA_DECRYPT and the token offers raw RSA (CKM_RSA_X_509): the pre-master
 * secret is always unpadded here, in constant time, never by the token.
 */
int hk_key_enable_rsa_kx(struct hk_engine *e, struct hk_key *k);

/*
 * The worker pool that runs token operations for handshakes running inside
 * OpenSSL async jobs (SSL_MODE_ASYNC).  Zero fields keep the defaults:
 * threads = min(token's session limit - 2, 32), queue_max = 8 x threads,
 * deadline_ms = 2000.  Set before the first hk_engine_load_key().
 */
struct hk_pool_config {
	unsigned threads;
	unsigned queue_max;
	unsigned deadline_ms;
};
void hk_engine_set_pool(struct hk_engine *e, const struct hk_pool_config *c);

/*
 * While on (per thread), a key operation whose async job is resumed gives
 * up at once instead of waiting: set it around the last SSL call on a
 * connection being torn down with a paused job, so the job can finish and
 * the SSL be freed.  The worker's late result is discarded.
 */
void hk_async_cancel(int on);

/*
 * A completion sink: the key operations an event loop's async jobs start
 * are finished, by whatever thread, into the loop's sink, and the loop is
 * woken through the sink's one eventfd, written only when the sink was
 * empty.  Without a sink each operation makes an eventfd of its own, dups
 * it and registers it with the loop (five system calls a handshake more).
 *
 * hk_async_target(sink, cookie), on the loop's thread before each SSL call
 * that may run an async job: an operation that job starts completes into
 * sink with cookie (the connection).  The job then has no wait fd, so
 * SSL_get_all_async_fds() gives none.  NULL, NULL: back to eventfds.
 *
 * When hk_sink_fd() is readable, hk_sink_collect() calls ready(cookie) for
 * each finished operation whose job still waits, in completion order (a
 * job that stopped waiting, cancelled or timed out, is skipped).
 * hk_sink_close(), after the loop's last SSL call: later completions are
 * dropped, and the sink is freed with the last operation that names it.
 */
struct hk_sink;
struct hk_sink *hk_sink_new(void);
int hk_sink_fd(const struct hk_sink *sink);
void hk_sink_collect(struct hk_sink *sink, void (*ready)(void *cookie));
void hk_sink_close(struct hk_sink *sink);
void hk_async_target(struct hk_sink *sink, void *cookie);

/* Counters, read without stopping the engine. */
struct hk_stats {
	uint64_t sign_ok;       /* C_Sign calls that returned CKR_OK */
	uint64_t sign_failed;   /* C_Sign calls that failed */
	uint64_t decrypt_ok;    /* pre-master decryptions (valid or not) */
	uint64_t decrypt_failed; /* token failures while decrypting */
	uint64_t sessions_open; /* PKCS#11 sessions open now */
	uint64_t workers;       /* pool threads */
	uint64_t workers_busy;  /* pool threads inside a token call now */
	uint64_t queue_depth;   /* operations waiting for a worker now */
	uint64_t ops_rejected;  /* refused: queue full */
	uint64_t ops_expired;   /* past their deadline */
	uint64_t ops_cancelled; /* given up: the connection went away */
	uint64_t token_up;      /* 1 while the token answers, 0 while down */
	uint64_t token_down_events;
	uint64_t token_recoveries;
	uint64_t relogins;
	uint64_t key_refinds;
	uint64_t session_replacements;
	uint64_t login_blocked; /* 1: a PIN was refused; no login until rebuilt */
};
void hk_engine_stats(const struct hk_engine *e, struct hk_stats *st);

/*
 * Metrics, read without stopping the engine (atomic counters; the readers
 * take no lock a key operation waits for).  Readers may see one operation
 * counted in one figure and not yet in another; each figure only grows.
 */

/*
 * Latency of token key operations: every C_SignInit + C_Sign and every
 * C_DecryptInit + C_Decrypt the engine makes (worker pool or synchronous),
 * measured around the module calls, retries after a mended fault counted
 * as operations of their own.  bucket[i] counts operations that took at
 * most hk_latency_bounds[i] seconds, cumulatively (Prometheus "le"
 * buckets), so bucket[HK_LATENCY_BUCKETS - 1] == count.  sum is in seconds.
 */
#define HK_LATENCY_BUCKETS 13
extern const double hk_latency_bounds[HK_LATENCY_BUCKETS]; /* last: INFINITY */
struct hk_latency {
	uint64_t bucket[HK_LATENCY_BUCKETS];
	uint64_t count;
	double sum;
};
void hk_engine_latency(const struct hk_engine *e, struct hk_latency *out);

/*
 * Token faults: each non-OK CKR value the module returned in a key
 * operation (C_OpenSession for a pooled session, C_SignInit, C_Sign,
 * C_DecryptInit, C_Decrypt), by name ("CKR_DEVICE_ERROR"; unlisted codes
 * "CKR_0x%08lx").  fn is called once per distinct value seen, in the order
 * first seen; values beyond the table's 32 are counted under "other".
 * Called from the caller's thread, before hk_engine_faults returns.
 */
typedef void (*hk_fault_fn)(void *arg, const char *ckr_name, uint64_t count);
void hk_engine_faults(const struct hk_engine *e, hk_fault_fn fn, void *arg);

/*
 * Key operations by key and mechanism, successful and failed (failed: the
 * token refused, the queue was full, the deadline passed or the connection
 * went away).  Mechanisms: "rsa-pkcs", "rsa-pss" (CKM_RSA_PKCS_PSS),
 * "rsa-pss-raw" (PSS encoded here, raw RSA on the token), "ecdsa",
 * "rsa-decrypt-raw" (TLS 1.2 RSA key exchange; a ciphertext judged bad in
 * constant time still counts as ok).  fn is called for every loaded key
 * and every mechanism with a non-zero count; a key with no operations yet
 * is not reported.  The key list itself is read without a lock: call this
 * from the thread that loads keys, or once loading is done.
 */
typedef void (*hk_keyop_fn)(void *arg, const char *key_uri,
    const char *key_label, const char *mechanism, uint64_t ok,
    uint64_t failed);
void hk_engine_key_ops(const struct hk_engine *e, hk_keyop_fn fn, void *arg);

/* The label of the engine's token; "" before a key or certificate has been
 * loaded from it. */
const char *hk_engine_token_label(const struct hk_engine *e);

/*
 * Key operations for callers outside OpenSSL (hsmtls-keyd): started on the
 * worker pool with the caller's eventfd, which is written when the
 * operation is done or its deadline (hk_pool_config.deadline_ms) has
 * passed; the caller's event loop then collects the result.  Nothing here
 * waits on the token.  Counted like the provider's operations.
 */
enum hk_sign_mech {
	HK_SIGN_RSA_PKCS,       /* in: the digest (md_nid names it; DigestInfo
	                         * is made here), or with NID_undef the bytes
	                         * the token pads with PKCS#1 type 1 */
	HK_SIGN_RSA_PSS,        /* in: the digest; saltlen bytes of salt; the
	                         * engine pads when the token lacks PSS */
	HK_SIGN_ECDSA,          /* in: the digest; out: r||s */
};

enum hk_keyop_status {
	HK_KEYOP_OK,
	HK_KEYOP_INVALID,       /* input size, digest or salt out of range */
	HK_KEYOP_NOT_ALLOWED,   /* mechanism not for this key, or decryption
	                         * not enabled (hk_key_enable_rsa_kx) */
	HK_KEYOP_BUSY,          /* the pool's queue is full */
	HK_KEYOP_TOKEN,         /* the token failed (err says how) */
	HK_KEYOP_TIMEOUT,       /* deadline passed */
	HK_KEYOP_DATA,          /* decrypt: the token rejected the ciphertext
	                         * as data (not below the modulus) */
	HK_KEYOP_PENDING,       /* not done yet */
};

struct hk_key_info {
	int type;               /* EVP_PKEY_RSA or EVP_PKEY_EC */
	int bits;
	int rsa_kx;             /* hk_key_enable_rsa_kx() succeeded */
	int pss_on_token;       /* RSA: 1 CKM_RSA_PKCS_PSS, 0 padded here */
};
void hk_key_get_info(const struct hk_key *k, struct hk_key_info *info);

/* The key's public half (default provider), owned by the key. */
EVP_PKEY *hk_key_public(const struct hk_key *k);

struct hk_pending;

/* Start an operation: HK_KEYOP_OK and *out, or a status (err set). */
int hk_keyop_sign(struct hk_key *k, enum hk_sign_mech mech, int md_nid,
    int saltlen, const unsigned char *in, size_t inlen, int efd,
    struct hk_pending **out, char *err, size_t errlen);
/* Raw RSA (CKM_RSA_X_509) of a ciphertext of modulus size; the result is
 * the whole block, never judged here. */
int hk_keyop_decrypt_raw(struct hk_key *k, const unsigned char *in,
    size_t inlen, int efd, struct hk_pending **out, char *err, size_t errlen);
/*
 * HK_KEYOP_PENDING while the operation runs; else its status, with the
 * signature or block in out (*outlen: its size in, the length out).  The
 * operation is counted the first time a final status is returned.
 */
int hk_keyop_result(struct hk_pending *op, unsigned char *out, size_t *outlen,
    char *err, size_t errlen);
/*
 * The same two operations run on the calling thread (for a caller with
 * threads to spare: the key daemon's request threads), counted alike.
 * HK_KEYOP_BUSY, nothing done, when as many calls as the token has pool
 * workers already run: use the pool then.  No deadline: the caller
 * watches hk_key_deadline_ms() itself.
 */
int hk_keyop_sign_now(struct hk_key *k, enum hk_sign_mech mech, int md_nid,
    int saltlen, const unsigned char *in, size_t inlen, unsigned char *out,
    size_t *outlen, char *err, size_t errlen);
int hk_keyop_decrypt_raw_now(struct hk_key *k, const unsigned char *in,
    size_t inlen, unsigned char *out, size_t *outlen, char *err,
    size_t errlen);
unsigned hk_key_deadline_ms(const struct hk_key *k);
/* The caller gave up on a same-thread call at its deadline: counted with
 * the pool's expired operations. */
void hk_keyop_expired_now(struct hk_key *k);
/* Done with it: a running operation is abandoned (its late result is
 * dropped, its eventfd write lands on the operation's own duplicate). */
void hk_keyop_free(struct hk_pending *op);

/*
 * Key daemon mode: this engine loads no module and reads no PIN; its keys
 * are opened on hsmtls-keyd's socket at path (connected now: -1 with
 * hk_engine_error() when the daemon is not there) and every operation is
 * a message to it.  The event loop watches hk_engine_keyd_fd() for
 * reading and calls hk_engine_keyd_dispatch() when it is readable, and
 * hk_engine_keyd_tick() every 100 ms or so (deadlines, reconnection; the
 * fd changes when it reconnects; -1 while the daemon is gone).  Call
 * these from the thread that runs the handshakes.
 */
int hk_engine_use_keyd(struct hk_engine *e, const char *path);
int hk_engine_keyd_fd(const struct hk_engine *e);
/*
 * Several loop threads: each watches its own descriptor for the daemon's
 * socket, a dup taken with hk_engine_keyd_dup() (-1 while not connected;
 * *gen says which connection), and takes a new one (closing its old dup)
 * whenever hk_engine_keyd_generation() differs from *gen.  The engine
 * shuts the socket down when the connection is lost, so every dup reads
 * the end at once.
 */
unsigned long hk_engine_keyd_generation(const struct hk_engine *e);
int hk_engine_keyd_dup(struct hk_engine *e, unsigned long *gen);
void hk_engine_keyd_dispatch(struct hk_engine *e);
void hk_engine_keyd_tick(struct hk_engine *e);

#endif /* HK_H */
