#!/bin/sh
# tests/tools/fsck_populated.sh - fsck on images holding every kind of
# structure (built by tests/tools/mkimage: multi-level extent and directory
# trees, data past 1 TiB, unwritten extents, inline and block symlinks, hard
# links, special files, xattrs with an ACL, an orphan on a dirty image), for
# each block size: clean, with the orphan reported as a note. Then one broken
# invariant at a time, checksums kept valid, must give exit 4 and the line
# naming it. A 100,000-entry directory is checked too.
# The inode numbers ($small, $frag, $a, ...) come from mkimage through eval.
# shellcheck disable=SC2154
. "$(dirname "$0")/lib.sh"

MKIMAGE=$builddir/tests/tools/mkimage
[ -x "$MKIMAGE" ] || { echo "Bail out! $MKIMAGE is not built"; exit 1; }

# build BS [MKIMAGE-ARGS...]: a fresh 64 MiB image at $img, populated;
# sets the inode numbers mkimage prints as shell variables.
build() {
	bs=$1
	shift
	img=$TMP/img
	rm -f "$img"
	"$MKFS" -q -b "$bs" -s 64M "$img" || { echo "Bail out! mkfs failed"; exit 1; }
	ids=$("$MKIMAGE" "$@" "$img") || { echo "Bail out! mkimage failed"; exit 1; }
	eval "$(printf '%s\n' "$ids" | tr ' -' '\n_')"
}

for bs in 1024 2048 4096; do
	build "$bs"
	run "$FSCK" "$img"
	is "$rc" 0 "B=$bs: populated image is clean"
	like "$out" "note: inode $orphan: orphan \(unlinked while open\), to be freed" \
		"B=$bs: the orphan is a note, not a problem"
	like "$out" "22 inodes checked \(6 directories, 9 files, 3 symlinks, 4 other\), 320 entries" \
		"B=$bs: every inode and entry counted"
	build "$bs" -F
	run "$FSCK" "$img"
	is "$rc" 0 "B=$bs: populated image with full nodes is clean"
done

# expect CORRUPTION REGEX: build with the corruption (1 KiB blocks: deepest
# trees), fsck must exit 4 and print REGEX.
expect() {
	build 1024 -c "$1"
	run "$FSCK" "$img"
	is "$rc" 4 "$1: exit 4"
	like "$out" "$2" "$1: problem named"
}

expect overlap "block [0-9]+: used by both inode $small \(data\) and inode $frag \(data\)"
expect meta "used by both inode $small \(data\) and group 0's inode table"
expect range "inode $small: extent at logical block 0 maps blocks [0-9-]+ outside the filesystem"
expect order "inode $frag: extent at logical block 0 overlaps or precedes the previous one"
expect extdepth "inode $frag: extent node at block [0-9]+: bad header"
expect iblocks "inode $frag: i_blocks [0-9]+, [0-9]+ blocks owned"
expect hash "directory $big: entry 'entry-[0-9]+-with-a-longer-namd' key 0x[0-9a-f]+ does not match its name's hash"
expect idxorder "directory $big: block [0-9]+: index key 0x[0-9a-f]+ out of order"
expect dirsize "directory $big: size 12345, expected"
expect dirfree "directory $b: entry 'ghost' names free inode"
expect dirtype "directory 1: entry 'small' has type 4 but inode $small has mode 0100644"
expect nlink "inode $small: link count 2, 1 references"
expect loop "directory $a: not reachable from the root \(loop\)"
expect dirlink "directory $b: named by 2 entries"
expect dupname "directory $a: name 'b' appears twice"
expect orphanclean "inode $orphan: on the orphan list of a cleanly unmounted image"
expect unlinked "inode $orphan: link count 0 but not on the orphan list"
expect xdup "inode $xattrs: xattr block: attribute user.a stored twice"
expect acl "inode $xattrs: xattr block: malformed system.posix_acl_access value"
expect symnul "inode $link_short: inline symlink target contains a NUL byte"
expect bitmap "block [0-9]+: in use but marked free in the bitmap"

# 100,000 entries in one directory, full nodes, 4 KiB blocks.
img=$TMP/big
"$MKFS" -q -b 4096 -s 128M "$img" || { echo "Bail out! mkfs failed"; exit 1; }
"$MKIMAGE" -F -e 100000 "$img" >/dev/null || { echo "Bail out! mkimage failed"; exit 1; }
run "$FSCK" "$img"
is "$rc" 0 "100,000-entry directory: clean"
like "$out" "100020 entries" "100,000-entry directory: every entry checked"

done_testing
