# tests/unit/fs_dir.mk: unit tests of directories, names and extended
# attributes (fs/dir.c, fs/namei.c, fs/xattr.c). TAP programs that make images
# with tools/mkfs.foliofs, mount them with fs_mount (no FUSE) and end with a
# clean tools/fsck.foliofs, for block sizes 1, 2 and 4 KiB.
# FS_DIR_BIG=N changes the 100,000 entries of test_fs_dir's big directory.
FSDIR_TEST_SOURCES = tests/unit/fsdir_util.c tests/unit/fsdir_util.h
check_PROGRAMS += tests/unit/test_fs_dir tests/unit/test_fs_namei tests/unit/test_fs_xattr
TESTS += tests/unit/test_fs_dir tests/unit/test_fs_namei tests/unit/test_fs_xattr
tests_unit_test_fs_dir_SOURCES = tests/unit/test_fs_dir.c $(FSDIR_TEST_SOURCES)
tests_unit_test_fs_dir_LDADD = $(FS_LIBS)
tests_unit_test_fs_namei_SOURCES = tests/unit/test_fs_namei.c $(FSDIR_TEST_SOURCES)
tests_unit_test_fs_namei_LDADD = $(FS_LIBS)
tests_unit_test_fs_xattr_SOURCES = tests/unit/test_fs_xattr.c $(FSDIR_TEST_SOURCES)
tests_unit_test_fs_xattr_LDADD = $(FS_LIBS)
