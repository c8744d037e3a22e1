#!/bin/bash
# tests/mount/bigdir.sh - a directory of 100,000 entries on a 4 KiB-block
# image (once, not per block size; tests/mount/bigdir.py): created and
# listed; after a remount every name looked up, 10,000 absent names miss,
# half unlinked; after another remount the other half is there; fsck clean
# at each step. Times are printed as "# time:" comments.
. "$(dirname "$0")/lib.sh"

N=${BIGDIR_ENTRIES:-100000}
img=$T/img
mp=$T/mnt
mt_mkfs "$img" 4096 1G
mt_mount "$img" "$mp" || bail "mount failed"
py_tap -- "$PYDIR/bigdir.py" create "$mp" "$N"
mt_cycle "$img" "$mp" "$N entries" || done_testing
py_tap -- "$PYDIR/bigdir.py" lookup "$mp" "$N"
mt_cycle "$img" "$mp" "half unlinked" || done_testing
is "$(find "$mp/big" -mindepth 1 | wc -l)" $((N / 2)) "after remount: $((N / 2)) entries left"
mt_umount_ok "$mp" "unmounted at the end"
mt_fsck_ok "$img" "fsck clean at the end"
done_testing
