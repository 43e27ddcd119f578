#!/bin/bash
# t113: the in-process worker pool sizes itself to the token.  The default
# pool starts with 32 workers and climbs while operations queue and each
# step raises the completions per second: a token that takes 100 ms a
# call makes it grow, so that more handshakes are in flight than 32
# workers allow (at most 320 a second); a fast token (SoftHSM, CPU-bound)
# stops within a few steps (at most 64 workers here) instead of running
# to the ceiling of 256.  A configured pool-threads stays as configured.
. "$(dirname "$0")/lib.sh"
# The subject: the in-process pool (the daemon has its own, t100).
key_mode inproc
need_file HSMTLS_BENCH

use_faults
setup_server_key ec:P-256
conf() {
	cat >"$tmp/hsmtls.conf" <<EOF
listen 127.0.0.1:0;
admin-listen 127.0.0.1:0;
$1
token $TOKEN_LABEL { module $HSMTLS_TESTP11; pin-file $PIN_FILE; }
site www { server-name localhost; root $ROOT; key "$KEY_URI" $CERT; }
EOF
}
load() {
	"$HSMTLS_BENCH" --connect "127.0.0.1:$PORT" --cafile "$CERT" --tls 1.3 \
	    --concurrency 96 --duration "$1" --timeout-ms 10000 --linger0 >"$tmp/load.out" 2>&1 ||
		fail "load: $(cat "$tmp/load.out")"
	echo "load: $(cat "$tmp/load.out")"
}
workers() { admin_get /metrics | awk '$1 ~ /^hsmtls_pool_workers[{ ]/ && $1 !~ /busy/ { print $2 }'; }

conf ""
start_server_conf "$tmp/hsmtls.conf"
[ "$(workers)" = 32 ] || fail "default pool: $(workers) workers at start, want 32"

# Test: a fast token: no growth.
load 3
w=$(workers)
echo "fast token: $w workers after the load"
[ "$w" -le 64 ] || fail "fast token: the pool grew to $w workers"

stop_server_ok

# Test: a token of 100 ms a call (a new server): growth, and more in
# flight than 32.  A slow build is slower there too (100 x TIME_SCALE ms):
# a sanitizer build's loop, under 320 handshakes/s, would otherwise never
# queue behind 32 workers of 100 ms, and the pool rightly not grow.
lat=$(awk -v s="$TIME_SCALE" 'BEGIN { printf "%d", 100 * s }')
start_server_conf "$tmp/hsmtls.conf"
set_faults "latency C_Sign $lat"
load 4
w=$(workers)
hs=$(field hs_per_s "$tmp/load.out")
echo "slow token ($lat ms): $w workers, $hs handshakes/s (32 workers: at most $((32000 / lat))/s)"
[ "$w" -gt 32 ] || fail "slow token: still $w workers"
[ "$w" -le 256 ] || fail "slow token: $w workers, beyond the ceiling of 256"
[ "$(field errors "$tmp/load.out")" = 0 ] || fail "slow token: handshakes failed: $(cat "$tmp/load.out")"
# More in flight than 32 workers allow, unless the build is too slow to
# reach 320/s at all (a sanitizer build: it shows the growth only).
if [ "$TIME_SCALE" = 1 ]; then
	awk -v h="$hs" 'BEGIN { exit !(h > 320) }' || fail "slow token: $hs handshakes/s, no more than 32 workers give"
fi
stop_server_ok

# Test: pool-threads is kept.
set_faults ''
conf "pool-threads 4;"
start_server_conf "$tmp/hsmtls.conf"
set_faults 'latency C_Sign 100'
load 2
[ "$(workers)" = 4 ] || fail "pool-threads 4: $(workers) workers"
stop_server_ok
echo "PASS: $TEST_NAME"
