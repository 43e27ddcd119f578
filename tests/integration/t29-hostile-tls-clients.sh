#!/bin/bash
# t29: hostile TLS clients.  Against one server (through the key daemon by
# default), each a connection of its own: garbage bytes; a valid
# ClientHello cut at every byte offset; oversized, zero-length and
# unknown-type records; bad record and hello versions; SSLv2, SSLv3,
# TLS 1.0 and TLS 1.1 hellos (refused); alerts and close_notify before,
# after and instead of the client's Finished; a TLS 1.2 renegotiation
# attempt (refused); early data offered with a resumed session.  Then the
# process is alive, its open descriptors and RSS are back within 5 % (plus
# a small allowance) of where they started, and a normal client is
# served.  HOSTILE_ROUNDS repeats the whole set (check-slow runs 10,000+
# connections).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool python3 openssl

setup_server_key ec:P-256
write_conf "$tmp/hsmtls.conf" 'handshake-timeout 5s;'
start_server_conf "$tmp/hsmtls.conf"

# Renegotiation from a TLS 1.2 client ("R" asks s_client to renegotiate):
# refused, and the server carries on.
# (Interactive mode, so that "R" is a command: no -ign_eof, and stdin
# stays open a moment.)
{ printf 'R\n'; sleep 2; } | timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" \
    -servername localhost -CAfile "$CERT" -tls1_2 >"$tmp/reneg.out" 2>&1 || true
grep -q '^RENEGOTIATING' "$tmp/reneg.out" || fail "s_client did not try to renegotiate: $(tail -5 "$tmp/reneg.out")"
# Early data with a resumed TLS 1.3 session: not taken as a request.
printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >"$tmp/early.txt"
timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
    -CAfile "$CERT" -tls1_3 -sess_out "$tmp/sess" -ign_eof <"$tmp/early.txt" >/dev/null 2>&1 || true
[ -s "$tmp/sess" ] || fail "no TLS 1.3 session to resume"
timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
    -CAfile "$CERT" -tls1_3 -sess_in "$tmp/sess" -early_data "$tmp/early.txt" \
    </dev/null >"$tmp/early.out" 2>&1 || true
! grep -q 'Early data was accepted' "$tmp/early.out" || fail "early data was accepted"

SERVER_PID=$SERVER_PID ROUNDS=${HOSTILE_ROUNDS:-1} py <<'EOF'
import os, random, socket, ssl, struct, time
from h1 import *

pid = os.environ["SERVER_PID"]
rounds = int(os.environ["ROUNDS"])
rng = random.Random(29)

def fds():
    return len(os.listdir("/proc/%s/fd" % pid))

def rss():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

def alive():
    check(os.path.exists("/proc/%s" % pid), "the server died")

def client_hello(version=None, alpn=None):
    """A ClientHello as Python's OpenSSL writes it (record and all)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(CERT)
    if version is not None:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.minimum_version = ctx.maximum_version = version
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read(), obj, inc, out

def raw(data, shut=False, read=True, timeout=5.0):
    """Send data on a new connection; what the server sent back."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    got = b""
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        if read:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
    except OSError:         # reset, or closed before our shutdown
        pass
    finally:
        s.close()
    return got

def record(ctype, payload, version=b"\x03\x03"):
    return bytes([ctype]) + version + struct.pack(">H", len(payload)) + payload

def is_alert_or_nothing(got):
    return got == b"" or got[0] == 21

count = 0
old_tested = set()
ch, _, _, _ = client_hello()
warm = Conn()
check(warm.request("GET", "/").status == 200, "warm-up request")
warm.sock.close()
time.sleep(0.5)
fd0, rss0 = fds(), rss()

for r in range(rounds):
    # Garbage.
    for n in (1, 5, 16, 200, 2000):
        got = raw(bytes(rng.randrange(256) for _ in range(n)), shut=True)
        check(is_alert_or_nothing(got), "garbage of %d bytes got %r" % (n, got[:20]))
        count += 1
    # A valid ClientHello cut at every offset (then EOF).
    for k in range(1, len(ch)):
        got = raw(ch[:k], shut=True)
        check(is_alert_or_nothing(got), "ClientHello cut at %d got %r" % (k, got[:20]))
        count += 1
    alive()
    # Records: oversized, zero-length, unknown type, bad versions.
    body = ch[5:]
    cases = {
        "oversized": bytes([22, 3, 1]) + struct.pack(">H", 16384 + 2048 + 1) + b"\0" * 100,
        "zero-length handshake": record(22, b""),
        "zero-length alert": record(21, b""),
        "application data first": record(23, b"\0" * 32),
        "unknown type": record(99, b"\0" * 10),
        "record version 0.0": record(22, body, b"\x00\x00"),
        "record version ff.ff": record(22, body, b"\xff\xff"),
        "hello version 2.0": ch[:9] + b"\x02\x00" + ch[11:],
        "SSLv2 hello": b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10" + b"\x00" * 21 + bytes(16),
        "CCS first": record(20, b"\x01"),
        "alert first": record(21, b"\x02\x28"),
        "close_notify first": record(21, b"\x01\x00"),
        "hello then garbage": ch + bytes(rng.randrange(256) for _ in range(300)),
        "hello twice": ch + ch,
    }
    for name, data in cases.items():
        got = raw(data, shut=True)
        check(got == b"" or got[0] in (21, 22), "%s got %r" % (name, got[:20]))
        count += 1
    # Old protocol versions: refused (an alert, never a ServerHello).
    for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        try:
            old, _, _, _ = client_hello(v)
        except (ssl.SSLError, ValueError):
            continue        # this OpenSSL will not even write one
        got = raw(old, shut=True)
        check(is_alert_or_nothing(got), "%s hello got %r" % (v.name, got[:20]))
        old_tested.add(v.name)
        count += 1
    sslv3 = bytearray(ch)
    sslv3[9:11] = b"\x03\x00"
    got = raw(bytes(sslv3), shut=True)
    check(got == b"" or got[0] in (21, 22), "SSLv3 hello got %r" % got[:20])
    count += 1
    # Alerts and close_notify at each step of a real TLS 1.3 handshake.
    for step in ("after hello", "instead of finished", "after finished"):
        for alert in (b"\x02\x28", b"\x01\x00"):
            hello, obj, inc, out = client_hello()
            s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
            try:
                s.sendall(hello)
                if step != "after hello":
                    while True:
                        inc.write(s.recv(65536))
                        try:
                            obj.do_handshake()
                            break
                        except ssl.SSLWantReadError:
                            pass
                    fin = out.read()
                    if step == "after finished":
                        s.sendall(fin)
                s.sendall(record(21, alert))
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
            except (OSError, ssl.SSLError):
                pass
            finally:
                s.close()
            count += 1
    alive()

time.sleep(1.0)
c = Conn()
check(c.request("GET", "/").status == 200, "a normal client after the hostile ones")
c.sock.close()
time.sleep(1.0)
fd1, rss1 = fds(), rss()
print("%d hostile connections (old hellos refused: SSLv3 %s): fds %d -> %d, "
      "RSS %d kB -> %d kB" % (count, " ".join(sorted(old_tested)), fd0, fd1,
                              rss0, rss1))
check(fd1 <= fd0 * 1.05 + 2, "descriptors %d -> %d" % (fd0, fd1))
vmsize = 0
for line in open("/proc/%s/status" % pid):
    if line.startswith("VmSize:"):
        vmsize = int(line.split()[1])
if vmsize > 64 * 1024 * 1024:
    print("a sanitizer build (VmSize %d kB): its allocator keeps freed memory "
          "by design; RSS not compared" % vmsize)
else:
    check(rss1 <= rss0 * 1.05 + 2048, "RSS %d kB -> %d kB" % (rss0, rss1))
EOF
stop_server_ok
