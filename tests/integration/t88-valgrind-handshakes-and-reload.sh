#!/bin/bash
# t88 (check-slow): hsmtls-server under valgrind --leak-check=full, once
# with the module in the server and once through the key daemon: 500 full
# handshakes, a reload (SIGHUP), 500 more, then SIGTERM.  valgrind must
# report no error and no definitely lost block (its exit status says so:
# --error-exitcode), and the server must exit 0.  Runs where openat2()
# is missing, as under valgrind: the document root is walked instead.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool valgrind
need_file HSMTLS_BENCH

setup_server_key ec:P-256
write_conf "$tmp/hsmtls.conf" 'admin-listen 127.0.0.1:0;'
REAL_SERVER=$HSMTLS_SERVER
{
	echo '#!/bin/sh'
	# --max-stackframe: OpenSSL's async jobs run on 32 KiB stacks of
	# their own, allocated near the thread's arena; for an event loop
	# other than the main thread's, the switch to one is then less than
	# valgrind's default 2 MB away, so it takes it for a stack that grew
	# and reports every read of the job's saved context (in setcontext)
	# as invalid.  ASan and TSan, which know these switches, cover them.
	echo "exec valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \\"
	echo "    --max-stackframe=65536 \\"
	echo "    --error-exitcode=9 --log-file='$tmp/valgrind-%p.log' \\"
	echo "    '$REAL_SERVER' \"\$@\""
} >"$tmp/vg-server"
chmod +x "$tmp/vg-server"
HSMTLS_SERVER=$tmp/vg-server
WAIT_SECS=$((WAIT_SECS * 4))

# leg MODE: the run above in key mode MODE.
leg() {
	key_mode "$1"
	start_server_conf "$tmp/hsmtls.conf"
	vlog=$tmp/valgrind-$SERVER_PID.log
	[ -e "$vlog" ] || fail "$1: the server does not run under valgrind ($vlog missing)"
	"$HSMTLS_BENCH" --connect "127.0.0.1:$PORT" --cafile "$CERT" --requests 500 \
	    --concurrency 2 >"$tmp/load1.out" 2>&1 || fail "$1: first 500: $(tail -2 "$tmp/load1.out")"
	reload_server
	wait_log 'reloaded: configuration 2 ' 1
	"$HSMTLS_BENCH" --connect "127.0.0.1:$PORT" --cafile "$CERT" --requests 500 \
	    --concurrency 2 >"$tmp/load2.out" 2>&1 || fail "$1: second 500: $(tail -2 "$tmp/load2.out")"
	for f in "$tmp/load1.out" "$tmp/load2.out"; do
		grep -q ' errors=0 ' "$f" || fail "$1: handshakes failed: $(cat "$f")"
	done
	stop_server
	[ "$SERVER_STATUS" -eq 0 ] || fail "$1: exit status $SERVER_STATUS under valgrind: $(cat "$vlog")"
	! grep -q 'definitely lost: [1-9]' "$vlog" || fail "$1: leaks: $(cat "$vlog")"
	grep -q 'openat2() is not available' "$SERVER_LOG" ||
		echo "$1: (openat2() worked under this valgrind)"
	echo "$1: 1000 handshakes and a reload under valgrind: no error, no leak"
}
leg inproc
leg keyd
