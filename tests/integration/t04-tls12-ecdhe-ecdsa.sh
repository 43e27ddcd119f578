#!/bin/bash
# t04: TLS 1.2 with ECDHE-ECDSA: the ServerKeyExchange is signed with the
# token's P-256 key.
. "$(dirname "$0")/lib.sh"
need_tool openssl

setup_server_key ec:P-256
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# Test: TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256, ECDSA signature verified.
st=0
s_client -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 >"$tmp/tls.out" || st=$?
[ "$st" -eq 0 ] || fail "s_client -tls1_2 exit status: got $st, want 0"
expect_line "$tmp/tls.out" "New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"
expect_line "$tmp/tls.out" "Peer signature type: ECDSA"
expect_line "$tmp/tls.out" "Verification: OK"

stop_server_ok
