#!/bin/sh
# check-token-tool.sh - hsmtls-token provisions a throwaway SoftHSM token:
# init, keygen (EC and RSA), list, refusals (existing label, existing token,
# wrong PIN with exactly one C_Login, group-readable PIN file), selfsign
# through the engine, import-cert.  Key attributes are checked with p11-attr,
# which reads them through the module directly, not through hsmtls-token.
#
# Environment (set by "make check"; the defaults fit an in-tree build):
#   HSMTLS_TOKEN HSMTLS_TESTP11 HSMTLS_P11ATTR SOFTHSM_MODULE
set -eu

here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${builddir:-}" ]; then
	top=$(cd "$builddir/.." 2>/dev/null && pwd || echo "$here/../..")
else
	top=$here/../..
fi
HSMTLS_TOKEN=${HSMTLS_TOKEN:-$top/tokens/hsmtls-token}
HSMTLS_TESTP11=${HSMTLS_TESTP11:-$top/tests/p11/.libs/hsmtls-testp11.so}
HSMTLS_P11ATTR=${HSMTLS_P11ATTR:-$top/tests/p11/p11-attr}
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

skip() { echo "SKIP: $*" >&2; exit 77; }
[ -x "$HSMTLS_TOKEN" ] || skip "no hsmtls-token at $HSMTLS_TOKEN"
[ -f "$HSMTLS_TESTP11" ] || skip "no test module at $HSMTLS_TESTP11"
[ -x "$HSMTLS_P11ATTR" ] || skip "no p11-attr at $HSMTLS_P11ATTR"
[ -f "$SOFTHSM_MODULE" ] || skip "no SoftHSM module at $SOFTHSM_MODULE"
command -v openssl >/dev/null 2>&1 || skip "no openssl"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hsmtls-token-test.XXXXXX")
tmp=$(cd "$tmp" && pwd -P)
cleanup() {
	rc=$?
	if [ $rc -ne 0 ] && [ -f "$tmp/err" ]; then
		echo "--- last stderr:" >&2
		cat "$tmp/err" >&2
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
tok() { "$HSMTLS_TOKEN" "$@" 2>"$tmp/err"; }

# expect_refusal WHAT PATTERN CMD...: CMD exits 1 with exactly one stderr
# line "hsmtls-token: ..." matching PATTERN.
expect_refusal() {
	what=$1 pattern=$2
	shift 2
	if "$@" >"$tmp/out" 2>"$tmp/err"; then
		fail "$what: succeeded, want a refusal"
	fi
	[ "$(wc -l <"$tmp/err")" -eq 1 ] ||
		fail "$what: $(wc -l <"$tmp/err") stderr lines, want 1"
	grep -q "^hsmtls-token: .*$pattern" "$tmp/err" ||
		fail "$what: got '$(cat "$tmp/err")', want '$pattern'"
}

# count FILE FUNCTION: the test module's count for FUNCTION
count() { awk -v f="$2" '$1 == f { print $2 }' "$1"; }

dir=$tmp/t
pin=$dir/user.pin
tokenlabel=hsmtls-dev

# Test: init makes the directory, PIN files and token, prints the export line
out=$(tok init --dir "$dir") || fail "init: $(cat "$tmp/err")"
[ "$out" = "export SOFTHSM2_CONF=$dir/softhsm2.conf" ] ||
	fail "init printed '$out'"
eval "$out"
[ "$SOFTHSM2_CONF" = "$dir/softhsm2.conf" ] || fail "SOFTHSM2_CONF not set"
grep -q "^directories.tokendir = $dir/tokens\$" "$SOFTHSM2_CONF" ||
	fail "softhsm2.conf has no tokendir $dir/tokens"
for f in so.pin user.pin; do
	[ "$(stat -c %a "$dir/$f")" = 600 ] || fail "$f mode $(stat -c %a "$dir/$f")"
	grep -Eqx '[0-9a-f]{16}' "$dir/$f" || fail "$f is not 16 hex digits"
done
[ "$(stat -c %a "$dir")" = 700 ] || fail "DIR mode $(stat -c %a "$dir")"
cmp -s "$dir/so.pin" "$dir/user.pin" && fail "SO and user PIN are equal"

# Test: keygen prints the private key's URI, for EC and RSA
uri=$(tok keygen --token $tokenlabel --pin-file "$pin" --type ec:P-256 \
	--label ec --id 01) || fail "keygen ec: $(cat "$tmp/err")"
[ "$uri" = "pkcs11:token=$tokenlabel;object=ec;id=%01;type=private" ] ||
	fail "keygen ec printed '$uri'"
uri=$(tok keygen --token $tokenlabel --pin-file "$pin" --type rsa:2048 \
	--label rsa --id 0a0B) || fail "keygen rsa: $(cat "$tmp/err")"
[ "$uri" = "pkcs11:token=$tokenlabel;object=rsa;id=%0A%0B;type=private" ] ||
	fail "keygen rsa printed '$uri'"

# Test: the private keys are sensitive, non-extractable, generated on the
# token, and the module refuses to reveal their secret parts
probe() {
	key=$1
	shift
	"$HSMTLS_P11ATTR" --module "$SOFTHSM_MODULE" --token $tokenlabel \
		--pin-file "$pin" --label "$key" >"$tmp/attr.$key" 2>"$tmp/err" ||
		fail "p11-attr $key: $(cat "$tmp/err")"
	for want in CKA_SENSITIVE=1 CKA_EXTRACTABLE=0 CKA_LOCAL=1 \
	    CKA_ALWAYS_SENSITIVE=1 CKA_NEVER_EXTRACTABLE=1 CKA_PRIVATE=1 \
	    CKA_TOKEN=1 CKA_SIGN=1 CKA_DECRYPT=0; do
		grep -qx "$want" "$tmp/attr.$key" ||
			fail "key $key: no line '$want' in: $(tr '\n' ' ' <"$tmp/attr.$key")"
	done
	for part in "$@"; do
		grep -qx "$part: CKR_ATTRIBUTE_SENSITIVE" "$tmp/attr.$key" ||
			fail "key $key: got '$(grep "^$part" "$tmp/attr.$key")', want '$part: CKR_ATTRIBUTE_SENSITIVE'"
	done
	if grep -q 'CKR_OK len=' "$tmp/attr.$key"; then
		fail "key $key leaks: $(grep 'CKR_OK len=' "$tmp/attr.$key")"
	fi
}
probe ec CKA_VALUE
probe rsa CKA_PRIVATE_EXPONENT CKA_PRIME_1 CKA_PRIME_2
grep -qx CKA_KEY_TYPE=CKK_EC "$tmp/attr.ec" || fail "key ec is not EC"
grep -qx CKA_KEY_TYPE=CKK_RSA "$tmp/attr.rsa" || fail "key rsa is not RSA"

# Test: list shows each object's URI and the keys' protection attributes
flags="sensitive=yes extractable=no local=yes always-sensitive=yes never-extractable=yes always-authenticate=no decrypt=no"
cat >"$tmp/want.list" <<EOT
pkcs11:token=$tokenlabel;object=ec;id=%01;type=private $flags
pkcs11:token=$tokenlabel;object=ec;id=%01;type=public
pkcs11:token=$tokenlabel;object=rsa;id=%0A%0B;type=private $flags
pkcs11:token=$tokenlabel;object=rsa;id=%0A%0B;type=public
EOT
tok list --token $tokenlabel --pin-file "$pin" >"$tmp/got.list" ||
	fail "list: $(cat "$tmp/err")"
diff -u "$tmp/want.list" "$tmp/got.list" >&2 || fail "list output differs"

# Test: keygen refuses a label (and an id) already used by a key
expect_refusal "keygen existing label" "key labelled 'ec' already exists" \
	"$HSMTLS_TOKEN" keygen --token $tokenlabel --pin-file "$pin" \
	--type ec:P-256 --label ec --id 77
expect_refusal "keygen existing id" "an object with this id already exists" \
	"$HSMTLS_TOKEN" keygen --token $tokenlabel --pin-file "$pin" \
	--type ec:P-256 --label other --id 01
tok list --token $tokenlabel --pin-file "$pin" >"$tmp/got.list" ||
	fail "list: $(cat "$tmp/err")"
diff -u "$tmp/want.list" "$tmp/got.list" >&2 ||
	fail "a refused keygen changed the token"

# Test: through the counting module, a good PIN logs in exactly once
export HSMTLS_TESTP11_MODULE="$SOFTHSM_MODULE"
export HSMTLS_TESTP11_COUNTS="$tmp/counts"
tok list --module "$HSMTLS_TESTP11" --token $tokenlabel --pin-file "$pin" \
	>"$tmp/got.list" || fail "list via test module: $(cat "$tmp/err")"
diff -u "$tmp/want.list" "$tmp/got.list" >&2 || fail "list via test module differs"
[ "$(count "$tmp/counts" C_Login)" = 1 ] ||
	fail "good PIN: C_Login count $(count "$tmp/counts" C_Login), want 1"
[ "$(count "$tmp/counts" C_Finalize)" = 1 ] ||
	fail "C_Finalize count $(count "$tmp/counts" C_Finalize), want 1"

# Test: a wrong PIN fails with one line and exactly one C_Login
printf '0000000000000000\n' >"$tmp/wrong.pin"
chmod 600 "$tmp/wrong.pin"
rm -f "$tmp/counts"
expect_refusal "wrong PIN" "C_Login: CKR_PIN_INCORRECT" \
	"$HSMTLS_TOKEN" list --module "$HSMTLS_TESTP11" --token $tokenlabel \
	--pin-file "$tmp/wrong.pin"
[ "$(count "$tmp/counts" C_Login)" = 1 ] ||
	fail "wrong PIN: C_Login count $(count "$tmp/counts" C_Login), want 1"

# Test: a group-readable PIN file is refused before any C_Login
cp "$pin" "$tmp/loose.pin"
chmod 640 "$tmp/loose.pin"
rm -f "$tmp/counts"
expect_refusal "group-readable PIN file" \
	"PIN file $tmp/loose.pin: group or other permission bits set" \
	"$HSMTLS_TOKEN" list --module "$HSMTLS_TESTP11" --token $tokenlabel \
	--pin-file "$tmp/loose.pin"
[ "$(count "$tmp/counts" C_Login)" = 0 ] ||
	fail "loose PIN file: C_Login count $(count "$tmp/counts" C_Login), want 0"
unset HSMTLS_TESTP11_COUNTS HSMTLS_TESTP11_MODULE

# Test: init refuses a token that exists, and leaves it as it was
sum=$(cat "$dir/so.pin" "$dir/user.pin" | cksum)
expect_refusal "init existing token" "token '$tokenlabel' already exists" \
	"$HSMTLS_TOKEN" init --dir "$dir"
[ "$(cat "$dir/so.pin" "$dir/user.pin" | cksum)" = "$sum" ] ||
	fail "a refused init changed the PIN files"
tok list --token $tokenlabel --pin-file "$pin" >"$tmp/got.list" ||
	fail "list after refused init: $(cat "$tmp/err")"
diff -u "$tmp/want.list" "$tmp/got.list" >&2 || fail "a refused init changed the token"

# Test: init --force replaces a token (in a second directory)
dir2=$tmp/t2
(tok init --dir "$dir2" --label forced >/dev/null) || fail "init 2: $(cat "$tmp/err")"
old=$(cat "$dir2/user.pin")
(tok init --dir "$dir2" --label forced --force >/dev/null) ||
	fail "init --force: $(cat "$tmp/err")"
[ "$(cat "$dir2/user.pin")" != "$old" ] || fail "init --force kept the old PIN"
[ "$(stat -c %a "$dir2/user.pin")" = 600 ] || fail "init --force: user.pin mode"
(SOFTHSM2_CONF=$dir2/softhsm2.conf tok list --token forced \
	--pin-file "$dir2/user.pin" >"$tmp/got.list") ||
	fail "list after init --force: $(cat "$tmp/err")"
[ ! -s "$tmp/got.list" ] || fail "init --force left objects: $(cat "$tmp/got.list")"

# Test: selfsign makes a v3 CA:TRUE certificate signed on the token that
# openssl verifies against itself, for EC and RSA
for key in ec rsa; do
	cert=$tmp/$key.pem
	tok selfsign --key "pkcs11:token=$tokenlabel;object=$key;type=private" \
		--pin-file "$pin" --out "$cert" ||
		fail "selfsign $key: $(cat "$tmp/err")"
	openssl x509 -in "$cert" -noout -text >"$tmp/text.$key" 2>"$tmp/err" ||
		fail "selfsign $key: openssl cannot read the certificate"
	for want in 'Version: 3 (0x2)' 'CA:TRUE' 'DNS:localhost' \
	    'IP Address:127.0.0.1' 'Digital Signature' 'Certificate Sign' \
	    'Subject: CN = localhost'; do
		grep -q "$want" "$tmp/text.$key" ||
			fail "selfsign $key: no '$want' in the certificate"
	done
	openssl verify -CAfile "$cert" "$cert" >"$tmp/out" 2>"$tmp/err" ||
		fail "selfsign $key: openssl verify: $(cat "$tmp/out" "$tmp/err")"
done
grep -q 'Signature Algorithm: ecdsa-with-SHA256' "$tmp/text.ec" ||
	fail "EC certificate is not ecdsa-with-SHA256"
grep -q 'Signature Algorithm: sha256WithRSAEncryption' "$tmp/text.rsa" ||
	fail "RSA certificate is not sha256WithRSAEncryption"

# Test: import-cert stores the certificate; list shows it; a repeat is refused
uri=$(tok import-cert --token $tokenlabel --pin-file "$pin" \
	--cert "$tmp/ec.pem" --label ec --id 01) ||
	fail "import-cert: $(cat "$tmp/err")"
[ "$uri" = "pkcs11:token=$tokenlabel;object=ec;id=%01;type=cert" ] ||
	fail "import-cert printed '$uri'"
tok list --token $tokenlabel --pin-file "$pin" >"$tmp/got.list" ||
	fail "list: $(cat "$tmp/err")"
grep -qx "pkcs11:token=$tokenlabel;object=ec;id=%01;type=cert" "$tmp/got.list" ||
	fail "list does not show the imported certificate"
[ "$(wc -l <"$tmp/got.list")" -eq 5 ] ||
	fail "list shows $(wc -l <"$tmp/got.list") objects, want 5"
expect_refusal "import-cert existing label" "certificate labelled 'ec' already exists" \
	"$HSMTLS_TOKEN" import-cert --token $tokenlabel --pin-file "$pin" \
	--cert "$tmp/ec.pem" --label ec --id 01

echo "PASS: hsmtls-token"
