"""tests/mount/zswap.py MOUNTPOINT CTL - the compressed tier's coherence on a
mount (run by tests/mount/zswap.sh through py_tap).

Writes F (1 MiB) of data that compresses 2:1, then `foliofs-ctl reclaim`
evicts the clean pages as memory pressure would, so that F's pages are in
the tier (stored_pages), then truncates F and extends it again, punches
a hole, overwrites whole pages and a few bytes. Every read is O_DIRECT, so
it reaches the daemon's cache in both cache modes; F must read as the model
says, then again after fsync and drop-caches (from the image). The counters
must show loads from the tier (zswpin).
"""

import mmap
import os
import subprocess
import sys

from lib import FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, fallocate, pattern, same_bytes
from tap import diag, done, guard, ok

PAGE = 4096
KIB = 1024


def half(seed, off, n):
    """Data that compresses about 2:1: each page half pattern, half zeros."""
    first = off // PAGE * PAGE
    out = bytearray()
    for page in range(first, off + n, PAGE):
        out += pattern(seed, page, PAGE // 2) + bytes(PAGE // 2)
    return bytes(out[off - first:off - first + n])


def stats(mp, ctl):
    out = subprocess.run([ctl, mp, "stats"], capture_output=True, text=True, check=True).stdout
    d = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            d[parts[0].rstrip(":")] = int(parts[1])
    return d


def read_direct(path, size):
    """The whole file through O_DIRECT (aligned buffer and offsets)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, 1 << 20)
    out = bytearray()
    try:
        off = 0
        while off < size:
            n = os.preadv(fd, [buf], off)
            if n <= 0:
                break
            out += buf[:n]
            off += n
    finally:
        os.close(fd)
        buf.close()
    return bytes(out[:size])


def write_file(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def coherence(mp, ctl):
    f = os.path.join(mp, "f")
    model = bytearray(half(1, 0, 1 << 20))
    write_file(f, bytes(model))
    before = stats(mp, ctl)
    subprocess.run([ctl, mp, "reclaim", "2M"], capture_output=True, check=True)
    after = stats(mp, ctl)
    ok(after["stored_pages"] >= 250 and after["zswpout"] - before["zswpout"] >= 250,
       "reclaim sent F's 256 pages to the tier (stored_pages %d, zswpout +%d)" % (
           after["stored_pages"], after["zswpout"] - before["zswpout"]))

    fd = os.open(f, os.O_RDWR)
    try:
        cut = 700 * KIB + 123
        os.ftruncate(fd, cut)
        del model[cut:]
        os.ftruncate(fd, 1 << 20)
        model += bytes((1 << 20) - cut)
        start, end = 100 * KIB + 5, 300 * KIB + 77
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, start, end - start)
        model[start:end] = bytes(end - start)
        new = half(3, 500 * KIB, 100 * KIB)  # whole pages
        os.pwrite(fd, new, 500 * KIB)
        model[500 * KIB:600 * KIB] = new
        small = pattern(4, 601 * KIB + 7, 93)
        os.pwrite(fd, small, 601 * KIB + 7)
        model[601 * KIB + 7:601 * KIB + 100] = small
    finally:
        os.close(fd)
    same_bytes(read_direct(f, 1 << 20), bytes(model),
               "after truncate, extend, punch and overwrites F reads as the model")
    loaded = stats(mp, ctl)
    ok(loaded["zswpin"] > after["zswpin"], "F's pages came back from the tier (zswpin +%d)" % (
        loaded["zswpin"] - after["zswpin"]))
    fd = os.open(f, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    subprocess.run([ctl, mp, "drop-caches"], capture_output=True, check=True)
    empty = stats(mp, ctl)
    ok(empty["stored_pages"] == 0 and empty["Zswap"] == 0,
       "drop-caches emptied the tier (stored_pages %d, Zswap %d kB)" % (
           empty["stored_pages"], empty["Zswap"]))
    same_bytes(read_direct(f, 1 << 20), bytes(model),
               "after fsync and drop-caches F reads as the model from the image")
    diag("tier: zswpout %d zswpin %d same_filled %d pool_limit_hit %d lru_dropped %d" % (
        loaded["zswpout"], loaded["zswpin"], loaded["same_filled_pages"],
        loaded["pool_limit_hit"], loaded["lru_dropped_pages"]))
    os.unlink(f)


if __name__ == "__main__":
    guard(coherence, sys.argv[1], sys.argv[2])
    done()
