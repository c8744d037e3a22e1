/*
 * cache/internal.h - what the files of cache/ share with each other and with
 * nobody else: struct cache, list helpers, counters, wait queues and the
 * functions one cache file calls in another.
 *
 * Which file owns what:
 *   cache.c       the cache object: create/destroy, limit, watermarks,
 *                 readahead maximum, tier hook; mutex and clock helpers
 *   page.c        pool, refcounts, page lock and hashed wait queues, RCU
 *                 thread registration
 *   filemap.c     mapping init/destroy, find/add/delete, read and write
 *                 paths, truncate/punch, mapping teardown
 *   readahead.c   on-demand readahead windows, merged device reads, the
 *                 asynchronous readahead workers
 *   buffer.c      buffer heads: per-block state, partial-page read/write,
 *                 bread/getblk/brelse, metadata pinning
 *   writeback.c   dirty accounting, tag-then-write writepages, merged device
 *                 writes, waiting, errseq errors
 *   flusher.c     flusher threads, their dirty/io/more_io lists, dirty
 *                 thresholds and tunables, balance_dirty_pages
 *   lru.c         active/inactive lists, reclaim to watermarks, direct
 *                 reclaim, the background reclaimer thread, drop-clean
 *   workingset.c  shadow entries and refault distance
 *   stats.c       counters
 *   zswap.c       the compressed tier: stores, loads, invalidation, its LRU,
 *                 the pool limit, the parameters
 *   zpool.c       the tier's size-classed allocator (cache/zpool.h)
 */
#ifndef FOLIO_CACHE_INTERNAL_H
#define FOLIO_CACHE_INTERNAL_H

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "cache/cache.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#ifdef FOLIO_DEBUG
#define CACHE_BUG_ON(cond) assert(!(cond))
#else
#define CACHE_BUG_ON(cond) ((void)0)
#endif

/* ---- lists ---- */
static inline void INIT_LIST_HEAD(struct list_head *h)
{
	h->next = h->prev = h;
}
static inline bool list_empty(const struct list_head *h)
{
	return h->next == h;
}
static inline void __list_add(struct list_head *n, struct list_head *prev, struct list_head *next)
{
	next->prev = n;
	n->next = next;
	n->prev = prev;
	prev->next = n;
}
static inline void list_add(struct list_head *n, struct list_head *h)
{
	__list_add(n, h, h->next);
}
static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
	__list_add(n, h->prev, h);
}
static inline void list_del_init(struct list_head *e)
{
	e->next->prev = e->prev;
	e->prev->next = e->next;
	INIT_LIST_HEAD(e);
}
static inline void list_move(struct list_head *e, struct list_head *h)
{
	list_del_init(e);
	list_add(e, h);
}
static inline void list_move_tail(struct list_head *e, struct list_head *h)
{
	list_del_init(e);
	list_add_tail(e, h);
}
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(h, type, member) list_entry((h)->next, type, member)
#define list_last_entry(h, type, member) list_entry((h)->prev, type, member)

/* ---- locks (cache.c; debug builds: error-checking mutexes, ownership
 * asserts) ---- */
#ifdef FOLIO_DEBUG
void cache_assert_held(pthread_mutex_t *m); /* aborts if the caller does not own m */
#else
static inline void cache_assert_held(pthread_mutex_t *m)
{
	(void)m;
}
#endif
void cache_cond_init_monotonic(pthread_cond_t *cond);

/* ---- the monotonic clock (cache.c) ---- */
uint64_t cache_now_us(void);
uint64_t cache_now_ms(void);
void cache_deadline_at_ms(struct timespec *ts, uint64_t at_ms);
void cache_deadline_after_ms(struct timespec *ts, unsigned ms);

/* ---- counters ---- */
#define STAT_SLOTS 16
struct stat_slot {
	_Atomic uint64_t v[NR_CACHE_STATS];
} __attribute__((aligned(64)));

/* Event counters are sharded per thread slot; gauges use the same array and
 * are adjusted with stat_add(-1) (the sum is what counts). */
unsigned stat_slot_index(void);
static inline void stat_add(struct cache *cache, enum cache_stat_item item, int64_t delta);

/* ---- page wait queues (page.c) ---- */
#define PAGE_WAIT_BUCKETS 256

struct page_wait_bucket {
	pthread_mutex_t lock;
	pthread_cond_t cond;
} __attribute__((aligned(64)));

/* ---- the cache ---- */

/*
 * struct cache - one page cache: the pool, the limit, the LRU and the threads.
 */
struct cache {
	/* immutable after cache_create */
	struct page *pages;     /* the pool's struct pages */
	char *data;             /* the pool's page data, page-aligned */
	unsigned long nr_pool;  /* pages in the pool */
	struct stat_slot *stats; /* STAT_SLOTS slots */

	/* protects everything below here up to "lru" */
	pthread_mutex_t pool_lock;
	struct page *free_list;   /* singly linked through page->private; pages
				   * still resident first, PG_trimmed ones last */
	struct page *free_tail;   /* last page of free_list, NULL when empty */
	unsigned long nr_free_list; /* pages on free_list */
	pthread_cond_t free_wait; /* signalled when pages are freed */
	unsigned long free_waiters; /* allocators sleeping on free_wait */
	_Atomic uint64_t nr_frees;  /* pages ever freed (atomic; progress for waiters) */

	_Atomic unsigned long nr_used;  /* pool pages allocated */
	_Atomic unsigned long limit;    /* pages; nr_used <= limit except reserve */
	_Atomic unsigned long wmark_min, wmark_low, wmark_high;
	unsigned long reserve;          /* pages only the reclaimer may use */

	/* lru: protected by lru_lock */
	pthread_mutex_t lru_lock;
	struct list_head active;
	struct list_head inactive;
	unsigned long nr_active, nr_inactive;
	_Atomic long nr_isolated; /* pages taken off the lists by scanners (atomic) */

	/* workingset: nonresident age clock (atomic) */
	_Atomic uint64_t nonresident_age;
	_Atomic uint64_t nr_shadows;
	uint64_t max_shadows;
	_Atomic bool shadow_trim_pending; /* shadows hit max_shadows: trim (atomic) */
	pthread_mutex_t mappings_lock;	  /* protects mappings */
	struct list_head mappings;	  /* every mapping, through cache_link */

	/* background reclaimer: reclaim_lock protects reclaim_wake, stopping */
	pthread_t reclaimer;
	bool reclaimer_started;
	pthread_mutex_t reclaim_lock;
	pthread_cond_t reclaim_cond;
	bool reclaim_wake;
	bool stopping;
	_Atomic bool trim_pending; /* the limit was lowered: give free memory back
				    * after the next round (atomic) */

	/* readahead workers: ra_lock protects ra_queue, ra_running,
	 * ra_next_ticket, ra_stopping */
	pthread_t *ra_workers;
	unsigned nr_ra_workers;
	pthread_mutex_t ra_lock;
	pthread_cond_t ra_cond;     /* work queued, or stopping */
	pthread_cond_t ra_idle;     /* a work item finished */
	struct list_head ra_queue;  /* queued windows, ascending tickets */
	struct list_head ra_running; /* windows a worker is reading */
	uint64_t ra_next_ticket;
	bool ra_stopping;
	_Atomic unsigned ra_max_pages;

	/* writeback: wb_lock protects dirty_mappings (the flusher's b_dirty) */
	pthread_mutex_t wb_lock;
	struct list_head dirty_mappings;
	uint32_t max_io_bytes; /* wb_max_bytes; read and set atomically */
	uint32_t fill_bytes;   /* wb_fill_bytes; read and set atomically */
	struct flusher *flusher; /* flusher.c: tunables, lists, threads (set at create) */

	/* tier hook: set before use, read without locks */
	const struct cache_tier_ops *tier_ops;
	void *tier;
	struct zswap *zswap; /* the compressed tier (zswap.c; made with the cache) */

	/* mapping ids and counts */
	_Atomic uint64_t next_mapping_id;
	_Atomic long nr_mappings;
	_Atomic long nr_bh;

	struct page_wait_bucket wait[PAGE_WAIT_BUCKETS];
};

static inline void stat_add(struct cache *cache, enum cache_stat_item item, int64_t delta)
{
	atomic_fetch_add_explicit(&cache->stats[stat_slot_index()].v[item], (uint64_t)delta,
				  memory_order_relaxed);
}
static inline void stat_inc(struct cache *cache, enum cache_stat_item item)
{
	stat_add(cache, item, 1);
}

/* ---- page.c ---- */
int page_pool_init(struct cache *cache, unsigned long nr_pages);
void page_pool_destroy(struct cache *cache);
/* Take a page from the free list; NULL when empty (no reclaim). */
struct page *__page_pool_get(struct cache *cache);
/* Take a free page only if fewer than @max_used pages are in use (the check
 * and the count change happen together under pool_lock); NULL otherwise. */
struct page *page_pool_get_below(struct cache *cache, unsigned long max_used);
/* Give a page whose refcount reached zero back to the pool. */
void page_pool_put(struct cache *cache, struct page *page);
/* Try to drop the count from @expected to 0 (reclaim/removal freeze). */
bool page_ref_freeze(struct page *page, int expected);
void page_ref_unfreeze(struct page *page, int count);
struct page_wait_bucket *page_waitqueue(struct cache *cache, const void *key);
/* Wake everyone waiting on @page (after clearing PG_locked/PG_writeback). */
void wake_up_page(struct cache *cache, struct page *page);
/* Register the calling thread with RCU if it is not yet (idempotent, cheap). */
void cache_rcu_thread_online(void);
/* The cache a page belongs to (pool lookup by address). */
struct cache *page_cache_of(struct page *page);

/* ---- filemap.c ---- */
/* Remove a locked, clean, not-under-writeback page whose refcount is
 * @expected (mapping's + caller's) from its mapping, leaving @shadow (or NULL)
 * in its slot. Returns false (nothing changed) if someone else holds a
 * reference or the page became dirty. */
bool __remove_mapping(struct address_space *mapping, struct page *page, void *shadow,
		      int expected);
/* Read a locked page that is not uptodate from the device (whole page, or
 * the missing blocks when it has buffers). Unlocks it. */
int filemap_read_page(struct address_space *mapping, struct page *page);

/* ---- readahead.c ---- */
void readahead_start_workers(struct cache *cache, unsigned n);
void readahead_stop_workers(struct cache *cache);
/* Wait until every asynchronous window queued before the call is read and
 * its pages unlocked (cache_drop_clean: a cold cache stays cold). */
void readahead_drain(struct cache *cache);
/* Read @nr locked, new pages (ascending, not necessarily contiguous) of
 * @mapping with as few device requests as possible; marks them uptodate or
 * PG_error, then drops the caller's reference to each and unlocks it
 * (readahead.c says why in that order). */
void read_pages(struct address_space *mapping, struct page **pages, unsigned nr);
/* read_pages() without the unlocking: each page ends uptodate or PG_error,
 * still locked. Returns 0 or the first negative errno. */
int read_pages_locked(struct address_space *mapping, struct page **pages, unsigned nr);

/* ---- buffer.c ---- */
/* Attach empty buffer heads to a locked page (no-op if it has them). */
int create_page_buffers(struct page *page, unsigned blkbits);
static inline struct buffer_head *page_buffers(struct page *page)
{
	return (struct buffer_head *)page->private;
}
/* Read the blocks of a locked page that are not uptodate; page uptodate
 * when all are. Does not unlock. */
int block_read_page(struct address_space *mapping, struct page *page);
/* Prepare bytes [from, to) of a locked page for a write: map (create) every
 * block touched, read blocks only partly covered, zero new ones. */
int block_write_begin(struct address_space *mapping, struct page *page, unsigned from,
		      unsigned to);
/* Mark the blocks in [from, to) uptodate and dirty; page uptodate if all are;
 * page dirty (block_write_end calls set_page_dirty itself). */
void block_write_end(struct page *page, unsigned from, unsigned to);
/* Truncate helper: forget blocks wholly inside [from, to) of a locked page. */
void block_invalidate_range(struct page *page, unsigned from, unsigned to);
/* Free a locked page's buffers if none is dirty, pinned or in use. */
bool try_to_free_buffers(struct page *page);
/* True if any buffer of a locked page is pinned. */
bool page_has_pinned_buffers(struct page *page);
/* Map the unmapped heads in @mask of a locked page (map_flags: 0, or
 * MAP_CREATE, optionally | MAP_NOWAIT); used by block_write_begin and
 * writeback. block_read_page counts PGPGIN and READ_ERRORS itself. */
int block_map_buffers(struct address_space *mapping, struct page *page, unsigned mask,
		      unsigned map_flags);
/* Debug builds: check the head invariants listed at the top of buffer.c. */
#ifdef FOLIO_DEBUG
void buffer_assert_state(struct page *page);
#else
static inline void buffer_assert_state(struct page *page)
{
	(void)page;
}
#endif

/* ---- writeback.c ---- */
/* Account a page going clean -> dirty (PG_dirty newly set by the caller). */
void account_page_dirtied(struct page *page, struct address_space *mapping);
/* Clear PG_dirty before writing a locked page; returns whether it was dirty.
 * The DIRTY mark stays until writeback starts (writeback.c, W7). */
bool clear_page_dirty_for_io(struct page *page);
/* Cancel dirtiness of a locked page being truncated (its heads' too). */
void cancel_dirty_page(struct page *page);
/* Write one locked dirty page (and contiguous dirty neighbours, up to
 * max_io_bytes, that can be locked without waiting) for reclaim; unlocks
 * nothing it did not lock itself. 0: the page is clean now; -EAGAIN: left
 * dirty (pinned heads, MAP_NOWAIT busy); else the write's errno. */
int writeback_page_for_reclaim(struct page *page);
/* Write one dirty, unpinned head of a locked page now (sync_dirty_buffer);
 * the page stays locked. */
int writeback_buffer(struct buffer_head *bh);

/* ---- flusher.c ---- */
/* cache_create()/cache_destroy(): the flusher's state (no threads yet). */
int flusher_init(struct cache *cache);
void flusher_destroy(struct cache *cache);
/* mapping_destroy(): wait until no flusher thread writes @mapping, then take
 * it off the flusher's lists for good. */
void flusher_forget_mapping(struct address_space *mapping);
/* A page went clean -> dirty in this thread (account_page_dirtied). */
void flusher_note_dirtied(struct cache *cache);
/* A write-back failed with @err (writeback.c). */
void flusher_note_error(struct cache *cache, int err);
/* Computed counters of stats.c. */
uint64_t flusher_stat(struct cache *cache, enum cache_stat_item item);

/* ---- cache.c ---- */
void cache_update_watermarks(struct cache *cache);

/* ---- lru.c ---- */
void lru_add(struct cache *cache, struct page *page);
void lru_del(struct cache *cache, struct page *page);
int reclaim_start(struct cache *cache);
void reclaim_stop(struct cache *cache);
void wakeup_reclaimer(struct cache *cache);
/* page_cache_alloc() that never sleeps: may reclaim clean pages directly,
 * never waits for the reclaimer; -ENOMEM at once (readahead shrinks). */
int page_cache_alloc_nowait(struct cache *cache, struct page **pagep);

/* ---- zswap.c ---- */
extern const struct cache_tier_ops zswap_tier_ops;
/* cache_create(): make the tier (on if @enabled) and plug it in. */
int zswap_init(struct cache *cache, bool enabled);
/* cache_destroy(): drop what it holds and free it. */
void zswap_destroy(struct cache *cache);
/* The cache limit was lowered: keep the pool under its new maximum. */
void zswap_limit_changed(struct cache *cache);
/* The computed ZSWAP_POOL_TOTAL_SIZE of stats.c. */
uint64_t zswap_stat(struct cache *cache, enum cache_stat_item item);
/* Entries, trees and zspage descriptors, for cache_mem_info(). */
uint64_t zswap_metadata_bytes(struct cache *cache);

/* ---- workingset.c ---- */
/* Shadow entry to leave in place of an evicted page. */
void *workingset_eviction(struct cache *cache, struct page *page);
/* A new page fills a slot that held @shadow: count the refault and decide
 * whether to activate (sets PG_active/PG_workingset before lru_add). */
void workingset_refault(struct cache *cache, struct page *page, void *shadow);
/* Activation ticks the nonresident clock, as Linux's does. */
void workingset_activation(struct cache *cache, struct page *page);
/* A shadow is about to be stored in @mapping (xa_lock held): count it, or
 * return false (WORKINGSET_NODERECLAIM) when the cache holds max_shadows. */
bool workingset_shadow_add(struct cache *cache, struct address_space *mapping);
/* A shadow left @mapping (xa_lock held): uncount it. */
void workingset_shadow_del(struct cache *cache, struct address_space *mapping);
/* Drop the shadows too old to tell anything (the background reclaimer,
 * after shadows reached max_shadows); returns how many. */
unsigned long workingset_trim_shadows(struct cache *cache);

#endif /* FOLIO_CACHE_INTERNAL_H */
