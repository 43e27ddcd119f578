#!/bin/bash
# t41: with 50 ms added to every C_Sign, 32 concurrent handshakes all
# complete within 0.5 s: the worker pool runs their token calls side by
# side while the event loop goes on (a server that waits in C_Sign would
# need 32 x 50 ms = 1.6 s).
. "$(dirname "$0")/lib.sh"
need_file HSMTLS_BENCH

use_faults
setup_server_key ec:P-256
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT"
set_faults 'latency C_Sign 50'
base=$(count_of C_Sign)
"$HSMTLS_BENCH" --connect "127.0.0.1:$PORT" --cafile "$CERT" --tls 1.3 \
    --concurrency 32 --requests 32 --no-request --timeout-ms 10000 \
    >"$tmp/bench.out" 2>"$tmp/bench.err" || true
cat "$tmp/bench.out"
[ "$(field handshakes "$tmp/bench.out")" = 32 ] && [ "$(field errors "$tmp/bench.out")" = 0 ] ||
	fail "32 handshakes on a 50 ms token: $(cat "$tmp/bench.out" "$tmp/bench.err")"
[ $(($(count_of C_Sign) - base)) -eq 32 ] || fail "C_Sign calls not 32"
max=$(field max_ms "$tmp/bench.out")
within_ms "$max" 500 || fail "slowest of 32 concurrent handshakes: ${max} ms, want <= 500 (x$TIME_SCALE)"
stop_server_ok
