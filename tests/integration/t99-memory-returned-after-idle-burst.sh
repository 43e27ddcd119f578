#!/bin/bash
# t99: a burst of 1,000 idle established TLS connections raises the
# server's RSS (about 20 KiB each; a silent TCP connection costs far less,
# as its handshake only starts when bytes arrive); once they are closed the memory goes back to the system
# (malloc_trim after most of a burst is gone), so the RSS returns to
# within 8 MiB of where it started instead of staying at its peak.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
need_tool python3

setup_server_key ec:P-256
write_conf "$tmp/hsmtls.conf" 'max-connections 2000;'
start_server_conf "$tmp/hsmtls.conf"
vm=$(sed -n 's/^VmSize:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$SERVER_PID/status")
[ "${vm:-0}" -lt $((64 * 1024 * 1024)) ] ||
	skip "a sanitizer build (VmSize ${vm} kB): its allocator keeps freed memory by design"

SERVER_PID=$SERVER_PID py <<'EOF'
import os, resource, socket, time
from h1 import *

pid = os.environ["SERVER_PID"]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))

def rss():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

# Warm up: one handshake and request, so the start figure is a served one.
c = Conn()
check(c.request("GET", "/").status == 200, "first request")
c.sock.close()
time.sleep(0.3)
start = rss()
socks = []
for i in range(1000):
    socks.append(connect())
deadline = time.monotonic() + WAIT
while time.monotonic() < deadline:
    peak = rss()
    if peak - start > 10000:    # the server has taken most of them in
        break
    time.sleep(0.2)
time.sleep(0.5)
peak = rss()
for s in socks:
    s.close()
deadline = time.monotonic() + WAIT
while time.monotonic() < deadline:
    end = rss()
    if end - start < 8192:
        break
    time.sleep(0.2)
print("RSS %d kB at start, %d kB with 1,000 idle TLS connections, %d kB after "
      "they closed" % (start, peak, end))
check(peak - start > 10000, "1,000 connections added only %d kB: not held?" %
      (peak - start))
check(end - start < 8192, "RSS stayed at %d kB after the connections closed "
      "(start %d kB, peak %d kB)" % (end, start, peak))
c = Conn()
check(c.request("GET", "/").status == 200, "not serving after the burst")
EOF
stop_server_ok
