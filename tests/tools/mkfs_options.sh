#!/bin/sh
# tests/tools/mkfs_options.sh - every bad option gives a non-zero exit, one
# line naming the problem, and writes nothing (no file created, an existing
# file unchanged).
. "$(dirname "$0")/lib.sh"

img=$TMP/new

# bad ARGS... -- REGEX: mkfs must fail, say REGEX, and not create $img.
bad() {
	regex=$1
	shift
	rm -f "$img"
	run "$MKFS" "$@"
	ok $((rc == 0)) "mkfs $* fails (exit $rc)"
	like "$out" "$regex" "mkfs $*: message"
	is "$(printf '%s\n' "$out" | wc -l)" 1 "mkfs $*: one line"
	ok "$([ ! -e "$img" ]; echo $?)" "mkfs $*: nothing created"
}

bad "invalid block size '512'" -b 512 -s 64M "$img"
bad "invalid block size '8192'" -b 8192 -s 64M "$img"
bad "invalid block size 'x'" -b x -s 64M "$img"
bad "invalid size '64Q'" -s 64Q "$img"
bad "invalid size '12MB'" -s 12MB "$img"
bad "invalid size ''" -s "" "$img"
bad "invalid size '-5M'" -s -5M "$img"
bad "invalid size '99999999999T'" -s 99999999999T "$img"
bad "too small" -s 100K "$img"
bad "too small" -s 4096 "$img"
bad "invalid inode count" -N 0 -s 64M "$img"
bad "invalid inode count" -N abc -s 64M "$img"
bad "inodes do not fit" -N 4000000 -b 1024 -s 8M "$img"
bad "longer than 32 bytes" -L 0123456789abcdef0123456789abcdefX -s 64M "$img"
bad "invalid UUID" -U not-a-uuid -s 64M "$img"
bad "invalid UUID" -U 123e4567-e89b-12d3-a456-42661417400g -s 64M "$img"
bad "invalid inode size" -I 128 -s 64M "$img"
bad "invalid reserved-blocks percentage '51'" -m 51 -s 64M "$img"
bad "invalid reserved-blocks percentage 'x'" -m x -s 64M "$img"

bad "unknown option '-z'" -z -s 64M "$img"
bad "needs a value" -s
bad "No such file or directory" "$img"
bad "no IMAGE" -s 64M
bad "exactly one IMAGE" -s 64M "$img" "$TMP/other"

# A too-small existing image is left alone.
small=$TMP/small
head -c 65536 /dev/urandom >"$small"
before=$(file_sum "$small")
run "$MKFS" "$small"
ok $((rc == 0)) "mkfs on a 64 KiB file fails"
like "$out" "too small" "says too small"
is "$(file_sum "$small")" "$before" "small image unchanged"

# A directory is not an image.
run "$MKFS" "$TMP"
ok $((rc == 0)) "mkfs on a directory fails"

# -h prints usage and succeeds.
run "$MKFS" -h
is "$rc" 0 "mkfs -h exits 0"
like "$out" "usage: mkfs.foliofs IMAGE" "mkfs -h prints usage"

done_testing
