#!/bin/bash
# t61: the built hsmtls.service and hsmtls-keyd.service pass
# "systemd-analyze verify" without a single complaint (unknown settings,
# bad values, missing programs, the man pages in Documentation=), and
# "systemd-analyze security" rates the server's exposure at most 2.0 and
# the key daemon's (started as root, it drops to its user itself) at most
# 3.0 ("OK").  The server wants the daemon and starts after it.  Skipped where systemd-analyze is not
# installed.  Nothing is started: only the unit file is read.
. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null 2>&1 || skip "systemd-analyze not installed"
[ -n "${abs_top_builddir:-}" ] || hard_error "abs_top_builddir is not set (run through make check)"
built=$abs_top_builddir/dist/hsmtls.service
kbuilt=$abs_top_builddir/dist/hsmtls-keyd.service
[ -f "$built" ] || hard_error "$built was not built (make all)"
[ -f "$kbuilt" ] || hard_error "$kbuilt was not built (make all)"
need_file HSMTLS_KEYD

# The unit names the installed server; verify wants programs that exist,
# so the copy checked here names the built one.  (A unit file's name is its
# unit name: the copy keeps it.)
mkdir -p "$tmp/unit"
sed "s|/[^ =]*/hsmtls-server |$HSMTLS_SERVER |" "$built" >"$tmp/unit/hsmtls.service"
grep -q "^ExecStart=$HSMTLS_SERVER -c " "$tmp/unit/hsmtls.service" ||
	fail "the unit's ExecStart= does not run hsmtls-server -c: $(grep '^ExecStart=' "$built")"
sed "s|/[^ =]*/hsmtls-keyd |$HSMTLS_KEYD |" "$kbuilt" >"$tmp/unit/hsmtls-keyd.service"
grep -q "^ExecStart=$HSMTLS_KEYD -c " "$tmp/unit/hsmtls-keyd.service" ||
	fail "hsmtls-keyd.service's ExecStart= does not run hsmtls-keyd -c: $(grep '^ExecStart=' "$kbuilt")"
grep -qx 'Wants=network-online.target hsmtls-keyd.service' "$built" &&
	grep -qx 'After=network-online.target hsmtls-keyd.service' "$built" ||
	fail "hsmtls.service does not want and follow hsmtls-keyd.service"
grep -q '^Requires=.*hsmtls-keyd' "$built" && fail "hsmtls.service requires the daemon (it reconnects by itself)"
grep -qx 'Type=notify' "$kbuilt" || fail "hsmtls-keyd.service is not Type=notify"

# Documentation= must name pages that exist: the project's own, from here.
man_opt=--man=yes
if command -v man >/dev/null 2>&1; then
	mkdir -p "$tmp/man/man5" "$tmp/man/man8"
	cp "$top_srcdir/doc/hsmtls.conf.5" "$tmp/man/man5/"
	cp "$top_srcdir/server/hsmtls-server.8" "$top_srcdir/keyd/hsmtls-keyd.8" \
	    "$tmp/man/man8/"
	MANPATH=$tmp/man
	export MANPATH
else
	man_opt=--man=no
	echo "note: no man(1): Documentation= not checked" >&2
fi

# Test: verify exits 0 and says nothing, for each unit.
for u in hsmtls.service hsmtls-keyd.service; do
	st=0
	systemd-analyze verify "$man_opt" "$tmp/unit/$u" \
		>"$tmp/verify.out" 2>"$tmp/verify.err" || st=$?
	[ "$st" -eq 0 ] || fail "systemd-analyze verify $u: exit status $st: $(cat "$tmp/verify.out" "$tmp/verify.err")"
	[ ! -s "$tmp/verify.out" ] && [ ! -s "$tmp/verify.err" ] ||
		fail "systemd-analyze verify $u complains: $(cat "$tmp/verify.out" "$tmp/verify.err")"
done

# Test: an unknown setting is reported (the check above can fail).
sed 's/^LockPersonality=yes$/LockPersonalty=yes/' "$tmp/unit/hsmtls.service" >"$tmp/bad.service"
mkdir -p "$tmp/bad"
mv "$tmp/bad.service" "$tmp/bad/hsmtls.service"
systemd-analyze verify "$man_opt" "$tmp/bad/hsmtls.service" >"$tmp/bad.out" 2>&1 || true
grep -q 'LockPersonalty' "$tmp/bad.out" ||
	fail "systemd-analyze verify did not report a misspelt setting: $(cat "$tmp/bad.out")"

# Test: the sandbox's exposure level is at most 2.0 (systemd 250 and later
# can rate a unit file offline).
if systemd-analyze security --help 2>&1 | grep -q -- '--offline'; then
	st=0
	systemd-analyze security --offline=yes --threshold=20 \
		"$tmp/unit/hsmtls.service" >"$tmp/security.out" 2>&1 || st=$?
	level=$(sed -n 's/.*Overall exposure level for hsmtls.service: \([0-9.]*\).*/\1/p' "$tmp/security.out")
	echo "exposure level: ${level:-?}" >&2
	[ "$st" -eq 0 ] && [ -n "$level" ] ||
		fail "exposure level '${level:-?}' above 2.0 (status $st): $(grep '✗' "$tmp/security.out")"
	st=0
	systemd-analyze security --offline=yes --threshold=30 \
		"$tmp/unit/hsmtls-keyd.service" >"$tmp/ksecurity.out" 2>&1 || st=$?
	level=$(sed -n 's/.*Overall exposure level for hsmtls-keyd.service: \([0-9.]*\).*/\1/p' "$tmp/ksecurity.out")
	echo "key daemon exposure level: ${level:-?}" >&2
	[ "$st" -eq 0 ] && [ -n "$level" ] ||
		fail "key daemon exposure level '${level:-?}' above 3.0 (status $st): $(grep '✗' "$tmp/ksecurity.out")"
else
	echo "note: systemd-analyze security has no --offline: exposure not rated" >&2
fi
exit 0
