# tests/fuzz/: the structure-aware image fuzzer (fuzzimg: seed images, the
# catalogue of every on-disk structure and its mutations, the library's and
# fsck's turn on each image) and its tests. docs/TESTING.md, "The image
# fuzzer", says what runs where and how to replay a failure.
check_PROGRAMS += tests/fuzz/fuzzimg
tests_fuzz_fuzzimg_SOURCES = tests/fuzz/fuzz.h tests/fuzz/fuzzimg.c tests/fuzz/mutate.c \
	tests/fuzz/seed.c tests/fuzz/exercise.c
if FOLIO_SANITIZERS
# The tree is a sanitizer build: the fuzzer links its libraries, and runs its
# tools and daemon.
tests_fuzz_fuzzimg_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzzimg_LDFLAGS = $(AM_LDFLAGS)
tests_fuzz_fuzzimg_LDADD = $(FS_LIBS)
FUZZ_SAN_DEPS = tools/mkfs.foliofs tools/fsck.foliofs daemon/foliofs
else
# Any other build: the fuzzer, and the mkfs, fsck and daemon it runs, are
# built again here with AddressSanitizer and UndefinedBehaviorSanitizer
# (every report aborts), from the same sources: one library of fs/,
# format/, cache/ and backing/, and tests/fuzz/san/{mkfs.foliofs,
# fsck.foliofs,foliofs}.
FUZZ_SANITIZE_CC = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SANITIZE_LD = -fsanitize=address,undefined
check_LIBRARIES = tests/fuzz/san/libfzfs.a
tests_fuzz_san_libfzfs_a_SOURCES = $(fs_libfs_a_SOURCES) $(format_libformat_a_SOURCES) \
	$(cache_libcache_a_SOURCES) $(backing_libbacking_a_SOURCES)
tests_fuzz_san_libfzfs_a_CFLAGS = $(AM_CFLAGS) $(LZ4_CFLAGS) $(FUZZ_SANITIZE_CC)
FUZZ_SAN_LIBS = tests/fuzz/san/libfzfs.a $(URCU_LIBS) $(LZ4_LIBS)
tests_fuzz_fuzzimg_CFLAGS = $(AM_CFLAGS) $(FUZZ_SANITIZE_CC)
tests_fuzz_fuzzimg_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_SANITIZE_LD)
tests_fuzz_fuzzimg_LDADD = $(FUZZ_SAN_LIBS)
check_PROGRAMS += tests/fuzz/san/mkfs.foliofs tests/fuzz/san/fsck.foliofs tests/fuzz/san/foliofs
tests_fuzz_san_mkfs_foliofs_SOURCES = $(tools_mkfs_foliofs_SOURCES)
tests_fuzz_san_mkfs_foliofs_CFLAGS = $(AM_CFLAGS) $(FUZZ_SANITIZE_CC)
tests_fuzz_san_mkfs_foliofs_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_SANITIZE_LD)
tests_fuzz_san_mkfs_foliofs_LDADD = $(FUZZ_SAN_LIBS)
tests_fuzz_san_fsck_foliofs_SOURCES = $(tools_fsck_foliofs_SOURCES)
tests_fuzz_san_fsck_foliofs_CFLAGS = $(AM_CFLAGS) $(FUZZ_SANITIZE_CC)
tests_fuzz_san_fsck_foliofs_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_SANITIZE_LD)
tests_fuzz_san_fsck_foliofs_LDADD = $(FUZZ_SAN_LIBS)
tests_fuzz_san_foliofs_SOURCES = $(daemon_foliofs_SOURCES)
tests_fuzz_san_foliofs_CFLAGS = $(daemon_foliofs_CFLAGS) $(FUZZ_SANITIZE_CC)
tests_fuzz_san_foliofs_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_SANITIZE_LD)
tests_fuzz_san_foliofs_LDADD = $(FUZZ_SAN_LIBS) $(FUSE_LIBS)
FUZZ_SAN_DEPS = tests/fuzz/san/mkfs.foliofs tests/fuzz/san/fsck.foliofs tests/fuzz/san/foliofs
endif

# make check: 1,000 images in the library (fuzz.sh), a sample through the
# daemon (daemon.sh), mkfs's options (mkfs.sh), the regression images.
FUZZ_TESTS = tests/fuzz/fuzz.sh tests/fuzz/daemon.sh tests/fuzz/mkfs.sh tests/fuzz/regress.sh
TESTS += $(FUZZ_TESTS)
EXTRA_DIST += $(FUZZ_TESTS) tests/fuzz/lib.sh tests/fuzz/check-fuzz.sh tests/fuzz/regress
$(FUZZ_TESTS): tests/fuzz/fuzzimg $(FUZZ_SAN_DEPS)

# make check-fuzz: the long run (FUZZ_LONG_IMAGES, default 100,000).
.PHONY: check-fuzz
check-fuzz: all tests/fuzz/fuzzimg $(FUZZ_SAN_DEPS)
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		sh $(top_srcdir)/tests/fuzz/check-fuzz.sh
