#!/bin/sh
# check-token-lifecycle.sh - hsmtls-token beyond the first key: key usage,
# check (passing and failing keys), rotate beside the old key, delete with
# and without --confirm, import-cert refusals, URIs carrying module-path and
# pin-source, and the one-line refusals an operator meets: unsupported key
# type, a token whose mechanisms cannot make the key, a module that does not
# load, a missing token, a wrong PIN (one C_Login), a used label, a loose
# CA key.  Token contents are read back with p11-attr, never taken from
# hsmtls-token's own output.
#
# Environment (set by "make check"; the defaults fit a build tree):
#   HSMTLS_TOKEN HSMTLS_TESTP11 HSMTLS_P11ATTR SOFTHSM_MODULE
#   HSMTLS_MECHLIMIT (default: tokens/.libs/hsmtls-mechlimit.so beside
#   HSMTLS_TOKEN)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${abs_top_builddir:-}" ]; then
	top=$abs_top_builddir
elif [ -n "${builddir:-}" ] && [ -d "$builddir/../tokens" ]; then
	top=$(cd "$builddir/.." && pwd)
else
	top=$here/../..
fi
HSMTLS_TOKEN=${HSMTLS_TOKEN:-$top/tokens/hsmtls-token}
HSMTLS_TESTP11=${HSMTLS_TESTP11:-$top/tests/p11/.libs/hsmtls-testp11.so}
HSMTLS_P11ATTR=${HSMTLS_P11ATTR:-$top/tests/p11/p11-attr}
HSMTLS_MECHLIMIT=${HSMTLS_MECHLIMIT:-$(dirname "$HSMTLS_TOKEN")/.libs/hsmtls-mechlimit.so}
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

skip() { echo "SKIP: $*" >&2; exit 77; }
[ -x "$HSMTLS_TOKEN" ] || skip "no hsmtls-token at $HSMTLS_TOKEN"
[ -f "$HSMTLS_TESTP11" ] || skip "no test module at $HSMTLS_TESTP11"
[ -f "$HSMTLS_MECHLIMIT" ] || skip "no mechanism-limit module at $HSMTLS_MECHLIMIT"
[ -x "$HSMTLS_P11ATTR" ] || skip "no p11-attr at $HSMTLS_P11ATTR"
[ -f "$SOFTHSM_MODULE" ] || skip "no SoftHSM module at $SOFTHSM_MODULE"
command -v openssl >/dev/null 2>&1 || skip "no openssl"

. "$here/check-lib.sh"
check_tmp lifecycle


# expect_refusal WHAT PATTERN CMD...: CMD exits 1 with exactly one stderr
# line "hsmtls-token: ..." matching PATTERN (a grep -E expression).
expect_refusal() {
	what=$1 pattern=$2
	shift 2
	rc=0
	"$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ $rc -eq 1 ] || fail "$what: exit status $rc, want 1"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] ||
		fail "$what: $(wc -l <"$tmp/err") stderr lines, want 1"
	grep -Eq "^hsmtls-token: .*$pattern" "$tmp/err" ||
		fail "$what: got '$(cat "$tmp/err")', want '$pattern'"
}

# The token's objects ("CLASS id=HEX label=L" lines) as the module shows them.
objects() {
	"$HSMTLS_P11ATTR" --module "$SOFTHSM_MODULE" --token hsmtls-dev \
		--pin-file "$pin" --list 2>"$tmp/err" ||
		fail "p11-attr --list: $(cat "$tmp/err")"
}
# attr LABEL: the private key's attributes, as the module reports them.
attr() {
	"$HSMTLS_P11ATTR" --module "$SOFTHSM_MODULE" --token hsmtls-dev \
		--pin-file "$pin" --label "$1" 2>"$tmp/err" ||
		fail "p11-attr $1: $(cat "$tmp/err")"
}
expect_attr() {
	attr "$1" >"$tmp/attr"
	grep -qx "$2" "$tmp/attr" || fail "key $1: no '$2' in: $(tr '\n' ' ' <"$tmp/attr")"
}
unchanged() {
	objects >"$tmp/objects.now"
	diff -u "$tmp/objects.before" "$tmp/objects.now" >&2 || fail "$1 changed the token"
}
count() { awk -v f="$2" '$1 == f { print $2 }' "$1"; }

dir=$tmp/token
pin=$dir/user.pin
eval "$(tok init --dir "$dir")" || fail "init: $(cat "$tmp/err")"

# Test: keygen --usage: sign (default) leaves CKA_DECRYPT false; sign,decrypt
# (RSA only) sets it; without --id the first free id is taken
tok keygen --token hsmtls-dev --pin-file "$pin" --type ec:P-256 --label web \
	--id 01 >/dev/null || fail "keygen web: $(cat "$tmp/err")"
uri=$(tok keygen --token hsmtls-dev --pin-file "$pin" --type rsa:2048 \
	--label rsa-sign) || fail "keygen rsa-sign: $(cat "$tmp/err")"
[ "$uri" = "pkcs11:token=hsmtls-dev;object=rsa-sign;id=%02;type=private" ] ||
	fail "keygen without --id printed '$uri', want id %02"
tok keygen --token hsmtls-dev --pin-file "$pin" --type rsa:2048 \
	--label rsa-kx --id 10 --usage sign,decrypt >/dev/null ||
	fail "keygen rsa-kx: $(cat "$tmp/err")"
expect_attr web CKA_DECRYPT=0
expect_attr rsa-sign CKA_DECRYPT=0
expect_attr rsa-kx CKA_DECRYPT=1
expect_attr rsa-kx CKA_SENSITIVE=1
expect_attr rsa-kx CKA_EXTRACTABLE=0
objects >"$tmp/objects.before"
expect_refusal "EC key with decrypt" "for RSA keys only" \
	"$HSMTLS_TOKEN" keygen --token hsmtls-dev --pin-file "$pin" \
	--type ec:P-256 --label ec-kx --usage sign,decrypt

# Test: refusals of keygen, each one line, none changing the token
expect_refusal "unsupported size" "unsupported key type 'rsa:8192'" \
	"$HSMTLS_TOKEN" keygen --token hsmtls-dev --pin-file "$pin" \
	--type rsa:8192 --label big
expect_refusal "unsupported curve" "unsupported key type 'ec:P-521'" \
	"$HSMTLS_TOKEN" keygen --token hsmtls-dev --pin-file "$pin" \
	--type ec:P-521 --label p521
expect_refusal "label already used" "a key labelled 'web' already exists" \
	"$HSMTLS_TOKEN" keygen --token hsmtls-dev --pin-file "$pin" \
	--type ec:P-256 --label web --id 77
expect_refusal "id already used" "an object with this id already exists" \
	"$HSMTLS_TOKEN" keygen --token hsmtls-dev --pin-file "$pin" \
	--type ec:P-256 --label other --id 10
HSMTLS_MECHLIMIT_MODULE=$SOFTHSM_MODULE
export HSMTLS_MECHLIMIT_MODULE
HSMTLS_MECHLIMIT_RSA_MAX=2048 expect_refusal "RSA size beyond the token" \
	"token 'hsmtls-dev' cannot generate rsa:3072 keys \(CKM_RSA_PKCS_KEY_PAIR_GEN supports 512\.\.2048 bits\)" \
	"$HSMTLS_TOKEN" keygen --module "$HSMTLS_MECHLIMIT" --token hsmtls-dev \
	--pin-file "$pin" --type rsa:3072 --label r3072
HSMTLS_MECHLIMIT_EC_MAX=256 expect_refusal "curve beyond the token" \
	"cannot generate ec:P-384 keys \(CKM_EC_KEY_PAIR_GEN supports [0-9]+\.\.256 bits\)" \
	"$HSMTLS_TOKEN" keygen --module "$HSMTLS_MECHLIMIT" --token hsmtls-dev \
	--pin-file "$pin" --type ec:P-384 --label p384
HSMTLS_MECHLIMIT_HIDE=ec expect_refusal "no EC key generation" \
	"cannot generate ec:P-256 keys \(no CKM_EC_KEY_PAIR_GEN\)" \
	"$HSMTLS_TOKEN" keygen --module "$HSMTLS_MECHLIMIT" --token hsmtls-dev \
	--pin-file "$pin" --type ec:P-256 --label p256
unchanged "a refused keygen"
# ... and the same module, within its limits, generates
HSMTLS_MECHLIMIT_RSA_MAX=2048 tok keygen --module "$HSMTLS_MECHLIMIT" \
	--token hsmtls-dev --pin-file "$pin" --type rsa:2048 --label limited \
	--id 20 >/dev/null || fail "keygen within the limits: $(cat "$tmp/err")"
expect_attr limited CKA_KEY_TYPE=CKK_RSA

# Test: module not loadable, token not found, both one line
expect_refusal "missing module" "module $tmp/none\.so: No such file" \
	"$HSMTLS_TOKEN" list --module "$tmp/none.so" --token hsmtls-dev \
	--pin-file "$pin"
printf 'not a library\n' >"$tmp/notlib.so"
expect_refusal "module not a library" "module .*notlib\.so" \
	"$HSMTLS_TOKEN" list --module "$tmp/notlib.so" --token hsmtls-dev \
	--pin-file "$pin"
expect_refusal "token not found" "no token labelled 'nosuch'" \
	"$HSMTLS_TOKEN" keygen --token nosuch --pin-file "$pin" \
	--type ec:P-256 --label x
expect_refusal "token URI not found" "no token matches 'pkcs11:token=nosuch;object=web'" \
	"$HSMTLS_TOKEN" csr --key "pkcs11:token=nosuch;object=web" \
	--pin-file "$pin" --subject CN=x --out "$tmp/x.csr"

# Test: a wrong PIN is one C_Login, for the control plane (keygen) and
# through the engine (csr); nothing is created
objects >"$tmp/objects.before"
printf '0000000000000000\n' >"$tmp/wrong.pin"
chmod 600 "$tmp/wrong.pin"
HSMTLS_TESTP11_MODULE=$SOFTHSM_MODULE
HSMTLS_TESTP11_COUNTS=$tmp/counts
export HSMTLS_TESTP11_MODULE HSMTLS_TESTP11_COUNTS
expect_refusal "wrong PIN (keygen)" "C_Login: CKR_PIN_INCORRECT" \
	"$HSMTLS_TOKEN" keygen --module "$HSMTLS_TESTP11" --token hsmtls-dev \
	--pin-file "$tmp/wrong.pin" --type ec:P-256 --label wrong
[ "$(count "$tmp/counts" C_Login)" = 1 ] ||
	fail "wrong PIN (keygen): C_Login count $(count "$tmp/counts" C_Login), want 1"
rm -f "$tmp/counts"
expect_refusal "wrong PIN (csr)" "C_Login: CKR_PIN_INCORRECT" \
	"$HSMTLS_TOKEN" csr --module "$HSMTLS_TESTP11" \
	--key "pkcs11:token=hsmtls-dev;object=web" --pin-file "$tmp/wrong.pin" \
	--subject CN=x --out "$tmp/x.csr"
[ "$(count "$tmp/counts" C_Login)" = 1 ] ||
	fail "wrong PIN (csr): C_Login count $(count "$tmp/counts" C_Login), want 1"
[ ! -e "$tmp/x.csr" ] || fail "a failed csr wrote $tmp/x.csr"
unset HSMTLS_TESTP11_COUNTS
unchanged "a wrong PIN"

# Test: check passes keys made by keygen, and fails (exit 1, one reason
# line per key) a key that is extractable, one that needs a login per
# signature, and one imported rather than generated on the token
tok check --token hsmtls-dev --pin-file "$pin" >"$tmp/check" ||
	fail "check of good keys: $(cat "$tmp/err")"
[ "$(grep -c '^ok pkcs11:' "$tmp/check")" -eq 4 ] ||
	fail "check of good keys: $(cat "$tmp/check")"
n=0
for kind in extractable always-authenticate imported; do
	n=$((n + 1))
	"$HSMTLS_P11ATTR" --module "$SOFTHSM_MODULE" --token hsmtls-dev \
		--pin-file "$pin" --make-key "$kind" --label "bad-$kind" \
		--id "e$n" 2>"$tmp/err" ||
		fail "p11-attr --make-key $kind: $(cat "$tmp/err")"
done
expect_attr bad-extractable CKA_EXTRACTABLE=1
expect_attr bad-always-authenticate CKA_ALWAYS_AUTHENTICATE=1
expect_attr bad-imported CKA_LOCAL=0
expect_refusal "check extractable key" "object=bad-extractable;.*: not sensitive, extractable" \
	"$HSMTLS_TOKEN" check --key "pkcs11:token=hsmtls-dev;object=bad-extractable" \
	--pin-file "$pin"
grep -q '^FAIL .*sensitive=no extractable=yes' "$tmp/out" ||
	fail "check extractable key printed '$(cat "$tmp/out")'"
expect_refusal "check always-authenticate key" "object=bad-always-authenticate;.*: CKA_ALWAYS_AUTHENTICATE" \
	"$HSMTLS_TOKEN" check --key "pkcs11:token=hsmtls-dev;object=bad-always-authenticate" \
	--pin-file "$pin"
expect_refusal "check imported key" "object=bad-imported;.*: not generated on the token" \
	"$HSMTLS_TOKEN" check --key "pkcs11:token=hsmtls-dev;object=bad-imported" \
	--pin-file "$pin"
rc=0
"$HSMTLS_TOKEN" check --token hsmtls-dev --pin-file "$pin" >"$tmp/check" 2>"$tmp/err" || rc=$?
[ $rc -eq 1 ] || fail "check of the whole token: exit $rc, want 1"
[ "$(wc -l <"$tmp/err")" -eq 3 ] || fail "check of the whole token: $(wc -l <"$tmp/err") reason lines, want 3"
[ "$(grep -c '^ok ' "$tmp/check")" -eq 4 ] || fail "check of the whole token: good keys not ok"
expect_refusal "check no such key" "no private key matches" \
	"$HSMTLS_TOKEN" check --key "pkcs11:token=hsmtls-dev;object=nosuch" \
	--pin-file "$pin"

# Test: URIs may carry module-path and pin-source; a second PIN or module
# is refused rather than silently preferred
tok check --key "pkcs11:token=hsmtls-dev;object=web?module-path=$SOFTHSM_MODULE&pin-source=file:$pin" \
	>/dev/null || fail "check with module-path and pin-source: $(cat "$tmp/err")"
tok list --token "pkcs11:token=hsmtls-dev?pin-source=$pin" >"$tmp/list" ||
	fail "list with a token URI: $(cat "$tmp/err")"
grep -q 'object=web;id=%01;type=private sensitive=yes extractable=no' "$tmp/list" ||
	fail "list with a token URI printed '$(cat "$tmp/list")'"
expect_refusal "two PINs" "two PINs" \
	"$HSMTLS_TOKEN" list --token "pkcs11:token=hsmtls-dev?pin-source=$pin" \
	--pin-file "$pin"
expect_refusal "two modules" "two module paths" \
	"$HSMTLS_TOKEN" list --token "pkcs11:token=hsmtls-dev?module-path=$SOFTHSM_MODULE" \
	--module "$HSMTLS_TESTP11" --pin-file "$pin"
expect_refusal "pin-value" "pin-value is refused" \
	"$HSMTLS_TOKEN" list --token "pkcs11:token=hsmtls-dev?pin-value=1234"

# Test: a certificate for web (csr -> dev-ca -> import-cert); import-cert
# refuses a certificate that matches no key unless --force
tok csr --key "pkcs11:token=hsmtls-dev;object=web" --pin-file "$pin" \
	--subject /CN=www.example.test/O=Example --out "$tmp/web.csr" ||
	fail "csr: $(cat "$tmp/err")"
openssl req -in "$tmp/web.csr" -noout -text | grep -q 'DNS:www.example.test' ||
	fail "csr without --san has no DNS:www.example.test"
tok dev-ca --dir "$tmp/ca" --csr "$tmp/web.csr" --out "$tmp/web.pem" --chain --days 30 ||
	fail "dev-ca: $(cat "$tmp/err")"
[ "$(grep -c 'BEGIN CERTIFICATE' "$tmp/web.pem")" -eq 2 ] || fail "dev-ca --chain wrote no chain"
openssl verify -CAfile "$tmp/ca/ca.pem" "$tmp/web.pem" >/dev/null 2>&1 ||
	fail "dev-ca certificate does not verify"
tok import-cert --token hsmtls-dev --pin-file "$pin" --cert "$tmp/web.pem" >/dev/null ||
	fail "import-cert: $(cat "$tmp/err")"
objects | grep -qx 'CKO_CERTIFICATE id=01 label=web' ||
	fail "import-cert did not store the certificate with id 01 and label web"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$tmp/soft.key" -subj /CN=soft -x509 -days 1 -out "$tmp/soft.pem" 2>/dev/null
objects >"$tmp/objects.before"
expect_refusal "certificate of no key" "matches no private key on token 'hsmtls-dev'" \
	"$HSMTLS_TOKEN" import-cert --token hsmtls-dev --pin-file "$pin" \
	--cert "$tmp/soft.pem"
expect_refusal "certificate label used" "certificate labelled 'web' already exists" \
	"$HSMTLS_TOKEN" import-cert --token hsmtls-dev --pin-file "$pin" \
	--cert "$tmp/web.pem"
unchanged "a refused import-cert"
tok import-cert --token hsmtls-dev --pin-file "$pin" --cert "$tmp/soft.pem" \
	--force --label soft --id 5f >/dev/null || fail "import-cert --force: $(cat "$tmp/err")"
objects | grep -qx 'CKO_CERTIFICATE id=5f label=soft' || fail "import-cert --force stored nothing"

# Test: dev-ca refuses a CA key readable by others, and a CSR without SAN
chmod 640 "$tmp/ca/ca.key"
expect_refusal "loose ca.key" "key file $tmp/ca/ca.key: group or other permission bits" \
	"$HSMTLS_TOKEN" dev-ca --dir "$tmp/ca" --csr "$tmp/web.csr" --out "$tmp/x.pem"
chmod 600 "$tmp/ca/ca.key"
tok csr --key "pkcs11:token=hsmtls-dev;object=web" --pin-file "$pin" \
	--subject CN=nosan --san '' --out "$tmp/nosan.csr" || fail "csr --san '': $(cat "$tmp/err")"
expect_refusal "CSR without SAN" "no subjectAltName" \
	"$HSMTLS_TOKEN" dev-ca --dir "$tmp/ca" --csr "$tmp/nosan.csr" --out "$tmp/x.pem"
[ ! -e "$tmp/x.pem" ] || fail "a refused dev-ca wrote $tmp/x.pem"

# Test: rotate makes a new key with a new label and id beside the old one,
# and a CSR with the old certificate's subject and SAN; the old key stays
objects >"$tmp/objects.before"
new=$(tok rotate --token hsmtls-dev --pin-file "$pin" --label web \
	--out "$tmp/new.csr") || fail "rotate: $(cat "$tmp/err")"
echo "$new" | grep -Eqx 'pkcs11:token=hsmtls-dev;object=web-[0-9]{14};id=%03;type=private' ||
	fail "rotate printed '$new'"
newlabel=$(echo "$new" | sed 's/.*object=\([^;]*\);.*/\1/')
objects >"$tmp/objects.now"
grep -vxF -f "$tmp/objects.before" "$tmp/objects.now" >"$tmp/added" || true
printf 'CKO_PRIVATE_KEY id=03 label=%s\nCKO_PUBLIC_KEY id=03 label=%s\n' \
	"$newlabel" "$newlabel" >"$tmp/want"
diff -u "$tmp/want" "$tmp/added" >&2 || fail "rotate added other objects"
grep -vxF -f "$tmp/objects.now" "$tmp/objects.before" >"$tmp/removed" || true
[ ! -s "$tmp/removed" ] || fail "rotate removed: $(cat "$tmp/removed")"
for want in CKA_SENSITIVE=1 CKA_EXTRACTABLE=0 CKA_LOCAL=1 CKA_DECRYPT=0 CKA_KEY_TYPE=CKK_EC; do
	expect_attr "$newlabel" "$want"
done
openssl req -in "$tmp/new.csr" -verify -noout 2>/dev/null || fail "rotate's CSR does not verify"
openssl req -in "$tmp/new.csr" -noout -text >"$tmp/new.txt"
grep -q 'Subject: CN = www.example.test, O = Example' "$tmp/new.txt" ||
	fail "rotate's CSR subject: $(grep Subject: "$tmp/new.txt")"
grep -q 'DNS:www.example.test' "$tmp/new.txt" || fail "rotate's CSR lost the SAN"
openssl req -in "$tmp/new.csr" -noout -pubkey >"$tmp/new.pub"
openssl req -in "$tmp/web.csr" -noout -pubkey | cmp -s - "$tmp/new.pub" &&
	fail "rotate's CSR has the old key"
# An RSA key-exchange key rotates to one that can still decrypt.
tok rotate --token hsmtls-dev --pin-file "$pin" --label rsa-kx \
	--new-label rsa-kx-2 --subject CN=kx.example.test --out "$tmp/kx.csr" \
	>/dev/null || fail "rotate rsa-kx: $(cat "$tmp/err")"
expect_attr rsa-kx-2 CKA_DECRYPT=1
expect_attr rsa-kx-2 CKA_KEY_TYPE=CKK_RSA

# Test: delete without --confirm lists what it would delete and deletes
# nothing; with --confirm it removes the key, its public key and its
# certificate, and nothing else
objects >"$tmp/objects.before"
expect_refusal "delete without --confirm" "nothing deleted: add --confirm" \
	"$HSMTLS_TOKEN" delete --key "pkcs11:token=hsmtls-dev;object=web;type=private" \
	--pin-file "$pin"
[ "$(grep -c '^would delete pkcs11:token=hsmtls-dev;object=web;id=%01;type=' "$tmp/out")" -eq 3 ] ||
	fail "delete without --confirm printed '$(cat "$tmp/out")'"
unchanged "delete without --confirm"
tok delete --key "pkcs11:token=hsmtls-dev;object=web;type=private" \
	--pin-file "$pin" --confirm >"$tmp/out" || fail "delete --confirm: $(cat "$tmp/err")"
objects >"$tmp/objects.now"
grep -v ' id=01 ' "$tmp/objects.before" >"$tmp/want"
diff -u "$tmp/want" "$tmp/objects.now" >&2 || fail "delete --confirm removed the wrong objects"
[ "$(grep -c ' id=01 ' "$tmp/objects.before")" -eq 3 ] || fail "test setup: web had no 3 objects"
expect_refusal "delete of a deleted key" "no private key matches" \
	"$HSMTLS_TOKEN" delete --key "pkcs11:token=hsmtls-dev;object=web" \
	--pin-file "$pin" --confirm
tok check --key "$new" --pin-file "$pin" >/dev/null || fail "the rotated key fails check"

echo "PASS: hsmtls-token lifecycle"
