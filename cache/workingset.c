/*
 * cache/workingset.c - shadow entries and refault distance.
 *
 * Interface (internal.h): workingset_eviction, workingset_refault,
 * workingset_activation, workingset_shadow_add, workingset_shadow_del,
 * workingset_trim_shadows.
 *
 * The cache keeps one clock, nonresident_age, that ticks on every eviction
 * and every activation. An evicted page leaves a shadow entry in its slot:
 * xa_mk_value(age at eviction << 2 | used << 1 | PG_workingset), "used"
 * when the page had been used since it entered the cache (PG_fresh clear). When a new page fills a
 * slot holding a shadow, the refault distance is now - age: roughly how many
 * pages left memory or were promoted since. If that is no more than the
 * active list's size, the page would have stayed resident had the inactive
 * list been that much larger, so it starts on the active list
 * (WORKINGSET_ACTIVATE); every such fill counts WORKINGSET_REFAULT, and
 * when the evicted page had been used, it marks the new one PG_refaulted: a
 * page used again after an eviction (the compressed tier's admission
 * policy, zswap_admission=workingset, takes such pages; a readahead page
 * evicted before it was read and brought back is no reuse).
 *
 * Shadows cost tree slots (and keep tree nodes alive), so the cache holds at
 * most max_shadows (2 * pool pages) of them; beyond that an eviction leaves
 * an empty slot (WORKINGSET_NODERECLAIM) and asks the background reclaimer
 * to trim: it walks every mapping (cache->mappings) and drops the shadows
 * older than max_shadows / 2 ticks (WORKINGSET_SHADOWS_TRIMMED). Their
 * refault distance would be past any list the cache has, so they tell
 * nothing; and at most max_shadows / 2 younger ones can exist (each tick
 * leaves at most one), so room is made for new evictions, whose shadows a
 * one-pass scan's old ones would otherwise crowd out for good.
 * cache->nr_shadows (atomic) counts them; mapping->nrshadows and NR_SHADOWS
 * follow under the mapping's xa_lock.
 */
#include "config.h"

#include "cache/internal.h"

/* Ages are kept modulo 2^60 so a shadow value fits xa_mk_value(). */
#define SHADOW_AGE_MASK	 ((1ULL << 60) - 1)
#define SHADOW_WORKINGSET 1ULL
#define SHADOW_USED	 2ULL
#define SHADOW_AGE_SHIFT 2

/**
 * workingset_eviction - make the shadow entry for a page being evicted
 * @cache: the cache
 * @page: the locked page about to leave its mapping
 *
 * Ticks the nonresident clock.
 *
 * Context: reclaim, page locked; no cache lock needed.
 * Return: the value entry to store in the page's slot.
 */
void *workingset_eviction(struct cache *cache, struct page *page)
{
	uint64_t age = atomic_fetch_add_explicit(&cache->nonresident_age, 1, memory_order_relaxed);
	uint64_t v = (age & SHADOW_AGE_MASK) << SHADOW_AGE_SHIFT;

	if (page_test(page, PG_workingset))
		v |= SHADOW_WORKINGSET;
	if (!page_test(page, PG_fresh))
		v |= SHADOW_USED;
	return xa_mk_value(v);
}

/**
 * workingset_refault - a new page fills a slot that held a shadow
 * @cache: the cache
 * @page: the new page, not yet on an LRU list
 * @shadow: the value entry that was in the slot
 *
 * Sets PG_active and PG_workingset when the refault distance is within the
 * active list's size, so lru_add() puts the page on the active list;
 * PG_refaulted when the evicted page had been used.
 *
 * Context: after the page is in the mapping, before lru_add(); no lock held.
 */
void workingset_refault(struct cache *cache, struct page *page, void *shadow)
{
	uint64_t v = xa_to_value(shadow);
	uint64_t eviction = v >> SHADOW_AGE_SHIFT;
	uint64_t now = atomic_load_explicit(&cache->nonresident_age, memory_order_relaxed);
	uint64_t distance = (now - eviction) & SHADOW_AGE_MASK;
	unsigned long active = __atomic_load_n(&cache->nr_active, __ATOMIC_RELAXED);

	stat_inc(cache, WORKINGSET_REFAULT);
	if (v & SHADOW_USED)
		page_set(page, PG_refaulted);
	if (v & SHADOW_WORKINGSET)
		page_set(page, PG_workingset);
	if (distance > active)
		return;
	page_set(page, PG_workingset);
	page_set(page, PG_active);
	stat_inc(cache, WORKINGSET_ACTIVATE);
	workingset_activation(cache, page);
}

/**
 * workingset_activation - a page was promoted to the active list
 * @cache: the cache
 * @page: the page
 *
 * Context: any; no lock needed.
 */
void workingset_activation(struct cache *cache, struct page *page)
{
	(void)page;
	atomic_fetch_add_explicit(&cache->nonresident_age, 1, memory_order_relaxed);
}

/**
 * workingset_shadow_add - account a shadow about to be stored
 * @cache: the cache
 * @mapping: the mapping that will hold it
 *
 * Context: @mapping's xa_lock held.
 * Return: true if the shadow may be stored; false (counted as
 * WORKINGSET_NODERECLAIM) when the cache already holds max_shadows.
 */
bool workingset_shadow_add(struct cache *cache, struct address_space *mapping)
{
	uint64_t n = atomic_load_explicit(&cache->nr_shadows, memory_order_relaxed);

	do {
		if (n >= cache->max_shadows) {
			stat_inc(cache, WORKINGSET_NODERECLAIM);
			if (!atomic_load_explicit(&cache->shadow_trim_pending, memory_order_relaxed))
				atomic_store(&cache->shadow_trim_pending, true);
			return false;
		}
	} while (!atomic_compare_exchange_weak(&cache->nr_shadows, &n, n + 1));
	atomic_fetch_add_explicit(&mapping->nrshadows, 1, memory_order_relaxed);
	stat_inc(cache, NR_SHADOWS);
	return true;
}

/**
 * workingset_shadow_del - account a shadow that left its slot
 * @cache: the cache
 * @mapping: the mapping that held it
 *
 * Context: @mapping's xa_lock held.
 */
void workingset_shadow_del(struct cache *cache, struct address_space *mapping)
{
	atomic_fetch_sub_explicit(&cache->nr_shadows, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&mapping->nrshadows, 1, memory_order_relaxed);
	stat_add(cache, NR_SHADOWS, -1);
}

#define TRIM_BATCH 64	/* shadows erased per hold of a mapping's xa_lock */
#define TRIM_SCAN  1024 /* entries looked at per hold */

/* Drop the old shadows of one mapping, a batch per hold of its xa_lock. */
static unsigned long trim_mapping(struct cache *cache, struct address_space *mapping,
				  uint64_t now, uint64_t keep)
{
	uint64_t index = 0, next = 0, stale[TRIM_BATCH];
	unsigned long trimmed = 0;
	unsigned n, scanned;
	bool more;
	void *entry;

	do {
		n = scanned = 0;
		more = false;
		xa_lock(&mapping->i_pages);
		xa_for_each_range(&mapping->i_pages, index, entry, next, UINT64_MAX)
		{
			if (xa_is_value(entry) &&
			    ((now - (xa_to_value(entry) >> SHADOW_AGE_SHIFT)) & SHADOW_AGE_MASK) >
				    keep)
				stale[n++] = index;
			if (n == TRIM_BATCH || ++scanned == TRIM_SCAN) {
				more = index != UINT64_MAX;
				break;
			}
		}
		for (unsigned i = 0; i < n; i++) {
			__xa_erase(&mapping->i_pages, stale[i]);
			workingset_shadow_del(cache, mapping);
		}
		xa_unlock(&mapping->i_pages);
		trimmed += n;
		next = index + 1;
	} while (more);
	return trimmed;
}

/**
 * workingset_trim_shadows - drop the shadows too old to tell anything
 * @cache: the cache
 *
 * Walks every mapping and erases the shadows older than max_shadows / 2
 * ticks of the nonresident clock, counting them in
 * WORKINGSET_SHADOWS_TRIMMED.
 *
 * Context: the background reclaimer (or a test); no cache lock held; takes
 * mappings_lock, then each mapping's xa_lock.
 * Return: shadows dropped.
 */
unsigned long workingset_trim_shadows(struct cache *cache)
{
	uint64_t now = atomic_load(&cache->nonresident_age) & SHADOW_AGE_MASK;
	struct address_space *mapping;
	unsigned long trimmed = 0;

	cache_rcu_thread_online();
	pthread_mutex_lock(&cache->mappings_lock);
	for (struct list_head *l = cache->mappings.next; l != &cache->mappings; l = l->next) {
		mapping = list_entry(l, struct address_space, cache_link);
		if (atomic_load_explicit(&mapping->nrshadows, memory_order_relaxed))
			trimmed += trim_mapping(cache, mapping, now, cache->max_shadows / 2);
	}
	pthread_mutex_unlock(&cache->mappings_lock);
	stat_add(cache, WORKINGSET_SHADOWS_TRIMMED, (int64_t)trimmed);
	return trimmed;
}
