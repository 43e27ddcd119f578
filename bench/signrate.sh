#!/bin/bash
# signrate.sh - signatures per second of one SoftHSM key through the two
# transports, at the same number of operations in flight: in-process (the
# engine's worker pool, as hsmtls-server without keyd) and hsmtls-keyd's
# socket, alternated (inproc, keyd, inproc, keyd ...), medians.
#
# Run after "./quickstart.sh test" has built everything in build/:
#     bench/signrate.sh
# Environment (defaults in brackets):
#   BUILD [<source>/build]  KEY_TYPE [ec:P-256]  INFLIGHT ["1 4"]
#   DURATION seconds per run [3]  ROUNDS [3]
# Prints each run, the medians and the ratio keyd / in-process (target:
# >= 0.8x).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_init signrate
KEYD=$BUILD/keyd/hsmtls-keyd
SIGNRATE=$BUILD/bench/signrate
KEY_TYPE=${KEY_TYPE:-ec:P-256}
INFLIGHT=${INFLIGHT:-1 4}
DURATION=${DURATION:-3}
ROUNDS=${ROUNDS:-3}
for f in "$KEYD" "$SIGNRATE"; do
	[ -e "$f" ] || die "$f not found: build first (./quickstart.sh test)"
done

bench_token "$KEY_TYPE"
mkdir -p "$tmp/keyd"
cat >"$tmp/keyd.conf" <<EOF
keyd $tmp/keyd/sock;
token hsmtls-dev { pin-file $pin; }
site bench { root $www; key "$uri" $cert; }
EOF
"$KEYD" -c "$tmp/keyd.conf" 2>"$tmp/keyd.log" &
kpid=$!
bench_wait "$tmp/keyd.log" "$kpid"
trap 'kill $kpid 2>/dev/null; bench_cleanup' EXIT

val() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# run MODE N: one run's signatures per second
run() {
	local out
	case $1 in
	inproc) out=$("$SIGNRATE" --uri "$uri" --cert "$cert" --pin-file "$pin" \
	    --inflight "$2" --duration "$DURATION") ;;
	keyd) out=$("$SIGNRATE" --uri "$uri" --cert "$cert" --keyd "$tmp/keyd/sock" \
	    --inflight "$2" --duration "$DURATION") ;;
	esac || die "$1 run failed: $out"
	val "$out" signs_per_s
}

say "$KEY_TYPE key on SoftHSM, ${DURATION}s x $ROUNDS rounds per mode and in-flight count"
: >"$tmp/results"
for n in $INFLIGHT; do
	for r in $(seq "$ROUNDS"); do
		for mode in inproc keyd; do
			rate=$(run "$mode" "$n")
			echo "inflight $n $mode round $r: $rate signs/s" | tee -a "$tmp/results"
		done
	done
done
med() {
	awk -v n="$1" -v m="$2" '$2 == n && $3 == m { print $6 }' "$tmp/results" | sort -g |
		awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
for n in $INFLIGHT; do
	a=$(med "$n" inproc)
	b=$(med "$n" keyd)
	awk -v n="$n" -v a="$a" -v b="$b" 'BEGIN {
		printf "inflight %s: median signs/s in-process=%s keyd=%s; keyd/in-process=%.2fx\n", n, a, b, b / a }'
done
