#!/bin/bash
# t19: only GET and HEAD are served: POST gets 405 and the page is not
# changed; the server keeps serving afterwards.
. "$(dirname "$0")/lib.sh"
need_tool curl cmp

setup_server_key ec:P-256
cp "$ROOT/index.html" "$tmp/index.orig"
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# Test: POST to a file and to "/" is 405.
for p in / /index.html; do
	code=$(http_code "$p" -X POST --data 'a=b')
	[ "$code" = 405 ] || fail "POST $p: got status $code, want 405"
done
cmp -s "$ROOT/index.html" "$tmp/index.orig" || fail "POST changed index.html"

code=$(http_code /)
[ "$code" = 200 ] || fail "GET / after POST: got status $code, want 200"
stop_server_ok
