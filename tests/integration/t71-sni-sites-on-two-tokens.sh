#!/bin/bash
# t71: several sites in one server, with keys on two different SoftHSM
# tokens (two token blocks).  SNI picks the site: its certificate, its
# document root, and its key -- signed on its own token, counted at the
# PKCS#11 boundary.  No SNI or an unknown name gets the first site; with
# strict-sni on, the handshake is refused with an unrecognized_name alert.
# "*.name" matches one more label.  Checked with openssl s_client, curl
# and Python's ssl module.
. "$(dirname "$0")/lib.sh"
need_tool openssl curl python3

use_testp11
make_token
make_second_token second
EC=$(make_key_on "$TOKEN_LABEL" "$PIN_FILE" ec:P-256 web-a 01)
RSA=$(make_key_on second "$TOKEN2_PIN" rsa:2048 web-b 02)
make_cert_for "$EC" "$PIN_FILE" "$tmp/a.pem" a.test
make_cert_for "$RSA" "$TOKEN2_PIN" "$tmp/b.pem" b.test "DNS:b.test,DNS:*.b.test"
mkdir -p "$tmp/www-a" "$tmp/www-b"
echo "site a $$" >"$tmp/www-a/index.html"
echo "site b $$" >"$tmp/www-b/index.html"
C=$tmp/hsmtls.conf

write_conf() {
	cat >"$C" <<EOF
listen 127.0.0.1:0;
$1
token $TOKEN_LABEL {
    module $HSMTLS_TESTP11;
    pin-file $PIN_FILE;
}
token second {
    module $HSMTLS_TESTP11;
    pin-file $TOKEN2_PIN;
}
site a {
    server-name a.test;
    root $tmp/www-a;
    key "$EC" $tmp/a.pem;
}
site b {
    server-name b.test *.b.test;
    root $tmp/www-b;
    key "$RSA" $tmp/b.pem;
}
EOF
}

# subject NAME: the certificate subject CN the server presents for SNI NAME.
subject() {
	if [ -n "$1" ]; then
		sni="-servername $1"
	else
		sni=-noservername
	fi
	# shellcheck disable=SC2086
	timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" $sni \
	    </dev/null 2>/dev/null | sed -n 's/^subject=.*CN *= *\([^,]*\).*/\1/p'
}

write_conf ""
start_server_conf "$C"
base=$(count_of C_Sign)

# Test: each name gets its site's certificate.
[ "$(subject a.test)" = a.test ] || fail "SNI a.test: got certificate '$(subject a.test)'"
[ "$(subject b.test)" = b.test ] || fail "SNI b.test: got certificate '$(subject b.test)'"
[ "$(subject www.b.test)" = b.test ] || fail "SNI www.b.test (*.b.test): got '$(subject www.b.test)'"
[ "$(subject x.www.b.test)" = a.test ] || fail "SNI x.www.b.test must not match *.b.test: got '$(subject x.www.b.test)'"
[ "$(subject B.TEST)" = b.test ] || fail "SNI is case-insensitive: B.TEST got '$(subject B.TEST)'"
# Test: an unknown name and no SNI get the first site.
[ "$(subject c.test)" = a.test ] || fail "unknown SNI: got '$(subject c.test)', want the first site"
[ "$(subject "")" = a.test ] || fail "no SNI: got '$(subject "")', want the first site"
now=$(count_of C_Sign)
[ $((now - base)) -eq 7 ] || fail "C_Sign for 7 full handshakes: got $((now - base))"

# Test: each site serves its own root, verified by curl against its certificate.
for s in a b; do
	body=$(timeout "$WAIT_SECS" curl -sS --cacert "$tmp/$s.pem" \
	    --resolve "$s.test:$PORT:127.0.0.1" "https://$s.test:$PORT/")
	[ "$body" = "site $s $$" ] || fail "https://$s.test/: got '$body', want 'site $s $$'"
done

# Test: Python's ssl module verifies each site by name.
cat >"$tmp/sni.py" <<'EOF'
import socket, ssl, sys
port, name, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
    with ctx.wrap_socket(raw, server_hostname=name) as s:
        cn = dict(x[0] for x in s.getpeercert()["subject"])["commonName"]
        s.sendall(b"GET / HTTP/1.1\r\nHost: " + name.encode() + b"\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
print(cn, data.split(b"\r\n\r\n", 1)[1].decode().strip())
EOF
out=$(timeout "$WAIT_SECS" python3 "$tmp/sni.py" "$PORT" b.test "$tmp/b.pem") ||
	fail "python ssl to b.test failed: $out"
[ "$out" = "b.test site b $$" ] || fail "python ssl b.test: got '$out'"

# Test: each token signed for its own site (the module's calls by slot are
# not visible, but the engines' counters are): one login per token.
[ "$(count_of C_Login)" -eq 2 ] || fail "C_Login: got $(count_of C_Login), want 2 (one per token)"
stop_server_ok

# Test: strict-sni refuses an unknown name and a missing SNI with
# unrecognized_name, and still serves the known names.
write_conf "strict-sni on;"
start_server_conf "$C"
[ "$(subject b.test)" = b.test ] || fail "strict-sni: b.test got '$(subject b.test)'"
for sni in "-servername c.test" "-noservername"; do
	st=0
	# shellcheck disable=SC2086
	timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" $sni \
	    </dev/null >"$tmp/strict.out" 2>&1 || st=$?
	[ "$st" -ne 0 ] || fail "strict-sni ($sni): the handshake succeeded"
	grep -q "unrecognized name" "$tmp/strict.out" ||
		fail "strict-sni ($sni): no unrecognized_name alert: $(cat "$tmp/strict.out")"
done
stop_server_ok
