#!/bin/bash
# t12: a key URI that matches no private key on the token stops start-up
# with one line saying no key was found, exit 1.
. "$(dirname "$0")/lib.sh"

setup_server_key ec:P-256

# Test: wrong label, wrong id, wrong token.
for uri in "pkcs11:token=$TOKEN_LABEL;object=no-such-key;type=private" \
    "pkcs11:token=$TOKEN_LABEL;id=%7f%7e;type=private" \
    "pkcs11:token=no-such-token;object=web;type=private"; do
	expect_startup_failure 'no .*(key|token)|not found|no match|match(es)? no|no-such' \
	    --cert "$CERT" --key "$uri" --pin-file "$PIN_FILE" --root "$ROOT"
done
