#!/bin/sh
# tests/tools/mkfs_fsck.sh - mkfs -s 64M then fsck is clean, for each block
# size; the image has the requested size and the fsck summary counts the root
# and lost+found.
. "$(dirname "$0")/lib.sh"

for bs in 1024 2048 4096; do
	img=$TMP/img$bs
	run "$MKFS" -b $bs -s 64M "$img"
	is "$rc" 0 "B=$bs: mkfs -s 64M succeeds"
	like "$out" "blocks of $bs bytes" "B=$bs: summary names the block size"
	is "$(stat -c %s "$img")" 67108864 "B=$bs: image is 64 MiB"
	run "$FSCK" "$img"
	is "$rc" 0 "B=$bs: fsck exit 0"
	like "$out" "2 inodes checked \(2 directories" "B=$bs: root and lost+found checked"
	like "$out" ": clean" "B=$bs: fsck says clean"
	run "$FSCK" -n -v "$img"
	is "$rc" 0 "B=$bs: fsck -n -v exit 0"
	like "$out" "block size: $bs " "B=$bs: fsck -v shows the block size"
	like "$out" "state: clean" "B=$bs: state clean"
done

# -N and -I change the inode layout and the result is still clean.
img=$TMP/inodes
run "$MKFS" -q -b 1024 -N 5000 -I 512 -s 16M "$img"
is "$rc" 0 "mkfs -N 5000 -I 512 succeeds"
is "$out" "" "-q prints nothing"
run "$FSCK" -v "$img"
is "$rc" 0 "fsck clean with 512-byte inodes"
like "$out" "inodes: 5008 .*size: 512" "5000 inodes rounded up to 2 groups of 2504, 512 bytes each"

# A block device-like use: an existing file without -s keeps its size.
img=$TMP/exist
truncate -s 3M "$img"
run "$MKFS" -q "$img"
is "$rc" 0 "mkfs on an existing file without -s"
is "$(stat -c %s "$img")" 3145728 "size unchanged"
run "$FSCK" "$img"
is "$rc" 0 "fsck clean on a 3 MiB image"

# A size that is not a whole number of groups, with 1 KiB blocks: 4 groups
# and a short one.
img=$TMP/odd
run "$MKFS" -q -b 1024 -s 33M "$img"
is "$rc" 0 "mkfs 33M with 1 KiB blocks"
run "$FSCK" -v "$img"
is "$rc" 0 "fsck clean with a short last group"
like "$out" "groups: 5" "33 MiB with 1 KiB blocks makes 5 groups"

done_testing
