#!/bin/bash
# burst.sh - an established connection's keep-alive latency while new
# handshakes arrive in bursts: kaprobe sends a request every INTERVAL_MS
# on one kept-alive TLS connection, first with the server otherwise idle,
# then while hsbench opens BURST connections at once every PERIOD_MS
# (full TLS handshakes).  For "workers 1" and "workers N" (default 2),
# the module in-process, 0 ms token latency, alternated idle/burst and
# 1/N, medians of the probe's p99.  Target: burst p99 <= 2 x idle p99
# + 1 ms.
#
# Run after "./quickstart.sh test" has built everything in build/:
#     bench/burst.sh
# Environment (defaults in brackets):
#   BUILD [<source>/build]  KEY_TYPE [ec:P-256]  TLS [1.3]  WORKERS [2]
#   BURST [32]  PERIOD_MS [50]  INTERVAL_MS [5]  DURATION [6]  ROUNDS [3]
#   CLIENT_NICE [0]  nice value of the load client (hsbench)
#   AFFINITY [off]   on: the loops pinned, "worker-cpu-affinity on"
#   PROBE_NICE [0]   nice value of the probe (kaprobe)
#   PROBE_FIFO [0]   1: run the probe under SCHED_FIFO (chrt -f 10, as
#                    root), so that its own wait for a core, which a
#                    client on another machine would not have, is not
#                    counted in its latency; PROBE_NICE is then unused
# On a machine whose cores the load client shares, the probe waits behind
# it for CPU (perf sched: up to 5.6 ms at nice 0), and that wait is the
# client's, not the server's: PROBE_NICE=-10 CLIENT_NICE=19 or
# PROBE_FIFO=1 take it out.
# Only 127.0.0.1 is ever contacted.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_init burst
KAPROBE=$BUILD/bench/kaprobe
KEY_TYPE=${KEY_TYPE:-ec:P-256}
TLS=${TLS:-1.3}
WORKERS=${WORKERS:-2}
BURST=${BURST:-32}
PERIOD_MS=${PERIOD_MS:-50}
INTERVAL_MS=${INTERVAL_MS:-5}
DURATION=${DURATION:-6}
ROUNDS=${ROUNDS:-3}
CLIENT_NICE=${CLIENT_NICE:-0}
PROBE_NICE=${PROBE_NICE:-0}
PROBE_FIFO=${PROBE_FIFO:-0}
probe_sched=(nice -n "$PROBE_NICE")
if [ "$PROBE_FIFO" = 1 ]; then
	command -v chrt >/dev/null || die "PROBE_FIFO=1 needs chrt (util-linux)"
	probe_sched=(chrt -f 10)
fi
[ -e "$KAPROBE" ] || die "$KAPROBE not found: build first (./quickstart.sh test)"

bench_token "$KEY_TYPE"
bench_loops_conf 1
bench_loops_conf "$WORKERS"
rate=$(awk -v b="$BURST" -v p="$PERIOD_MS" 'BEGIN { printf "%.1f", b * 1000 / p }')

# probe W MODE: "wW MODE p50 p99 max load_hs_per_s load_errors"
probe() {
	local w=$1 mode=$2 out load="" lpid=""
	bench_serve "$tmp/w$w.conf"
	if [ "$mode" = burst ]; then
		# Room for two bursts in flight, whatever CONCURRENCY says.
		CONCURRENCY=$((BURST * 2)) CLIENT_THREADS=1 bench_client \
		    --rate "$rate" --burst "$BURST" --duration $((DURATION + 1)) \
		    >"$tmp/load.out" 2>"$tmp/load.err" &
		lpid=$!
		sleep 0.5
	fi
	out=$("${probe_sched[@]}" "$KAPROBE" --connect "127.0.0.1:$port" --cafile "$cert" \
	    --tls "$TLS" --interval-ms "$INTERVAL_MS" --duration "$DURATION")
	if [ -n "$lpid" ]; then
		wait "$lpid" || true
		load=$(cat "$tmp/load.out")
	fi
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	[ "$(bench_val "$out" errors)" = 0 ] || die "probe errors: $out"
	printf 'w%s %s %s %s %s %s %s\n' "$w" "$mode" "$(bench_val "$out" p50_ms)" \
	    "$(bench_val "$out" p99_ms)" "$(bench_val "$out" max_ms)" \
	    "$(bench_val "$load" hs_per_s)" "$(bench_val "$load" errors)"
}

say "TLS $TLS $KEY_TYPE on SoftHSM, 0 ms; worker-cpu-affinity ${AFFINITY:-off}; probe as ${probe_sched[*]}; probe every ${INTERVAL_MS} ms for ${DURATION}s; bursts of $BURST every ${PERIOD_MS} ms ($rate hs/s); $ROUNDS rounds; $(nproc) cores"
: >"$tmp/results"
for r in $(seq "$ROUNDS"); do
	for w in 1 "$WORKERS"; do
		for mode in idle burst; do
			line=$(probe "$w" "$mode")
			echo "round $r: $line (loops mode p50_ms p99_ms max_ms load_hs_per_s load_errors)" |
				tee -a "$tmp/results"
		done
	done
done
# med W MODE FIELD: median of FIELD (1-based after "round N:") for W MODE
med() {
	awk -v w="w$1" -v m="$2" -v c=$(($3 + 2)) '$3 == w && $4 == m { print $c }' "$tmp/results" |
		sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
for w in 1 "$WORKERS"; do
	i=$(med "$w" idle 4) b=$(med "$w" burst 4)
	awk -v w="$w" -v i="$i" -v b="$b" -v hs="$(med "$w" burst 6)" 'BEGIN {
		t = 2 * i + 1
		printf "workers %d: idle p99 %.3f ms, burst p99 %.3f ms (load %.0f hs/s); target <= %.3f ms: %s (%.2fx of the bound)\n",
		    w, i, b, hs, t, (b <= t ? "met" : "missed"), b / t }'
done
