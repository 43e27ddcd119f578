#!/bin/bash
# t51: Content-Type follows the file extension, case-insensitively, for
# the common web types; anything else (no extension, an unknown one, a
# dot only in a directory name) is application/octet-stream.
. "$(dirname "$0")/lib.sh"
need_tool curl

setup_server_key ec:P-256
types='
html text/html; charset=utf-8
htm text/html; charset=utf-8
css text/css; charset=utf-8
js text/javascript; charset=utf-8
mjs text/javascript; charset=utf-8
json application/json
svg image/svg+xml
png image/png
jpg image/jpeg
jpeg image/jpeg
gif image/gif
webp image/webp
ico image/vnd.microsoft.icon
txt text/plain; charset=utf-8
wasm application/wasm
woff font/woff
woff2 font/woff2
pdf application/pdf
xml application/xml
avif image/avif
mp4 video/mp4
webm video/webm
'
mkdir -p "$ROOT/types" "$ROOT/dir.html"
n=0
while read -r ext type; do
	[ -n "$ext" ] || continue
	upper=$(printf '%s' "$ext" | tr a-z A-Z)
	printf 'x' >"$ROOT/types/f.$ext"
	printf 'x' >"$ROOT/types/F.$upper"
	printf 'x' >"$ROOT/types/Mixed.${upper:0:1}${ext:1}"
	n=$((n + 1))
done <<<"$types"
for f in types/noext types/unknown.zzz types/trailingdot. dir.html/plain \
    types/tar.gz.bin types/.hidden; do
	printf 'x' >"$ROOT/$f"
done
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

# content_type PATH: the Content-Type of GET PATH (and it must be 200).
content_type() {
	out=$(curl_srv -o /dev/null -w '%{http_code} %{content_type}' "$(url "$1")") || true
	case $out in
	"200 "*) printf '%s' "${out#200 }" ;;
	*) fail "GET $1: got '$out', want status 200" ;;
	esac
}

# Test: each extension in lower, upper and mixed case.
checked=0
while read -r ext type; do
	[ -n "$ext" ] || continue
	upper=$(printf '%s' "$ext" | tr a-z A-Z)
	for p in "/types/f.$ext" "/types/F.$upper" "/types/Mixed.${upper:0:1}${ext:1}"; do
		got=$(content_type "$p")
		[ "$got" = "$type" ] || fail "GET $p: Content-Type '$got', want '$type'"
		checked=$((checked + 1))
	done
done <<<"$types"
[ "$checked" -eq $((n * 3)) ] && [ "$n" -ge 22 ] || fail "checked $checked files for $n types"

# Test: unknown or no extension.
for p in /types/noext /types/unknown.zzz /types/trailingdot. /dir.html/plain /types/tar.gz.bin /types/.hidden; do
	got=$(content_type "$p")
	[ "$got" = application/octet-stream ] || fail "GET $p: Content-Type '$got', want 'application/octet-stream'"
done

# Test: HEAD gives the same type as GET.
got=$(curl_srv -I -o /dev/null -w '%{content_type}' "$(url /types/F.SVG)")
[ "$got" = image/svg+xml ] || fail "HEAD /types/F.SVG: Content-Type '$got', want 'image/svg+xml'"
stop_server_ok
