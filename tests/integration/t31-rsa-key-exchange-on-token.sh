#!/bin/bash
# t31: TLS 1.2 RSA key exchange (off by default): with --rsa-key-exchange
# and a sign,decrypt key, AES128-GCM-SHA256 and AES256-GCM-SHA384 work with
# openssl s_client and curl; each handshake is one raw-RSA C_Decrypt on the
# token and no C_Sign.  Without the option the suites are not offered.
. "$(dirname "$0")/lib.sh"
need_tool openssl curl

use_testp11
make_token
make_root
KEY_URI=$("$HSMTLS_TOKEN" keygen --token "$TOKEN_LABEL" --pin-file "$PIN_FILE" \
    --type rsa:2048 --label kx --usage sign,decrypt 2>"$tmp/keygen.err") ||
	fail "keygen --usage sign,decrypt: $(cat "$tmp/keygen.err")"
CERT=$tmp/cert.pem
make_cert "$KEY_URI" "$CERT"

# Test: not offered by default.
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT"
s_client -tls1_2 -cipher AES128-GCM-SHA256 >"$tmp/off.out" &&
	grep -q 'Cipher is AES128-GCM-SHA256' "$tmp/off.out" &&
	fail "RSA key exchange negotiated without --rsa-key-exchange"
stop_server_ok

start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT" --rsa-key-exchange
for cipher in AES128-GCM-SHA256 AES256-GCM-SHA384; do
	d0=$(count_of C_Decrypt)
	s0=$(count_of C_Sign)
	s_client -tls1_2 -cipher "$cipher" >"$tmp/kx.out" ||
		fail "$cipher: handshake failed: $(tail -3 "$tmp/kx.out")"
	grep -q "^New, TLSv1.2, Cipher is $cipher\$" "$tmp/kx.out" ||
		fail "$cipher: got '$(grep 'Cipher is' "$tmp/kx.out")'"
	grep -qx 'Verification: OK' "$tmp/kx.out" || fail "$cipher: not verified"
	d=$(($(count_of C_Decrypt) - d0))
	s=$(($(count_of C_Sign) - s0))
	[ "$d" -eq 1 ] && [ "$s" -eq 0 ] ||
		fail "$cipher: C_Decrypt $d, C_Sign $s; want 1 and 0"
done

# Test: curl fetches the page over RSA key exchange.
d0=$(count_of C_Decrypt)
body=$(fetch / --tls-max 1.2 --tlsv1.2 --ciphers AES128-GCM-SHA256) ||
	fail "curl over AES128-GCM-SHA256 failed"
[ "$body" = "$(cat "$ROOT/index.html")" ] || fail "curl body: got '$body'"
[ $(($(count_of C_Decrypt) - d0)) -eq 1 ] || fail "curl: C_Decrypt not 1"
stop_server_ok
