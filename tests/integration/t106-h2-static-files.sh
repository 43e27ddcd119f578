#!/bin/bash
# t106: HTTP/2 (ALPN h2) serves a static site as HTTP/1.1 does: GET and
# HEAD with the same fields (lower case, no Connection), 304 for a
# matching If-None-Match and If-Modified-Since, 206 and 416 for Range, 404,
# 405; a 3 MB file arrives whole (hash
# checked, through flow control); nghttp runs 100 concurrent streams on one
# connection; each stream has an access log line with protocol HTTP/2.0;
# /metrics counts h2 connections and streams.  ALPN fallback: curl
# --http1.1 and a client offering no ALPN get HTTP/1.1, and --alpn
# http/1.1 turns h2 off.  (h2spec is not packaged in Debian: not run.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool curl nghttp python3 sha256sum openssl

curl --version | grep -q HTTP2 || skip "curl without HTTP/2"
setup_server_key ec:P-256
head -c 3000000 /dev/urandom >"$ROOT/big.bin"
printf 'hello\n' >"$ROOT/a.txt"
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT" \
    --admin-listen 127.0.0.1:0 --access-log "$tmp/access.log"

h2() { curl_srv --http2 "$@"; }

# GET: h2 negotiated, the fields of HTTP/1.1 in lower case, no Connection.
h2 -D "$tmp/get.h" -o "$tmp/get.b" "$(url /a.txt)"
head -n1 "$tmp/get.h" | grep -q '^HTTP/2 200' || fail "GET over h2: $(head -n1 "$tmp/get.h")"
[ "$(cat "$tmp/get.b")" = hello ] || fail "GET body: '$(cat "$tmp/get.b")'"
for f in 'server: hsmtls' 'content-type: text/plain; charset=utf-8' 'content-length: 6' \
    'accept-ranges: bytes'; do
	grep -qi "^$f" "$tmp/get.h" || fail "GET: no '$f' in:
$(cat "$tmp/get.h")"
done
grep -qi '^connection:' "$tmp/get.h" && fail "h2 response has a Connection field"
etag=$(sed -n 's/^etag: *//Ip' "$tmp/get.h" | tr -d '\r')
lm=$(sed -n 's/^last-modified: *//Ip' "$tmp/get.h" | tr -d '\r')
[ -n "$etag" ] && [ -n "$lm" ] || fail "GET: no validators"

# HEAD: the same fields, no body.
h2 -I -o "$tmp/head.h" "$(url /a.txt)"
head -n1 "$tmp/head.h" | grep -q '^HTTP/2 200' || fail "HEAD: $(head -n1 "$tmp/head.h")"
grep -qi '^content-length: 6' "$tmp/head.h" || fail "HEAD: no content-length 6"

code() { h2 -o "$tmp/body.out" -w '%{http_code} %{http_version}' "$@" || true; }
expect_code() { want=$1; shift; got=$(code "$@"); [ "$got" = "$want 2" ] || fail "$*: got '$got', want '$want 2'"; }

expect_code 304 -H "If-None-Match: $etag" "$(url /a.txt)"
expect_code 304 -H "If-Modified-Since: $lm" "$(url /a.txt)"
expect_code 200 -H 'If-None-Match: "other"' "$(url /a.txt)"
expect_code 206 -r 10-19 "$(url /big.bin)"
cmp -s "$tmp/body.out" <(tail -c +11 "$ROOT/big.bin" | head -c 10) || fail "206: wrong bytes"
expect_code 416 -r 5000000- "$(url /big.bin)"
expect_code 404 "$(url /nope)"
expect_code 404 "$(url /../etc/passwd)" --path-as-is
expect_code 405 -X POST -d x "$(url /a.txt)"

# A large file through flow control, whole.
want=$(sha256sum <"$ROOT/big.bin" | cut -d' ' -f1)
got=$(h2 "$(url /big.bin)" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "big.bin over h2: sha256 $got, want $want"
got=$(timeout "$WAIT_SECS" nghttp "https://127.0.0.1:$PORT/big.bin" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "big.bin over nghttp: sha256 $got, want $want"

# 100 concurrent streams on one connection.
before=$(admin_get /metrics >"$tmp/m0" && metric "$tmp/m0" hsmtls_h2_connections_total)
timeout "$WAIT_SECS" nghttp -n -s -m 100 "https://127.0.0.1:$PORT/a.txt" >"$tmp/nghttp.out" 2>&1 ||
	fail "nghttp -m 100: $(tail -5 "$tmp/nghttp.out")"
n=$(grep -c ' 200 .* /a.txt$' "$tmp/nghttp.out" || true)
[ "$n" -eq 100 ] || fail "nghttp -m 100: $n responses 200, want 100:
$(tail -5 "$tmp/nghttp.out")"
admin_get /metrics >"$tmp/m1"
[ "$(metric "$tmp/m1" hsmtls_h2_connections_total)" -eq $((before + 1)) ] ||
	fail "100 streams took more than one h2 connection"
grep -c '"GET /a.txt HTTP/2.0" 200 6 ' "$tmp/access.log" >"$tmp/n" || true
[ "$(cat "$tmp/n")" -ge 100 ] || fail "access log: $(cat "$tmp/n") h2 lines for /a.txt, want >= 100"
grep -q '"GET /nope HTTP/2.0" 404 ' "$tmp/access.log" || fail "access log: no h2 404 line"
[ "$(metric "$tmp/m1" hsmtls_h2_streams_total)" -ge 110 ] || fail "h2 streams counted: $(metric "$tmp/m1" hsmtls_h2_streams_total)"

# Fallback: HTTP/1.1 by choice, and without ALPN at all.
got=$(curl_srv --http1.1 -o /dev/null -w '%{http_version}' "$(url /a.txt)")
[ "$got" = 1.1 ] || fail "curl --http1.1: HTTP/$got"
py <<'PYEOF' || fail "a client without ALPN was not served HTTP/1.1"
from h2raw import *
proto, data = tls_exchange("localhost", None,
                           b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
check(proto is None, "no ALPN offered, %r selected" % proto)
check(data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\nhello\n"), repr(data))
PYEOF
stop_server_ok

# --alpn http/1.1: h2 is not offered, curl --http2 gets HTTP/1.1.
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT" --alpn http/1.1
got=$(curl_srv --http2 -o /dev/null -w '%{http_version}' "$(url /a.txt)")
[ "$got" = 1.1 ] || fail "--alpn http/1.1: curl --http2 got HTTP/$got"
s_client -alpn h2,http/1.1 >"$tmp/s.out" || true
grep -q '^ALPN protocol: http/1.1' "$tmp/s.out" || fail "--alpn http/1.1: $(grep -i alpn "$tmp/s.out")"
stop_server_ok
