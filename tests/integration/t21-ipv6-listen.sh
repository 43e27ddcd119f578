#!/bin/bash
# t21: --listen [::1]:0 binds IPv6 loopback, reports the bound port as
# "listening on [::1]:PORT", and serves the page there.
. "$(dirname "$0")/lib.sh"
need_tool curl cmp
grep -qs '^0\{31\}1 ' /proc/net/if_inet6 || skip "no IPv6 loopback (::1)"

setup_server_key ec:P-256
start_server --listen '[::1]:0' --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# Test: the listening line names the IPv6 address in brackets.
line=$(grep -m1 '^listening on ' "$SERVER_LOG")
[ "$line" = "listening on [::1]:$PORT" ] || fail "got '$line', want 'listening on [::1]:$PORT'"

# Test: the page is served over IPv6 (name "localhost" resolved to ::1).
code=$(timeout "$WAIT_SECS" curl -sS --max-time "$WAIT_SECS" --cacert "$CERT" \
    --resolve "localhost:$PORT:[::1]" -o "$tmp/body.out" -w '%{http_code} %{remote_ip}' \
    "https://localhost:$PORT/" || true)
[ "$code" = "200 ::1" ] || fail "GET / over IPv6 (status, peer): got '$code', want '200 ::1'"
cmp -s "$tmp/body.out" "$ROOT/index.html" || fail "GET / over IPv6: body is not index.html"

# Test: nothing listens on IPv4 for that port.
code=$(http_code / 2>/dev/null)
[ "$code" = 000 ] || fail "GET / on 127.0.0.1:$PORT: got status $code, want no connection (000)"
stop_server_ok
