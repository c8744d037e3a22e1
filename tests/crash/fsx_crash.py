"""tests/crash/fsx_crash.py - foliofs-fsx on a recorded mount, then its crash
states.

  fsx_crash.py BUILDDIR WORKDIR [--bs N] [--cache daemon|kernel] [--seed N]
               [--ops N] [--max-len N] [--subsets K] [--limit N]
               [--corrupt N] [--expect-lost]

The run: mkfs an image (the base), mount it with -o debug_logwrites and a
small cache (so reclaim and background writeback put data and metadata on
the device between syncs), run foliofs-fsx with --mark (each mark through
`foliofs-ctl MOUNTPOINT mark`) and --mark-dir, unmount. Then every state
foliofs-crash lists (or --limit of them, chosen by the seed) is checked by
crashlib.check_state with check_file below.

What a state must hold (docs/DESIGN.md, "Crash guarantees"): with "fsx sync
S" the last sync mark before the crash point and "fsx op K" (K > S) the
operations begun after it, the file exists, its size lies between the
smallest and the largest of the sizes after S and after each such K, and each
byte equals the byte the file had after S or after one of those operations
(zero past the size then). After the closing entry (the unmount finished)
the file must be exactly what it was at the end. Before "fsx sync 0" the file
need not exist. Every byte that matches none of those is a lost durable byte.

--corrupt N mounts with -o debug_corrupt_writes=N too (one byte of every Nth
file-data write reaches the image flipped while the cache keeps the good
copy); with --expect-lost the run then fails unless the checker finds lost
bytes: the proof that it sees durable data that is not there.
"""

import argparse
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crashlib  # noqa: E402
from tap import ok, diag, done  # noqa: E402


def load(path):
    with open(path, "rb") as f:
        return f.read()


class Expect:
    """The marks' records (fsx --mark-dir) and what a crash point allows."""

    def __init__(self, marks_dir):
        self.dir = marks_dir
        self.cache = {}

    def op(self, k):
        if k not in self.cache:
            raw = load("%s/op.%d" % (self.dir, k))
            lo, hi, size = struct.unpack("<QQQ", raw[:24])
            self.cache[k] = (lo, hi, size, raw[24:])
        return self.cache[k]

    def candidates(self, sync, later):
        """[(content, touched range)] after sync and after each later op."""
        base = load("%s/sync.%d" % (self.dir, sync)) if sync is not None else b""
        out = [(base, None)]
        cur = bytearray(base)
        for k in later:
            lo, hi, size, data = self.op(k)
            if size < len(cur):
                del cur[size:]
            else:
                cur.extend(bytes(size - len(cur)))
            cur[lo:lo + len(data)] = data
            out.append((bytes(cur), (lo, hi)))
        return out


def parse_marks(labels):
    """(last sync number or None, ops begun after it, closed)."""
    sync, ops, closed = None, [], False
    for label in labels:
        f = label.split()
        if label == "close":
            closed = True
        elif f[:2] == ["fsx", "sync"]:
            sync, ops = int(f[2]), []
        elif f[:2] == ["fsx", "op"]:
            ops.append(int(f[2]))
    return sync, ops, closed


def _byte_at(c, i):
    return c[i] if i < len(c) else 0


def _slice(c, lo, hi):
    return c[lo:hi].ljust(hi - lo, b"\0")


def _merge(intervals):
    out = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return out


def compare(got, cands):
    """Problems and the count of bytes no candidate allows. cands[0] is the
    sync's copy; the others follow later operations, whose ranges (and the
    span between the smallest and largest size) are where bytes may be any
    candidate's; everywhere else they must be the sync's."""
    sizes = [len(c) for c, _ in cands]
    base = cands[0][0]
    probs = []
    if not min(sizes) <= len(got) <= max(sizes):
        probs.append("size: %d, allowed %d .. %d" % (len(got), min(sizes), max(sizes)))
    opened = _merge([r for _, r in cands if r and r[1] > r[0]] + [(min(sizes), max(sizes))])
    spans, at = [], 0
    for lo, hi in opened:
        if lo > at:
            spans.append((False, at, lo))
        spans.append((True, lo, hi))
        at = max(at, hi)
    spans.append((False, at, len(got)))
    bad, first = 0, None
    for is_open, lo, hi in spans:
        hi = min(hi, len(got))
        if lo >= hi or got[lo:hi] == _slice(base, lo, hi):
            continue
        if not is_open:
            want = _slice(base, lo, hi)
            diff = [i for i in range(lo, hi) if got[i] != want[i - lo]]
        elif any(got[lo:hi] == _slice(c, lo, hi) for c, _ in cands):
            continue
        else:
            diff = [i for i in range(lo, hi) if all(got[i] != _byte_at(c, i) for c, _ in cands)]
        if diff and first is None:
            first = diff[0]
        bad += len(diff)
    if bad:
        probs.append("bytes: %d not allowed, the first at %d (got %d, the sync's copy has %d)"
                     % (bad, first, got[first], _byte_at(base, first)))
    if len(got) < min(sizes):
        bad += min(sizes) - len(got)
    return probs, bad


def make_check(ctx, expect, name):
    def check(mp, point):
        sync, later, closed = parse_marks(ctx.crashlog.marks_before(point))
        path = os.path.join(mp, name)
        if not os.path.exists(path):
            if sync is None:
                return [], 0
            size = len(load("%s/sync.%d" % (expect.dir, sync)))
            return ["missing: the file is gone after fsx sync %d" % sync], size
        got = load(path)
        cands = expect.candidates(sync, later)
        if closed:
            cands = [(cands[-1][0], None)]  # unmounted: everything is durable
        return compare(got, cands)
    return check


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("builddir")
    ap.add_argument("work")
    ap.add_argument("--bs", type=int, default=4096)
    ap.add_argument("--cache", default="daemon")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ops", type=int, default=200)
    ap.add_argument("--max-len", default="256k")
    ap.add_argument("--max-op", default="64k")
    ap.add_argument("--subsets", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--corrupt", type=int, default=0)
    ap.add_argument("--expect-lost", action="store_true")
    a = ap.parse_args()

    tools = crashlib.Tools(a.builddir)
    os.makedirs(a.work, exist_ok=True)
    img, base, log = (os.path.join(a.work, n) for n in ("img", "base.img", "log"))
    marks, mp = os.path.join(a.work, "marks"), os.path.join(a.work, "mnt")
    os.makedirs(marks, exist_ok=True)
    crashlib.mkfs(tools, img, a.bs, "32M")
    crashlib.copy_sparse(img, base)
    desc = "fsx bs=%d cache=%s seed=%d" % (a.bs, a.cache, a.seed)
    opts = ("cache=%s,cache_size=4M,dirty_bytes=512K,dirty_background_bytes=128K,"
            "debug_logwrites=%s" % (a.cache, log))
    if a.corrupt:
        opts += ",debug_corrupt_writes=%d" % a.corrupt
        desc += " corrupt=%d" % a.corrupt
    d = crashlib.Daemon(tools, img, mp, opts, os.path.join(a.work, "daemon.log"))
    if not ok(d.start(), "%s: mounted with debug_logwrites" % desc, *d.log_tail()):
        done()
    cmd = [tools.fsx, "-q", "-N", str(a.ops), "-S", str(a.seed), "-l", a.max_len, "-o",
           a.max_op, "--mark", '"%s" "%s" mark "$FSX_MARK"' % (tools.ctl, mp),
           "--mark-dir", marks, os.path.join(mp, "f")]
    if a.cache == "kernel":  # the kernel race of tests/fsx/fsx-mount-lib.sh's FM_FSX_OPTS
        cmd.insert(1, "--msync-mapwrite")
    r = crashlib.run(cmd, cwd=a.work)
    ok(r.returncode == 0, "%s: foliofs-fsx passed on the live mount" % desc,
       *r.stdout.splitlines()[-15:])
    ok(d.umount() == 0, "%s: unmounted, daemon exited 0" % desc, *d.log_tail())
    if r.returncode:
        done()

    tally = crashlib.Tally()
    ctx = crashlib.Context(tools, log, base, a.work, tally,
                           "fsx-%d-%s-%d%s" % (a.bs, a.cache, a.seed,
                                               "-corrupt" if a.corrupt else ""),
                           todo="tolerated while CRASH_EXPECT_JOURNAL=no",
                           expect_fail="data corrupted on purpose" if a.corrupt else None)
    diag("%s: log: %s" % (desc, ctx.crashlog.summary))
    sts = crashlib.states(tools, log, a.subsets, a.seed)
    if a.limit and len(sts) > a.limit:
        sts = sorted(random.Random(a.seed).sample(sts, a.limit), key=lambda s: s[1])
    check = make_check(ctx, Expect(marks), "f")
    for spec, point in sts:
        crashlib.check_state(ctx, spec, point, check, desc)
    for line in tally.summary():
        diag("%s: %s" % (desc, line))
    print("# " + tally.record())
    if a.expect_lost:
        ok(tally.lost_bytes > 0, "%s: the checker finds the corrupted durable bytes (%d)" %
           (desc, tally.lost_bytes))
    done()


if __name__ == "__main__":
    main()
