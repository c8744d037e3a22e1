#!/bin/bash
# tests/mount/perms-acl.sh - the permission model as three users other than
# root (tests/mount/perms_acl.py), on a mount made with -o allow_other: the
# owner (65534), a member of the file's group (65532) and anyone else
# (65533) get exactly the rights of their class on files and directories of
# every permission value (opening, executing, listing, creating, looking
# up); POSIX ACLs: a named user's entry limited by the mask, the mask
# widened, a default ACL inherited by a new file. Checked again after a
# remount; fsck clean.
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip_all "setpriv (util-linux) is not installed"
command -v setfacl >/dev/null || skip_all "setfacl (acl) is not installed"

img=$T/img
mp=$T/mnt
mt_mkfs "$img" 4096 32M
if mt_mount_ok "$img" "$mp" "mount -o allow_other" -o allow_other; then
	chmod 755 "$mp"
	py_tap -- "$PYDIR/perms_acl.py" setup "$mp"
	py_tap -u 65534:65534 -- "$PYDIR/perms_acl.py" owner "$mp"
	py_tap -u 65532:65532 -- "$PYDIR/perms_acl.py" group "$mp"
	py_tap -u 65533:65533 -- "$PYDIR/perms_acl.py" other "$mp"
	py_tap -- "$PYDIR/perms_acl.py" mask "$mp"
	py_tap -u 65533:65533 -- "$PYDIR/perms_acl.py" after "$mp"
	if mt_cycle "$img" "$mp" "remount" -o allow_other; then
		py_tap -u 65533:65533 -- "$PYDIR/perms_acl.py" after "$mp"
		py_tap -u 65532:65532 -- "$PYDIR/perms_acl.py" group "$mp"
		mt_umount_ok "$mp" "unmounted at the end"
		mt_fsck_ok "$img" "fsck clean at the end"
	fi
fi
done_testing
