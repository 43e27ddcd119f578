# h1.py - HTTP/1.1 over TLS for the tests of the HTTP layer (t50-t59).
#
# Imported by the Python parts of those tests (PYTHONPATH is this
# directory).  Talks to the server of the calling test: PORT and CERT come
# from the environment, and the certificate is verified for "localhost".
import email.utils
import os
import socket
import ssl
import sys
import time

PORT = int(os.environ["PORT"])
CERT = os.environ["CERT"]
WAIT = float(os.environ.get("WAIT_SECS", "30"))
TEST = os.environ.get("TEST_NAME", "test")


def fail(msg):
    print("FAIL: %s: %s" % (TEST, msg), file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def context():
    ctx = ssl.create_default_context(cafile=CERT)
    ctx.check_hostname = True
    return ctx


def tcp(rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(WAIT)
    s.connect(("127.0.0.1", PORT))
    return s


def connect(rcvbuf=None):
    """A TLS connection to the server, handshake done."""
    return context().wrap_socket(tcp(rcvbuf), server_hostname="localhost")


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers      # list of (lower-case name, value)
        self.body = body

    def get(self, name):
        """The only value of header name, or None; two lines fail."""
        vals = [v for n, v in self.headers if n == name.lower()]
        check(len(vals) <= 1, "%d '%s' header lines in a response" %
              (len(vals), name))
        return vals[0] if vals else None

    def __repr__(self):
        return "%d %s %r body=%d bytes" % (self.status, self.reason,
                                            self.headers, len(self.body))


class Conn:
    """One connection; reads responses by Content-Length, as a client must."""

    def __init__(self, sock=None):
        self.sock = sock if sock is not None else connect()
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _more(self):
        try:
            chunk = self.sock.recv(65536)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError):
            chunk = b""
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def response(self, head_only=False):
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        check(version == "HTTP/1.1", "status line '%s'" % lines[0])
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        status = int(status)
        r = Response(status, reason, headers, b"")
        length = r.get("content-length")
        n = 0 if head_only or status == 304 or length is None else int(length)
        while len(self.buf) < n:
            self._more()
        r.body, self.buf = self.buf[:n], self.buf[n:]
        return r

    def request(self, method, path, headers=(), head_only=None):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost"]
        lines += ["%s: %s" % h for h in headers]
        self.send("\r\n".join(lines) + "\r\n\r\n")
        return self.response(method == "HEAD" if head_only is None
                             else head_only)

    def closed_within(self, secs):
        """Seconds until the server closes (EOF); None if not within secs."""
        start = time.monotonic()
        self.sock.settimeout(secs)
        try:
            while True:
                try:
                    chunk = self.sock.recv(65536)
                except (ssl.SSLEOFError, ssl.SSLZeroReturnError,
                        ConnectionError):
                    chunk = b""
                if not chunk:
                    return time.monotonic() - start
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return None
        finally:
            self.sock.settimeout(WAIT)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def request(method, path, headers=()):
    """One request on a fresh connection."""
    c = Conn()
    try:
        return c.request(method, path, headers)
    finally:
        c.close()


def http_date(t):
    return email.utils.formatdate(t, usegmt=True)


def check_common(r, what):
    """Every response carries Server: hsmtls and a current Date."""
    check(r.get("server") == "hsmtls", "%s: Server header '%s', want "
          "'hsmtls'" % (what, r.get("server")))
    d = r.get("date")
    check(d is not None, "%s: no Date header" % what)
    t = email.utils.parsedate_to_datetime(d).timestamp()
    check(abs(t - time.time()) < 60, "%s: Date '%s' is not now" % (what, d))


class _Closed:
    def recv(self, n):
        return b""


def parse_stream(data, methods):
    """The responses in data (bytes a client received), one per method."""
    c = Conn(_Closed())
    c.buf = data
    out = []
    for m in methods:
        try:
            out.append(c.response(m == "HEAD"))
        except EOFError:
            fail("%d responses in the stream, want %d" % (len(out), len(methods)))
    check(c.buf == b"", "%d bytes after the last response" % len(c.buf))
    return out


def check_limits(max_line, max_head, max_headers):
    """The limits at their exact bounds (request line of max_line bytes,
    head of max_head bytes, max_headers header lines), then bodies on GET
    and HEAD (413) and other methods (405)."""
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
    send(line_of(max_line) + "\r\nHost: localhost\r\n\r\n", 404, False)
    send(line_of(max_line + 1) + "\r\nHost: localhost\r\n\r\n", 414, True)
    send(line_of(max_line * 4) + "\r\nHost: localhost\r\n\r\n", 414, True)

    # Head: request line, headers and the blank line, exactly max_head bytes.
    def head_of(n):
        fixed = "GET /file.txt HTTP/1.1\r\nHost: localhost\r\nX-Pad: \r\n\r\n"
        return fixed.replace("X-Pad: ", "X-Pad: " + "p" * (n - len(fixed)))
    check(len(head_of(max_head)) == max_head, "head_of")
    send(head_of(max_head), 200, False)
    send(head_of(max_head + 1), 431, True)
    send(head_of(max_head * 3), 431, True)

    # Header lines: Host plus max_headers - 1 others; one more is 431.
    def lines_of(n):
        return ("GET /file.txt HTTP/1.1\r\nHost: localhost\r\n" +
                "".join("X-H%d: v\r\n" % i for i in range(n - 1)) + "\r\n")
    send(lines_of(max_headers), 200, False)
    send(lines_of(max_headers + 1), 431, True)

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
