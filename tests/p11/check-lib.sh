# check-lib.sh - what the hsmtls-token check scripts share (sourced, after
# they set HSMTLS_TOKEN and ran their skips): a private temporary directory
# $tmp removed at exit (printing the last stderr of a failing run), fail,
# and tok (hsmtls-token with its stderr in $tmp/err).
#   check_tmp NAME   make $tmp (NAME names it) and arm the cleanup

check_tmp() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/hsmtls-$1.XXXXXX")
	tmp=$(cd "$tmp" && pwd -P)
	trap check_cleanup EXIT
	trap 'exit 1' INT TERM HUP
}

check_cleanup() {
	rc=$?
	if [ $rc -ne 0 ] && [ -s "$tmp/err" ]; then
		echo "--- last stderr:" >&2
		cat "$tmp/err" >&2
	fi
	rm -rf "$tmp"
	exit $rc
}

fail() { echo "FAIL: $*" >&2; exit 1; }
tok() { "$HSMTLS_TOKEN" "$@" 2>"$tmp/err"; }
