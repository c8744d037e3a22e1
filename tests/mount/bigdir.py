"""tests/mount/bigdir.py - one directory of 100,000 entries. Run by bigdir.sh:

  bigdir.py create MOUNTPOINT N   create N files in big/, list them
  bigdir.py lookup MOUNTPOINT N   (after a remount, so the kernel's dentry
                                  cache is cold) stat every name, look up
                                  absent names, unlink every other one, list
  bigdir.py remove MOUNTPOINT N   (after another remount) unlink the rest,
                                  rmdir: the free inodes and blocks of the
                                  start
The times are printed as TAP comments ("# time: ..."); nothing passes or
fails on speed.
"""

import errno
import os
import sys
import time

from lib import wait_for
from tap import diag, done, guard, is_, ok, raises

phase, mp, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.chdir(mp)


def name(i):
    return "%06d-%s" % (i, "x" * (i % 41))


def timed(label, count, fn):
    t0 = time.monotonic()
    r = fn()
    dt = time.monotonic() - t0
    diag("time: %s: %d in %.2f s (%.1f us each)" % (label, count, dt, dt * 1e6 / max(count, 1)))
    return r


def create():
    st = os.statvfs(".")
    with open(".bigdir-start", "w") as f:
        f.write("%d %d\n" % (st.f_bfree, st.f_ffree))
    os.mkdir("big")

    def make():
        for i in range(n):
            os.close(os.open("big/" + name(i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))

    timed("create", n, make)
    got = timed("readdir", n, lambda: os.listdir("big"))
    is_(len(got), n, "readdir returns %d entries" % n)
    ok(set(got) == {name(i) for i in range(n)}, "readdir returns exactly the names made")
    raises(errno.EEXIST, "create an existing name in the big directory", os.open,
           "big/" + name(n // 2), os.O_CREAT | os.O_EXCL | os.O_WRONLY)


def lookup():
    inos = {}

    def stat_all():
        for i in range(n):
            inos[os.stat("big/" + name(i)).st_ino] = i

    timed("lookup (cold dentry cache)", n, stat_all)
    is_(len(inos), n, "every name resolves to its own inode")
    ok(os.stat("big").st_nlink == 2, "the directory still has 2 links")

    def absent():
        bad = 0
        for i in range(10000):
            try:
                os.stat("big/absent-%d" % i)
                bad += 1
            except FileNotFoundError:
                pass
        return bad

    is_(timed("negative lookup", 10000, absent), 0, "10,000 absent names: ENOENT")

    def unlink_half():
        for i in range(0, n, 2):
            os.unlink("big/" + name(i))

    timed("unlink", (n + 1) // 2, unlink_half)
    got = os.listdir("big")
    ok(set(got) == {name(i) for i in range(1, n, 2)}, "readdir after unlinking every other name",
       "%d entries" % len(got))
    gone = sum(1 for i in range(0, n, 200) if os.path.lexists("big/" + name(i)))
    is_(gone, 0, "unlinked names are gone")
    raises(errno.ENOTEMPTY, "rmdir the big directory", os.rmdir, "big")


def remove():
    with open(".bigdir-start") as f:
        start = tuple(int(x) for x in f.read().split())

    def unlink_rest():
        for i in range(1, n, 2):
            os.unlink("big/" + name(i))

    timed("unlink the rest", n // 2, unlink_rest)
    is_(os.listdir("big"), [], "every entry removed: readdir lists none")
    os.rmdir("big")
    os.unlink(".bigdir-start")

    def counts():
        st = os.statvfs(".")
        return (st.f_bfree, st.f_ffree)

    wait_for(lambda: counts() == start, 30)
    is_(counts(), start, "the free blocks and inodes of the start are back")


guard({"create": create, "lookup": lookup, "remove": remove}[phase])
done()
