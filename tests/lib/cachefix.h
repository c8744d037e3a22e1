/*
 * tests/lib/cachefix.h - the fixture of the cache unit tests (and of
 * bench/bench_cache): a RAM device, optionally behind the fault-injecting
 * wrapper, a cache over it, up to FX_MAX_FILES tests/lib/testfs files each
 * over its own region of the device, the device's own mapping, and a model
 * of file 0's bytes; with the byte pattern the tests write and checks of the
 * device's bytes behind the cache's back.
 *
 * What each test needs differently is a field of struct fx_params. A test
 * tears down with fx_teardown(), naming the leak checks it wants, or in two
 * steps with its own checks in between: fx_put_files() lets go of everything
 * that holds pages, fx_destroy() destroys the cache and the device. Setup
 * BAILs when a step fails.
 */
#ifndef FOLIO_TESTS_CACHEFIX_H
#define FOLIO_TESTS_CACHEFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backing/bdev.h"
#include "cache/cache.h"
#include "tests/lib/testfs.h"

#define FX_MAX_FILES 4

/* What fx_setup() builds; a field left 0 takes the default named. */
struct fx_params {
	uint64_t dev_bytes;	   /* the RAM device's size */
	uint32_t lbs;		   /* its logical block size (512) */
	bool faulty;		   /* the cache sees the fault-injecting wrapper */
	struct cache_config cache; /* passed to cache_create */
	unsigned nfiles;	   /* testfs files to make (at most FX_MAX_FILES) */
	unsigned blkbits;	   /* their block size (12) */
	uint64_t file_off;	   /* file i's region starts at file_off + i * file_bytes */
	uint64_t file_bytes;	   /* each region's size in bytes */
	bool allocated;		   /* every block allocated, i_size = file_bytes */
	bool model;		   /* fx->model: file_bytes of zeros, for file 0 */
	bool dev_mapping;	   /* fx->bm: the device's mapping, blkbits blocks */
	/* Replace testfs's map_blocks or add a dirty_notify (NULL: leave). */
	int (*map_blocks)(struct address_space *mapping, uint64_t lblk, uint32_t max,
			  uint64_t *pblk, unsigned *flags);
	void (*dirty_notify)(struct address_space *mapping);
};

struct fx {
	struct cache *cache;
	struct bdev *mem;   /* the RAM device: contents are checked here */
	struct bdev *dev;   /* what the cache uses: mem or the faulty wrapper */
	struct faulty *ctl; /* NULL without the wrapper */
	struct testfile f[FX_MAX_FILES];
	unsigned nfiles;
	struct address_space bm; /* the device mapping, if params.dev_mapping */
	bool has_bm;
	struct address_space_operations aops; /* the files': testfs's, overridden */
	unsigned blkbits, bs;
	uint64_t file_off, file_bytes;
	unsigned char *model; /* expected bytes of file 0, if params.model */
};

/* Build what @p asks for into @fx. */
void fx_setup(struct fx *fx, const struct fx_params *p);
/* A testfs file over device bytes [off, off + bytes) with 1 << blkbits
 * blocks, in fx's cache; the caller destroys it (testfile_destroy). */
void fx_file_init(struct fx *fx, struct testfile *f, unsigned blkbits, uint64_t off,
		  uint64_t bytes);
/* Stop the flusher threads, destroy fx's files and device mapping: what
 * the cache still holds after the RCU callbacks have run is a leak. */
void fx_put_files(struct fx *fx);
/* Destroy the cache, close the device, free the model. */
void fx_destroy(struct fx *fx);

/* What fx_teardown() checks is zero, one TAP line each, in this order. */
enum fx_leak {
	FX_PAGES = 1 << 0,	/* "teardown: no page in use" */
	FX_MAPPINGS = 1 << 1,	/* "teardown: no mapping" */
	FX_HEADS = 1 << 2,	/* "teardown: no buffer head" */
	FX_NODES = 1 << 3,	/* "teardown: no xarray node" */
	FX_METADATA = 1 << 4,	/* "teardown: no metadata bytes" */
	FX_FILE_PAGES = 1 << 5, /* "teardown: NR_FILE_PAGES 0" */
	FX_SHADOWS = 1 << 6,	/* "teardown: NR_SHADOWS 0" */
	FX_DIRTY = 1 << 7,	/* "teardown: NR_DIRTY 0" */
};
/* fx_put_files(), then after the RCU callbacks the checks @what (enum
 * fx_leak bits) names, fx_destroy(), and "no xarray node alive after destroy
 * and rcu_barrier": the xarray nodes are counted process-wide. */
void fx_teardown(struct fx *fx, unsigned what);

/* Byte @off of pattern @seed, and @len of them from @off into @p. */
static inline uint8_t fx_pat(uint64_t off, unsigned seed)
{
	return (uint8_t)((off * 131 + (off >> 9) * 7 + seed * 29) ^ (seed << 3));
}
void fx_fill(unsigned char *p, uint64_t off, size_t len, unsigned seed);

/* Write pattern @seed to [pos, pos + len) of file 0 through the cache, and
 * into the model (BAILs unless all is written). */
void fx_write(struct fx *fx, uint64_t pos, size_t len, unsigned seed);
/* Does the RAM device hold @want at byte @off? */
bool fx_dev_has(struct fx *fx, uint64_t off, const void *want, size_t len);
/* Does the RAM device hold the model's bytes [pos, pos + len) of file 0? */
bool fx_dev_matches(struct fx *fx, uint64_t pos, size_t len);
/* Is page @index of file 0 cached with flag @bit? */
bool fx_page_flag(struct fx *fx, uint64_t index, enum pageflags bit);

#endif /* FOLIO_TESTS_CACHEFIX_H */
