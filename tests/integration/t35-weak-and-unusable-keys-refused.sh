#!/bin/bash
# t35: start-up checks of the key: one that is extractable and not
# sensitive is refused (its private part could leave the token) unless
# --allow-weak-key; one with CKA_ALWAYS_AUTHENTICATE is refused (every
# signature would need a PIN entry).
. "$(dirname "$0")/lib.sh"
need_tool openssl pkcs11-tool
need_file HSMTLS_P11ATTR

make_token
make_root
attr() {
	"$HSMTLS_P11ATTR" --module "$SOFTHSM_MODULE" --token "$TOKEN_LABEL" \
	    --pin-file "$PIN_FILE" "$@"
}
attr --make-key extractable --label weak --id 0a >/dev/null || fail "make weak key"
attr --make-key always-authenticate --label prompt --id 0b >/dev/null ||
	fail "make always-authenticate key"
WEAK='pkcs11:token=hsmtls-dev;object=weak;type=private'
PROMPT='pkcs11:token=hsmtls-dev;object=prompt;type=private'
# hsmtls-token will not sign with these keys either: their certificates
# come from a throwaway software CA, for the public keys read off the
# token (public objects: no login needed).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/ca.key" -out "$tmp/ca.pem" -subj /CN=test-ca -days 1 2>/dev/null ||
	fail "test CA"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/any.key" -out "$tmp/any.csr" -subj /CN=localhost 2>/dev/null ||
	fail "test CSR"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tmp/ext.cnf"
# issue LABEL: $tmp/LABEL.pem for the token key labelled LABEL.
issue() {
	pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$TOKEN_LABEL" \
	    --read-object --type pubkey --label "$1" -o "$tmp/$1.pub.der" >/dev/null 2>&1 ||
		fail "cannot read the public key of $1"
	openssl pkey -pubin -inform DER -in "$tmp/$1.pub.der" -out "$tmp/$1.pub.pem" ||
		fail "bad public key for $1"
	openssl x509 -req -in "$tmp/any.csr" -force_pubkey "$tmp/$1.pub.pem" \
	    -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -days 1 \
	    -extfile "$tmp/ext.cnf" -out "$tmp/$1.pem" 2>/dev/null || fail "cert for $1"
}
issue weak
issue prompt

expect_startup_failure 'extractable|not sensitive' --cert "$tmp/weak.pem" \
    --key "$WEAK" --pin-file "$PIN_FILE" --root "$ROOT"

# Test: allowed on purpose, it serves (and says so in the log).
start_server --cert "$tmp/weak.pem" --key "$WEAK" --pin-file "$PIN_FILE" \
    --root "$ROOT" --allow-weak-key
CERT=$tmp/ca.pem
handshakes 1 -tls1_3
stop_server_ok

expect_startup_failure 'CKA_ALWAYS_AUTHENTICATE' --cert "$tmp/prompt.pem" \
    --key "$PROMPT" --pin-file "$PIN_FILE" --root "$ROOT"
