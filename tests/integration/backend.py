"""backend.py - backends for the TLS termination tests (t101-t103).

    python3 backend.py MODE ADDR OUT

ADDR is "tcp" (127.0.0.1, a free port) or "unix:PATH".  Once listening,
the port (or the path) is written to OUT.  Runs until killed.

MODE:
  http    HTTP/1.1, one request per connection:
            GET /            a short page naming the backend
            GET /big/N       N bytes of stream(N) (see below)
            POST /hash       the SHA-256 of the request body, in hex
            GET /barrier/N   answers once N such requests are waiting
            GET /echo-close  reads until the client's EOF, then answers
                             with the byte count (half-close)
  pp2     parses a PROXY v2 header (the parser below), then answers an
          HTTP request with what it found, as JSON
  reset   accepts, then resets the connection (SO_LINGER 0)
  silent  accepts and never reads or writes
  full    listens with a full backlog and never accepts: connects
          from elsewhere hang in SYN_SENT
"""
import hashlib
import json
import os
import random
import select
import socket
import socketserver
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

CHUNK = 1 << 16


def stream(n):
    """N pseudo-random bytes, the same on every call: 64 KiB blocks of
    random.Random(i), so a reordered or repeated block changes the hash."""
    i = 0
    while n > 0:
        b = random.Random(i).randbytes(min(CHUNK, n))
        yield b
        n -= len(b)
        i += 1


def stream_sha256(n):
    h = hashlib.sha256()
    for b in stream(n):
        h.update(b)
    return h.hexdigest()


barriers = {}
barriers_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, body, ctype="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_GET(self):
        p = self.path
        if p == "/":
            self.answer("hello from the backend %d\n" % os.getpid())
        elif p.startswith("/big/"):
            n = int(p[5:])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.send_header("Connection", "close")
            self.end_headers()
            for b in stream(n):
                self.wfile.write(b)
            self.close_connection = True
        elif p.startswith("/barrier/"):
            n = int(p[9:])
            with barriers_lock:
                b = barriers.setdefault(n, threading.Barrier(n, timeout=60))
            b.wait()
            self.answer("together %d\n" % n)
        elif p == "/echo-close":
            total = 0
            while True:
                b = self.rfile.read1(CHUNK)
                if not b:
                    break
                total += len(b)
            self.answer("read %d bytes until EOF\n" % total)
        else:
            self.send_error(404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        h = hashlib.sha256()
        while n > 0:
            b = self.rfile.read(min(CHUNK, n))
            if not b:
                break
            h.update(b)
            n -= len(b)
        self.answer(h.hexdigest() + "\n")


# ---- PROXY protocol v2: the test's own parser ----

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def read_exact(f, n):
    b = f.read(n)
    if len(b) != n:
        raise ValueError("short PROXY header: %d of %d bytes" % (len(b), n))
    return b


def tlvs(data):
    out = []
    while data:
        if len(data) < 3:
            raise ValueError("truncated TLV")
        t, n = data[0], struct.unpack("!H", data[1:3])[0]
        if len(data) < 3 + n:
            raise ValueError("TLV 0x%02x: length %d past the end" % (t, n))
        out.append((t, data[3:3 + n]))
        data = data[3 + n:]
    return out


def parse_pp2(f):
    head = read_exact(f, 16)
    if head[:12] != SIG:
        raise ValueError("bad signature %r" % head[:12])
    r = {"version": head[12] >> 4, "command": head[12] & 15,
         "family": head[13]}
    n = struct.unpack("!H", head[14:16])[0]
    rest = read_exact(f, n)
    if r["family"] == 0x11:
        src, dst, sp, dp = struct.unpack("!4s4sHH", rest[:12])
        r["src"] = socket.inet_ntop(socket.AF_INET, src)
        r["dst"] = socket.inet_ntop(socket.AF_INET, dst)
        rest = rest[12:]
    elif r["family"] == 0x21:
        src, dst, sp, dp = struct.unpack("!16s16sHH", rest[:36])
        r["src"] = socket.inet_ntop(socket.AF_INET6, src)
        r["dst"] = socket.inet_ntop(socket.AF_INET6, dst)
        rest = rest[36:]
    elif r["family"] == 0x00:
        sp = dp = None
    else:
        raise ValueError("family 0x%02x" % r["family"])
    r["src_port"], r["dst_port"] = sp, dp
    for t, v in tlvs(rest):
        if t == 0x01:
            r["alpn"] = v.decode()
        elif t == 0x02:
            r["authority"] = v.decode()
        elif t == 0x20:
            if len(v) < 5:
                raise ValueError("short SSL TLV")
            r["ssl_client"] = v[0]
            r["ssl_verify"] = struct.unpack("!I", v[1:5])[0]
            for st, sv in tlvs(v[5:]):
                if st == 0x21:
                    r["ssl_version"] = sv.decode()
                elif st == 0x23:
                    r["ssl_cipher"] = sv.decode()
                else:
                    r.setdefault("ssl_other", []).append(st)
        else:
            r.setdefault("other", []).append(t)
    return r


class PP2Handler(Handler):
    def handle(self):
        try:
            self.pp2 = parse_pp2(self.rfile)
        except ValueError as e:
            # What follows is not a request to parse: answer at once.
            body = (json.dumps({"error": str(e)}) + "\n").encode()
            self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            return
        super().handle()

    def do_GET(self):
        self.answer(json.dumps(self.pp2, sort_keys=True) + "\n",
                    "application/json")


class TCP(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


class Unix(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 512


def listen_sock(addr, backlog):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(addr[5:])
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
    s.listen(backlog)
    return s


def announce(out, addr, s):
    v = addr[5:] if addr.startswith("unix:") else str(s.getsockname()[1])
    with open(out + ".tmp", "w") as f:
        f.write(v + "\n")
    os.rename(out + ".tmp", out)


def raw_loop(addr, out, mode):
    s = listen_sock(addr, 0 if mode == "full" else 128)
    kept = []
    if mode == "full":
        # Fill the accept queue (backlog 0 holds one) and never accept,
        # one connect at a time (two SYNs at once may both be answered),
        # until a probe's connect no longer completes.
        for _ in range(8):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect(s.getsockname())
            except BlockingIOError:
                pass
            kept.append(c)
            _, w, _ = select.select([], [c], [], 0.3)
            if not w:
                break
        else:
            sys.exit("full: the listen queue never filled")
        announce(out, addr, s)
        while True:
            time.sleep(3600)
    announce(out, addr, s)
    while True:
        c, _ = s.accept()
        if mode == "reset":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            c.close()
        else:
            kept.append(c)


def main():
    mode, addr, out = sys.argv[1:4]
    if mode in ("reset", "silent", "full"):
        raw_loop(addr, out, mode)
        return
    handler = PP2Handler if mode == "pp2" else Handler
    if addr.startswith("unix:"):
        srv = Unix(addr[5:], handler)
    else:
        srv = TCP(("127.0.0.1", 0), handler)
    announce(out, addr, srv.socket)
    srv.serve_forever()


if __name__ == "__main__":
    main()
