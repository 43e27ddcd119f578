#!/bin/bash
# t72: one site with an ECDSA key on one token and an RSA key on another,
# each with its own certificate.  A client that can verify ECDSA gets the
# ECDSA certificate; one limited to RSA signatures (TLS 1.3 with
# -sigalgs rsa_pss_rsae_sha256, TLS 1.2 with ECDHE-RSA) gets the RSA one,
# and the signature is made on the RSA key's token.  gnutls-cli too.
. "$(dirname "$0")/lib.sh"
need_tool openssl

use_testp11
make_token
make_second_token second
EC=$(make_key_on "$TOKEN_LABEL" "$PIN_FILE" ec:P-256 web-ec 01)
RSA=$(make_key_on second "$TOKEN2_PIN" rsa:2048 web-rsa 02)
make_cert_for "$EC" "$PIN_FILE" "$tmp/ec.pem" localhost "DNS:localhost,IP:127.0.0.1"
make_cert_for "$RSA" "$TOKEN2_PIN" "$tmp/rsa.pem" localhost "DNS:localhost,IP:127.0.0.1"
cat "$tmp/ec.pem" "$tmp/rsa.pem" >"$tmp/both.pem"
make_root
C=$tmp/hsmtls.conf
cat >"$C" <<EOF
listen 127.0.0.1:0;
token $TOKEN_LABEL { module $HSMTLS_TESTP11; pin-file $PIN_FILE; }
token second { module $HSMTLS_TESTP11; pin-file $TOKEN2_PIN; }
site www {
    server-name localhost;
    root $ROOT;
    key "$EC" $tmp/ec.pem;
    key "$RSA" $tmp/rsa.pem;
}
EOF
start_server_conf "$C"

# keytype ARGS...: the server key type and size s_client reports.
keytype() {
	timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" \
	    -servername localhost -CAfile "$tmp/both.pem" -verify_return_error \
	    "$@" </dev/null 2>"$tmp/kt.err" >"$tmp/kt.out" || {
		echo "failed: $(tail -3 "$tmp/kt.err")"
		return 0
	}
	grep -q '^Verification: OK' "$tmp/kt.out" || { echo unverified; return 0; }
	sed -n 's/^Server public key is \([0-9]*\) bit$/\1/p' "$tmp/kt.out"
}

base=$(count_of C_Sign)
# Test: default clients (ECDSA-capable): the P-256 key.
[ "$(keytype -tls1_3)" = 256 ] || fail "TLS 1.3 default client: got '$(keytype -tls1_3)', want the 256-bit EC key"
[ "$(keytype -tls1_2)" = 256 ] || fail "TLS 1.2 default client: got '$(keytype -tls1_2)', want the EC key"
# Test: RSA-only clients: the RSA key.
got=$(keytype -tls1_3 -sigalgs rsa_pss_rsae_sha256)
[ "$got" = 2048 ] || fail "TLS 1.3 -sigalgs rsa_pss_rsae_sha256: got '$got', want the 2048-bit RSA key"
got=$(keytype -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256)
[ "$got" = 2048 ] || fail "TLS 1.2 ECDHE-RSA: got '$got', want the RSA key"
got=$(keytype -tls1_3 -sigalgs ecdsa_secp256r1_sha256)
[ "$got" = 256 ] || fail "TLS 1.3 -sigalgs ecdsa_secp256r1_sha256: got '$got'"
now=$(count_of C_Sign)
[ $((now - base)) -eq 5 ] || fail "C_Sign for 5 handshakes: got $((now - base)), want 5"

# Test: gnutls-cli, limited to RSA-PSS, verifies the RSA certificate.
if command -v gnutls-cli >/dev/null 2>&1; then
	timeout "$WAIT_SECS" gnutls-cli --x509cafile "$tmp/rsa.pem" -p "$PORT" \
	    --priority 'NORMAL:-SIGN-ALL:+SIGN-RSA-PSS-RSAE-SHA256' 127.0.0.1 \
	    </dev/null >"$tmp/gnutls.out" 2>&1 || fail "gnutls-cli RSA-PSS only: $(tail -5 "$tmp/gnutls.out")"
	grep -q 'RSA-PSS' "$tmp/gnutls.out" || fail "gnutls-cli: no RSA-PSS signature: $(cat "$tmp/gnutls.out")"
fi
stop_server_ok
