#!/bin/bash
# check-layers.sh - the engine's layers point one way (doc/DESIGN.md,
# "Layers"): every engine/*.c and *.h belongs to one layer, and what it
# includes, directly or through other engine headers, must come from a
# layer it may use.  PKCS#11 headers (pkcs11.h, libp11.h, p11-kit) are
# reached only by the token layer, the shared PKCS#11 helpers and
# engine.c.  Then the same check must fail on copies of engine/ with one
# forbidden include added, so that it cannot pass by checking nothing.
set -u

top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}

# layer FILE: the layer a file of engine/ belongs to.
layer() {
	case $1 in
	ckr.c|custody.c|error.c|pin.c|uri.c|metrics.c|pss.c|rsa_kx.c|\
	keyd_proto.c|key.c|hk.h|hk_err.h|hk_pin.h|hk_uri.h|hk_ckr.h|\
	hk_custody.h|hk_metrics.h|hk_rsa_kx.h|hk_keyd_proto.h|hk_key.h)
		echo common ;;
	hk_xport.h)
		echo interface ;;
	p11.c|p11_ops.c|recover.c|pool.c|hk_token.h|p11_internal.h)
		echo token ;;
	op.c|xport.c|keyd_client.c|hk_keyd.h)
		echo transport ;;
	provider.c|prov_asym.c|prov_keymgmt.c|prov_signature.c|prov.h)
		echo provider ;;
	hk_internal.h)
		echo state ;;
	engine.c|keyop.c)
		echo top ;;
	*)
		echo unknown ;;
	esac
}

# may FROM TO: 0 when layer FROM may include a header of layer TO.
may() {
	case $1:$2 in
	top:*) return 0 ;;
	*:common) return 0 ;;
	interface:interface) return 0 ;;
	token:interface|token:token) return 0 ;;
	transport:interface|transport:transport|transport:state) return 0 ;;
	provider:interface|provider:provider) return 0 ;;
	state:interface) return 0 ;;
	esac
	return 1
}

# pkcs11_ok FILE: 0 when FILE may reach a PKCS#11 header.
pkcs11_ok() {
	case $(layer "$1") in
	token|top) return 0 ;;
	esac
	case $1 in
	uri.c|ckr.c|custody.c|hk_uri.h) return 0 ;;
	esac
	return 1
}

p11re='^[[:space:]]*#[[:space:]]*include[[:space:]]*<\(pkcs11\.h\|libp11\.h\|p11-kit/\)'
declare -A incs sysp11

# scan DIR: each file's engine includes into incs, PKCS#11 ones into sysp11.
scan() {
	local path f h
	incs=()
	sysp11=()
	for path in "$1"/*.c "$1"/*.h; do
		f=${path##*/}
		incs[$f]=
		for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$path"); do
			[ -f "$1/$h" ] && incs[$f]="${incs[$f]} $h"
		done
		grep -q "$p11re" "$path" && sysp11[$f]=1
	done
}

# closure FILE: FILE and every engine header it reaches, one a line.
closure() {
	local todo=$1 seen=" " f h
	while [ -n "$todo" ]; do
		f=${todo%% *}
		todo=${todo#"$f"}
		todo=${todo# }
		case $seen in *" $f "*) continue ;; esac
		seen="$seen$f "
		echo "$f"
		for h in ${incs[$f]}; do
			todo="$todo${todo:+ }$h"
		done
	done
}

# check DIR: prints each forbidden edge; exit status 1 if there is one.
check() {
	local dir=$1 bad=0 path f from g to
	scan "$dir"
	for path in "$dir"/*.c "$dir"/*.h; do
		f=${path##*/}
		from=$(layer "$f")
		if [ "$from" = unknown ]; then
			echo "engine/$f: in no layer (add it to tests/check-layers.sh and doc/DESIGN.md)"
			bad=1
			continue
		fi
		for g in $(closure "$f"); do
			[ "$g" = "$f" ] && continue
			to=$(layer "$g")
			if ! may "$from" "$to"; then
				echo "engine/$f ($from) reaches $g ($to)"
				bad=1
			fi
			if [ -n "${sysp11[$g]:-}" ] && ! pkcs11_ok "$f"; then
				echo "engine/$f ($from) reaches PKCS#11 through $g"
				bad=1
			fi
		done
		if [ -n "${sysp11[$f]:-}" ] && ! pkcs11_ok "$f"; then
			echo "engine/$f ($from) includes a PKCS#11 header"
			bad=1
		fi
		if grep -q '^[[:space:]]*#[[:space:]]*include[[:space:]]*<libp11\.h>' "$path" &&
		    [ "$from" != token ]; then
			echo "engine/$f ($from) includes libp11.h"
			bad=1
		fi
	done
	return $bad
}

fail=0
check "$top/engine" || fail=1

# The check must see a forbidden edge, direct or through a header.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# must_fail NAME FILE LINE: engine/ with LINE added to FILE is refused.
must_fail() {
	rm -rf "$tmp/engine"
	cp -r "$top/engine" "$tmp/engine"
	chmod -R u+w "$tmp/engine"
	printf '%s\n' "$3" >>"$tmp/engine/$2"
	if check "$tmp/engine" >"$tmp/out"; then
		echo "FAIL: $1: not refused"
		fail=1
	elif ! grep -q "engine/$2[ :]" "$tmp/out"; then
		echo "FAIL: $1: refused, but not for engine/$2: $(cat "$tmp/out")"
		fail=1
	fi
}
must_fail "provider uses the token layer" prov_signature.c '#include "hk_token.h"'
must_fail "provider reaches PKCS#11 through a header" prov.h '#include "hk_uri.h"'
must_fail "provider includes pkcs11.h" provider.c '#include <p11-kit/pkcs11.h>'
must_fail "token layer uses the provider" pool.c '#include "prov.h"'
must_fail "token layer uses the key daemon transport" p11.c '#include "hk_keyd.h"'
must_fail "transport uses the token layer" keyd_client.c '#include "p11_internal.h"'
must_fail "common uses a layer" pin.c '#include "hk_internal.h"'
must_fail "a file in no layer" new.c '#include "hk.h"'

if [ "$fail" -ne 0 ]; then
	echo "check-layers: FAIL"
	exit 1
fi
echo "check-layers: engine layers point one way"
exit 0
