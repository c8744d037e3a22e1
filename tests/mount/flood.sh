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
#  2. Meanwhile another process cycles through foliofs-ctl set cache_size
#     (256K to 64M), drop-caches, dirty_bytes / dirty_background_bytes /
#     dirty_ratio and readahead (0 to 2M); every command must succeed.
#  3. A watchdog: every second `stat` of the mount and `foliofs-ctl stats`
#     must answer within FLOOD_ANSWER seconds (30). When one does not, the
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
#     and given each its malloc arena, request buffer and stack, which glibc
#     keeps (freed chunks stay in the arena's bins; only the top of a heap
#     is trimmed); what remains is what the flood itself left: 16 MiB is
#     under 300 bytes per file the full run creates (about 60,000), so a
#     leak of an inode or a page per file shows. Skipped under
#     AddressSanitizer (its quarantine holds freed memory).
#  5. The directory is empty at the end; unmount, fsck clean.
. "$(dirname "$0")/lib.sh"

FLOOD=$builddir/tests/mount/flood
THREADS=${FLOOD_THREADS:-64}
SECS=${FLOOD_SECONDS:-15}
WARMUP=${FLOOD_WARMUP:-3}
ANSWER=${FLOOD_ANSWER:-30}
RSS_SLACK=${FLOOD_RSS_SLACK:-16384}
SHADOWS=${FLOOD_SHADOWS:-256}
[ -x "$FLOOD" ] || bail "$FLOOD is not built"
[ -x "$CTL" ] || bail "$CTL is not built"

img=$T/img
mp=$T/mnt
mt_mkfs "$img" 4096 1G
mt_mount "$img" "$mp" -o cache_size=16M,cache_max=64M || bail "mount"
ok 0 "mounted with cache_size=16M, cache_max=64M"
pid=$(mt_pid "$mp")
# The mount's FUSE connection, for the abort.
conn=$(awk -v mp="$mp" '$5 == mp { split($3, d, ":"); print d[2] }' /proc/self/mountinfo)

# ctl ARGS...: foliofs-ctl under a timeout.
ctl() {
	timeout -k 5 "$ANSWER" "$CTL" "$mp" "$@"
}
rss_kb() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status"
}
COUNTERS="nr_file_pages nr_dirty nr_writeback PoolResident fs_inodes_cached pool_total_size"
# counters: the cache's counters named in COUNTERS, "NAME=VALUE ...".
counters() {
	local s c line=""
	s=$(ctl stats) || return 1
	for c in $COUNTERS; do
		line="$line $c=$(printf '%s\n' "$s" | awk -v k="$c" '$1 == k || $1 == k ":" { print $2; exit }')"
	done
	echo "${line# }"
}
# settle: write everything back and drop the clean pages.
settle() {
	ctl sync >/dev/null && ctl drop-caches >/dev/null
}
asan=0
ldd "$FOLIOFS" 2>/dev/null | grep -q libasan && asan=1

mkdir "$mp/d" || bail "mkdir"
fresh=$(rss_kb)
py_out=$T/warmup.out
timeout -k 5 $((WARMUP + 300)) "$FLOOD" "$mp/d" "$THREADS" "$WARMUP" 1 >"$py_out" 2>&1
ok $? "warm-up: $THREADS threads for $WARMUP s"
grep '^#' "$py_out"
settle
ok $? "sync and drop-caches after the warm-up"
base_rss=$(rss_kb)
base=$(counters)
diag "before: RSS $base_rss KiB (just mounted: $fresh KiB); $base"
for k in dirty_bytes dirty_background_bytes dirty_ratio dirty_background_ratio readahead cache_size; do
	eval "orig_$k=\$(ctl get $k)"
done

# The changer: cycles through the settings until $T/stop exists.
changer() {
	local n=0 cmd
	local -a cycle=(
		"set cache_size=256K" "drop-caches" "set dirty_bytes=512K"
		"set dirty_background_bytes=128K" "set readahead=0" "set cache_size=64M"
		"set readahead=2M" "drop-caches" "set dirty_ratio=40" "set dirty_background_ratio=10"
		"set cache_size=1M" "set readahead=128K" "drop-caches" "set cache_size=16M"
		"set dirty_bytes=4M" "set dirty_background_bytes=1M" "set cache_size=512K"
		"drop-caches" "set dirty_ratio=20" "set dirty_background_ratio=5"
	)
	while [ ! -e "$T/stop" ]; do
		cmd=${cycle[n % ${#cycle[@]}]}
		# shellcheck disable=SC2086 # the words of the command
		if ! ctl $cmd >/dev/null 2>"$T/changer.err"; then
			echo "foliofs-ctl $cmd failed: $(head -c 200 "$T/changer.err")" >>"$T/changer.fail"
		fi
		n=$((n + 1))
		sleep 0.2
	done
	echo "$n" >"$T/changer.count"
}

# abort: end the mount's FUSE connection, so nothing waits on a hung daemon.
abort_conn() {
	[ -n "$conn" ] && [ -w "/sys/fs/fuse/connections/$conn/abort" ] &&
		echo 1 >"/sys/fs/fuse/connections/$conn/abort"
}

changer &
changer_pid=$!
mt_helpers="$mt_helpers $changer_pid"
t0=$(date +%s)
timeout -k 5 $((SECS + 600)) "$FLOOD" "$mp/d" "$THREADS" "$SECS" 2 >"$T/flood.out" 2>&1 &
flood_pid=$!
mt_helpers="$mt_helpers $flood_pid"

# The watchdog, until the flood ends.
late=0
probes=0
max_ms=0
while pid_alive "$flood_pid"; do
	for probe in "stat" "stats"; do
		s=$(date +%s%N)
		if [ "$probe" = stat ]; then
			timeout -k 5 "$ANSWER" stat "$mp" >/dev/null 2>&1
		else
			ctl stats >/dev/null 2>&1
		fi
		r=$?
		ms=$((($(date +%s%N) - s) / 1000000))
		probes=$((probes + 1))
		[ "$ms" -gt "$max_ms" ] && max_ms=$ms
		if [ "$r" != 0 ]; then
			late=$((late + 1))
			diag "the $probe probe failed or took over $ANSWER s (exit $r, $ms ms)"
		fi
	done
	if [ "$late" -gt 0 ]; then
		diag "the daemon stopped answering: aborting the FUSE connection $conn"
		abort_conn
		break
	fi
	sleep 1
done
ok "$late" "the daemon answered all $probes probes (stat of the mount, foliofs-ctl stats) while the flood ran; slowest $max_ms ms"
wait "$flood_pid"
flood_rc=$?
mt_forget_pid "$flood_pid"
t1=$(date +%s)
touch "$T/stop"
wait "$changer_pid"
mt_forget_pid "$changer_pid"
[ "$late" -gt 0 ] && bail "the daemon hung"
grep -v '^\(not \)\?ok - ' "$T/flood.out"
sub_tap grep '^\(not \)\?ok - ' "$T/flood.out"
ok "$flood_rc" "the flood exited 0 after $((t1 - t0)) s"
if [ -s "$T/changer.fail" ]; then
	ok 1 "every foliofs-ctl set and drop-caches succeeded"
	show_file "$T/changer.fail" 10
else
	ok 0 "every foliofs-ctl set and drop-caches succeeded ($(cat "$T/changer.count") commands)"
fi
ok "$(pid_alive "$pid"; echo $?)" "the daemon is alive"
is "$(find "$mp/d" -mindepth 1 | wc -l)" 0 "the directory is empty at the end"

for k in dirty_bytes dirty_background_bytes dirty_ratio dirty_background_ratio readahead cache_size; do
	eval "v=\$orig_$k"
	[ "$v" = 0 ] && continue # the other of the bytes/ratio pair is in force
	ctl set "$k=$v" >/dev/null || ok 1 "restore $k=$v"
done
is "$(ctl get cache_size)" "$orig_cache_size" "cache_size restored"
settle
ok $? "sync and drop-caches after the flood"
after=$(counters)
after_rss=$(rss_kb)
shadows=$(ctl stats | awk '$1 == "nr_shadows" { print $2 }')
diag "after: RSS $after_rss KiB; $after nr_shadows=$shadows"
is "$after" "$base" "the cache's counters are back where they were before the flood"
ok $((shadows > SHADOWS)) "at most $SHADOWS shadow entries left ($shadows)"
if [ "$asan" = 1 ]; then
	skip "RSS (AddressSanitizer build)"
else
	ok $((after_rss > base_rss + RSS_SLACK)) "RSS at most $RSS_SLACK KiB above its level before the flood ($base_rss -> $after_rss KiB)"
fi
rmdir "$mp/d"
ok $? "rmdir the flooded directory"
mt_umount_ok "$mp" "unmounted"
mt_fsck_ok "$img" "fsck clean"
done_testing
