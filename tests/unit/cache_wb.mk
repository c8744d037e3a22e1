# tests/unit/cache_wb.mk: buffer-head and writeback unit tests (TAP), against
# the RAM device, the fault-injecting wrapper and tests/lib/testfs.
check_PROGRAMS += tests/unit/test_buffer tests/unit/test_writeback
TESTS += tests/unit/test_buffer tests/unit/test_writeback
tests_unit_test_buffer_LDADD = $(TESTFS_LIBS)
tests_unit_test_writeback_LDADD = $(TESTFS_LIBS)
