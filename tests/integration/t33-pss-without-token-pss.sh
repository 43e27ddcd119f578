#!/bin/bash
# t33: a token without CKM_RSA_PKCS_PSS but with raw RSA still serves
# TLS 1.3 with an RSA key: PSS is encoded in software and signed with
# CKM_RSA_X_509 on the token (one C_Sign per handshake, verified by the
# client).  With neither mechanism the RSA key is refused at start-up.
. "$(dirname "$0")/lib.sh"
need_tool openssl

use_testp11
setup_server_key rsa:2048
cp "$SOFTHSM2_CONF" "$tmp/nopss.conf"
# SoftHSM 2.6.1 skips the first name of a "-" list: CKM_MD5 is sacrificial.
echo 'slots.mechanisms = -CKM_MD5,CKM_RSA_PKCS_PSS' >>"$tmp/nopss.conf"
cp "$SOFTHSM2_CONF" "$tmp/neither.conf"
echo 'slots.mechanisms = -CKM_MD5,CKM_RSA_PKCS_PSS,CKM_RSA_X_509' >>"$tmp/neither.conf"

SOFTHSM2_CONF=$tmp/nopss.conf
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT"
for h in sha256 sha384 sha512; do
	before=$(count_of C_Sign)
	s_client -tls1_3 -sigalgs "rsa_pss_rsae_$h" >"$tmp/pss.out" ||
		fail "rsa_pss_rsae_$h without token PSS: handshake failed"
	grep -q '^Peer signature type: RSA-PSS$' "$tmp/pss.out" || fail "not PSS"
	grep -qx 'Verification: OK' "$tmp/pss.out" || fail "not verified"
	[ $(($(count_of C_Sign) - before)) -eq 1 ] || fail "C_Sign not 1 for $h"
done
stop_server_ok

SOFTHSM2_CONF=$tmp/neither.conf expect_startup_failure \
    'neither CKM_RSA_PKCS_PSS nor CKM_RSA_X_509' \
    --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"
