#!/bin/bash
# t56: malformed requests (garbage bytes, a bad request line, invalid
# header lines, a NUL in a header, HTTP/0.9) get 400 and the connection is
# closed; an HTTP/2.0 request line gets 505; the server keeps serving
# other clients, and a normal curl request succeeds afterwards.
. "$(dirname "$0")/lib.sh"
need_tool curl openssl cmp

setup_server_key ec:P-256
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# A keep-alive connection held open the whole time (another client).
mkfifo "$tmp/keep.in"
openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
    -CAfile "$CERT" -quiet <"$tmp/keep.in" >"$tmp/keep.out" 2>"$tmp/keep.err" &
BG_PIDS="$BG_PIDS $!"
exec 7>"$tmp/keep.in"
printf 'GET /file.txt HTTP/1.1\r\nHost: localhost\r\n\r\n' >&7

# raw NAME WANT PRINTF-FORMAT: write the bytes through s_client; the
# response must be WANT and the server must close the connection (-quiet
# keeps s_client reading until it does, bounded by timeout).
raw() {
	name=$1 want=$2
	st=0
	# shellcheck disable=SC2059 # the format is the request
	printf "$3" | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" \
	    -servername localhost -CAfile "$CERT" -verify_return_error -quiet \
	    >"$tmp/$name.out" 2>"$tmp/$name.err" || st=$?
	[ "$st" -ne 124 ] || fail "$name: the server did not close the connection within 10 s"
	line=$(head -n1 "$tmp/$name.out" | tr -d '\r')
	case $line in
	"HTTP/1.1 $want "*) ;;
	*) fail "$name: status line '$line', want 'HTTP/1.1 $want ...'" ;;
	esac
	grep -qi '^connection: close' "$tmp/$name.out" || fail "$name: no 'Connection: close'"
	grep -q '^Server: hsmtls' "$tmp/$name.out" || fail "$name: no 'Server: hsmtls'"
	grep -q '^Date: ' "$tmp/$name.out" || fail "$name: no Date"
	n=$(grep -c '^HTTP/1' "$tmp/$name.out")
	[ "$n" -eq 1 ] || fail "$name: $n responses, want 1"
}

# Test: each kind of malformed request.
raw garbage 400 '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n'
raw binary 400 '\x00\x01\x02\x03\x04\x05\r\n\r\n'
raw bad-method 400 'G@T / HTTP/1.1\r\nHost: localhost\r\n\r\n'
raw bad-version 400 'GET / FOO/1.1\r\nHost: localhost\r\n\r\n'
raw extra-token 400 'GET / HTTP/1.1 extra\r\nHost: localhost\r\n\r\n'
raw no-target 400 'GET HTTP/1.1\r\nHost: localhost\r\n\r\n'
raw ctl-in-target 400 'GET /a\001b HTTP/1.1\r\nHost: localhost\r\n\r\n'
raw http09 400 'GET /\r\n\r\n'
raw space-in-name 400 'GET / HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n'
raw space-before-colon 400 'GET / HTTP/1.1\r\nHost: localhost\r\nX-A : x\r\n\r\n'
raw no-colon 400 'GET / HTTP/1.1\r\nHost: localhost\r\nNoColonHere\r\n\r\n'
raw nul-in-value 400 'GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\000b\r\n\r\n'
raw nul-in-name 400 'GET / HTTP/1.1\r\nHost: localhost\r\nX\000A: b\r\n\r\n'
raw bad-content-length 400 'GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1x\r\n\r\n'
raw two-content-length 400 'GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'
raw bad-escape 400 'GET /%%zz HTTP/1.1\r\nHost: localhost\r\n\r\n'
raw no-host 400 'GET / HTTP/1.1\r\n\r\n'
raw two-hosts 400 'GET / HTTP/1.1\r\nHost: localhost\r\nHost: other\r\n\r\n'
raw http2-line 505 'GET / HTTP/2.0\r\nHost: localhost\r\n\r\n'
# A good request pipelined after a bad one is not answered.
raw bad-then-good 400 'GET / FOO\r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\n\r\n'

# Test: the held connection is still served after all that.
printf 'GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&7
exec 7>&-
i=0
while [ "$(grep -c '^HTTP/1.1 200' "$tmp/keep.out")" -lt 2 ]; do
	i=$((i + 1))
	[ "$i" -lt $((WAIT_SECS * 10)) ] || fail "the other connection got $(grep -c '^HTTP/1.1 200' "$tmp/keep.out") responses, want 2"
	sleep 0.1
done

# Test: a normal curl request.
code=$(curl_srv -o "$tmp/get.out" -w '%{http_code}' "$(url /)")
[ "$code" = 200 ] || fail "curl GET / after the malformed requests: got $code, want 200"
cmp -s "$tmp/get.out" "$ROOT/index.html" || fail "curl GET /: body is not index.html"
stop_server_ok
