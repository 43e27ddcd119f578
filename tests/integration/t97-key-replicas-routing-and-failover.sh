#!/bin/bash
# t97: one key cloned on two tokens, served by hsmtls-keyd to
# hsmtls-server.  Each operation goes to the replica with the fewest in
# flight: sequential handshakes alternate between the tokens, and with
# one token slowed (serial 30 ms signatures) concurrent handshakes go
# mostly to the other.  With a steady handshake load, removing token B
# fails no handshake after the first key-timeout (500 ms): its failed
# operations are retried on token A and B is taken out (one log line);
# once B is back, the daemon's probe puts it back in and B signs again
# within 2 s, and token A (same module) is never logged out meanwhile.
# Token work is counted per token (C_Sign@LABEL).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/keyd-lib.sh"
need_tool openssl softhsm2-util

use_faults
make_root
two_tokens_one_key
CERT=$tmp/web.pem

C=$tmp/hsmtls.conf
mkdir -p "$tmp/keyd"
{ [ "$(id -u)" -ne 0 ] || echo "keyd-user root;"; } >"$C"
cat >>"$C" <<EOC
keyd $KEYD_SOCK;
listen 127.0.0.1:0;
key-timeout 500ms;
allow-imported-key on;
token $A {
    module $HSMTLS_TESTP11;
    pin-file $PIN_FILE;
}
token $B {
    module $HSMTLS_TESTP11;
    pin-file $TOKEN2_PIN;
}
site www {
    server-name localhost;
    root $ROOT;
    key "$URI_A" "$URI_B" $CERT;
}
EOC
start_keyd -c "$C"
(unset HSMTLS_TESTP11_MODULE HSMTLS_TESTP11_COUNTS HSMTLS_TESTP11_CONTROL; exec "$HSMTLS_SERVER" -c "$C") \
    </dev/null >"$tmp/server-stdout.out" 2>"$tmp/server.log" &
SERVER_PID=$!
SERVER_LOG=$tmp/server.log
wait_listening

signs() { count_of "C_Sign@$1"; }

# Test: sequential handshakes are spread over both tokens.
a0=$(signs "$A") b0=$(signs "$B")
handshakes 10 -tls1_3
da=$(($(signs "$A") - a0)) db=$(($(signs "$B") - b0))
echo "10 sequential handshakes: $A signed $da, $B signed $db"
[ $((da + db)) -eq 10 ] || fail "C_Sign for 10 handshakes: $A $da + $B $db, want 10"
[ "$da" -ge 3 ] && [ "$db" -ge 3 ] || fail "handshakes not spread: $A $da, $B $db"

# Background load: handshakes in a loop, each logged "END_MS ok|fail".
load() {
	while [ ! -e "$tmp/stop" ]; do
		if s_client -tls1_3 >"$tmp/load$1.out" 2>&1 &&
		    grep -qx 'Verification: OK' "$tmp/load$1.out"; then
			echo "$(now_ms) ok"
		else
			echo "$(now_ms) fail"
		fi
	done >>"$tmp/load$1.log"
}
start_load() {
	rm -f "$tmp/stop"
	L=""
	for i in $(seq "$1"); do
		load "$i" &
		L="$L $!"
	done
	BG_PIDS="$BG_PIDS $L"
}
stop_load() {
	touch "$tmp/stop"
	# shellcheck disable=SC2086
	wait $L || true
}

# Test: with token B slow, concurrent handshakes go mostly to token A.
set_faults "latency C_Sign 30 serial token $B"
a0=$(signs "$A") b0=$(signs "$B")
start_load 4
sleep 3
stop_load
da=$(($(signs "$A") - a0)) db=$(($(signs "$B") - b0))
echo "concurrent handshakes, $B slowed: $A signed $da, $B signed $db"
[ "$da" -gt "$db" ] && [ "$da" -gt 0 ] || fail "the faster token did not get more: $A $da, $B $db"
set_faults ''
rm -f "$tmp"/load*.log

# Test: token B removed under load: no handshake fails after the first
# key-timeout; B is taken out once; back in soon after it is back.
start_load 2
sleep 1
t_rm=$(now_ms)
set_faults "removed token $B"
sleep 2
grep -q "token $B taken out of key web: " "$KEYD_LOG" ||
	fail "no take-out line: $(cat "$KEYD_LOG")"
[ "$(grep -c "taken out of key web" "$KEYD_LOG")" -eq 1 ] ||
	fail "take-out logged more than once: $(grep 'taken out' "$KEYD_LOG")"
a_out=$(signs "$A")
b0=$(signs "$B")
t_in=$(now_ms)
set_faults ''
# The probe signs once; a handshake's signature is the second.
until [ $(($(signs "$B") - b0)) -ge 2 ]; do
	[ $(($(now_ms) - t_in)) -lt 5000 ] || fail "token $B did no work within 5 s of coming back: $(tail -5 "$KEYD_LOG")"
	sleep 0.05
done
rejoin=$(($(now_ms) - t_in))
sleep 0.5
stop_load
BG_PIDS="$KEYD_PID"   # the load loops are gone; the daemon is not
grep -q "token $B back in key web" "$KEYD_LOG" || fail "no back-in line: $(cat "$KEYD_LOG")"
late=$(cat "$tmp"/load*.log | awk -v t="$((t_rm + 500))" '$2 == "fail" && $1 > t' | wc -l)
all=$(cat "$tmp"/load*.log | grep -c fail || true)
total=$(cat "$tmp"/load*.log | wc -l)
echo "token $B removed under load: $total handshakes, $all failed ($late after the first key-timeout); $B signing again ${rejoin} ms after it came back"
[ "$total" -ge 10 ] || fail "too little load to judge: $total handshakes"
[ "$late" -eq 0 ] || fail "$late handshakes failed after the first key-timeout"
[ "$a_out" -gt 0 ] || fail "token $A did not sign"
# Token A shares the module with B: B's recovery must leave A's sessions
# and login alone (no re-login, no key found again on A).
! grep -Eq "token '$A': (logged in again|found key)" "$KEYD_LOG" ||
	fail "token $B's loss disturbed token $A: $(grep -E "token '$A'" "$KEYD_LOG" | head -3)"
within_ms "$rejoin" 2000 || fail "token $B rejoined after ${rejoin} ms, want < 2000"
handshakes 4 -tls1_3
stop_server_ok
stop_keyd
