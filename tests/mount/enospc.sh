#!/bin/bash
# tests/mount/enospc.sh - fill a 32 MiB image to ENOSPC and free it again
# (tests/mount/enospc.py), for block sizes 1, 2 and 4 KiB: data blocks, then
# inodes and directory space; every refused operation leaves nothing
# behind; fsck is clean while full; after a remount the data is intact and
# removing everything brings statfs and df back to their first values, which
# a further remount keeps.
. "$(dirname "$0")/lib.sh"

df_line() {
	df -B1 --output=size,used,avail,itotal,iused,iavail "$1" | tail -n 1
}

for bs in 1024 2048 4096; do
	img=$T/img.$bs
	mp=$T/mnt.$bs
	st=$T/state.$bs
	mt_mkfs "$img" "$bs" 32M -N 512
	mt_mount_ok "$img" "$mp" "B=$bs: mount" || continue
	df0=$(df_line "$mp")
	py_tap -- "$PYDIR/enospc.py" fill "$mp" "$bs" "$st"
	mt_cycle "$img" "$mp" "B=$bs full" || continue
	py_tap -- "$PYDIR/enospc.py" check "$mp" "$bs" "$st"
	is "$(df_line "$mp")" "$df0" "B=$bs: df is back to its first values"
	mt_cycle "$img" "$mp" "B=$bs emptied" || continue
	py_tap -- "$PYDIR/enospc.py" same "$mp" "$bs" "$st"
	is "$(df_line "$mp")" "$df0" "B=$bs: df after the remount"
	mt_umount_ok "$mp" "B=$bs: unmounted at the end"
	mt_fsck_ok "$img" "B=$bs: fsck clean at the end"
done
done_testing
