#!/bin/bash
# t77: `user NAME`: the server binds and reads its PIN file as root, then
# runs as NAME -- every PKCS#11 call included -- and stays non-dumpable
# (its /proc entries stay root's).  shutdown-timeout bounds the drain at
# SIGTERM: a client that reads a large file very slowly does not hold the
# exit past it, and the exit status is 0.
. "$(dirname "$0")/lib.sh"
need_tool openssl curl
[ "$(id -u)" -eq 0 ] || skip "needs root to switch users"
id nobody >/dev/null 2>&1 || skip "no user 'nobody'"

setup_server_key ec:P-256
# The token's files must be the new user's; the PIN file stays root's 0600.
chmod 0755 "$tmp"
chown -R nobody "$TOKEN_DIR"
chown root "$PIN_FILE"
chmod 0600 "$PIN_FILE"
head -c 24000000 /dev/zero >"$ROOT/big.bin"
chmod -R a+rX "$ROOT" "$CERT"
C=$tmp/hsmtls.conf
cat >"$C" <<EOF
listen 127.0.0.1:0;
user nobody;
shutdown-timeout 1s;
token $TOKEN_LABEL { pin-file $PIN_FILE; }
site www { server-name localhost; root $ROOT; key "$KEY_URI" $CERT; }
EOF
start_server_conf "$C"

# Test: the process runs as nobody, and is not dumpable.
uid=$(awk '/^Uid:/ { print $2 "," $3 "," $4 "," $5 }' "/proc/$SERVER_PID/status")
[ "$uid" = "65534,65534,65534,65534" ] || fail "server uids (real, effective, saved, fs): $uid, want nobody's"
gid=$(awk '/^Gid:/ { print $2 "," $3 }' "/proc/$SERVER_PID/status")
[ "$gid" = "65534,65534" ] || fail "server gids: $gid, want nogroup"
[ "$(stat -c %u "/proc/$SERVER_PID/status")" = 0 ] ||
	fail "/proc/$SERVER_PID is owned by uid $(stat -c %u "/proc/$SERVER_PID/status"): the process is dumpable"
# Test: the token works after the switch (login and signatures as nobody).
handshakes 2 -tls1_3
[ "$(fetch /file.txt)" = "plain text file" ] || fail "GET /file.txt as nobody failed"

# Test: SIGTERM with a slow download in flight: exit 0 after about 1 s.
curl_srv --limit-rate 20k -o /dev/null "$(url /big.bin)" 2>/dev/null &
SLOW=$!
BG_PIDS=$SLOW
sleep 1
t0=$(date +%s%N)
stop_server TERM
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$SERVER_STATUS" -eq 0 ] || fail "exit status after SIGTERM with a slow client: $SERVER_STATUS, want 0"
echo "stopped ${ms} ms after SIGTERM with a slow client in flight (shutdown-timeout 1s)"
within_ms "$ms" 3000 || fail "stop took ${ms} ms, want about 1000 (shutdown-timeout 1s)"
[ "$ms" -ge 900 ] || fail "stop took ${ms} ms: the in-flight download was not given its drain time"
grep -q "shutdown-timeout reached" "$SERVER_LOG" || fail "no log line for the drain bound: $(cat "$SERVER_LOG")"
