#!/bin/bash
# t112 (make check-slow): floods, bounded in count and time, on loopback.
# Meanwhile a well-behaved client fetches a page on a fresh connection
# every 100 ms, and its p99 must stay under 1 s.
#   A. 10,000 idle TCP connections (opened, never spoken on);
#   B. 1,000 slow-loris clients: a TLS handshake, then a request head at
#      one byte a second (cut by header-timeout);
#   C. a handshake flood at 3x what the token can sign (the test module
#      lets C_Sign through one at a time, 10 ms each: 100/s), against a
#      key queue of 32: the queue stays bounded (excess handshakes fail at
#      once), and the probe, resuming its TLS session, is still served.
# The server's RSS stays under a stated bound in each phase and returns
# near its start afterwards; its descriptors come back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
# The subject includes the in-process key queue (its metrics).
key_mode inproc
need_tool python3
need_file HSMTLS_BENCH

use_faults
setup_server_key ec:P-256
write_conf "$tmp/hsmtls.conf" "
max-connections 12000;
admin-listen 127.0.0.1:0;
handshake-timeout 20s;
header-timeout 5s;
idle-timeout 30s;
pool-threads 4;
queue-max 32;"
sed -i "s|pin-file \"$PIN_FILE\";|module \"$HSMTLS_TESTP11\"; pin-file \"$PIN_FILE\";|" "$tmp/hsmtls.conf"
start_server_conf "$tmp/hsmtls.conf"
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$SERVER_PID/status"; }
fds() { ls "/proc/$SERVER_PID/fd" | wc -l; }
RSS0=$(rss) FD0=$(fds)
echo "start: rss ${RSS0} KiB, $FD0 descriptors"

# probe SECONDS NAME [keepalive]: GETs every 100 ms in the background, each
# on a fresh connection (or all on one kept-alive connection made first);
# their latencies go to $tmp/NAME.lat (ms, "fail" lines).
probe() {
	TIME_SCALE=$TIME_SCALE py "$1" "$tmp/$2.lat" "${3:-}" <<'PY' &
import os, ssl, sys, time
from h1 import *
secs, out, keepalive = float(sys.argv[1]), sys.argv[2], sys.argv[3] == "keepalive"
ctx = context()
def get(sess):
    s = ctx.wrap_socket(tcp(), server_hostname="localhost", session=sess)
    s.sendall(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n"
              b"Connection: close\r\n\r\n")
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    return data, s.session

keep = None
if keepalive:   # its connection made before the load starts
    keep = Conn()
    open(out + ".ready", "w").close()
end = time.monotonic() + secs
with open(out, "w") as f:
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            if keep is not None:
                ok = keep.request("GET", "/index.html").status == 200
            else:
                data, _ = get(None)
                ok = data.startswith(b"HTTP/1.1 200")
            f.write("%.1f%s\n" % ((time.monotonic() - t0) * 1000,
                                 "" if ok else " fail"))
        except Exception as e:
            f.write("%.1f fail %s\n" % ((time.monotonic() - t0) * 1000, e))
        f.flush()
        time.sleep(max(0, 0.1 - (time.monotonic() - t0)))
PY
	PROBE=$!
}

# judge NAME: p99 of the probe under 1 s (times TIME_SCALE), none failed.
judge() {
	wait "$PROBE" || fail "$1: the probe failed to run"
	n=$(wc -l <"$tmp/$1.lat")
	[ "$n" -ge 10 ] || fail "$1: only $n probe requests"
	bad=$(grep -c fail "$tmp/$1.lat" || true)
	p=$(sort -g "$tmp/$1.lat" | awk '{ v[NR] = $1 } END {
		i = int(NR * 0.99 + 0.999); if (i < 1) i = 1
		printf "p50 %.1f ms, p99 %.1f ms, max %.1f ms", v[int((NR + 1) / 2)], v[i], v[NR] }')
	echo "$1: $n probe requests, $bad failed; $p"
	[ "$bad" = 0 ] || fail "$1: probe requests failed: $(grep -m3 fail "$tmp/$1.lat")"
	p99=$(echo "$p" | sed 's/.*p99 \([0-9.]*\).*/\1/')
	within_ms "${p99%.*}" 1000 || fail "$1: probe p99 ${p99} ms"
}

# ready PID FILE WHY: until PID (a flood or the probe, cleaned up at exit)
# has made FILE.ready; else fail with WHY.
ready() {
	BG_PIDS="$BG_PIDS $1"
	for _ in $(seq $((WAIT_SECS * 10))); do
		[ -e "$2.ready" ] && return 0
		sleep 0.1
	done
	fail "$3"
}

# A. 10,000 idle TCP connections.
py 10000 "$tmp/idle.out" <<'PY' &
import resource, socket, sys, time
from h1 import PORT
n, out = int(sys.argv[1]), sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
held = []
for i in range(n):
    try:
        held.append(socket.create_connection(("127.0.0.1", PORT), 5))
    except OSError as e:
        open(out, "a").write("connect %d: %s\n" % (i, e))
        break
open(out, "a").write("held %d\n" % len(held))
open(out + ".ready", "w").close()
time.sleep(12)
PY
IDLE=$!
ready "$IDLE" "$tmp/idle.out" "A: the idle flood did not connect"
probe 6 idle
sleep 1
RSS_A=$(rss)
admin_get /metrics >"$tmp/m.a"
judge idle
echo "A: $(tail -1 "$tmp/idle.out"); rss ${RSS_A} KiB ($(( (RSS_A - RSS0) / 10 )) bytes per connection); open $(metric "$tmp/m.a" hsmtls_connections_open)"
[ $((RSS_A - RSS0)) -lt $((10000 * 32)) ] || fail "A: rss grew by $((RSS_A - RSS0)) KiB for 10,000 idle connections (bound: 32 KiB each; 15-18 measured)"
wait "$IDLE" 2>/dev/null || true

# B. 1,000 slow-loris clients over TLS.
py 1000 "$tmp/loris.out" <<'PY' &
import socket, ssl, sys, time
from h1 import *
n, out = int(sys.argv[1]), sys.argv[2]
ctx = context()
held = []
for i in range(n):
    try:
        held.append(ctx.wrap_socket(tcp(), server_hostname="localhost"))
    except OSError as e:
        open(out, "a").write("handshake %d: %s\n" % (i, e))
        break
open(out + ".ready", "w").close()
head = b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nX: " + b"y" * 64
cut = 0
for k in range(12):
    for s in list(held):
        try:
            s.send(head[k:k + 1])
        except OSError:
            held.remove(s)
            cut += 1
    time.sleep(1)
open(out, "a").write("held %d cut %d\n" % (len(held), cut))
PY
LORIS=$!
ready "$LORIS" "$tmp/loris.out" "B: the slow-loris clients did not connect"
probe 8 loris
sleep 2
RSS_B=$(rss)
judge loris
wait "$LORIS" || true
echo "B: $(cat "$tmp/loris.out"); rss ${RSS_B} KiB"
[ $((RSS_B - RSS0)) -lt $((1000 * 64)) ] || fail "B: rss grew by $((RSS_B - RSS0)) KiB for 1,000 slow clients (bound: 64 KiB each)"
grep -q 'cut [1-9]' "$tmp/loris.out" || fail "B: header-timeout cut no slow client: $(cat "$tmp/loris.out")"

# C. A handshake flood at 3x the token's rate, the probe kept alive.
set_faults 'latency C_Sign 10 serial'
admin_get /metrics >"$tmp/m.c0"
probe 8 flood keepalive
ready "$PROBE" "$tmp/flood.lat" "C: the probe did not connect"
"$HSMTLS_BENCH" --connect "127.0.0.1:$PORT" --cafile "$CERT" --tls 1.3 \
    --rate 300 --concurrency 200 --duration 10 --timeout-ms 5000 --linger0 \
    >"$tmp/flood.out" 2>"$tmp/flood.err" &
FLOOD=$!
BG_PIDS="$BG_PIDS $FLOOD"
maxq=0
for _ in $(seq 16); do
	admin_get /metrics >"$tmp/m.c"
	q=$(metric "$tmp/m.c" hsmtls_pool_queue_depth)
	[ "$q" -gt "$maxq" ] && maxq=$q
	sleep 0.5
done
RSS_C=$(rss)
judge flood
wait "$FLOOD" || true
admin_get /metrics >"$tmp/m.c1"
ok=$(($(metric "$tmp/m.c1" hsmtls_key_operations_total 'result="ok"') - $(metric "$tmp/m.c0" hsmtls_key_operations_total 'result="ok"')))
rej=$(($(metric "$tmp/m.c1" hsmtls_pool_rejected_total) - $(metric "$tmp/m.c0" hsmtls_pool_rejected_total)))
echo "C: flood $(cat "$tmp/flood.out")"
echo "C: signed $ok in 10 s (token: 100/s), rejected $rej at once, deepest queue seen $maxq (queue-max 32), rss ${RSS_C} KiB"
[ "$maxq" -le 32 ] || fail "C: key queue depth $maxq beyond queue-max 32"
[ "$rej" -gt 0 ] || fail "C: no handshake was refused at once: the flood did not exceed the token"
[ "$ok" -le 1300 ] || fail "C: $ok signatures in 10 s from a token limited to 100/s"
[ $((RSS_C - RSS0)) -lt $((64 * 1024)) ] || fail "C: rss grew by $((RSS_C - RSS0)) KiB under the flood (bound: 64 MiB)"
set_faults ''

# Afterwards: memory and descriptors back, and a full handshake served.
sleep 3
RSS_E=$(rss) FD_E=$(fds)
echo "end: rss ${RSS_E} KiB (start ${RSS0}), $FD_E descriptors (start $FD0)"
[ $((RSS_E - RSS0)) -lt $((32 * 1024)) ] || fail "rss ${RSS_E} KiB at the end, ${RSS0} at the start"
[ "$FD_E" -le $((FD0 + 4)) ] || fail "$FD_E descriptors at the end, $FD0 at the start"
[ "$(fetch /index.html)" = "$(cat "$ROOT/index.html")" ] || fail "GET after the floods"
stop_server_ok
echo "PASS: $TEST_NAME"
