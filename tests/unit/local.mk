# tests/unit/: TAP programs. The cache's run against the RAM device (and the
# fault-injecting wrapper) through tests/lib/cachefix and tests/lib/testfs;
# the filesystem's (tests/lib/fsfix) make images with tools/mkfs.foliofs,
# mount them with fs_mount (no FUSE) and end with a clean tools/fsck.foliofs.
#
# test_stress runs for STRESS_SECONDS (default 8) with STRESS_THREADS workers
# (default 4) under a STRESS_LIMIT-page memory limit (default 300), seeded by
# STRESS_SEED; e.g. `STRESS_SECONDS=600 tests/unit/test_stress` for a long run.
# FS_DIR_BIG=N changes the 100,000 entries of test_fs_dir's big directory.

# The format library alone.
UNIT_FORMAT_TESTS = tests/unit/test_format tests/unit/test_journal_format
tests_unit_test_format_LDADD = $(FORMAT_LIBS)
tests_unit_test_journal_format_LDADD = $(JWRITER_LIBS) $(BACKING_LIBS)

# backing/ alone; xarray.c alone, so it builds without the rest of cache/.
UNIT_BACKING_TESTS = tests/unit/test_backing tests/unit/test_logwrites tests/unit/test_xarray
tests_unit_test_backing_LDADD = $(BACKING_LIBS)
tests_unit_test_logwrites_LDADD = $(BACKING_LIBS)
tests_unit_test_xarray_SOURCES = tests/unit/test_xarray.c cache/xarray.c
tests_unit_test_xarray_LDADD = $(URCU_LIBS)

# The page cache.
UNIT_CACHE_TESTS = tests/unit/test_page tests/unit/test_filemap tests/unit/test_readahead \
	tests/unit/test_reclaim tests/unit/test_buffer tests/unit/test_writeback \
	tests/unit/test_flusher tests/unit/test_stress tests/unit/test_faults tests/unit/test_zpool \
	tests/unit/test_zswap
tests_unit_test_page_LDADD = $(TESTFS_LIBS)
tests_unit_test_filemap_LDADD = $(TESTFS_LIBS)
tests_unit_test_readahead_LDADD = $(TESTFS_LIBS)
tests_unit_test_reclaim_LDADD = $(TESTFS_LIBS)
tests_unit_test_buffer_LDADD = $(TESTFS_LIBS)
tests_unit_test_writeback_LDADD = $(TESTFS_LIBS)
tests_unit_test_flusher_LDADD = $(TESTFS_LIBS)
tests_unit_test_stress_LDADD = $(TESTFS_LIBS)
tests_unit_test_faults_LDADD = $(TESTFS_LIBS)
tests_unit_test_zpool_LDADD = $(CACHE_LIBS)
tests_unit_test_zswap_LDADD = $(TESTFS_LIBS)

# The filesystem library (super, alloc, inode, extent, file; dir, namei,
# xattr, journal), through tests/lib/fsfix.
UNIT_FS_TESTS = tests/unit/test_fs_core tests/unit/test_fs_extent tests/unit/test_fs_enospc \
	tests/unit/test_fs_dir tests/unit/test_fs_namei tests/unit/test_fs_xattr \
	tests/unit/test_fs_journal tests/unit/test_fs_lies
tests_unit_test_fs_core_LDADD = $(FSFIX_LIBS)
tests_unit_test_fs_extent_LDADD = $(FSFIX_LIBS)
tests_unit_test_fs_enospc_LDADD = $(FSFIX_LIBS)
tests_unit_test_fs_dir_LDADD = $(FSFIX_LIBS)
tests_unit_test_fs_namei_LDADD = $(FSFIX_LIBS)
tests_unit_test_fs_xattr_LDADD = $(FSFIX_LIBS)
tests_unit_test_fs_journal_LDADD = $(FSFIX_LIBS)
tests_unit_test_fs_lies_LDADD = $(FSFIX_LIBS)
# They run mkfs.foliofs and fsck.foliofs from the build tree.
$(UNIT_FS_TESTS): tools/mkfs.foliofs tools/fsck.foliofs

UNIT_TESTS = $(UNIT_FORMAT_TESTS) $(UNIT_BACKING_TESTS) $(UNIT_CACHE_TESTS) $(UNIT_FS_TESTS)
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
