#!/bin/bash
# reload.sh - what reloads cost under load: 8 concurrent clients of full
# handshakes against one server, with a SIGHUP every RELOAD_EVERY seconds
# (each re-reads the configuration, logs in nothing new, self-tests the
# key on the token and swaps contexts) and without, alternated, medians.
#
# Run after "./quickstart.sh test" has built everything in build/:
#     bench/reload.sh
# Environment (defaults in brackets):
#   BUILD [<source>/build]  DURATION seconds per run [5]  ROUNDS [3]
#   CONCURRENCY [8]  RELOAD_EVERY seconds between SIGHUPs [0.5]
# Prints per run: handshakes, errors (must be 0), hs/s, p99 ms, reloads.
# Only 127.0.0.1 is ever contacted.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_init reload
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-8}
RELOAD_EVERY=${RELOAD_EVERY:-0.5}

bench_token ec:P-256
cat >"$tmp/hsmtls.conf" <<EOF
listen 127.0.0.1:0;
token hsmtls-dev { pin-file $pin; }
site bench { root $www; key "$uri" $cert; }
EOF
bench_serve "$tmp/hsmtls.conf"

val() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# measure MODE: "MODE handshakes errors hs_per_s p99_ms reloads"
measure() {
	local mode=$1 out before after hup=""
	before=$(grep -c 'reloaded: configuration' "$tmp/server.log" || true)
	"$HSBENCH" --connect "127.0.0.1:$port" --cafile "$cert" \
	    --concurrency "$CONCURRENCY" --duration "$DURATION" --linger0 \
	    >"$tmp/run.out" &
	local hb=$!
	if [ "$mode" = reloads ]; then
		while kill -0 "$hb" 2>/dev/null; do
			sleep "$RELOAD_EVERY"
			kill -0 "$hb" 2>/dev/null && kill -HUP "$pid"
		done
	fi
	wait "$hb"
	sleep 0.5
	after=$(grep -c 'reloaded: configuration' "$tmp/server.log" || true)
	out=$(cat "$tmp/run.out")
	printf '%s %s %s %s %s %s\n' "$mode" "$(val "$out" handshakes)" \
	    "$(val "$out" errors)" "$(val "$out" hs_per_s)" "$(val "$out" p99_ms)" \
	    $((after - before))
}

say "$CONCURRENCY clients, full TLS handshakes, ${DURATION}s runs, SIGHUP every ${RELOAD_EVERY}s in the reload runs"
: >"$tmp/results"
for r in $(seq "$ROUNDS"); do
	for mode in steady reloads; do
		line=$(measure "$mode")
		echo "round $r: $line (mode handshakes errors hs_per_s p99_ms reloads)" |
			tee -a "$tmp/results"
	done
done
grep -q 'reload failed' "$tmp/server.log" && die "a reload failed: $(grep 'reload failed' "$tmp/server.log")"
median() { bench_median "$tmp/results" "$1" $(($2 + 2)); }
errs=$(awk '{ e += $5 } END { print e + 0 }' "$tmp/results")
echo "median steady:  hs_per_s=$(median steady 4) p99_ms=$(median steady 5)"
echo "median reloads: hs_per_s=$(median reloads 4) p99_ms=$(median reloads 5) reloads_per_run=$(median reloads 6)"
echo "failed handshakes over all runs: $errs"
awk -v a="$(median reloads 4)" -v b="$(median steady 4)" 'BEGIN {
	printf "with reloads / steady handshakes per second: %.2fx\n", a / b }'
