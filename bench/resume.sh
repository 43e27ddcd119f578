#!/bin/bash
# resume.sh - what session resumption saves: resumed handshakes against
# full handshakes on the same server, the same token key and the same
# client, alternated (full, resumed, full, resumed ...), medians quoted.
#
# Run after "./quickstart.sh test" has built everything in build/:
#     bench/resume.sh
# Environment (defaults in brackets):
#   BUILD        build directory [<source>/build]
#   KEY_TYPE     ec:P-256 or rsa:2048 [ec:P-256]
#   TLS          1.3 or 1.2 [1.3]
#   LATENCY_MS   token latency injected per C_Sign by the test module [0]
#   DURATION     seconds per measurement [5]    ROUNDS  A/B rounds [3]
#   CONCURRENCY  connections in flight [4]
# Prints one line per measurement and a summary with ratios, server CPU
# per handshake (from /proc/PID/stat) and token signatures per handshake.
# Only 127.0.0.1 is ever contacted.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_init resume
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
KEY_TYPE=${KEY_TYPE:-ec:P-256}
TLS=${TLS:-1.3}
LATENCY_MS=${LATENCY_MS:-0}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-4}
TCK=$(getconf CLK_TCK)
[ -e "$TESTP11" ] || die "$TESTP11 not found: build first (./quickstart.sh test)"

bench_token "$KEY_TYPE"
(umask 077; openssl rand -hex 80 >"$tmp/tickets")
export HSMTLS_TESTP11_MODULE=$SOFTHSM_MODULE
export HSMTLS_TESTP11_COUNTS=$tmp/counts
if [ "$LATENCY_MS" != 0 ]; then
	printf 'latency C_Sign %s\n' "$LATENCY_MS" >"$tmp/control"
	export HSMTLS_TESTP11_CONTROL=$tmp/control
fi
cat >"$tmp/hsmtls.conf" <<EOF
listen 127.0.0.1:0;
ticket-key-file $tmp/tickets;
token hsmtls-dev { module $TESTP11; pin-file $pin; }
site bench { root $www; key "$uri" $cert; }
EOF
bench_serve "$tmp/hsmtls.conf"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
signs() { awk '$1 == "C_Sign" { n = $2 } END { print n + 0 }' "$tmp/counts"; }

# measure MODE: one run; prints "MODE hs_per_s cpu_us_per_hs signs_per_hs resumed"
measure() {
	local mode=$1 extra="" out c0 c1 s0 s1 hs
	[ "$mode" = resumed ] && extra=--resume
	c0=$(cpu_ticks)
	s0=$(signs)
	# shellcheck disable=SC2086
	out=$("$HSBENCH" --connect "127.0.0.1:$port" --cafile "$cert" \
	    --tls "$TLS" --concurrency "$CONCURRENCY" --duration "$DURATION" \
	    --linger0 $extra)
	c1=$(cpu_ticks)
	s1=$(signs)
	hs=$(printf '%s\n' "$out" | tr ' ' '\n' | sed -n 's/^handshakes=//p')
	[ "${hs:-0}" -gt 0 ] || die "no handshakes: $out"
	printf '%s %s %s %s %s\n' "$mode" \
	    "$(printf '%s\n' "$out" | tr ' ' '\n' | sed -n 's/^hs_per_s=//p')" \
	    "$(awk -v c=$((c1 - c0)) -v t="$TCK" -v h="$hs" 'BEGIN { printf "%.1f", c / t * 1e6 / h }')" \
	    "$(awk -v s=$((s1 - s0)) -v h="$hs" 'BEGIN { printf "%.4f", s / h }')" \
	    "$(printf '%s\n' "$out" | tr ' ' '\n' | sed -n 's/^resumed=//p')/$hs"
}

say "TLS $TLS, $KEY_TYPE key on SoftHSM (token latency ${LATENCY_MS} ms), $CONCURRENCY connections, ${DURATION}s x $ROUNDS rounds each"
: >"$tmp/results"
for r in $(seq "$ROUNDS"); do
	for mode in full resumed; do
		line=$(measure "$mode")
		echo "round $r: $line" | tee -a "$tmp/results"
	done
done

median() { bench_median "$tmp/results" "$1" $(($2 + 2)); }
fr=$(median full 2) rr=$(median resumed 2)
fc=$(median full 3) rc=$(median resumed 3)
fs=$(median full 4) rs=$(median resumed 4)
echo "median full:    hs_per_s=$fr server_cpu_us_per_hs=$fc token_signs_per_hs=$fs"
echo "median resumed: hs_per_s=$rr server_cpu_us_per_hs=$rc token_signs_per_hs=$rs"
awk -v a="$rr" -v b="$fr" -v c="$fc" -v d="$rc" 'BEGIN {
	printf "resumed/full handshakes per second: %.2fx\n", a / b
	printf "full/resumed server CPU per handshake: %.2fx\n", c / d }'
