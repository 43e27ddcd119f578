#!/bin/bash
# t60: "make install DESTDIR=..." puts exactly the documented files where
# the build's directory variables say: hsmtls-server, hsmtls-keyd and hsmtls-token in
# $(bindir), hsmtls-token(1), hsmtls.conf(5), hsmtls-server(8) and hsmtls-keyd(8) in
# $(mandir), the example configuration in $(docdir), hsmtls.service in
# $(systemdsystemunitdir) (unless configured out) and an empty
# $(sysconfdir)/hsmtls; the installed unit and example name the installed
# paths and the unit has its hardening settings, each under a comment; the
# man pages format without a warning (groff or mandoc, when installed); and
# "make uninstall" removes every file again.  Nothing is written outside
# this test's directory (DESTDIR), which also holds under "make distcheck".
. "$(dirname "$0")/lib.sh"

[ -n "${abs_top_builddir:-}" ] && [ -f "$abs_top_builddir/Makefile" ] ||
	hard_error "abs_top_builddir is not a configured build tree (run through make check)"
need_tool make

# The inner make must not join the outer one's job server or flags.
inner_make() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		make --no-print-directory -C "$abs_top_builddir" "$@"
}

# The installation directories exactly as this build's Makefile has them.
cat >"$tmp/print.mk" <<'EOF'
print-install-dirs:
	@echo "prefix=$(prefix)"
	@echo "bindir=$(bindir)"
	@echo "mandir=$(mandir)"
	@echo "docdir=$(docdir)"
	@echo "sysconfdir=$(sysconfdir)"
	@echo "unitdir=$(systemdsystemunitdir)"
EOF
inner_make -s -f Makefile -f "$tmp/print.mk" print-install-dirs >"$tmp/dirs.out" 2>"$tmp/dirs.err" ||
	fail "cannot read the install directories: $(cat "$tmp/dirs.err")"
dir() { sed -n "s|^$1=||p" "$tmp/dirs.out"; }
prefix=$(dir prefix) bindir=$(dir bindir) mandir=$(dir mandir)
docdir=$(dir docdir) sysconfdir=$(dir sysconfdir) unitdir=$(dir unitdir)
for v in prefix bindir mandir docdir sysconfdir unitdir; do
	eval "val=\$$v"
	case $v:$val in
	*:/* | unitdir:no) ;;
	*) fail "$v is '$val', not an absolute directory" ;;
	esac
done

root=$tmp/root
inner_make install DESTDIR="$root" >"$tmp/install.out" 2>"$tmp/install.err" ||
	fail "make install failed: $(tail -5 "$tmp/install.err")"

# Test: exactly these files (and the empty configuration directory).
{
	echo "$bindir/hsmtls-server"
	echo "$bindir/hsmtls-keyd"
	echo "$bindir/hsmtls-token"
	echo "$mandir/man1/hsmtls-token.1"
	echo "$mandir/man5/hsmtls.conf.5"
	echo "$mandir/man8/hsmtls-server.8"
	echo "$mandir/man8/hsmtls-keyd.8"
	echo "$docdir/hsmtls.conf.example"
	[ "$unitdir" = no ] || echo "$unitdir/hsmtls.service"
	[ "$unitdir" = no ] || echo "$unitdir/hsmtls-keyd.service"
} | sort >"$tmp/want.files"
(cd "$root" && find . -type f -o -type l) | sed 's|^\.||' | sort >"$tmp/have.files"
diff -u "$tmp/want.files" "$tmp/have.files" >&2 ||
	fail "installed files differ from the documented layout (- missing, + unexpected)"
[ -d "$root$sysconfdir/hsmtls" ] || fail "no $sysconfdir/hsmtls directory"
[ -z "$(ls -A "$root$sysconfdir/hsmtls")" ] ||
	fail "make install put files into $sysconfdir/hsmtls: $(ls -A "$root$sysconfdir/hsmtls")"

# Test: the programs are installed executable, and run from there.
for p in hsmtls-server hsmtls-keyd hsmtls-token; do
	[ -x "$root$bindir/$p" ] || fail "$bindir/$p is not executable"
done
"$root$bindir/hsmtls-server" --version >"$tmp/version.out" 2>&1 ||
	fail "installed hsmtls-server --version failed: $(cat "$tmp/version.out")"
grep -q '^hsmtls-server [0-9]' "$tmp/version.out" ||
	fail "installed hsmtls-server --version printed '$(cat "$tmp/version.out")'"
"$root$bindir/hsmtls-token" --help >/dev/null 2>"$tmp/help.err" ||
	fail "installed hsmtls-token --help failed: $(cat "$tmp/help.err")"
for f in "$mandir/man1/hsmtls-token.1" "$mandir/man5/hsmtls.conf.5" \
    "$mandir/man8/hsmtls-server.8" "$docdir/hsmtls.conf.example"; do
	perm=$(stat -c %a "$root$f")
	[ "$perm" = 644 ] || fail "$f has mode $perm, want 644"
done

# Test: the man pages format without warnings.
if command -v groff >/dev/null 2>&1; then
	for f in "$mandir/man1/hsmtls-token.1" "$mandir/man5/hsmtls.conf.5" \
	    "$mandir/man8/hsmtls-server.8" "$mandir/man8/hsmtls-keyd.8"; do
		LC_ALL=C.UTF-8 groff -mandoc -Tutf8 -ww -z "$root$f" 2>"$tmp/groff.err" ||
			fail "groff failed on $f: $(cat "$tmp/groff.err")"
		[ ! -s "$tmp/groff.err" ] || fail "groff warns on $f: $(cat "$tmp/groff.err")"
	done
elif command -v mandoc >/dev/null 2>&1; then
	for f in "$mandir/man1/hsmtls-token.1" "$mandir/man5/hsmtls.conf.5" \
	    "$mandir/man8/hsmtls-server.8" "$mandir/man8/hsmtls-keyd.8"; do
		mandoc -Tlint -Wwarning "$root$f" >"$tmp/mandoc.err" 2>&1 ||
			fail "mandoc warns on $f: $(cat "$tmp/mandoc.err")"
	done
else
	echo "note: neither groff nor mandoc: man pages not formatted" >&2
fi

# Test: the example names the installed configuration directory and holds
# what it is documented to show.
ex=$root$docdir/hsmtls.conf.example
grep -q '@[a-z]*@' "$ex" && fail "unsubstituted @...@ in the example: $(grep '@[a-z]*@' "$ex")"
grep -q "ticket-key-file $sysconfdir/hsmtls/ticket.keys;" "$ex" ||
	fail "the example's ticket-key-file is not in $sysconfdir/hsmtls"
grep -qx 'admin-listen 127.0.0.1:9443;' "$ex" || fail "the example has no admin-listen 127.0.0.1:9443"
grep -q '^access-log /' "$ex" || fail "the example has no access-log"
[ "$(grep -c '^site [a-z]* {$' "$ex")" -eq 2 ] || fail "the example does not have two sites"
[ "$(grep -c '^token [a-z-]* {$' "$ex")" -eq 2 ] || fail "the example does not have two token blocks"
grep -qx "    pin-file $sysconfdir/hsmtls/token.pin;" "$ex" ||
	fail "the example's PIN file is not $sysconfdir/hsmtls/token.pin (read by the key daemon as root)"
grep -qx 'keyd /run/hsmtls-keyd/keyd.sock;' "$ex" ||
	fail "the example does not use the key daemon's socket /run/hsmtls-keyd/keyd.sock"
grep -qx 'user hsmtls;' "$ex" || fail "the example does not name the server's user (the daemon's socket group)"
grep -q '^    key "pkcs11:[^"]*;object=[^"]*rsa[^"]*" /' "$ex" &&
	grep -q '^    key "pkcs11:[^"]*;object=[^"]*-ec;[^"]*" /' "$ex" ||
	fail "the example's first site does not have an RSA and an EC key, quoted"

[ "$unitdir" != no ] || { echo "note: configured without the systemd unit" >&2; exit 0; }

# Test: the unit runs the installed server on the installed configuration
# file, checking it first and before every reload.
unit=$root$unitdir/hsmtls.service
grep -q '@[a-z]*@' "$unit" && fail "unsubstituted @...@ in the unit: $(grep '@[a-z]*@' "$unit")"
conf=$sysconfdir/hsmtls/hsmtls.conf
for line in \
    "Type=simple" \
    "ExecStartPre=$bindir/hsmtls-server -t -c $conf" \
    "ExecStart=$bindir/hsmtls-server -c $conf" \
    "ExecReload=$bindir/hsmtls-server -t -c $conf" \
    "ExecReload=/bin/kill -HUP \$MAINPID" \
    "Restart=on-abnormal" \
    "User=hsmtls" \
    "NoNewPrivileges=yes" \
    "ProtectSystem=strict" \
    "ProtectHome=yes" \
    "PrivateTmp=yes" \
    "PrivateDevices=no" \
    "DevicePolicy=closed" \
    "ProtectKernelTunables=yes" \
    "ProtectKernelModules=yes" \
    "ProtectControlGroups=yes" \
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" \
    "LockPersonality=yes" \
    "MemoryDenyWriteExecute=yes" \
    "RestrictRealtime=yes" \
    "SystemCallArchitectures=native" \
    "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" \
    "AmbientCapabilities=CAP_NET_BIND_SERVICE" \
    "LimitCORE=0" \
    "LogsDirectory=hsmtls" \
    "RuntimeDirectory=hsmtls"; do
	grep -qxF -- "$line" "$unit" || fail "the unit has no line '$line'"
done
grep -q '^Type=notify' "$unit" && fail "the unit is Type=notify, but the server has no sd_notify"
# The server never sees a PIN: the key daemon holds it.
grep -q '^LoadCredential=' "$unit" && fail "hsmtls.service loads a PIN credential: $(grep '^LoadCredential=' "$unit")"
grep -qx 'After=network-online.target hsmtls-keyd.service' "$unit" ||
	fail "hsmtls.service does not start after hsmtls-keyd.service"

# Test: the key daemon's unit runs the installed daemon on the same file,
# starts as root and drops by itself, and has its own runtime directory.
kunit=$root$unitdir/hsmtls-keyd.service
grep -q '@[a-z]*@' "$kunit" && fail "unsubstituted @...@ in the daemon's unit: $(grep '@[a-z]*@' "$kunit")"
for line in \
    "Type=notify" \
    "ExecStart=$bindir/hsmtls-keyd -c $conf" \
    "ExecReload=/bin/kill -HUP \$MAINPID" \
    "Restart=on-abnormal" \
    "CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_CHOWN" \
    "NoNewPrivileges=yes" \
    "RuntimeDirectory=hsmtls-keyd" \
    "ProtectSystem=strict" \
    "LimitCORE=0" \
    "MemoryDenyWriteExecute=yes"; do
	grep -qxF -- "$line" "$kunit" || fail "hsmtls-keyd.service has no line '$line'"
done
grep -q '^User=' "$kunit" && fail "hsmtls-keyd.service sets User= (the daemon reads the PIN files as root, then drops)"
# Each group of settings sits under a comment that says why.
awk '
	/^\[/ { prev = "section"; next }
	/^#/ { prev = "comment"; next }
	/^$/ { prev = "blank"; next }
	{
		if (prev != "comment" && prev != "setting" && $0 !~ /^(Description|Documentation)=/)
			printf "%s line %d without a comment: %s\n", FILENAME, FNR, $0
		prev = "setting"
	}
' "$unit" "$kunit" >"$tmp/uncommented.out"
[ ! -s "$tmp/uncommented.out" ] || fail "unit settings without a comment: $(cat "$tmp/uncommented.out")"

# Test: "make uninstall" leaves no file behind.
inner_make uninstall DESTDIR="$root" >"$tmp/uninstall.out" 2>"$tmp/uninstall.err" ||
	fail "make uninstall failed: $(tail -5 "$tmp/uninstall.err")"
left=$(cd "$root" && find . -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
exit 0
