#!/bin/bash
# tests/mount/flood.sh - a flood of small-file traffic in one directory
# while the cache is retuned under it; the daemon answers throughout and
# gives its memory back afterwards.
#
#  1. tests/mount/flood (flood.c): FLOOD_THREADS threads (64) create,
#     write, append, truncate, read back, stat, rename and unlink files in
#     one directory for FLOOD_SECONDS (15; 60 in make check-load), each
#     checking every byte and size it reads against its own model; no
#     operation may fail. A warm-up of FLOOD_WARMUP seconds (3) comes first.
#     The mount is cache=FLOOD_CACHE (daemon; make check-load runs kernel
#     too).
#  2. Meanwhile another process cycles through foliofs-ctl set cache_size
#     (256K to 64M), drop-caches, dirty_bytes / dirty_background_bytes /
#     dirty_ratio and readahead (0 to 2M); every command must succeed.
#  3. A watchdog: every second `stat` of the mount and `foliofs-ctl stats`
#     must answer within LD_ANSWER seconds (30). When one does not, the
#     test fails and aborts the mount's FUSE connection
#     (/sys/fs/fuse/connections/N/abort), so a hung daemon fails the test
#     instead of hanging it; every command runs under timeout(1).
#  4. Memory: after `foliofs-ctl sync` and drop-caches, the cache's own
#     counters (nr_file_pages, nr_dirty, nr_writeback, PoolResident,
#     fs_inodes_cached, pool_total_size) are back at their values before
#     the flood (taken the same way, after the warm-up); nr_shadows (the
#     reclaimed pages' shadow entries, which can stay only in the mappings
#     still cached: the root, the directory and the device's metadata, and
#     which drop-caches keeps) at most FLOOD_SHADOWS (256) where a shadow
#     leaked per file would count thousands; and
#     the daemon's RSS is at most FLOOD_RSS_SLACK KiB (16 MiB) above its
#     value then. The warm-up has already started the FUSE worker threads
#     (up to max_threads, 16, which 64 clients reach at once; they stay)
#     and given each its malloc arena, request buffer and stack, which glibc
#     keeps (freed chunks stay in the arena's bins; only the top of a heap
#     is trimmed); what remains is what the flood itself left. Leaks of
#     counted objects (in-core inodes, pages) show exactly in the counters;
#     the RSS bound catches the rest: 16 MiB is about 800 bytes per file
#     the full flood creates (about 21,000; 8,000 in the short one), and
#     the measured growth is 2 to 5 MiB. Skipped under AddressSanitizer
#     (its quarantine holds freed memory).
#  5. The directory is empty at the end; unmount, fsck clean.
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/mount/loadlib.sh
. "$MT_SRC/loadlib.sh"

FLOOD=$builddir/tests/mount/flood
THREADS=${FLOOD_THREADS:-64}
SECS=${FLOOD_SECONDS:-15}
WARMUP=${FLOOD_WARMUP:-3}
RSS_SLACK=${FLOOD_RSS_SLACK:-16384}
SHADOWS=${FLOOD_SHADOWS:-256}
CACHE=${FLOOD_CACHE:-daemon}
[ -x "$FLOOD" ] || bail "$FLOOD is not built"
[ -x "$CTL" ] || bail "$CTL is not built"

img=$T/img
mp=$T/mnt
mt_mkfs "$img" 4096 1G
mt_mount "$img" "$mp" -o "cache=$CACHE,cache_size=16M,cache_max=64M" || bail "mount"
ok 0 "mounted with cache=$CACHE, cache_size=16M, cache_max=64M"
ld_init "$mp"

mkdir "$mp/d" || bail "mkdir"
fresh=$(ld_rss_kb)
t0=$(date +%s)
timeout -k 5 $((WARMUP + 300)) "$FLOOD" "$mp/d" "$THREADS" "$WARMUP" 1 >"$T/warmup.out" 2>&1
ok $? "warm-up: $THREADS threads for $WARMUP s"
grep '^#' "$T/warmup.out"
ld_settle
ok $? "sync and drop-caches after the warm-up"
base_rss=$(ld_rss_kb)
base=$(ld_counters)
diag "before: RSS $base_rss KiB (just mounted: $fresh KiB), $(ld_threads) threads; $base"
ld_save_settings

ld_changer 0.2 "set cache_size=256K" "drop-caches" "set dirty_bytes=512K" \
	"set dirty_background_bytes=128K" "set readahead=0" "set cache_size=64M" \
	"set readahead=2M" "drop-caches" "set dirty_ratio=40" "set dirty_background_ratio=10" \
	"set cache_size=1M" "set readahead=128K" "drop-caches" "set cache_size=16M" \
	"set dirty_bytes=4M" "set dirty_background_bytes=1M" "set cache_size=512K" \
	"drop-caches" "set dirty_ratio=20" "set dirty_background_ratio=5" &
changer_pid=$!
mt_helpers="$mt_helpers $changer_pid"
t1=$(date +%s)
timeout -k 5 $((SECS + 600)) "$FLOOD" "$mp/d" "$THREADS" "$SECS" 2 >"$T/flood.out" 2>&1 &
flood_pid=$!
mt_helpers="$mt_helpers $flood_pid"
ld_watch "$flood_pid"
wait "$flood_pid"
flood_rc=$?
mt_forget_pid "$flood_pid"
t2=$(date +%s)
touch "$T/stop"
wait "$changer_pid"
mt_forget_pid "$changer_pid"
[ "$ld_late" -gt 0 ] && bail "the daemon hung"
grep -v '^\(not \)\?ok - ' "$T/flood.out"
sub_tap grep '^\(not \)\?ok - ' "$T/flood.out"
ok "$flood_rc" "the flood exited 0 after $((t2 - t1)) s"
ld_changer_ok
ok "$(pid_alive "$LD_PID"; echo $?)" "the daemon is alive"
is "$(find "$mp/d" -mindepth 1 | wc -l)" 0 "the directory is empty at the end"

ld_restore_settings
ld_settle
ok $? "sync and drop-caches after the flood"
after=$(ld_counters)
after_rss=$(ld_rss_kb)
shadows=$(ld_stat nr_shadows)
diag "after: RSS $after_rss KiB, $(ld_threads) threads; $after nr_shadows=$shadows"
is "$after" "$base" "the cache's counters are back where they were before the flood"
ok $((shadows > SHADOWS)) "at most $SHADOWS shadow entries left ($shadows)"
if ld_no_asan; then
	ok $((after_rss > base_rss + RSS_SLACK)) "RSS at most $RSS_SLACK KiB above its level before the flood ($base_rss -> $after_rss KiB)"
else
	skip "RSS (AddressSanitizer build)"
fi
rmdir "$mp/d"
ok $? "rmdir the flooded directory"
mt_umount_ok "$mp" "unmounted"
mt_fsck_ok "$img" "fsck clean"
t3=$(date +%s)
diag "time: warm-up and settle $((t1 - t0)) s, flood $((t2 - t1)) s, checks, unmount and fsck $((t3 - t2)) s"
done_testing
