#!/bin/bash
# t50: "/" and directories named with a trailing slash serve their
# index.html; a directory named without it is 301 to the same path with
# the slash (the query kept), which curl -L follows; the redirect cannot
# point to another host; a file named with a trailing slash is 404.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool curl python3

setup_server_key ec:P-256
mkdir -p "$ROOT/a/b c" "$ROOT/noindex"
printf 'deep index %s\n' "$$" >"$ROOT/a/b c/index.html"
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# Test: index files, and the redirects with their exact Location (raw
# requests: the path is sent as written here).
py <<'PYEOF'
import os
from h1 import *

root = os.environ["ROOT"]
def content(rel):
    return open(os.path.join(root, rel), "rb").read()

for path, rel in [("/", "index.html"), ("/sub/", "sub/index.html"),
                  ("/a/b%20c/", "a/b c/index.html"), ("//sub/", "sub/index.html")]:
    r = request("GET", path)
    check(r.status == 200, "GET %s: status %d, want 200" % (path, r.status))
    check(r.body == content(rel), "GET %s: body is not %s" % (path, rel))
    check(r.get("content-type") == "text/html; charset=utf-8",
          "GET %s: Content-Type '%s'" % (path, r.get("content-type")))

redirects = [
    ("/sub", "/sub/"),
    ("/sub?x=1&y=%2F", "/sub/?x=1&y=%2F"),
    ("/a/b%20c", "/a/b%20c/"),
    ("/a", "/a/"),
    ("/noindex", "/noindex/"),
    ("//sub", "/sub/"),             # not "//sub/": that would be host "sub"
    ("///sub?q", "/sub/?q"),
    ("/%2Fsub", "/%2Fsub/"),
    ("https://localhost/sub?k=v", "/sub/?k=v"),
]
for method in ("GET", "HEAD"):
    for path, want in redirects:
        c = Conn()
        r = c.request(method, path)
        check(r.status == 301, "%s %s: status %d, want 301" % (method, path, r.status))
        check(r.get("location") == want, "%s %s: Location '%s', want '%s'" %
              (method, path, r.get("location"), want))
        check_common(r, "%s %s" % (method, path))
        if method == "HEAD":
            check(r.body == b"", "HEAD %s: 301 has a body" % path)
        # The connection stays usable after a redirect.
        r = c.request("GET", want)
        want_status = 404 if want.split("?")[0] in ("/noindex/", "/a/") else 200
        check(r.status == want_status, "GET %s after the redirect: status %d, want %d" %
              (want, r.status, want_status))
        c.close()

for path in ("/file.txt/", "/noindex/", "/sub/index.html/"):
    r = request("GET", path)
    check(r.status == 404, "GET %s: status %d, want 404" % (path, r.status))
PYEOF

# Test: curl follows the redirect to the directory's index.
code=$(curl_srv -L -o "$tmp/follow.out" -w '%{http_code} %{num_redirects} %{url_effective}' "$(url /sub)")
[ "$code" = "200 1 $(url /sub/)" ] || fail "curl -L /sub: got '$code', want '200 1 $(url /sub/)'"
cmp -s "$tmp/follow.out" "$ROOT/sub/index.html" || fail "curl -L /sub: body is not sub/index.html"
code=$(curl_srv -o /dev/null -w '%{http_code} %{redirect_url}' "$(url '/a?x=1')")
[ "$code" = "301 $(url '/a/?x=1')" ] || fail "curl /a?x=1: got '$code', want '301 $(url '/a/?x=1')'"

stop_server_ok
