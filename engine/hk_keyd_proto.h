/*
 * hk_keyd_proto.h - the key daemon's wire protocol, version 1
 * (doc/keyd-protocol.md): one SOCK_SEQPACKET message per request and per
 * reply, a 16-byte header in network byte order, then the payload.
 *
 * Pure functions: no I/O, no allocation, no PKCS#11.  A decoded message
 * points into the caller's buffer.  hk_keyd_decode() takes any bytes and
 * length (it is the function to fuzz).
 */
#ifndef HK_KEYD_PROTO_H
#define HK_KEYD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define HK_KEYD_VERSION 1
#define HK_KEYD_HDR_LEN 16
#define HK_KEYD_MAX_MSG 4096            /* header included */
#define HK_KEYD_MAX_PAYLOAD (HK_KEYD_MAX_MSG - HK_KEYD_HDR_LEN)
#define HK_KEYD_MAX_URI 1024
#define HK_KEYD_MAX_TEXT 255            /* ERROR text, token labels */
#define HK_KEYD_MAX_KEYS 16             /* OPENed keys per connection */
#define HK_KEYD_MAX_INFLIGHT 64         /* requests per connection */
#define HK_KEYD_MAX_TOKENS 32           /* in a HEALTH reply */

enum hk_keyd_type {
	HK_KEYD_OPEN = 1,
	HK_KEYD_SIGN = 2,
	HK_KEYD_DECRYPT_RAW = 3,
	HK_KEYD_HEALTH = 4,
	HK_KEYD_REPLY = 0x80,           /* OR-ed into a request's type */
	HK_KEYD_ERROR = 0xff,
};

/* ERROR status codes. */
enum hk_keyd_status {
	HK_KEYD_OK = 0,
	HK_KEYD_E_MALFORMED = 1,        /* short, bad length, bad field */
	HK_KEYD_E_VERSION = 2,
	HK_KEYD_E_TOO_BIG = 3,
	HK_KEYD_E_TYPE = 4,             /* unknown or not a request */
	HK_KEYD_E_NO_KEY = 5,           /* key number not opened here */
	HK_KEYD_E_NOT_FOUND = 6,        /* OPEN: no served key matches */
	HK_KEYD_E_LIMIT = 7,            /* OPEN: too many keys */
	HK_KEYD_E_NOT_ALLOWED = 8,      /* mechanism or operation refused */
	HK_KEYD_E_TOKEN = 9,            /* the token failed */
	HK_KEYD_E_TIMEOUT = 10,         /* deadline passed */
	HK_KEYD_E_BUSY = 11,            /* the token's queue is full */
	HK_KEYD_E_DATA = 12,            /* ciphertext rejected as data */
	HK_KEYD_E_INTERNAL = 13,
	HK_KEYD_E_PEER = 14,            /* this peer may not use the daemon */
};

enum hk_keyd_mech {
	HK_KEYD_MECH_RSA_PKCS = 1,
	HK_KEYD_MECH_RSA_PSS = 2,
	HK_KEYD_MECH_ECDSA = 3,
};

/* Digests, by protocol number (not OpenSSL NIDs). */
enum hk_keyd_hash {
	HK_KEYD_HASH_NONE = 0,
	HK_KEYD_HASH_SHA1 = 1,
	HK_KEYD_HASH_SHA224 = 2,
	HK_KEYD_HASH_SHA256 = 3,
	HK_KEYD_HASH_SHA384 = 4,
	HK_KEYD_HASH_SHA512 = 5,
};

enum hk_keyd_keytype {
	HK_KEYD_KEY_EC = 1,
	HK_KEYD_KEY_RSA = 2,
};

/* OPEN reply capability bits. */
#define HK_KEYD_CAP_RSA_KX   0x01       /* DECRYPT_RAW allowed */
#define HK_KEYD_CAP_PSS_TOKEN 0x02      /* CKM_RSA_PKCS_PSS on the token */
#define HK_KEYD_CAP_PSS_SOFT 0x04       /* PSS encoded by the daemon */

/* HEALTH counters, in this order. */
enum hk_keyd_counter {
	HK_KEYD_C_SIGN_OK,
	HK_KEYD_C_SIGN_FAILED,
	HK_KEYD_C_DECRYPT_OK,
	HK_KEYD_C_DECRYPT_FAILED,
	HK_KEYD_C_REJECTED,
	HK_KEYD_C_EXPIRED,
	HK_KEYD_C_DOWN_EVENTS,
	HK_KEYD_C_RECOVERIES,
	HK_KEYD_C_RELOGINS,
	HK_KEYD_C_SESSIONS,
	HK_KEYD_C_BUSY,
	HK_KEYD_C_QUEUE,
	HK_KEYD_NCOUNTERS
};

struct hk_keyd_token {
	const char *label;              /* not NUL-terminated when decoded */
	size_t labellen;                /* its length, also for encoding */
	int up;
	uint64_t c[HK_KEYD_NCOUNTERS];  /* missing ones decode as 0 */
};

struct hk_keyd_msg {
	uint8_t version, type;
	uint16_t flags;
	uint32_t id, key;
	uint32_t length;                /* payload bytes */

	/* OPEN request */
	const unsigned char *uri;
	size_t urilen;
	/* OPEN request and reply */
	const unsigned char *spki;      /* DER SubjectPublicKeyInfo */
	size_t spkilen;
	/* OPEN reply */
	uint8_t keytype, caps;
	uint16_t bits;
	/* SIGN request */
	uint8_t mech, hash;
	uint16_t saltlen;
	/* SIGN: digest; DECRYPT_RAW: ciphertext; their replies: the result */
	const unsigned char *data;
	size_t datalen;
	/* ERROR reply */
	uint16_t status;
	const char *text;
	size_t textlen;
	/* HEALTH reply: encode from tokens[]; decoded: walk with
	 * hk_keyd_health_token() */
	const struct hk_keyd_token *tokens;
	size_t ntokens;
	const unsigned char *health;
	size_t healthlen;
};

/*
 * Decode one message of len bytes.  HK_KEYD_OK, or a status saying what is
 * wrong; once the header was read (len >= 16), m->id and m->type hold
 * what it says, so an ERROR reply can carry the id.  Replies and requests
 * both decode; a caller checks m->type is one it expects.
 */
int hk_keyd_decode(const unsigned char *buf, size_t len,
    struct hk_keyd_msg *m);

/* Entry i of a decoded HEALTH reply; 0 or -1 (past the end). */
int hk_keyd_health_token(const struct hk_keyd_msg *m, size_t i,
    struct hk_keyd_token *t);

/*
 * Encode m (type and the fields of that type; length is computed) into
 * buf.  The message length, or 0 when it does not fit in size or
 * HK_KEYD_MAX_MSG or a field is out of range.
 */
size_t hk_keyd_encode(unsigned char *buf, size_t size,
    const struct hk_keyd_msg *m);

/* An ERROR reply to id: a convenience over hk_keyd_encode. */
size_t hk_keyd_encode_error(unsigned char *buf, size_t size, uint32_t id,
    uint32_t key, int status, const char *text);

/* Digest size of a protocol hash number; 0 for none or unknown. */
size_t hk_keyd_hash_size(int hash);
/* OpenSSL NID of a protocol hash number (NID_undef for none), -1 unknown;
 * and back (-1 for a digest the protocol does not carry). */
int hk_keyd_hash_nid(int hash);
int hk_keyd_hash_from_nid(int nid);

const char *hk_keyd_status_name(int status);

#endif /* HK_KEYD_PROTO_H */
