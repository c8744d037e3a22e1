#!/bin/bash
# tests/crash/regress.sh - crash states the tester found wrong, kept as
# regression tests. Each is a workload of ace.py and the state right after
# its sync returned (ace.py --states at-sync), in both cache modes; strict
# (CRASH_EXPECT_JOURNAL=yes here).
#
#   1:6    creat B + fdatasync(B)         B was missing: fdatasync of a new,
#   1:14   creat D/B + fdatasync(D/B)     empty file wrote no metadata (its
#                                         name); fs_inode_new now sets
#                                         datasync_dirty
#   1:18   mkdir E + fdatasync(E)         E was missing, and E/C after a
#   1:142  rename D E + fdatasync(E)      rename: fdatasync of a directory
#                                         wrote nothing; it is fsync now
#   1:141  rename D E + fsync(E)          (the fsync twin, which passed)
#
# And foliofs-fsx, 2 KiB blocks, cache=daemon, seed 1019, 300 operations,
# every state: the journal's commit at unmount skipped the flush between the
# file data (written when the inodes were evicted) and its commit block, so
# a crash could keep the commit and lose the data: a state showed another
# file's old bytes in the fsx file (subset:677 of that run's log; the log
# replays the same way on an idle machine, and every state of it is checked).
. "$(dirname "$0")/lib.sh"
crash_need_mounts
crash_tmpdir crash-regress
CRASH_EXPECT_JOURNAL=yes crash_py "$srcdir/tests/crash/ace.py" run "$builddir" "$T/w" \
	--ids 1:6,1:6,1:14,1:14,1:18,1:18,1:142,1:142,1:141,1:141 --states at-sync
CRASH_EXPECT_JOURNAL=yes crash_py "$srcdir/tests/crash/fsx_crash.py" "$builddir" "$T/f" \
	--bs 2048 --cache daemon --seed 1019 --ops 300
done_testing
