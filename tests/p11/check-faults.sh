#!/bin/sh
# check-faults.sh - the test PKCS#11 module injects each fault its control
# file asks for, and only those: latency (calls overlap across threads),
# hang N, fail every/nth/always (the real operation is terminated), token
# flags, token removal and re-insertion, close-sessions and logout actions
# once per id, a robust parser, and nothing at all when unconfigured.
# Driven by p11-drive against a throwaway SoftHSM token.
#
# Environment (tests/Makefile.am): HSMTLS_TESTP11, HSMTLS_TOKEN,
# SOFTHSM_MODULE, builddir; each has a fallback for runs by hand.
set -eu

skip() {
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*"
	for f in out err log; do
		[ -s "$tmp/$f" ] && sed "s/^/  $f: /" "$tmp/$f"
	done
	exit 1
}

b=${builddir:-.}
testp11=${HSMTLS_TESTP11:-}
if [ -z "$testp11" ]; then
	for c in "$b/.libs/hsmtls-testp11.so" "$b/p11/.libs/hsmtls-testp11.so"; do
		if [ -f "$c" ]; then
			testp11=$c
			break
		fi
	done
fi
if [ -z "$testp11" ] || [ ! -f "$testp11" ]; then
	skip "hsmtls-testp11.so not built"
fi
p11dir=$(cd "$(dirname "$testp11")/.." && pwd)
drive_bin=${HSMTLS_P11DRIVE:-$p11dir/p11-drive}
token_bin=${HSMTLS_TOKEN:-$p11dir/../../tokens/hsmtls-token}
softhsm=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
[ -x "$drive_bin" ] || skip "p11-drive not built"
[ -x "$token_bin" ] || skip "hsmtls-token not built"
[ -f "$softhsm" ] || skip "no SoftHSM module at $softhsm"
for tool in awk grep sed mktemp; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool not found"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

"$token_bin" init --dir "$tmp/tok" >"$tmp/init.out" 2>"$tmp/err" ||
	fail "hsmtls-token init"
SOFTHSM2_CONF=$(sed -n 's/^export SOFTHSM2_CONF=//p' "$tmp/init.out")
[ -n "$SOFTHSM2_CONF" ] || fail "hsmtls-token init printed no SOFTHSM2_CONF"
export SOFTHSM2_CONF
"$token_bin" keygen --token hsmtls-dev --pin-file "$tmp/tok/user.pin" \
	--type ec:P-256 --label k --id 01 >/dev/null 2>"$tmp/err" ||
	fail "hsmtls-token keygen"

HSMTLS_TESTP11_MODULE=$softhsm
HSMTLS_TESTP11_CONTROL=$tmp/ctl
HSMTLS_TESTP11_LOG=$tmp/log
HSMTLS_TESTP11_COUNTS=$tmp/counts
export HSMTLS_TESTP11_MODULE HSMTLS_TESTP11_CONTROL HSMTLS_TESTP11_LOG \
	HSMTLS_TESTP11_COUNTS

# Each case starts with no control file and an empty fault log.
reset() {
	rm -f "$tmp/ctl" "$tmp/log" "$tmp/counts"
	: >"$tmp/log"
}

# The control file, one argument a line, replaced as tests will: mv.
ctl() {
	printf '%s\n' "$@" >"$tmp/ctl.new"
	mv "$tmp/ctl.new" "$tmp/ctl"
}

drive() {
	"$drive_bin" --module "$testp11" --token hsmtls-dev \
		--pin-file "$tmp/tok/user.pin" --key k "$@" \
		>"$tmp/out" 2>"$tmp/err" || fail "p11-drive $* exited $?"
}

# The CKR column of one step's lines, space-separated.
ckrs() {
	awk -v s="$1" '$1 == s && $2 != "wall" { printf "%s%s", sep, $3; sep = " " }
		END { print "" }' "$tmp/out"
}

want_ckrs() {
	got=$(ckrs "$1")
	[ "$got" = "$2" ] || fail "$3: $1 results '$got', want '$2'"
}

# The transcript without timings, against the expected one on stdin.
want_transcript() {
	awk '$1 ~ /sign$/ && $2 != "wall" { print $1, $2, $3; next } { print }' \
		"$tmp/out" >"$tmp/got"
	cat >"$tmp/want"
	diff "$tmp/want" "$tmp/got" >"$tmp/diff" ||
		fail "$1: transcript differs (- want, + got): $(cat "$tmp/diff")"
}

want_log() {
	n=$(grep -cxF "$1" "$tmp/log" || true)
	[ "$n" -eq "$2" ] || fail "$3: fault log has $n lines '$1', want $2"
}

# Milliseconds of the Nth line of a step.
ms_of() {
	awk -v s="$1" -v n="$2" '$1 == s && $2 != "wall" && ++i == n { print $4 }' \
		"$tmp/out"
}

want_ms_ge() {
	v=$(ms_of "$1" "$2")
	if [ -z "$v" ] || [ "$v" -lt "$3" ]; then
		fail "$4: $1 call $2 took '$v' ms, want >= $3"
	fi
}

want_ms_lt() {
	v=$(ms_of "$1" "$2")
	if [ -z "$v" ] || [ "$v" -ge "$3" ]; then
		fail "$4: $1 call $2 took '$v' ms, want < $3"
	fi
}

count_of() {
	awk -v f="$1" '$1 == f { print $2 }' "$tmp/counts"
}

# Test: no control file (or no variable) means no fault and no log line;
# the counts file keeps its format.
reset
drive open login find sign 3
want_ckrs sign "CKR_OK CKR_OK CKR_OK" "no control file"
[ ! -s "$tmp/log" ] || fail "no control file: fault log is not empty"
got=$(awk 'NR <= 8 { printf "%s%s", sep, $1; sep = " " }' "$tmp/counts")
want="C_Sign C_SignInit C_Decrypt C_DecryptInit C_Login C_GetAttributeValue C_Initialize C_Finalize"
[ "$got" = "$want" ] || fail "counts file starts '$got', want '$want'"
[ "$(count_of C_Sign)" = 3 ] || fail "counts: C_Sign $(count_of C_Sign), want 3"
(
	unset HSMTLS_TESTP11_CONTROL
	ctl 'fail C_Sign CKR_DEVICE_ERROR always'
	drive open login find sign 1
	want_ckrs sign "CKR_OK" "HSMTLS_TESTP11_CONTROL unset"
)

# Test: latency delays every call of that function only.
reset
ctl 'latency C_Sign 100' 'latency C_Verify 2000'
drive open login find sign 3
want_ckrs sign "CKR_OK CKR_OK CKR_OK" "latency"
for i in 1 2 3; do
	want_ms_ge sign $i 100 "latency C_Sign 100"
	want_ms_lt sign $i 1000 "latency C_Verify must not delay C_Sign"
done
want_log "C_Sign latency 100" 3 "latency"
want_log "C_Verify latency 2000" 0 "latency"

# Test: latency sleeps hold no lock: 32 threads x 50 ms overlap.
reset
ctl 'latency C_Sign 50'
drive open login find psign 32 1
[ "$(ckrs psign | grep -o CKR_OK | wc -l)" -eq 32 ] ||
	fail "latency, 32 threads: not 32 x CKR_OK: $(ckrs psign)"
wall=$(awk '$1 == "psign" && $2 == "wall" { print $3 }' "$tmp/out")
if [ -z "$wall" ] || [ "$wall" -lt 50 ] || [ "$wall" -ge 800 ]; then
	fail "latency, 32 threads x 50 ms: wall '$wall' ms, want 50..799 (1600 if serialised)"
fi

# Test: hang N delays the next N calls from when the directive appears;
# a rewrite keeping it does not restart it; a changed one does.
reset
ctl 'hang C_Sign 300 count 2'
drive open login find sign 4 \
	ctl 'hang C_Sign 300 count 2;# same directive, file rewritten' sign 1 \
	ctl 'hang C_Sign 300' sign 2
want_ckrs sign "CKR_OK CKR_OK CKR_OK CKR_OK CKR_OK CKR_OK CKR_OK" "hang"
want_ms_ge sign 1 300 "hang count 2, call 1"
want_ms_ge sign 2 300 "hang count 2, call 2"
want_ms_lt sign 3 150 "hang count 2, call 3"
want_ms_lt sign 4 150 "hang count 2, call 4"
want_ms_lt sign 5 150 "hang kept by a rewrite"
want_ms_ge sign 6 300 "hang changed to count 1, call 1"
want_ms_lt sign 7 150 "hang changed to count 1, call 2"
want_log "C_Sign hang 300" 3 "hang"

# Test: hang count holds across concurrent callers: exactly N are hung.
reset
ctl 'hang C_Sign 300 count 3'
drive open login find psign 8 1
slow=$(awk '$1 == "psign" && $2 != "wall" && $4 >= 300' "$tmp/out" | wc -l)
[ "$slow" -eq 3 ] || fail "hang count 3, 8 threads: $slow calls hung, want 3"

# Test: fail every N; the next C_SignInit works (operation terminated) and
# faulted calls are still counted.
reset
ctl 'fail C_Sign CKR_DEVICE_ERROR every 3'
drive open login find sign 6
want_ckrs sign "CKR_OK CKR_OK CKR_DEVICE_ERROR CKR_OK CKR_OK CKR_DEVICE_ERROR" \
	"fail every 3"
want_log "C_Sign CKR_DEVICE_ERROR" 2 "fail every 3"
[ "$(count_of C_Sign)" = 6 ] || fail "counts: C_Sign $(count_of C_Sign), want 6"

# Test: fail nth N, always (until the line goes), and a numeric CKR on an
# init function, which is not forwarded (else the next init would say
# CKR_OPERATION_ACTIVE).
reset
ctl 'fail C_Sign CKR_FUNCTION_FAILED nth 2'
drive open login find sign 4 \
	ctl 'fail C_Sign CKR_GENERAL_ERROR always' sign 2 ctl '' sign 1 \
	ctl 'fail C_SignInit 0x30 nth 1' sign 2
want_transcript "fail nth/always/numeric" <<'EOF'
open CKR_OK
login CKR_OK
find found
sign C_Sign CKR_OK
sign C_Sign CKR_FUNCTION_FAILED
sign C_Sign CKR_OK
sign C_Sign CKR_OK
ctl
sign C_Sign CKR_GENERAL_ERROR
sign C_Sign CKR_GENERAL_ERROR
ctl
sign C_Sign CKR_OK
ctl
sign C_SignInit CKR_DEVICE_ERROR
sign C_Sign CKR_OK
EOF

# Test: a failure injected on a length query (NULL buffer) still leaves no
# operation active in the real module.
reset
ctl 'fail C_Sign CKR_DEVICE_ERROR nth 1'
drive open login find qsign 2
want_ckrs qsign "CKR_DEVICE_ERROR CKR_OK" "fail on a length query"

# Test: a failed C_Login is not forwarded: the key stays invisible.
reset
ctl 'fail C_Login CKR_PIN_INCORRECT nth 1'
drive open login find login find sign 1
want_transcript "fail C_Login" <<'EOF'
open CKR_OK
login CKR_PIN_INCORRECT
find none
login CKR_OK
find found
sign C_Sign CKR_OK
EOF

# Test: flags show in C_GetTokenInfo; the module itself refuses no login.
reset
ctl 'flags CKF_USER_PIN_FINAL_TRY CKF_USER_PIN_COUNT_LOW'
drive open tokeninfo login ctl 'flags CKF_USER_PIN_LOCKED' tokeninfo \
	ctl 'flags CKF_USER_PIN_TO_BE_CHANGED' tokeninfo ctl '' tokeninfo
want_transcript "flags" <<'EOF'
open CKR_OK
tokeninfo CKR_OK CKF_USER_PIN_COUNT_LOW|CKF_USER_PIN_FINAL_TRY
login CKR_OK
ctl
tokeninfo CKR_OK CKF_USER_PIN_LOCKED
ctl
tokeninfo CKR_OK CKF_USER_PIN_TO_BE_CHANGED
ctl
tokeninfo CKR_OK
EOF
want_log "C_GetTokenInfo flags CKF_USER_PIN_LOCKED" 1 "flags"

# Test: removed: no token, sessions gone; re-inserted: old sessions stay
# invalid, a new session is not logged in until C_Login, then signs.
reset
drive open login find sign 1 ctl 'removed' slots slotinfo tokeninfo open \
	mechinfo session sign 1 ctl '' sign 1 open session find login find sign 1
want_transcript "removed" <<'EOF'
open CKR_OK
login CKR_OK
find found
sign C_Sign CKR_OK
ctl
slots CKR_OK 0
slotinfo CKR_OK present=0
tokeninfo CKR_TOKEN_NOT_PRESENT
open CKR_TOKEN_NOT_PRESENT
mechinfo CKR_TOKEN_NOT_PRESENT
session CKR_DEVICE_REMOVED state=-
sign C_SignInit CKR_DEVICE_REMOVED
ctl
sign C_SignInit CKR_SESSION_HANDLE_INVALID
open CKR_OK
session CKR_OK state=CKS_RW_PUBLIC_SESSION
find none
login CKR_OK
find found
sign C_Sign CKR_OK
EOF
want_log "removed" 1 "removed"
want_log "inserted" 1 "removed"
want_log "C_SignInit CKR_DEVICE_REMOVED" 1 "removed"

# Test: close-sessions runs once per id, however often the file changes;
# the login goes with the sessions (login answers CKR_OK, not
# CKR_USER_ALREADY_LOGGED_IN).
reset
drive open login find sign 1 ctl 'action close-sessions 1' sign 1 \
	open login find sign 1 ctl 'action close-sessions 1;# rewritten' sign 1 \
	ctl 'action close-sessions 1;action close-sessions 2' sign 1 \
	open login find sign 1
want_transcript "close-sessions" <<'EOF'
open CKR_OK
login CKR_OK
find found
sign C_Sign CKR_OK
ctl
sign C_SignInit CKR_SESSION_HANDLE_INVALID
open CKR_OK
login CKR_OK
find found
sign C_Sign CKR_OK
ctl
sign C_Sign CKR_OK
ctl
sign C_SignInit CKR_SESSION_HANDLE_INVALID
open CKR_OK
login CKR_OK
find found
sign C_Sign CKR_OK
EOF
want_log "action close-sessions 1" 1 "close-sessions"
want_log "action close-sessions 2" 1 "close-sessions"

# Test: logout runs once per id; the session stays valid but public (and
# SoftHSM drops private object handles on logout).
reset
drive open login find session ctl 'action logout a' session sign 1 login \
	session find sign 1 ctl 'action logout a;# rewritten' session \
	ctl 'action logout a;action logout b' session
want_transcript "logout" <<'EOF'
open CKR_OK
login CKR_OK
find found
session CKR_OK state=CKS_RW_USER_FUNCTIONS
ctl
session CKR_OK state=CKS_RW_PUBLIC_SESSION
sign C_SignInit CKR_OBJECT_HANDLE_INVALID
login CKR_OK
session CKR_OK state=CKS_RW_USER_FUNCTIONS
find found
sign C_Sign CKR_OK
ctl
session CKR_OK state=CKS_RW_USER_FUNCTIONS
ctl
session CKR_OK state=CKS_RW_PUBLIC_SESSION
EOF
want_log "action logout a" 1 "logout"
want_log "action logout b" 1 "logout"

# Test: bad lines are ignored one by one; an unknown directive is reported
# once, even when the file is read again; the good line still applies.
reset
long=$(awk 'BEGIN { s = "latency C_Sign 1000 #"; while (length(s) < 5000) s = s "x"; print s }')
ctl 'bogus 1' 'bogus 2' 'latency C_Sign abc' \
	'latency C_Sign 99999999999999999999999' 'hang C_Sign -5' \
	'fail C_Sign CKR_NOPE always' 'fail C_Nope CKR_DEVICE_ERROR always' \
	'fail C_Sign CKR_OK always' 'fail C_Sign CKR_DEVICE_ERROR sometimes' \
	'flags CKF_USER_PIN_LOCKED CKF_NOPE' 'removed now' 'action explode 1' \
	"$long" 'fail C_Sign CKR_DEVICE_ERROR nth 2'
drive open login find tokeninfo slots sign 3 \
	ctl 'bogus 3;fail C_Sign CKR_DEVICE_ERROR nth 2' sign 1
want_ckrs sign "CKR_OK CKR_DEVICE_ERROR CKR_OK CKR_OK" "parse"
grep -qx "tokeninfo CKR_OK" "$tmp/out" || fail "parse: a bad flags line set flags"
grep -qx "slots CKR_OK 0" "$tmp/out" && fail "parse: 'removed now' removed the token"
for i in 1 2 3 4; do
	want_ms_lt sign $i 500 "parse: a bad latency line applied"
done
n=$(grep -c "unknown directive bogus" "$tmp/err" || true)
[ "$n" -eq 1 ] || fail "parse: 'unknown directive bogus' reported $n times, want 1"
for msg in "line too long" "bad milliseconds" "bad CKR" \
	"unknown PKCS#11 function" "bad flag" "unknown action"; do
	grep -q "$msg" "$tmp/err" || fail "parse: no '$msg' on stderr"
done

echo "PASS: check-faults.sh"
