#!/bin/bash
# t37: --daemon forks before any PKCS#11 call.  SoftHSM with
# library.reset_on_fork = true wipes its state in a child, so a module
# initialised before the fork would fail there; the daemon's first
# handshake succeeds and its token-down counter stays 0.
. "$(dirname "$0")/lib.sh"
need_tool openssl curl

setup_server_key ec:P-256
echo 'library.reset_on_fork = true' >>"$SOFTHSM2_CONF"
PIDF=$tmp/server.pid
st=0
"$HSMTLS_SERVER" --daemon --pid-file "$PIDF" --log-file "$tmp/server-daemon.log" \
    --listen 127.0.0.1:0 --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" \
    --root "$ROOT" --admin-listen 127.0.0.1:0 </dev/null >"$tmp/daemon.out" \
    2>"$tmp/daemon.err" || st=$?
[ "$st" -eq 0 ] || fail "--daemon: parent exit status $st: $(cat "$tmp/daemon.err")"
line=$(grep -m1 '^listening on ' "$tmp/daemon.err") ||
	fail "--daemon: parent printed no 'listening on' line"
PORT=${line##*:}
ADMIN_PORT=$(sed -n 's/^admin on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/daemon.err" | head -n1)
[ -s "$PIDF" ] || fail "--daemon wrote no pid file"
DPID=$(cat "$PIDF")
BG_PIDS="$DPID"
kill -0 "$DPID" || fail "daemon $DPID not running"
[ "$(ps -o ppid= -p "$DPID" | tr -d ' ')" = 1 ] || [ "$(ps -o sid= -p "$DPID" | tr -d ' ')" = "$DPID" ] ||
	fail "daemon $DPID is not detached (not a session leader, parent not init)"

handshakes 1 -tls1_3
admin_get /metrics >"$tmp/metrics.out" || fail "GET /metrics failed"
expect_metric "$tmp/metrics.out" hsmtls_token_down_total 0
expect_metric "$tmp/metrics.out" hsmtls_token_up 1
[ "$(metric "$tmp/metrics.out" hsmtls_handshakes_total 'result="ok"')" -ge 1 ] || fail "no handshakes counted"

# Test: SIGTERM stops it and removes the pid file.
kill -TERM "$DPID"
i=0
while kill -0 "$DPID" 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -lt $((WAIT_SECS * 10)) ] || fail "daemon still running after SIGTERM"
	sleep 0.1
done
BG_PIDS=""
[ ! -e "$PIDF" ] || fail "pid file left behind after SIGTERM"

# Test: a start-up error is still one line from the parent, exit 1.
st=0
"$HSMTLS_SERVER" --daemon --listen 127.0.0.1:0 --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$tmp/no-such.pin" --root "$ROOT" </dev/null >/dev/null \
    2>"$tmp/daemon-bad.err" || st=$?
[ "$st" -eq 1 ] || fail "--daemon with a missing PIN file: exit $st, want 1"
[ "$(wc -l <"$tmp/daemon-bad.err")" -eq 1 ] && grep -q 'PIN file' "$tmp/daemon-bad.err" ||
	fail "--daemon error: got '$(cat "$tmp/daemon-bad.err")'"
