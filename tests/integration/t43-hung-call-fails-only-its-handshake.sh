#!/bin/bash
# t43: one C_Sign that hangs for 10 s fails only its own handshake, at the
# key-operation deadline (2 s), not later; handshakes started meanwhile
# succeed at once; the late result lands nowhere and the server goes on.
. "$(dirname "$0")/lib.sh"
# The subject: the server's own worker pool and its expired-operation counter (the daemon's is t93).
key_mode inproc
need_tool openssl curl

use_faults
setup_server_key ec:P-256
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT" --admin-listen 127.0.0.1:0

set_faults 'hang C_Sign 10000 count 1'
t0=$(now_ms)
( st=0; s_client -tls1_3 >"$tmp/hung.out" 2>&1 || st=$?
  echo "$st" >"$tmp/hung.rc"; now_ms >"$tmp/hung.end" ) &
H=$!
BG_PIDS=$H
sleep 0.3
# Test: others are served while that one waits.
for i in 1 2 3; do
	t1=$(now_ms)
	handshake_ok -tls1_3 || fail "handshake $i next to the hung one failed"
	took=$(($(now_ms) - t1))
	within_ms "$took" 1000 || fail "handshake $i next to the hung one took ${took} ms"
done
wait "$H" || true
BG_PIDS=""
took=$(($(cat "$tmp/hung.end") - t0))
echo "hung handshake ended after ${took} ms"
# s_client prints "New, TLSv1.3" even when the server's CertificateVerify
# never comes; its exit status and the alert tell.
[ "$(cat "$tmp/hung.rc")" -ne 0 ] || fail "the hung handshake succeeded"
grep -q 'alert internal error' "$tmp/hung.out" ||
	fail "the hung handshake did not end with an internal_error alert"
[ "$took" -ge 1500 ] || fail "hung handshake ended after ${took} ms, before the 2 s deadline"
within_ms "$took" 4000 || fail "hung handshake ended after ${took} ms, want about 2000 (deadline)"
admin_get /metrics >"$tmp/metrics.out" || fail "GET /metrics failed"
expect_metric "$tmp/metrics.out" hsmtls_pool_expired_total 1
expect_metric "$tmp/metrics.out" hsmtls_token_down_total 0
handshakes 3 -tls1_3
# Test: SIGTERM with the worker still inside the token: a bounded, clean stop.
stop_server_ok
