# cache/: the page cache library (links without FUSE).
noinst_LIBRARIES += cache/libcache.a
cache_libcache_a_SOURCES = cache/cache.h cache/internal.h cache/xarray.h cache/xarray.c \
	cache/cache.c cache/page.c cache/filemap.c cache/readahead.c cache/buffer.c cache/writeback.c \
	cache/flusher.c cache/lru.c cache/workingset.c cache/stats.c cache/zpool.h cache/zpool.c \
	cache/zswap.c
cache_libcache_a_CFLAGS = $(AM_CFLAGS) $(LZ4_CFLAGS)
CACHE_LIBS = cache/libcache.a $(BACKING_LIBS) $(URCU_LIBS) $(LZ4_LIBS)
