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
