/*
 * cache/stats.c - the cache's counters and allocation accounting.
 *
 * Interface: cache_stat, cache_stat_name, cache_stats_snapshot, cache_mem_info
 * (cache.h); stat_slot_index (internal.h; stat_add/stat_inc are inline there).
 *
 * Every counter lives in STAT_SLOTS cache-line-aligned slots; a thread adds
 * to the slot it was given on first use (round robin), so hot counters such
 * as CACHE_HITS do not bounce one line between CPUs. A value is the sum over
 * the slots. Gauges (NR_*) are adjusted with +1/-1 in whatever slot the
 * adjusting thread owns; only the sum is meaningful, and it is exact once the
 * adjusting threads are quiet. NR_FREE_PAGES is computed from the limit and
 * the pages in use rather than kept; so are the dirty thresholds, the total
 * throttle pause and the latest write-back errno (flusher.c), and the
 * compressed tier's pool size (zswap.c). cache_mem_info's
 * metadata counts the tier's entries and zspage descriptors too.
 */
#include "config.h"

#include <string.h>

#include "cache/internal.h"

static const char *const stat_names[NR_CACHE_STATS] = {
	[NR_FILE_PAGES] = "nr_file_pages",
	[NR_FREE_PAGES] = "nr_free_pages",
	[NR_ACTIVE_FILE] = "nr_active_file",
	[NR_INACTIVE_FILE] = "nr_inactive_file",
	[NR_DIRTY] = "nr_dirty",
	[NR_WRITEBACK] = "nr_writeback",
	[NR_SHADOWS] = "nr_shadows",
	[NR_BUFFER_HEADS] = "nr_buffer_heads",
	[ZSWAP_STORED_PAGES] = "stored_pages",
	[ZSWAP_SAME_FILLED_PAGES] = "same_filled_pages",
	[ZSWAP_COMPRESSED_BYTES] = "compressed_bytes",
	[DIRTY_THRESHOLD] = "dirty_threshold",
	[DIRTY_BACKGROUND_THRESHOLD] = "dirty_background_threshold",
	[BDP_PAUSE_MS] = "balance_dirty_pages_pause_ms",
	[WB_LAST_ERROR] = "wb_last_error",
	[ZSWAP_POOL_TOTAL_SIZE] = "pool_total_size",
	[NR_DIRTIED] = "nr_dirtied",
	[NR_WRITTEN] = "nr_written",
	[PGPGIN] = "pgpgin",
	[PGPGOUT] = "pgpgout",
	[PGACTIVATE] = "pgactivate",
	[PGDEACTIVATE] = "pgdeactivate",
	[PGSCAN_KSWAPD] = "pgscan_kswapd",
	[PGSCAN_DIRECT] = "pgscan_direct",
	[PGSTEAL_KSWAPD] = "pgsteal_kswapd",
	[PGSTEAL_DIRECT] = "pgsteal_direct",
	[ALLOCSTALL] = "allocstall",
	[WORKINGSET_REFAULT] = "workingset_refault",
	[WORKINGSET_ACTIVATE] = "workingset_activate",
	[WORKINGSET_NODERECLAIM] = "workingset_nodereclaim",
	[WORKINGSET_SHADOWS_TRIMMED] = "workingset_shadows_trimmed",
	[PGREADAHEAD] = "pgreadahead",
	[PGREADAHEAD_ASYNC] = "pgreadahead_async",
	[CACHE_HITS] = "cache_hits",
	[CACHE_MISSES] = "cache_misses",
	[PGWRITE_PERIODIC] = "pgwrite_periodic",
	[PGWRITE_BACKGROUND] = "pgwrite_background",
	[PGWRITE_SYNC] = "pgwrite_sync",
	[PGWRITE_RECLAIM] = "pgwrite_reclaim",
	[PGWRITE_FILL] = "pgwrite_fill",
	[BDP_EVENTS] = "balance_dirty_pages_events",
	[WB_ERRORS] = "wb_errors",
	[READ_ERRORS] = "read_errors",
	[ZSWPOUT] = "zswpout",
	[ZSWPIN] = "zswpin",
	[ZSWAP_POOL_LIMIT_HIT] = "pool_limit_hit",
	[ZSWAP_REJECT_COMPRESS_POOR] = "reject_compress_poor",
	[ZSWAP_REJECT_COMPRESS_SKIPPED] = "reject_compress_skipped",
	[ZSWAP_REJECT_ALLOC_FAIL] = "reject_alloc_fail",
	[ZSWAP_REJECT_ADMISSION] = "reject_admission",
	[ZSWAP_DECOMPRESS_FAIL] = "decompress_fail",
	[ZSWAP_LRU_DROPPED] = "lru_dropped_pages",
	[POOL_TRIMMED] = "pool_trimmed",
};

static _Atomic unsigned stat_next_slot;
static __thread unsigned stat_slot_plus1; /* 0: not assigned yet */

/**
 * stat_slot_index - the counter slot of the calling thread
 *
 * Context: any thread.
 * Return: 0 .. STAT_SLOTS-1, fixed for the thread's life.
 */
unsigned stat_slot_index(void)
{
	unsigned s = stat_slot_plus1;

	if (unlikely(!s)) {
		s = atomic_fetch_add_explicit(&stat_next_slot, 1, memory_order_relaxed) %
			    STAT_SLOTS +
		    1;
		stat_slot_plus1 = s;
	}
	return s - 1;
}

static uint64_t stat_sum(struct cache *cache, enum cache_stat_item item)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < STAT_SLOTS; i++)
		v += atomic_load_explicit(&cache->stats[i].v[item], memory_order_relaxed);
	return v;
}

static uint64_t stat_free_pages(struct cache *cache)
{
	unsigned long limit = atomic_load(&cache->limit);
	unsigned long used = atomic_load(&cache->nr_used);

	return used < limit ? limit - used : 0;
}

/**
 * cache_stat - read one counter
 * @cache: the cache
 * @item: the counter
 *
 * Context: any; a racy but consistent-enough sum (gauges may be off by the
 * updates in flight).
 * Return: the counter's value (a gauge that is transiently negative reads 0).
 */
uint64_t cache_stat(struct cache *cache, enum cache_stat_item item)
{
	uint64_t v;

	if (item >= NR_CACHE_STATS)
		return 0;
	if (item == NR_FREE_PAGES)
		return stat_free_pages(cache);
	if (item >= DIRTY_THRESHOLD && item <= WB_LAST_ERROR)
		return flusher_stat(cache, item);
	if (item == ZSWAP_POOL_TOTAL_SIZE)
		return zswap_stat(cache, item);
	v = stat_sum(cache, item);
	if (item < NR_DIRTIED && (int64_t)v < 0)
		return 0;
	return v;
}

/**
 * cache_stat_name - the /proc/vmstat-style name of a counter
 * @item: the counter
 *
 * Context: any.
 * Return: a static string, or "unknown".
 */
const char *cache_stat_name(enum cache_stat_item item)
{
	if (item >= NR_CACHE_STATS || !stat_names[item])
		return "unknown";
	return stat_names[item];
}

/**
 * cache_stats_snapshot - read every counter
 * @cache: the cache
 * @out: NR_CACHE_STATS values, indexed by enum cache_stat_item
 *
 * Context: any.
 */
void cache_stats_snapshot(struct cache *cache, uint64_t out[NR_CACHE_STATS])
{
	for (unsigned i = 0; i < NR_CACHE_STATS; i++)
		out[i] = cache_stat(cache, (enum cache_stat_item)i);
}

/**
 * cache_mem_info - allocation counters for leak checks and meminfo
 * @cache: the cache
 * @out: filled in
 *
 * xa_nodes counts the live nodes of every tree in the process (nodes are
 * freed after an RCU grace period: call rcu_barrier() before expecting 0).
 *
 * Context: any.
 */
void cache_mem_info(struct cache *cache, struct cache_mem *out)
{
	long nodes = xa_nodes_live();
	long bh = atomic_load(&cache->nr_bh);
	long maps = atomic_load(&cache->nr_mappings);

	memset(out, 0, sizeof(*out));
	out->pages_in_use = atomic_load(&cache->nr_used);
	out->buffer_heads = bh > 0 ? (uint64_t)bh : 0;
	out->mappings = maps > 0 ? (uint64_t)maps : 0;
	out->xa_nodes = nodes > 0 ? (uint64_t)nodes : 0;
	out->metadata_bytes = out->pages_in_use * sizeof(struct page) +
			      out->xa_nodes * xa_node_size() +
			      out->buffer_heads * sizeof(struct buffer_head) +
			      zswap_metadata_bytes(cache);
}
