/*
 * keyd_proto.c - encoder and decoder of the key daemon's messages
 * (hk_keyd_proto.h, doc/keyd-protocol.md).
 *
 * The decoder reads nothing beyond len, accepts no trailing byte and no
 * field out of range: every message has exactly one valid encoding.
 */
#include "config.h"

#include <string.h>
#include <openssl/obj_mac.h>
#include "hk_keyd_proto.h"

#define MAX_DATA 1024           /* a digest, block or signature: 8192-bit RSA */

struct rd {
	const unsigned char *p;
	size_t left;
};

static int
rd_u8(struct rd *r, uint8_t *v)
{
	if (r->left < 1)
		return -1;
	*v = r->p[0];
	r->p++;
	r->left--;
	return 0;
}

static int
rd_u16(struct rd *r, uint16_t *v)
{
	if (r->left < 2)
		return -1;
	*v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	r->left -= 2;
	return 0;
}

static int
rd_u64(struct rd *r, uint64_t *v)
{
	int i;

	if (r->left < 8)
		return -1;
	*v = 0;
	for (i = 0; i < 8; i++)
		*v = *v << 8 | r->p[i];
	r->p += 8;
	r->left -= 8;
	return 0;
}

static int
rd_bytes(struct rd *r, size_t n, const unsigned char **out)
{
	if (r->left < n)
		return -1;
	*out = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static int
printable(const unsigned char *s, size_t n, int space)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < (space ? 0x20 : 0x21) || s[i] > 0x7e)
			return 0;
	return 1;
}

size_t
hk_keyd_hash_size(int hash)
{
	switch (hash) {
	case HK_KEYD_HASH_SHA1:   return 20;
	case HK_KEYD_HASH_SHA224: return 28;
	case HK_KEYD_HASH_SHA256: return 32;
	case HK_KEYD_HASH_SHA384: return 48;
	case HK_KEYD_HASH_SHA512: return 64;
	}
	return 0;
}

int
hk_keyd_hash_nid(int hash)
{
	switch (hash) {
	case HK_KEYD_HASH_NONE:   return NID_undef;
	case HK_KEYD_HASH_SHA1:   return NID_sha1;
	case HK_KEYD_HASH_SHA224: return NID_sha224;
	case HK_KEYD_HASH_SHA256: return NID_sha256;
	case HK_KEYD_HASH_SHA384: return NID_sha384;
	case HK_KEYD_HASH_SHA512: return NID_sha512;
	}
	return -1;
}

int
hk_keyd_hash_from_nid(int nid)
{
	int h;

	for (h = HK_KEYD_HASH_NONE; h <= HK_KEYD_HASH_SHA512; h++)
		if (hk_keyd_hash_nid(h) == nid)
			return h;
	return -1;
}

const char *
hk_keyd_status_name(int status)
{
	static const char *const names[] = {
		"ok", "malformed", "version", "too-big", "type", "no-key",
		"not-found", "limit", "not-allowed", "token", "timeout",
		"busy", "data", "internal", "peer",
	};

	if (status < 0 || (size_t)status >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[status];
}

static int
decode_open(struct rd *r, struct hk_keyd_msg *m)
{
	uint16_t n;

	if (m->key != 0 || rd_u16(r, &n) != 0 || n == 0 ||
	    n > HK_KEYD_MAX_URI || rd_bytes(r, n, &m->uri) != 0 ||
	    !printable(m->uri, n, 0))
		return HK_KEYD_E_MALFORMED;
	m->urilen = n;
	if (rd_u16(r, &n) != 0 || n == 0 || rd_bytes(r, n, &m->spki) != 0)
		return HK_KEYD_E_MALFORMED;
	m->spkilen = n;
	return HK_KEYD_OK;
}

static int
decode_open_reply(struct rd *r, struct hk_keyd_msg *m)
{
	uint16_t n;

	if (m->key == 0 || rd_u8(r, &m->keytype) != 0 ||
	    (m->keytype != HK_KEYD_KEY_EC && m->keytype != HK_KEYD_KEY_RSA) ||
	    rd_u8(r, &m->caps) != 0 || (m->caps & ~0x07) != 0 ||
	    rd_u16(r, &m->bits) != 0 || m->bits == 0 ||
	    rd_u16(r, &n) != 0 || n == 0 || rd_bytes(r, n, &m->spki) != 0)
		return HK_KEYD_E_MALFORMED;
	m->spkilen = n;
	return HK_KEYD_OK;
}

static int
decode_sign(struct rd *r, struct hk_keyd_msg *m)
{
	size_t hs;

	if (rd_u8(r, &m->mech) != 0 || rd_u8(r, &m->hash) != 0 ||
	    rd_u16(r, &m->saltlen) != 0)
		return HK_KEYD_E_MALFORMED;
	if (m->mech < HK_KEYD_MECH_RSA_PKCS || m->mech > HK_KEYD_MECH_ECDSA ||
	    hk_keyd_hash_nid(m->hash) == -1)
		return HK_KEYD_E_MALFORMED;
	if (m->mech == HK_KEYD_MECH_RSA_PSS && m->hash == HK_KEYD_HASH_NONE)
		return HK_KEYD_E_MALFORMED;     /* PSS hashes with MGF1 */
	if (m->mech != HK_KEYD_MECH_RSA_PSS && m->saltlen != 0)
		return HK_KEYD_E_MALFORMED;
	m->datalen = r->left;
	if (rd_bytes(r, r->left, &m->data) != 0 || m->datalen == 0 ||
	    m->datalen > MAX_DATA)
		return HK_KEYD_E_MALFORMED;
	hs = hk_keyd_hash_size(m->hash);
	if (hs != 0 && m->datalen != hs)
		return HK_KEYD_E_MALFORMED;
	return HK_KEYD_OK;
}

static int
decode_data(struct rd *r, struct hk_keyd_msg *m)
{
	m->datalen = r->left;
	if (m->datalen == 0 || m->datalen > MAX_DATA ||
	    rd_bytes(r, r->left, &m->data) != 0)
		return HK_KEYD_E_MALFORMED;
	return HK_KEYD_OK;
}

/* Walks the whole list once, so a decoded reply is known to be whole. */
static int
health_walk(struct rd *r, size_t want, struct hk_keyd_token *t)
{
	uint8_t n, lablen, up, nc;
	const unsigned char *lab;
	uint64_t v;
	size_t i, j;

	if (rd_u8(r, &n) != 0 || n > HK_KEYD_MAX_TOKENS)
		return -1;
	for (i = 0; i < n; i++) {
		if (rd_u8(r, &lablen) != 0 || rd_bytes(r, lablen, &lab) != 0 ||
		    !printable(lab, lablen, 1) || rd_u8(r, &up) != 0 ||
		    up > 1 || rd_u8(r, &nc) != 0)
			return -1;
		if (i == want) {
			memset(t, 0, sizeof(*t));
			t->label = (const char *)lab;
			t->labellen = lablen;
			t->up = up;
		}
		for (j = 0; j < nc; j++) {
			if (rd_u64(r, &v) != 0)
				return -1;
			if (i == want && j < HK_KEYD_NCOUNTERS)
				t->c[j] = v;
		}
	}
	if (r->left != 0)
		return -1;
	return want == (size_t)-1 || want < n ? 0 : -1;
}

int
hk_keyd_health_token(const struct hk_keyd_msg *m, size_t i,
    struct hk_keyd_token *t)
{
	struct rd r = { m->health, m->healthlen };

	if (m->type != (HK_KEYD_HEALTH | HK_KEYD_REPLY) || i == (size_t)-1)
		return -1;
	return health_walk(&r, i, t);
}

static int
decode_error(struct rd *r, struct hk_keyd_msg *m)
{
	uint8_t n;
	const unsigned char *t;

	if (rd_u16(r, &m->status) != 0 || m->status == HK_KEYD_OK ||
	    rd_u8(r, &n) != 0 || rd_bytes(r, n, &t) != 0 ||
	    !printable(t, n, 1))
		return HK_KEYD_E_MALFORMED;
	m->text = (const char *)t;
	m->textlen = n;
	return HK_KEYD_OK;
}

int
hk_keyd_decode(const unsigned char *buf, size_t len, struct hk_keyd_msg *m)
{
	struct rd r;
	struct hk_keyd_token t;
	int rc;

	memset(m, 0, sizeof(*m));
	if (buf == NULL || len < HK_KEYD_HDR_LEN)
		return HK_KEYD_E_MALFORMED;
	m->version = buf[0];
	m->type = buf[1];
	m->flags = (uint16_t)(buf[2] << 8 | buf[3]);
	m->id = get32(buf + 4);
	m->key = get32(buf + 8);
	m->length = get32(buf + 12);
	if (m->version != HK_KEYD_VERSION)
		return HK_KEYD_E_VERSION;
	if (len > HK_KEYD_MAX_MSG)
		return HK_KEYD_E_TOO_BIG;
	if (m->length != len - HK_KEYD_HDR_LEN || m->flags != 0)
		return HK_KEYD_E_MALFORMED;
	r.p = buf + HK_KEYD_HDR_LEN;
	r.left = m->length;
	switch (m->type) {
	case HK_KEYD_OPEN:
		rc = decode_open(&r, m);
		break;
	case HK_KEYD_OPEN | HK_KEYD_REPLY:
		rc = decode_open_reply(&r, m);
		break;
	case HK_KEYD_SIGN:
		rc = decode_sign(&r, m);
		break;
	case HK_KEYD_DECRYPT_RAW:
	case HK_KEYD_SIGN | HK_KEYD_REPLY:
	case HK_KEYD_DECRYPT_RAW | HK_KEYD_REPLY:
		rc = decode_data(&r, m);
		break;
	case HK_KEYD_HEALTH:
		rc = m->key == 0 && r.left == 0 ? HK_KEYD_OK :
		    HK_KEYD_E_MALFORMED;
		break;
	case HK_KEYD_HEALTH | HK_KEYD_REPLY:
		m->health = r.p;
		m->healthlen = r.left;
		rc = health_walk(&r, (size_t)-1, &t) == 0 ? HK_KEYD_OK :
		    HK_KEYD_E_MALFORMED;
		if (rc == HK_KEYD_OK)
			m->ntokens = m->healthlen > 0 ? m->health[0] : 0;
		break;
	case HK_KEYD_ERROR:
		rc = decode_error(&r, m);
		break;
	default:
		return HK_KEYD_E_TYPE;
	}
	if (rc == HK_KEYD_OK && r.left != 0)
		rc = HK_KEYD_E_MALFORMED;       /* trailing bytes */
	return rc;
}

/* ---- encoding ---- */

struct wr {
	unsigned char *p;
	size_t left;
	int bad;
};

static void
wr_u8(struct wr *w, unsigned v)
{
	if (v > 0xff || w->left < 1) {
		w->bad = 1;
		return;
	}
	*w->p++ = (unsigned char)v;
	w->left--;
}

static void
wr_u16(struct wr *w, size_t v)
{
	if (v > 0xffff || w->left < 2) {
		w->bad = 1;
		return;
	}
	*w->p++ = (unsigned char)(v >> 8);
	*w->p++ = (unsigned char)v;
	w->left -= 2;
}

static void
wr_u32(struct wr *w, uint32_t v)
{
	wr_u16(w, v >> 16);
	wr_u16(w, v & 0xffff);
}

static void
wr_u64(struct wr *w, uint64_t v)
{
	wr_u32(w, (uint32_t)(v >> 32));
	wr_u32(w, (uint32_t)v);
}

static void
wr_bytes(struct wr *w, const void *s, size_t n)
{
	if (w->left < n || (n > 0 && s == NULL)) {
		w->bad = 1;
		return;
	}
	if (n > 0)
		memcpy(w->p, s, n);
	w->p += n;
	w->left -= n;
}

static void
encode_health(struct wr *w, const struct hk_keyd_msg *m)
{
	size_t i, j;

	if (m->ntokens > HK_KEYD_MAX_TOKENS) {
		w->bad = 1;
		return;
	}
	wr_u8(w, (unsigned)m->ntokens);
	for (i = 0; i < m->ntokens && !w->bad; i++) {
		const struct hk_keyd_token *t = &m->tokens[i];
		/* labellen is the length, always: a decoded label of length
		 * 0 points into the message, where no NUL need follow. */
		size_t n = t->labellen;

		if (n > HK_KEYD_MAX_TEXT || (n > 0 &&
		    !printable((const unsigned char *)t->label, n, 1))) {
			w->bad = 1;
			return;
		}
		wr_u8(w, (unsigned)n);
		wr_bytes(w, t->label, n);
		wr_u8(w, t->up ? 1 : 0);
		wr_u8(w, HK_KEYD_NCOUNTERS);
		for (j = 0; j < HK_KEYD_NCOUNTERS; j++)
			wr_u64(w, t->c[j]);
	}
}

size_t
hk_keyd_encode(unsigned char *buf, size_t size, const struct hk_keyd_msg *m)
{
	struct wr w;
	size_t len;

	if (size > HK_KEYD_MAX_MSG)
		size = HK_KEYD_MAX_MSG;
	if (buf == NULL || size < HK_KEYD_HDR_LEN)
		return 0;
	w.p = buf + HK_KEYD_HDR_LEN;
	w.left = size - HK_KEYD_HDR_LEN;
	w.bad = 0;
	switch (m->type) {
	case HK_KEYD_OPEN:
		if (m->urilen == 0 || m->urilen > HK_KEYD_MAX_URI ||
		    m->spkilen == 0)
			return 0;
		wr_u16(&w, m->urilen);
		wr_bytes(&w, m->uri, m->urilen);
		wr_u16(&w, m->spkilen);
		wr_bytes(&w, m->spki, m->spkilen);
		break;
	case HK_KEYD_OPEN | HK_KEYD_REPLY:
		if (m->spkilen == 0)
			return 0;
		wr_u8(&w, m->keytype);
		wr_u8(&w, m->caps);
		wr_u16(&w, m->bits);
		wr_u16(&w, m->spkilen);
		wr_bytes(&w, m->spki, m->spkilen);
		break;
	case HK_KEYD_SIGN:
		wr_u8(&w, m->mech);
		wr_u8(&w, m->hash);
		wr_u16(&w, m->saltlen);
		/* FALLTHROUGH */
	case HK_KEYD_DECRYPT_RAW:
	case HK_KEYD_SIGN | HK_KEYD_REPLY:
	case HK_KEYD_DECRYPT_RAW | HK_KEYD_REPLY:
		if (m->datalen == 0 || m->datalen > MAX_DATA)
			return 0;
		wr_bytes(&w, m->data, m->datalen);
		break;
	case HK_KEYD_HEALTH:
		break;
	case HK_KEYD_HEALTH | HK_KEYD_REPLY:
		encode_health(&w, m);
		break;
	case HK_KEYD_ERROR:
		if (m->status == HK_KEYD_OK || m->textlen > HK_KEYD_MAX_TEXT ||
		    !printable((const unsigned char *)m->text, m->textlen, 1))
			return 0;
		wr_u16(&w, m->status);
		wr_u8(&w, (unsigned)m->textlen);
		wr_bytes(&w, m->text, m->textlen);
		break;
	default:
		return 0;
	}
	if (w.bad)
		return 0;
	len = (size_t)(w.p - buf);
	w.p = buf;
	w.left = HK_KEYD_HDR_LEN;
	wr_u8(&w, HK_KEYD_VERSION);
	wr_u8(&w, m->type);
	wr_u16(&w, 0);
	wr_u32(&w, m->id);
	wr_u32(&w, m->key);
	wr_u32(&w, (uint32_t)(len - HK_KEYD_HDR_LEN));
	return len;
}

size_t
hk_keyd_encode_error(unsigned char *buf, size_t size, uint32_t id,
    uint32_t key, int status, const char *text)
{
	struct hk_keyd_msg m;
	char clean[HK_KEYD_MAX_TEXT];
	size_t i;

	/* A cause may quote input: keep it short and printable. */
	for (i = 0; text != NULL && text[i] != '\0' && i < sizeof(clean); i++)
		clean[i] = text[i] >= 0x20 && text[i] <= 0x7e ? text[i] : '?';
	memset(&m, 0, sizeof(m));
	m.type = HK_KEYD_ERROR;
	m.id = id;
	m.key = key;
	m.status = (uint16_t)status;
	m.text = clean;
	m.textlen = i;
	return hk_keyd_encode(buf, size, &m);
}
