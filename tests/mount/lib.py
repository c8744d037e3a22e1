"""tests/mount/lib.py - helpers for the Python parts of the mount scenarios.

The scenarios (tests/mount/*.sh) run small Python programs on a mounted
foliofs through py_tap (lib.sh); they print their results with
tests/lib/tap.py (ok, is_, raises, succeeds, skip, diag, guard, done).

Interface:
  renameat2, fallocate, utimensat, getxattr_sized, listxattr_sized: the
      system calls Python's os module lacks, raising OSError like os does
  pattern(seed, off, n): bytes that depend on seed and absolute offset
  snapshot(root) / compare_snapshots(a, b, desc): every object's metadata
      and contents under root, to check that they survive a remount
  wait_for(fn, timeout): poll until fn() is true (FUSE release is async)
"""

import array
import ctypes
import hashlib
import json
import os
import stat
import time

from tap import ok

# --- system calls os lacks -------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                            ctypes.c_uint]
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
_libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
_libc.getxattr.restype = ctypes.c_ssize_t
_libc.listxattr.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
_libc.listxattr.restype = ctypes.c_ssize_t

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_COLLAPSE_RANGE = 0x08
FALLOC_FL_ZERO_RANGE = 0x10
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


def _raise(r, *paths):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), *paths[:1])
    return r


def renameat2(old, new, flags=0):
    return _raise(_libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new),
                                  flags), old)


def fallocate(fd, mode, off, length):
    return _raise(_libc.fallocate(fd, mode, off, length))


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_Timespec),
                            ctypes.c_int]


def _ts(t):
    if t == "now":
        return _Timespec(0, UTIME_NOW)
    if t == "omit":
        return _Timespec(0, UTIME_OMIT)
    return _Timespec(t // 10**9, t % 10**9)


def utimensat(path, atime, mtime, follow=True):
    """atime, mtime: nanoseconds since the epoch, "now" or "omit"."""
    ts = (_Timespec * 2)(_ts(atime), _ts(mtime))
    return _raise(_libc.utimensat(AT_FDCWD, os.fsencode(path), ts,
                                  0 if follow else AT_SYMLINK_NOFOLLOW), path)


def getxattr_sized(path, name, size):
    """getxattr(2) with an explicit buffer size; returns (length, bytes)."""
    buf = ctypes.create_string_buffer(max(size, 1))
    r = _raise(_libc.getxattr(os.fsencode(path), os.fsencode(name), buf if size else None,
                              size), path)
    return r, buf.raw[:r] if size else b""


def listxattr_sized(path, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    r = _raise(_libc.listxattr(os.fsencode(path), buf if size else None, size), path)
    return r, buf.raw[:r] if size else b""


# --- data ------------------------------------------------------------------

def pattern(seed, off, n):
    """n bytes for absolute offset off: every 8-byte word is a bijection of
    its own word index mixed with the seed, so misplaced data, stale data
    and zeros never match."""
    first = off // 8
    last = (off + n + 7) // 8
    mix = (seed * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
    words = array.array("Q", (((k * 0x9E3779B97F4A7C15) ^ mix) & 0xFFFFFFFFFFFFFFFF
                              for k in range(first, last)))
    raw = words.tobytes()
    skip_ = off - first * 8
    return raw[skip_:skip_ + n]


def first_diff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def same_bytes(got, want, desc):
    if got == want:
        return ok(True, desc)
    i = first_diff(got, want)
    return ok(False, desc, "lengths %d/%d, first difference at %s: got %r want %r" % (
        len(got), len(want), i, got[i:i + 8] if i is not None else b"",
        want[i:i + 8] if i is not None else b""))


def wait_for(fn, timeout=10.0):
    end = time.monotonic() + timeout
    while True:
        if fn():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.05)


def wait_free(path, bfree, ffree, timeout=10.0):
    """Wait until statvfs(path) shows @bfree free blocks and @ffree free
    inodes; returns (f_bfree, f_ffree) as last seen. The kernel sends the last
    release and forget of a removed file after the call that removed it
    returns, so its blocks and inode come back a moment later."""
    def seen():
        st = os.statvfs(path)
        return (st.f_bfree, st.f_ffree)
    wait_for(lambda: seen() == (bfree, ffree), timeout)
    return seen()


def free_blocks(path):
    s = os.statvfs(path)
    return s.f_bfree


# --- snapshots -------------------------------------------------------------

HASH_LIMIT = 64 << 20


def _paths(root):
    out = []
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(d, n), root))
    return sorted(out)


def _stat_entry(full):
    st = os.lstat(full)
    return dict(mode=st.st_mode, ino=st.st_ino, nlink=st.st_nlink, uid=st.st_uid,
                gid=st.st_gid, size=st.st_size, blocks=st.st_blocks, rdev=st.st_rdev,
                atime=st.st_atime_ns, mtime=st.st_mtime_ns, ctime=st.st_ctime_ns)


def _meta(root, paths):
    return {p: _stat_entry(os.path.join(root, p)) for p in ["."] + paths}


def _content(root, paths):
    c = {}
    for p in ["."] + paths:
        full = os.path.join(root, p)
        st = os.lstat(full)
        e = {}
        if stat.S_ISREG(st.st_mode):
            if st.st_size <= HASH_LIMIT:
                with open(full, "rb") as f:
                    e["sha256"] = hashlib.sha256(f.read()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            e["target"] = os.readlink(full)
        elif stat.S_ISDIR(st.st_mode):
            e["entries"] = sorted(os.listdir(full))
        x = {}
        for name in os.listxattr(full, follow_symlinks=False):
            x[name] = os.getxattr(full, name, follow_symlinks=False).hex()
        e["xattrs"] = x
        c[p] = e
    return c


def snapshot(root, save=None):
    """Contents first (reading may set atime), then metadata."""
    paths = _paths(root)
    snap = {"paths": paths, "content": _content(root, paths)}
    snap["meta"] = _meta(root, paths)
    if save:
        with open(save, "w") as f:
            json.dump(snap, f)
    return snap


def _diffs(a, b, label):
    out = []
    for p in sorted(set(a) | set(b)):
        if p not in a or p not in b:
            out.append("%s %s: %s" % (label, p, "missing" if p not in b else "new"))
            continue
        for k in sorted(set(a[p]) | set(b[p])):
            if a[p].get(k) != b[p].get(k):
                out.append("%s %s: %s was %r, now %r" % (label, p, k, a[p].get(k),
                                                         b[p].get(k)))
    return out


def check_snapshot(root, saved, desc):
    """Compare root (metadata first, without reading) with a saved snapshot."""
    with open(saved) as f:
        old = json.load(f)
    meta = {}
    for p in ["."] + old["paths"]:
        try:
            meta[p] = _stat_entry(os.path.join(root, p))
        except FileNotFoundError:
            pass
    d = _diffs(old["meta"], meta, "meta")
    ok(not d, desc + ": every inode's metadata unchanged (%d objects)" % len(old["meta"]),
       *d[:15])
    new = snapshot(root)
    d = _diffs(old["content"], new["content"], "content")
    ok(not d, desc + ": every file, link, directory and xattr unchanged", *d[:15])


# --- superblock edits (docs/ON-DISK.md sections 1 and 3) -------------------

def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_TABLE = _crc_table()


def crc32c(crc, data):
    """CRC-32C continued from crc, zlib style (pre- and post-inverted)."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def sb_patch(image, changes):
    """Write (offset, struct format, value) changes into the primary
    superblock of image and give it a valid checksum again."""
    import struct
    with open(image, "r+b") as f:
        sb = bytearray(f.read(1024))
        for off, fmt, value in changes:
            struct.pack_into("<" + fmt, sb, off, value)
        struct.pack_into("<I", sb, 8, 0)
        struct.pack_into("<I", sb, 8, crc32c(crc32c(0, bytes(sb[0x70:0x80])), bytes(sb)))
        f.seek(0)
        f.write(sb)
