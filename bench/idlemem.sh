#!/bin/bash
# idlemem.sh - the server's memory per idle established TLS connection:
# hsmtls-server (in-process, and through hsmtls-keyd) holds N connections
# that completed a TLS handshake and send nothing (bench/idleconns.py);
# its RSS (VmRSS) before, with them, and after they closed, from
# /proc/PID/status.  With nginx (Debian's, with the libp11 engine on the
# same token key) the same, when it is installed.
#
# Run after "./quickstart.sh test" has built everything in build/, as
# root (the file limit is raised to N + 2200: a descriptor per connection,
# up to 1024 for key operations in flight, and the rest):
#     bench/idlemem.sh
# Environment (defaults in brackets):
#   BUILD [<source>/build]  N [10000]  KEY_TYPE [ec:P-256]  TLS [1.3]
#   ROUNDS [1]  MODES ["inproc keyd nginx"]
# Prints per mode: rss_kb before, with the connections, after; and KiB per
# connection ((with - before) / N); target: <= 40 KiB.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_init idlemem
KEYD=$BUILD/keyd/hsmtls-keyd
N=${N:-10000}
KEY_TYPE=${KEY_TYPE:-ec:P-256}
TLS=${TLS:-1.3}
ROUNDS=${ROUNDS:-1}
MODES=${MODES:-inproc keyd nginx}
HOLD=$here/idleconns.py
ulimit -n $((N + 2200)) 2>/dev/null || die "cannot raise the file limit to $((N + 2200)) (run as root)"
command -v python3 >/dev/null || die "python3 not found"

bench_token "$KEY_TYPE"
mkdir -p "$tmp/keyd"
site="site bench { root $www; key \"$uri\" $cert; }"
common="listen 127.0.0.1:0;
max-connections $((N + 100));
idle-timeout 600s;
handshake-timeout 600s;
token hsmtls-dev { pin-file $pin; }
$site"
printf '%s\n' "$common" >"$tmp/inproc.conf"
printf 'keyd %s;\n%s\n%s\n' "$tmp/keyd/sock" "$keyd_user" "$common" >"$tmp/keyd.conf"
kpid=""
if [[ " $MODES " == *" keyd "* ]]; then
	"$KEYD" -c "$tmp/keyd.conf" 2>"$tmp/keyd.log" &
	kpid=$!
	bench_wait "$tmp/keyd.log" "$kpid"
fi
npid=""
trap 'kill $kpid $npid 2>/dev/null; bench_cleanup' EXIT

rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }

# nginx_start: Debian's nginx with the libp11 engine on the same key (as
# bench/compare.sh runs it); sets pid and port, or returns 1 when nginx
# or the engine is missing.
nginx_start() {
	local engine
	command -v nginx >/dev/null || return 1
	engine=$(find /usr/lib -name pkcs11.so -path '*engines*' 2>/dev/null | head -n1)
	[ -n "$engine" ] || return 1
	mkdir -p "$tmp/nginx"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cat >"$tmp/nginx/openssl.cnf" <<EOF
openssl_conf = conf
[conf]
engines = engines
[engines]
pkcs11 = pkcs11
[pkcs11]
engine_id = pkcs11
dynamic_path = $engine
MODULE_PATH = /usr/lib/softhsm/libsofthsm2.so
PIN = $(cat "$pin")
init = 0
EOF
	chmod 600 "$tmp/nginx/openssl.cnf"
	cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $tmp/nginx/error.log;
pid $tmp/nginx/nginx.pid;
ssl_engine pkcs11;
events { worker_connections $((N + 100)); }
http {
    access_log off;
    keepalive_timeout 600s;
    client_header_timeout 600s;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $cert;
        ssl_certificate_key "engine:pkcs11:$uri";
        ssl_protocols TLSv1.2 TLSv1.3;
        root $www;
    }
}
EOF
	OPENSSL_CONF=$tmp/nginx/openssl.cnf nginx -c "$tmp/nginx/nginx.conf" \
	    -p "$tmp/nginx" 2>"$tmp/nginx/stderr" &
	pid=$!
	npid=$pid
	for _ in $(seq 100); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || die "nginx failed: $(cat "$tmp/nginx/stderr" "$tmp/nginx/error.log" 2>/dev/null)"
		sleep 0.1
	done
	die "nginx did not start"
}

# measure MODE: "MODE before_kb with_kb after_kb kib_per_conn (client: ...)"
measure() {
	local mode=$1 r0 r1 r2 out
	case $mode in
	nginx) nginx_start || { say "no nginx or libp11 engine: nginx skipped"; return 1; } ;;
	*) bench_serve "$tmp/$mode.conf" ;;
	esac
	# One handshake first, so that start-up allocations are in "before".
	python3 "$HOLD" 127.0.0.1 "$port" "$cert" 8 --tls "$TLS" </dev/null >/dev/null
	sleep 0.5
	r0=$(rss "$pid")
	rm -f "$tmp/hold.in"
	mkfifo "$tmp/hold.in"
	python3 "$HOLD" 127.0.0.1 "$port" "$cert" "$N" --tls "$TLS" \
	    <"$tmp/hold.in" >"$tmp/hold.out" 2>"$tmp/hold.err" &
	local hpid=$!
	exec 9>"$tmp/hold.in"
	for _ in $(seq 1200); do
		grep -q '^open=' "$tmp/hold.out" && break
		kill -0 "$hpid" 2>/dev/null || die "idleconns failed: $(cat "$tmp/hold.err")"
		sleep 0.1
	done
	out=$(cat "$tmp/hold.out")
	sleep 1
	r1=$(rss "$pid")
	exec 9>&-
	wait "$hpid" || true
	sleep 2
	r2=$(rss "$pid")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	npid=""
	printf '%s %s %s %s %s (client: %s)\n' "$mode" "$r0" "$r1" "$r2" \
	    "$(awk -v a="$r0" -v b="$r1" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / n }')" \
	    "$out"
}

say "$N idle TLS $TLS connections, $KEY_TYPE key on SoftHSM"
for r in $(seq "$ROUNDS"); do
	for mode in $MODES; do
		line=$(measure "$mode") || continue
		echo "round $r: $line (mode rss_before_kb rss_with_kb rss_after_kb kib_per_conn)"
	done
done
