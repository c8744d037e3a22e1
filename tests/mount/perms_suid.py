"""tests/mount/perms_suid.py - the privilege bits (S_ISUID, S_ISGID) that a
write, truncate, fallocate or chown clears, on a mount made with -o
allow_other. Run by perms-suid.sh, once per cache mode:

  perms_suid.py setup MOUNTPOINT  (root) files owned by nobody (65534)
                                  with the bits, one per case
  perms_suid.py user  MOUNTPOINT  (uid/gid 65534) write, pwritev, a store
                                  through a shared mapping (msync, munmap),
                                  truncate, ftruncate, fallocate,
                                  copy_file_range, chgrp
  perms_suid.py nofsetid MOUNTPOINT  (uid 0 without CAP_FSETID) write and
                                  truncate
  perms_suid.py root  MOUNTPOINT  (root) write, mapped store, truncate and
                                  chown
  perms_suid.py check MOUNTPOINT  (root) every file's mode, as Linux leaves
                                  it (run before and after a remount)
"""

import mmap
import os
import stat
import sys

from lib import wait_for
from tap import done, guard, is_, ok, succeeds

phase, mp = sys.argv[1], sys.argv[2]
NOBODY = 65534

# name: (mode at setup, group at setup, mode expected at the end)
CASES = {
    "write": (0o6755, NOBODY, 0o0755),
    "pwritev": (0o6755, NOBODY, 0o0755),
    "mmap": (0o6755, NOBODY, 0o0755),
    "truncate": (0o6755, NOBODY, 0o0755),
    "ftruncate": (0o6755, NOBODY, 0o0755),
    "fallocate": (0o6755, NOBODY, 0o0755),
    "copy": (0o6755, NOBODY, 0o0755),
    "suid-only": (0o4700, NOBODY, 0o0700),
    # S_ISGID without group execute is not a privilege: a write keeps it
    "sgid-noexec": (0o2745, NOBODY, 0o2745),
    "sgid-exec": (0o2755, NOBODY, 0o0755),
    # chgrp by the owner, who is not in the file's group: S_ISGID goes even
    # without group execute (Linux's setattr_should_drop_sgid)
    "chgrp-outside": (0o2745, 100, 0o0745),
    # the same by a member of the file's group: kept
    "chgrp-member": (0o2745, NOBODY, 0o2745),
    # root without CAP_FSETID is treated as any user
    "nofsetid-write": (0o6755, NOBODY, 0o0755),
    "nofsetid-truncate": (0o6755, NOBODY, 0o0755),
    # root keeps the bits when it writes, maps or truncates
    "root-write": (0o6755, NOBODY, 0o6755),
    "root-mmap": (0o6755, NOBODY, 0o6755),
    "root-truncate": (0o6755, NOBODY, 0o6755),
    # chown clears them whoever asks, root included; for S_ISGID without
    # group execute only when the caller is outside the group (root is not)
    "root-chown": (0o6755, NOBODY, 0o0755),
    "root-chgrp-sgid-noexec": (0o2745, NOBODY, 0o2745),
    "root-chown-sgid-exec": (0o2755, NOBODY, 0o0755),
}


def path(name):
    return os.path.join(mp, "d", name)


def setup():
    os.mkdir(os.path.join(mp, "d"))
    os.chmod(os.path.join(mp, "d"), 0o777)
    os.mkdir(path("sgid-dir"))
    for name, (mode, gid, _) in CASES.items():
        with open(path(name), "wb") as f:
            f.write(b"0123456789abcdef")
        os.chown(path(name), NOBODY, gid)
        os.chmod(path(name), mode)
    os.chown(path("sgid-dir"), NOBODY, NOBODY)
    os.chmod(path("sgid-dir"), 0o2775)
    ok(all(stat.S_IMODE(os.stat(path(n)).st_mode) == m for n, (m, _, _) in CASES.items()),
       "setup: every file has its bits")


def store_mapped(name):
    fd = os.open(path(name), os.O_RDWR)
    try:
        m = mmap.mmap(fd, 16)
        m[0:4] = b"MMAP"
        m.flush()
        m.close()
    finally:
        os.close(fd)


def write_fd(name, fn):
    fd = os.open(path(name), os.O_WRONLY)
    try:
        return fn(fd)
    finally:
        os.close(fd)


def user():
    is_((os.getuid(), os.getgid(), os.getgroups()), (NOBODY, NOBODY, []), "running as nobody")
    succeeds("write(2)", write_fd, "write", lambda fd: os.write(fd, b"w"))
    succeeds("pwritev", write_fd, "pwritev", lambda fd: os.pwritev(fd, [b"a", b"b"], 3))
    succeeds("store through a shared mapping, msync, munmap", store_mapped, "mmap")
    succeeds("truncate", os.truncate, path("truncate"), 4)
    succeeds("ftruncate", write_fd, "ftruncate", lambda fd: os.ftruncate(fd, 40))
    succeeds("fallocate", write_fd, "fallocate", lambda fd: os.posix_fallocate(fd, 0, 8192))
    with open(path("write"), "rb") as s:
        succeeds("copy_file_range", write_fd, "copy",
                 lambda fd: os.copy_file_range(s.fileno(), fd, 8, 0, 2))
    succeeds("write a 04700 file", write_fd, "suid-only", lambda fd: os.write(fd, b"w"))
    succeeds("write a 02745 file", write_fd, "sgid-noexec", lambda fd: os.write(fd, b"w"))
    succeeds("write a 02755 file", write_fd, "sgid-exec", lambda fd: os.write(fd, b"w"))
    succeeds("chgrp from a group one is not in", os.chown, path("chgrp-outside"), -1, NOBODY)
    succeeds("chgrp within one's group", os.chown, path("chgrp-member"), -1, NOBODY)
    succeeds("chown of a setgid directory", os.chown, path("sgid-dir"), -1, NOBODY)
    # what the writer sees at once (the kernel's cached attributes dropped)
    for name in ("write", "pwritev", "truncate", "ftruncate", "fallocate", "copy"):
        is_(stat.S_IMODE(os.stat(path(name)).st_mode), CASES[name][2],
            "%s: the writer sees the bits gone at once" % name)
    ok(wait_for(lambda: stat.S_IMODE(os.stat(path("mmap")).st_mode) == CASES["mmap"][2], 5),
       "mmap: the bits are gone after msync", oct(os.stat(path("mmap")).st_mode))


def nofsetid():
    is_(os.getuid(), 0, "running as uid 0")
    status = open("/proc/self/status").read()
    eff = int([ln for ln in status.splitlines() if ln.startswith("CapEff:")][0].split()[1], 16)
    ok(not eff & (1 << 4), "without CAP_FSETID", "CapEff %x" % eff)
    succeeds("write(2)", write_fd, "nofsetid-write", lambda fd: os.write(fd, b"w"))
    succeeds("truncate", os.truncate, path("nofsetid-truncate"), 4)


def root():
    succeeds("root writes", write_fd, "root-write", lambda fd: os.write(fd, b"w"))
    succeeds("root stores through a mapping", store_mapped, "root-mmap")
    succeeds("root truncates", os.truncate, path("root-truncate"), 4)
    succeeds("root chowns", os.chown, path("root-chown"), 65533, -1)
    succeeds("root chgrps a 02745 file", os.chown, path("root-chgrp-sgid-noexec"), -1, 65533)
    succeeds("root chowns a 02755 file", os.chown, path("root-chown-sgid-exec"), 65533, -1)


def check():
    for name, (_, _, want) in CASES.items():
        is_(oct(stat.S_IMODE(os.stat(path(name)).st_mode)), oct(want), "%s: mode" % name)
    st = os.stat(path("sgid-dir"))
    ok(st.st_mode & stat.S_ISGID, "a directory keeps S_ISGID across chown", oct(st.st_mode))
    with open(path("mmap"), "rb") as f:
        is_(f.read(4), b"MMAP", "the mapped store reached the file")
    with open(path("root-mmap"), "rb") as f:
        is_(f.read(4), b"MMAP", "root's mapped store reached the file")


guard({"setup": setup, "user": user, "nofsetid": nofsetid, "root": root,
       "check": check}[phase])
done()
