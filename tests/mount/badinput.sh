#!/bin/bash
# tests/mount/badinput.sh - images and options the daemon must refuse, and
# the states it must report: a missing image, a file of zeros, a flipped
# superblock byte (checksum mismatch, for each block size), a newer format
# version, unknown incompat and ro_compat features, a truncated image, a
# directory, unknown options, bad cache_size and cache values, a missing
# mountpoint: each gives one clear line, a non-zero exit, no mount and an
# unchanged image. Then -o ro writes nothing and answers EROFS; an unknown
# ro_compat feature mounts read-only; an image that was not cleanly
# unmounted mounts with a warning and is clean after a clean unmount.
. "$(dirname "$0")/lib.sh"

mp=$T/mnt
mkdir -p "$mp"

# refused IMAGE DESC REGEX [DAEMON ARGS...]: five TAP lines.
refused() {
	local img=$1 desc=$2 re=$3 sum0="" sum1=""
	shift 3
	[ -e "$img" ] && sum0=$(file_sum "$img")
	mt_try_mount "$img" "$mp" "$@"
	case $rc in
	0 | mounted | timeout) ok 1 "$desc: refused with a non-zero exit (got $rc)" ;;
	*) ok 0 "$desc: refused with a non-zero exit" ;;
	esac
	like "$out" "$re" "$desc: the message says why"
	is "$(printf '%s\n' "$out" | grep -c .)" 1 "$desc: one line"
	[ -e "$img" ] && sum1=$(file_sum "$img")
	is "$sum1" "$sum0" "$desc: the image is unchanged"
	check "$desc: nothing mounted" not_mounted "$mp"
}
# shellcheck disable=SC2317 # (called through check)
not_unclean() {
	! grep -qiE "not cleanly unmounted|unclean" "$1"
}
sb_patch() {
	"$PY" -c "import sys; sys.path.insert(0, '$PYDIR'); import lib; lib.sb_patch('$1', $2)"
}

# --- images --------------------------------------------------------------
refused "$T/missing" "a missing image" "no such file"
truncate -s 64M "$T/zeros"
refused "$T/zeros" "a file of zeros" "not a foliofs|magic"
refused "$T" "a directory as the image" "."
for bs in 1024 2048 4096; do
	img=$T/flip.$bs
	mt_mkfs "$img" "$bs" 16M
	flip_byte "$img" 136
	refused "$img" "B=$bs: a flipped superblock byte" "checksum|crc"
done
img=$T/newer
mt_mkfs "$img" 4096 16M
sb_patch "$img" "[(0x0C, 'I', 2)]"
refused "$img" "format version 2" "version"
img=$T/incompat
mt_mkfs "$img" 4096 16M
sb_patch "$img" "[(0x14, 'I', 0x80)]"
refused "$img" "an unknown incompat feature" "feature"
img=$T/rocompat
mt_mkfs "$img" 4096 16M
sb_patch "$img" "[(0x18, 'I', 0x40)]"
refused "$img" "an unknown ro_compat feature, mounted read-write" "feature|read-only"
img=$T/short
mt_mkfs "$img" 4096 16M
truncate -s 8M "$img"
refused "$img" "an image shorter than its filesystem" "small|short|holds only|truncat|size|blocks"

# --- options -------------------------------------------------------------
img=$T/good
mt_mkfs "$img" 4096 16M
refused "$img" "an unknown option" "frobnicate" -o frobnicate
refused "$img" "an unknown option among good ones" "frobnicate" -o cache=kernel,frobnicate=1
for v in abc 12Q "" -1M 1; do
	refused "$img" "cache_size='$v'" "cache_size" -o "cache_size=$v"
done
refused "$img" "cache=sometimes" "cache" -o cache=sometimes
sum0=$(file_sum "$img")
timeout 20 "$FOLIOFS" "$img" "$T/no/such/dir" -f >"$T/nodir.out" 2>&1
r=$?
ok $((r == 0 || r == 124)) "a missing mountpoint: non-zero exit (got $r)"
is "$(file_sum "$img")" "$sum0" "a missing mountpoint: the image is unchanged"
timeout 20 "$FOLIOFS" >"$T/noargs.out" 2>&1
r=$?
ok $((r == 0 || r == 124)) "no arguments: non-zero exit (got $r)"
like "$(cat "$T/noargs.out")" "usage" "no arguments: a usage line"

# --- read-only and unclean ----------------------------------------------
sum0=$(file_sum "$img")
if mt_mount "$img" "$mp" -o ro; then
	ok 0 "-o ro: mounted"
	like "$(awk -v mp="$mp" '$2 == mp { print $4 }' /proc/mounts)" "(^|,)ro(,|$)" \
		"-o ro: /proc/mounts says ro"
	py_tap -- - "$mp" <<'PY'
import errno, os, sys
from tap import done, is_, raises
mp = sys.argv[1]
os.chdir(mp)
EROFS = errno.EROFS
raises(EROFS, "-o ro: create", os.open, "new", os.O_CREAT | os.O_WRONLY)
raises(EROFS, "-o ro: mkdir", os.mkdir, "newdir")
raises(EROFS, "-o ro: chmod", os.chmod, ".", 0o700)
raises(EROFS, "-o ro: setxattr", os.setxattr, ".", "user.x", b"1")
raises(EROFS, "-o ro: rename", os.rename, "lost+found", "lf")
is_(sorted(os.listdir(".")), ["lost+found"], "-o ro: the root lists")
done()
PY
	mt_umount_ok "$mp" "-o ro: unmounted"
	is "$(file_sum "$img")" "$sum0" "-o ro: the image is unchanged"
else
	ok 1 "-o ro: mounted"
fi

img=$T/rocompat
sum0=$(file_sum "$img")
if mt_mount "$img" "$mp" -o ro; then
	ok 0 "an unknown ro_compat feature mounts with -o ro"
	check "it lists the root" test -d "$mp/lost+found"
	mt_umount_ok "$mp" "ro_compat, read-only: unmounted"
else
	ok 1 "an unknown ro_compat feature mounts with -o ro"
fi
is "$(file_sum "$img")" "$sum0" "ro_compat, read-only: the image is unchanged"

img=$T/unclean
mt_mkfs "$img" 4096 16M
sb_patch "$img" "[(0x4E, 'H', 0)]"
if mt_mount "$img" "$mp"; then
	ok 0 "an image that was not cleanly unmounted mounts"
	like "$(cat "$MT_LOG")" "not cleanly unmounted|unclean|not clean" \
		"the daemon says it was not cleanly unmounted"
	echo data >"$mp/file"
	mt_umount_ok "$mp" "unclean image: unmounted"
	mt_fsck_ok "$img" "unclean image: fsck clean after a clean unmount"
	like "$("$FSCK" -v "$img" 2>&1)" "state: clean" "unclean image: marked clean again"
else
	ok 1 "an image that was not cleanly unmounted mounts"
fi

img=$T/good
if mt_mount "$img" "$mp"; then
	ok 0 "a clean image mounts"
	check "no warning for a clean image" not_unclean "$MT_LOG"
	mt_umount_ok "$mp" "clean image: unmounted"
	like "$("$FSCK" -v "$img" 2>&1)" "state: clean +mount count: 1" \
		"clean image: clean again, mount count 1"
	mt_fsck_ok "$img" "clean image: fsck clean"
else
	ok 1 "a clean image mounts"
fi
done_testing
