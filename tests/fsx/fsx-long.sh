#!/bin/bash
# tests/fsx/fsx-long.sh - the long consistency run behind `make check-long`
# (not part of make check): foliofs-fsx on foliofs mounts for every block
# size (1, 2, 4 KiB) and cache mode (daemon, kernel), cache_size=2M and the
# small dirty limit where the daemon has it, as in tests/fsx/fsx-foliofs.sh
# but longer. On each of the six mounts:
#   A. one process, 60000 ops on a file of up to 4 MiB, remounting (unmount,
#      wait, fsck, mount) every 15000 ops;
#   B. four processes at once, 25000 ops each on files of up to 2 MiB,
#      foliofs-ctl sync and drop-caches every 2500 ops;
#   C. one process, 20000 ops on a file of up to 256 KiB, drop-caches every
#      1000 ops;
# then unmount and fsck. 180000 operations a mount, 1080000 in all; the total
# and the time are printed at the end.
#
# Environment: FSX_LONG_SCALE=N multiplies every run's operations by N
# (default 1); FSX_SEED_BASE shifts every seed (default 0: the seeds are
# fixed, so a failure replays; see docs/TESTING.md).
. "$top_srcdir/tests/fsx/fsx-mount-lib.sh"

scale=${FSX_LONG_SCALE:-1}
base=${FSX_SEED_BASE:-0}
dirty=$(fm_dirty_opts)
[ -n "$dirty" ] || diag "the daemon has no dirty_bytes= option: no small dirty limit"
total=0
start=$(date +%s)

# Add the operations of the last run (every "N ops passed" line) to $total.
count_ops() {
	local n
	n=$(awk '/ ops passed, seed / { for (i = 1; i < NF; i++) if ($(i + 1) == "ops") s += $i }
		 END { print s + 0 }' "$T/fsx.out")
	total=$((total + n))
}

for bs in 1024 2048 4096; do
	for cache in daemon kernel; do
		tag="B=$bs cache=$cache"
		FM_FSX_OPTS=$([ $cache = kernel ] && echo --msync-mapwrite)
		img=$T/img
		mp=$T/mnt
		c=$([ $cache = kernel ] && echo 1 || echo 0)
		seed=$((base + 10000 + bs / 1024 * 100 + c * 10))
		mt_mkfs "$img" "$bs" 128M
		if ! fm_mount "$img" "$mp" "cache=$cache,cache_size=2M$dirty"; then
			ok 1 "$tag: mount"
			continue
		fi
		ok 0 "$tag: mount -o cache=$cache,cache_size=2M$dirty"
		n=$((60000 * scale))
		fm_fsx "$tag: seed $seed, $n ops up to 4 MiB, remount every $((n / 4))" \
			-q -N $n -S $seed -l 4m -o 256k --exec "$FM_REMOUNT" --exec-every $((n / 4)) \
			"$mp/remount"
		count_ops
		n=$((25000 * scale))
		fm_fsx "$tag: 4 processes, seeds $((seed + 1))-$((seed + 4)), $n ops each, sync+drop-caches" \
			-q -p 4 -N $n -S $((seed + 1)) -l 2m -o 128k --exec "$FM_SYNC_DROP" \
			--exec-every $((n / 10)) "$mp/multi"
		count_ops
		n=$((20000 * scale))
		fm_fsx "$tag: seed $((seed + 5)), $n ops up to 256 KiB, drop-caches every $((n / 20))" \
			-q -N $n -S $((seed + 5)) --exec "$FM_DROP" --exec-every $((n / 20)) "$mp/small"
		count_ops
		fm_umount "$tag"
		steal=$(($(fm_sum pgsteal_kswapd) + $(fm_sum pgsteal_direct)))
		diag "$tag: $total ops so far, $(($(date +%s) - start)) s; reclaimed $steal," \
			"written $(fm_sum nr_written), background $(fm_sum pgwrite_background)"
		ok $([ "$steal" -gt 0 ] && echo 0 || echo 1) "$tag: reclaim ran (pgsteal_* $steal)"
		rm -f "$img"
	done
done
diag "total: $total operations checked in $(($(date +%s) - start)) s"
ok $([ "$total" -ge $((1000000 * scale)) ] && echo 0 || echo 1) \
	"at least $((1000000 * scale)) operations in all ($total)"
done_testing
