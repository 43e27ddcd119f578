#!/bin/bash
# t75: the admin listener (plain HTTP, never the TLS port) serves
# /healthz -- 200 while every token is up, 503 naming the tokens that are
# down -- and Prometheus /metrics with # HELP and # TYPE for every family.
# Each counter moves when its event happens: handshakes by version and
# result, resumptions, key operations by key and mechanism, the token
# latency histogram, token faults by CKR name, queue depth and busy
# workers, open connections, token down and recovery.
. "$(dirname "$0")/lib.sh"
# The subject: per-token metrics and /healthz of the server's own engines.
key_mode inproc
need_tool openssl curl python3

use_faults
setup_server_key ec:P-256
KX=$("$HSMTLS_TOKEN" keygen --token "$TOKEN_LABEL" --pin-file "$PIN_FILE" \
    --type rsa:2048 --label kx --id 07 --usage sign,decrypt) || fail "keygen kx"
make_cert_for "$KX" "$PIN_FILE" "$tmp/kx.pem" kx.test
C=$tmp/hsmtls.conf
cat >"$C" <<EOF
listen 127.0.0.1:0;
admin-listen 127.0.0.1:0;
pool-threads 1;
token $TOKEN_LABEL { module $HSMTLS_TESTP11; pin-file $PIN_FILE; }
site www { server-name localhost; root $ROOT; key "$KEY_URI" $CERT; }
site kx { server-name kx.test; root $ROOT; key "$KX" $tmp/kx.pem; rsa-key-exchange on; }
EOF
start_server_conf "$C"
M=$tmp/metrics.out
snap() { admin_get /metrics >"$M" || fail "GET /metrics failed"; }

# Test: /healthz is 200 "ok" with the token up; not served on the TLS port.
code=$(curl -s -o "$tmp/h.out" -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/healthz")
[ "$code" = 200 ] && [ "$(cat "$tmp/h.out")" = ok ] || fail "/healthz: $code '$(cat "$tmp/h.out")'"
[ "$(http_code /metrics)" = 404 ] || fail "/metrics on the TLS port: got $(http_code /metrics), want 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/other")" = 404 ] ||
	fail "admin /other: want 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN_PORT/metrics")" = 405 ] ||
	fail "admin POST /metrics: want 405"

# Test: every family has HELP and TYPE lines, and every sample a family.
snap
for fam in $(grep -v '^#' "$M" | sed 's/[{ ].*//; s/_bucket$//; s/_sum$//; s/_count$//' | sort -u); do
	grep -q "^# HELP $fam " "$M" || fail "no # HELP for $fam"
	grep -q "^# TYPE $fam \(counter\|gauge\|histogram\)\$" "$M" || fail "no # TYPE for $fam"
done
expect_metric "$M" hsmtls_token_up 1 "token=\"$TOKEN_LABEL\""
sign0=$(metric "$M" hsmtls_key_operations_total 'mechanism="ecdsa",result="ok"')
lat0=$(metric "$M" hsmtls_token_operation_seconds_count)

# Test: handshakes by version, a resumption, key operations, latency.
handshakes 2 -tls1_3
handshakes 1 -tls1_2
# req ARGS: one request, read to the end (so the ticket arrives).
req() {
	printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
		timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" \
		    -servername localhost -CAfile "$CERT" -ign_eof "$@" 2>&1
}
req -tls1_3 -sess_out "$tmp/sess" >/dev/null
req -tls1_3 -sess_in "$tmp/sess" >"$tmp/r.out"
grep -q '^Reused, TLSv1.3' "$tmp/r.out" || fail "no resumption: $(grep -E '^(New|Reused)' "$tmp/r.out")"
# A client that sends garbage: a failed handshake.
python3 -c "
import socket
s = socket.create_connection(('127.0.0.1', $PORT)); s.sendall(b'\x16\x03\x01\x00\x05hello'); s.recv(100); s.close()" || true
snap
# (the curl of /metrics on the TLS port above was one TLS 1.3 handshake)
expect_metric "$M" hsmtls_handshakes_total 4 'version="TLSv1.3",result="ok"'
expect_metric "$M" hsmtls_handshakes_total 1 'version="TLSv1.2",result="ok"'
expect_metric "$M" hsmtls_handshakes_total 1 'version="TLSv1.3",result="resumed"'
expect_metric "$M" hsmtls_handshakes_total 1 'version="unknown",result="failed"'
expect_metric "$M" hsmtls_resumptions_total 1
expect_metric "$M" hsmtls_connections_accepted_total 7
[ $(($(metric "$M" hsmtls_key_operations_total 'mechanism="ecdsa",result="ok"') - sign0)) -eq 4 ] ||
	fail "ecdsa key operations: want +4: $(grep key_operations "$M")"
[ $(($(metric "$M" hsmtls_token_operation_seconds_count) - lat0)) -eq 4 ] ||
	fail "latency observations: want +4: $(grep operation_seconds_count "$M")"
inf=$(metric "$M" hsmtls_token_operation_seconds_bucket 'le="+Inf"')
[ "$inf" = "$(metric "$M" hsmtls_token_operation_seconds_count)" ] || fail "+Inf bucket $inf != count"
[ "$(metric "$M" hsmtls_tickets_issued_total)" -ge 5 ] || fail "tickets issued: $(metric "$M" hsmtls_tickets_issued_total), want >= 5"

# Test: a token fault is counted by its CKR name and as a failed operation.
set_faults 'fail C_Sign CKR_DEVICE_ERROR nth 1'
handshake_ok -tls1_3 && fail "the handshake with CKR_DEVICE_ERROR succeeded"
set_faults ''
snap
expect_metric "$M" hsmtls_token_faults_total 1 'code="CKR_DEVICE_ERROR"'
expect_metric "$M" hsmtls_key_operations_total 1 'mechanism="ecdsa",result="failed"'
expect_metric "$M" hsmtls_token_sign_failures_total 1

# Test: while the one worker hangs in C_Sign, queue depth and busy workers
# show it, and an open connection is counted.
set_faults 'hang C_Sign 3000 count 1'
s_client -tls1_3 >/dev/null 2>&1 &
H1=$!
sleep 0.5
s_client -tls1_3 >/dev/null 2>&1 &
H2=$!
BG_PIDS="$H1 $H2"
sleep 0.5
snap
expect_metric "$M" hsmtls_pool_workers_busy 1
expect_metric "$M" hsmtls_pool_queue_depth 1
[ "$(metric "$M" hsmtls_connections_open)" -ge 2 ] || fail "open connections: $(metric "$M" hsmtls_connections_open), want >= 2"
wait "$H1" "$H2" || true
BG_PIDS=""
set_faults ''
# The hung call and the one queued behind it finish in the worker.
i=0
while snap; [ "$(metric "$M" hsmtls_pool_workers_busy)" != 0 ] || [ "$(metric "$M" hsmtls_pool_queue_depth)" != 0 ]; do
	i=$((i + 1)); [ "$i" -lt $((WAIT_SECS * 10)) ] || fail "the pool did not drain"
	sleep 0.1
done
sleep 0.2

# Test: signatures and RSA key exchange decryptions are counted as the
# module saw them.
snap
signs=$(metric "$M" hsmtls_token_sign_total)
c0=$(count_of C_Sign)
handshakes 2 -tls1_3
snap
[ $(($(metric "$M" hsmtls_token_sign_total) - signs)) -eq $(($(count_of C_Sign) - c0)) ] ||
	fail "hsmtls_token_sign_total moved $(($(metric "$M" hsmtls_token_sign_total) - signs)), C_Sign $(($(count_of C_Sign) - c0))"
timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername kx.test \
    -CAfile "$tmp/kx.pem" -verify_return_error -tls1_2 -cipher AES128-GCM-SHA256 \
    </dev/null >"$tmp/kx.out" 2>&1 || fail "RSA key exchange handshake: $(tail -3 "$tmp/kx.out")"
snap
expect_metric "$M" hsmtls_token_decrypt_total 1
expect_metric "$M" hsmtls_token_decrypt_failures_total 0
expect_metric "$M" hsmtls_key_operations_total 1 'key="kx",mechanism="rsa-decrypt-raw",result="ok"'

# Test: the token closes every session: re-login, replaced sessions or
# keys found again, all counted; sessions are open again after.
set_faults 'action close-sessions reset-1'
handshake_ok -tls1_3 || handshake_ok -tls1_3 || fail "no recovery after close-sessions"
set_faults ''
snap
expect_metric "$M" hsmtls_token_relogins_total 1
[ $(($(metric "$M" hsmtls_token_session_replacements_total) + $(metric "$M" hsmtls_token_key_refinds_total))) -ge 1 ] ||
	fail "no session replacement or key refind counted: $(grep -E 'replacements|refinds' "$M")"
[ "$(metric "$M" hsmtls_token_sessions_open)" -ge 1 ] || fail "no session open after recovery"
expect_metric "$M" hsmtls_pool_workers 1

# Test: the token removed: /healthz 503 naming it, token_up 0, down counted;
# re-inserted: 200 again and a recovery counted.
set_faults 'removed'
handshake_ok -tls1_3 && fail "a handshake succeeded with the token removed"
i=0
while :; do
	code=$(curl -s -o "$tmp/h.out" -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/healthz")
	[ "$code" = 503 ] && break
	i=$((i + 1)); [ "$i" -lt $((WAIT_SECS * 10)) ] || fail "/healthz with the token removed: $code"
	sleep 0.1
done
grep -qx "token '$TOKEN_LABEL' is down" "$tmp/h.out" || fail "/healthz 503 body: '$(cat "$tmp/h.out")'"
snap
expect_metric "$M" hsmtls_token_up 0
expect_metric "$M" hsmtls_token_down_total 1
set_faults ''
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/healthz")" = 200 ]; do
	i=$((i + 1)); [ "$i" -lt $((WAIT_SECS * 10)) ] || fail "/healthz did not return to 200"
	sleep 0.1
done
snap
expect_metric "$M" hsmtls_token_recoveries_total 1
handshakes 1 -tls1_3
stop_server_ok
