/*
 * fuzz_proxyv2.c - the PROXY protocol v2 encoder (server/proxyv2.c),
 * against a decoder written here from proxy-protocol.txt 2.2: whatever
 * the addresses, value lengths and buffer size, a header that is built
 * decodes back to exactly the input (family, addresses, ports, TLVs), and
 * one that is refused wrote nothing past the buffer and left *len 0.
 *
 * Input: 1 byte of flags (bits 0-1: no addresses, IPv4, IPv6, mixed; bit
 * 2: the SSL TLV), 2 bytes of buffer size, 36 bytes of address material,
 * then the values ALPN, authority, version, cipher, each a 2-byte length
 * and its bytes (repeated to the length when the input is shorter, so
 * lengths near 65535 are reached from short inputs).
 */
#include "config.h"

#include <netinet/in.h>
#include <string.h>

#include "fuzz.h"
#include "proxyv2.h"

#define BIG (4 * 65536 + 1024)

static unsigned char vals[4][65536 + 8];
static unsigned char out[BIG + 1];

static size_t
take(const uint8_t **d, size_t *n, unsigned char *dst, size_t want)
{
	size_t len, i;

	if (*n < 2)
		return 0;
	len = (size_t)(*d)[0] << 8 | (*d)[1];
	*d += 2;
	*n -= 2;
	for (i = 0; i < len && len <= want; i++)
		dst[i] = *n > 0 ? (*d)[i % *n] : 'x';
	if (len > *n) {
		*d += *n;
		*n = 0;
	} else {
		*d += len;
		*n -= len;
	}
	dst[len <= want ? len : 0] = '\0';
	return len <= want ? len : 0;
}

/* The TLV of type t in [p, end) must hold exactly (v, n); n 0: absent. */
static const unsigned char *
check_tlv(const unsigned char *p, const unsigned char *end, unsigned t,
    const unsigned char *v, size_t n)
{
	size_t len;

	if (n == 0)
		return p;
	if (end - p < 3 || p[0] != t)
		fuzz_fail("TLV 0x%02x missing", t);
	len = (size_t)p[1] << 8 | p[2];
	if (len != n || (size_t)(end - p - 3) < len || memcmp(p + 3, v, n))
		fuzz_fail("TLV 0x%02x: length %zu, want %zu", t, len, n);
	return p + 3 + len;
}

static void
check(const struct pp2_info *in, const unsigned char *b, size_t len,
    size_t lens[4])
{
	const unsigned char *p = b + 16, *end = b + len, *ssl_end;
	size_t body = (size_t)b[14] << 8 | b[15];
	int fam = in->src == NULL ? 0 : in->src->sa_family == in->dst->sa_family ?
	    in->src->sa_family : 0;

	if (len < 16 || memcmp(b, PP2_SIGNATURE, 12) || b[12] != 0x21 ||
	    body != len - 16)
		fuzz_fail("bad fixed header (len %zu, body %zu)", len, body);
	if (fam == AF_INET) {
		const struct sockaddr_in *s = (const void *)in->src;

		if (b[13] != PP2_FAM_TCP4 || memcmp(p, &s->sin_addr, 4) ||
		    memcmp(p + 8, &s->sin_port, 2))
			fuzz_fail("IPv4 block");
		p += 12;
	} else if (fam == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)in->src;

		if (b[13] != PP2_FAM_TCP6 || memcmp(p, &s->sin6_addr, 16) ||
		    memcmp(p + 32, &s->sin6_port, 2))
			fuzz_fail("IPv6 block");
		p += 36;
	} else if (b[13] != PP2_FAM_UNSPEC) {
		fuzz_fail("family 0x%02x, want UNSPEC", b[13]);
	}
	p = check_tlv(p, end, PP2_TYPE_ALPN, vals[0], lens[0]);
	p = check_tlv(p, end, PP2_TYPE_AUTHORITY, vals[1], lens[1]);
	if (in->tls) {
		if (end - p < 8 || p[0] != PP2_TYPE_SSL ||
		    (size_t)(p[1] << 8 | p[2]) != (size_t)(end - p - 3) ||
		    p[3] != PP2_CLIENT_SSL || memcmp(p + 4, "\0\0\0\1", 4))
			fuzz_fail("SSL TLV head");
		ssl_end = end;
		p = check_tlv(p + 8, ssl_end, PP2_SUBTYPE_SSL_VERSION, vals[2],
		    lens[2]);
		p = check_tlv(p, ssl_end, PP2_SUBTYPE_SSL_CIPHER, vals[3],
		    lens[3]);
	}
	if (p != end)
		fuzz_fail("%zu bytes after the last TLV", (size_t)(end - p));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in a4[2];
	struct sockaddr_in6 a6[2];
	struct pp2_info in;
	size_t cap, len = 99, lens[4], i;
	int kind;

	if (size < 39)
		return 0;
	memset(&in, 0, sizeof(in));
	memset(a4, 0, sizeof(a4));
	memset(a6, 0, sizeof(a6));
	kind = data[0] & 3;
	in.tls = (data[0] & 4) != 0;
	in.verify = 1;
	cap = ((size_t)data[1] << 8 | data[2]) * 4 + (data[0] >> 6);
	for (i = 0; i < 2; i++) {
		a4[i].sin_family = AF_INET;
		memcpy(&a4[i].sin_addr, data + 3 + 4 * i, 4);
		memcpy(&a4[i].sin_port, data + 11 + 2 * i, 2);
		a6[i].sin6_family = AF_INET6;
		memcpy(&a6[i].sin6_addr, data + 3 + 16 * i, 16);
		memcpy(&a6[i].sin6_port, data + 35 + 2 * i, 2);
	}
	if (kind == 1) {
		in.src = (struct sockaddr *)&a4[0];
		in.dst = (struct sockaddr *)&a4[1];
	} else if (kind == 2) {
		in.src = (struct sockaddr *)&a6[0];
		in.dst = (struct sockaddr *)&a6[1];
	} else if (kind == 3) {
		in.src = (struct sockaddr *)&a4[0];
		in.dst = (struct sockaddr *)&a6[1];
	}
	data += 39;
	size -= 39;
	for (i = 0; i < 4; i++)
		lens[i] = take(&data, &size, vals[i], 65535);
	in.alpn = vals[0];
	in.alpn_len = lens[0];
	/* Text values stop at a NUL, as the encoder's strlen() does. */
	in.authority = (const char *)vals[1];
	lens[1] = strlen(in.authority);
	in.tls_version = (const char *)vals[2];
	lens[2] = strlen(in.tls_version);
	in.cipher = (const char *)vals[3];
	lens[3] = strlen(in.cipher);
	if (!in.tls)
		lens[2] = lens[3] = 0;
	if (cap > BIG)
		cap = BIG;
	out[cap] = 0xa5;
	if (pp2_encode(&in, out, cap, &len) == 0) {
		if (len > cap)
			fuzz_fail("length %zu over the buffer's %zu", len, cap);
		check(&in, out, len, lens);
	} else if (len != 0) {
		fuzz_fail("refused, but *len is %zu", len);
	}
	if (out[cap] != 0xa5)
		fuzz_fail("wrote past the buffer of %zu bytes", cap);
	return 0;
}
