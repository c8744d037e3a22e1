/*
 * cache/lru.c - the memory limit, the active/inactive LRU lists and reclaim
 * (direct, background, drop-clean).
 *
 * Interface: cache_reclaim, cache_drop_clean, page_cache_alloc (cache.h);
 * lru_add, lru_del, reclaim_start, reclaim_stop, wakeup_reclaimer,
 * page_cache_alloc_nowait (internal.h). The cache object itself and its
 * settings are in cache/cache.c.
 *
 * Limit: at most cache->limit pages are in use (nr_used), checked under
 * pool_lock when a page is taken; only the background reclaimer may go over,
 * by at most CACHE_RESERVE_PAGES (the pool holds those pages beyond the
 * configured pool size), because writing a dirty page may need a metadata
 * page. Watermarks on free = limit - nr_used: min = clamp(limit/64, 4, 4096),
 * low = 2*min, high = 3*min. An allocation that would leave free at or below
 * min reclaims clean pages itself (ALLOCSTALL, PGSCAN/PGSTEAL_DIRECT); below
 * low it wakes the background reclaimer, which reclaims to high, writing the
 * dirty pages it meets. An allocation that still finds no page waits for
 * frees and fails with -ENOMEM after CACHE_ALLOC_TIMEOUT_MS without one.
 *
 * Lists (protected by lru_lock): pages enter at the head of inactive (or of
 * active after a close refault) with PG_fresh; mark_page_accessed() clears
 * that on the first use and sets PG_referenced on later ones. Reclaim scans inactive from the tail:
 * referenced pages are promoted (PGACTIVATE); locked, under write-back, in use, pinned or (for
 * direct reclaim) dirty pages rotate; clean ones are evicted with a shadow
 * entry after the tier hook has had a chance to keep a copy. Inactive is kept
 * at no less than half of active by demoting from the active tail
 * (referenced pages there get one more round).
 * *
 * Isolation: a scanner takes a reference under lru_lock, clears PG_lru and
 * unlinks the page, then drops lru_lock before touching it. A page isolated
 * this way is never on a list, so the scanner owns page->lru; nr_isolated
 * counts such pages (drop-clean waits for other scanners to finish). The page
 * lock (trylock only) makes page->mapping trustworthy.
 *
 * Invariants: PG_lru <=> on a list; PG_active (with PG_lru) <=> on active;
 * nr_active/nr_inactive are the list lengths. A page whose count reaches
 * zero leaves its list in put_page(), so lists never hold free pages for
 * longer than that call.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/internal.h"

#define RECLAIM_BATCH	       32
#define ALLOC_WAIT_SLICE_MS    50
#define RECLAIM_BACKOFF_MS     10
#define RECLAIM_BACKOFF_MAX_MS 640

/* The background reclaimer thread (may use the reserve, never waits). */
static __thread bool reclaimer_self;

/*
 * struct scan_control - one reclaim request.
 * @nr_to_reclaim: pages to free
 * @nr_reclaimed:  pages freed
 * @nr_scanned:    inactive pages examined
 * @kswapd:        the background reclaimer: its counters; writes dirty pages
 * @drop:          cache_drop_clean(): ignore references, no shadow, no tier,
 *                 no counters
 */
struct scan_control {
	unsigned long nr_to_reclaim;
	unsigned long nr_reclaimed;
	unsigned long nr_scanned;
	bool kswapd;
	bool drop;
};

static unsigned long cache_free_pages(struct cache *cache)
{
	unsigned long limit = atomic_load(&cache->limit);
	unsigned long used = atomic_load(&cache->nr_used);

	return used < limit ? limit - used : 0;
}

/* ---- lists ---- */

/* Adjust a list length (lru_lock held; read racily by workingset). */
static void lru_count(struct cache *cache, bool active, long delta)
{
	unsigned long *n = active ? &cache->nr_active : &cache->nr_inactive;

	__atomic_store_n(n, *n + delta, __ATOMIC_RELAXED);
	stat_add(cache, active ? NR_ACTIVE_FILE : NR_INACTIVE_FILE, delta);
}

static void __lru_link(struct cache *cache, struct page *page)
{
	bool active = page_test(page, PG_active);

	list_add(&page->lru, active ? &cache->active : &cache->inactive);
	lru_count(cache, active, 1);
	page_set(page, PG_lru);
}

static void __lru_unlink(struct cache *cache, struct page *page)
{
	list_del_init(&page->lru);
	page_clear(page, PG_lru);
	lru_count(cache, page_test(page, PG_active), -1);
}

/**
 * lru_add - put a page that just entered a mapping on an LRU list
 * @cache: the cache
 * @page: the page (referenced by the caller); PG_active picks the list
 *
 * Context: takes lru_lock; no xa_lock held.
 */
void lru_add(struct cache *cache, struct page *page)
{
	pthread_mutex_lock(&cache->lru_lock);
	CACHE_BUG_ON(page_test(page, PG_lru));
	__lru_link(cache, page);
	pthread_mutex_unlock(&cache->lru_lock);
}

/**
 * lru_del - take a page off its LRU list, if it is on one
 * @cache: the cache
 * @page: the page (being freed, or referenced by the caller)
 *
 * Context: takes lru_lock.
 */
void lru_del(struct cache *cache, struct page *page)
{
	pthread_mutex_lock(&cache->lru_lock);
	if (page_test(page, PG_lru))
		__lru_unlink(cache, page);
	pthread_mutex_unlock(&cache->lru_lock);
}

/* Give an isolated page back to the head of its list and drop the
 * isolation reference. */
static void putback_page(struct cache *cache, struct page *page)
{
	pthread_mutex_lock(&cache->lru_lock);
	__lru_link(cache, page);
	pthread_mutex_unlock(&cache->lru_lock);
	atomic_fetch_sub(&cache->nr_isolated, 1);
	put_page(page);
}

/* Promote a referenced inactive page (lru_lock held). */
static void __activate_page(struct cache *cache, struct page *page)
{
	page_clear(page, PG_referenced);
	lru_count(cache, false, -1);
	list_move(&page->lru, &cache->active);
	page_set(page, PG_active);
	page_set(page, PG_workingset);
	lru_count(cache, true, 1);
	stat_inc(cache, PGACTIVATE);
	workingset_activation(cache, page);
}

static bool inactive_is_low(struct cache *cache)
{
	return cache->nr_active &&
	       (cache->nr_inactive == 0 || 2 * cache->nr_inactive < cache->nr_active);
}

/* Demote from the active tail until inactive is at least half of active;
 * referenced pages get another round at the head. */
static void balance_active(struct cache *cache, long *budget)
{
	unsigned n = 0;

	pthread_mutex_lock(&cache->lru_lock);
	while (*budget > 0 && n++ < 2 * RECLAIM_BATCH && inactive_is_low(cache)) {
		struct page *page = list_last_entry(&cache->active, struct page, lru);

		(*budget)--;
		if (page_test(page, PG_referenced)) {
			page_clear(page, PG_referenced);
			list_move(&page->lru, &cache->active);
			continue;
		}
		lru_count(cache, true, -1);
		page_clear(page, PG_active);
		list_move(&page->lru, &cache->inactive);
		lru_count(cache, false, 1);
		stat_inc(cache, PGDEACTIVATE);
	}
	pthread_mutex_unlock(&cache->lru_lock);
}

/* Isolate up to @max pages from the tail of @list into @batch. */
static unsigned isolate_pages(struct cache *cache, struct list_head *list, struct scan_control *sc,
			      struct page **batch, unsigned max, long *budget)
{
	unsigned n = 0;

	pthread_mutex_lock(&cache->lru_lock);
	while (n < max && *budget > 0 && !list_empty(list)) {
		struct page *page = list_last_entry(list, struct page, lru);

		(*budget)--;
		sc->nr_scanned++;
		if (!sc->drop && page_test(page, PG_referenced)) {
			__activate_page(cache, page);
			continue;
		}
		if (!get_page_unless_zero(page)) {
			list_move(&page->lru, list); /* being freed */
			continue;
		}
		__lru_unlink(cache, page);
		atomic_fetch_add(&cache->nr_isolated, 1);
		batch[n++] = page;
	}
	pthread_mutex_unlock(&cache->lru_lock);
	return n;
}

static const struct cache_tier_ops *tier_ops_of(struct cache *cache)
{
	return __atomic_load_n(&cache->tier_ops, __ATOMIC_ACQUIRE);
}

/* Offer a clean page to the tier before it leaves the cache. */
static bool reclaim_tier_store(struct cache *cache, struct address_space *mapping,
			       struct page *page)
{
	const struct cache_tier_ops *ops = tier_ops_of(cache);

	if (!ops || !ops->store || !page_test(page, PG_uptodate))
		return false;
	return ops->store(cache->tier, mapping, page) == 0;
}

/* Ask the tier for @nr pages back (0: only what costs nothing). */
static unsigned long tier_shrink(struct cache *cache, unsigned long nr)
{
	const struct cache_tier_ops *ops = tier_ops_of(cache);

	return ops && ops->shrink ? ops->shrink(cache->tier, nr) : 0;
}

/* Make a locked page ready for removal: clean, unused, no buffers. */
static bool page_evictable(struct page *page, struct scan_control *sc)
{
	if (page_test(page, PG_writeback))
		return false;
	if (page_test(page, PG_dirty)) {
		if (!sc->kswapd || writeback_page_for_reclaim(page))
			return false;
		if (page_test(page, PG_dirty) || page_test(page, PG_writeback))
			return false;
	}
	if (atomic_load(&page->refcount) != 2)
		return false;
	if (page_test(page, PG_private) &&
	    (page_has_pinned_buffers(page) || !try_to_free_buffers(page)))
		return false;
	return true;
}

/* Try to free one isolated page; consumes the isolation reference. */
static bool shrink_page(struct cache *cache, struct page *page, struct scan_control *sc)
{
	struct address_space *mapping;
	void *shadow = NULL;
	bool stored = false;

	if (!trylock_page(page))
		goto keep;
	mapping = page->mapping;
	if (!mapping) {
		/* truncated while isolated: off the LRU for good */
		unlock_page(page);
		atomic_fetch_sub(&cache->nr_isolated, 1);
		put_page(page);
		return false;
	}
	if (!page_evictable(page, sc))
		goto keep_locked;
	if (!sc->drop) {
		if (!(atomic_load(&mapping->flags) & AS_EXITING))
			shadow = workingset_eviction(cache, page);
		stored = reclaim_tier_store(cache, mapping, page);
	}
	if (!__remove_mapping(mapping, page, shadow, 2)) {
		if (stored)
			cache->tier_ops->invalidate(cache->tier, mapping, page->index, page->index);
		goto keep_locked;
	}
	if (stored)
		stat_inc(cache, ZSWPOUT);
	unlock_page(page);
	atomic_fetch_sub(&cache->nr_isolated, 1);
	page_pool_put(cache, page);
	return true;

keep_locked:
	unlock_page(page);
keep:
	putback_page(cache, page);
	return false;
}

static bool lru_empty(struct cache *cache)
{
	bool empty;

	pthread_mutex_lock(&cache->lru_lock);
	empty = list_empty(&cache->inactive) && list_empty(&cache->active);
	pthread_mutex_unlock(&cache->lru_lock);
	return empty;
}

static long scan_budget(struct cache *cache)
{
	long n;

	pthread_mutex_lock(&cache->lru_lock);
	n = (long)(cache->nr_active + cache->nr_inactive);
	pthread_mutex_unlock(&cache->lru_lock);
	return 2 * n + RECLAIM_BATCH;
}

/* The lists could not give enough and free pages are short: the tier's
 * pool gives the rest, up to the high watermark. */
static void shrink_tier(struct cache *cache, struct scan_control *sc)
{
	unsigned long free = cache_free_pages(cache), high = atomic_load(&cache->wmark_high);

	if (sc->nr_reclaimed >= sc->nr_to_reclaim || free >= high)
		return;
	sc->nr_reclaimed +=
		tier_shrink(cache, MIN(sc->nr_to_reclaim - sc->nr_reclaimed, high - free));
}

/* Reclaim up to sc->nr_to_reclaim pages from the inactive list. */
static void shrink_lists(struct cache *cache, struct scan_control *sc)
{
	struct page *batch[RECLAIM_BATCH];
	long budget = scan_budget(cache);
	unsigned long scanned0 = sc->nr_scanned, reclaimed0 = sc->nr_reclaimed;

	while (sc->nr_reclaimed < sc->nr_to_reclaim && budget > 0) {
		unsigned long want = sc->nr_to_reclaim - sc->nr_reclaimed;
		unsigned n;

		balance_active(cache, &budget);
		n = isolate_pages(cache, &cache->inactive, sc, batch,
				  (unsigned)MIN(want, (unsigned long)RECLAIM_BATCH), &budget);
		if (!n && lru_empty(cache))
			break;
		budget--; /* every round costs, so an idle one cannot spin */
		for (unsigned i = 0; i < n; i++)
			sc->nr_reclaimed += shrink_page(cache, batch[i], sc);
	}
	stat_add(cache, sc->kswapd ? PGSCAN_KSWAPD : PGSCAN_DIRECT,
		 (int64_t)(sc->nr_scanned - scanned0));
	stat_add(cache, sc->kswapd ? PGSTEAL_KSWAPD : PGSTEAL_DIRECT,
		 (int64_t)(sc->nr_reclaimed - reclaimed0));
	if (!sc->drop)
		shrink_tier(cache, sc);
}

/**
 * cache_reclaim - free up to @nr_to_reclaim clean pages now
 * @cache: the cache
 * @nr_to_reclaim: pages wanted
 *
 * Works like direct reclaim: clean pages only, trylock only, never writes
 * and never sleeps on a page; counts PGSCAN_DIRECT/PGSTEAL_DIRECT.
 *
 * Context: any thread holding no cache lock and no page lock.
 * Return: pages freed.
 */
unsigned long cache_reclaim(struct cache *cache, unsigned long nr_to_reclaim)
{
	struct scan_control sc = {.nr_to_reclaim = nr_to_reclaim};

	cache_rcu_thread_online();
	shrink_lists(cache, &sc);
	return sc.nr_reclaimed;
}

/* One drop-clean pass over @list: every page seen once. */
static unsigned long drop_list(struct cache *cache, struct list_head *list, bool active)
{
	struct scan_control sc = {.nr_to_reclaim = ULONG_MAX, .drop = true};
	struct page *batch[RECLAIM_BATCH];
	long budget;

	pthread_mutex_lock(&cache->lru_lock);
	budget = (long)(active ? cache->nr_active : cache->nr_inactive);
	pthread_mutex_unlock(&cache->lru_lock);
	while (budget > 0) {
		unsigned n = isolate_pages(cache, list, &sc, batch, RECLAIM_BATCH, &budget);

		if (!n)
			break; /* the list emptied under us (truncation, the reclaimer) */
		for (unsigned i = 0; i < n; i++)
			sc.nr_reclaimed += shrink_page(cache, batch[i], &sc);
	}
	return sc.nr_reclaimed;
}

/**
 * cache_drop_clean - free every clean page nobody uses (like drop_caches)
 * @cache: the cache
 *
 * Asynchronous readahead queued before the call is waited for first, so
 * what it brings in is dropped too and a cold read after this is cold.
 * Dirty, locked, under write-back, referenced-by-a-user and pinned pages stay.
 * No shadow entries are left and nothing goes to the tier, which is emptied
 * too (a cold run after it is cold). Pages another reclaimer holds isolated
 * are waited for (briefly) and dropped too. Then the memory of every free
 * pool page goes back to the system (cache_trim_pool), so the process's RSS
 * falls as the kernel's does.
 *
 * Context: any thread holding no cache lock and no page lock.
 * Return: pages freed.
 */
unsigned long cache_drop_clean(struct cache *cache)
{
	const struct cache_tier_ops *ops;
	unsigned long freed = 0;

	cache_rcu_thread_online();
	readahead_drain(cache);
	for (int tries = 0; tries < 200; tries++) {
		freed += drop_list(cache, &cache->inactive, false);
		freed += drop_list(cache, &cache->active, true);
		if (atomic_load(&cache->nr_isolated) == 0)
			break;
		usleep(500);
	}
	ops = tier_ops_of(cache);
	if (ops && ops->drop_all)
		ops->drop_all(cache->tier);
	cache_trim_pool(cache);
	return freed;
}

/* ---- allocation ---- */

static void direct_reclaim(struct cache *cache)
{
	struct scan_control sc = {.nr_to_reclaim = RECLAIM_BATCH};

	shrink_lists(cache, &sc);
}

/* One allocation attempt, reclaiming directly below the min watermark. */
static struct page *alloc_try(struct cache *cache, bool *stalled)
{
	unsigned long free = cache_free_pages(cache);
	unsigned long limit;

	/* this allocation takes one page: act on what free will be after it */
	if (free <= atomic_load(&cache->wmark_low))
		wakeup_reclaimer(cache);
	if (free <= atomic_load(&cache->wmark_min) && !reclaimer_self) {
		if (!*stalled)
			stat_inc(cache, ALLOCSTALL);
		*stalled = true;
		direct_reclaim(cache);
	}
	limit = atomic_load(&cache->limit);
	return page_pool_get_below(cache, limit + (reclaimer_self ? cache->reserve : 0));
}

/* Sleep until a page is freed or the limit rises (at most one slice). */
static void alloc_wait_slice(struct cache *cache)
{
	struct timespec ts;

	wakeup_reclaimer(cache);
	cache_deadline_after_ms(&ts, ALLOC_WAIT_SLICE_MS);
	pthread_mutex_lock(&cache->pool_lock);
	if (atomic_load(&cache->nr_used) >= atomic_load(&cache->limit)) {
		cache->free_waiters++;
		pthread_cond_timedwait(&cache->free_wait, &cache->pool_lock, &ts);
		cache->free_waiters--;
	}
	pthread_mutex_unlock(&cache->pool_lock);
}

static int __page_cache_alloc(struct cache *cache, struct page **pagep, bool may_wait)
{
	uint64_t deadline = 0, frees = 0, f;
	bool stalled = false;
	struct page *page;

	cache_rcu_thread_online();
	for (;;) {
		page = alloc_try(cache, &stalled);
		if (page) {
			*pagep = page;
			return 0;
		}
		if (!may_wait || reclaimer_self)
			return -ENOMEM;
		f = atomic_load(&cache->nr_frees);
		if (!deadline || f != frees) {
			frees = f;
			deadline = cache_now_ms() + CACHE_ALLOC_TIMEOUT_MS;
		} else if (cache_now_ms() >= deadline) {
			return -ENOMEM;
		}
		alloc_wait_slice(cache);
	}
}

/**
 * page_cache_alloc - allocate a page under the memory limit
 * @cache: the cache
 * @pagep: out: a page with refcount 1, no flags, in no mapping
 *
 * Below the min watermark reclaims clean pages directly; when the limit is
 * reached waits for the background reclaimer.
 *
 * Context: may sleep; holds no cache lock (page locks and invalidate_lock
 * are allowed, see the lock order).
 * Return: 0, or -ENOMEM when nothing was freed for CACHE_ALLOC_TIMEOUT_MS.
 */
int page_cache_alloc(struct cache *cache, struct page **pagep)
{
	return __page_cache_alloc(cache, pagep, true);
}

/**
 * page_cache_alloc_nowait - allocate a page without sleeping
 * @cache: the cache
 * @pagep: out: the page
 *
 * Context: as page_cache_alloc(), never waits for frees.
 * Return: 0, or -ENOMEM at once.
 */
int page_cache_alloc_nowait(struct cache *cache, struct page **pagep)
{
	return __page_cache_alloc(cache, pagep, false);
}

/* ---- the background reclaimer ---- */

/**
 * wakeup_reclaimer - ask the background reclaimer to run
 * @cache: the cache
 *
 * Context: any thread holding no reclaim_lock; cheap when already asked.
 */
void wakeup_reclaimer(struct cache *cache)
{
	if (!cache->reclaimer_started || __atomic_load_n(&cache->reclaim_wake, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&cache->reclaim_lock);
	__atomic_store_n(&cache->reclaim_wake, true, __ATOMIC_RELAXED);
	pthread_cond_signal(&cache->reclaim_cond);
	pthread_mutex_unlock(&cache->reclaim_lock);
}

/* Reclaim until free >= high; true if anything was freed or none needed.
 * The tier's pool is compacted first: that frees pages without losing any. */
static bool kswapd_balance(struct cache *cache)
{
	unsigned long freed = 0, free;

	if (cache_free_pages(cache) < atomic_load(&cache->wmark_high))
		freed = tier_shrink(cache, 0);
	while ((free = cache_free_pages(cache)) < atomic_load(&cache->wmark_high)) {
		struct scan_control sc = {
			.nr_to_reclaim = atomic_load(&cache->wmark_high) - free,
			.kswapd = true,
		};

		shrink_lists(cache, &sc);
		freed += sc.nr_reclaimed;
		if (!sc.nr_reclaimed || __atomic_load_n(&cache->stopping, __ATOMIC_RELAXED))
			return freed > 0;
	}
	return true;
}

/* After a round that freed nothing, sleep (backing off) and retry on our own
 * while free pages are still below low: no allocator may come to wake us. */
static void reclaimer_backoff(struct cache *cache, unsigned *backoff_ms)
{
	struct timespec ts;

	cache_deadline_after_ms(&ts, *backoff_ms);
	pthread_cond_timedwait(&cache->reclaim_cond, &cache->reclaim_lock, &ts);
	*backoff_ms = MIN(*backoff_ms * 2, RECLAIM_BACKOFF_MAX_MS);
	if (cache_free_pages(cache) < atomic_load(&cache->wmark_low))
		__atomic_store_n(&cache->reclaim_wake, true, __ATOMIC_RELAXED);
}

static void *reclaimer_main(void *arg)
{
	struct cache *cache = arg;
	unsigned backoff_ms = RECLAIM_BACKOFF_MS;

	cache_rcu_thread_online();
	reclaimer_self = true;
	pthread_mutex_lock(&cache->reclaim_lock);
	for (;;) {
		while (!cache->reclaim_wake && !cache->stopping)
			pthread_cond_wait(&cache->reclaim_cond, &cache->reclaim_lock);
		if (cache->stopping)
			break;
		__atomic_store_n(&cache->reclaim_wake, false, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&cache->reclaim_lock);
		bool progress = kswapd_balance(cache);
		if (atomic_exchange(&cache->trim_pending, false))
			cache_trim_pool(cache);
		if (atomic_exchange(&cache->shadow_trim_pending, false))
			workingset_trim_shadows(cache);
		pthread_mutex_lock(&cache->reclaim_lock);
		if (progress)
			backoff_ms = RECLAIM_BACKOFF_MS;
		else if (!cache->stopping)
			reclaimer_backoff(cache, &backoff_ms);
	}
	pthread_mutex_unlock(&cache->reclaim_lock);
	return NULL;
}

/**
 * reclaim_start - start the background reclaimer thread
 * @cache: the cache
 *
 * Context: cache_create().
 * Return: 0 or a negative errno from pthread_create.
 */
int reclaim_start(struct cache *cache)
{
	int err = pthread_create(&cache->reclaimer, NULL, reclaimer_main, cache);

	if (err)
		return -err;
	cache->reclaimer_started = true;
	return 0;
}

/**
 * reclaim_stop - stop and join the background reclaimer
 * @cache: the cache
 *
 * Context: cache_destroy().
 */
void reclaim_stop(struct cache *cache)
{
	if (!cache->reclaimer_started)
		return;
	pthread_mutex_lock(&cache->reclaim_lock);
	__atomic_store_n(&cache->stopping, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&cache->reclaim_cond);
	pthread_mutex_unlock(&cache->reclaim_lock);
	pthread_join(cache->reclaimer, NULL);
	cache->reclaimer_started = false;
}
