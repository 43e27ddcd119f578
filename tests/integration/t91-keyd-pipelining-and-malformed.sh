#!/bin/bash
# t91: one connection to hsmtls-keyd carries many requests at once: 20
# SIGNs sent before any reply is read are all answered, each reply with
# the id of exactly one request, each signature verifying.  Malformed
# messages (short header, wrong version, length mismatch, unknown type,
# a reply sent as a request, truncated fields), an oversized one (5000
# bytes), key numbers the connection never opened, an OPEN with the wrong
# public key and a mechanism that does not fit the key each get an ERROR
# with the right status and id, are logged, and the daemon keeps serving:
# the same connection, then a new one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/keyd-lib.sh"
need_tool openssl

make_token
make_root
EC=$(make_key ec:P-256 ec 01)
RSA=$(make_key rsa:2048 rsa 02)
make_cert "$EC" "$tmp/ec.pem"
make_cert "$RSA" "$tmp/rsa.pem"
C=$tmp/hsmtls.conf
keyd_conf "$C" "site a {
    root $ROOT;
    key \"$EC\" $tmp/ec.pem;
    key \"$RSA\" $tmp/rsa.pem;
}"
start_keyd -c "$C"

keyd_client sign "$EC" "$tmp/ec.pem" ecdsa sha256 20 >"$tmp/pipe.out" ||
	fail "20 pipelined ECDSA SIGNs: $(cat "$tmp/pipe.out")"
expect_line "$tmp/pipe.out" "sent 20 replies 20 ids-matched 20 verified 20 errors 0"
keyd_client sign "$RSA" "$tmp/rsa.pem" rsa-pss sha256 20 >"$tmp/pipe2.out" ||
	fail "20 pipelined RSA-PSS SIGNs: $(cat "$tmp/pipe2.out")"
expect_line "$tmp/pipe2.out" "sent 20 replies 20 ids-matched 20 verified 20 errors 0"

for key in ec rsa; do
	if [ $key = ec ]; then uri=$EC; else uri=$RSA; fi
	st=0
	keyd_client malformed "$uri" "$tmp/$key.pem" >"$tmp/bad-$key.out" || st=$?
	[ "$st" -eq 0 ] || fail "malformed requests ($key key), exit $st:
$(cat "$tmp/bad-$key.out")"
	for c in "short-header: malformed id=0" "wrong-version: version id=11" \
	    "length-mismatch: malformed id=12" "oversized: too-big id=13" \
	    "unknown-type: type id=14" "reply-as-request: type id=15" \
	    "truncated-open: malformed id=16" "truncated-sign: malformed id=17" \
	    "key-zero: no-key id=20" "key-next: no-key id=21" \
	    "key-7: no-key id=22" "key-max: no-key id=23" \
	    "open-wrong-public-key: not-found id=24" \
	    "wrong-mechanism: not-allowed id=25" "health-after: ok"; do
		expect_line "$tmp/bad-$key.out" "case $c"
	done
done
kill -0 "$KEYD_PID" 2>/dev/null || fail "hsmtls-keyd died"
grep -q 'request 13 (type 2) refused: too-big' "$KEYD_LOG" || fail "oversized request not logged: $(cat "$KEYD_LOG")"
grep -q 'request 22 (type 2) refused: no-key' "$KEYD_LOG" || fail "unopened key not logged"

# Still serving, on a new connection.
keyd_client sign "$EC" "$tmp/ec.pem" ecdsa sha256 3 >"$tmp/after.out" ||
	fail "after the malformed requests: $(cat "$tmp/after.out")"
expect_line "$tmp/after.out" "sent 3 replies 3 ids-matched 3 verified 3 errors 0"
stop_keyd
echo "PASS: $TEST_NAME"
