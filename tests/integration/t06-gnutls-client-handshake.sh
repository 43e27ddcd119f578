#!/bin/bash
# t06: a TLS client that is not OpenSSL (GnuTLS) completes TLS 1.3 and
# TLS 1.2 handshakes with the token-backed ECDSA key and trusts the
# certificate made by hsmtls-token selfsign.
. "$(dirname "$0")/lib.sh"
need_tool gnutls-cli

setup_server_key ec:P-256
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# Test: one handshake per protocol version, certificate trusted, ECDSA.
for ver in TLS1.3 TLS1.2; do
	st=0
	timeout "$WAIT_SECS" gnutls-cli --x509cafile="$CERT" --port="$PORT" \
	    --verify-hostname=localhost --priority="NORMAL:-VERS-ALL:+VERS-$ver" \
	    127.0.0.1 </dev/null >"$tmp/gnutls.out" 2>&1 || st=$?
	[ "$st" -eq 0 ] || fail "gnutls-cli $ver exit status: got $st, want 0"
	expect_line "$tmp/gnutls.out" "- Handshake was completed"
	grep -q '^- Status: The certificate is trusted' "$tmp/gnutls.out" ||
		fail "gnutls-cli $ver: certificate not trusted"
	grep -q "^- Description: (${ver}[-)].*-(ECDHE-[^)]*)-(ECDSA-" "$tmp/gnutls.out" ||
		fail "gnutls-cli $ver: got '$(grep '^- Description' "$tmp/gnutls.out")', want ($ver)-(ECDHE-...)-(ECDSA-...)"
done

stop_server_ok
