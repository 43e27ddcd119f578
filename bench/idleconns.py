#!/usr/bin/env python3
"""idleconns.py - hold N established, idle TLS connections to a server.

    idleconns.py HOST PORT CAFILE N [--tls 1.2|1.3] [--parallel P]

Opens N TCP connections, P at a time, completes a TLS handshake on each
(verified against CAFILE), and keeps them open without sending a byte.
Prints "open=N failed=F seconds=S" once all have been tried, then holds
them until its standard input closes (or it is killed), and exits after
closing them all.  The point is the server's memory per idle connection.
"""
import argparse
import asyncio
import ssl
import sys
import time


async def one(host, port, ctx, held, sem):
    async with sem:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=ctx,
                                        server_hostname="localhost"), 30)
        except (OSError, asyncio.TimeoutError, ssl.SSLError):
            return False
    held.append(writer)
    return True


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("cafile")
    ap.add_argument("n", type=int)
    ap.add_argument("--tls", choices=["1.2", "1.3"], default="1.3")
    ap.add_argument("--parallel", type=int, default=64)
    a = ap.parse_args()
    ctx = ssl.create_default_context(cafile=a.cafile)
    v = ssl.TLSVersion.TLSv1_3 if a.tls == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    held = []
    sem = asyncio.Semaphore(a.parallel)
    t0 = time.monotonic()
    res = await asyncio.gather(*(one(a.host, a.port, ctx, held, sem)
                                 for _ in range(a.n)))
    ok = sum(1 for r in res if r)
    print("open=%d failed=%d seconds=%.1f" % (ok, a.n - ok,
                                              time.monotonic() - t0),
          flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    for w in held:
        w.transport.abort()


if __name__ == "__main__":
    asyncio.run(main())
