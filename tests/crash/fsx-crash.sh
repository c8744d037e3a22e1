#!/bin/bash
# tests/crash/fsx-crash.sh - foliofs-fsx with fsyncs on a recorded mount
# (fsx_crash.py), then every crash state foliofs-crash builds from the log:
# each is mounted by the daemon, unmounted, fsck.foliofs -n must find
# nothing, and every byte fsynced before the crash point must be there.
#
#  1. 4 KiB blocks, cache=daemon, 200 operations; 1 KiB blocks,
#     cache=kernel, 150 operations. Every state must pass (with
#     CRASH_EXPECT_JOURNAL=no, tests/crash/lib.sh, failing states are only
#     TODO); the counts are printed at the end.
#  2. The checker sees lost data: a run with -o debug_corrupt_writes=3 (one
#     byte of every third file-data write reaches the image flipped) must
#     report lost durable bytes (its states are TODO; this line is strict).
#
# CRASH_SEED_BASE=N shifts the seeds (docs/TESTING.md).
. "$(dirname "$0")/lib.sh"
crash_need_mounts
crash_tmpdir fsx-crash
export CRASH_TALLY_FILE=$T/tally
seed=${CRASH_SEED_BASE:-0}
crash_py "$srcdir/tests/crash/fsx_crash.py" "$builddir" "$T/a" --bs 4096 --cache daemon \
	--seed $((seed + 11)) --ops 200
crash_py "$srcdir/tests/crash/fsx_crash.py" "$builddir" "$T/b" --bs 1024 --cache kernel \
	--seed $((seed + 12)) --ops 150 --max-len 128k
CRASH_TALLY_FILE= crash_py "$srcdir/tests/crash/fsx_crash.py" "$builddir" "$T/c" --bs 4096 --cache daemon \
	--seed $((seed + 13)) --ops 60 --corrupt 3 --expect-lost --limit 12
diag "fsx crash states (the two runs of 1.): $(crash_totals "$T/tally")"
done_testing
