/*
 * cache/filemap.c - address_spaces: lookup, insertion and removal of pages,
 * the read and write paths, truncate and punch, mapping teardown.
 *
 * Interface (cache.h): mapping_init, mapping_init_bdev, mapping_destroy,
 * find_get_page, find_lock_page, find_or_create_page, add_to_page_cache_lru,
 * delete_from_page_cache, read_cache_page, filemap_invalidate_lock*,
 * filemap_read, filemap_write, write_begin, write_end, set_page_dirty,
 * mark_page_accessed, truncate_inode_pages_range, truncate_inode_pages,
 * filemap_truncate, filemap_zero_range, __filemap_zero_range; (internal.h)
 * __remove_mapping,
 * filemap_read_page.
 *
 * Invariants:
 *   1. A page is in mapping->i_pages at page->index iff page->mapping ==
 *      mapping; both change together under xa_lock with the page locked
 *      (or frozen at refcount 0 by __remove_mapping). The mapping holds one
 *      reference on each of its pages.
 *   2. nrpages/nrshadows count the pointer/value entries of the tree.
 *   3. A page enters a mapping locked, and not uptodate unless the
 *      compressed tier had a copy of it (its filler unlocks it; a copy is
 *      taken out of the tier as the page enters, so a page and an older
 *      copy never coexist); pages are added only with invalidate_lock
 *      held shared (fills) or
 *      by callers that otherwise exclude truncation, so truncate/punch,
 *      which hold it exclusively, see every page they must remove.
 *   4. Bytes of a cached page beyond i_size are zero (reads zero them,
 *      write_begin zeroes new pages past EOF, truncate zeroes the tail).
 *   5. After truncate_inode_pages_range(lstart, lend) no page wholly inside
 *      the range is cached, no shadow of one remains, the tier holds no copy
 *      of any page the range touches, and edge pages have the covered bytes
 *      zeroed and their covered blocks forgotten.
 *
 * The hit path of filemap_read() takes only the RCU read lock and one page
 * reference per page; it allocates nothing.
 */
#include "config.h"

#define _LGPL_SOURCE

#include <sched.h>
#include <string.h>
#include <urcu.h>

#include "cache/internal.h"

/* Pages one sync readahead request may ask for. */
#define FILEMAP_MAX_REQ 256
/* Entries looked up per round by truncate. */
#define TRUNC_BATCH 16

static bool mapping_uses_buffers(const struct address_space *mapping)
{
	return mapping->is_bdev || mapping->blkbits < PAGE_SHIFT;
}

/* ---- mappings ---- */

static int __mapping_init(struct address_space *mapping, struct cache *cache, struct bdev *bdev,
			  unsigned blkbits)
{
	pthread_rwlockattr_t attr;

	if (!cache || !bdev || blkbits < 10 || blkbits > PAGE_SHIFT || (1U << blkbits) % bdev->lbs)
		return -EINVAL;
	memset(mapping, 0, sizeof(*mapping));
	cache_rcu_thread_online();
	xa_init(&mapping->i_pages);
	mapping->cache = cache;
	mapping->bdev = bdev;
	mapping->blkbits = blkbits;
	mapping->id = atomic_fetch_add(&cache->next_mapping_id, 1);
	INIT_LIST_HEAD(&mapping->wb_link);
	pthread_rwlockattr_init(&attr);
	/* Truncate must not starve behind a stream of readers and writers. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&mapping->invalidate_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_lock(&cache->mappings_lock);
	list_add_tail(&mapping->cache_link, &cache->mappings);
	pthread_mutex_unlock(&cache->mappings_lock);
	atomic_fetch_add(&cache->nr_mappings, 1);
	return 0;
}

/**
 * mapping_init - set up the address_space of a file
 * @mapping: the mapping (owned by the caller, usually inside its inode)
 * @cache: the cache its pages come from
 * @bdev: the device its blocks live on
 * @blkbits: log2 of the file system block size: 10, 11 or 12
 * @a_ops: the owner's callbacks (map_blocks required)
 * @host: the owner's object, for the callbacks
 *
 * i_size starts at 0; the owner sets it.
 *
 * Context: any thread.
 * Return: 0 or -EINVAL.
 */
int mapping_init(struct address_space *mapping, struct cache *cache, struct bdev *bdev,
		 unsigned blkbits, const struct address_space_operations *a_ops, void *host)
{
	int err;

	if (!a_ops || !a_ops->map_blocks)
		return -EINVAL;
	err = __mapping_init(mapping, cache, bdev, blkbits);
	if (err)
		return err;
	mapping->a_ops = a_ops;
	mapping->host = host;
	return 0;
}

/**
 * mapping_init_bdev - set up the device's own mapping (the buffer cache)
 * @mapping: the mapping
 * @cache: the cache
 * @bdev: the device; block n of the mapping is device block n
 * @blkbits: log2 of the block size used for metadata: 10, 11 or 12
 *
 * Context: any thread.
 * Return: 0 or -EINVAL.
 */
int mapping_init_bdev(struct address_space *mapping, struct cache *cache, struct bdev *bdev,
		      unsigned blkbits)
{
	int err = __mapping_init(mapping, cache, bdev, blkbits);

	if (err)
		return err;
	mapping->is_bdev = true;
	atomic_store(&mapping->i_size, bdev->size);
	return 0;
}

/**
 * mapping_destroy - drop every page and shadow of a mapping and free it
 * @mapping: the mapping; the owner no longer reads or writes through it
 *
 * Waits for pages under read (readahead) or write-back. Dirty pages are
 * dropped unwritten: the owner writes first if it wants the data.
 *
 * Context: may sleep; no cache lock or page lock held.
 */
void mapping_destroy(struct address_space *mapping)
{
	struct cache *cache = mapping->cache;

	cache_rcu_thread_online();
	atomic_fetch_or(&mapping->flags, AS_EXITING);
	filemap_invalidate_lock(mapping);
	truncate_inode_pages_range(mapping, 0, UINT64_MAX);
	filemap_invalidate_unlock(mapping);
	flusher_forget_mapping(mapping); /* waits for a flusher writing it */
	pthread_mutex_lock(&cache->mappings_lock); /* waits for the shadow trimmer */
	list_del_init(&mapping->cache_link);
	pthread_mutex_unlock(&cache->mappings_lock);
	CACHE_BUG_ON(atomic_load(&mapping->nrpages) != 0);
	CACHE_BUG_ON(atomic_load(&mapping->nrshadows) != 0);
	xa_destroy(&mapping->i_pages);
	pthread_rwlock_destroy(&mapping->invalidate_lock);
	atomic_fetch_sub(&cache->nr_mappings, 1);
}

/**
 * filemap_invalidate_lock - take the mapping's invalidate_lock exclusively
 * @mapping: the mapping
 *
 * Context: may sleep; outermost cache lock (see cache.h).
 */
void filemap_invalidate_lock(struct address_space *mapping)
{
	pthread_rwlock_wrlock(&mapping->invalidate_lock);
}

/**
 * filemap_invalidate_unlock - release the exclusive invalidate_lock
 * @mapping: the mapping
 *
 * Context: the holder.
 */
void filemap_invalidate_unlock(struct address_space *mapping)
{
	pthread_rwlock_unlock(&mapping->invalidate_lock);
}

/**
 * filemap_invalidate_lock_shared - take the invalidate_lock shared (page fills)
 * @mapping: the mapping
 *
 * Context: may sleep; never taken twice by one thread (writers are preferred).
 */
void filemap_invalidate_lock_shared(struct address_space *mapping)
{
	pthread_rwlock_rdlock(&mapping->invalidate_lock);
}

/**
 * filemap_invalidate_unlock_shared - release the shared invalidate_lock
 * @mapping: the mapping
 *
 * Context: the holder.
 */
void filemap_invalidate_unlock_shared(struct address_space *mapping)
{
	pthread_rwlock_unlock(&mapping->invalidate_lock);
}

/* ---- lookup ---- */

/**
 * find_get_page - find a cached page and take a reference
 * @mapping: the mapping
 * @index: page index
 *
 * Context: any thread; takes the RCU read lock internally, no other lock.
 * Return: the page with its refcount raised (maybe not uptodate, maybe
 * locked), or NULL if it is not cached.
 */
struct page *find_get_page(struct address_space *mapping, uint64_t index)
{
	struct page *page;

	cache_rcu_thread_online();
	rcu_read_lock();
repeat:
	page = xa_load(&mapping->i_pages, index);
	if (!page || xa_is_value(page)) {
		page = NULL;
		goto out;
	}
	if (unlikely(!get_page_unless_zero(page)))
		goto repeat;
	/* The page may have been removed, freed and reused since the load:
	 * it is ours only if the slot still holds it. */
	if (unlikely(xa_load(&mapping->i_pages, index) != page)) {
		put_page(page);
		goto repeat;
	}
out:
	rcu_read_unlock();
	return page;
}

/**
 * find_lock_page - find a cached page, reference and lock it
 * @mapping: the mapping
 * @index: page index
 *
 * Context: may sleep on the page lock; see the lock order.
 * Return: the locked, referenced page still in @mapping, or NULL.
 */
struct page *find_lock_page(struct address_space *mapping, uint64_t index)
{
	struct page *page;

	for (;;) {
		page = find_get_page(mapping, index);
		if (!page)
			return NULL;
		lock_page(page);
		if (page->mapping == mapping && page->index == index)
			return page;
		unlock_page(page); /* truncated meanwhile */
		put_page(page);
	}
}

/* A page just added: take the tier's copy of it, if there is one. Whatever
 * will fill the page (a read, a whole-page write, getblk), no older copy may
 * outlive it; the copy is the page's latest clean content. */
static void tier_load(struct address_space *mapping, struct page *page)
{
	struct cache *cache = mapping->cache;
	const struct cache_tier_ops *ops = __atomic_load_n(&cache->tier_ops, __ATOMIC_ACQUIRE);

	if (!ops || !ops->load ||
	    ops->load(cache->tier, mapping, page->index, page_address(page)))
		return;
	stat_inc(cache, ZSWPIN);
	page_set(page, PG_uptodate);
}

/**
 * add_to_page_cache_lru - insert a new page into a mapping and the LRU
 * @page: a new page from page_cache_alloc() (refcount 1, unlocked)
 * @mapping: the mapping
 * @index: page index
 *
 * On success the page is locked, in @mapping (which holds a second
 * reference) and on an LRU list; a shadow entry it replaces is a refault.
 * When the compressed tier holds a copy of the page, the page is filled
 * from it and uptodate (and the tier's copy dropped); otherwise it is not
 * uptodate. On failure the page is unchanged.
 *
 * Context: invalidate_lock shared (or truncation otherwise excluded); takes
 * xa_lock, then lru_lock; the tier's locks.
 * Return: 0, -EEXIST if a page is already cached at @index, -ENOENT if the
 * mapping is being destroyed, -ENOMEM if the tree could not grow.
 */
int add_to_page_cache_lru(struct page *page, struct address_space *mapping, uint64_t index)
{
	page_assert_state(page);
	struct cache *cache = mapping->cache;
	bool was_locked;
	void *old;
	int err;

	cache_rcu_thread_online();
	CACHE_BUG_ON(page->mapping || page_test(page, PG_lru));
	if (atomic_load(&mapping->flags) & AS_EXITING)
		return -ENOENT;
	was_locked = page_test_and_set(page, PG_locked);
	page_set(page, PG_fresh);
	get_page(page);
	__atomic_store_n(&page->index, index, __ATOMIC_RELAXED);
	__atomic_store_n(&page->mapping, mapping, __ATOMIC_RELAXED);
	xa_lock(&mapping->i_pages);
	old = xa_load(&mapping->i_pages, index);
	err = old && !xa_is_value(old) ? -EEXIST : __xa_store(&mapping->i_pages, index, page, NULL);
	if (!err) {
		if (old)
			workingset_shadow_del(cache, mapping);
		atomic_fetch_add(&mapping->nrpages, 1);
		stat_inc(cache, NR_FILE_PAGES);
	}
	xa_unlock(&mapping->i_pages);
	if (err) {
		__atomic_store_n(&page->mapping, NULL, __ATOMIC_RELAXED);
		atomic_fetch_sub(&page->refcount, 1);
		page_clear(page, PG_fresh);
		if (!was_locked)
			page_clear(page, PG_locked);
		return err;
	}
	if (old)
		workingset_refault(cache, page, old);
	tier_load(mapping, page);
	lru_add(cache, page);
	return 0;
}

/**
 * find_or_create_page - find a page or add a new one, locked
 * @mapping: the mapping
 * @index: page index
 * @pagep: out: the locked, referenced page (not necessarily uptodate)
 *
 * Context: may sleep (page lock, allocation); invalidate_lock shared or
 * truncation otherwise excluded.
 * Return: 0, or a negative errno (-ENOMEM, -ENOENT).
 */
int find_or_create_page(struct address_space *mapping, uint64_t index, struct page **pagep)
{
	struct page *page;
	int err;

	for (;;) {
		page = find_lock_page(mapping, index);
		if (page) {
			*pagep = page;
			return 0;
		}
		err = page_cache_alloc(mapping->cache, &page);
		if (err)
			return err;
		err = add_to_page_cache_lru(page, mapping, index);
		if (!err) {
			*pagep = page;
			return 0;
		}
		put_page(page);
		if (err != -EEXIST)
			return err;
	}
}

/* ---- removal ---- */

/* Take a page out of its tree (xa_lock held), leaving @shadow if allowed. */
static void __filemap_remove(struct address_space *mapping, struct page *page, void *shadow)
{
	struct cache *cache = mapping->cache;

	if (shadow && (atomic_load(&mapping->flags) & AS_EXITING))
		shadow = NULL;
	if (shadow && !workingset_shadow_add(cache, mapping))
		shadow = NULL;
	if (!shadow || __xa_store(&mapping->i_pages, page->index, shadow, NULL)) {
		if (shadow)
			workingset_shadow_del(cache, mapping);
		__xa_erase(&mapping->i_pages, page->index);
	}
	atomic_fetch_sub(&mapping->nrpages, 1);
	stat_add(cache, NR_FILE_PAGES, -1);
	__atomic_store_n(&page->mapping, NULL, __ATOMIC_RELEASE);
}

/**
 * __remove_mapping - evict a clean page, leaving a shadow entry
 * @mapping: the page's mapping
 * @page: the locked page, clean and not under write-back, without buffers
 * @shadow: value entry to leave in the slot, or NULL
 * @expected: references the caller knows of (the mapping's and its own)
 *
 * On success the page's count is frozen at 0 and it is out of @mapping: the
 * caller unlocks it and gives it to the pool.
 *
 * Context: page locked; takes xa_lock.
 * Return: true if removed; false (nothing changed) if someone else holds a
 * reference or the page became dirty.
 */
bool __remove_mapping(struct address_space *mapping, struct page *page, void *shadow, int expected)
{
	page_assert_locked(page);
	bool ok = false;

	cache_rcu_thread_online();
	xa_lock(&mapping->i_pages);
	if (!page_ref_freeze(page, expected))
		goto out;
	if (page_test(page, PG_dirty)) {
		page_ref_unfreeze(page, expected);
		goto out;
	}
	__filemap_remove(mapping, page, shadow);
	ok = true;
out:
	xa_unlock(&mapping->i_pages);
	return ok;
}

/* Remove a locked page (referenced by the caller) for truncation: cancel its
 * dirtiness, forget its buffers, drop the mapping's reference. */
static void truncate_complete_page(struct address_space *mapping, struct page *page)
{
	if (page_test(page, PG_dirty))
		cancel_dirty_page(page);
	if (page_test(page, PG_private)) {
		block_invalidate_range(page, 0, PAGE_SIZE);
		try_to_free_buffers(page);
	}
	page_clear(page, PG_mappedtodisk);
	xa_lock(&mapping->i_pages);
	__filemap_remove(mapping, page, NULL);
	xa_unlock(&mapping->i_pages);
	put_page(page);
}

/**
 * delete_from_page_cache - remove a locked page from its mapping
 * @page: the page, locked and referenced by the caller
 *
 * Its dirtiness is cancelled (the data is dropped) and its buffers freed when
 * nobody uses them. Does nothing if the page already left its mapping.
 *
 * Context: page locked; takes xa_lock.
 */
void delete_from_page_cache(struct page *page)
{
	page_assert_locked(page);
	struct address_space *mapping = page->mapping;

	CACHE_BUG_ON(!page_test(page, PG_locked));
	if (!mapping)
		return;
	cache_rcu_thread_online();
	wait_on_page_writeback(page);
	truncate_complete_page(mapping, page);
}

/* ---- reading a page ---- */

/**
 * filemap_read_page - read a locked page that is not uptodate, and unlock it
 * @mapping: the page's mapping
 * @page: the locked page
 *
 * Reads the device (the whole page, or the missing blocks when the page has
 * buffers); the tier's copy, if any, was taken when the page was added.
 *
 * Context: page locked by the caller; may sleep.
 * Return: 0 if the page is uptodate, else the read's negative errno.
 */
int filemap_read_page(struct address_space *mapping, struct page *page)
{
	page_assert_locked(page);
	int err = read_pages_locked(mapping, &page, 1);

	if (!err && !page_test(page, PG_uptodate))
		err = -EIO;
	unlock_page(page);
	return err;
}

/**
 * read_cache_page - get an uptodate page, reading it if needed
 * @mapping: the mapping
 * @index: page index
 * @pagep: out: the referenced, unlocked, uptodate page
 *
 * Context: may sleep; no cache lock held.
 * Return: 0 or a negative errno (the page is not returned then).
 */
int read_cache_page(struct address_space *mapping, uint64_t index, struct page **pagep)
{
	struct page *page;
	int err;

	err = find_or_create_page(mapping, index, &page);
	if (err)
		return err;
	if (page_test(page, PG_uptodate)) {
		unlock_page(page);
	} else {
		err = filemap_read_page(mapping, page);
		if (err) {
			put_page(page);
			return err;
		}
	}
	*pagep = page;
	return 0;
}

/**
 * mark_page_accessed - note a use of a page for the LRU's second chance
 * @page: the page
 *
 * The first use of a page after it entered the cache (the read that brought
 * it in, or the first read of a readahead page) only clears PG_fresh; later
 * uses set PG_referenced, which saves the page from the next reclaim scan.
 * So a page used once is reclaimed first, a page used twice gets promoted.
 *
 * Context: any; writes the page's flags only when one of them changes.
 */
void mark_page_accessed(struct page *page)
{
	page_assert_state(page);
	unsigned long f = atomic_load_explicit(&page->flags, memory_order_relaxed);

	if (likely(f & (1UL << PG_referenced)))
		return;
	if (f & (1UL << PG_fresh))
		page_clear(page, PG_fresh);
	else
		page_set(page, PG_referenced);
}

/* ---- the read path ---- */

/* Missing page: add and read it directly (readahead could not). */
static int filemap_create_page(struct address_space *mapping, uint64_t index, struct page **pagep)
{
	struct page *page;
	int err;

	filemap_invalidate_lock_shared(mapping);
	err = find_or_create_page(mapping, index, &page);
	if (!err) {
		if (page_test(page, PG_uptodate))
			unlock_page(page);
		else
			err = filemap_read_page(mapping, page);
		if (err)
			put_page(page);
	}
	filemap_invalidate_unlock_shared(mapping);
	if (!err)
		*pagep = page;
	return err;
}

/* A cached page that is not uptodate: wait for its read, or read it.
 * -EAGAIN if it was truncated meanwhile. invalidate_lock is held shared,
 * as for adding a page: a punch or zero range holds it exclusively until its
 * blocks are freed or unwritten, so the rest of a partly uptodate page at the
 * edge of the range is never filled from blocks about to go. */
static int filemap_update_page(struct address_space *mapping, struct page *page)
{
	int err = 0;

	filemap_invalidate_lock_shared(mapping);
	lock_page(page);
	if (page->mapping != mapping) {
		unlock_page(page);
		err = -EAGAIN;
	} else if (page_test(page, PG_uptodate)) {
		unlock_page(page);
	} else {
		err = filemap_read_page(mapping, page);
	}
	filemap_invalidate_unlock_shared(mapping);
	return err;
}

static void filemap_async_ra(struct address_space *mapping, struct file_ra_state *ra,
			     struct page *page, uint64_t index, uint64_t last_index)
{
	if (!page_test_and_clear(page, PG_readahead) || !ra)
		return;
	filemap_invalidate_lock_shared(mapping);
	page_cache_async_readahead(
		mapping, ra, page, index,
		(unsigned)MIN(last_index - index + 1, (uint64_t)FILEMAP_MAX_REQ));
	filemap_invalidate_unlock_shared(mapping);
}

/* Does this read continue, in the same page, where the previous one ended?
 * (Small sequential reads then count as one use of the page, not many.) */
static bool ra_continues_page(const struct file_ra_state *ra, uint64_t index)
{
	return ra && ra->prev_pos && ((ra->prev_pos - 1) >> PAGE_SHIFT) == index;
}

/*
 * The slow path for one page: *pagep is NULL (not cached) or a referenced
 * page that is not uptodate. Returns 0 with an uptodate referenced page, 1 at
 * EOF (truncated meanwhile), or a negative errno.
 */
static int filemap_get_uptodate(struct address_space *mapping, struct file_ra_state *ra,
				uint64_t index, uint64_t last_index, struct page **pagep)
{
	unsigned req = (unsigned)MIN(last_index - index + 1, (uint64_t)FILEMAP_MAX_REQ);
	struct page *page = *pagep;
	int err;

	for (;;) {
		if ((index << PAGE_SHIFT) >= atomic_load(&mapping->i_size))
			return 1;
		if (!page) {
			filemap_invalidate_lock_shared(mapping);
			page_cache_sync_readahead(mapping, ra, index, req);
			filemap_invalidate_unlock_shared(mapping);
			page = find_get_page(mapping, index);
			if (!page) {
				err = filemap_create_page(mapping, index, &page);
				if (err)
					return err;
			}
		}
		/* the window just read may start at this page */
		if (unlikely(page_test(page, PG_readahead)))
			filemap_async_ra(mapping, ra, page, index, last_index);
		if (page_test(page, PG_uptodate))
			break;
		err = filemap_update_page(mapping, page);
		if (!err)
			break;
		put_page(page);
		page = NULL;
		if (err != -EAGAIN)
			return err;
	}
	*pagep = page;
	return 0;
}

/**
 * filemap_read - read bytes of a file through the cache
 * @mapping: the file's mapping
 * @ra: the open file's readahead state (NULL: no readahead)
 * @buf: destination
 * @len: bytes wanted
 * @pos: file position
 *
 * Clamped to i_size. Cached uptodate pages are copied without any lock but
 * RCU (CACHE_HITS); a miss (CACHE_MISSES) runs readahead or reads the page.
 *
 * Context: may sleep; no cache lock or page lock held.
 * Return: bytes copied (0 at or after EOF), or a negative errno if nothing
 * was copied.
 */
ssize_t filemap_read(struct address_space *mapping, struct file_ra_state *ra, void *buf, size_t len,
		     uint64_t pos)
{
	struct cache *cache = mapping->cache;
	uint64_t isize = atomic_load(&mapping->i_size), end, last_index;
	size_t copied = 0;
	int err = 0;

	if (pos >= isize || !len)
		return 0;
	end = pos + MIN((uint64_t)len, isize - pos);
	last_index = (end - 1) >> PAGE_SHIFT;
	while (pos < end) {
		uint64_t index = pos >> PAGE_SHIFT;
		struct page *page = find_get_page(mapping, index);
		size_t off, n;

		if (likely(page && page_test(page, PG_uptodate))) {
			stat_inc(cache, CACHE_HITS);
			if (unlikely(page_test(page, PG_readahead)))
				filemap_async_ra(mapping, ra, page, index, last_index);
		} else {
			stat_inc(cache, CACHE_MISSES);
			err = filemap_get_uptodate(mapping, ra, index, last_index, &page);
			if (err)
				break;
		}
		if (!ra_continues_page(ra, index))
			mark_page_accessed(page);
		isize = atomic_load(&mapping->i_size);
		if (unlikely(pos >= isize)) {
			put_page(page);
			break;
		}
		end = MIN(end, isize);
		off = pos & ~PAGE_MASK;
		n = MIN(PAGE_SIZE - off, end - pos);
		memcpy((char *)buf + copied, (char *)page_address(page) + off, n);
		put_page(page);
		copied += n;
		pos += n;
		if (ra)
			ra->prev_pos = pos; /* a miss on the next page continues this read */
	}
	if (copied || err > 0)
		return (ssize_t)copied;
	return err;
}

/* ---- the write path ---- */

/* Raise i_size to @end if it is below (concurrent writers: monotonic max). */
static void filemap_isize_extend(struct address_space *mapping, uint64_t end)
{
	uint64_t cur = atomic_load(&mapping->i_size);

	while (cur < end && !atomic_compare_exchange_weak(&mapping->i_size, &cur, end))
		;
}

/* Read a locked page that is not uptodate, keeping it locked. */
static int filemap_read_page_locked(struct address_space *mapping, struct page *page)
{
	int err = read_pages_locked(mapping, &page, 1);

	if (!err && !page_test(page, PG_uptodate))
		err = -EIO;
	return err;
}

/* Prepare bytes [from, to) of a buffer-less page (4 KiB blocks). */
static int write_begin_page(struct address_space *mapping, struct page *page, unsigned from,
			    unsigned to)
{
	unsigned flags = MAP_CREATE;
	bool new = false;
	uint64_t pblk;
	int n;

	if (!page_test(page, PG_mappedtodisk)) {
		n = mapping->a_ops->map_blocks(mapping, page->index, 1, &pblk, &flags);
		if (n < 0)
			return n;
		if (n == 0 || !(flags & MAP_MAPPED))
			return -EIO;
		new = flags &MAP_NEW;
		page_set(page, PG_mappedtodisk);
	}
	if (page_test(page, PG_uptodate) || (from == 0 && to == PAGE_SIZE))
		return 0;
	if (new || (page->index << PAGE_SHIFT) >= atomic_load(&mapping->i_size)) {
		memset(page_address(page), 0, from);
		memset((char *)page_address(page) + to, 0, PAGE_SIZE - to);
		return 0;
	}
	return filemap_read_page_locked(mapping, page);
}

/**
 * write_begin - get a page ready for a write of [pos, pos + len)
 * @mapping: the mapping
 * @pos: file position
 * @len: bytes, within one page
 * @pagep: out: the locked, referenced page
 *
 * Allocates the blocks the write touches (so -ENOSPC reaches the writer),
 * reads what the write only partly covers, zeroes what new blocks do not
 * get. Waits for write-back of the page (stable pages).
 *
 * Context: may sleep; invalidate_lock shared (filemap_write) or exclusive
 * (punch), or truncation otherwise excluded.
 * Return: 0 or a negative errno (-ENOSPC, -EIO, -ENOMEM...).
 */
int write_begin(struct address_space *mapping, uint64_t pos, unsigned len, struct page **pagep)
{
	unsigned from = pos & ~PAGE_MASK, to = from + len;
	struct page *page;
	int err;

	if (to > PAGE_SIZE || !len)
		return -EINVAL;
	err = find_or_create_page(mapping, pos >> PAGE_SHIFT, &page);
	if (err)
		return err;
	wait_on_page_writeback(page);
	if (mapping_uses_buffers(mapping)) {
		err = create_page_buffers(page, mapping->blkbits);
		if (!err)
			err = block_write_begin(mapping, page, from, to);
	} else {
		err = write_begin_page(mapping, page, from, to);
	}
	if (err) {
		unlock_page(page);
		put_page(page);
		return err;
	}
	*pagep = page;
	return 0;
}

static unsigned __write_end(struct address_space *mapping, uint64_t pos, unsigned len,
			    unsigned copied, struct page *page, bool extend)
{
	unsigned from = pos & ~PAGE_MASK;

	if (page_test(page, PG_private))
		block_write_end(page, from, from + copied);
	else if (copied < len && !page_test(page, PG_uptodate))
		copied = 0; /* the rest of [from, to) holds nothing valid */
	else
		page_set(page, PG_uptodate);
	if (copied) {
		set_page_dirty(page);
		if (extend)
			filemap_isize_extend(mapping, pos + copied);
	}
	page_assert_state(page);
	unlock_page(page);
	put_page(page);
	return copied;
}

/**
 * write_end - finish a write begun by write_begin()
 * @mapping: the mapping
 * @pos: file position given to write_begin()
 * @len: length given to write_begin()
 * @copied: bytes actually copied into the page
 * @page: the page from write_begin(); unlocked and released here
 *
 * Marks the bytes uptodate and the page dirty and raises i_size.
 *
 * Context: the write_begin() caller.
 * Return: bytes accepted (0 if a short copy left a new page unusable).
 */
int write_end(struct address_space *mapping, uint64_t pos, unsigned len, unsigned copied,
	      struct page *page)
{
	page_assert_locked(page);
	return (int)__write_end(mapping, pos, len, copied, page, true);
}

/**
 * set_page_dirty - mark a page dirty
 * @page: a page in a mapping (uptodate, or with its dirty bytes' buffers
 *        marked), locked or with one of its buffer heads in use
 *        (mark_buffer_dirty)
 *
 * Context: page locked or a head of it in use; takes xa_lock and wb_lock
 * through the accounting.
 * Return: true if the page was clean before.
 */
bool set_page_dirty(struct page *page)
{
	page_assert_state(page);
	struct address_space *mapping = page->mapping;

	if (!mapping || page_test(page, PG_dirty))
		return false;
	if (page_test_and_set(page, PG_dirty))
		return false;
	account_page_dirtied(page, mapping);
	return true;
}

/**
 * filemap_write - write bytes of a file through the cache
 * @mapping: the file's mapping
 * @buf: source
 * @len: bytes
 * @pos: file position
 *
 * After each page the writer may be throttled (balance_dirty_pages) while
 * dirty memory is past the setpoint.
 *
 * Context: may sleep; no cache lock held (takes invalidate_lock shared).
 * Return: bytes written (short if a later page failed), or the negative
 * errno of the first page.
 */
ssize_t filemap_write(struct address_space *mapping, const void *buf, size_t len, uint64_t pos)
{
	const struct address_space_operations *ops = mapping->a_ops;
	size_t written = 0;
	int err = 0;

	if (!len)
		return 0;
	if (pos + len < pos)
		return -EFBIG;
	filemap_invalidate_lock_shared(mapping);
	while (written < len) {
		unsigned off = pos & ~PAGE_MASK;
		unsigned n = (unsigned)MIN(PAGE_SIZE - off, len - written);
		struct page *page;

		if (ops && ops->write_start)
			ops->write_start(mapping);
		err = write_begin(mapping, pos, n, &page);
		if (!err) {
			memcpy((char *)page_address(page) + off, (const char *)buf + written, n);
			n = __write_end(mapping, pos, n, n, page, true);
		}
		if (ops && ops->write_done)
			ops->write_done(mapping);
		if (err)
			break;
		written += n;
		pos += n;
		balance_dirty_pages(mapping);
	}
	filemap_invalidate_unlock_shared(mapping);
	return written ? (ssize_t)written : err;
}

/* ---- truncate and punch ---- */

static void erase_shadow(struct address_space *mapping, uint64_t index, void *entry)
{
	xa_lock(&mapping->i_pages);
	if (xa_load(&mapping->i_pages, index) == entry) {
		__xa_erase(&mapping->i_pages, index);
		workingset_shadow_del(mapping->cache, mapping);
	}
	xa_unlock(&mapping->i_pages);
}

static void truncate_one(struct address_space *mapping, struct page *page, uint64_t index)
{
	lock_page(page);
	if (page->mapping == mapping && page->index == index) {
		wait_on_page_writeback(page);
		truncate_complete_page(mapping, page);
	}
	unlock_page(page);
	put_page(page);
}

/* Look up a batch of entries in [index, last]; pages get a reference, a page
 * that cannot be referenced (frozen) becomes NULL. */
static unsigned truncate_lookup(struct address_space *mapping, uint64_t index, uint64_t last,
				void **entries, uint64_t *indices)
{
	unsigned n;

	rcu_read_lock();
	n = xa_gang_lookup(&mapping->i_pages, index, last, XA_PRESENT, entries, indices,
			   TRUNC_BATCH);
	for (unsigned i = 0; i < n; i++)
		if (!xa_is_value(entries[i]) && !get_page_unless_zero(entries[i]))
			entries[i] = NULL;
	rcu_read_unlock();
	return n;
}

/* Remove every page and shadow in [first, last] (page indexes). */
static void truncate_whole_pages(struct address_space *mapping, uint64_t first, uint64_t last)
{
	void *entries[TRUNC_BATCH];
	uint64_t indices[TRUNC_BATCH];
	uint64_t index = first;

	for (;;) {
		unsigned n = truncate_lookup(mapping, index, last, entries, indices);
		bool retry = false;

		if (!n)
			return;
		index = indices[n - 1];
		for (unsigned i = 0; i < n; i++) {
			void *e = entries[i];

			if (retry) {
				if (e && !xa_is_value(e))
					put_page(e);
			} else if (!e) {
				retry = true; /* frozen by reclaim: look again */
				index = indices[i];
			} else if (xa_is_value(e)) {
				erase_shadow(mapping, indices[i], e);
			} else {
				truncate_one(mapping, e, indices[i]);
			}
		}
		if (retry) {
			sched_yield();
			continue;
		}
		if (index >= last)
			return;
		index++;
	}
}

/* Zero bytes [from, to) of a cached edge page and forget its blocks there. */
static void truncate_partial_page(struct address_space *mapping, uint64_t index, unsigned from,
				  unsigned to)
{
	struct page *page = find_lock_page(mapping, index);

	if (!page)
		return;
	wait_on_page_writeback(page);
	memset((char *)page_address(page) + from, 0, to - from);
	if (page_test(page, PG_private))
		block_invalidate_range(page, from, to);
	unlock_page(page);
	put_page(page);
}

static void tier_invalidate(struct address_space *mapping, uint64_t start, uint64_t end)
{
	struct cache *cache = mapping->cache;
	const struct cache_tier_ops *ops = __atomic_load_n(&cache->tier_ops, __ATOMIC_ACQUIRE);

	if (ops && ops->invalidate)
		ops->invalidate(cache->tier, mapping, start, end);
}

/**
 * truncate_inode_pages_range - drop the cached bytes [lstart, lend]
 * @mapping: the mapping
 * @lstart: first byte
 * @lend: last byte, inclusive (UINT64_MAX: to the end)
 *
 * Pages wholly inside are removed (waiting for their reads and write-back;
 * dirty data is dropped) with their shadows; edge pages get the covered
 * bytes zeroed and their covered blocks forgotten; the tier drops its copies
 * of every page the range touches.
 *
 * Context: invalidate_lock held exclusively by the caller; may sleep.
 */
void truncate_inode_pages_range(struct address_space *mapping, uint64_t lstart, uint64_t lend)
{
	uint64_t sidx = lstart >> PAGE_SHIFT, eidx = lend >> PAGE_SHIFT, first, last;
	unsigned soff = lstart & ~PAGE_MASK, eend = (unsigned)(lend & ~PAGE_MASK) + 1;

	if (lend < lstart)
		return;
	cache_rcu_thread_online();
	if (sidx == eidx && (soff || eend != PAGE_SIZE)) {
		truncate_partial_page(mapping, sidx, soff, eend);
		goto out;
	}
	first = soff ? sidx + 1 : sidx;
	last = eend == PAGE_SIZE ? eidx : eidx - 1;
	if (first <= last)
		truncate_whole_pages(mapping, first, last);
	if (soff)
		truncate_partial_page(mapping, sidx, soff, PAGE_SIZE);
	if (eend != PAGE_SIZE)
		truncate_partial_page(mapping, eidx, 0, eend);
out:
	tier_invalidate(mapping, sidx, eidx);
}

/**
 * truncate_inode_pages - drop the cached bytes from @lstart to the end
 * @mapping: the mapping
 * @lstart: first byte
 *
 * Context: as truncate_inode_pages_range().
 */
void truncate_inode_pages(struct address_space *mapping, uint64_t lstart)
{
	truncate_inode_pages_range(mapping, lstart, UINT64_MAX);
}

/* Read-modify-write zeros into [from, to), inside one block, if the block
 * holds data on the device; holes and unwritten blocks read as zeros. */
static int zero_block_range(struct address_space *mapping, uint64_t from, uint64_t to)
{
	unsigned flags = 0;
	struct page *page;
	uint64_t pblk;
	int n;

	if (!mapping->is_bdev) {
		n = mapping->a_ops->map_blocks(mapping, from >> mapping->blkbits, 1, &pblk, &flags);
		if (n < 0)
			return n;
		if (!(flags & MAP_MAPPED))
			return 0;
	}
	n = write_begin(mapping, from, (unsigned)(to - from), &page);
	if (n)
		return n;
	memset((char *)page_address(page) + (from & ~PAGE_MASK), 0, to - from);
	__write_end(mapping, from, (unsigned)(to - from), (unsigned)(to - from), page, false);
	return 0;
}

/* Zero the partly covered blocks at the edges of [start, end) below i_size. */
static int zero_partial_blocks(struct address_space *mapping, uint64_t start, uint64_t end)
{
	unsigned bits = mapping->blkbits;
	uint64_t mask = (1ULL << bits) - 1, isize = atomic_load(&mapping->i_size);
	uint64_t hb = start >> bits, tb = (end - 1) >> bits;
	int err = 0;

	if (hb == tb) {
		if (((start & mask) || (end & mask)) && start < isize)
			err = zero_block_range(mapping, start, end);
		return err;
	}
	if ((start & mask) && start < isize)
		err = zero_block_range(mapping, start, (hb + 1) << bits);
	if (!err && (end & mask) && (tb << bits) < isize)
		err = zero_block_range(mapping, tb << bits, end);
	return err;
}

/**
 * __filemap_zero_range - filemap_zero_range() with invalidate_lock held
 * @mapping: the mapping
 * @start: first byte
 * @len: bytes
 *
 * For an owner that changes its block map for the range before it drops
 * invalidate_lock (punch, zero range), so no read can bring the old blocks'
 * data back into the cache in between.
 *
 * Context: may sleep; invalidate_lock held exclusively by the caller.
 * Return: as filemap_zero_range().
 */
int __filemap_zero_range(struct address_space *mapping, uint64_t start, uint64_t len)
{
	uint64_t end = start + len;

	if (!len)
		return 0;
	if (end < start)
		return -EINVAL;
	cache_rcu_thread_online();
	truncate_inode_pages_range(mapping, start, end - 1);
	return zero_partial_blocks(mapping, start, end);
}

/**
 * filemap_zero_range - punch [start, start + len) out of the cache
 * @mapping: the mapping
 * @start: first byte
 * @len: bytes
 *
 * Partly covered blocks at the edges are zeroed through write_begin/
 * write_end (read-modify-write, dirty); everything wholly inside leaves the
 * cache. The caller deallocates the whole blocks afterwards (holding
 * invalidate_lock across both is safer: see __filemap_zero_range()). i_size
 * is not changed.
 *
 * Context: may sleep; takes invalidate_lock exclusively.
 * Return: 0 or a negative errno from the edge writes.
 */
int filemap_zero_range(struct address_space *mapping, uint64_t start, uint64_t len)
{
	int err;

	filemap_invalidate_lock(mapping);
	err = __filemap_zero_range(mapping, start, len);
	filemap_invalidate_unlock(mapping);
	return err;
}

/**
 * filemap_truncate - set a file's size and trim its cache
 * @mapping: the mapping
 * @newsize: the new i_size
 *
 * Shrinking removes every page past the new EOF, zeroes the EOF page beyond
 * @newsize and dirties the EOF block (read-modify-write when it holds data)
 * so the zeros reach the device; the block stays allocated. The owner frees
 * the blocks past EOF afterwards.
 *
 * Context: may sleep; takes invalidate_lock exclusively.
 * Return: 0 or a negative errno from the EOF block's read.
 */
int filemap_truncate(struct address_space *mapping, uint64_t newsize)
{
	uint64_t mask = (1ULL << mapping->blkbits) - 1, old;
	int err = 0;

	cache_rcu_thread_online();
	filemap_invalidate_lock(mapping);
	old = atomic_exchange(&mapping->i_size, newsize);
	if (newsize < old) {
		truncate_inode_pages_range(mapping, newsize, UINT64_MAX);
		if (newsize & mask)
			err = zero_block_range(mapping, newsize, (newsize | mask) + 1);
	}
	filemap_invalidate_unlock(mapping);
	return err;
}
