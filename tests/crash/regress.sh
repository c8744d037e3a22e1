#!/bin/bash
# tests/crash/regress.sh - crash states the tester found wrong, kept as
# regression tests. Each is a workload of ace.py and the state right after
# its sync returned (ace.py --states at-sync), in both cache modes. These
# hold without a journal too, so they are strict today
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
. "$(dirname "$0")/lib.sh"
crash_need_mounts
crash_tmpdir crash-regress
CRASH_EXPECT_JOURNAL=yes crash_py "$srcdir/tests/crash/ace.py" run "$builddir" "$T/w" \
	--ids 1:6,1:6,1:14,1:14,1:18,1:18,1:142,1:142,1:141,1:141 --states at-sync
done_testing
