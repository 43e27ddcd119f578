#!/bin/bash
# t114: worker-cpu-affinity.  With "worker-cpu-affinity on" and workers 2,
# each event loop runs on one CPU of its own, taken in order from the CPUs
# the process was allowed (modulo their count: under "taskset -c C" both
# loops are on C), while the key operation threads keep every CPU the
# process had, also those a reload starts for a new token (the main
# thread, loop 0, starts them).  Loop threads are named "loop N" and key
# threads "keyop".  Without the directive nothing is pinned; a value other
# than on/off is refused.  --worker-cpu-affinity does the same for the one-site
# command line.
. "$(dirname "$0")/lib.sh"
need_tool curl taskset
need_file HSMTLS_BENCH
key_mode inproc   # the key threads looked at are the server's own pool

setup_server_key ec:P-256
make_second_token second
KEY2_URI=$(make_key_on second "$TOKEN2_PIN" ec:P-256 two 02)
CERT2=$tmp/cert2.pem
make_cert_for "$KEY2_URI" "$TOKEN2_PIN" "$CERT2" b.test
mkdir -p "$tmp/b"
echo "site b" >"$tmp/b/index.html"
C=$tmp/hsmtls.conf
conf() {   # conf AFFINITY-LINE [MORE]
	cat >"$C" <<EOF
listen 127.0.0.1:0;
workers 2;
$1
token $TOKEN_LABEL { pin-file $PIN_FILE; }
site www { server-name localhost; root $ROOT; key "$KEY_URI" $CERT; }
${2-}
EOF
}

# The CPUs this test may use, as a sorted list ("0 1 ..."), and the same
# for a thread of the server.
cpus_of() {   # cpus_of STATUS-FILE
	sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$1" | tr ',' '\n' |
		awk -F- '{ if (NF == 2) for (i = $1; i <= $2; i++) print i; else print $1 }' |
		sort -n | paste -sd' '
}
ALL=$(cpus_of /proc/self/status)
NCPU=$(echo "$ALL" | wc -w)
echo "this test's CPUs: $ALL ($NCPU)"

# threads NAME: "TID CPUS" for each thread of the server named NAME (the
# main thread, loop 0, has the process's name).
threads() {
	for t in /proc/"$SERVER_PID"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "$1" ] || continue
		echo "$(basename "$t") $(cpus_of "$t/status")"
	done
}
loop_cpus() {   # loop_cpus N: loop N's CPU list
	if [ "$1" = 0 ]; then
		cpus_of "/proc/$SERVER_PID/task/$SERVER_PID/status"
	else
		threads "loop $1" | cut -d' ' -f2-
	fi
}
check_keyop() {   # check_keyop WANT WHEN: every keyop thread's CPUs are WANT
	n=0
	while read -r tid cpus; do
		n=$((n + 1))
		[ "$cpus" = "$1" ] || fail "$2: key thread $tid runs on '$cpus', want '$1' (the process's CPUs)"
	done < <(threads keyop)
	[ "$n" -gt 0 ] || fail "$2: no thread named keyop: $(cat /proc/"$SERVER_PID"/task/*/comm | sort | uniq -c)"
	echo "$2: $n key threads on '$1'"
}
load() {
	"$HSMTLS_BENCH" --connect "127.0.0.1:$PORT" --cafile "$CERT" --tls 1.3 \
	    --requests 200 --concurrency 8 --timeout-ms 5000 --strict >"$tmp/load.out" 2>&1 ||
		fail "load $1: $(cat "$tmp/load.out")"
}

# Test: a value other than on/off is refused.
conf "worker-cpu-affinity auto;"
st=0
timeout "$WAIT_SECS" "$HSMTLS_SERVER" -c "$C" </dev/null >/dev/null 2>"$tmp/refused.err" || st=$?
[ "$st" -eq 1 ] || fail "worker-cpu-affinity auto: exit $st, want 1: $(cat "$tmp/refused.err")"
grep -q "hsmtls.conf:3: .*worker-cpu-affinity\|hsmtls.conf:3: .*on.*off" "$tmp/refused.err" ||
	fail "worker-cpu-affinity auto: the error names neither the line nor the directive: $(cat "$tmp/refused.err")"

# Test: by default no loop is pinned.
conf ""
start_server_conf "$C"
[ "$(loop_cpus 0)" = "$ALL" ] || fail "default: loop 0 on '$(loop_cpus 0)', want '$ALL'"
[ "$(loop_cpus 1)" = "$ALL" ] || fail "default: loop 1 on '$(loop_cpus 1)', want '$ALL'"
grep -q "runs on CPU" "$SERVER_LOG" && fail "default: a loop was pinned: $(cat "$SERVER_LOG")"
load default
stop_server_ok

# Test: on: each loop on one CPU, the i-th of the process's, distinct
# when there are two; the key threads on all of them; a load served.
conf "worker-cpu-affinity on;"
start_server_conf "$C"
wait_log "event loop 1 runs on CPU" 1
c0=$(loop_cpus 0) c1=$(loop_cpus 1)
echo "loop 0 on '$c0', loop 1 on '$c1'"
first=$(echo "$ALL" | cut -d' ' -f1)
second=$(echo "$ALL" | cut -d' ' -f2)
[ "$c0" = "$first" ] || fail "loop 0 on '$c0', want '$first' (the first CPU of '$ALL')"
if [ "$NCPU" -ge 2 ]; then
	[ "$c1" = "$second" ] || fail "loop 1 on '$c1', want '$second' (the second CPU of '$ALL')"
else
	[ "$c1" = "$first" ] || fail "one CPU: loop 1 on '$c1', want '$first'"
fi
grep -q "event loop 0 runs on CPU $first\$" "$SERVER_LOG" || fail "no log line for loop 0: $(cat "$SERVER_LOG")"
check_keyop "$ALL" "at start"
load pinned

# Test: a reload that opens a second token starts its key threads from
# loop 0: they get every CPU, and loop 0 is back on its own after it.
conf "worker-cpu-affinity on;" "token second { pin-file $TOKEN2_PIN; }
site b { server-name b.test; root $tmp/b; key \"$KEY2_URI\" $CERT2; }"
reload_server
wait_log "reloaded: configuration 2" 1
got=$(curl_srv --resolve "b.test:$PORT:127.0.0.1" --cacert "$CERT2" "https://b.test:$PORT/") ||
	fail "b.test after the reload"
[ "$got" = "site b" ] || fail "b.test after the reload: got '$got'"
check_keyop "$ALL" "after the reload"
[ "$(loop_cpus 0)" = "$c0" ] || fail "after the reload loop 0 is on '$(loop_cpus 0)', want '$c0'"
[ "$(loop_cpus 1)" = "$c1" ] || fail "after the reload loop 1 is on '$(loop_cpus 1)', want '$c1'"
[ "$(grep -c "runs on CPU" "$SERVER_LOG")" = 2 ] ||
	fail "the reload logged the loops' CPUs again: $(grep "runs on CPU" "$SERVER_LOG")"
load "after the reload"
stop_server_ok

# Test: the CPUs are those the process was given: under taskset -c LAST
# both loops and the key threads are on LAST.
last=$(echo "$ALL" | awk '{ print $NF }')
cat >"$tmp/taskset-server" <<EOF
#!/bin/sh
exec taskset -c $last "$HSMTLS_SERVER" "\$@"
EOF
chmod +x "$tmp/taskset-server"
real_server=$HSMTLS_SERVER
HSMTLS_SERVER=$tmp/taskset-server
conf "worker-cpu-affinity on;"
start_server_conf "$C"
HSMTLS_SERVER=$real_server
wait_log "event loop 1 runs on CPU" 1
[ "$(loop_cpus 0)" = "$last" ] || fail "taskset -c $last: loop 0 on '$(loop_cpus 0)'"
[ "$(loop_cpus 1)" = "$last" ] || fail "taskset -c $last: loop 1 on '$(loop_cpus 1)'"
check_keyop "$last" "under taskset -c $last"
load "under taskset"
stop_server_ok

# Test: the one-site command line: --worker-cpu-affinity pins the loops
# of --workers 2; with -c it is refused (the file says it).
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT" \
    --workers 2 --worker-cpu-affinity
wait_log "event loop 1 runs on CPU" 1
[ "$(loop_cpus 0)" = "$first" ] || fail "--worker-cpu-affinity: loop 0 on '$(loop_cpus 0)', want '$first'"
if [ "$NCPU" -ge 2 ]; then
	[ "$(loop_cpus 1)" = "$second" ] || fail "--worker-cpu-affinity: loop 1 on '$(loop_cpus 1)', want '$second'"
fi
load "--worker-cpu-affinity"
stop_server_ok
st=0
timeout "$WAIT_SECS" "$HSMTLS_SERVER" -c "$C" --worker-cpu-affinity </dev/null >/dev/null 2>"$tmp/flag.err" || st=$?
[ "$st" -eq 1 ] || fail "-c with --worker-cpu-affinity: exit $st, want 1: $(cat "$tmp/flag.err")"
grep -q -- "--worker-cpu-affinity" "$tmp/flag.err" || fail "-c with --worker-cpu-affinity: the error does not name the flag: $(cat "$tmp/flag.err")"
