#!/bin/bash
# t45: a client that goes away while its handshake waits for the token
# does not hold the connection until the token answers: its paused job is
# resumed cancelled and the connection freed at once.  The token takes
# 1.5 s per signature here, under the 2 s deadline, so only the server
# noticing the client leave can cancel the operation.
. "$(dirname "$0")/lib.sh"
need_tool openssl curl

use_faults
setup_server_key ec:P-256
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT" --admin-listen 127.0.0.1:0
set_faults 'latency C_Sign 1500'
# A client that sends its ClientHello and is gone 0.3 s later.
(sleep 5 | timeout -s KILL 0.3 openssl s_client -connect "127.0.0.1:$PORT" \
    -tls1_3 >/dev/null 2>&1 || true) &
G=$!
BG_PIDS=$G
wait "$G" || true
BG_PIDS=""
sleep 0.2
set_faults ''
admin_get /metrics >"$tmp/metrics.out" || fail "GET /metrics failed"
cat "$tmp/metrics.out"
expect_metric "$tmp/metrics.out" hsmtls_pool_cancelled_total 1
expect_metric "$tmp/metrics.out" hsmtls_pool_expired_total 0
expect_metric "$tmp/metrics.out" hsmtls_handshakes_total 1 'result="failed"'
stop_server_ok
