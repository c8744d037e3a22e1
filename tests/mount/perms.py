"""tests/mount/perms.py - permission checks for users other than root on a
mount made with -o allow_other. Run by perms.sh:

  perms.py setup  MOUNTPOINT   (root) files and directories with chosen modes
  perms.py nobody MOUNTPOINT   (uid/gid 65534, no groups) EACCES/EPERM where
                               POSIX says, success where it allows
  perms.py other  MOUNTPOINT   (uid/gid 65533) the sticky bit protects
                               nobody's files; a plain directory does not
  perms.py final  MOUNTPOINT   (root) owners and groups of what they made
  perms.py denied MOUNTPOINT   (uid 65534) a mount without allow_other
"""

import errno
import os
import stat
import subprocess
import sys

from tap import done, guard, is_, ok, raises, succeeds

phase, mp = sys.argv[1], sys.argv[2]
EACCES, EPERM = errno.EACCES, errno.EPERM


def put(p, text, mode):
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, mode)


def setup():
    os.chdir(mp)
    os.chmod(".", 0o755)
    put("secret", "secret", 0o600)
    put("ro", "readable", 0o644)
    put("rw", "writable", 0o666)
    os.setxattr("rw", "trusted.t", b"root only")
    for d, m in (("pub", 0o777), ("sticky", 0o1777), ("priv", 0o700), ("noexec", 0o766),
                 ("nolist", 0o711), ("sgid", 0o2777), ("rootdir", 0o755)):
        os.mkdir(d)
        os.chmod(d, m)
    put("priv/f", "private", 0o644)
    put("noexec/f", "unreachable", 0o644)
    put("nolist/known", "known name", 0o644)
    put("rootdir/f", "cannot unlink", 0o666)
    put("sticky/rootfile", "root's in sticky", 0o666)
    os.chown("sgid", 0, 100)
    put("noexecbit", "#!/bin/sh\necho ran\n", 0o744)
    put("script", "#!/bin/sh\necho ran\n", 0o755)
    ok(True, "setup as root")


def nobody():
    os.umask(0o022)
    os.chdir(mp)
    is_((os.getuid(), os.getgid(), os.getgroups()), (65534, 65534, []), "running as nobody")
    ok("secret" in os.listdir("."), "nobody lists the root directory")
    raises(EACCES, "create in a 0755 root-owned directory", os.open, "n", os.O_CREAT | os.O_WRONLY)
    raises(EACCES, "mkdir there", os.mkdir, "n")
    raises(EACCES, "symlink there", os.symlink, "x", "n")
    raises(EACCES, "mkfifo there", os.mkfifo, "n")
    raises(EACCES, "link there", os.link, "rw", "n")
    raises(EACCES, "rename there", os.rename, "ro", "n")
    raises(EACCES, "unlink there", os.unlink, "ro")
    raises(EACCES, "rmdir there", os.rmdir, "pub")
    raises(EACCES, "unlink a 0666 file in a 0755 directory", os.unlink, "rootdir/f")

    ok(os.stat("secret").st_mode & 0o777 == 0o600, "stat of a 0600 file is allowed")
    raises(EACCES, "open a 0600 root file for reading", os.open, "secret", os.O_RDONLY)
    ok(not os.access("secret", os.R_OK), "access(R_OK) on the 0600 file: no")
    is_(open("ro").read(), "readable", "read a 0644 file")
    ok(os.access("ro", os.R_OK) and not os.access("ro", os.W_OK), "access on 0644: R yes, W no")
    raises(EACCES, "open a 0644 root file for writing", os.open, "ro", os.O_WRONLY)
    raises(EACCES, "truncate a 0644 root file", os.truncate, "ro", 0)
    with open("rw", "a") as f:
        f.write("+n")
    is_(open("rw").read(), "writable+n", "write a 0666 file")
    raises(EPERM, "chmod another user's file", os.chmod, "rw", 0o600)
    raises(EPERM, "chown another user's file to oneself", os.chown, "rw", 65534, 65534)
    raises(EPERM, "set explicit times on another user's file", os.utime, "rw", ns=(1, 1))
    succeeds("set times to now on a writable file", os.utime, "rw", None)
    raises(EACCES, "set times to now on a file one cannot write", os.utime, "ro", None)
    succeeds("user. xattr on a writable file", os.setxattr, "rw", "user.n", b"1")
    raises(EACCES, "user. xattr on a read-only file", os.setxattr, "ro", "user.n", b"1")
    raises(EPERM, "trusted. xattr as a user", os.setxattr, "rw", "trusted.n", b"1")
    raises(errno.ENODATA, "trusted. xattr is invisible to a user", os.getxattr, "rw", "trusted.t")

    raises(EACCES, "list a 0700 directory", os.listdir, "priv")
    raises(EACCES, "stat inside a 0700 directory", os.stat, "priv/f")
    raises(EACCES, "open inside a 0700 directory", os.open, "priv/f", os.O_RDONLY)
    ok("f" in os.listdir("noexec"), "list a directory with r but no x")
    raises(EACCES, "stat inside a directory without x", os.stat, "noexec/f")
    raises(EACCES, "create inside a directory without x", os.open, "noexec/n",
           os.O_CREAT | os.O_WRONLY)
    raises(EACCES, "list a 0711 directory", os.listdir, "nolist")
    is_(open("nolist/known").read(), "known name", "open a known name in a 0711 directory")

    fd = os.open("pub/mine", os.O_CREAT | os.O_WRONLY, 0o666)
    os.close(fd)
    st = os.stat("pub/mine")
    is_((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (65534, 65534, 0o644),
        "a new file belongs to its creator, mode less umask")
    succeeds("chmod one's own file", os.chmod, "pub/mine", 0o600)
    raises(EPERM, "chown one's own file to root", os.chown, "pub/mine", 0, -1)
    raises(EPERM, "chgrp to a group one is not in", os.chown, "pub/mine", -1, 0)
    succeeds("explicit times on one's own file", os.utime, "pub/mine", ns=(5, 6))
    os.mkdir("pub/md")
    succeeds("rmdir one's own directory", os.rmdir, "pub/md")
    with open("pub/mine2", "w") as f:
        f.write("x")

    with open("sticky/nob", "w") as f:
        f.write("nobody's")
    raises(EPERM, "unlink root's file in a sticky directory", os.unlink, "sticky/rootfile")
    raises(EPERM, "rename root's file in a sticky directory", os.rename, "sticky/rootfile",
           "sticky/taken")
    with open("sticky/rootfile", "a") as f:
        f.write("+n")
    ok(True, "write root's 0666 file in a sticky directory")

    with open("sgid/f", "w"):
        pass
    os.mkdir("sgid/d")
    is_(os.stat("sgid/f").st_gid, 100, "a file in a setgid directory takes its group")
    st = os.stat("sgid/d")
    ok(st.st_gid == 100 and st.st_mode & stat.S_ISGID,
       "a directory in a setgid directory takes its group and the setgid bit",
       "gid %d mode %o" % (st.st_gid, st.st_mode))

    raises(EACCES, "exec a 0744 root script", subprocess.run, ["./noexecbit"])
    r = subprocess.run(["./script"], capture_output=True)
    is_(r.stdout, b"ran\n", "exec a 0755 script")


def other():
    os.chdir(mp)
    is_(os.getuid(), 65533, "running as uid 65533")
    raises(EPERM, "unlink nobody's file in a sticky directory", os.unlink, "sticky/nob")
    raises(EPERM, "rename nobody's file in a sticky directory", os.rename, "sticky/nob",
           "sticky/o")
    raises(EACCES, "read nobody's 0600 file", os.open, "pub/mine", os.O_RDONLY)
    succeeds("unlink nobody's file in a 0777 directory without the sticky bit", os.unlink,
             "pub/mine2")


def final():
    os.chdir(mp)
    is_(open("sticky/rootfile").read(), "root's in sticky+n", "nobody's write reached the file")
    succeeds("root unlinks nobody's file in the sticky directory", os.unlink, "sticky/nob")
    is_(os.stat("pub/mine").st_mtime_ns, 6, "nobody's times are kept")


def denied():
    raises(EACCES, "without allow_other another user cannot stat the mount", os.stat, mp)
    raises(EACCES, "nor list it", os.listdir, mp)


guard({"setup": setup, "nobody": nobody, "other": other, "final": final,
       "denied": denied}[phase])
done()
