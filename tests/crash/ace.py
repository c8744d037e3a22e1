"""tests/crash/ace.py - bounded crash workloads in the style of the ACE /
CrashMonkey study, and their oracle.

  ace.py count                       how many valid workloads of 1, 2, 3 ops
  ace.py show LEN INDEX              one workload, as its operations
  ace.py run BUILDDIR WORK [--ids LEN:INDEX,...] [--sample LEN:N,...]
             [--all-1] [--seed S] [--states N|at-sync] [--subsets K]

--states N checks N of each workload's states (chosen by the seed; 0: all),
--states at-sync only the prefix states right after each sync returned (the
regression tests: a filesystem without a journal passes those too).

A workload is 1 to 3 operations, each followed by nothing, fsync, fdatasync,
or fsync of the parent directory of what it changed, over a small fixed
namespace: files A, B, D/C, D/B, directories D and E (and E/C, E/B after D is
renamed to E). The setup, durable before the workload starts (made on a
plain mount, cleanly unmounted: the base image), is A (16 KiB, xattr
user.x = "v1"), D/, D/C (8 KiB). The operations and their arguments:

  creat F           F in A B D/C D/B (open O_CREAT, no truncation)
  mkdir E
  write F OFF LEN   F in A B D/C; [2048, +4096) and [16000, +14000)
  mmapwrite F       F in A B D/C; [1024, +4096) through a shared mapping (the
                    file first extended to its end if shorter), no msync
  falloc F MODE     F in A D/C; 0 [12288, +24576), KEEP_SIZE [20480, +24576),
                    ZERO_RANGE [1000, +8000), ZERO_RANGE|KEEP_SIZE [8192, +16384)
  punch F           F in A D/C; PUNCH_HOLE|KEEP_SIZE [4096, +8192)
  truncate F SIZE   F in A D/C; 3000 and 50000
  link S D          A->B A->D/B D/C->B D/C->D/B
  unlink F          F in A B D/C D/B
  rename S D        A->B A->D/B D/C->A A->D/C D/C->B B->A D->E
  setxattr P        P in A D/C D: user.x = "v2-P"
  removexattr P     P in A D/C: user.x

Every valid sequence (each operation must succeed on the namespace its
predecessors left: a small model of names, kinds, links and xattrs decides)
has a number: workloads of length L are numbered 0 .. count(L)-1 in a fixed
order, so `show`, `--ids` and a failure report name one exactly, and `count`
says how many there are.

The run of one workload: copy the base image, mount it with -o
debug_logwrites, take a snapshot of the namespace (obs 0), then for each
operation K: mark "ace op K", do it, do its sync, mark "ace sync K" if it
had one, snapshot (obs K); unmount. Then every crash state of the log (or
--states of them) is checked by crashlib.check_state with the oracle below
(the guarantees of docs/DESIGN.md, "Crash guarantees"):

  With M the last operation begun before the crash point and the syncs
  whose mark precedes it, each property of the namespace has a guarantee
  time G: the last sync that covers it, or 0 (the setup). After the crash it
  must equal what the live mount showed at some time from G to M:
   - a name (absent, or a file or directory and its inode number): covered
     by fsync of a file for every name the file had up to the sync (new,
     linked, renamed to or away), by fdatasync of a file created after the
     setup the same way, by fsync or fdatasync of a directory for every name
     in it and, for a new directory, its own names; and all the names
     together must be the namespace of one moment from the latest of their
     guarantee times to M (name operations reach the disk whole and in order:
     a rename is never half done);
   - a file's bytes and size: covered by fsync and fdatasync of it; each byte
     must be one some observed version had (zero past its size), the size
     between the smallest and largest observed;
   - an xattr's value: covered by fsync of its inode;
   - names outside the namespace in /, /D and /E: none but the setup's.
  After the closing entry (the unmount finished) everything must be what
  the last snapshot shows. Bytes of a covered file that no allowed version
  has count as lost durable bytes.
"""

import argparse
import mmap
import os
import random
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crashlib  # noqa: E402
from tap import ok, diag, done  # noqa: E402

FILES = ["A", "B", "D/C", "D/B"]
UNIVERSE = ["A", "B", "D", "D/C", "D/B", "E", "E/C", "E/B"]
DIRS_LISTED = ["", "D", "E"]
XATTR = "user.x"

FALLOC_KEEP, FALLOC_PUNCH, FALLOC_ZERO = 0x01, 0x02, 0x10
FALLOC_MODES = [(0, 12288, 24576), (FALLOC_KEEP, 20480, 24576), (FALLOC_ZERO, 1000, 8000),
                (FALLOC_ZERO | FALLOC_KEEP, 8192, 16384)]


def _ops():
    ops = [("creat", f) for f in FILES] + [("mkdir", "E")]
    ops += [("write", f, off, n) for f in ("A", "B", "D/C") for off, n in ((2048, 4096),
                                                                          (16000, 14000))]
    ops += [("mmapwrite", f, 1024, 4096) for f in ("A", "B", "D/C")]
    ops += [("falloc", f, mode, off, n) for f in ("A", "D/C") for mode, off, n in FALLOC_MODES]
    ops += [("punch", f, 4096, 8192) for f in ("A", "D/C")]
    ops += [("truncate", f, size) for f in ("A", "D/C") for size in (3000, 50000)]
    ops += [("link", s, d) for s, d in (("A", "B"), ("A", "D/B"), ("D/C", "B"), ("D/C", "D/B"))]
    ops += [("unlink", f) for f in FILES]
    ops += [("rename", s, d) for s, d in (("A", "B"), ("A", "D/B"), ("D/C", "A"), ("A", "D/C"),
                                          ("D/C", "B"), ("B", "A"), ("D", "E"))]
    ops += [("setxattr", p) for p in ("A", "D/C", "D")]
    ops += [("removexattr", p) for p in ("A", "D/C")]
    return ops


OPS = _ops()
PERSISTS = ["none", "fsync", "fdatasync", "fsync-parent"]
STEPS = [(i, p) for i in range(len(OPS)) for p in PERSISTS]


def parent(p):
    return p.rsplit("/", 1)[0] if "/" in p else ""


def subject(op):
    """The path whose sync follows the operation (for unlink its directory)."""
    if op[0] in ("link", "rename"):
        return op[2]
    if op[0] == "unlink":
        return parent(op[1])
    return op[1]


def sync_target(op, persist):
    return parent(subject(op)) if persist == "fsync-parent" else subject(op)


def describe(seq):
    return "; ".join("%s%s" % (" ".join(str(a) for a in OPS[i]),
                               "" if p == "none" else " +" + p) for i, p in seq)


# ---- the namespace model: which workloads are valid ------------------------


class Model:
    """Names -> inode, inode -> (kind, has xattr). Paths "" is the root."""

    def __init__(self):
        self.names = {"": 0, "A": 1, "D": 2, "D/C": 3}
        self.inodes = {0: ["d", False], 1: ["f", True], 2: ["d", False], 3: ["f", False]}
        self.next = 4

    def copy(self):
        m = Model.__new__(Model)
        m.names = dict(self.names)
        m.inodes = {k: list(v) for k, v in self.inodes.items()}
        m.next = self.next
        return m

    def key(self):
        order = {}
        for p in sorted(self.names):
            order.setdefault(self.names[p], len(order))
        return tuple(sorted((p, order[i], self.inodes[i][0], self.inodes[i][1])
                            for p, i in self.names.items()))

    def kind(self, p):
        i = self.names.get(p)
        return None if i is None else self.inodes[i][0]

    def _drop(self, p):
        i = self.names.pop(p)
        if i not in self.names.values():
            del self.inodes[i]

    def apply(self, op):
        """Do @op on the model; False when it would fail."""
        name, a = op[0], op[1:]
        if name == "creat":
            if self.kind(parent(a[0])) != "d" or self.kind(a[0]) == "d":
                return False
            if a[0] not in self.names:
                self.names[a[0]] = self.next
                self.inodes[self.next] = ["f", False]
                self.next += 1
            return True
        if name == "mkdir":
            if self.kind(parent(a[0])) != "d" or a[0] in self.names:
                return False
            self.names[a[0]] = self.next
            self.inodes[self.next] = ["d", False]
            self.next += 1
            return True
        if name in ("write", "mmapwrite", "falloc", "punch", "truncate"):
            return self.kind(a[0]) == "f"
        if name == "setxattr":
            if a[0] not in self.names:
                return False
            self.inodes[self.names[a[0]]][1] = True
            return True
        if name == "removexattr":
            if a[0] not in self.names or not self.inodes[self.names[a[0]]][1]:
                return False
            self.inodes[self.names[a[0]]][1] = False
            return True
        if name == "link":
            if self.kind(a[0]) != "f" or a[1] in self.names or self.kind(parent(a[1])) != "d":
                return False
            self.names[a[1]] = self.names[a[0]]
            return True
        if name == "unlink":
            if self.kind(a[0]) != "f":
                return False
            self._drop(a[0])
            return True
        if name == "rename":
            return self._rename(a[0], a[1])
        raise ValueError(name)

    def _rename(self, s, d):
        k = self.kind(s)
        if k is None or self.kind(parent(d)) != "d":
            return False
        if k == "d":
            if self.kind(d) not in (None, "d") or any(p.startswith(d + "/") for p in self.names):
                return False
            if d in self.names:
                self._drop(d)
            for p in sorted(self.names):
                if p == s or p.startswith(s + "/"):
                    self.names[d + p[len(s):]] = self.names.pop(p)
            return True
        if self.kind(d) == "d":
            return False
        if self.names.get(d) == self.names[s]:
            return True  # two links of one inode: rename does nothing
        if d in self.names:
            self._drop(d)
        self.names[d] = self.names.pop(s)
        return True

    def step(self, op, persist):
        """The model after (op, persist), or None when invalid."""
        m = self.copy()
        if not m.apply(OPS[op]):
            return None
        t = sync_target(OPS[op], persist)
        if persist != "none" and t not in m.names:
            return None
        if OPS[op][0] == "unlink" and persist in ("fsync", "fdatasync"):
            return None  # the file is gone: only its directory can be synced
        return m


_memo = {}


def count(model, n):
    """Valid continuations of @n steps from @model."""
    if n == 0:
        return 1
    key = (model.key(), n)
    if key not in _memo:
        total = 0
        for op, p in STEPS:
            nxt = model.step(op, p)
            if nxt is not None:
                total += count(nxt, n - 1)
        _memo[key] = total
    return _memo[key]


def unrank(n, index):
    """The valid workload of @n steps numbered @index."""
    model, seq = Model(), []
    for left in range(n, 0, -1):
        for op, p in STEPS:
            nxt = model.step(op, p)
            if nxt is None:
                continue
            c = count(nxt, left - 1)
            if index < c:
                seq.append((op, p))
                model = nxt
                break
            index -= c
        else:
            raise IndexError("no workload %d of length %d" % (index, n))
    return seq


# ---- running a workload on a mount ------------------------------------------


def data_for(k, off, n):
    """Bytes operation K writes at file offset off: distinct per op and offset."""
    out = bytearray(n)
    for i in range(n):
        o = off + i
        out[i] = (k * 73 + o * 7 + (o >> 8) * 13 + 1) & 0xFF or 1
    return bytes(out)


def do_op(mp, k, op):
    name, a = op[0], op[1:]
    path = lambda p: os.path.join(mp, p)  # noqa: E731
    if name == "creat":
        os.close(os.open(path(a[0]), os.O_CREAT | os.O_WRONLY, 0o644))
    elif name == "mkdir":
        os.mkdir(path(a[0]))
    elif name == "write":
        fd = os.open(path(a[0]), os.O_WRONLY)
        os.pwrite(fd, data_for(k, a[1], a[2]), a[1])
        os.close(fd)
    elif name == "mmapwrite":
        fd = os.open(path(a[0]), os.O_RDWR)
        end = a[1] + a[2]
        if os.fstat(fd).st_size < end:
            os.ftruncate(fd, end)
        with mmap.mmap(fd, end) as m:
            m[a[1]:end] = data_for(k, a[1], a[2])
        os.close(fd)
    elif name in ("falloc", "punch"):
        mode, off, n = (a[1], a[2], a[3]) if name == "falloc" else \
            (FALLOC_PUNCH | FALLOC_KEEP, a[1], a[2])
        fd = os.open(path(a[0]), os.O_WRONLY)
        try:
            fallocate(fd, mode, off, n)
        finally:
            os.close(fd)
    elif name == "truncate":
        os.truncate(path(a[0]), a[1])
    elif name == "link":
        os.link(path(a[0]), path(a[1]))
    elif name == "unlink":
        os.unlink(path(a[0]))
    elif name == "rename":
        os.rename(path(a[0]), path(a[1]))
    elif name == "setxattr":
        os.setxattr(path(a[0]), XATTR, ("v2-" + a[0]).encode())
    elif name == "removexattr":
        os.removexattr(path(a[0]), XATTR)


def do_persist(mp, op, persist):
    if persist == "none":
        return
    p = os.path.join(mp, sync_target(op, persist))
    fd = os.open(p, os.O_RDONLY)
    try:
        (os.fdatasync if persist == "fdatasync" else os.fsync)(fd)
    finally:
        os.close(fd)


def fallocate(fd, mode, off, n):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    if libc.fallocate(fd, mode, off, n):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def snapshot(mp):
    """Every name of the namespace (kind, inode) or None, each inode's kind,
    bytes and xattr, and the names outside the namespace."""
    paths, inodes, extra = {}, {}, set()
    for p in [""] + UNIVERSE:
        full = os.path.join(mp, p) if p else mp
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            paths[p] = None
            continue
        kind = "d" if stat.S_ISDIR(st.st_mode) else "f"
        paths[p] = (kind, st.st_ino)
        if st.st_ino in inodes:
            continue
        try:
            x = os.getxattr(full, XATTR)
        except OSError:
            x = None
        data = None
        if kind == "f":
            with open(full, "rb") as f:
                data = f.read()
        inodes[st.st_ino] = (kind, data, x)
    for d in DIRS_LISTED:
        if paths[d] and paths[d][0] == "d":
            for n in os.listdir(os.path.join(mp, d) if d else mp):
                q = d + "/" + n if d else n
                if q not in UNIVERSE:
                    extra.add(q)
    return {"paths": paths, "inodes": inodes, "extra": extra}


def ctl_mark(tools, mp, label):
    subprocess.run([tools.ctl, mp, "mark", label], check=True, stdout=subprocess.DEVNULL)


# ---- the oracle --------------------------------------------------------------


def coverage(obs, seq, syncs):
    """Guarantee times: per name, per inode's data, per inode's xattr."""
    g_name, g_data, g_x = {p: 0 for p in UNIVERSE}, {}, {}
    setup = obs[0]["inodes"]
    for k in syncs:
        op, persist = OPS[seq[k - 1][0]], seq[k - 1][1]
        t = obs[k]["paths"][sync_target(op, persist)]
        kind, ino = t
        new = ino not in setup
        if persist == "fsync":
            g_x[ino] = k
        named = [p for p in UNIVERSE if any(obs[j]["paths"][p] == t for j in range(k + 1))]
        if kind == "f":
            g_data[ino] = k
            if persist == "fsync" or new:
                for p in named:
                    g_name[p] = k
            continue
        for p in UNIVERSE:
            if obs[k]["paths"][parent(p)] == t:
                g_name[p] = k
        if new:
            for p in named:
                g_name[p] = k
    return g_name, g_data, g_x


def check_bytes(got, versions):
    """Problems and bytes no version allows (size between min and max)."""
    if any(got == v for v in versions):
        return [], 0
    sizes = [len(v) for v in versions]
    probs = []
    if not min(sizes) <= len(got) <= max(sizes):
        probs.append("size %d, allowed %d .. %d" % (len(got), min(sizes), max(sizes)))
    bad = [i for i in range(len(got))
           if all(got[i] != (v[i] if i < len(v) else 0) for v in versions)]
    if bad:
        probs.append("%d bytes no version had, the first at %d" % (len(bad), bad[0]))
    return probs, len(bad) + max(0, min(sizes) - len(got))


def oracle(obs, seq, labels, crash):
    m, syncs, closed = 0, [], False
    for label in labels:
        f = label.split()
        if label == "close":
            closed = True
        elif f[:2] == ["ace", "op"]:
            m = int(f[2])
        elif f[:2] == ["ace", "sync"]:
            syncs.append(int(f[2]))
    if closed:
        m = len(seq)
        g_name = {p: m for p in UNIVERSE}
        g_data = g_x = {ino: m for o in obs for ino in o["inodes"]}
    else:
        g_name, g_data, g_x = coverage(obs, seq, syncs)
    probs, lost = [], 0
    for p in UNIVERSE:
        allowed = {obs[t]["paths"][p] for t in range(g_name[p], m + 1)}
        if crash["paths"][p] not in allowed:
            probs.append("name %s: %s, allowed %s (from op %d)" %
                         (p, crash["paths"][p], sorted(allowed, key=str), g_name[p]))
    first = max(g_name.values())
    if not probs and not any(all(crash["paths"][p] == obs[t]["paths"][p] for p in UNIVERSE)
                             for t in range(first, m + 1)):
        probs.append("names: together they match no moment from op %d to op %d: %s" %
                     (first, m, {p: crash["paths"][p] for p in UNIVERSE if crash["paths"][p]}))
    for ino, (kind, data, x) in crash["inodes"].items():
        if kind != "f":
            continue
        g = g_data.get(ino, 0)
        versions = [obs[t]["inodes"][ino] for t in range(g, m + 1) if ino in obs[t]["inodes"]]
        if not versions:
            continue  # a name check failed already
        bp, bl = check_bytes(data, [v[1] for v in versions])
        probs += ["inode %d data (from op %d): %s" % (ino, g, s) for s in bp]
        lost += bl if g else 0
    for ino, (kind, data, x) in crash["inodes"].items():
        g = g_x.get(ino, 0)
        allowed = {obs[t]["inodes"][ino][2] for t in range(g, m + 1) if ino in obs[t]["inodes"]}
        if allowed and x not in allowed:
            probs.append("xattr of inode %d: %r, allowed %r (from op %d)" %
                         (ino, x, sorted(allowed, key=str), g))
    seen = set().union(*(obs[t]["extra"] for t in range(m + 1)))
    for q in sorted(crash["extra"] - seen):
        probs.append("unexpected name %s" % q)
    return probs, lost


# ---- the run -------------------------------------------------------------------


def make_base(tools, work):
    img, base, mp = (os.path.join(work, n) for n in ("setup.img", "base.img", "setup.mnt"))
    crashlib.mkfs(tools, img, 4096, "16M")
    d = crashlib.Daemon(tools, img, mp, "cache_size=16M", os.path.join(work, "setup.log"))
    if not d.start():
        raise RuntimeError("setup mount failed: %s" % d.log_tail())
    try:
        with open(os.path.join(mp, "A"), "wb") as f:
            f.write(data_for(0, 0, 16384))
        os.setxattr(os.path.join(mp, "A"), XATTR, b"v1")
        os.mkdir(os.path.join(mp, "D"))
        with open(os.path.join(mp, "D/C"), "wb") as f:
            f.write(data_for(0, 100000, 8192))
    finally:
        rc = d.umount()
    if rc != 0:
        raise RuntimeError("setup unmount: status %s" % rc)
    os.rename(img, base)
    return base


def run_workload(tools, work, base, tally, ident, seq, cache, nstates, subsets, seed):
    desc = "ace %s [%s] cache=%s" % (ident, describe(seq), cache)
    img, log, mp = (os.path.join(work, n) for n in ("img", "log", "mnt"))
    crashlib.copy_sparse(base, img)
    d = crashlib.Daemon(tools, img, mp, "cache=%s,cache_size=16M,debug_logwrites=%s" %
                        (cache, log), os.path.join(work, "daemon.log"))
    if not d.start():
        ok(False, "%s: mounted" % desc, *d.log_tail())
        return
    obs, err = [snapshot(mp)], None
    try:
        for k, (op, persist) in enumerate(seq, 1):
            ctl_mark(tools, mp, "ace op %d" % k)
            do_op(mp, k, OPS[op])
            do_persist(mp, OPS[op], persist)
            if persist != "none":
                ctl_mark(tools, mp, "ace sync %d" % k)
            obs.append(snapshot(mp))
    except (OSError, subprocess.CalledProcessError) as e:
        err = e
    rc = d.umount()
    if err or rc != 0:
        ok(False, "%s: ran on the live mount" % desc, "error: %s" % err,
           "daemon exit %s" % rc, *d.log_tail())
        return
    ctx = crashlib.Context(tools, log, base, work, tally, "ace-%s-%s" % (ident, cache),
                           todo="tolerated while CRASH_EXPECT_JOURNAL=no")
    sts = crashlib.states(tools, log, subsets, seed)
    if nstates == "at-sync":
        sts = crashlib.at_sync(ctx.crashlog, sts, "ace sync")
    elif nstates and len(sts) > nstates:
        sts = sorted(random.Random(seed).sample(sts, nstates), key=lambda s: s[1])

    def check(smp, point):
        return oracle(obs, seq, ctx.crashlog.marks_before(point), snapshot(smp))

    for spec, point in sts:
        crashlib.check_state(ctx, spec, point, check, desc)


def parse_ids(text):
    out = []
    for item in filter(None, (text or "").split(",")):
        n, i = item.split(":")
        out.append((int(n), int(i)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("args", nargs="*")
    ap.add_argument("--ids", default="")
    ap.add_argument("--sample", default="")
    ap.add_argument("--all-1", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--states", default="0")
    ap.add_argument("--subsets", type=int, default=1)
    a = ap.parse_args()
    if a.cmd == "count":
        for n in (1, 2, 3):
            print("length %d: %d workloads" % (n, count(Model(), n)))
        return
    if a.cmd == "show":
        print(describe(unrank(int(a.args[0]), int(a.args[1]))))
        return
    tools = crashlib.Tools(a.args[0])
    work = a.args[1]
    os.makedirs(work, exist_ok=True)
    rng = random.Random(a.seed)
    ids = parse_ids(a.ids)
    if a.all_1:
        ids += [(1, i) for i in range(count(Model(), 1))]
    for n, k in parse_ids(a.sample):
        total = count(Model(), n)
        ids += [(n, i) for i in sorted(rng.sample(range(total), min(k, total)))]
    base = make_base(tools, work)
    tally = crashlib.Tally()
    for j, (n, i) in enumerate(ids):
        try:
            run_workload(tools, work, base, tally, "%d:%d" % (n, i), unrank(n, i),
                         "daemon" if j % 2 == 0 else "kernel",
                         a.states if a.states == "at-sync" else int(a.states), a.subsets,
                         a.seed + j)
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            ok(False, "ace %d:%d: the run went through" % (n, i), repr(e))
            crashlib.stop_all()
    for line in tally.summary():
        diag("ace: " + line)
    print("# " + tally.record())
    diag("ace: %d workloads" % len(ids))
    done()


if __name__ == "__main__":
    main()
