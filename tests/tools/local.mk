# tests/tools/: mkfs.foliofs and fsck.foliofs from the command line, over
# images made by mkfs and by mkimage, a test-only builder of populated (and
# deliberately damaged) images, and by mkjournal, which leaves an image
# needing journal replay. fsck_repair.sh and fsck_journal.sh mount the
# repaired images with the daemon.
check_PROGRAMS += tests/tools/mkimage tests/tools/mkjournal
tests_tools_mkimage_LDADD = $(FORMAT_LIBS)
tests_tools_mkjournal_LDADD = $(JWRITER_LIBS) $(BACKING_LIBS)

TOOLS_TESTS = tests/tools/mkfs_fsck.sh tests/tools/mkfs_refuse.sh tests/tools/mkfs_options.sh \
	tests/tools/fsck_bad_images.sh tests/tools/fsck_corrupt.sh \
	tests/tools/mkfs_label_uuid.sh tests/tools/fsck_populated.sh tests/tools/fsck_repair.sh \
	tests/tools/fsck_journal.sh
TESTS += $(TOOLS_TESTS)
EXTRA_DIST += $(TOOLS_TESTS) tests/tools/lib.sh
