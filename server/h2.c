/*
 * h2.c - HTTP/2 sessions (libnghttp2) answering with http_decide().
 *
 * nghttp2 does the framing, HPACK, stream states and flow control; this
 * file maps a stream's request headers to a struct http_request, submits
 * http_decide()'s response, and serves the body from the file as nghttp2
 * asks for it (a DATA frame at a time, only while the peer's window is
 * open).  h2_send() is called only when conn.c's output buffer is empty,
 * so a full socket holds frames back inside nghttp2 and nothing is read
 * ahead of it.
 *
 * Limits, each cut counted (enum h2_cut):
 * - SETTINGS_MAX_CONCURRENT_STREAMS (h2-max-streams): nghttp2 refuses a
 *   stream beyond it;
 * - SETTINGS_MAX_HEADER_LIST_SIZE is max-header-size, and max-headers
 *   counts fields: both are enforced here (RFC 9113 6.5.2 makes the
 *   setting advisory) with 431, as for HTTP/1.1;
 * - rapid reset (CVE-2023-44487): more than H2_RESET_MAX RST_STREAMs in
 *   H2_RESET_WINDOW seconds end the session with GOAWAY
 *   ENHANCE_YOUR_CALM;
 * - SETTINGS and PING floods: nghttp2 fails the session when more than
 *   H2_MAX_OUTBOUND_ACK acks wait unsent (NGHTTP2_ERR_FLOODED), or a
 *   SETTINGS frame carries more than H2_MAX_SETTINGS entries;
 * - a peer that never opens its window: conn.c's send timeout, since
 *   only HEADERS and DATA sent count as progress.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "accesslog.h"
#include "h2.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "site.h"

#define H2_MAGIC            0x68327373U /* "h2ss" */
#define H2_RESET_MAX        100
#define H2_RESET_WINDOW     10          /* seconds */
#define H2_MAX_OUTBOUND_ACK 100
#define H2_MAX_SETTINGS     32
#define H2_METHOD_MAX       16

const char *const h2_cut_names[H2_CUT_COUNT] = {
	"max_streams", "header_list", "rapid_reset", "settings_flood",
	"ping_flood", "send_timeout", "protocol",
};

struct h2_stream {
	int32_t id;
	struct h2_stream *prev, *next;
	char method[H2_METHOD_MAX];
	char *url;                      /* :path, allocated */
	size_t url_len;
	struct http_hval hdr[HTTP_H_COUNT];
	size_t list_size;               /* RFC 9113 6.5.2: name + value + 32 */
	unsigned nfields;
	int refuse;                     /* 414 or 431 once the head is read */
	bool responded;
	struct http_response resp;
	off_t sent;                     /* body bytes handed to nghttp2 */
	struct timespec wall, mono;
};

struct h2 {
	uint32_t magic;
	struct server *srv;
	SSL *ssl;
	const char *peer;
	nghttp2_session *ng;
	struct h2_stream *streams;      /* open ones */
	unsigned nstreams;
	unsigned long long progress;
	const uint8_t *pending;         /* from nghttp2_session_mem_send() */
	size_t pending_len;
	uint8_t last_type;              /* of the frame being received */
	unsigned resets;
	time_t reset_window;
	bool cut;                       /* a cut already counted */
};

/*
 * A refused stream counts each time (logged at debug: a client may send
 * many); a connection's end counts once, and is logged.
 */
static void h2_count_cut(struct h2 *h, enum h2_cut why)
{
	bool stream = why == H2_CUT_MAX_STREAMS || why == H2_CUT_HEADER_LIST;

	if (!stream && h->cut)
		return;
	h->srv->st.h2_cuts[why]++;
	if (stream) {
		log_debug("HTTP/2 from %s: stream refused (%s)", h->peer,
		    h2_cut_names[why]);
		return;
	}
	h->cut = true;
	log_info("HTTP/2 from %s: connection cut (%s)", h->peer,
	    h2_cut_names[why]);
}

static struct h2 *h2_from(void *data)
{
	struct h2 *h = data;

	if (h == NULL || h->magic != H2_MAGIC)
		abort();
	return h;
}

/* ---- streams ---- */

static struct h2_stream *h2_stream_new(struct h2 *h, int32_t id)
{
	struct h2_stream *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->id = id;
	st->resp.body_fd = -1;
	clock_gettime(CLOCK_REALTIME, &st->wall);
	clock_gettime(CLOCK_MONOTONIC, &st->mono);
	st->next = h->streams;
	if (h->streams != NULL)
		h->streams->prev = st;
	h->streams = st;
	h->nstreams++;
	h->progress++;
	h->srv->st.h2_streams++;
	return st;
}

static const char *h2_hval(const struct h2_stream *st, enum http_hdr id)
{
	const struct http_hval *v = &st->hdr[id];

	return v->lines == 1 && !v->overflow ? v->buf : NULL;
}

/* One access log line per stream, with protocol HTTP/2.0. */
static void h2_stream_log(struct h2 *h, const struct h2_stream *st)
{
	const struct site_rt *site = site_of(h->ssl);
	struct access_entry e;
	struct timespec now;

	if (h->srv->alog == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	memset(&e, 0, sizeof(e));
	e.client_addr = h->peer;
	e.start = st->wall;
	if (st->url != NULL) {
		e.method = st->method[0] != '\0' ? st->method : "-";
		e.target = st->url;
		e.protocol = "HTTP/2.0";
		e.referer = h2_hval(st, HTTP_H_REFERER);
		e.user_agent = h2_hval(st, HTTP_H_USER_AGENT);
	}
	e.status = st->responded ? st->resp.status : 0;
	e.bytes = (long long)st->sent;
	e.tls_version = SSL_get_version(h->ssl);
	e.cipher = SSL_get_cipher_name(h->ssl);
	e.sni = SSL_get_servername(h->ssl, TLSEXT_NAMETYPE_host_name);
	e.resumed = SSL_session_reused(h->ssl);
	e.request_secs = (double)(now.tv_sec - st->mono.tv_sec) +
	    (double)(now.tv_nsec - st->mono.tv_nsec) / 1e9;
	e.site = site != NULL ? site->name : NULL;
	accesslog_write(h->srv->alog, &e);
}

static void h2_stream_free(struct h2 *h, struct h2_stream *st)
{
	h2_stream_log(h, st);
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	h->nstreams--;
	http_response_clear(&st->resp);
	free(st->url);
	free(st);
}

/* ---- requests ---- */

static int h2_method(const char *m)
{
	if (strcmp(m, "GET") == 0)
		return HTTP_GET;
	if (strcmp(m, "HEAD") == 0)
		return HTTP_HEAD;
	return -1;      /* any other: 405 */
}

static int h2_pseudo(struct h2 *h, struct h2_stream *st, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen)
{
	if (nlen == 7 && memcmp(name, ":method", 7) == 0) {
		snprintf(st->method, sizeof(st->method), "%.*s", (int)vlen,
		    (const char *)value);
	} else if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
		if (vlen + sizeof(" HTTP/2.0") + strlen(st->method) >
		    h->srv->limits.max_request_line) {
			st->refuse = 414;
			return 0;
		}
		free(st->url);
		if ((st->url = strndup((const char *)value, vlen)) == NULL)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		st->url_len = vlen;
	}
	/* :scheme and :authority: one site per connection, chosen by SNI */
	return 0;
}

static int h2_on_header(nghttp2_session *ng, const nghttp2_frame *frame,
    const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen,
    uint8_t flags, void *data)
{
	struct h2 *h = h2_from(data);
	struct h2_stream *st;
	enum http_hdr id;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    (st = nghttp2_session_get_stream_user_data(ng,
	    frame->hd.stream_id)) == NULL || st->responded)
		return 0;       /* trailers, or a stream already answered */
	/* The target first: a long one is 414, as over HTTP/1.1. */
	if (nlen > 0 && name[0] == ':' &&
	    h2_pseudo(h, st, name, nlen, value, vlen) != 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	/* Fields as HTTP/1.1 header lines: :authority stands for Host. */
	if (nlen == 0 || name[0] != ':' ||
	    (nlen == 10 && memcmp(name, ":authority", 10) == 0))
		st->nfields++;
	st->list_size += nlen + vlen + 32;
	if (st->list_size > h->srv->limits.max_header_size ||
	    st->nfields > h->srv->limits.max_headers) {
		if (st->refuse == 0) {
			h2_count_cut(h, H2_CUT_HEADER_LIST);
			st->refuse = 431;
		}
		return 0;
	}
	if (nlen > 0 && name[0] == ':')
		return 0;
	id = http_hdr_lookup((const char *)name, nlen);
	if (id != HTTP_H_OTHER)
		http_hval_line(&st->hdr[id], id, (const char *)value, vlen);
	return 0;
}

static int h2_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame,
    void *data)
{
	struct h2 *h = h2_from(data);
	struct h2_stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if ((st = h2_stream_new(h, frame->hd.stream_id)) == NULL)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, st);
	return 0;
}

/* The body, from the generated page or the file, as nghttp2 asks for it. */
static ssize_t h2_read_body(nghttp2_session *ng, int32_t id, uint8_t *buf,
    size_t len, uint32_t *flags, nghttp2_data_source *src, void *data)
{
	struct h2_stream *st = src->ptr;
	struct http_response *r = &st->resp;
	off_t left = r->page_len > 0 ? (off_t)r->page_len - st->sent :
	    r->body_len - st->sent;
	ssize_t n;

	if ((off_t)len > left)
		len = (size_t)left;
	if (r->page_len > 0) {
		memcpy(buf, r->page + st->sent, len);
		n = (ssize_t)len;
	} else {
		do
			n = pread(r->body_fd, buf, len, r->body_off + st->sent);
		while (n == -1 && errno == EINTR);
		/* The file shrank under a sent content-length: reset. */
		if (n < 0 || (n == 0 && len > 0))
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	st->sent += n;
	if (st->sent == (r->page_len > 0 ? (off_t)r->page_len : r->body_len))
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return n;
}

static void h2_lower(char *dst, const char *src, size_t size)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < size; i++)
		dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ?
		    src[i] - 'A' + 'a' : src[i]);
	dst[i] = '\0';
}

/* Submit http_decide()'s answer: :status, the fields in lower case, body. */
static int h2_submit(struct h2 *h, struct h2_stream *st)
{
	struct http_response *r = &st->resp;
	nghttp2_nv nv[HTTP_FIELDS_MAX + 1];
	char names[HTTP_FIELDS_MAX][32], status[8];
	nghttp2_data_provider prd;
	size_t i, n = 0;
	bool body;

	snprintf(status, sizeof(status), "%d", r->status);
	nv[n++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status, 7,
	    strlen(status), NGHTTP2_NV_FLAG_NONE };
	for (i = 0; i < r->nfields; i++) {
		h2_lower(names[i], r->fields[i].name, sizeof(names[i]));
		nv[n++] = (nghttp2_nv){ (uint8_t *)names[i],
		    (uint8_t *)(r->vals + r->fields[i].off), strlen(names[i]),
		    r->fields[i].len, NGHTTP2_NV_FLAG_NONE };
	}
	body = r->page_len > 0 || (r->body_fd != -1 && r->body_len > 0);
	prd.source.ptr = st;
	prd.read_callback = h2_read_body;
	st->responded = true;
	h->srv->st.requests++;
	return nghttp2_submit_response(h->ng, st->id, nv, n, body ? &prd : NULL);
}

/*
 * A complete request head: decide and answer.  As over HTTP/1.1, a GET or
 * HEAD with a body (HEADERS without END_STREAM) is 413, not read.
 */
static int h2_request(struct h2 *h, struct h2_stream *st, bool end_stream)
{
	struct http_request rq = {
		.method = h2_method(st->method),
		.url = st->url,
		.url_len = st->url_len,
		.hdr = st->hdr,
		.keep_alive = true,
		.bad_host = false,      /* :authority or Host, both optional */
	};

	if (st->refuse == 0 && !end_stream &&
	    (rq.method == HTTP_GET || rq.method == HTTP_HEAD))
		st->refuse = 413;
	if (st->refuse != 0 || st->url == NULL) {
		http_respond_error(st->refuse != 0 ? st->refuse : 400, &st->resp);
	} else {
		http_decide(&site_of(h->ssl)->http, &rq, &st->resp);
	}
	return h2_submit(h, st) == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* Rapid reset: count the client's RST_STREAMs in a fixed window. */
static void h2_on_reset(struct h2 *h)
{
	time_t now = time(NULL);

	if (now - h->reset_window >= H2_RESET_WINDOW) {
		h->reset_window = now;
		h->resets = 0;
	}
	if (++h->resets <= H2_RESET_MAX)
		return;
	h2_count_cut(h, H2_CUT_RAPID_RESET);
	(void)nghttp2_session_terminate_session(h->ng, NGHTTP2_ENHANCE_YOUR_CALM);
}

static int h2_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame,
    void *data)
{
	struct h2 *h = h2_from(data);
	struct h2_stream *st;

	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
		if (frame->headers.cat != NGHTTP2_HCAT_REQUEST ||
		    (st = nghttp2_session_get_stream_user_data(ng,
		    frame->hd.stream_id)) == NULL || st->responded)
			return 0;
		return h2_request(h, st,
		    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
	case NGHTTP2_RST_STREAM:
		h2_on_reset(h);
		return 0;
	default:
		return 0;
	}
}

static int h2_on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd,
    void *data)
{
	struct h2 *h = h2_from(data);

	h->last_type = hd->type;
	/* A new stream while as many are open as allowed: nghttp2 refuses it. */
	if (hd->type == NGHTTP2_HEADERS &&
	    hd->stream_id > nghttp2_session_get_last_proc_stream_id(ng) &&
	    h->nstreams >= h->srv->h2_max_streams)
		h2_count_cut(h, H2_CUT_MAX_STREAMS);
	return 0;
}

static int h2_on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame,
    void *data)
{
	struct h2 *h = h2_from(data);

	if (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)
		h->progress++;
	/* nghttp2 ending the session itself: its reason is the debug data. */
	if (frame->hd.type == NGHTTP2_GOAWAY &&
	    frame->goaway.error_code != NGHTTP2_NO_ERROR)
		h2_count_cut(h, frame->goaway.opaque_data_len >= 8 &&
		    memcmp(frame->goaway.opaque_data, "SETTINGS", 8) == 0 ?
		    H2_CUT_SETTINGS_FLOOD : H2_CUT_PROTOCOL);
	return 0;
}

static int h2_on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code,
    void *data)
{
	struct h2 *h = h2_from(data);
	struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);

	if (st != NULL) {
		nghttp2_session_set_stream_user_data(ng, id, NULL);
		h2_stream_free(h, st);
	}
	return 0;
}

/* ---- the session ---- */

static int h2_session(struct h2 *h)
{
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_option *opt = NULL;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h->srv->h2_max_streams },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
		    (uint32_t)h->srv->limits.max_header_size },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
	};
	int rc = -1;

	if (nghttp2_session_callbacks_new(&cb) != 0 ||
	    nghttp2_option_new(&opt) != 0)
		goto end;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    h2_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
	    h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb,
	    h2_on_begin_frame);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb,
	    h2_on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    h2_on_stream_close);
	nghttp2_option_set_max_outbound_ack(opt, H2_MAX_OUTBOUND_ACK);
	nghttp2_option_set_max_settings(opt, H2_MAX_SETTINGS);
	/* Streams are forgotten once closed; nothing needs their priority. */
	nghttp2_option_set_no_closed_streams(opt, 1);
	if (nghttp2_session_server_new2(&h->ng, cb, h, opt) != 0)
		goto end;
	if (nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv,
	    sizeof(iv) / sizeof(iv[0])) != 0)
		goto end;
	rc = 0;
end:
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	return rc;
}

struct h2 *h2_new(struct server *s, SSL *ssl, const char *peer)
{
	struct h2 *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->magic = H2_MAGIC;
	h->srv = s;
	h->ssl = ssl;
	h->peer = peer;
	h->reset_window = time(NULL);
	if (h2_session(h) == -1) {
		h2_free(h);
		return NULL;
	}
	s->st.h2_conns++;
	return h;
}

void h2_free(struct h2 *h)
{
	if (h == NULL)
		return;
	while (h->streams != NULL)
		h2_stream_free(h, h->streams);
	/* No callback after this point: the streams are gone already. */
	nghttp2_session_del(h->ng);
	h->magic = 0;
	free(h);
}

int h2_recv(struct h2 *h, const char *buf, size_t len)
{
	ssize_t n = nghttp2_session_mem_recv(h->ng, (const uint8_t *)buf, len);

	if (n >= 0)
		return 0;
	if (n == NGHTTP2_ERR_FLOODED)
		h2_count_cut(h, h->last_type == NGHTTP2_PING ? H2_CUT_PING_FLOOD :
		    H2_CUT_SETTINGS_FLOOD);
	else
		h2_count_cut(h, H2_CUT_PROTOCOL);
	log_debug("HTTP/2 from %s: %s", h->peer, nghttp2_strerror((int)n));
	return -1;
}

ssize_t h2_send(struct h2 *h, char *buf, size_t cap)
{
	size_t used = 0, n;
	ssize_t got;

	while (used < cap) {
		if (h->pending_len == 0) {
			got = nghttp2_session_mem_send(h->ng, &h->pending);
			if (got < 0) {
				log_debug("HTTP/2 to %s: %s", h->peer,
				    nghttp2_strerror((int)got));
				return -1;
			}
			if (got == 0)
				break;
			h->pending_len = (size_t)got;
		}
		/* mem_send's bytes stay valid until its next call. */
		n = h->pending_len < cap - used ? h->pending_len : cap - used;
		memcpy(buf + used, h->pending, n);
		h->pending += n;
		h->pending_len -= n;
		used += n;
	}
	return (ssize_t)used;
}

bool h2_done(const struct h2 *h)
{
	return h->pending_len == 0 && !nghttp2_session_want_read(h->ng) &&
	    !nghttp2_session_want_write(h->ng);
}

unsigned h2_streams(const struct h2 *h)
{
	return h->nstreams;
}

unsigned long long h2_progress(const struct h2 *h)
{
	return h->progress;
}

void h2_stop(struct h2 *h)
{
	(void)nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(h->ng), NGHTTP2_NO_ERROR,
	    NULL, 0);
}

void h2_timed_out(struct h2 *h)
{
	if (h->nstreams > 0)
		h2_count_cut(h, H2_CUT_SEND_TIMEOUT);
}
