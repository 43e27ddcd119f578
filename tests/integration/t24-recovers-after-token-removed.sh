#!/bin/bash
# t24: while the token is removed, handshakes fail at once (no hang, the
# server keeps running); after re-insertion the server recovers by itself
# within a few seconds (probe backoff is capped at 1 s) and serves again.
. "$(dirname "$0")/lib.sh"
need_tool openssl curl

use_faults
setup_server_key ec:P-256
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT"
handshakes 2 -tls1_3

# Test: token removed: each handshake fails, and fails fast.
set_faults 'removed'
for i in 1 2 3; do
	start=$(date +%s)
	handshake_ok -tls1_3 && fail "handshake $i with the token removed succeeded"
	took=$(($(date +%s) - start))
	[ "$took" -le 5 ] || fail "failed handshake $i with the token removed took ${took}s, want <= 5s"
done
kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited while the token was removed"

# Test: re-inserted: handshakes succeed again within 10 s, then every time.
set_faults ''
i=0
until handshake_ok -tls1_3; do
	i=$((i + 1))
	[ "$i" -lt 50 ] || fail "no successful handshake within 10s of re-inserting the token"
	sleep 0.2
done
handshakes 5 -tls1_3
code=$(http_code /)
[ "$code" = 200 ] || fail "GET / after recovery: got status $code, want 200"
stop_server_ok
