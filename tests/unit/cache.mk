# tests/unit/cache.mk: unit tests for the page cache core (pages, lookup and
# the read/write paths, readahead, reclaim and workingset), TAP programs
# against the RAM device through tests/lib/testfs.
check_PROGRAMS += tests/unit/test_page tests/unit/test_filemap tests/unit/test_readahead \
	tests/unit/test_reclaim
TESTS += tests/unit/test_page tests/unit/test_filemap tests/unit/test_readahead \
	tests/unit/test_reclaim
tests_unit_test_page_LDADD = $(TESTFS_LIBS)
tests_unit_test_filemap_LDADD = $(TESTFS_LIBS)
tests_unit_test_readahead_LDADD = $(TESTFS_LIBS)
tests_unit_test_reclaim_LDADD = $(TESTFS_LIBS)
