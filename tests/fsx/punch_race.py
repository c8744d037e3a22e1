"""tests/fsx/punch_race.py MOUNTPOINT CTL ITERATIONS - punch and zero range
against concurrent readers (run by fsx-punch-race.sh).

Each iteration writes a 4 MiB file of 0x11 bytes, fsyncs it, drops the
daemon's clean pages, then starts two threads reading the middle 2 MiB over
and over while the main thread punches a hole in it (or zeroes it with
FALLOC_FL_ZERO_RANGE), at an offset that is not block-aligned. Once the
readers have stopped, the range must read back as zeros: a reader that filled
a page from the old blocks between the cache's truncation and the block
deallocation would leave their data in the cache. Prints one TAP line per
mode (tests/lib/tap.py); needs tests/mount/lib.py and tests/lib/tap.py on
the module path (py_tap gives both).
"""
import os
import subprocess
import sys
import threading

from lib import FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, fallocate
from tap import done, ok

SIZE = 4 << 20
OFF, LEN = (1 << 20) + 1234, 2 << 20


def reader(path, stop):
    fd = os.open(path, os.O_RDONLY)
    while not stop.is_set():
        for o in range(OFF, OFF + LEN, 128 << 10):
            os.pread(fd, 128 << 10, o)
    os.close(fd)


def one(fd, path, mp, ctl, mode):
    """Returns the first stale offset, or None."""
    os.pwrite(fd, b"\x11" * SIZE, 0)
    os.fsync(fd)
    subprocess.run([ctl, mp, "drop-caches"], stdout=subprocess.DEVNULL, check=True)
    stop = threading.Event()
    threads = [threading.Thread(target=reader, args=(path, stop)) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        fallocate(fd, mode, OFF, LEN)
    finally:
        stop.set()
        for t in threads:
            t.join()
    data = os.pread(fd, LEN, OFF)
    bad = next((i for i in range(0, LEN, 64) if data[i]), None)
    return None if bad is None else OFF + bad


def main():
    mp, ctl, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3])
    path = os.path.join(mp, "race")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    for name, mode in (("punch hole", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE),
                       ("zero range", FALLOC_FL_ZERO_RANGE)):
        stale = []
        for it in range(iterations):
            bad = one(fd, path, mp, ctl, mode)
            if bad is not None:
                stale.append("%d (0x%x)" % (it, bad))
        if stale:
            ok(False, "%s under concurrent reads: stale data after iterations %s"
               % (name, ", ".join(stale[:8])))
        else:
            ok(True, "%s under concurrent reads: zeros after all %d iterations"
               % (name, iterations))
    os.close(fd)
    done()


if __name__ == "__main__":
    main()
