# backing/: block devices under the cache (image file, RAM, fault injection).
noinst_LIBRARIES += backing/libbacking.a
backing_libbacking_a_SOURCES = backing/bdev.h backing/internal.h backing/bdev.c backing/file.c \
	backing/mem.c backing/faulty.c
BACKING_LIBS = backing/libbacking.a
