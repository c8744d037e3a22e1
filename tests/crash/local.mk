# tests/crash/: the crash tests (docs/TESTING.md, "Crash tests"): the
# replayer's and the checkers' own tests, and workloads on recorded mounts
# (-o debug_logwrites) whose crash states are mounted, checked and fscked.
# The mount tests need root and /dev/fuse and skip without. While
# CRASH_EXPECT_JOURNAL=no (tests/crash/lib.sh), failing crash states are
# reported as TODO.
CRASH_TESTS = \
	tests/crash/fsx-crash.sh \
	tests/crash/ace-crash.sh \
	tests/crash/regress.sh \
	tests/crash/logwrites.sh \
	tests/crash/replay.sh \
	tests/crash/oracle.sh
TESTS += $(CRASH_TESTS)
EXTRA_DIST += $(CRASH_TESTS) tests/crash/lib.sh tests/crash/crashlib.py \
	tests/crash/fsx_crash.py tests/crash/ace.py tests/crash/oracle_test.py \
	tests/crash/replay_test.py tests/crash/check-crash.sh tests/crash/kill9-fio.sh

# make check-crash: at least 10,000 crash states (foliofs-fsx and ACE-style
# workloads) and the kill -9 test during fio with verify and fsync (50
# kills); prints the counts. Not part of make check. CRASH_SCALE=N
# multiplies the workloads, CRASH_SEED_BASE shifts every seed.
check-crash: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		bash $(top_srcdir)/tests/crash/check-crash.sh
