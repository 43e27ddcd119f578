#!/bin/bash
# t58: idle-timeout closes a keep-alive connection left idle (after the
# handshake and after a response), but not one that sends its next
# request in time; send-timeout closes a client that stops reading a large
# response.  Timeouts set with -c (hsmtls.conf).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool python3 truncate

setup_server_key ec:P-256
truncate -s 256M "$ROOT/big.bin"
write_conf "$tmp/hsmtls.conf" '
handshake-timeout 10s;
header-timeout 10s;
idle-timeout 2s;
send-timeout 2s;'
start_server_conf "$tmp/hsmtls.conf"

TIME_SCALE=$TIME_SCALE py <<'PYEOF'
import os, socket, ssl, time
from h1 import *

scale = float(os.environ["TIME_SCALE"])
IDLE, SEND = 2.0, 2.0
size = os.path.getsize(os.path.join(os.environ["ROOT"], "big.bin"))

def in_bounds(what, elapsed, want):
    check(elapsed is not None, "%s: still open (want closed after %.1f s)" % (what, want))
    check(want - 0.5 <= elapsed <= want + 2.0 * scale,
          "%s: closed after %.2f s, want %.1f s" % (what, elapsed, want))
    print("%s: closed after %.2f s" % (what, elapsed))

# Test: handshake done, no request.
c = Conn()
in_bounds("idle after the handshake", c.closed_within(IDLE * 3 + 5), IDLE)
c.close()

# Test: requests within idle-timeout keep the connection; then idle closes it.
c = Conn()
for i in range(3):
    r = c.request("GET", "/file.txt")
    check(r.status == 200, "request %d on the keep-alive connection: %d" % (i + 1, r.status))
    check(r.get("connection") == "keep-alive", "request %d: Connection '%s'" % (i + 1, r.get("connection")))
    time.sleep(IDLE / 2)
in_bounds("idle keep-alive connection", c.closed_within(IDLE * 3 + 5), IDLE - IDLE / 2)
c.close()

# Test: a client that asks for 256 MiB and never reads is closed after
# send-timeout without progress; what it then finds is less than the file.
c = Conn(connect(rcvbuf=4096))
c.send("GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
time.sleep(SEND + 4 * scale)
got = 0
c.sock.settimeout(10)
try:
    while True:
        chunk = c.sock.recv(1 << 20)
        if not chunk:
            break
        got += len(chunk)
except (ConnectionError, ssl.SSLError, socket.timeout, TimeoutError) as e:
    print("stalled client: read ended with %r" % e)
check(got < size, "stalled client received %d bytes, the whole file: not cut off" % got)
print("stalled client: %d of %d bytes before the close" % (got, size))
c.close()

# Test: a client that reads slowly but steadily gets the whole file.
c = Conn()
c.send("GET /file.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
r = c.response()
check(r.status == 200, "GET after the send timeout: status %d" % r.status)
c.close()
PYEOF
stop_server_ok
