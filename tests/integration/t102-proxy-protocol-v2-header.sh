#!/bin/bash
# t102: with "proxy-protocol v2;" the backend's first bytes are a PROXY v2
# header, parsed here by a parser written in the test (backend.py:
# signature, version and command, family, addresses, TLVs): the client's
# address and port and the listener's, over IPv4 and IPv6; ALPN
# (http/1.1 from curl --http1.1, none with --no-alpn); the SNI host name
# as the authority (none for a client that sends no SNI); and the SSL TLV
# (client flag PP2_CLIENT_SSL, verify non-zero: no client certificate)
# with the TLS version and cipher the client negotiated, TLS 1.3 and 1.2.
# Without the directive the backend gets the client's bytes only; the
# directive without an upstream, and root with upstream, are FILE:LINE
# errors.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/upstream-lib.sh"
need_tool curl

setup_server_key ec:P-256
start_backend pp2 tcp
PP2_PORT=$BACKEND
V6=""
grep -qs '^0\{31\}1 ' /proc/net/if_inet6 && V6="listen [::1]:0;"
C=$tmp/hsmtls.conf
upstream_conf "$C" "	upstream tcp:127.0.0.1:$PP2_PORT;
	proxy-protocol v2;" "$V6"
start_server_conf "$C"

# check JSON_FILE KEY=VALUE...: each key of the backend's report must hold
# VALUE ("-" for absent).
check() {
	PYTHONPATH=$UP_DIR python3 - "$@" <<'PY' || fail "PROXY header as the backend parsed it: $(cat "$1")"
import json, sys
r = json.load(open(sys.argv[1]))
bad = []
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    got = "-" if r.get(k) is None else str(r[k])
    if got != v:
        bad.append("%s: got %s, want %s" % (k, got, v))
if bad:
    print("; ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
}

# get OUT CURL_ARGS...: fetch / through the header backend; the report in
# OUT, the TLS version and cipher curl negotiated in VERSION and CIPHER,
# its local port in LPORT.
get() {
	out=$1
	shift
	timeout "$WAIT_SECS" curl -sS -v --max-time "$WAIT_SECS" --cacert "$CERT" \
	    -w '%{local_port}\n' -o "$out" "$@" >"$tmp/lport.out" 2>"$tmp/curl.err" ||
		fail "curl $*: $(cat "$tmp/curl.err")"
	LPORT=$(cat "$tmp/lport.out")
	line=$(sed -n 's/^\* SSL connection using \([^ ]*\) \/ \([^ ]*\).*/\1 \2/p' "$tmp/curl.err")
	VERSION=${line%% *}
	CIPHER=${line#* }
	[ -n "$VERSION" ] && [ -n "$CIPHER" ] || fail "no 'SSL connection using' line from curl: $(cat "$tmp/curl.err")"
}

# Test: IPv4, TLS 1.3, ALPN http/1.1, SNI localhost.
get "$tmp/a.json" --http1.1 --resolve "localhost:$PORT:127.0.0.1" "https://localhost:$PORT/"
check "$tmp/a.json" version=2 command=1 family=17 src=127.0.0.1 "src_port=$LPORT" \
    dst=127.0.0.1 "dst_port=$PORT" alpn=http/1.1 authority=localhost ssl_client=1 \
    ssl_verify=1 "ssl_version=$VERSION" "ssl_cipher=$CIPHER" other=- ssl_other=- error=-
[ "$VERSION" = TLSv1.3 ] || fail "curl negotiated $VERSION, want TLSv1.3 by default"

# Test: TLS 1.2 with a chosen cipher, no ALPN, no SNI (an IP address).
get "$tmp/b.json" --no-alpn --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-ECDSA-AES128-GCM-SHA256 \
    "https://127.0.0.1:$PORT/"
check "$tmp/b.json" family=17 src=127.0.0.1 "src_port=$LPORT" "dst_port=$PORT" \
    alpn=- authority=- ssl_version=TLSv1.2 ssl_cipher=ECDHE-ECDSA-AES128-GCM-SHA256 error=-

# Test: IPv6: both addresses in the TCP6 block.
if [ -n "$V6" ]; then
	P6=$(sed -n 's/^listening on \[::1\]:\([0-9][0-9]*\)$/\1/p' "$SERVER_LOG")
	[ -n "$P6" ] || fail "no 'listening on [::1]:PORT' line"
	get "$tmp/c.json" --http1.1 --resolve "localhost:$P6:[::1]" "https://localhost:$P6/"
	check "$tmp/c.json" family=33 src=::1 "src_port=$LPORT" dst=::1 "dst_port=$P6" \
	    alpn=http/1.1 authority=localhost "ssl_version=$VERSION" "ssl_cipher=$CIPHER" error=-
else
	echo "no IPv6 loopback: the TCP6 case is not run"
fi

# Test: without proxy-protocol the backend's first bytes are the request.
upstream_conf "$C" "	upstream tcp:127.0.0.1:$PP2_PORT;" "$V6"
reload_server
wait_log 'reloaded: configuration 2' 1
get "$tmp/d.json" --http1.1 --resolve "localhost:$PORT:127.0.0.1" "https://localhost:$PORT/"
grep -q '"error": "bad signature' "$tmp/d.json" || fail "without proxy-protocol: $(cat "$tmp/d.json")"

# Test: proxy-protocol without an upstream is a configuration error.
upstream_conf "$tmp/bad.conf" "	root $ROOT;
	proxy-protocol v2;"
st=0
"$HSMTLS_SERVER" -t -c "$tmp/bad.conf" >"$tmp/bad.out" 2>&1 || st=$?
[ "$st" -eq 1 ] && grep -q "bad.conf:[0-9]*: site 'app': proxy-protocol is for a site with an upstream" "$tmp/bad.out" ||
	fail "proxy-protocol with root: status $st, $(cat "$tmp/bad.out")"

# Test: root and upstream together is an error at the upstream's line.
upstream_conf "$tmp/both.conf" "	root $ROOT;
	upstream tcp:127.0.0.1:$PP2_PORT;"
st=0
"$HSMTLS_SERVER" -t -c "$tmp/both.conf" >"$tmp/both.out" 2>&1 || st=$?
line=$(grep -n '^	upstream ' "$tmp/both.conf" | cut -d: -f1)
[ "$st" -eq 1 ] && grep -q "both.conf:$line: site 'app' has both root (line $((line - 1))) and upstream" "$tmp/both.out" ||
	fail "root and upstream: status $st, $(cat "$tmp/both.out")"
stop_server_ok
