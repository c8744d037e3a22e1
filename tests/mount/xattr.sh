#!/bin/bash
# tests/mount/xattr.sh - extended attributes (tests/mount/xattr.py) and POSIX
# ACLs, for block sizes 1, 2 and 4 KiB, mounted with -o allow_other:
# user./trusted./security. attributes with their errors and size limits;
# setfacl/getfacl, the mode following the ACL mask and chmod changing the
# mask, minimal ACLs kept as the mode alone, default ACL inheritance (umask
# ignored), access decided by the ACL for another user; everything
# unchanged after a remount; fsck clean.
. "$(dirname "$0")/lib.sh"

if ! command -v setfacl >/dev/null || ! command -v getfacl >/dev/null; then
	skip_all "setfacl/getfacl (package acl) are not installed"
fi
command -v getfattr >/dev/null || skip_all "getfattr (package attr) is not installed"

as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}
# acl FILE / acl_default DIR: the access or default ACL on one line.
acl() {
	getfacl -cnpEa "$@" 2>&1 | grep -v '^$' | paste -sd' '
}
acl_default() {
	getfacl -cnpEd "$@" 2>&1 | grep -v '^$' | paste -sd' '
}
# shellcheck disable=SC2317 # (helpers called through check)
quiet() {
	"$@" >/dev/null
}
# has_xattr NAME FILE / no_xattr NAME FILE
# shellcheck disable=SC2317
has_xattr() {
	getfattr -h -m - --absolute-names "$2" 2>/dev/null | grep -qx "$1"
}
# shellcheck disable=SC2317
no_xattr() {
	! has_xattr "$@"
}

# acl_access MP BS: the access ACL, the mode it sets, and another user.
acl_access() {
	local mp=$1 tag="B=$2" f=$1/acl
	echo secret >"$f"
	chmod 0640 "$f"
	check "$tag: setfacl -m u:65534:rw,g:65534:r" setfacl -m u:65534:rw,g:65534:r "$f"
	is "$(acl "$f")" \
		"user::rw- user:65534:rw- group::r-- group:65534:r-- mask::rw- other::---" \
		"$tag: getfacl shows the entries and the mask"
	is "$(stat -c %a "$f")" 660 "$tag: the mode's group bits are the mask"
	check "$tag: the ACL is the system.posix_acl_access attribute" \
		has_xattr system.posix_acl_access "$f"
	check "$tag: nobody reads through its ACL entry" quiet as_nobody cat "$f"
	check "$tag: nobody writes through its ACL entry" as_nobody sh -c "echo x >>'$f'"
	chmod 0640 "$f"
	is "$(acl "$f")" \
		"user::rw- user:65534:rw- group::r-- group:65534:r-- mask::r-- other::---" \
		"$tag: chmod 0640 sets the mask to r--"
	check "$tag: nobody still reads (mask r--)" quiet as_nobody cat "$f"
	run_err=$(as_nobody sh -c "echo x >>'$f'" 2>&1)
	like "$run_err" "Permission denied" "$tag: nobody cannot write past the mask: EACCES"
	chmod 0600 "$f"
	run_err=$(as_nobody cat "$f" 2>&1)
	like "$run_err" "Permission denied" "$tag: chmod 0600 (mask ---): nobody cannot read"
	setfacl -m m::rw "$f"
	is "$(stat -c %a "$f")" 660 "$tag: setfacl -m m::rw sets the group bits"
	check "$tag: setfacl -b" setfacl -b "$f"
	is "$(acl "$f")" "user::rw- group::r-- other::---" "$tag: -b leaves the base entries"
	is "$(stat -c %a "$f")" 640 "$tag: -b: the mode's group bits are the group entry"
	check "$tag: -b removes system.posix_acl_access" no_xattr system.posix_acl_access "$f"
	setfacl --set u::rwx,g::r-x,o::- "$f"
	is "$(stat -c %a "$f")" 750 "$tag: a minimal ACL becomes the mode"
	check "$tag: a minimal ACL is not stored as an attribute" \
		no_xattr system.posix_acl_access "$f"
}

# acl_inherit MP BS: inheritance of a directory's default ACL.
acl_inherit() {
	local mp=$1 tag="B=$2" d=$1/dd
	mkdir "$d"
	check "$tag: setfacl -d -m on a directory" \
		setfacl -m u:65534:rwx,d:u::rwx,d:u:65534:rwx,d:g::r-x,d:o::- "$d"
	is "$(acl_default "$d")" "user::rwx user:65534:rwx group::r-x mask::rwx other::---" \
		"$tag: getfacl -d shows the default ACL"
	(umask 022 && : >"$d/f" && mkdir "$d/sub" && mkfifo "$d/fifo")
	is "$(acl "$d/f")" "user::rw- user:65534:rwx group::r-x mask::rw- other::---" \
		"$tag: a new file inherits the default ACL, masked by its create mode"
	is "$(stat -c %a "$d/f")" 660 "$tag: the new file's mode follows the ACL (umask ignored)"
	is "$(acl "$d/sub")" "user::rwx user:65534:rwx group::r-x mask::rwx other::---" \
		"$tag: a new directory inherits the access ACL"
	is "$(acl_default "$d/sub")" "user::rwx user:65534:rwx group::r-x mask::rwx other::---" \
		"$tag: a new directory inherits the default ACL"
	is "$(stat -c %a "$d/sub")" 770 "$tag: the new directory's mode follows the ACL"
	is "$(stat -c %a "$d/fifo")" 660 "$tag: a new fifo's mode follows the ACL"
	check "$tag: nobody creates a file through the directory's ACL" \
		as_nobody sh -c "echo mine >'$d/sub/byn'"
	is "$(acl "$d/sub/byn")" "user::rw- user:65534:rwx group::r-x mask::rw- other::---" \
		"$tag: nobody's file inherits too"
	is "$(stat -c %u:%g "$d/sub/byn")" 65534:65534 "$tag: nobody's file is owned by nobody"
	mkdir "$mp/plain"
	(umask 027 && : >"$mp/plain/f")
	is "$(stat -c %a "$mp/plain/f")" 640 "$tag: without a default ACL the umask applies"
}

for bs in 1024 2048 4096; do
	img=$T/img.$bs
	mp=$T/mnt.$bs
	mt_mkfs "$img" "$bs" 64M
	mt_mount_ok "$img" "$mp" "B=$bs: mount -o allow_other" -o allow_other || continue
	py_tap -- "$PYDIR/xattr.py" build "$mp" "$bs" "$T/state.$bs"
	acl_access "$mp" "$bs"
	acl_inherit "$mp" "$bs"
	(cd "$mp" && getfacl -R -n -p . 2>&1) >"$T/acls.$bs"
	(cd "$mp" && getfattr -R -h -d -m - . 2>&1) >"$T/xattrs.$bs"
	py_tap -- -c "import lib; lib.snapshot('$mp', save='$T/state2.$bs')"
	mt_cycle "$img" "$mp" "B=$bs" -o allow_other || continue
	py_tap -- "$PYDIR/xattr.py" verify "$mp" "$bs" "$T/state2.$bs"
	(cd "$mp" && getfacl -R -n -p . 2>&1) >"$T/acls2.$bs"
	(cd "$mp" && getfattr -R -h -d -m - . 2>&1) >"$T/xattrs2.$bs"
	check "B=$bs: getfacl -R unchanged after remount" cmp -s "$T/acls.$bs" "$T/acls2.$bs"
	check "B=$bs: getfattr -R -d -m - unchanged after remount" \
		cmp -s "$T/xattrs.$bs" "$T/xattrs2.$bs"
	is "$(acl "$mp/dd/sub/byn")" "user::rw- user:65534:rwx group::r-x mask::rw- other::---" \
		"B=$bs: an inherited ACL after remount"
	mt_umount_ok "$mp" "B=$bs: unmounted at the end"
	mt_fsck_ok "$img" "B=$bs: fsck clean at the end"
done
done_testing
