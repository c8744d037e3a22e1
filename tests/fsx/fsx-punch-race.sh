#!/bin/bash
# tests/fsx/fsx-punch-race.sh - regression test for a race the fsx suite found:
# punch hole and zero range must not leave the old data in the daemon's cache
# when readers run at the same time (tests/fsx/punch_race.py). 1 KiB blocks
# (a page holds blocks on both sides of the range's edge) and 4 KiB blocks,
# cache=daemon, so every read() reaches the daemon. The race is hit within a
# few dozen iterations when it exists; with it closed the test cannot fail.
. "$top_srcdir/tests/fsx/fsx-mount-lib.sh"

for bs in 1024 4096; do
	img=$T/img.$bs
	mp=$T/mnt.$bs
	mt_mkfs "$img" "$bs" 32M
	if ! mt_mount "$img" "$mp" -o cache=daemon,cache_size=16M; then
		ok 1 "B=$bs: mount"
		continue
	fi
	py_tap -- "$srcdir/tests/fsx/punch_race.py" "$mp" "$CTL" 40
	mt_umount_ok "$mp" "B=$bs: unmounted"
	mt_fsck_ok "$img" "B=$bs: fsck clean"
done
done_testing
