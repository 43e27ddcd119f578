#!/bin/bash
# t104: a token fault soak.  Two servers on one token, one with the module
# in-process and one through hsmtls-keyd, take a mixed load for
# HSMTLS_SOAK_SECS (default 60; "make check-slow" runs 600): TLS 1.3 ECDSA,
# TLS 1.3 RSA-PSS, TLS 1.2 ECDHE-RSA full handshakes and TLS 1.3 resumed
# ones, each with a request.  Meanwhile the test module is given a new
# fault every 1-2.5 s, each kind once per round in a random order: device
# errors, invalid sessions, lost logins, a logout and a close of every
# session behind the engine's back, the token removed (and put back at the
# next step), a 2 s hang of one C_Sign, or nothing; the last is a removal.  Checked: no process dies; every connection
# completes or fails within its client's limit (no hang, no timeout); some
# handshakes succeed under every kind of fault; after the last fault every
# handshake succeeds within 2 s (the measured time is printed); the
# servers' open files are back where they started.
. "$(dirname "$0")/lib.sh"
need_tool openssl
need_file HSMTLS_BENCH

SOAK=${HSMTLS_SOAK_SECS:-60}
use_faults
make_token
make_root
EC=$(make_key ec:P-256 ec 01)
RSA=$(make_key rsa:2048 rsa 02)
make_cert "$EC" "$tmp/ec.pem"
make_cert "$RSA" "$tmp/rsa.pem"
cat "$tmp/ec.pem" "$tmp/rsa.pem" >"$tmp/ca.pem"
C=$tmp/hsmtls.conf
cat >"$C" <<EOF
listen 127.0.0.1:0;
admin-listen 127.0.0.1:0;
token "$TOKEN_LABEL" {
    module "$HSMTLS_TESTP11";
    pin-file "$PIN_FILE";
}
site www {
    root $ROOT;
    key "$EC" $tmp/ec.pem;
    key "$RSA" $tmp/rsa.pem;
}
EOF

key_mode inproc
start_server_conf "$C"
IN_PID=$SERVER_PID IN_PORT=$PORT
BG_PIDS="$BG_PIDS $IN_PID"
key_mode keyd
start_server_conf "$C"
KD_PID=$SERVER_PID KD_PORT=$PORT
[ -n "$AUTO_KEYD_PID" ] || fail "no key daemon"
fds() { ls "/proc/$1/fd" | wc -l; }
IN_FD0=$(fds "$IN_PID") KD_FD0=$(fds "$KD_PID")

# load NAME PORT ARGS...: hsbench for the soak, its report in $tmp/NAME.out.
load() {
	name=$1 port=$2
	shift 2
	"$HSMTLS_BENCH" --connect "127.0.0.1:$port" --cafile "$tmp/ca.pem" \
	    --concurrency 2 --timeout-ms 8000 --duration "$SOAK" "$@" \
	    >"$tmp/$name.out" 2>"$tmp/$name.err" &
	LOADS="$LOADS $!"
}
LOADS=""
for m in in kd; do
	if [ $m = in ]; then p=$IN_PORT; else p=$KD_PORT; fi
	load "$m-ec13" "$p" --tls 1.3 --sigalgs ecdsa_secp256r1_sha256 --rate 12
	load "$m-pss13" "$p" --tls 1.3 --sigalgs rsa_pss_rsae_sha256 --rate 8
	load "$m-rsa12" "$p" --tls 1.2 --sigalgs rsa_pss_rsae_sha256:rsa_pkcs1_sha256 --rate 8
	load "$m-resume" "$p" --tls 1.3 --resume --rate 12
done
BG_PIDS="$BG_PIDS $LOADS"

faults=(
	''
	'fail C_Sign CKR_DEVICE_ERROR every 3'
	'fail C_Sign CKR_SESSION_HANDLE_INVALID every 4'
	'fail C_Sign CKR_USER_NOT_LOGGED_IN every 5'
	'fail C_Sign CKR_GENERAL_ERROR every 2'
	'action logout @'
	'action close-sessions @'
	'removed'
	'hang C_Sign 2000 count 1'
)
# Each round gives every fault once, in a random order; the last fault is
# always a removal (then the token is put back), the hardest to recover from.
end=$(($(date +%s) + SOAK - 4))
step=0
declare -A used
while [ "$(date +%s)" -lt "$end" ]; do
	for i in $(shuf -i 0-$((${#faults[@]} - 1))); do
		[ "$(date +%s)" -lt "$end" ] || break
		step=$((step + 1))
		f=${faults[$i]}
		kind=${f%% *}
		used[${kind:-none}]=1
		set_faults "${f/@/s$step}"
		sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 1 + 1.5 * r / 32767 }')"
		for p in "$IN_PID" "$KD_PID" "$AUTO_KEYD_PID"; do
			kill -0 "$p" 2>/dev/null && continue
			st=0
			wait "$p" 2>/dev/null || st=$?
			fail "process $p died at step $step (fault: $f), exit status $st (128+N: signal N)"
		done
	done
done
set_faults removed
sleep 1.5
set_faults ''
clear_ms=$(now_ms)
echo "soak: $step fault steps over about ${SOAK}s, then a removal; kinds used: ${!used[*]}"

# After the last fault: the first moment from which handshakes succeed.
for m in in kd; do
	if [ $m = in ]; then p=$IN_PORT; else p=$KD_PORT; fi
	until "$HSMTLS_BENCH" --connect "127.0.0.1:$p" --cafile "$tmp/ca.pem" \
	    --tls 1.3 --requests 4 --concurrency 4 --timeout-ms 3000 --strict \
	    >"$tmp/probe.out" 2>&1; do
		[ $(($(now_ms) - clear_ms)) -lt 20000 ] || fail "$m: no success 20 s after the last fault: $(cat "$tmp/probe.out")"
		sleep 0.05
	done
	took=$(($(now_ms) - clear_ms))
	echo "$m: handshakes succeed again ${took} ms after the last fault"
	within_ms "$took" 2000 || fail "$m: back only ${took} ms after the last fault"
done
for l in $LOADS; do
	wait "$l" || fail "a load client failed: $(cat "$tmp"/*.err)"
done
# From 2 s after the last fault on, nothing fails: every kind, both servers.
for m in in kd; do
	if [ $m = in ]; then p=$IN_PORT; else p=$KD_PORT; fi
	for args in "--tls 1.3 --sigalgs ecdsa_secp256r1_sha256" \
	    "--tls 1.3 --sigalgs rsa_pss_rsae_sha256" \
	    "--tls 1.2 --sigalgs rsa_pss_rsae_sha256:rsa_pkcs1_sha256" \
	    "--tls 1.3 --resume"; do
		# shellcheck disable=SC2086 # args is a word list on purpose
		"$HSMTLS_BENCH" --connect "127.0.0.1:$p" --cafile "$tmp/ca.pem" \
		    --requests 40 --concurrency 4 --timeout-ms 5000 --strict $args \
		    >"$tmp/after.out" 2>&1 ||
			fail "$m $args after the faults: $(cat "$tmp/after.out")"
	done
done

# Under the faults: every connection ended within its limit, and each
# kind of handshake kept succeeding on both servers.
total=0
for f in "$tmp"/in-*.out "$tmp"/kd-*.out; do
	n=$(basename "$f" .out)
	echo "$n: $(cat "$f")"
	[ "$(field err_timeout "$f")" = 0 ] || fail "$n: connections hung past the client's limit: $(cat "$f")"
	# Open when the load's window closed: at most its concurrency (2);
	# one that hung would have ended as err_timeout first.
	[ "$(field abandoned "$f")" -le 2 ] || fail "$n: connections abandoned: $(cat "$f")"
	ok=$(($(field handshakes "$f") - $(field errors "$f")))
	[ "$ok" -gt 0 ] || fail "$n: no handshake succeeded during the soak: $(cat "$f")"
	total=$((total + $(field handshakes "$f")))
done
grep -q 'resumed=[1-9]' "$tmp/in-resume.out" || fail "no resumed handshakes in-process: $(cat "$tmp/in-resume.out")"
grep -q 'resumed=[1-9]' "$tmp/kd-resume.out" || fail "no resumed handshakes through keyd: $(cat "$tmp/kd-resume.out")"
echo "soak: $total connections in all"

# Nothing left open: the servers' files are back where they started
# (the listeners, logs and the daemon's socket, give or take a closing
# connection).
sleep 1
for m in in kd; do
	if [ $m = in ]; then p=$IN_PID f0=$IN_FD0; else p=$KD_PID f0=$KD_FD0; fi
	f1=$(fds "$p")
	echo "$m: open files $f0 at the start, $f1 at the end"
	[ "$f1" -le $((f0 + 4)) ] || fail "$m: $f1 open files at the end, $f0 at the start"
done
kill -0 "$AUTO_KEYD_PID" || fail "the key daemon died"
kill "$IN_PID"
wait "$IN_PID" 2>/dev/null || true
echo "PASS: $TEST_NAME"
