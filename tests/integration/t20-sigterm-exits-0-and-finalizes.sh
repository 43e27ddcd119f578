#!/bin/bash
# t20: SIGTERM stops the server cleanly: exit status 0, and the PKCS#11
# module is finalized exactly once (C_Finalize 1).
. "$(dirname "$0")/lib.sh"
# The subject: the server's own C_Finalize at SIGTERM (in keyd mode the daemon finalizes).
key_mode inproc
need_tool curl

use_testp11
setup_server_key ec:P-256
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT"

# Serve something first so the pool has sessions open.
code=$(http_code /)
[ "$code" = 200 ] || fail "GET /: got status $code, want 200"
[ "$(count_of C_Finalize)" -eq 0 ] || fail "C_Finalize while running: got $(count_of C_Finalize), want 0"

# Test: SIGTERM → exit 0, one C_Finalize.
stop_server_ok
fin=$(count_of C_Finalize)
[ "$fin" -eq 1 ] || fail "C_Finalize after SIGTERM: got $fin, want 1"
