#!/bin/bash
# tests/mount/lies.sh - images that lie: valid checksums around values that
# point file data at metadata, break a tree's order or exceed their limits
# (built by tests/tools/mkimage -c lie-*, and its meta, range and order).
# For each, on a real mount: the operation that meets the lie fails with
# EIO; the daemon's log has one "corruption" line naming the inode; the
# superblock on the image has ERRORS while still mounted; with the default
# errors=remount-ro a write then gets EROFS and an fsync of a file created
# before the lie (left uncommitted: commit=3600) gets EIO, with
# errors=continue both succeed; foliofs-ctl stats says fs_errors 1; the daemon is alive and
# unmounts cleanly (exit 0); fsck.foliofs -n reports the errors state and
# the damage; and a read-write mount is refused. Bad errors= values are
# refused with a clear line.
# shellcheck disable=SC2154
. "$(dirname "$0")/lib.sh"

MKIMAGE=$builddir/tests/tools/mkimage
[ -x "$MKIMAGE" ] || bail "$MKIMAGE is not built"
mp=$T/mnt
img=$T/img
mkdir -p "$mp"

build() {
	rm -f "$img"
	mt_mkfs "$img" 1024 64M
	"$MKIMAGE" -c "$1" "$img" >/dev/null || bail "mkimage -c $1 failed"
}

# sb_errors: the superblock on the image (s_state at 0x4E) has ERRORS.
sb_errors() {
	local st
	st=$(od -An -tu2 -j 78 -N 2 "$img" | tr -d ' ')
	[ $((st & 2)) -ne 0 ]
}

# shellcheck disable=SC2317 # (called through check)
isnt_zero() {
	[ "$1" != 0 ]
}

# trigger LIE: the operation that meets the lie (prints what it says).
trigger() {
	case $1 in
	lie-bitmap | lie-sb | meta | range | lie-size) cat "$mp/small" ;;
	lie-mode) stat "$mp/small" ;;
	order | lie-overlap | lie-zerolen | lie-idxchild) cat "$mp/frag" ;;
	lie-dirent-ino | lie-dirent-len | lie-dir-used) ls "$mp/big" ;;
	lie-xattr)
		"$PY" -c 'import os, sys
try:
    os.listxattr(sys.argv[1])
except OSError as e:
    print(e, file=sys.stderr)' "$mp/xattrs"
		;;
	lie-bmmeta) dd if=/dev/zero of="$mp/new" bs=4k count=8 conv=fsync status=none ;;
	esac
}

# fsync_file PATH: "ok", or "errno N" when fsync(2) fails.
fsync_file() {
	"$PY" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    os.fsync(fd)
    print("ok")
except OSError as e:
    print("errno", e.errno)' "$1"
}

# one LIE MODE: the whole sequence on a fresh image (MODE remount-ro or
# continue; remount-ro is the default and is not passed).
one() {
	local lie=$1 mode=$2 what pid out
	local -a opts=()
	what="$lie, errors=$mode"
	# no periodic commit: a change made before the lie stays uncommitted
	opts=(-o commit=3600)
	[ "$mode" = continue ] && opts+=(-o errors=continue)
	build "$lie"
	mt_mount_ok "$img" "$mp" "$what: mounts" "${opts[@]}" || return
	pid=$(mt_get pid "$mp")
	# (lie-bmmeta, remount-ro: the mount found it, nothing can be made)
	[ "$lie/$mode" = lie-bmmeta/remount-ro ] || touch "$mp/pending"
	out=$(trigger "$lie" 2>&1 >/dev/null)
	if [ "$lie/$mode" = lie-bmmeta/remount-ro ]; then
		# freeing the orphan mkimage leaves reads that bitmap at mount
		like "$out" "Read-only file system" "$what: the mount found it: EROFS"
	else
		like "$out" "Input/output error|Errno 5" "$what: the operation fails with EIO"
	fi
	like "$(grep -c 'foliofs: corruption (.*inode [0-9]*)' "$MT_LOG")" "^[1-9]" \
		"$what: the log has a corruption line"
	diag "$(grep -m1 'foliofs: corruption' "$MT_LOG")"
	if [ "$mode" = continue ]; then
		like "$(grep 'foliofs: corruption' "$MT_LOG" | head -1)" "continuing" \
			"$what: it says it continues"
	else
		like "$(grep 'foliofs: corruption' "$MT_LOG" | head -1)" "now read-only" \
			"$what: it says it is now read-only"
	fi
	if [ "$lie/$mode" != lie-bmmeta/remount-ro ]; then
		out=$(fsync_file "$mp/pending")
		if [ "$mode" = continue ]; then
			is "$out" ok "$what: fsync of a file made before it: still commits"
		else
			is "$out" "errno 5" "$what: fsync of a file made before it (lost): EIO"
		fi
	fi
	check "$what: ERRORS is on the image while mounted" sb_errors
	is "$(ctl_stat "$mp" fs_errors)" 1 "$what: foliofs-ctl stats: fs_errors 1"
	out=$(touch "$mp/after" 2>&1)
	if [ "$mode" = continue ]; then
		is "$out" "" "$what: a new file can still be made"
		# (with the bitmap lie, every allocation in that group fails again)
		if [ "$lie" != lie-bmmeta ]; then
			out=$( (echo data >"$mp/after") 2>&1)
			is "$out$(cat "$mp/after" 2>&1)" data "$what: ... written and read back"
		fi
	else
		like "$out" "Read-only file system" "$what: a write gets EROFS"
	fi
	check "$what: the daemon is alive" pid_alive "$pid"
	mt_umount_ok "$mp" "$what: unmounts, daemon exit 0"
	"$FSCK" -n "$img" >"$T/fsck.out" 2>&1
	out=$?
	check "$what: fsck -n finds problems (exit $out)" isnt_zero "$out"
	like "$(cat "$T/fsck.out")" "recorded errors" "$what: fsck -n reports the errors state"
	like "$(grep -v 'note:' "$T/fsck.out" | grep -c '^fsck.foliofs: ')" "^[1-9]" \
		"$what: fsck -n names the damage"
	diag "fsck: $(grep -v 'note:' "$T/fsck.out" | grep -m1 '^fsck.foliofs: ')"
	mt_try_mount "$img" "$mp"
	like "$out" "has errors" "$what: a read-write mount is refused"
}

for lie in lie-bitmap lie-sb meta range order lie-overlap lie-zerolen lie-idxchild \
	lie-mode lie-size lie-dirent-ino lie-dirent-len lie-dir-used lie-xattr lie-bmmeta; do
	one "$lie" remount-ro
done
for lie in meta lie-idxchild lie-dirent-ino lie-xattr lie-bmmeta; do
	one "$lie" continue
done

# --- the option -------------------------------------------------------------
mt_mkfs "$img" 4096 16M
for v in panic "" Continue; do
	mt_try_mount "$img" "$mp" -o "errors=$v"
	like "$out" "bad value '$v' for errors \\(continue or remount-ro\\)" \
		"errors=$v is refused with a clear line"
	check "errors=$v: nothing mounted" not_mounted "$mp"
done
mt_mount_ok "$img" "$mp" "errors=remount-ro mounts" -o errors=remount-ro &&
	is "$(ctl_stat "$mp" fs_errors_continue)" 0 "errors=remount-ro: fs_errors_continue 0"
mt_umount_ok "$mp" "unmounts"
mt_mount_ok "$img" "$mp" "errors=continue mounts" -o errors=continue &&
	is "$(ctl_stat "$mp" fs_errors_continue)" 1 "errors=continue: fs_errors_continue 1"
is "$(ctl_stat "$mp" fs_errors)" 0 "a sound image: fs_errors 0"
mt_umount_ok "$mp" "unmounts"
mt_fsck_ok "$img" "the sound image is clean"
done_testing
