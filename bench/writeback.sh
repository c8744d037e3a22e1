#!/bin/bash
# bench/writeback.sh - writeback benchmarks (docs/BENCHMARKS.md,
# "Writeback"). Not a test: it prints figures and judges nothing.
#
#   bench/writeback.sh [BUILDDIR]     (default: the current directory)
#   env: SIZE (sequential bytes, default 1G), RAND_SIZE (random-write file,
#        default 64M), RAND_SECS (default 20), BENCH_DIR (where the image and
#        the raw file go, default /var/tmp), CACHE (cache_size, default 256M)
#
# In one run, on the same filesystem:
#  1. raw device: fio sequential 1 MiB writes of SIZE with O_DIRECT and
#     end_fsync on a plain file, and 4 KiB random writes with fsync=1;
#  2. foliofs: the same two jobs on a mounted image (cache=daemon: every
#     write reaches foliofs's cache, the flusher writes in the background,
#     fsync writes the rest);
#  3. writeback alone: SIZE written into a cache large enough to hold it
#     (dirty_ratio=90, no periodic runs), then one fsync, timed: the rate at
#     which the cache writes merged runs to the image;
#  4. a dirty-throttling run: dd of SIZE through foliofs with dirty_bytes=32M,
#     sampling foliofs-ctl stats every 0.25 s: the application's write rate,
#     dirty and under-writeback memory, throttle events.
# Needs root, /dev/fuse and fio. Build without --enable-debug for figures.
set -u

BENCH_BUILDDIR=$(cd "${1:-.}" && pwd)
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
SIZE=${SIZE:-1G}
RAND_SIZE=${RAND_SIZE:-64M}
RAND_SECS=${RAND_SECS:-20}
CACHE=${CACHE:-256M}

for p in "$FOLIOFS" "$MKFS" "$FSCK" "$CTL"; do
	[ -x "$p" ] || { echo "writeback.sh: $p is not built" >&2; exit 2; }
done
command -v fio >/dev/null || { echo "writeback.sh: fio is not installed" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "writeback.sh: needs root (FUSE mounts)" >&2; exit 2; }

mt_tmpdir "${BENCH_DIR:-/var/tmp}" foliofs-wb
D=$T
MP=$D/mnt

# fio_run NAME ARGS...: one job, JSON out; prints "MB/s IOPS".
fio_run() {
	local name=$1
	shift
	fio --name="$name" --output-format=json "$@" >"$D/$name.json" 2>"$D/$name.err" || {
		cat "$D/$name.err" >&2
		echo "0 0"
		return
	}
	python3 - "$D/$name.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]["write"]
print("%.1f %.0f" % (j["bw_bytes"] / 1e6, j["iops"]))
EOF
}

mount_fs() {
	mt_mount "$D/img" "$MP" -o "cache_size=$CACHE$*" || {
		echo "writeback.sh: mount failed" >&2
		exit 1
	}
}

umount_fs() {
	mt_umount "$MP"
}

echo "# writeback benchmark: SIZE=$SIZE RAND_SIZE=$RAND_SIZE (${RAND_SECS}s) cache_size=$CACHE"
echo "# kernel $(uname -r), $(nproc) CPUs, files in $D"

SEQ=(--rw=write --bs=1M --size="$SIZE" --ioengine=psync --end_fsync=1)
RND=(--rw=randwrite --bs=4k --size="$RAND_SIZE" --ioengine=psync --fsync=1 --time_based
	--runtime="$RAND_SECS" --randrepeat=0)

read -r raw_seq _ < <(fio_run raw_seq --filename="$D/raw" --direct=1 "${SEQ[@]}")
read -r _ raw_rnd < <(fio_run raw_rand --filename="$D/raw" --direct=1 "${RND[@]}")
rm -f "$D/raw"

"$MKFS" -q -f -b 4096 -s $((3 * $(numfmt --from=iec "$SIZE") / 2 + (256 << 20))) "$D/img" ||
	exit 1
mount_fs ""
read -r fs_seq _ < <(fio_run fs_seq --filename="$MP/seq" "${SEQ[@]}")
seq_stats="pgwrite_background=$(ctl_stat "$MP" pgwrite_background) pgwrite_sync=$(ctl_stat "$MP" pgwrite_sync) pgwrite_reclaim=$(ctl_stat "$MP" pgwrite_reclaim) bdev_writes=$(ctl_stat "$MP" bdev_writes) bdev_write_bytes=$(ctl_stat "$MP" bdev_write_bytes)"
rm -f "$MP/seq"
read -r _ fs_rnd < <(fio_run fs_rand --filename="$MP/rand" "${RND[@]}")
rm -f "$MP/rand"
umount_fs

echo
printf "%-44s %12s %12s\n" "job" "raw device" "foliofs"
printf "%-44s %9s MB/s %7s MB/s\n" "sequential 1 MiB writes, $SIZE, end_fsync" "$raw_seq" "$fs_seq"
printf "%-44s %8s IOPS %7s IOPS\n" "random 4 KiB writes, fsync=1" "$raw_rnd" "$fs_rnd"
python3 -c "import sys; r, f = float(sys.argv[1]), float(sys.argv[2]); print('sequential: foliofs at %.0f%% of the raw device' % (100 * f / r if r else 0))" "$raw_seq" "$fs_seq"
echo "foliofs sequential run: $seq_stats"

# --- writeback alone: one fsync of SIZE dirty bytes --------------------------
big=$(($(numfmt --from=iec "$SIZE") + (256 << 20)))
mount_fs ",cache_size=$big,dirty_ratio=90,dirty_background_ratio=80,dirty_writeback_centisecs=0"
i0=$(date +%s.%N)
dd if=/dev/zero of="$MP/alone" bs=1M count=$(($(numfmt --from=iec "$SIZE") >> 20)) status=none
i1=$(date +%s.%N)
echo "ingest alone (the FUSE write path into the cache, nothing written back):" \
	"$(echo "scale=1; $(numfmt --from=iec "$SIZE") / ($i1 - $i0) / 1000000" | bc) MB/s"
w0=$(ctl_stat "$MP" bdev_writes)
dirty=$(ctl_stat "$MP" nr_dirty)
t0=$(date +%s.%N)
sync "$MP/alone"
t1=$(date +%s.%N)
w1=$(ctl_stat "$MP" bdev_writes)
python3 - "$t1" "$t0" "$dirty" $((w1 - w0)) "$raw_seq" <<'EOF'
import sys
t = float(sys.argv[1]) - float(sys.argv[2])
d, w, raw = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
rate = d * 4096 / t / 1e6
print("writeback alone: fsync of %d dirty pages took %.2f s: %.1f MB/s in %d device writes "
      "(%.0f KiB each), %.0f%% of the raw device" % (d, t, rate, w, d * 4 / max(w, 1),
                                                     100 * rate / raw if raw else 0))
EOF
rm -f "$MP/alone"
umount_fs

# --- dirty throttling over time ---------------------------------------------
echo
echo "# dirty throttling: dd bs=1M of $SIZE with dirty_bytes=32M, dirty_background_bytes=8M"
mount_fs ",dirty_bytes=32M,dirty_background_bytes=8M"
dd if=/dev/zero of="$MP/throttle" bs=1M count=$(($(numfmt --from=iec "$SIZE") >> 20)) \
	conv=fsync status=none &
dd_pid=$!
printf "%6s %10s %10s %12s %10s %10s\n" "t(s)" "app MB/s" "dirty MB" "writeback MB" "bdp_events" "pause_ms"
prev=$(ctl_stat "$MP" fuse_write_bytes)
start=$(date +%s.%N)
last=$start
while kill -0 "$dd_pid" 2>/dev/null; do
	sleep 0.25
	"$CTL" "$MP" stats >"$D/stats" 2>/dev/null || break
	now=$(date +%s.%N)
	awk -v t="$(echo "$now - $start" | bc)" -v dt="$(echo "$now - $last" | bc)" -v prev="$prev" '
		$1 == "fuse_write_bytes" { w = $2 }
		$1 == "nr_dirty" { d = $2 } $1 == "nr_writeback" { b = $2 }
		$1 == "balance_dirty_pages_events" { e = $2 }
		$1 == "balance_dirty_pages_pause_ms" { p = $2 }
		END { printf "%6.2f %10.1f %10.1f %12.1f %10d %10d\n", t, (w - prev) / dt / 1e6,
		      d * 4096 / 1e6, b * 4096 / 1e6, e, p }' "$D/stats"
	prev=$(awk '$1 == "fuse_write_bytes" { print $2 }' "$D/stats")
	last=$now
done
wait "$dd_pid"
echo "dirty_threshold=$(ctl_stat "$MP" dirty_threshold) pages, pgwrite_background=$(ctl_stat "$MP" pgwrite_background), pgwrite_periodic=$(ctl_stat "$MP" pgwrite_periodic), pgwrite_sync=$(ctl_stat "$MP" pgwrite_sync)"
rm -f "$MP/throttle"
umount_fs
"$FSCK" "$D/img" | tail -n 1
