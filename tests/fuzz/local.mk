# tests/fuzz/: the structure-aware image fuzzer (fuzzimg: seed images, the
# catalogue of every on-disk structure and its mutations, the library's and
# fsck's turn on each image) and its tests. docs/TESTING.md, "The image
# fuzzer", says what runs where and how to replay a failure.
check_PROGRAMS += tests/fuzz/fuzzimg
tests_fuzz_fuzzimg_SOURCES = tests/fuzz/fuzz.h tests/fuzz/fuzzimg.c tests/fuzz/mutate.c \
	tests/fuzz/seed.c tests/fuzz/exercise.c
tests_fuzz_fuzzimg_LDADD = $(FS_LIBS)
