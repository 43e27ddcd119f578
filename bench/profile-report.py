#!/usr/bin/env python3
"""profile-report.py - where each server's CPU per full handshake goes,
from the samples that "PROFILE=DIR bench/compare.sh" leaves in DIR.

    bench/profile-report.py DIR [TOP]

Files are NAME.data (perf record -e cpu-clock) and NAME.hs (handshakes=
and hz= of that run), NAME being CASE-LATms-rROUND-SERVER.  The rounds of
a server are added up, samples and handshakes, and samples become
microseconds of CPU per handshake: samples / hz * 1e6 / handshakes.
Printed for each case and latency: the libraries side by side, then the
TOP [25] functions of each server.  Needs perf (linux-perf).
"""
import collections
import glob
import os
import re
import subprocess
import sys


def samples(path, keys):
    """{key: samples} of one perf data file, sorted by KEYS (dso / sym)."""
    out = subprocess.run(
        ["perf", "report", "-i", path, "--stdio", "-q", "-n",
         "--sort", keys, "--percent-limit", "0"],
        capture_output=True, text=True, check=True).stdout
    got = collections.Counter()
    for line in out.splitlines():
        f = line.split(None, 2)
        if len(f) < 3 or not f[0].endswith("%"):
            continue
        key = " ".join(f[2].split())
        # A library's functions without a symbol (static ones in a
        # stripped build) are one entry, not one an address.
        key = re.sub(r"\] 0x[0-9a-f]+$", "] (no symbol)", key)
        got[key] += int(f[1])
    return got


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: profile-report.py DIR [TOP]")
    d = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    groups = collections.defaultdict(list)
    for path in sorted(glob.glob(os.path.join(d, "*.data"))):
        name = os.path.basename(path)[:-5]
        m = re.match(r"(.*)-r\d+-(\w+)$", name)
        hsfile = os.path.join(d, name + ".hs")
        if not m or not os.path.exists(hsfile):
            continue
        kv = dict(x.split("=", 1) for x in open(hsfile).read().split())
        groups[m.group(1)].append(
            (m.group(2), path, int(kv["handshakes"] or 0), int(kv["hz"])))
    if not groups:
        sys.exit("profile-report: no NAME.data with NAME.hs in " + d)
    for g, runs in sorted(groups.items()):
        hs = collections.Counter()
        per = {"dso": collections.defaultdict(collections.Counter),
               "dso,sym": collections.defaultdict(collections.Counter)}
        for srv, path, n, hz in runs:
            hs[srv] += n
            for keys in per:
                for k, v in samples(path, keys).items():
                    per[keys][srv][k] += v / hz * 1e6
        servers = sorted(hs)
        print(f"## {g}: handshakes " +
              ", ".join(f"{s} {hs[s]}" for s in servers))
        print()
        print("| library | " + " | ".join(f"{s} µs/hs" for s in servers) +
              " |")
        print("| --- |" + " ---: |" * len(servers))
        dsos = per["dso"]
        allk = set().union(*(dsos[s] for s in servers))
        tot = {s: sum(dsos[s].values()) / max(hs[s], 1) for s in servers}
        for k in sorted(allk, key=lambda k: -max(
                dsos[s][k] / max(hs[s], 1) for s in servers)):
            row = [dsos[s][k] / max(hs[s], 1) for s in servers]
            if max(row) < 1:
                continue
            print(f"| {k} | " + " | ".join(f"{v:.1f}" for v in row) + " |")
        print("| total | " + " | ".join(f"{tot[s]:.1f}" for s in servers) +
              " |")
        print()
        for s in servers:
            print(f"{s}, top {top} functions (µs/hs, library function):")
            syms = per["dso,sym"][s]
            for k, v in syms.most_common(top):
                print(f"  {v / max(hs[s], 1):7.1f}  {k}")
            print()


if __name__ == "__main__":
    main()
