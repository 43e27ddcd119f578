#!/usr/bin/env python3
"""memscan.py - search a live process's memory for byte strings.

    memscan.py PID PATTERNS [ROUNDS] [PAUSE_S]
    memscan.py --file FILE PATTERNS

PATTERNS is a file of lines "NAME HEX"; each pattern is searched for as
given (big-endian) and reversed (little-endian, as bignum libraries keep
words).  Every readable mapping of /proc/PID/maps is read through
/proc/PID/mem (mappings over 4 GiB, a sanitizer's shadow, are skipped),
only the pages that are in memory or swapped out (/proc/PID/pagemap: any
other page holds only zeros), ROUNDS times (default 4) with PAUSE_S
seconds between (default 0.2).  Prints one line per pattern found ("found NAME be|le
ROUND ADDRESS PATH") and a last line "scanned N bytes in R rounds, found
K of M"; exit 0.  Needs ptrace rights over PID (root, or the same user
with ptrace_scope 0).  With --file, FILE (a core dump made by gcore) is
searched once instead, and "found" lines give the file offset and the
path "[file]".  Used by the key custody tests: it reads memory, it never
writes it.
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


def scan_range(f, start, end, path, pats, rnd, found, seen_names):
    """Search bytes start..end of the open file f (a process's memory or
    a core file), CHUNK at a time, overlapping chunks by the longest
    pattern so nothing is missed at a boundary."""
    longest = max(len(p[2]) for p in pats)
    total = 0
    pos = start
    tail = b""
    while end is None or pos < end:
        n = CHUNK if end is None else min(CHUNK, end - pos)
        try:
            f.seek(pos)
            data = f.read(n)
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
                found[key] = (rnd, pos - len(tail) + i, path)
                seen_names.add(name)
        tail = buf[-(longest - 1):] if longest > 1 else b""
        pos += len(data)
    return total


PAGE = 4096


def present_runs(pagemap, start, end):
    """The parts of start..end that are in memory or swapped out (a page
    neither holds nothing but zeros), as (start, end) runs, from
    /proc/PID/pagemap (bit 63 present, bit 62 swapped).  Without pagemap
    the whole range."""
    if pagemap is None:
        yield start, end
        return
    try:
        pagemap.seek((start // PAGE) * 8)
        raw = pagemap.read(((end - start) // PAGE) * 8)
    except OSError:
        yield start, end
        return
    run = None
    for i in range(len(raw) // 8):
        e = int.from_bytes(raw[i * 8:i * 8 + 8], "little")
        addr = start + i * PAGE
        if e & (3 << 62):
            if run is None:
                run = addr
        elif run is not None:
            yield run, addr
            run = None
    if run is not None:
        yield run, start + (len(raw) // 8) * PAGE


def scan_once(pid, pats, rnd, found, seen_names):
    total = 0
    try:
        pagemap = open(f"/proc/{pid}/pagemap", "rb", buffering=0)
    except OSError:
        pagemap = None
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for start, end, path in regions(pid):
            for a, b in present_runs(pagemap, start, end):
                total += scan_range(mem, a, b, path or "[anon]", pats,
                                    rnd, found, seen_names)
    if pagemap is not None:
        pagemap.close()
    return total


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    found, names = {}, set()
    total = 0
    if sys.argv[1] == "--file":
        if len(sys.argv) != 4:
            print(__doc__.strip().splitlines()[3], file=sys.stderr)
            return 2
        pats = load_patterns(sys.argv[3])
        rounds = 1
        with open(sys.argv[2], "rb", buffering=0) as f:
            total = scan_range(f, 0, None, "[file]", pats, 1, found, names)
    else:
        pid = int(sys.argv[1])
        pats = load_patterns(sys.argv[2])
        rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 4
        pause = float(sys.argv[4]) if len(sys.argv) > 4 else 0.2
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
