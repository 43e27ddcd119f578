#!/bin/bash
# t36: when the token reports the user PIN's final try, or a locked PIN,
# the server refuses to log in at all (C_Login is never called), so a
# wrong PIN can never lock the token.  SoftHSM never sets these flags:
# the test module injects them.
. "$(dirname "$0")/lib.sh"
need_tool openssl

use_faults
setup_server_key ec:P-256

set_faults 'flags CKF_USER_PIN_FINAL_TRY'
expect_startup_failure 'final try' --module "$HSMTLS_TESTP11" --cert "$CERT" \
    --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"
[ "$(count_of C_Login)" -eq 0 ] || fail "C_Login with final-try set: got $(count_of C_Login), want 0"

set_faults 'flags CKF_USER_PIN_LOCKED'
expect_startup_failure 'locked' --module "$HSMTLS_TESTP11" --cert "$CERT" \
    --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"
[ "$(count_of C_Login)" -eq 0 ] || fail "C_Login with PIN locked: got $(count_of C_Login), want 0"

# Test: with the flags gone, one login and the server runs.
set_faults ''
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT"
[ "$(count_of C_Login)" -eq 1 ] || fail "C_Login: got $(count_of C_Login), want 1"
stop_server_ok
