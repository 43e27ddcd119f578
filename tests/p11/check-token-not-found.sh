#!/bin/sh
# check-token-not-found.sh - when hsmtls-token finds no token, its one line
# says where it looked: the module, the tokens the module did show, and for
# SoftHSM the configuration file (SOFTHSM2_CONF, or SoftHSM's default when
# it is unset) with the token directory named in it, and the
# "export SOFTHSM2_CONF=" line "hsmtls-token init" prints.  The unset case
# runs in a private mount namespace with /etc/softhsm replaced by a
# directory of the test's own, so no system token is ever opened; where
# unprivileged namespaces are not allowed that case is skipped (noted).
#
# Environment (set by "make check"; the defaults fit a build tree):
#   HSMTLS_TOKEN HSMTLS_TESTP11 SOFTHSM_MODULE
set -eu

here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${abs_top_builddir:-}" ]; then
	top=$abs_top_builddir
else
	top=$here/../..
fi
HSMTLS_TOKEN=${HSMTLS_TOKEN:-$top/tokens/hsmtls-token}
HSMTLS_TESTP11=${HSMTLS_TESTP11:-$top/tests/p11/.libs/hsmtls-testp11.so}
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

skip() { echo "SKIP: $*" >&2; exit 77; }
[ -x "$HSMTLS_TOKEN" ] || skip "no hsmtls-token at $HSMTLS_TOKEN"
[ -f "$HSMTLS_TESTP11" ] || skip "no test module at $HSMTLS_TESTP11"
[ -f "$SOFTHSM_MODULE" ] || skip "no SoftHSM module at $SOFTHSM_MODULE"

. "$here/check-lib.sh"
check_tmp notfound


# expect_line WHAT TEXT CMD...: CMD exits 1 with exactly one stderr line,
# "hsmtls-token: " then TEXT, literally.
expect_line() {
	what=$1 text=$2
	shift 2
	rc=0
	"$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ $rc -eq 1 ] || fail "$what: exit status $rc, want 1"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] ||
		fail "$what: $(wc -l <"$tmp/err") stderr lines, want 1"
	[ "$(cat "$tmp/err")" = "hsmtls-token: $text" ] ||
		fail "$what: got '$(cat "$tmp/err")', want 'hsmtls-token: $text'"
}

hint="for a token made by 'hsmtls-token init --dir DIR', run the line init printed: export SOFTHSM2_CONF=DIR/softhsm2.conf"

# Two SoftHSM token directories: "hsmtls-dev" in tok/, "other" in other/.
SOFTHSM2_CONF=$tmp/tok/softhsm2.conf
export SOFTHSM2_CONF
"$HSMTLS_TOKEN" init --dir "$tmp/tok" >"$tmp/init.out" 2>"$tmp/err" ||
	fail "init: $(cat "$tmp/err")"
[ "$(cat "$tmp/init.out")" = "export SOFTHSM2_CONF=$tmp/tok/softhsm2.conf" ] ||
	fail "init printed '$(cat "$tmp/init.out")'"
"$HSMTLS_TOKEN" init --dir "$tmp/other" --label other >/dev/null 2>"$tmp/err" ||
	fail "init other: $(cat "$tmp/err")"
pin=$tmp/tok/user.pin

# Test: a label not on the token directory SOFTHSM2_CONF names
expect_line "unknown label" \
	"module $SOFTHSM_MODULE: no token labelled 'nosuch'; tokens found: 'hsmtls-dev'; SoftHSM config: SOFTHSM2_CONF=$tmp/tok/softhsm2.conf, token dir $tmp/tok/tokens; $hint" \
	"$HSMTLS_TOKEN" keygen --token nosuch --pin-file "$pin" \
	--type ec:P-256 --label web

# Test: SOFTHSM2_CONF names a configuration whose token directory lacks
# the token (the shell exported the wrong one), by label and by URI
SOFTHSM2_CONF=$tmp/other/softhsm2.conf
expect_line "token in another directory" \
	"module $SOFTHSM_MODULE: no token labelled 'hsmtls-dev'; tokens found: 'other'; SoftHSM config: SOFTHSM2_CONF=$tmp/other/softhsm2.conf, token dir $tmp/other/tokens; $hint" \
	"$HSMTLS_TOKEN" list --token hsmtls-dev --pin-file "$pin"
expect_line "token URI in another directory" \
	"module $SOFTHSM_MODULE: no token matches 'pkcs11:token=hsmtls-dev;object=web'; tokens found: 'other'; SoftHSM config: SOFTHSM2_CONF=$tmp/other/softhsm2.conf, token dir $tmp/other/tokens; $hint" \
	"$HSMTLS_TOKEN" check --key 'pkcs11:token=hsmtls-dev;object=web' \
	--pin-file "$pin"

# Test: SoftHSM behind another module file (the forwarding test module) is
# still recognised, by what C_GetInfo says
HSMTLS_TESTP11_MODULE=$SOFTHSM_MODULE
export HSMTLS_TESTP11_MODULE
expect_line "SoftHSM behind a forwarding module" \
	"module $HSMTLS_TESTP11: no token labelled 'hsmtls-dev'; tokens found: 'other'; SoftHSM config: SOFTHSM2_CONF=$tmp/other/softhsm2.conf, token dir $tmp/other/tokens; $hint" \
	"$HSMTLS_TOKEN" list --module "$HSMTLS_TESTP11" --token hsmtls-dev \
	--pin-file "$pin"

# Test: a token directory named in the file that does not exist, and a
# SOFTHSM2_CONF that names no file: SoftHSM's C_Initialize fails; the line
# says which file and directory
printf '# test\ndirectories.tokendir = %s/gone \nobjectstore.backend = file\n' \
	"$tmp" >"$tmp/gone.conf"
SOFTHSM2_CONF=$tmp/gone.conf
expect_line "missing token directory" \
	"module $SOFTHSM_MODULE: C_Initialize: CKR_GENERAL_ERROR; SoftHSM config: SOFTHSM2_CONF=$tmp/gone.conf, token dir $tmp/gone; $hint" \
	"$HSMTLS_TOKEN" list --token hsmtls-dev --pin-file "$pin"
SOFTHSM2_CONF=$tmp/none.conf
expect_line "missing SOFTHSM2_CONF file" \
	"module $SOFTHSM_MODULE: C_Initialize: CKR_GENERAL_ERROR; SoftHSM config: SOFTHSM2_CONF=$tmp/none.conf, cannot read it: No such file or directory; $hint" \
	"$HSMTLS_TOKEN" list --token hsmtls-dev --pin-file "$pin"

# Test: a module that is not SoftHSM gets the tokens it shows, no SoftHSM
# hint (p11-kit's read-only trust module, when installed)
trust=
for d in "$(pkg-config --variable=p11_module_path p11-kit-1 2>/dev/null || true)" \
    /usr/lib/x86_64-linux-gnu/pkcs11 /usr/lib/pkcs11; do
	if [ -n "$d" ] && [ -f "$d/p11-kit-trust.so" ]; then
		trust=$d/p11-kit-trust.so
		break
	fi
done
if [ -n "$trust" ]; then
	rc=0
	"$HSMTLS_TOKEN" list --module "$trust" --token nosuch \
		--pin-file "$pin" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ $rc -eq 1 ] || fail "trust module: exit status $rc, want 1"
	grep -Eqx "hsmtls-token: module $trust: no token labelled 'nosuch'; tokens found: ('[^']*'(, '[^']*')*|none)" "$tmp/err" ||
		fail "trust module: got '$(cat "$tmp/err")'"
else
	echo "note: no p11-kit-trust.so; the non-SoftHSM case was not run" >&2
fi

# Test: SOFTHSM2_CONF unset: SoftHSM reads /etc/softhsm/softhsm2.conf, and
# the line says so.  /etc/softhsm is our own directory here (a bind mount
# in a private user and mount namespace), naming an empty token directory.
mkdir -p "$tmp/etc-softhsm" "$tmp/empty"
printf 'directories.tokendir = %s/empty\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$tmp" >"$tmp/etc-softhsm/softhsm2.conf"
cat >"$tmp/unset.sh" <<EOF
mount --bind '$tmp/etc-softhsm' /etc/softhsm || exit 99
[ "\$(sed -n 1p /etc/softhsm/softhsm2.conf)" = 'directories.tokendir = $tmp/empty' ] || exit 99
unset SOFTHSM2_CONF
exec '$HSMTLS_TOKEN' list --token hsmtls-dev --pin-file '$pin'
EOF
if [ -d /etc/softhsm ] && command -v unshare >/dev/null 2>&1 &&
    unshare -r -m true 2>/dev/null; then
	rc=0
	unshare -r -m sh "$tmp/unset.sh" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ $rc -ne 99 ] || fail "could not put the test's /etc/softhsm in place"
	[ $rc -eq 1 ] || fail "SOFTHSM2_CONF unset: exit status $rc, want 1"
	want="hsmtls-token: module $SOFTHSM_MODULE: no token labelled 'hsmtls-dev'; tokens found: none; SoftHSM config: /etc/softhsm/softhsm2.conf (SOFTHSM2_CONF unset), token dir $tmp/empty; $hint"
	[ "$(cat "$tmp/err")" = "$want" ] ||
		fail "SOFTHSM2_CONF unset: got '$(cat "$tmp/err")', want '$want'"
else
	echo "note: no private mount namespace (unshare -r -m); the SOFTHSM2_CONF-unset case was not run" >&2
fi

echo "PASS: a missing token is reported with where it was looked for"
