#!/bin/bash
# t53: Range: bytes=a-b, a- and -n give 206 with Content-Range and exactly
# those bytes (also across the server's 16 KiB chunks); unsatisfiable
# ranges give 416 with "Content-Range: bytes */SIZE"; several ranges, an
# invalid range or another unit give the whole file (200); If-Range with
# a different or weak ETag or another date gives 200 whole; HEAD ignores
# Range.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool curl python3 cmp dd

setup_server_key ec:P-256
size=100000
head -c "$size" /dev/urandom >"$ROOT/data.bin"
: >"$ROOT/empty.bin"
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

py <<'PYEOF'
import os, time
from h1 import *

path = os.path.join(os.environ["ROOT"], "data.bin")
base = int(time.time()) - 3600
os.utime(path, (base, base))
data = open(path, "rb").read()
size = len(data)
check(size == 100000, "data.bin has %d bytes" % size)

c = Conn()
r = c.request("GET", "/data.bin")
etag, lm = r.get("etag"), r.get("last-modified")
check(r.status == 200 and r.body == data, "GET whole: %r" % r)

def part(spec, first, last, extra=()):
    r = c.request("GET", "/data.bin", [("Range", spec)] + list(extra))
    what = "Range %r %r" % (spec, list(extra))
    check(r.status == 206, "%s: status %d, want 206" % (what, r.status))
    want = "bytes %d-%d/%d" % (first, last, size)
    check(r.get("content-range") == want, "%s: Content-Range '%s', want '%s'" %
          (what, r.get("content-range"), want))
    check(r.get("content-length") == str(last - first + 1), "%s: Content-Length '%s'" %
          (what, r.get("content-length")))
    check(r.body == data[first:last + 1], "%s: wrong bytes (%d of them)" % (what, len(r.body)))
    check(r.get("etag") == etag and r.get("last-modified") == lm, "%s: validators" % what)
    check(r.get("accept-ranges") == "bytes", "%s: Accept-Ranges" % what)
    check(r.get("content-type") == "application/octet-stream", "%s: Content-Type" % what)
    check_common(r, what)

def whole(spec, extra=(), method="GET"):
    hdrs = ([("Range", spec)] if spec is not None else []) + list(extra)
    r = c.request(method, "/data.bin", hdrs)
    what = "%s Range %r %r" % (method, spec, list(extra))
    check(r.status == 200, "%s: status %d, want 200" % (what, r.status))
    check(r.get("content-range") is None, "%s: Content-Range on a 200" % what)
    check(r.get("content-length") == str(size), "%s: Content-Length '%s'" % (what, r.get("content-length")))
    check(r.body == (b"" if method == "HEAD" else data), "%s: not the whole file" % what)
    check(r.get("accept-ranges") == "bytes", "%s: Accept-Ranges" % what)

def unsat(spec, p="/data.bin", n=size):
    r = c.request("GET", p, [("Range", spec)])
    what = "Range %r on %s" % (spec, p)
    check(r.status == 416, "%s: status %d, want 416" % (what, r.status))
    check(r.get("content-range") == "bytes */%d" % n, "%s: Content-Range '%s', want 'bytes */%d'" %
          (what, r.get("content-range"), n))
    check(not r.body.startswith(data[:16]), "%s: 416 carries file bytes" % what)
    check_common(r, what)

part("bytes=0-99", 0, 99)
part("bytes=0-0", 0, 0)
part("bytes=99999-99999", 99999, 99999)
part("bytes=10000-60000", 10000, 60000)      # several 16 KiB chunks, odd offset
part("bytes=16383-16385", 16383, 16385)
part("bytes=50000-", 50000, size - 1)
part("bytes=0-", 0, size - 1)
part("bytes=-100", size - 100, size - 1)
part("bytes=-200000", 0, size - 1)           # longer suffix: all of it
part("bytes=99990-200000", 99990, size - 1)  # last-pos past the end: clamped
part("bytes=1-99999999999999999999999", 1, size - 1)
part("BYTES=5-9", 5, 9)                      # the unit is case-insensitive
part("bytes= 5-9 ", 5, 9)
part("bytes=5-9,", 5, 9)                     # empty list elements
part("bytes=5-9", 5, 9, [("If-Range", etag)])
part("bytes=5-9", 5, 9, [("If-Range", lm)])
unsat("bytes=%d-" % size)
unsat("bytes=%d-%d" % (size, size + 10))
unsat("bytes=99999999999999999999999-")
unsat("bytes=-0")
unsat("bytes=0-", "/empty.bin", 0)
whole("bytes=0-1,5-6")                       # several ranges: allowed to ignore
whole("bytes=0-1, 50000-")
whole("bytes=9-5")                           # invalid
whole("bytes=abc")
whole("bytes=1-2-3")
whole("bytes=-")
whole("items=0-9")
whole("bytes 0-9")
whole("bytes=0-9", [("If-Range", '"other"')])
whole("bytes=0-9", [("If-Range", "W/" + etag)])
whole("bytes=0-9", [("If-Range", http_date(base - 1))])
whole("bytes=0-9", [("If-Range", "not a date")])
whole("bytes=0-9", method="HEAD")
whole(None, [("If-Range", etag)])
# Two Range lines are not one range.
r = c.request("GET", "/data.bin", [("Range", "bytes=0-9"), ("Range", "bytes=20-29")])
check(r.status == 200 and r.body == data, "two Range lines: %r" % r)
# A conditional 304 wins over the range.
r = c.request("GET", "/data.bin", [("Range", "bytes=0-9"), ("If-None-Match", etag)])
check(r.status == 304, "Range with a matching If-None-Match: status %d, want 304" % r.status)
# The connection carried all of these and still works.
r = c.request("GET", "/index.html")
check(r.status == 200, "GET after the range requests: status %d" % r.status)
c.close()
PYEOF

# Test: curl -r gets exactly the bytes dd cuts out.
dd if="$ROOT/data.bin" of="$tmp/want.bin" bs=1 skip=12345 count=20000 2>/dev/null
code=$(curl_srv -r 12345-32344 -o "$tmp/part.bin" -w '%{http_code}' "$(url /data.bin)")
[ "$code" = 206 ] || fail "curl -r 12345-32344: got status $code, want 206"
cmp -s "$tmp/part.bin" "$tmp/want.bin" || fail "curl -r 12345-32344: not the bytes 12345..32344"

# Test: curl -C resumes a cut-off download to the whole file.
head -c 30000 "$ROOT/data.bin" >"$tmp/resume.bin"
curl_srv -C - -o "$tmp/resume.bin" "$(url /data.bin)" || fail "curl -C - failed"
cmp -s "$tmp/resume.bin" "$ROOT/data.bin" || fail "curl -C -: resumed file differs from data.bin"
stop_server_ok
