# tests/: the shared test library (tests/lib), then each part's own rules.
EXTRA_DIST += tests/lib/tap.h tests/lib/tap.sh tests/lib/tap.py tests/lib/util.sh \
	tests/lib/mount.sh tests/lib/clock.h

# The cache tests' block mapper and fixture, linked by the cache tests and
# bench/bench_cache.
noinst_LIBRARIES += tests/lib/libtestfs.a
tests_lib_libtestfs_a_SOURCES = tests/lib/testfs.c tests/lib/testfs.h tests/lib/cachefix.c \
	tests/lib/cachefix.h
TESTFS_LIBS = tests/lib/libtestfs.a $(CACHE_LIBS)

# The filesystem tests' fixture (images, fs_mount, fsck), linked by test_fs_*.
noinst_LIBRARIES += tests/lib/libfsfix.a
tests_lib_libfsfix_a_SOURCES = tests/lib/fsfix.c tests/lib/fsfix.h
FSFIX_LIBS = tests/lib/libfsfix.a $(FS_LIBS)

# A writer of journal transactions, for the journal's tests.
noinst_LIBRARIES += tests/lib/libjwriter.a
tests_lib_libjwriter_a_SOURCES = tests/lib/jwriter.c tests/lib/jwriter.h
JWRITER_LIBS = tests/lib/libjwriter.a $(FORMAT_LIBS)

# The slowest parts first, so a parallel `make check` starts them early.
include tests/fsx/local.mk
include tests/fuzz/local.mk
include tests/crash/local.mk
include tests/mount/local.mk
include tests/unit/local.mk
include tests/tools/local.mk

# make check-stress: the whole suite STRESS_RUNS (5) times in a row beside
# stress-ng (tests/stress-check.sh, docs/TESTING.md). Not part of make check.
check-stress: all
	bash $(top_srcdir)/tests/stress-check.sh $(abs_top_builddir)
EXTRA_DIST += tests/stress-check.sh
