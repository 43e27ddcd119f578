#!/bin/bash
# t38: an EC private key whose token keeps no public-key object (common on
# HSMs) is used with the public key taken from the certificate, matched by
# CKA_ID; every handshake still signs on the token.
. "$(dirname "$0")/lib.sh"
need_tool openssl
need_file HSMTLS_P11ATTR

use_testp11
setup_server_key ec:P-256
"$HSMTLS_P11ATTR" --module "$SOFTHSM_MODULE" --token "$TOKEN_LABEL" \
    --pin-file "$PIN_FILE" --delete-public --label web || fail "delete public key"
"$HSMTLS_P11ATTR" --module "$SOFTHSM_MODULE" --token "$TOKEN_LABEL" \
    --pin-file "$PIN_FILE" --list >"$tmp/objects.out"
grep -q '^CKO_PUBLIC_KEY' "$tmp/objects.out" && fail "public key object still there"

start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT"
before=$(count_of C_Sign)
handshakes 3 -tls1_3
[ $(($(count_of C_Sign) - before)) -eq 3 ] || fail "C_Sign for 3 handshakes not 3"
stop_server_ok
