"""tests/crash/replay_test.py - foliofs-crash on write logs made here, byte by
byte, from the format backing/logwrites.h describes.

  replay_test.py BUILDDIR WORKDIR     TAP lines (tests/lib/tap.py)

Checks: `list` shows every entry and the totals, and uses a log cut short up
to its last whole entry; `states` lists the prefixes after each flush and
FUA write (up to the next change, with their marks) and the whole log, and
subset states whose crash points lie inside their stretch; `write` builds a
prefix exactly (writes, the discard's zeros, nothing after the point); over
many seeds a subset state keeps everything up to its last flush and every
FUA write before its point, keeps, drops and tears (a prefix of tear units
only) the other writes, never mixes in a write from after its point; the
default tear unit (4 KiB) leaves a 4 KiB write whole; bad input is refused.
"""

import os
import struct
import subprocess
import sys

from tap import ok, is_, done

LBS = 512
DEV = 64 * 1024
W, F, DI, M, C = 1, 2, 3, 4, 5


def header():
    return b"FOLIOLW1" + struct.pack("<IIQ", 1, LBS, DEV) + bytes(40)


def entry(seq, kind, off=0, length=0, payload=b"", flags=0, status=0):
    return struct.pack("<IHHIiQQQ", 0x4E45574C, kind, flags, len(payload), status, seq, off,
                       length) + payload


def fill(tag, n):
    return bytes((tag * 31 + i * 7 + (i >> 9)) & 0xFF or 1 for i in range(n))


DATA = {0: fill(1, 1024), 3: fill(2, 4096), 4: fill(3, 512), 7: fill(4, 512), 9: fill(5, 2048)}

# (seq, kind, off, len, flags): the log replay_test builds
ENTRIES = [
    (0, W, 0, 1024, 0),
    (1, F, 0, 0, 0),
    (2, M, 0, 0, 0),
    (3, W, 4096, 4096, 0),
    (4, W, 1024, 512, 0),
    (5, DI, 8192, 1024, 0),
    (6, F, 0, 0, 0),
    (7, W, 0, 512, 1),  # FUA
    (8, M, 0, 0, 0),
    (9, W, 16384, 2048, 0),
    (10, C, 0, 0, 0),
]
LABELS = {2: b"m one", 8: b"m two"}


def make_log(path):
    out = [header()]
    for seq, kind, off, n, flags in ENTRIES:
        out.append(entry(seq, kind, off, n, DATA.get(seq, LABELS.get(seq, b"")), flags))
    with open(path, "wb") as f:
        f.write(b"".join(out))


def base_bytes():
    return bytes((i * 13 + 5) & 0xFF for i in range(DEV))


def prefix_image(point):
    img = bytearray(base_bytes())
    for seq, kind, off, n, _ in ENTRIES[:point]:
        if kind == W:
            img[off:off + n] = DATA[seq]
        elif kind == DI:
            img[off:off + n] = bytes(n)
    return bytes(img)


def crash(tool, *args):
    return subprocess.run([tool] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def main():
    builddir, work = sys.argv[1], sys.argv[2]
    tool = builddir + "/tools/foliofs-crash"
    os.makedirs(work, exist_ok=True)
    log, base, out = (os.path.join(work, n) for n in ("log", "base", "out"))
    make_log(log)
    with open(base, "wb") as f:
        f.write(base_bytes())

    r = crash(tool, "list", log)
    lines = [l for l in r.stdout.splitlines() if not l.startswith("#")]
    is_(r.returncode, 0, "list: exit 0")
    is_(len(lines), len(ENTRIES), "list: one line per entry")
    ok("3 write 4096 4096" in lines and "7 write 0 512 fua" in lines and
       "2 mark m one" in lines and "5 discard 8192 1024" in lines and "10 close" in lines,
       "list: writes, the FUA flag, marks, discards and the close", lines)
    ok("# entries 11 writes 5 bytes 8192 flushes 2 discards 1 marks 2 close 1 cut 0"
       in r.stdout, "list: the totals", r.stdout.splitlines()[-1:])

    r = crash(tool, "states", log, "-k", "3", "-S", "5")
    sts = [l.split("\t") for l in r.stdout.splitlines()]
    prefixes = [(s, int(p), int(n)) for s, p, n in sts if s.startswith("prefix:")]
    is_(prefixes, [("prefix:3", 3, 1), ("prefix:7", 7, 1), ("prefix:9", 9, 2),
                   ("prefix:11", 11, 3)],
        "states: a prefix after each flush and the FUA write, up to the next change, and the "
        "whole log, with their marks (the close counts)")
    subsets = [(s, int(p)) for s, p, n in sts if s.startswith("subset:")]
    is_(len(subsets), 9, "states: -k 3 subsets in each of the 3 stretches")
    ok(all(p == 1 for s, p in subsets[:3]) and all(4 <= p <= 6 for s, p in subsets[3:6]) and
       all(8 <= p <= 11 for s, p in subsets[6:]),
       "states: every subset's point lies after its stretch's first write", subsets)
    r2 = crash(tool, "states", log, "-k", "3", "-S", "5")
    is_(r2.stdout, r.stdout, "states: the same seed lists the same states")

    good = True
    for point in range(len(ENTRIES) + 1):
        r = crash(tool, "write", log, base, "prefix:%d" % point, out)
        with open(out, "rb") as f:
            good = good and r.returncode == 0 and f.read() == prefix_image(point)
    ok(good, "write: every prefix:N is the base plus entries 0..N-1, byte for byte")

    seen = {"kept": 0, "dropped": 0, "torn": 0, "discarded": 0, "kept4": 0, "dropped4": 0}
    bad = []
    for seed in range(200):
        r = crash(tool, "write", log, base, "subset:6:%d" % seed, out, "-t", "512")
        with open(out, "rb") as f:
            img = f.read()
        pre = prefix_image(2)  # what the flush at entry 1 made durable
        if r.returncode or img[:1024] != DATA[0]:
            bad.append(("the flushed write", seed))
        if img[16384:18432] != pre[16384:18432]:
            bad.append(("a write after the point", seed))
        if img[8192:9216] not in (pre[8192:9216], bytes(1024)):
            bad.append(("the discard", seed))
        sec = [img[4096 + i * 512:4096 + (i + 1) * 512] == DATA[3][i * 512:(i + 1) * 512]
               for i in range(8)]
        old = [img[4096 + i * 512:4096 + (i + 1) * 512] == pre[4096 + i * 512:4096 + (i + 1) * 512]
               for i in range(8)]
        if not all(a or b for a, b in zip(sec, old)) or sec != sorted(sec, reverse=True):
            bad.append(("torn not a prefix", seed))
        n = sum(sec)
        seen["kept" if n == 8 else "dropped" if n == 0 else "torn"] += 1
        seen["kept4" if img[1024:1536] == DATA[4] else "dropped4"] += 1
        seen["discarded"] += img[8192:9216] == bytes(1024)
    is_(bad, [], "write subset:6 (200 seeds, -t 512): the flushed write always there, nothing "
        "from after the point, the 8-sector write whole, gone or a prefix of its sectors")
    ok(all(seen[k] for k in seen), "write subset:6: each write kept, dropped and torn at least "
       "once, the discard applied at least once", seen)

    fua_ok = True
    for seed in range(50):
        r = crash(tool, "write", log, base, "subset:9:%d" % seed, out)
        with open(out, "rb") as f:
            fua_ok = fua_ok and r.returncode == 0 and f.read()[:512] == DATA[7]
    ok(fua_ok, "write subset:9: the FUA write before the point is always there")
    torn = 0
    for seed in range(100):
        r = crash(tool, "write", log, base, "subset:6:%d" % seed, out)
        torn += int(r.stdout.split(" torn ")[1].split()[0]) if " torn " in r.stdout else 0
    is_(torn, 0, "write: with the default 4 KiB tear unit the 4 KiB write is never torn")

    with open(log, "rb") as f:
        raw = f.read()
    cut = os.path.join(work, "cut.log")
    with open(cut, "wb") as f:
        f.write(raw[:-20])
    r = crash(tool, "list", cut)
    ok(r.returncode == 0 and "cut 1" in r.stdout and "entries 10 " in r.stdout,
       "list: a log cut short is used up to its last whole entry", r.stdout[-200:], r.stderr)

    is_(crash(tool, "write", log, base, "middle:3", out).returncode, 2, "a bad state: exit 2")
    is_(crash(tool, "write", log, base, "prefix:99", out).returncode, 1,
        "a point past the log: exit 1")
    is_(crash(tool, "write", log, base, "prefix:3", out, "-t", "1000").returncode, 2,
        "a tear unit that is not a multiple of the log's lbs: exit 2")
    is_(crash(tool, "list", base).returncode, 1, "a file that is not a log: exit 1")
    small = os.path.join(work, "small")
    with open(small, "wb") as f:
        f.write(bytes(4096))
    is_(crash(tool, "write", log, small, "prefix:3", out).returncode, 1,
        "a base image smaller than the device: exit 1")
    is_(crash(tool, "frobnicate", log).returncode, 2, "an unknown command: exit 2")
    done()


main()
