# lib.sh - shared set-up for the integration tests (sourced, not run).
#
# Each tNN-*.sh script proves one behaviour of hsmtls-server or
# hsmtls-token against its own SoftHSM token in its own temporary
# directory.  Exit status follows automake: 0 pass, 1 fail, 77 skip,
# 99 hard error (the test environment itself is broken).
#
# Environment (set by tests/Makefile.am AM_TESTS_ENVIRONMENT):
#   HSMTLS_SERVER HSMTLS_TOKEN HSMTLS_TESTP11 HSMTLS_P11ATTR SOFTHSM_MODULE
#
# After make_token: TOKEN_DIR, TOKEN_LABEL, PIN_FILE, SOFTHSM2_CONF.
# After start_server: PORT, SERVER_PID, SERVER_LOG.
# After stop_server: SERVER_STATUS.
#
# Key mode (HSMTLS_TEST_KEY_MODE): keyd (the default) runs every server
# that start_server or start_server_conf starts through its own
# hsmtls-keyd, which loads the module (the test module too: its counts and
# control files work there) and reads the PIN; inproc loads the module in
# the server, as without the daemon.  A test whose subject is the
# in-process engine says "key_mode inproc" (with its reason) at the top.
# After an automatic daemon started: AUTO_KEYD_PID, AUTO_KEYD_LOG.

set -eu

# Never talk to a system token or a system-wide p11-kit configuration.
unset SOFTHSM2_CONF HSMTLS_TESTP11_MODULE HSMTLS_TESTP11_COUNTS || true

TEST_NAME=$(basename "$0" .sh)
# Bound on every wait (start-up, shutdown, a client run); sanitizer builds
# are several times slower, so this is generous.
WAIT_SECS=${HSMTLS_TEST_WAIT:-30}

SERVER_PID=""
SERVER_STATUS=""
KEY_MODE=${HSMTLS_TEST_KEY_MODE:-keyd}
case $KEY_MODE in keyd|inproc) ;; *) echo "ERROR: HSMTLS_TEST_KEY_MODE=$KEY_MODE: want keyd or inproc" >&2; exit 99 ;; esac
AUTO_KEYD_PID=""
AUTO_KEYD_LOG=""
BG_PIDS=""   # other background processes a test started (killed at exit)
PORT=""
tmp=""

fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	exit 1
}

skip() {
	echo "SKIP: $TEST_NAME: $*" >&2
	exit 77
}

hard_error() {
	echo "ERROR: $TEST_NAME: $*" >&2
	exit 99
}

need_tool() {
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "$t not found"
	done
}

# need_file VAR: the built program or module named by $VAR must exist.
need_file() {
	eval "v=\${$1:-}"
	[ -n "$v" ] || hard_error "$1 is not set (run through make check)"
	[ -e "$v" ] || hard_error "$1=$v does not exist (not built?)"
}

dump_file() {
	[ -s "$1" ] || return 0
	echo "---- $2 ($1)" >&2
	sed 's/^/| /' "$1" >&2
}

cleanup() {
	rc=$?
	trap - EXIT
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -KILL "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	stop_auto_keyd
	for p in $BG_PIDS; do
		kill "$p" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$tmp" ]; then
		for f in "$tmp"/server*.log; do
			[ -e "$f" ] && dump_file "$f" "server stderr"
		done
		for f in "$tmp"/auto-keyd*.log; do
			[ -e "$f" ] && dump_file "$f" "key daemon stderr"
		done
		for f in "$tmp"/*.out "$tmp"/*.err; do
			[ -e "$f" ] && dump_file "$f" "output"
		done
	fi
	[ -n "$tmp" ] && rm -rf "$tmp"
	exit "$rc"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hsmtls-$TEST_NAME.XXXXXX")
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

need_file HSMTLS_SERVER
need_file HSMTLS_TOKEN
need_tool timeout

# make_token: a fresh SoftHSM token in $tmp/token, used by everything after.
make_token() {
	TOKEN_DIR=$tmp/token
	TOKEN_LABEL=hsmtls-dev
	"$HSMTLS_TOKEN" init --dir "$TOKEN_DIR" >"$tmp/init.out" 2>"$tmp/init.err" ||
		fail "hsmtls-token init failed: $(cat "$tmp/init.err")"
	SOFTHSM2_CONF=$TOKEN_DIR/softhsm2.conf
	export SOFTHSM2_CONF
	PIN_FILE=$TOKEN_DIR/user.pin
	[ -f "$SOFTHSM2_CONF" ] || fail "init wrote no $SOFTHSM2_CONF"
	[ -f "$PIN_FILE" ] || fail "init wrote no $PIN_FILE"
	grep -qx "export SOFTHSM2_CONF=$SOFTHSM2_CONF" "$tmp/init.out" ||
		fail "init printed '$(cat "$tmp/init.out")', want 'export SOFTHSM2_CONF=$SOFTHSM2_CONF'"
}

# make_key TYPE LABEL ID: generate a key pair on the token; prints its URI.
make_key() {
	"$HSMTLS_TOKEN" keygen --token "$TOKEN_LABEL" --pin-file "$PIN_FILE" \
	    --type "$1" --label "$2" --id "$3" 2>"$tmp/keygen.err" ||
		fail "hsmtls-token keygen $1 $2 failed: $(cat "$tmp/keygen.err")"
}

# make_cert URI OUT: a self-signed certificate for localhost/127.0.0.1,
# signed on the token by the key URI.
make_cert() {
	"$HSMTLS_TOKEN" selfsign --key "$1" --pin-file "$PIN_FILE" \
	    --subject CN=localhost --san DNS:localhost,IP:127.0.0.1 \
	    --out "$2" 2>"$tmp/selfsign.err" >/dev/null ||
		fail "hsmtls-token selfsign failed: $(cat "$tmp/selfsign.err")"
	[ -s "$2" ] || fail "selfsign wrote no certificate to $2"
}

# make_root: a document root $tmp/www with a distinctive index page.
make_root() {
	ROOT=$tmp/www
	mkdir -p "$ROOT/sub"
	printf '<html><body>hsmtls %s index %s</body></html>\n' "$TEST_NAME" "$$" >"$ROOT/index.html"
	printf 'sub index %s\n' "$$" >"$ROOT/sub/index.html"
	printf 'plain text file\n' >"$ROOT/file.txt"
}

# make_second_token LABEL: another SoftHSM token, in the same token
# directory as the first (one SOFTHSM2_CONF serves both); its PIN file is
# $tmp/LABEL/user.pin (set in TOKEN2_PIN).
make_second_token() {
	SOFTHSM2_CONF=$tmp/$1-conf.tmp "$HSMTLS_TOKEN" init --dir "$tmp/$1" --label "$1" \
	    >"$tmp/init2.out" 2>"$tmp/init2.err" ||
		fail "hsmtls-token init --label $1 failed: $(cat "$tmp/init2.err")"
	mv "$tmp/$1"/tokens/* "$TOKEN_DIR/tokens/" ||
		hard_error "cannot move token $1 into $TOKEN_DIR/tokens"
	TOKEN2_PIN=$tmp/$1/user.pin
}

# make_key_on LABEL PIN_FILE TYPE OBJECT ID: a key pair on token LABEL;
# prints its URI.
make_key_on() {
	"$HSMTLS_TOKEN" keygen --token "$1" --pin-file "$2" --type "$3" \
	    --label "$4" --id "$5" 2>"$tmp/keygen.err" ||
		fail "hsmtls-token keygen on $1 failed: $(cat "$tmp/keygen.err")"
}

# make_cert_for URI PIN_FILE OUT CN [SAN]: a self-signed certificate signed
# on the token by URI, for CN (and SAN, default DNS:CN).
make_cert_for() {
	"$HSMTLS_TOKEN" selfsign --key "$1" --pin-file "$2" --subject "CN=$4" \
	    --san "${5:-DNS:$4}" --out "$3" 2>"$tmp/selfsign.err" >/dev/null ||
		fail "hsmtls-token selfsign for $4 failed: $(cat "$tmp/selfsign.err")"
}

# key_mode inproc [REASON]: this test runs its servers with the module in
# the server (its subject is the in-process engine), whatever
# HSMTLS_TEST_KEY_MODE says.
key_mode() {
	case $1 in
	inproc|keyd) KEY_MODE=$1 ;;
	*) hard_error "key_mode $1: want inproc or keyd" ;;
	esac
}

AUTO_KEYD_SOCK=$tmp/auto-keyd.sock

# start_auto_keyd FILE: the test's own hsmtls-keyd on FILE (a server
# configuration) at AUTO_KEYD_SOCK; waits for its "listening on" line.  It
# stays root, as the token in $tmp is root's (t96 tests the drop).
start_auto_keyd() {
	need_file HSMTLS_KEYD
	stop_auto_keyd
	AUTO_KEYD_LOG=$tmp/auto-keyd-$(date +%s%N).log
	"$HSMTLS_KEYD" -c "$1" --socket "$AUTO_KEYD_SOCK" --user "$(id -un)" \
	    </dev/null >/dev/null 2>"$AUTO_KEYD_LOG" &
	AUTO_KEYD_PID=$!
	wait_keyd_listening "$AUTO_KEYD_PID" "$AUTO_KEYD_LOG" || AUTO_KEYD_PID=""
}

# wait_keyd_listening PID LOG: until the daemon PID wrote its "listening
# on" line to LOG; fails when it exits first (and then returns 1 to the
# cleanup, which must not wait for it again) or takes too long.
wait_keyd_listening() {
	i=0
	while ! grep -qs '^listening on ' "$2"; do
		if ! kill -0 "$1" 2>/dev/null; then
			st=0
			wait "$1" || st=$?
			fail "hsmtls-keyd exited with status $st before listening: $(cat "$2")"
		fi
		i=$((i + 1))
		[ "$i" -lt $((WAIT_SECS * 10)) ] || fail "hsmtls-keyd printed no 'listening on' line within ${WAIT_SECS}s"
		sleep 0.1
	done
}

stop_auto_keyd() {
	[ -n "${AUTO_KEYD_PID:-}" ] || return 0
	kill -TERM "$AUTO_KEYD_PID" 2>/dev/null || true
	wait "$AUTO_KEYD_PID" 2>/dev/null || true
	AUTO_KEYD_PID=""
}

# wait_log TEXT N [FILE [PID]]: until the fixed string TEXT stands N times
# in FILE (default the server's log); fails after WAIT_SECS, or when PID
# (default the server; "" for none) has died.
wait_log() {
	wl_file=${3:-$SERVER_LOG}
	wl_pid=${4-$SERVER_PID}
	i=0
	while :; do
		n=$(grep -cF -- "$1" "$wl_file" 2>/dev/null || true)
		[ "${n:-0}" -lt "$2" ] || return 0
		i=$((i + 1))
		[ "$i" -lt $((WAIT_SECS * 10)) ] || fail "no '$1' (x$2) in $wl_file: $(cat "$wl_file" 2>&1)"
		[ -z "$wl_pid" ] || kill -0 "$wl_pid" 2>/dev/null || fail "process $wl_pid died: $(cat "$wl_file" 2>&1)"
		sleep 0.1
	done
}

# reload_server: SIGHUP the server; in keyd mode the test's daemon first,
# waiting until it has reloaded (or failed to), so that the server's
# reload opens keys the daemon already serves.
reload_server() {
	if [ -n "$AUTO_KEYD_PID" ]; then
		n=$(grep -c -e ' reloaded: serving' -e 'reload failed' "$AUTO_KEYD_LOG" || true)
		kill -HUP "$AUTO_KEYD_PID"
		i=0
		until [ "$(grep -c -e ' reloaded: serving' -e 'reload failed' "$AUTO_KEYD_LOG" || true)" -gt "$n" ]; do
			i=$((i + 1))
			[ "$i" -lt $((WAIT_SECS * 10)) ] || fail "the test's hsmtls-keyd did not reload: $(cat "$AUTO_KEYD_LOG")"
			sleep 0.1
		done
	fi
	kill -HUP "$SERVER_PID"
}

# start_server_conf FILE [ARGS...]: hsmtls-server -c FILE in the
# background; waits for "listening on" (sets PORT, ADMIN_PORT).  In keyd
# mode, unless FILE names a daemon itself, a daemon on FILE first and the
# server with --keyd (used again at every reload).
start_server_conf() {
	SERVER_LOG=$tmp/server.log
	[ -e "$SERVER_LOG" ] && SERVER_LOG=$tmp/server-$$-$(date +%s%N).log
	if [ "$KEY_MODE" = keyd ] && ! grep -q '^ *keyd ' "$1"; then
		start_auto_keyd "$1"
		"$HSMTLS_SERVER" -c "$@" --keyd "$AUTO_KEYD_SOCK" </dev/null >"$tmp/server-stdout.out" 2>"$SERVER_LOG" &
	else
		"$HSMTLS_SERVER" -c "$@" </dev/null >"$tmp/server-stdout.out" 2>"$SERVER_LOG" &
	fi
	SERVER_PID=$!
	SERVER_STATUS=""
	wait_listening
}

# uri_token_label URI: the URI's token= value, percent-decoded ("" if none).
uri_token_label() {
	l=$(printf '%s\n' "$1" | sed -n 's/^pkcs11:\(.*;\)\{0,1\}token=\([^;?]*\).*/\2/p')
	printf '%b' "$(printf '%s' "$l" | sed 's/%\([0-9a-fA-F][0-9a-fA-F]\)/\\x\1/g')"
}

# keyd_args_conf FILE ARGS...: the key daemon's configuration for a server
# started with the one-site flags ARGS (its token block from --module and
# --pin-file, its key line from --key and --cert); sets SERVER_ARGS to ARGS
# without --module and --pin-file (the daemon holds those).
keyd_args_conf() {
	out=$1
	shift
	k_module="" k_pin="" k_key="" k_cert="" k_root=/ k_rsa="" k_top=""
	SERVER_ARGS=()
	while [ $# -gt 0 ]; do
		case $1 in
		--module) k_module=$2; shift 2; continue ;;
		--pin-file) k_pin=$2; shift 2; continue ;;
		--key) k_key=$2 ;;
		--cert) k_cert=$2 ;;
		--root) k_root=$2 ;;
		--rsa-key-exchange) k_rsa=1 ;;
		--allow-weak-key) k_top="$k_top|allow-weak-key on;" ;;
		--allow-imported-key) k_top="$k_top|allow-imported-key on;" ;;
		--pool-threads) k_top="$k_top|pool-threads $2;" ;;
		--queue-max) k_top="$k_top|queue-max $2;" ;;
		--key-timeout) k_top="$k_top|key-timeout ${2}ms;" ;;
		esac
		case $1 in
		--key|--cert|--root|--pool-threads|--queue-max|--key-timeout|--listen|--max-connections|--pid-file|--log-file|--metrics-path|--admin-listen|--access-log)
			SERVER_ARGS+=("$1" "$2"); shift 2 ;;
		*) SERVER_ARGS+=("$1"); shift ;;
		esac
	done
	label=$(uri_token_label "$k_key")
	{
		printf '%s\n' "$k_top" | tr '|' '\n' | sed '/^$/d'
		if [ -n "$k_module$k_pin" ]; then
			echo "token \"${label:-any}\" {"
			[ -z "$k_module" ] || echo "    module \"$k_module\";"
			[ -z "$k_pin" ] || echo "    pin-file \"$k_pin\";"
			echo "}"
		fi
		echo "site s {"
		echo "    root \"$k_root\";"
		echo "    key \"$k_key\" \"$k_cert\";"
		[ -z "$k_rsa" ] || echo "    rsa-key-exchange on;"
		echo "}"
	} >"$out"
}

# setup_server_key TYPE: token + one key "web" (id 01) + its certificate
# ($CERT) + document root; sets KEY_URI.
setup_server_key() {
	make_token
	KEY_URI=$(make_key "$1" web 01)
	[ -n "$KEY_URI" ] || fail "keygen printed no URI"
	CERT=$tmp/cert.pem
	make_cert "$KEY_URI" "$CERT"
	make_root
}

# server_has_arg FLAG ARGS...: true when ARGS has FLAG (or FLAG=...).
server_has_arg() {
	f=$1
	shift
	for a in "$@"; do
		case $a in "$f"|"$f"=*) return 0 ;; esac
	done
	return 1
}

# server_has_listen ARGS...: true when the caller passed its own --listen.
server_has_listen() {
	for a in "$@"; do
		case $a in --listen|--listen=*) return 0 ;; esac
	done
	return 1
}

# start_server ARGS...: run hsmtls-server in the background (on
# 127.0.0.1:0 unless ARGS has --listen) and wait for its
# "listening on 127.0.0.1:PORT" line; sets PORT.
start_server() {
	SERVER_LOG=$tmp/server.log
	[ -e "$SERVER_LOG" ] && SERVER_LOG=$tmp/server-$$-$(date +%s%N).log
	if [ "$KEY_MODE" = keyd ] && ! server_has_arg --keyd "$@"; then
		keyd_args_conf "$tmp/auto-keyd.conf" "$@"
		start_auto_keyd "$tmp/auto-keyd.conf"
		set -- "${SERVER_ARGS[@]}" --keyd "$AUTO_KEYD_SOCK"
	fi
	if server_has_listen "$@"; then
		"$HSMTLS_SERVER" "$@" </dev/null >"$tmp/server-stdout.out" 2>"$SERVER_LOG" &
	else
		"$HSMTLS_SERVER" --listen 127.0.0.1:0 "$@" </dev/null >"$tmp/server-stdout.out" 2>"$SERVER_LOG" &
	fi
	SERVER_PID=$!
	SERVER_STATUS=""
	wait_listening
}

# keyd_mode_check: a server run through the test's daemon has no PKCS#11
# module mapped (so a test passing in keyd mode really ran through it).
keyd_mode_check() {
	[ -n "$AUTO_KEYD_PID" ] && [ -r "/proc/$SERVER_PID/maps" ] || return 0
	! grep -Eq 'softhsm|testp11' "/proc/$SERVER_PID/maps" ||
		fail "keyd mode: the server mapped a PKCS#11 module: $(grep -E 'softhsm|testp11' "/proc/$SERVER_PID/maps" | head -1)"
}

wait_listening() {
	i=0
	while [ "$i" -lt $((WAIT_SECS * 10)) ]; do
		line=$(grep -s -m1 '^listening on ' "$SERVER_LOG" || true)
		# Only a whole line: the file must end in a newline.
		if [ -n "$line" ] && [ "$(tail -c1 "$SERVER_LOG" | wc -l)" -eq 1 ]; then
			PORT=${line##*:}
			case $PORT in
			''|*[!0-9]*) fail "bad listening line '$line'" ;;
			esac
			[ "$PORT" -gt 0 ] || fail "listening on port 0: '$line'"
			# The admin listener, if any, is announced first.
			ADMIN_PORT=$(sed -n 's/^admin on .*:\([0-9][0-9]*\)$/\1/p' "$SERVER_LOG" | head -n1)
			keyd_mode_check
			return 0
		fi
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			st=0
			wait "$SERVER_PID" || st=$?
			SERVER_PID=""
			fail "server exited with status $st before listening"
		fi
		sleep 0.1
		i=$((i + 1))
	done
	fail "server printed no 'listening on' line within ${WAIT_SECS}s"
}

# stop_server [SIGNAL]: signal the server (default TERM), wait (bounded)
# for it to exit; sets SERVER_STATUS.
stop_server() {
	[ -n "$SERVER_PID" ] || hard_error "stop_server: no server running"
	kill "-${1:-TERM}" "$SERVER_PID" 2>/dev/null || true
	wait_server_exit "$WAIT_SECS"
}

# wait_server_exit SECS: wait at most SECS for the signalled server to
# exit (then kill it and fail); sets SERVER_STATUS.
wait_server_exit() {
	i=0
	while kill -0 "$SERVER_PID" 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -gt $(($1 * 10)) ]; then
			kill -KILL "$SERVER_PID" 2>/dev/null || true
			wait "$SERVER_PID" 2>/dev/null || true
			SERVER_PID=""
			fail "server still running ${1}s after it was signalled"
		fi
		sleep 0.1
	done
	SERVER_STATUS=0
	wait "$SERVER_PID" || SERVER_STATUS=$?
	SERVER_PID=""
}

# stop_server_ok: SIGTERM must end the server with status 0.
stop_server_ok() {
	stop_server TERM
	[ "$SERVER_STATUS" -eq 0 ] || fail "server exit status after SIGTERM: got $SERVER_STATUS, want 0"
}

# fetch PATH [CURL ARGS...]: an HTTPS request for PATH to the running
# server, verifying its certificate and the name "localhost"; the body
# goes to stdout.
fetch() {
	p=$1
	shift
	curl_srv "$@" "$(url "$p")"
}

# url PATH: the URL fetch uses for PATH.
url() {
	echo "https://localhost:$PORT$1"
}

# curl_srv ARGS...: curl with the server's CA and name resolution; caller
# gives the URLs (from url) and any options.
curl_srv() {
	timeout "$WAIT_SECS" curl -sS --max-time "$WAIT_SECS" --cacert "$CERT" \
	    --resolve "localhost:$PORT:127.0.0.1" "$@"
}

# http_code PATH [CURL ARGS...]: the HTTP status of a request for PATH.
http_code() {
	p=$1
	shift
	# A failed transfer prints 000, which the caller reports as a mismatch.
	curl_srv -o "$tmp/body.out" -w '%{http_code}' "$@" "$(url "$p")" || true
}

# s_client ARGS...: one full handshake with openssl s_client, verified
# against $CERT; stdin is empty so it closes right after the handshake.
s_client() {
	timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" \
	    -servername localhost -CAfile "$CERT" -verify_return_error \
	    -verify_hostname localhost "$@" </dev/null 2>&1
}

# admin_get PATH: a plain HTTP GET of PATH on the admin listener (start
# the server with --admin-listen 127.0.0.1:0 or admin-listen); body to stdout.
admin_get() {
	[ -n "${ADMIN_PORT:-}" ] || fail "no 'admin on' line: server started without an admin listener"
	timeout "$WAIT_SECS" curl -sS --max-time "$WAIT_SECS" "http://127.0.0.1:$ADMIN_PORT$1"
}

# metric FILE NAME [LABEL_TEXT]: the sum of the values of the Prometheus
# samples NAME or NAME{...} in FILE whose labels contain LABEL_TEXT.
metric() {
	awk -v n="$2" -v l="${3:-}" '
		$1 == n || index($1, n "{") == 1 {
			if (l == "" || index($1, l) > 0) { v += $2; f = 1 }
		}
		END { if (f) print v + 0; else print "none" }' "$1"
}

# expect_metric FILE NAME VALUE [LABEL_TEXT]: metric must equal VALUE.
expect_metric() {
	got=$(metric "$1" "$2" "${4:-}")
	[ "$got" = "$3" ] || fail "metric $2${4:+ [$4]}: got $got, want $3; metrics:
$(grep -v '^#' "$1")"
}

# expect_line FILE TEXT: FILE must contain the exact line TEXT.
expect_line() {
	grep -qxF -- "$2" "$1" || fail "no line '$2' in output:
$(cat "$1")"
}

# count_of FN: how often the test PKCS#11 module saw FN (0 if never).
count_of() {
	[ -f "$COUNTS" ] || { echo 0; return 0; }
	awk -v fn="$1" '$1 == fn { n = $2 } END { print n + 0 }' "$COUNTS"
}

# use_testp11: route the server's PKCS#11 calls through the counting
# module; sets COUNTS and TESTP11_ARGS (add "$TESTP11_ARGS" to the server).
use_testp11() {
	need_file HSMTLS_TESTP11
	need_file SOFTHSM_MODULE
	COUNTS=$tmp/counts
	HSMTLS_TESTP11_MODULE=$SOFTHSM_MODULE
	HSMTLS_TESTP11_COUNTS=$COUNTS
	export HSMTLS_TESTP11_MODULE HSMTLS_TESTP11_COUNTS
}

# In both key modes this runs the server with the module in it: what is
# tested is the server's own start-up refusal (the daemon's are tested
# with the daemon, t90-t97).
# expect_startup_failure WORD_REGEX ARGS...: the server (on
# 127.0.0.1:0 unless ARGS has --listen) must refuse to start: exit status 1, exactly one line on stderr, matching
# "hsmtls-server: " and the extended regex WORD_REGEX (case-insensitive),
# and no "listening on" line.
expect_startup_failure() {
	want=$1
	shift
	err=$tmp/refused-$(date +%s%N).err
	st=0
	if server_has_listen "$@"; then
		timeout "$WAIT_SECS" "$HSMTLS_SERVER" "$@" </dev/null >/dev/null 2>"$err" || st=$?
	else
		timeout "$WAIT_SECS" "$HSMTLS_SERVER" --listen 127.0.0.1:0 "$@" \
		    </dev/null >/dev/null 2>"$err" || st=$?
	fi
	[ "$st" -ne 124 ] || fail "server did not exit within ${WAIT_SECS}s (it should refuse to start): $*"
	[ "$st" -eq 1 ] || fail "exit status: got $st, want 1; stderr: $(cat "$err")"
	lines=$(wc -l <"$err")
	[ "$lines" -eq 1 ] || fail "stderr lines: got $lines, want 1:
$(cat "$err")"
	grep -q '^hsmtls-server: ' "$err" || fail "stderr '$(cat "$err")' does not start with 'hsmtls-server: '"
	grep -qEi -- "$want" "$err" || fail "stderr '$(cat "$err")' does not name the cause (want /$want/)"
	grep -q 'listening on' "$err" && fail "server printed 'listening on' although it must refuse"
	# shellcheck disable=SC2034 # read by the calling test
	REFUSAL=$(cat "$err")
	return 0
}

# handshakes N ARGS...: N full handshakes, each a fresh s_client process
# (no session to resume), each of which must verify.
handshakes() {
	n=$1
	shift
	i=0
	while [ "$i" -lt "$n" ]; do
		st=0
		s_client "$@" >"$tmp/handshake.out" || st=$?
		[ "$st" -eq 0 ] || fail "handshake $((i + 1)) of $n ($*): s_client exit status $st"
		grep -qx 'Verification: OK' "$tmp/handshake.out" ||
			fail "handshake $((i + 1)) of $n ($*): certificate not verified"
		grep -q '^Reused,' "$tmp/handshake.out" &&
			fail "handshake $((i + 1)) of $n ($*): session was resumed"
		i=$((i + 1))
	done
	return 0
}

# signs_once_per_handshake TYPE: every full handshake costs exactly one
# C_Sign on the token (the server holds no software copy of the key), and
# ECDHE key exchange never decrypts.
signs_once_per_handshake() {
	use_testp11
	setup_server_key "$1"
	start_server --module "$HSMTLS_TESTP11" --cert "$CERT" --key "$KEY_URI" \
	    --pin-file "$PIN_FILE" --root "$ROOT"
	base=$(count_of C_Sign)
	# The start-up self-test signs once through the module: proves the
	# counting module is really in the server's path.
	[ "$base" -ge 1 ] || fail "C_Sign after start-up: got $base, want >= 1 (self-test through the test module)"
	[ "$(count_of C_Login)" -eq 1 ] || fail "C_Login after start-up: got $(count_of C_Login), want 1"

	handshakes 10 -tls1_3
	now=$(count_of C_Sign)
	[ $((now - base)) -eq 10 ] || fail "C_Sign for 10 TLS 1.3 handshakes: got $((now - base)), want 10"

	base=$now
	case $1 in
	ec:*) cipher=ECDHE-ECDSA-AES128-GCM-SHA256 ;;
	rsa:*) cipher=ECDHE-RSA-AES128-GCM-SHA256 ;;
	esac
	handshakes 5 -tls1_2 -cipher "$cipher"
	now=$(count_of C_Sign)
	[ $((now - base)) -eq 5 ] || fail "C_Sign for 5 TLS 1.2 $cipher handshakes: got $((now - base)), want 5"

	[ "$(count_of C_Decrypt)" -eq 0 ] || fail "C_Decrypt: got $(count_of C_Decrypt), want 0 (ECDHE only)"
	[ "$(count_of C_Login)" -eq 1 ] || fail "C_Login after handshakes: got $(count_of C_Login), want 1"
	stop_server_ok
}

# use_faults: like use_testp11, plus an (empty) fault control file
# $CONTROL that the test module re-reads whenever it changes.
use_faults() {
	use_testp11
	CONTROL=$tmp/control
	: >"$CONTROL"
	HSMTLS_TESTP11_CONTROL=$CONTROL
	export HSMTLS_TESTP11_CONTROL
}

# set_faults TEXT: replace the control file atomically (write, rename).
set_faults() {
	printf '%s\n' "$1" >"$CONTROL.new"
	mv -f "$CONTROL.new" "$CONTROL"
}

# handshake_ok [ARGS...]: one full handshake; true when it verified.
handshake_ok() {
	s_client "$@" >"$tmp/handshake.out" 2>&1 &&
		grep -qx 'Verification: OK' "$tmp/handshake.out" &&
		grep -q '^New, TLSv1\.[23], Cipher is ' "$tmp/handshake.out"
}

# field NAME FILE: the value of NAME=VALUE in the one-line report of the
# bench tools (hsbench, kaprobe).
field() {
	tr ' ' '\n' <"$2" | awk -F= -v k="$1" '$1 == k { print $2; exit }'
}

# TIME_SCALE: timing bounds are multiplied by this in slow builds
# (sanitizers set HSMTLS_TIME_SCALE); the measured values are printed.
TIME_SCALE=${HSMTLS_TIME_SCALE:-1}

# now_ms: the wall clock in milliseconds, for timings.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# within_ms VALUE_MS BOUND_MS: true when VALUE <= BOUND x TIME_SCALE.
within_ms() {
	awk -v v="$1" -v b="$2" -v s="$TIME_SCALE" 'BEGIN { exit !(v <= b * s) }'
}
