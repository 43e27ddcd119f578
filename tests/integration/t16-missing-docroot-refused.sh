#!/bin/bash
# t16: a document root that does not exist (or is not a directory) stops
# start-up with one line naming it, exit 1.
. "$(dirname "$0")/lib.sh"

setup_server_key ec:P-256

# Test: missing directory.
expect_startup_failure 'no-such-root|root|director' \
    --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$tmp/no-such-root"
# Test: a regular file as the root.
expect_startup_failure 'index\.html|root|director' \
    --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT/index.html"
