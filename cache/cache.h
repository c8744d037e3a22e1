/*
 * cache/cache.h - foliofs's page cache: public API, shared structures and the
 * one lock-ordering tree.
 *
 * The cache is a library: unit tests link it without FUSE, against a RAM
 * device. It keeps an address_space per file plus one for the block device
 * (metadata lives there, reached through buffer heads by physical block
 * number: the buffer cache is the page cache of the device, as in Linux).
 *
 * Pages come from one pool sized at cache_create(). A memory limit (at most
 * the pool) bounds the pages in use; reclaim keeps free pages between the
 * min/low/high watermarks. Page data exceeds the limit by at most
 * CACHE_RESERVE_PAGES, which only the background reclaimer uses while it
 * writes dirty pages out: any other allocation that finds no free page
 * reclaims clean pages itself, then waits for the reclaimer and fails with
 * -ENOMEM only if nothing can be freed for CACHE_ALLOC_TIMEOUT_MS.
 *
 * LOCK ORDER (outer to inner; a thread takes locks only in this order):
 *
 *   fs inode locks (fs/: the owner's per-inode locks)
 *     mapping->invalidate_lock      rwlock. Shared: adding pages to a mapping
 *                                   (read/readahead/write fill). Exclusive:
 *                                   truncate, punch hole, invalidate.
 *       page lock (PG_locked)       per page; several pages of one mapping are
 *                                   locked in ascending index order. Held
 *                                   across a page's read I/O and its writeback
 *                                   I/O, so locking a page waits for both.
 *                                   Also the lock of the page's buffer heads
 *                                   (lock_buffer() locks the page).
 *         mapping->i_pages.xa_lock  the mapping lock: tree structure, marks,
 *                                   nrpages/nrshadows, dirtied_when.
 *           cache->lru_lock         active/inactive lists, PG_lru, PG_active.
 *             cache->pool_lock      the free-page list.
 *             cache->wb_lock        the flusher's lists (b_dirty =
 *                                   dirty_mappings, b_io, b_more_io) and
 *                                   each mapping's wb_users.
 *               wait-queue buckets  hashed page wait queues (leaf).
 *         zswap tree lock           zswap.c: a mapping's tree of compressed
 *                                   entries (taken with a page lock held, by
 *                                   reclaim's store and a page insertion's
 *                                   load; never with xa_lock or lru_lock).
 *           zswap LRU shard lock    zswap.c: the tier's LRU (the shrinker
 *                                   goes shard -> tree with a trylock).
 *             zpool class lock      zpool.c: one size class's objects.
 *               cache->pool_lock    the pool's backing pages.
 *   flusher->lock                   flusher.c: thread state; a leaf taken
 *                                   with no other cache lock held.
 *   cache->mappings_lock            every mapping (cache->mappings); the
 *                                   shadow trimmer holds it while it takes
 *                                   each mapping's xa_lock; mapping_init and
 *                                   mapping_destroy take it alone.
 *
 * Paths that take pairs: set_page_dirty (page lock -> xa_lock),
 * add_to_page_cache_lru (page lock -> xa_lock, then lru_lock after xa_lock is
 * dropped), reclaim (lru_lock to isolate, dropped; then trylock page ->
 * xa_lock -> pool_lock), truncate (invalidate_lock -> page lock -> xa_lock ->
 * lru_lock), the flusher (wb_lock alone to pick a mapping, then writepages
 * with no lock held; a throttled writer sleeps in balance_dirty_pages with
 * no page lock, only invalidate_lock shared and its owner's inode locks).
 * The compressed tier's locks are taken with no cache lock held but page
 * locks (and invalidate_lock): reclaim stores a page it holds locked, a page
 * insertion loads into the new locked page, truncation invalidates after
 * its pages are gone, and the tier's own shrinking (pool limit, reclaim's
 * shrink, drop-caches) holds no cache lock at all.
 * Reclaim never sleeps on a page lock or an fs lock: it uses
 * trylock_page() and MAP_NOWAIT. No lock is held while allocating a page
 * except page locks and invalidate_lock; no cache lock is held across a call
 * into the owner (a_ops) except the page lock (and invalidate_lock).
 *
 * RCU: lookups (find_get_page and the read hit path) run under liburcu's read
 * lock and take a page reference only if the count is non-zero, then recheck
 * the slot. Threads register with RCU on first use automatically.
 */
#ifndef FOLIO_CACHE_CACHE_H
#define FOLIO_CACHE_CACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backing/bdev.h"
#include "cache/xarray.h"

#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))

#define CACHE_ALLOC_TIMEOUT_MS 10000
/* Pool pages beyond the limit that only the background reclaimer may use
 * (to write dirty pages it must evict); the most the limit is ever passed by. */
#define CACHE_RESERVE_PAGES 4

/* Doubly linked list, kernel style (cache/internal.h has the helpers). */
struct list_head {
	struct list_head *next, *prev;
};

struct cache;
struct address_space;
struct buffer_head;

/* ------------------------------------------------------------------ */
/* struct page                                                         */
/* ------------------------------------------------------------------ */

/* Page flag bit numbers (page->flags). Invariants are listed in page.c. */
enum pageflags {
	PG_locked,     /* page lock held (I/O in flight or being changed) */
	PG_uptodate,   /* data valid (every block, when the page has buffers) */
	PG_dirty,      /* newer than the device; DIRTY mark set in the mapping */
	PG_writeback,  /* write to the device in flight; WRITEBACK mark set */
	PG_referenced, /* accessed since the last LRU scan (second chance) */
	PG_active,     /* on (or bound for) the active list */
	PG_lru,        /* on one of the LRU lists */
	PG_error,      /* last I/O failed */
	PG_private,    /* page->private holds buffer heads */
	PG_readahead,  /* hitting this page starts asynchronous readahead */
	PG_waiters,    /* someone sleeps in the page's wait-queue bucket */
	PG_reclaim,    /* isolated by reclaim */
	PG_workingset, /* was active before eviction / refaulted into activity */
	PG_mappedtodisk, /* no buffers, and the page's block is known mapped:
			  * write_begin skips map_blocks (cleared when freed) */
	PG_fresh,	 /* added and not used yet: the first mark_page_accessed()
			  * clears it instead of setting PG_referenced */
	PG_refaulted,	 /* filled a slot whose shadow says the page had been
			  * used before its eviction: a reuse
			  * (zswap_admission=workingset admits it) */
	PG_trimmed,	 /* free, and its data given back to the system
			  * (MADV_DONTNEED): only on the free list */
	NR_PAGEFLAGS
};

/*
 * struct page - one 4 KiB page of the pool. 64 bytes.
 * @flags:    atomic flag bits (enum pageflags)
 * @refcount: references; the mapping holds one while the page is in it.
 *            0 means free (in the pool) or frozen by reclaim/removal.
 * @mapping:  owner; set and cleared with the page locked and the mapping's
 *            xa_lock held; NULL for a free page
 * @index:    page index in @mapping (same locking as @mapping)
 * @lru:      protected by cache->lru_lock (PG_lru set) or owned by the thread
 *            that isolated the page (PG_lru clear)
 * @private:  first buffer head when PG_private; protected by the page lock
 * @virtual:  the page's 4 KiB of data, fixed for the pool's lifetime
 * @cache_id: index of the page's cache in the process-wide cache table
 *            (page_cache_of()); fixed for the pool's lifetime
 */
struct page {
	_Atomic unsigned long flags;
	_Atomic int refcount;
	uint32_t cache_id;
	struct address_space *mapping;
	uint64_t index;
	struct list_head lru;
	void *private;
	void *virtual;
};

static inline void *page_address(const struct page *page)
{
	return page->virtual;
}

static inline bool page_test(const struct page *page, enum pageflags bit)
{
	return atomic_load_explicit(&page->flags, memory_order_acquire) & (1UL << bit);
}

static inline void page_set(struct page *page, enum pageflags bit)
{
	atomic_fetch_or_explicit(&page->flags, 1UL << bit, memory_order_acq_rel);
}

static inline void page_clear(struct page *page, enum pageflags bit)
{
	atomic_fetch_and_explicit(&page->flags, ~(1UL << bit), memory_order_acq_rel);
}

/* Returns the old value of the bit. */
static inline bool page_test_and_set(struct page *page, enum pageflags bit)
{
	return atomic_fetch_or_explicit(&page->flags, 1UL << bit, memory_order_acq_rel) &
	       (1UL << bit);
}

static inline bool page_test_and_clear(struct page *page, enum pageflags bit)
{
	return atomic_fetch_and_explicit(&page->flags, ~(1UL << bit), memory_order_acq_rel) &
	       (1UL << bit);
}

/* page.c */
void get_page(struct page *page);
bool get_page_unless_zero(struct page *page);
void put_page(struct page *page);
void lock_page(struct page *page);
bool trylock_page(struct page *page);
void unlock_page(struct page *page);
void wait_on_page_locked(struct page *page);
void wait_on_page_writeback(struct page *page);
void end_page_writeback(struct page *page);
/*
 * Debug builds check the page invariants listed at the top of page.c, as
 * SQLite's pager checks its state: page_assert_state() at the entry points
 * of filemap.c and writeback.c that take a page, page_assert_locked() at
 * those that require the caller to hold its lock (which also makes the
 * lock-dependent invariants exact). Release builds compile both to nothing.
 */
#ifdef FOLIO_DEBUG
void __page_assert_state(struct page *page, bool locked);
#define page_assert_state(page) __page_assert_state((page), false)
#define page_assert_locked(page) __page_assert_state((page), true)
#else
static inline void page_assert_state(struct page *page)
{
	(void)page;
}
static inline void page_assert_locked(struct page *page)
{
	(void)page;
}
#endif

/* ------------------------------------------------------------------ */
/* address_space                                                       */
/* ------------------------------------------------------------------ */

/* Flags in and out of a_ops->map_blocks. */
enum {
	MAP_CREATE = 1 << 0,    /* in: allocate blocks for a hole or unwritten run */
	MAP_NOWAIT = 1 << 1,    /* in: do not sleep on a lock; -EAGAIN instead */
	MAP_MAPPED = 1 << 8,    /* out: *pblk valid, data on the device */
	MAP_HOLE = 1 << 9,      /* out: no blocks; the run reads as zeros */
	MAP_UNWRITTEN = 1 << 10, /* out: allocated, reads as zeros until written */
	MAP_NEW = 1 << 11,      /* out: allocated by this call (with MAP_CREATE):
				 * the cache zeroes what the write does not cover */
};

/*
 * struct address_space_operations - what the owner of a mapping provides.
 * @map_blocks: map file blocks [lblk, lblk + max) (units of the mapping's
 *	block size) to device blocks. On success returns the number of blocks
 *	(1..max) the answer covers, sets *pblk and sets exactly one of
 *	MAP_MAPPED, MAP_HOLE, MAP_UNWRITTEN in *flags (plus MAP_NEW). With
 *	MAP_CREATE in *flags a hole or unwritten run becomes MAP_MAPPED. Returns
 *	a negative errno on failure (-ENOSPC, -EIO, -EAGAIN with MAP_NOWAIT).
 *	Not used for the device mapping (its blocks map to themselves).
 * @dirty_notify: optional; called (no cache lock held) when the mapping goes
 *	from clean to dirty, so the owner can queue it for writeback.
 * @write_start, @write_done: optional; filemap_write() calls them around
 *	each page it writes: write_start before the page is looked up and
 *	locked (the owner may open a journal handle there, so that its own
 *	lock order is handle -> page lock, and map_blocks with MAP_CREATE then
 *	runs inside that handle), write_done after the page is unlocked and
 *	before balance_dirty_pages() (so a throttled writer holds no handle).
 *	Called with invalidate_lock shared and no page lock.
 */
struct address_space_operations {
	int (*map_blocks)(struct address_space *mapping, uint64_t lblk, uint32_t max,
			  uint64_t *pblk, unsigned *flags);
	void (*dirty_notify)(struct address_space *mapping);
	void (*write_start)(struct address_space *mapping);
	void (*write_done)(struct address_space *mapping);
};

/* errseq: a write-back error and a sequence, as Linux's errseq_t (lib/errseq.c). */
typedef uint32_t errseq_t;

/*
 * struct address_space - the cached pages of one file, or of the device.
 * @i_pages:   pages by index; i_pages.xa_lock is the mapping lock
 * @cache:     the cache the pages come from (immutable)
 * @a_ops:     owner callbacks (immutable)
 * @host:      owner's object (fs inode), opaque to the cache (immutable)
 * @bdev:      the device the blocks live on (immutable)
 * @id:        unique id, stable for the mapping's life (tier keys)
 * @blkbits:   log2 of the block size: 10, 11 or 12 (immutable)
 * @is_bdev:   the device's own mapping: block n is device block n
 * @i_size:    data size in bytes; written by the owner under its inode lock
 *             (and by filemap_write), read atomically by the cache
 * @invalidate_lock: see the lock order above
 * @nrpages:   pages in the tree (written under xa_lock, read anywhere)
 * @nrshadows: shadow entries in the tree (same)
 * @nrdirty:   dirty pages (same)
 * @dirtied_when: monotonic ms when the mapping last went clean -> dirty
 *             (protected by xa_lock)
 * @wb_err:    last write-back error (errseq; atomic)
 * @wb_link:   on one of the flusher's lists (b_dirty = cache->dirty_mappings,
 *             b_io, b_more_io); protected by cache->wb_lock
 * @wb_listed_when: monotonic ms the flusher's lists order by: when the
 *             mapping was listed, or redirtied (protected by cache->wb_lock)
 * @wb_users:  flusher threads writing the mapping now; mapping_destroy()
 *             waits for 0 (protected by cache->wb_lock)
 * @flags:     AS_* bits (atomic)
 * @tier_private: the tier's state for this mapping (zswap: its tree of
 *             entries); set and freed by the tier alone (atomic)
 * @cache_link: on cache->mappings, for the shadow trimmer (protected by
 *             cache->mappings_lock)
 */
struct address_space {
	struct xarray i_pages;
	struct cache *cache;
	const struct address_space_operations *a_ops;
	void *host;
	struct bdev *bdev;
	uint64_t id;
	unsigned blkbits;
	bool is_bdev;
	_Atomic uint64_t i_size;
	pthread_rwlock_t invalidate_lock;
	_Atomic uint64_t nrpages;
	_Atomic uint64_t nrshadows;
	_Atomic uint64_t nrdirty;
	uint64_t dirtied_when;
	_Atomic errseq_t wb_err;
	struct list_head wb_link;
	uint64_t wb_listed_when;
	unsigned wb_users;
	_Atomic unsigned flags;
	void *tier_private;
	struct list_head cache_link;
};

enum {
	AS_DIRTY_LISTED = 1 << 0, /* on cache->dirty_mappings */
	AS_EXITING = 1 << 1,      /* being torn down: no new pages */
};

/* filemap.c */
int mapping_init(struct address_space *mapping, struct cache *cache, struct bdev *bdev,
		 unsigned blkbits, const struct address_space_operations *a_ops, void *host);
int mapping_init_bdev(struct address_space *mapping, struct cache *cache, struct bdev *bdev,
		      unsigned blkbits);
void mapping_destroy(struct address_space *mapping);

/*
 * Lookup and insertion. What the caller gets back (full comments in filemap.c):
 *   find_get_page         referenced, unlocked; NULL when not cached (RCU, no lock)
 *   find_lock_page        referenced and locked; NULL when not cached
 *   find_or_create_page   referenced and locked, not necessarily uptodate
 *   add_to_page_cache_lru the caller's page (from page_cache_alloc) becomes locked,
 *                         in the mapping (which takes its own reference) and on an
 *                         LRU list; -EEXIST leaves it unchanged
 *   delete_from_page_cache takes a locked page the caller references; it leaves
 *                         the mapping, its dirtiness is cancelled; the caller
 *                         still unlocks and puts it
 *   read_cache_page       referenced, unlocked and uptodate
 * Every reference is dropped with put_page().
 */
struct page *find_get_page(struct address_space *mapping, uint64_t index);
struct page *find_lock_page(struct address_space *mapping, uint64_t index);
int find_or_create_page(struct address_space *mapping, uint64_t index, struct page **pagep);
int add_to_page_cache_lru(struct page *page, struct address_space *mapping, uint64_t index);
void delete_from_page_cache(struct page *page);
int read_cache_page(struct address_space *mapping, uint64_t index, struct page **pagep);

void filemap_invalidate_lock(struct address_space *mapping);
void filemap_invalidate_unlock(struct address_space *mapping);
void filemap_invalidate_lock_shared(struct address_space *mapping);
void filemap_invalidate_unlock_shared(struct address_space *mapping);

/* Per-open readahead state (readahead.c). Owned by one open file; its
 * owner serialises calls or accepts racy (harmless) updates. */
struct file_ra_state {
	uint64_t start;      /* first page of the current window */
	unsigned size;       /* pages in the window */
	unsigned async_size; /* start async readahead when this many remain */
	unsigned ra_pages;   /* maximum window (pages) */
	uint64_t prev_pos;   /* byte position of the end of the last read, -1: none */
};

void file_ra_state_init(struct file_ra_state *ra, struct address_space *mapping);

ssize_t filemap_read(struct address_space *mapping, struct file_ra_state *ra, void *buf,
		     size_t len, uint64_t pos);
ssize_t filemap_write(struct address_space *mapping, const void *buf, size_t len, uint64_t pos);
int write_begin(struct address_space *mapping, uint64_t pos, unsigned len, struct page **pagep);
int write_end(struct address_space *mapping, uint64_t pos, unsigned len, unsigned copied,
	      struct page *page);
bool set_page_dirty(struct page *page);
void mark_page_accessed(struct page *page);

/* Byte ranges: truncate_inode_pages_range and the filemap_*_range calls take
 * the LAST byte, inclusive (UINT64_MAX: to the end), as Linux's do;
 * filemap_zero_range takes a start and a length. */
void truncate_inode_pages_range(struct address_space *mapping, uint64_t lstart, uint64_t lend);
void truncate_inode_pages(struct address_space *mapping, uint64_t lstart);
int filemap_truncate(struct address_space *mapping, uint64_t newsize);
int filemap_zero_range(struct address_space *mapping, uint64_t start, uint64_t len);
int __filemap_zero_range(struct address_space *mapping, uint64_t start, uint64_t len);

/* readahead.c */
void page_cache_sync_readahead(struct address_space *mapping, struct file_ra_state *ra,
			       uint64_t index, unsigned req_pages);
void page_cache_async_readahead(struct address_space *mapping, struct file_ra_state *ra,
				struct page *page, uint64_t index, unsigned req_pages);

/* ------------------------------------------------------------------ */
/* Buffer heads (buffer.c)                                             */
/* ------------------------------------------------------------------ */

enum bh_state_bits {
	BH_Uptodate, /* contents valid */
	BH_Dirty,    /* newer than the device */
	BH_Mapped,   /* b_blocknr valid */
	BH_New,      /* freshly allocated; not yet written or zeroed */
	BH_Pinned,   /* writeback skips it until unpinned (journal) */
	BH_Write_EIO, /* last write failed */
	BH_Unwritten, /* allocated but reads as zeros */
};

/*
 * struct buffer_head - one block inside a page.
 * @b_state:     atomic BH_* bits
 * @b_this_page: next head in the page (circular)
 * @b_page:      the page holding the block; no reference of its own: the
 *               heads are attached (PG_private) and freed with the page
 * @b_blocknr:   device block when BH_Mapped (protected by the page lock)
 * @b_size:      block size in bytes
 * @b_data:      this block's bytes inside the page
 * @b_count:     users from bread/getblk (atomic); the page is not reclaimed
 *               while any head has a user
 */
struct buffer_head {
	_Atomic unsigned long b_state;
	struct buffer_head *b_this_page;
	struct page *b_page;
	uint64_t b_blocknr;
	uint32_t b_size;
	_Atomic int b_count;
	char *b_data;
};

static inline bool bh_test(const struct buffer_head *bh, enum bh_state_bits bit)
{
	return atomic_load_explicit(&bh->b_state, memory_order_acquire) & (1UL << bit);
}

static inline void bh_set(struct buffer_head *bh, enum bh_state_bits bit)
{
	atomic_fetch_or_explicit(&bh->b_state, 1UL << bit, memory_order_acq_rel);
}

static inline void bh_clear(struct buffer_head *bh, enum bh_state_bits bit)
{
	atomic_fetch_and_explicit(&bh->b_state, ~(1UL << bit), memory_order_acq_rel);
}


struct buffer_head *bread(struct address_space *bdev_mapping, uint64_t block, int *err);
struct buffer_head *getblk(struct address_space *bdev_mapping, uint64_t block, int *err);
void brelse(struct buffer_head *bh);
/* Another user of a head the caller already uses (from bread/getblk): a
 * head user and a page reference, as bread takes; brelse() drops both. */
void get_bh(struct buffer_head *bh);
void set_buffer_uptodate(struct buffer_head *bh);
void mark_buffer_dirty(struct buffer_head *bh);
void lock_buffer(struct buffer_head *bh);
void unlock_buffer(struct buffer_head *bh);
int sync_dirty_buffer(struct buffer_head *bh);
void bh_pin(struct buffer_head *bh);
void bh_unpin(struct buffer_head *bh);

/* ------------------------------------------------------------------ */
/* Writeback (writeback.c)                                             */
/* ------------------------------------------------------------------ */

enum wb_sync_mode {
	WB_SYNC_NONE, /* write what is dirty now; skip pages others are writing */
	WB_SYNC_ALL,  /* write and wait for every page dirty at the start */
};

enum wb_reason {
	WB_REASON_SYNC,       /* fsync, sync, unmount */
	WB_REASON_BACKGROUND, /* over the background threshold */
	WB_REASON_PERIODIC,   /* expired dirty data */
	WB_REASON_RECLAIM,    /* reclaim needs the page clean */
	NR_WB_REASONS
};

/*
 * struct writeback_control - one writeback request.
 * @range_start, @range_end: bytes, inclusive; 0 and UINT64_MAX for all
 * @sync_mode:    see enum wb_sync_mode
 * @nr_to_write:  pages left to write (decremented; <= 0 stops WB_SYNC_NONE)
 * @reason:       which counter the written pages go to
 * @max_io_bytes: largest merged device write (0: the cache's default, 1 MiB)
 * @nr_written:   out: pages written
 */
struct writeback_control {
	uint64_t range_start, range_end;
	enum wb_sync_mode sync_mode;
	long nr_to_write;
	enum wb_reason reason;
	uint32_t max_io_bytes;
	long nr_written;
};

int filemap_writepages(struct address_space *mapping, struct writeback_control *wbc);
int filemap_fdatawrite_range(struct address_space *mapping, uint64_t start, uint64_t end);
int filemap_fdatawait_range(struct address_space *mapping, uint64_t start, uint64_t end);
int filemap_write_and_wait_range(struct address_space *mapping, uint64_t start, uint64_t end);
int filemap_write_and_wait(struct address_space *mapping);
void mapping_set_error(struct address_space *mapping, int err);
errseq_t filemap_sample_wb_err(struct address_space *mapping);
int file_check_and_advance_wb_err(errseq_t *since, struct address_space *mapping);

/* ------------------------------------------------------------------ */
/* Flusher threads and dirty limits (flusher.c)                        */
/* ------------------------------------------------------------------ */

/*
 * Dirty-memory tunables, named and meant as Linux's vm.dirty_* sysctls.
 * "Dirty memory" is NR_DIRTY + NR_WRITEBACK; ratios are percent of the
 * cache's memory limit. Setting a *_bytes value zeroes the matching ratio
 * and setting a ratio zeroes the *_bytes value (whichever was set last
 * rules). The background threshold is cut to half the dirty threshold when
 * it is not below it.
 *
 * Throttling (balance_dirty_pages): below the setpoint, halfway between the
 * background and the dirty threshold, writers run free; between setpoint
 * and threshold each writer pauses for the pages it dirtied at a rate that
 * falls linearly from twice the measured write-back rate at the setpoint to
 * zero at the threshold; at or above the threshold it waits until dirty
 * memory is below it again. A thread marked as a cleaner
 * (balance_dirty_pages_cleaner: it writes pages the kernel's cache is
 * writing back) is not paced, it only waits at the threshold. A writer
 * checks after every page it dirties, so dirty memory stays at most
 * dirty_threshold + DIRTY_SLACK_PAGES per thread
 * writing at once (the page it just dirtied and metadata pages the write
 * dirtied, such as bitmaps, descriptors, extent blocks and the inode table).
 */
enum wb_tunable {
	WB_DIRTY_RATIO,		   /* % of the limit: writers throttled above (20) */
	WB_DIRTY_BACKGROUND_RATIO, /* %: background writeback above (10) */
	WB_DIRTY_BYTES,		   /* bytes instead of dirty_ratio (0: the ratio) */
	WB_DIRTY_BACKGROUND_BYTES, /* bytes instead of dirty_background_ratio */
	WB_DIRTY_EXPIRE_CS,	   /* centisecs a mapping may stay dirty (3000) */
	WB_DIRTY_WRITEBACK_CS,	   /* centisecs between periodic runs (500; 0 off) */
	WB_MAX_BYTES,		   /* largest merged device write (1 MiB) */
	WB_FILL_BYTES,		   /* largest clean gap written to join two runs (64 KiB) */
	NR_WB_TUNABLES
};

#define DIRTY_SLACK_PAGES 8 /* per writer thread, see above */
#define WB_FILL_MAX_BYTES (1U << 20) /* wb_fill_bytes at most */

const char *cache_wb_tunable_name(enum wb_tunable t);
int cache_wb_tunable_lookup(const char *name);
int cache_wb_check(enum wb_tunable t, uint64_t value);
int cache_wb_set(struct cache *cache, enum wb_tunable t, uint64_t value);
uint64_t cache_wb_get(struct cache *cache, enum wb_tunable t);
void cache_dirty_thresholds(struct cache *cache, unsigned long *thresh, unsigned long *bg_thresh);
int cache_flusher_start(struct cache *cache, unsigned nr_threads);
void cache_flusher_stop(struct cache *cache);
void wakeup_flusher(struct cache *cache);
void balance_dirty_pages(struct address_space *mapping);
void balance_dirty_pages_cleaner(bool on);
void balance_dirty_pages_defer(bool on);

/* ------------------------------------------------------------------ */
/* The cache: pool, limit, reclaim, tier hook, counters                */
/* ------------------------------------------------------------------ */

/*
 * struct cache_tier_ops - a second tier for evicted clean pages (the lz4
 * compressed tier, zswap.c, is plugged in by cache_create). Called with no
 * cache lock held but the page locks said.
 * @store:  reclaim evicts @page (locked, clean, uptodate, still in @mapping
 *          at page->index): keep a copy; any older copy of that page is
 *          dropped first, even when the new one is rejected. 0 stored,
 *          negative errno rejected.
 * @load:   a page was just added at (@mapping, @index), locked and not
 *          uptodate: fill @data from the tier's copy and drop the copy
 *          (exclusive). 0 on a hit, -ENOENT when there is no copy, another
 *          negative errno when the copy could not be read (it is gone too).
 * @invalidate: drop copies of pages [start, end] of @mapping (truncate,
 *          punch, mapping teardown, with every page of the range gone).
 * @shrink: optional: memory is short; give back at least @nr_pages of the
 *          cache's pages if it can (0: only what costs nothing, such as
 *          compaction). Returns the pages given back.
 * @drop_all: optional: drop every copy (drop-caches).
 *
 * Coherence: a copy in the tier stands for a clean page still cached. Every
 * page added to a mapping asks @load first (add_to_page_cache_lru), so no
 * older copy survives a page of the same index entering the cache, whatever
 * fills that page (a read, a whole-page write, a metadata getblk); and
 * every removal of a byte range invalidates it.
 */
struct cache_tier_ops {
	int (*store)(void *tier, struct address_space *mapping, struct page *page);
	int (*load)(void *tier, struct address_space *mapping, uint64_t index, void *data);
	void (*invalidate)(void *tier, struct address_space *mapping, uint64_t start,
			   uint64_t end);
	unsigned long (*shrink)(void *tier, unsigned long nr_pages);
	void (*drop_all)(void *tier);
};

/*
 * struct cache_config - cache_create() parameters.
 * @pool_bytes:   size of the page pool (fixed for the cache's life)
 * @limit_bytes:  memory limit for page data, at most @pool_bytes (0: the pool)
 * @ra_max_pages: readahead maximum window in pages (0: 32)
 * @ra_threads:   asynchronous readahead workers (0: 1)
 * @no_reclaimer: do not start the background reclaimer (tests)
 * @max_io_bytes: largest merged device write (0: 1 MiB)
 * @zswap:        start with the compressed tier on (cache_zswap_set can turn
 *                it on or off later; the library's default is off)
 */
struct cache_config {
	uint64_t pool_bytes;
	uint64_t limit_bytes;
	unsigned ra_max_pages;
	unsigned ra_threads;
	bool no_reclaimer;
	uint32_t max_io_bytes;
	bool zswap;
};

/* Watermarks in free pages (free = limit - pages in use). */
struct cache_watermarks {
	unsigned long min, low, high;
};

int cache_create(const struct cache_config *cfg, struct cache **out);
/* A mutex as the cache makes its own: error-checking in debug builds (the
 * filesystem and the daemon use it for theirs too). */
void cache_mutex_init(pthread_mutex_t *m);
void cache_destroy(struct cache *cache);
int cache_set_limit(struct cache *cache, uint64_t limit_bytes);
uint64_t cache_get_limit(struct cache *cache);
void cache_get_watermarks(struct cache *cache, struct cache_watermarks *wm);
int cache_set_ra_max(struct cache *cache, unsigned pages);
unsigned cache_get_ra_max(struct cache *cache);
void cache_set_tier(struct cache *cache, const struct cache_tier_ops *ops, void *tier);

/* ------------------------------------------------------------------ */
/* The compressed tier (zswap.c, zpool.c)                              */
/* ------------------------------------------------------------------ */

/*
 * Tier parameters, named as the mount options and control keys, and meant as
 * /sys/module/zswap/parameters: zswap (on/off), zswap_max_pool_percent (of
 * the cache limit the pool may take, 20), zswap_accept_threshold_percent (of
 * that maximum the pool must fall under before stores are accepted again
 * after it was full, 90), zswap_compressor (lz4, lz4hc or lz4hc:LEVEL),
 * zswap_max_compressed_percent (a page compressed to more than this part of
 * a page is rejected, 75), zswap_admission (all: every evicted clean page;
 * workingset: only pages that were on the active list, that were used again
 * after an eviction, or that were never used: PG_workingset, PG_refaulted,
 * PG_fresh).
 */
enum zswap_param {
	ZSWAP_ENABLED,
	ZSWAP_MAX_POOL_PERCENT,
	ZSWAP_ACCEPT_THRESHOLD_PERCENT,
	ZSWAP_COMPRESSOR,
	ZSWAP_MAX_COMPRESSED_PERCENT,
	ZSWAP_ADMISSION,
	NR_ZSWAP_PARAMS
};

/*
 * struct cache_zswap_info - what the tier holds (cache_zswap_info()).
 * @pool_pages:        pages the pool holds (its real size, fragmentation in)
 * @max_pool_pages:    the most it may hold now
 * @stored_pages:      pages kept (same-filled ones included)
 * @same_filled_pages: of those, kept as one word with nothing in the pool
 * @compressed_bytes:  the compressed lengths of the others
 * @slot_bytes:        their slots in the pool (headers and rounding in)
 */
struct cache_zswap_info {
	uint64_t pool_pages, max_pool_pages, stored_pages, same_filled_pages;
	uint64_t compressed_bytes, slot_bytes;
};

const char *cache_zswap_param_name(enum zswap_param p);
int cache_zswap_param_lookup(const char *name);
int cache_zswap_check(enum zswap_param p, const char *value);
int cache_zswap_set(struct cache *cache, enum zswap_param p, const char *value);
int cache_zswap_get(struct cache *cache, enum zswap_param p, char *buf, size_t len);
void cache_zswap_info(struct cache *cache, struct cache_zswap_info *out);
unsigned long cache_zswap_compact(struct cache *cache);

/* lru.c */
unsigned long cache_reclaim(struct cache *cache, unsigned long nr_to_reclaim);
unsigned long cache_drop_clean(struct cache *cache);
unsigned long cache_trim_pool(struct cache *cache);
unsigned long cache_pool_resident(struct cache *cache);
/* A page with refcount 1, no flags and no mapping; may reclaim or wait for the
 * reclaimer; -ENOMEM after CACHE_ALLOC_TIMEOUT_MS with nothing freed. */
int page_cache_alloc(struct cache *cache, struct page **pagep);

/* ------------------------------------------------------------------ */
/* Counters (stats.c), named as /proc/vmstat and /proc/meminfo do.     */
/* ------------------------------------------------------------------ */

enum cache_stat_item {
	/* gauges */
	NR_FILE_PAGES,    /* pages in mappings */
	NR_FREE_PAGES,    /* pages free under the limit */
	NR_ACTIVE_FILE,   /* on the active list */
	NR_INACTIVE_FILE, /* on the inactive list */
	NR_DIRTY,         /* dirty pages */
	NR_WRITEBACK,     /* pages under writeback */
	NR_SHADOWS,       /* shadow entries */
	NR_BUFFER_HEADS,  /* live buffer heads */
	ZSWAP_STORED_PAGES,      /* pages the compressed tier holds */
	ZSWAP_SAME_FILLED_PAGES, /* of those, same-filled: no pool bytes */
	ZSWAP_COMPRESSED_BYTES,  /* the compressed lengths of the others */
	DIRTY_THRESHOLD,  /* pages: writers throttled above (computed) */
	DIRTY_BACKGROUND_THRESHOLD, /* pages: background writeback above (computed) */
	BDP_PAUSE_MS,     /* total ms writers paused in balance_dirty_pages (computed) */
	WB_LAST_ERROR,    /* errno of the latest failed write-back, 0 if none (computed) */
	ZSWAP_POOL_TOTAL_SIZE,   /* bytes of the tier's pool pages (computed) */
	/* events */
	NR_DIRTIED,          /* pages that went clean -> dirty */
	NR_WRITTEN,          /* pages written back */
	PGPGIN,              /* KiB read from the device */
	PGPGOUT,             /* KiB written to the device */
	PGACTIVATE,          /* inactive -> active */
	PGDEACTIVATE,        /* active -> inactive */
	PGSCAN_KSWAPD,       /* pages scanned by the background reclaimer */
	PGSCAN_DIRECT,       /* pages scanned by direct reclaim */
	PGSTEAL_KSWAPD,      /* pages freed by the background reclaimer */
	PGSTEAL_DIRECT,      /* pages freed by direct reclaim */
	ALLOCSTALL,          /* allocations that entered direct reclaim */
	WORKINGSET_REFAULT,  /* misses that found a shadow entry */
	WORKINGSET_ACTIVATE, /* refaults close enough to activate */
	WORKINGSET_NODERECLAIM, /* shadows not left, to bound their memory */
	WORKINGSET_SHADOWS_TRIMMED, /* old shadows dropped to make room for new ones */
	PGREADAHEAD,         /* pages read by readahead (sync + async) */
	PGREADAHEAD_ASYNC,   /* of those, by asynchronous readahead */
	CACHE_HITS,          /* lookups that found an uptodate page */
	CACHE_MISSES,        /* lookups that had to read */
	PGWRITE_PERIODIC,    /* pages written, by reason */
	PGWRITE_BACKGROUND,
	PGWRITE_SYNC,
	PGWRITE_RECLAIM,
	PGWRITE_FILL,        /* clean pages written to join two dirty runs */
	BDP_EVENTS,          /* balance_dirty_pages pauses (throttled writers) */
	WB_ERRORS,           /* failed write-back requests */
	READ_ERRORS,         /* failed device reads */
	ZSWPOUT,             /* evicted pages the tier took */
	ZSWPIN,              /* pages added to the cache from the tier */
	ZSWAP_POOL_LIMIT_HIT,       /* stores that found the pool full */
	ZSWAP_REJECT_COMPRESS_POOR, /* pages that did not compress enough */
	ZSWAP_REJECT_COMPRESS_SKIPPED, /* not tried: their file's last pages did not */
	ZSWAP_REJECT_ALLOC_FAIL,    /* stores without pool pages or memory */
	ZSWAP_REJECT_ADMISSION,     /* pages the admission policy turned away */
	ZSWAP_DECOMPRESS_FAIL,      /* copies that did not decompress */
	ZSWAP_LRU_DROPPED,          /* oldest copies dropped to make room */
	POOL_TRIMMED,        /* free pages whose memory went back to the system */
	NR_CACHE_STATS
};

uint64_t cache_stat(struct cache *cache, enum cache_stat_item item);
const char *cache_stat_name(enum cache_stat_item item);
void cache_stats_snapshot(struct cache *cache, uint64_t out[NR_CACHE_STATS]);

/*
 * struct cache_mem - allocation counters, for leak checks and the meminfo view.
 * Every count is back to zero after all mappings are destroyed.
 */
struct cache_mem {
	uint64_t pages_in_use;  /* pool pages allocated */
	uint64_t buffer_heads;  /* live buffer heads */
	uint64_t mappings;      /* live address_spaces */
	uint64_t xa_nodes;      /* live xarray nodes of every tree in the process (a
				 * process-wide count: nodes are freed after an RCU
				 * grace period, so it reaches zero only after
				 * rcu_barrier()) */
	uint64_t metadata_bytes; /* struct page + nodes + heads for cached pages */
};
void cache_mem_info(struct cache *cache, struct cache_mem *out);

#endif /* FOLIO_CACHE_CACHE_H */
