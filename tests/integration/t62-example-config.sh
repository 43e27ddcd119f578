#!/bin/bash
# t62: the shipped example configuration (dist/hsmtls.conf.example.in) and
# hsmtls.conf(5) agree: every directive of the configuration contract, and
# every directive the example uses, has an entry in the man page.  And the
# example works: with its paths moved into this test's directory, its two
# tokens made on SoftHSM (three keys, self-signed certificates), a ticket
# key file made as documented and the PIN files (mode 0600) where the
# example names them, hsmtls-keyd serves the example's keys and
# "hsmtls-server -t -c" through it prints "configuration ok"; a PIN file
# open to its group stops the daemon with FILE:LINE, and a misspelt
# directive makes the server exit 1 with "FILE:LINE: ..." errors.  That second part needs a server that reads
# configuration files (-t -c) and is skipped, with a note, before it does.
. "$(dirname "$0")/lib.sh"

example=$top_srcdir/dist/hsmtls.conf.example.in
page=$top_srcdir/doc/hsmtls.conf.5
[ -f "$example" ] || hard_error "no $example"
[ -f "$page" ] || hard_error "no $page"

# The directives the man page has an entry for: the first word of each
# .TP tag line, and the block names of its block synopses.
awk '
	tag { w = $2; gsub(/\\-/, "-", w); gsub(/"/, "", w); print w; tag = 0; next }
	/^\.TP/ { tag = 1 }
	/^\.BI "(token|site) / { w = $2; gsub(/"/, "", w); print w }
' "$page" | sort -u >"$tmp/documented"

# Test: the contract's directives are all documented.
for d in listen admin-listen user pid-file access-log error-log log-level \
    ticket-key-file ticket-rotate strict-sni max-connections \
    handshake-timeout header-timeout idle-timeout send-timeout \
    shutdown-timeout max-request-line max-header-size max-headers \
    pool-threads queue-max key-timeout allow-weak-key allow-imported-key \
    token module pin-file \
    site server-name root key rsa-key-exchange; do
	grep -qxF "$d" "$tmp/documented" || fail "hsmtls.conf(5) has no entry for '$d'"
done

# Test: so is every directive the example uses or shows commented out.
sed -n 's/^ *#\{0,1\}\([a-z][a-z-]*\) [^ ].*;$/\1/p; s/^\([a-z][a-z-]*\) [^ ]* {$/\1/p' \
	"$example" | sort -u >"$tmp/used"
[ "$(wc -l <"$tmp/used")" -ge 25 ] || fail "only $(wc -l <"$tmp/used") directives found in the example"
missing=$(comm -23 "$tmp/used" "$tmp/documented" | tr '\n' ' ')
[ -z "$missing" ] || fail "the example uses directives hsmtls.conf(5) does not describe: $missing"

# The rest needs a server that reads configuration files.
st=0
"$HSMTLS_SERVER" -t -c /dev/null >"$tmp/probe.out" 2>&1 || st=$?
if grep -q "unknown option" "$tmp/probe.out"; then
	echo "note: hsmtls-server has no -t -c yet: the example was not loaded" >&2
	exit 0
fi
need_file SOFTHSM_MODULE
need_file HSMTLS_KEYD
need_tool openssl

# Two tokens in one SoftHSM token directory (init makes one per directory:
# the second one's store moves beside the first).
"$HSMTLS_TOKEN" init --dir "$tmp/t1" --label web-hsm >/dev/null 2>"$tmp/init.err" ||
	fail "init web-hsm: $(cat "$tmp/init.err")"
"$HSMTLS_TOKEN" init --dir "$tmp/t2" --label api-hsm >/dev/null 2>"$tmp/init.err" ||
	fail "init api-hsm: $(cat "$tmp/init.err")"
mv "$tmp"/t2/tokens/* "$tmp/t1/tokens/"
SOFTHSM2_CONF=$tmp/t1/softhsm2.conf
export SOFTHSM2_CONF
mkdir -p "$tmp/etc" "$tmp/log" "$tmp/run" "$tmp/run-keyd" \
	"$tmp/srv/www.example.org" "$tmp/srv/api.example.org"
echo www >"$tmp/srv/www.example.org/index.html"
echo api >"$tmp/srv/api.example.org/index.html"

# key TOKEN PIN TYPE LABEL CN SAN OUT: a key on TOKEN and its certificate.
key() {
	uri=$("$HSMTLS_TOKEN" keygen --token "$1" --pin-file "$2" --type "$3" \
		--label "$4" 2>"$tmp/keygen.err") ||
		fail "keygen $4: $(cat "$tmp/keygen.err")"
	"$HSMTLS_TOKEN" selfsign --key "$uri" --pin-file "$2" --subject "CN=$5" \
		--san "$6" --out "$7" >/dev/null 2>"$tmp/selfsign.err" ||
		fail "selfsign $4: $(cat "$tmp/selfsign.err")"
}
key web-hsm "$tmp/t1/user.pin" ec:P-256 www-ec www.example.org \
	DNS:www.example.org,DNS:example.org "$tmp/etc/www-ec.pem"
key web-hsm "$tmp/t1/user.pin" rsa:2048 www-rsa www.example.org \
	DNS:www.example.org,DNS:example.org "$tmp/etc/www-rsa.pem"
key api-hsm "$tmp/t2/user.pin" ec:P-256 api api.example.org \
	DNS:api.example.org,DNS:x.api.example.org "$tmp/etc/api-chain.pem"

# The ticket key file as hsmtls.conf(5) says to make it.
(umask 077; openssl rand -hex 80 >"$tmp/etc/ticket.keys")
# The PIN files where the example names them, mode 0600.
cp "$tmp/t1/user.pin" "$tmp/etc/token.pin"
cp "$tmp/t2/user.pin" "$tmp/etc/api.pin"
chmod 0600 "$tmp/etc/token.pin" "$tmp/etc/api.pin"

# The example, with every path moved here and the ports made free ones.
conf=$tmp/hsmtls.conf
sed -e "s|@sysconfdir@/hsmtls/|$tmp/etc/|g" \
	-e "s|^listen 0\.0\.0\.0:443;|listen 127.0.0.1:0;|" \
	-e '/^listen \[::\]:443;/d' \
	-e "s|^admin-listen 127\.0\.0\.1:9443;|admin-listen 127.0.0.1:0;|" \
	-e "s|/run/hsmtls/|$tmp/run/|" \
	-e "s|/run/hsmtls-keyd/|$tmp/run-keyd/|" \
	-e "s|^user hsmtls;|user $(id -un);|" \
	-e "s|/var/log/hsmtls/|$tmp/log/|" \
	-e "s|/srv/www/|$tmp/srv/|" \
	-e "s|module /usr/lib/softhsm/libsofthsm2\.so;|module $SOFTHSM_MODULE;|" \
	"$example" >"$conf"
grep -v '^ *#' "$conf" | sed "s|$tmp/||g" |
	grep -E '@|[ "]/(etc|srv|var|run)/|:443;|:9443;' >"$tmp/left.out" &&
	fail "paths or ports of the system left in the test's copy: $(cat "$tmp/left.out")"

grep -qx "keyd $tmp/run-keyd/keyd.sock;" "$conf" || fail "the example's keyd line was not moved here"

# The daemon as the unit starts it, staying this test's user (the
# example's keyd-user, hsmtls-keyd, need not exist here).
run_keyd() {
	"$HSMTLS_KEYD" -c "$1" --user "$(id -un)" </dev/null >/dev/null 2>"$tmp/keyd.err" &
	KPID=$!
	BG_PIDS="$BG_PIDS $KPID"
	wait_keyd_listening "$KPID" "$tmp/keyd.err"
}

# Test: the example checks out, through the key daemon.
run_keyd "$conf"
grep -qx 'serving 3 keys' "$tmp/keyd.err" || fail "the daemon does not serve the example's 3 keys: $(cat "$tmp/keyd.err")"
st=0
timeout "$WAIT_SECS" "$HSMTLS_SERVER" -t -c "$conf" >"$tmp/check.out" 2>&1 || st=$?
[ "$st" -eq 0 ] || fail "hsmtls-server -t -c (the example): exit status $st: $(cat "$tmp/check.out")"
expect_line "$tmp/check.out" "configuration ok"

# Test: a PIN file open to its group stops the daemon at its line.
kill "$KPID"
wait "$KPID" 2>/dev/null || true
chmod 0640 "$tmp/etc/api.pin"
n=$(grep -n "^ *pin-file $tmp/etc/api.pin;" "$conf" | cut -d: -f1)
st=0
timeout "$WAIT_SECS" "$HSMTLS_KEYD" -c "$conf" --user "$(id -un)" </dev/null >/dev/null 2>"$tmp/open.err" || st=$?
[ "$st" -eq 1 ] || fail "a PIN file open to its group: daemon exit status $st, want 1: $(cat "$tmp/open.err")"
grep -q "^$conf:[0-9]*: .*api.pin" "$tmp/open.err" ||
	fail "a PIN file open to its group: no located error naming it: $(cat "$tmp/open.err")"
chmod 0600 "$tmp/etc/api.pin"
run_keyd "$conf"

# Test: a misspelt directive on line 3 is reported as FILE:3: ...
sed '3i listn 127.0.0.1:0;' "$conf" >"$tmp/bad.conf"
st=0
timeout "$WAIT_SECS" "$HSMTLS_SERVER" -t -c "$tmp/bad.conf" >"$tmp/bad.out" 2>&1 || st=$?
[ "$st" -eq 1 ] || fail "misspelt directive: exit status $st, want 1"
grep -q "^$tmp/bad.conf:3: " "$tmp/bad.out" ||
	fail "misspelt directive: no '$tmp/bad.conf:3: ...' error: $(cat "$tmp/bad.out")"
grep -q 'configuration ok' "$tmp/bad.out" && fail "misspelt directive: still 'configuration ok'"
exit 0
