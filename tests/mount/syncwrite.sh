#!/bin/bash
# tests/mount/syncwrite.sh - a write through a descriptor opened with O_SYNC
# or O_DSYNC, or with pwritev2's RWF_SYNC or RWF_DSYNC, is on the image when
# it returns: data, size and allocation, in both cache modes.
#
# In cache=daemon files are opened with direct_io and the kernel leaves the
# sync to the daemon (it passes O_SYNC/O_DSYNC in the write's flags); in
# cache=kernel it sends FUSE_FSYNC after the write itself. For each mode and
# each case of syncwrite.py (appends and overwrites with each flag, a new
# file, a write into a hole; and a plain write followed by `foliofs-ctl
# sync`), twice: one write, SIGKILL the daemon as soon as it returns (nothing
# else synced), drop the dead mount, fsck finds no problem (on a copy, once
# it replayed the journal: mt_crash_fsck), mount again, and the file holds
# exactly the expected bytes and size. A daemon that answered before the
# data was durable fails the check (the kill leaves the cache's dirty pages
# unwritten).
. "$(dirname "$0")/lib.sh"

ROUNDS=${SYNCWRITE_ROUNDS:-2}
img=$T/img
mp=$T/mnt
export CTL
ncases=$(PYTHONPATH=$PYDIR "$PY" "$PYDIR/syncwrite.py" count x) || bail "syncwrite.py count"

for mode in daemon kernel; do
	mt_mkfs "$img" 4096 64M
	opts=cache=$mode,cache_size=16M
	mt_mount "$img" "$mp" -o "$opts" || bail "mount ($mode)"
	is "$("$CTL" "$mp" get cache)" "$mode" "mounted with cache=$mode"
	py_tap -- "$PYDIR/syncwrite.py" prepare "$mp"
	for ((r = 0; r < ROUNDS; r++)); do
		for ((n = 0; n < ncases; n++)); do
			pid=$(mt_pid "$mp")
			py_tap -- "$PYDIR/syncwrite.py" case "$mp" "$pid" "$n" "$r"
			check "$mode: daemon killed, dead mount dropped" mt_kill "$mp"
			mt_crash_fsck "$img" "$mode: fsck finds no problem after the kill (journal replayed)"
			mt_mount "$img" "$mp" -o "$opts" || bail "mount after the kill ($mode)"
			py_tap -- "$PYDIR/syncwrite.py" check "$mp" "$n" "$r"
		done
	done
	mt_umount_ok "$mp" "$mode: unmounted"
	mt_fsck_ok "$img" "$mode: fsck clean"
done
done_testing
