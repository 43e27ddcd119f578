#!/bin/bash
# t09: keys made by hsmtls-token keygen are sensitive, non-extractable,
# generated on the token, and the token refuses to reveal their private
# parts (CKR_ATTRIBUTE_SENSITIVE), read directly through PKCS#11 by p11-attr.
. "$(dirname "$0")/lib.sh"
need_file HSMTLS_P11ATTR
need_file SOFTHSM_MODULE

make_token
make_key ec:P-256 web-ec 01 >/dev/null
make_key rsa:2048 web-rsa 02 >/dev/null

# check_key LABEL SECRET_ATTRS...: attributes of the private key LABEL.
check_key() {
	label=$1
	shift
	out=$tmp/attr-$label.out
	"$HSMTLS_P11ATTR" --module "$SOFTHSM_MODULE" --token "$TOKEN_LABEL" \
	    --pin-file "$PIN_FILE" --label "$label" >"$out" 2>"$tmp/attr-$label.err" ||
		fail "p11-attr $label failed: $(cat "$tmp/attr-$label.err")"
	for line in CKA_SENSITIVE=1 CKA_EXTRACTABLE=0 CKA_ALWAYS_SENSITIVE=1 \
	    CKA_NEVER_EXTRACTABLE=1 CKA_LOCAL=1; do
		expect_line "$out" "$line"
	done
	for attr in "$@"; do
		expect_line "$out" "$attr: CKR_ATTRIBUTE_SENSITIVE"
	done
	! grep -q 'CKR_OK' "$out" || fail "$label: a private part was readable: $(grep CKR_OK "$out")"
}

# Test: EC private value and RSA private exponent and primes stay secret.
check_key web-ec CKA_VALUE
check_key web-rsa CKA_PRIVATE_EXPONENT CKA_PRIME_1 CKA_PRIME_2

# Test: hsmtls-token list reports the same for both private keys.
"$HSMTLS_TOKEN" list --token "$TOKEN_LABEL" --pin-file "$PIN_FILE" >"$tmp/list.out" 2>"$tmp/list.err" ||
	fail "hsmtls-token list failed: $(cat "$tmp/list.err")"
n=$(grep 'type=private' "$tmp/list.out" | grep -c 'sensitive=yes extractable=no' || true)
[ "$n" -eq 2 ] || fail "private keys listed as sensitive=yes extractable=no: got $n, want 2"
