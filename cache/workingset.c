/*
 * cache/workingset.c - shadow entries and refault distance.
 *
 * Interface (internal.h): workingset_eviction, workingset_refault,
 * workingset_activation, workingset_shadow_add, workingset_shadow_del.
 *
 * The cache keeps one clock, nonresident_age, that ticks on every eviction
 * and every activation. An evicted page leaves a shadow entry in its slot:
 * xa_mk_value(age at eviction << 1 | PG_workingset). When a new page fills a
 * slot holding a shadow, the refault distance is now - age: roughly how many
 * pages left memory or were promoted since. If that is no more than the
 * active list's size, the page would have stayed resident had the inactive
 * list been that much larger, so it starts on the active list
 * (WORKINGSET_ACTIVATE); every such fill counts WORKINGSET_REFAULT.
 *
 * Shadows cost tree slots (and keep tree nodes alive), so the cache holds at
 * most max_shadows (2 * pool pages) of them; beyond that an eviction leaves
 * an empty slot (WORKINGSET_NODERECLAIM). cache->nr_shadows (atomic) counts
 * them; mapping->nrshadows and NR_SHADOWS follow under the mapping's xa_lock.
 */
#include "config.h"

#include "cache/internal.h"

/* Ages are kept modulo 2^61 so a shadow value fits xa_mk_value(). */
#define SHADOW_AGE_MASK ((1ULL << 61) - 1)

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

	return xa_mk_value(((age & SHADOW_AGE_MASK) << 1) | page_test(page, PG_workingset));
}

/**
 * workingset_refault - a new page fills a slot that held a shadow
 * @cache: the cache
 * @page: the new page, not yet on an LRU list
 * @shadow: the value entry that was in the slot
 *
 * Sets PG_active and PG_workingset when the refault distance is within the
 * active list's size, so lru_add() puts the page on the active list.
 *
 * Context: after the page is in the mapping, before lru_add(); no lock held.
 */
void workingset_refault(struct cache *cache, struct page *page, void *shadow)
{
	uint64_t v = xa_to_value(shadow);
	uint64_t eviction = v >> 1;
	uint64_t now = atomic_load_explicit(&cache->nonresident_age, memory_order_relaxed);
	uint64_t distance = (now - eviction) & SHADOW_AGE_MASK;
	unsigned long active = __atomic_load_n(&cache->nr_active, __ATOMIC_RELAXED);

	stat_inc(cache, WORKINGSET_REFAULT);
	if (v & 1)
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
