#!/bin/bash
# t86: hsmtls-keyd started as root drops to its keyd-user (here nobody)
# after binding its socket and reading the PIN file, before it loads the
# module: /proc/PID/status shows nobody's uid and gid, the process is
# still not dumpable, the root-only PIN file was read, the token (owned
# by nobody) opened, and the server's handshakes are signed through it.
# A token directory the user cannot read fails with an error naming the
# user; a keyd-user that does not exist is refused with how to make it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/keyd-lib.sh"
need_tool openssl
[ "$(id -u)" -eq 0 ] || skip "needs root to change to another user"
id nobody >/dev/null 2>&1 || skip "no user nobody"
nuid=$(id -u nobody)
ngid=$(id -g nobody)

make_token
make_root
EC=$(make_key ec:P-256 ec 01)
CERT=$tmp/ec.pem
make_cert "$EC" "$CERT"
# nobody must reach the token and the certificate; the PIN stays root's.
chmod 755 "$tmp"
chown -R nobody "$TOKEN_DIR"
chown root "$PIN_FILE"
chmod 600 "$PIN_FILE"
C=$tmp/hsmtls.conf
# keyd_conf writes "keyd-user root;" for root: this test names its own.
keyd_conf "$C.in" "listen 127.0.0.1:0;
site www {
    server-name localhost;
    root $ROOT;
    key \"$EC\" $CERT;
}"
grep -v '^keyd-user ' "$C.in" >"$C"
echo "keyd-user nobody;" >>"$C"
start_keyd -c "$C"

# Test: the daemon runs as nobody, and is still not dumpable (its /proc
# files then stay root's although the process is nobody's).
uids=$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "/proc/$KEYD_PID/status")
gids=$(awk '$1 == "Gid:" { print $2, $3, $4, $5 }' "/proc/$KEYD_PID/status")
[ "$uids" = "$nuid $nuid $nuid $nuid" ] || fail "daemon Uid: got '$uids', want $nuid x4"
[ "$gids" = "$ngid $ngid $ngid $ngid" ] || fail "daemon Gid: got '$gids', want $ngid x4"
groups=$(awk '$1 == "Groups:" { $1 = ""; print }' "/proc/$KEYD_PID/status")
case " $groups " in *" 0 "*) fail "daemon kept root's group: Groups:$groups" ;; esac
[ "$(stat -c %u "/proc/$KEYD_PID/status")" = 0 ] ||
	fail "the daemon is dumpable after the drop (its /proc files are uid $(stat -c %u "/proc/$KEYD_PID/status"))"
grep -q "running as user 'nobody' (uid $nuid)" "$KEYD_LOG" || fail "no drop line: $(cat "$KEYD_LOG")"
[ "$(stat -c %a:%U "$PIN_FILE")" = 600:root ] || fail "the PIN file changed: $(stat -c %a:%U "$PIN_FILE")"

# Test: the server's handshakes are signed by the daemon running as nobody.
start_server_conf "$C"
handshakes 3 -tls1_3
[ "$(fetch /file.txt)" = "plain text file" ] || fail "GET through the daemon failed"
stop_server_ok
stop_keyd

# Test: a token directory nobody cannot read: the error names the user.
chown -R root "$TOKEN_DIR"
chmod 700 "$TOKEN_DIR/tokens"
st=0
timeout "$WAIT_SECS" "$HSMTLS_KEYD" -c "$C" </dev/null >/dev/null 2>"$tmp/unreadable.err" || st=$?
[ "$st" -eq 1 ] || fail "unreadable token: exit $st, want 1: $(cat "$tmp/unreadable.err")"
grep -q "opened as user 'nobody' (keyd-user)" "$tmp/unreadable.err" ||
	fail "unreadable token: the error does not name the user: $(cat "$tmp/unreadable.err")"
grep -q 'listening on' "$tmp/unreadable.err" && fail "the daemon listened without its token"
cat "$tmp/unreadable.err"
rm -f "$KEYD_SOCK"

# Test: a keyd-user that does not exist is refused, naming the directive.
sed 's/^keyd-user nobody;$/keyd-user hsmtls-no-such-user;/' "$C" >"$tmp/missing.conf"
line=$(grep -n '^keyd-user' "$tmp/missing.conf" | cut -d: -f1)
st=0
timeout "$WAIT_SECS" "$HSMTLS_KEYD" -c "$tmp/missing.conf" </dev/null >/dev/null 2>"$tmp/missing.err" || st=$?
[ "$st" -eq 1 ] || fail "missing user: exit $st, want 1: $(cat "$tmp/missing.err")"
[ "$(wc -l <"$tmp/missing.err")" -eq 1 ] || fail "missing user: want one line: $(cat "$tmp/missing.err")"
grep -q "^$tmp/missing.conf:$line: keyd-user 'hsmtls-no-such-user': no such user; create it (useradd --system --no-create-home" "$tmp/missing.err" ||
	fail "missing user: $(cat "$tmp/missing.err")"
[ ! -e "$KEYD_SOCK" ] || fail "the daemon bound its socket although its user is missing"
# --user overrides the file, and names itself.
st=0
timeout "$WAIT_SECS" "$HSMTLS_KEYD" -c "$C" --user hsmtls-no-such-user </dev/null >/dev/null 2>"$tmp/opt.err" || st=$?
[ "$st" -eq 1 ] && grep -q "^hsmtls-keyd: --user 'hsmtls-no-such-user': no such user" "$tmp/opt.err" ||
	fail "--user with a missing user: exit $st: $(cat "$tmp/opt.err")"
