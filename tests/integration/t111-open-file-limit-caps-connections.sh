#!/bin/bash
# t111: the open-file limit bounds the connections.  Started with a soft
# and hard limit of 100 files and max-connections 1024, the server says at
# start-up that it serves at most 18 connections (two descriptors each,
# 64 kept back); then a flood of 120 silent TCP connections never runs it
# out of descriptors (no "Too many open files", no accept loop: the log
# stays short), the oldest idle ones are closed to admit new ones, and a
# normal client is served during the flood.  Afterwards its descriptors
# are back where they were.
. "$(dirname "$0")/lib.sh"
# The subject: the server's own descriptor budget (no daemon to start
# under the same limit).
key_mode inproc
need_tool curl python3

setup_server_key ec:P-256
C=$tmp/hsmtls.conf
cat >"$C" <<EOF
listen 127.0.0.1:0;
max-connections 1024;
workers 2;
token $TOKEN_LABEL { pin-file $PIN_FILE; }
site www { server-name localhost; root $ROOT; key "$KEY_URI" $CERT; }
EOF
SERVER_LOG=$tmp/server.log
(ulimit -n 100 && exec "$HSMTLS_SERVER" -c "$C") </dev/null >/dev/null 2>"$SERVER_LOG" &
SERVER_PID=$!
wait_listening
grep -q 'max-connections 1024 needs 2112 open files, and the limit is 100: serving at most 18 connections' "$SERVER_LOG" ||
	fail "no warning about the open-file limit: $(head -3 "$SERVER_LOG")"
fd0=$(ls "/proc/$SERVER_PID/fd" | wc -l)

# Test: 120 silent connections, then a normal request while they are open.
python3 - "$PORT" >"$tmp/flood.out" 2>&1 <<'PY' &
import socket, sys, time
held = []
for _ in range(120):
    try:
        held.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2))
    except OSError as e:
        print("connect:", e)
    time.sleep(0.01)
print("held", len(held), flush=True)
time.sleep(6)
PY
FLOOD=$!
BG_PIDS="$BG_PIDS $FLOOD"
for _ in $(seq 50); do grep -q '^held' "$tmp/flood.out" && break; sleep 0.1; done
grep -q '^held' "$tmp/flood.out" || fail "the flood did not finish connecting: $(cat "$tmp/flood.out")"
t0=$(now_ms)
[ "$(fetch /index.html)" = "$(cat "$ROOT/index.html")" ] || fail "GET during the flood"
took=$(($(now_ms) - t0))
echo "served during the flood in ${took} ms; $(cat "$tmp/flood.out")"
within_ms "$took" 2000 || fail "GET during the flood took ${took} ms"
fds=$(ls "/proc/$SERVER_PID/fd" | wc -l)
[ "$fds" -le 100 ] || fail "$fds descriptors open"
wait "$FLOOD" || true
n=$(grep -c 'Too many open files' "$SERVER_LOG" || true)
[ "$n" = 0 ] || fail "ran out of descriptors: $n lines: $(grep -m3 'Too many' "$SERVER_LOG")"
lines=$(wc -l <"$SERVER_LOG")
[ "$lines" -lt 40 ] || fail "the log grew to $lines lines: $(tail -5 "$SERVER_LOG")"
sleep 1
fd1=$(ls "/proc/$SERVER_PID/fd" | wc -l)
echo "descriptors: $fd0 before the flood, $fd1 after"
[ "$fd1" -le $((fd0 + 2)) ] || fail "descriptors: $fd0 before, $fd1 after"
[ "$(fetch /index.html)" = "$(cat "$ROOT/index.html")" ] || fail "GET after the flood"
stop_server_ok
echo "PASS: $TEST_NAME"
