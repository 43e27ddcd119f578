#!/bin/bash
# t95: hsmtls-server in key daemon mode (`keyd PATH;` in the same
# hsmtls.conf, or --keyd PATH): it loads no PKCS#11 module (its
# /proc/PID/maps lists neither SoftHSM nor the test module) and sends
# every key operation to hsmtls-keyd.  TLS 1.3 ECDSA, TLS 1.2 RSA
# signatures and TLS 1.2 RSA key exchange work, each full handshake one
# token call counted inside the daemon, a resumed one none.  When the
# daemon dies, handshakes fail at once and /healthz says so; when it is
# back, the server reconnects by itself and handshakes work again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/keyd-lib.sh"
need_tool openssl curl

use_testp11
make_token
make_root
EC=$(make_key ec:P-256 ec 01)
KX=$("$HSMTLS_TOKEN" keygen --token "$TOKEN_LABEL" --pin-file "$PIN_FILE" \
    --type rsa:2048 --label kx --id 03 --usage sign,decrypt 2>"$tmp/keygen.err") ||
	fail "keygen --usage sign,decrypt: $(cat "$tmp/keygen.err")"
CERT=$tmp/ec.pem
make_cert "$EC" "$CERT"
make_cert_for "$KX" "$PIN_FILE" "$tmp/kx.pem" kx.test
C=$tmp/hsmtls.conf
keyd_conf "$C" "listen 127.0.0.1:0;
admin-listen 127.0.0.1:0;
site www {
    server-name localhost;
    root $ROOT;
    key \"$EC\" $CERT;
}
site kx {
    server-name kx.test;
    root $ROOT;
    key \"$KX\" $tmp/kx.pem;
    rsa-key-exchange on;
}"
start_keyd -c "$C"
# The server runs without the module's environment: it must not need it.
(unset HSMTLS_TESTP11_MODULE HSMTLS_TESTP11_COUNTS; exec "$HSMTLS_SERVER" -c "$C") \
    </dev/null >"$tmp/server-stdout.out" 2>"$tmp/server.log" &
SERVER_PID=$!
SERVER_LOG=$tmp/server.log
wait_listening

# Test: no PKCS#11 module in the server's memory map.
! grep -Eq 'softhsm|testp11' "/proc/$SERVER_PID/maps" ||
	fail "the server mapped a PKCS#11 module: $(grep -E 'softhsm|testp11' "/proc/$SERVER_PID/maps" | head -3)"
grep -Eq 'softhsm|testp11' "/proc/$KEYD_PID/maps" || fail "the daemon has no module mapped"
grep -q 'custody: key=.*held by hsmtls-keyd' "$SERVER_LOG" || fail "no custody line for a daemon key: $(cat "$SERVER_LOG")"

# Test: handshakes through the daemon, one token call each.
s0=$(count_of C_Sign)
handshakes 3 -tls1_3
handshakes 2 -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
[ $(($(count_of C_Sign) - s0)) -eq 5 ] || fail "C_Sign for 5 handshakes: $(($(count_of C_Sign) - s0))"
d0=$(count_of C_Decrypt)
timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername kx.test \
    -CAfile "$tmp/kx.pem" -verify_return_error -tls1_2 -cipher AES128-GCM-SHA256 \
    </dev/null >"$tmp/kx.out" 2>&1 || fail "RSA key exchange through the daemon: $(tail -3 "$tmp/kx.out")"
timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername kx.test \
    -CAfile "$tmp/kx.pem" -verify_return_error -tls1_3 -sigalgs rsa_pss_rsae_sha256 \
    </dev/null >"$tmp/pss.out" 2>&1 || fail "RSA-PSS through the daemon: $(tail -3 "$tmp/pss.out")"
[ $(($(count_of C_Decrypt) - d0)) -eq 1 ] || fail "C_Decrypt for one RSA key exchange: $(($(count_of C_Decrypt) - d0))"
printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
	timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
	    -CAfile "$CERT" -ign_eof -sess_out "$tmp/sess" >/dev/null 2>&1
s0=$(count_of C_Sign)
printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
	timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
	    -CAfile "$CERT" -ign_eof -sess_in "$tmp/sess" >"$tmp/r.out" 2>&1
grep -q '^Reused, TLSv1.3' "$tmp/r.out" || fail "no resumption in keyd mode"
[ "$(count_of C_Sign)" -eq "$s0" ] || fail "a resumed handshake signed"
[ "$(fetch /file.txt)" = "plain text file" ] || fail "GET through keyd mode failed"

# Test: the daemon dies: handshakes fail fast, /healthz is 503.
kill -KILL "$KEYD_PID"
wait "$KEYD_PID" 2>/dev/null || true
KEYD_PID=""
sleep 0.3
t0=$(date +%s%N)
handshake_ok -tls1_3 && fail "a handshake succeeded with the daemon gone"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "handshake with the daemon gone failed after ${ms} ms"
within_ms "$ms" 1000 || fail "failing took ${ms} ms, want fast (< 1000)"
code=$(curl -s -o "$tmp/h.out" -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/healthz")
[ "$code" = 503 ] && grep -qx "token 'keyd' is down" "$tmp/h.out" ||
	fail "/healthz with the daemon gone: $code '$(cat "$tmp/h.out")'"

# Test: the daemon is back: the server reconnects by itself.
rm -f "$KEYD_SOCK"
start_keyd -c "$C"
i=0
until handshake_ok -tls1_3; do
	i=$((i + 1)); [ "$i" -lt $((WAIT_SECS * 10)) ] || fail "no handshake after the daemon came back"
	sleep 0.1
done
echo "first handshake after the daemon came back: after $((i * 100)) ms of retries"
handshakes 3 -tls1_3
admin_get /metrics >"$tmp/metrics.out"
expect_metric "$tmp/metrics.out" hsmtls_token_up 1
expect_metric "$tmp/metrics.out" hsmtls_token_recoveries_total 1
grep -q "key daemon '$KEYD_SOCK' is back" "$SERVER_LOG" || fail "no log line for the reconnection: $(cat "$SERVER_LOG")"
stop_server_ok
stop_keyd
