"""tests/mount/orphan.py - an unlinked file that is still open keeps its
data until its last close. Run by orphan.sh:

  orphan.py live  MOUNTPOINT BLOCKSIZE STATEFILE   unlink while open (one and
      two descriptors, and a mapping): data readable and writable, space
      kept; after the last close or munmap the space comes back
  orphan.py hold  MOUNTPOINT BLOCKSIZE READYFILE   make a 2 MiB file, keep it
      open, unlink it, create READYFILE, then wait to be killed
  orphan.py after MOUNTPOINT BLOCKSIZE STATEFILE   the free counts are those
      from before the held file existed
"""

import json
import mmap
import os
import sys
import time

from lib import pattern, same_bytes, wait_for
from tap import done, guard, is_, ok

phase, mp, bs, state = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
os.chdir(mp)
MiB = 1 << 20


def counts():
    s = os.statvfs(".")
    return [s.f_bfree, s.f_ffree]


def make(name, seed, size):
    with open(name, "wb") as f:
        f.write(pattern(seed, 0, size))
        os.fsync(f.fileno())


def two_descriptors(s0):
    make("victim", 41, 4 * MiB)
    fd = os.open("victim", os.O_RDWR)
    os.unlink("victim")
    ok("victim" not in os.listdir("."), "the unlinked name is gone")
    is_(os.fstat(fd).st_nlink, 0, "fstat: 0 links")
    same_bytes(os.pread(fd, 4 * MiB, 0), pattern(41, 0, 4 * MiB),
               "the open descriptor reads all the data")
    os.pwrite(fd, pattern(42, 4 * MiB, MiB), 4 * MiB)
    same_bytes(os.pread(fd, MiB, 4 * MiB), pattern(42, 4 * MiB, MiB),
               "writing to the unlinked file works")
    fd2 = os.open("/proc/self/fd/%d" % fd, os.O_RDONLY)
    os.close(fd)
    time.sleep(0.2)
    same_bytes(os.pread(fd2, 5 * MiB, 0), pattern(41, 0, 4 * MiB) + pattern(42, 4 * MiB, MiB),
               "after closing one of two descriptors the other reads everything")
    used = (s0[0] - counts()[0]) * bs
    ok(used >= 5 * MiB, "the blocks are still in use while open", "%d bytes in use" % used)
    os.close(fd2)
    ok(wait_for(lambda: counts() == s0), "after the last close the blocks and inode are free",
       "counts %r, before %r" % (counts(), s0))


def mapping(s0):
    make("mapped", 43, MiB)
    fd = os.open("mapped", os.O_RDWR)
    m = mmap.mmap(fd, MiB, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    os.unlink("mapped")
    os.close(fd)
    time.sleep(0.2)
    same_bytes(m[:], pattern(43, 0, MiB), "a mapping of an unlinked, closed file reads the data")
    m[100:200] = b"M" * 100
    is_(m[100:200], b"M" * 100, "and takes stores")
    ok(counts() != s0, "the space is kept while mapped")
    m.close()
    ok(wait_for(lambda: counts() == s0), "after munmap the blocks and inode are free",
       "counts %r, before %r" % (counts(), s0))


def live():
    s0 = counts()
    guard(two_descriptors, s0)
    guard(mapping, s0)
    with open(state, "w") as f:
        json.dump(counts(), f)


def hold():
    make("orphan", 44, 2 * MiB)
    fd = os.open("orphan", os.O_RDONLY)
    os.unlink("orphan")
    with open(state, "w") as f:
        f.write("ready\n")
    time.sleep(600)
    os.close(fd)


if phase == "live":
    live()
elif phase == "hold":
    hold()
else:
    with open(state) as f:
        is_(counts(), json.load(f), "the orphan was freed: free counts as before it existed")
done()
