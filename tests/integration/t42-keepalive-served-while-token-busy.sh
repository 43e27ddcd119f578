#!/bin/bash
# t42: a keep-alive client is answered promptly while every worker is
# blocked inside the token: 32 handshakes hang 3 s each in C_Sign (all 32
# workers busy), and an already established connection keeps getting
# its responses every 10 ms.
. "$(dirname "$0")/lib.sh"
need_file HSMTLS_BENCH
KAPROBE=$(dirname "$HSMTLS_BENCH")/kaprobe
[ -x "$KAPROBE" ] || hard_error "no kaprobe beside $HSMTLS_BENCH"

use_faults
HSMTLS_TESTP11_LOG=$tmp/faults.log
export HSMTLS_TESTP11_LOG
setup_server_key ec:P-256
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT" --pool-threads 32
"$KAPROBE" --connect "127.0.0.1:$PORT" --cafile "$CERT" --interval-ms 10 \
    --duration 3 >"$tmp/ka.out" 2>"$tmp/ka.err" &
KA=$!
BG_PIDS=$KA
sleep 0.5        # the probe's own handshake is done
set_faults 'hang C_Sign 3000 count 32'
"$HSMTLS_BENCH" --connect "127.0.0.1:$PORT" --cafile "$CERT" --tls 1.3 \
    --concurrency 32 --requests 32 --no-request --timeout-ms 8000 \
    >"$tmp/bench.out" 2>"$tmp/bench.err" &
HB=$!
BG_PIDS="$KA $HB"
wait "$KA" || fail "kaprobe failed: $(cat "$tmp/ka.out" "$tmp/ka.err")"
wait "$HB" || true
BG_PIDS=""
cat "$tmp/ka.out"
hung=$(grep -c 'C_Sign hang' "$tmp/faults.log" || true)
[ "$hung" -eq 32 ] || fail "hung C_Sign calls: got $hung, want 32 (all workers blocked)"
[ "$(field errors "$tmp/ka.out")" = 0 ] || fail "keep-alive requests failed: $(cat "$tmp/ka.out")"
n=$(field requests "$tmp/ka.out")
[ "$n" -ge 100 ] || fail "keep-alive requests in 3 s: got $n, want >= 100"
p99=$(field p99_ms "$tmp/ka.out")
max=$(field max_ms "$tmp/ka.out")
within_ms "$p99" 50 || fail "keep-alive p99 while the token is busy: ${p99} ms, want <= 50 (x$TIME_SCALE)"
within_ms "$max" 500 || fail "keep-alive max while the token is busy: ${max} ms, want <= 500 (x$TIME_SCALE)"
stop_server_ok
