"""tests/mount/enospc.py - filling an image to ENOSPC and freeing it again.
Run by enospc.sh:

  enospc.py fill  MOUNTPOINT BLOCKSIZE STATEFILE   use up the inodes with
      empty files, then the data blocks with one file; every operation that
      needs an inode or a block fails with ENOSPC and leaves nothing
      behind; overwriting allocated blocks still works; freeing 1 MiB makes
      a new write work again
  enospc.py check MOUNTPOINT BLOCKSIZE STATEFILE   (after a remount) the data
      is intact; everything removed gives back the free counts of the start
  enospc.py same  MOUNTPOINT BLOCKSIZE STATEFILE   the free counts are still
      those of the start
"""

import errno
import hashlib
import json
import os
import sys

from lib import fallocate, pattern, wait_for
from tap import diag, done, guard, is_, ok, raises, succeeds

phase, mp, bs, state = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
os.chdir(mp)
ENOSPC = errno.ENOSPC
CHUNK = 1 << 20


def fill_inodes(st):
    """Empty files until the inodes run out (mkfs -N keeps them few)."""
    os.mkdir("many")
    made = 0
    err = None
    for i in range(100000):
        p = "many/e%06d-%s" % (i, "q" * 40)
        try:
            os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except OSError as e:
            err = e.errno
            ok(not os.path.lexists(p), "the failed create left no name")
            break
        made += 1
    is_(errno.errorcode.get(err), "ENOSPC", "creating files until the inodes run out: ENOSPC")
    diag("created %d empty files" % made)
    s = os.statvfs(".")
    is_(s.f_ffree, 0, "statfs: no free inode left")
    ok(s.f_bfree > 1024, "statfs: blocks are still free", "f_bfree %d" % s.f_bfree)
    st["made"] = made
    raises(ENOSPC, "mkdir without a free inode", os.mkdir, "many/newdir")
    raises(ENOSPC, "mknod without a free inode", os.mkfifo, "many/newfifo")
    raises(ENOSPC, "symlink without a free inode", os.symlink, "x", "many/newlink")
    ok(not any(os.path.lexists("many/" + n) for n in ("newdir", "newfifo", "newlink")),
       "the failed operations left no names")
    is_(len(os.listdir("many")), made, "readdir lists every file made")
    succeeds("a hard link needs no inode", os.link, "many/e000000-" + "q" * 40, "many/hardlink")
    os.unlink("many/hardlink")


def fill_blocks(st):
    fd = os.open("big", os.O_WRONLY)
    total = 0
    err = None
    while total < (1 << 34):
        buf = pattern(31, total, CHUNK)
        try:
            n = os.write(fd, buf)
        except OSError as e:
            err = e.errno
            break
        total += n
    is_(errno.errorcode.get(err), "ENOSPC", "writing until the image is full ends in ENOSPC")
    diag("wrote %d bytes before ENOSPC" % total)
    ok(os.fstat(fd).st_size == total, "the size is what was written", os.fstat(fd).st_size)
    ok(os.fsync(fd) is None, "fsync after ENOSPC succeeds (nothing was lost)")
    s = os.statvfs(".")
    ok(s.f_bavail <= 16, "statfs: (almost) no block left", "f_bavail %d" % s.f_bavail)
    os.pwrite(fd, pattern(32, 0, 65536), 0)
    os.fsync(fd)
    ok(True, "overwriting allocated blocks of a full image works")
    os.close(fd)
    with open("big", "rb") as f:
        got = f.read()
    want = pattern(32, 0, 65536) + pattern(31, 65536, total - 65536)
    ok(got == want, "the file holds every byte written before ENOSPC")
    st["big"] = hashlib.sha256(want).hexdigest()
    st["total"] = total
    raises(ENOSPC, "fallocate 4 MiB on a full image", lambda: fallocate(
        os.open("big", os.O_WRONLY), 0, total, 4 << 20))
    raises(ENOSPC, "write to a new file on a full image", lambda: open("onefile", "wb",
                                                                      buffering=0).write(b"x" * bs))
    is_(os.stat("onefile").st_size, 0, "the failed write left the file empty")
    raises(ENOSPC, "an xattr needing a block", os.setxattr, "onefile", "user.big", b"v" * (bs // 2))
    is_(os.listxattr("onefile"), [], "the failed xattr left nothing")
    os.truncate("onefile", 1 << 30)
    is_(os.stat("onefile").st_size, 1 << 30, "a sparse truncate up still works when full")
    # Freeing space makes writes work again; what was written stays.
    keep = total - CHUNK
    os.truncate("big", keep)
    fd = os.open("onefile", os.O_WRONLY)
    try:
        succeeds("after truncating 1 MiB off, a 512 KiB write to another file works",
                 os.pwrite, fd, pattern(33, 0, CHUNK // 2), 0)
        succeeds("and its fsync", os.fsync, fd)
    finally:
        os.close(fd)
    with open("onefile", "rb") as f:
        ok(f.read(CHUNK // 2) == pattern(33, 0, CHUNK // 2), "the new bytes read back")
    with open("big", "rb") as f:
        ok(f.read() == want[:keep], "the first file still holds every byte it kept")
    st["big"] = hashlib.sha256(want[:keep]).hexdigest()
    st["total"] = keep
    os.unlink("onefile")


def remove_all():
    for d, dirs, files in os.walk(".", topdown=False):
        for n in files:
            os.unlink(os.path.join(d, n))
        for n in dirs:
            if os.path.join(d, n) != "./lost+found":
                os.rmdir(os.path.join(d, n))


def counts():
    s = os.statvfs(".")
    return [s.f_bfree, s.f_bavail, s.f_ffree, s.f_favail]


if phase == "fill":
    st = {"start": counts()}
    # The files the block tests use exist before the inodes run out.
    for name in ("big", "onefile"):
        open(name, "wb").close()
    guard(fill_inodes, st)
    guard(fill_blocks, st)
    with open(state, "w") as f:
        json.dump(st, f)
elif phase == "check":
    with open(state) as f:
        st = json.load(f)
    with open("big", "rb") as f:
        is_(hashlib.sha256(f.read()).hexdigest(), st.get("big"),
            "after remount: the data is intact")
    is_(len(os.listdir("many")), st.get("made"), "after remount: every empty file is there")
    remove_all()
    wait_for(lambda: counts() == st["start"])
    is_(counts(), st["start"], "everything removed: free blocks and inodes as at the start")
else:
    with open(state) as f:
        st = json.load(f)
    is_(counts(), st["start"], "after remount: free blocks and inodes as at the start")
done()
