"""tests/mount/rename.py - every rename case. Run by rename.sh:

  rename.py build  MOUNTPOINT STATEFILE   the cases; a snapshot of the result
  rename.py verify MOUNTPOINT STATEFILE   after a remount: the snapshot holds

Cases: plain (same and other directory), over a file (the old target's
inode freed or its other link kept), a directory over an empty directory,
RENAME_NOREPLACE, RENAME_EXCHANGE (files, file with directory across
parents), into its own subtree (EINVAL), over a non-empty directory
(ENOTEMPTY), a directory over a file (ENOTDIR), a file over a directory
(EISDIR), missing source, names too long, an open file renamed over.
"""

import errno
import os
import sys

from lib import RENAME_EXCHANGE, RENAME_NOREPLACE, check_snapshot, renameat2, snapshot, wait_for
from tap import done, guard, is_, ok, raises, succeeds

phase, mp, state = sys.argv[1], sys.argv[2], sys.argv[3]
os.chdir(mp)


def put(p, text):
    with open(p, "w") as f:
        f.write(text)


def get(p):
    with open(p) as f:
        return f.read()


def ino(p):
    return os.lstat(p).st_ino


def nl(p):
    return os.lstat(p).st_nlink


def plain():
    os.mkdir("a")
    os.mkdir("b")
    put("a/one", "one")
    i = ino("a/one")
    os.rename("a/one", "a/uno")
    ok(not os.path.lexists("a/one") and ino("a/uno") == i and get("a/uno") == "one",
       "plain rename in one directory")
    os.rename("a/uno", "b/eins")
    ok(os.listdir("a") == [] and ino("b/eins") == i, "plain rename to another directory")
    succeeds("rename a name onto itself", os.rename, "b/eins", "b/eins")
    is_(get("b/eins"), "one", "renaming onto itself changes nothing")
    os.symlink("target", "a/sl")
    os.rename("a/sl", "b/sl")
    is_(os.readlink("b/sl"), "target", "rename moves a symlink, not its target")
    os.mkfifo("a/fifo")
    os.rename("a/fifo", "b/fifo")
    ok(os.path.lexists("b/fifo") and not os.path.lexists("a/fifo"), "rename a fifo")


def overwrite():
    put("src", "new")
    put("dst", "old")
    i = ino("src")
    f0 = os.statvfs(".").f_ffree
    os.rename("src", "dst")
    ok(ino("dst") == i and get("dst") == "new" and not os.path.lexists("src"),
       "rename over a file replaces it")
    ok(wait_for(lambda: os.statvfs(".").f_ffree == f0 + 1), "the replaced inode is freed",
       "free inodes %d, was %d" % (os.statvfs(".").f_ffree, f0))
    put("src2", "newer")
    put("dst2", "linked")
    os.link("dst2", "dst2-other")
    os.rename("src2", "dst2")
    ok(nl("dst2-other") == 1 and get("dst2-other") == "linked",
       "the replaced inode's other link keeps it alive with 1 link")
    put("open-target", "still readable")
    put("open-src", "replacement")
    fd = os.open("open-target", os.O_RDONLY)
    os.rename("open-src", "open-target")
    is_(os.pread(fd, 100, 0), b"still readable", "a file renamed over stays readable while open")
    os.close(fd)
    is_(get("open-target"), "replacement", "the name now holds the new file")


def directories():
    n0 = nl(".")
    os.mkdir("dsrc")
    put("dsrc/inside", "x")
    os.mkdir("dempty")
    i = ino("dsrc")
    os.rename("dsrc", "dempty")
    ok(ino("dempty") == i and get("dempty/inside") == "x" and not os.path.lexists("dsrc"),
       "a directory over an empty directory")
    is_(nl("."), n0 + 1, "the parent lost the replaced directory's link")
    os.mkdir("p1")
    os.mkdir("p2")
    os.mkdir("p1/moving")
    os.mkdir("p2/empty")
    os.rename("p1/moving", "p2/empty")
    ok(nl("p1") == 2 and nl("p2") == 3 and ino("p2/empty/..") == ino("p2"),
       "a directory over an empty directory in another parent: counts and ..",
       "p1 %d p2 %d" % (nl("p1"), nl("p2")))
    os.mkdir("full")
    put("full/x", "x")
    os.mkdir("d3")
    raises(errno.ENOTEMPTY, "a directory over a non-empty directory", os.rename, "d3", "full")
    put("plainfile", "f")
    raises(errno.ENOTDIR, "a directory over a file", os.rename, "d3", "plainfile")
    raises(errno.EISDIR, "a file over a directory", os.rename, "plainfile", "d3")
    os.mkdir("tree")
    os.mkdir("tree/sub")
    raises(errno.EINVAL, "a directory into its own subdirectory", os.rename, "tree", "tree/sub/x")
    raises(errno.EINVAL, "a directory into itself", os.rename, "tree", "tree/x")
    raises(errno.EINVAL, "a directory over its own subdirectory", os.rename, "tree", "tree/sub")
    raises((errno.ENOTEMPTY, errno.EINVAL, errno.EBUSY),
           "a subdirectory over its own parent", os.rename, "tree/sub", "tree")
    raises(errno.ENOENT, "rename a missing name", os.rename, "missing", "x")
    raises(errno.ENOENT, "rename into a missing directory", os.rename, "plainfile", "nodir/x")
    raises(errno.ENOTDIR, "rename under a file", os.rename, "plainfile", "full/x/y")
    raises(errno.ENAMETOOLONG, "rename to a 256-byte name", os.rename, "plainfile", "z" * 256)
    ok(get("plainfile") == "f" and ino("tree/sub/..") == ino("tree"),
       "failed renames change nothing")


def noreplace():
    put("nr-a", "a")
    put("nr-b", "b")
    raises(errno.EEXIST, "RENAME_NOREPLACE onto an existing file", renameat2, "nr-a", "nr-b",
           RENAME_NOREPLACE)
    os.mkdir("nr-d")
    raises(errno.EEXIST, "RENAME_NOREPLACE onto an existing directory", renameat2, "nr-a",
           "nr-d", RENAME_NOREPLACE)
    ok(get("nr-a") == "a" and get("nr-b") == "b", "refused NOREPLACE changes nothing")
    succeeds("RENAME_NOREPLACE to a new name", renameat2, "nr-a", "nr-c", RENAME_NOREPLACE)
    ok(get("nr-c") == "a" and not os.path.lexists("nr-a"), "NOREPLACE moved the file")
    raises(errno.EINVAL, "RENAME_NOREPLACE with RENAME_EXCHANGE", renameat2, "nr-b", "nr-c",
           RENAME_NOREPLACE | RENAME_EXCHANGE)


def exchange():
    put("x1", "first")
    put("x2", "second")
    i1, i2 = ino("x1"), ino("x2")
    succeeds("RENAME_EXCHANGE of two files", renameat2, "x1", "x2", RENAME_EXCHANGE)
    ok(ino("x1") == i2 and ino("x2") == i1 and get("x1") == "second" and get("x2") == "first",
       "the two names swapped inodes")
    os.mkdir("xa")
    os.mkdir("xb")
    os.mkdir("xa/dir")
    put("xa/dir/in", "in")
    put("xb/file", "file")
    di, fi = ino("xa/dir"), ino("xb/file")
    succeeds("RENAME_EXCHANGE of a directory and a file across parents", renameat2,
             "xa/dir", "xb/file", RENAME_EXCHANGE)
    ok(ino("xb/file") == di and ino("xa/dir") == fi and get("xb/file/in") == "in",
       "directory and file swapped")
    is_((nl("xa"), nl("xb")), (2, 3), "the parents' link counts follow the directory")
    is_(ino("xb/file/.."), ino("xb"), "the exchanged directory's .. is its new parent")
    os.mkdir("xa/d1")
    os.mkdir("xb/d2")
    os.mkdir("xb/d2/deeper")
    i1, i2 = ino("xa/d1"), ino("xb/d2")
    na, nb = nl("xa"), nl("xb")
    succeeds("RENAME_EXCHANGE of two directories in different parents", renameat2, "xa/d1",
             "xb/d2", RENAME_EXCHANGE)
    ok(ino("xa/d1") == i2 and ino("xb/d2") == i1 and os.path.isdir("xa/d1/deeper"),
       "the two directories swapped")
    is_((nl("xa"), nl("xb")), (na, nb), "swapping two directories keeps the parents' counts")
    is_((ino("xa/d1/.."), ino("xb/d2/..")), (ino("xa"), ino("xb")),
        "each swapped directory's .. is its new parent")
    raises(errno.ENOENT, "RENAME_EXCHANGE with a missing target", renameat2, "x1", "nothere",
           RENAME_EXCHANGE)
    os.mkdir("xt")
    os.mkdir("xt/child")
    raises(errno.EINVAL, "RENAME_EXCHANGE of a directory with its own child", renameat2,
           "xt", "xt/child", RENAME_EXCHANGE)


def build():
    for t in (plain, overwrite, directories, noreplace, exchange):
        guard(t)
    snapshot(".", save=state)


if phase == "build":
    build()
else:
    guard(check_snapshot, ".", state, "after remount")
done()
