#!/bin/bash
# t22: when the token closes every session (as after a token reset, which
# also ends the login), the server recovers by itself: it opens new
# sessions, logs in again with the PIN it kept and finds the key again.
# At most the first handshake after the reset may fail; then every one
# succeeds, with one re-login, not one per handshake.
. "$(dirname "$0")/lib.sh"
need_tool openssl

use_faults
setup_server_key ec:P-256
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT"
handshakes 2 -tls1_3

# recover_after_reset ID: close all sessions, then require recovery.
recover_after_reset() {
	set_faults "action close-sessions $1"
	handshake_ok -tls1_3 || handshake_ok -tls1_3 ||
		fail "after close-sessions $1: the second handshake still failed (no recovery); counts: $(tr '\n' ' ' <"$COUNTS")"
	handshakes 5 -tls1_3
}

# Test: a first reset, then a second one.
recover_after_reset reset-1
logins=$(count_of C_Login)
[ "$logins" -eq 2 ] || fail "C_Login after one reset: got $logins, want 2"
recover_after_reset reset-2
logins=$(count_of C_Login)
[ "$logins" -eq 3 ] || fail "C_Login after two resets: got $logins, want 3"
stop_server_ok
