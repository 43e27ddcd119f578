/*
 * admin.c - the admin listener's connections (see admin.h).
 *
 * Each connection reads one request head (bounded in size and time),
 * answers it with Connection: close and goes.  The answers are generated
 * on the loop thread from counters read without locks.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "admin.h"
#include "http.h"
#include "log.h"
#include "loop.h"

#define ADMIN_MAX_CONNS 32
#define ADMIN_TIMEOUT   10.0
#define ADMIN_IN        4096

struct admin_conn {
	struct server *srv;
	struct admin_conn *prev, *next;
	int fd;
	ev_io io;
	ev_timer timer;
	struct http_session http;
	char in[ADMIN_IN];
	size_t in_len;
	struct strbuf out;
	size_t out_off;
	bool responding;
};

void sb_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->buf != NULL ? b->buf + b->len : NULL, room, fmt,
		    ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *grown = realloc(b->buf, cap);
		if (grown == NULL) {
			b->failed = 1;
			return;
		}
		b->buf = grown;
		b->cap = cap;
	}
}

static void admin_free(struct admin_conn *a)
{
	struct server *s = a->srv;

	ev_io_stop(s->ev, &a->io);
	ev_timer_stop(s->ev, &a->timer);
	close(a->fd);
	free(a->out.buf);
	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		s->admins = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	s->nadmins--;
	free(a);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 503: return "Service Unavailable";
	default:  return "Internal Server Error";
	}
}

/* The whole response, head and body, in a->out. */
static void admin_answer(struct admin_conn *a, bool parsed)
{
	struct strbuf body = { NULL, 0, 0, 0 };
	const struct http_parser *p = &a->http.parser;
	const char *type = "text/plain; charset=utf-8";
	char path[256];
	size_t n;
	int status;
	bool head = parsed && p->method == HTTP_HEAD;

	n = a->http.url_len < sizeof(path) - 1 ? a->http.url_len :
	    sizeof(path) - 1;
	memcpy(path, a->http.url, n);
	path[n] = '\0';
	path[strcspn(path, "?")] = '\0';
	if (!parsed) {
		status = 400;
		sb_printf(&body, "400 Bad Request\n");
	} else if (p->method != HTTP_GET && !head) {
		status = 405;
		sb_printf(&body, "405 Method Not Allowed\n");
	} else if (strcmp(path, "/healthz") == 0) {
		status = status_healthz(a->srv, &body);
	} else if (strcmp(path, "/metrics") == 0) {
		status = status_metrics(a->srv, &body);
		type = "text/plain; version=0.0.4; charset=utf-8";
	} else {
		status = 404;
		sb_printf(&body, "404 Not Found: this is the admin listener; "
		    "try /healthz or /metrics\n");
	}
	if (body.failed)
		status = 500;
	sb_printf(&a->out, "HTTP/1.1 %d %s\r\nServer: hsmtls\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n", status,
	    reason(status), type, body.failed ? 0 : body.len,
	    status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head && !body.failed && body.len > 0)
		sb_printf(&a->out, "%.*s", (int)body.len, body.buf);
	free(body.buf);
	a->responding = true;
}

static void admin_write(struct admin_conn *a)
{
	ssize_t n;

	while (a->out_off < a->out.len) {
		n = send(a->fd, a->out.buf + a->out_off, a->out.len - a->out_off,
		    MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_stop(a->srv->ev, &a->io);
			ev_io_set(&a->io, a->fd, EV_WRITE);
			ev_io_start(a->srv->ev, &a->io);
			return;
		}
		if (n <= 0)
			break;
		a->out_off += (size_t)n;
	}
	shutdown(a->fd, SHUT_WR);
	admin_free(a);
}

static void admin_read(struct admin_conn *a)
{
	size_t used;
	int status;
	ssize_t n;
	enum http_feed r;

	n = recv(a->fd, a->in, sizeof(a->in), 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		admin_free(a);
		return;
	}
	r = http_feed(&a->http, a->in, (size_t)n, &used, &status);
	if (r == HTTP_FEED_MORE)
		return;
	admin_answer(a, r == HTTP_FEED_REQUEST);
	admin_write(a);
}

static void admin_io_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct admin_conn *a = w->data;

	if (a->responding)
		admin_write(a);
	else
		admin_read(a);
}

static void admin_timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	admin_free(w->data);
}

void admin_conn_new(struct server *s, int fd)
{
	struct admin_conn *a;

	if (s->nadmins >= ADMIN_MAX_CONNS || (a = calloc(1, sizeof(*a))) == NULL) {
		close(fd);
		return;
	}
	a->srv = s;
	a->fd = fd;
	http_session_init(&a->http);
	ev_io_init(&a->io, admin_io_cb, fd, EV_READ);
	a->io.data = a;
	ev_timer_init(&a->timer, admin_timer_cb, ADMIN_TIMEOUT, 0.0);
	a->timer.data = a;
	a->next = s->admins;
	if (s->admins != NULL)
		s->admins->prev = a;
	s->admins = a;
	s->nadmins++;
	ev_io_start(s->ev, &a->io);
	ev_timer_start(s->ev, &a->timer);
}

void admin_free_all(struct server *s)
{
	while (s->admins != NULL)
		admin_free(s->admins);
}
