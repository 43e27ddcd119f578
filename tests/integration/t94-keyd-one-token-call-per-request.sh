#!/bin/bash
# t94: through the counting module, hsmtls-keyd logs in once per token,
# makes exactly one C_Sign per SIGN request (ECDSA, RSA PKCS#1, RSA-PSS)
# and one C_Decrypt per DECRYPT_RAW, none for a refused request, and
# finalizes the module once at SIGTERM.  SIGHUP is logged and ignored.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/keyd-lib.sh"

use_testp11
make_token
make_root
EC=$(make_key ec:P-256 ec 01)
KX=$("$HSMTLS_TOKEN" keygen --token "$TOKEN_LABEL" --pin-file "$PIN_FILE" \
    --type rsa:2048 --label kx --id 03 --usage sign,decrypt 2>"$tmp/keygen.err") ||
	fail "keygen --usage sign,decrypt: $(cat "$tmp/keygen.err")"
make_cert "$EC" "$tmp/ec.pem"
make_cert "$KX" "$tmp/kx.pem"
rm -f "$COUNTS"
C=$tmp/hsmtls.conf
keyd_conf "$C" "site a {
    root $ROOT;
    key \"$EC\" $tmp/ec.pem;
    key \"$KX\" $tmp/kx.pem;
    rsa-key-exchange on;
}"
start_keyd -c "$C"
[ "$(count_of C_Login)" -eq 1 ] || fail "C_Login: got $(count_of C_Login), want 1"
base=$(count_of C_Sign)
[ "$base" -ge 2 ] || fail "C_Sign after start-up: got $base, want >= 2 (a self-test per key through the test module)"

check_signs() {
	want=$1
	shift
	before=$(count_of C_Sign)
	keyd_client sign "$@" "$want" >"$tmp/s.out" || fail "sign $*: $(cat "$tmp/s.out")"
	got=$(($(count_of C_Sign) - before))
	[ "$got" -eq "$want" ] || fail "C_Sign for $want SIGN requests ($*): got $got"
}
check_signs 10 "$EC" "$tmp/ec.pem" ecdsa sha256
check_signs 7 "$KX" "$tmp/kx.pem" rsa-pkcs sha384
check_signs 5 "$KX" "$tmp/kx.pem" rsa-pss sha256

before=$(count_of C_Decrypt)
keyd_client decrypt "$KX" "$tmp/kx.pem" 4 >"$tmp/d.out" || fail "decrypt: $(cat "$tmp/d.out")"
[ $(($(count_of C_Decrypt) - before)) -eq 4 ] || fail "C_Decrypt for 4 DECRYPT_RAW: got $(($(count_of C_Decrypt) - before))"

before=$(count_of C_Sign)
keyd_client malformed "$EC" "$tmp/ec.pem" >"$tmp/m.out" || fail "malformed: $(cat "$tmp/m.out")"
[ "$(count_of C_Sign)" -eq "$before" ] || fail "refused requests reached the token: C_Sign $before -> $(count_of C_Sign)"

[ "$(count_of C_Login)" -eq 1 ] || fail "C_Login after requests: got $(count_of C_Login), want 1"
[ "$(count_of C_Finalize)" -eq 0 ] || fail "C_Finalize while running"
# SIGHUP (no reload yet) neither stops the daemon nor touches the token.
kill -HUP "$KEYD_PID"
sleep 0.3
kill -0 "$KEYD_PID" 2>/dev/null || fail "SIGHUP stopped hsmtls-keyd"
keyd_client sign "$EC" "$tmp/ec.pem" ecdsa sha256 1 >"$tmp/hup.out" || fail "after SIGHUP: $(cat "$tmp/hup.out")"
[ "$(count_of C_Login)" -eq 1 ] || fail "C_Login after SIGHUP: got $(count_of C_Login), want 1"
stop_keyd
[ "$(count_of C_Finalize)" -eq 1 ] || fail "C_Finalize after SIGTERM: got $(count_of C_Finalize), want 1"
echo "PASS: $TEST_NAME"
