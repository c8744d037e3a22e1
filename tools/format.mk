# tools/format.mk: mkfs.foliofs and fsck.foliofs, the format's unit test and
# the tools' shell tests.
bin_PROGRAMS += tools/mkfs.foliofs tools/fsck.foliofs
FORMAT_TOOL_LIBS = fs/libformat.a backing/libbacking.a -lpthread

tools_mkfs_foliofs_SOURCES = tools/mkfs.c
tools_mkfs_foliofs_LDADD = $(FORMAT_TOOL_LIBS)

tools_fsck_foliofs_SOURCES = tools/fsck.h tools/fsck.c tools/fsck_super.c \
	tools/fsck_inode.c tools/fsck_extent.c tools/fsck_xattr.c tools/fsck_dir.c \
	tools/fsck_bitmap.c
tools_fsck_foliofs_LDADD = $(FORMAT_TOOL_LIBS)

check_PROGRAMS += tests/unit/test_format
tests_unit_test_format_SOURCES = tests/unit/test_format.c
tests_unit_test_format_LDADD = fs/libformat.a -lpthread

FORMAT_TOOL_TESTS = tests/tools/lib.sh tests/tools/mkfs_fsck.sh tests/tools/mkfs_refuse.sh \
	tests/tools/mkfs_options.sh tests/tools/fsck_bad_images.sh \
	tests/tools/fsck_corrupt.sh tests/tools/mkfs_label_uuid.sh tests/tools/fsck_populated.sh
TESTS += tests/unit/test_format tests/tools/mkfs_fsck.sh tests/tools/mkfs_refuse.sh \
	tests/tools/mkfs_options.sh tests/tools/fsck_bad_images.sh \
	tests/tools/fsck_corrupt.sh tests/tools/mkfs_label_uuid.sh tests/tools/fsck_populated.sh
EXTRA_DIST += $(FORMAT_TOOL_TESTS)

# A test-only builder of populated (and deliberately corrupted) images.
check_PROGRAMS += tests/tools/mkimage
tests_tools_mkimage_SOURCES = tests/tools/mkimage.c
tests_tools_mkimage_LDADD = fs/libformat.a -lpthread
