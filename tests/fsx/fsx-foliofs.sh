#!/bin/bash
# tests/fsx/fsx-foliofs.sh BLOCKSIZE - the short consistency suite: foliofs-fsx
# on real foliofs mounts with BLOCKSIZE-byte blocks (run through
# fsx-foliofs-1k.sh, -2k.sh and -4k.sh), in both cache modes.
#
# Every mount has cache_size=2M, so with files of up to 4 MiB the cache's
# reclaim runs all the time, and a small dirty limit (dirty_bytes=1M,
# dirty_background_bytes=256K) where the daemon has those options, so
# background writeback does too. On each mount:
#   1. one seed, 6000 ops, remounting after ops 3000 and 6000 (unmount, wait
#      for the daemon to exit, fsck, mount again; the tester then checks the
#      whole file against its model);
#   2. another seed, 5000 ops, foliofs-ctl drop-caches every 500 ops;
#   3. two processes on their own files, 3000 ops each, stopping together
#      every 1000 ops for foliofs-ctl sync and drop-caches, or (after op
#      2000) a remount under both;
#   4. another seed, 5000 ops on a file of at most 256 KiB (the tester's
#      default sizes: more operations per page), drop-caches every 1000.
# No operation may be turned off as unsupported. Then: the reclaim counters
# (and, with the dirty limit, the background-writeback counter) moved, both
# remounts happened, and the image is fsck-clean after every daemon.
#
# Seeds are fixed (so a failure replays; see docs/TESTING.md); FSX_SEED_BASE
# in the environment shifts them all to explore others.
. "$top_srcdir/tests/fsx/fsx-mount-lib.sh"

bs=${1:-4096}
case $bs in 1024 | 2048 | 4096) ;; *) bail "block size $bs: 1024, 2048 or 4096" ;; esac
base=${FSX_SEED_BASE:-0}
dirty=$(fm_dirty_opts)
# A daemon without the writeback tunables runs without the dirty limit (and
# then writeback runs only from fsync, sync, reclaim and unmount).
[ -n "$dirty" ] || diag "the daemon has no dirty_bytes= option: no small dirty limit"

# fm_no_notes DESC: the last run turned no operation off.
fm_no_notes() {
	if grep -q "not supported here" "$T/fsx.err"; then
		ok 1 "$1"
		show_file "$T/fsx.err" 10
	else
		ok 0 "$1"
	fi
}

for cache in daemon kernel; do
	tag="B=$bs cache=$cache"
	FM_FSX_OPTS=$([ $cache = kernel ] && echo --msync-mapwrite)
	img=$T/img.$bs.$cache
	mp=$T/mnt.$bs.$cache
	c=$([ $cache = kernel ] && echo 1 || echo 0)
	seed=$((base + bs / 1024 * 100 + c * 10 + 1))
	mt_mkfs "$img" "$bs" 64M
	if ! fm_mount "$img" "$mp" "cache=$cache,cache_size=2M,zswap_max_pool_percent=50$dirty"; then
		ok 1 "$tag: mount"
		continue
	fi
	ok 0 "$tag: mount -o cache=$cache,cache_size=2M,zswap_max_pool_percent=50$dirty"
	diag "$tag: cache mode in effect: $("$CTL" "$mp" get cache 2>&1)"

	fm_fsx "$tag: seed $seed, 6000 ops up to 4 MiB, remount after ops 3000 and 6000" \
		-q -N 6000 -S "$seed" -l 4m -o 256k --exec "$FM_REMOUNT" --exec-every 3000 "$mp/remount"
	fm_no_notes "$tag: seed $seed: every operation supported"
	is "$(find "$FM_STATE" -name 'fsck.*' | wc -l)" 2 "$tag: seed $seed: remounted twice, fsck clean"

	fm_fsx "$tag: seed $((seed + 1)), 5000 ops, drop-caches every 500" \
		-q -N 5000 -S $((seed + 1)) -l 4m -o 256k --exec "$FM_DROP" --exec-every 500 "$mp/drop"
	fm_no_notes "$tag: seed $((seed + 1)): every operation supported"

	fm_fsx "$tag: 2 processes, seeds $((seed + 2))-$((seed + 3)), 3000 ops each, remount at 2000" \
		-q -p 2 -N 3000 -S $((seed + 2)) -l 2m -o 128k --exec "$(fm_mixed 1000)" \
		--exec-every 1000 "$mp/multi"
	fm_no_notes "$tag: 2 processes: every operation supported"
	is "$(find "$FM_STATE" -name 'fsck.*' | wc -l)" 3 "$tag: 2 processes: remounted, fsck clean"

	fm_fsx "$tag: seed $((seed + 4)), 5000 ops up to 256 KiB, drop-caches every 1000" \
		-q -N 5000 -S $((seed + 4)) --exec "$FM_DROP" --exec-every 1000 "$mp/small"
	fm_no_notes "$tag: seed $((seed + 4)): every operation supported"

	fm_umount "$tag"
	steal=$(($(fm_sum pgsteal_kswapd) + $(fm_sum pgsteal_direct)))
	written=$(fm_sum nr_written)
	diag "$tag: pages reclaimed $steal, written $written," \
		"background $(fm_sum pgwrite_background), by reclaim $(fm_sum pgwrite_reclaim)"
	ok $([ "$steal" -gt 0 ] && echo 0 || echo 1) "$tag: reclaim ran (pgsteal_* $steal)"
	ok $([ "$written" -gt 0 ] && echo 0 || echo 1) "$tag: writeback ran (nr_written $written)"
	zout=$(fm_sum zswpout)
	zin=$(fm_sum zswpin)
	diag "$tag: compressed tier: stored $zout, loaded $zin, same-filled at the end" \
		"$(fm_sum same_filled_pages), poor $(fm_sum reject_compress_poor)," \
		"limit hits $(fm_sum pool_limit_hit), lru dropped $(fm_sum lru_dropped_pages)"
	ok $([ "$zout" -gt 0 ] && [ "$zin" -gt 0 ] && echo 0 || echo 1) \
		"$tag: pages went through the compressed tier (zswpout $zout, zswpin $zin)"
	if [ -n "$dirty" ]; then
		bg=$(fm_sum pgwrite_background)
		ok $([ "$bg" -gt 0 ] && echo 0 || echo 1) \
			"$tag: the dirty limit started background writeback (pgwrite_background $bg)"
	fi
done
done_testing
