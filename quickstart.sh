#!/bin/bash
# quickstart.sh - build hsmtls on Debian 12 and run it or test it.
#
#   ./quickstart.sh serve [server options...]
#       install build dependencies if missing, build in build/, provision a
#       development SoftHSM token in dev-token/ (first run only), write and
#       print dev-token/hsmtls.conf, start the key daemon hsmtls-keyd on it
#       (as the user hsmtls-keyd when run as root; created if missing), and
#       run hsmtls-server -c on it in the foreground, through the daemon,
#       on https://127.0.0.1:8443/ (admin on 127.0.0.1:8444).  Ctrl-C or
#       the server's exit stops both.
#   ./quickstart.sh test
#       install, build, and run the whole test suite (make check); the exit
#       status is the test result.
#
# Environment: JOBS (default 2) parallel make jobs; CONFIGURE_FLAGS extra
# flags for the first ./configure in build/.
set -euo pipefail

PACKAGES=(
	build-essential autoconf automake libtool pkg-config
	libssl-dev openssl libp11-dev libp11-kit-dev p11-kit
	libev-dev libhttp-parser-dev libnghttp2-dev libcmocka-dev softhsm2 opensc
	curl nghttp2-client ca-certificates gnutls-bin procps iproute2 python3 groff-base
	util-linux passwd
	gdb  # gcore: the key custody test scans a core dump of the server
)
KEYD_USER=hsmtls-keyd

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
jobs=${JOBS:-2}
build=$here/build

say() { printf 'quickstart: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

usage() {
	cat >&2 <<'EOF'
usage: ./quickstart.sh serve [-t]
       ./quickstart.sh test
EOF
	exit 2
}

# missing_packages: the Debian packages from PACKAGES not installed.
missing_packages() {
	local p status
	for p in "${PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$status" = "install ok installed" ] || printf '%s\n' "$p"
	done
}

ensure_packages() {
	if ! command -v dpkg-query >/dev/null 2>&1; then
		say "not a Debian system (no dpkg-query): install the equivalents of: ${PACKAGES[*]}"
		say "continuing; the build will say what is missing"
		return 0
	fi
	local missing
	mapfile -t missing < <(missing_packages)
	[ "${#missing[@]}" -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		say "missing Debian packages: ${missing[*]}"
		die "run as root, or first: sudo apt-get install --no-install-recommends ${missing[*]}"
	fi
	say "installing: ${missing[*]}"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
}

build_tree() {
	if [ ! -x configure ] || [ configure.ac -nt configure ]; then
		say "autoreconf -fi"
		# A fresh clone has no m4/ (its files are generated).
		mkdir -p m4
		autoreconf -fi
	fi
	# An in-tree configure blocks out-of-tree builds; say how to fix it.
	if [ -f config.status ]; then
		die "the source tree was configured in place; run 'make distclean' in $here first"
	fi
	mkdir -p "$build"
	if [ ! -f "$build/Makefile" ]; then
		say "configuring in build/"
		# shellcheck disable=SC2086 # CONFIGURE_FLAGS is a word list on purpose
		(cd "$build" && "$here/configure" ${CONFIGURE_FLAGS:-})
	fi
	say "building (make -j$jobs)"
	make -C "$build" -j"$jobs"
}

# provision_dev_token: a SoftHSM token in dev-token/ with an EC P-256 key
# "web" (id 01), its URI in dev-token/key.uri and a self-signed
# certificate for localhost and 127.0.0.1 in dev-token/cert.pem.
provision_dev_token() {
	local dir=$here/dev-token tool=$build/tokens/hsmtls-token uri
	if [ -d "$dir" ]; then
		local f
		for f in key.uri cert.pem softhsm2.conf user.pin; do
			[ -f "$dir/$f" ] || die "dev-token/ has no $f; remove dev-token/ and run again"
		done
		return 0
	fi
	say "provisioning a development token in dev-token/"
	# A half-made token would be skipped next time: remove it on failure.
	"$tool" init --dir "$dir" >/dev/null || provision_failed
	export SOFTHSM2_CONF=$dir/softhsm2.conf
	uri=$("$tool" keygen --token hsmtls-dev --pin-file "$dir/user.pin" \
	    --type ec:P-256 --label web --id 01) || provision_failed
	[ -n "$uri" ] || provision_failed
	printf '%s\n' "$uri" >"$dir/key.uri"
	"$tool" selfsign --key "$uri" --pin-file "$dir/user.pin" \
	    --san DNS:localhost,IP:127.0.0.1 --out "$dir/cert.pem" >/dev/null ||
		provision_failed
	say "key: $uri"
}

provision_failed() {
	rm -rf "$here/dev-token"
	die "provisioning the development token failed; dev-token/ removed"
}

# write_dev_conf FILE URI KEYD_USER: the configuration quickstart serves,
# written anew each run from the development token (a working example to
# copy).
write_dev_conf() {
	cat >"$1" <<EOF
# hsmtls.conf written by quickstart.sh for the development token in
# dev-token/ (see hsmtls.conf(5); check it with: hsmtls-server -t -c FILE
# while hsmtls-keyd runs)
listen 127.0.0.1:8443;
admin-listen 127.0.0.1:8444;    # plain HTTP: /healthz and /metrics
access-log stderr;
log-level info;

# hsmtls-keyd -c FILE holds the token (module, PIN, sessions); the server
# loads no PKCS#11 module and sends it every key operation.
keyd $here/dev-token/keyd.sock;
# The daemon's user after it has read the PIN file (when started as root).
keyd-user $3;

token hsmtls-dev {
    pin-file $here/dev-token/user.pin;
}

site dev {
    server-name localhost 127.0.0.1;
    root $here/server/www;
    key "$2" $here/dev-token/cert.pem;
}
EOF
}

# keyd_user: the user the key daemon runs as.  As root: hsmtls-keyd
# (created if missing), owning the token store, when it can reach
# dev-token/; else root, said why.  Not root: the daemon stays this user.
keyd_user() {
	local dir=$here/dev-token
	if [ "$(id -u)" -ne 0 ]; then
		id -un
		return 0
	fi
	if ! id "$KEYD_USER" >/dev/null 2>&1; then
		say "creating the system user $KEYD_USER for the key daemon"
		useradd --system --no-create-home --shell /usr/sbin/nologin "$KEYD_USER" >&2 ||
			die "useradd $KEYD_USER failed"
	fi
	# The daemon reads the PIN file as root, then opens the token as
	# $KEYD_USER: the token store, its configuration and the certificate
	# must be that user's to reach (SoftHSM writes the store on login).
	# dev-token/ itself: passable, not listable; the PIN files stay 0600.
	chown -R "$KEYD_USER" "$dir/tokens"
	chmod 0711 "$dir"
	chmod 0644 "$dir/softhsm2.conf" "$dir/cert.pem"
	if setpriv --reuid="$KEYD_USER" --regid="$(id -g "$KEYD_USER")" --clear-groups \
	    test -r "$dir/softhsm2.conf" -a -w "$dir/tokens" 2>/dev/null; then
		echo "$KEYD_USER"
		return 0
	fi
	say "warning: $KEYD_USER cannot reach $dir (a parent directory is closed to it, e.g. /root):"
	say "warning: the key daemon stays root for this run; clone elsewhere (e.g. /srv) to run it as $KEYD_USER"
	echo root
}

KEYD_PID=""
stop_keyd() {
	if [ -n "$KEYD_PID" ] && kill -0 "$KEYD_PID" 2>/dev/null; then
		kill -TERM "$KEYD_PID" 2>/dev/null || true
		wait "$KEYD_PID" 2>/dev/null || true
	fi
	KEYD_PID=""
}

# start_keyd CONF LOG: hsmtls-keyd in the background, its lines on stderr
# and in LOG; returns once it listens (or dies with its error).
start_keyd() {
	local i=0
	: >"$2"
	"$build/keyd/hsmtls-keyd" -c "$1" </dev/null 2> >(tee -a "$2" >&2) &
	KEYD_PID=$!
	until grep -q '^listening on ' "$2"; do
		if ! kill -0 "$KEYD_PID" 2>/dev/null; then
			wait "$KEYD_PID" 2>/dev/null || true
			KEYD_PID=""
			sleep 0.2   # the last lines through tee
			die "hsmtls-keyd did not start (its lines are above, and in $2)"
		fi
		i=$((i + 1))
		[ "$i" -lt 300 ] || die "hsmtls-keyd printed no 'listening on' line within 30 s"
		sleep 0.1
	done
}

serve() {
	ensure_packages
	build_tree
	provision_dev_token
	local uri user st=0 conf=$here/dev-token/hsmtls.conf
	uri=$(head -n1 dev-token/key.uri)
	export SOFTHSM2_CONF=$here/dev-token/softhsm2.conf
	user=$(keyd_user)
	write_dev_conf "$conf" "$uri" "$user"
	say "configuration ($conf):"
	sed 's/^/    /' "$conf" >&2
	trap stop_keyd EXIT
	trap 'exit 130' INT TERM
	say "starting the key daemon (hsmtls-keyd -c $conf)"
	start_keyd "$conf" "$here/dev-token/keyd.log"
	say "serving server/www on https://127.0.0.1:8443/ through the key daemon"
	say "(Ctrl-C stops both; kill -HUP the daemon, then the server, reloads)"
	say "in another terminal, fetch the page with:"
	printf '\n    curl --cacert dev-token/cert.pem https://127.0.0.1:8443/\n    curl http://127.0.0.1:8444/metrics\n\n' >&2
	"$build/server/hsmtls-server" -c "$conf" "$@" || st=$?
	return "$st"
}

run_tests() {
	ensure_packages
	build_tree
	say "running the test suite (make check)"
	local st=0
	make -C "$build" -j"$jobs" check </dev/null || st=$?
	if [ "$st" -eq 0 ]; then
		say "all tests passed"
	else
		say "tests failed (make check exit status $st); logs: build/tests/**/*.log"
	fi
	return "$st"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
serve) serve "$@" ;;
test)
	[ $# -eq 0 ] || usage
	run_tests
	;;
-h|--help|help) usage ;;
*) usage ;;
esac
