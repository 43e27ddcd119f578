#!/bin/bash
# t80: exact token work in the steady state, counted at the PKCS#11
# boundary (the counting test module).  For an EC P-256 and an RSA-2048
# key, over TLS 1.3 and TLS 1.2 (ECDHE-ECDSA, ECDHE-RSA), and for TLS 1.2
# RSA key exchange with a sign,decrypt key: after a warm-up handshake, N
# full handshakes make exactly N private-key calls (C_Sign, or C_Decrypt
# for RSA key exchange) and none of the other kind; N resumed handshakes
# make none; and neither batch makes any C_Login, C_FindObjectsInit,
# C_FindObjects, C_FindObjectsFinal, C_OpenSession or C_GetAttributeValue.
. "$(dirname "$0")/lib.sh"
need_tool openssl

N=6
use_testp11
make_token
make_root
EC_URI=$(make_key ec:P-256 ec 01)
RSA_URI=$(make_key rsa:2048 rsa 02)
KX_URI=$("$HSMTLS_TOKEN" keygen --token "$TOKEN_LABEL" --pin-file "$PIN_FILE" \
    --type rsa:2048 --label kx --id 03 --usage sign,decrypt 2>"$tmp/keygen.err") ||
	fail "keygen --usage sign,decrypt: $(cat "$tmp/keygen.err")"
for k in EC RSA KX; do
	eval "uri=\$${k}_URI"
	make_cert_for "$uri" "$PIN_FILE" "$tmp/$k.pem" localhost DNS:localhost,IP:127.0.0.1
done

# Calls whose count must not move in the steady state.
QUIET="C_Login C_FindObjectsInit C_FindObjects C_FindObjectsFinal C_OpenSession C_GetAttributeValue"

snapshot() { cp "$COUNTS" "$tmp/before"; }
# delta FN: calls of FN since the snapshot.
delta() {
	echo $(($(count_of "$1") - $(COUNTS=$tmp/before count_of "$1")))
}
# expect_calls WHAT FN=COUNT...: the batch made exactly these calls, and
# none of $QUIET.
expect_calls() {
	what=$1
	shift
	for want in "$@" $(for f in $QUIET; do echo "$f=0"; done); do
		fn=${want%=*}
		d=$(delta "$fn")
		[ "$d" -eq "${want#*=}" ] ||
			fail "$what: $fn +$d, want +${want#*=}; counts now: $(tr '\n' ' ' <"$COUNTS")"
	done
	echo "ok: $what: $* (and 0 of each of $QUIET)"
}

# connect SESSION_IN SESSION_OUT ARGS...: one request over s_client,
# read until the server closes (so a TLS 1.3 ticket arrives); prints
# "New" or "Reused".
connect() {
	in=$1 out=$2
	shift 2
	set -- "$@" ${in:+-sess_in "$in"} ${out:+-sess_out "$out"}
	printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
		timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" \
		    -servername localhost -CAfile "$CERT" -verify_return_error \
		    -ign_eof "$@" >"$tmp/conn.out" 2>&1 || { echo failed; return 0; }
	grep -q '^HTTP/1.1 200' "$tmp/conn.out" || { echo no-200; return 0; }
	sed -n 's/^\(New\|Reused\), TLSv1\.[23], Cipher is .*/\1/p' "$tmp/conn.out" | head -n1
}

# run_case NAME OP OTHER ARGS...: warm-up, N full handshakes (OP N times,
# OTHER never), then N resumptions of one session (no token call).
run_case() {
	name=$1 op=$2 other=$3
	shift 3
	handshakes 1 "$@"
	snapshot
	handshakes "$N" "$@"
	expect_calls "$name: $N full handshakes" "$op=$N" "$other=0"
	r=$(connect "" "$tmp/sess" "$@")
	[ "$r" = New ] || fail "$name: session for resumption: got '$r': $(tail -5 "$tmp/conn.out")"
	snapshot
	i=0
	while [ "$i" -lt "$N" ]; do
		r=$(connect "$tmp/sess" "" "$@")
		[ "$r" = Reused ] || fail "$name: resumption $((i + 1)): got '$r', want Reused"
		i=$((i + 1))
	done
	expect_calls "$name: $N resumed handshakes" C_Sign=0 C_Decrypt=0 C_SignInit=0 C_DecryptInit=0
}

for k in EC RSA KX; do
	eval "uri=\$${k}_URI"
	CERT=$tmp/$k.pem
	extra=
	[ $k = KX ] && extra=--rsa-key-exchange
	start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$uri" \
	    --pin-file "$PIN_FILE" --root "$ROOT" $extra
	[ "$(count_of C_Sign)" -ge 1 ] || fail "$k: no C_Sign at start-up: the counting module is not in the path"
	case $k in
	EC)
		run_case "EC TLS 1.3" C_Sign C_Decrypt -tls1_3
		run_case "EC TLS 1.2 ECDHE-ECDSA" C_Sign C_Decrypt -tls1_2 \
		    -cipher ECDHE-ECDSA-AES128-GCM-SHA256
		;;
	RSA)
		run_case "RSA TLS 1.3" C_Sign C_Decrypt -tls1_3
		run_case "RSA TLS 1.2 ECDHE-RSA" C_Sign C_Decrypt -tls1_2 \
		    -cipher ECDHE-RSA-AES128-GCM-SHA256
		;;
	KX)
		run_case "RSA TLS 1.2 RSA key exchange" C_Decrypt C_Sign -tls1_2 \
		    -cipher AES128-GCM-SHA256
		run_case "RSA (sign,decrypt) TLS 1.3" C_Sign C_Decrypt -tls1_3
		;;
	esac
	stop_server_ok
done
