#!/bin/bash
# t30: every handshake signature algorithm hsmtls offers is made on the
# token, one C_Sign per handshake: TLS 1.3 ecdsa_secp256r1_sha256,
# ecdsa_secp384r1_sha384, rsa_pss_rsae_sha256/384/512; TLS 1.2 RSA PKCS#1
# v1.5 with SHA-256/384/512 (clients prefer PSS, so each is forced with
# -sigalgs) and ECDSA.  The client verifies each signature against the
# certificate.  Then the engine's in-process matrix (sync and async).
. "$(dirname "$0")/lib.sh"
need_tool openssl

use_testp11
make_token
make_root
EC256=$(make_key ec:P-256 ec256 01)
EC384=$(make_key ec:P-384 ec384 02)
RSA=$(make_key rsa:2048 rsa 03)

# sig_case URI SIGALG TLSFLAG WANT_TYPE: one handshake offering only SIGALG
# must succeed with peer signature type WANT_TYPE and cost one C_Sign.
sig_case() {
	before=$(count_of C_Sign)
	s_client "$3" -sigalgs "$2" >"$tmp/sig.out" ||
		fail "$2 over $3: handshake failed: $(tail -3 "$tmp/sig.out")"
	grep -qx 'Verification: OK' "$tmp/sig.out" || fail "$2: not verified"
	grep -q "^Peer signature type: $4\$" "$tmp/sig.out" ||
		fail "$2: got '$(grep '^Peer signature type' "$tmp/sig.out")', want $4"
	after=$(count_of C_Sign)
	[ $((after - before)) -eq 1 ] ||
		fail "$2 over $3: C_Sign calls: got $((after - before)), want 1"
}

# serve URI: (re)start the server with that key and a certificate for it.
serve() {
	[ -n "$SERVER_PID" ] && stop_server_ok
	CERT=$tmp/cert-$2.pem
	make_cert "$1" "$CERT"
	start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$1" \
	    --pin-file "$PIN_FILE" --root "$ROOT"
}

serve "$EC256" ec256
sig_case "$EC256" ecdsa_secp256r1_sha256 -tls1_3 ECDSA
sig_case "$EC256" ECDSA+SHA256 -tls1_2 ECDSA
sig_case "$EC256" ECDSA+SHA384 -tls1_2 ECDSA
serve "$EC384" ec384
sig_case "$EC384" ecdsa_secp384r1_sha384 -tls1_3 ECDSA
sig_case "$EC384" ECDSA+SHA512 -tls1_2 ECDSA
serve "$RSA" rsa
for h in sha256 sha384 sha512; do
	sig_case "$RSA" "rsa_pss_rsae_$h" -tls1_3 RSA-PSS
done
for h in SHA256 SHA384 SHA512; do
	sig_case "$RSA" "RSA+$h" -tls1_2 RSA
done
sig_case "$RSA" rsa_pss_rsae_sha256 -tls1_2 RSA-PSS
stop_server_ok

# The engine's own matrix: the same algorithms through an in-memory TLS
# pair, each also run as an OpenSSL async job on the worker pool.
need_file HSMTLS_TLS_MATRIX
for k in "$EC256" "$EC384" "$RSA"; do
	"$HSMTLS_TLS_MATRIX" "$k" "$PIN_FILE" "$HSMTLS_TESTP11" >"$tmp/matrix.out" 2>&1 ||
		fail "tls_matrix $k: $(grep FAIL "$tmp/matrix.out" | head -3)"
done
