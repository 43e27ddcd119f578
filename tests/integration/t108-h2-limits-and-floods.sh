#!/bin/bash
# t108: HTTP/2 limits and floods, each cut counted in /metrics
# (hsmtls_h2_cuts_total{reason=...}) and each leaving the server serving a
# normal client (curl --http2) right after, from a raw client (h2raw.py):
# - a stream over h2-max-streams (4 here) is refused (RST_STREAM
#   REFUSED_STREAM) while 4 are held open by a window of 0: max_streams;
# - a header list over max-header-size is answered 431: header_list;
# - rapid reset (CVE-2023-44487): streams opened and reset at once, past
#   the cap, end in GOAWAY ENHANCE_YOUR_CALM and a close: rapid_reset;
# - SETTINGS and PING floods (acks piling up unsent) close the
#   connection: settings_flood, ping_flood; so does a SETTINGS frame with
#   too many entries (GOAWAY ENHANCE_YOUR_CALM);
# - a client that opens a stream and never opens its window (PINGs do not
#   count as progress) is closed by send-timeout: send_timeout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool curl python3

curl --version | grep -q HTTP2 || skip "curl without HTTP/2"
setup_server_key ec:P-256
head -c 1000000 /dev/urandom >"$ROOT/big.bin"
printf 'hello\n' >"$ROOT/a.txt"
write_conf "$tmp/hsmtls.conf" '
admin-listen 127.0.0.1:0;
h2-max-streams 4;
send-timeout 2s;
max-header-size 4096;'
start_server_conf "$tmp/hsmtls.conf"

served() {
	got=$(curl_srv --http2 -o /dev/null -w '%{http_code} %{http_version}' "$(url /a.txt)" || true)
	[ "$got" = "200 2" ] || fail "after $1: a normal h2 client got '$got', want '200 2'"
}
cut_count() { admin_get /metrics >"$tmp/m"; metric "$tmp/m" hsmtls_h2_cuts_total "reason=\"$1\""; }
expect_cut() {
	got=$(cut_count "$1")
	[ "$got" -ge "${2:-1}" ] || fail "cuts{reason=$1}: got $got, want >= ${2:-1}"
	served "$1"
}

# max streams: 4 held open by a window of 0 (our SETTINGS not acked, so
# nghttp2 refuses the fifth and later with REFUSED_STREAM).
py <<'PYEOF'
from h2raw import *
c = Conn([(INITIAL_WINDOW_SIZE, 0)])
c.send(b"".join(request(1 + 2 * i, "/big.bin") for i in range(8)))
refused = set()
end = time.monotonic() + 5
while time.monotonic() < end and len(refused) < 4:
    f = c.read_frame(timeout=5)
    check(f is not None, "max streams: the server closed the connection")
    t, flags, sid, p = f
    if t == RST_STREAM:
        code = struct.unpack(">I", p)[0]
        check(code in (REFUSED_STREAM, PROTOCOL_ERROR), "RST_STREAM code %d" % code)
        refused.add(sid)
check(refused == {9, 11, 13, 15}, "refused streams %r, want 9, 11, 13, 15" % sorted(refused))
c.close()
PYEOF
expect_cut max_streams 4

# A header list over max-header-size: 431 (and the connection lives on).
big=$(head -c 6000 /dev/zero | tr '\0' x)
got=$(curl_srv --http2 -o /dev/null -w '%{http_code} %{http_version}' -H "X-Big: $big" "$(url /a.txt)" || true)
[ "$got" = "431 2" ] || fail "a 6000-byte header over h2: got '$got', want '431 2'"
expect_cut header_list

# Rapid reset.
py <<'PYEOF'
from h2raw import *
c = Conn()
c.ack_settings()
burst = b"".join(request(1 + 2 * i) + frame(RST_STREAM, 0, 1 + 2 * i, struct.pack(">I", CANCEL))
                 for i in range(300))
c.send(burst)
code = goaway_code(c.frames_until_close())
check(code == ENHANCE_YOUR_CALM, "rapid reset: GOAWAY code %r, want ENHANCE_YOUR_CALM (11)" % code)
PYEOF
expect_cut rapid_reset

# SETTINGS flood, then PING flood: acks pile up, never read.
py <<'PYEOF'
from h2raw import *
c = Conn(rcvbuf=4096)
c.send(frame(SETTINGS, 0, 0) * 5000)
c.frames_until_close()
c = Conn(rcvbuf=4096)
c.send(frame(PING, 0, 0, b"12345678") * 5000)
c.frames_until_close()
PYEOF
expect_cut settings_flood
expect_cut ping_flood

# One SETTINGS frame with more entries than allowed.
py <<'PYEOF'
from h2raw import *
c = Conn()
c.send(settings([(INITIAL_WINDOW_SIZE, 65535)] * 100))
code = goaway_code(c.frames_until_close())
check(code == ENHANCE_YOUR_CALM, "100 SETTINGS entries: GOAWAY code %r, want 11" % code)
PYEOF
expect_cut settings_flood 2

# A window of 0 and PINGs every 0.3 s: closed by the 2 s send timeout.
py <<'PYEOF'
from h2raw import *
c = Conn([(INITIAL_WINDOW_SIZE, 0)])
c.ack_settings()
c.send(request(1, "/big.bin"))
start = time.monotonic()
while not c.closed and time.monotonic() - start < 15:
    c.send(frame(PING, 0, 0, b"stillhere"[:8]))
    try:
        while c.read_frame(timeout=0.3) is not None:
            pass
    except socket.timeout:
        pass
took = time.monotonic() - start
check(c.closed, "window 0: still open after %.1fs" % took)
check(1.5 <= took <= 8, "window 0: closed after %.1fs, want about 2s" % took)
PYEOF
expect_cut send_timeout
stop_server_ok
