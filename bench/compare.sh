#!/bin/bash
# bench/compare.sh - the fio comparison: the same fio jobs
# (bench/fio/*.fio) on foliofs with cache=daemon and with cache=kernel,
# fuse2fs with its defaults and with -o direct_io, kernel ext4 on a loop
# image, and libfuse's passthrough_ll with cache=never over /dev/shm (the
# FUSE ceiling: what FUSE itself costs per request), plus O_DIRECT writes to
# an image file (the raw device, for the sequential-write goal).
#
# Every target is mounted at once, each on its own image; then each group
# of jobs runs on every target in turn (seqwrite on all, then the
# sequential reads on all, ...), so that the changing load of a shared
# machine falls on all targets alike and ratios compare neighbours. Prints one
# markdown table with foliofs's ratios and the benchmark goals marked met or
# missed, then the daemon's peak RSS (VmHWM) per job next to cache_size
# (the memory goal). Run from the build directory (`make bench` does).
#
# Environment (defaults are the full-size runs):
#   BENCH_SIZE=1G         sequential file          BENCH_RAND_SIZE=512M  random file
#   BENCH_RUNTIME=20      seconds per random job   BENCH_CACHE=1536M     foliofs cache_size
#   BENCH_SMALL_CACHE=256M  foliofs cache_size for compress4x (working set BENCH_WSET)
#   BENCH_WSET=4 x BENCH_SMALL_CACHE               BENCH_IMAGE_SIZE=4G   every image
#   BENCH_PRIME=BENCH_CACHE+BENCH_SIZE  memory touched before each target (0: none)
#   BENCH_ROUNDS=1        every group of jobs N times over; the best figure counts
#   BENCH_FOLIOFS_OPTS    more -o options for both foliofs mounts (",readahead=1M")
#   BENCH_TARGETS="foliofs-daemon foliofs-kernel fuse2fs fuse2fs-dio ext4 ceiling raw"
#   BENCH_JOBS="seqwrite seqread-cold ..."         (all, in the order below)
#   BENCH_TMPDIR=/var/tmp  where the images go     BENCH_PERF=1: perf record the
#                                                  foliofs-daemon runs (see perf_start)
# Quick pass: BENCH_SIZE=256M BENCH_RAND_SIZE=128M BENCH_RUNTIME=5 BENCH_WSET=256M.
#
# Cold = sync, foliofs-ctl sync + drop-caches (foliofs), then
# echo 3 > /proc/sys/vm/drop_caches. Warm = read once before (sequential
# pass with dd for the random file), nothing dropped, fio's invalidate off;
# each warm job runs twice and the better run counts.
# passthrough_ll's files live in tmpfs, which cannot be dropped: its cold
# figures are warm ones. Results: bench/compare.md, bench/compare.results and
# fio's JSON output (bench/compare-json/) in the build directory.
set -u
. "$(dirname "$0")/lib.sh"

bt_size() { numfmt --from=iec "$1"; }

export BENCH_SIZE=${BENCH_SIZE:-1G}
export BENCH_RAND_SIZE=${BENCH_RAND_SIZE:-512M}
export BENCH_RUNTIME=${BENCH_RUNTIME:-20}
export BENCH_CACHE=${BENCH_CACHE:-1536M}
export BENCH_SMALL_CACHE=${BENCH_SMALL_CACHE:-256M}
export BENCH_WSET=${BENCH_WSET:-$(($(bt_size "$BENCH_SMALL_CACHE") * 4))}
export BENCH_IMAGE_SIZE=${BENCH_IMAGE_SIZE:-4G}
BENCH_ROUNDS=${BENCH_ROUNDS:-1}
export BENCH_PRIME=${BENCH_PRIME:-$(($(bt_size "$BENCH_CACHE") + $(bt_size "$BENCH_SIZE")))}
TARGETS=${BENCH_TARGETS:-foliofs-daemon foliofs-kernel fuse2fs fuse2fs-dio ext4 ceiling raw}
ALL_JOBS="seqwrite seqread-cold seqread-warm randread-cold randread-warm randwrite randrw mmap
randwrite-fsync compress4x"
JOBS=${BENCH_JOBS:-$ALL_JOBS}
FIO=$B_SRC/bench/fio
OUT=$B_BUILD/bench

# Removed at exit after everything is unmounted (made before the mounts).
make_tmpdir BT_SHM /dev/shm foliofs-bench
mkdir -p "$BT_SHM/ceiling"
bt_setup compare.sh
RES=$BT/results
: >"$RES"

# record TARGET JOB VALUE: a figure; with several rounds the best one stays
# (the highest: MB/s, IOPS, or a peak RSS).
record() {
	local old
	old=$(awk -v t="$1" -v j="$2" '$1 == t && $2 == j { print $3 }' "$RES")
	if [ -n "$old" ]; then
		[ "$old" != fail ] && { [ "$3" = fail ] ||
			python3 -c "import sys; sys.exit(not $old >= $3)"; } && return 0
		sed -i "/^$1 $2 /d" "$RES"
	fi
	echo "$1 $2 $3" >>"$RES"
}

# fio_value JSON: MB/s (1 MiB jobs) or IOPS (4 KiB jobs), all jobs summed.
fio_value() {
	python3 - "$1" <<'EOF'
import json, sys
t = open(sys.argv[1]).read()
d = json.loads(t[t.index('{'):t.rindex('}') + 1])
bs = iops = 0.0
for j in d['jobs']:
    for k in ('read', 'write'):
        bs += j[k]['bw_bytes']
        iops += j[k]['iops']
big = d['jobs'][0]['job options'].get('bs', d['global options'].get('bs', '')) == '1M'
print('%.1f' % (bs / 1e6) if big else '%.0f' % iops)
EOF
}

# run_fio TARGET MP JOB FILE [FIO ARGS...]: one fio run; records its figure
# (or "fail") and, for foliofs, the daemon's peak RSS during it.
run_fio() {
	local t=$1 mp=$2 job=$3 file=$4 pid v=fail
	shift 4
	pid=$(mt_pid "$mp")
	[ -n "$pid" ] && bt_hwm_reset "$pid"
	if fio --output-format=json --output="$BT/$t.$job.json" --directory="$mp" "$@" \
		"$FIO/$file" >"$BT/$t.$job.err" 2>&1 && v=$(fio_value "$BT/$t.$job.json"); then
		record "$t" "$job" "$v"
	else
		mt_diag "$t $job: fio failed: $(tail -n 3 "$BT/$t.$job.err" | tr '\n' ' ')"
		v=fail
		record "$t" "$job" fail
	fi
	case $t in foliofs*) [ -n "$pid" ] && record "$t" "rss:$job" "$(bt_hwm "$pid")" ;; esac
	echo "#   $t $job: $v ($(bt_load))" >&2
}

# run_warm TARGET MP JOB FILE: a warm job twice; the better run counts (the
# first warm pass may still meet pages the machine has not touched yet).
run_warm() {
	run_fio "$@"
	run_fio "$@"
}

# prime_memory: write and delete a BENCH_PRIME-sized file in /dev/shm, so
# every target starts on memory the machine has touched recently. On this
# VM the first touch of guest memory costs several times a later one (the
# host backs it lazily and takes freed memory back), which otherwise
# favours whichever target runs on recycled memory.
prime_memory() {
	[ "$BENCH_PRIME" = 0 ] && return 0
	dd if=/dev/zero of="$BT_SHM/prime" bs=1M count=$(($(bt_size "$BENCH_PRIME") >> 20)) \
		status=none 2>/dev/null
	rm -f "$BT_SHM/prime"
}

want() {
	local j
	for j in $JOBS; do
		[ "$j" = "$1" ] && return 0
	done
	return 1
}

# step TARGET MP GROUP: one group of jobs on one target. A group keeps
# together what must not be split by another target's cache drop (cold,
# then warm).
step() {
	local t=$1 mp=$2
	case $3 in
	seqwrite)
		want seqwrite || return 0
		prime_memory
		perf_start "$t" seqwrite
		run_fio "$t" "$mp" seqwrite seqwrite.fio
		perf_stop
		;;
	seqread)
		want seqread-cold || want seqread-warm || return 0
		[ -f "$mp/seq.dat" ] || fio --directory="$mp" --create_only=1 "$FIO/seqread.fio" >/dev/null
		bt_drop "$mp" "$t"
		want seqread-cold && run_fio "$t" "$mp" seqread-cold seqread.fio
		want seqread-warm && run_warm "$t" "$mp" seqread-warm seqread.fio
		;;
	randread)
		want randread-cold || want randread-warm || return 0
		fio --directory="$mp" --create_only=1 "$FIO/randread.fio" >/dev/null
		bt_drop "$mp" "$t"
		want randread-cold && run_fio "$t" "$mp" randread-cold randread.fio
		want randread-warm || return 0
		dd if="$mp/rand.dat" of=/dev/null bs=1M status=none
		perf_start "$t" randread-warm
		run_warm "$t" "$mp" randread-warm randread.fio
		perf_stop
		;;
	randwrite)
		want randwrite || return 0
		perf_start "$t" randwrite
		run_fio "$t" "$mp" randwrite randwrite.fio
		perf_stop
		;;
	compress4x) want compress4x && run_compress "$t" "$mp" ;;
	*) want "$3" && run_fio "$t" "$mp" "$3" "$3.fio" ;;
	esac
}

# compress4x: foliofs's cache shrunk to BENCH_SMALL_CACHE for the job (the
# others keep the whole of RAM as their cache).
run_compress() {
	local t=$1 mp=$2
	case $t in foliofs*) "$CTL" "$mp" set "cache_size=$BENCH_SMALL_CACHE" >/dev/null ;; esac
	fio --directory="$mp" --section=layout "$FIO/compress4x.fio" >/dev/null 2>&1
	run_fio "$t" "$mp" compress4x compress4x.fio --section=read
	case $t in foliofs*) "$CTL" "$mp" set "cache_size=$BENCH_CACHE" >/dev/null ;; esac
}

# perf_start TARGET JOB: with BENCH_PERF=1, perf record -g the foliofs-daemon
# daemon during JOB (one of BENCH_PERF_JOBS, default seqwrite randread-warm
# randwrite) into bench/perf-JOB.data in the build directory.
perf_pid=""
perf_start() {
	local pid
	[ "${BENCH_PERF:-0}" = 1 ] && [ "$1" = foliofs-daemon ] || return 0
	case " ${BENCH_PERF_JOBS:-seqwrite randread-warm randwrite} " in *" $2 "*) ;; *) return 0 ;; esac
	pid=$(mt_pid "$mp")
	perf record -g -q -o "$OUT/perf-$2.data" -p "$pid" >"$BT/perf.log" 2>&1 &
	perf_pid=$!
	sleep 1
}

perf_stop() {
	[ -n "$perf_pid" ] || return 0
	kill -INT "$perf_pid" 2>/dev/null
	wait_pid_exit "$perf_pid" 60
	perf_pid=""
}

# target_mount TARGET MP: mount it on its own image; 1 (with a note) when it
# cannot be.
target_mount() {
	local img=$BT/$1.img
	case $1 in
	foliofs-daemon) bt_mount_foliofs "$img" "$2" "cache=daemon,cache_size=$BENCH_CACHE${BENCH_FOLIOFS_OPTS:-}" ;;
	foliofs-kernel) bt_mount_foliofs "$img" "$2" "cache=kernel,cache_size=$BENCH_CACHE${BENCH_FOLIOFS_OPTS:-}" ;;
	fuse2fs) bt_mount_fuse2fs "$img" "$2" ;;
	fuse2fs-dio) bt_mount_fuse2fs "$img" "$2" -o direct_io ;;
	ext4) bt_mount_ext4 "$img" "$2" ;;
	ceiling) bt_mount_passthrough "$BT_SHM/ceiling" "$2" ;;
	raw) mkdir -p "$2" ;;
	esac
}

# mount_all: every target on its own mountpoint; MOUNTED lists those that
# worked.
MOUNTED=""
mount_all() {
	local t
	for t in $TARGETS; do
		if ! target_mount "$t" "$BT/mnt-$t"; then
			mt_diag "$t: cannot mount; skipped"
			record "$t" mounted no
			continue
		fi
		MOUNTED="$MOUNTED $t"
		if [ "$t" = foliofs-daemon ] && grep -q "using cache=kernel" "$BT/mnt-$t.log"; then
			record "$t" fallback yes
		fi
	done
}

umount_all() {
	local t
	for t in $MOUNTED; do
		[ "$t" = raw ] && continue
		case $t in foliofs*) "$CTL" "$BT/mnt-$t" stats >"$OUT/compare-$t.stats" 2>&1 ;; esac
		bt_umount "$BT/mnt-$t" || mt_diag "$t: unmount failed"
	done
}

mkdir -p "$OUT"
start=$(date -u '+%Y-%m-%d %H:%M UTC')
load0=$(bt_load)
mount_all
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
	[ "$BENCH_ROUNDS" -gt 1 ] && mt_diag "round $round of $BENCH_ROUNDS"
	for g in seqwrite seqread randread randwrite randrw mmap randwrite-fsync compress4x; do
		for t in $MOUNTED; do
			mt_diag "$g on $t ($(bt_load))"
			if [ "$t" = raw ]; then
				[ "$g" = seqwrite ] && want seqwrite && { prime_memory; run_fio raw "$BT/mnt-raw" seqwrite rawwrite.fio; }
				rm -f "$BT/mnt-raw/raw.img"
			else
				step "$t" "$BT/mnt-$t" "$g"
			fi
		done
		# Files no later group reads go, to keep memory for the others.
		case $g in seqread | compress4x)
			for t in $MOUNTED; do rm -f "$BT/mnt-$t/seq.dat" "$BT/mnt-$t/compress.dat"; done ;;
		esac
	done
done
umount_all
load1=$(bt_load)
cp "$RES" "$OUT/compare.results"
rm -rf "$OUT/compare-json" && mkdir -p "$OUT/compare-json" && cp "$BT"/*.json "$OUT/compare-json/"
python3 "$B_SRC/bench/compare_table.py" "$RES" "$start" "$load0" "$load1" "$BENCH_CACHE" \
	"$BENCH_SMALL_CACHE" | tee "$OUT/compare.md"
