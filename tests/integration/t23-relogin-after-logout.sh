#!/bin/bash
# t23: when the token logs the application out, the next handshake still
# succeeds: the engine logs in again once with the PIN it kept (exactly one
# more C_Login), not once per handshake.
. "$(dirname "$0")/lib.sh"
need_tool openssl

use_faults
setup_server_key ec:P-256
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT"
handshakes 2 -tls1_3
[ "$(count_of C_Login)" -eq 1 ] || fail "C_Login before logout: got $(count_of C_Login), want 1"

# Test: after a logout the handshakes succeed after one re-login.
set_faults 'action logout out-1'
handshakes 5 -tls1_3
logins=$(count_of C_Login)
[ "$logins" -eq 2 ] || fail "C_Login after one logout: got $logins, want 2"
stop_server_ok
