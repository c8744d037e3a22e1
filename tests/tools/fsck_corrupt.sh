#!/bin/sh
# tests/tools/fsck_corrupt.sh - one flipped byte in the superblock, a block
# bitmap, an inode bitmap, the root inode, the root directory block, a group
# descriptor and the backup superblock each give exit 4 and a line naming the
# problem; the same image restored is clean again. Runs for every block size.
. "$(dirname "$0")/lib.sh"

# corrupt NAME OFFSET REGEX: flip the byte at OFFSET of a copy, expect 4.
corrupt() {
	cp "$base" "$TMP/c"
	flip_byte "$TMP/c" "$2"
	run "$FSCK" "$TMP/c"
	is "$rc" 4 "B=$bs: $1 flipped: exit 4"
	like "$out" "$3" "B=$bs: $1 flipped: problem named"
}

for bs in 1024 2048 4096; do
	base=$TMP/base$bs
	"$MKFS" -q -b $bs -s 64M "$base" || { echo "Bail out! mkfs failed"; exit 1; }
	bbitmap=$(fsck_field "$base" "group 0: blocks [0-9]+-[0-9]+, block bitmap")
	ibitmap=$(fsck_field "$base" "inode bitmap")
	itable=$(fsck_field "$base" "inode table")
	rootblk=$(fsck_field "$base" "root directory: tree root block")
	backup=$(fsck_field "$base" "backup superblock:")
	diag "B=$bs: bitmaps $bbitmap $ibitmap, inode table $itable, root dir $rootblk, backup $backup"
	ok "$([ -n "$bbitmap" ] && [ -n "$itable" ] && [ -n "$rootblk" ]; echo $?)" \
		"B=$bs: fsck -v shows the layout"

	corrupt "superblock label byte" 128 "superblock: checksum mismatch"
	corrupt "superblock free count" 40 "superblock: checksum mismatch"
	corrupt "superblock block count" 32 \
		"primary superblock: .*checking with the backup at block $backup"
	corrupt "block bitmap (in use part)" $((bbitmap * bs)) \
		"group 0: block bitmap checksum mismatch"
	corrupt "block bitmap (free part)" $((bbitmap * bs + 1000)) \
		"blocks? [0-9-]+: marked in use in the bitmap but not used"
	corrupt "inode bitmap" $((ibitmap * bs)) "group 0: inode bitmap checksum mismatch"
	corrupt "root inode mode" $((itable * bs)) "inode 1: checksum mismatch"
	corrupt "root inode nlink" $((itable * bs + 16)) \
		"directory 1: link count [0-9]+, expected 3"
	corrupt "root inode mtime" $((itable * bs + 48)) "inode 1: checksum mismatch"
	corrupt "root directory block name" $((rootblk * bs + 32 + 14)) \
		"directory 1: block $rootblk: checksum mismatch"
	corrupt "root directory block magic" $((rootblk * bs)) \
		"directory 1: block $rootblk: bad magic"
	corrupt "group descriptor" $((bs + 24)) "group 0: descriptor checksum mismatch"
	corrupt "backup superblock" $((backup * bs + 128)) \
		"backup superblock at block $backup: checksum mismatch"
	corrupt "lost+found inode" $((itable * bs + 7 * 256 + 0x18)) "inode 8: checksum mismatch"

	run "$FSCK" "$base"
	is "$rc" 0 "B=$bs: the untouched image is still clean"
done

done_testing
