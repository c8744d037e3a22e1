# tests/unit/flusher.mk: the flusher threads, dirty thresholds and throttling
# (TAP), against the RAM device behind the fault-injecting wrapper.
check_PROGRAMS += tests/unit/test_flusher
TESTS += tests/unit/test_flusher
tests_unit_test_flusher_LDADD = $(TESTFS_LIBS)
