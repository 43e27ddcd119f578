#!/bin/bash
# t78: the access log has one line per request in the combined format
# followed by the TLS version, cipher, SNI, resumed flag, request time and
# site, with client data escaped; the error log has a UTC timestamp and a
# level on every line after start-up, honours log-level, and records
# start, failed handshakes, reloads and the stop.  Both are reopened on
# SIGUSR1 and SIGHUP (logrotate: rename, signal, new file).
. "$(dirname "$0")/lib.sh"
need_tool openssl curl

setup_server_key ec:P-256
C=$tmp/hsmtls.conf
write_conf() {
	cat >"$C" <<EOF
listen 127.0.0.1:0;
access-log $tmp/access.log;
error-log $tmp/error.log;
log-level $1;
token $TOKEN_LABEL { pin-file $PIN_FILE; }
site www { server-name localhost; root $ROOT; key "$KEY_URI" $CERT; }
EOF
}
write_conf info
start_server_conf "$C"
TS='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z (error|warn|info|debug) '

# Test: HTTP/1.1 requests (t106 checks the HTTP/2.0 lines), with a referer
# and a user agent holding a quote.
fetch /file.txt --http1.1 -A 'agent "x"' -e 'https://ref.test/' >/dev/null
[ "$(http_code /missing --http1.1)" = 404 ] || fail "GET /missing: want 404"
printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
	timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
	    -CAfile "$CERT" -ign_eof -sess_out "$tmp/sess" >/dev/null 2>&1
printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
	timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
	    -CAfile "$CERT" -ign_eof -sess_in "$tmp/sess" >/dev/null 2>&1
i=0
while [ "$(wc -l <"$tmp/access.log" 2>/dev/null || echo 0)" -lt 4 ]; do
	i=$((i + 1)); [ "$i" -lt $((WAIT_SECS * 10)) ] || fail "access log: $(cat "$tmp/access.log" 2>&1)"
	sleep 0.1
done
size=$(wc -c <"$ROOT/file.txt")
line=$(sed -n 1p "$tmp/access.log")
echo "$line" | grep -Eq "^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] \"GET /file.txt HTTP/1.1\" 200 $size \"https://ref.test/\" \"agent \\\\x22x\\\\x22\" tls=TLSv1.3 cipher=TLS_[A-Z0-9_]+ sni=localhost resumed=0 rt=[0-9]+\.[0-9]{3} site=www\$" ||
	fail "access log line 1: '$line'"
sed -n 2p "$tmp/access.log" | grep -q '"GET /missing HTTP/1.1" 404 ' || fail "access log line 2: $(sed -n 2p "$tmp/access.log")"
sed -n 3p "$tmp/access.log" | grep -q ' resumed=0 ' || fail "access log line 3: $(sed -n 3p "$tmp/access.log")"
sed -n 4p "$tmp/access.log" | grep -q ' resumed=1 ' || fail "access log line 4 (resumed): $(sed -n 4p "$tmp/access.log")"

# Test: a failed handshake is in the error log, with a timestamp and level.
timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 \
    -cipher 'AES128-SHA' </dev/null >/dev/null 2>&1 || true
i=0
until grep -q 'handshake with 127.0.0.1 failed' "$tmp/error.log" 2>/dev/null; do
	i=$((i + 1)); [ "$i" -lt $((WAIT_SECS * 10)) ] || fail "no failed handshake in the error log: $(cat "$tmp/error.log")"
	sleep 0.1
done
grep -Eq "${TS}serving 1 site " "$tmp/error.log" || fail "no start line: $(cat "$tmp/error.log")"
bad=$(grep -Evc "$TS" "$tmp/error.log" || true)
[ "$bad" -eq 0 ] || fail "$bad error log lines without timestamp and level: $(cat "$tmp/error.log")"
grep -q 'listening on' "$SERVER_LOG" || fail "the start-up line must stay on stderr"

# Test: logrotate: rename both files, SIGUSR1, new lines go to new files.
mv "$tmp/access.log" "$tmp/access.log.1"
mv "$tmp/error.log" "$tmp/error.log.1"
kill -USR1 "$SERVER_PID"
sleep 0.3
fetch /file.txt --http1.1 >/dev/null
i=0
until [ -s "$tmp/access.log" ]; do
	i=$((i + 1)); [ "$i" -lt $((WAIT_SECS * 10)) ] || fail "no new access log after SIGUSR1"
	sleep 0.1
done
[ "$(wc -l <"$tmp/access.log.1")" -eq 4 ] || fail "the rotated access log grew after SIGUSR1"
grep -q '"GET /file.txt HTTP/1.1" 200' "$tmp/access.log" || fail "new access log: $(cat "$tmp/access.log")"

# Test: SIGHUP reopens too, and log-level warn drops info lines.
write_conf warn
mv "$tmp/access.log" "$tmp/access.log.2"
reload_server
wait_log 'reloaded: configuration 2' 1 "$tmp/error.log"
fetch /file.txt --http1.1 >/dev/null
i=0
until [ -s "$tmp/access.log" ]; do
	i=$((i + 1)); [ "$i" -lt $((WAIT_SECS * 10)) ] || fail "no new access log after SIGHUP"
	sleep 0.1
done
stop_server_ok
grep -Eq "${TS}reloading \(SIGHUP\)" "$tmp/error.log" || fail "no reload line in the reopened error log: $(cat "$tmp/error.log")"
! grep -q 'stopping:' "$tmp/error.log" || fail "log-level warn still wrote info lines: $(cat "$tmp/error.log")"

# Test: the command line's --log-file gets the same lines: start, a failed
# handshake, the stop; stderr keeps only the start-up line.
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT" \
    --log-file "$tmp/cli.log"
timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 \
    -cipher 'AES128-SHA' </dev/null >/dev/null 2>&1 || true
stop_server_ok
for want in 'serving 1 site' 'handshake with 127.0.0.1 failed' 'stopping: no new connections' 'stopped$'; do
	grep -Eq "${TS}.*$want" "$tmp/cli.log" || fail "--log-file has no '$want' line: $(cat "$tmp/cli.log")"
done
! grep -Eq 'serving 1 site|handshake with|stopping|stopped' "$SERVER_LOG" ||
	fail "log lines on stderr instead of --log-file: $(cat "$SERVER_LOG")"
