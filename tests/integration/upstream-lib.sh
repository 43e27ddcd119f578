# upstream-lib.sh - helpers for the TLS termination tests (t101-t103),
# sourced after lib.sh.
#
# start_backend MODE ADDR: tests/integration/backend.py MODE (see there)
# on ADDR ("tcp" or "unix:PATH") in the background, killed at exit;
# waits until it listens and sets BACKEND (its port, or its path).
# upstream_conf FILE SITE_LINES [TOP_LINES]: a configuration for the
# test's token, key and certificate, listening on 127.0.0.1:0 with an
# admin listener and an access log ($tmp/access.log), one site "app"
# (server-name localhost) with SITE_LINES.
# pyc: run the Python on stdin (PORT, CERT, WAIT_SECS in its environment,
# backend.py importable).

UP_DIR=$(cd "$(dirname "$0")" && pwd)
need_tool python3

start_backend() {
	out=$tmp/backend-$(date +%s%N).addr
	python3 "$UP_DIR/backend.py" "$1" "$2" "$out" >"$tmp/backend-$1.err" 2>&1 &
	BG_PIDS="$BG_PIDS $!"
	i=0
	until [ -s "$out" ]; do
		kill -0 "$!" 2>/dev/null || fail "backend $1 $2 exited: $(cat "$tmp/backend-$1.err")"
		i=$((i + 1))
		[ "$i" -lt $((WAIT_SECS * 10)) ] || fail "backend $1 $2 did not start"
		sleep 0.1
	done
	BACKEND=$(cat "$out")
}

upstream_conf() {
	cat >"$1" <<CONF
# written by $TEST_NAME
listen 127.0.0.1:0;
admin-listen 127.0.0.1:0;
access-log $tmp/access.log;
${3:-}
token $TOKEN_LABEL {
	pin-file "$PIN_FILE";
}
site app {
	server-name localhost;
	key "$KEY_URI" "$CERT";
$2
}
CONF
}

pyc() {
	PYTHONPATH=$UP_DIR PORT=$PORT CERT=$CERT WAIT_SECS=$WAIT_SECS \
	    timeout "$((WAIT_SECS * 4))" python3 - "$@"
}
