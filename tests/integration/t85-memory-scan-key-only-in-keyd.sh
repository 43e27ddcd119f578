#!/bin/bash
# t85: proof by memory scan.  A known RSA-2048 key, made here and
# imported into the SoftHSM token, serves TLS while 8 clients make full
# handshakes; the live memory of hsmtls-server (/proc/PID/maps +
# /proc/PID/mem) is scanned several times for the private exponent, both
# primes and the CRT values, in big- and little-endian order, and for the
# PIN.  With the module loaded in the server the scan finds the key (so
# the check can fail); with the key daemon (`keyd PATH;`) it finds none of
# it, nor the PIN, while the daemon's own memory has the key (the scan
# sees what it must), and the server's maps list no PKCS#11 module.
# A core dump of the server (gcore) taken under the same load holds none
# of it either, while it holds the key's public modulus (so the dump has
# the server's heap and the search works on it).
. "$(dirname "$0")/lib.sh"
# The subject: its first half scans an in-process server (it starts the daemon half itself).
key_mode inproc
. "$(dirname "$0")/keyd-lib.sh"
need_tool openssl python3 softhsm2-util
need_file HSMTLS_BENCH
[ "$(id -u)" -eq 0 ] || [ "$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo 0)" = 0 ] ||
	skip "reading another process's memory needs root or ptrace_scope 0"

make_token
make_root
# The test key: made now, never stored outside $tmp.
openssl genrsa -out "$tmp/key.pem" 2048 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$tmp/key.pem" -out "$tmp/key8.pem"
# softhsm2-util takes the PIN only as an argument: this throwaway token's.
softhsm2-util --import "$tmp/key8.pem" --token "$TOKEN_LABEL" --label known \
    --id 0a --pin "$(cat "$PIN_FILE")" >"$tmp/import.out" 2>&1 ||
	fail "import of the test key failed: $(cat "$tmp/import.out")"
rm -f "$tmp/key8.pem"
openssl req -new -x509 -key "$tmp/key.pem" -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 2 -out "$tmp/cert.pem" 2>/dev/null
CERT=$tmp/cert.pem

# The secret numbers, as hex, one per line: "NAME HEX".
openssl rsa -in "$tmp/key.pem" -noout -text 2>/dev/null | awk '
	/^[a-zA-Z0-9]+:/ { name = $1; sub(":", "", name); next }
	/^    / { gsub(/[ :]/, ""); v[name] = v[name] $0 }
	END {
		split("privateExponent:d prime1:p prime2:q exponent1:dp exponent2:dq coefficient:qinv modulus:n", m, " ")
		for (i in m) {
			split(m[i], kv, ":")
			h = v[kv[1]]
			sub(/^00/, "", h)
			if (h != "") print kv[2], h
		}
	}' >"$tmp/numbers"
grep -v '^n ' "$tmp/numbers" >"$tmp/patterns"
grep '^n ' "$tmp/numbers" >"$tmp/public-pattern"
[ "$(wc -l <"$tmp/patterns")" -eq 6 ] && [ -s "$tmp/public-pattern" ] ||
	hard_error "could not read the key's numbers: $(cat "$tmp/numbers")"
rm -f "$tmp/key.pem"
# The PIN too, as text (the scanner searches hex of its bytes).
printf 'pin %s\n' "$(tr -d '\n' <"$PIN_FILE" | od -An -tx1 | tr -d ' \n')" >"$tmp/pin-pattern"

start_server --cert "$CERT" --key "pkcs11:token=$TOKEN_LABEL;object=known;type=private" \
    --pin-file "$PIN_FILE" --root "$ROOT" --allow-imported-key
grep -q 'libsofthsm2' "/proc/$SERVER_PID/maps" || fail "the in-process server's maps list no PKCS#11 module"

# scan_under_load PID SCANS PATTERNS: 8 clients of full handshakes while
# PID's memory is scanned up to SCANS times (stopping once 3 numbers are
# found); sets FOUND (of the PATTERNS file's names) and SCANS_DONE.
scan_under_load() {
	"$HSMTLS_BENCH" --connect "127.0.0.1:$PORT" --cafile "$CERT" --concurrency 8 \
	    --duration $((20 * TIME_SCALE)) --tls 1.3 >"$tmp/load.out" 2>&1 &
	LOAD=$!
	BG_PIDS="$BG_PIDS $LOAD"
	sleep 1
	FOUND=0 SCANS_DONE=0
	while [ "$SCANS_DONE" -lt "$2" ] && kill -0 "$LOAD" 2>/dev/null; do
		SCANS_DONE=$((SCANS_DONE + 1))
		python3 "$srcdir/integration/memscan.py" "$1" "$3" 2 0.1 >"$tmp/scan.out" ||
			hard_error "memscan failed: $(cat "$tmp/scan.out")"
		FOUND=$(sed -n 's/.*found \([0-9]*\) of [0-9]*$/\1/p' "$tmp/scan.out")
		[ "${FOUND:-0}" -ge 3 ] && break
	done
	kill "$LOAD" 2>/dev/null || true
	wait "$LOAD" 2>/dev/null || true
	cat "$tmp/scan.out"
}

# core_under_load PID NAME: a core dump of PID (gcore) taken while 8
# clients make full handshakes; sets CORE (the file), or "" when the core
# dump part cannot run here (no gcore, or a sanitizer build whose shadow
# memory would be dumped: its normal build runs it).
core_under_load() {
	CORE=""
	if ! command -v gcore >/dev/null 2>&1; then
		echo "core dump: no gcore (package gdb) here: skipped"
		return 0
	fi
	vm=$(sed -n 's/^VmSize:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$1/status")
	if [ "${vm:-0}" -gt $((64 * 1024 * 1024)) ]; then
		echo "core dump: $2 maps ${vm} kB (a sanitizer's shadow): skipped in this build"
		return 0
	fi
	"$HSMTLS_BENCH" --connect "127.0.0.1:$PORT" --cafile "$CERT" --concurrency 8 \
	    --duration $((10 * TIME_SCALE)) --tls 1.3 >"$tmp/load-core.out" 2>&1 &
	LOAD=$!
	BG_PIDS="$BG_PIDS $LOAD"
	sleep 1
	timeout $((WAIT_SECS * 2)) gcore -o "$tmp/core-$2" "$1" >"$tmp/gcore-$2.out" 2>&1 ||
		hard_error "gcore of the $2 server failed: $(tail -5 "$tmp/gcore-$2.out")"
	kill "$LOAD" 2>/dev/null || true
	wait "$LOAD" 2>/dev/null || true
	CORE=$tmp/core-$2.$1
	[ -s "$CORE" ] || hard_error "gcore wrote no $CORE: $(tail -5 "$tmp/gcore-$2.out")"
	# The dump must hold the server's heap: the public modulus is in it.
	python3 "$srcdir/integration/memscan.py" --file "$CORE" "$tmp/public-pattern" >"$tmp/core-pub.out" ||
		hard_error "memscan of $CORE failed: $(cat "$tmp/core-pub.out")"
	grep -q 'found 1 of 1$' "$tmp/core-pub.out" ||
		fail "the $2 server's core dump lacks the key's public modulus: the dump or its search is broken: $(cat "$tmp/core-pub.out")"
}

# Test: in-process, the scan finds the key.
scan_under_load "$SERVER_PID" 20 "$tmp/patterns"
echo "in-process: $FOUND of 6 secret numbers found in the server's memory after $SCANS_DONE scan(s)"
[ "${FOUND:-0}" -ge 3 ] ||
	fail "in-process mode: the scan found only ${FOUND:-0} of the key's 6 secret numbers in $SCANS_DONE scans; the scanner does not see what it must"
# The in-process server keeps the PIN (locked) for re-login: the PIN
# pattern must be found there, or the keyd check of it proves nothing.
python3 "$srcdir/integration/memscan.py" "$SERVER_PID" "$tmp/pin-pattern" 1 >"$tmp/pinscan.out"
grep -q 'found 1 of 1$' "$tmp/pinscan.out" || fail "in-process mode: the PIN was not found: the PIN pattern is wrong: $(cat "$tmp/pinscan.out")"
stop_server_ok

# Test: with the key daemon, the server's memory holds none of the key and
# not the PIN, and maps no module; the daemon's memory holds the key.
C=$tmp/hsmtls.conf
keyd_conf "$C" "listen 127.0.0.1:0;
admin-listen 127.0.0.1:0;
allow-imported-key on;
site www {
    server-name localhost;
    root $ROOT;
    key \"pkcs11:token=$TOKEN_LABEL;object=known;type=private\" $CERT;
}"
start_keyd -c "$C"
"$HSMTLS_SERVER" -c "$C" </dev/null >"$tmp/server-stdout.out" 2>"$tmp/server-keyd.log" &
SERVER_PID=$!
SERVER_LOG=$tmp/server-keyd.log
wait_listening
! grep -q 'libsofthsm2' "/proc/$SERVER_PID/maps" || fail "keyd mode: the server maps the PKCS#11 module"
cat "$tmp/patterns" "$tmp/pin-pattern" >"$tmp/all-patterns"
scan_under_load "$SERVER_PID" 6 "$tmp/all-patterns"
echo "keyd mode: $FOUND of 7 secrets (6 numbers and the PIN) found in the server's memory after $SCANS_DONE scans"
[ "${FOUND:-0}" -eq 0 ] || fail "keyd mode: the server's memory holds key material or the PIN: $(grep '^found' "$tmp/scan.out")"
admin_get /metrics >"$tmp/metrics.out"
hs=$(metric "$tmp/metrics.out" hsmtls_handshakes_total 'result="ok"')
echo "keyd mode: $hs full handshakes during the scans"
[ "$hs" -ge 100 ] || fail "keyd mode: only $hs handshakes while scanning: the scan ran without load"
# Test: a core dump of the keyd-mode server holds none of it either.
core_under_load "$SERVER_PID" keyd
if [ -n "$CORE" ]; then
	python3 "$srcdir/integration/memscan.py" --file "$CORE" "$tmp/all-patterns" >"$tmp/core-keyd.out"
	echo "keyd mode core dump ($(stat -c %s "$CORE") bytes): $(tail -n1 "$tmp/core-keyd.out")"
	grep -q 'found 0 of 7$' "$tmp/core-keyd.out" ||
		fail "keyd mode: the server's core dump holds key material or the PIN: $(cat "$tmp/core-keyd.out")"
	rm -f "$CORE"
fi
scan_under_load "$KEYD_PID" 20 "$tmp/patterns"
echo "keyd mode: $FOUND of 6 secret numbers found in the daemon's memory"
[ "${FOUND:-0}" -ge 3 ] || fail "keyd mode: the scan finds the key in the daemon only ${FOUND:-0} times: it does not see what it must"
stop_server_ok
stop_keyd
