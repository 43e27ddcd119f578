/*
 * proxyv2.h - the PROXY protocol version 2 header (HAProxy's
 * proxy-protocol.txt, section 2.2) that a TLS-terminated connection sends
 * first to its backend: the client's and the listener's addresses, and
 * TLVs for ALPN, the SNI host name and the TLS version and cipher.
 *
 * A pure function: no socket, no libssl, no allocation, so the unit test
 * and the fuzz harness drive it with any input.
 */
#ifndef SRV_PROXYV2_H
#define SRV_PROXYV2_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PP2_SIGNATURE           "\r\n\r\n\0\r\nQUIT\n"
#define PP2_SIGNATURE_LEN       12
#define PP2_HEADER_LEN          16      /* signature, ver/cmd, family, length */

#define PP2_VERSION             0x20
#define PP2_CMD_LOCAL           0x00
#define PP2_CMD_PROXY           0x01
#define PP2_FAM_UNSPEC          0x00
#define PP2_FAM_TCP4            0x11
#define PP2_FAM_TCP6            0x21

#define PP2_TYPE_ALPN           0x01
#define PP2_TYPE_AUTHORITY      0x02
#define PP2_TYPE_SSL            0x20
#define PP2_SUBTYPE_SSL_VERSION 0x21
#define PP2_SUBTYPE_SSL_CIPHER  0x23
#define PP2_CLIENT_SSL          0x01

/*
 * What the header says.  src and dst (the client's and the listener's
 * address) may be NULL: then, or when they are not both AF_INET or both
 * AF_INET6, the header carries no addresses (family UNSPEC), and the
 * backend uses the connection's own.  A NULL or empty string leaves its
 * TLV out; tls false leaves out PP2_TYPE_SSL and its sub-TLVs.
 */
struct pp2_info {
	const struct sockaddr *src, *dst;
	const unsigned char *alpn;      /* the negotiated protocol, not text */
	size_t alpn_len;
	const char *authority;          /* the SNI host name */
	int tls;                        /* the client spoke TLS */
	uint32_t verify;                /* 0: a client certificate verified */
	const char *tls_version;        /* "TLSv1.3" */
	const char *cipher;             /* "TLS_AES_128_GCM_SHA256" */
};

/*
 * Write the header into buf (size bytes); its length in *len.  0, or -1
 * when it does not fit in size or a value is too long for its 16-bit
 * length (then buf holds no complete header and *len is 0).
 */
int pp2_encode(const struct pp2_info *in, unsigned char *buf, size_t size,
    size_t *len);

#endif /* SRV_PROXYV2_H */
