/*
 * proxyv2.c - the PROXY protocol v2 encoder (proxyv2.h).
 *
 *   signature(12) ver|cmd(1) family(1) length(2, big-endian)
 *   addresses (IPv4 12 bytes, IPv6 36, none for UNSPEC)
 *   TLVs: type(1) length(2) value
 *
 * The SSL TLV's value is client(1) verify(4, big-endian) and sub-TLVs
 * of the same shape.  Every length is checked before a byte is written
 * past it, so the function never writes outside buf.
 */
#include "config.h"

#include <netinet/in.h>
#include <string.h>

#include "proxyv2.h"

#define PP2_TLV_HEAD 3
#define PP2_MAX_LEN  0xffff     /* the 16-bit length fields */

struct out {
	unsigned char *p;
	size_t size, n;
	int failed;
};

static void put(struct out *o, const void *v, size_t len)
{
	if (o->failed || len > o->size - o->n) {
		o->failed = 1;
		return;
	}
	memcpy(o->p + o->n, v, len);
	o->n += len;
}

static void put_u8(struct out *o, unsigned v)
{
	unsigned char b = (unsigned char)v;

	put(o, &b, 1);
}

static void put_u16(struct out *o, size_t v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	put(o, b, 2);
}

/* Write a 16-bit length at off, now that what it covers is written. */
static void patch_len(struct out *o, size_t off)
{
	size_t len = o->n - off - 2;

	if (o->failed)
		return;
	if (len > PP2_MAX_LEN) {
		o->failed = 1;
		return;
	}
	o->p[off] = (unsigned char)(len >> 8);
	o->p[off + 1] = (unsigned char)len;
}

static void put_tlv(struct out *o, unsigned type, const void *v, size_t len)
{
	if (v == NULL || len == 0)
		return;
	if (len > PP2_MAX_LEN) {
		o->failed = 1;
		return;
	}
	put_u8(o, type);
	put_u16(o, len);
	put(o, v, len);
}

static void put_str_tlv(struct out *o, unsigned type, const char *s)
{
	if (s != NULL)
		put_tlv(o, type, s, strlen(s));
}

/* The family byte and the address block, or UNSPEC and nothing. */
static void put_addrs(struct out *o, const struct sockaddr *src,
    const struct sockaddr *dst)
{
	if (src != NULL && dst != NULL && src->sa_family == AF_INET &&
	    dst->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)src;
		const struct sockaddr_in *d = (const void *)dst;

		put_u8(o, PP2_FAM_TCP4);
		put_u16(o, 0);          /* patched by the caller */
		put(o, &s->sin_addr, 4);
		put(o, &d->sin_addr, 4);
		put(o, &s->sin_port, 2);        /* already big-endian */
		put(o, &d->sin_port, 2);
	} else if (src != NULL && dst != NULL && src->sa_family == AF_INET6 &&
	    dst->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)src;
		const struct sockaddr_in6 *d = (const void *)dst;

		put_u8(o, PP2_FAM_TCP6);
		put_u16(o, 0);
		put(o, &s->sin6_addr, 16);
		put(o, &d->sin6_addr, 16);
		put(o, &s->sin6_port, 2);
		put(o, &d->sin6_port, 2);
	} else {
		put_u8(o, PP2_FAM_UNSPEC);
		put_u16(o, 0);
	}
}

static void put_ssl(struct out *o, const struct pp2_info *in)
{
	unsigned char verify[4];
	size_t off;

	if (!in->tls)
		return;
	verify[0] = (unsigned char)(in->verify >> 24);
	verify[1] = (unsigned char)(in->verify >> 16);
	verify[2] = (unsigned char)(in->verify >> 8);
	verify[3] = (unsigned char)in->verify;
	put_u8(o, PP2_TYPE_SSL);
	off = o->n;
	put_u16(o, 0);
	put_u8(o, PP2_CLIENT_SSL);
	put(o, verify, 4);
	put_str_tlv(o, PP2_SUBTYPE_SSL_VERSION, in->tls_version);
	put_str_tlv(o, PP2_SUBTYPE_SSL_CIPHER, in->cipher);
	patch_len(o, off);
}

int pp2_encode(const struct pp2_info *in, unsigned char *buf, size_t size,
    size_t *len)
{
	struct out o = { buf, size, 0, 0 };

	*len = 0;
	put(&o, PP2_SIGNATURE, PP2_SIGNATURE_LEN);
	put_u8(&o, PP2_VERSION | PP2_CMD_PROXY);
	put_addrs(&o, in->src, in->dst);
	put_tlv(&o, PP2_TYPE_ALPN, in->alpn, in->alpn_len);
	put_str_tlv(&o, PP2_TYPE_AUTHORITY, in->authority);
	put_ssl(&o, in);
	patch_len(&o, PP2_SIGNATURE_LEN + 2);
	if (o.failed)
		return -1;
	*len = o.n;
	return 0;
}
