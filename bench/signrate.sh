#!/bin/bash
# signrate.sh - signatures per second of one SoftHSM key at the same
# number of operations in flight, through: the engine's worker pool in
# this process (as hsmtls-server without keyd), hsmtls-keyd's socket, and
# p11-kit server (the ready-made way to keep a module out of a process:
# p11-kit-client.so loaded by the engine, p11-kit server holding SoftHSM).
# Alternated (inproc, keyd, p11-kit, inproc ...), medians.
#
# Run after "./quickstart.sh test" has built everything in build/:
#     bench/signrate.sh
# Environment (defaults in brackets):
#   BUILD [<source>/build]  KEY_TYPE [ec:P-256]  INFLIGHT ["1 4"]
#   DURATION seconds per run [3]  ROUNDS [3]
#   SOFTHSM_MODULE [/usr/lib/softhsm/libsofthsm2.so]
#   P11KIT_CLIENT [/usr/lib/<arch>/pkcs11/p11-kit-client.so; absent: skipped]
# Prints each run, the medians and the ratios to in-process (target for
# keyd: >= 0.8x).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_init signrate
KEYD=$BUILD/keyd/hsmtls-keyd
SIGNRATE=$BUILD/bench/signrate
KEY_TYPE=${KEY_TYPE:-ec:P-256}
INFLIGHT=${INFLIGHT:-1 4}
DURATION=${DURATION:-3}
ROUNDS=${ROUNDS:-3}
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
P11KIT_CLIENT=${P11KIT_CLIENT:-/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)/pkcs11/p11-kit-client.so}
for f in "$KEYD" "$SIGNRATE"; do
	[ -e "$f" ] || die "$f not found: build first (./quickstart.sh test)"
done

bench_token "$KEY_TYPE"
mkdir -p "$tmp/keyd"
cat >"$tmp/keyd.conf" <<EOF
keyd $tmp/keyd/sock;
$keyd_user
token hsmtls-dev { pin-file $pin; }
site bench { root $www; key "$uri" $cert; }
EOF
"$KEYD" -c "$tmp/keyd.conf" 2>"$tmp/keyd.log" &
kpid=$!
bench_wait "$tmp/keyd.log" "$kpid"
p11pid=""
modes="inproc keyd"
if [ -e "$P11KIT_CLIENT" ] && command -v p11-kit >/dev/null; then
	p11-kit server --provider "$SOFTHSM_MODULE" -n "$tmp/p11kit.sock" -f \
	    "pkcs11:token=hsmtls-dev" >"$tmp/p11kit.out" 2>&1 &
	p11pid=$!
	for _ in $(seq 50); do
		[ -S "$tmp/p11kit.sock" ] && break
		sleep 0.1
	done
	[ -S "$tmp/p11kit.sock" ] || die "p11-kit server did not start: $(cat "$tmp/p11kit.out")"
	modes="inproc keyd p11kit"
else
	say "no $P11KIT_CLIENT or p11-kit: the p11-kit server runs are skipped"
fi
trap 'kill $kpid $p11pid 2>/dev/null; bench_cleanup' EXIT

val() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# run MODE N: one run's signatures per second
run() {
	local out
	case $1 in
	inproc) out=$("$SIGNRATE" --uri "$uri" --cert "$cert" --pin-file "$pin" \
	    --inflight "$2" --duration "$DURATION") ;;
	keyd) out=$("$SIGNRATE" --uri "$uri" --cert "$cert" --keyd "$tmp/keyd/sock" \
	    --inflight "$2" --duration "$DURATION") ;;
	p11kit) out=$(P11_KIT_SERVER_ADDRESS="unix:path=$tmp/p11kit.sock" \
	    "$SIGNRATE" --uri "$uri" --cert "$cert" --pin-file "$pin" \
	    --module "$P11KIT_CLIENT" --inflight "$2" --duration "$DURATION") ;;
	esac || die "$1 run failed: $out"
	val "$out" signs_per_s
}

say "$KEY_TYPE key on SoftHSM, ${DURATION}s x $ROUNDS rounds per mode and in-flight count"
: >"$tmp/results"
for n in $INFLIGHT; do
	for r in $(seq "$ROUNDS"); do
		for mode in $modes; do
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
	line=$(awk -v n="$n" -v a="$a" -v b="$b" 'BEGIN {
		printf "inflight %s: median signs/s in-process=%s keyd=%s", n, a, b }')
	ratios=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "keyd/in-process=%.2fx", b / a }')
	if [ -n "$p11pid" ]; then
		c=$(med "$n" p11kit)
		line="$line p11-kit=$c"
		ratios="$ratios $(awk -v a="$a" -v c="$c" 'BEGIN { printf "p11-kit/in-process=%.2fx", c / a }')"
	fi
	echo "$line; $ratios"
done
