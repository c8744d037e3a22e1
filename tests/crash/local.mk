# tests/crash/: the crash tests (docs/TESTING.md, "Crash tests"): the
# replayer's own test so far.
CRASH_TESTS = \
	tests/crash/replay.sh
TESTS += $(CRASH_TESTS)
EXTRA_DIST += $(CRASH_TESTS) tests/crash/lib.sh tests/crash/replay_test.py
