#!/bin/bash
# compare.sh - hsmtls-server against nginx + the libp11 engine, on the same
# SoftHSM token key, through the same forwarding test PKCS#11 module (so
# both pay the same forwarding cost and the same injected token latency).
#
# Run after "./quickstart.sh test" has built everything in build/:
#     bench/compare.sh
# Environment (defaults in brackets):
#   BUILD        build directory [<source>/build]
#   HSMTLS_SERVER HSMTLS_TOKEN HSMTLS_TESTP11 HSBENCH KAPROBE  override
#                single programs [from BUILD]
#   SOFTHSM_MODULE  the real module [/usr/lib/softhsm/libsofthsm2.so]
#   CASES        [tls13-ecdsa tls13-rsa-pss tls12-ecdhe-rsa tls12-rsa-kx]
#   LATENCIES    injected ms per C_Sign/C_Decrypt [0 5 50]
#   DURATION     seconds per measurement [10]    WARMUP  seconds [1]
#   ROUNDS       A/B rounds per measurement [2]
#   CONC_<ms>    concurrency for a latency, e.g. CONC_0=4 [2*cores, 64, 256]
#   CLIENT_THREADS  hsbench threads [1]          TIMEOUT_MS [10000]
#   KX_GROUP     key-exchange group [X25519]
#   KEEPALIVE    1: run the keep-alive test on a 5 ms token [1]
#   KA_DURATION  seconds for it [DURATION]
#   NGINX_WORKERS  [1]   HSMTLS_WORKERS  hsmtls event loops [NGINX_WORKERS]
#   HSMTLS_ARGS  extra hsmtls-server options []
#   CLIENT_NICE  nice value of the load client [0]; 19 leaves the cores
#                to the servers first
#   POOL_THREADS hsmtls token worker threads, if the server has such an
#                option (found in --help) [server default]
#   RESULTS      raw results file [<kept temp dir>/results.txt]
#   PROFILE      a directory: each measured run is also sampled with
#                "perf record -e cpu-clock" (linux-perf), one file a run,
#                and bench/profile-report.sh then says where each server's
#                CPU per handshake goes, by library and function.  The
#                sampling costs both sides alike but inflates the CPU
#                figures: compare ratios from runs without it [unset]
#   PROFILE_HZ   samples per second and thread [4999]
# Only 127.0.0.1 is ever contacted.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(dirname "$here")
BUILD=${BUILD:-$src/build}
SERVER=${HSMTLS_SERVER:-$BUILD/server/hsmtls-server}
TOKEN=${HSMTLS_TOKEN:-$BUILD/tokens/hsmtls-token}
TESTP11=${HSMTLS_TESTP11:-$BUILD/tests/p11/.libs/hsmtls-testp11.so}
HSBENCH=${HSBENCH:-$BUILD/bench/hsbench}
KAPROBE=${KAPROBE:-$BUILD/bench/kaprobe}
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
CASES=${CASES:-tls13-ecdsa tls13-rsa-pss tls12-ecdhe-rsa tls12-rsa-kx}
LATENCIES=${LATENCIES:-0 5 50}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-2}
CLIENT_THREADS=${CLIENT_THREADS:-1}
TIMEOUT_MS=${TIMEOUT_MS:-10000}
# (not GROUPS: bash reserves that name.)
KX_GROUP=${KX_GROUP:-X25519}
KEEPALIVE=${KEEPALIVE:-1}
KA_DURATION=${KA_DURATION:-$DURATION}
NGINX_WORKERS=${NGINX_WORKERS:-1}
HSMTLS_WORKERS=${HSMTLS_WORKERS:-$NGINX_WORKERS}
HSMTLS_ARGS=${HSMTLS_ARGS:-}
CLIENT_NICE=${CLIENT_NICE:-0}
POOL_THREADS=${POOL_THREADS:-}
PROFILE=${PROFILE:-}
PROFILE_HZ=${PROFILE_HZ:-4999}
CORES=$(nproc)
TCK=$(getconf CLK_TCK)

say() { printf 'compare: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

tmp=$(mktemp -d /tmp/hsmtls-compare.XXXXXX)
if [ -z "${RESULTS:-}" ]; then
	# Kept after the run (unlike $tmp, which holds the token).
	RESULTS=$(mktemp -d /tmp/hsmtls-compare-results.XXXXXX)/results.txt
fi
SERVER_PIDS=()

cleanup() {
	local pid
	for pid in "${SERVER_PIDS[@]}"; do
		stop_pid "$pid"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL.
stop_pid() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "pid $pid ignored SIGTERM for 10 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

forget_pid() {
	local p keep=()
	for p in "${SERVER_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	SERVER_PIDS=("${keep[@]+"${keep[@]}"}")
}

# ---------------------------------------------------------------- setup

check_programs() {
	local f
	for f in "$SERVER" "$TOKEN" "$HSBENCH" "$KAPROBE"; do
		[ -x "$f" ] || die "$f missing: run ./quickstart.sh test (or set BUILD=)"
	done
	[ -f "$TESTP11" ] || die "$TESTP11 missing: build tests/p11 (or set HSMTLS_TESTP11=)"
	[ -f "$SOFTHSM_MODULE" ] || die "$SOFTHSM_MODULE missing: install softhsm2"
}

# pkg_install NAME...: the first candidate apt knows, if none is installed.
pkg_install() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' &&
			return 0
	done
	[ "$(id -u)" -eq 0 ] || die "install one of: $* (as root: apt-get install $1)"
	for p in "$@"; do
		if apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
			say "installing $p"
			DEBIAN_FRONTEND=noninteractive apt-get install -y \
			    --no-install-recommends "$p" </dev/null >&2
			return 0
		fi
	done
	die "apt knows none of: $*"
}

find_engine() {
	ENGINE_SO=$(dpkg -L libengine-pkcs11-openssl 2>/dev/null |
	    grep -m1 '/engines-3/pkcs11\.so$' || true)
	if [ -z "$ENGINE_SO" ] || [ ! -f "$ENGINE_SO" ]; then
		die "no engines-3/pkcs11.so in libengine-pkcs11-openssl"
	fi
	NGINX=$(command -v nginx || echo /usr/sbin/nginx)
	[ -x "$NGINX" ] || die "nginx not found after installing it"
}

# Probe what this hsmtls-server and hsmtls-token support.
detect_features() {
	local help
	help=$("$SERVER" --help 2>&1 || true)
	HS_RSA_KX=$(grep -o -m1 -e '--rsa-key-exchange' <<<"$help" || true)
	HS_POOL_OPT=$(grep -o -m1 -E -e '--pool-[a-z-]*' <<<"$help" || true)
	HS_WORKERS_OPT=$(grep -o -m1 -e '--workers' <<<"$help" || true)
	KEYGEN_USAGE=$("$TOKEN" keygen --help 2>&1 | grep -o -m1 -e '--usage' || true)
	say "hsmtls-server: RSA key exchange option: ${HS_RSA_KX:-none}; pool option: ${HS_POOL_OPT:-none}; event loops: ${HS_WORKERS_OPT:+$HSMTLS_WORKERS}${HS_WORKERS_OPT:-1 (no --workers)}"
	say "hsmtls-token keygen --usage: ${KEYGEN_USAGE:-not available}"
}

provision() {
	local tok=$tmp/tok usage=()
	"$TOKEN" init --dir "$tok" >/dev/null
	export SOFTHSM2_CONF=$tok/softhsm2.conf
	PIN=$tok/user.pin
	EC_URI=$("$TOKEN" keygen --token hsmtls-dev --pin-file "$PIN" \
	    --type ec:P-256 --label ec --id 01)
	[ -n "$KEYGEN_USAGE" ] && usage=(--usage "sign,decrypt")
	RSA_URI=$("$TOKEN" keygen --token hsmtls-dev --pin-file "$PIN" \
	    --type rsa:2048 --label rsa --id 02 "${usage[@]+"${usage[@]}"}")
	"$TOKEN" selfsign --key "$EC_URI" --pin-file "$PIN" \
	    --san IP:127.0.0.1 --out "$tmp/ec.pem" >/dev/null
	"$TOKEN" selfsign --key "$RSA_URI" --pin-file "$PIN" \
	    --san IP:127.0.0.1 --out "$tmp/rsa.pem" >/dev/null
	# libp11 0.4.12 keeps a PIN file's trailing newline as part of the
	# PIN (0.4.17 strips it): nginx gets a copy without it.  The PIN
	# only moves through a pipe, never through an argument.
	(umask 077 && tr -d '\r\n' <"$PIN" >"$tmp/nginx.pin")
	mkdir -p "$tmp/www"
	printf '<!doctype html><title>bench</title><p>hello</p>\n' >"$tmp/www/index.html"
	: >"$tmp/control"
	export HSMTLS_TESTP11_MODULE=$SOFTHSM_MODULE
	export HSMTLS_TESTP11_CONTROL=$tmp/control
	say "token in $tmp/tok: $EC_URI, $RSA_URI"
}

# set_latency MS: both servers' module reads the new file on its next call.
set_latency() {
	if [ "$1" -gt 0 ]; then
		printf 'latency C_Sign %s\nlatency C_Decrypt %s\n' "$1" "$1" >"$tmp/control.new"
	else
		: >"$tmp/control.new"
	fi
	mv -f "$tmp/control.new" "$tmp/control"
}

# ---------------------------------------------------------------- servers

free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 20000))
		if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# start_hsmtls KEYTYPE: sets HS_PID, HS_PORT.
start_hsmtls() {
	local kt=$1 uri log=$tmp/hsmtls-$1.log extra=()
	uri=$EC_URI
	[ "$kt" = rsa ] && uri=$RSA_URI
	[ "$kt" = rsa ] && [ -n "$HS_RSA_KX" ] && extra+=(--rsa-key-exchange)
	if [ -n "$POOL_THREADS" ]; then
		[ -n "$HS_POOL_OPT" ] || die "POOL_THREADS set, but hsmtls-server has no pool option"
		extra+=("$HS_POOL_OPT" "$POOL_THREADS")
	fi
	# As many event loops as nginx has workers (the server's default is one
	# per core); servers without the option have one.
	[ -n "$HS_WORKERS_OPT" ] && extra+=(--workers "$HSMTLS_WORKERS")
	# shellcheck disable=SC2206 # HSMTLS_ARGS is a word list on purpose
	extra+=($HSMTLS_ARGS)
	"$SERVER" --listen 127.0.0.1:0 --cert "$tmp/$kt.pem" --key "$uri" \
	    --pin-file "$PIN" --module "$TESTP11" --root "$tmp/www" \
	    "${extra[@]+"${extra[@]}"}" 2>"$log" &
	HS_PID=$!
	SERVER_PIDS+=("$HS_PID")
	for _ in $(seq 300); do
		HS_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
		[ -n "$HS_PORT" ] && return 0
		kill -0 "$HS_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$log" >&2
	die "hsmtls-server ($kt) did not start"
}

nginx_conf() {
	local kt=$1 port=$2 dir=$3 uri=$4 user=""
	# Workers re-open the token after the fork: as root they can read it.
	[ "$(id -u)" -eq 0 ] && user="user root;"
	cat >"$dir/openssl.cnf" <<EOF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE_SO
MODULE_PATH = $TESTP11
init = 1
EOF
	cat >"$dir/nginx.conf" <<EOF
$user
worker_processes $NGINX_WORKERS;
master_process on;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
# nginx clears the environment of its workers; the module needs these.
env OPENSSL_CONF;
env SOFTHSM2_CONF;
env HSMTLS_TESTP11_MODULE;
env HSMTLS_TESTP11_CONTROL;
events { worker_connections 4096; }
http {
    access_log off;
    default_type text/html;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate $tmp/$kt.pem;
        ssl_certificate_key "engine:pkcs11:$uri;pin-source=file:$tmp/nginx.pin";
        root $tmp/www;
    }
}
EOF
}

# start_nginx KEYTYPE: sets NG_PID, NG_PORT.
start_nginx() {
	local kt=$1 dir=$tmp/nginx-$1 uri
	uri=$EC_URI
	[ "$kt" = rsa ] && uri=$RSA_URI
	mkdir -p "$dir"
	NG_PORT=$(free_port)
	nginx_conf "$kt" "$NG_PORT" "$dir" "$uri"
	# -e: messages before the configuration is read go there too.
	OPENSSL_CONF=$dir/openssl.cnf "$NGINX" -p "$dir" -c "$dir/nginx.conf" \
	    -e "$dir/error.log" 2>>"$dir/stderr.log" &
	NG_PID=$!
	SERVER_PIDS+=("$NG_PID")
	for _ in $(seq 300); do
		if [ -n "$(ss -Htln "sport = :$NG_PORT" 2>/dev/null)" ] &&
		    [ -n "$(pgrep -P "$NG_PID" || true)" ]; then
			return 0
		fi
		kill -0 "$NG_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$dir/error.log" "$dir/stderr.log" >&2 2>/dev/null || true
	die "nginx ($kt) did not start"
}

# cpu_ticks PID: utime+stime of PID and its children (nginx workers).
cpu_ticks() {
	local p sum=0 f
	for p in "$1" $(pgrep -P "$1" || true); do
		[ -r "/proc/$p/stat" ] || continue
		# Fields after the ")" that ends comm: utime is the 12th, stime 13th.
		f=$(sed 's/.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')
		sum=$((sum + f))
	done
	echo "$sum"
}

# server_busy PORT: connections the server still holds or has queued
# (accept-queue length plus its open connections on PORT).
server_busy() {
	local q n
	q=$(ss -Hltn "( sport = :$1 )" 2>/dev/null | awk '{ s += $2 } END { print s + 0 }')
	n=$(ss -Htn state established state close-wait state syn-recv \
	    "( sport = :$1 )" 2>/dev/null | wc -l)
	echo $((q + n))
}

# settle PID PORT: wait (up to 60 s) until the server has no connection
# left and uses no CPU, so work queued by one run never lands in the next.
# CPU alone is not enough: a server blocked on a slow token sleeps.
settle() {
	local a b
	for _ in $(seq 120); do
		a=$(cpu_ticks "$1")
		sleep 0.5
		b=$(cpu_ticks "$1")
		[ $((b - a)) -le 1 ] && [ "$(server_busy "$2")" -eq 0 ] && return 0
	done
	say "server $1 still busy after 60 s ($(server_busy "$2") connections)"
}

# ---------------------------------------------------------------- runs

conc_for() {
	local v="CONC_$1"
	if [ -n "${!v:-}" ]; then echo "${!v}"
	elif [ "$1" -eq 0 ]; then echo $((2 * CORES))
	elif [ "$1" -le 5 ]; then echo 64
	else echo 256
	fi
}

# case_args CASE: hsbench TLS options; case_key CASE: ec or rsa.
case_args() {
	case $1 in
	tls13-ecdsa) echo "--tls 1.3 --groups $KX_GROUP" ;;
	tls13-rsa-pss) echo "--tls 1.3 --groups $KX_GROUP --sigalgs rsa_pss_rsae_sha256" ;;
	tls12-ecdhe-rsa) echo "--tls 1.2 --groups $KX_GROUP --ciphers ECDHE-RSA-AES128-GCM-SHA256" ;;
	tls12-rsa-kx) echo "--tls 1.2 --ciphers AES128-GCM-SHA256" ;;
	*) die "unknown case '$1' (see CASES in the header)" ;;
	esac
}
case_key() { [ "$1" = tls13-ecdsa ] && echo ec || echo rsa; }

# kv KEY LINE: the value of KEY=... in a key=value line.
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

# hsbench_run PORT CERT CONC SECONDS ARGS...: one hsbench line on stdout.
hsbench_run() {
	local port=$1 cert=$2 conc=$3 secs=$4
	shift 4
	nice -n "$CLIENT_NICE" "$HSBENCH" --connect "127.0.0.1:$port" --cafile "$cert" \
	    --concurrency "$conc" --threads "$CLIENT_THREADS" --duration "$secs" \
	    --timeout-ms "$TIMEOUT_MS" --path / "$@" 2>>"$tmp/hsbench.err"
}

# measure CASE LAT ROUND NAME PID PORT: one recorded run.
measure() {
	local c=$1 lat=$2 round=$3 name=$4 pid=$5 port=$6 kt conc t0 t1 line hs cpu
	kt=$(case_key "$c")
	conc=$(conc_for "$lat")
	# Warm up with few connections: each one still open when the warm-up
	# ends may cost the server a token operation after it.
	# shellcheck disable=SC2046 # case_args is a word list
	hsbench_run "$port" "$tmp/$kt.pem" "$(conc_for 0)" "$WARMUP" $(case_args "$c") >/dev/null || true
	settle "$pid" "$port"
	: >"$tmp/hsbench.err"   # report the measured run's errors, not the warm-up's
	profile_start "$pid" "$c-${lat}ms-r$round-$name"
	t0=$(cpu_ticks "$pid")
	# shellcheck disable=SC2046
	line=$(hsbench_run "$port" "$tmp/$kt.pem" "$conc" "$DURATION" $(case_args "$c")) ||
		die "hsbench failed against $name: $(tail -n3 "$tmp/hsbench.err")"
	t1=$(cpu_ticks "$pid")
	profile_stop "$(kv handshakes "$line")"
	alive "$name" "$pid" "$kt"
	hs=$(kv handshakes "$line")
	cpu=NA
	[ "$hs" -gt 0 ] && cpu=$(awk -v d=$((t1 - t0)) -v t="$TCK" -v n="$hs" \
	    'BEGIN { printf "%.1f", d / t * 1e6 / n }')
	line="run case=$c latency_ms=$lat round=$round server=$name cpu_ticks=$((t1 - t0)) cpu_us_per_hs=$cpu $line"
	echo "$line" >>"$RESULTS"
	say "$c ${lat}ms r$round $name: $(kv hs_per_s "$line") hs/s, $cpu us/hs, p99 $(kv p99_ms "$line") ms, errors $(kv errors "$line")"
	if [ "$(kv errors "$line")" != 0 ]; then
		say "  $(grep -m1 'errors, first' "$tmp/hsbench.err" || true)"
	fi
	: >"$tmp/hsbench.err"
}

# profile_start PID NAME: with PROFILE set, sample PID and its children
# (nginx's workers; hsmtls's threads come with its pid) into PROFILE/NAME.
PERF_PID=""
PERF_OUT=""
profile_start() {
	local pids
	[ -n "$PROFILE" ] || return 0
	pids=$(echo "$1" $(pgrep -P "$1" || true) | tr ' ' ,)
	PERF_OUT=$PROFILE/$2
	perf record -q -e cpu-clock -F "$PROFILE_HZ" -p "$pids" \
	    -o "$PERF_OUT.data" >/dev/null 2>"$PERF_OUT.err" &
	PERF_PID=$!
	sleep 0.2   # perf attaches before the measured run starts
}

# profile_stop HANDSHAKES: end the sampling; the count goes beside it.
profile_stop() {
	[ -n "$PERF_PID" ] || return 0
	kill -INT "$PERF_PID" 2>/dev/null || true
	wait "$PERF_PID" 2>/dev/null || true
	printf 'handshakes=%s hz=%s\n' "$1" "$PROFILE_HZ" >"$PERF_OUT.hs"
	PERF_PID=""
}

# alive NAME PID KT: a server that died makes every later number void.
alive() {
	kill -0 "$2" 2>/dev/null && return 0
	if [ "$1" = hsmtls ]; then
		tail -n5 "$tmp/hsmtls-$3.log" >&2 || true
	else
		tail -n5 "$tmp/nginx-$3/error.log" >&2 || true
	fi
	die "$1 ($3) exited during a measurement"
}

skip() {
	echo "skip case=$1 server=$2 reason=\"$3\"" >>"$RESULTS"
	say "skipped $1 on $2: $3"
}

# run_keytype KT: start both servers for KT and measure its cases.
run_keytype() {
	local kt=$1 c lat r cases=() hs_ok
	for c in $CASES; do
		case_args "$c" >/dev/null
		[ "$(case_key "$c")" = "$kt" ] && cases+=("$c")
	done
	# The keep-alive test needs the EC servers even without EC cases.
	if [ "${#cases[@]}" -eq 0 ] && { [ "$kt" != ec ] || [ "$KEEPALIVE" != 1 ]; }; then
		return 0
	fi
	set_latency 0
	start_hsmtls "$kt"
	start_nginx "$kt"
	say "$kt: hsmtls pid $HS_PID port $HS_PORT; nginx pid $NG_PID port $NG_PORT"
	for c in "${cases[@]+"${cases[@]}"}"; do
		hs_ok=1
		if [ "$c" = tls12-rsa-kx ] && [ -z "$KEYGEN_USAGE" ]; then
			skip "$c" both "the RSA key cannot decrypt: hsmtls-token keygen has no --usage"
			continue
		fi
		if [ "$c" = tls12-rsa-kx ] && [ -z "$HS_RSA_KX" ]; then
			skip "$c" hsmtls "hsmtls-server has no --rsa-key-exchange option"
			hs_ok=0
		fi
		for lat in $LATENCIES; do
			set_latency "$lat"
			for r in $(seq "$ROUNDS"); do
				[ "$hs_ok" = 1 ] && measure "$c" "$lat" "$r" hsmtls "$HS_PID" "$HS_PORT"
				measure "$c" "$lat" "$r" nginx "$NG_PID" "$NG_PORT"
			done
		done
	done
	[ "$kt" = ec ] && [ "$KEEPALIVE" = 1 ] && keepalive
	set_latency 0
	stop_pid "$HS_PID"; forget_pid "$HS_PID"
	stop_pid "$NG_PID"; forget_pid "$NG_PID"
}

# max_rate NAME PID PORT: the median hs/s of tls13-ecdsa at 5 ms, measured
# now if the main runs did not.
max_rate() {
	local v line
	v=$(awk -v s="$1" '$1 == "run" && /case=tls13-ecdsa / && / latency_ms=5 / &&
	    $0 ~ "server=" s " " { for (i = 2; i <= NF; i++) if ($i ~ /^hs_per_s=/) {
	    sub(/hs_per_s=/, "", $i); print $i } }' "$RESULTS" | sort -g |
	    awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }')
	if [ -z "$v" ]; then
		settle "$2" "$3"
		# shellcheck disable=SC2046
		line=$(hsbench_run "$3" "$tmp/ec.pem" "$(conc_for 5)" "$DURATION" \
		    $(case_args tls13-ecdsa))
		v=$(kv hs_per_s "$line")
	fi
	echo "$v"
}

# keepalive_one NAME PID PORT: load at half the server's own 5 ms maximum
# while kaprobe times an established connection.
keepalive_one() {
	local name=$1 pid=$2 port=$3 max rate load probe bpid
	max=$(max_rate "$name" "$pid" "$port")
	rate=$(awk -v m="$max" 'BEGIN { r = m / 2; if (r < 1) r = 1; printf "%.1f", r }')
	settle "$pid" "$port"
	# shellcheck disable=SC2046
	hsbench_run "$port" "$tmp/ec.pem" "$(conc_for 5)" "$KA_DURATION" \
	    --rate "$rate" $(case_args tls13-ecdsa) >"$tmp/ka-load" &
	bpid=$!
	sleep 0.5
	probe=$("$KAPROBE" --connect "127.0.0.1:$port" --cafile "$tmp/ec.pem" \
	    --interval-ms 10 --duration "$(awk -v d="$KA_DURATION" 'BEGIN { print (d > 1.5 ? d - 1 : d / 2) }')" \
	    2>>"$tmp/hsbench.err") || probe="requests=0 errors=1"
	wait "$bpid" || true
	load=$(cat "$tmp/ka-load")
	echo "keepalive server=$name max_hs_per_s=$max load_rate=$rate $probe load_hs_per_s=$(kv hs_per_s "$load") load_errors=$(kv errors "$load")" >>"$RESULTS"
	say "keep-alive $name: load $rate hs/s (achieved $(kv hs_per_s "$load")); probe p99 $(kv p99_ms "$probe") ms max $(kv max_ms "$probe") ms errors $(kv errors "$probe")"
}

keepalive() {
	set_latency 5
	keepalive_one hsmtls "$HS_PID" "$HS_PORT"
	keepalive_one nginx "$NG_PID" "$NG_PORT"
}

# ---------------------------------------------------------------- report

report() {
	awk -v cases="$CASES" -v lats="$LATENCIES" -f "$here/compare-report.awk" "$RESULTS"
}

main() {
	check_programs
	# Any nginx flavour will do (nginx-core, -full, -extras ship the same).
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] ||
		pkg_install nginx-light nginx
	pkg_install libengine-pkcs11-openssl
	find_engine
	detect_features
	if [ -n "$PROFILE" ]; then
		command -v perf >/dev/null || pkg_install linux-perf
		mkdir -p "$PROFILE"
		PROFILE=$(cd "$PROFILE" && pwd)
		say "profiles in $PROFILE (bench/profile-report.sh $PROFILE)"
	fi
	mkdir -p "$(dirname "$RESULTS")"
	# A fresh file: medians must never mix two invocations.
	{
		echo "# hsmtls vs nginx+libp11 $(date -u +%FT%TZ) cores=$CORES duration=$DURATION rounds=$ROUNDS"
		echo "# nginx: $("$NGINX" -v 2>&1) engine: $ENGINE_SO; module: $TESTP11 -> $SOFTHSM_MODULE"
	} >"$RESULTS"
	provision
	[ "$KEEPALIVE" = 1 ] && case " $CASES " in *" tls13-ecdsa "*) ;; *)
		say "keep-alive test runs on the EC key: starting the EC servers for it" ;;
	esac
	run_keytype ec
	run_keytype rsa
	report
	say "raw results: $RESULTS"
}

main "$@"
