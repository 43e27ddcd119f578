#!/bin/bash
# t11: a PIN file that group or others may access (0640, 0604) is refused
# before any login, with one line naming the file's permissions.
. "$(dirname "$0")/lib.sh"

use_testp11
setup_server_key ec:P-256

# Test: each loose mode is refused and no C_Login happens.
for mode in 0640 0604 0660; do
	cp "$PIN_FILE" "$tmp/pin-$mode"
	chmod "$mode" "$tmp/pin-$mode"
	rm -f "$COUNTS"
	expect_startup_failure 'permission|mode|group|other|secre|insecure|readable|accessible' \
	    --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
	    --pin-file "$tmp/pin-$mode" --root "$ROOT"
	[ "$(count_of C_Login)" -eq 0 ] || fail "mode $mode: C_Login calls: got $(count_of C_Login), want 0"
done

# Control: the same PIN at 0600 is accepted (the refusal is about the mode).
cp "$PIN_FILE" "$tmp/pin-0600"
chmod 0600 "$tmp/pin-0600"
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$tmp/pin-0600" --root "$ROOT"
stop_server_ok
