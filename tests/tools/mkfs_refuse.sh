#!/bin/sh
# tests/tools/mkfs_refuse.sh - mkfs refuses to overwrite an image holding a
# filesystem (foliofs or ext2/3/4) unless -f: non-zero exit, one clear line,
# the image byte-for-byte unchanged; -f overwrites.
. "$(dirname "$0")/lib.sh"

img=$TMP/img
"$MKFS" -q -s 8M "$img" || { echo "Bail out! mkfs failed"; exit 1; }
before=$(file_sum "$img")
run "$MKFS" "$img"
ok $((rc == 0)) "mkfs over a foliofs image without -f fails (exit $rc)"
like "$out" "already contains a foliofs filesystem; use -f" "message says why"
is "$(printf '%s\n' "$out" | wc -l)" 1 "exactly one line"
is "$(file_sum "$img")" "$before" "image unchanged"
run "$MKFS" -s 16M "$img"
ok $((rc == 0)) "mkfs -s over a foliofs image without -f fails"
is "$(stat -c %s "$img")" 8388608 "-s did not extend a refused image"
is "$(file_sum "$img")" "$before" "image still unchanged"

uuid1=$("$FSCK" -v "$img" | sed -n 's/^uuid: //p')
run "$MKFS" -q -f "$img"
is "$rc" 0 "mkfs -f overwrites"
uuid2=$("$FSCK" -v "$img" | sed -n 's/^uuid: //p')
ok "$([ -n "$uuid2" ] && [ "$uuid1" != "$uuid2" ]; echo $?)" "new filesystem has a new uuid"
run "$FSCK" "$img"
is "$rc" 0 "overwritten image is clean"

# An ext2/3/4 signature: magic 0xEF53 at byte 1080.
ext=$TMP/ext
truncate -s 8M "$ext"
put_bytes "$ext" 1080 '\123\357'
before=$(file_sum "$ext")
run "$MKFS" "$ext"
ok $((rc == 0)) "mkfs over an ext4 signature without -f fails"
like "$out" "ext2/3/4" "message names ext2/3/4"
is "$(file_sum "$ext")" "$before" "ext image unchanged"
if command -v mkfs.ext4 >/dev/null 2>&1; then
	real=$TMP/real
	truncate -s 8M "$real"
	mkfs.ext4 -q -F "$real" >/dev/null 2>&1
	before=$(file_sum "$real")
	run "$MKFS" "$real"
	ok $((rc == 0)) "mkfs over a real ext4 image fails"
	is "$(file_sum "$real")" "$before" "real ext4 image unchanged"
fi
run "$MKFS" -q -f "$ext"
is "$rc" 0 "mkfs -f overwrites the ext signature"
run "$FSCK" "$ext"
is "$rc" 0 "and the result is clean"

# A file of zeros holds nothing recognisable: no -f needed.
zero=$TMP/zero
truncate -s 4M "$zero"
run "$MKFS" -q "$zero"
is "$rc" 0 "mkfs on a zero-filled image needs no -f"

done_testing
