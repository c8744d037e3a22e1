/*
 * cache/cache.c - the cache object: creation and teardown, its settings (the
 * memory limit and watermarks, the readahead maximum, the tier hook), and
 * the small helpers every cache file uses (mutexes, monotonic clock).
 *
 * Interface: cache_create, cache_destroy, cache_set_limit, cache_get_limit,
 * cache_get_watermarks, cache_set_ra_max, cache_get_ra_max, cache_set_tier
 * (cache.h); cache_update_watermarks, cache_mutex_init, cache_assert_held,
 * cache_cond_init_monotonic, cache_now_ms, cache_now_us,
 * cache_deadline_after_ms, cache_deadline_at_ms (internal.h).
 *
 * A cache owns its page pool (page.c), its counters (stats.c), the
 * compressed tier (zswap.c: made with the cache, on or off as configured,
 * plugged into the tier hook), the flusher's state (flusher.c: made and
 * freed with the cache; the threads are started by the cache's user with
 * cache_flusher_start and stopped at the latest by cache_destroy), the
 * readahead workers (readahead.c) and the background reclaimer (lru.c).
 * cache_create makes them in that order and unwinds in reverse on failure;
 * cache_destroy stops the threads first, then empties the tier.
 *
 * Invariants: limit <= nr_pool - reserve; wmark_min < wmark_low <
 * wmark_high, recomputed whenever the limit changes.
 */
#include "config.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/internal.h"

#define CACHE_MIN_PAGES	      16
#define CACHE_RA_MAX_PAGES    4096
#define CACHE_WB_FILL_DEFAULT (64U << 10) /* wb_fill_bytes: 16 pages */

/* ---- helpers ---- */

/**
 * cache_mutex_init - initialise a mutex of the cache or of its users
 * @m: the mutex
 *
 * Debug builds make it error-checking, so a double lock or an unlock by a
 * non-owner aborts instead of corrupting state.
 *
 * Context: any, before the mutex is used.
 */
void cache_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
#ifdef FOLIO_DEBUG
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
#endif
	pthread_mutex_init(m, &attr);
	pthread_mutexattr_destroy(&attr);
}

#ifdef FOLIO_DEBUG
/**
 * cache_assert_held - abort unless the calling thread owns a mutex
 * @m: the mutex
 *
 * Context: debug builds only; any thread.
 */
void cache_assert_held(pthread_mutex_t *m)
{
#ifdef __GLIBC__
	assert(__atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) == gettid());
#else
	assert(pthread_mutex_trylock(m) != 0);
#endif
}
#endif

/**
 * cache_cond_init_monotonic - a condition variable whose timed waits use
 * CLOCK_MONOTONIC (so a wall-clock change cannot stretch them)
 * @cond: the condition variable
 *
 * Context: any, before it is used.
 */
void cache_cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

/**
 * cache_now_us - the monotonic clock in microseconds
 *
 * Context: any.
 */
uint64_t cache_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/**
 * cache_now_ms - the monotonic clock in milliseconds
 *
 * Context: any.
 */
uint64_t cache_now_ms(void)
{
	return cache_now_us() / 1000;
}

/**
 * cache_deadline_at_ms - a timed wait's deadline at a monotonic time
 * @ts: out: the deadline, for a cache_cond_init_monotonic() condition
 * @at_ms: the time, from cache_now_ms()
 *
 * Context: any.
 */
void cache_deadline_at_ms(struct timespec *ts, uint64_t at_ms)
{
	ts->tv_sec = (time_t)(at_ms / 1000);
	ts->tv_nsec = (long)(at_ms % 1000) * 1000000L;
}

/**
 * cache_deadline_after_ms - a timed wait's deadline @ms from now
 * @ts: out: the deadline, for a cache_cond_init_monotonic() condition
 * @ms: milliseconds from now
 *
 * Context: any.
 */
void cache_deadline_after_ms(struct timespec *ts, unsigned ms)
{
	cache_deadline_at_ms(ts, cache_now_ms() + ms);
}

/* ---- the cache object and its settings ---- */

/**
 * cache_update_watermarks - recompute min/low/high from the limit
 * @cache: the cache
 *
 * Context: any.
 */
void cache_update_watermarks(struct cache *cache)
{
	unsigned long limit = atomic_load(&cache->limit);
	unsigned long min = limit / 64;

	min = MAX(min, 4UL);
	min = MIN(min, 4096UL);
	atomic_store(&cache->wmark_min, min);
	atomic_store(&cache->wmark_low, 2 * min);
	atomic_store(&cache->wmark_high, 3 * min);
}

static void cache_init_locks(struct cache *cache)
{
	cache_mutex_init(&cache->pool_lock);
	cache_mutex_init(&cache->lru_lock);
	cache_mutex_init(&cache->reclaim_lock);
	cache_mutex_init(&cache->ra_lock);
	cache_mutex_init(&cache->wb_lock);
	cache_mutex_init(&cache->mappings_lock);
	cache_cond_init_monotonic(&cache->free_wait);
	cache_cond_init_monotonic(&cache->reclaim_cond);
	pthread_cond_init(&cache->ra_cond, NULL);
	pthread_cond_init(&cache->ra_idle, NULL);
	INIT_LIST_HEAD(&cache->active);
	INIT_LIST_HEAD(&cache->inactive);
	INIT_LIST_HEAD(&cache->ra_queue);
	INIT_LIST_HEAD(&cache->ra_running);
	INIT_LIST_HEAD(&cache->dirty_mappings);
	INIT_LIST_HEAD(&cache->mappings);
}

static void cache_destroy_locks(struct cache *cache)
{
	pthread_mutex_destroy(&cache->pool_lock);
	pthread_mutex_destroy(&cache->lru_lock);
	pthread_mutex_destroy(&cache->reclaim_lock);
	pthread_mutex_destroy(&cache->ra_lock);
	pthread_mutex_destroy(&cache->wb_lock);
	pthread_mutex_destroy(&cache->mappings_lock);
	pthread_cond_destroy(&cache->free_wait);
	pthread_cond_destroy(&cache->reclaim_cond);
	pthread_cond_destroy(&cache->ra_cond);
	pthread_cond_destroy(&cache->ra_idle);
}

static int cache_check_config(const struct cache_config *cfg, unsigned long *pool,
			      unsigned long *limit)
{
	*pool = cfg->pool_bytes / PAGE_SIZE;
	*limit = cfg->limit_bytes ? cfg->limit_bytes / PAGE_SIZE : *pool;
	if (*pool < CACHE_MIN_PAGES || *limit < CACHE_MIN_PAGES || *limit > *pool)
		return -EINVAL;
	if (cfg->ra_max_pages > CACHE_RA_MAX_PAGES)
		return -EINVAL;
	return 0;
}

static void cache_set_defaults(struct cache *cache, const struct cache_config *cfg,
			       unsigned long limit)
{
	uint32_t io = cfg->max_io_bytes ? cfg->max_io_bytes : 1024 * 1024;

	atomic_store(&cache->limit, limit);
	cache_update_watermarks(cache);
	cache->max_shadows = 2 * cache->nr_pool;
	atomic_store(&cache->ra_max_pages, cfg->ra_max_pages ? cfg->ra_max_pages : 32);
	cache->max_io_bytes = io < PAGE_SIZE ? (uint32_t)PAGE_SIZE : io & (uint32_t)PAGE_MASK;
	cache->fill_bytes = CACHE_WB_FILL_DEFAULT;
	atomic_store(&cache->next_mapping_id, 1);
}

/**
 * cache_create - make a page cache
 * @cfg: pool size, limit, readahead and reclaimer settings
 * @out: out: the cache
 *
 * The pool holds cfg->pool_bytes of pages plus CACHE_RESERVE_PAGES for the
 * reclaimer. Makes the compressed tier (on when cfg->zswap), starts the
 * readahead workers and (unless cfg->no_reclaimer) the background reclaimer.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a bad configuration (pool or limit under 16 pages,
 * limit above the pool, ra_max_pages above 4096), -ENOMEM, or the errno of a
 * failed thread start.
 */
int cache_create(const struct cache_config *cfg, struct cache **out)
{
	unsigned long pool, limit;
	struct cache *cache;
	int err;

	err = cache_check_config(cfg, &pool, &limit);
	if (err)
		return err;
	cache = aligned_alloc(64, sizeof(*cache));
	if (!cache)
		return -ENOMEM;
	memset(cache, 0, sizeof(*cache));
	cache->stats = aligned_alloc(64, STAT_SLOTS * sizeof(struct stat_slot));
	if (!cache->stats) {
		err = -ENOMEM;
		goto out_cache;
	}
	memset(cache->stats, 0, STAT_SLOTS * sizeof(struct stat_slot));
	cache_init_locks(cache);
	cache->reserve = CACHE_RESERVE_PAGES;
	err = page_pool_init(cache, pool + cache->reserve);
	if (err)
		goto out_locks;
	cache_set_defaults(cache, cfg, limit);
	err = zswap_init(cache, cfg->zswap);
	if (err)
		goto out_pool;
	err = flusher_init(cache);
	if (err)
		goto out_zswap;
	readahead_start_workers(cache, cfg->ra_threads ? cfg->ra_threads : 1);
	if (!cfg->no_reclaimer) {
		err = reclaim_start(cache);
		if (err)
			goto out_workers;
	}
	*out = cache;
	return 0;

out_workers:
	readahead_stop_workers(cache);
	flusher_destroy(cache);
out_zswap:
	zswap_destroy(cache);
out_pool:
	page_pool_destroy(cache);
out_locks:
	cache_destroy_locks(cache);
	free(cache->stats);
out_cache:
	free(cache);
	return err;
}

/**
 * cache_destroy - stop the cache's threads and free it
 * @cache: the cache (NULL is ignored); every mapping already destroyed
 *
 * Context: no other thread uses the cache.
 */
void cache_destroy(struct cache *cache)
{
	if (!cache)
		return;
	cache_flusher_stop(cache);
	reclaim_stop(cache);
	readahead_stop_workers(cache);
	CACHE_BUG_ON(atomic_load(&cache->nr_mappings) != 0);
	zswap_destroy(cache);
	if (atomic_load(&cache->nr_used))
		fprintf(stderr, "foliofs: cache: destroyed with %lu pages in use\n",
			(unsigned long)atomic_load(&cache->nr_used));
	flusher_destroy(cache);
	page_pool_destroy(cache);
	cache_destroy_locks(cache);
	free(cache->stats);
	free(cache);
}

/**
 * cache_set_limit - change the memory limit
 * @cache: the cache
 * @limit_bytes: new limit, 16 pages .. the configured pool size
 *
 * Lowering it below the pages in use reclaims clean pages at once and leaves
 * the rest to the background reclaimer; allocations wait meanwhile. The
 * compressed tier's maximum follows the limit: a pool over the new maximum
 * gives pages back at once. Lowering it also gives the memory of free pages
 * back to the system (cache_trim_pool), now and after the reclaimer's next
 * round.
 *
 * Context: any thread holding no cache lock.
 * Return: 0 or -EINVAL.
 */
int cache_set_limit(struct cache *cache, uint64_t limit_bytes)
{
	unsigned long pages = limit_bytes / PAGE_SIZE, used, old;

	if (pages < CACHE_MIN_PAGES || pages > cache->nr_pool - cache->reserve)
		return -EINVAL;
	old = atomic_exchange(&cache->limit, pages);
	cache_update_watermarks(cache);
	pthread_mutex_lock(&cache->pool_lock);
	pthread_cond_broadcast(&cache->free_wait);
	pthread_mutex_unlock(&cache->pool_lock);
	if (pages < old)
		zswap_limit_changed(cache);
	used = atomic_load(&cache->nr_used);
	if (used + atomic_load(&cache->wmark_high) > pages) {
		wakeup_reclaimer(cache);
		if (used > pages)
			cache_reclaim(cache, used - pages);
	}
	if (pages < old) {
		/* what reclaim freed leaves the RSS, now and after the
		 * background reclaimer's next round */
		cache_trim_pool(cache);
		atomic_store(&cache->trim_pending, true);
		wakeup_reclaimer(cache);
	}
	return 0;
}

/**
 * cache_get_limit - the memory limit
 * @cache: the cache
 *
 * Context: any.
 * Return: the limit in bytes.
 */
uint64_t cache_get_limit(struct cache *cache)
{
	return (uint64_t)atomic_load(&cache->limit) * PAGE_SIZE;
}

/**
 * cache_get_watermarks - the current watermarks, in free pages
 * @cache: the cache
 * @wm: out
 *
 * Context: any.
 */
void cache_get_watermarks(struct cache *cache, struct cache_watermarks *wm)
{
	wm->min = atomic_load(&cache->wmark_min);
	wm->low = atomic_load(&cache->wmark_low);
	wm->high = atomic_load(&cache->wmark_high);
}

/**
 * cache_set_ra_max - set the maximum readahead window for later opens
 * @cache: the cache
 * @pages: 0 (no readahead) .. 4096
 *
 * Context: any.
 * Return: 0 or -EINVAL.
 */
int cache_set_ra_max(struct cache *cache, unsigned pages)
{
	if (pages > CACHE_RA_MAX_PAGES)
		return -EINVAL;
	atomic_store(&cache->ra_max_pages, pages);
	return 0;
}

/**
 * cache_get_ra_max - the maximum readahead window
 * @cache: the cache
 *
 * Context: any.
 * Return: pages.
 */
unsigned cache_get_ra_max(struct cache *cache)
{
	return atomic_load(&cache->ra_max_pages);
}

/**
 * cache_set_tier - plug in (or, with @ops NULL, remove) the second tier
 * @cache: the cache
 * @ops: the tier's operations
 * @tier: the tier's state, passed back to @ops
 *
 * cache_create plugs in the compressed tier (zswap.c); a test may put
 * another in its place (and the compressed tier back with
 * cache_set_tier(cache, NULL, NULL), which restores it).
 *
 * Context: before the cache is used (reclaim and misses read the hook
 * without locks).
 */
void cache_set_tier(struct cache *cache, const struct cache_tier_ops *ops, void *tier)
{
	if (!ops && cache->zswap) {
		ops = &zswap_tier_ops;
		tier = cache->zswap;
	}
	cache->tier = tier;
	__atomic_store_n(&cache->tier_ops, ops, __ATOMIC_RELEASE);
}
