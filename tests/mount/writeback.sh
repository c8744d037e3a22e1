#!/bin/bash
# tests/mount/writeback.sh - the flusher and dirty throttling on a real mount.
#
#  1. With dirty_expire_centisecs=100 and dirty_writeback_centisecs=50, data
#     written and never fsynced reaches the image while the daemon runs:
#     every one of 256 unique 4 KiB records is found in the image file within
#     expire + 2 intervals + 5 s, pgwrite_periodic moves, nr_dirty drains to
#     0, no fsync was sent.
#  2. The tunables through foliofs-ctl: the mount options show in `get`,
#     `set dirty_bytes` zeroes dirty_ratio and the thresholds follow, bad
#     values are refused (exit 1).
#  3. With dirty_bytes=64K (16 pages) and max_threads=4, an 8 MiB write is
#     throttled (balance_dirty_pages_events moves) and nr_dirty sampled
#     during the run never passes dirty_threshold + 8 pages per worker
#     thread (DIRTY_SLACK_PAGES); the bytes read back right.
#  4. Write clustering: rewriting every other cached page of a MiB and
#     fsyncing writes the clean pages between too (pgwrite_fill moves by at
#     least 100); with wb_fill_bytes=0 it does not; the bytes are right.
# Then unmount, fsck clean, mount again and the data is still right.
. "$(dirname "$0")/lib.sh"

img=$T/img
mp=$T/mnt
mt_mkfs "$img" 4096 64M
[ -x "$CTL" ] || bail "$CTL is not built"


if ! mt_mount "$img" "$mp" -o dirty_expire_centisecs=100,dirty_writeback_centisecs=50,max_threads=4; then
	bail "mount"
fi
ok 0 "mounted with dirty_expire_centisecs=100, dirty_writeback_centisecs=50"

# --- 1. dirty data reaches the image with no fsync ---------------------------
tag="wb-$$-$RANDOM"
periodic0=$(ctl_stat "$mp" pgwrite_periodic)
fsync0=$(ctl_stat "$mp" fuse_fsync)
cat >"$T/records.py" <<'EOF'
import os, sys, time
path, tag, hold = sys.argv[1], sys.argv[2], sys.argv[3]
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(256):
    rec = ("%s-%06d-" % (tag, i)).encode()
    os.write(fd, (rec * (4096 // len(rec) + 1))[:4096])
open(hold, "w").close()
time.sleep(60)  # keep it open: no release, no flush, no fsync
EOF
"$PY" "$T/records.py" "$mp/records" "$tag" "$T/written" &
holder=$!
mt_helpers="$mt_helpers $holder"
for ((i = 0; i < 100; i++)); do [ -e "$T/written" ] && break; sleep 0.1; done
check "256 records written (file still open)" test -e "$T/written"
start=$(date +%s)
found=0
while :; do
	found=$(grep -a -o -E "$tag-[0-9]{6}-" "$img" | sort -u | wc -l)
	[ "$found" -ge 256 ] && break
	[ $(($(date +%s) - start)) -gt 7 ] && break
	sleep 0.2
done
is "$found" 256 "every record is in the image within expire + 2 intervals + 5 s, no fsync"
diag "found after about $(($(date +%s) - start)) s"
periodic1=$(ctl_stat "$mp" pgwrite_periodic)
check "pgwrite_periodic moved ($periodic0 -> $periodic1)" test "$periodic1" -gt "$periodic0"
is "$(ctl_stat "$mp" fuse_fsync)" "$fsync0" "no fsync reached the daemon"
for ((i = 0; i < 50; i++)); do [ "$(ctl_stat "$mp" nr_dirty)" = 0 ] && break; sleep 0.2; done
is "$(ctl_stat "$mp" nr_dirty)" 0 "nr_dirty drained to 0"
kill -KILL "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
mt_forget_pid "$holder"

# --- 2. tunables through foliofs-ctl ---------------------------------------
is "$("$CTL" "$mp" get dirty_expire_centisecs)" 100 "get dirty_expire_centisecs (mount option)"
is "$("$CTL" "$mp" get dirty_writeback_centisecs)" 50 "get dirty_writeback_centisecs"
is "$("$CTL" "$mp" get dirty_ratio)" 20 "get dirty_ratio (default)"
is "$("$CTL" "$mp" get wb_max_bytes)" 1048576 "get wb_max_bytes (default)"
check "set dirty_bytes=64K" "$CTL" "$mp" set dirty_bytes=64K
is "$("$CTL" "$mp" get dirty_ratio)" 0 "dirty_bytes zeroed dirty_ratio"
is "$(ctl_stat "$mp" dirty_threshold)" 16 "dirty_threshold is 16 pages"
check "set dirty_background_bytes=32K" "$CTL" "$mp" set dirty_background_bytes=32K
is "$(ctl_stat "$mp" dirty_background_threshold)" 8 "dirty_background_threshold is 8 pages"
"$CTL" "$mp" set dirty_ratio=101 >/dev/null 2>&1
is "$?" 1 "dirty_ratio=101 refused"
"$CTL" "$mp" set dirty_bytes=banana >/dev/null 2>&1
is "$?" 1 "dirty_bytes=banana refused"
is "$("$CTL" "$mp" get dirty_bytes)" 65536 "a refused set changes nothing"

# --- 3. throttling ----------------------------------------------------------
bdp0=$(ctl_stat "$mp" balance_dirty_pages_events)
thresh=$(ctl_stat "$mp" dirty_threshold)
dd if=/dev/urandom of="$T/src" bs=1M count=8 status=none
dd if="$T/src" of="$mp/big" bs=1M status=none conv=fsync &
writer=$!
mt_helpers="$mt_helpers $writer"
max=0
samples=0
while pid_alive "$writer"; do
	d=$("$CTL" "$mp" stats | awk '$1 == "nr_dirty" { d = $2 } $1 == "nr_writeback" { w = $2 } END { print d + w }')
	[ -n "$d" ] && [ "$d" -gt "$max" ] && max=$d
	samples=$((samples + 1))
	sleep 0.02
done
wait "$writer"
is "$?" 0 "8 MiB written with dirty_bytes=64K"
mt_forget_pid "$writer"
slack=$((8 * 4))
diag "nr_dirty + nr_writeback: max $max over $samples samples (threshold $thresh, slack $slack)"
check "dirty memory never passed threshold + slack" test "$max" -le $((thresh + slack))
bdp1=$(ctl_stat "$mp" balance_dirty_pages_events)
check "writers were throttled (balance_dirty_pages_events $bdp0 -> $bdp1)" test "$bdp1" -gt "$bdp0"
diag "balance_dirty_pages_pause_ms $(ctl_stat "$mp" balance_dirty_pages_pause_ms)"
check "the bytes read back right" cmp -s "$T/src" "$mp/big"

# --- 4. write clustering ----------------------------------------------------
is "$("$CTL" "$mp" get wb_fill_bytes)" 65536 "get wb_fill_bytes (default)"
check "set dirty_ratio=20 again" "$CTL" "$mp" set dirty_ratio=20
check "set dirty_background_ratio=10 again" "$CTL" "$mp" set dirty_background_ratio=10
scatter() { # scatter FILE...: rewrite every other 4 KiB page of the first MiB, fsync
	python3 - "$@" <<'PY'
import os, sys
data = os.urandom(4096 * 128)
for path in sys.argv[1:]:
    fd = os.open(path, os.O_WRONLY)
    for i in range(128):
        os.pwrite(fd, data[i * 4096:(i + 1) * 4096], 2 * i * 4096)
    os.fsync(fd)
    os.close(fd)
PY
}
fill0=$(ctl_stat "$mp" pgwrite_fill)
scatter "$T/src" "$mp/big"
fill1=$(ctl_stat "$mp" pgwrite_fill)
check "clean pages filled the gaps (pgwrite_fill $fill0 -> $fill1)" test "$((fill1 - fill0))" -ge 100
check "the scattered rewrite reads back right" cmp -s "$T/src" "$mp/big"
check "set wb_fill_bytes=0" "$CTL" "$mp" set wb_fill_bytes=0
is "$("$CTL" "$mp" get wb_fill_bytes)" 0 "get wb_fill_bytes 0"
scatter "$T/src" "$mp/big"
is "$(ctl_stat "$mp" pgwrite_fill)" "$fill1" "wb_fill_bytes=0: no page filled"
check "that rewrite reads back right too" cmp -s "$T/src" "$mp/big"
"$CTL" "$mp" set wb_fill_bytes=2M >/dev/null 2>&1
is "$?" 1 "wb_fill_bytes=2M refused"

mt_cycle "$img" "$mp" "after writeback" || bail "remount"
check "records survive the remount" test "$(grep -a -o -E "$tag-[0-9]{6}-" "$mp/records" | sort -u | wc -l)" = 256
check "the big file survives the remount" cmp -s "$T/src" "$mp/big"
mt_umount_ok "$mp" "unmounted at the end"
mt_fsck_ok "$img" "fsck clean at the end"
done_testing
