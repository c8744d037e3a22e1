#!/bin/bash
# tests/crash/check-crash.sh - `make check-crash`: the long crash run.
#
#  1. foliofs-fsx workloads (fsx_crash.py): FSX_RUNS (36) runs of 300
#     operations, over block sizes 1, 2 and 4 KiB and both cache modes, every
#     crash state of each (prefixes and 2 seeded subsets per stretch).
#  2. ACE-style workloads (ace.py): every workload of one operation, 450 of
#     two and 250 of three (seeded), every crash state of each (1 seeded
#     subset per stretch).
#  3. The kill -9 test during fio (kill9-fio.sh): 50 kills.
#  Together at least 10,000 crash states. Prints the totals: states, states
#  with fsck problems (by kind), states with missing or wrong content (by
#  kind), lost durable bytes; exit status 0 only when every state and every
#  kill passed. While foliofs has no journal many states fail (metadata
#  reaches the image in any order); the run then shows the tester finding
#  them.
#
# CRASH_SCALE=N multiplies the workloads (1), CRASH_SEED_BASE shifts the
# seeds (0), CRASH_OUT (default ./check-crash.out in the current directory)
# keeps each part's TAP output, CRASH_KEEP=DIR keeps the logs, base images
# and images of failing states.

. "$(dirname "$0")/lib.sh"
crash_need_mounts
crash_tmpdir check-crash
SCALE=${CRASH_SCALE:-1}
SEED=${CRASH_SEED_BASE:-0}
OUT=${CRASH_OUT:-$PWD/check-crash.out}
mkdir -p "$OUT" || bail "cannot make $OUT"
rm -f "$OUT"/*.tap "$OUT/tally"
export CRASH_TALLY_FILE=$OUT/tally
start=$(date +%s)

part() {
	local name=$1
	shift
	"$@" >"$OUT/$name.tap" 2>&1
	echo "# $name: $(grep -c '^ok' "$OUT/$name.tap") passed, $(grep -c '^not ok' "$OUT/$name.tap") failed ($(($(date +%s) - start)) s so far)"
}

runs=$((36 * SCALE))
for ((i = 0; i < runs; i++)); do
	bs=$((1024 << (i % 3)))
	cache=daemon
	((i / 3 % 2)) && cache=kernel
	part "fsx-$i" $CRASH_PY "$srcdir/tests/crash/fsx_crash.py" "$builddir" "$T/fsx" \
		--bs "$bs" --cache "$cache" --seed $((SEED + 1000 + i)) --ops 300
	rm -rf "$T/fsx"
done
part ace-1 $CRASH_PY "$srcdir/tests/crash/ace.py" run "$builddir" "$T/ace1" --all-1 \
	--seed $((SEED + 2000))
part ace-2 $CRASH_PY "$srcdir/tests/crash/ace.py" run "$builddir" "$T/ace2" \
	--sample 2:$((450 * SCALE)) --seed $((SEED + 3000))
part ace-3 $CRASH_PY "$srcdir/tests/crash/ace.py" run "$builddir" "$T/ace3" \
	--sample 3:$((250 * SCALE)) --seed $((SEED + 4000))
rm -rf "$T/ace1" "$T/ace2" "$T/ace3"
export KILL9_SEED=$((SEED + 1))
part kill9 bash "$srcdir/tests/crash/kill9-fio.sh"

echo "# ---- check-crash totals ($(($(date +%s) - start)) s; TAP output in $OUT)"
echo "# $(crash_totals "$OUT/tally")"
awk '/^CRASH-KIND/ { n[$2 " " substr($0, index($0, $4))] += $3 }
	END { for (k in n) { split(k, w, " "); printf "#   %-7s %6d states: %s\n", w[1], n[k], substr(k, length(w[1]) + 2) } }' \
	"$OUT/tally" | sort -k2,2 -k3,3nr
kills=$(grep -c '^ok.*fsynced blocks.*verify\|^ok.*killed before' "$OUT/kill9.tap")
kfail=$(grep -c '^not ok' "$OUT/kill9.tap")
echo "# kill -9 during fio: $kills rounds verified, $kfail failed checks"
failed=$(awk '/CRASH-TALLY/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "failed") s += kv[2] } } END { print s + 0 }' "$OUT/tally")
[ "$failed" = 0 ] && [ "$kfail" = 0 ]
