#!/bin/bash
# t14: a certificate whose public key is not the token key's stops
# start-up with one line (self-test/match failure), exit 1.
. "$(dirname "$0")/lib.sh"

make_token
make_root
uri_a=$(make_key ec:P-256 key-a 0a)
uri_b=$(make_key ec:P-256 key-b 0b)
uri_r=$(make_key rsa:2048 key-r 0c)
make_cert "$uri_a" "$tmp/cert-a.pem"

# Test: cert of key A with key B (same type), and with an RSA key.
for uri in "$uri_b" "$uri_r"; do
	expect_startup_failure 'match|self-?test|verif' \
	    --cert "$tmp/cert-a.pem" --key "$uri" --pin-file "$PIN_FILE" --root "$ROOT"
done

# Control: the matching pair starts.
start_server --cert "$tmp/cert-a.pem" --key "$uri_a" --pin-file "$PIN_FILE" --root "$ROOT"
stop_server_ok
