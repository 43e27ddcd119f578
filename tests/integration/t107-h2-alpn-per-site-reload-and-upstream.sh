#!/bin/bash
# t107: the ALPN list offered is the SNI site's: a static site offers
# h2,http/1.1 by default (h2 preferred, whatever order the client lists),
# a site with "alpn http/1.1;" only HTTP/1.1, the top-level alpn is the
# default of sites without their own, and an upstream site offers
# http/1.1 unless told otherwise.  A reload applies a changed list to new
# connections.  With "alpn h2,http/1.1;" on an upstream site, a client's
# h2 reaches the backend in the PROXY v2 ALPN TLV.  A list with another
# protocol, a repeated one or none is a FILE:LINE error.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/upstream-lib.sh"
need_tool openssl curl

setup_server_key ec:P-256
start_backend pp2 tcp
PP2_PORT=$BACKEND
C=$tmp/hsmtls.conf
# conf FILES_ALPN: four sites on one key: files (localhost), old, app
# (upstream with h2 passed on) and app1 (upstream, default list).
conf() {
	cat >"$C" <<CONF
listen 127.0.0.1:0;
admin-listen 127.0.0.1:0;
$2
token $TOKEN_LABEL {
	pin-file "$PIN_FILE";
}
site files {
	server-name localhost;
	root "$ROOT";
	key "$KEY_URI" "$CERT";
	$1
}
site old {
	server-name old.test;
	root "$ROOT";
	key "$KEY_URI" "$CERT";
	alpn http/1.1;
}
site app {
	server-name app.test;
	upstream tcp:127.0.0.1:$PP2_PORT;
	proxy-protocol v2;
	key "$KEY_URI" "$CERT";
	alpn h2 http/1.1;
}
site app1 {
	server-name app1.test;
	upstream tcp:127.0.0.1:$PP2_PORT;
	key "$KEY_URI" "$CERT";
}
CONF
}

# alpn NAME OFFER: the protocol the server selects for SNI NAME when the
# client offers OFFER (openssl's -alpn list), or "none".
alpn() {
	out=$(timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername "$1" \
	    -alpn "$2" </dev/null 2>&1 || true)
	p=$(printf '%s\n' "$out" | sed -n 's/^ALPN protocol: //p')
	if [ -z "$p" ]; then
		printf '%s\n' "$out" | grep -q '^No ALPN negotiated' || fail "s_client -servername $1: $(printf '%s\n' "$out" | tail -5)"
		p=none
	fi
	echo "$p"
}
expect_alpn() {
	got=$(alpn "$1" "$2")
	[ "$got" = "$3" ] || fail "SNI $1, client offers $2: got $got, want $3"
}

conf "" ""
start_server_conf "$C"
expect_alpn localhost h2,http/1.1 h2
expect_alpn localhost http/1.1,h2 h2
expect_alpn localhost http/1.1 http/1.1
expect_alpn localhost spdy/3 none
expect_alpn old.test h2,http/1.1 http/1.1
expect_alpn old.test h2 none
expect_alpn app1.test h2,http/1.1 http/1.1
expect_alpn app.test http/1.1,h2 h2

# The upstream site passes the negotiated h2 to its backend.
pyc <<'PYEOF' || fail "PROXY v2 ALPN TLV: see above"
import json, sys
from h2raw import tls_exchange
proto, data = tls_exchange("app.test", ["h2", "http/1.1"],
                           b"GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n",
                           verify_name=False)
if proto != "h2":
    sys.exit("ALPN %r, want h2" % proto)
r = json.loads(data.split(b"\r\n\r\n", 1)[1])
if r.get("alpn") != "h2" or r.get("authority") != "app.test":
    sys.exit("backend saw %r" % r)
PYEOF

# A reload: the top level says http/1.1 now; "files" has no list of its
# own, so new connections to it get HTTP/1.1; then its own list wins.
conf "" "alpn http/1.1;"
reload_server
wait_log "reloaded: configuration 2" 1
expect_alpn localhost h2,http/1.1 http/1.1
got=$(curl_srv --http2 -o /dev/null -w '%{http_version}' "$(url /)")
[ "$got" = 1.1 ] || fail "after the reload: curl --http2 got HTTP/$got"
conf "alpn h2;" "alpn http/1.1;"
reload_server
wait_log "reloaded: configuration 3" 1
expect_alpn localhost h2,http/1.1 h2
expect_alpn localhost http/1.1 none
expect_alpn old.test h2,http/1.1 http/1.1
stop_server_ok

# Bad lists: FILE:LINE errors from -t.
for bad in "alpn spdy/3;" "alpn h2,h2;" "alpn ,;"; do
	conf "$bad" ""
	st=0
	timeout "$WAIT_SECS" "$HSMTLS_SERVER" -t -c "$C" >/dev/null 2>"$tmp/t.err" || st=$?
	[ "$st" -ne 0 ] || fail "'$bad' accepted"
	grep -q "hsmtls.conf:11: .*ALPN" "$tmp/t.err" || fail "'$bad': $(cat "$tmp/t.err")"
done
expect_startup_failure 'alpn.*h2 or http/1.1' --cert "$CERT" --key "$KEY_URI" --root "$ROOT" --alpn h3
