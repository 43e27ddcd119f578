#!/bin/bash
# t54: three requests written at once (one TLS record, one TCP segment)
# are answered in order, HEAD without a body; every response, whatever its
# status, carries "Server: hsmtls" and a current Date.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool openssl python3

setup_server_key ec:P-256
printf 'first file %s\n' "$$" >"$ROOT/a.txt"
printf 'second file, a little longer %s\n' "$$" >"$ROOT/b.txt"
printf 'third %s\n' "$$" >"$ROOT/c.txt"
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# Test: one write of three requests through s_client; -quiet reads until
# the server closes after the third (Connection: close).
printf 'GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\nHEAD /b.txt HTTP/1.1\r\nHost: localhost\r\n\r\nGET /c.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
	timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
	    -CAfile "$CERT" -verify_return_error -quiet >"$tmp/pipe.out" 2>"$tmp/pipe.err" ||
	fail "pipelined requests through s_client failed (status $?)"
OUT=$tmp/pipe.out py <<'PYEOF'
import os
from h1 import *

root = os.environ["ROOT"]
data = open(os.environ["OUT"], "rb").read()
a, b, c = parse_stream(data, ["GET", "HEAD", "GET"])
for r, name in ((a, "a.txt"), (b, "b.txt"), (c, "c.txt")):
    check(r.status == 200, "%s: status %d, want 200" % (name, r.status))
    check_common(r, name)
check(a.body == open(os.path.join(root, "a.txt"), "rb").read(), "first response is not a.txt")
check(b.body == b"", "HEAD b.txt has a body")
check(b.get("content-length") == str(os.path.getsize(os.path.join(root, "b.txt"))),
      "HEAD b.txt: Content-Length '%s'" % b.get("content-length"))
check(c.body == open(os.path.join(root, "c.txt"), "rb").read(), "third response is not c.txt")
check(a.get("connection") == "keep-alive" and c.get("connection") == "close",
      "Connection headers: '%s', '%s'" % (a.get("connection"), c.get("connection")))
PYEOF

# Test: ten pipelined requests in one write from Python, answered in order.
py <<'PYEOF'
import os
from h1 import *

names = ["a.txt", "b.txt", "c.txt", "nope.txt", "index.html"] * 2
c = Conn()
c.send("".join("GET /%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % n for n in names))
for n in names:
    r = c.response()
    if n == "nope.txt":
        check(r.status == 404, "pipelined %s: status %d, want 404" % (n, r.status))
    else:
        want = open(os.path.join(os.environ["ROOT"], n), "rb").read()
        check(r.status == 200 and r.body == want, "pipelined %s: got %r" % (n, r))
c.close()
PYEOF

# Test: Server and Date on responses of every status.
py <<'PYEOF'
from h1 import *

cases = [
    ("GET", "/a.txt", [], 200),
    ("HEAD", "/a.txt", [], 200),
    ("GET", "/a.txt", [("Range", "bytes=0-1")], 206),
    ("GET", "/sub", [], 301),
    ("GET", "/nope", [], 404),
    ("POST", "/a.txt", [("Content-Length", "0")], 405),
    ("GET", "/a.txt", [("Range", "bytes=9999-")], 416),
]
for method, path, hdrs, want in cases:
    r = request(method, path, hdrs)
    check(r.status == want, "%s %s %r: status %d, want %d" % (method, path, hdrs, r.status, want))
    check_common(r, "%s %s (%d)" % (method, path, want))
r = request("GET", "/a.txt")
r304 = request("GET", "/a.txt", [("If-None-Match", r.get("etag"))])
check(r304.status == 304, "If-None-Match: status %d" % r304.status)
check_common(r304, "304")
for raw, want in [("GET / HTTP/1.1\r\n\r\n", 400),
                  ("GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc", 413),
                  ("GET /%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % ("x" * 9000), 414),
                  ("GET / HTTP/1.1\r\nHost: localhost\r\n%s\r\n" % ("X-A: b\r\n" * 200), 431)]:
    c = Conn()
    c.send(raw)
    r = c.response()
    check(r.status == want, "raw %r...: status %d, want %d" % (raw[:30], r.status, want))
    check_common(r, "%d" % want)
    c.close()
PYEOF
stop_server_ok
