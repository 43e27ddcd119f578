#!/bin/bash
# t13: a PKCS#11 module path that does not exist stops start-up with one
# line naming the module, exit 1.
. "$(dirname "$0")/lib.sh"

setup_server_key ec:P-256

# Test: --module /nonexistent.so
expect_startup_failure 'nonexistent\.so|module' \
    --module /nonexistent.so --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"
# Test: a file that is not a shared object.
expect_startup_failure 'index\.html|module' \
    --module "$ROOT/index.html" --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"
