/*
 * tests/lib/testfs.h - a minimal "filesystem" for the cache's unit tests.
 *
 * Each test file owns a fixed region of a RAM (or faulty) device: logical
 * block n of file f lives at device block f->base + n once allocated. Blocks
 * start as holes; map_blocks with MAP_CREATE allocates them (MAP_NEW), and
 * testfs_punch() turns them back into holes without zeroing the device, so a
 * cache that forgets to zero new blocks shows stale bytes. The allocation map
 * is protected by file->lock; MAP_NOWAIT uses trylock.
 */
#ifndef FOLIO_TESTS_TESTFS_H
#define FOLIO_TESTS_TESTFS_H

#include "cache/cache.h"

struct testfile {
	struct address_space mapping;
	uint64_t base;          /* first device block of the region */
	uint64_t nblocks;       /* region size in blocks */
	unsigned char *alloc;   /* 1 per allocated logical block; protected by lock */
	pthread_mutex_t lock;
	_Atomic uint64_t map_calls; /* map_blocks calls, for tests that count them */
};

extern const struct address_space_operations testfs_aops;

/* Set up @f over device blocks [base, base + nblocks) with block size 1 << blkbits. */
int testfile_init(struct testfile *f, struct cache *cache, struct bdev *bdev, unsigned blkbits,
		  uint64_t base, uint64_t nblocks);
/* Truncate the page cache and free the file's state. */
void testfile_destroy(struct testfile *f);
/* Deallocate logical blocks wholly inside [start, start + len) (bytes). The
 * caller has already removed the cached pages (truncate_inode_pages_range). */
void testfs_punch(struct testfile *f, uint64_t start, uint64_t len);
/* Truncate to @size: page cache and allocation map. */
int testfs_truncate(struct testfile *f, uint64_t size);

#endif /* FOLIO_TESTS_TESTFS_H */
