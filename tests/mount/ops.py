"""tests/mount/ops.py - every filesystem operation on a mounted foliofs, with
the errno POSIX (and Linux) gives when it must fail. Run by ops.sh:

  ops.py build  MOUNTPOINT BLOCKSIZE STATEFILE   operations, then a snapshot
  ops.py verify MOUNTPOINT BLOCKSIZE STATEFILE   after a remount: the snapshot
                                                 is unchanged; then everything
                                                 is removed and the free space
                                                 returns to its first value
"""

import errno
import json
import os
import stat
import sys
import time

from lib import (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE,
                 FALLOC_FL_ZERO_RANGE, check_snapshot, fallocate, pattern, renameat2, same_bytes,
                 snapshot, utimensat, wait_free)
from tap import diag, done, is_, ok, guard, raises, skip, succeeds

phase, mp, bs, state = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
os.umask(0o022)
os.chdir(mp)
outside = os.path.join(os.path.dirname(state), "outside")


def mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


def t_statfs():
    s = os.statvfs(".")
    is_(s.f_frsize, bs, "statfs: fragment size is the block size")
    is_(s.f_namemax, 255, "statfs: names up to 255 bytes")
    ok(0 < s.f_bavail <= s.f_bfree < s.f_blocks, "statfs: 0 < avail <= free < blocks",
       "blocks %d free %d avail %d" % (s.f_blocks, s.f_bfree, s.f_bavail))
    ok(0 < s.f_ffree < s.f_files, "statfs: free inodes below total")
    st = os.stat(".")
    ok(stat.S_ISDIR(st.st_mode), "root is a directory")
    ok("lost+found" in os.listdir("."), "root holds lost+found")
    return s


def t_create():
    fd = os.open("f", os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o666)
    st = os.fstat(fd)
    is_(stat.S_IMODE(st.st_mode), 0o644, "create: mode 0666 less umask 022")
    ok(stat.S_ISREG(st.st_mode) and st.st_size == 0 and st.st_nlink == 1,
       "create: empty regular file, one link")
    is_((st.st_uid, st.st_gid), (0, 0), "create: owned by the caller")
    raises(errno.EEXIST, "create O_EXCL over an existing name", os.open, "f",
           os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    raises(errno.ENOENT, "open a missing name", os.open, "nofile", os.O_RDONLY)
    raises(errno.ENOENT, "create in a missing directory", os.open, "nodir/x",
           os.O_CREAT | os.O_WRONLY)
    raises(errno.ENOTDIR, "a path through a regular file", os.open, "f/x", os.O_RDONLY)
    raises(errno.ENOTDIR, "O_DIRECTORY on a regular file", os.open, "f",
           os.O_RDONLY | os.O_DIRECTORY)
    raises(errno.EISDIR, "open a directory for writing", os.open, "lost+found", os.O_WRONLY)
    return fd


def t_names():
    n255, n256 = "n" * 255, "m" * 256
    fd = succeeds("create a 255-byte name", os.open, n255, os.O_CREAT | os.O_WRONLY, 0o644)
    if fd is not None:
        os.close(fd)
    ok(n255 in os.listdir("."), "the 255-byte name is listed")
    raises(errno.ENAMETOOLONG, "create a 256-byte name", os.open, n256,
           os.O_CREAT | os.O_WRONLY)
    raises(errno.ENAMETOOLONG, "look up a 256-byte name", os.stat, n256)
    raises(errno.ENAMETOOLONG, "mkdir a 256-byte name", os.mkdir, n256)
    raises(errno.ENAMETOOLONG, "symlink to a 256-byte name", os.symlink, "x", n256)
    raises(errno.ENAMETOOLONG, "mknod a 256-byte name", os.mkfifo, n256)
    raises(errno.ENAMETOOLONG, "link to a 256-byte name", os.link, n255, n256)
    raises(errno.ENAMETOOLONG, "rename to a 256-byte name", os.rename, n255, n256)
    ok(n256 not in os.listdir("."), "no 256-byte name was made")


def t_readwrite(fd):
    data = pattern(1, 0, 3 * bs + 123)
    is_(os.pwrite(fd, data, 0), len(data), "write: full count")
    same_bytes(os.pread(fd, len(data) + 100, 0), data, "read back what was written")
    is_(os.pread(fd, 10, len(data) + 5), b"", "read past end of file: 0 bytes")
    x = b"X" * (bs + 7)
    os.pwrite(fd, x, bs - 3)
    data = data[:bs - 3] + x + data[bs - 3 + len(x):]
    same_bytes(os.pread(fd, len(data), 0), data, "unaligned overwrite across blocks")
    before = os.fstat(fd)
    time.sleep(0.01)
    os.pwrite(fd, b"tail", 10 * bs + 5)
    after = os.fstat(fd)
    is_(after.st_size, 10 * bs + 9, "write past the end extends the file")
    same_bytes(os.pread(fd, 10 * bs + 5 - len(data), len(data)),
               bytes(10 * bs + 5 - len(data)), "the gap reads as zeros")
    ok(after.st_mtime_ns > before.st_mtime_ns, "write moves mtime",
       "%d -> %d" % (before.st_mtime_ns, after.st_mtime_ns))
    ok(after.st_ctime_ns > before.st_ctime_ns, "write moves ctime")
    fa = os.open("f", os.O_WRONLY | os.O_APPEND)
    os.write(fa, b"APP")
    os.close(fa)
    is_(os.pread(fd, 16, 10 * bs + 5), b"tailAPP", "O_APPEND writes at the end")
    succeeds("fsync", os.fsync, fd)
    succeeds("fdatasync", os.fdatasync, fd)
    st = os.fstat(fd)
    ok(st.st_blocks * 512 >= len(data) + 7, "st_blocks covers the data after fsync",
       "blocks %d" % st.st_blocks)

    big = pattern(2, 0, (1 << 20) + 17)
    with open("big", "wb") as f:
        f.write(big)
    got = bytearray()
    with open("big", "rb", buffering=0) as f:
        while True:
            c = f.read(4093)
            if not c:
                break
            got += c
    same_bytes(bytes(got), big, "1 MiB written at once, read back in 4093-byte pieces")

    with open("g", "wb") as f:
        f.write(pattern(3, 0, 5000))
    g = os.open("g", os.O_WRONLY | os.O_TRUNC)
    st = os.fstat(g)
    os.close(g)
    is_((st.st_size, st.st_blocks), (0, 0), "O_TRUNC: size and blocks 0")


def t_dirs():
    n0 = os.stat(".").st_nlink
    os.mkdir("d", 0o777)
    st = os.stat("d")
    is_(stat.S_IMODE(st.st_mode), 0o755, "mkdir: mode 0777 less umask")
    is_(st.st_nlink, 2, "mkdir: new directory has 2 links")
    is_(os.stat(".").st_nlink, n0 + 1, "mkdir: parent gains a link")
    is_(os.stat("d/..").st_ino, os.stat(".").st_ino, "mkdir: .. is the parent")
    raises(errno.EEXIST, "mkdir over a directory", os.mkdir, "d")
    raises(errno.EEXIST, "mkdir over a file", os.mkdir, "f")
    raises(errno.ENOENT, "mkdir in a missing directory", os.mkdir, "nodir/x")
    raises(errno.ENOTDIR, "mkdir under a file", os.mkdir, "f/x")
    os.mkdir("d/sub")
    is_(os.stat("d").st_nlink, 3, "subdirectory adds a link")
    raises(errno.ENOTEMPTY, "rmdir a non-empty directory", os.rmdir, "d")
    raises(errno.ENOTDIR, "rmdir a file", os.rmdir, "f")
    raises(errno.ENOENT, "rmdir a missing name", os.rmdir, "nodir")
    raises(errno.EINVAL, "rmdir d/.", os.rmdir, "d/.")
    raises(errno.EBUSY, "rmdir the mount root", os.rmdir, mp)
    succeeds("rmdir an empty directory", os.rmdir, "d/sub")
    is_(os.stat("d").st_nlink, 2, "rmdir: parent loses the link")
    raises(errno.ENOENT, "the removed directory is gone", os.stat, "d/sub")
    raises(errno.EISDIR, "unlink a directory", os.unlink, "d")
    raises(errno.ENOENT, "unlink a missing name", os.unlink, "nofile")
    raises(errno.ENOTDIR, "unlink under a file", os.unlink, "f/x")

    # Enough long names for several directory blocks, then every other one
    # removed: readdir lists each remaining name exactly once.
    names = ["e%03d-" % i + "y" * 100 for i in range(300)]
    for n in names:
        os.close(os.open("d/" + n, os.O_CREAT | os.O_WRONLY, 0o644))
    got = os.listdir("d")
    ok(sorted(got) == sorted(names), "readdir lists 300 new names once each",
       "%d listed, %d distinct" % (len(got), len(set(got))))
    for n in names[::2]:
        os.unlink("d/" + n)
    got = os.listdir("d")
    ok(sorted(got) == sorted(names[1::2]), "after 150 unlinks readdir lists the other 150",
       "%d listed" % len(got))
    dfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY)
    succeeds("fsync on a directory", os.fsync, dfd)
    os.close(dfd)


def t_readdirplus():
    bad = []
    for e in os.scandir("."):
        st = os.lstat(e.name)
        kinds = (e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False),
                 e.is_symlink())
        want = (stat.S_ISDIR(st.st_mode), stat.S_ISREG(st.st_mode), stat.S_ISLNK(st.st_mode))
        if kinds != want or e.inode() != st.st_ino:
            bad.append("%s: %r/%d vs %r/%d" % (e.name, kinds, e.inode(), want, st.st_ino))
    ok(not bad, "readdir types and inode numbers match lstat", *bad[:10])


def t_symlinks():
    os.symlink("f", "ls")
    is_(os.readlink("ls"), "f", "readlink of a short symlink")
    st = os.lstat("ls")
    ok(stat.S_ISLNK(st.st_mode) and st.st_size == 1, "lstat: a symlink of size 1")
    is_(mode("ls"), 0o777, "symlink mode 0777")
    is_(os.stat("ls").st_ino, os.stat("f").st_ino, "stat follows the symlink")
    for n in (80, 81, 300, 4095):
        t = ("ab/" * 1400)[:n - 1] + "z"
        os.symlink(t, "l%d" % n)
        is_(os.readlink("l%d" % n), t, "symlink of %d bytes reads back" % n)
        is_(os.lstat("l%d" % n).st_size, n, "symlink of %d bytes: size" % n)
    raises(errno.ENAMETOOLONG, "symlink target of 4096 bytes", os.symlink, "q" * 4096, "l4096")
    raises(errno.EEXIST, "symlink over an existing name", os.symlink, "x", "f")
    raises(errno.EINVAL, "readlink of a regular file", os.readlink, "f")
    raises(errno.ENOENT, "readlink of a missing name", os.readlink, "nolink")
    os.symlink("nowhere", "dangling")
    raises(errno.ENOENT, "stat through a dangling symlink", os.stat, "dangling")
    ok(stat.S_ISLNK(os.lstat("dangling").st_mode), "lstat of a dangling symlink")
    raises(errno.ELOOP, "O_NOFOLLOW on a symlink", os.open, "ls", os.O_RDONLY | os.O_NOFOLLOW)


def t_mknod():
    os.mkfifo("fifo", 0o640)
    st = os.lstat("fifo")
    ok(stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640, "mkfifo: a fifo 0640")
    os.mknod("sock", stat.S_IFSOCK | 0o600)
    ok(stat.S_ISSOCK(os.lstat("sock").st_mode), "mknod: a socket")
    os.mknod("chr", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    st = os.lstat("chr")
    ok(stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3), "mknod: char device 1,3")
    os.mknod("blk", stat.S_IFBLK | 0o600, os.makedev(259, 70000))
    st = os.lstat("blk")
    ok(stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(259, 70000),
       "mknod: block device 259,70000", "rdev %x" % st.st_rdev)
    os.mknod("reg", stat.S_IFREG | 0o600)
    ok(stat.S_ISREG(os.lstat("reg").st_mode), "mknod: a regular file")
    raises(errno.EEXIST, "mknod over an existing name", os.mkfifo, "f")
    r = os.open("fifo", os.O_RDONLY | os.O_NONBLOCK)
    w = os.open("fifo", os.O_WRONLY)
    os.write(w, b"through the pipe")
    is_(os.read(r, 100), b"through the pipe", "the fifo carries data")
    os.close(w)
    os.close(r)


def t_setattr(fd):
    c0 = os.stat("f").st_ctime_ns
    time.sleep(0.01)
    os.chmod("f", 0o751)
    st = os.stat("f")
    is_(stat.S_IMODE(st.st_mode), 0o751, "chmod")
    ok(st.st_ctime_ns > c0, "chmod moves ctime")
    os.chown("f", 1234, 5678)
    st = os.stat("f")
    is_((st.st_uid, st.st_gid), (1234, 5678), "chown")
    os.chown("f", -1, 42)
    st = os.stat("f")
    is_((st.st_uid, st.st_gid), (1234, 42), "chown -1 keeps the owner")
    os.mknod("suid", stat.S_IFREG | 0o644)
    os.chmod("suid", 0o6755)
    is_(mode("suid"), 0o6755, "chmod sets setuid and setgid")
    os.chmod("d", 0o1777)
    is_(mode("d"), 0o1777, "chmod sets the sticky bit on a directory")

    head = os.pread(fd, 100, 0)
    os.truncate("f", 100)
    is_(os.stat("f").st_size, 100, "truncate down")
    os.truncate("f", 5000)
    got = os.pread(fd, 6000, 0)
    same_bytes(got, head + bytes(4900), "truncate up: old data past the cut reads as zeros")
    os.ftruncate(fd, 3 * bs + 1)
    is_(os.fstat(fd).st_size, 3 * bs + 1, "ftruncate")
    raises(errno.EISDIR, "truncate a directory", os.truncate, "d", 0)
    raises(errno.EINVAL, "truncate to a negative size", os.truncate, "f", -1)
    raises(errno.ENOENT, "truncate a missing name", os.truncate, "nofile", 0)

    os.utime("f", ns=(1000000123, 2000000456))
    st = os.stat("f")
    is_((st.st_atime_ns, st.st_mtime_ns), (1000000123, 2000000456), "utimes with nanoseconds")
    old = -10 * 365 * 86400 * 10**9 + 7
    far = (1 << 33) * 10**9 + 999999999
    os.utime("g", ns=(old, far))
    st = os.stat("g")
    is_((st.st_atime_ns, st.st_mtime_ns), (old, far), "times before 1970 and after 2106")
    t = 1500000000 * 10**9 + 42
    now0 = time.time_ns()
    utimensat("f", "omit", t)
    st = os.stat("f")
    is_((st.st_atime_ns, st.st_mtime_ns), (1000000123, t), "UTIME_OMIT keeps atime")
    ok(st.st_ctime_ns >= now0 - 10**9, "utimensat sets ctime to now")
    utimensat("f", "now", "omit")
    st = os.stat("f")
    ok(abs(st.st_atime_ns - time.time_ns()) < 5 * 10**9, "UTIME_NOW sets atime to now",
       "atime %d" % st.st_atime_ns)
    is_(st.st_mtime_ns, t, "UTIME_OMIT keeps mtime")
    utimensat("ls", 3 * 10**9 + 3, 4 * 10**9 + 4, follow=False)
    st = os.lstat("ls")
    is_((st.st_atime_ns, st.st_mtime_ns), (3 * 10**9 + 3, 4 * 10**9 + 4),
        "utimensat AT_SYMLINK_NOFOLLOW sets the symlink's own times")


def t_link():
    os.link("g", "hl")
    ok(os.stat("g").st_nlink == 2 and os.stat("hl").st_ino == os.stat("g").st_ino,
       "link: same inode, 2 links")
    raises(errno.EEXIST, "link over an existing name", os.link, "g", "f")
    raises(errno.EPERM, "link to a directory", os.link, "d", "dl")
    raises(errno.ENOENT, "link to a missing name", os.link, "nofile", "x")
    raises(errno.EXDEV, "link to another filesystem", os.link, "g", outside + ".link")
    raises(errno.EXDEV, "rename to another filesystem", os.rename, "g", outside + ".ren")
    raises(errno.EXDEV, "renameat2 to another filesystem", renameat2, "g", outside + ".r2")


def t_fallocate():
    fd = os.open("fa", os.O_CREAT | os.O_RDWR, 0o644)
    fallocate(fd, 0, 0, 4 * bs)
    st = os.fstat(fd)
    is_(st.st_size, 4 * bs, "fallocate: size grows")
    ok(st.st_blocks * 512 >= 4 * bs, "fallocate: blocks allocated", "blocks %d" % st.st_blocks)
    same_bytes(os.pread(fd, 4 * bs, 0), bytes(4 * bs), "fallocated range reads as zeros")
    fallocate(fd, FALLOC_FL_KEEP_SIZE, 4 * bs, 4 * bs)
    st = os.fstat(fd)
    is_(st.st_size, 4 * bs, "fallocate KEEP_SIZE: size unchanged")
    ok(st.st_blocks * 512 >= 8 * bs, "fallocate KEEP_SIZE: blocks allocated past the end")
    data = pattern(7, 0, 4 * bs)
    os.pwrite(fd, data, 0)
    os.fsync(fd)
    b0 = os.fstat(fd).st_blocks
    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, bs, 2 * bs)
    data = data[:bs] + bytes(2 * bs) + data[3 * bs:]
    st = os.fstat(fd)
    same_bytes(os.pread(fd, 4 * bs, 0), data, "punch hole: the range reads as zeros")
    is_(st.st_size, 4 * bs, "punch hole: size unchanged")
    ok(b0 - st.st_blocks >= 2 * bs // 512, "punch hole: blocks freed",
       "%d -> %d" % (b0, st.st_blocks))
    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 3 * bs + 10, 100)
    data = data[:3 * bs + 10] + bytes(100) + data[3 * bs + 110:]
    same_bytes(os.pread(fd, 4 * bs, 0), data, "unaligned punch zeroes only its bytes")
    raises(errno.EOPNOTSUPP, "punch hole without KEEP_SIZE", fallocate, fd,
           FALLOC_FL_PUNCH_HOLE, 0, bs)
    raises(errno.EOPNOTSUPP, "COLLAPSE_RANGE", fallocate, fd, FALLOC_FL_COLLAPSE_RANGE, 0, bs)
    raises(errno.EINVAL, "fallocate of length 0", fallocate, fd, 0, 0, 0)
    try:
        fallocate(fd, FALLOC_FL_ZERO_RANGE, 10, 2 * bs)
    except OSError as e:
        if e.errno == errno.EOPNOTSUPP:
            skip("ZERO_RANGE: the kernel does not pass it to FUSE")
        else:
            ok(False, "ZERO_RANGE", "failed with %s" % errno.errorcode.get(e.errno))
    else:
        data = data[:10] + bytes(2 * bs) + data[2 * bs + 10:]
        same_bytes(os.pread(fd, 4 * bs, 0), data, "ZERO_RANGE: the range reads as zeros")
        fallocate(fd, FALLOC_FL_ZERO_RANGE, 4 * bs, bs)
        is_(os.fstat(fd).st_size, 5 * bs, "ZERO_RANGE past the end extends the file")
    os.close(fd)
    ro = os.open("fa", os.O_RDONLY)
    raises(errno.EBADF, "fallocate on a read-only descriptor", fallocate, ro, 0, 0, bs)
    os.close(ro)


def t_seek():
    fd = os.open("sk", os.O_CREAT | os.O_RDWR, 0o644)
    far = 16 * 4096
    os.pwrite(fd, pattern(8, 0, bs), 0)
    os.pwrite(fd, pattern(8, far, bs), far)
    size = far + bs
    is_(os.lseek(fd, 0, os.SEEK_DATA), 0, "SEEK_DATA at 0")
    h = os.lseek(fd, 0, os.SEEK_HOLE)
    ok(bs <= h <= 4096, "SEEK_HOLE after the first block", "got %d" % h)
    is_(os.lseek(fd, bs + 4096, os.SEEK_DATA), far, "SEEK_DATA from a hole finds the next data")
    is_(os.lseek(fd, far, os.SEEK_HOLE), size, "SEEK_HOLE in the last data: end of file")
    raises(errno.ENXIO, "SEEK_DATA at end of file", os.lseek, fd, size, os.SEEK_DATA)
    raises(errno.ENXIO, "SEEK_HOLE past end of file", os.lseek, fd, size + 1, os.SEEK_HOLE)
    os.close(fd)


def t_copy_range():
    src = pattern(5, 0, 5 * bs + 77)
    dst = pattern(6, 0, 6 * bs)
    with open("cs", "wb") as f:
        f.write(src)
    with open("cd", "wb") as f:
        f.write(dst)
    fs = os.open("cs", os.O_RDONLY)
    fdd = os.open("cd", os.O_RDWR)
    n = 2 * bs + 50
    got = os.copy_file_range(fs, fdd, n, bs + 3, 7)
    is_(got, n, "copy_file_range: full count")
    dst = dst[:7] + src[bs + 3:bs + 3 + n] + dst[7 + n:]
    same_bytes(os.pread(fdd, len(dst) + 10, 0), dst, "copy_file_range: bytes in place")
    got = os.copy_file_range(fs, fdd, bs, 0, 10 * bs)
    is_(got, bs, "copy_file_range past the end of the destination")
    dst = dst + bytes(10 * bs - len(dst)) + src[:bs]
    same_bytes(os.pread(fdd, 12 * bs, 0), dst, "copy_file_range extends with a zero gap")
    is_(os.copy_file_range(fs, fdd, 100, len(src) + 10, 0), 0,
        "copy_file_range from past the source's end: 0 bytes")
    raises(errno.EINVAL, "copy_file_range onto an overlapping range of the same file",
           os.copy_file_range, fdd, fdd, 2 * bs, 0, bs)
    raises(errno.EBADF, "copy_file_range into a read-only descriptor",
           os.copy_file_range, fdd, fs, 10, 0, 0)
    os.close(fs)
    os.close(fdd)


def build():
    s0 = t_statfs()
    with open(state + ".json", "w") as f:
        json.dump({"bfree": s0.f_bfree, "ffree": s0.f_ffree}, f)
    fd = t_create()
    for t in (t_names, t_readwrite, t_dirs, t_symlinks, t_mknod, t_setattr, t_link,
              t_fallocate, t_seek, t_copy_range, t_readdirplus):
        guard(t, fd) if t in (t_readwrite, t_setattr) else guard(t)
    os.close(fd)
    s = os.statvfs(".")
    ok(s.f_bfree < s0.f_bfree and s.f_ffree < s0.f_ffree, "statfs: free blocks and inodes fell")
    snapshot(".", save=state)


def remove_all():
    for d, dirs, files in os.walk(".", topdown=False):
        for n in files:
            os.unlink(os.path.join(d, n))
        for n in dirs:
            p = os.path.join(d, n)
            if os.path.islink(p):
                os.unlink(p)
            elif p != "./lost+found":
                os.rmdir(p)


def verify():
    guard(check_snapshot, ".", state, "after remount")
    with open(state + ".json") as f:
        s0 = json.load(f)
    # Still writable after the remount.
    with open("f", "ab") as f:
        f.write(b"more")
    is_(open("f", "rb").read()[-4:], b"more", "append after the remount")
    remove_all()
    is_(sorted(os.listdir(".")), ["lost+found"], "everything removed")
    is_(wait_free(".", s0["bfree"], s0["ffree"]), (s0["bfree"], s0["ffree"]),
        "free blocks and inodes back to their values after mkfs")


if phase == "build":
    build()
else:
    verify()
done()
