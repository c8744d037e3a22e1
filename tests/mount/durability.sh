#!/bin/bash
# tests/mount/durability.sh - what fsync, fdatasync and fsyncdir promise,
# checked by killing the daemon with SIGKILL right after they return.
#
#  1. fsync of a new 1 MiB file, fdatasync of a new file and of an
#     overwrite (pgwrite_sync, journal_commits: fsync of an overwrite writes
#     its 2 pages and commits the metadata to the journal, fdatasync writes
#     only the 2 data pages, as only times changed), fsync of a
#     directory after creating 20 names in it; then
#     kill -9. The next mount replays the journal (the fsynced metadata
#     is in its log); after that fsck.foliofs finds no problem; the next
#     mount says the image was not cleanly unmounted; every fsynced byte and
#     name is there.
#  2. Four writer threads and three fsync threads on one file, each fsync on
#     its own descriptor: all finish, the file holds the last bytes each
#     writer wrote; after one more fsync and kill -9 it still does.
#  3. Write-back errors (test-only -o debug_corrupt_writes=0, and
#     `foliofs-ctl set debug_fail_writes=1|0`, which fails every file-data
#     write with EIO): fsync returns EIO once on every open file description
#     of the file, later fsyncs succeed once the device recovers, the data
#     that failed is on the image after it, wb_errors and wb_last_error show
#     the error.
. "$(dirname "$0")/lib.sh"

img=$T/img
mp=$T/mnt
mt_mkfs "$img" 4096 64M
[ -x "$CTL" ] || bail "$CTL is not built"

cat >"$PYDIR/durab_t.py" <<'EOF'
import os, sys, threading, subprocess, errno
sys.path.insert(0, os.path.dirname(__file__))
from lib import pattern
from tap import ok, is_, diag, done

def write_all(path, data, sync):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.pwrite(fd, data, 0)
    sync(fd)
    os.close(fd)

def stat(mp, name):
    out = subprocess.run([os.environ["CTL"], mp, "stats"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) == 2 and f[0] == name:
            return int(f[1])
    return -1

def read(path):
    with open(path, "rb") as f:
        return f.read()

def before(mp):
    write_all(mp + "/a", pattern(1, 0, 1 << 20), os.fsync)
    ok(True, "fsync of a new 1 MiB file returned")
    write_all(mp + "/b", pattern(2, 0, 300000), os.fdatasync)
    ok(True, "fdatasync of a new file returned")
    write_all(mp + "/o", pattern(3, 0, 65536), os.fsync)
    fd = os.open(mp + "/o", os.O_RDWR)
    os.pwrite(fd, pattern(5, 4096, 8192), 4096)
    s0, c0 = stat(mp, "pgwrite_sync"), stat(mp, "journal_commits")
    os.fsync(fd)
    s1, c1 = stat(mp, "pgwrite_sync"), stat(mp, "journal_commits")
    ok(s1 - s0 == 2 and c1 - c0 >= 1,
       "fsync of an overwrite writes the 2 pages and commits the metadata (%d pages, %d commits)"
       % (s1 - s0, c1 - c0))
    os.pwrite(fd, pattern(4, 4096, 8192), 4096)
    os.fdatasync(fd)
    is_(stat(mp, "pgwrite_sync") - s1, 2, "fdatasync of an overwrite writes its 2 pages only")
    os.close(fd)
    ok(True, "fdatasync of an overwrite returned")
    os.mkdir(mp + "/d")
    for i in range(20):
        os.close(os.open(mp + "/d/n%02d" % i, os.O_WRONLY | os.O_CREAT, 0o644))
    dfd = os.open(mp + "/d", os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(dfd)
    os.close(dfd)
    ok(True, "fsync of a directory with 20 new names returned")

def after(mp):
    is_(read(mp + "/a") == pattern(1, 0, 1 << 20), True, "the fsynced file survived kill -9")
    is_(read(mp + "/b") == pattern(2, 0, 300000), True, "the fdatasynced file survived")
    want = bytearray(pattern(3, 0, 65536))
    want[4096:12288] = pattern(4, 4096, 8192)
    is_(read(mp + "/o") == bytes(want), True, "the fdatasynced overwrite survived")
    is_(sorted(os.listdir(mp + "/d")), ["n%02d" % i for i in range(20)],
        "the fsynced directory's 20 names survived")

REGION = 1 << 20

def final_bytes():
    return b"".join(pattern(100 + w, w * REGION, REGION) for w in range(4))

def concurrent(mp):
    path = mp + "/c"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, 4 * REGION)
    stop = threading.Event()
    errs = []
    counts = [0, 0, 0]

    def writer(w):
        try:
            wfd = os.open(path, os.O_RDWR)
            for rnd in range(12):
                for off in range(0, REGION, 65536):
                    at = w * REGION + off
                    os.pwrite(wfd, pattern(10 * rnd + w, at, 65536), at)
            os.pwrite(wfd, pattern(100 + w, w * REGION, REGION), w * REGION)
            os.close(wfd)
        except OSError as e:
            errs.append(e)

    def syncer(s):
        try:
            sfd = os.open(path, os.O_RDWR)
            while not stop.is_set():
                (os.fdatasync if s == 2 else os.fsync)(sfd)
                counts[s] += 1
            os.close(sfd)
        except OSError as e:
            errs.append(e)

    ws = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    ss = [threading.Thread(target=syncer, args=(s,)) for s in range(3)]
    for t in ws + ss:
        t.start()
    for t in ws:
        t.join(300)
    stop.set()
    for t in ss:
        t.join(60)
    ok(not any(t.is_alive() for t in ws + ss), "4 writers and 3 fsync threads finished")
    is_(errs, [], "no call failed")
    diag("fsync calls: %r" % counts)
    ok(min(counts) > 0, "every fsync thread ran")
    os.fsync(fd)
    os.close(fd)
    is_(read(path) == final_bytes(), True, "the file holds each writer's last bytes")

def concurrent_after(mp):
    is_(read(mp + "/c") == final_bytes(), True, "and still does after kill -9")

def ctl(mp, *args):
    return subprocess.run([os.environ["CTL"], mp] + list(args), capture_output=True,
                          text=True).returncode

def fsync_err(fd):
    try:
        os.fsync(fd)
        return 0
    except OSError as e:
        return e.errno

def eio(mp):
    path = mp + "/e"
    data = pattern(7, 0, 65536)
    fd1 = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fd2 = os.open(path, os.O_RDWR)
    os.pwrite(fd1, data, 0)
    is_(ctl(mp, "set", "debug_fail_writes=1"), 0, "file-data writes now fail")
    is_(fsync_err(fd1), errno.EIO, "fsync on description 1: EIO")
    is_(ctl(mp, "set", "debug_fail_writes=0"), 0, "the device recovers")
    is_(fsync_err(fd1), 0, "fsync on description 1 again: success, once was enough")
    is_(fsync_err(fd2), errno.EIO, "fsync on description 2: EIO (it had not seen it)")
    is_(fsync_err(fd2), 0, "fsync on description 2 again: success")
    fd3 = os.open(path, os.O_RDWR)
    is_(fsync_err(fd3), 0, "a description opened after the error was seen: success")
    for fd in (fd1, fd2, fd3):
        os.close(fd)

def eio_after(mp):
    is_(read(mp + "/e") == pattern(7, 0, 65536), True,
        "the data whose write failed is on the image")

globals()[sys.argv[1]](sys.argv[2])
done()
EOF
chmod a+r "$PYDIR/durab_t.py"
export CTL


# --- 1 and 2: kill -9 after fsync -------------------------------------------
mt_mount "$img" "$mp" || bail "mount"
ok 0 "mounted"
py_tap -- "$PYDIR/durab_t.py" before "$mp"
check "daemon killed with SIGKILL, mount gone" mt_kill "$mp"
mt_crash_fsck "$img" "fsck finds no problem after kill -9 (fsynced state)"
mt_mount "$img" "$mp" || bail "mount after the crash"
ok 0 "mounted after the crash"
like "$(cat "$MT_LOG")" "not cleanly unmounted" "the daemon says it was not cleanly unmounted"
py_tap -- "$PYDIR/durab_t.py" after "$mp"
py_tap -- "$PYDIR/durab_t.py" concurrent "$mp"
check "daemon killed again" mt_kill "$mp"
mt_crash_fsck "$img" "fsck finds no problem after the second kill -9"
mt_mount "$img" "$mp" || bail "mount after the second crash"
ok 0 "mounted after the second crash"
py_tap -- "$PYDIR/durab_t.py" concurrent_after "$mp"
mt_umount_ok "$mp" "unmounted"
mt_fsck_ok "$img" "fsck clean"

# --- 3. write-back errors ---------------------------------------------------
if ! "$FOLIOFS" -h 2>&1 | grep -q debug_corrupt_writes; then
	skip "fsync EIO once per open file description (no test-only fault option)"
	done_testing
fi
mt_mount "$img" "$mp" -o debug_corrupt_writes=0,dirty_writeback_centisecs=0 || bail "mount"
ok 0 "mounted with the test-only fault wrapper, periodic writeback off"
errors0=$("$CTL" "$mp" stats | awk '$1 == "wb_errors" { print $2 }')
py_tap -- "$PYDIR/durab_t.py" eio "$mp"
errors1=$("$CTL" "$mp" stats | awk '$1 == "wb_errors" { print $2 }')
check "wb_errors moved ($errors0 -> $errors1)" test "$errors1" -gt "$errors0"
is "$("$CTL" "$mp" stats | awk '$1 == "wb_last_error" { print $2 }')" 5 "wb_last_error is EIO (5)"
mt_cycle "$img" "$mp" "after the errors" || bail "remount"
py_tap -- "$PYDIR/durab_t.py" eio_after "$mp"
mt_umount_ok "$mp" "unmounted at the end"
mt_fsck_ok "$img" "fsck clean at the end"
done_testing
