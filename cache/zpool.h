/*
 * cache/zpool.h - the compressed tier's size-classed allocator (zsmalloc-like).
 *
 * Objects of up to ZPOOL_MAX_OBJ bytes live in "zspages" of 1 to
 * ZPOOL_MAX_CHAIN pool pages; the objects of a size class share them and may
 * cross from one page of a zspage to the next, so a class wastes at most a
 * tail of its zspage. There is no allocation per object: backing pages come
 * from the owner's callbacks (zswap takes them from the cache's own page
 * pool, so they count against its memory limit) and go back to it when a
 * zspage empties.
 *
 * An object is known by a handle the pool writes into a word the owner
 * provides (@handlep). The word must stay at the same address while the
 * object lives: compaction moves objects between zspages of their class and
 * rewrites *handlep, under the class's lock. So the owner never reads the
 * handle itself; it passes @handlep and the object's length to every call,
 * and the pool reads the handle under the lock.
 *
 * Locking: one mutex per size class (a leaf in the cache's lock order but
 * for the backing-page callbacks, which may take the cache's pool_lock).
 * Counters are atomic. No call sleeps beyond those mutexes.
 */
#ifndef FOLIO_CACHE_ZPOOL_H
#define FOLIO_CACHE_ZPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"

#define ZPOOL_MAX_OBJ	PAGE_SIZE /* largest object (bytes) */
#define ZPOOL_MAX_CHAIN 8	  /* most pages in one zspage */

/*
 * struct zpool_ops - where backing pages come from.
 * @alloc_page: a page (data at page_address()) or NULL when none may be
 *	taken; must not sleep or reclaim (it is called from reclaim)
 * @free_page:  give a page from @alloc_page back
 */
struct zpool_ops {
	struct page *(*alloc_page)(void *ctx);
	void (*free_page)(void *ctx, struct page *page);
};

/* Figures of a pool, from zpool_stats(). */
struct zpool_stats {
	uint64_t pages;	     /* backing pages held */
	uint64_t objects;    /* live objects */
	uint64_t obj_bytes;  /* their slots' bytes (class sizes, header included) */
	uint64_t zspages;    /* zspages held */
	uint64_t compacted;  /* objects moved by compaction, ever */
	uint64_t meta_bytes; /* zspage descriptors (outside the pages) */
};

struct zpool;

int zpool_create(const struct zpool_ops *ops, void *ctx, struct zpool **out);
void zpool_destroy(struct zpool *pool);
int zpool_store(struct zpool *pool, const void *src, size_t len, uint64_t *handlep);
void zpool_load(struct zpool *pool, uint64_t *handlep, size_t len, void *dst, bool free);
void zpool_free(struct zpool *pool, uint64_t *handlep, size_t len);
unsigned long zpool_compact(struct zpool *pool);
uint64_t zpool_nr_pages(struct zpool *pool);
void zpool_stats(struct zpool *pool, struct zpool_stats *st);
size_t zpool_slot_size(size_t len);
unsigned zpool_class_chain(size_t len);

#endif /* FOLIO_CACHE_ZPOOL_H */
