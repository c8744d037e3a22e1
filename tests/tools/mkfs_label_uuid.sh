#!/bin/sh
# tests/tools/mkfs_label_uuid.sh - -L and -U are stored and shown by fsck -v
# and by the mkfs summary; the label sits at byte 0x80 and the uuid at 0x70.
. "$(dirname "$0")/lib.sh"

img=$TMP/img
uuid=123e4567-e89b-42d3-a456-426614174000
run "$MKFS" -L my-volume -U $uuid -s 32M "$img"
is "$rc" 0 "mkfs -L -U succeeds"
like "$out" "uuid: $uuid" "mkfs summary shows the uuid"
like "$out" 'label: "my-volume"' "mkfs summary shows the label"
run "$FSCK" -v "$img"
is "$rc" 0 "fsck clean"
like "$out" 'label: "my-volume"' "fsck -v shows the label"
like "$out" "uuid: $uuid" "fsck -v shows the uuid"
is "$(dd if="$img" bs=1 skip=128 count=9 status=none)" "my-volume" "label bytes at 0x80"
is "$(od -An -tx1 -j 112 -N 4 "$img" | tr -d ' ')" "123e4567" "uuid bytes at 0x70"

# A 32-byte label fills the field with no terminator.
img2=$TMP/img2
label=0123456789abcdef0123456789abcdef
run "$MKFS" -q -L $label -U random -s 8M "$img2"
is "$rc" 0 "32-byte label accepted"
run "$FSCK" -v "$img2"
like "$out" "label: \"$label\"" "32-byte label shown whole"
like "$out" "uuid: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}" \
	"-U random gives a version-4 uuid"

done_testing
