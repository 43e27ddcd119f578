#!/bin/sh
# check-token-provision.sh - the documented provisioning sequence, from
# nothing to a page served over HTTPS (doc/provisioning.md, hsmtls-token(1)):
#   init -> keygen -> csr -> dev-ca -> import-cert -> check -> hsmtls-server
# Every result is checked on the token itself with p11-attr (which reads it
# through the module, not through hsmtls-token) or with openssl and curl.
#
# Environment (set by "make check"; the defaults fit a build tree):
#   HSMTLS_TOKEN HSMTLS_SERVER HSMTLS_P11ATTR SOFTHSM_MODULE
set -eu

here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${abs_top_builddir:-}" ]; then
	top=$abs_top_builddir
elif [ -n "${builddir:-}" ] && [ -d "$builddir/../tokens" ]; then
	top=$(cd "$builddir/.." && pwd)
else
	top=$here/../..
fi
HSMTLS_TOKEN=${HSMTLS_TOKEN:-$top/tokens/hsmtls-token}
HSMTLS_SERVER=${HSMTLS_SERVER:-$top/server/hsmtls-server}
HSMTLS_P11ATTR=${HSMTLS_P11ATTR:-$top/tests/p11/p11-attr}
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

skip() { echo "SKIP: $*" >&2; exit 77; }
[ -x "$HSMTLS_TOKEN" ] || skip "no hsmtls-token at $HSMTLS_TOKEN"
[ -x "$HSMTLS_P11ATTR" ] || skip "no p11-attr at $HSMTLS_P11ATTR"
[ -f "$SOFTHSM_MODULE" ] || skip "no SoftHSM module at $SOFTHSM_MODULE"
for tool in openssl curl; do
	command -v "$tool" >/dev/null 2>&1 || skip "no $tool"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hsmtls-provision.XXXXXX")
tmp=$(cd "$tmp" && pwd -P)
server_pid=
cleanup() {
	rc=$?
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [ $rc -ne 0 ]; then
		for f in err server.err; do
			[ -s "$tmp/$f" ] || continue
			echo "--- $f:" >&2
			cat "$tmp/$f" >&2
		done
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() { echo "FAIL: $*" >&2; exit 1; }
tok() { "$HSMTLS_TOKEN" "$@" 2>"$tmp/err"; }
attr() {
	"$HSMTLS_P11ATTR" --module "$SOFTHSM_MODULE" --token hsmtls-dev \
		--pin-file "$pin" "$@" 2>"$tmp/err" || fail "p11-attr $*: $(cat "$tmp/err")"
}

dir=$tmp/token
pin=$dir/user.pin
ca=$tmp/ca

# Test: init creates the token; its export line points SoftHSM at it
out=$(tok init --dir "$dir") || fail "init: $(cat "$tmp/err")"
eval "$out"
[ "${SOFTHSM2_CONF:-}" = "$dir/softhsm2.conf" ] || fail "init printed '$out'"

# Test: keygen makes an EC P-256 key that the token reports as protected
key=$(tok keygen --token hsmtls-dev --pin-file "$pin" --type ec:P-256 \
	--label web --id 01) || fail "keygen: $(cat "$tmp/err")"
[ "$key" = "pkcs11:token=hsmtls-dev;object=web;id=%01;type=private" ] ||
	fail "keygen printed '$key'"
attr --label web >"$tmp/attr"
for want in CKA_SENSITIVE=1 CKA_EXTRACTABLE=0 CKA_LOCAL=1 CKA_TOKEN=1 \
    CKA_PRIVATE=1 CKA_ALWAYS_SENSITIVE=1 CKA_NEVER_EXTRACTABLE=1 \
    CKA_DECRYPT=0 CKA_ALWAYS_AUTHENTICATE=0 'CKA_VALUE: CKR_ATTRIBUTE_SENSITIVE'; do
	grep -qx "$want" "$tmp/attr" || fail "key web: no '$want' in: $(tr '\n' ' ' <"$tmp/attr")"
done

# Test: csr writes a request signed by the token key, with subject and SAN
tok csr --key "$key" --pin-file "$pin" --subject "CN=localhost,O=hsmtls test" \
	--san DNS:localhost,IP:127.0.0.1 --out "$tmp/web.csr" ||
	fail "csr: $(cat "$tmp/err")"
[ "$(stat -c %a "$tmp/web.csr")" = 644 ] || fail "CSR mode $(stat -c %a "$tmp/web.csr")"
openssl req -in "$tmp/web.csr" -verify -noout 2>"$tmp/err" ||
	fail "openssl req -verify: $(cat "$tmp/err")"
openssl req -in "$tmp/web.csr" -noout -text >"$tmp/csr.txt"
grep -q 'Subject: CN = localhost, O = hsmtls test' "$tmp/csr.txt" ||
	fail "CSR subject: $(grep Subject: "$tmp/csr.txt")"
grep -q 'DNS:localhost, IP Address:127.0.0.1' "$tmp/csr.txt" ||
	fail "CSR has no SAN DNS:localhost, IP:127.0.0.1"
grep -q 'ecdsa-with-SHA256' "$tmp/csr.txt" || fail "CSR is not ecdsa-with-SHA256"
# The request's key is the token's key: the CSR's public key is that of
# the key object (compare with the certificate issued below too).
openssl req -in "$tmp/web.csr" -noout -pubkey >"$tmp/csr.pub"

# Test: dev-ca makes a CA (key 0600, marked DEVELOPMENT ONLY) and issues a
# server certificate from the CSR that openssl verifies against ca.pem
tok dev-ca --dir "$ca" --csr "$tmp/web.csr" --out "$tmp/web.pem" ||
	fail "dev-ca: $(cat "$tmp/err")"
grep -q "curl --cacert $ca/ca.pem https://localhost:8443/" "$tmp/err" ||
	fail "dev-ca printed no curl hint: $(cat "$tmp/err")"
[ "$(stat -c %a "$ca")" = 700 ] || fail "CA dir mode $(stat -c %a "$ca")"
[ "$(stat -c %a "$ca/ca.key")" = 600 ] || fail "ca.key mode $(stat -c %a "$ca/ca.key")"
grep -q 'DEVELOPMENT ONLY' "$ca/ca.key" || fail "ca.key is not marked DEVELOPMENT ONLY"
openssl verify -CAfile "$ca/ca.pem" "$tmp/web.pem" >"$tmp/err" 2>&1 ||
	fail "openssl verify: $(cat "$tmp/err")"
openssl x509 -in "$tmp/web.pem" -noout -text >"$tmp/cert.txt"
for want in 'Subject: CN = localhost, O = hsmtls test' \
    'DNS:localhost, IP Address:127.0.0.1' 'CA:FALSE' \
    'TLS Web Server Authentication' 'Digital Signature' \
    'Issuer: CN = hsmtls DEVELOPMENT ONLY CA'; do
	grep -q "$want" "$tmp/cert.txt" || fail "certificate has no '$want'"
done
days=$(( ($(date -d "$(openssl x509 -in "$tmp/web.pem" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s)) / 86400 ))
if [ "$days" -lt 89 ] || [ "$days" -gt 90 ]; then
	fail "certificate valid for $days days, want 90"
fi
openssl x509 -in "$tmp/web.pem" -noout -pubkey | cmp -s - "$tmp/csr.pub" ||
	fail "certificate's public key is not the CSR's"

# Test: import-cert stores it with the key's label and id (found by its
# public key), as the token itself shows
uri=$(tok import-cert --token hsmtls-dev --pin-file "$pin" --cert "$tmp/web.pem") ||
	fail "import-cert: $(cat "$tmp/err")"
[ "$uri" = "pkcs11:token=hsmtls-dev;object=web;id=%01;type=cert" ] ||
	fail "import-cert printed '$uri'"
attr --list >"$tmp/objects"
cat >"$tmp/want" <<EOT
CKO_CERTIFICATE id=01 label=web
CKO_PRIVATE_KEY id=01 label=web
CKO_PUBLIC_KEY id=01 label=web
EOT
diff -u "$tmp/want" "$tmp/objects" >&2 || fail "token objects differ"

# Test: check passes the key
tok check --key "$key" --pin-file "$pin" >"$tmp/check" ||
	fail "check: $(cat "$tmp/err")"
grep -q "^ok pkcs11:token=hsmtls-dev;object=web;id=%01;type=private " "$tmp/check" ||
	fail "check printed '$(cat "$tmp/check")'"

# Test: hsmtls-server serves from the token with the dev-ca certificate,
# curl verifies it against ca.pem, and SIGTERM ends it with status 0
if [ ! -x "$HSMTLS_SERVER" ]; then
	echo "NOTE: no hsmtls-server at $HSMTLS_SERVER: serving not tested" >&2
	echo "PASS: provisioning (without serving)"
	exit 0
fi
mkdir "$tmp/www"
printf 'provisioned %s\n' "$$" >"$tmp/www/index.html"
# Created here: the background shell may open it after the first poll.
: >"$tmp/server.err"
"$HSMTLS_SERVER" --listen 127.0.0.1:0 --cert "$tmp/web.pem" --key "$key" \
	--pin-file "$pin" --root "$tmp/www" 2>"$tmp/server.err" &
server_pid=$!
port=
i=0
while [ $i -lt 100 ]; do
	port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/server.err")
	[ -n "$port" ] && break
	kill -0 "$server_pid" 2>/dev/null || fail "hsmtls-server exited: $(cat "$tmp/server.err")"
	sleep 0.1
	i=$((i + 1))
done
[ -n "$port" ] || fail "hsmtls-server printed no 'listening on' line"
curl -sS --max-time 10 --cacert "$ca/ca.pem" \
	--resolve "localhost:$port:127.0.0.1" "https://localhost:$port/" \
	>"$tmp/page" 2>"$tmp/err" || fail "curl: $(cat "$tmp/err")"
cmp -s "$tmp/page" "$tmp/www/index.html" || fail "curl got '$(cat "$tmp/page")'"
curl -sS --max-time 10 --cacert "$ca/ca.pem" "https://127.0.0.1:$port/" \
	>"$tmp/page" 2>"$tmp/err" || fail "curl by IP: $(cat "$tmp/err")"
cmp -s "$tmp/page" "$tmp/www/index.html" || fail "curl by IP got '$(cat "$tmp/page")'"
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=
[ $rc -eq 0 ] || fail "hsmtls-server exited $rc after SIGTERM"

echo "PASS: provisioning from nothing to a served page"
