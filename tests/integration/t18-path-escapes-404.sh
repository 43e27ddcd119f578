#!/bin/bash
# t18: requests cannot leave the document root: "..", "%2e%2e" and
# symlinks pointing outside all give 404 and never the outside file; a
# symlink inside the root is served; an unknown file is 404.
. "$(dirname "$0")/lib.sh"
need_tool curl

setup_server_key ec:P-256
secret="outside-secret-$$-$RANDOM"
printf '%s\n' "$secret" >"$tmp/secret.txt"
mkdir "$tmp/outdir"
printf '%s\n' "$secret" >"$tmp/outdir/index.html"
ln -s "$tmp/secret.txt" "$ROOT/out-abs.txt"
ln -s ../secret.txt "$ROOT/out-rel.txt"
ln -s "$tmp/outdir" "$ROOT/outdir"
ln -s file.txt "$ROOT/in.txt"
ln -s sub "$ROOT/insub"
mkdir "$ROOT/noindex"
printf 'listed?\n' >"$ROOT/noindex/listed-file-$$.txt"
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# expect_status PATH WANT: curl --path-as-is sends PATH unchanged.
expect_status() {
	code=$(http_code "$1" --path-as-is)
	[ "$code" = "$2" ] || fail "GET $1: got status $code, want $2"
	if grep -qF "$secret" "$tmp/body.out"; then
		fail "GET $1: response contains the file outside the root"
	fi
	return 0
}

# Test: dot-dot in every spelling.
for p in /../../etc/passwd /%2e%2e/%2e%2e/etc/passwd /%2E%2E/%2E%2E/etc/passwd \
    /../secret.txt /%2e%2e/secret.txt /sub/../../secret.txt /sub/%2e%2e/%2e%2e/secret.txt \
    /.%2e/secret.txt /%2e./secret.txt /..%2fsecret.txt /%2e%2e%2fsecret.txt; do
	expect_status "$p" 404
	grep -q '^root:' "$tmp/body.out" && fail "GET $p: response contains /etc/passwd"
done

# Test: symlinks pointing outside (absolute, relative, a directory).
expect_status /out-abs.txt 404
expect_status /out-rel.txt 404
expect_status /outdir/ 404
expect_status /outdir/index.html 404

# Test: symlinks inside the root are served.
expect_status /in.txt 200
cmp -s "$tmp/body.out" "$ROOT/file.txt" || fail "GET /in.txt: body is not file.txt"
expect_status /insub/index.html 200
cmp -s "$tmp/body.out" "$ROOT/sub/index.html" || fail "GET /insub/index.html: body is not sub/index.html"

# Test: unknown files.
expect_status /no-such-file.html 404
expect_status /sub/no-such-file 404

# Test: a directory without index.html is not listed.
code=$(http_code /noindex/)
[ "$code" != 200 ] || fail "GET /noindex/: got status 200, want no listing (404)"
grep -q "listed-file-$$" "$tmp/body.out" && fail "GET /noindex/: the response lists the directory"
expect_status /noindex/ 404

# The server is still healthy after all that.
expect_status / 200
stop_server_ok
