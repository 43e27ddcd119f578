# bench-lib.sh - what the bench scripts share (sourced): a throwaway
# SoftHSM token with one key and certificate, and one hsmtls-server run
# from a configuration, both in a temporary directory removed at exit.
#
# After bench_init: tmp, BUILD, SERVER, TOKEN, HSBENCH, TESTP11, keyd_user
# (a keyd-user line for a daemon on the throwaway token).
# After bench_token TYPE: uri (the key), cert, www, pin.
# After bench_serve CONF: pid, port.

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
# "workers N" event loops.
bench_loops_conf() {
	cat >"$tmp/w$1.conf" <<EOF
listen 127.0.0.1:0;
workers $1;
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
