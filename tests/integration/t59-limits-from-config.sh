#!/bin/bash
# t59: max-request-line, max-header-size and max-headers set with -c
# (hsmtls.conf) are the bounds: at each bound the request is served, one
# byte or line beyond is 414 or 431 and the connection closes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool python3 curl

setup_server_key ec:P-256
write_conf "$tmp/hsmtls.conf" '
max-request-line 1k;
max-header-size 2k;
max-headers 5;'
start_server_conf "$tmp/hsmtls.conf"

py <<'PYEOF'
from h1 import check_limits
check_limits(1024, 2048, 5)
PYEOF

code=$(http_code "/$(head -c 1100 /dev/zero | tr '\0' a)")
[ "$code" = 414 ] || fail "curl GET of a 1100-byte path: got $code, want 414"
code=$(http_code /file.txt -H 'X-1: a' -H 'X-2: b' -H 'X-3: c' -H 'X-4: d' -H 'X-5: e')
[ "$code" = 431 ] || fail "curl GET with 8 header lines: got $code, want 431"
code=$(http_code /file.txt)
[ "$code" = 200 ] || fail "curl GET /file.txt: got $code, want 200"
stop_server_ok
