#!/bin/sh
# check-token-rotate-twice.sh - "hsmtls-token rotate" run twice within one
# second both succeed and leave keys with distinct labels and ids: the
# timestamped label OLD-YYYYMMDDHHMMSS gets a -2, -3 ... suffix when a key
# already has it.  The collision is also forced: keys labelled with the
# stamps of the next seconds exist before the rotation.  Rotating a key
# whose label carries such a suffix replaces the whole suffix.  Labels are
# read back with p11-attr, not taken from hsmtls-token's output alone.
#
# Environment (set by "make check"; the defaults fit a build tree):
#   HSMTLS_TOKEN HSMTLS_P11ATTR SOFTHSM_MODULE
set -eu

here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${abs_top_builddir:-}" ]; then
	top=$abs_top_builddir
else
	top=$here/../..
fi
HSMTLS_TOKEN=${HSMTLS_TOKEN:-$top/tokens/hsmtls-token}
HSMTLS_P11ATTR=${HSMTLS_P11ATTR:-$top/tests/p11/p11-attr}
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

skip() { echo "SKIP: $*" >&2; exit 77; }
[ -x "$HSMTLS_TOKEN" ] || skip "no hsmtls-token at $HSMTLS_TOKEN"
[ -x "$HSMTLS_P11ATTR" ] || skip "no p11-attr at $HSMTLS_P11ATTR"
[ -f "$SOFTHSM_MODULE" ] || skip "no SoftHSM module at $SOFTHSM_MODULE"
command -v openssl >/dev/null 2>&1 || skip "no openssl"

. "$here/check-lib.sh"
check_tmp rotate2

label_of() { echo "$1" | sed -n 's/^pkcs11:.*;object=\([^;]*\);.*$/\1/p'; }
id_of() { echo "$1" | sed -n 's/^pkcs11:.*;id=\([^;]*\);.*$/\1/p'; }
# The private keys' labels on the token, as the module reports them.
key_labels() {
	"$HSMTLS_P11ATTR" --module "$SOFTHSM_MODULE" --token hsmtls-dev \
		--pin-file "$pin" --list 2>"$tmp/err" >"$tmp/objects" ||
		fail "p11-attr --list: $(cat "$tmp/err")"
	sed -n 's/^CKO_PRIVATE_KEY id=[0-9a-f]* label=//p' "$tmp/objects" | sort
}
rotate() {
	tok rotate --token hsmtls-dev --pin-file "$pin" --label "$1" \
		--subject CN=www.example.test --out "$tmp/$2.csr" ||
		fail "rotate $1 ($2): $(cat "$tmp/err")"
}

SOFTHSM2_CONF=$tmp/tok/softhsm2.conf
export SOFTHSM2_CONF
tok init --dir "$tmp/tok" >/dev/null || fail "init: $(cat "$tmp/err")"
pin=$tmp/tok/user.pin
tok keygen --token hsmtls-dev --pin-file "$pin" --type ec:P-256 \
	--label web >/dev/null || fail "keygen: $(cat "$tmp/err")"

# Test: two rotations in a row both succeed, with distinct labels and ids
first=$(rotate web first)
second=$(rotate web second)
l1=$(label_of "$first") l2=$(label_of "$second")
echo "$l1" | grep -Eqx 'web-[0-9]{14}' || fail "first rotation printed '$first'"
echo "$l2" | grep -Eqx 'web-[0-9]{14}(-2)?' || fail "second rotation printed '$second'"
[ "$l1" != "$l2" ] || fail "both rotations labelled '$l1'"
[ "$(id_of "$first")" != "$(id_of "$second")" ] || fail "both rotations got id $(id_of "$first")"
# Within one second the second label is the first one plus -2; a second
# later, just the later stamp.
s1=${l1#web-}
s2=$(echo "$l2" | cut -c5-18)
if [ "$s2" = "$s1" ]; then
	[ "$l2" = "$l1-2" ] || fail "second label '$l2' after '$l1', want '$l1-2'"
else
	[ "$l2" = "web-$s2" ] && [ "$s2" -gt "$s1" ] ||
		fail "second label '$l2' after '$l1'"
	echo "note: the two rotations ran in different seconds" >&2
fi
printf '%s\n' web "$l1" "$l2" | sort >"$tmp/want"
key_labels >"$tmp/have"
diff -u "$tmp/want" "$tmp/have" >&2 || fail "the token's keys are not web, $l1, $l2"
for f in first second; do
	openssl req -in "$tmp/$f.csr" -verify -noout 2>/dev/null ||
		fail "the $f rotation's CSR does not verify"
done

# Test: the collision forced: keys labelled web-STAMP for this second and
# the next nine exist; the rotation takes web-STAMP-2 (or -3 when the
# second rotation above already did) for the second it runs in
now=$(date -u +%s)
i=0
while [ $i -lt 10 ]; do
	stamp=$(date -u -d "@$((now + i))" +%Y%m%d%H%M%S)
	if ! grep -qx "web-$stamp" "$tmp/have"; then
		tok keygen --token hsmtls-dev --pin-file "$pin" --type ec:P-256 \
			--label "web-$stamp" >/dev/null ||
			fail "keygen web-$stamp: $(cat "$tmp/err")"
	fi
	i=$((i + 1))
done
key_labels >"$tmp/before"
third=$(rotate web third)
l3=$(label_of "$third")
stamp=$(echo "$l3" | sed -n 's/^web-\([0-9]\{14\}\).*/\1/p')
[ -n "$stamp" ] || fail "third rotation printed '$third'"
if grep -qx "web-$stamp" "$tmp/before"; then
	want=web-$stamp-2
	grep -qx "$want" "$tmp/before" && want=web-$stamp-3
	[ "$l3" = "$want" ] || fail "rotation beside web-$stamp: got '$l3', want '$want'"
else
	fail "the rotation ran more than 10 s after the keys were made ('$l3')"
fi
grep -qx "$l3" "$tmp/before" && fail "rotation reused the label '$l3'"
key_labels >"$tmp/after"
[ "$(comm -13 "$tmp/before" "$tmp/after")" = "$l3" ] ||
	fail "rotation added '$(comm -13 "$tmp/before" "$tmp/after" | tr '\n' ' ')', want '$l3'"

# Test: rotating web-STAMP-N replaces the whole suffix: web-STAMP2[-N]
fourth=$(rotate "$l3" fourth)
l4=$(label_of "$fourth")
echo "$l4" | grep -Eqx 'web-[0-9]{14}(-[0-9]+)?' ||
	fail "rotating '$l3' gave '$l4', want web-YYYYMMDDHHMMSS[-N]"
grep -qx "$l4" "$tmp/after" && fail "rotating '$l3' reused the label '$l4'"

# Test: an explicit --new-label that exists is still refused, not renamed
rc=0
"$HSMTLS_TOKEN" rotate --token hsmtls-dev --pin-file "$pin" --label web \
	--new-label "$l1" --subject CN=x --out "$tmp/x.csr" >"$tmp/out" \
	2>"$tmp/err" || rc=$?
[ $rc -eq 1 ] || fail "--new-label '$l1' (taken): exit status $rc, want 1"
grep -qx "hsmtls-token: token 'hsmtls-dev': a key labelled '$l1' already exists" "$tmp/err" ||
	fail "--new-label '$l1' (taken): got '$(cat "$tmp/err")'"

echo "PASS: rotations in quick succession get distinct labels"
