#!/bin/bash
# t46: the key URI's query attributes: pin-source (a file: URI or an
# absolute path) and module-path work on their own; a PIN from both
# --pin-file and pin-source, two different module paths, or a relative
# pin-source are each refused with one line.
. "$(dirname "$0")/lib.sh"
need_tool openssl

setup_server_key ec:P-256

# Test: pin-source as a file: URI, then as an absolute path; module-path.
start_server --cert "$CERT" --key "$KEY_URI?pin-source=file://$PIN_FILE" --root "$ROOT"
handshakes 1 -tls1_3
stop_server_ok
start_server --cert "$CERT" --root "$ROOT" \
    --key "$KEY_URI?pin-source=$PIN_FILE&module-path=$SOFTHSM_MODULE"
handshakes 1 -tls1_3
stop_server_ok
# The same module named twice is one module.
start_server --cert "$CERT" --root "$ROOT" --module "$SOFTHSM_MODULE" \
    --key "$KEY_URI?pin-source=$PIN_FILE&module-path=$SOFTHSM_MODULE"
stop_server_ok

expect_startup_failure 'two PINs' --cert "$CERT" --root "$ROOT" \
    --key "$KEY_URI?pin-source=$PIN_FILE" --pin-file "$PIN_FILE"
expect_startup_failure 'two module paths' --cert "$CERT" --root "$ROOT" \
    --key "$KEY_URI?module-path=/usr/lib/other-pkcs11.so" --pin-file "$PIN_FILE" \
    --module "$SOFTHSM_MODULE"
expect_startup_failure 'absolute path' --cert "$CERT" --root "$ROOT" \
    --key "$KEY_URI?pin-source=token/user.pin"
