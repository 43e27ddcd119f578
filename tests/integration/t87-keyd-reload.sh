#!/bin/bash
# t87: SIGHUP makes hsmtls-keyd read hsmtls.conf again.  A site added to
# the file is served through the daemon once the server is reloaded too;
# the unchanged token block keeps its engine (no second C_Login), and
# the server's connection keeps the keys it opened, also when a changed
# token block gets a new engine.  A file with errors
# at reload is reported with FILE:LINE and the old keys keep serving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/keyd-lib.sh"
need_tool openssl curl

use_testp11
make_token
make_root
A=$(make_key ec:P-256 a 01)
B=$(make_key ec:P-256 b 02)
CERT=$tmp/a.pem
make_cert "$A" "$CERT"
make_cert_for "$B" "$PIN_FILE" "$tmp/b.pem" b.test
C=$tmp/hsmtls.conf
SITE_A="listen 127.0.0.1:0;
site a {
    server-name localhost;
    root $ROOT;
    key \"$A\" $CERT;
}"
SITE_B="site b {
    server-name b.test;
    root $ROOT;
    key \"$B\" $tmp/b.pem;
}"
keyd_conf "$C" "$SITE_A"
start_keyd -c "$C"
(unset HSMTLS_TESTP11_MODULE HSMTLS_TESTP11_COUNTS; exec "$HSMTLS_SERVER" -c "$C") \
    </dev/null >"$tmp/server-stdout.out" 2>"$tmp/server.log" &
SERVER_PID=$!
SERVER_LOG=$tmp/server.log
wait_listening
handshakes 2 -tls1_3
[ "$(count_of C_Login)" -eq 1 ] || fail "C_Login after start-up: $(count_of C_Login)"

b_ok() {
	timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername b.test \
	    -CAfile "$tmp/b.pem" -verify_return_error -verify_hostname b.test -tls1_3 \
	    </dev/null >"$tmp/b.out" 2>&1 && grep -qx 'Verification: OK' "$tmp/b.out"
}
b_ok && fail "site b served before it was configured"

# Test: a site added, the daemon reloaded, then the server: b is served.
keyd_conf "$C" "$SITE_A" "$SITE_B"
kill -HUP "$KEYD_PID"
wait_log 'reloaded: serving 2 keys (1 of 1 token kept as they were)' 1 "$KEYD_LOG" "$KEYD_PID"
[ "$(count_of C_Login)" -eq 1 ] || fail "C_Login after the daemon's reload: $(count_of C_Login), want 1 (engine kept)"
# The server's connection still holds the keys it opened before.
handshakes 2 -tls1_3
kill -HUP "$SERVER_PID"
i=0
until grep -q 'reloaded: configuration' "$SERVER_LOG"; do
	i=$((i + 1)); [ "$i" -lt $((WAIT_SECS * 10)) ] || fail "the server did not reload: $(cat "$SERVER_LOG")"
	sleep 0.1
done
s0=$(count_of C_Sign)
b_ok || fail "site b not served after both reloads: $(tail -3 "$tmp/b.out")"
[ $(($(count_of C_Sign) - s0)) -eq 1 ] || fail "C_Sign for b's handshake: $(($(count_of C_Sign) - s0)), want 1 (in the daemon)"
handshakes 1 -tls1_3

# Test: a changed token block (another PIN file) gets a new engine and
# logs in again; the server's connection keeps using the keys it opened
# from the old set, whose engine lives on for it.
cp -p "$PIN_FILE" "$tmp/pin2"
keyd_conf "$C" "$SITE_A" "$SITE_B"
sed -i "s|pin-file $PIN_FILE;|pin-file $tmp/pin2;|" "$C"
grep -q "pin-file $tmp/pin2;" "$C" || hard_error "the token block did not change"
kill -HUP "$KEYD_PID"
wait_log 'reloaded: serving 2 keys (0 of 1 token kept as they were)' 1 "$KEYD_LOG" "$KEYD_PID"
[ "$(count_of C_Login)" -eq 2 ] || fail "C_Login after a changed token block: $(count_of C_Login), want 2"
handshakes 2 -tls1_3
b_ok || fail "site b not served by the old set's keys"
keyd_client sign "$A" "$CERT" ecdsa sha256 2 >"$tmp/sign.out" 2>&1 ||
	fail "a new connection cannot use a after the token block changed: $(cat "$tmp/sign.out")"
[ "$(count_of C_Login)" -eq 2 ] || fail "C_Login at the end: $(count_of C_Login), want 2"

# Test: a broken file at reload: FILE:LINE, the old keys keep serving.
keyd_conf "$C" "$SITE_A" "$SITE_B" "site c {
    root $ROOT;
    key \"pkcs11:token=$TOKEN_LABEL;object=nope;type=private\" $CERT;
}"
sed -i "s|pin-file $PIN_FILE;|pin-file $tmp/pin2;|" "$C"
bad=$(grep -n 'object=nope' "$C" | cut -d: -f1)
kill -HUP "$KEYD_PID"
wait_log 'reload failed; the previous keys keep serving' 1 "$KEYD_LOG" "$KEYD_PID"
grep -q "$C:$bad: " "$KEYD_LOG" || fail "no $C:$bad error for the missing key: $(cat "$KEYD_LOG")"
printf 'site x {\n    root %s\n' "$ROOT" >"$C"   # not even parsable
kill -HUP "$KEYD_PID"
wait_log 'reload failed; the previous keys keep serving' 2 "$KEYD_LOG" "$KEYD_PID"
grep -q "error $C:[0-9]*: .root.: missing" "$KEYD_LOG" || fail "no located parse error: $(cat "$KEYD_LOG")"
# The server's connection and a new one both still get both keys.
handshakes 2 -tls1_3
b_ok || fail "site b not served after a failed reload"
keyd_client sign "$B" "$tmp/b.pem" ecdsa sha256 1 >"$tmp/sign.out" 2>&1 ||
	fail "a new connection cannot use b after a failed reload: $(cat "$tmp/sign.out")"
[ "$(count_of C_Login)" -eq 2 ] || fail "C_Login after failed reloads: $(count_of C_Login), want 2"
stop_server_ok
stop_keyd
