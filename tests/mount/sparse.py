"""tests/mount/sparse.py - sparse files with data past 1 TiB. Run by sparse.sh:

  sparse.py build  MOUNTPOINT BLOCKSIZE STATEFILE   write the regions, check
  sparse.py verify MOUNTPOINT BLOCKSIZE STATEFILE   after a remount: the same
                                                    checks, then truncate

Checks: the size, st_blocks stays small, the data reads back, holes and the
bytes around each region read as zeros, SEEK_DATA/SEEK_HOLE find exactly
the regions, and the largest offset the format allows (2^48 blocks) works
while the next byte gives EFBIG.
"""

import errno
import json
import os
import sys

from lib import FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, fallocate, pattern, same_bytes
from tap import diag, done, guard, is_, ok, raises

phase, mp, bs, state = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
os.chdir(mp)
TiB = 1 << 40
GiB = 1 << 30
SLACK = 64 << 10
REGIONS = [(0, 1000), (5 * GiB + 7, 3 * bs), (TiB + 12345, 2 * bs + 1), (2 * TiB + 5, bs)]
SIZE = REGIONS[-1][0] + REGIONS[-1][1]


def check_regions(fd, tag):
    st = os.fstat(fd)
    is_(st.st_size, SIZE, tag + ": size is the end of the last region")
    ok(st.st_blocks * 512 < (1 << 20), tag + ": st_blocks small (< 1 MiB allocated)",
       "st_blocks %d" % st.st_blocks)
    for off, n in REGIONS:
        same_bytes(os.pread(fd, n, off), pattern(11, off, n),
                   tag + ": data at %d reads back" % off)
        lo = max(0, off - 8192)
        same_bytes(os.pread(fd, off - lo, lo), bytes(off - lo),
                   tag + ": 8 KiB before %d read as zeros" % off)
        end = off + n
        tail = min(SIZE, end + 8192) - end
        same_bytes(os.pread(fd, tail, end), bytes(tail),
                   tag + ": bytes after the region at %d read as zeros" % off)
    bad = []
    for off in (1 << 20, GiB, 3 * GiB + 5, 100 * GiB, TiB - (1 << 20), TiB + GiB,
                2 * TiB - (2 << 20)):
        if os.pread(fd, 1 << 20, off) != bytes(1 << 20):
            bad.append(off)
    ok(not bad, tag + ": 1 MiB reads in the holes return zeros", "not zero at %r" % bad)
    check_seek(fd, tag)


def check_seek(fd, tag):
    found = []
    pos = 0
    try:
        while len(found) < 10:
            d = os.lseek(fd, pos, os.SEEK_DATA)
            h = os.lseek(fd, d, os.SEEK_HOLE)
            found.append((d, h))
            pos = h
    except OSError as e:
        ok(e.errno == errno.ENXIO, tag + ": SEEK_DATA after the last data: ENXIO",
           "got errno %d" % e.errno)
    bad = []
    if len(found) != len(REGIONS):
        bad.append("%d data extents for %d regions: %r" % (len(found), len(REGIONS), found))
    else:
        for (d, h), (off, n) in zip(found, REGIONS):
            if not (off - SLACK < d <= off and off + n <= h < off + n + SLACK):
                bad.append("region [%d, %d) reported as [%d, %d)" % (off, off + n, d, h))
    ok(not bad, tag + ": SEEK_DATA/SEEK_HOLE find each region and nothing else", *bad)
    if found:
        is_(found[-1][1], SIZE, tag + ": the hole after the last data is end of file")
    is_(os.lseek(fd, GiB, os.SEEK_HOLE), GiB, tag + ": SEEK_HOLE inside a hole stays put")
    is_(os.lseek(fd, GiB, os.SEEK_DATA), REGIONS[1][0] - REGIONS[1][0] % bs,
        tag + ": SEEK_DATA from a hole: the next region's first block")
    raises(errno.ENXIO, tag + ": SEEK_DATA at end of file", os.lseek, fd, SIZE, os.SEEK_DATA)


def max_offset():
    limit = (1 << 48) * bs
    fd = os.open("edge", os.O_CREAT | os.O_RDWR, 0o644)
    r = None
    try:
        r = os.pwrite(fd, b"L", limit - 1)
    except OSError as e:
        ok(False, "write the last byte the format allows (%d)" % (limit - 1),
           "errno %s" % errno.errorcode.get(e.errno))
    if r is not None:
        is_(os.fstat(fd).st_size, limit, "write the last byte the format allows: size 2^48 blocks")
        is_(os.pread(fd, 2, limit - 1), b"L", "the last byte reads back")
    raises(errno.EFBIG, "write past 2^48 blocks", os.pwrite, fd, b"x", limit)
    raises((errno.EFBIG, errno.EINVAL), "truncate past 2^48 blocks", os.ftruncate, fd, limit + 1)
    os.close(fd)
    os.unlink("edge")


def build():
    s0 = os.statvfs(".")
    fd = os.open("sparse", os.O_CREAT | os.O_RDWR, 0o644)
    for off, n in REGIONS:
        is_(os.pwrite(fd, pattern(11, off, n), off), n, "write %d bytes at %d" % (n, off))
    os.fsync(fd)
    guard(check_regions, fd, "written")
    s1 = os.statvfs(".")
    used = (s0.f_bfree - s1.f_bfree) * s1.f_frsize
    ok(used < (1 << 20), "statfs: the file took under 1 MiB", "%d bytes" % used)
    st = os.fstat(fd)
    with open(state, "w") as f:
        json.dump({"blocks": st.st_blocks, "ino": st.st_ino}, f)
    os.close(fd)
    guard(max_offset)


def verify():
    with open(state) as f:
        saved = json.load(f)
    fd = os.open("sparse", os.O_RDWR)
    st = os.fstat(fd)
    is_((st.st_blocks, st.st_ino), (saved["blocks"], saved["ino"]),
        "after remount: same inode, same st_blocks")
    guard(check_regions, fd, "after remount")
    os.ftruncate(fd, 1 << 20)
    st = os.fstat(fd)
    is_(st.st_size, 1 << 20, "truncate to 1 MiB")
    ok(st.st_blocks <= saved["blocks"], "truncate frees the far blocks")
    same_bytes(os.pread(fd, 2000, 0), pattern(11, 0, 1000) + bytes(1000),
               "the first region survives the truncate")
    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1 << 20)
    st = os.fstat(fd)
    ok(st.st_blocks * 512 <= bs, "punching the whole file frees its data blocks",
       "st_blocks %d" % st.st_blocks)
    raises(errno.ENXIO, "SEEK_DATA on an all-hole file", os.lseek, fd, 0, os.SEEK_DATA)
    os.close(fd)
    diag("sparse file left in place for fsck")


if phase == "build":
    build()
else:
    verify()
done()
