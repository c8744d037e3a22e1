# tests/crash/: the crash tests (docs/TESTING.md, "Crash tests"): the
# replayer's and the checkers' own tests, and workloads on recorded mounts
# (-o debug_logwrites) whose crash states are mounted, checked and fscked.
# The mount tests need root and /dev/fuse and skip without. While foliofs
# has no metadata journal, failing crash states are reported as TODO
# (CRASH_EXPECT_JOURNAL in tests/crash/lib.sh).
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
	tests/crash/replay_test.py
