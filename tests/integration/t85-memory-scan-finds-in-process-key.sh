#!/bin/bash
# t85: the memory-scan check of the key custody work, in the mode that
# must fail it.  A known RSA-2048 key, made here and imported into the
# SoftHSM token, serves TLS while 8 clients make full handshakes; the live
# memory of hsmtls-server (/proc/PID/maps + /proc/PID/mem) is scanned for
# the private exponent, both primes and the CRT values, in big- and
# little-endian order.  With the module loaded in the server (today's
# only mode) the scan finds them, and the server's maps list the PKCS#11
# module: this proves the scanner works, so the same scan against the
# key daemon mode (not built yet) can be trusted when it finds nothing.
. "$(dirname "$0")/lib.sh"
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
		split("privateExponent:d prime1:p prime2:q exponent1:dp exponent2:dq coefficient:qinv", m, " ")
		for (i in m) {
			split(m[i], kv, ":")
			h = v[kv[1]]
			sub(/^00/, "", h)
			if (h != "") print kv[2], h
		}
	}' >"$tmp/patterns"
[ "$(wc -l <"$tmp/patterns")" -eq 6 ] || hard_error "could not read the key's numbers: $(cat "$tmp/patterns")"
rm -f "$tmp/key.pem"

start_server --cert "$CERT" --key "pkcs11:token=$TOKEN_LABEL;object=known;type=private" \
    --pin-file "$PIN_FILE" --root "$ROOT" --allow-imported-key
grep -q 'libsofthsm2' "/proc/$SERVER_PID/maps" || fail "the in-process server's maps list no PKCS#11 module"

"$HSMTLS_BENCH" --connect "127.0.0.1:$PORT" --cafile "$CERT" --concurrency 8 \
    --duration $((20 * TIME_SCALE)) --tls 1.3 >"$tmp/load.out" 2>&1 &
LOAD=$!
BG_PIDS=$LOAD
sleep 1
found=0 scans=0
while [ "$scans" -lt 8 ] && kill -0 "$LOAD" 2>/dev/null; do
	scans=$((scans + 1))
	python3 "$srcdir/integration/memscan.py" "$SERVER_PID" "$tmp/patterns" 2 0.1 >"$tmp/scan.out" ||
		hard_error "memscan failed: $(cat "$tmp/scan.out")"
	found=$(sed -n 's/.*found \([0-9]*\) of 6$/\1/p' "$tmp/scan.out")
	[ "${found:-0}" -ge 3 ] && break
done
kill "$LOAD" 2>/dev/null || true
wait "$LOAD" 2>/dev/null || true
BG_PIDS=""
cat "$tmp/scan.out"
echo "in-process: $found of 6 secret numbers found in the server's memory after $scans scan(s)"
[ "${found:-0}" -ge 3 ] ||
	fail "in-process mode: the scan found only ${found:-0} of the key's 6 secret numbers in $scans scans; the scanner does not see what it must"
stop_server_ok
