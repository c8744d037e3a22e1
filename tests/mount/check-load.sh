#!/bin/bash
# tests/mount/check-load.sh - `make check-load`: the load and exhaustion
# tests at full size, one after another (not part of make check):
#   flood.sh   64 threads for FLOOD_SECONDS (60) while foliofs-ctl retunes
#              the cache; flood-kernel: the same with cache=kernel
#   limits.sh  LIMITS_FULL=1: two files of 100,000 extents, the longest
#              paths
#   bigdir.sh  a directory of BIGDIR_ENTRIES (1,000,000) entries: created,
#              listed, every name looked up, removed
#   soak.sh    fio with verify=crc32c and fsync, 4 jobs, SOAK_SECONDS (600)
#              while cache_size, the dirty limits and readahead change
# Each test's TAP output goes to load-NAME.log in the build directory; the
# script prints one line per test (its result, its time, its failing lines)
# and exits 1 when one failed. LOAD_TESTS="flood limits" runs a subset.
set -u
builddir=${top_builddir:-$(pwd)}
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
export top_builddir=$builddir top_srcdir=$srcdir
export FLOOD_SECONDS=${FLOOD_SECONDS:-60} LIMITS_FULL=${LIMITS_FULL:-1}
export SOAK_SECONDS=${SOAK_SECONDS:-600} BIGDIR_ENTRIES=${BIGDIR_ENTRIES:-1000000}
failed=0
for t in ${LOAD_TESTS:-flood flood-kernel limits bigdir soak}; do
	log=$builddir/load-$t.log
	start=$(date +%s)
	case $t in
	flood-kernel) FLOOD_CACHE=kernel bash "$srcdir/tests/mount/flood.sh" >"$log" 2>&1 ;;
	*) bash "$srcdir/tests/mount/$t.sh" >"$log" 2>&1 ;;
	esac
	rc=$?
	secs=$(($(date +%s) - start))
	if [ "$rc" = 0 ] && ! grep -q '^not ok' "$log"; then
		echo "PASS: $t ($secs s, $(grep -c '^ok' "$log") checks; $log)"
	else
		echo "FAIL: $t ($secs s, exit $rc; $log)"
		grep -E '^(not ok|Bail out)' "$log" | head -n 20 | sed 's/^/  /'
		failed=1
	fi
	grep -E '^# (total|time|before|after|ops|flood|rand|odd|seq|two)' "$log" | sed 's/^/  /'
done
exit $failed
