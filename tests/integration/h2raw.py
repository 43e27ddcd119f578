# h2raw.py - a raw HTTP/2 client over TLS for the flood and limit tests
# (t108, t109): frames written by hand (RFC 9113 4.1), header blocks as
# HPACK literals without indexing (RFC 7541 6.2.2), never Huffman.  It
# reads frame headers only: statuses are checked with curl and nghttp.
#
# PORT and CERT come from the environment (http-lib.sh's py).
import os
import socket
import ssl
import struct
import time

from h1 import check, fail, WAIT

PORT = int(os.environ["PORT"])
CERT = os.environ["CERT"]
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
INITIAL_WINDOW_SIZE = 4
CANCEL, REFUSED_STREAM, ENHANCE_YOUR_CALM, PROTOCOL_ERROR = 0x8, 0x7, 0xb, 0x1


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7f) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def header_block(fields):
    out = b""
    for name, value in fields:
        n, v = name.encode(), value.encode()
        out += b"\x00" + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v
    return out


def request(sid, path="/a.txt", method="GET", extra=(), end_stream=True):
    fields = [(":method", method), (":scheme", "https"), (":path", path),
              (":authority", "localhost")] + list(extra)
    return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), sid,
                 header_block(fields))


def settings(pairs=()):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


class Conn:
    def __init__(self, pairs=(), rcvbuf=None):
        ctx = ssl.create_default_context(cafile=CERT)
        ctx.set_alpn_protocols(["h2"])
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(WAIT)
        raw.connect(("127.0.0.1", PORT))
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        check(self.s.selected_alpn_protocol() == "h2",
              "ALPN: %r, want h2" % self.s.selected_alpn_protocol())
        self.buf = b""
        self.closed = False
        self.send(PREFACE + settings(pairs))

    def send(self, data):
        """False if the server closed first (a flood cut short)."""
        try:
            self.s.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.closed = True
            return False
        return True

    def ack_settings(self):
        self.send(frame(SETTINGS, ACK, 0))

    def read_frame(self, timeout=None):
        """(type, flags, sid, payload), or None once the server closed."""
        self.s.settimeout(WAIT if timeout is None else timeout)
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            try:
                b = self.s.recv(65536)
            except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
                b = b""
            if not b:
                self.closed = True
                return None
            self.buf += b
        n = int.from_bytes(self.buf[:3], "big")
        f = (self.buf[3], self.buf[4], struct.unpack(">I", self.buf[5:9])[0] & 0x7fffffff,
             self.buf[9:9 + n])
        self.buf = self.buf[9 + n:]
        return f

    def frames_until_close(self, limit_secs=None):
        """Every frame until the server closes; fails after limit_secs."""
        end = time.monotonic() + (WAIT if limit_secs is None else limit_secs)
        got = []
        while time.monotonic() < end:
            try:
                f = self.read_frame(timeout=max(0.1, end - time.monotonic()))
            except socket.timeout:
                break
            if f is None:
                return got
            got.append(f)
        fail("the server did not close the connection within %.0fs" %
             (WAIT if limit_secs is None else limit_secs))

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def goaway_code(frames):
    for t, _, _, p in frames:
        if t == GOAWAY:
            return struct.unpack(">I", p[4:8])[0]
    return None


def tls_exchange(server_name, alpn, data, verify_name=True):
    """One TLS connection offering alpn (a list, or None for no ALPN
    extension): send data, read to EOF.  (selected protocol, bytes)."""
    ctx = ssl.create_default_context(cafile=CERT)
    ctx.check_hostname = verify_name
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", PORT), timeout=WAIT),
                        server_hostname=server_name)
    s.sendall(data)
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
    return s.selected_alpn_protocol(), got
