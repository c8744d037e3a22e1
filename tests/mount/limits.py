"""tests/mount/limits.py - files and paths at the limits. Run by limits.sh:

  limits.py extents MOUNTPOINT BLOCKSIZE N   two files of N extents each:
      "alt" written one block in two (pwrite of one block at every other
      block), "punched" written whole (2N blocks) then every other block
      punched out; st_blocks, every block read back (data or zeros)
  limits.py extents-check MOUNTPOINT BLOCKSIZE N   (after a remount, the
      extent trees read from the image) the same reads, then both files
      removed: the free block count of the start
  limits.py paths MOUNTPOINT   a path of exactly 4095 bytes (PATH_MAX - 1)
      made of 255-byte components, a file at its end written and read back
      through it and through a symlink whose 4095-byte target is that path;
      4096 bytes: ENAMETOOLONG
  limits.py paths-check MOUNTPOINT   (after a remount) the same, then the
      tree is renamed and removed
"""

import errno
import json
import os
import sys

from lib import FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, fallocate, wait_for
from tap import diag, done, guard, is_, ok, raises

phase, mp = sys.argv[1], sys.argv[2]
os.chdir(mp)
READ = 1 << 20


def block(bs, i):
    """The bytes of block i: its number on every 16-byte row."""
    return (b"%015d\n" % i) * (bs // 16)


def make_alt(bs, n):
    fd = os.open("alt", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    for k in range(n):
        os.pwrite(fd, block(bs, 2 * k), 2 * k * bs)
    os.fsync(fd)
    os.close(fd)


def make_punched(bs, n):
    fd = os.open("punched", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    batch = max(1, READ // bs)
    for k in range(0, 2 * n, batch):
        os.pwrite(fd, b"".join(block(bs, i) for i in range(k, min(2 * n, k + batch))), k * bs)
    os.fsync(fd)
    # Punch the odd blocks, leaving one extent per even block. The last
    # block stays odd so the size is 2n blocks.
    for k in range(n):
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (2 * k + 1) * bs, bs)
    os.fsync(fd)
    os.close(fd)


def check_file(name, bs, n, tag):
    """Every even block holds its number, every odd block zeros."""
    st = os.stat(name)
    size = {"alt": (2 * n - 1) * bs, "punched": 2 * n * bs}[name]
    is_(st.st_size, size, "%s %s: size" % (tag, name))
    data = n * bs // 512
    # The extent tree: N leaf entries of 24 bytes, (B - 32) / 24 to a node;
    # a split leaves each half at least half full (rounded down), so at
    # most N / (cap / 2) leaves; the index nodes above, as full, add under
    # a tenth of that, and the root in the inode none.
    cap = (bs - 32) // 24
    leaves = -(-n // (cap // 2))
    tree = (leaves + leaves // 10 + 8) * bs // 512
    ok(data < st.st_blocks <= data + tree, "%s %s: st_blocks holds the data and the tree" % (
        tag, name), "st_blocks %d, data %d, tree at most %d" % (st.st_blocks, data, tree))
    diag("%s %s: %d blocks of %d bytes for the extent tree" % (
        tag, name, (st.st_blocks - data) * 512 // bs, bs))
    zero = bytes(bs)
    bad = []
    with open(name, "rb", buffering=0) as f:
        off = 0
        while off < size:
            buf = f.read(READ)
            if not buf:
                break
            for j in range(0, len(buf), bs):
                i = (off + j) // bs
                want = block(bs, i) if i % 2 == 0 else zero
                if buf[j:j + bs] != want[:len(buf) - j] and len(bad) < 5:
                    bad.append(i)
            off += len(buf)
    is_(off, size, "%s %s: read to the end" % (tag, name))
    ok(not bad, "%s %s: %d blocks of data and %d holes read back" % (tag, name, n, size // bs - n),
       "wrong blocks (first five): %r" % bad)
    # SEEK_DATA from a hole finds the next data block.
    fd = os.open(name, os.O_RDONLY)
    try:
        h = 2 * (n // 4) + 1
        is_(os.lseek(fd, h * bs, os.SEEK_DATA), (h + 1) * bs,
            "%s %s: SEEK_DATA from a hole in the middle" % (tag, name))
        is_(os.lseek(fd, (h - 1) * bs, os.SEEK_HOLE), h * bs,
            "%s %s: SEEK_HOLE from the block before" % (tag, name))
    finally:
        os.close(fd)


def extents(bs, n, state):
    st = {"free": os.statvfs(".").f_bfree}
    make_alt(bs, n)
    make_punched(bs, n)
    diag("two files of %d extents each written" % n)
    for name in ("alt", "punched"):
        check_file(name, bs, n, "before the remount")
    with open(state, "w") as f:
        json.dump(st, f)


def extents_check(bs, n, state):
    with open(state) as f:
        st = json.load(f)
    for name in ("alt", "punched"):
        check_file(name, bs, n, "after the remount")
    os.unlink("alt")
    os.unlink("punched")
    wait_for(lambda: os.statvfs(".").f_bfree == st["free"], 30)
    is_(os.statvfs(".").f_bfree, st["free"], "both removed: the free blocks of the start")


# --- paths -------------------------------------------------------------------

PATH_MAX = 4096
COMP = 255


def deep_path():
    """Relative components of 255 bytes and a last one, 4095 bytes in all."""
    comps = []
    length = 0
    k = 0
    while length + COMP + 1 + COMP <= PATH_MAX - 1:
        comps.append(("%02d" % k) * (COMP // 2) + "d")
        length += COMP + 1
        k += 1
    return comps, "f" * (PATH_MAX - 1 - length)


def paths():
    comps, last = deep_path()
    is_((len(comps), len(last)), (15, 255), "15 components of 255 bytes and a last of 255")
    os.mkdir("deep")
    os.chdir("deep")
    d = ""
    for c in comps:
        d = d + c + "/"
        os.mkdir(d)
    full = d + last
    is_(len(full), PATH_MAX - 1, "the path is PATH_MAX - 1 bytes")
    with open(full, "wb") as f:
        f.write(b"at the end of a 4095-byte path\n")
    raises(errno.ENAMETOOLONG, "a path of PATH_MAX bytes", os.open, full + "x",
           os.O_CREAT | os.O_WRONLY)
    os.symlink(full, "link")
    is_(len(os.readlink("link")), PATH_MAX - 1, "a symlink with the 4095-byte path as target")
    os.chdir("..")
    check_paths()


def check_paths():
    comps, last = deep_path()
    os.chdir("deep")
    full = "/".join(comps) + "/" + last
    with open(full, "rb") as f:
        is_(f.read(), b"at the end of a 4095-byte path\n", "the file reads through the long path")
    is_(os.readlink("link"), full, "the symlink's target reads back")
    with open("link", "rb") as f:
        is_(f.read(), b"at the end of a 4095-byte path\n", "the file reads through the symlink")
    raises(errno.ENAMETOOLONG, "a path of PATH_MAX bytes", os.stat, full + "x")
    os.chdir("..")


def paths_check():
    check_paths()
    comps, last = deep_path()
    r = "r" * COMP
    os.chdir("deep")
    os.rename(comps[0], r)
    renamed = "/".join([r] + comps[1:]) + "/" + last
    with open(renamed, "rb") as f:
        is_(f.read(), b"at the end of a 4095-byte path\n", "the file reads through the renamed tree")
    raises(errno.ENOENT, "the symlink dangles after the rename", os.stat, "link")
    # Removed from the bottom up, each path short.
    os.chdir("/".join([r] + comps[1:]))
    os.unlink(last)
    for c in reversed(comps[1:]):
        os.chdir("..")
        os.rmdir(c)
    os.chdir("..")
    os.rmdir(r)
    os.unlink("link")
    os.chdir("..")
    os.rmdir("deep")
    ok(not os.path.lexists("deep"), "the deep tree is removed")


if phase == "extents":
    guard(extents, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
elif phase == "extents-check":
    guard(extents_check, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
elif phase == "paths":
    guard(paths)
else:
    guard(paths_check)
done()
