#!/bin/sh
# tests/tools/fsck_bad_images.sh - operational errors give exit 8 with one
# line: a missing image, a file of zeros, a short file, a newer format
# version, a truncated image; bad options too.
. "$(dirname "$0")/lib.sh"

run "$FSCK" "$TMP/missing"
is "$rc" 8 "missing image: exit 8"
like "$out" "No such file or directory" "missing image: message"

zero=$TMP/zero
truncate -s 8M "$zero"
run "$FSCK" "$zero"
is "$rc" 8 "file of zeros: exit 8"
like "$out" "not a foliofs filesystem" "file of zeros: not foliofs"
is "$(printf '%s\n' "$out" | wc -l)" 1 "file of zeros: one line"

tiny=$TMP/tiny
printf 'x' >"$tiny"
run "$FSCK" "$tiny"
is "$rc" 8 "one-byte file: exit 8"

run "$FSCK" "$TMP"
is "$rc" 8 "a directory: exit 8"

run "$FSCK" -q "$zero"
is "$rc" 8 "unknown option: exit 8"
like "$out" "unknown option" "unknown option: message"

# Newer version: version 2 at byte 12, with a fresh checksum - still 8.
img=$TMP/newer
"$MKFS" -q -s 8M "$img" || { echo "Bail out! mkfs failed"; exit 1; }
put_bytes "$img" 12 '\002'
run "$FSCK" "$img"
is "$rc" 8 "newer format version: exit 8"
like "$out" "version 2 is newer" "newer version: message"

# Unknown incompat feature (byte 0x14).
img=$TMP/incompat
"$MKFS" -q -s 8M "$img" || { echo "Bail out! mkfs failed"; exit 1; }
put_bytes "$img" 20 '\200'
run "$FSCK" "$img"
is "$rc" 8 "unknown incompat feature: exit 8"
like "$out" "unsupported incompatible features 0x80" "incompat: message"

# A truncated image: the filesystem is larger than the file.
img=$TMP/trunc
"$MKFS" -q -s 8M "$img" || { echo "Bail out! mkfs failed"; exit 1; }
truncate -s 4M "$img"
run "$FSCK" "$img"
is "$rc" 8 "truncated image: exit 8"
like "$out" "device holds only" "truncated image: message"

done_testing
