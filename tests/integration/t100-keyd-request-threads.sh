#!/bin/bash
# t100: hsmtls-keyd's request threads under load.  The token takes 20 ms
# per signature, so requests pile up past the threads (the rest go to the
# loop's pool path) and past a connection's 64 (the daemon stops reading
# it and starts again).  300 SIGNs pipelined on one connection, then four
# connections of 100 at once: every reply arrives once, with its id, and
# verifies, and the token saw exactly one C_Sign per request.  A client
# that sends 400 SIGNs and reads nothing stalls only itself: a SIGN on
# another connection meanwhile is answered at once, and when the stalled
# client reads at last, all 400 replies are there, each id once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/keyd-lib.sh"
need_tool openssl python3

use_faults
keyd_one_ec_key
set_faults 'latency C_Sign 20'

base=$(count_of C_Sign)
keyd_client sign "$EC" "$tmp/ec.pem" ecdsa sha256 300 >"$tmp/pipe.out" 2>&1 ||
	fail "300 pipelined SIGNs: $(cat "$tmp/pipe.out")"
expect_line "$tmp/pipe.out" "sent 300 replies 300 ids-matched 300 verified 300 errors 0"
n=$(($(count_of C_Sign) - base))
[ "$n" -eq 300 ] || fail "300 SIGNs made $n C_Sign calls"

base=$(count_of C_Sign)
pids=""
for i in 1 2 3 4; do
	keyd_client sign "$EC" "$tmp/ec.pem" ecdsa sha256 100 >"$tmp/par$i.out" 2>&1 &
	pids="$pids $!"
done
for p in $pids; do
	wait "$p" || fail "a connection of 100 SIGNs failed: $(cat "$tmp"/par*.out)"
done
for i in 1 2 3 4; do
	expect_line "$tmp/par$i.out" "sent 100 replies 100 ids-matched 100 verified 100 errors 0"
done
n=$(($(count_of C_Sign) - base))
[ "$n" -eq 400 ] || fail "4 x 100 SIGNs made $n C_Sign calls"

# The client that does not read: OPEN, 400 SIGNs sent without reading,
# then it waits for "go" before it reads.
set_faults ''
openssl x509 -in "$tmp/ec.pem" -noout -pubkey |
	openssl pkey -pubin -outform DER >"$tmp/ec.spki" || fail "SPKI"
mkfifo "$tmp/go"
python3 - "$KEYD_SOCK" "$EC" "$tmp/ec.spki" "$tmp/go" >"$tmp/stall.out" 2>&1 <<'EOF' &
import os, select, socket, struct, sys

sock, uri, spki_file, go = sys.argv[1:5]
spki = open(spki_file, "rb").read()
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sock)

def msg(typ, ident, key, payload):
    return struct.pack("!BBHIII", 1, typ, 0, ident, key, len(payload)) + payload

u = uri.encode()
s.send(msg(1, 1, 0, struct.pack("!H", len(u)) + u + struct.pack("!H", len(spki)) + spki))
r = s.recv(8192)
ver, typ, _, ident, key, _ = struct.unpack("!BBHIII", r[:16])
if typ != 0x81:
    sys.exit("OPEN failed: type %#x" % typ)
s.setblocking(False)
sent = 0
want = set()
while sent < 400:
    ident = 1000 + sent
    try:
        s.send(msg(2, ident, key, struct.pack("!BBH", 3, 3, 0) + os.urandom(32)))
    except BlockingIOError:
        # The daemon stopped reading us: wait for room, still reading none.
        select.select([], [s], [], 1.0)
        continue
    want.add(ident)
    sent += 1
print("sent %d" % sent, flush=True)
open(go).read()
s.setblocking(True)
s.settimeout(10)
got = {}
while len(got) < sent:
    r = s.recv(8192)
    ver, typ, _, ident, key, _ = struct.unpack("!BBHIII", r[:16])
    got[ident] = got.get(ident, 0) + 1
    if typ != 0x82:
        sys.exit("reply %d: type %#x" % (ident, typ))
dup = sum(1 for v in got.values() if v > 1)
print("replies %d matched %d duplicates %d" % (len(got), len(want & set(got)), dup))
EOF
S=$!
BG_PIDS="$BG_PIDS $S"
i=0
until grep -q '^sent 400' "$tmp/stall.out" 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -lt $((WAIT_SECS * 10)) ] || fail "the stalled client could not send 400 SIGNs: $(cat "$tmp/stall.out")"
	kill -0 "$S" 2>/dev/null || fail "the stalled client died: $(cat "$tmp/stall.out")"
	sleep 0.1
done
sleep 0.5   # the daemon answers what it read, into a socket nobody reads
t0=$(now_ms)
keyd_client sign "$EC" "$tmp/ec.pem" ecdsa sha256 3 >"$tmp/other.out" 2>&1 ||
	fail "a SIGN next to the stalled client failed: $(cat "$tmp/other.out")"
took=$(($(now_ms) - t0))
echo "SIGNs next to the stalled client: ${took} ms"
within_ms "$took" 1000 || fail "SIGNs next to the stalled client took ${took} ms"
echo go >"$tmp/go"
wait "$S" || fail "the stalled client: $(cat "$tmp/stall.out")"
expect_line "$tmp/stall.out" "replies 400 matched 400 duplicates 0"
kill -0 "$KEYD_PID" || fail "the daemon died"
stop_keyd
echo "PASS: $TEST_NAME"
