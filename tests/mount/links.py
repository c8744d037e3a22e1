"""tests/mount/links.py - hard links and link counts of files and
directories. Run by links.sh:

  links.py build  MOUNTPOINT STATEFILE   links, renames, counts; a snapshot
  links.py verify MOUNTPOINT STATEFILE   after a remount: the snapshot holds;
                                         removing the links one by one counts
                                         down; the space comes back
"""

import errno
import json
import os
import sys
import time

from lib import check_snapshot, pattern, snapshot, wait_free
from tap import done, guard, is_, ok, raises, succeeds

phase, mp, state = sys.argv[1], sys.argv[2], sys.argv[3]
os.chdir(mp)


def nlink(p):
    return os.lstat(p).st_nlink


def file_links():
    data = pattern(21, 0, 10000)
    with open("f", "wb") as f:
        f.write(data)
    is_(nlink("f"), 1, "new file: 1 link")
    c0 = os.stat("f").st_ctime_ns
    time.sleep(0.01)
    os.mkdir("d1")
    os.mkdir("d2")
    os.link("f", "a")
    os.link("f", "b")
    os.link("f", "d1/c")
    ino = os.stat("f").st_ino
    is_([nlink(p) for p in ("f", "a", "b", "d1/c")], [4] * 4, "three links: 4 on every name")
    is_({os.stat(p).st_ino for p in ("f", "a", "b", "d1/c")}, {ino}, "every name is one inode")
    ok(os.stat("f").st_ctime_ns > c0, "link moves the inode's ctime")
    with open("a", "r+b") as f:
        f.write(b"via-a")
    is_(open("b", "rb").read(5), b"via-a", "a write through one name is seen through another")
    os.chmod("b", 0o600)
    is_(os.stat("d1/c").st_mode & 0o777, 0o600, "chmod through one name is seen through another")
    os.unlink("f")
    is_(nlink("a"), 3, "unlink one name: 3 links")
    is_(open("d1/c", "rb").read()[5:], data[5:], "data intact after unlinking a name")
    os.rename("a", "d2/a2")
    is_(nlink("d2/a2"), 3, "rename keeps the link count")
    succeeds("rename one link onto another link of the same inode", os.rename, "b", "d1/c")
    ok(os.path.exists("b") and os.path.exists("d1/c") and nlink("b") == 3,
       "rename between links of one inode does nothing")
    os.symlink("b", "sym")
    is_(nlink("b"), 3, "a symlink does not add a link")
    raises(errno.EEXIST, "link onto an existing name", os.link, "b", "d1/c")
    raises(errno.EPERM, "link to a directory", os.link, "d1", "d1link")
    raises(errno.ENOENT, "link to a missing name", os.link, "nothing", "x")
    raises(errno.ENOENT, "link into a missing directory", os.link, "b", "nodir/x")
    raises(errno.ENOTDIR, "link under a regular file", os.link, "b", "b/x")


def many_links():
    os.mkdir("many")
    with open("many/target", "wb") as f:
        f.write(b"one inode, many names")
    for i in range(1000):
        os.link("many/target", "many/l%04d" % i)
    is_(nlink("many/target"), 1001, "1000 links: 1001")
    for i in range(0, 1000, 2):
        os.unlink("many/l%04d" % i)
    is_(nlink("many/l0001"), 501, "500 unlinked: 501")
    is_(len(os.listdir("many")), 501, "501 names listed")


def dir_links():
    root0 = nlink(".")
    os.mkdir("p")
    is_((nlink("p"), nlink(".")), (2, root0 + 1), "mkdir: 2 links, parent + 1")
    for i in range(1, 6):
        os.mkdir("p/s%d" % i)
    is_(nlink("p"), 7, "five subdirectories: 7 links")
    with open("p/file", "w"):
        pass
    os.symlink("s1", "p/sl")
    is_(nlink("p"), 7, "files and symlinks do not add directory links")
    os.rmdir("p/s1")
    is_(nlink("p"), 6, "rmdir a subdirectory: 6")
    os.mkdir("q")
    os.rename("p/s2", "q/s2")
    is_((nlink("p"), nlink("q")), (5, 3), "move a subdirectory: old parent - 1, new + 1")
    is_(os.stat("q/s2/..").st_ino, os.stat("q").st_ino, "the moved directory's .. is updated")
    os.rename("p/s3", "q/s2")
    is_((nlink("p"), nlink("q")), (4, 3), "rename a directory over an empty one in another dir")
    os.rename("p/s4", "p/s4b")
    is_(nlink("p"), 4, "rename within a directory keeps its count")


def build():
    s = os.statvfs(".")
    with open(state + ".json", "w") as f:
        json.dump({"bfree": s.f_bfree, "ffree": s.f_ffree}, f)
    guard(file_links)
    guard(many_links)
    guard(dir_links)
    snapshot(".", save=state)


def verify():
    guard(check_snapshot, ".", state, "after remount")
    names = sorted(os.listdir("many"))
    n = len(names)
    bad = []
    for i, nm in enumerate(names[:-1]):
        os.unlink("many/" + nm)
        left = names[-1]
        if nlink("many/" + left) != n - i - 1:
            bad.append("after %d unlinks: %d" % (i + 1, nlink("many/" + left)))
    ok(not bad, "unlinking the names one by one counts down to 1", *bad[:5])
    is_(open("many/" + names[-1], "rb").read(), b"one inode, many names", "the last name's data")
    for d, dirs, files in os.walk(".", topdown=False):
        for nm in files:
            os.unlink(os.path.join(d, nm))
        for nm in dirs:
            p = os.path.join(d, nm)
            if os.path.islink(p):
                os.unlink(p)
            elif p != "./lost+found":
                os.rmdir(p)
    with open(state + ".json") as f:
        s0 = json.load(f)
    is_(wait_free(".", s0["bfree"], s0["ffree"]), (s0["bfree"], s0["ffree"]),
        "everything removed: free blocks and inodes back")


if phase == "build":
    build()
else:
    verify()
done()
