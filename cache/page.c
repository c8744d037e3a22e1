/*
 * cache/page.c - the page pool, page references, the page lock and the hashed
 * page wait queues, and RCU thread registration.
 *
 * Interface: get_page/get_page_unless_zero/put_page, lock_page/trylock_page/
 * unlock_page, wait_on_page_locked/wait_on_page_writeback/end_page_writeback,
 * page_assert_state/page_assert_locked (cache.h); page_pool_init/destroy, __page_pool_get,
 * page_pool_get_below, page_pool_put, page_ref_freeze/unfreeze,
 * page_waitqueue, wake_up_page, cache_rcu_thread_online, page_cache_of
 * (internal.h).
 *
 * The pool: one mmap'd, page-aligned data region and a separate array of
 * 64-byte struct pages, both fixed for the cache's life. Free pages sit on
 * cache->free_list (linked through page->private) under pool_lock. A
 * process-wide table maps page->cache_id to its cache, so a page can be
 * freed (and waited on) knowing only the page.
 *
 * References: the mapping holds one while the page is in it; every lookup
 * takes one. A count of 0 means free (on the free list) or frozen (reclaim or
 * removal owns it). put_page() to 0 takes the page off the LRU and gives it
 * back to the pool; lookups under RCU use get_page_unless_zero() and then
 * check the page is still what they looked up.
 *
 * Page lock and waiting: PG_locked is the lock. A waiter sleeps on the
 * condition variable of a hashed bucket after setting PG_waiters under the
 * bucket mutex; unlock_page() and end_page_writeback() clear their bit with
 * one atomic operation and take the bucket mutex only when that operation
 * saw PG_waiters. The same buckets serve writeback waiters.
 *
 * Page invariants (page_assert_state() checks them in debug builds):
 *   1. PG_dirty and no buffers => PG_uptodate.
 *   2. PG_writeback => PG_locked (write-back I/O runs with the page locked).
 *   3. mapping == NULL => neither PG_dirty nor PG_writeback.
 *   4. PG_lru => the page is linked on one LRU list; PG_lru clear and in a
 *      mapping => isolated by exactly one thread that holds a reference.
 *   5. PG_private <=> page->private != NULL (buffer heads attached; kept by
 *      buffer.c under the page lock, so not checked from outside it).
 *   6. refcount >= 0; a page with refcount 0 is not locked by anyone but the
 *      thread that froze it.
 *   7. PG_mappedtodisk => the page has no buffers and its block is mapped.
 */
#include "config.h"

#define _LGPL_SOURCE

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <urcu.h>

#include "cache/internal.h"

_Static_assert(sizeof(struct page) == 64, "struct page is one cache line");

#define CACHE_TABLE_SIZE 64

/* Caches by id, so page_cache_of() works for any pool page. */
static struct cache *cache_table[CACHE_TABLE_SIZE];
static pthread_mutex_t cache_table_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- RCU thread registration ---- */

static pthread_key_t rcu_key;
static pthread_once_t rcu_key_once = PTHREAD_ONCE_INIT;
static __thread bool rcu_online;

static void rcu_thread_exit(void *arg)
{
	(void)arg;
	rcu_unregister_thread();
}

static void rcu_key_create(void)
{
	if (pthread_key_create(&rcu_key, rcu_thread_exit))
		abort();
}

/**
 * cache_rcu_thread_online - register the calling thread with RCU once
 *
 * A thread the application registered itself is left alone; one registered
 * here is unregistered by a thread-exit destructor.
 *
 * Context: any thread, outside an RCU read-side section. Cheap after the
 * first call (one thread-local test).
 */
void cache_rcu_thread_online(void)
{
	if (likely(rcu_online))
		return;
	rcu_online = true;
	if (URCU_TLS(rcu_reader).registered)
		return;
	pthread_once(&rcu_key_once, rcu_key_create);
	rcu_register_thread();
	pthread_setspecific(rcu_key, (void *)1);
}

/* ---- the pool ---- */

static int cache_table_add(struct cache *cache)
{
	int id = -ENOSPC;

	pthread_mutex_lock(&cache_table_lock);
	for (int i = 0; i < CACHE_TABLE_SIZE; i++) {
		if (!cache_table[i]) {
			cache_table[i] = cache;
			id = i;
			break;
		}
	}
	pthread_mutex_unlock(&cache_table_lock);
	return id;
}

static void cache_table_del(struct cache *cache)
{
	pthread_mutex_lock(&cache_table_lock);
	for (int i = 0; i < CACHE_TABLE_SIZE; i++)
		if (cache_table[i] == cache)
			cache_table[i] = NULL;
	pthread_mutex_unlock(&cache_table_lock);
}

static void wait_buckets_init(struct cache *cache)
{
	for (unsigned i = 0; i < PAGE_WAIT_BUCKETS; i++) {
		cache_mutex_init(&cache->wait[i].lock);
		pthread_cond_init(&cache->wait[i].cond, NULL);
	}
}

static void wait_buckets_destroy(struct cache *cache)
{
	for (unsigned i = 0; i < PAGE_WAIT_BUCKETS; i++) {
		pthread_mutex_destroy(&cache->wait[i].lock);
		pthread_cond_destroy(&cache->wait[i].cond);
	}
}

/**
 * page_pool_init - allocate the pool's pages and put them all on the free list
 * @cache: the cache (pool_lock initialised)
 * @nr_pages: pages in the pool
 *
 * Context: cache_create(), single-threaded.
 * Return: 0, -ENOMEM, or -ENOSPC when the process already has the maximum
 * number of caches.
 */
int page_pool_init(struct cache *cache, unsigned long nr_pages)
{
	size_t bytes = nr_pages * PAGE_SIZE;
	int id, err = -ENOMEM;

	cache->pages = aligned_alloc(64, nr_pages * sizeof(struct page));
	if (!cache->pages)
		return -ENOMEM;
	memset(cache->pages, 0, nr_pages * sizeof(struct page));
	cache->data = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (cache->data == MAP_FAILED)
		goto out_pages;
	id = cache_table_add(cache);
	if (id < 0) {
		err = id;
		goto out_data;
	}
	cache->nr_pool = nr_pages;
	cache->free_list = NULL;
	for (unsigned long i = nr_pages; i-- > 0;) {
		struct page *page = &cache->pages[i];

		page->cache_id = (uint32_t)id;
		page->virtual = cache->data + i * PAGE_SIZE;
		INIT_LIST_HEAD(&page->lru);
		page->private = cache->free_list;
		cache->free_list = page;
		/* never touched yet: nothing resident to give back */
		page_set(page, PG_trimmed);
	}
	cache->free_tail = &cache->pages[nr_pages - 1];
	cache->nr_free_list = nr_pages;
	atomic_store(&cache->nr_used, 0);
	wait_buckets_init(cache);
	return 0;

out_data:
	munmap(cache->data, bytes);
out_pages:
	free(cache->pages);
	cache->pages = NULL;
	cache->data = NULL;
	return err;
}

/**
 * page_pool_destroy - free the pool
 * @cache: the cache; every page is back on the free list
 *
 * Context: cache_destroy(), no other user of the cache left.
 */
void page_pool_destroy(struct cache *cache)
{
	if (!cache->pages)
		return;
	CACHE_BUG_ON(atomic_load(&cache->nr_used) != 0);
	cache_table_del(cache);
	wait_buckets_destroy(cache);
	munmap(cache->data, cache->nr_pool * PAGE_SIZE);
	free(cache->pages);
	cache->pages = NULL;
	cache->data = NULL;
}

/* Reset a page taken off the free list: one reference, no state. */
static void page_init_allocated(struct page *page)
{
	atomic_store_explicit(&page->flags, 0, memory_order_relaxed);
	page->private = NULL;
	page->mapping = NULL;
	page->index = 0;
	atomic_store_explicit(&page->refcount, 1, memory_order_release);
}

/**
 * page_pool_get_below - take a free page if fewer than @max_used are in use
 * @cache: the cache
 * @max_used: bound on cache->nr_used after the allocation
 *
 * Context: any; takes pool_lock (no other cache lock needed).
 * Return: a page with refcount 1 and no flags, or NULL.
 */
struct page *page_pool_get_below(struct cache *cache, unsigned long max_used)
{
	struct page *page = NULL;

	pthread_mutex_lock(&cache->pool_lock);
	if (cache->free_list && atomic_load(&cache->nr_used) < max_used) {
		page = cache->free_list;
		cache->free_list = page->private;
		if (!cache->free_list)
			cache->free_tail = NULL;
		cache->nr_free_list--;
		atomic_fetch_add(&cache->nr_used, 1);
	}
	pthread_mutex_unlock(&cache->pool_lock);
	if (page)
		page_init_allocated(page);
	return page;
}

/**
 * __page_pool_get - take a page from the free list, ignoring the limit
 * @cache: the cache
 *
 * Context: any; takes pool_lock. Does not reclaim.
 * Return: a page with refcount 1 and no flags, or NULL when the pool is empty.
 */
struct page *__page_pool_get(struct cache *cache)
{
	return page_pool_get_below(cache, ULONG_MAX);
}

/* A page going back to the pool may still carry buffers nobody could free
 * while it was in use (truncated under a bread() user): free them now. With
 * the count at zero no head has a user; a head still dirty or pinned belongs
 * to data that was truncated, so its state is dropped with it. */
static void page_drop_leftover_buffers(struct page *page)
{
	page_set(page, PG_locked);
	if (!try_to_free_buffers(page)) {
		struct buffer_head *head = page_buffers(page), *bh = head;

		do {
			bh_clear(bh, BH_Dirty);
			bh_clear(bh, BH_Pinned);
			bh = bh->b_this_page;
		} while (bh != head);
		if (!try_to_free_buffers(page))
			abort(); /* a head with users on a page nobody references */
	}
	page_clear(page, PG_locked);
}

/**
 * page_pool_put - give a page whose refcount reached zero back to the pool
 * @cache: the page's cache
 * @page: the page, off the LRU and out of any mapping
 *
 * Context: any; takes pool_lock. Wakes allocators waiting for a free page.
 */
void page_pool_put(struct cache *cache, struct page *page)
{
	CACHE_BUG_ON(atomic_load(&page->refcount) != 0);
	CACHE_BUG_ON(page_test(page, PG_lru));
	CACHE_BUG_ON(page->mapping);
	if (unlikely(page_test(page, PG_private)))
		page_drop_leftover_buffers(page);
	CACHE_BUG_ON(page_test(page, PG_locked) || page_test(page, PG_writeback));
	atomic_store_explicit(&page->flags, 0, memory_order_relaxed);
	page->mapping = NULL;
	pthread_mutex_lock(&cache->pool_lock);
	page->private = cache->free_list;
	cache->free_list = page;
	if (!cache->free_tail)
		cache->free_tail = page;
	cache->nr_free_list++;
	atomic_fetch_sub(&cache->nr_used, 1);
	atomic_fetch_add_explicit(&cache->nr_frees, 1, memory_order_relaxed);
	if (cache->free_waiters)
		pthread_cond_broadcast(&cache->free_wait);
	pthread_mutex_unlock(&cache->pool_lock);
}

/**
 * page_cache_of - the cache a page belongs to
 * @page: any pool page
 *
 * Context: any.
 * Return: the cache.
 */
struct cache *page_cache_of(struct page *page)
{
	return cache_table[page->cache_id];
}

/* ---- giving free memory back ---- */

#define TRIM_BATCH 256

/* Take up to TRIM_BATCH resident pages off the head of the free list (the
 * PG_trimmed ones are all at its tail). pool_lock held. */
static unsigned trim_take(struct cache *cache, struct page **batch)
{
	unsigned n = 0;

	while (n < TRIM_BATCH && cache->free_list && !page_test(cache->free_list, PG_trimmed)) {
		struct page *page = cache->free_list;

		cache->free_list = page->private;
		if (!cache->free_list)
			cache->free_tail = NULL;
		cache->nr_free_list--;
		batch[n++] = page;
	}
	return n;
}

/* Put trimmed pages back at the tail, so allocations take resident ones
 * first. pool_lock held. */
static void trim_give_back(struct cache *cache, struct page **batch, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		batch[i]->private = NULL;
		if (cache->free_tail)
			cache->free_tail->private = batch[i];
		else
			cache->free_list = batch[i];
		cache->free_tail = batch[i];
	}
	cache->nr_free_list += n;
	if (n && cache->free_waiters)
		pthread_cond_broadcast(&cache->free_wait);
}

static int page_addr_cmp(const void *a, const void *b)
{
	const struct page *x = *(struct page *const *)a, *y = *(struct page *const *)b;

	return x < y ? -1 : x > y;
}

/* MADV_DONTNEED the pages' data, one call per run of neighbours. */
static void trim_release(struct page **batch, unsigned n)
{
	qsort(batch, n, sizeof(*batch), page_addr_cmp);
	for (unsigned i = 0; i < n;) {
		unsigned j = i + 1;

		while (j < n && batch[j] == batch[j - 1] + 1)
			j++;
		/* Only fails for a bad range, which a pool page is not; the page
		 * then simply stays resident. */
		(void)madvise(batch[i]->virtual, (size_t)(j - i) * PAGE_SIZE, MADV_DONTNEED);
		for (unsigned k = i; k < j; k++)
			page_set(batch[k], PG_trimmed);
		i = j;
	}
}

/**
 * cache_pool_resident - pool pages whose memory is resident in the process
 * @cache: the cache
 *
 * Asks the kernel (mincore), so it counts what the RSS counts for the pool,
 * whatever state the pages are in.
 *
 * Context: any thread.
 * Return: resident pages, or 0 when mincore fails.
 */
unsigned long cache_pool_resident(struct cache *cache)
{
	unsigned char vec[4096];
	unsigned long resident = 0;

	for (unsigned long i = 0; i < cache->nr_pool; i += sizeof(vec)) {
		unsigned long n = cache->nr_pool - i < sizeof(vec) ? cache->nr_pool - i : sizeof(vec);

		if (mincore(cache->data + i * PAGE_SIZE, n * PAGE_SIZE, vec))
			return 0;
		for (unsigned long k = 0; k < n; k++)
			resident += vec[k] & 1;
	}
	return resident;
}

/**
 * cache_trim_pool - give the memory of free pool pages back to the system
 * @cache: the cache
 *
 * Free pages that were used keep their memory resident; after a drop of the
 * cache or a lower limit that memory would stay counted in the process's
 * RSS. This releases it (MADV_DONTNEED), a batch at a time: a batch is off
 * the free list while its memory is released, so an allocation may wait a
 * moment for it. A released page reads as zeros when used again, which is
 * fine for a free page.
 *
 * Context: any thread holding no cache lock; may sleep.
 * Return: the number of pages released.
 */
unsigned long cache_trim_pool(struct cache *cache)
{
	struct page *batch[TRIM_BATCH];
	unsigned long total = 0;

	while (total < cache->nr_pool) {
		unsigned n;

		pthread_mutex_lock(&cache->pool_lock);
		n = trim_take(cache, batch);
		pthread_mutex_unlock(&cache->pool_lock);
		if (!n)
			break;
		trim_release(batch, n);
		pthread_mutex_lock(&cache->pool_lock);
		trim_give_back(cache, batch, n);
		pthread_mutex_unlock(&cache->pool_lock);
		total += n;
	}
	stat_add(cache, POOL_TRIMMED, total);
	return total;
}

/* ---- references ---- */

/**
 * get_page - take another reference to a page
 * @page: a page the caller already holds a reference to
 *
 * Context: any.
 */
void get_page(struct page *page)
{
	int old = atomic_fetch_add_explicit(&page->refcount, 1, memory_order_relaxed);

	CACHE_BUG_ON(old <= 0);
	(void)old;
}

/**
 * get_page_unless_zero - take a reference unless the page is free or frozen
 * @page: a pool page found without a reference (under RCU)
 *
 * Context: any.
 * Return: true if a reference was taken; the caller must then check the page
 * is still the one it looked up.
 */
bool get_page_unless_zero(struct page *page)
{
	int c = atomic_load_explicit(&page->refcount, memory_order_relaxed);

	while (c > 0) {
		if (atomic_compare_exchange_weak_explicit(
			    &page->refcount, &c, c + 1, memory_order_acquire, memory_order_relaxed))
			return true;
	}
	return false;
}

/**
 * put_page - drop a reference; the last one frees the page
 * @page: the page
 *
 * Context: any thread holding no lru_lock or pool_lock. When the count reaches
 * zero the page leaves the LRU and goes back to the pool.
 */
void put_page(struct page *page)
{
	int old = atomic_fetch_sub_explicit(&page->refcount, 1, memory_order_acq_rel);
	struct cache *cache;

	CACHE_BUG_ON(old <= 0);
	if (likely(old != 1))
		return;
	cache = page_cache_of(page);
	if (page_test(page, PG_lru))
		lru_del(cache, page);
	page_pool_put(cache, page);
}

/**
 * page_ref_freeze - drop the count from @expected to 0 if nobody else holds one
 * @page: the page
 * @expected: the references the caller knows about
 *
 * Context: any; reclaim and removal use it under the mapping's xa_lock.
 * Return: true if frozen (no new speculative reference can be taken).
 */
bool page_ref_freeze(struct page *page, int expected)
{
	return atomic_compare_exchange_strong_explicit(&page->refcount, &expected, 0,
						       memory_order_acq_rel, memory_order_relaxed);
}

/**
 * page_ref_unfreeze - give a frozen page its references back
 * @page: a page frozen by page_ref_freeze()
 * @count: the count to restore
 *
 * Context: the thread that froze the page.
 */
void page_ref_unfreeze(struct page *page, int count)
{
	CACHE_BUG_ON(atomic_load(&page->refcount) != 0);
	atomic_store_explicit(&page->refcount, count, memory_order_release);
}

/* ---- page lock and waiting ---- */

/**
 * page_waitqueue - the wait bucket for a key
 * @cache: the cache
 * @key: the object waited on (a page)
 *
 * Context: any.
 * Return: the bucket; several keys share each one.
 */
struct page_wait_bucket *page_waitqueue(struct cache *cache, const void *key)
{
	uintptr_t h = (uintptr_t)key >> 6;

	h ^= h >> 8;
	h *= 0x9E3779B97F4A7C15ULL;
	return &cache->wait[(h >> 32) % PAGE_WAIT_BUCKETS];
}

/**
 * wake_up_page - wake every thread waiting on a page
 * @cache: the page's cache
 * @page: the page whose PG_locked or PG_writeback was just cleared
 *
 * Context: any thread holding no wait bucket; clears PG_waiters (waiters that
 * still need to wait set it again).
 */
void wake_up_page(struct cache *cache, struct page *page)
{
	struct page_wait_bucket *b = page_waitqueue(cache, page);

	pthread_mutex_lock(&b->lock);
	page_clear(page, PG_waiters);
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* Sleep until @bit is clear; with @take, also set it (the page lock). */
static void page_wait_bit(struct page *page, enum pageflags bit, bool take)
{
	struct page_wait_bucket *b = page_waitqueue(page_cache_of(page), page);

	pthread_mutex_lock(&b->lock);
	for (;;) {
		page_set(page, PG_waiters);
		if (take ? !page_test_and_set(page, bit) : !page_test(page, bit))
			break;
		pthread_cond_wait(&b->cond, &b->lock);
	}
	pthread_mutex_unlock(&b->lock);
}

/**
 * trylock_page - take the page lock if it is free
 * @page: a page the caller holds a reference to
 *
 * Context: any.
 * Return: true if the lock was taken.
 */
bool trylock_page(struct page *page)
{
	return !page_test_and_set(page, PG_locked);
}

/**
 * lock_page - take the page lock, sleeping while another thread holds it
 * @page: a page the caller holds a reference to
 *
 * The lock is held across the page's read and write-back I/O, so this also
 * waits for those.
 *
 * Context: may sleep; see the lock order in cache.h (no xa_lock, lru_lock or
 * pool_lock held; other page locks of the mapping only at lower indexes).
 */
void lock_page(struct page *page)
{
	if (likely(trylock_page(page)))
		return;
	page_wait_bit(page, PG_locked, true);
}

/**
 * unlock_page - release the page lock and wake waiters
 * @page: a page locked by the caller
 *
 * Context: any; takes a wait bucket only if someone waits.
 */
void unlock_page(struct page *page)
{
	unsigned long old =
		atomic_fetch_and_explicit(&page->flags, ~(1UL << PG_locked), memory_order_release);

	CACHE_BUG_ON(!(old & (1UL << PG_locked)));
	if (unlikely(old & (1UL << PG_waiters)))
		wake_up_page(page_cache_of(page), page);
}

/**
 * wait_on_page_locked - wait until the page is unlocked (e.g. its read ends)
 * @page: a page the caller holds a reference to
 *
 * Context: may sleep; no cache lock held.
 */
void wait_on_page_locked(struct page *page)
{
	if (page_test(page, PG_locked))
		page_wait_bit(page, PG_locked, false);
}

/**
 * wait_on_page_writeback - wait until the page's write-back I/O has ended
 * @page: a page the caller holds a reference to
 *
 * Context: may sleep; no cache lock held.
 */
void wait_on_page_writeback(struct page *page)
{
	if (page_test(page, PG_writeback))
		page_wait_bit(page, PG_writeback, false);
}

/**
 * end_page_writeback - finish a page's write-back
 * @page: a locked page under write-back, still in its mapping
 *
 * Clears the mapping's WRITEBACK mark and PG_writeback, lowers NR_WRITEBACK
 * and wakes waiters; the caller unlocks the page afterwards.
 *
 * Context: the thread that started the write-back; takes xa_lock.
 */
void end_page_writeback(struct page *page)
{
	struct address_space *mapping = page->mapping;
	struct cache *cache = page_cache_of(page);
	unsigned long old;

	if (mapping) {
		xa_lock(&mapping->i_pages);
		__xa_clear_mark(&mapping->i_pages, page->index, XA_MARK_WRITEBACK);
		xa_unlock(&mapping->i_pages);
	}
	old = atomic_fetch_and_explicit(&page->flags, ~(1UL << PG_writeback), memory_order_acq_rel);
	CACHE_BUG_ON(!(old & (1UL << PG_writeback)));
	if (old & (1UL << PG_writeback))
		stat_add(cache, NR_WRITEBACK, -1);
	if (old & (1UL << PG_waiters))
		wake_up_page(cache, page);
}

#ifdef FOLIO_DEBUG
/**
 * __page_assert_state - check the page invariants listed at the top of page.c
 * @page: a page the caller holds a reference to
 * @locked: the caller holds the page lock (asserted); the invariants that
 *	depend on it (5: buffers attached <=> PG_private) are checked too
 *
 * Reached through page_assert_state() and page_assert_locked().
 *
 * Context: debug builds only.
 */
void __page_assert_state(struct page *page, bool locked)
{
	unsigned long f = atomic_load(&page->flags);
	bool has_private = f & (1UL << PG_private);

	assert(atomic_load(&page->refcount) >= 0);					  /* 6 */
	if ((f & (1UL << PG_dirty)) && !has_private)
		assert(f & (1UL << PG_uptodate));					  /* 1 */
	if (f & (1UL << PG_writeback))
		assert(f & (1UL << PG_locked));						  /* 2 */
	if (!__atomic_load_n(&page->mapping, __ATOMIC_RELAXED))
		assert(!(f & ((1UL << PG_dirty) | (1UL << PG_writeback))));		  /* 3 */
	if (f & (1UL << PG_mappedtodisk))
		assert(!has_private);							  /* 7 */
	if (locked) {
		assert(f & (1UL << PG_locked));
		assert(atomic_load(&page->refcount) > 0);				  /* 6 */
		assert(has_private == (page->private != NULL));				  /* 5 */
	}
}
#endif
