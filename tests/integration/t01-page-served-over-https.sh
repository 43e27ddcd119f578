#!/bin/bash
# t01: the server serves the document root over HTTPS: GET returns the
# file byte for byte, "/" and a directory give their index.html, HEAD
# gives the length and no body, a keep-alive connection carries two
# requests, and a raw request through openssl s_client gets HTTP/1.1 200.
. "$(dirname "$0")/lib.sh"
need_tool curl openssl cmp

setup_server_key ec:P-256
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# Test: the start-up line names the address and the port the kernel chose.
expect_line "$SERVER_LOG" "listening on 127.0.0.1:$PORT"

# Test: GET of "/", "/index.html", "/sub/" and "/file.txt" returns the file.
for pair in /:index.html /index.html:index.html /sub/:sub/index.html /file.txt:file.txt; do
	path=${pair%%:*}
	file=$ROOT/${pair#*:}
	code=$(curl_srv -o "$tmp/get.out" -w '%{http_code}' "$(url "$path")")
	[ "$code" = 200 ] || fail "GET $path status: got $code, want 200"
	cmp -s "$tmp/get.out" "$file" || fail "GET $path body: got '$(head -c 200 "$tmp/get.out")', want the content of $file"
done

# Test: HEAD reports the file's length and the server sends no body
# (over HTTP/1.1; curl would pick h2, which t106 tests).
size=$(wc -c <"$ROOT/file.txt")
curl_srv --http1.1 -I "$(url /file.txt)" | tr -d '\r' >"$tmp/head.out"
head -n1 "$tmp/head.out" | grep -q '^HTTP/1.1 200' ||
	fail "HEAD status line: got '$(head -n1 "$tmp/head.out")', want HTTP/1.1 200"
len=$(awk 'tolower($1) == "content-length:" { print $2 }' "$tmp/head.out")
[ "$len" = "$size" ] || fail "HEAD Content-Length: got '$len', want $size"

# Raw HEAD through s_client: count the bytes after the header block.  -quiet
# implies -ign_eof, so s_client reads until the server closes (Connection: close).
printf 'HEAD /file.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
	timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
	    -CAfile "$CERT" -verify_return_error -quiet >"$tmp/rawhead.out" 2>"$tmp/rawhead.err" ||
	fail "raw HEAD through s_client failed (status $?)"
grep -q "^HTTP/1.1 200" "$tmp/rawhead.out" || fail "raw HEAD: no HTTP/1.1 200 status line"
grep -qi "^content-length: $size"$'\r'"\$" "$tmp/rawhead.out" ||
	fail "raw HEAD: no 'Content-Length: $size' header"
body_bytes=$(sed -n $'/^\r$/,$p' "$tmp/rawhead.out" | tail -n +2 | wc -c)
[ "$body_bytes" -eq 0 ] || fail "HEAD response body: got $body_bytes bytes, want 0"

# Test: keep-alive: curl fetches two URLs over one connection.
curl_srv -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
    "$(url /index.html)" "$(url /file.txt)" >"$tmp/keepalive.out"
want=$'200 1\n200 0'
[ "$(cat "$tmp/keepalive.out")" = "$want" ] ||
	fail "two requests (status, new connections): got '$(tr '\n' ' ' <"$tmp/keepalive.out")', want '200 1 200 0'"

# Test: a raw GET written through openssl s_client gets HTTP/1.1 200 and the page.
printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
	timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
	    -CAfile "$CERT" -verify_return_error -quiet >"$tmp/rawget.out" 2>"$tmp/rawget.err" ||
	fail "raw GET through s_client failed"
head -n1 "$tmp/rawget.out" | grep -q '^HTTP/1.1 200' ||
	fail "raw GET status line: got '$(head -n1 "$tmp/rawget.out")', want 'HTTP/1.1 200 ...'"
grep -qF "$(cat "$ROOT/index.html")" "$tmp/rawget.out" || fail "raw GET: body is not index.html"

stop_server_ok
