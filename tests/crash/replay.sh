#!/bin/bash
# tests/crash/replay.sh - foliofs-crash on write logs made byte by byte
# (replay_test.py): list, the crash states it lists, the images it builds
# (prefixes exactly; subsets keep what was flushed and FUA, tear only as a
# prefix of tear units, never take a later write), bad input. No mount.
. "$(dirname "$0")/lib.sh"
make_tmpdir T "${TMPDIR:-/tmp}" crash-replay
crash_py "$srcdir/tests/crash/replay_test.py" "$builddir" "$T/work"
done_testing
