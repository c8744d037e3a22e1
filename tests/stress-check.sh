#!/usr/bin/env bash
# tests/stress-check.sh - the whole suite, several times in a row, on a loaded
# machine: proof that no test races.
#
# Usage: tests/stress-check.sh [BUILDDIR]   (default: the current directory)
#   STRESS_RUNS=N     how many `make check` runs in a row (default 5)
#   STRESS_ARGS=...   the load (default: stress-ng --cpu 2 --io 1 --vm 1
#                     --vm-bytes 1G, i.e. as many CPU hogs as the CI machine has
#                     cores, plus an I/O and a memory hog)
#   STRESS_JOBS=N     make -j for each run (default: nproc)
#
# stress-ng runs for the whole series and is stopped (by its pid) on every
# exit path. The series stops at the first run that fails; the failing tests
# and the end of their logs are printed, and the script exits 1. Each run's
# summary goes to BUILDDIR/stress-check.log. Needs stress-ng (apt-get install
# stress-ng) and whatever `make check` needs (root for the mount tests).
set -u
builddir=$(cd "${1:-.}" && pwd) || exit 2
runs=${STRESS_RUNS:-5}
jobs=${STRESS_JOBS:-$(nproc)}
load=${STRESS_ARGS:---cpu 2 --io 1 --vm 1 --vm-bytes 1G}
log=$builddir/stress-check.log

command -v stress-ng >/dev/null || { echo "stress-check: stress-ng is not installed" >&2; exit 2; }
[ -f "$builddir/Makefile" ] || { echo "stress-check: $builddir is not a configured build" >&2; exit 2; }

stress_pid=
stop_stress() {
	if [ -n "$stress_pid" ]; then
		kill "$stress_pid" 2>/dev/null
		wait "$stress_pid" 2>/dev/null
		stress_pid=
	fi
}
trap stop_stress EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086
stress-ng $load --timeout 0 --quiet >/dev/null 2>&1 &
stress_pid=$!
sleep 1
kill -0 "$stress_pid" 2>/dev/null || { echo "stress-check: stress-ng did not start ($load)" >&2; exit 2; }

: >"$log"
echo "stress-check: $runs runs of make -j$jobs check beside stress-ng $load" | tee -a "$log"
for i in $(seq 1 "$runs"); do
	start=$(date +%s)
	make -C "$builddir" -j"$jobs" check >"$builddir/stress-check.run.log" 2>&1
	status=$?
	secs=$(($(date +%s) - start))
	summary=$(grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR):' "$builddir/stress-check.run.log" | tr -s ' ' | tr '\n' ' ')
	echo "run $i/$runs: exit $status in ${secs}s: $summary" | tee -a "$log"
	if [ "$status" != 0 ]; then
		echo "stress-check: run $i failed:" | tee -a "$log"
		grep -E '^(FAIL|ERROR):' "$builddir/stress-check.run.log" | tee -a "$log"
		for t in $(grep -E '^(FAIL|ERROR):' "$builddir/stress-check.run.log" | awk '{print $2}' | sort -u); do
			echo "--- end of $t.log" | tee -a "$log"
			tail -n 25 "$builddir/$t.log" 2>/dev/null | tee -a "$log"
		done
		exit 1
	fi
done
echo "stress-check: $runs of $runs runs passed" | tee -a "$log"
