# keyd-lib.sh - set-up for the key daemon's tests (sourced after lib.sh).
#
# After start_keyd: KEYD_PID, KEYD_LOG, KEYD_SOCK.  keyd_client runs the
# test client (tests/unit/keyd_client.c) against $KEYD_SOCK.

need_file HSMTLS_KEYD
need_file HSMTLS_KEYD_CLIENT

KEYD_PID=""
KEYD_SOCK=$tmp/keyd/sock

# keyd_conf FILE SITE_BLOCKS...: a configuration with the test token's
# block (module: the test module when use_testp11 ran, else SoftHSM) and
# the socket KEYD_SOCK.
keyd_conf() {
	f=$1
	shift
	mkdir -p "$tmp/keyd"
	module=$SOFTHSM_MODULE
	[ -z "${COUNTS:-}" ] || module=$HSMTLS_TESTP11
	{
		echo "keyd $KEYD_SOCK;"
		# The token, the PIN file and the test module's files in $tmp
		# are root's: the daemon stays root here (t96 tests the drop).
		[ "$(id -u)" -ne 0 ] || echo "keyd-user root;"
		echo "token $TOKEN_LABEL {"
		echo "    module $module;"
		echo "    pin-file $PIN_FILE;"
		echo "}"
		for s in "$@"; do
			printf '%s\n' "$s"
		done
	} >"$f"
}

# start_keyd ARGS...: hsmtls-keyd in the background; waits for its
# "listening on" line.
start_keyd() {
	KEYD_LOG=$tmp/keyd-$(date +%s%N).err
	"$HSMTLS_KEYD" "$@" </dev/null >"$tmp/keyd-stdout.out" 2>"$KEYD_LOG" &
	KEYD_PID=$!
	BG_PIDS="$BG_PIDS $KEYD_PID"
	wait_keyd_listening "$KEYD_PID" "$KEYD_LOG"
}

# stop_keyd: SIGTERM; the daemon must exit 0 (sets KEYD_STATUS).
stop_keyd() {
	kill -TERM "$KEYD_PID"
	i=0
	while kill -0 "$KEYD_PID" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -lt $((WAIT_SECS * 10)) ] || fail "hsmtls-keyd still running after SIGTERM"
		sleep 0.1
	done
	KEYD_STATUS=0
	wait "$KEYD_PID" || KEYD_STATUS=$?
	KEYD_PID=""
	[ "$KEYD_STATUS" -eq 0 ] || fail "hsmtls-keyd exit status after SIGTERM: $KEYD_STATUS: $(cat "$KEYD_LOG")"
}

keyd_client() {
	timeout "$WAIT_SECS" "$HSMTLS_KEYD_CLIENT" "$KEYD_SOCK" "$@"
}

# import_key KEYFILE TOKEN PINFILE LABEL ID: a key made with openssl in
# the test's directory, imported into a test token (so the same key can
# sit on two tokens; such keys need "allow-imported-key on;").  The PIN on
# this command line is the throwaway PIN of the test's own token.
import_key() {
	softhsm2-util --import "$1" --token "$2" --label "$4" --id "$5" \
	    --pin "$(cat "$3")" >"$tmp/import.out" 2>&1 ||
		fail "softhsm2-util --import into $2: $(cat "$tmp/import.out")"
}

# openssl_key FILE: a P-256 key made here, never on a token.
openssl_key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1" 2>/dev/null || hard_error "openssl: EC key"
}

# two_tokens_one_key: the test token and a second one ("second") holding
# one key, made here and imported into both as "web" (id 01), with its
# certificate $tmp/web.pem for localhost; sets A and B (the labels) and
# URI_A and URI_B.  The software copy is removed.
two_tokens_one_key() {
	make_token
	make_second_token second
	A=$TOKEN_LABEL
	B=second
	openssl_key "$tmp/web.key"
	openssl req -x509 -new -key "$tmp/web.key" -subj /CN=localhost \
	    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 1 \
	    -out "$tmp/web.pem" 2>/dev/null || hard_error "openssl: certificate"
	import_key "$tmp/web.key" "$A" "$PIN_FILE" web 01
	import_key "$tmp/web.key" "$B" "$TOKEN2_PIN" web 01
	rm -f "$tmp/web.key"
	URI_A="pkcs11:token=$A;object=web;type=private"
	URI_B="pkcs11:token=$B;object=web;type=private"
}

# keyd_one_ec_key: a test token with one P-256 key (its URI in EC, its
# certificate in $tmp/ec.pem) and a daemon serving it from the
# configuration $C (one site).
keyd_one_ec_key() {
	make_token
	make_root
	EC=$(make_key ec:P-256 ec 01)
	make_cert "$EC" "$tmp/ec.pem"
	C=$tmp/hsmtls.conf
	keyd_conf "$C" "site a {
    root $ROOT;
    key \"$EC\" $tmp/ec.pem;
}"
	start_keyd -c "$C"
}
