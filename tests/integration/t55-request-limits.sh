#!/bin/bash
# t55: the default request limits, at their exact bounds: a request line
# of 8192 bytes is served and 8193 is 414; a head of 16384 bytes is served
# and 16385 is 431; 100 header lines are served and 101 are 431; a body on
# GET or HEAD (Content-Length > 0 or chunked) is 413; each refusal closes
# the connection, other methods stay 405, and the server keeps serving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool curl python3

setup_server_key ec:P-256
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

LINE=8192 HEAD=16384 COUNT=100 py <<'PYEOF'
import os
from h1 import *

LINE, HEAD, COUNT = (int(os.environ[k]) for k in ("LINE", "HEAD", "COUNT"))

def send(raw, want, closes):
    c = Conn()
    c.send(raw)
    r = c.response()
    what = "%d-byte request" % len(raw)
    check(r.status == want, "%s: status %d, want %d" % (what, r.status, want))
    check_common(r, what)
    if closes:
        check(r.get("connection") == "close", "%s: Connection '%s'" % (what, r.get("connection")))
        check(c.closed_within(5) is not None, "%s: the server did not close after %d" % (what, want))
    else:
        r = c.request("GET", "/file.txt")
        check(r.status == 200, "%s: next request on the connection: %d" % (what, r.status))
    c.close()

def line_of(n):
    # "GET /xxx HTTP/1.1" of exactly n bytes (without CRLF)
    return "GET /" + "x" * (n - len("GET / HTTP/1.1")) + " HTTP/1.1"

# Request line: 404 (the file does not exist) at the limit, 414 beyond.
send(line_of(LINE) + "\r\nHost: localhost\r\n\r\n", 404, False)
send(line_of(LINE + 1) + "\r\nHost: localhost\r\n\r\n", 414, True)
send(line_of(LINE * 4) + "\r\nHost: localhost\r\n\r\n", 414, True)

# Head: request line, headers and the blank line, exactly HEAD bytes.
def head_of(n):
    fixed = "GET /file.txt HTTP/1.1\r\nHost: localhost\r\nX-Pad: \r\n\r\n"
    return fixed.replace("X-Pad: ", "X-Pad: " + "p" * (n - len(fixed)))
check(len(head_of(HEAD)) == HEAD, "head_of")
send(head_of(HEAD), 200, False)
send(head_of(HEAD + 1), 431, True)
send(head_of(HEAD * 3), 431, True)

# Header lines: Host plus COUNT - 1 others; one more is 431.
def lines_of(n):
    return ("GET /file.txt HTTP/1.1\r\nHost: localhost\r\n" +
            "".join("X-H%d: v\r\n" % i for i in range(n - 1)) + "\r\n")
send(lines_of(COUNT), 200, False)
send(lines_of(COUNT + 1), 431, True)

# A body on GET or HEAD.
for raw in ["GET /file.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello",
            "GET /file.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n\r\n",
            "HEAD /file.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n\r\nx",
            "GET /file.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"]:
    send(raw, 413, True)
send("GET /file.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n", 200, False)
# Other methods stay 405, with or without a body.
send("POST /file.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello", 405, False)
send("PUT /file.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 405, False)
send("DELETE /file.txt HTTP/1.1\r\nHost: localhost\r\n\r\n", 405, False)
PYEOF

# Test: curl sees the same with a long URL and a big header, and afterwards
# a normal request works.
long=$(head -c 9000 /dev/zero | tr '\0' a)
code=$(http_code "/$long")
[ "$code" = 414 ] || fail "curl GET of a 9000-byte path: got $code, want 414"
code=$(http_code /file.txt -H "X-Big: $(head -c 17000 /dev/zero | tr '\0' b)")
[ "$code" = 431 ] || fail "curl GET with a 17000-byte header: got $code, want 431"
code=$(http_code /file.txt --data-binary hello -X GET)
[ "$code" = 413 ] || fail "curl GET with a body: got $code, want 413"
code=$(http_code /file.txt)
[ "$code" = 200 ] || fail "curl GET /file.txt after the refusals: got $code, want 200"
stop_server_ok
