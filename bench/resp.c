/*
 * resp.c - just enough of an HTTP/1.1 response reader to know when a
 * response is complete: the status, Content-Length and Connection: close.
 * Chunked bodies are refused: a static file server sends lengths, and a
 * benchmark that cannot tell where a response ends would measure nothing.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench.h"

void resp_reset(struct resp *r)
{
	r->hlen = 0;
	r->hdr_done = 0;
	r->status = 0;
	r->conn_close = 0;
	r->clen = -1;
	r->body = 0;
}

/* Does header line [p, p+n) name field NAME?  Sets *val to its value. */
static int header_is(const char *p, size_t n, const char *name,
    const char **val, size_t *vlen)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(p, name, k) != 0 || p[k] != ':')
		return 0;
	p += k + 1;
	n -= k + 1;
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	*val = p;
	*vlen = n;
	return 1;
}

static int parse_clen(const char *v, size_t n, long long *out)
{
	long long x = 0;
	size_t i;

	if (n == 0 || n > 15)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	*out = x;
	return 0;
}

static int parse_status(struct resp *r, const char *p, size_t n)
{
	if (n < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' ||
	    !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
	    !isdigit((unsigned char)p[11]))
		return -1;
	r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	return 0;
}

static int parse_field(struct resp *r, const char *p, size_t n)
{
	const char *v;
	size_t vn;

	if (header_is(p, n, "content-length", &v, &vn))
		return parse_clen(v, vn, &r->clen);
	if (header_is(p, n, "transfer-encoding", &v, &vn))
		return -1;
	if (header_is(p, n, "connection", &v, &vn) && vn == 5 &&
	    strncasecmp(v, "close", 5) == 0)
		r->conn_close = 1;
	return 0;
}

/* The header block [hdr, hdr+end) is complete: parse its lines. */
static int parse_header(struct resp *r, size_t end)
{
	const char *p = r->hdr, *lim = r->hdr + end, *eol;
	int first = 1;

	for (; p < lim; p = eol + 2) {
		eol = memmem(p, (size_t)(lim - p), "\r\n", 2);
		if (eol == NULL)
			eol = lim;
		if (first ? parse_status(r, p, (size_t)(eol - p)) :
		    parse_field(r, p, (size_t)(eol - p)))
			return -1;
		first = 0;
	}
	/* 1xx, 204 and 304 have no body (no HEAD requests are sent). */
	if (r->status < 200 || r->status == 204 || r->status == 304)
		r->clen = 0;
	return 0;
}

static int body_done(const struct resp *r)
{
	if (r->clen >= 0 && r->body > r->clen)
		return -1;      /* more than announced: no pipelining here */
	return r->clen >= 0 && r->body == r->clen;
}

int resp_feed(struct resp *r, const char *buf, size_t n)
{
	size_t room, take, scan, end;
	const char *crlf;

	if (r->hdr_done) {
		r->body += (long long)n;
		return body_done(r);
	}
	room = sizeof(r->hdr) - r->hlen;
	take = n < room ? n : room;
	/* Rescan 3 old bytes: the blank line may straddle two reads. */
	scan = r->hlen > 3 ? r->hlen - 3 : 0;
	memcpy(r->hdr + r->hlen, buf, take);
	r->hlen += take;
	crlf = memmem(r->hdr + scan, r->hlen - scan, "\r\n\r\n", 4);
	if (crlf == NULL)
		return take < n || r->hlen == sizeof(r->hdr) ? -1 : 0;
	end = (size_t)(crlf - r->hdr);
	r->hdr_done = 1;
	if (parse_header(r, end) == -1)
		return -1;
	r->body = (long long)(r->hlen - (end + 4)) + (long long)(n - take);
	return body_done(r);
}

int resp_eof(const struct resp *r)
{
	return r->hdr_done && r->clen < 0 ? 1 : -1;
}
