#!/bin/bash
# replicas.sh - what a second token buys: full TLS handshakes through
# hsmtls-keyd against one key on one token, and against the same key
# cloned on two tokens (one key line, two URIs), each token of a fixed
# capacity: the test module's "latency C_Sign 5 serial" lets each token
# sign one at a time, 5 ms each (at most 200 signatures a second), as a
# real HSM's finite throughput.  Same client concurrency, alternated
# (one, two, one, two ...), medians, then the ratio two / one (the aim is
# >= 1.8: operations go to the replica with the fewest in flight).
#
# Run after "./quickstart.sh test" has built everything in build/ (needs
# openssl and softhsm2-util):
#     bench/replicas.sh
# Environment (defaults in brackets):
#   BUILD [<source>/build]  TLS [1.3]  SIGN_MS [5]
#   DURATION seconds per run [5]  ROUNDS [3]  CONCURRENCY [16]
# Only 127.0.0.1 is ever contacted.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_init replicas
KEYD=$BUILD/keyd/hsmtls-keyd
TLS=${TLS:-1.3}
SIGN_MS=${SIGN_MS:-5}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-16}
for f in "$KEYD" "$TESTP11"; do
	[ -e "$f" ] || die "$f not found: build first (./quickstart.sh test)"
done
command -v softhsm2-util >/dev/null || die "softhsm2-util not found"

# Two tokens in one SoftHSM directory, one key made here imported into
# both (the PINs on these command lines are the throwaway tokens' own).
"$TOKEN" init --dir "$tmp/token" >/dev/null
export SOFTHSM2_CONF=$tmp/token/softhsm2.conf
SOFTHSM2_CONF=$tmp/b.conf "$TOKEN" init --dir "$tmp/b" --label bench-b >/dev/null
mv "$tmp/b"/tokens/* "$tmp/token/tokens/"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/k.pem" 2>/dev/null
cert=$tmp/cert.pem
openssl req -x509 -new -key "$tmp/k.pem" -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 1 -out "$cert" 2>/dev/null
for t in "hsmtls-dev $tmp/token/user.pin" "bench-b $tmp/b/user.pin"; do
	set -- $t
	softhsm2-util --import "$tmp/k.pem" --token "$1" --label bench --id 01 \
	    --pin "$(cat "$2")" >/dev/null
done
rm -f "$tmp/k.pem"
www=$tmp/www
mkdir -p "$www" "$tmp/keyd"
echo ok >"$www/index.html"

export HSMTLS_TESTP11_CONTROL=$tmp/control
echo "latency C_Sign $SIGN_MS serial" >"$HSMTLS_TESTP11_CONTROL"
uri_a="pkcs11:token=hsmtls-dev;object=bench;type=private"
uri_b="pkcs11:token=bench-b;object=bench;type=private"
for mode in one two; do
	keys="\"$uri_a\""
	[ "$mode" = one ] || keys="$keys \"$uri_b\""
	cat >"$tmp/$mode.conf" <<EOC
listen 127.0.0.1:0;
keyd $tmp/keyd/sock;
$keyd_user
allow-imported-key on;
token hsmtls-dev { module $TESTP11; pin-file $tmp/token/user.pin; }
token bench-b { module $TESTP11; pin-file $tmp/b/user.pin; }
site bench { root $www; key $keys $cert; }
EOC
done
kpid=""
trap '[ -z "$kpid" ] || kill $kpid 2>/dev/null; bench_cleanup' EXIT

val() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# measure MODE: "MODE hs_per_s", the daemon and server started afresh.
measure() {
	local mode=$1 out hs
	"$KEYD" -c "$tmp/$mode.conf" 2>"$tmp/keyd.log" &
	kpid=$!
	bench_wait "$tmp/keyd.log" "$kpid"
	bench_serve "$tmp/$mode.conf"
	"$HSBENCH" --connect "127.0.0.1:$port" --cafile "$cert" --tls "$TLS" \
	    --concurrency "$CONCURRENCY" --duration 1 --linger0 >/dev/null
	out=$("$HSBENCH" --connect "127.0.0.1:$port" --cafile "$cert" --tls "$TLS" \
	    --concurrency "$CONCURRENCY" --duration "$DURATION" --linger0)
	kill "$pid" "$kpid"
	wait "$pid" "$kpid" 2>/dev/null || true
	pid=""
	kpid=""
	hs=$(val "$out" handshakes)
	[ "${hs:-0}" -gt 0 ] || die "no handshakes: $out"
	printf '%s %s\n' "$mode" "$(val "$out" hs_per_s)"
}

say "TLS $TLS, P-256 key, tokens of one ${SIGN_MS} ms signature at a time, $CONCURRENCY connections, ${DURATION}s x $ROUNDS rounds each"
: >"$tmp/results"
for r in $(seq "$ROUNDS"); do
	for mode in one two; do
		line=$(measure "$mode")
		echo "round $r: $line (tokens hs_per_s)" | tee -a "$tmp/results"
	done
done
one=$(bench_median "$tmp/results" one 4)
two=$(bench_median "$tmp/results" two 4)
echo "median one token:  hs_per_s=$one"
echo "median two tokens: hs_per_s=$two"
awk -v a="$two" -v b="$one" 'BEGIN { printf "two tokens / one token handshakes per second: %.2fx (aim >= 1.80)\n", a / b }'
