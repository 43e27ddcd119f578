#!/bin/bash
# t40: the token is removed while clients keep connecting: every handshake
# fails at once (well under a second, no queue on a dead token) and the
# server keeps running; after re-insertion it is back by itself within
# 2 s (probe backoff capped at 1 s), with no restart.  Prints the measured
# failure and recovery times.
. "$(dirname "$0")/lib.sh"
# The subject: the server's own engine counters for a token going down and recovering.
key_mode inproc
need_tool openssl

use_faults
setup_server_key ec:P-256
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT" --admin-listen 127.0.0.1:0
PID0=$SERVER_PID
handshakes 2 -tls1_3


# Background load: handshakes in a loop until told to stop.
load() {
	while [ ! -e "$tmp/stop" ]; do
		s_client -tls1_3 >/dev/null 2>&1 || true
	done
}
load & L1=$!
load & L2=$!
BG_PIDS="$L1 $L2"

set_faults 'removed'
sleep 1.5       # long enough for the prober to back off to its cap
worst=0
for i in $(seq 10); do
	t0=$(now_ms)
	handshake_ok -tls1_3 && fail "handshake $i with the token removed succeeded"
	took=$(($(now_ms) - t0))
	[ "$took" -gt "$worst" ] && worst=$took
done
[ "$worst" -lt 1000 ] || fail "slowest failed handshake with the token removed: ${worst} ms, want < 1000"
kill -0 "$SERVER_PID" || fail "server died while the token was removed"

set_faults ''
t0=$(now_ms)
until handshake_ok -tls1_3; do
	[ $(($(now_ms) - t0)) -lt 5000 ] || fail "no handshake within 5 s of re-inserting the token"
	sleep 0.05
done
recovery=$(($(now_ms) - t0))
touch "$tmp/stop"
wait "$L1" "$L2" || true
BG_PIDS=""
echo "token removed: slowest failed handshake ${worst} ms; first handshake ${recovery} ms after re-insertion"
[ "$recovery" -le 2000 ] || fail "recovery took ${recovery} ms, want <= 2000"
[ "$SERVER_PID" = "$PID0" ] && kill -0 "$SERVER_PID" || fail "server restarted or died"
handshakes 5 -tls1_3
admin_get /metrics >"$tmp/metrics.out"
expect_metric "$tmp/metrics.out" hsmtls_token_up 1
[ "$(metric "$tmp/metrics.out" hsmtls_token_down_total)" -ge 1 ] || fail "token-down not counted"
[ "$(metric "$tmp/metrics.out" hsmtls_token_recoveries_total)" -ge 1 ] || fail "recovery not counted"
stop_server_ok
