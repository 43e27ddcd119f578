#!/bin/bash
# t74: SIGHUP re-reads the configuration, certificates and keys, builds the
# new contexts beside the old ones and swaps them.  Under load from 8
# concurrent clients, across two reloads, not one handshake fails; a
# keep-alive connection opened before a reload keeps being served after
# it; the new certificate (a rotated key) is served after the reload.  A
# file with errors leaves the old configuration serving and logs each
# error with its line.  SIGHUP never kills the server.
. "$(dirname "$0")/lib.sh"
need_tool openssl python3
need_file HSMTLS_BENCH

setup_server_key ec:P-256
C=$tmp/hsmtls.conf
write_conf() {   # write_conf URI CERT
	cat >"$C" <<EOF
listen 127.0.0.1:0;
admin-listen 127.0.0.1:0;
pid-file $tmp/server.pid;
token $TOKEN_LABEL { pin-file $PIN_FILE; }
site www {
    server-name localhost;
    root $ROOT;
    key "$1" $2;
}
EOF
}
write_conf "$KEY_URI" "$CERT"
start_server_conf "$C"

# A keep-alive connection, held open across the reload (python3).
cat >"$tmp/ka.py" <<'EOF'
import socket, ssl, sys, time
port, ca, go, done = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30),
                    server_hostname="localhost")
def get():
    s.sendall(b"GET /file.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    head, body = data.split(b"\r\n\r\n", 1)
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(body) < n:
        body += s.recv(4096)
    return head.split(b"\r\n")[0].decode()
print("before", get(), flush=True)
open(go, "w").close()
for _ in range(300):
    try:
        open(done).close()
        break
    except OSError:
        time.sleep(0.1)
print("after", get(), flush=True)
EOF
python3 "$tmp/ka.py" "$PORT" "$CERT" "$tmp/ka-go" "$tmp/ka-done" >"$tmp/ka.out" 2>&1 &
KA=$!
BG_PIDS="$KA"
i=0
until [ -e "$tmp/ka-go" ]; do
	i=$((i + 1)); [ "$i" -lt $((WAIT_SECS * 10)) ] || fail "keep-alive client did not start: $(cat "$tmp/ka.out")"
	sleep 0.1
done

# Test: 8 concurrent clients, full handshakes, two reloads in the middle.
secs=$((4 * TIME_SCALE))
"$HSMTLS_BENCH" --connect "127.0.0.1:$PORT" --cafile "$CERT" --concurrency 8 \
    --duration "$secs" --strict >"$tmp/load.out" 2>"$tmp/load.err" &
LOAD=$!
BG_PIDS="$KA $LOAD"
sleep 1
reload_server
wait_log 'reloaded: configuration' 1
sleep 1
reload_server
wait_log 'reloaded: configuration' 2
st=0
wait "$LOAD" || st=$?
BG_PIDS="$KA"
cat "$tmp/load.out"
[ "$st" -eq 0 ] || fail "load across two reloads: hsbench exit $st: $(cat "$tmp/load.out" "$tmp/load.err")"
[ "$(field errors "$tmp/load.out")" -eq 0 ] || fail "handshakes failed across the reloads: $(cat "$tmp/load.out")"
[ "$(field handshakes "$tmp/load.out")" -gt 20 ] || fail "too few handshakes under load: $(cat "$tmp/load.out")"
echo "reload under load: $(cat "$tmp/load.out")"

# Test: the keep-alive connection from before the reloads is still served.
touch "$tmp/ka-done"
wait "$KA" || fail "keep-alive client failed: $(cat "$tmp/ka.out")"
BG_PIDS=""
grep -qx "after HTTP/1.1 200 OK" "$tmp/ka.out" || fail "keep-alive connection after the reload: $(cat "$tmp/ka.out")"

# Test: a new key and certificate are served after a reload.
NEW=$(make_key ec:P-384 web2 02)
make_cert "$NEW" "$tmp/new.pem"
write_conf "$NEW" "$tmp/new.pem"
reload_server
wait_log 'reloaded: configuration' 3
bits=$(s_client -CAfile "$tmp/new.pem" | sed -n 's/^Server public key is \([0-9]*\) bit$/\1/p')
[ "$bits" = 384 ] || fail "after reloading a new key: server key is '$bits' bits, want 384"

# Test: a broken file: every error logged with its line, the old
# configuration keeps serving, the server keeps running.
printf 'listen 127.0.0.1:0;\nbogus 1;\nsite www {\n  root %s;\n  root %s;\n}\n' "$ROOT" "$ROOT" >"$C"
reload_server
wait_log 'reload failed' 1
grep -q "$C:2: unknown directive 'bogus'" "$SERVER_LOG" || fail "reload error for line 2 not logged: $(cat "$SERVER_LOG")"
grep -q "$C:5: 'root': duplicate" "$SERVER_LOG" || fail "reload error for line 5 not logged: $(cat "$SERVER_LOG")"
handshakes 3 -CAfile "$tmp/new.pem"
admin_get /metrics >"$tmp/metrics.out"
expect_metric "$tmp/metrics.out" hsmtls_reloads_total 3 'result="ok"'
expect_metric "$tmp/metrics.out" hsmtls_reloads_total 1 'result="failed"'
expect_metric "$tmp/metrics.out" hsmtls_config_generation 4
[ -s "$tmp/server.pid" ] || fail "pid file gone after SIGHUP"
[ "$(cat "$tmp/server.pid")" = "$SERVER_PID" ] || fail "pid file does not hold the server's pid"
stop_server_ok
[ ! -e "$tmp/server.pid" ] || fail "pid file left behind after SIGTERM"
