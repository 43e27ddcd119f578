#!/bin/bash
# t27: the PIN is only where it is needed.  Through the key daemon: the
# daemon holds it in a locked page (VmLck), and neither process has it in
# its command line or environment, nor in any log line, across
# handshakes, a reload and a stop; the server's memory never had it (t85
# scans it).  In-process: the server holds it locked, and a wrong PIN's
# refusal does not print the PIN it tried.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool openssl

setup_server_key ec:P-256
PIN=$(head -n1 "$PIN_FILE")
[ "${#PIN}" -ge 8 ] || hard_error "the test token's PIN is too short to search for"
write_conf "$tmp/hsmtls.conf" ''

# no_pin WHAT FILE: FILE (a /proc file or a log) does not hold the PIN.
no_pin() {
	! grep -aqF -- "$PIN" "$2" || fail "$1 holds the PIN"
}
locked_kb() { sed -n 's/^VmLck:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$1/status"; }
# expect_locked WHO PID: PID has locked memory (the PIN page), except in
# a sanitizer build, whose mlock() does nothing (AddressSanitizer ignores
# it; such a process maps terabytes of shadow, VmSize tells).
expect_locked() {
	vm=$(sed -n 's/^VmSize:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$2/status")
	if [ "${vm:-0}" -gt $((64 * 1024 * 1024)) ]; then
		echo "$1: a sanitizer build (its mlock does nothing): VmLck not checked"
		return 0
	fi
	[ "$(locked_kb "$2")" -ge 4 ] ||
		fail "$1 locks no memory for its PIN (VmLck $(locked_kb "$2") kB)"
}

key_mode keyd
start_server_conf "$tmp/hsmtls.conf"
handshakes 3 -tls1_3
reload_server
wait_log 'reloaded: configuration 2 ' 1
handshakes 2 -tls1_2
for p in "$SERVER_PID" "$AUTO_KEYD_PID"; do
	no_pin "the command line of $p" "/proc/$p/cmdline"
	no_pin "the environment of $p" "/proc/$p/environ"
done
expect_locked "the daemon" "$AUTO_KEYD_PID"
stop_server_ok
stop_auto_keyd
no_pin "the server's log" "$SERVER_LOG"
no_pin "the daemon's log" "$AUTO_KEYD_LOG"
echo "keyd mode: no PIN in argv, environ or logs; the daemon's PIN page is locked"

# In-process: the server holds the PIN locked.
key_mode inproc
start_server_conf "$tmp/hsmtls.conf"
expect_locked "the in-process server" "$SERVER_PID"
no_pin "the in-process server's environment" "/proc/$SERVER_PID/environ"
stop_server_ok
no_pin "the in-process server's log" "$SERVER_LOG"

# A wrong PIN: refused once, and the message does not carry it.
WRONG=wrong-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$WRONG" >"$tmp/wrong.pin"
chmod 600 "$tmp/wrong.pin"
expect_startup_failure 'PIN|login|incorrect' --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$tmp/wrong.pin" --root "$ROOT"
! grep -aqF -- "$WRONG" "$err" || fail "the wrong PIN's refusal prints the PIN: $(cat "$err")"
echo "in-process: PIN page locked; a wrong PIN is refused without printing it"
