# tests/unit/fs_core.mk: unit tests of the filesystem core (super, alloc,
# inode, extent, file) without FUSE: they mount images made by
# tools/mkfs.foliofs with fs_mount and end with tools/fsck.foliofs clean.
FS_CORE_TESTS = tests/unit/test_fs_core tests/unit/test_fs_extent tests/unit/test_fs_enospc
check_PROGRAMS += $(FS_CORE_TESTS)
TESTS += $(FS_CORE_TESTS)
FS_CORE_UTIL = tests/unit/fscore_util.c tests/unit/fscore_util.h tests/lib/tap.h
tests_unit_test_fs_core_SOURCES = tests/unit/test_fs_core.c $(FS_CORE_UTIL)
tests_unit_test_fs_core_LDADD = $(FS_LIBS)
tests_unit_test_fs_extent_SOURCES = tests/unit/test_fs_extent.c $(FS_CORE_UTIL)
tests_unit_test_fs_extent_LDADD = $(FS_LIBS)
tests_unit_test_fs_enospc_SOURCES = tests/unit/test_fs_enospc.c $(FS_CORE_UTIL)
tests_unit_test_fs_enospc_LDADD = $(FS_LIBS)
# The tests run mkfs.foliofs and fsck.foliofs from the build tree.
$(FS_CORE_TESTS): tools/mkfs.foliofs tools/fsck.foliofs
