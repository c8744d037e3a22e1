#!/bin/bash
# tests/mount/perms-suid.sh - the privilege bits (tests/mount/perms_suid.py)
# in both cache modes, on a mount made with -o allow_other: a write,
# pwritev, a store through a shared mapping, truncate, ftruncate, fallocate
# and copy_file_range by uid 65534 (setpriv, no supplementary groups), and a
# write and truncate by uid 0 without CAP_FSETID, clear S_ISUID, and S_ISGID
# when group execute is set; root's write, mapped store and truncate keep
# them; chown clears them whoever asks, with Linux's rule for S_ISGID without
# group execute (the caller's group). Modes checked at once, after a remount
# (on the image) and with a clean fsck.
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip_all "setpriv (util-linux) is not installed"

for mode in daemon kernel; do
	img=$T/img.$mode
	mp=$T/mnt.$mode
	mt_mkfs "$img" 4096 32M
	mt_mount_ok "$img" "$mp" "cache=$mode: mount -o allow_other" \
		-o allow_other,cache="$mode" || continue
	py_tap -- "$PYDIR/perms_suid.py" setup "$mp"
	py_tap -u 65534:65534 -- "$PYDIR/perms_suid.py" user "$mp"
	sub_tap setpriv --bounding-set=-fsetid --inh-caps=-fsetid -- env "PYTHONPATH=$PYDIR" \
		"$PY" -u "$PYDIR/perms_suid.py" nofsetid "$mp"
	py_tap -- "$PYDIR/perms_suid.py" root "$mp"
	py_tap -- "$PYDIR/perms_suid.py" check "$mp"
	mt_cycle "$img" "$mp" "cache=$mode" -o allow_other,cache="$mode" || continue
	py_tap -- "$PYDIR/perms_suid.py" check "$mp"
	mt_umount_ok "$mp" "cache=$mode: unmounted at the end"
	mt_fsck_ok "$img" "cache=$mode: fsck clean at the end"
done
done_testing
