#!/bin/bash
# t73: session resumption cuts token load.  A TLS 1.3 PSK ticket and a
# TLS 1.2 session ticket each resume with zero token calls (C_Sign counted
# at the PKCS#11 boundary).  A ticket issued by one instance resumes on a
# second instance that shares the ticket-key-file, not on one with other
# keys -- until that one's file is replaced and it is sent SIGHUP.  With
# in-memory keys rotated every few seconds, a ticket issued before a
# rotation still resumes after it (the previous key is accepted).  A
# ticket for one site does not resume on another.
. "$(dirname "$0")/lib.sh"
need_tool openssl

use_testp11
setup_server_key ec:P-256
COUNTS_A=$COUNTS
umask 077
openssl rand -hex 80 >"$tmp/tickets"
openssl rand -hex 80 >"$tmp/tickets-other"
C=$tmp/a.conf

write_conf() {   # write_conf FILE TICKET_DIRECTIVE
	cat >"$1" <<EOF
listen 127.0.0.1:0;
admin-listen 127.0.0.1:0;
$2
token $TOKEN_LABEL { module $HSMTLS_TESTP11; pin-file $PIN_FILE; }
site www {
    server-name localhost;
    root $ROOT;
    key "$KEY_URI" $CERT;
}
site other {
    server-name other.test;
    root $ROOT;
    key "$KEY_URI" $CERT;
}
EOF
}

# connect PORT SESSION_IN SESSION_OUT [ARGS]: one request over s_client,
# reading until the server closes, so the ticket is received; prints
# "New" or "Reused".
connect() {
	port=$1 in=$2 out=$3
	shift 3
	set -- "$@" ${in:+-sess_in "$in"} ${out:+-sess_out "$out"}
	printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
		timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$port" \
		    -CAfile "$CERT" -verify_return_error -ign_eof "$@" \
		    >"$tmp/conn.out" 2>&1 || { echo "failed"; return 0; }
	grep -q '^HTTP/1.1 200' "$tmp/conn.out" || { echo "no-200"; return 0; }
	sed -n 's/^\(New\|Reused\), TLSv1\.[23], Cipher is .*/\1/p' "$tmp/conn.out" | head -n1
}

write_conf "$C" "ticket-key-file $tmp/tickets;"
start_server_conf "$C"
PORT_A=$PORT PID_A=$SERVER_PID

for v in 1_3 1_2; do
	s0=$(count_of C_Sign)
	r=$(connect "$PORT_A" "" "$tmp/sess$v" -tls$v -servername localhost)
	[ "$r" = New ] || fail "TLS ${v/_/.} first connection: got '$r', want New: $(tail -5 "$tmp/conn.out")"
	s1=$(count_of C_Sign)
	[ $((s1 - s0)) -eq 1 ] || fail "TLS ${v/_/.} full handshake: C_Sign +$((s1 - s0)), want +1"
	# Test: resumed handshakes make zero token calls.
	for i in 1 2 3; do
		r=$(connect "$PORT_A" "$tmp/sess$v" "" -tls$v -servername localhost)
		[ "$r" = Reused ] || fail "TLS ${v/_/.} resumption $i: got '$r', want Reused"
	done
	s2=$(count_of C_Sign)
	[ "$s2" -eq "$s1" ] || fail "TLS ${v/_/.}: 3 resumed handshakes made $((s2 - s1)) C_Sign calls, want 0"
done
[ "$(count_of C_Decrypt)" -eq 0 ] || fail "C_Decrypt: got $(count_of C_Decrypt), want 0"

# Test: a ticket for site www does not resume on site other.
r=$(connect "$PORT_A" "$tmp/sess1_3" "" -tls1_3 -servername other.test)
[ "$r" = New ] || fail "ticket of www presented to other.test: got '$r', want New"

admin_get /metrics >"$tmp/metrics.out"
expect_metric "$tmp/metrics.out" hsmtls_handshakes_total 3 'version="TLSv1.3",result="resumed"'
expect_metric "$tmp/metrics.out" hsmtls_handshakes_total 3 'version="TLSv1.2",result="resumed"'
expect_metric "$tmp/metrics.out" hsmtls_resumptions_total 6

# Test: a second instance sharing the key file resumes A's tickets, with
# no token call of its own; one with other keys does not, until its file
# is replaced and it reloads.
C2=$tmp/b.conf
write_conf "$C2" "ticket-key-file $tmp/tickets-b;"
cp "$tmp/tickets-other" "$tmp/tickets-b"
HSMTLS_TESTP11_COUNTS=$tmp/counts-b
export HSMTLS_TESTP11_COUNTS
SERVER_PID=""
start_server_conf "$C2"
PORT_B=$PORT PID_B=$SERVER_PID
BG_PIDS="$PID_A"
COUNTS=$tmp/counts-b
b0=$(count_of C_Sign)
r=$(connect "$PORT_B" "$tmp/sess1_3" "" -tls1_3 -servername localhost)
[ "$r" = New ] || fail "instance B with other ticket keys: got '$r', want New"
cp "$tmp/tickets" "$tmp/tickets-b"
kill -HUP "$PID_B"
wait_log 'reloaded: configuration' 1 "$SERVER_LOG" "$PID_B"
b1=$(count_of C_Sign)
for v in 1_3 1_2; do
	r=$(connect "$PORT_B" "$tmp/sess$v" "" -tls$v -servername localhost)
	[ "$r" = Reused ] || fail "A's TLS ${v/_/.} ticket on instance B after reload: got '$r', want Reused"
done
b2=$(count_of C_Sign)
[ "$b2" -eq "$b1" ] || fail "instance B resumed A's tickets with $((b2 - b1)) C_Sign calls, want 0"
stop_server_ok
SERVER_PID=$PID_A
stop_server_ok

# Test: in-memory keys rotated every 4 s; a ticket from just before a
# rotation resumes just after it.
COUNTS=$COUNTS_A
HSMTLS_TESTP11_COUNTS=$COUNTS_A
write_conf "$C" "ticket-rotate 4s;"
start_server_conf "$C"
start=$(date +%s%N)
sleep 2.5
r=$(connect "$PORT" "" "$tmp/sess-rot" -tls1_3 -servername localhost)
[ "$r" = New ] || fail "rotation test, first connection: got '$r'"
issued=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$issued" -lt 4000 ] || skip "machine too slow: the ticket came ${issued} ms after start, past the rotation"
sleep $(( (4500 - issued) / 1000 )).$(( (4500 - issued) % 1000 / 100 ))
r=$(connect "$PORT" "$tmp/sess-rot" "" -tls1_3 -servername localhost)
[ "$r" = Reused ] || fail "ticket issued before the rotation, presented after: got '$r', want Reused"
admin_get /metrics >"$tmp/metrics.out"
[ "$(metric "$tmp/metrics.out" hsmtls_ticket_key_rotations_total)" -ge 1 ] ||
	fail "no ticket key rotation counted: $(grep rotation "$tmp/metrics.out")"
stop_server_ok
