#!/bin/bash
# t15: a second server on a port that is already in use refuses to start
# with one line naming the address problem, exit 1, and the first server
# keeps serving.
. "$(dirname "$0")/lib.sh"
need_tool curl

setup_server_key ec:P-256
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# Test: same address and port.
expect_startup_failure 'in use|bind|address' --listen "127.0.0.1:$PORT" \
    --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# The first server is unaffected.
code=$(http_code /)
[ "$code" = 200 ] || fail "first server after the refused start: got status $code, want 200"
stop_server_ok
