#!/bin/bash
# t44: the key-operation queue is bounded: with 2 workers and room for 2
# more operations on a 1 s token, 12 concurrent handshakes give 4 that
# complete and 8 that fail at once (not after the token), so memory does
# not grow with the backlog.
. "$(dirname "$0")/lib.sh"
# The subject: the server's own worker-pool queue limit and its rejected counter.
key_mode inproc
need_file HSMTLS_BENCH

use_faults
setup_server_key ec:P-256
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT" --pool-threads 2 --queue-max 2 \
    --key-timeout 5000 --admin-listen 127.0.0.1:0
set_faults 'latency C_Sign 1000'
"$HSMTLS_BENCH" --connect "127.0.0.1:$PORT" --cafile "$CERT" --tls 1.3 \
    --concurrency 12 --requests 12 --no-request --timeout-ms 10000 \
    >"$tmp/bench.out" 2>"$tmp/bench.err" || true
cat "$tmp/bench.out"
ok=$(field handshakes "$tmp/bench.out")
bad=$(field errors "$tmp/bench.out")
[ "$ok" = 4 ] && [ "$bad" = 8 ] ||
	fail "12 handshakes, 2 workers + 2 queued: got $ok ok and $bad failed, want 4 and 8"
set_faults ''
admin_get /metrics >"$tmp/metrics.out" || fail "GET /metrics failed"
expect_metric "$tmp/metrics.out" hsmtls_pool_rejected_total 8
stop_server_ok
