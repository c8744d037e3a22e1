# backing/: block devices under the cache (image file, RAM, fault injection,
# the recording wrapper of the crash tester).
noinst_LIBRARIES += backing/libbacking.a
backing_libbacking_a_SOURCES = backing/bdev.h backing/internal.h backing/bdev.c backing/file.c \
	backing/mem.c backing/faulty.c backing/logwrites.h backing/logwrites.c
BACKING_LIBS = backing/libbacking.a
