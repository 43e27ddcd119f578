#!/bin/bash
# t90: hsmtls-keyd starts from an hsmtls.conf, serves its sites' keys on
# its socket, and its signatures verify with the certificates' public keys
# in software: EC P-256 (ECDSA, r||s), RSA-2048 PKCS#1 v1.5 and RSA-PSS.
# An RSA key made with usage sign,decrypt in a site with
# rsa-key-exchange on answers DECRYPT_RAW with the raw block, which the
# client checks against its own encryption.  SIGTERM exits 0 and removes
# the socket; a second daemon on a live socket is refused in one line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/keyd-lib.sh"
need_tool openssl

make_token
make_root
EC=$(make_key ec:P-256 ec 01)
RSA=$(make_key rsa:2048 rsa 02)
KX=$("$HSMTLS_TOKEN" keygen --token "$TOKEN_LABEL" --pin-file "$PIN_FILE" \
    --type rsa:2048 --label kx --id 03 --usage sign,decrypt 2>"$tmp/keygen.err") ||
	fail "keygen --usage sign,decrypt: $(cat "$tmp/keygen.err")"
make_cert "$EC" "$tmp/ec.pem"
make_cert "$RSA" "$tmp/rsa.pem"
make_cert "$KX" "$tmp/kx.pem"
C=$tmp/hsmtls.conf
keyd_conf "$C" "site a {
    root $ROOT;
    key \"$EC\" $tmp/ec.pem;
    key \"$RSA\" $tmp/rsa.pem;
}
site kx {
    server-name kx.test;
    root $ROOT;
    key \"$KX\" $tmp/kx.pem;
    rsa-key-exchange on;
}"
start_keyd -c "$C"
[ -S "$KEYD_SOCK" ] || fail "no socket at $KEYD_SOCK"
mode=$(stat -c %a "$KEYD_SOCK")
[ "$mode" = 660 ] || fail "socket mode: got $mode, want 660"
grep -q '^serving 3 keys$' "$KEYD_LOG" || fail "no 'serving 3 keys' line: $(cat "$KEYD_LOG")"

keyd_client sign "$EC" "$tmp/ec.pem" ecdsa sha256 5 >"$tmp/ec.out" ||
	fail "ECDSA signatures: $(cat "$tmp/ec.out")"
grep -q '^open key=1 type=ec bits=256 caps=0$' "$tmp/ec.out" || fail "EC OPEN reply: $(cat "$tmp/ec.out")"
expect_line "$tmp/ec.out" "sent 5 replies 5 ids-matched 5 verified 5 errors 0"

keyd_client sign "$RSA" "$tmp/rsa.pem" rsa-pkcs sha256 5 >"$tmp/pkcs.out" ||
	fail "RSA PKCS#1 signatures: $(cat "$tmp/pkcs.out")"
grep -q '^open key=1 type=rsa bits=2048 caps=2$' "$tmp/pkcs.out" || fail "RSA OPEN reply (PSS on token, no rsa-kx): $(cat "$tmp/pkcs.out")"
expect_line "$tmp/pkcs.out" "sent 5 replies 5 ids-matched 5 verified 5 errors 0"
keyd_client sign "$RSA" "$tmp/rsa.pem" rsa-pss sha256 5 >"$tmp/pss.out" ||
	fail "RSA-PSS signatures: $(cat "$tmp/pss.out")"
expect_line "$tmp/pss.out" "sent 5 replies 5 ids-matched 5 verified 5 errors 0"
keyd_client sign "$RSA" "$tmp/rsa.pem" rsa-pss sha384 2 >"$tmp/pss384.out" ||
	fail "RSA-PSS SHA-384 signatures: $(cat "$tmp/pss384.out")"

# Decryption: only the key whose site enables RSA key exchange.
keyd_client decrypt "$KX" "$tmp/kx.pem" 3 >"$tmp/kx.out" ||
	fail "DECRYPT_RAW: $(cat "$tmp/kx.out")"
grep -q '^open key=1 type=rsa bits=2048 caps=3$' "$tmp/kx.out" || fail "kx OPEN reply (rsa-kx + PSS on token): $(cat "$tmp/kx.out")"
expect_line "$tmp/kx.out" "decrypted 3 good 3"
st=0
keyd_client decrypt "$RSA" "$tmp/rsa.pem" 1 >"$tmp/nokx.out" || st=$?
[ "$st" -eq 1 ] || fail "DECRYPT_RAW on a key without rsa-key-exchange: exit $st, want 1"
grep -q '^error status=not-allowed' "$tmp/nokx.out" || fail "DECRYPT_RAW without rsa-kx: $(cat "$tmp/nokx.out")"

keyd_client health >"$tmp/health.out" || fail "HEALTH failed"
grep -q "^token $TOKEN_LABEL up=1 sign_ok=" "$tmp/health.out" || fail "HEALTH: $(cat "$tmp/health.out")"

# A second daemon finds the live one and refuses, in one line.
st=0
timeout "$WAIT_SECS" "$HSMTLS_KEYD" -c "$C" 2>"$tmp/second.err" || st=$?
[ "$st" -eq 1 ] || fail "second daemon: exit $st, want 1"
[ "$(wc -l <"$tmp/second.err")" -eq 1 ] || fail "second daemon: want one line: $(cat "$tmp/second.err")"
grep -q '^hsmtls-keyd: socket .*already serving' "$tmp/second.err" || fail "second daemon: $(cat "$tmp/second.err")"
[ -S "$KEYD_SOCK" ] || fail "the second daemon removed the live socket"

stop_keyd
[ ! -e "$KEYD_SOCK" ] || fail "socket left behind after SIGTERM"

# A stale socket (nobody listening) is replaced; --socket overrides.
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(sys.argv[1])" "$tmp/keyd/other" 2>/dev/null ||
	hard_error "cannot make a stale socket"
KEYD_SOCK=$tmp/keyd/other
start_keyd -c "$C" --socket "$KEYD_SOCK"
keyd_client sign "$EC" "$tmp/ec.pem" ecdsa sha256 1 >"$tmp/ec2.out" || fail "after a stale socket: $(cat "$tmp/ec2.out")"
stop_keyd
echo "PASS: $TEST_NAME"
