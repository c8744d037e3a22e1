#!/bin/bash
# tests/mount/perms-reserve.sh - the root reserve (tests/mount/perms_reserve.py)
# in both cache modes, on 16 MiB images made with mkfs.foliofs -m 10 and
# mounted -o allow_other: uid 65534 writes until ENOSPC, which leaves
# statfs's f_bavail at 0 and f_bfree at the reserve, and cannot take a
# reserved block for directory entries or an xattr block either; root then
# writes, makes a directory and an xattr block inside the reserve. The
# user's file and root's survive a remount; fsck clean.
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip_all "setpriv (util-linux) is not installed"

for mode in daemon kernel; do
	img=$T/img.$mode
	mp=$T/mnt.$mode
	mt_mkfs "$img" 4096 16M -m 10
	mt_mount_ok "$img" "$mp" "cache=$mode: mount -o allow_other" \
		-o allow_other,cache="$mode" || continue
	py_tap -- "$PYDIR/perms_reserve.py" setup "$mp"
	py_tap -u 65534:65534 -- "$PYDIR/perms_reserve.py" fill "$mp"
	py_tap -- "$PYDIR/perms_reserve.py" root "$mp"
	sum=$(file_sum "$mp/rootfile")
	size=$(stat -c %s "$mp/d/fill")
	mt_cycle "$img" "$mp" "cache=$mode" -o allow_other,cache="$mode" || continue
	is "$(file_sum "$mp/rootfile")" "$sum" "cache=$mode: root's file after a remount"
	is "$(stat -c %s "$mp/d/fill")" "$size" "cache=$mode: the user's file keeps its size"
	mt_umount_ok "$mp" "cache=$mode: unmounted at the end"
	mt_fsck_ok "$img" "cache=$mode: fsck clean at the end"
done
done_testing
