#!/bin/bash
# t98: a flood of idle TCP connections (opened, never spoken on) does not
# keep a real client out.  At max-connections the server closes the idle
# connection accepted longest ago to admit the new one
# (hsmtls_connections_evicted_total counts them), so with 600 idle
# connections held against a limit of 100, a client still gets its page
# at once; a client that is half-way through a request head is not idle
# and is not closed; the flood is not counted as failed handshakes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool python3 curl

setup_server_key ec:P-256
write_conf "$tmp/hsmtls.conf" '
max-connections 100;
admin-listen 127.0.0.1:0;
handshake-timeout 60s;
idle-timeout 60s;
header-timeout 60s;'
start_server_conf "$tmp/hsmtls.conf"

ADMIN_PORT=$ADMIN_PORT TIME_SCALE=$TIME_SCALE py <<'PYEOF'
import http.client, os, resource, socket, subprocess, time
from h1 import *

scale = float(os.environ["TIME_SCALE"])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))

# A TLS client half-way through a request head: busy, not idle.
half = Conn()
half.send("GET /index.html HTTP/1.1\r\nHost: localhost\r\n")

# The flood: 600 connections, each left silent (the oldest go first).
flood = []
for i in range(600):
    s = socket.socket()
    s.connect(("127.0.0.1", PORT))
    flood.append(s)
time.sleep(0.5)

# A real client now: served at once.
t0 = time.monotonic()
out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                      "--max-time", str(5 * scale), "--cacert", CERT,
                      "https://localhost:%d/" % PORT,
                      "--resolve", "localhost:%d:127.0.0.1" % PORT],
                     capture_output=True, text=True)
elapsed = time.monotonic() - t0
check(out.stdout == "200", "curl behind 600 idle connections: '%s' %s" %
      (out.stdout, out.stderr.strip()))
print("page served behind 600 idle connections in %.0f ms" % (elapsed * 1000))
check(elapsed < 1.0 * scale, "page took %.2f s behind the flood" % elapsed)

# The half-sent request survived the flood and completes.
half.send("\r\n")
r = half.response()
check(r.status == 200, "the half-sent request after the flood: %r" % r)

# Most of the flood was closed by the server (EOF), the newest kept.
closed = 0
for s in flood:
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except ConnectionError:
        closed += 1
print("%d of 600 idle connections closed by the server" % closed)
check(closed >= 450, "only %d of the 600 idle connections were closed" % closed)
check(closed < 600, "every idle connection was closed, the newest too")

# The counters, while the rest of the flood is still open.
a = http.client.HTTPConnection("127.0.0.1", int(os.environ["ADMIN_PORT"]),
                               timeout=WAIT)
a.request("GET", "/metrics")
metrics = a.getresponse().read().decode()
evicted = failed = 0
for line in metrics.splitlines():
    if line.startswith("hsmtls_connections_evicted_total "):
        evicted = int(line.split()[1])
    if line.startswith("hsmtls_handshakes_total{") and 'result="failed"' in line:
        failed += int(line.split()[1])
print("evicted %d, failed handshakes %d" % (evicted, failed))
check(evicted == closed, "hsmtls_connections_evicted_total %d, but %d were "
      "closed" % (evicted, closed))
check(failed == 0, "evictions counted as %d failed handshakes" % failed)
for s in flood:
    s.close()
PYEOF

[ "$(fetch /file.txt)" = "plain text file" ] || fail "not serving after the flood"
stop_server_ok
