#!/bin/bash
# bench/zswap.sh - the compressed tier's fio figures, measured side by side:
# every target is mounted at once (cache=daemon, each on its own image) and
# each round runs the same job on every target in turn (in a rotating order),
# so that the changing load of a shared machine falls on all alike and the
# ratios compare neighbours.
#
# Groups (BENCH_ZSWAP_GROUPS, default all three):
#   compress    random 4 KiB reads (bench/fio/zswap.fio) over a file 1.25 x
#               cache_size of data that compresses 2:1
#               (buffer_compress_percentage=50, refill_buffers,
#               buffer_compress_chunk=4k) on three mounts:
#                 on   cache_size=C, zswap_max_pool_percent=BENCH_ZSWAP_POOL
#                 off  cache_size=C, zswap=off
#                 big  cache_size=2C (the whole file fits), zswap=off
#               goals: pgpgin(on) <= 10% of pgpgin(off), IOPS(on) >= 1.2 x
#               IOPS(off), IOPS(on) >= 0.85 x IOPS(big)
#   incompress  the same over data that does not compress
#               (buffer_compress_percentage=0) on "on" and "off":
#               goal IOPS(on) >= 0.97 x IOPS(off)
#   admission   random 4 KiB reads over a hot file of C bytes while a
#               sequential scan passes once through a region of a large file
#               at BENCH_ZSWAP_SCAN_RATE (bench/fio/zswap-scan.fio; every
#               round scans a region no run read before), on two mounts with
#               the tier on:
#                 all  zswap_admission=all
#                 ws   zswap_admission=workingset
#               the hot job's IOPS, the scan's MB/s and what the tier did
#   metadata    bench/metadata.py's create, stat (random, the kernel's
#               dentries dropped first) and unlink of BENCH_ZSWAP_META_FILES
#               empty files in one directory through a BENCH_ZSWAP_META_CACHE
#               cache, so that directory and inode-table blocks keep leaving
#               it: with the tier on (meta-on) and off (meta-off). With empty
#               files every page is metadata: this measures metadata in the
#               tier.
# Before each measured run the (first) job runs BENCH_ZSWAP_WARM seconds
# (not counted) with another seed; the daemon's counters (pgpgin, zswpin,
# ...) are read before and after the measured run.
#
# Environment: BENCH_ZSWAP_CACHE=256M (C), BENCH_ZSWAP_RUNTIME=15 (seconds),
# BENCH_ZSWAP_WARM=5, BENCH_ZSWAP_ROUNDS=5, BENCH_ZSWAP_POOL=50,
# BENCH_ZSWAP_SCAN_RATE=16M (bytes/s; C/16 per second by default),
# BENCH_ZSWAP_META_FILES=30000, BENCH_ZSWAP_META_CACHE=4M,
# BENCH_ZSWAP_GROUPS="compress incompress admission", BENCH_TMPDIR (where
# the images go, default /var/tmp), BENCH_IMAGE_SIZE=4G.
# Quick pass: BENCH_ZSWAP_CACHE=64M BENCH_ZSWAP_RUNTIME=5 BENCH_ZSWAP_WARM=3
# BENCH_ZSWAP_ROUNDS=1.
#
# Prints one markdown report (machine, date, command, every run, the ratios
# with their spread over the rounds and the goals met or missed) and keeps
# it in bench/zswap.md in the build directory, the raw figures in
# bench/zswap.results. Run from the build directory (`make bench` does);
# needs root, fio and a release build.
set -u
. "$(dirname "$0")/lib.sh"

size_of() { numfmt --from=iec "${1^^}"; }

C=${BENCH_ZSWAP_CACHE:-256M}
RUNTIME=${BENCH_ZSWAP_RUNTIME:-15}
WARM=${BENCH_ZSWAP_WARM:-5}
ROUNDS=${BENCH_ZSWAP_ROUNDS:-5}
POOL=${BENCH_ZSWAP_POOL:-50}
ZB_SCAN_REGION=0
CB0=$(size_of "${BENCH_ZSWAP_CACHE:-256M}")
SCAN_RATE=$(size_of "${BENCH_ZSWAP_SCAN_RATE:-$((CB0 / 16))}")
ZGROUPS=${BENCH_ZSWAP_GROUPS:-compress incompress admission metadata}
META_FILES=${BENCH_ZSWAP_META_FILES:-30000}
META_CACHE=${BENCH_ZSWAP_META_CACHE:-4M}
CB=$(size_of "$C")
FIO=$B_SRC/bench/fio
OUT=$B_BUILD/bench

bt_setup zswap.sh
RES=$BT/results
: >"$RES"

# counters MP: the daemon's counters and meminfo figures, "name value"
counters() {
	"$CTL" "$1" stats | awk '{ sub(":", "", $1); print $1, $2 }'
}

# stat_delta BEFORE AFTER NAME: how much NAME grew between two snapshots.
stat_delta() {
	local a b
	a=$(awk -v k="$3" '$1 == k { print $2 }' "$1")
	b=$(awk -v k="$3" '$1 == k { print $2 }' "$2")
	echo $((${b:-0} - ${a:-0}))
}

# fio_jobs JSON: "job iops MB/s" for every job of a fio run.
fio_jobs() {
	python3 - "$1" <<'EOF'
import json, sys
t = open(sys.argv[1]).read()
d = json.loads(t[t.index('{'):t.rindex('}') + 1])
for j in d['jobs']:
    r = j['read']
    print(j['jobname'], '%.0f' % r['iops'], '%.1f' % (r['bw_bytes'] / 1e6))
EOF
}

# record GROUP TARGET ROUND KEY VALUE
record() {
	echo "$1 $2 $3 $4 $5" >>"$RES"
}

mount_target() { # mount_target NAME OPTS
	bt_mount_foliofs "$BT/$1.img" "$BT/mnt-$1" "cache=daemon,$2" ||
		{ bt_note "$1: cannot mount"; exit 1; }
}

# measure GROUP TARGET ROUND FIOFILE SECTIONS...: warm-up (the first
# section alone), then the measured run of every section with the counters
# around it.
measure() {
	local g=$1 t=$2 r=$3 file=$4 mp=$BT/mnt-$2 json=$BT/$1.$2.$3.json s
	shift 4
	local sections=()
	for s in "$@"; do sections+=("--section=$s"); done
	ZB_SEED=$((r * 1000 + 7)) ZB_RUNTIME=$WARM fio --directory="$mp" --section="$1" \
		"$FIO/$file" >/dev/null 2>"$BT/fio.err" || bt_note "$g $t: warm-up failed"
	counters "$mp" >"$BT/before"
	export ZB_SCAN_OFFSET=$(((r - 1) * ZB_SCAN_REGION))
	if ! ZB_SEED=$((r * 1000 + 1)) ZB_RUNTIME=$RUNTIME fio --output-format=json \
		--output="$json" --directory="$mp" "${sections[@]}" "$FIO/$file" 2>"$BT/fio.err"; then
		bt_note "$g $t round $r: fio failed: $(tail -n 3 "$BT/fio.err" | tr '\n' ' ')"
		return 1
	fi
	counters "$mp" >"$BT/after"
	fio_jobs "$json" | while read -r job iops mbs; do
		[ "$job" = scan ] || [ "$job" = hot ] || [ "$job" = read ] || continue
		record "$g" "$t" "$r" "iops:$job" "$iops"
		record "$g" "$t" "$r" "mbs:$job" "$mbs"
	done
	for s in pgpgin zswpin zswpout reject_compress_poor reject_admission pool_limit_hit \
		lru_dropped_pages cache_hits cache_misses; do
		record "$g" "$t" "$r" "$s" "$(stat_delta "$BT/before" "$BT/after" "$s")"
	done
	for s in Zswap Zswapped stored_pages; do
		record "$g" "$t" "$r" "$s" "$(awk -v k="$s" '$1 == k { print $2 }' "$BT/after")"
	done
	echo "#   $g round $r $t: $(fio_jobs "$json" | tr '\n' ' ')" \
		"pgpgin +$(stat_delta "$BT/before" "$BT/after" pgpgin)" \
		"zswpin +$(stat_delta "$BT/before" "$BT/after" zswpin) ($(bt_load))" >&2
}

# rotate N WORDS...: the words starting at position N mod their count.
rotate() {
	local n=$1
	shift
	local a=("$@") i
	for ((i = 0; i < ${#a[@]}; i++)); do
		printf '%s ' "${a[$(((i + n) % ${#a[@]}))]}"
	done
}

# group_compress GROUP PERCENT TARGETS...
group_compress() {
	local g=$1 pct=$2 t r
	shift 2
	export ZB_SIZE=$((CB * 5 / 4)) ZB_COMPRESS=$pct ZB_SEED=1 ZB_RUNTIME=$RUNTIME
	for t in "$@"; do
		fio --directory="$BT/mnt-$t" --section=layout "$FIO/zswap.fio" >/dev/null 2>&1 ||
			bt_note "$g $t: layout failed"
	done
	for ((r = 1; r <= ROUNDS; r++)); do
		for t in $(rotate "$r" "$@"); do
			measure "$g" "$t" "$r" zswap.fio read
		done
	done
	for t in "$@"; do rm -f "$BT/mnt-$t/zswap.dat"; done
}

group_admission() {
	local t r
	# one region per round (the warm-up reads the hot file alone)
	export ZB_SCAN_REGION=$((SCAN_RATE * RUNTIME / 1048576 * 1048576))
	export ZB_HOT=$CB ZB_SCAN=$((ROUNDS * ZB_SCAN_REGION)) ZB_SEED=1 ZB_RUNTIME=$RUNTIME
	export ZB_SCAN_RATE=$SCAN_RATE ZB_SCAN_OFFSET=0
	for t in all ws; do
		fio --directory="$BT/mnt-$t" --section=layout --section=layout-scan \
			"$FIO/zswap-scan.fio" >/dev/null 2>&1 || bt_note "admission $t: layout failed"
	done
	for ((r = 1; r <= ROUNDS; r++)); do
		for t in $(rotate "$r" all ws); do
			measure admission "$t" "$r" zswap-scan.fio hot scan
		done
	done
	for t in all ws; do rm -f "$BT/mnt-$t/hot.dat" "$BT/mnt-$t/scan.dat"; done
}

# group_metadata: metadata.py on meta-on and meta-off, a new directory per run.
group_metadata() {
	local t r mp json k
	for ((r = 1; r <= ROUNDS; r++)); do
		for t in $(rotate "$r" meta-on meta-off); do
			mp=$BT/mnt-$t
			json=$BT/metadata.$t.$r.json
			counters "$mp" >"$BT/before"
			if ! python3 "$B_SRC/bench/metadata.py" "$mp/dir.$r" "$META_FILES" 0 >"$json"; then
				bt_note "metadata $t round $r: metadata.py failed"
				continue
			fi
			counters "$mp" >"$BT/after"
			for k in create_s stat_s unlink_s; do
				record metadata "$t" "$r" "$k" "$(python3 -c \
					'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
					"$json" "$k")"
			done
			for k in pgpgin zswpin zswpout reject_compress_poor; do
				record metadata "$t" "$r" "$k" "$(stat_delta "$BT/before" "$BT/after" "$k")"
			done
			for k in Zswap Zswapped; do
				record metadata "$t" "$r" "$k" "$(awk -v k="$k" '$1 == k { print $2 }' "$BT/after")"
			done
			echo "#   metadata round $r $t: $(cat "$json")" \
				"pgpgin +$(stat_delta "$BT/before" "$BT/after" pgpgin)" \
				"zswpin +$(stat_delta "$BT/before" "$BT/after" zswpin) ($(bt_load))" >&2
			rmdir "$mp/dir.$r" 2>/dev/null
		done
	done
}

has_group() {
	case " $ZGROUPS " in *" $1 "*) return 0 ;; esac
	return 1
}

mkdir -p "$OUT"
start=$(date -u '+%Y-%m-%d %H:%M UTC')
load0=$(bt_load)
# Every target is mounted for the whole run and unmounted by the EXIT trap:
# a process outside the benchmark that holds a mount's directory open (a
# system-wide syncfs loop, say) must not stall it between groups.
opts="cache_size=$C,zswap_max_pool_percent=$POOL"
if has_group compress || has_group incompress; then
	mount_target on "$opts"
	mount_target off "cache_size=$C,zswap=off"
fi
has_group compress && mount_target big "cache_size=$((CB * 2)),zswap=off"
if has_group admission; then
	mount_target all "$opts,zswap_admission=all"
	mount_target ws "$opts,zswap_admission=workingset"
fi
if has_group metadata; then
	mount_target meta-on "cache_size=$META_CACHE,zswap_max_pool_percent=$POOL"
	mount_target meta-off "cache_size=$META_CACHE,zswap=off"
fi
has_group compress && group_compress compress 50 on off big
has_group incompress && group_compress incompress 0 on off
has_group admission && group_admission
has_group metadata && group_metadata
load1=$(bt_load)
cp "$RES" "$OUT/zswap.results"
cmd="BENCH_ZSWAP_CACHE=$C BENCH_ZSWAP_RUNTIME=$RUNTIME BENCH_ZSWAP_WARM=$WARM"
cmd="$cmd BENCH_ZSWAP_ROUNDS=$ROUNDS BENCH_ZSWAP_POOL=$POOL BENCH_ZSWAP_SCAN_RATE=$SCAN_RATE"
cmd="$cmd BENCH_ZSWAP_META_FILES=$META_FILES BENCH_ZSWAP_META_CACHE=$META_CACHE"
cmd="$cmd BENCH_ZSWAP_GROUPS=\"$ZGROUPS\" bench/zswap.sh (commit $(git -C "$B_SRC" rev-parse --short HEAD 2>/dev/null || echo ?))"
python3 "$B_SRC/bench/zswap_table.py" "$RES" "$start" "$load0" "$load1" "$C" "$POOL" \
	"$RUNTIME" "$WARM" "$ROUNDS" "$cmd" | tee "$OUT/zswap.md"
