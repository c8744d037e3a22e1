#!/bin/bash
# tests/crash/ace-crash.sh - bounded workloads in the style of the ACE /
# CrashMonkey study (ace.py): 1 to 3 operations over a small namespace, each
# followed by fsync, fdatasync, fsync of its directory or nothing, recorded;
# then crash states of each, mounted, unmounted, fsck.foliofs -n, and the
# oracle of ace.py (the guarantees of docs/DESIGN.md). A fixed sample here:
# 12 workloads of one operation, 10 of two, 8 of three, at most 4 states
# each (at least 110 states); `make check-crash` runs far more. Every state
# must pass (CRASH_EXPECT_JOURNAL=no makes failing ones TODO: tests/crash/lib.sh).
. "$(dirname "$0")/lib.sh"
crash_need_mounts
crash_tmpdir ace-crash
export CRASH_TALLY_FILE=$T/tally
seed=${CRASH_SEED_BASE:-0}
crash_py "$srcdir/tests/crash/ace.py" run "$builddir" "$T/w" --sample 1:12,2:10,3:8 \
	--seed $((seed + 21)) --states 4
diag "ace crash states: $(crash_totals "$T/tally")"
done_testing
