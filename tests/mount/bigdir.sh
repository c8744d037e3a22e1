#!/bin/bash
# tests/mount/bigdir.sh - a directory of BIGDIR_ENTRIES (100,000; make
# check-load: 1,000,000) entries on a 4 KiB-block image (once, not per block
# size; tests/mount/bigdir.py): created and listed; after a remount every
# name looked up, 10,000 absent names miss, half unlinked; after another
# remount the other half is there, then removed with the directory, giving
# back every inode and block; fsck clean at each step. Times are printed as
# "# time:" comments.
. "$(dirname "$0")/lib.sh"

N=${BIGDIR_ENTRIES:-100000}
img=$T/img
mp=$T/mnt
if [ "$N" -gt 100000 ]; then
	mt_mkfs "$img" 4096 4G -N $((N + 10000))
else
	mt_mkfs "$img" 4096 1G
fi
mt_mount "$img" "$mp" || bail "mount failed"
py_tap -- "$PYDIR/bigdir.py" create "$mp" "$N"
mt_cycle "$img" "$mp" "$N entries" || done_testing
py_tap -- "$PYDIR/bigdir.py" lookup "$mp" "$N"
mt_cycle "$img" "$mp" "half unlinked" || done_testing
is "$(find "$mp/big" -mindepth 1 | wc -l)" $((N / 2)) "after remount: $((N / 2)) entries left"
py_tap -- "$PYDIR/bigdir.py" remove "$mp" "$N"
mt_cycle "$img" "$mp" "all removed" || done_testing
mt_umount_ok "$mp" "unmounted at the end"
mt_fsck_ok "$img" "fsck clean at the end"
done_testing
