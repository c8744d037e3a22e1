"""tests/mount/syncwrite.py - writes that must be durable when they return
(O_SYNC, O_DSYNC, RWF_SYNC, RWF_DSYNC), for tests/mount/syncwrite.sh.

  syncwrite.py prepare MP             the files the cases start from, fsynced
  syncwrite.py case MP PID N ROUND    run case N, then SIGKILL the daemon PID
                                      at once: nothing else is synced
  syncwrite.py check MP N ROUND       the file case N wrote holds exactly the
                                      bytes and size it must

Every case starts from a file whose bytes are known and durable (prepare, or
the previous round's checked result), writes once with a sync flag and kills
the daemon as soon as the write returns; the last case writes without a sync
flag and runs `foliofs-ctl MP sync` ($CTL) before the kill.
"""

import os
import signal
import subprocess
import sys

from lib import pattern
from tap import ok, is_, diag, done

BASE = 20000  # bytes of each prepared file (not a multiple of the page size)
SPARSE = 1 << 20

# name: (file, flags at open, pwritev2 flags, offset ("end" = at the end), length)
CASES = [
    ("dsync-append", os.O_DSYNC | os.O_APPEND, 0, "end", 5000),
    ("dsync-overwrite", os.O_DSYNC, 0, 3000, 6000),
    ("sync-append", os.O_SYNC | os.O_APPEND, 0, "end", 9000),
    ("sync-overwrite", os.O_SYNC, 0, 100, 12000),
    ("rwf-dsync-append", 0, os.RWF_DSYNC, "end", 7000),
    ("rwf-dsync-overwrite", 0, os.RWF_DSYNC, 4096, 8192),
    ("rwf-sync-append", 0, os.RWF_SYNC, "end", 3000),
    ("dsync-new", os.O_DSYNC | os.O_CREAT, 0, 0, 10000),
    ("dsync-hole", os.O_DSYNC, 0, SPARSE // 2 + 100, 6000),
    # a plain write, then `foliofs-ctl MP sync` (sync(1) would not reach the daemon)
    ("ctl-sync", 0, 0, "end", 70000),
]


def path(mp, n):
    return "%s/%s" % (mp, CASES[n][0])


def expected(n, rounds):
    """The file's bytes after `rounds` rounds of case n."""
    name, oflags, _, at, length = CASES[n]
    if name == "dsync-new":
        data = bytearray()
    elif name == "dsync-hole":
        data = bytearray(SPARSE)
    else:
        data = bytearray(pattern(n, 0, BASE))
    for r in range(rounds):
        if name == "dsync-new":
            data = bytearray()  # the round deletes and creates it again
        off = len(data) if at == "end" else at
        end = off + length
        if end > len(data):
            data.extend(bytes(end - len(data)))
        data[off:end] = pattern(100 * (r + 1) + n, off, length)
    return bytes(data)


def prepare(mp):
    for n, (name, _, _, _, _) in enumerate(CASES):
        if name == "dsync-new":
            continue
        fd = os.open(path(mp, n), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        if name == "dsync-hole":
            os.ftruncate(fd, SPARSE)
        else:
            os.pwrite(fd, pattern(n, 0, BASE), 0)
        os.fsync(fd)
        os.close(fd)
    dfd = os.open(mp, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(dfd)
    os.close(dfd)
    ok(True, "prepared %d files, fsynced" % (len(CASES) - 1))


def case(mp, pid, n, rnd):
    name, oflags, rwf, at, length = CASES[n]
    p = path(mp, n)
    if name == "dsync-new" and os.path.exists(p):
        os.unlink(p)  # not synced: only the new file's own sync may make it durable
    fd = os.open(p, os.O_WRONLY | oflags, 0o644)
    off = os.fstat(fd).st_size if at == "end" else at
    data = pattern(100 * (rnd + 1) + n, off, length)
    if rwf:
        w = os.pwritev(fd, [data], off, rwf)
    elif oflags & os.O_APPEND:
        w = os.write(fd, data)
    else:
        w = os.pwrite(fd, data, off)
    if name == "ctl-sync":
        subprocess.run([os.environ["CTL"], mp, "sync"], check=True)
    os.kill(pid, signal.SIGKILL)
    is_(w, length, "%s round %d: wrote %d bytes at %d, then SIGKILL" % (name, rnd, length, off))
    try:
        os.close(fd)
    except OSError:
        pass


def check(mp, n, rnd):
    name = CASES[n][0]
    want = expected(n, rnd + 1)
    try:
        with open(path(mp, n), "rb") as f:
            got = f.read()
    except OSError as e:
        ok(False, "%s round %d: the file is there" % (name, rnd), str(e))
        return
    is_(len(got), len(want), "%s round %d: size after the crash" % (name, rnd))
    if got != want:
        first = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                     min(len(got), len(want)))
        ok(False, "%s round %d: bytes after the crash" % (name, rnd),
           "first difference at byte %d" % first)
    else:
        ok(True, "%s round %d: bytes after the crash" % (name, rnd))


def main():
    cmd, mp = sys.argv[1], sys.argv[2]
    if cmd == "prepare":
        prepare(mp)
    elif cmd == "case":
        case(mp, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "check":
        check(mp, int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "count":
        print(len(CASES))
        return
    done()


main()
