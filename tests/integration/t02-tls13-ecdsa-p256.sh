#!/bin/bash
# t02: with an ECDSA P-256 key on the token the server completes a TLS 1.3
# handshake signed with ECDSA (CertificateVerify made on the token).
. "$(dirname "$0")/lib.sh"
need_tool openssl

setup_server_key ec:P-256
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# Test: TLS 1.3, ECDSA signature with SHA-256, certificate verified.
st=0
s_client -tls1_3 >"$tmp/tls.out" || st=$?
[ "$st" -eq 0 ] || fail "s_client -tls1_3 exit status: got $st, want 0"
grep -q '^New, TLSv1\.3, Cipher is TLS_' "$tmp/tls.out" || fail "protocol: no 'New, TLSv1.3' line"
expect_line "$tmp/tls.out" "Peer signature type: ECDSA"
expect_line "$tmp/tls.out" "Peer signing digest: SHA256"
expect_line "$tmp/tls.out" "Server public key is 256 bit"
expect_line "$tmp/tls.out" "Verification: OK"

stop_server_ok
