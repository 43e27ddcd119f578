#!/bin/bash
# ab.sh - two builds of hsmtls-server against each other: the same token
# key, configuration and client, alternated (A B A B ...), medians.  For
# telling whether a change to the server cut its CPU per handshake, on a
# machine too noisy to compare runs made minutes apart.
#
#     bench/ab.sh OLD-SERVER [NEW-SERVER]
# NEW-SERVER defaults to BUILD's.  Environment (defaults in brackets):
#   BUILD [<source>/build]  KEY_TYPE [ec:P-256]  TLS [1.3]  SIGALGS []
#   WORKERS [2]  DURATION seconds per run [5]  ROUNDS [4]
#   CONCURRENCY [16]  CLIENT_THREADS [2]  CLIENT_NICE [19]
#   AFFINITY []  on or off: "worker-cpu-affinity" in the configuration
# Prints per run handshakes/s and server CPU microseconds per handshake
# (from /proc/PID/stat), then the medians and B / A.  Only 127.0.0.1 is
# ever contacted.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_init ab
A=${1:?usage: ab.sh OLD-SERVER [NEW-SERVER]}
B=${2:-$SERVER}
KEY_TYPE=${KEY_TYPE:-ec:P-256}
TLS=${TLS:-1.3}
SIGALGS=${SIGALGS:-}
WORKERS=${WORKERS:-2}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-4}
CONCURRENCY=${CONCURRENCY:-16}
CLIENT_THREADS=${CLIENT_THREADS:-2}
CLIENT_NICE=${CLIENT_NICE:-19}
for f in "$A" "$B"; do [ -x "$f" ] || die "$f: not an executable"; done

bench_token "$KEY_TYPE"
bench_loops_conf "$WORKERS"
# measure NAME BINARY: "NAME hs_per_s server_us_per_hs client_us_per_hs"
measure() {
	printf '%s %s\n' "$1" "$(SERVER=$2 bench_hs_run "$tmp/w$WORKERS.conf")"
}

say "A $A, B $B: TLS $TLS ${SIGALGS:+($SIGALGS) }$KEY_TYPE, workers $WORKERS, $CONCURRENCY connections, client at nice $CLIENT_NICE, ${DURATION}s x $ROUNDS rounds"
: >"$tmp/results"
for r in $(seq "$ROUNDS"); do
	for side in A B; do
		bin=$A
		[ "$side" = B ] && bin=$B
		line=$(measure "$side" "$bin")
		echo "round $r: $line (side hs_per_s server_cpu_us_per_hs client_cpu_us_per_hs)" | tee -a "$tmp/results"
	done
done
median() { bench_median "$tmp/results" "$1" $(($2 + 2)); }
echo "median A: hs_per_s=$(median A 2) cpu_us_per_hs=$(median A 3)"
echo "median B: hs_per_s=$(median B 2) cpu_us_per_hs=$(median B 3)"
awk -v a="$(median A 3)" -v b="$(median B 3)" -v x="$(median A 2)" -v y="$(median B 2)" 'BEGIN {
	printf "B / A: CPU per handshake %.3fx, handshakes/s %.3fx\n", b / a, y / x }'
