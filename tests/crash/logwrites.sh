#!/bin/bash
# tests/crash/logwrites.sh - the daemon's test-only -o debug_logwrites=PATH
# and `foliofs-ctl MOUNTPOINT mark LABEL`: the log holds the mount's writes
# (metadata and data) and flushes in order, a mark lands after the flush of
# the fsync before it, unmount adds the closing entry last and the replayed
# whole log is the image; marks are refused on a mount without the option
# and without a label; a log that cannot be created fails the mount.
. "$(dirname "$0")/lib.sh"
crash_need_mounts
crash_tmpdir crash-logwrites
CRASH=$builddir/tools/foliofs-crash
img=$T/img
mp=$T/mnt
mt_mkfs "$img" 4096 32M
cp --sparse=always "$img" "$T/base"

mt_mount_ok "$img" "$mp" "mounted with debug_logwrites" -o "debug_logwrites=$T/log" || bail mount
head -c 100000 /dev/urandom >"$T/data"
cp "$T/data" "$mp/f"
check "fsync of the new file" python3 -c "import os; fd = os.open('$mp/f', os.O_RDONLY); os.fsync(fd)"
check "mark after the fsync" "$CTL" "$mp" mark "after fsync of f"
entries=$(ctl_stat "$mp" debug_logwrites_entries)
check "stats count the log's entries ($entries)" test "${entries:-0}" -gt 5
run "$CTL" "$mp" mark ""
ok $([ "$rc" = 2 ] && echo 0 || echo 1) "mark without a label: usage, exit 2"
mt_umount_ok "$mp" "unmounted"

run "$CRASH" list "$T/log"
ok "$rc" "foliofs-crash list reads the log"
echo "$out" >"$T/list"
like "$(tail -n 1 "$T/list")" "cut 0" "the log is whole"
is "$(grep -v '^#' "$T/list" | tail -n 1 | cut -d' ' -f2)" close "the closing entry comes last"
mark=$(grep -n ' mark after fsync of f$' "$T/list" | cut -d: -f1)
check "the mark is in the log" test -n "$mark"
check "a flush comes right before the mark (the fsync's)" \
	sh -c "head -n $((mark - 1)) '$T/list' | grep -v '^#' | tail -n 1 | grep -q ' flush$'"
check "the file's data is logged (one write of its 25 blocks at least)" \
	sh -c "awk '\$2 == \"write\" && \$4 >= 102400' '$T/list' | grep -q ."
nwrites=$(awk '$2 == "write" && $4 < 102400' "$T/list" | wc -l)
check "and the metadata writes ($nwrites)" test "$nwrites" -ge 3
n=$(grep -vc '^#' "$T/list")
check "the whole log replayed over the base is the image" \
	sh -c "'$CRASH' write '$T/log' '$T/base' prefix:$n '$T/replayed' >/dev/null && cmp -s '$T/replayed' '$img'"

mt_mount_ok "$img" "$mp" "mounted without the option" || bail mount
run "$CTL" "$mp" mark "x"
ok $([ "$rc" = 1 ] && echo 0 || echo 1) "mark on a mount without debug_logwrites: refused"
like "$out" "debug_logwrites" "and the message says why"
mt_umount_ok "$mp" "unmounted"

mt_try_mount "$img" "$mp" -o "debug_logwrites=$T/no/such/dir/log"
is "$rc" 1 "a log that cannot be created: the mount fails with exit 1"
like "$out" "debug_logwrites" "and says why"
mt_fsck_ok "$img" "fsck clean"
done_testing
