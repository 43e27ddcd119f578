#!/bin/bash
# t03: with an RSA 2048 key on the token the server completes a TLS 1.3
# handshake signed with RSA-PSS (the only RSA scheme TLS 1.3 allows).
. "$(dirname "$0")/lib.sh"
need_tool openssl

setup_server_key rsa:2048
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# Test: TLS 1.3 with RSA-PSS/SHA-256 (salt length = digest length).
for sigalg in rsa_pss_rsae_sha256 rsa_pss_rsae_sha384; do
	st=0
	s_client -tls1_3 -sigalgs "$sigalg" >"$tmp/tls.out" || st=$?
	[ "$st" -eq 0 ] || fail "s_client -tls1_3 -sigalgs $sigalg exit status: got $st, want 0"
	grep -q '^New, TLSv1\.3, Cipher is TLS_' "$tmp/tls.out" || fail "$sigalg: no 'New, TLSv1.3' line"
	expect_line "$tmp/tls.out" "Peer signature type: RSA-PSS"
	expect_line "$tmp/tls.out" "Peer signing digest: SHA${sigalg##*sha}"
	expect_line "$tmp/tls.out" "Server public key is 2048 bit"
	expect_line "$tmp/tls.out" "Verification: OK"
done

stop_server_ok
