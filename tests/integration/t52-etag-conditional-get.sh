#!/bin/bash
# t52: file responses carry Last-Modified (the file's mtime) and a strong
# ETag that changes with the file (also when only the nanoseconds of the
# mtime change); If-None-Match (list, "*", W/ compared weakly) and
# If-Modified-Since (equal or later; ignored when If-None-Match is present
# or when it does not parse) give 304 with ETag, Last-Modified and Date and
# no body, on a connection that stays usable.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool curl python3

setup_server_key ec:P-256
head -c 40000 /dev/urandom >"$ROOT/data.bin"
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

py <<'PYEOF'
import os, re, time
from h1 import *

path = os.path.join(os.environ["ROOT"], "data.bin")
# An mtime in the past, with nanoseconds, so dates compare cleanly.
base = int(time.time()) - 3600
os.utime(path, ns=(base * 10**9, base * 10**9 + 123456789))
body = open(path, "rb").read()

c = Conn()
r = c.request("GET", "/data.bin")
check(r.status == 200 and r.body == body, "GET /data.bin: %r" % r)
check_common(r, "GET /data.bin")
etag = r.get("etag")
check(etag is not None and re.fullmatch(r'"[!#-~]+"', etag) is not None,
      "ETag '%s' is not a strong entity tag" % etag)
lm = r.get("last-modified")
check(lm == http_date(base), "Last-Modified '%s', want '%s'" % (lm, http_date(base)))
check(r.get("accept-ranges") == "bytes", "Accept-Ranges '%s'" % r.get("accept-ranges"))

# HEAD has the same validators.
r = c.request("HEAD", "/data.bin")
check(r.status == 200 and r.get("etag") == etag and r.get("last-modified") == lm,
      "HEAD /data.bin validators differ from GET: %r" % r)

def cond(headers, want, method="GET"):
    r = c.request(method, "/data.bin", headers)
    check(r.status == want, "%s with %r: status %d, want %d" % (method, headers, r.status, want))
    if want == 304:
        check(r.body == b"", "304 with a body")
        check(r.get("etag") == etag, "304 ETag '%s', want '%s'" % (r.get("etag"), etag))
        check(r.get("last-modified") == lm, "304 Last-Modified '%s'" % r.get("last-modified"))
        check(r.get("content-length") in (None, str(len(body))),
              "304 Content-Length '%s'" % r.get("content-length"))
        check_common(r, "304")
    else:
        check(r.body == (b"" if method == "HEAD" else body), "%d body is not the file" % want)
    # Same connection, next request: the 304 left nothing behind.
    r = c.request("GET", "/index.html")
    check(r.status == 200, "GET after %r: status %d" % (headers, r.status))

weak = "W/" + etag
later = http_date(base + 10)
earlier = http_date(base - 10)
cond([("If-None-Match", etag)], 304)
cond([("If-None-Match", etag)], 304, "HEAD")
cond([("If-None-Match", weak)], 304)
cond([("If-None-Match", '"nope", ' + etag)], 304)
cond([("If-None-Match", '"nope",W/"other" , ' + weak + ' ,')], 304)
cond([("If-None-Match", '"nope"'), ("If-None-Match", etag)], 304)
cond([("If-None-Match", "*")], 304)
cond([("If-None-Match", '"nope", W/"other"')], 200)
cond([("If-None-Match", etag[:-2] + '"')], 200)
cond([("If-None-Match", etag.strip('"'))], 200)         # not a quoted tag
cond([("If-Modified-Since", lm)], 304)
cond([("If-Modified-Since", later)], 304)
cond([("If-Modified-Since", later)], 304, "HEAD")
cond([("If-Modified-Since", earlier)], 200)
cond([("If-Modified-Since", "yesterday")], 200)
cond([("If-Modified-Since", lm + " junk")], 200)
# The two obsolete date forms a recipient must accept (RFC 9110 5.6.7).
t = time.gmtime(base)
cond([("If-Modified-Since", time.strftime("%A, %d-%b-%y %H:%M:%S GMT", t))], 304)
cond([("If-Modified-Since", time.strftime("%a %b ", t) + "%2d" % t.tm_mday +
       time.strftime(" %H:%M:%S %Y", t))], 304)
# If-None-Match present: If-Modified-Since is not looked at.
cond([("If-None-Match", '"nope"'), ("If-Modified-Since", later)], 200)
cond([("If-None-Match", etag), ("If-Modified-Since", earlier)], 304)
c.close()

# The ETag follows the file: same size and second, other nanoseconds.
os.utime(path, ns=(base * 10**9, base * 10**9 + 987654321))
r = request("GET", "/data.bin")
check(r.get("last-modified") == lm, "Last-Modified changed with the nanoseconds only")
check(r.get("etag") != etag, "ETag did not change when the mtime's nanoseconds did")
r2 = request("GET", "/data.bin", [("If-None-Match", etag)])
check(r2.status == 200, "old ETag after a change: status %d, want 200" % r2.status)
r3 = request("GET", "/data.bin", [("If-None-Match", r.get("etag"))])
check(r3.status == 304, "new ETag: status %d, want 304" % r3.status)

# ... and a new file at the same path (other inode, same size and times).
tmp = path + ".new"
with open(tmp, "wb") as f:
    f.write(body)
os.utime(tmp, ns=(base * 10**9, base * 10**9 + 987654321))
os.rename(tmp, path)
r4 = request("GET", "/data.bin")
check(r4.get("etag") != r.get("etag"), "ETag did not change with the inode")

# Touching the file makes If-Modified-Since with the old date 200.
os.utime(path, None)
r5 = request("GET", "/data.bin", [("If-Modified-Since", lm)])
check(r5.status == 200, "If-Modified-Since before the new mtime: status %d, want 200" % r5.status)
PYEOF

# Test: the same with curl: a 304 through --etag-compare.
curl_srv -o /dev/null --etag-save "$tmp/etag" "$(url /file.txt)"
[ -s "$tmp/etag" ] || fail "curl --etag-save saved no ETag"
code=$(curl_srv -o "$tmp/cond.out" -w '%{http_code}' --etag-compare "$tmp/etag" "$(url /file.txt)")
[ "$code" = 304 ] || fail "curl --etag-compare: got status $code, want 304"
[ ! -s "$tmp/cond.out" ] || fail "curl --etag-compare: 304 has a body"
code=$(curl_srv -o /dev/null -w '%{http_code}' -z "$ROOT/file.txt" "$(url /file.txt)")
[ "$code" = 304 ] || fail "curl -z (If-Modified-Since the file's mtime): got status $code, want 304"
stop_server_ok
