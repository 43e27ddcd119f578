#!/bin/bash
# keyd.sh - what key custody costs: full TLS handshakes against
# hsmtls-server with the module in-process, and against the same server
# in key daemon mode (keyd PATH; hsmtls-keyd holds the module), on the same
# SoftHSM key, alternated (in-process, keyd, in-process, keyd ...), medians.
#
# Run after "./quickstart.sh test" has built everything in build/:
#     bench/keyd.sh
# Environment (defaults in brackets):
#   BUILD [<source>/build]  KEY_TYPE [ec:P-256]  TLS [1.3]
#   DURATION seconds per run [5]  ROUNDS [3]  CONCURRENCY [8]
# Prints per run: handshakes/s and CPU microseconds per handshake of the
# server, and of the server plus the daemon (from /proc/PID/stat), then the
# ratios keyd / in-process.  Only 127.0.0.1 is ever contacted.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_init keyd
KEYD=$BUILD/keyd/hsmtls-keyd
KEY_TYPE=${KEY_TYPE:-ec:P-256}
TLS=${TLS:-1.3}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-8}
TCK=$(getconf CLK_TCK)
[ -e "$KEYD" ] || die "$KEYD not found: build first (./quickstart.sh test)"

bench_token "$KEY_TYPE"
mkdir -p "$tmp/keyd"
site="site bench { root $www; key \"$uri\" $cert; }"
cat >"$tmp/inproc.conf" <<EOF
listen 127.0.0.1:0;
token hsmtls-dev { pin-file $pin; }
$site
EOF
cat >"$tmp/keyd.conf" <<EOF
listen 127.0.0.1:0;
keyd $tmp/keyd/sock;
$keyd_user
token hsmtls-dev { pin-file $pin; }
$site
EOF
"$KEYD" -c "$tmp/keyd.conf" 2>"$tmp/keyd.log" &
kpid=$!
bench_wait "$tmp/keyd.log" "$kpid"
trap 'kill $kpid 2>/dev/null; bench_cleanup' EXIT


# measure MODE: "MODE hs_per_s server_us_per_hs total_us_per_hs"
measure() {
	local mode=$1 out s0 s1 k0 k1 hs
	bench_serve "$tmp/$mode.conf"
	"$HSBENCH" --connect "127.0.0.1:$port" --cafile "$cert" --tls "$TLS" \
	    --concurrency "$CONCURRENCY" --duration 1 --linger0 >/dev/null
	s0=$(bench_ticks "$pid")
	k0=$(bench_ticks "$kpid")
	out=$("$HSBENCH" --connect "127.0.0.1:$port" --cafile "$cert" --tls "$TLS" \
	    --concurrency "$CONCURRENCY" --duration "$DURATION" --linger0)
	s1=$(bench_ticks "$pid")
	k1=$(bench_ticks "$kpid")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	hs=$(bench_val "$out" handshakes)
	[ "${hs:-0}" -gt 0 ] || die "no handshakes: $out"
	if [ "$mode" = inproc ]; then
		k1=$k0
	fi
	printf '%s %s %s %s\n' "$mode" "$(bench_val "$out" hs_per_s)" \
	    "$(awk -v c=$((s1 - s0)) -v t="$TCK" -v h="$hs" 'BEGIN { printf "%.1f", c / t * 1e6 / h }')" \
	    "$(awk -v c=$((s1 - s0 + k1 - k0)) -v t="$TCK" -v h="$hs" 'BEGIN { printf "%.1f", c / t * 1e6 / h }')"
}

say "TLS $TLS, $KEY_TYPE key on SoftHSM, $CONCURRENCY connections, ${DURATION}s x $ROUNDS rounds each"
: >"$tmp/results"
for r in $(seq "$ROUNDS"); do
	for mode in inproc keyd; do
		line=$(measure "$mode")
		echo "round $r: $line (mode hs_per_s server_cpu_us_per_hs server+keyd_cpu_us_per_hs)" |
			tee -a "$tmp/results"
	done
done
median() { bench_median "$tmp/results" "$1" $(($2 + 2)); }
echo "median in-process: hs_per_s=$(median inproc 2) cpu_us_per_hs=$(median inproc 4)"
echo "median keyd:       hs_per_s=$(median keyd 2) server_cpu_us_per_hs=$(median keyd 3) server+keyd_cpu_us_per_hs=$(median keyd 4)"
awk -v a="$(median keyd 2)" -v b="$(median inproc 2)" -v c="$(median keyd 4)" -v d="$(median inproc 4)" 'BEGIN {
	printf "keyd / in-process handshakes per second: %.2fx\n", a / b
	printf "keyd / in-process CPU per handshake (server+keyd vs server): %.2fx\n", c / d }'
