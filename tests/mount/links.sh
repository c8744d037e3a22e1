#!/bin/bash
# tests/mount/links.sh - hard links and link counts (tests/mount/links.py),
# for block sizes 1, 2 and 4 KiB: links of files, 1000 links of one inode,
# directory link counts through mkdir, rmdir and renames; after a remount
# the counts, inodes and data are unchanged and unlinking counts down; fsck
# clean after each step.
. "$(dirname "$0")/lib.sh"

for bs in 1024 2048 4096; do
	img=$T/img.$bs
	mp=$T/mnt.$bs
	mt_mkfs "$img" "$bs" 64M
	mt_mount_ok "$img" "$mp" "B=$bs: mount" || continue
	py_tap -- "$PYDIR/links.py" build "$mp" "$T/state.$bs"
	mt_cycle "$img" "$mp" "B=$bs" || continue
	py_tap -- "$PYDIR/links.py" verify "$mp" "$T/state.$bs"
	mt_umount_ok "$mp" "B=$bs: unmounted at the end"
	mt_fsck_ok "$img" "B=$bs: fsck clean at the end"
done
done_testing
