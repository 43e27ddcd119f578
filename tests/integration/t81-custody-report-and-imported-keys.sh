#!/bin/bash
# t81: key custody.  An EC and an RSA key pair made with openssl in this
# test's directory are imported into the token (softhsm2-util --import,
# pkcs11-tool --write-object with CKA_ALLOWED_MECHANISMS); a key made by
# hsmtls-token keygen sits beside them.  The server refuses each imported
# key at start-up with one line naming the key and the attributes
# (CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_LOCAL false) unless
# --allow-imported-key or "allow-imported-key on;" is given, and then
# serves with it and warns.  Once start-up has succeeded it prints one
# "custody:" line per key, before "listening on"; after a successful
# reload, one per key of the new configuration; a reload that drops the
# allowance refuses the imported keys it had loaded.  hsmtls-token check
# prints the same custody lines and exits 1 for the imported keys.
. "$(dirname "$0")/lib.sh"
# The subject: the server's own custody report and its allow-imported-key checks.
key_mode inproc
need_tool openssl softhsm2-util pkcs11-tool

setup_server_key ec:P-256
WEB_CERT=$CERT
PIN=$(cat "$PIN_FILE")

# Key pairs made here (never on the token), then imported.  The PIN on
# these command lines is the throwaway PIN of this test's own token.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/rsa.key" 2>/dev/null ||
	hard_error "openssl: RSA key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ec.key" 2>/dev/null ||
	hard_error "openssl: EC key"
softhsm2-util --import "$tmp/rsa.key" --token "$TOKEN_LABEL" --label imp-rsa \
    --id 21 --pin "$PIN" >"$tmp/import.out" 2>&1 ||
	fail "softhsm2-util --import: $(cat "$tmp/import.out")"
openssl pkey -in "$tmp/ec.key" -outform DER -out "$tmp/ec.der" &&
	openssl pkey -in "$tmp/ec.key" -pubout -outform DER -out "$tmp/ec.pub.der" ||
	hard_error "openssl: EC key to DER"
p11tool() {
	pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$TOKEN_LABEL" \
	    --login --pin "$PIN" "$@" >"$tmp/p11tool.out" 2>&1 ||
		fail "pkcs11-tool $*: $(cat "$tmp/p11tool.out")"
}
p11tool --write-object "$tmp/ec.der" --type privkey --label imp-ec --id 22 \
    --usage-sign --sensitive --allowed-mechanisms ECDSA,ECDSA-SHA256
p11tool --write-object "$tmp/ec.pub.der" --type pubkey --label imp-ec --id 22 \
    --usage-sign
RSA_URI="pkcs11:token=$TOKEN_LABEL;object=imp-rsa;id=%21;type=private"
EC_URI="pkcs11:token=$TOKEN_LABEL;object=imp-ec;id=%22;type=private"
# Their certificates, signed by the imported keys' software originals.
for k in rsa ec; do
	openssl req -x509 -new -key "$tmp/$k.key" -subj /CN=localhost \
	    -addext subjectAltName=DNS:localhost,DNS:b.test,IP:127.0.0.1 \
	    -days 1 -out "$tmp/$k.pem" 2>/dev/null || hard_error "openssl: $k certificate"
done
rm -f "$tmp/rsa.key" "$tmp/ec.key" "$tmp/ec.der"

want_line() {   # want_line URI TYPE FLAGS MECHS: the custody line of a key
	echo "custody: token=$TOKEN_LABEL key=$1 type=$2 $3 mechanisms=$4"
}
GOOD="sensitive=1 extractable=0 never-extractable=1 always-sensitive=1 local=1"
IMPORTED="sensitive=1 extractable=0 never-extractable=0 always-sensitive=0 local=0"
WANT_WEB=$(want_line "$KEY_URI" ec:P-256 "$GOOD" any)
WANT_RSA=$(want_line "$RSA_URI" rsa:2048 "$IMPORTED" any)
WANT_EC=$(want_line "$EC_URI" ec:P-256 "$IMPORTED" CKM_ECDSA,CKM_ECDSA_SHA256)
ATTRS='CKA_NEVER_EXTRACTABLE false, CKA_ALWAYS_SENSITIVE false, CKA_LOCAL false'

# custody_lines FILE: its custody lines, without timestamp and level.
custody_lines() {
	sed -n 's/^.*\(custody: token=\)/\1/p' "$1"
}

# Test: the generated key starts; exactly one custody line, before
# "listening on", and no warning.
start_server --cert "$WEB_CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"
[ "$(custody_lines "$SERVER_LOG")" = "$WANT_WEB" ] ||
	fail "start-up custody lines: got '$(custody_lines "$SERVER_LOG")', want '$WANT_WEB'"
c=$(grep -n '^custody: ' "$SERVER_LOG" | cut -d: -f1)
l=$(grep -n '^listening on ' "$SERVER_LOG" | cut -d: -f1)
[ "$c" -lt "$l" ] || fail "custody line $c is not before 'listening on' (line $l)"
grep -q 'warn\|imported' "$SERVER_LOG" && fail "a warning for a generated key: $(cat "$SERVER_LOG")"
handshakes 1 -tls1_3
stop_server_ok

# Test: each imported key is refused, one line naming it and its
# attributes; nothing else is printed (no custody line).
for k in rsa ec; do
	[ $k = rsa ] && uri=$RSA_URI || uri=$EC_URI
	expect_startup_failure "imported" --cert "$tmp/$k.pem" --key "$uri" \
	    --pin-file "$PIN_FILE" --root "$ROOT"
	want="hsmtls-server: key '$uri' was imported or once extractable ($ATTRS):"
	case $REFUSAL in
	"$want"*allow-imported-key) ;;
	*) fail "$k refusal: got '$REFUSAL', want '$want ... allow-imported-key'" ;;
	esac
done

# Test: allowed on the command line, each serves, with its custody line
# and a warning naming the key.
for k in rsa ec; do
	[ $k = rsa ] && { uri=$RSA_URI; want=$WANT_RSA; } || { uri=$EC_URI; want=$WANT_EC; }
	start_server --cert "$tmp/$k.pem" --key "$uri" --pin-file "$PIN_FILE" \
	    --root "$ROOT" --allow-imported-key
	[ "$(custody_lines "$SERVER_LOG")" = "$want" ] ||
		fail "$k custody line: got '$(custody_lines "$SERVER_LOG")', want '$want'"
	grep -qF "hsmtls-server: key '$uri' was imported or once extractable ($ATTRS; allowed by allow-imported-key)" "$SERVER_LOG" ||
		fail "$k: no warning: $(cat "$SERVER_LOG")"
	CERT=$tmp/$k.pem
	handshakes 2 -tls1_3
	handshakes 1 -tls1_2
	stop_server_ok
done
CERT=$WEB_CERT

# Configuration files: site www has the generated EC key and the imported
# RSA key, site b the imported EC key.
write_conf() {   # write_conf ALLOW_LINE WITH_IMPORTED
	{
		echo "listen 127.0.0.1:0;"
		echo "$1"
		echo "token $TOKEN_LABEL { pin-file $PIN_FILE; }"
		echo "site www { server-name localhost; root $ROOT;"
		echo "    key \"$KEY_URI\" $WEB_CERT;"
		[ "$2" = yes ] && echo "    key \"$RSA_URI\" $tmp/rsa.pem;"
		echo "}"
		[ "$2" = yes ] && echo "site b { server-name b.test; root $ROOT; key \"$EC_URI\" $tmp/ec.pem; }"
	} >"$tmp/c.conf.new"
	mv -f "$tmp/c.conf.new" "$tmp/c.conf"
}
# Test: without the directive, the file's imported keys are refused, each
# on its own FILE:LINE line; the generated key is not.
write_conf "" yes
st=0
timeout "$WAIT_SECS" "$HSMTLS_SERVER" -c "$tmp/c.conf" </dev/null >/dev/null 2>"$tmp/conf-refused.err" || st=$?
[ "$st" -eq 1 ] || fail "imported keys in a file: exit $st, want 1: $(cat "$tmp/conf-refused.err")"
for uri in "$RSA_URI" "$EC_URI"; do
	grep -qF "c.conf:" "$tmp/conf-refused.err" &&
		grep -qF "key '$uri' was imported or once extractable ($ATTRS)" "$tmp/conf-refused.err" ||
		fail "no refusal of $uri: $(cat "$tmp/conf-refused.err")"
done
grep -qF "'$KEY_URI'" "$tmp/conf-refused.err" && fail "the generated key was refused: $(cat "$tmp/conf-refused.err")"
grep -q 'custody:\|listening on' "$tmp/conf-refused.err" && fail "a failed start-up printed more: $(cat "$tmp/conf-refused.err")"

# Test: with "allow-imported-key on;" -t passes and the server starts: one
# custody line per key (three), all before "listening on".
write_conf "allow-imported-key on;" yes
"$HSMTLS_SERVER" -t -c "$tmp/c.conf" >"$tmp/t.out" 2>"$tmp/t.err" ||
	fail "-t with allow-imported-key on: $(cat "$tmp/t.err")"
start_server_conf "$tmp/c.conf"
printf '%s\n' "$WANT_WEB" "$WANT_RSA" "$WANT_EC" | sort >"$tmp/want3"
custody_lines "$SERVER_LOG" | sort >"$tmp/got"
diff -u "$tmp/want3" "$tmp/got" >&2 || fail "start-up custody lines differ"
last=$(grep -n '^custody: ' "$SERVER_LOG" | tail -n1 | cut -d: -f1)
l=$(grep -n '^listening on ' "$SERVER_LOG" | cut -d: -f1)
[ "$last" -lt "$l" ] || fail "custody lines after 'listening on'"
[ "$(grep -c 'allowed by allow-imported-key' "$SERVER_LOG")" -eq 2 ] ||
	fail "want 2 warnings: $(cat "$SERVER_LOG")"
r=$(printf 'GET / HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n' |
	timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername b.test \
	    -CAfile "$tmp/ec.pem" -verify_return_error -ign_eof 2>&1) ||
	fail "site b (imported EC key): handshake failed: $(echo "$r" | tail -3)"
echo "$r" | grep -q '^HTTP/1.1 200' || fail "site b: no 200"
stop_server_ok

# Test: a reload prints the custody lines of the new configuration after
# "reloaded"; one that drops the allowance fails and refuses the imported
# keys loaded before; the old configuration keeps serving.
write_conf "" no
start_server_conf "$tmp/c.conf"
[ "$(custody_lines "$SERVER_LOG")" = "$WANT_WEB" ] || fail "custody before reload: $(custody_lines "$SERVER_LOG")"
write_conf "allow-imported-key on;" yes
reload_server
wait_log 'reloaded: configuration 2' 1
wait_log 'custody: token=' 4
sed -n '/reloaded: configuration 2/,$p' "$SERVER_LOG" >"$tmp/after"
custody_lines "$tmp/after" | sort >"$tmp/got"
diff -u "$tmp/want3" "$tmp/got" >&2 || fail "custody lines after the reload differ"
write_conf "" yes
reload_server
wait_log 'reload failed' 1
n=$(grep -c 'custody: token=' "$SERVER_LOG")
[ "$n" -eq 4 ] || fail "custody lines after a failed reload: $n, want still 4"
for uri in "$RSA_URI" "$EC_URI"; do
	grep -qF "key '$uri' was imported or once extractable" "$SERVER_LOG" ||
		fail "reload without the allowance did not refuse $uri: $(cat "$SERVER_LOG")"
done
handshakes 1 -tls1_3
stop_server_ok

# Test: hsmtls-token check prints the server's custody line per key and
# exits 1 for the imported ones (0 for the generated key alone).
st=0
"$HSMTLS_TOKEN" check --token "$TOKEN_LABEL" --pin-file "$PIN_FILE" >"$tmp/check.out" 2>"$tmp/check.err" || st=$?
[ "$st" -eq 1 ] || fail "check of the token: exit $st, want 1"
grep '^custody: ' "$tmp/check.out" | sort >"$tmp/got"
diff -u "$tmp/want3" "$tmp/got" >&2 || fail "check's custody lines differ from the server's"
[ "$(wc -l <"$tmp/check.err")" -eq 2 ] || fail "check: want 2 reason lines: $(cat "$tmp/check.err")"
"$HSMTLS_TOKEN" check --key "$KEY_URI" --pin-file "$PIN_FILE" >"$tmp/check1.out" 2>"$tmp/check.err" ||
	fail "check of the generated key: $(cat "$tmp/check.err")"
[ "$(grep '^custody: ' "$tmp/check1.out")" = "$WANT_WEB" ] || fail "check --key: $(cat "$tmp/check1.out")"
