#!/bin/bash
# t05: TLS 1.2 with ECDHE-RSA: the ServerKeyExchange is signed with the
# token's RSA key, both with RSA-PSS and with PKCS#1 v1.5.
. "$(dirname "$0")/lib.sh"
need_tool openssl

setup_server_key rsa:2048
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# Test: TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256, for each RSA signature scheme.
for pair in rsa_pss_rsae_sha256:RSA-PSS RSA+SHA256:RSA RSA+SHA384:RSA; do
	sigalg=${pair%%:*}
	want=${pair#*:}
	st=0
	s_client -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 -sigalgs "$sigalg" >"$tmp/tls.out" || st=$?
	[ "$st" -eq 0 ] || fail "s_client -tls1_2 -sigalgs $sigalg exit status: got $st, want 0"
	expect_line "$tmp/tls.out" "New, TLSv1.2, Cipher is ECDHE-RSA-AES128-GCM-SHA256"
	expect_line "$tmp/tls.out" "Peer signature type: $want"
	expect_line "$tmp/tls.out" "Verification: OK"
done

stop_server_ok
