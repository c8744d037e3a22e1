/*
 * tests/lib/testfs.c - the unit tests' minimal block mapper (see testfs.h).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testfs.h"

static int testfs_lock(struct testfile *f, unsigned flags)
{
	if (flags & MAP_NOWAIT)
		return pthread_mutex_trylock(&f->lock) ? -EAGAIN : 0;
	pthread_mutex_lock(&f->lock);
	return 0;
}

/* Length of the run starting at @lblk whose allocation state equals @state. */
static uint32_t testfs_run(struct testfile *f, uint64_t lblk, uint32_t max, unsigned char state)
{
	uint32_t n = 0;

	while (n < max && lblk + n < f->nblocks && f->alloc[lblk + n] == state)
		n++;
	return n;
}

static int testfs_map_blocks(struct address_space *mapping, uint64_t lblk, uint32_t max,
			     uint64_t *pblk, unsigned *flags)
{
	struct testfile *f = mapping->host;
	unsigned in = *flags;
	uint32_t n;
	int err;

	atomic_fetch_add(&f->map_calls, 1);
	if (lblk >= f->nblocks)
		return (in & MAP_CREATE) ? -ENOSPC : (*flags = MAP_HOLE, (int)max);
	err = testfs_lock(f, in);
	if (err)
		return err;
	*pblk = f->base + lblk;
	if (f->alloc[lblk]) {
		n = testfs_run(f, lblk, max, 1);
		*flags = MAP_MAPPED;
	} else if (in & MAP_CREATE) {
		n = testfs_run(f, lblk, max, 0);
		memset(f->alloc + lblk, 1, n);
		*flags = MAP_MAPPED | MAP_NEW;
	} else {
		n = testfs_run(f, lblk, max, 0);
		*flags = MAP_HOLE;
	}
	pthread_mutex_unlock(&f->lock);
	return (int)n;
}

const struct address_space_operations testfs_aops = {
	.map_blocks = testfs_map_blocks,
};

int testfile_init(struct testfile *f, struct cache *cache, struct bdev *bdev, unsigned blkbits,
		  uint64_t base, uint64_t nblocks)
{
	memset(f, 0, sizeof(*f));
	f->base = base;
	f->nblocks = nblocks;
	f->alloc = calloc(nblocks, 1);
	if (!f->alloc)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	return mapping_init(&f->mapping, cache, bdev, blkbits, &testfs_aops, f);
}

void testfile_destroy(struct testfile *f)
{
	mapping_destroy(&f->mapping);
	pthread_mutex_destroy(&f->lock);
	free(f->alloc);
}

void testfs_punch(struct testfile *f, uint64_t start, uint64_t len)
{
	unsigned bits = f->mapping.blkbits;
	uint64_t first = (start + (1ULL << bits) - 1) >> bits;
	uint64_t end = (start + len) >> bits;

	pthread_mutex_lock(&f->lock);
	for (uint64_t b = first; b < end && b < f->nblocks; b++)
		f->alloc[b] = 0;
	pthread_mutex_unlock(&f->lock);
}

int testfs_truncate(struct testfile *f, uint64_t size)
{
	int err = filemap_truncate(&f->mapping, size);

	if (err)
		return err;
	testfs_punch(f, size, UINT64_MAX - size);
	return 0;
}
