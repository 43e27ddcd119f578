#!/bin/bash
# t76: a token that is down at a reload does not stop the other sites.
# Two sites on two tokens of two modules; one token is removed (fault
# module) and the configuration changes both sites' keys and certificates.
# SIGHUP: the site on the working token serves its new certificate, the
# site on the removed token keeps its previous contexts (a warning says
# so), /healthz names the token that is down.  When the token is back,
# its site serves again, and the next reload picks up its new key.
. "$(dirname "$0")/lib.sh"
# The subject: per-token reload of the server's own engines (a daemon reload is all or nothing).
key_mode inproc
need_tool openssl curl
need_file SOFTHSM_MODULE

use_faults
make_token
make_second_token second
# The fault module wraps its own copy of SoftHSM, so faults and re-inits
# of the first token's module never touch the second token's module.
cp "$SOFTHSM_MODULE" "$tmp/softhsm-copy.so"
HSMTLS_TESTP11_MODULE=$tmp/softhsm-copy.so
export HSMTLS_TESTP11_MODULE
A1=$(make_key_on "$TOKEN_LABEL" "$PIN_FILE" ec:P-256 a1 01)
A2=$(make_key_on "$TOKEN_LABEL" "$PIN_FILE" ec:P-384 a2 02)
B1=$(make_key_on second "$TOKEN2_PIN" ec:P-256 b1 03)
B2=$(make_key_on second "$TOKEN2_PIN" ec:P-384 b2 04)
for k in A1 A2 B1 B2; do
	case $k in A*) pin=$PIN_FILE name=a.test ;; *) pin=$TOKEN2_PIN name=b.test ;; esac
	eval "uri=\$$k"
	make_cert_for "$uri" "$pin" "$tmp/$k.pem" "$name"
done
make_root
C=$tmp/hsmtls.conf
write_conf() {   # write_conf A_KEY B_KEY
	eval "a=\$$1 b=\$$2"
	cat >"$C" <<EOF
listen 127.0.0.1:0;
admin-listen 127.0.0.1:0;
token $TOKEN_LABEL { module $HSMTLS_TESTP11; pin-file $PIN_FILE; }
token second { module $SOFTHSM_MODULE; pin-file $TOKEN2_PIN; }
site a { server-name a.test; root $ROOT; key "$a" $tmp/$1.pem; }
site b { server-name b.test; root $ROOT; key "$b" $tmp/$2.pem; }
EOF
}

# bits NAME CA: the server key size for SNI NAME, verified against CA;
# "failed" when the handshake fails.
bits() {
	timeout "$WAIT_SECS" openssl s_client -connect "127.0.0.1:$PORT" -servername "$1" \
	    -CAfile "$2" -verify_return_error </dev/null >"$tmp/bits.out" 2>&1 || { echo failed; return 0; }
	sed -n 's/^Server public key is \([0-9]*\) bit$/\1/p' "$tmp/bits.out"
}
write_conf A1 B1
start_server_conf "$C"
[ "$(bits a.test "$tmp/A1.pem")" = 256 ] || fail "a.test before: $(bits a.test "$tmp/A1.pem")"
[ "$(bits b.test "$tmp/B1.pem")" = 256 ] || fail "b.test before: $(bits b.test "$tmp/B1.pem")"

# The first token goes away; its site's handshakes fail.
set_faults 'removed'
[ "$(bits a.test "$tmp/A1.pem")" = failed ] || fail "a.test with its token removed: handshake succeeded"
code=$(curl -s -o "$tmp/h.out" -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/healthz")
[ "$code" = 503 ] && grep -qx "token '$TOKEN_LABEL' is down" "$tmp/h.out" ||
	fail "/healthz with a token down: $code '$(cat "$tmp/h.out")'"

# Test: the reload still swaps site b to its new key; site a keeps its old one.
write_conf A2 B2
reload_server
wait_log 'reloaded: configuration' 1
grep -q "warning: site 'a': keeps serving its previous keys and certificates" "$SERVER_LOG" ||
	fail "no warning for the site whose token is down: $(cat "$SERVER_LOG")"
[ "$(bits b.test "$tmp/B2.pem")" = 384 ] || fail "b.test after the reload: $(bits b.test "$tmp/B2.pem"), want its new 384-bit key"
kill -0 "$SERVER_PID" || fail "server died"

# Test: the token comes back; site a serves (its previous key) again...
set_faults ''
i=0
until [ "$(bits a.test "$tmp/A1.pem")" = 256 ]; do
	i=$((i + 1)); [ "$i" -lt $((WAIT_SECS * 10)) ] || fail "a.test did not come back after the token did"
	sleep 0.1
done
# ...and the next reload gives it its new key.
reload_server
wait_log 'reloaded: configuration' 2
[ "$(bits a.test "$tmp/A2.pem")" = 384 ] || fail "a.test after the token is back and a reload: $(bits a.test "$tmp/A2.pem")"
[ "$(bits b.test "$tmp/B2.pem")" = 384 ] || fail "b.test after the second reload: $(bits b.test "$tmp/B2.pem")"
stop_server_ok
