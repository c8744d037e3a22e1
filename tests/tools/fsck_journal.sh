#!/bin/bash
# tests/tools/fsck_journal.sh - the journal from mkfs to replay: mkfs makes
# one by default (-J none: none), fsck checks it; an image left needing
# recovery (tests/tools/mkjournal writes committed, revoked, escaped and
# torn transactions) is a problem for `fsck -n`, which writes nothing;
# `fsck -p` replays it: committed blocks land home, revoked ones and a torn
# transaction do not, RECOVER is cleared; a second fsck is clean; the image
# mounts and shows the replayed inode. A transaction without a commit is
# not replayed. A journal superblock that cannot be read is written afresh
# by -y over a zeroed log; with the primary superblock lost, -y replays the
# log through the backup.
# shellcheck disable=SC2154
. "$(dirname "$0")/../lib/mount.sh"

MKJOURNAL=$builddir/tests/tools/mkjournal
[ -x "$MKJOURNAL" ] || bail "$MKJOURNAL is not built"
mt_tmpdir "${TMPDIR:-/tmp}" foliofs-journal
img=$T/img
mp=$T/mnt

# block N [COUNT]: block N of $img (bs $bs) on stdout
block() {
	dd if="$img" bs="$bs" skip="$1" count=1 status=none
}

# fill CHAR [MAGIC]: one block of CHAR, after "FJNL" when MAGIC
fill() {
	if [ -n "${2:-}" ]; then
		printf 'FJNL'
		head -c $((bs - 4)) /dev/zero | tr '\0' "$1"
	else
		head -c "$bs" /dev/zero | tr '\0' "$1"
	fi
}

zero() {
	head -c "$bs" /dev/zero
}

# is_block N WANT-FILE DESC
is_block() {
	block "$1" >"$T/got"
	if cmp -s "$T/got" "$2"; then ok 0 "$3"; else ok 1 "$3"; fi
}

# mkfs makes a journal by default.
run "$MKFS" -b 4096 -s 64M "$img"
like "$out" "journal: 1024 blocks at block" "mkfs: a 1024-block journal at 64 MiB"
run "$FSCK" -n -v "$img"
is "$rc" 0 "fsck: a fresh journal is clean"
like "$out" "journal: 1024 blocks at [0-9]+, next sequence 1" "fsck -v shows the journal"
run "$MKFS" -f -b 4096 -s 64M -J none "$img"
like "$out" "journal: none" "mkfs -J none: no journal"
run "$FSCK" -n "$img"
is "$rc" 0 "fsck: no journal is clean too"
run "$MKFS" -f -q -b 1024 -s 64M -J size=1M "$img"
run "$FSCK" -n -v "$img"
like "$out" "journal: 1024 blocks" "mkfs -J size=1M at 1 KiB blocks: 1024 blocks"

for bs in 1024 4096; do
	rm -f "$img"
	mt_mkfs "$img" "$bs" 64M
	ids=$("$MKJOURNAL" "$img" replay) || bail "mkjournal failed"
	eval "$ids"
	before=$(file_sum "$img")
	run "$FSCK" -n "$img"
	is "$rc" 4 "B=$bs: fsck -n on an image needing replay: exit 4"
	like "$out" "journal: needs replay \(2 committed transactions\)" "B=$bs: -n says so"
	is "$(file_sum "$img")" "$before" "B=$bs: fsck -n wrote nothing"
	run "$FSCK" -p "$img"
	is "$rc" 1 "B=$bs: fsck -p replays: exit 1"
	like "$out" "journal: 2 committed transactions \(sequences 1-2\) replayed, 4 blocks written, 1 revoked: fixed" \
		"B=$bs: -p names the replay"
	fill C >"$T/want"
	is_block "$h1" "$T/want" "B=$bs: the newest copy of H1 is home"
	zero >"$T/want"
	is_block "$h2" "$T/want" "B=$bs: the revoked H2 is not"
	is_block "$h4" "$T/want" "B=$bs: the torn transaction's H4 is not"
	fill M magic >"$T/want"
	is_block "$h3" "$T/want" "B=$bs: the escaped H3 is home with its magic"
	run "$FSCK" -n -v "$img"
	is "$rc" 0 "B=$bs: a second fsck is clean"
	like "$out" "incompat 0x0" "B=$bs: RECOVER is clear"
	like "$out" "next sequence 3" "B=$bs: the log is empty, the next sequence 3"
	if mt_mount_ok "$img" "$mp" "B=$bs: mounts after the replay"; then
		is "$(stat -c %Y "$mp")" 1234567890 "B=$bs: the root's replayed mtime shows"
		mt_umount_ok "$mp" "B=$bs: unmounted"
		mt_fsck_ok "$img" "B=$bs: fsck clean after the mount"
	fi
done

# A transaction without its commit is not replayed; -y replays as -p does.
bs=4096
rm -f "$img"
mt_mkfs "$img" "$bs" 64M
ids=$("$MKJOURNAL" "$img" nocommit) || bail "mkjournal failed"
eval "$ids"
run "$FSCK" -y "$img"
is "$rc" 0 "no commit: fsck -y exits 0 (nothing to replay, nothing wrong)"
zero >"$T/want"
is_block "$h1" "$T/want" "no commit: H1 is not written"
run "$FSCK" -n -v "$img"
is "$rc" 0 "no commit: clean afterwards"
like "$out" "incompat 0x0" "no commit: RECOVER is clear"
if mt_mount_ok "$img" "$mp" "no commit: mounts"; then
	ok "$([ "$(stat -c %Y "$mp")" != 1234567890 ]; echo $?)" "no commit: the root's mtime is unchanged"
	mt_umount_ok "$mp" "no commit: unmounted"
fi

# jblock: the journal's first block, from fsck -v
jblock() {
	"$FSCK" -n -v "$img" | sed -nE 's/^journal: [0-9]+ blocks at ([0-9]+),.*/\1/p'
}

# A journal superblock that cannot be read, over a log holding committed
# transactions: -p leaves it; -y writes it afresh over a zeroed log (what
# the log held cannot be trusted without it), and the image mounts.
rm -f "$img"
mt_mkfs "$img" "$bs" 64M
ids=$("$MKJOURNAL" "$img" replay) || bail "mkjournal failed"
eval "$ids"
j=$(jblock)
flip_byte "$img" $((j * bs))
run "$FSCK" -p "$img"
is "$rc" 4 "jsb magic: fsck -p leaves it (exit 4)"
run "$FSCK" -y "$img"
is "$rc" 1 "jsb magic: fsck -y exits 1"
like "$out" "journal superblock: bad magic: written afresh, its log emptied" \
	"jsb magic: -y names the rewrite"
zero >"$T/want"
is_block "$h1" "$T/want" "jsb magic: the lost log's H1 is not written home"
is_block $((j + 1)) "$T/want" "jsb magic: the log is zeroed"
run "$FSCK" -n -v "$img"
is "$rc" 0 "jsb magic: a second fsck is clean"
like "$out" "next sequence 1" "jsb magic: an empty log from sequence 1"
if mt_mount_ok "$img" "$mp" "jsb magic: mounts"; then
	echo data >"$mp/after"
	mt_umount_ok "$mp" "jsb magic: unmounted after a write"
	mt_fsck_ok "$img" "jsb magic: fsck clean after the mount"
fi

# The primary superblock unusable while the log needs replay: the backup
# carries no RECOVER, but -y replays the committed log all the same.
rm -f "$img"
mt_mkfs "$img" "$bs" 64M
ids=$("$MKJOURNAL" "$img" replay) || bail "mkjournal failed"
eval "$ids"
flip_byte "$img" 0
run "$FSCK" -y "$img"
is "$rc" 1 "primary lost: fsck -y exits 1"
like "$out" "checking with the backup" "primary lost: -y uses the backup"
like "$out" "journal: 2 committed transactions \(sequences 1-2\) replayed" \
	"primary lost: -y replays the log"
fill C >"$T/want"
is_block "$h1" "$T/want" "primary lost: the newest copy of H1 is home"
run "$FSCK" -n "$img"
is "$rc" 0 "primary lost: a second fsck is clean"

done_testing
