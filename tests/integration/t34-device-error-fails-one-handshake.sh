#!/bin/bash
# t34: CKR_DEVICE_ERROR on every 10th C_Sign fails only that handshake:
# of 20 handshakes exactly 2 fail, 18 succeed, and the token is never
# marked down (it still answers C_GetTokenInfo).
. "$(dirname "$0")/lib.sh"
need_tool openssl curl

use_faults
setup_server_key ec:P-256
start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT" --admin-listen 127.0.0.1:0
# Count from here: the self-test's C_Sign came before the directive.
set_faults 'fail C_Sign CKR_DEVICE_ERROR every 10'
ok=0 bad=0
for i in $(seq 20); do
	if handshake_ok -tls1_3; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
done
[ "$ok" -eq 18 ] && [ "$bad" -eq 2 ] ||
	fail "with every 10th C_Sign failing: $ok ok, $bad failed; want 18 and 2"
set_faults ''
admin_get /metrics >"$tmp/metrics.out" || fail "GET /metrics failed"
expect_metric "$tmp/metrics.out" hsmtls_token_down_total 0
expect_metric "$tmp/metrics.out" hsmtls_token_up 1
expect_metric "$tmp/metrics.out" hsmtls_token_sign_failures_total 2
stop_server_ok
