#!/bin/bash
# t26: the other key types hsmtls-token makes also serve TLS 1.3: ECDSA
# P-384 (signed with SHA-384) and RSA 3072 and 4096 (RSA-PSS), each in a
# full verified handshake.
. "$(dirname "$0")/lib.sh"
need_tool openssl

make_token
make_root
id=10
for spec in ec:P-384:384:ECDSA rsa:3072:3072:RSA-PSS rsa:4096:4096:RSA-PSS; do
	type=${spec%:*:*}
	rest=${spec#"$type":}
	bits=${rest%%:*}
	sigtype=${rest#*:}
	id=$((id + 1))
	uri=$(make_key "$type" "key-$id" "$id")
	CERT=$tmp/cert-$id.pem
	make_cert "$uri" "$CERT"
	start_server --cert "$CERT" --key "$uri" --pin-file "$PIN_FILE" --root "$ROOT"

	# Test: one TLS 1.3 handshake with this key.
	st=0
	s_client -tls1_3 >"$tmp/tls.out" || st=$?
	[ "$st" -eq 0 ] || fail "$type: s_client -tls1_3 exit status: got $st, want 0"
	grep -q '^New, TLSv1\.3, Cipher is TLS_' "$tmp/tls.out" || fail "$type: no 'New, TLSv1.3' line"
	expect_line "$tmp/tls.out" "Peer signature type: $sigtype"
	expect_line "$tmp/tls.out" "Server public key is $bits bit"
	expect_line "$tmp/tls.out" "Verification: OK"
	[ "$type" != ec:P-384 ] || expect_line "$tmp/tls.out" "Peer signing digest: SHA384"
	stop_server_ok
done
