#!/usr/bin/env python3
"""memscan.py - search a live process's memory for byte strings.

    memscan.py PID PATTERNS [ROUNDS] [PAUSE_S]

PATTERNS is a file of lines "NAME HEX"; each pattern is searched for as
given (big-endian) and reversed (little-endian, as bignum libraries keep
words).  Every readable mapping of /proc/PID/maps is read through
/proc/PID/mem (mappings over 4 GiB, a sanitizer's shadow, are skipped),
ROUNDS times (default 4) with PAUSE_S seconds between
(default 0.2).  Prints one line per pattern found ("found NAME be|le
ROUND ADDRESS PATH") and a last line "scanned N bytes in R rounds, found
K of M"; exit 0.  Needs ptrace rights over PID (root, or the same user
with ptrace_scope 0).  Used by the key custody tests: it reads memory, it
never writes it.
"""
import re
import sys
import time

CHUNK = 16 << 20
# Larger mappings are sanitizer shadow memory or reservations, not heap:
# skipped (each would take hours to read and holds no key bytes).
MAX_REGION = 4 << 30


def load_patterns(path):
    pats = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, hexv = line.split()
            b = bytes.fromhex(hexv)
            pats.append((name, "be", b))
            pats.append((name, "le", b[::-1]))
    return pats


def regions(pid):
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)", line)
            if not m or m.group(3)[0] != "r":
                continue
            path = m.group(4)
            if path in ("[vvar]", "[vsyscall]"):
                continue
            if int(m.group(2), 16) - int(m.group(1), 16) > MAX_REGION:
                continue
            yield int(m.group(1), 16), int(m.group(2), 16), path


def scan_once(pid, pats, rnd, found, seen_names):
    longest = max(len(p[2]) for p in pats)
    total = 0
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for start, end, path in regions(pid):
            pos = start
            tail = b""
            while pos < end:
                n = min(CHUNK, end - pos)
                try:
                    mem.seek(pos)
                    data = mem.read(n)
                except (OSError, ValueError, OverflowError):
                    break
                if not data:
                    break
                total += len(data)
                buf = tail + data
                for name, order, b in pats:
                    key = (name, order)
                    if key in found:
                        continue
                    i = buf.find(b)
                    if i >= 0:
                        addr = pos - len(tail) + i
                        found[key] = (rnd, addr, path or "[anon]")
                        seen_names.add(name)
                tail = buf[-(longest - 1):] if longest > 1 else b""
                pos += len(data)
    return total


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    pid = int(sys.argv[1])
    pats = load_patterns(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    pause = float(sys.argv[4]) if len(sys.argv) > 4 else 0.2
    found, names = {}, set()
    total = 0
    for rnd in range(1, rounds + 1):
        total += scan_once(pid, pats, rnd, found, names)
        if rnd < rounds:
            time.sleep(pause)
    for (name, order), (rnd, addr, path) in sorted(found.items()):
        print(f"found {name} {order} {rnd} 0x{addr:x} {path}")
    allnames = {p[0] for p in pats}
    print(f"scanned {total} bytes in {rounds} rounds, found {len(names)} of {len(allnames)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
