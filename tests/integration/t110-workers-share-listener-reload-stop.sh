#!/bin/bash
# t110: several event loops ("workers").  With workers 2 the server runs
# two loop threads on one listening socket: /metrics says so, a load is
# served by both (each accepts a share, every request succeeds), the token
# is logged in once for the process, a reload reaches both loops (every
# new connection, whichever loop takes it, is served by the new
# configuration), a graceful stop lets responses in progress on both
# loops finish and then refuses new connections, and a second server on
# the same port is refused.  --workers sets the count on the command line
# and a bad count is refused.
. "$(dirname "$0")/lib.sh"
need_tool curl
need_file HSMTLS_BENCH

use_testp11
setup_server_key ec:P-256
mkdir -p "$tmp/b"
echo "site b" >"$tmp/b/index.html"
head -c 4194304 /dev/urandom >"$ROOT/big.bin"
C=$tmp/hsmtls.conf
conf() {
	cat >"$C" <<EOF
listen 127.0.0.1:0;
admin-listen 127.0.0.1:0;
workers 2;
token $TOKEN_LABEL { module $HSMTLS_TESTP11; pin-file $PIN_FILE; }
site www { server-name localhost; root $ROOT; key "$KEY_URI" $CERT; }
$1
EOF
}
conf ""
start_server_conf "$C"
M=$tmp/metrics.out
snap() { admin_get /metrics >"$M" || fail "GET /metrics failed"; }
loop_acc() { metric "$M" hsmtls_loop_connections_accepted_total "loop=\"$1\""; }

# Test: two loops, and a load served by both, every request answered.
snap
expect_metric "$M" hsmtls_loops 2
"$HSMTLS_BENCH" --connect "127.0.0.1:$PORT" --cafile "$CERT" --tls 1.3 \
    --requests 400 --concurrency 8 --timeout-ms 5000 --strict >"$tmp/load.out" 2>&1 ||
	fail "load: $(cat "$tmp/load.out")"
snap
a0=$(loop_acc 0) a1=$(loop_acc 1)
echo "accepted by loop 0: $a0, by loop 1: $a1"
[ "$a0" -gt 0 ] && [ "$a1" -gt 0 ] || fail "both loops must accept: loop 0 $a0, loop 1 $a1"
[ $((a0 + a1)) = "$(metric "$M" hsmtls_connections_accepted_total)" ] ||
	fail "the loops' counts do not add up to the total: $(grep accepted "$M")"
[ "$(metric "$M" hsmtls_handshakes_total 'result="ok"')" -ge 400 ] || fail "handshakes: $(grep handshakes_total "$M")"

# Test: one login for the whole process (the counting module is in the
# server, or in the key daemon in keyd mode).
[ "$(count_of C_Login)" -eq 1 ] || fail "C_Login: got $(count_of C_Login), want 1"

# Test: a reload reaches every loop.  Before it, the name b.test is served
# by the default site; after it, by site b, on every connection.
[ "$(curl_srv --resolve "b.test:$PORT:127.0.0.1" -k "https://b.test:$PORT/")" != "site b" ] ||
	fail "site b before the reload"
conf "site b { server-name b.test; root $tmp/b; key \"$KEY_URI\" $CERT; }"
reload_server
wait_log "reloaded: configuration 2" 1
snap
b0=$(loop_acc 0) b1=$(loop_acc 1)
for i in $(seq 1 40); do
	got=$(curl_srv --resolve "b.test:$PORT:127.0.0.1" -k "https://b.test:$PORT/") ||
		fail "request $i to b.test after the reload"
	[ "$got" = "site b" ] || fail "request $i after the reload: got '$got', want 'site b' (a loop kept the old configuration)"
done
snap
echo "after the reload, accepted by loop 0: $(($(loop_acc 0) - b0)), by loop 1: $(($(loop_acc 1) - b1))"
[ $(($(loop_acc 0) - b0)) -gt 0 ] && [ $(($(loop_acc 1) - b1)) -gt 0 ] ||
	fail "after the reload both loops must have served: $(grep loop_ "$M")"

# Test: a graceful stop with responses in progress on both loops.  Slow
# downloads are started until each loop has at least one open.
dl=0 pids=""
while :; do
	curl_srv --limit-rate 1M -o "$tmp/dl$dl.bin" "$(url /big.bin)" &
	pids="$pids $!"
	dl=$((dl + 1))
	sleep 0.2
	snap
	o0=$(metric "$M" hsmtls_loop_connections_open 'loop="0"')
	o1=$(metric "$M" hsmtls_loop_connections_open 'loop="1"')
	[ "$o0" -ge 1 ] && [ "$o1" -ge 1 ] && break
	[ "$dl" -lt 16 ] || fail "16 downloads did not reach both loops: $(grep loop_ "$M")"
done
echo "$dl downloads open: loop 0 has $o0, loop 1 has $o1"
kill -TERM "$SERVER_PID"
wait_log "stopping: no new connections" 1
sleep 0.3
st=0
curl_srv -o /dev/null "$(url /)" 2>/dev/null || st=$?
[ "$st" -ne 0 ] || fail "a new connection was served after SIGTERM"
for p in $pids; do
	wait "$p" || fail "a download in progress at SIGTERM failed"
done
for i in $(seq 0 $((dl - 1))); do
	cmp -s "$ROOT/big.bin" "$tmp/dl$i.bin" || fail "download $i differs from the file"
done
wait_server_exit "$WAIT_SECS"
[ "$SERVER_STATUS" -eq 0 ] || fail "exit status after SIGTERM: $SERVER_STATUS"

# Test: --workers on the command line; a bad count is refused; a second
# server on a port in use is refused (the loops share one socket, with no
# SO_REUSEPORT that would let it bind silently).
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT" --workers 3 --admin-listen 127.0.0.1:0
snap
expect_metric "$M" hsmtls_loops 3
[ "$(fetch /index.html)" = "$(cat "$ROOT/index.html")" ] || fail "GET with 3 loops"
expect_startup_failure 'workers' --module "$HSMTLS_TESTP11" --cert "$CERT" \
    --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT" --workers 0
expect_startup_failure 'in use' --listen "127.0.0.1:$PORT" --module "$HSMTLS_TESTP11" \
    --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT" --workers 2
stop_server_ok
echo "PASS: $TEST_NAME"
