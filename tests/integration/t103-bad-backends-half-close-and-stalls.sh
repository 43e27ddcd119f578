#!/bin/bash
# t103: backends that fail: one that refuses (a closed port), one that
# resets after accepting, one that accepts and never answers, and one
# whose listen queue is full (its connect never completes; here bounded by
# upstream-connect-timeout 1s).  Each client is closed promptly with a
# close_notify (curl: "empty reply", not a cut connection), the error log
# names the backend and the reason, the failure counter rises by reason,
# and the server keeps serving the other site.  Half-close: a client that
# sends its request and then its close_notify (or only a TCP FIN) still
# gets the whole answer, which the backend gives only at its EOF.  A
# client that never reads a large answer stalls its own pair only (other
# requests are served meanwhile) and is closed by send-timeout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/upstream-lib.sh"
need_tool curl

make_token
KEY_URI=$(make_key ec:P-256 web 01)
CERT=$tmp/cert.pem
make_cert_for "$KEY_URI" "$PIN_FILE" "$CERT" localhost \
    DNS:localhost,DNS:refused.test,DNS:reset.test,DNS:silent.test,DNS:full.test,IP:127.0.0.1
start_backend http tcp
GOOD=$BACKEND
CLOSED=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_backend reset tcp
RESET=$BACKEND
start_backend silent tcp
SILENT=$BACKEND
start_backend full tcp
FULL=$BACKEND
site() {
	printf 'site %s {\n\tserver-name %s;\n\tkey "%s" "%s";\n\tupstream tcp:127.0.0.1:%s;\n}\n' \
	    "$1" "$1.test" "$KEY_URI" "$CERT" "$2"
}
C=$tmp/hsmtls.conf
upstream_conf "$C" "	upstream tcp:127.0.0.1:$GOOD;" "upstream-connect-timeout 1s;
idle-timeout 2s;
send-timeout 2s;
$(site refused "$CLOSED")
$(site reset "$RESET")
$(site silent "$SILENT")
$(site full "$FULL")"
start_server_conf "$C"

# bad NAME REASON MAX_MS LOG_TEXT: a request to site NAME must end within
# MAX_MS with curl's "empty reply" (52: a close_notify, no byte), log
# LOG_TEXT, and count one failure for REASON; the good site still serves.
bad() {
	t0=$(date +%s%N)
	st=0
	timeout "$WAIT_SECS" curl -sS --max-time "$WAIT_SECS" --cacert "$CERT" \
	    --resolve "$1.test:$PORT:127.0.0.1" "https://$1.test:$PORT/" \
	    >"$tmp/bad.out" 2>"$tmp/bad.err" || st=$?
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "$1: curl status $st after $ms ms: $(cat "$tmp/bad.err")"
	[ "$st" -eq 52 ] || fail "$1: curl status $st, want 52 (closed with close_notify): $(cat "$tmp/bad.err")"
	within_ms "$ms" "$3" || fail "$1: closed after $ms ms, want <= $3"
	wait_log "$4" 1
	admin_get /metrics >"$tmp/metrics.out"
	expect_metric "$tmp/metrics.out" hsmtls_upstream_connect_failures_total 1 "reason=\"$2\""
	case $(fetch /) in "hello from the backend "*) ;; *) fail "after $1: the good site does not answer" ;; esac
}
bad refused refused 1000 "upstream tcp:127.0.0.1:$CLOSED for 127.0.0.1: connect: Connection refused"
bad reset reset 1000 "upstream tcp:127.0.0.1:$RESET for 127.0.0.1: "
grep -Eq "upstream tcp:127\.0\.0\.1:$RESET for 127\.0\.0\.1: (connect|read|write): (Connection reset by peer|Broken pipe)" "$SERVER_LOG" ||
	fail "no reset line: $(cat "$SERVER_LOG")"
bad full timeout 3000 "upstream tcp:127.0.0.1:$FULL for 127.0.0.1: connect: no connection within 1s (upstream-connect-timeout)"
bad silent no_answer 4000 "upstream tcp:127.0.0.1:$SILENT for 127.0.0.1: no answer within 2s (idle-timeout)"
expect_metric "$tmp/metrics.out" hsmtls_upstream_connect_failures_total 4

# Test: half-close.  The backend answers /echo-close only at its EOF, so
# the answer comes only if the client's close_notify, or its bare FIN,
# became a FIN to the backend; 1 MiB of body is passed on first.
pyc <<'PY' || fail "half-close"
import os, socket, ssl, sys
port, cert = int(os.environ["PORT"]), os.environ["CERT"]
body = os.urandom(1 << 20)

def run(close_notify):
    ctx = ssl.create_default_context(cafile=cert)
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inb, outb, server_hostname="localhost")

    def flush():
        d = outb.read()
        if d:
            raw.sendall(d)

    def pump():
        d = raw.recv(65536)
        if not d:
            inb.write_eof()
        else:
            inb.write(d)
        return bool(d)

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush()
            pump()
    flush()
    tls.write(b"GET /echo-close HTTP/1.1\r\nHost: localhost\r\n\r\n" + body)
    flush()
    if close_notify:
        try:
            tls.unwrap()            # sends close_notify, waits for ours
        except ssl.SSLWantReadError:
            pass
        flush()
    else:
        raw.shutdown(socket.SHUT_WR)    # a FIN, no close_notify
    got, clean = b"", False
    while True:
        try:
            d = tls.read(65536)
            if not d:
                clean = True
                break
            got += d
        except ssl.SSLWantReadError:
            if not pump():
                break
        except ssl.SSLZeroReturnError:
            clean = True
            break
    want = b"read %d bytes until EOF\n" % len(body)   # the body after the head
    ok = got.startswith(b"HTTP/1.1 200 ") and got.endswith(want)
    print("half-close (%s): %d bytes back, ends with %r, close_notify from the server: %s" %
          ("close_notify" if close_notify else "FIN", len(got), got[-40:], clean))
    return ok

if not (run(True) and run(False)):
    sys.exit(1)
PY

# Test: a client that never reads a large answer stalls only its own pair.
pyc >"$tmp/stall.out" 2>&1 <<'PY' &
import os, socket, ssl, time
ctx = ssl.create_default_context(cafile=os.environ["CERT"])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(os.environ["PORT"]))),
                    server_hostname="localhost")
s.sendall(b"GET /big/500000000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
print("stalled", flush=True)
time.sleep(60)
PY
BG_PIDS="$BG_PIDS $!"
wait_log stalled 1 "$tmp/stall.out" ""
sleep 0.5
for i in 1 2 3; do
	t0=$(date +%s%N)
	case $(fetch /) in "hello from the backend "*) ;; *) fail "request $i beside a stalled pair failed" ;; esac
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "request $i beside the stalled pair: $ms ms"
	within_ms "$ms" 1000 || fail "request $i beside a stalled pair took $ms ms"
done
wait_log "closed: send-timeout: the client does not read" 1
stop_server_ok
