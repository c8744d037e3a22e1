#!/bin/bash
# tests/mount/perms.sh - permissions for users other than root
# (tests/mount/perms.py), for block sizes 1, 2 and 4 KiB on a mount made
# with -o allow_other: uid 65534 and 65533 (setpriv, no supplementary
# groups) get EACCES and EPERM where POSIX says and succeed where it
# allows (modes, directory search and list rights, sticky and setgid
# directories, owners, times, xattrs, exec); the owners survive a remount;
# without allow_other another user cannot even stat the mount. fsck clean.
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip_all "setpriv (util-linux) is not installed"

for bs in 1024 2048 4096; do
	img=$T/img.$bs
	mp=$T/mnt.$bs
	mt_mkfs "$img" "$bs" 64M
	mt_mount_ok "$img" "$mp" "B=$bs: mount -o allow_other" -o allow_other || continue
	py_tap -- "$PYDIR/perms.py" setup "$mp"
	py_tap -u 65534:65534 -- "$PYDIR/perms.py" nobody "$mp"
	py_tap -u 65533:65533 -- "$PYDIR/perms.py" other "$mp"
	mt_cycle "$img" "$mp" "B=$bs" -o allow_other || continue
	py_tap -- "$PYDIR/perms.py" final "$mp"
	is "$(stat -c '%u:%g %a' "$mp/pub/mine")" "65534:65534 600" \
		"B=$bs: nobody's file after remount: owner and mode"
	is "$(stat -c '%g %a' "$mp/sgid/d")" "100 2755" "B=$bs: the setgid subdirectory after remount"
	mt_umount_ok "$mp" "B=$bs: unmounted at the end"
	mt_fsck_ok "$img" "B=$bs: fsck clean at the end"
done

img=$T/img.private
mp=$T/mnt.private
mt_mkfs "$img" 4096 16M
if mt_mount "$img" "$mp"; then
	py_tap -u 65534:65534 -- "$PYDIR/perms.py" denied "$mp"
	mt_umount_ok "$mp" "without allow_other: unmounted"
	mt_fsck_ok "$img" "without allow_other: fsck clean"
else
	ok 1 "mount without allow_other"
fi
done_testing
