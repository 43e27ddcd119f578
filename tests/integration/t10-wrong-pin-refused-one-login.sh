#!/bin/bash
# t10: a wrong PIN stops start-up with one line naming the PIN, exit 1,
# after exactly one C_Login (a wrong PIN is never retried).
. "$(dirname "$0")/lib.sh"

use_testp11
setup_server_key ec:P-256
printf '99999999\n' >"$tmp/wrong.pin"
chmod 0600 "$tmp/wrong.pin"
cmp -s "$tmp/wrong.pin" "$PIN_FILE" && hard_error "the generated PIN equals the wrong PIN"

# Test: refused with a PIN error, one login attempt.
expect_startup_failure 'pin.*(incorrect|wrong|invalid|rejected)|(incorrect|wrong|invalid|bad).*pin' \
    --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$tmp/wrong.pin" --root "$ROOT"
logins=$(count_of C_Login)
[ "$logins" -eq 1 ] || fail "C_Login calls: got $logins, want 1"
[ "$(count_of C_Sign)" -eq 0 ] || fail "C_Sign calls after a failed login: got $(count_of C_Sign), want 0"
