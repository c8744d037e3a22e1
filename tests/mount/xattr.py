"""tests/mount/xattr.py - extended attributes in the user., trusted. and
security. namespaces. Run by xattr.sh:

  xattr.py build  MOUNTPOINT BLOCKSIZE STATEFILE   set, get, list, remove,
                                                   errors, sizes; a snapshot
  xattr.py verify MOUNTPOINT BLOCKSIZE STATEFILE   after a remount: the
                                                   snapshot (every xattr) holds
"""

import errno
import os
import sys

from lib import check_snapshot, getxattr_sized, listxattr_sized, snapshot
from tap import done, guard, is_, ok, raises, succeeds

phase, mp, bs, state = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
os.chdir(mp)


def basics():
    with open("x", "w") as f:
        f.write("data")
    os.setxattr("x", "user.a", b"1")
    os.setxattr("x", "trusted.t", b"trusted value")
    os.setxattr("x", "security.s", b"security value")
    is_(os.getxattr("x", "user.a"), b"1", "user. attribute reads back")
    is_(os.getxattr("x", "trusted.t"), b"trusted value", "trusted. attribute reads back")
    is_(os.getxattr("x", "security.s"), b"security value", "security. attribute reads back")
    is_(sorted(os.listxattr("x")), ["security.s", "trusted.t", "user.a"], "listxattr: all three")
    os.setxattr("x", "user.empty", b"")
    is_(os.getxattr("x", "user.empty"), b"", "an empty value")
    raises(errno.EEXIST, "XATTR_CREATE on an existing name", os.setxattr, "x", "user.a", b"2",
           os.XATTR_CREATE)
    raises(errno.ENODATA, "XATTR_REPLACE on a missing name", os.setxattr, "x", "user.nope",
           b"2", os.XATTR_REPLACE)
    succeeds("XATTR_REPLACE on an existing name", os.setxattr, "x", "user.a", b"22",
             os.XATTR_REPLACE)
    succeeds("XATTR_CREATE on a new name", os.setxattr, "x", "user.b", b"bee", os.XATTR_CREATE)
    raises(errno.ENODATA, "getxattr of a missing name", os.getxattr, "x", "user.nope")
    raises(errno.ENODATA, "removexattr of a missing name", os.removexattr, "x", "user.nope")
    is_(getxattr_sized("x", "user.b", 0)[0], 3, "getxattr with size 0 gives the length")
    raises(errno.ERANGE, "getxattr into a too small buffer", getxattr_sized, "x", "user.b", 2)
    total = listxattr_sized("x", 0)[0]
    names = b"".join(n.encode() + b"\0" for n in os.listxattr("x"))
    is_(total, len(names), "listxattr with size 0 gives the length")
    raises(errno.ERANGE, "listxattr into a too small buffer", listxattr_sized, "x", total - 1)
    raises(errno.EOPNOTSUPP, "an unknown namespace", os.setxattr, "x", "frob.x", b"1")
    raises(errno.EINVAL, "an empty name after user.", os.setxattr, "x", "user.", b"1")
    long_ok = "user." + "n" * 250
    succeeds("a 255-byte name", os.setxattr, "x", long_ok, b"long")
    is_(os.getxattr("x", long_ok), b"long", "the 255-byte name reads back")
    raises(errno.ERANGE, "a 256-byte name", os.setxattr, "x", "user." + "n" * 251, b"1")
    os.removexattr("x", "user.b")
    raises(errno.ENODATA, "a removed attribute is gone", os.getxattr, "x", "user.b")
    ok("user.b" not in os.listxattr("x"), "a removed attribute is not listed")


def sizes():
    # One file per size: an inode's attributes share (inode size - 192) +
    # (B - 32) bytes.
    for n in (1, 40, 200, 700, bs // 2):
        v = bytes((i * 7 + n) & 255 for i in range(n))
        with open("sz%d" % n, "w"):
            pass
        os.setxattr("sz%d" % n, "user.v%d" % n, v)
        is_(os.getxattr("sz%d" % n, "user.v%d" % n), v, "a %d-byte value reads back" % n)
    with open("sz", "w"):
        pass
    os.setxattr("sz", "user.v1", b"1")
    os.setxattr("sz", "user.w", b"7" * 100)
    v = b"g" * 700
    os.setxattr("sz", "user.v1", v)
    is_(os.getxattr("sz", "user.v1"), v, "a value grown from 1 to 700 bytes")
    os.setxattr("sz", "user.w", b"s")
    is_(os.getxattr("sz", "user.w"), b"s", "a value shrunk from 100 to 1 byte")
    raises(errno.E2BIG, "a value over 64 KiB", os.setxattr, "sz", "user.huge", bytes(65537))

    with open("one", "w"):
        pass
    biggest = bs - 36 - len("big")
    succeeds("a value of B - 36 - namelen bytes (fills the xattr block)", os.setxattr, "one",
             "user.big", b"B" * biggest)
    is_(os.getxattr("one", "user.big"), b"B" * biggest, "the largest value reads back")
    with open("two", "w"):
        pass
    # One that can never fit, even with the inode's area and the block
    # empty, is E2BIG; one that would fit an emptier inode is ENOSPC
    # (fs/xattr.c, as docs/DESIGN.md says).
    raises(errno.E2BIG, "a value one byte larger than can ever fit", os.setxattr, "two",
           "user.big", b"B" * (biggest + 1))
    is_(os.listxattr("two"), [], "the refused attribute is not there")

    with open("fill", "w"):
        pass
    free0 = os.statvfs(".").f_bfree
    added = []
    err = None
    for i in range(10000):
        try:
            os.setxattr("fill", "user.f%04d" % i, bytes([i & 255]) * 100)
        except OSError as e:
            err = e.errno
            break
        added.append(i)
    is_(errno.errorcode.get(err), "ENOSPC",
        "adding 100-byte values until the inode's room is full: ENOSPC (%d added)" % len(added))
    bad = [i for i in added if os.getxattr("fill", "user.f%04d" % i) != bytes([i & 255]) * 100]
    ok(added and not bad, "the %d values set before that are intact" % len(added))
    for i in added:
        os.removexattr("fill", "user.f%04d" % i)
    is_(os.listxattr("fill"), [], "all removed")
    is_(os.statvfs(".").f_bfree, free0, "removing every attribute frees the xattr block")


def other_types():
    os.mkdir("xd")
    os.setxattr("xd", "user.dir", b"on a directory")
    is_(os.getxattr("xd", "user.dir"), b"on a directory", "user. attribute on a directory")
    os.symlink("x", "xl")
    os.setxattr("xl", "trusted.link", b"on a symlink", follow_symlinks=False)
    is_(os.getxattr("xl", "trusted.link", follow_symlinks=False), b"on a symlink",
        "trusted. attribute on the symlink itself")
    ok("trusted.link" not in os.listxattr("x"), "not on the symlink's target")
    raises(errno.EPERM, "user. attribute on a symlink", os.setxattr, "xl", "user.x", b"1",
           follow_symlinks=False)
    os.mkfifo("xf")
    raises(errno.EPERM, "user. attribute on a fifo", os.setxattr, "xf", "user.x", b"1")
    os.setxattr("xf", "trusted.fifo", b"on a fifo")
    is_(os.getxattr("xf", "trusted.fifo"), b"on a fifo", "trusted. attribute on a fifo")
    with open("gone", "w"):
        pass
    os.setxattr("gone", "user.big", b"z" * (bs // 2))
    os.unlink("gone")


def build():
    for t in (basics, sizes, other_types):
        guard(t)
    snapshot(".", save=state)


if phase == "build":
    build()
else:
    guard(check_snapshot, ".", state, "after remount")
done()
