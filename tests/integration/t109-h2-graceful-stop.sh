#!/bin/bash
# t109: a graceful stop (SIGTERM) sends GOAWAY (NO_ERROR, the last stream
# processed) on every HTTP/2 connection: an idle one is closed at once; one
# whose stream is half sent (held by its flow-control window) gets the rest
# of the body, to the last byte, then the close; the server exits 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool python3

setup_server_key ec:P-256
head -c 1000000 /dev/urandom >"$ROOT/big.bin"
start_server --cert "$CERT" --key "$KEY_URI" --pin-file "$PIN_FILE" --root "$ROOT"

SERVER_PID=$SERVER_PID py <<'PYEOF'
import os, signal
from h2raw import *

size = os.path.getsize(os.path.join(os.environ["ROOT"], "big.bin"))
idle = Conn()
idle.ack_settings()
busy = Conn()
busy.ack_settings()
busy.send(request(1, "/big.bin"))
got = 0
# Read until the default 64 KiB window is used up (no WINDOW_UPDATE yet).
while got < 65535:
    f = busy.read_frame()
    check(f is not None, "closed after %d body bytes" % got)
    if f[0] == DATA and f[2] == 1:
        got += len(f[3])
check(got == 65535, "first window: %d bytes" % got)
os.kill(int(os.environ["SERVER_PID"]), signal.SIGTERM)

frames = idle.frames_until_close(10)
code = goaway_code(frames)
check(code == 0, "idle connection at the stop: GOAWAY code %r, want NO_ERROR" % code)

seen_goaway = ended = False
while True:
    busy.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 20)) +
              frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1 << 20)))
    f = busy.read_frame()
    if f is None:
        break
    t, flags, sid, p = f
    if t == GOAWAY:
        check(struct.unpack(">I", p[:4])[0] == 1 and struct.unpack(">I", p[4:8])[0] == 0,
              "GOAWAY %r, want last stream 1, NO_ERROR" % p[:8])
        seen_goaway = True
    elif t == DATA and sid == 1:
        got += len(p)
        ended = ended or bool(flags & END_STREAM)
check(seen_goaway, "no GOAWAY on the busy connection")
check(ended and got == size, "busy stream: %d of %d bytes, END_STREAM %s" % (got, size, ended))
PYEOF
wait_server_exit "$WAIT_SECS"
[ "$SERVER_STATUS" -eq 0 ] || fail "exit status after SIGTERM: $SERVER_STATUS"
grep -q 'draining 2 ' "$SERVER_LOG" || fail "no 'draining 2' in the log: $(cat "$SERVER_LOG")"
