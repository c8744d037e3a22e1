# tests/tools/: mkfs.foliofs and fsck.foliofs from the command line, over
# images made by mkfs and by mkimage, a test-only builder of populated (and
# deliberately damaged) images.
check_PROGRAMS += tests/tools/mkimage
tests_tools_mkimage_LDADD = $(FORMAT_LIBS)

TOOLS_TESTS = tests/tools/mkfs_fsck.sh tests/tools/mkfs_refuse.sh tests/tools/mkfs_options.sh \
	tests/tools/fsck_bad_images.sh tests/tools/fsck_corrupt.sh \
	tests/tools/mkfs_label_uuid.sh tests/tools/fsck_populated.sh
TESTS += $(TOOLS_TESTS)
EXTRA_DIST += $(TOOLS_TESTS) tests/tools/lib.sh
