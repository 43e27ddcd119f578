#!/bin/bash
# t55: the default request limits, at their exact bounds: a request line
# of 8192 bytes is served and 8193 is 414; a head of 16384 bytes is served
# and 16385 is 431; 100 header lines are served and 101 are 431; a body on
# GET or HEAD (Content-Length > 0 or chunked) is 413; each refusal closes
# the connection, other methods stay 405, and the server keeps serving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool curl python3

setup_server_key ec:P-256
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

py <<'PYEOF'
from h1 import check_limits
check_limits(8192, 16384, 100)
PYEOF

# Test: curl sees the same with a long URL and a big header, and afterwards
# a normal request works.
long=$(head -c 9000 /dev/zero | tr '\0' a)
code=$(http_code "/$long")
[ "$code" = 414 ] || fail "curl GET of a 9000-byte path: got $code, want 414"
code=$(http_code /file.txt -H "X-Big: $(head -c 17000 /dev/zero | tr '\0' b)")
[ "$code" = 431 ] || fail "curl GET with a 17000-byte header: got $code, want 431"
code=$(http_code /file.txt --data-binary hello -X GET)
[ "$code" = 413 ] || fail "curl GET with a body: got $code, want 413"
code=$(http_code /file.txt)
[ "$code" = 200 ] || fail "curl GET /file.txt after the refusals: got $code, want 200"
stop_server_ok
