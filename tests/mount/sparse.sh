#!/bin/bash
# tests/mount/sparse.sh - a sparse file with data at 0, 5 GiB, 1 TiB and
# 2 TiB on a 64 MiB image (tests/mount/sparse.py), for block sizes 1, 2 and
# 4 KiB: size, st_blocks, data, zeros in the holes, SEEK_DATA/SEEK_HOLE, the
# format's largest offset and EFBIG past it; the same after a remount;
# truncate and punch-hole free the blocks; fsck clean.
. "$(dirname "$0")/lib.sh"

for bs in 1024 2048 4096; do
	img=$T/img.$bs
	mp=$T/mnt.$bs
	mt_mkfs "$img" "$bs" 64M
	mt_mount_ok "$img" "$mp" "B=$bs: mount" || continue
	py_tap -- "$PYDIR/sparse.py" build "$mp" "$bs" "$T/state.$bs"
	mt_cycle "$img" "$mp" "B=$bs" || continue
	py_tap -- "$PYDIR/sparse.py" verify "$mp" "$bs" "$T/state.$bs"
	mt_umount_ok "$mp" "B=$bs: unmounted at the end"
	mt_fsck_ok "$img" "B=$bs: fsck clean at the end"
done
done_testing
