"""tests/mount/perms_reserve.py - the root reserve (s_reserved_blocks) on a
mount made with -o allow_other, from an image made with mkfs.foliofs -m 10.
Run by perms-reserve.sh, once per cache mode:

  perms_reserve.py setup MOUNTPOINT  (root) a 0777 directory; statfs shows
                                     the reserve (f_bfree - f_bavail)
  perms_reserve.py fill  MOUNTPOINT  (uid 65534) writes until ENOSPC; then
                                     f_bavail is 0 and f_bfree the reserve;
                                     new names (directory blocks), a
                                     block-sized xattr and a store into a
                                     hole of a shared mapping (at msync)
                                     fail too
  perms_reserve.py root  MOUNTPOINT  (root) writes, makes a directory and an
                                     xattr block inside the reserve
"""

import errno
import mmap
import os
import sys

from tap import done, guard, is_, ok, raises, succeeds

phase, mp = sys.argv[1], sys.argv[2]
d = os.path.join(mp, "d")
CHUNK = 1 << 20


def setup():
    os.mkdir(d)
    os.chmod(d, 0o777)
    st = os.statvfs(mp)
    is_(st.f_bfree - st.f_bavail, st.f_blocks * 10 // 100,
        "statfs: f_bfree - f_bavail is 10% of the blocks (mkfs -m 10)")


def mapped_store():
    """A store through a shared mapping into a hole: its page reaches foliofs
    as the kernel's write-back, which counts as the opener's."""
    f = os.path.join(d, "map")
    bfree = os.statvfs(mp).f_bfree
    fd = os.open(f, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.ftruncate(fd, 1 << 16)
        m = mmap.mmap(fd, 1 << 16)
        m[0:4] = b"MMAP"
        try:
            m.flush()
            err = None
        except OSError as e:
            err = e.errno
        m.close()
    finally:
        os.close(fd)
    ok(err in (errno.ENOSPC, errno.EIO), "a user's store into a hole of a mapping fails at msync",
       "msync: %s" % errno.errorcode.get(err, err))
    is_(os.statvfs(mp).f_bfree, bfree, "and took nothing from the reserve")


def fill():
    is_(os.getuid(), 65534, "running as uid 65534")
    resv = None
    st = os.statvfs(mp)
    resv = st.f_bfree - st.f_bavail
    written, err = 0, None
    fd = os.open(os.path.join(d, "fill"), os.O_CREAT | os.O_WRONLY, 0o644)
    buf = b"u" * CHUNK
    try:
        while written < 1 << 30:
            n = os.write(fd, buf)
            written += n
            if n < CHUNK:
                os.write(fd, buf[:CHUNK - n])
    except OSError as e:
        err = e.errno
    finally:
        os.close(fd)
    is_(errno.errorcode.get(err, err), "ENOSPC", "a user's writes end with ENOSPC")
    ok(written > 0, "after writing some", "%d bytes" % written)
    st = os.statvfs(mp)
    is_(st.f_bavail, 0, "statfs: f_bavail is 0")
    ok(st.f_bfree > 0, "statfs: f_bfree is not", "f_bfree %d" % st.f_bfree)
    ok(resv <= st.f_bfree <= resv + 2, "the user left the reserve free",
       "f_bfree %d, reserve %d" % (st.f_bfree, resv))
    open(os.path.join(d, "x"), "w").close()
    raises(errno.ENOSPC, "a user's xattr needing a block in the reserve", os.setxattr,
           os.path.join(d, "x"), "user.big", b"v" * 3000)
    mapped_store()
    made, err = 0, None
    try:
        while made < 2000:
            open(os.path.join(d, "%03d" % made + "n" * 200), "w").close()
            made += 1
    except OSError as e:
        err = e.errno
    ok(err == errno.ENOSPC and os.statvfs(mp).f_ffree > 0,
       "a user's new names end with ENOSPC while inodes are free (directory blocks)",
       "%d names, then %s" % (made, errno.errorcode.get(err, err)))
    fd = os.open(os.path.join(d, "fill2"), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        raises(errno.ENOSPC, "a user's next write", os.write, fd, b"more")
    finally:
        os.close(fd)


def root():
    st0 = os.statvfs(mp)
    with open(os.path.join(mp, "rootfile"), "wb") as f:
        succeeds("root writes 256 KiB into the reserve", f.write, b"r" * (256 << 10))
        succeeds("and fsyncs it", os.fsync, f.fileno())
    succeeds("root makes a directory", os.mkdir, os.path.join(mp, "rootdir"))
    succeeds("root sets a block-sized xattr", os.setxattr, os.path.join(d, "x"), "user.big",
             b"v" * 3000)
    st = os.statvfs(mp)
    ok(st.f_bfree < st0.f_bfree - 64, "the reserve shrank by root's blocks",
       "f_bfree %d -> %d" % (st0.f_bfree, st.f_bfree))
    with open(os.path.join(mp, "rootfile"), "rb") as f:
        ok(f.read() == b"r" * (256 << 10), "root's bytes read back")


guard({"setup": setup, "fill": fill, "root": root}[phase])
done()
