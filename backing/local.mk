# backing/: block devices under the cache.
noinst_LIBRARIES += backing/libbacking.a
backing_libbacking_a_SOURCES = backing/bdev.h backing/internal.h backing/bdev.c backing/file.c \
	backing/mem.c backing/faulty.c
