#!/bin/bash
# tests/mount/mountfuse.sh - mounting through mount.fuse3 and mount(8), as
# `mount -t fuse.foliofs IMAGE DIR` and /etc/fstab lines do, with daemon/foliofs
# reachable as "foliofs" through a temporary directory of symlinks:
#  - mount.fuse3 IMAGE DIR -o rw -t fuse.foliofs (what mount(8) runs), with
#    PATH leading to the symlink; /proc/mounts shows IMAGE and fuse.foliofs;
#  - the same with options (cache, cache_size, allow_other, ro and generic
#    ones mount(8) passes along);
#  - mount(8) itself with -t fuse and the helper named by its absolute path
#    ("/dir/foliofs#IMAGE"), on the command line and from an fstab file
#    (mount -T), unmounted with umount(8);
#  - `mount -t fuse.foliofs` and a "fuse.foliofs" fstab line when foliofs is
#    installed where mount(8) looks (it clears PATH before running helpers,
#    so a temporary directory cannot be used there); skipped otherwise;
#  - a bad image through mount.fuse3: non-zero exit, nothing mounted.
# Every daemon is waited for after unmount; fsck clean after each mount.
. "$(dirname "$0")/lib.sh"

MOUNT_FUSE=$(command -v mount.fuse3 || echo /sbin/mount.fuse3)
[ -x "$MOUNT_FUSE" ] || skip_all "mount.fuse3 is not installed"
bindir=$T/bin
mkdir "$bindir"
ln -s "$FOLIOFS" "$bindir/foliofs"
img=$T/img
mp=$T/mnt
mkdir "$mp"
mt_mkfs "$img" 4096 64M

# mounted_as DESC TYPE [OPTION]: /proc/mounts names the image as the source,
# TYPE as the type, and has OPTION among the options.
mounted_as() {
	local line
	line=$(awk -v mp="$mp" '$2 == mp' /proc/mounts)
	is "$(echo "$line" | awk '{ print $1 " " $3 }')" "$img $2" "$1: /proc/mounts: $img $2"
	[ -n "${3:-}" ] && like "$(echo "$line" | awk '{ print $4 }')" "(^|,)$3(,|$)" \
		"$1: /proc/mounts shows $3"
}

# shellcheck disable=SC2317 # (called through check)
not_writable() {
	! (: >"$1") 2>/dev/null
}

# through DESC UMOUNT-CMD MOUNT-CMD...: mount with a command, adopt the
# daemon, write and read a file, unmount, fsck.
through() {
	local desc=$1 um=$2
	shift 2
	"$@" >"$T/mount.out" 2>&1
	local r=$?
	if [ "$r" != 0 ] || ! is_mounted "$mp"; then
		ok 1 "$desc: mounts (exit $r)"
		show_file "$T/mount.out"
		return 1
	fi
	ok 0 "$desc: mounts"
	check "$desc: the daemon is found" mt_adopt "$mp"
	mounted_as "$desc" fuse.foliofs
	echo "$desc" >"$mp/last"
	is "$(cat "$mp/last")" "$desc" "$desc: a file written and read back"
	# shellcheck disable=SC2086 # (the unmount command is split on purpose)
	mt_umount_ok "$mp" "$desc: unmounted with $um, daemon exited" $um
	mt_fsck_ok "$img" "$desc: fsck clean"
}

through "mount.fuse3 -t fuse.foliofs" "fusermount3 -u" \
	env PATH="$bindir:$PATH" "$MOUNT_FUSE" "$img" "$mp" -o rw -t fuse.foliofs

opts=rw,nosuid,nodev,noatime,cache=kernel,cache_size=32M,allow_other
if env PATH="$bindir:$PATH" "$MOUNT_FUSE" "$img" "$mp" -o "$opts" -t fuse.foliofs \
	>"$T/mount.out" 2>&1 && is_mounted "$mp"; then
	ok 0 "mount.fuse3 -o $opts: mounts"
	mt_adopt "$mp"
	mounted_as "with options" fuse.foliofs allow_other
	like "$(tr '\0' ' ' <"/proc/$(mt_pid "$mp")/cmdline" 2>/dev/null)" \
		"cache=kernel" "with options: the daemon got cache=kernel"
	is "$(cat "$mp/last")" "mount.fuse3 -t fuse.foliofs" "with options: the earlier file is there"
	mt_umount_ok "$mp" "with options: unmounted" umount
	mt_fsck_ok "$img" "with options: fsck clean"
else
	ok 1 "mount.fuse3 -o $opts: mounts"
	show_file "$T/mount.out"
fi

sum0=$(file_sum "$img")
if env PATH="$bindir:$PATH" "$MOUNT_FUSE" "$img" "$mp" -o ro -t fuse.foliofs \
	>"$T/mount.out" 2>&1 && is_mounted "$mp"; then
	ok 0 "mount.fuse3 -o ro: mounts"
	mt_adopt "$mp"
	mounted_as "read-only" fuse.foliofs ro
	check "read-only: a write fails" not_writable "$mp/x"
	mt_umount_ok "$mp" "read-only: unmounted"
	is "$(file_sum "$img")" "$sum0" "read-only: the image is unchanged"
else
	ok 1 "mount.fuse3 -o ro: mounts"
	show_file "$T/mount.out"
fi

through "mount -t fuse $bindir/foliofs#IMAGE" umount \
	mount -t fuse "$bindir/foliofs#$img" "$mp"

printf '%s %s fuse noauto,cache=daemon,cache_size=16M 0 0\n' "$bindir/foliofs#$img" "$mp" \
	>"$T/fstab"
through "an fstab line (mount -T FSTAB DIR)" umount mount -T "$T/fstab" "$mp"

truncate -s 16M "$T/zeros"
env PATH="$bindir:$PATH" "$MOUNT_FUSE" "$T/zeros" "$mp" -o rw -t fuse.foliofs \
	>"$T/mount.out" 2>&1
r=$?
ok $((r == 0)) "a bad image through mount.fuse3: non-zero exit (got $r)"
check "a bad image: nothing mounted" not_mounted "$mp"

# mount(8) runs helpers without PATH; /bin/sh then searches its default.
installed=$(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	sh -c 'command -v foliofs')
if [ -n "$installed" ]; then
	diag "foliofs found where mount(8) looks: $installed"
	through "mount -t fuse.foliofs" umount mount -t fuse.foliofs "$img" "$mp"
	printf '%s %s fuse.foliofs noauto,cache=kernel 0 0\n' "$img" "$mp" >"$T/fstab2"
	through "a fuse.foliofs fstab line" umount mount -T "$T/fstab2" "$mp"
else
	skip "mount -t fuse.foliofs: foliofs is not installed where mount(8) looks"
	skip "a fuse.foliofs fstab line: foliofs is not installed where mount(8) looks"
fi
done_testing
