#!/bin/bash
# tests/mount/ops.sh - every operation of the daemon on a real mount, with
# the errno POSIX gives on failure (tests/mount/ops.py), for block sizes 1,
# 2 and 4 KiB in the default cache mode and once with -o cache=kernel; then
# unmount, fsck, remount: every inode's metadata and every byte are
# unchanged; everything removed gives back the free space mkfs left; fsck
# is clean at the end.
. "$(dirname "$0")/lib.sh"

# run_ops BS CACHE
run_ops() {
	local bs=$1 cache=$2 img mp st
	local tag="B=$bs cache=$cache"
	img=$T/img.$bs.$cache
	mp=$T/mnt.$bs.$cache
	st=$T/state.$bs.$cache
	mt_mkfs "$img" "$bs" 64M
	mt_mount_ok "$img" "$mp" "$tag: mount" -o "cache=$cache" || return
	diag "$tag: operations"
	py_tap -- "$PYDIR/ops.py" build "$mp" "$bs" "$st"
	mt_cycle "$img" "$mp" "$tag" -o "cache=$cache" || return
	py_tap -- "$PYDIR/ops.py" verify "$mp" "$bs" "$st"
	mt_umount_ok "$mp" "$tag: unmounted at the end"
	mt_fsck_ok "$img" "$tag: fsck clean at the end"
}

for bs in 1024 2048 4096; do
	run_ops "$bs" daemon
done
run_ops 4096 kernel
done_testing
