# tests/fuzz/: the structure-aware image fuzzer (fuzzimg: seed images, the
# catalogue of every on-disk structure and its mutations, the library's and
# fsck's turn on each image) and its tests. docs/TESTING.md, "The image
# fuzzer", says what runs where and how to replay a failure.
check_PROGRAMS += tests/fuzz/fuzzimg
tests_fuzz_fuzzimg_SOURCES = tests/fuzz/fuzz.h tests/fuzz/fuzzimg.c tests/fuzz/mutate.c \
	tests/fuzz/seed.c tests/fuzz/exercise.c
tests_fuzz_fuzzimg_LDADD = $(FS_LIBS)

# make check: 1,000 images in the library (fuzz.sh), a sample through the
# daemon (daemon.sh), mkfs's options (mkfs.sh), the regression images.
FUZZ_TESTS = tests/fuzz/fuzz.sh tests/fuzz/daemon.sh tests/fuzz/mkfs.sh tests/fuzz/regress.sh
TESTS += $(FUZZ_TESTS)
EXTRA_DIST += $(FUZZ_TESTS) tests/fuzz/lib.sh tests/fuzz/check-fuzz.sh tests/fuzz/regress
$(FUZZ_TESTS): tests/fuzz/fuzzimg tools/mkfs.foliofs tools/fsck.foliofs daemon/foliofs

# make check-fuzz: the long run (FUZZ_LONG_IMAGES, default 100,000).
.PHONY: check-fuzz
check-fuzz: all tests/fuzz/fuzzimg
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		sh $(top_srcdir)/tests/fuzz/check-fuzz.sh
