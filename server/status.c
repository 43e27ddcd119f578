/*
 * status.c - the admin listener's pages: /healthz and /metrics
 * (Prometheus text format 0.0.4), generated on the loop thread from
 * counters that are read without stopping anything.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "admin.h"
#include "hk.h"
#include "loop.h"
#include "site.h"
#include "ticket.h"

static const char *const ver_names[VER_COUNT] = { "TLSv1.2", "TLSv1.3",
    "unknown" };

int status_healthz(struct server *s, struct strbuf *b)
{
	struct token_rt *t;
	struct hk_stats st;
	int down = 0;

	for (t = s->tokens->list; t != NULL; t = t->next) {
		hk_engine_stats(t->e, &st);
		/* An engine that never opened a token has nothing to report. */
		if (!st.token_up && (st.workers > 0 || t->keyd != NULL)) {
			sb_printf(b, "%stoken '%s' is down", down ? "\n" : "",
			    t->name != NULL ? t->name : "");
			down++;
		}
	}
	if (down) {
		sb_printf(b, "\n");
		return 503;
	}
	sb_printf(b, "ok\n");
	return 200;
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void sb_label(struct strbuf *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			sb_printf(b, "\\%c", *v);
		else if (*v == '\n')
			sb_printf(b, "\\n");
		else
			sb_printf(b, "%c", *v);
	}
}

static void help(struct strbuf *b, const char *name, const char *type,
    const char *text)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* The engine's counters, one family per field, a sample per token. */
static const struct {
	const char *name, *type, *help;
	size_t off;
} token_metrics[] = {
#define M(name, type, field, help) \
	{ name, type, help, offsetof(struct hk_stats, field) }
	M("hsmtls_token_up", "gauge", token_up,
	    "1 while the token answers, 0 while it is down"),
	M("hsmtls_token_sign_total", "counter", sign_ok,
	    "signatures made on the token"),
	M("hsmtls_token_sign_failures_total", "counter", sign_failed,
	    "signatures the token failed"),
	M("hsmtls_token_decrypt_total", "counter", decrypt_ok,
	    "RSA pre-master secrets decrypted on the token"),
	M("hsmtls_token_decrypt_failures_total", "counter", decrypt_failed,
	    "RSA decryptions the token failed"),
	M("hsmtls_token_down_total", "counter", token_down_events,
	    "times the token went down"),
	M("hsmtls_token_recoveries_total", "counter", token_recoveries,
	    "times the token came back"),
	M("hsmtls_token_relogins_total", "counter", relogins,
	    "logins after the token lost ours"),
	M("hsmtls_token_key_refinds_total", "counter", key_refinds,
	    "keys found again after their handles went stale"),
	M("hsmtls_token_session_replacements_total", "counter",
	    session_replacements, "PKCS#11 sessions replaced after faults"),
	M("hsmtls_token_sessions_open", "gauge", sessions_open,
	    "PKCS#11 sessions open now"),
	M("hsmtls_pool_workers", "gauge", workers,
	    "key-operation worker threads"),
	M("hsmtls_pool_workers_busy", "gauge", workers_busy,
	    "workers inside a token call now"),
	M("hsmtls_pool_queue_depth", "gauge", queue_depth,
	    "key operations waiting for a worker now"),
	M("hsmtls_pool_rejected_total", "counter", ops_rejected,
	    "key operations refused: queue full"),
	M("hsmtls_pool_expired_total", "counter", ops_expired,
	    "key operations past their deadline"),
	M("hsmtls_pool_cancelled_total", "counter", ops_cancelled,
	    "key operations given up because the client left"),
#undef M
};

/* name{token="T"}: the start of a per-token sample. */
static void token_sample(struct strbuf *b, const char *name,
    const char *token)
{
	sb_printf(b, "%s{token=\"", name);
	sb_label(b, token);
	sb_printf(b, "\"");
}

static void token_counters(struct strbuf *b, const struct tokens *tk)
{
	struct token_rt *t;
	struct hk_stats st;
	size_t i;

	for (i = 0; i < sizeof(token_metrics) / sizeof(token_metrics[0]); i++) {
		help(b, token_metrics[i].name, token_metrics[i].type,
		    token_metrics[i].help);
		for (t = tk->list; t != NULL; t = t->next) {
			hk_engine_stats(t->e, &st);
			token_sample(b, token_metrics[i].name, t->name);
			sb_printf(b, "} %llu\n", (unsigned long long)
			    *(const uint64_t *)((const char *)&st +
			    token_metrics[i].off));
		}
	}
}

struct metric_arg {
	struct strbuf *b;
	const char *token;
};

static void metric_fault(void *arg, const char *ckr, uint64_t n)
{
	struct metric_arg *m = arg;

	token_sample(m->b, "hsmtls_token_faults_total", m->token);
	sb_printf(m->b, ",code=\"%s\"} %llu\n", ckr, (unsigned long long)n);
}

static void metric_keyop(void *arg, const char *uri, const char *label,
    const char *mech, uint64_t ok, uint64_t failed)
{
	struct metric_arg *m = arg;
	int i;

	for (i = 0; i < 2; i++) {
		token_sample(m->b, "hsmtls_key_operations_total", m->token);
		sb_printf(m->b, ",key=\"");
		sb_label(m->b, label);
		sb_printf(m->b, "\",mechanism=\"%s\",result=\"%s\"} %llu\n", mech,
		    i == 0 ? "ok" : "failed",
		    (unsigned long long)(i == 0 ? ok : failed));
	}
}

/* Per token: the latency histogram, faults by CKR name, key operations. */
static void token_details(struct strbuf *b, const struct tokens *tk)
{
	struct token_rt *t;
	struct hk_latency lat;
	struct metric_arg m = { b, NULL };
	int i;

	help(b, "hsmtls_token_operation_seconds", "histogram",
	    "time of each C_Sign or C_Decrypt on the token");
	for (t = tk->list; t != NULL; t = t->next) {
		hk_engine_latency(t->e, &lat);
		for (i = 0; i < HK_LATENCY_BUCKETS; i++) {
			token_sample(b, "hsmtls_token_operation_seconds_bucket",
			    t->name);
			if (i == HK_LATENCY_BUCKETS - 1)
				sb_printf(b, ",le=\"+Inf\"} %llu\n",
				    (unsigned long long)lat.bucket[i]);
			else
				sb_printf(b, ",le=\"%g\"} %llu\n",
				    hk_latency_bounds[i],
				    (unsigned long long)lat.bucket[i]);
		}
		token_sample(b, "hsmtls_token_operation_seconds_sum", t->name);
		sb_printf(b, "} %.6f\n", lat.sum);
		token_sample(b, "hsmtls_token_operation_seconds_count", t->name);
		sb_printf(b, "} %llu\n", (unsigned long long)lat.count);
	}
	help(b, "hsmtls_token_faults_total", "counter",
	    "error codes the token returned, by CKR name");
	for (t = tk->list; t != NULL; t = t->next) {
		m.token = t->name;
		hk_engine_faults(t->e, metric_fault, &m);
	}
	help(b, "hsmtls_key_operations_total", "counter",
	    "key operations by key, mechanism and result");
	for (t = tk->list; t != NULL; t = t->next) {
		m.token = t->name;
		hk_engine_key_ops(t->e, metric_keyop, &m);
	}
}

static void upstream_counters(struct strbuf *b, const struct server_totals *st)
{
	int i;

	help(b, "hsmtls_upstream_connections_total", "counter",
	    "TLS connections passed to a site's upstream (backend)");
	sb_printf(b, "hsmtls_upstream_connections_total %llu\n",
	    st->upstream_conns);
	help(b, "hsmtls_upstream_connect_failures_total", "counter",
	    "backends that failed a connection before answering, by reason");
	for (i = 0; i < UPSTREAM_FAIL_COUNT; i++)
		sb_printf(b, "hsmtls_upstream_connect_failures_total{reason="
		    "\"%s\"} %llu\n", upstream_fail_names[i],
		    st->upstream_failures[i]);
	help(b, "hsmtls_upstream_bytes_total", "counter",
	    "bytes passed between clients and upstreams, by direction");
	sb_printf(b, "hsmtls_upstream_bytes_total{direction=\"to_upstream\"} "
	    "%llu\n", st->upstream_bytes_to_up);
	sb_printf(b, "hsmtls_upstream_bytes_total{direction=\"to_client\"} "
	    "%llu\n", st->upstream_bytes_to_cl);
}

static void h2_counters(struct strbuf *b, const struct server_totals *st)
{
	int i;

	help(b, "hsmtls_h2_connections_total", "counter",
	    "connections that negotiated HTTP/2 (ALPN h2)");
	sb_printf(b, "hsmtls_h2_connections_total %llu\n", st->h2_conns);
	help(b, "hsmtls_h2_streams_total", "counter",
	    "HTTP/2 streams (requests) opened");
	sb_printf(b, "hsmtls_h2_streams_total %llu\n", st->h2_streams);
	help(b, "hsmtls_h2_cuts_total", "counter",
	    "HTTP/2 streams refused or sessions ended by a limit, by reason");
	for (i = 0; i < H2_CUT_COUNT; i++)
		sb_printf(b, "hsmtls_h2_cuts_total{reason=\"%s\"} %llu\n",
		    h2_cut_names[i], st->h2_cuts[i]);
}

/* Loop i of the server (0: the main thread's). */
static const struct server *loop_of(const struct server *s, unsigned i)
{
	return i == 0 ? s->main : s->main->loops[i];
}

int status_metrics(struct server *s, struct strbuf *b)
{
	struct ticket_stats ts;
	struct server_totals t;
	unsigned i, n;
	int v;

	server_totals(s, &t);

	help(b, "hsmtls_connections_accepted_total", "counter",
	    "TLS connections accepted");
	sb_printf(b, "hsmtls_connections_accepted_total %llu\n", t.accepted);
	help(b, "hsmtls_connections_evicted_total", "counter",
	    "idle connections closed to admit new ones at max-connections");
	sb_printf(b, "hsmtls_connections_evicted_total %llu\n", t.evicted);
	help(b, "hsmtls_connections_open", "gauge", "TLS connections open now");
	sb_printf(b, "hsmtls_connections_open %u\n", t.conns_open);
	help(b, "hsmtls_loops", "gauge", "event-loop threads serving TLS");
	sb_printf(b, "hsmtls_loops %u\n", s->main->nloops > 0 ?
	    s->main->nloops : 1);
	n = s->main->nloops > 0 ? s->main->nloops : 1;
	help(b, "hsmtls_loop_connections_accepted_total", "counter",
	    "TLS connections accepted, by event loop");
	for (i = 0; i < n; i++)
		sb_printf(b, "hsmtls_loop_connections_accepted_total{loop=\"%u\"} "
		    "%llu\n", i, (unsigned long long)loop_of(s, i)->st.accepted);
	help(b, "hsmtls_loop_connections_open", "gauge",
	    "TLS connections open now, by event loop");
	for (i = 0; i < n; i++)
		sb_printf(b, "hsmtls_loop_connections_open{loop=\"%u\"} %u\n",
		    i, (unsigned)loop_of(s, i)->nconns);
	help(b, "hsmtls_handshakes_total", "counter",
	    "TLS handshakes by version and result (ok: full, resumed: by "
	    "ticket, failed: closed before completing)");
	for (v = 0; v < VER_COUNT; v++) {
		sb_printf(b, "hsmtls_handshakes_total{version=\"%s\",result=\"ok\"} "
		    "%llu\n", ver_names[v], t.handshakes[v]);
		sb_printf(b, "hsmtls_handshakes_total{version=\"%s\",result="
		    "\"resumed\"} %llu\n", ver_names[v], t.resumed[v]);
		sb_printf(b, "hsmtls_handshakes_total{version=\"%s\",result="
		    "\"failed\"} %llu\n", ver_names[v],
		    t.handshake_failures[v]);
	}
	help(b, "hsmtls_resumptions_total", "counter",
	    "handshakes resumed from a session ticket (no token operation)");
	sb_printf(b, "hsmtls_resumptions_total %llu\n",
	    t.resumed[VER_TLS12] + t.resumed[VER_TLS13] +
	    t.resumed[VER_OTHER]);
	tickets_stats(s->tickets, &ts);
	help(b, "hsmtls_tickets_issued_total", "counter",
	    "session tickets issued");
	sb_printf(b, "hsmtls_tickets_issued_total %llu\n", ts.issued);
	help(b, "hsmtls_ticket_key_rotations_total", "counter",
	    "in-memory ticket key rotations");
	sb_printf(b, "hsmtls_ticket_key_rotations_total %llu\n", ts.rotations);
	help(b, "hsmtls_reloads_total", "counter",
	    "configuration reloads (SIGHUP) by result");
	sb_printf(b, "hsmtls_reloads_total{result=\"ok\"} %llu\n"
	    "hsmtls_reloads_total{result=\"failed\"} %llu\n",
	    t.reloads_ok, t.reloads_failed);
	help(b, "hsmtls_config_generation", "gauge",
	    "the configuration served (1 at start, +1 per successful reload)");
	sb_printf(b, "hsmtls_config_generation %lu\n", s->gen->id);
	upstream_counters(b, &t);
	h2_counters(b, &t);

	token_counters(b, s->tokens);
	token_details(b, s->tokens);
	return 200;
}
