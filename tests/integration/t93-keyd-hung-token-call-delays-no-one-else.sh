#!/bin/bash
# t93: a token call that hangs (the fault module holds one C_Sign for 3 s)
# holds up only its own request: a second connection's SIGN is answered at
# once, as is the hung request's neighbour on its own connection; the hung
# request gets ERROR timeout at the 2 s key-operation deadline; then the
# daemon serves on and stops cleanly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/keyd-lib.sh"

use_faults
keyd_one_ec_key

base=$(count_of C_Sign)
set_faults 'hang C_Sign 3000 count 1'
t0=$(now_ms)
( st=0; keyd_client sign "$EC" "$tmp/ec.pem" ecdsa sha256 2 >"$tmp/hung.out" 2>&1 || st=$?
  echo "$st" >"$tmp/hung.rc"; now_ms >"$tmp/hung.end" ) &
H=$!
BG_PIDS="$BG_PIDS $H"
# Wait until the hung C_Sign has begun.
i=0
while [ "$(count_of C_Sign)" -le "$base" ]; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || fail "the first SIGN never reached the token"
	sleep 0.02
done
for i in 1 2 3; do
	t1=$(now_ms)
	keyd_client sign "$EC" "$tmp/ec.pem" ecdsa sha256 1 >"$tmp/other.out" 2>&1 ||
		fail "SIGN $i next to the hung one failed: $(cat "$tmp/other.out")"
	took=$(($(now_ms) - t1))
	echo "SIGN $i on another connection: ${took} ms"
	within_ms "$took" 1000 || fail "SIGN $i next to the hung one took ${took} ms"
done
wait "$H" || true
took=$(($(cat "$tmp/hung.end") - t0))
echo "hung connection done after ${took} ms"
[ "$(cat "$tmp/hung.rc")" -eq 1 ] || fail "hung connection: exit $(cat "$tmp/hung.rc"), want 1: $(cat "$tmp/hung.out")"
grep -q '^error id=[0-9]* status=timeout' "$tmp/hung.out" || fail "no timeout ERROR: $(cat "$tmp/hung.out")"
expect_line "$tmp/hung.out" "sent 2 replies 2 ids-matched 2 verified 1 errors 1"
[ "$took" -ge 1500 ] || fail "timed out after ${took} ms, before the 2 s deadline"
within_ms "$took" 4000 || fail "timed out after ${took} ms, want about 2000"

keyd_client health >"$tmp/health.out" || fail "HEALTH failed"
grep -q ' expired=1$' "$tmp/health.out" || fail "HEALTH: want expired=1: $(cat "$tmp/health.out")"
keyd_client sign "$EC" "$tmp/ec.pem" ecdsa sha256 2 >"$tmp/after.out" ||
	fail "after the hang: $(cat "$tmp/after.out")"
sleep 1   # the hung worker returns
stop_keyd
echo "PASS: $TEST_NAME"
