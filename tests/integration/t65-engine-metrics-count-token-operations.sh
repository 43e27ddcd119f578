#!/bin/bash
# t65: the engine's metrics count what the token did.  Through the
# counting/fault module, a probe program (tests/unit/metrics_probe.c) signs
# and decrypts on a fresh engine, synchronously and on the worker pool,
# then prints hk_engine_latency, hk_engine_faults and hk_engine_key_ops:
# every C_Sign/C_Decrypt is one latency observation (a mended fault's retry
# is another), a 30 ms token lands above the 25 ms bucket, each injected CKR
# is counted once under its name (session opens too), and operations are
# counted per key and mechanism (rsa-pkcs, rsa-pss, rsa-pss-raw on a token
# without CKM_RSA_PKCS_PSS, ecdsa, rsa-decrypt-raw), failures apart.
. "$(dirname "$0")/lib.sh"
need_file HSMTLS_METRICS_PROBE

use_faults
make_token
EC=$(make_key ec:P-256 ec 01)
RSA=$("$HSMTLS_TOKEN" keygen --token "$TOKEN_LABEL" --pin-file "$PIN_FILE" \
    --type rsa:2048 --label rsa --id 02 --usage sign,decrypt 2>"$tmp/keygen.err") ||
	fail "keygen rsa sign,decrypt: $(cat "$tmp/keygen.err")"

# probe NAME KEY OP...: one run of the probe on its own engine; its report
# is $tmp/NAME.out.  The control file starts empty for each run.
probe() {
	name=$1 key=$2
	shift 2
	set_faults ''
	OUT=$tmp/$name.out
	"$HSMTLS_METRICS_PROBE" "$key" "$PIN_FILE" "$HSMTLS_TESTP11" "$@" \
	    >"$OUT" 2>"$tmp/$name.err" ||
		fail "$name: metrics_probe failed: $(cat "$tmp/$name.err")"
}

# want KEY... VALUE: the report line "KEY... VALUE" must be there exactly.
want() {
	grep -qxF -- "$*" "$OUT" || fail "$(basename "$OUT" .out): no line '$*' in:
$(cat "$OUT")"
}

# none PATTERN: no report line matches.
none() {
	! grep -qE -- "$1" "$OUT" || fail "$(basename "$OUT" .out): unexpected '$(grep -E -- "$1" "$OUT")'"
}

# Test: sync and pool signatures are each one observation and one ecdsa op.
probe plain "$EC" 'sign*5' 'async-sign*5'
want token_label "$TOKEN_LABEL"
want latency_count 10
want latency_bucket +Inf 10
want keyop ec ecdsa 10 0
[ "$(count_of C_Sign)" -eq 10 ] ||
	fail "plain: the module saw $(count_of C_Sign) C_Sign, the engine 10"
none '^fault '
none ' failed$'

# Test: a 30 ms token: nothing at or below 25 ms, the sum at least 3 x 30 ms.
probe slow "$EC" 'ctl=latency C_Sign 30' 'sign*2' async-sign
want latency_count 3
want latency_bucket 0.025 0
want latency_bucket +Inf 3
sum=$(awk '$1 == "latency_sum" { print $2 }' "$OUT")
awk -v s="$sum" 'BEGIN { exit !(s >= 0.09) }' ||
	fail "slow: latency_sum $sum, want >= 0.09"

# Test: CKR_DEVICE_ERROR on one synchronous C_Sign and CKR_FUNCTION_FAILED
# on one pooled C_Sign: each counted once by name, each op failed, each
# call observed; no retry for either.
probe faults "$EC" 'sign*2' 'ctl=fail C_Sign CKR_DEVICE_ERROR nth 1' \
    'sign*2' 'ctl=fail C_Sign CKR_FUNCTION_FAILED nth 2' 'async-sign*3'
want op 3 sign failed
want op 4 sign ok
want op 6 async-sign failed
want fault CKR_DEVICE_ERROR 1
want fault CKR_FUNCTION_FAILED 1
want latency_count 7
want keyop ec ecdsa 5 2

# Test: a session the token closed is replaced and the op retried: one op
# ok, two observations, the fault counted; a refused C_OpenSession fails
# its op before any C_Sign (no observation).
probe session "$EC" 'ctl=fail C_Sign CKR_SESSION_HANDLE_INVALID nth 1' sign
want op 1 sign ok
want fault CKR_SESSION_HANDLE_INVALID 1
want latency_count 2
want keyop ec ecdsa 1 0
probe opensession "$EC" 'ctl=fail C_OpenSession CKR_SESSION_COUNT nth 1' sign sign
want op 1 sign failed
want op 2 sign ok
want fault CKR_SESSION_COUNT 1
want latency_count 1
want keyop ec ecdsa 1 1

# Test: RSA mechanisms apart; a decryption the token refuses is a failed
# rsa-decrypt-raw and a CKR_DEVICE_ERROR.
probe rsa "$RSA" 'sign*2' 'sign-pss*3' async-sign-pss 'decrypt*2' \
    'ctl=fail C_Decrypt CKR_DEVICE_ERROR nth 1' decrypt
want keyop rsa rsa-pkcs 2 0
want keyop rsa rsa-pss 4 0
want keyop rsa rsa-decrypt-raw 2 1
want fault CKR_DEVICE_ERROR 1
want latency_count 9
none 'rsa-pss-raw|ecdsa'

# Test: without CKM_RSA_PKCS_PSS on the token, PSS is rsa-pss-raw.
cp "$SOFTHSM2_CONF" "$tmp/nopss.conf"
# SoftHSM 2.6.1 skips the first name of a "-" list: CKM_MD5 is sacrificial.
echo 'slots.mechanisms = -CKM_MD5,CKM_RSA_PKCS_PSS' >>"$tmp/nopss.conf"
SOFTHSM2_CONF=$tmp/nopss.conf probe nopss "$RSA" 'sign-pss*2' async-sign-pss
want keyop rsa rsa-pss-raw 3 0
want latency_count 3
none 'keyop rsa rsa-pss '
