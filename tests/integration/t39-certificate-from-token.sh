#!/bin/bash
# t39: the certificate can live on the token too: --cert with a PKCS#11
# URI (type=cert) reads it from there, and it must match the key.
. "$(dirname "$0")/lib.sh"
# The subject: certificates read from the token by the server (keyd mode needs certificate files).
key_mode inproc
need_tool openssl

setup_server_key ec:P-256
"$HSMTLS_TOKEN" import-cert --token "$TOKEN_LABEL" --pin-file "$PIN_FILE" \
    --cert "$CERT" >/dev/null 2>"$tmp/import.err" || fail "import-cert: $(cat "$tmp/import.err")"
start_server --cert 'pkcs11:token=hsmtls-dev;object=web;type=cert' \
    --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"
handshakes 2 -tls1_3
stop_server_ok

expect_startup_failure 'certificate matches' \
    --cert 'pkcs11:token=hsmtls-dev;object=nothing;type=cert' \
    --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"
