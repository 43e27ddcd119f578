#!/bin/bash
# t70: hsmtls-server -t -c FILE checks a configuration without serving:
# it parses the whole file, logs in to each token, finds each key and
# self-tests each key/certificate pair on the token, then prints
# "configuration ok" (exit 0) -- or prints every error as FILE:LINE:
# message (exit 1).  Unknown directives, duplicates, a certificate that
# does not match its key, two sites with one name, a missing root, a PIN
# file others can read are each reported at their line; a token block no
# key uses is a warning.  Repeated single-value flags are refused.
. "$(dirname "$0")/lib.sh"
need_tool openssl

use_testp11
make_token
make_second_token second
EC=$(make_key_on "$TOKEN_LABEL" "$PIN_FILE" ec:P-256 web 01)
RSA=$(make_key_on second "$TOKEN2_PIN" rsa:2048 web-rsa 02)
make_cert_for "$EC" "$PIN_FILE" "$tmp/a.pem" a.test
make_cert_for "$RSA" "$TOKEN2_PIN" "$tmp/b.pem" b.test
make_root
C=$tmp/hsmtls.conf

good_conf() {
	cat >"$C" <<EOF
# two tokens of one module, two sites
listen 127.0.0.1:0;
admin-listen 127.0.0.1:0;
log-level info;
token $TOKEN_LABEL {
    module $HSMTLS_TESTP11;
    pin-file $PIN_FILE;
}
token second {
    module $HSMTLS_TESTP11;
    pin-file "$TOKEN2_PIN";   # quoted values work too
}
site a {
    server-name a.test;
    root $ROOT;
    key "$EC" $tmp/a.pem;
}
site b {
    server-name b.test *.b.test;
    root $ROOT;
    key "$RSA" $tmp/b.pem;
}
EOF
}

# check_conf: run -t on $C; sets ST, OUT (stdout) and ERR (stderr file).
check_conf() {
	ST=0
	timeout "$WAIT_SECS" "$HSMTLS_SERVER" -t -c "$C" "$@" >"$tmp/t.out" 2>"$tmp/t.err" || ST=$?
	OUT=$(cat "$tmp/t.out")
	ERR=$tmp/t.err
}

# Test: a good configuration: "configuration ok", exit 0, each token
# logged in once and each key signed on the token by the self-test.
good_conf
check_conf
[ "$ST" -eq 0 ] || fail "-t on a good file: exit $ST: $(cat "$ERR")"
[ "$OUT" = "configuration ok" ] || fail "-t stdout: got '$OUT', want 'configuration ok'"
[ ! -s "$ERR" ] || fail "-t on a good file printed on stderr: $(cat "$ERR")"
[ "$(count_of C_Login)" -eq 2 ] || fail "C_Login for two tokens: got $(count_of C_Login), want 2"
[ "$(count_of C_Sign)" -eq 2 ] || fail "C_Sign (self-test of two keys): got $(count_of C_Sign), want 2"
[ "$(count_of C_Initialize)" -eq 1 ] || fail "C_Initialize of the shared module: got $(count_of C_Initialize), want 1"
[ "$(count_of C_Finalize)" -eq 1 ] || fail "C_Finalize of the shared module: got $(count_of C_Finalize), want 1"

# Test: three errors in one file are all reported, each at its line.
good_conf
sed -i 's/^log-level info;/log-level loud;/' "$C"              # line 4
sed -i 's/^    server-name a.test;/    server-name a.test;\n    colour blue;/' "$C"   # line 14
sed -i 's|^    root \(.*\);$|    root \1;\n    root \1;|' "$C"   # duplicates in both sites
check_conf
[ "$ST" -eq 1 ] || fail "-t on a broken file: exit $ST, want 1"
[ -z "$OUT" ] || fail "-t on a broken file printed '$OUT' on stdout"
grep -q "^$C:4: 'log-level': want error, warn, info or debug, got 'loud'\$" "$ERR" ||
	fail "no error for line 4 (log-level): $(cat "$ERR")"
grep -q "^$C:15: unknown directive 'colour'\$" "$ERR" ||
	fail "no error for line 15 (colour): $(cat "$ERR")"
grep -q "^$C:17: 'root': duplicate: already given on line 16\$" "$ERR" ||
	fail "no error for line 17 (duplicate root): $(cat "$ERR")"
grep -q "^$C:23: 'root': duplicate: already given on line 22\$" "$ERR" ||
	fail "no error for line 23 (duplicate root in site b): $(cat "$ERR")"
[ "$(wc -l <"$ERR")" -eq 4 ] || fail "want exactly 4 error lines: $(cat "$ERR")"

# Test: a certificate that does not match its key, at the key's line.
good_conf
sed -i "s|key \"$RSA\" $tmp/b.pem;|key \"$RSA\" $tmp/a.pem;|" "$C"
check_conf
[ "$ST" -eq 1 ] || fail "mismatched certificate: exit $ST, want 1"
grep -q "^$C:21: .*does not match" "$ERR" ||
	fail "mismatched certificate not reported at line 21: $(cat "$ERR")"

# Test: two sites with the same name; a site without root; a missing root.
good_conf
sed -i 's/^site b {/site a {/' "$C"
check_conf
grep -q "^$C:18: 'site': site 'a' is already defined on line 13\$" "$ERR" ||
	fail "duplicate site name not reported: $(cat "$ERR")"
cat >"$C" <<EOF
token $TOKEN_LABEL {
    pin-file $PIN_FILE;
}
site a {
    key "$EC" $tmp/a.pem;
}
EOF
check_conf
grep -q "^$C:4: 'site': site 'a' has no root and no upstream: give one (root DIR; or upstream tcp:HOST:PORT|unix:PATH;)$" "$ERR" ||
	fail "site without root not reported: $(cat "$ERR")"
good_conf
sed -i "0,\|root $ROOT;|s||root $tmp/no-such-dir;|" "$C"
check_conf
[ "$ST" -eq 1 ] || fail "missing root: exit $ST, want 1"
grep -q "^$C:13: document root '$tmp/no-such-dir': No such file or directory\$" "$ERR" ||
	fail "missing document root not reported: $(cat "$ERR")"

# Test: a PIN file that others can read is refused, naming the file.
good_conf
cp "$TOKEN2_PIN" "$tmp/open.pin"
chmod 0644 "$tmp/open.pin"
sed -i "s|pin-file \"$TOKEN2_PIN\";|pin-file $tmp/open.pin;|" "$C"
check_conf
[ "$ST" -eq 1 ] || fail "PIN file 0644: exit $ST, want 1"
grep -q "^$C:21: .*PIN file $tmp/open.pin: .*0644" "$ERR" ||
	fail "PIN file 0644 not reported at the key's line: $(cat "$ERR")"

# Test: a token block no key uses is a warning; the check still passes.
good_conf
cat >>"$C" <<EOF
token spare {
    module $HSMTLS_TESTP11;
}
EOF
check_conf
[ "$ST" -eq 0 ] || fail "unused token block: exit $ST, want 0: $(cat "$ERR")"
[ "$OUT" = "configuration ok" ] || fail "unused token block: stdout '$OUT'"
grep -q "^$C:23: warning: token 'spare' is not used by any key\$" "$ERR" ||
	fail "unused token block not warned about: $(cat "$ERR")"

# Test: a second site without server-name can never be reached: a warning.
good_conf
sed -i '/server-name b.test/d' "$C"
check_conf
[ "$ST" -eq 0 ] || fail "unreachable site: exit $ST, want 0: $(cat "$ERR")"
grep -q "^$C:18: warning: site 'b' has no server-name and is not the first site: no client can reach it\$" "$ERR" ||
	fail "unreachable site not warned about: $(cat "$ERR")"

# Test: structure errors: a missing ';', an unterminated string, a stray '}'.
printf 'listen 127.0.0.1:0\nsite a {\n root /;\n}\n' >"$C"
check_conf
grep -q "^$C:1: 'listen': takes no { } block (is a ';' missing?)\$" "$ERR" ||
	fail "missing ';' not reported usefully: $(cat "$ERR")"
printf 'site a {\n  key "pkcs11:token=x\n}\n' >"$C"
check_conf
grep -q "^$C:2: unterminated quoted string\$" "$ERR" ||
	fail "unterminated string not reported: $(cat "$ERR")"
printf '}\n' >"$C"
check_conf
[ "$ST" -eq 1 ] && grep -q "^$C:1: '}' without a block to close\$" "$ERR" ||
	fail "stray '}' not reported: $(cat "$ERR")"

# Test: a file that does not exist.
check_conf_missing() {
	ST=0
	"$HSMTLS_SERVER" -t -c "$tmp/none.conf" >/dev/null 2>"$tmp/t.err" || ST=$?
}
check_conf_missing
[ "$ST" -eq 1 ] && grep -q "^$tmp/none.conf: cannot open: No such file or directory\$" "$tmp/t.err" ||
	fail "missing file: $(cat "$tmp/t.err")"

# Test: repeated single-value flags and flags beside -c are refused.
expect_startup_failure "given twice" --cert "$tmp/a.pem" --cert "$tmp/b.pem" \
    --key "$EC" --pin-file "$PIN_FILE" --root "$ROOT"
good_conf
ST=0
"$HSMTLS_SERVER" -c "$C" --root "$ROOT" >/dev/null 2>"$tmp/t.err" || ST=$?
[ "$ST" -eq 1 ] && grep -q "^hsmtls-server: --root cannot be combined with -c" "$tmp/t.err" ||
	fail "--root with -c: exit $ST: $(cat "$tmp/t.err")"
exit 0
