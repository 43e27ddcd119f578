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

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(dirname "$here")
BUILD=${BUILD:-$src/build}
SERVER=$BUILD/server/hsmtls-server
TOKEN=$BUILD/tokens/hsmtls-token
HSBENCH=$BUILD/bench/hsbench
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-8}
RELOAD_EVERY=${RELOAD_EVERY:-0.5}

say() { printf 'reload: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
for f in "$SERVER" "$TOKEN" "$HSBENCH"; do
	[ -e "$f" ] || die "$f not found: build first (./quickstart.sh test)"
done

tmp=$(mktemp -d /tmp/hsmtls-reload.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

"$TOKEN" init --dir "$tmp/token" >/dev/null
export SOFTHSM2_CONF=$tmp/token/softhsm2.conf
uri=$("$TOKEN" keygen --token hsmtls-dev --pin-file "$tmp/token/user.pin" \
    --type ec:P-256 --label bench --id 01)
"$TOKEN" selfsign --key "$uri" --pin-file "$tmp/token/user.pin" \
    --san DNS:localhost,IP:127.0.0.1 --out "$tmp/cert.pem" >/dev/null
mkdir -p "$tmp/www"
echo ok >"$tmp/www/index.html"
cat >"$tmp/hsmtls.conf" <<EOF
listen 127.0.0.1:0;
token hsmtls-dev { pin-file $tmp/token/user.pin; }
site bench { root $tmp/www; key "$uri" $tmp/cert.pem; }
EOF
"$SERVER" -c "$tmp/hsmtls.conf" 2>"$tmp/server.log" &
pid=$!
for _ in $(seq 100); do
	grep -q '^listening on ' "$tmp/server.log" && break
	kill -0 "$pid" 2>/dev/null || die "server failed: $(cat "$tmp/server.log")"
	sleep 0.1
done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/server.log")
[ -n "$port" ] || die "server did not start: $(cat "$tmp/server.log")"

val() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# measure MODE: "MODE handshakes errors hs_per_s p99_ms reloads"
measure() {
	local mode=$1 out before after hup=""
	before=$(grep -c 'reloaded: configuration' "$tmp/server.log" || true)
	"$HSBENCH" --connect "127.0.0.1:$port" --cafile "$tmp/cert.pem" \
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
median() {
	awk -v m="$1" -v c="$2" '$3 == m { print $(c + 2) }' "$tmp/results" | sort -g |
		awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
errs=$(awk '{ e += $5 } END { print e + 0 }' "$tmp/results")
echo "median steady:  hs_per_s=$(median steady 4) p99_ms=$(median steady 5)"
echo "median reloads: hs_per_s=$(median reloads 4) p99_ms=$(median reloads 5) reloads_per_run=$(median reloads 6)"
echo "failed handshakes over all runs: $errs"
awk -v a="$(median reloads 4)" -v b="$(median steady 4)" 'BEGIN {
	printf "with reloads / steady handshakes per second: %.2fx\n", a / b }'
