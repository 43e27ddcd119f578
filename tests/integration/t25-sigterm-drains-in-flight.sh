#!/bin/bash
# t25: SIGTERM is a graceful stop: the server stops accepting at once,
# closes idle keep-alive connections, lets a download in flight finish
# intact, then exits 0 well within its drain bound.
. "$(dirname "$0")/lib.sh"
need_tool curl openssl cmp head

setup_server_key ec:P-256
head -c $((24 * 1024 * 1024)) /dev/urandom >"$ROOT/big.bin"
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# An idle TLS connection: s_client reads a fifo this script holds open.
mkfifo "$tmp/idle.in"
openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
    -CAfile "$CERT" -quiet <"$tmp/idle.in" >"$tmp/idle.out" 2>&1 &
idle_pid=$!
BG_PIDS="$BG_PIDS $idle_pid"
exec 7>"$tmp/idle.in"
i=0
until grep -q '^verify return:1' "$tmp/idle.out"; do
	i=$((i + 1))
	[ "$i" -lt $((WAIT_SECS * 10)) ] || fail "idle connection: no handshake"
	sleep 0.1
done
# A download limited to 8 MiB/s: about 3 s for 24 MiB (more than the socket
# buffers hold, so the server is still writing), inside the 5 s drain.
curl_srv --limit-rate 8M -o "$tmp/big.out" "$(url /big.bin)" 2>"$tmp/curl.err" &
curl_pid=$!
BG_PIDS="$BG_PIDS $curl_pid"
i=0
until [ -s "$tmp/big.out" ]; do
	i=$((i + 1))
	[ "$i" -lt $((WAIT_SECS * 10)) ] || fail "download did not start"
	sleep 0.1
done

# Test: SIGTERM mid-download.
kill -0 "$curl_pid" 2>/dev/null || hard_error "the download ended before SIGTERM; the test proves nothing"
kill -TERM "$SERVER_PID"
sleep 0.5
code=$(http_code / 2>/dev/null)
[ "$code" = 000 ] || fail "new request after SIGTERM: got status $code, want no connection (000)"

st=0
wait "$curl_pid" || st=$?
[ "$st" -eq 0 ] || fail "download in flight at SIGTERM: curl exit status $st: $(cat "$tmp/curl.err")"
cmp -s "$tmp/big.out" "$ROOT/big.bin" || fail "download in flight at SIGTERM: got $(wc -c <"$tmp/big.out") bytes, not the file"

# The idle connection must not keep the server up: 5 s drain bound + slack.
wait_server_exit 10
[ "$SERVER_STATUS" -eq 0 ] || fail "exit status after SIGTERM: got $SERVER_STATUS, want 0"
exec 7>&-
