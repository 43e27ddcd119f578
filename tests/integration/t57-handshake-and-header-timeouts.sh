#!/bin/bash
# t57: handshake-timeout closes a client that connects and sends nothing
# (or half a ClientHello); header-timeout closes a client that sends half
# a request head and stops, and one that trickles a byte per second,
# counted from the request's first byte; the wait before that first byte
# is bounded by idle-timeout instead.  Timeouts set with -c (hsmtls.conf).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool python3

setup_server_key ec:P-256
write_conf "$tmp/hsmtls.conf" '
handshake-timeout 2s;
header-timeout 3s;
idle-timeout 30s;
send-timeout 30s;'
start_server_conf "$tmp/hsmtls.conf"

TIME_SCALE=$TIME_SCALE py <<'PYEOF'
import os, socket, ssl, time
from h1 import *

scale = float(os.environ["TIME_SCALE"])
HANDSHAKE, HEADER = 2.0, 3.0

def in_bounds(what, elapsed, want):
    check(elapsed is not None, "%s: still open after %.1f s (want closed after %.1f s)" %
          (what, want * 3 + 5, want))
    check(want - 0.5 <= elapsed <= want + 2.0 * scale,
          "%s: closed after %.2f s, want %.1f s" % (what, elapsed, want))
    print("%s: closed after %.2f s" % (what, elapsed))

def eof_after(sock, limit):
    start = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except (socket.timeout, TimeoutError):
        return None
    except (ConnectionError, ssl.SSLError):
        pass
    return time.monotonic() - start

# Test: TCP connection, nothing sent.
s = tcp()
in_bounds("silent TCP client", eof_after(s, HANDSHAKE * 3 + 5), HANDSHAKE)
s.close()

# Test: half a ClientHello (a record header promising 512 bytes), then nothing.
s = tcp()
s.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))
in_bounds("half ClientHello", eof_after(s, HANDSHAKE * 3 + 5), HANDSHAKE)
s.close()

# Test: after the handshake, a wait longer than header-timeout before the
# first byte (idle-timeout applies), then a request whose head arrives in
# two parts within header-timeout: served.
c = Conn()
time.sleep(HEADER + 1)
c.send("GET /file.txt HTTP/1.1\r\nHo")
time.sleep(HEADER / 2)
c.send("st: localhost\r\n\r\n")
r = c.response()
check(r.status == 200, "slow but timely head: status %d, want 200" % r.status)

# Test: half a head on the same (keep-alive) connection, then nothing.
c.send("GET /file.txt HTTP/1.1\r\nHost: loc")
in_bounds("half a request head", c.closed_within(HEADER * 3 + 5), HEADER)
c.close()

# Test: a head trickled one byte per second never completes; the
# connection closes HEADER seconds after the first byte, not after a
# second without a byte.
c = Conn()
head = "GET /file.txt HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + "z" * 100
start = time.monotonic()
sent = 0
closed = None
for ch in head:
    try:
        c.send(ch)
    except (ConnectionError, ssl.SSLError, OSError):
        closed = time.monotonic() - start
        break
    sent += 1
    # A second's wait that ends early only at EOF (select() would also
    # wake for the TLS 1.3 session tickets, which recv() consumes).
    c.sock.settimeout(1.0)
    try:
        data = c.sock.recv(1)
    except (socket.timeout, TimeoutError):
        continue
    except (ConnectionError, ssl.SSLError):
        data = b""
    check(data == b"", "trickled head: the server answered %r" % data)
    closed = time.monotonic() - start
    break
    if time.monotonic() - start > HEADER * 3 + 5:
        break
check(sent >= HEADER, "only %d bytes trickled before the close" % sent)
in_bounds("trickled head (%d bytes, 1/s)" % sent, closed, HEADER)
c.close()

# The server still serves.
r = request("GET", "/file.txt")
check(r.status == 200, "GET after the timeouts: status %d" % r.status)
PYEOF
stop_server_ok
