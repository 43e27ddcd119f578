#!/bin/bash
# t92: hsmtls-keyd checks every peer with SO_PEERCRED.  Its socket is mode
# 0660; with the file opened to everyone (so only the daemon's own check
# stands in the way), a client running as nobody is refused and logged,
# while root is served.  With "user nobody;" in the configuration the
# socket's group is nobody's and nobody is served (signatures verify).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/keyd-lib.sh"
need_tool setpriv
[ "$(id -u)" -eq 0 ] || skip "needs root to run a client as another uid"
id nobody >/dev/null 2>&1 || skip "no user nobody"
ngroup=$(id -gn nobody)

make_token
make_root
EC=$(make_key ec:P-256 ec 01)
make_cert "$EC" "$tmp/ec.pem"
# nobody must reach the socket directory, the client and the certificate.
chmod 755 "$tmp"
as_nobody() {
	timeout "$WAIT_SECS" setpriv --reuid=nobody --regid="$ngroup" --clear-groups \
	    "$HSMTLS_KEYD_CLIENT" "$KEYD_SOCK" "$@"
}
C=$tmp/hsmtls.conf
keyd_conf "$C" "site a {
    root $ROOT;
    key \"$EC\" $tmp/ec.pem;
}"
chmod 755 "$tmp/keyd"
start_keyd -c "$C"

# The file mode alone keeps nobody out...
st=0
as_nobody peer >"$tmp/fs.out" 2>&1 || st=$?
[ "$st" -eq 2 ] || fail "nobody through a 0660 root socket: exit $st, want 2 (connect refused): $(cat "$tmp/fs.out")"
grep -q 'connect: Permission denied' "$tmp/fs.out" || fail "nobody: $(cat "$tmp/fs.out")"

# ...and with it opened, the daemon's peer check does.
chmod 666 "$KEYD_SOCK"
st=0
as_nobody peer >"$tmp/peer.out" 2>&1 || st=$?
[ "$st" -eq 0 ] || fail "nobody was served (exit $st): $(cat "$tmp/peer.out")"
grep -q '^refused' "$tmp/peer.out" || fail "nobody: $(cat "$tmp/peer.out")"
grep -q "peer pid [0-9]* uid $(id -u nobody) refused" "$KEYD_LOG" ||
	fail "refused peer not logged: $(cat "$KEYD_LOG")"
st=0
as_nobody sign "$EC" "$tmp/ec.pem" ecdsa sha256 1 >"$tmp/sign.out" 2>&1 || st=$?
[ "$st" -ne 0 ] || fail "nobody got a signature: $(cat "$tmp/sign.out")"
# Root is still served.
st=0
keyd_client peer >"$tmp/root.out" || st=$?
[ "$st" -eq 1 ] && grep -qx served "$tmp/root.out" || fail "root was not served: $(cat "$tmp/root.out")"
stop_keyd

# The configured server user is allowed, through the socket's group.
keyd_conf "$C" "user nobody;" "site a {
    root $ROOT;
    key \"$EC\" $tmp/ec.pem;
}"
start_keyd -c "$C"
[ "$(stat -c %a:%G "$KEYD_SOCK")" = "660:$ngroup" ] ||
	fail "socket with user nobody: got $(stat -c %a:%G "$KEYD_SOCK"), want 660:$ngroup"
timeout "$WAIT_SECS" setpriv --reuid=nobody --regid="$ngroup" --init-groups \
    "$HSMTLS_KEYD_CLIENT" "$KEYD_SOCK" sign "$EC" "$tmp/ec.pem" ecdsa sha256 3 \
    >"$tmp/user.out" 2>&1 || fail "the configured user was not served: $(cat "$tmp/user.out")"
expect_line "$tmp/user.out" "sent 3 replies 3 ids-matched 3 verified 3 errors 0"
stop_keyd
echo "PASS: $TEST_NAME"
