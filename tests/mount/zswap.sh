#!/bin/bash
# tests/mount/zswap.sh - the compressed tier on a mount, in both cache modes,
# with cache_size=2M and zswap_max_pool_percent=50:
#  1. bad values of every option refuse the mount; the daemon's default is
#     zswap=on; get and set of every parameter, bad values refused; foliofs-ctl stats shows zswap's counters and the
#     Zswap/Zswapped/ZswapRatio lines;
#  2. tests/mount/zswap.py: a file whose pages are in the tier is truncated,
#     extended, punched and overwritten, then reads back right (O_DIRECT, so
#     the reads reach the daemon in both modes), and again from the image
#     after fsync and drop-caches, which empties the tier;
#  3. zswap=off and on again every 0.3 s while two foliofs-fsx processes run:
#     every byte they read is right; while off the tier holds nothing;
#  4. unmount, fsck clean.
. "$(dirname "$0")/lib.sh"

FSX=$builddir/tools/foliofs-fsx
[ -x "$CTL" ] || bail "$CTL is not built"
[ -x "$FSX" ] || bail "$FSX is not built"

mt_mkfs "$T/img.bad" 4096 16M
for opt in zswap=maybe zswap_max_pool_percent=101 zswap_compressor=zstd zswap_compressor=lz4hc:13 \
	zswap_max_compressed_percent=0 zswap_admission=some zswap_accept_threshold_percent=; do
	mt_try_mount "$T/img.bad" "$T/mnt.bad" -o "$opt"
	is "$rc" 2 "-o $opt refused (exit 2)"
done

for mode in daemon kernel; do
	img=$T/img.$mode
	mp=$T/mnt.$mode
	mt_mkfs "$img" 4096 64M
	if ! mt_mount "$img" "$mp" -o cache=$mode,cache_size=2M,zswap_max_pool_percent=50; then
		ok 1 "$mode: mount"
		continue
	fi
	ok 0 "$mode: mount -o cache=$mode,cache_size=2M,zswap_max_pool_percent=50"

	is "$("$CTL" "$mp" get zswap)" on "$mode: zswap is on by default"
	is "$("$CTL" "$mp" get zswap_max_pool_percent)" 50 "$mode: zswap_max_pool_percent from -o"
	is "$("$CTL" "$mp" get zswap_accept_threshold_percent)" 90 \
		"$mode: zswap_accept_threshold_percent 90 by default"
	is "$("$CTL" "$mp" get zswap_compressor)" lz4 "$mode: zswap_compressor lz4 by default"
	is "$("$CTL" "$mp" get zswap_max_compressed_percent)" 75 \
		"$mode: zswap_max_compressed_percent 75 by default"
	is "$("$CTL" "$mp" get zswap_admission)" all "$mode: zswap_admission all by default"
	"$CTL" "$mp" set zswap_compressor=lz4hc:4 &&
		is "$("$CTL" "$mp" get zswap_compressor)" lz4hc:4 "$mode: set zswap_compressor=lz4hc:4"
	"$CTL" "$mp" set zswap_compressor=lz4 >/dev/null
	"$CTL" "$mp" set zswap_max_pool_percent=101 2>"$T/err"
	rc=$?
	is "$rc" 1 "$mode: set zswap_max_pool_percent=101 refused"
	like "$(cat "$T/err")" "bad value '101' for zswap_max_pool_percent" "$mode: with a message"
	stats=$("$CTL" "$mp" stats)
	for n in zswpout zswpin stored_pages same_filled_pages pool_total_size pool_limit_hit \
		reject_compress_poor reject_alloc_fail reject_admission decompress_fail \
		lru_dropped_pages; do
		like "$stats" "^$n [0-9]+$" "$mode: stats: $n"
	done
	for n in Zswap Zswapped ZswapMax; do
		like "$stats" "^$n: +[0-9]+ kB$" "$mode: stats: $n: (meminfo)"
	done
	like "$stats" "^ZswapRatio: +[0-9]+\.[0-9]+$" "$mode: stats: ZswapRatio:"

	py_tap -- "$PYDIR/zswap.py" "$mp" "$CTL"

	# zswap off and on while two testers run
	(cd "$T" && "$FSX" -q -p 2 -N 2500 -S $((500 + ${#mode})) -l 2m -o 128k \
		"$mp/fsx" >"$T/fsx.out" 2>&1) &
	fsx=$!
	flips=0 empty=0
	while kill -0 "$fsx" 2>/dev/null; do
		"$CTL" "$mp" set zswap=off >/dev/null || break
		[ "$(ctl_stat "$mp" stored_pages)" = 0 ] && empty=$((empty + 1))
		sleep 0.3
		"$CTL" "$mp" set zswap=on >/dev/null || break
		flips=$((flips + 1))
		sleep 0.3
	done
	wait "$fsx"
	rc=$?
	is "$rc" 0 "$mode: two testers passed while zswap went off and on $flips times"
	[ "$rc" = 0 ] || show_file "$T/fsx.out" 40
	ok $([ "$flips" -gt 0 ] && [ "$empty" = "$flips" ] && echo 0 || echo 1) \
		"$mode: every time it went off the tier held nothing ($empty of $flips)"
	diag "$mode: zswpout $(ctl_stat "$mp" zswpout), zswpin $(ctl_stat "$mp" zswpin)"

	mt_umount_ok "$mp" "$mode: unmounted"
	mt_fsck_ok "$img" "$mode: fsck clean"
done
done_testing
