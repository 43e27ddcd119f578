# bench-lib.sh - what the bench scripts share (sourced): a throwaway
# SoftHSM token with one key and certificate, and one hsmtls-server run
# from a configuration, both in a temporary directory removed at exit.
#
# After bench_init: tmp, BUILD, SERVER, TOKEN, HSBENCH, TESTP11, keyd_user
# (a keyd-user line for a daemon on the throwaway token).
# After bench_token TYPE: uri (the key), cert, www, pin.
# After bench_serve CONF: pid, port.
# bench_hs_run CONF: one measured run of full handshakes (needs TLS,
# SIGALGS, CONCURRENCY, CLIENT_THREADS, CLIENT_NICE, DURATION).

bench_init() {   # bench_init NAME
	bench_name=$1
	here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
	src=$(dirname "$here")
	BUILD=${BUILD:-$src/build}
	SERVER=$BUILD/server/hsmtls-server
	TOKEN=$BUILD/tokens/hsmtls-token
	TESTP11=$BUILD/tests/p11/.libs/hsmtls-testp11.so
	HSBENCH=$BUILD/bench/hsbench
	for f in "$SERVER" "$TOKEN" "$HSBENCH"; do
		[ -e "$f" ] || die "$f not found: build first (./quickstart.sh test)"
	done
	tmp=$(mktemp -d "/tmp/hsmtls-$bench_name.XXXXXX")
	# The throwaway token is ours: a daemon started as root stays root
	# (its default keyd-user is for real deployments).
	keyd_user=""
	[ "$(id -u)" -ne 0 ] || keyd_user="keyd-user root;"
	pid=""
	trap bench_cleanup EXIT
}

say() { printf '%s: %s\n' "$bench_name" "$*" >&2; }
die() { say "$*"; exit 1; }

bench_cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}

bench_token() {   # bench_token TYPE
	"$TOKEN" init --dir "$tmp/token" >/dev/null
	export SOFTHSM2_CONF=$tmp/token/softhsm2.conf
	pin=$tmp/token/user.pin
	uri=$("$TOKEN" keygen --token hsmtls-dev --pin-file "$pin" \
	    --type "$1" --label bench --id 01)
	cert=$tmp/cert.pem
	"$TOKEN" selfsign --key "$uri" --pin-file "$pin" \
	    --san DNS:localhost,IP:127.0.0.1 --out "$cert" >/dev/null
	www=$tmp/www
	mkdir -p "$www"
	echo ok >"$www/index.html"
}

# bench_wait LOG PID: until LOG has its "listening on" line (10 s at most).
bench_wait() {
	for _ in $(seq 100); do
		grep -q '^listening on ' "$1" && return 0
		kill -0 "$2" 2>/dev/null || die "$(basename "$1" .log) failed: $(cat "$1")"
		sleep 0.1
	done
	die "$(basename "$1" .log) did not start: $(cat "$1")"
}

bench_serve() {   # bench_serve CONF
	"$SERVER" -c "$1" 2>"$tmp/server.log" &
	pid=$!
	bench_wait "$tmp/server.log" "$pid"
	port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/server.log")
	[ -n "$port" ] || die "server did not start: $(cat "$tmp/server.log")"
}

# bench_loops_conf N: $tmp/wN.conf, the token's key served in-process by
# "workers N" event loops (AFFINITY=on: pinned, "worker-cpu-affinity on").
bench_loops_conf() {
	cat >"$tmp/w$1.conf" <<EOF
listen 127.0.0.1:0;
workers $1;
${AFFINITY:+worker-cpu-affinity $AFFINITY;}
token hsmtls-dev { pin-file $pin; }
site bench { root $www; key "$uri" $cert; }
EOF
}

# bench_ticks PID: the process's CPU time so far (utime + stime, ticks).
bench_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# bench_val LINE KEY: the value of KEY=... in a key=value line.
bench_val() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# bench_median FILE MODE FIELD: the median of field FIELD (awk numbering)
# over FILE's lines whose third field is MODE.
bench_median() {
	awk -v m="$2" -v c="$3" '$3 == m { print $c }' "$1" | sort -g |
		awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench_client ARGS...: hsbench at CLIENT_NICE against the served port.
bench_client() {
	# shellcheck disable=SC2086 # the sigalgs option is one word or none
	nice -n "$CLIENT_NICE" "$HSBENCH" --connect "127.0.0.1:$port" \
	    --cafile "$cert" --tls "$TLS" ${SIGALGS:+--sigalgs $SIGALGS} \
	    --concurrency "$CONCURRENCY" --threads "$CLIENT_THREADS" \
	    --linger0 "$@"
}

# bench_hs_run CONF: serve CONF, warm up 1 s, measure DURATION s, stop;
# prints "hs_per_s server_cpu_us_per_hs client_cpu_us_per_hs" (server CPU
# from /proc/PID/stat).  SERVER may be set for the one call.
bench_hs_run() {
	local out s0 s1 hs tck
	tck=$(getconf CLK_TCK)
	bench_serve "$1"
	bench_client --duration 1 >/dev/null
	s0=$(bench_ticks "$pid")
	out=$(bench_client --duration "$DURATION")
	s1=$(bench_ticks "$pid")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	hs=$(bench_val "$out" handshakes)
	[ "${hs:-0}" -gt 0 ] || die "no handshakes: $out"
	[ "$(bench_val "$out" errors)" = 0 ] || die "errors: $out"
	printf '%s %s %s\n' "$(bench_val "$out" hs_per_s)" \
	    "$(awk -v c=$((s1 - s0)) -v t="$tck" -v h="$hs" 'BEGIN { printf "%.1f", c / t * 1e6 / h }')" \
	    "$(awk -v c="$(bench_val "$out" client_cpu_s)" -v h="$hs" 'BEGIN { printf "%.1f", c * 1e6 / h }')"
}
