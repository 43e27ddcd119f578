#!/bin/bash
# t101: a site with "upstream" instead of "root" passes each TLS
# connection's decrypted bytes to its backend and back: a Python
# http.server over TCP and over a Unix socket serves its page through
# hsmtls; a 100 MiB upload (hashed by the backend) and a 100 MiB download
# arrive intact (SHA-256); 200 proxied connections are open at once (the
# backend answers none until all 200 requests are in) and all succeed.
# /metrics counts the connections and the bytes each way; the access log
# has one line per proxied connection with the backend and the bytes.
# The one-site flags --upstream work too, and a reload switches the site
# between upstream and root while a proxied pair keeps its backend.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/upstream-lib.sh"
need_tool curl sha256sum

setup_server_key ec:P-256
start_backend http tcp
TCP_PORT=$BACKEND
start_backend http "unix:$tmp/backend.sock"
C=$tmp/hsmtls.conf
upstream_conf "$C" "	upstream tcp:127.0.0.1:$TCP_PORT;"
start_server_conf "$C"

# Test: the backend's page, through hsmtls.
body=$(fetch /) || fail "GET / through the upstream failed"
case $body in "hello from the backend "*) ;; *) fail "GET /: got '$body'" ;; esac
TCP_PAGE=$body

# Test: 100 MiB down, checked by SHA-256.
N=$((100 * 1024 * 1024))
want=$(PYTHONPATH=$UP_DIR python3 -c "import backend; print(backend.stream_sha256($N))" 2>&1) ||
	hard_error "stream_sha256: $want"
got=$(fetch "/big/$N" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "100 MiB download: sha256 $got, want $want"

# Test: 100 MiB up (a streamed POST), hashed by the backend.
head -c "$N" /dev/urandom >"$tmp/up.bin"
want=$(sha256sum "$tmp/up.bin" | cut -d' ' -f1)
got=$(fetch /hash -X POST -T "$tmp/up.bin") || fail "100 MiB upload failed"
[ "$got" = "$want" ] || fail "100 MiB upload: backend hashed $got, want $want"
rm -f "$tmp/up.bin"

# Test: 200 proxied connections at once; the backend holds every answer
# until all 200 requests have arrived, so all 200 pairs are open together.
pyc <<'PY' || fail "200 concurrent proxied connections"
import asyncio, os, ssl, sys
port, n = int(os.environ["PORT"]), 200
ctx = ssl.create_default_context(cafile=os.environ["CERT"])

async def one(i):
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                         server_hostname="localhost")
    w.write(b"GET /barrier/%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % n)
    data = await r.read()
    w.close()
    return data

async def main():
    got = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n)),
                                 return_exceptions=True), 120)
    bad = [g for g in got if isinstance(g, Exception) or
           not g.startswith(b"HTTP/1.1 200 ") or
           not g.endswith(b"together %d\n" % n)]
    print("%d of %d concurrent proxied connections answered" % (n - len(bad), n))
    if bad:
        print("first failure: %r" % (bad[0],), file=sys.stderr)
        sys.exit(1)

asyncio.run(main())
PY

# Test: the counters and one access log line per proxied connection.
admin_get /metrics >"$tmp/metrics.out"
conns=$(metric "$tmp/metrics.out" hsmtls_upstream_connections_total)
[ "$conns" -ge 203 ] || fail "hsmtls_upstream_connections_total: got $conns, want >= 203"
down=$(metric "$tmp/metrics.out" hsmtls_upstream_bytes_total 'direction="to_client"')
up=$(metric "$tmp/metrics.out" hsmtls_upstream_bytes_total 'direction="to_upstream"')
[ "$down" -gt "$N" ] || fail "bytes to_client: got $down, want > $N"
[ "$up" -gt "$N" ] || fail "bytes to_upstream: got $up, want > $N"
expect_metric "$tmp/metrics.out" hsmtls_upstream_connect_failures_total 0
grep -Eq "^127\.0\.0\.1 - - \[[^]]+\] \"PROXY tcp:127\.0\.0\.1:$TCP_PORT\" - [0-9]+ \"-\" \"-\" tls=TLSv1\.3 cipher=TLS_[A-Z0-9_]+ sni=localhost resumed=0 rt=[0-9.]+ site=app upstream=tcp:127\.0\.0\.1:$TCP_PORT to_upstream=[0-9]+ to_client=[0-9]+\$" "$tmp/access.log" ||
	fail "no access log line for a proxied connection: $(head -3 "$tmp/access.log")"
big=$(awk -v n="$N" '{ split($NF, a, "="); if (a[2] + 0 > n) print }' "$tmp/access.log" | wc -l)
[ "$big" -eq 1 ] || fail "access log: $big lines with to_client > 100 MiB, want 1"

# Test: a reload switches the site to the Unix socket backend, then to a
# document root, while a pair opened before keeps its backend.
exec 3> >(timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" \
    -servername localhost -CAfile "$CERT" -quiet -ign_eof >"$tmp/held.out" 2>&1)
sleep 0.5
upstream_conf "$C" "	upstream unix:$tmp/backend.sock;"
reload_server
wait_log 'reloaded: configuration 2' 1
got=$(fetch /big/1000000 | sha256sum | cut -d' ' -f1)
want=$(PYTHONPATH=$UP_DIR python3 -c 'import backend; print(backend.stream_sha256(1000000))')
[ "$got" = "$want" ] || fail "1 MB over the Unix socket backend: sha256 $got, want $want"
grep -q "PROXY unix:$tmp/backend.sock" "$tmp/access.log" || fail "no access log line for the Unix socket backend"
upstream_conf "$C" "	root $ROOT;"
reload_server
wait_log 'reloaded: configuration 3' 1
[ "$(fetch /file.txt)" = "plain text file" ] || fail "after the reload to root: no file served"
printf 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n' >&3
exec 3>&-
i=0
until grep -qxF "$TCP_PAGE" "$tmp/held.out"; do
	i=$((i + 1)); [ "$i" -lt $((WAIT_SECS * 10)) ] || fail "the pair opened before the reloads lost its backend: $(cat "$tmp/held.out")"
	sleep 0.1
done
stop_server_ok

# Test: the one-site flags: --upstream (and --upstream with --root refused).
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" \
    --upstream "unix:$tmp/backend.sock"
body=$(fetch /)
case $body in "hello from the backend "*) ;; *) fail "--upstream unix: GET / failed" ;; esac
[ "$body" != "$TCP_PAGE" ] || fail "--upstream unix: answered by the TCP backend"
stop_server_ok
expect_startup_failure 'give one' --cert "$CERT" --key "$KEY_URI" \
    --pin-file "$PIN_FILE" --root "$ROOT" --upstream "tcp:127.0.0.1:$TCP_PORT"
