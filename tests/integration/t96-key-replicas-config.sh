#!/bin/bash
# t96: a key line naming several private-key URIs (one key cloned on two
# tokens) before its certificate.  hsmtls-keyd loads every replica, each
# self-tested against the same certificate, with one custody line per
# replica, and serves the key under its first URI.  Refused, each at its
# FILE:LINE: two URIs on the same token, a word before the certificate
# that is not a pkcs11: URI, a replica holding another key (naming that
# URI), and several URIs in-process (no `keyd`): spreading a key over
# tokens is the key daemon's work.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/keyd-lib.sh"
need_tool openssl softhsm2-util

use_testp11
make_root
two_tokens_one_key
# Another key, only on token B, for the mismatch.
openssl_key "$tmp/other.key"
import_key "$tmp/other.key" "$B" "$TOKEN2_PIN" other 02
rm -f "$tmp/other.key"
OTHER_B="pkcs11:token=$B;object=other;type=private"

C=$tmp/hsmtls.conf
# conf KEYLINE [TOP...]: two token blocks, one site (the key line is line 11).
conf() {
	key=$1
	shift
	{
		echo "token $A {"
		echo "    module $HSMTLS_TESTP11;"
		echo "    pin-file $PIN_FILE;"
		echo "}"
		echo "token $B {"
		echo "    module $HSMTLS_TESTP11;"
		echo "    pin-file $TOKEN2_PIN;"
		echo "}"
		echo "site www {"
		echo "    root $ROOT;"
		echo "    $key"
		echo "}"
		echo "allow-imported-key on;"
		# The test's tokens are its own user's: the daemon stays that user.
		[ "$(id -u)" -ne 0 ] || echo "keyd-user root;"
		for l in "$@"; do
			echo "$l"
		done
	} >"$C"
}
check_conf() {
	ST=0
	timeout "$WAIT_SECS" "$HSMTLS_SERVER" -t -c "$C" >"$tmp/t.out" 2>"$tmp/t.err" || ST=$?
}
keyd_fails() {   # keyd_fails REGEX: the daemon refuses to start, saying so
	ST=0
	timeout "$WAIT_SECS" "$HSMTLS_KEYD" -c "$C" --socket "$KEYD_SOCK" \
	    </dev/null >/dev/null 2>"$tmp/keyd.err" || ST=$?
	[ "$ST" -eq 1 ] || fail "hsmtls-keyd: exit $ST, want 1: $(cat "$tmp/keyd.err")"
	grep -Eq -- "$1" "$tmp/keyd.err" || fail "hsmtls-keyd: want /$1/: $(cat "$tmp/keyd.err")"
}
mkdir -p "$tmp/keyd"

# Test: two URIs on one token, at the key's line, from both programs.
conf "key \"$URI_A\" \"pkcs11:token=$A;object=web2;type=private\" $tmp/web.pem;"
check_conf
[ "$ST" -eq 1 ] || fail "two URIs on one token: -t exit $ST, want 1"
grep -q "^$C:11: 'key': .* name the same token" "$tmp/t.err" ||
	fail "two URIs on one token not reported at line 11: $(cat "$tmp/t.err")"
keyd_fails "^$C:11: 'key': .* name the same token"

# Test: a word before the certificate that is not a pkcs11: URI.
conf "key \"$URI_A\" $tmp/web.pem $tmp/web.pem;"
check_conf
[ "$ST" -eq 1 ] || fail "a file among the URIs: -t exit $ST, want 1"
grep -q "^$C:11: 'key': '$tmp/web.pem' is not a PKCS#11 URI.*only the last word is the certificate" "$tmp/t.err" ||
	fail "a non-URI replica not reported at line 11: $(cat "$tmp/t.err")"

# Test: in-process, several URIs are refused: the key daemon does this.
conf "key \"$URI_A\" \"$URI_B\" $tmp/web.pem;"
check_conf
[ "$ST" -eq 1 ] || fail "replicas in-process: -t exit $ST, want 1: $(cat "$tmp/t.err")"
grep -q "^$C:11: a key on 2 tokens needs the key daemon: .*hsmtls-keyd ('keyd PATH;')" "$tmp/t.err" ||
	fail "replicas in-process not refused at line 11: $(cat "$tmp/t.err")"
grep -q warning "$tmp/t.err" && fail "replicas in-process: a warning besides the error: $(cat "$tmp/t.err")"
st=0
echo "listen 127.0.0.1:0;" >>"$C"
timeout "$WAIT_SECS" "$HSMTLS_SERVER" -c "$C" </dev/null >/dev/null 2>"$tmp/s.err" || st=$?
[ "$st" -eq 1 ] && grep -q "$C:11: a key on 2 tokens needs the key daemon" "$tmp/s.err" ||
	fail "server start with replicas in-process: exit $st: $(cat "$tmp/s.err")"

# Test: a replica that holds another key: refused, naming its URI.
conf "key \"$URI_A\" \"$OTHER_B\" $tmp/web.pem;"
keyd_fails "^$C:11: .*$OTHER_B"

# Test: the same key on two tokens: served; one custody line per replica;
# both tokens logged in and self-tested (one C_Sign each).
conf "key \"$URI_A\" \"$URI_B\" $tmp/web.pem;" "keyd $KEYD_SOCK;"
rm -f "$COUNTS"
start_keyd -c "$C"
grep -q '^serving 1 key$' "$KEYD_LOG" || fail "want 'serving 1 key': $(cat "$KEYD_LOG")"
[ "$(grep -c 'custody: token=' "$KEYD_LOG")" -eq 2 ] || fail "want two custody lines: $(cat "$KEYD_LOG")"
grep -q "custody: token=$A key=pkcs11:.*object=web" "$KEYD_LOG" &&
	grep -q "custody: token=$B key=pkcs11:.*object=web" "$KEYD_LOG" ||
	fail "custody lines do not name both tokens: $(cat "$KEYD_LOG")"
[ "$(count_of C_Login)" -eq 2 ] || fail "C_Login: $(count_of C_Login), want 2"
[ "$(count_of "C_Sign@$A")" -eq 1 ] && [ "$(count_of "C_Sign@$B")" -eq 1 ] ||
	fail "self-test per replica: C_Sign@$A=$(count_of "C_Sign@$A") C_Sign@$B=$(count_of "C_Sign@$B"), want 1 each: $(cat "$COUNTS")"
# The server, in keyd mode, opens the key by its first URI.
"$HSMTLS_SERVER" -t -c "$C" >"$tmp/t.out" 2>"$tmp/t.err" || fail "-t in keyd mode: $(cat "$tmp/t.err")"
grep -qx 'configuration ok' "$tmp/t.out" || fail "-t in keyd mode: $(cat "$tmp/t.out")"
stop_keyd
