#!/bin/bash
# tests/mount/rename.sh - every rename case (tests/mount/rename.py) for block
# sizes 1, 2 and 4 KiB: plain, overwrite, directory over empty directory,
# RENAME_NOREPLACE, RENAME_EXCHANGE, into its own subtree (EINVAL),
# ENOTEMPTY, EISDIR, ENOTDIR, missing names; the result survives a remount;
# fsck clean after each step.
. "$(dirname "$0")/lib.sh"

for bs in 1024 2048 4096; do
	img=$T/img.$bs
	mp=$T/mnt.$bs
	mt_mkfs "$img" "$bs" 64M
	mt_mount_ok "$img" "$mp" "B=$bs: mount" || continue
	py_tap -- "$PYDIR/rename.py" build "$mp" "$T/state.$bs"
	mt_cycle "$img" "$mp" "B=$bs" || continue
	py_tap -- "$PYDIR/rename.py" verify "$mp" "$T/state.$bs"
	mt_umount_ok "$mp" "B=$bs: unmounted at the end"
	mt_fsck_ok "$img" "B=$bs: fsck clean at the end"
done
done_testing
