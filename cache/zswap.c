/*
 * cache/zswap.c - the compressed tier: zswap for the page cache.
 *
 * Interface: cache_zswap_param_name, cache_zswap_param_lookup,
 * cache_zswap_check, cache_zswap_set, cache_zswap_get, cache_zswap_info,
 * cache_zswap_compact (cache.h); zswap_init, zswap_destroy,
 * zswap_limit_changed, zswap_stat, zswap_metadata_bytes, zswap_tier_ops
 * (internal.h). The cache plugs the tier into its hook (cache_tier_ops) at
 * creation; reclaim stores, page insertion loads, truncation invalidates
 * (see cache.h for the rules).
 *
 * Store (a clean page reclaim evicts, locked and still in its mapping): a
 * page whose every 64-bit word is the same (one repeated byte included) is
 * kept as that word, with nothing in the pool (same-filled); any other is
 * compressed with lz4 (or lz4hc) into at most zswap_max_compressed_percent
 * of a page (lz4 stops as soon as its output passes that: a page that does
 * not compress costs one partial pass; and once ZSWAP_POOR_STREAK pages of
 * a file in a row did not compress, its pages whose sampled bytes look
 * random are not tried, but one in ZSWAP_POOR_PROBE, until one compresses:
 * a file of incompressible data costs a 256-byte sample per page) and the
 * result goes to the zpool, a size-classed allocator whose pages come from
 * the cache's own pool, so they count in nr_used under the cache's one
 * limit. An entry keyed by (mapping, index) goes into the mapping's tree and
 * at the head of the LRU. With zswap_admission=workingset, a page used only
 * once since it entered the cache is turned away first (admit()).
 *
 * Load (a page was just added to its mapping, locked, not uptodate): the
 * entry is taken out of the tree, decompressed into the page and freed:
 * loads are exclusive. Invalidation drops the entries of a range.
 *
 * Memory: the pool holds at most zswap_max_pool_percent of the cache limit.
 * A store that finds it at or over that counts pool_limit_hit, is refused,
 * and the oldest entries are dropped (they are clean: the device has them)
 * and the pool compacted until it is under zswap_accept_threshold_percent
 * of the maximum; until then stores are refused (the hysteresis of
 * /sys/module/zswap/parameters/accept_threshold_percent). Reclaim may ask
 * for pages back (the shrink op): compaction first, then the oldest
 * entries.
 *
 * Structures and locks (outer to inner; see the order in cache.h):
 *   tree->entries.xa_lock  the mapping's tree of entries (index -> entry)
 *                          and tree->nr. One tree per mapping, hung on
 *                          mapping->tier_private.
 *   lru[i].lock            LRU shard i (entries hashed by tree and index):
 *                          its list (newest first) and count; entry->seq,
 *                          taken under it, orders the shards' tails, so
 *                          dropping "the oldest" is exact.
 *   zpool class locks      the objects (zpool.c); entry->handle is read and
 *                          rewritten only under them.
 *   cache->pool_lock       backing pages.
 * The shrinker walks the LRU from a shard lock to an entry's tree with a
 * trylock (the order above is tree -> shard).
 *
 * Invariants:
 *   T1. An entry is in its tree iff it is on an LRU shard; both change
 *       under the tree lock and the shard lock together. So an entry seen on
 *       a shard (shard lock held) has a live tree.
 *   T2. A tree is freed only when its mapping is being destroyed and it is
 *       empty: no page of the mapping is left, so no store or load for it
 *       can come (stores need a page of the mapping locked in it; loads run
 *       when a page is added, which a dying mapping refuses).
 *   T3. The tier never holds the only copy of data: only clean, uptodate
 *       pages are stored; a page and a tier copy of the same (mapping,
 *       index) exist together only while the page is locked in reclaim
 *       between the store and its removal, and a page added to a mapping
 *       takes the copy (cache.h, "coherence").
 *   T4. ZSWAP_STORED_PAGES counts the entries, ZSWAP_SAME_FILLED_PAGES
 *       those without a pool object, ZSWAP_COMPRESSED_BYTES the pool
 *       objects' lengths (the cache's per-thread counters, as gauges).
 * While zswap is off (zswap=off), stores are refused and the tier is empty:
 * turning it off waits for stores in flight (in_flight, one counter per
 * thread slot so stores do not share a line) and drops every entry.
 *
 * Nothing a store or a load does touches a cache line every other thread
 * writes too, but for its mapping's tree lock, one LRU shard's lock and one
 * zpool class's lock.
 */
#include "config.h"

#define _LGPL_SOURCE

#include <lz4.h>
#include <lz4hc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "cache/internal.h"
#include "cache/zpool.h"

#define ZSWAP_LRU_SHARDS   8
#define ZSWAP_INVAL_BATCH  64
#define ZSWAP_DROP_TRIES   1000
#define ZSWAP_SHRINK_BATCH 16
#define ZSWAP_POOR_STREAK  8	  /* pages of a file in a row that did not compress */
#define ZSWAP_POOR_PROBE   16	  /* ... then of the pages that look random, */
				  /* one in this many is tried */
#define ZSWAP_RANDOM_DISTINCT 128 /* distinct values in 256 sampled bytes */

/* Defaults, as Linux's zswap parameters where it has them. */
#define ZSWAP_MAX_POOL_DEFAULT	     20
#define ZSWAP_ACCEPT_DEFAULT	     90
#define ZSWAP_MAX_COMPRESSED_DEFAULT 75

enum { ZSWAP_ADMIT_ALL, ZSWAP_ADMIT_WORKINGSET };

/*
 * struct zswap_entry - one page kept by the tier.
 * @lru:    on lru[@shard]; protected by that shard's lock
 * @tree:   the tree holding it (fixed)
 * @index:  page index (fixed)
 * @handle: the zpool handle word (read and written only by zpool.c, under
 *          its class lock), or the fill word when @length is 0
 * @seq:    store time in ns, strictly increasing within a shard (set under
 *          the shard lock): orders the shards' tails
 * @length: compressed bytes in the pool; 0: same-filled
 * @shard:  its LRU shard (fixed)
 */
struct zswap_entry {
	struct list_head lru;
	struct zswap_tree *tree;
	uint64_t index;
	uint64_t handle;
	uint64_t seq;
	uint32_t length;
	uint32_t shard;
};

/*
 * struct zswap_tree - a mapping's entries; entries.xa_lock protects nr.
 * @poor_streak: pages of the mapping in a row that did not compress
 * @poor_skips:  stores since the streak began (one in ZSWAP_POOR_PROBE is
 *               tried whatever it looks like); both atomic, racy updates
 *               are harmless
 */
struct zswap_tree {
	struct xarray entries;
	_Atomic uint64_t nr;
	_Atomic unsigned poor_streak, poor_skips;
};

struct zswap_lru {
	pthread_mutex_t lock;
	struct list_head head; /* newest first */
	unsigned long nr;
	uint64_t last_seq; /* seq of the newest entry ever added */
} __attribute__((aligned(64)));

/* Stores in flight, per thread slot (see T4). */
struct zswap_flight {
	_Atomic long n;
} __attribute__((aligned(64)));

/*
 * struct zswap - the tier of one cache. Tunables and counters are atomic;
 * param_lock serialises cache_zswap_set (turning the tier off and on);
 * shrink_lock lets one thread at a time drop entries for the pool limit.
 */
struct zswap {
	struct cache *cache;
	struct zpool *pool;
	_Atomic bool enabled;
	_Atomic unsigned max_pool_percent;
	_Atomic unsigned accept_threshold_percent;
	_Atomic unsigned max_compressed_percent;
	_Atomic unsigned hc_level; /* 0: lz4; 1..12: lz4hc at that level */
	_Atomic unsigned admission;
	_Atomic bool reached_full;
	_Atomic uint64_t nr_trees;
	pthread_mutex_t param_lock;
	pthread_mutex_t shrink_lock;
	struct zswap_lru lru[ZSWAP_LRU_SHARDS];
	struct zswap_flight in_flight[STAT_SLOTS];
};

/* ---- per-thread compression state ---- */

struct zswap_tls {
	void *lz4_state;
	void *hc_state;
	char buf[LZ4_COMPRESSBOUND(PAGE_SIZE)];
};

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static __thread struct zswap_tls *tls;

static void tls_free(void *arg)
{
	struct zswap_tls *t = arg;

	free(t->lz4_state);
	free(t->hc_state);
	free(t);
}

static void tls_key_create(void)
{
	if (pthread_key_create(&tls_key, tls_free))
		abort();
}

/* The calling thread's state, made on first use; NULL without memory. */
static struct zswap_tls *tls_get(void)
{
	if (likely(tls))
		return tls;
	pthread_once(&tls_once, tls_key_create);
	tls = calloc(1, sizeof(*tls));
	if (!tls)
		return NULL;
	tls->lz4_state = malloc((size_t)LZ4_sizeofState());
	if (!tls->lz4_state) {
		free(tls);
		tls = NULL;
		return NULL;
	}
	pthread_setspecific(tls_key, tls);
	return tls;
}

/* ---- the parameters ---- */

static const char *const param_names[NR_ZSWAP_PARAMS] = {
	[ZSWAP_ENABLED] = "zswap",
	[ZSWAP_MAX_POOL_PERCENT] = "zswap_max_pool_percent",
	[ZSWAP_ACCEPT_THRESHOLD_PERCENT] = "zswap_accept_threshold_percent",
	[ZSWAP_COMPRESSOR] = "zswap_compressor",
	[ZSWAP_MAX_COMPRESSED_PERCENT] = "zswap_max_compressed_percent",
	[ZSWAP_ADMISSION] = "zswap_admission",
};

/**
 * cache_zswap_param_name - the option and control key of a tier parameter
 * @p: the parameter
 *
 * Context: any.
 * Return: a static string ("zswap_max_pool_percent", ...), or NULL.
 */
const char *cache_zswap_param_name(enum zswap_param p)
{
	return p < NR_ZSWAP_PARAMS ? param_names[p] : NULL;
}

/**
 * cache_zswap_param_lookup - the tier parameter of a name
 * @name: "zswap", "zswap_max_pool_percent", ...
 *
 * Context: any.
 * Return: the enum zswap_param, or -1.
 */
int cache_zswap_param_lookup(const char *name)
{
	for (int p = 0; p < NR_ZSWAP_PARAMS; p++)
		if (!strcmp(name, param_names[p]))
			return p;
	return -1;
}

static int parse_percent(const char *s, unsigned min, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (*end || v < min || v > 100)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* "lz4" -> 0; "lz4hc" -> the default level; "lz4hc:N" -> N (1..12). */
static int parse_compressor(const char *s, unsigned *level)
{
	char *end;
	unsigned long v;

	if (!strcmp(s, "lz4")) {
		*level = 0;
		return 0;
	}
	if (!strcmp(s, "lz4hc")) {
		*level = LZ4HC_CLEVEL_DEFAULT;
		return 0;
	}
	if (strncmp(s, "lz4hc:", 6) || s[6] < '0' || s[6] > '9')
		return -EINVAL;
	v = strtoul(s + 6, &end, 10);
	if (*end || v < 1 || v > LZ4HC_CLEVEL_MAX)
		return -EINVAL;
	*level = (unsigned)v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "1") || !strcmp(s, "Y") || !strcmp(s, "y")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "off") || !strcmp(s, "0") || !strcmp(s, "N") || !strcmp(s, "n")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static int parse_admission(const char *s, unsigned *out)
{
	if (!strcmp(s, "all"))
		*out = ZSWAP_ADMIT_ALL;
	else if (!strcmp(s, "workingset"))
		*out = ZSWAP_ADMIT_WORKINGSET;
	else
		return -EINVAL;
	return 0;
}

/* Parse @value for @p into *@v (bool as 0/1). */
static int param_parse(enum zswap_param p, const char *value, unsigned *v)
{
	bool b = false;
	int err;

	if (!value)
		return -EINVAL;
	switch (p) {
	case ZSWAP_ENABLED:
		err = parse_bool(value, &b);
		*v = b;
		return err;
	case ZSWAP_MAX_POOL_PERCENT:
	case ZSWAP_ACCEPT_THRESHOLD_PERCENT:
		return parse_percent(value, 0, v);
	case ZSWAP_MAX_COMPRESSED_PERCENT:
		return parse_percent(value, 1, v);
	case ZSWAP_COMPRESSOR:
		return parse_compressor(value, v);
	case ZSWAP_ADMISSION:
		return parse_admission(value, v);
	default:
		return -EINVAL;
	}
}

/**
 * cache_zswap_check - is @value a valid value of @p?
 * @p: the parameter
 * @value: "on"/"off" (also 1/0, Y/N) for zswap; 0..100 for the percents
 *	(1..100 for zswap_max_compressed_percent); "lz4", "lz4hc" or
 *	"lz4hc:LEVEL" (1..12) for zswap_compressor; "all" or "workingset" for
 *	zswap_admission
 *
 * Context: any.
 * Return: 0 or -EINVAL.
 */
int cache_zswap_check(enum zswap_param p, const char *value)
{
	unsigned v;

	return param_parse(p, value, &v);
}

/* ---- entries, trees and the LRU ---- */

static struct zswap *cache_zswap(struct cache *cache)
{
	return cache->zswap;
}

static unsigned entry_shard(const struct zswap_tree *tree, uint64_t index)
{
	uint64_t h = ((uintptr_t)tree >> 6) ^ index;

	h *= 0x9E3779B97F4A7C15ULL;
	return (unsigned)(h >> 61) % ZSWAP_LRU_SHARDS;
}

/* Put @e at the head of its shard (its tree's lock held). */
static void lru_add_entry(struct zswap *z, struct zswap_entry *e)
{
	struct zswap_lru *l = &z->lru[e->shard];
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
	pthread_mutex_lock(&l->lock);
	e->seq = l->last_seq = MAX(now, l->last_seq + 1);
	list_add(&e->lru, &l->head);
	l->nr++;
	pthread_mutex_unlock(&l->lock);
}

/* Take @e off its shard (its tree's lock held). */
static void lru_del_entry(struct zswap *z, struct zswap_entry *e)
{
	struct zswap_lru *l = &z->lru[e->shard];

	pthread_mutex_lock(&l->lock);
	list_del_init(&e->lru);
	l->nr--;
	pthread_mutex_unlock(&l->lock);
}

/* Count an entry in (+1) or out (-1) of the tier. */
static void entry_account(struct zswap *z, const struct zswap_entry *e, int sign)
{
	stat_add(z->cache, ZSWAP_STORED_PAGES, sign);
	if (e->length)
		stat_add(z->cache, ZSWAP_COMPRESSED_BYTES, sign * (int64_t)e->length);
	else
		stat_add(z->cache, ZSWAP_SAME_FILLED_PAGES, sign);
}

/* Free an entry out of its tree and off the LRU, with its pool object. */
static void entry_free(struct zswap *z, struct zswap_entry *e)
{
	entry_account(z, e, -1);
	if (e->length)
		zpool_free(z->pool, &e->handle, e->length);
	free(e);
}

/* The mapping's tree; with @create, made if it has none. NULL: none (or no
 * memory). */
static struct zswap_tree *tree_get(struct zswap *z, struct address_space *mapping, bool create)
{
	struct zswap_tree *tree = __atomic_load_n(&mapping->tier_private, __ATOMIC_ACQUIRE);
	struct zswap_tree *expected = NULL;

	if (tree || !create)
		return tree;
	tree = calloc(1, sizeof(*tree));
	if (!tree)
		return NULL;
	xa_init(&tree->entries);
	if (!__atomic_compare_exchange_n(&mapping->tier_private, (void **)&expected, tree, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		pthread_mutex_destroy(&tree->entries.xa_lock);
		free(tree);
		return expected;
	}
	atomic_fetch_add(&z->nr_trees, 1);
	return tree;
}

/* Free a dying mapping's empty tree (T2). */
static void tree_free(struct zswap *z, struct address_space *mapping, struct zswap_tree *tree)
{
	CACHE_BUG_ON(atomic_load(&tree->nr) != 0);
	__atomic_store_n(&mapping->tier_private, NULL, __ATOMIC_RELEASE);
	xa_destroy(&tree->entries);
	pthread_mutex_destroy(&tree->entries.xa_lock);
	free(tree);
	atomic_fetch_sub(&z->nr_trees, 1);
}

/* Put @e in the tree, replacing (and freeing) an older entry of its index.
 * Refused (-ENODEV) once the tier is off. */
static int tree_insert(struct zswap *z, struct zswap_tree *tree, struct zswap_entry *e)
{
	void *old = NULL;
	int err;

	e->tree = tree;
	e->shard = entry_shard(tree, e->index);
	xa_lock(&tree->entries);
	if (!atomic_load(&z->enabled)) {
		xa_unlock(&tree->entries);
		return -ENODEV;
	}
	err = __xa_store(&tree->entries, e->index, e, &old);
	if (err) {
		xa_unlock(&tree->entries);
		return err;
	}
	if (old)
		lru_del_entry(z, old);
	else
		atomic_fetch_add(&tree->nr, 1);
	lru_add_entry(z, e);
	xa_unlock(&tree->entries);
	if (old)
		entry_free(z, old);
	return 0;
}

/* Take the entry at @index out of the tree (NULL if none). */
static struct zswap_entry *tree_take(struct zswap *z, struct zswap_tree *tree, uint64_t index)
{
	struct zswap_entry *e;

	xa_lock(&tree->entries);
	e = xa_load(&tree->entries, index);
	if (e) {
		__xa_erase(&tree->entries, index);
		atomic_fetch_sub(&tree->nr, 1);
		lru_del_entry(z, e);
	}
	xa_unlock(&tree->entries);
	return e;
}

/* ---- dropping entries (the LRU, drop-caches, zswap off) ---- */

/* The shard whose tail is the oldest entry, or -1 when all are empty. */
static int oldest_shard(struct zswap *z)
{
	uint64_t best_seq = UINT64_MAX;
	int best = -1;

	for (int i = 0; i < ZSWAP_LRU_SHARDS; i++) {
		struct zswap_lru *l = &z->lru[i];

		pthread_mutex_lock(&l->lock);
		if (!list_empty(&l->head)) {
			struct zswap_entry *e = list_last_entry(&l->head, struct zswap_entry, lru);

			if (e->seq < best_seq) {
				best_seq = e->seq;
				best = i;
			}
		}
		pthread_mutex_unlock(&l->lock);
	}
	return best;
}

/*
 * Drop the oldest entry of shard @i: out of its tree (trylock: the order is
 * tree -> shard) and off the LRU; 1 dropped, 0 the shard is empty, -EAGAIN
 * its tree was busy.
 */
static int shard_drop_tail(struct zswap *z, int i)
{
	struct zswap_lru *l = &z->lru[i];
	struct zswap_entry *e;
	struct zswap_tree *tree;

	pthread_mutex_lock(&l->lock);
	if (list_empty(&l->head)) {
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	e = list_last_entry(&l->head, struct zswap_entry, lru);
	tree = e->tree; /* alive: e is on the LRU (T1) */
	if (pthread_mutex_trylock(&tree->entries.xa_lock)) {
		pthread_mutex_unlock(&l->lock);
		return -EAGAIN;
	}
	__xa_erase(&tree->entries, e->index);
	atomic_fetch_sub(&tree->nr, 1);
	list_del_init(&e->lru);
	l->nr--;
	pthread_mutex_unlock(&tree->entries.xa_lock);
	pthread_mutex_unlock(&l->lock);
	entry_free(z, e);
	return 1;
}

/* Drop the oldest entry of the whole tier; false when it is empty. */
static bool drop_oldest(struct zswap *z)
{
	for (int tries = 0; tries < ZSWAP_DROP_TRIES; tries++) {
		int i = oldest_shard(z), ret;

		if (i < 0)
			return false;
		ret = shard_drop_tail(z, i);
		if (ret > 0)
			return true;
		if (ret == -EAGAIN)
			sched_yield();
	}
	return false;
}

/* Drop every entry (drop-caches, zswap off). Returns how many. */
static unsigned long drop_all(struct zswap *z)
{
	unsigned long n = 0;

	for (int i = 0; i < ZSWAP_LRU_SHARDS; i++) {
		int ret;

		while ((ret = shard_drop_tail(z, i)) != 0) {
			if (ret > 0)
				n++;
			else
				sched_yield();
		}
	}
	return n;
}

/* ---- the pool limit ---- */

static uint64_t max_pool_pages(struct zswap *z)
{
	return (uint64_t)atomic_load(&z->cache->limit) * atomic_load(&z->max_pool_percent) / 100;
}

static uint64_t accept_pages(struct zswap *z, uint64_t max)
{
	return max * atomic_load(&z->accept_threshold_percent) / 100;
}

/*
 * Give pool pages back until the pool holds at most @target: compact when
 * the live objects would fit, else drop the oldest entries (counted in
 * ZSWAP_LRU_DROPPED). One thread at a time; others return at once. Returns
 * the pages given back.
 */
static unsigned long shrink_to(struct zswap *z, uint64_t target)
{
	struct cache *cache = z->cache;
	uint64_t start = zpool_nr_pages(z->pool);
	struct zpool_stats st;

	if (start <= target || pthread_mutex_trylock(&z->shrink_lock))
		return 0;
	for (;;) {
		zpool_stats(z->pool, &st);
		if (st.pages <= target)
			break;
		if (st.obj_bytes < target * PAGE_SIZE && zpool_compact(z->pool))
			continue;
		for (int i = 0; i < ZSWAP_SHRINK_BATCH; i++) {
			if (!drop_oldest(z))
				goto out;
			stat_inc(cache, ZSWAP_LRU_DROPPED);
		}
	}
out:
	pthread_mutex_unlock(&z->shrink_lock);
	st.pages = zpool_nr_pages(z->pool);
	return st.pages < start ? (unsigned long)(start - st.pages) : 0;
}

/* Is the pool too full for a store? Counts pool_limit_hit and shrinks as
 * zswap does (its store path, with the shrinking done here and now). */
static bool over_limit(struct zswap *z)
{
	uint64_t max = max_pool_pages(z), pages = zpool_nr_pages(z->pool), accept;

	if (pages >= max) {
		stat_inc(z->cache, ZSWAP_POOL_LIMIT_HIT);
		atomic_store(&z->reached_full, true);
		goto shrink;
	}
	if (!atomic_load(&z->reached_full))
		return false;
	if (pages < accept_pages(z, max)) {
		atomic_store(&z->reached_full, false);
		return false;
	}
shrink:
	accept = accept_pages(z, max);
	shrink_to(z, accept ? accept - 1 : 0);
	return true;
}

/* ---- compression ---- */

/* Is the page one 64-bit word repeated? */
static bool page_same_filled(const void *data, uint64_t *word)
{
	const uint64_t *w = data;
	uint64_t v = w[0];

	if (v != w[PAGE_SIZE / 8 - 1])
		return false;
	for (size_t i = 1; i < PAGE_SIZE / 8 - 1; i++)
		if (w[i] != v)
			return false;
	*word = v;
	return true;
}

static void fill_page(void *data, uint64_t word)
{
	uint64_t *w = data;

	for (size_t i = 0; i < PAGE_SIZE / 8; i++)
		w[i] = word;
}

/* Compress a page into t->buf; the length, or 0 when it does not fit in
 * zswap_max_compressed_percent of a page (or there is no lz4hc state). */
static int compress_page(struct zswap *z, struct zswap_tls *t, const void *data)
{
	int max = (int)(PAGE_SIZE * atomic_load(&z->max_compressed_percent) / 100);
	unsigned level = atomic_load(&z->hc_level);

	if (!level)
		return LZ4_compress_fast_extState(t->lz4_state, data, t->buf, (int)PAGE_SIZE, max,
						  1);
	if (!t->hc_state) {
		t->hc_state = malloc((size_t)LZ4_sizeofStateHC());
		if (!t->hc_state)
			return 0;
	}
	return LZ4_compress_HC_extStateHC(t->hc_state, data, t->buf, (int)PAGE_SIZE, max,
					  (int)level);
}

/* ---- the tier operations ---- */

/* zswap_admission: all, or workingset: pages that were on the active list
 * or were used again after an eviction (workingset.c), and pages evicted
 * before their first use (PG_fresh: readahead that came too early, whose
 * read dropping would waste, or data written and not read yet). A page used
 * once is turned away; so a scan passing through leaves the tier to the
 * rest. */
static bool admit(struct zswap *z, struct page *page)
{
	if (atomic_load_explicit(&z->admission, memory_order_relaxed) == ZSWAP_ADMIT_ALL)
		return true;
	return page_test(page, PG_workingset) || page_test(page, PG_refaulted) ||
	       page_test(page, PG_fresh);
}

/* Do 256 bytes sampled across the page (8 at every 128th byte, so 32 cache
 * lines are read) take as many distinct values as random bytes would (about
 * 162; data that compresses takes far fewer)? */
static bool page_looks_random(const void *data)
{
	const unsigned char *b = data;
	uint64_t seen[4] = {0, 0, 0, 0};
	unsigned n;

	for (size_t i = 0; i < PAGE_SIZE; i += 128) {
		uint64_t w;

		memcpy(&w, b + i, 8);
		for (int k = 0; k < 8; k++, w >>= 8)
			seen[(w >> 6) & 3] |= 1ULL << (w & 63);
	}
	n = (unsigned)(__builtin_popcountll(seen[0]) + __builtin_popcountll(seen[1]) +
		       __builtin_popcountll(seen[2]) + __builtin_popcountll(seen[3]));
	return n >= ZSWAP_RANDOM_DISTINCT;
}

/* Should this page of @tree be compressed? After ZSWAP_POOR_STREAK pages
 * in a row that did not compress, a page that looks random is not, except
 * one in ZSWAP_POOR_PROBE. */
static bool worth_trying(struct zswap *z, struct zswap_tree *tree, const void *data)
{
	if (atomic_load_explicit(&tree->poor_streak, memory_order_relaxed) < ZSWAP_POOR_STREAK)
		return true;
	if (atomic_fetch_add_explicit(&tree->poor_skips, 1, memory_order_relaxed) %
		    ZSWAP_POOR_PROBE ==
	    0)
		return true;
	if (!page_looks_random(data))
		return true;
	stat_inc(z->cache, ZSWAP_REJECT_COMPRESS_SKIPPED);
	return false;
}

/* Compress a page for @tree; its length, or 0 (counted) when it does not
 * compress or is not tried. */
static int compress_for(struct zswap *z, struct zswap_tree *tree, struct zswap_tls *t,
			const void *data)
{
	int len;

	if (!worth_trying(z, tree, data))
		return 0;
	len = compress_page(z, t, data);
	if (len > 0) {
		if (atomic_load_explicit(&tree->poor_streak, memory_order_relaxed))
			atomic_store_explicit(&tree->poor_streak, 0, memory_order_relaxed);
		return len;
	}
	if (atomic_fetch_add_explicit(&tree->poor_streak, 1, memory_order_relaxed) + 1 ==
	    ZSWAP_POOR_STREAK)
		atomic_store_explicit(&tree->poor_skips, 1, memory_order_relaxed);
	stat_inc(z->cache, ZSWAP_REJECT_COMPRESS_POOR);
	return 0;
}

/* Make the entry for a page of @tree: same-filled, or compressed into the
 * pool. */
static int entry_make(struct zswap *z, struct zswap_tree *tree, const void *data,
		      struct zswap_entry **ep)
{
	struct cache *cache = z->cache;
	struct zswap_tls *t = tls_get();
	struct zswap_entry *e;
	uint64_t word;
	int len = 0, err;

	if (!t)
		goto alloc_fail;
	if (!page_same_filled(data, &word)) {
		len = compress_for(z, tree, t, data);
		if (!len)
			return -E2BIG;
	}
	e = malloc(sizeof(*e));
	if (!e)
		goto alloc_fail;
	e->length = (uint32_t)len;
	if (!len) {
		e->handle = word;
	} else {
		err = zpool_store(z->pool, t->buf, (size_t)len, &e->handle);
		if (err) {
			free(e);
			goto alloc_fail;
		}
	}
	*ep = e;
	return 0;
alloc_fail:
	stat_inc(cache, ZSWAP_REJECT_ALLOC_FAIL);
	return -ENOMEM;
}

/* An entry that never made it into a tree. */
static void entry_discard(struct zswap *z, struct zswap_entry *e)
{
	if (e->length)
		zpool_free(z->pool, &e->handle, e->length);
	free(e);
}

static int __zswap_store(struct zswap *z, struct address_space *mapping, struct page *page)
{
	struct zswap_tree *tree = tree_get(z, mapping, true);
	struct zswap_entry *e;
	int err;

	if (!tree) {
		stat_inc(z->cache, ZSWAP_REJECT_ALLOC_FAIL);
		return -ENOMEM;
	}
	err = entry_make(z, tree, page_address(page), &e);
	if (err)
		return err;
	e->index = page->index;
	err = tree_insert(z, tree, e);
	if (err) {
		if (err == -ENOMEM)
			stat_inc(z->cache, ZSWAP_REJECT_ALLOC_FAIL);
		entry_discard(z, e);
		return err;
	}
	entry_account(z, e, 1);
	return 0;
}

/* cache_tier_ops.store: keep a copy of a clean page reclaim evicts. */
static int zswap_store(void *tier, struct address_space *mapping, struct page *page)
{
	struct zswap *z = tier;
	_Atomic long *flight;
	int err = -ENODEV;

	if (!atomic_load(&z->enabled))
		return -ENODEV;
	if (atomic_load(&mapping->flags) & AS_EXITING)
		return -ENOENT;
	if (!admit(z, page)) {
		stat_inc(z->cache, ZSWAP_REJECT_ADMISSION);
		return -EPERM;
	}
	cache_rcu_thread_online();
	if (over_limit(z))
		return -ENOSPC;
	flight = &z->in_flight[stat_slot_index()].n;
	atomic_fetch_add(flight, 1);
	if (atomic_load(&z->enabled))
		err = __zswap_store(z, mapping, page);
	atomic_fetch_sub(flight, 1);
	return err;
}

/* Fill @data from a taken entry and free it; 0 or -EIO. */
static int entry_load(struct zswap *z, struct zswap_entry *e, void *data)
{
	struct zswap_tls *t;
	int n, err = 0;

	entry_account(z, e, -1);
	if (!e->length) {
		fill_page(data, e->handle);
		goto out;
	}
	t = tls_get();
	if (!t) {
		zpool_free(z->pool, &e->handle, e->length);
		err = -ENOMEM;
	} else {
		zpool_load(z->pool, &e->handle, e->length, t->buf, true);
		n = LZ4_decompress_safe(t->buf, data, (int)e->length, (int)PAGE_SIZE);
		if (n != (int)PAGE_SIZE) {
			stat_inc(z->cache, ZSWAP_DECOMPRESS_FAIL);
			err = -EIO;
		}
	}
out:
	free(e);
	return err;
}

/* cache_tier_ops.load: a page was added at (@mapping, @index); fill it from
 * the tier and drop the copy (exclusive). */
static int zswap_load(void *tier, struct address_space *mapping, uint64_t index, void *data)
{
	struct zswap *z = tier;
	struct zswap_tree *tree = tree_get(z, mapping, false);
	struct zswap_entry *e;
	void *present;

	if (likely(!tree) || !atomic_load_explicit(&tree->nr, memory_order_relaxed))
		return -ENOENT;
	rcu_read_lock();
	present = xa_load(&tree->entries, index);
	rcu_read_unlock();
	if (!present)
		return -ENOENT;
	e = tree_take(z, tree, index);
	if (!e)
		return -ENOENT;
	return entry_load(z, e, data);
}

/* Take up to ZSWAP_INVAL_BATCH entries of [start, end] out of @tree. */
static unsigned tree_take_range(struct zswap *z, struct zswap_tree *tree, uint64_t start,
				uint64_t end, struct zswap_entry **batch)
{
	uint64_t index;
	void *entry;
	unsigned n = 0;

	xa_lock(&tree->entries);
	xa_for_each_range(&tree->entries, index, entry, start, end)
	{
		batch[n++] = entry;
		if (n == ZSWAP_INVAL_BATCH)
			break;
	}
	for (unsigned i = 0; i < n; i++) {
		__xa_erase(&tree->entries, batch[i]->index);
		atomic_fetch_sub(&tree->nr, 1);
		lru_del_entry(z, batch[i]);
	}
	xa_unlock(&tree->entries);
	return n;
}

/* cache_tier_ops.invalidate: drop the copies of pages [start, end]; a dying
 * mapping's whole range also frees its tree. */
static void zswap_invalidate(void *tier, struct address_space *mapping, uint64_t start,
			     uint64_t end)
{
	struct zswap *z = tier;
	struct zswap_tree *tree = tree_get(z, mapping, false);
	struct zswap_entry *batch[ZSWAP_INVAL_BATCH];
	unsigned n;

	if (likely(!tree))
		return;
	cache_rcu_thread_online();
	while (atomic_load(&tree->nr)) {
		n = tree_take_range(z, tree, start, end, batch);
		for (unsigned i = 0; i < n; i++)
			entry_free(z, batch[i]);
		if (n < ZSWAP_INVAL_BATCH)
			break;
	}
	/* mapping_destroy() truncates everything: the tree goes too (T2) */
	if ((atomic_load(&mapping->flags) & AS_EXITING) && start == 0 &&
	    end >= UINT64_MAX >> PAGE_SHIFT)
		tree_free(z, mapping, tree);
}

/* cache_tier_ops.shrink: give pool pages back to the cache. */
static unsigned long zswap_shrink(void *tier, unsigned long nr_pages)
{
	struct zswap *z = tier;
	uint64_t pages = zpool_nr_pages(z->pool);
	unsigned long freed;

	if (!pages)
		return 0;
	cache_rcu_thread_online();
	freed = zpool_compact(z->pool);
	if (freed < nr_pages)
		freed += shrink_to(z, pages > nr_pages ? pages - nr_pages : 0);
	return freed;
}

/* cache_tier_ops.drop_all: drop every copy (drop-caches). */
static void zswap_drop_all(void *tier)
{
	struct zswap *z = tier;

	cache_rcu_thread_online();
	drop_all(z);
	zpool_compact(z->pool);
}

const struct cache_tier_ops zswap_tier_ops = {
	.store = zswap_store,
	.load = zswap_load,
	.invalidate = zswap_invalidate,
	.shrink = zswap_shrink,
	.drop_all = zswap_drop_all,
};

/* ---- backing pages from the cache's pool ---- */

static struct page *zswap_alloc_page(void *ctx)
{
	struct cache *cache = ctx;

	/* never past the limit, never the reclaimer's reserve, no reclaim */
	return page_pool_get_below(cache, atomic_load(&cache->limit));
}

static void zswap_free_page(void *ctx, struct page *page)
{
	bool frozen = page_ref_freeze(page, 1);

	CACHE_BUG_ON(!frozen);
	(void)frozen;
	page_pool_put(ctx, page);
}

static const struct zpool_ops zswap_zpool_ops = {
	.alloc_page = zswap_alloc_page,
	.free_page = zswap_free_page,
};

/* ---- setup and settings ---- */

/**
 * zswap_init - make the cache's tier (off) and plug it into the hook
 * @cache: the cache, its pool made
 * @enabled: start on
 *
 * Context: cache_create().
 * Return: 0 or -ENOMEM.
 */
int zswap_init(struct cache *cache, bool enabled)
{
	struct zswap *z = aligned_alloc(64, (sizeof(*z) + 63) / 64 * 64);
	int err;

	if (!z)
		return -ENOMEM;
	memset(z, 0, sizeof(*z));
	z->cache = cache;
	err = zpool_create(&zswap_zpool_ops, cache, &z->pool);
	if (err) {
		free(z);
		return err;
	}
	atomic_store(&z->max_pool_percent, ZSWAP_MAX_POOL_DEFAULT);
	atomic_store(&z->accept_threshold_percent, ZSWAP_ACCEPT_DEFAULT);
	atomic_store(&z->max_compressed_percent, ZSWAP_MAX_COMPRESSED_DEFAULT);
	atomic_store(&z->enabled, enabled);
	cache_mutex_init(&z->param_lock);
	cache_mutex_init(&z->shrink_lock);
	for (int i = 0; i < ZSWAP_LRU_SHARDS; i++) {
		cache_mutex_init(&z->lru[i].lock);
		INIT_LIST_HEAD(&z->lru[i].head);
	}
	cache->zswap = z;
	cache_set_tier(cache, &zswap_tier_ops, z);
	return 0;
}

/**
 * zswap_destroy - empty and free the cache's tier
 * @cache: the cache, every mapping destroyed, no thread running
 *
 * Context: cache_destroy(), before the pool goes.
 */
void zswap_destroy(struct cache *cache)
{
	struct zswap *z = cache->zswap;

	if (!z)
		return;
	cache_rcu_thread_online();
	drop_all(z);
	CACHE_BUG_ON(atomic_load(&z->nr_trees) != 0);
	zpool_destroy(z->pool);
	for (int i = 0; i < ZSWAP_LRU_SHARDS; i++)
		pthread_mutex_destroy(&z->lru[i].lock);
	pthread_mutex_destroy(&z->param_lock);
	pthread_mutex_destroy(&z->shrink_lock);
	cache->zswap = NULL;
	if (cache->tier == z)
		cache_set_tier(cache, NULL, NULL);
	free(z);
}

/* zswap=off: refuse stores, wait for those in flight, drop everything. */
static void zswap_turn_off(struct zswap *z)
{
	atomic_store(&z->enabled, false);
	for (int i = 0; i < STAT_SLOTS; i++)
		while (atomic_load(&z->in_flight[i].n))
			sched_yield();
	cache_rcu_thread_online();
	drop_all(z);
	zpool_compact(z->pool);
	atomic_store(&z->reached_full, false);
}

/**
 * cache_zswap_set - change a tier parameter
 * @cache: the cache
 * @p: the parameter
 * @value: its new value, as cache_zswap_check() takes it
 *
 * Turning the tier off (zswap=off) drops everything it holds; lowering
 * zswap_max_pool_percent gives the pages over the new maximum back at once.
 *
 * Context: any thread holding no cache lock.
 * Return: 0 or -EINVAL.
 */
int cache_zswap_set(struct cache *cache, enum zswap_param p, const char *value)
{
	struct zswap *z = cache_zswap(cache);
	unsigned v;
	int err = param_parse(p, value, &v);

	if (err || !z)
		return err ? err : -ENODEV;
	pthread_mutex_lock(&z->param_lock);
	switch (p) {
	case ZSWAP_ENABLED:
		if (!v && atomic_load(&z->enabled))
			zswap_turn_off(z);
		atomic_store(&z->enabled, v != 0);
		break;
	case ZSWAP_MAX_POOL_PERCENT:
		atomic_store(&z->max_pool_percent, v);
		cache_rcu_thread_online();
		shrink_to(z, max_pool_pages(z));
		break;
	case ZSWAP_ACCEPT_THRESHOLD_PERCENT:
		atomic_store(&z->accept_threshold_percent, v);
		break;
	case ZSWAP_MAX_COMPRESSED_PERCENT:
		atomic_store(&z->max_compressed_percent, v);
		break;
	case ZSWAP_COMPRESSOR:
		atomic_store(&z->hc_level, v);
		break;
	case ZSWAP_ADMISSION:
		atomic_store(&z->admission, v);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&z->param_lock);
	return 0;
}

/**
 * cache_zswap_get - a tier parameter's value, as text
 * @cache: the cache
 * @p: the parameter
 * @buf: receives the value ("on", "20", "lz4hc:9", "all", ...)
 * @len: size of @buf
 *
 * Context: any.
 * Return: 0, or -EINVAL for an unknown parameter.
 */
int cache_zswap_get(struct cache *cache, enum zswap_param p, char *buf, size_t len)
{
	struct zswap *z = cache_zswap(cache);
	unsigned level;

	if (!z || p >= NR_ZSWAP_PARAMS)
		return -EINVAL;
	switch (p) {
	case ZSWAP_ENABLED:
		snprintf(buf, len, "%s", atomic_load(&z->enabled) ? "on" : "off");
		break;
	case ZSWAP_MAX_POOL_PERCENT:
		snprintf(buf, len, "%u", atomic_load(&z->max_pool_percent));
		break;
	case ZSWAP_ACCEPT_THRESHOLD_PERCENT:
		snprintf(buf, len, "%u", atomic_load(&z->accept_threshold_percent));
		break;
	case ZSWAP_MAX_COMPRESSED_PERCENT:
		snprintf(buf, len, "%u", atomic_load(&z->max_compressed_percent));
		break;
	case ZSWAP_COMPRESSOR:
		level = atomic_load(&z->hc_level);
		if (level)
			snprintf(buf, len, "lz4hc:%u", level);
		else
			snprintf(buf, len, "lz4");
		break;
	case ZSWAP_ADMISSION:
		snprintf(buf, len, "%s",
			 atomic_load(&z->admission) == ZSWAP_ADMIT_ALL ? "all" : "workingset");
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

/**
 * zswap_limit_changed - the cache limit was lowered: keep the pool under
 * its new maximum
 * @cache: the cache
 *
 * Context: cache_set_limit(); no cache lock held.
 */
void zswap_limit_changed(struct cache *cache)
{
	struct zswap *z = cache_zswap(cache);

	if (!z)
		return;
	cache_rcu_thread_online();
	shrink_to(z, max_pool_pages(z));
}

/**
 * cache_zswap_info - what the tier holds
 * @cache: the cache
 * @out: filled in
 *
 * Context: any; exact when no store or load is in flight.
 */
void cache_zswap_info(struct cache *cache, struct cache_zswap_info *out)
{
	struct zswap *z = cache_zswap(cache);
	struct zpool_stats st;

	memset(out, 0, sizeof(*out));
	if (!z)
		return;
	zpool_stats(z->pool, &st);
	out->pool_pages = st.pages;
	out->stored_pages = cache_stat(cache, ZSWAP_STORED_PAGES);
	out->same_filled_pages = cache_stat(cache, ZSWAP_SAME_FILLED_PAGES);
	out->compressed_bytes = cache_stat(cache, ZSWAP_COMPRESSED_BYTES);
	out->slot_bytes = st.obj_bytes;
	out->max_pool_pages = max_pool_pages(z);
}

/**
 * cache_zswap_compact - compact the tier's pool now
 * @cache: the cache
 *
 * Context: any thread holding no cache lock.
 * Return: pool pages given back.
 */
unsigned long cache_zswap_compact(struct cache *cache)
{
	struct zswap *z = cache_zswap(cache);

	if (!z)
		return 0;
	cache_rcu_thread_online();
	return zpool_compact(z->pool);
}

/**
 * zswap_stat - the computed counter of the tier (stats.c)
 * @cache: the cache
 * @item: ZSWAP_POOL_TOTAL_SIZE
 *
 * Context: any.
 * Return: the pool's bytes.
 */
uint64_t zswap_stat(struct cache *cache, enum cache_stat_item item)
{
	struct zswap *z = cache_zswap(cache);

	if (!z)
		return 0;
	return item == ZSWAP_POOL_TOTAL_SIZE ? zpool_nr_pages(z->pool) * PAGE_SIZE : 0;
}

/**
 * zswap_metadata_bytes - memory the tier uses besides its pool pages
 * @cache: the cache
 *
 * Entries and trees (their xarray nodes count with every tree's, in
 * cache_mem's xa_nodes) and zspage descriptors.
 *
 * Context: any.
 * Return: bytes.
 */
uint64_t zswap_metadata_bytes(struct cache *cache)
{
	struct zswap *z = cache_zswap(cache);
	struct zpool_stats st;

	if (!z)
		return 0;
	zpool_stats(z->pool, &st);
	return cache_stat(cache, ZSWAP_STORED_PAGES) * sizeof(struct zswap_entry) +
	       atomic_load(&z->nr_trees) * sizeof(struct zswap_tree) + st.meta_bytes;
}
