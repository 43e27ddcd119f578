#!/bin/bash
# workers.sh - what more event loops buy: full TLS handshakes against
# hsmtls-server with "workers 1" and with "workers N" (default 2), the
# module in-process, on the same SoftHSM key at 0 ms token latency,
# alternated (1, N, 1, N ...), medians.  The client runs at nice 19 so the
# server's loops get the cores first (on a 2-core machine the client
# shares them).
#
# Run after "./quickstart.sh test" has built everything in build/:
#     bench/workers.sh
# Environment (defaults in brackets):
#   BUILD [<source>/build]  KEY_TYPE [ec:P-256]  TLS [1.3]  SIGALGS []
#   WORKERS [2]  DURATION seconds per run [5]  ROUNDS [3]
#   CONCURRENCY [16]  CLIENT_THREADS [2]  CLIENT_NICE [19]
#   AFFINITY []  on or off: "worker-cpu-affinity" in the configuration
# Prints per run: handshakes/s and server CPU microseconds per handshake
# (from /proc/PID/stat), then the medians and the ratio N / 1.  Only
# 127.0.0.1 is ever contacted.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_init workers
KEY_TYPE=${KEY_TYPE:-ec:P-256}
TLS=${TLS:-1.3}
SIGALGS=${SIGALGS:-}
WORKERS=${WORKERS:-2}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-16}
CLIENT_THREADS=${CLIENT_THREADS:-2}
CLIENT_NICE=${CLIENT_NICE:-19}

bench_token "$KEY_TYPE"
bench_loops_conf 1
bench_loops_conf "$WORKERS"
# measure W: "wW hs_per_s server_us_per_hs client_us_per_hs"
measure() {
	printf 'w%s %s\n' "$1" "$(bench_hs_run "$tmp/w$1.conf")"
}

say "TLS $TLS ${SIGALGS:+($SIGALGS) }$KEY_TYPE key on SoftHSM, 0 ms, $CONCURRENCY connections over $CLIENT_THREADS client threads at nice $CLIENT_NICE, ${DURATION}s x $ROUNDS rounds, $(nproc) cores"
: >"$tmp/results"
for r in $(seq "$ROUNDS"); do
	for w in 1 "$WORKERS"; do
		line=$(measure "$w")
		echo "round $r: $line (loops hs_per_s server_cpu_us_per_hs client_cpu_us_per_hs)" | tee -a "$tmp/results"
	done
done
median() { bench_median "$tmp/results" "$1" $(($2 + 2)); }
echo "median workers 1: hs_per_s=$(median w1 2) cpu_us_per_hs=$(median w1 3) client_cpu_us_per_hs=$(median w1 4)"
echo "median workers $WORKERS: hs_per_s=$(median "w$WORKERS" 2) cpu_us_per_hs=$(median "w$WORKERS" 3) client_cpu_us_per_hs=$(median "w$WORKERS" 4)"
# What the machine allows at all: its cores over the CPU one handshake
# costs the server and the client together.
awk -v s="$(median w1 3)" -v c="$(median w1 4)" -v n="$(nproc)" 'BEGIN {
	printf "ceiling of this machine (cores / (server + client CPU per handshake), workers 1): %.0f hs/s\n", n * 1e6 / (s + c) }'
awk -v a="$(median "w$WORKERS" 2)" -v b="$(median w1 2)" -v c="$(median "w$WORKERS" 3)" -v d="$(median w1 3)" -v n="$WORKERS" 'BEGIN {
	printf "workers %d / workers 1 handshakes per second: %.2fx\n", n, a / b
	printf "workers %d / workers 1 CPU per handshake: %.2fx\n", n, c / d }'
