#!/bin/bash
# t17: a key URI carrying the PIN itself (pin-value) is refused before any
# login, even when the PIN is right: PINs never travel in argv.
. "$(dirname "$0")/lib.sh"

use_testp11
setup_server_key ec:P-256
pin=$(head -n1 "$PIN_FILE")

# Test: pin-value with the correct PIN, no --pin-file.
expect_startup_failure 'pin-value' \
    --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI?pin-value=$pin" --root "$ROOT"
[ "$(count_of C_Login)" -eq 0 ] || fail "C_Login calls: got $(count_of C_Login), want 0"
grep -qF -- "$pin" <<<"$REFUSAL" && fail "the refusal message contains the PIN"

# Test: pin-value next to --pin-file is refused too.
expect_startup_failure 'pin-value' \
    --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI?pin-value=$pin" \
    --pin-file "$PIN_FILE" --root "$ROOT"
[ "$(count_of C_Login)" -eq 0 ] || fail "C_Login calls: got $(count_of C_Login), want 0"
exit 0
