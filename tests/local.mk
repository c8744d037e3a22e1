# tests/: unit tests (TAP programs), mount scenarios, fsx suite. Each part keeps
# its rules in its own fragment.
EXTRA_DIST += tests/lib/tap.h tests/lib/tap.sh
include tests/unit/backing.mk
include tests/unit/xarray.mk
include tests/unit/cache.mk
include tests/unit/cache_wb.mk
include tests/unit/flusher.mk
include tests/unit/stress.mk
include tests/unit/fs_core.mk
include tests/unit/fs_dir.mk
include tests/mount/mount.mk

# The unit tests' block mapper, linked by the cache tests.
noinst_LIBRARIES += tests/lib/libtestfs.a
tests_lib_libtestfs_a_SOURCES = tests/lib/testfs.c tests/lib/testfs.h
TESTFS_LIBS = tests/lib/libtestfs.a $(CACHE_LIBS)
