#!/bin/bash
# t32: --rsa-key-exchange is a start-up error, never a silent fallback,
# for a key whose CKA_DECRYPT is false, for an EC key, and for a token
# without raw RSA (CKM_RSA_X_509): letting the token unpad PKCS#1 would
# make it a padding oracle.
. "$(dirname "$0")/lib.sh"
need_tool openssl

make_token
make_root
SIGN_ONLY=$(make_key rsa:2048 signonly 01)
EC=$(make_key ec:P-256 ec 02)
KX=$("$HSMTLS_TOKEN" keygen --token "$TOKEN_LABEL" --pin-file "$PIN_FILE" \
    --type rsa:2048 --label kx --id 03 --usage sign,decrypt) || fail "keygen kx"
for k in signonly ec kx; do
	case $k in signonly) u=$SIGN_ONLY ;; ec) u=$EC ;; kx) u=$KX ;; esac
	make_cert "$u" "$tmp/$k.pem"
done

expect_startup_failure 'CKA_DECRYPT' --cert "$tmp/signonly.pem" \
    --key "$SIGN_ONLY" --pin-file "$PIN_FILE" --root "$ROOT" --rsa-key-exchange
expect_startup_failure 'not RSA' --cert "$tmp/ec.pem" --key "$EC" \
    --pin-file "$PIN_FILE" --root "$ROOT" --rsa-key-exchange

# A token without raw RSA.  (SoftHSM 2.6.1 skips the first name of a
# "-" list, hence the sacrificial CKM_MD5.)
cp "$SOFTHSM2_CONF" "$tmp/noraw.conf"
echo 'slots.mechanisms = -CKM_MD5,CKM_RSA_X_509' >>"$tmp/noraw.conf"
SOFTHSM2_CONF=$tmp/noraw.conf expect_startup_failure 'CKM_RSA_X_509.*oracle' \
    --cert "$tmp/kx.pem" --key "$KX" --pin-file "$PIN_FILE" --root "$ROOT" \
    --rsa-key-exchange

# Test: the same key and token with raw RSA start fine.
start_server --cert "$tmp/kx.pem" --key "$KX" --pin-file "$PIN_FILE" \
    --root "$ROOT" --rsa-key-exchange
stop_server_ok
