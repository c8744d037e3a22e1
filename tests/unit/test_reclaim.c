/*
 * tests/unit/test_reclaim.c - the memory limit, the LRU lists, reclaim,
 * shadow entries and refaults, drop-clean and the tier hook.
 *
 * Checks:
 *  - second chance: a page read twice survives a reclaim that evicts pages
 *    read once (PGACTIVATE, PGSCAN/PGSTEAL_DIRECT), and is on the active list;
 *    a short inactive list is refilled from the active tail (PGDEACTIVATE);
 *  - evictions leave shadow entries (nrshadows, NR_SHADOWS); reading the pages
 *    again counts WORKINGSET_REFAULT and erases them; a refault within the
 *    active list's size is activated (WORKINGSET_ACTIVATE, PG_active);
 *  - shadows are bounded by 2 * pool pages (WORKINGSET_NODERECLAIM);
 *    trimming drops those older than pool pages of evictions
 *    (WORKINGSET_SHADOWS_TRIMMED), after which evictions leave shadows
 *    again; truncate erases them; direct reclaim under a tiny limit (ALLOCSTALL)
 *    keeps the pages in use at or under the limit;
 *  - drop_clean frees exactly the clean unused pages, keeps dirty and in-use
 *    ones;
 *  - the tier hook with a fake tier: evicted clean pages are stored, a miss
 *    loads them without a device read, truncate invalidates them, a rejected
 *    store is not counted, mapping teardown empties the tier;
 *  - an allocation at the limit waits and gets the next freed page; the
 *    nowait variant fails at once;
 *  - with the background reclaimer and a 256-page limit, streaming reads and
 *    writes of 16 and 8 MiB never have more than 256 pages in use (sampled by
 *    a thread), the reclaimer scans, steals and writes dirty pages
 *    (PGSCAN_KSWAPD, PGSTEAL_KSWAPD, PGWRITE_RECLAIM), free pages end at or
 *    above the low watermark, and every byte is right on the device;
 *  - cache_set_limit/watermarks; leak counters back to zero for every cache.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>

#include "backing/bdev.h"
#include "cache/cache.h"
#include "cache/internal.h"
#include "tests/lib/tap.h"
#include "tests/lib/testfs.h"

#define FILE_PAGES 4096
#define FILE_BYTES ((uint64_t)FILE_PAGES * PAGE_SIZE)

static struct bdev *dev;

static unsigned char pattern(uint64_t pos)
{
	return (unsigned char)((pos >> 12) * 29 + (pos & 0xfff) * 3 + 1);
}

static bool check_bytes(const unsigned char *buf, uint64_t pos, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(pos + i))
			return false;
	return true;
}

/*
 * Device regions of FILE_BYTES: 0 holds the pattern and is only read; 1 is
 * written by test_background; 2 (tier, truncated) and 3 (drop_clean, written)
 * start with the pattern and may change.
 */
enum { REGION_RO, REGION_WRITE, REGION_TIER, REGION_DROP, NR_REGIONS };

static void device_setup(void)
{
	unsigned char *buf = malloc(FILE_BYTES);

	if (bdev_mem_create(NR_REGIONS * FILE_BYTES, 512, &dev))
		BAIL("bdev_mem_create");
	for (uint64_t i = 0; i < FILE_BYTES; i++)
		buf[i] = pattern(i);
	if (bdev_write(dev, REGION_RO * FILE_BYTES, buf, FILE_BYTES) ||
	    bdev_write(dev, REGION_TIER * FILE_BYTES, buf, FILE_BYTES) ||
	    bdev_write(dev, REGION_DROP * FILE_BYTES, buf, FILE_BYTES))
		BAIL("bdev_write");
	free(buf);
}

/* A 4 KiB-block file whose blocks are all allocated over a region's pattern. */
static void file_over_region(struct testfile *f, struct cache *c, unsigned region)
{
	if (testfile_init(f, c, dev, 12, (uint64_t)region * FILE_PAGES, FILE_PAGES))
		BAIL("testfile_init");
	memset(f->alloc, 1, FILE_PAGES);
	filemap_truncate(&f->mapping, FILE_BYTES);
}

static struct cache *make_cache(unsigned pool, unsigned limit, bool reclaimer)
{
	struct cache_config cfg = {
		.pool_bytes = (uint64_t)pool * PAGE_SIZE,
		.limit_bytes = (uint64_t)limit * PAGE_SIZE,
		.ra_max_pages = 32,
		.no_reclaimer = !reclaimer,
	};
	struct cache *c;

	if (cache_create(&cfg, &c))
		BAIL("cache_create");
	return c;
}

static void destroy_cache(struct cache *c, const char *name)
{
	struct cache_mem mi;

	rcu_barrier();
	cache_mem_info(c, &mi);
	ok(mi.pages_in_use == 0 && mi.mappings == 0 && mi.buffer_heads == 0 && mi.xa_nodes == 0,
	   "%s: allocation counters back to zero (pages %llu, mappings %llu, nodes %llu)", name,
	   (unsigned long long)mi.pages_in_use, (unsigned long long)mi.mappings,
	   (unsigned long long)mi.xa_nodes);
	ok(cache_stat(c, NR_FILE_PAGES) == 0 && cache_stat(c, NR_SHADOWS) == 0 &&
		   cache_stat(c, NR_ACTIVE_FILE) == 0 && cache_stat(c, NR_INACTIVE_FILE) == 0,
	   "%s: page, shadow and LRU gauges back to zero", name);
	cache_destroy(c);
}

/* Read pages [first, first + n) with one call, no readahead. */
static bool read_pages_range(struct testfile *f, uint64_t first, unsigned n)
{
	size_t len = (size_t)n * PAGE_SIZE;
	unsigned char *buf = malloc(len);
	bool good = filemap_read(&f->mapping, NULL, buf, len, first * PAGE_SIZE) == (ssize_t)len &&
		    check_bytes(buf, first * PAGE_SIZE, len);

	free(buf);
	return good;
}

static unsigned cached_in(struct testfile *f, uint64_t first, unsigned n)
{
	unsigned c = 0;

	for (uint64_t i = first; i < first + n; i++) {
		struct page *p = find_get_page(&f->mapping, i);

		if (p) {
			c++;
			put_page(p);
		}
	}
	return c;
}

static bool all_active(struct testfile *f, uint64_t first, unsigned n)
{
	bool all = true;

	for (uint64_t i = first; i < first + n; i++) {
		struct page *p = find_get_page(&f->mapping, i);

		all &= p && page_test(p, PG_active);
		if (p)
			put_page(p);
	}
	return all;
}

/* ---- LRU, second chance, shadows, refaults ---- */

static void test_second_chance(void)
{
	struct cache *c = make_cache(512, 256, false);
	struct testfile f;
	uint64_t act, scan, steal, refault;

	file_over_region(&f, c, REGION_RO);
	ok(read_pages_range(&f, 0, 8), "read A (8 pages)");
	ok(read_pages_range(&f, 0, 8), "read A again (referenced)");
	ok(read_pages_range(&f, 100, 64), "read B (64 pages) once");
	act = cache_stat(c, PGACTIVATE);
	scan = cache_stat(c, PGSCAN_DIRECT);
	steal = cache_stat(c, PGSTEAL_DIRECT);
	is_int(cache_reclaim(c, 64), 64, "reclaim 64 pages");
	is_int(cached_in(&f, 100, 64), 0, "every page of B was evicted");
	is_int(cached_in(&f, 0, 8), 8, "every page of A survived");
	ok(all_active(&f, 0, 8), "A is on the active list");
	is_u64(cache_stat(c, PGACTIVATE) - act, 8, "PGACTIVATE + 8");
	ok(cache_stat(c, PGSCAN_DIRECT) - scan >= 72, "PGSCAN_DIRECT moved (%llu)",
	   (unsigned long long)(cache_stat(c, PGSCAN_DIRECT) - scan));
	is_u64(cache_stat(c, PGSTEAL_DIRECT) - steal, 64, "PGSTEAL_DIRECT + 64");
	is_u64(atomic_load(&f.mapping.nrshadows), 64, "64 shadow entries left");
	is_u64(cache_stat(c, NR_SHADOWS), 64, "NR_SHADOWS 64");
	is_u64(cache_stat(c, NR_ACTIVE_FILE), 8, "NR_ACTIVE_FILE 8");
	is_u64(cache_stat(c, NR_INACTIVE_FILE), 0, "NR_INACTIVE_FILE 0");

	refault = cache_stat(c, WORKINGSET_REFAULT);
	ok(read_pages_range(&f, 100, 64), "read B again: right bytes");
	is_u64(cache_stat(c, WORKINGSET_REFAULT) - refault, 64, "WORKINGSET_REFAULT + 64");
	is_u64(atomic_load(&f.mapping.nrshadows), 0, "the shadows were replaced");
	is_u64(cache_stat(c, NR_SHADOWS), 0, "NR_SHADOWS 0");

	/* small sequential reads inside one page count as one use */
	{
		struct file_ra_state ra;
		unsigned char small[100];
		struct page *p;
		bool good = true;

		file_ra_state_init(&ra, &f.mapping);
		for (uint64_t pos = 600 * PAGE_SIZE; pos < 601 * PAGE_SIZE; pos += 100)
			good &= filemap_read(&f.mapping, &ra, small, 100, pos) > 0;
		p = find_get_page(&f.mapping, 600);
		ok(good && p && !page_test(p, PG_referenced) && !page_test(p, PG_fresh),
		   "41 small sequential reads of one page: used, not referenced");
		filemap_read(&f.mapping, &ra, small, 100, 600 * PAGE_SIZE);
		ok(p && page_test(p, PG_referenced), "reading it again from its start: referenced");
		if (p)
			put_page(p);
	}

	/* deactivation: make inactive short, active long */
	cache_drop_clean(c);
	ok(read_pages_range(&f, 0, 16) && read_pages_range(&f, 0, 16), "read C (16) twice");
	ok(read_pages_range(&f, 500, 1), "read D (1) once");
	act = cache_stat(c, PGDEACTIVATE);
	is_int(cache_reclaim(c, 1), 1, "reclaim 1: D goes");
	is_int(cached_in(&f, 500, 1), 0, "D evicted");
	is_int(cached_in(&f, 0, 16), 16, "C kept");
	is_int(cache_reclaim(c, 4), 4, "reclaim 4 more: from C, via the inactive list");
	ok(cache_stat(c, PGDEACTIVATE) - act >= 4, "PGDEACTIVATE moved (%llu)",
	   (unsigned long long)(cache_stat(c, PGDEACTIVATE) - act));
	is_int(cached_in(&f, 0, 16), 12, "12 pages of C left");
	pthread_mutex_lock(&c->lru_lock);
	ok(c->nr_inactive + c->nr_active == 12 && c->nr_inactive > 0,
	   "the active list was cut down to refill inactive (%lu inactive, %lu active)",
	   c->nr_inactive, c->nr_active);
	pthread_mutex_unlock(&c->lru_lock);
	testfile_destroy(&f);
	destroy_cache(c, "second chance");
}

static void test_refault_activate(void)
{
	struct cache *c = make_cache(512, 256, false);
	struct testfile f;
	uint64_t refault, activate;
	struct page *p;

	file_over_region(&f, c, REGION_RO);
	ok(read_pages_range(&f, 200, 64) && read_pages_range(&f, 200, 64), "read Y (64) twice");
	ok(read_pages_range(&f, 300, 1), "read Z once");
	is_int(cache_reclaim(c, 1), 1, "reclaim one page");
	is_int(cached_in(&f, 300, 1), 0, "Z evicted");
	ok(all_active(&f, 200, 64), "Y activated by the scan");
	refault = cache_stat(c, WORKINGSET_REFAULT);
	activate = cache_stat(c, WORKINGSET_ACTIVATE);
	ok(read_pages_range(&f, 300, 1), "Z read again");
	is_u64(cache_stat(c, WORKINGSET_REFAULT) - refault, 1, "WORKINGSET_REFAULT + 1");
	is_u64(cache_stat(c, WORKINGSET_ACTIVATE) - activate, 1,
	       "refault distance within the active list: WORKINGSET_ACTIVATE + 1");
	p = find_get_page(&f.mapping, 300);
	ok(p && page_test(p, PG_active) && page_test(p, PG_workingset),
	   "the refaulted page starts active, in the workingset");
	if (p)
		put_page(p);
	testfile_destroy(&f);
	destroy_cache(c, "refault");
}

static void test_shadow_bound(void)
{
	struct cache *c = make_cache(16, 16, false);
	struct testfile f;
	uint64_t stall = cache_stat(c, ALLOCSTALL), nodereclaim, shadows;
	bool good = true, under = true;
	unsigned long trimmed;

	file_over_region(&f, c, REGION_RO);
	for (uint64_t i = 0; i < 200; i += 4) {
		good &= read_pages_range(&f, i, 4);
		under &= atomic_load(&c->nr_used) <= 16;
	}
	ok(good, "200 pages read through a 16-page cache");
	ok(under, "pages in use never above the 16-page limit");
	ok(cache_stat(c, ALLOCSTALL) > stall, "allocations stalled into direct reclaim");
	ok(cache_stat(c, PGSTEAL_DIRECT) >= 180, "direct reclaim freed pages (%llu)",
	   (unsigned long long)cache_stat(c, PGSTEAL_DIRECT));
	nodereclaim = cache_stat(c, WORKINGSET_NODERECLAIM);
	ok(nodereclaim > 0, "WORKINGSET_NODERECLAIM moved (%llu)", (unsigned long long)nodereclaim);
	is_u64(cache_stat(c, NR_SHADOWS), 2 * c->nr_pool, "NR_SHADOWS stops at 2 * pool pages");
	is_u64(atomic_load(&f.mapping.nrshadows), 2 * c->nr_pool, "nrshadows agrees");
	trimmed = workingset_trim_shadows(c);
	ok(trimmed > 0 && cache_stat(c, NR_SHADOWS) <= c->nr_pool,
	   "trimming drops the shadows older than pool pages of evictions (%lu; %llu left)",
	   trimmed, (unsigned long long)cache_stat(c, NR_SHADOWS));
	is_u64(cache_stat(c, WORKINGSET_SHADOWS_TRIMMED), trimmed, "WORKINGSET_SHADOWS_TRIMMED");
	nodereclaim = cache_stat(c, WORKINGSET_NODERECLAIM);
	shadows = cache_stat(c, NR_SHADOWS);
	ok(read_pages_range(&f, 200, 8), "8 more pages read");
	ok(cache_stat(c, NR_SHADOWS) > shadows && cache_stat(c, WORKINGSET_NODERECLAIM) == nodereclaim,
	   "new evictions leave shadows again (%llu -> %llu)", (unsigned long long)shadows,
	   (unsigned long long)cache_stat(c, NR_SHADOWS));
	is_u64(atomic_load(&f.mapping.nrshadows), cache_stat(c, NR_SHADOWS), "nrshadows agrees");
	is_int(testfs_truncate(&f, 0), 0, "truncate to 0");
	is_u64(atomic_load(&f.mapping.nrshadows), 0, "truncate erased the shadows");
	is_u64(cache_stat(c, NR_SHADOWS), 0, "NR_SHADOWS 0");
	testfile_destroy(&f);
	destroy_cache(c, "shadow bound");
}

static void test_drop_clean(void)
{
	struct cache *c = make_cache(512, 256, false);
	unsigned char buf[8 * PAGE_SIZE];
	struct testfile f;
	struct page *held;

	file_over_region(&f, c, REGION_DROP);
	is_int(cache_drop_clean(c), 0, "nothing to drop");
	ok(read_pages_range(&f, 0, 32), "read 32 pages");
	memset(buf, 0x42, sizeof(buf));
	is_int(filemap_write(&f.mapping, buf, sizeof(buf), 1000 * PAGE_SIZE), sizeof(buf),
	       "dirty 8 pages");
	held = find_get_page(&f.mapping, 5);
	is_int(cache_drop_clean(c), 31, "drop_clean frees the 31 clean unused pages");
	is_u64(atomic_load(&f.mapping.nrpages), 9, "8 dirty pages and 1 held page stay");
	ok(held && held->mapping == &f.mapping, "the held page is still cached");
	put_page(held);
	is_int(filemap_write_and_wait(&f.mapping), 0, "write back");
	is_int(cache_drop_clean(c), 9, "now the 9 others go");
	is_u64(atomic_load(&c->nr_used), 0, "no page in use");
	is_u64(atomic_load(&f.mapping.nrshadows), 0, "drop_clean leaves no shadow");
	testfile_destroy(&f);
	destroy_cache(c, "drop_clean");
}

/* ---- giving free memory back ---- */

/* Pool pages whose data is resident in the process (mincore). */
static unsigned long pool_resident(struct cache *c)
{
	size_t n = c->nr_pool;
	unsigned char *vec = malloc(n);
	unsigned long r = 0;

	if (!vec || mincore(c->data, n * PAGE_SIZE, vec))
		BAIL("mincore");
	for (size_t i = 0; i < n; i++)
		r += vec[i] & 1;
	free(vec);
	return r;
}

static void test_trim(void)
{
	struct cache *c = make_cache(512, 256, false);
	struct testfile f;
	unsigned long before;

	/* no readahead: no asynchronous reader may add pages behind the checks */
	is_int(cache_set_ra_max(c, 0), 0, "trim: readahead off");
	file_over_region(&f, c, REGION_DROP);
	is_u64(pool_resident(c), 0, "trim: a new pool holds no resident page");
	ok(read_pages_range(&f, 0, 200), "trim: read 200 pages");
	before = pool_resident(c);
	ok(before >= 200, "trim: at least 200 pool pages resident (%lu)", before);
	is_u64(cache_stat(c, POOL_TRIMMED), 0, "trim: nothing given back yet");
	is_int(cache_drop_clean(c), 200, "trim: drop_clean frees the 200 pages");
	is_u64(pool_resident(c), 0, "trim: after drop_clean no pool page is resident");
	is_u64(cache_stat(c, POOL_TRIMMED), before, "trim: pool_trimmed counts the pages released");
	ok(read_pages_range(&f, 0, 200), "trim: released pages are used again, bytes right");
	is_int(cache_set_limit(c, 64 * PAGE_SIZE), 0, "trim: lower the limit to 64 pages");
	ok(atomic_load(&c->nr_used) <= 64, "trim: clean pages reclaimed down to the limit");
	ok(pool_resident(c) <= 64 + CACHE_RESERVE_PAGES,
	   "trim: resident pool pages follow the lower limit (%lu)", pool_resident(c));
	ok(read_pages_range(&f, 0, 200), "trim: reads under the lower limit, bytes right");
	ok(pool_resident(c) <= 64 + CACHE_RESERVE_PAGES + 1,
	   "trim: and stay near it (%lu)", pool_resident(c));
	is_int(cache_set_limit(c, 256 * PAGE_SIZE), 0, "trim: limit back to 256 pages");
	testfile_destroy(&f);
	destroy_cache(c, "trim");
}

/* ---- the tier hook ---- */

#define TIER_SLOTS 128

struct fake_tier {
	pthread_mutex_t lock;
	struct {
		bool used;
		uint64_t id, index;
		unsigned char data[PAGE_SIZE];
	} slot[TIER_SLOTS];
	unsigned stores, loads, invalidates, rejects, held;
	bool reject_odd;
};

static int tier_find(struct fake_tier *t, uint64_t id, uint64_t index)
{
	for (int i = 0; i < TIER_SLOTS; i++)
		if (t->slot[i].used && t->slot[i].id == id && t->slot[i].index == index)
			return i;
	return -1;
}

static int fake_store(void *tier, struct address_space *m, struct page *page)
{
	struct fake_tier *t = tier;
	uint64_t index = page->index;
	const void *data = page_address(page);
	int i, ret = -ENOSPC;

	pthread_mutex_lock(&t->lock);
	i = tier_find(t, m->id, index);
	if (i >= 0) {
		t->slot[i].used = false;
		t->held--;
	}
	if (t->reject_odd && (index & 1)) {
		t->rejects++;
		ret = -E2BIG;
		goto out;
	}
	for (i = 0; i < TIER_SLOTS; i++) {
		if (!t->slot[i].used) {
			t->slot[i].used = true;
			t->slot[i].id = m->id;
			t->slot[i].index = index;
			memcpy(t->slot[i].data, data, PAGE_SIZE);
			t->stores++;
			t->held++;
			ret = 0;
			break;
		}
	}
out:
	pthread_mutex_unlock(&t->lock);
	return ret;
}

static int fake_load(void *tier, struct address_space *m, uint64_t index, void *data)
{
	struct fake_tier *t = tier;
	int i;

	pthread_mutex_lock(&t->lock);
	i = tier_find(t, m->id, index);
	if (i >= 0) {
		memcpy(data, t->slot[i].data, PAGE_SIZE);
		t->slot[i].used = false;
		t->loads++;
		t->held--;
	}
	pthread_mutex_unlock(&t->lock);
	return i >= 0 ? 0 : -ENOENT;
}

static void fake_invalidate(void *tier, struct address_space *m, uint64_t start, uint64_t end)
{
	struct fake_tier *t = tier;

	pthread_mutex_lock(&t->lock);
	t->invalidates++;
	for (int i = 0; i < TIER_SLOTS; i++) {
		if (t->slot[i].used && t->slot[i].id == m->id && t->slot[i].index >= start &&
		    t->slot[i].index <= end) {
			t->slot[i].used = false;
			t->held--;
		}
	}
	pthread_mutex_unlock(&t->lock);
}

static const struct cache_tier_ops fake_tier_ops = {
	.store = fake_store,
	.load = fake_load,
	.invalidate = fake_invalidate,
};

static uint64_t dev_reads(void)
{
	struct bdev_stats st;

	bdev_get_stats(dev, &st);
	return st.reads;
}

static void test_tier(void)
{
	struct cache *c = make_cache(512, 256, false);
	struct fake_tier *t = calloc(1, sizeof(*t));
	unsigned char buf[PAGE_SIZE];
	uint64_t stores, loads, r;
	struct testfile f;
	bool zeros = true;

	pthread_mutex_init(&t->lock, NULL);
	cache_set_tier(c, &fake_tier_ops, t);
	file_over_region(&f, c, REGION_TIER);
	ok(read_pages_range(&f, 0, 32), "read 32 pages");
	stores = cache_stat(c, ZSWPOUT);
	is_int(cache_reclaim(c, 32), 32, "evict them");
	is_u64(cache_stat(c, ZSWPOUT) - stores, 32, "ZSWPOUT + 32");
	is_int(t->held, 32, "the tier holds 32 pages");
	r = dev_reads();
	loads = cache_stat(c, ZSWPIN);
	ok(read_pages_range(&f, 0, 32), "read them again: right bytes");
	is_u64(cache_stat(c, ZSWPIN) - loads, 32, "ZSWPIN + 32");
	is_u64(dev_reads() - r, 0, "no device read: the tier answered");
	is_int(t->held, 0, "loads are exclusive: the tier dropped its copies");

	is_int(cache_reclaim(c, 32), 32, "evict again");
	is_int(t->held, 32, "stored again");
	is_int(testfs_truncate(&f, 8 * PAGE_SIZE + 100), 0, "truncate to 8 pages + 100 bytes");
	is_int(t->held, 8, "truncate invalidated the tier's copies of pages 8..31");
	loads = cache_stat(c, ZSWPIN);
	ok(read_pages_range(&f, 0, 8), "pages 0..7 from the tier");
	is_u64(cache_stat(c, ZSWPIN) - loads, 8, "ZSWPIN + 8");
	is_int(testfs_truncate(&f, 32 * PAGE_SIZE), 0, "extend to 32 pages");
	filemap_read(&f.mapping, NULL, buf, PAGE_SIZE, 8 * PAGE_SIZE);
	ok(check_bytes(buf, 8 * PAGE_SIZE, 100), "page 8 keeps its first 100 bytes");
	for (int i = 100; i < PAGE_SIZE; i++)
		zeros &= buf[i] == 0;
	for (uint64_t i = 9; i < 32; i++) {
		filemap_read(&f.mapping, NULL, buf, PAGE_SIZE, i * PAGE_SIZE);
		for (int j = 0; j < PAGE_SIZE; j++)
			zeros &= buf[j] == 0;
	}
	ok(zeros, "nothing stale came back from the tier after truncate");
	is_u64(cache_stat(c, ZSWPIN) - loads, 8, "no more loads");

	filemap_write_and_wait(&f.mapping);
	testfile_destroy(&f);
	is_int(t->held, 0, "mapping teardown emptied the tier");
	cache_drop_clean(c);
	file_over_region(&f, c, REGION_TIER);
	ok(read_pages_range(&f, 100, 16), "read 16 pages of a new file");
	t->reject_odd = true;
	stores = cache_stat(c, ZSWPOUT);
	is_int(cache_reclaim(c, 16), 16, "evict them with a tier that rejects odd pages");
	is_u64(cache_stat(c, ZSWPOUT) - stores, 8, "only accepted stores count");
	is_int(t->rejects, 8, "8 rejected");
	is_int(t->held, 8, "the tier holds the 8 even pages");
	testfile_destroy(&f);
	is_int(t->held, 0, "mapping teardown emptied the tier");
	cache_set_tier(c, NULL, NULL);
	destroy_cache(c, "tier");
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* ---- allocation at the limit ---- */

struct waiter {
	struct cache *c;
	struct page *page;
	int err;
	_Atomic bool done;
};

static void *alloc_waiter(void *arg)
{
	struct waiter *w = arg;

	w->err = page_cache_alloc(w->c, &w->page);
	atomic_store(&w->done, true);
	return NULL;
}

static void test_alloc_wait(void)
{
	struct cache *c = make_cache(16, 16, false);
	struct page *held[16], *p;
	struct waiter w = {.c = c};
	pthread_t t;
	bool got = true;

	for (int i = 0; i < 16; i++)
		got &= page_cache_alloc(c, &held[i]) == 0;
	ok(got, "16 pages allocated up to the limit");
	is_int(page_cache_alloc_nowait(c, &p), -ENOMEM, "the nowait variant fails at the limit");
	pthread_create(&t, NULL, alloc_waiter, &w);
	usleep(100000);
	ok(!atomic_load(&w.done), "a waiting allocation sleeps at the limit");
	put_page(held[0]);
	pthread_join(t, NULL);
	is_int(w.err, 0, "it gets the page freed next");
	ok(w.page == held[0], "the same page");
	put_page(w.page);
	for (int i = 1; i < 16; i++)
		put_page(held[i]);
	destroy_cache(c, "alloc wait");
}

/* ---- limits and watermarks ---- */

static void test_limits(void)
{
	struct cache *c = make_cache(512, 256, false);
	struct cache_watermarks wm;
	struct testfile f;

	cache_get_watermarks(c, &wm);
	ok(wm.min == 4 && wm.low == 8 && wm.high == 12, "256 pages: min 4 low 8 high 12");
	is_u64(cache_get_limit(c), 256 * PAGE_SIZE, "cache_get_limit");
	is_int(cache_set_limit(c, 512 * PAGE_SIZE), 0, "raise to the pool size");
	cache_get_watermarks(c, &wm);
	ok(wm.min == 8 && wm.low == 16 && wm.high == 24, "512 pages: min 8 low 16 high 24");
	is_int(cache_set_limit(c, 513 * PAGE_SIZE), -EINVAL, "above the pool: -EINVAL");
	is_int(cache_set_limit(c, 8 * PAGE_SIZE), -EINVAL, "under 16 pages: -EINVAL");
	file_over_region(&f, c, REGION_RO);
	ok(read_pages_range(&f, 0, 200), "200 clean pages cached");
	is_int(cache_set_limit(c, 100 * PAGE_SIZE), 0, "lower the limit to 100 pages");
	ok(atomic_load(&c->nr_used) <= 100, "clean pages reclaimed at once (%lu in use)",
	   (unsigned long)atomic_load(&c->nr_used));
	is_u64(cache_stat(c, NR_FREE_PAGES), 100 - atomic_load(&c->nr_used), "NR_FREE_PAGES");
	testfile_destroy(&f);
	destroy_cache(c, "limits");
}

/* ---- the background reclaimer under a small limit ---- */

#define BG_LIMIT 256

static _Atomic bool sampling;
static _Atomic uint64_t max_used;

static void *sampler(void *arg)
{
	struct cache *c = arg;

	while (atomic_load(&sampling)) {
		struct cache_mem mi;

		cache_mem_info(c, &mi);
		if (mi.pages_in_use > atomic_load(&max_used))
			atomic_store(&max_used, mi.pages_in_use);
		usleep(50);
	}
	return NULL;
}

/* Below low the reclaimer is woken and works up to high; between the two it
 * sleeps. Either way free pages end at or above low. */
static bool wait_free_low(struct cache *c)
{
	struct cache_watermarks wm;

	cache_get_watermarks(c, &wm);
	for (int i = 0; i < 2000; i++) {
		if (cache_stat(c, NR_FREE_PAGES) >= wm.low)
			return true;
		usleep(1000);
	}
	return false;
}

static void test_background(void)
{
	struct cache *c = make_cache(512, BG_LIMIT, true);
	unsigned char *buf = malloc(64 * 1024), blk[PAGE_SIZE];
	struct file_ra_state ra;
	struct testfile f, w;
	pthread_t t;
	bool good = true;
	uint64_t bad = 0;

	file_over_region(&f, c, REGION_RO);
	atomic_store(&max_used, 0);
	atomic_store(&sampling, true);
	pthread_create(&t, NULL, sampler, c);
	file_ra_state_init(&ra, &f.mapping);
	for (uint64_t pos = 0; pos < FILE_BYTES; pos += 64 * 1024)
		good &= filemap_read(&f.mapping, &ra, buf, 64 * 1024, pos) == 64 * 1024 &&
			check_bytes(buf, pos, 64 * 1024);
	for (int i = 0; i < 2000; i++) {
		uint64_t pos = ((uint64_t)i * 2654435761u % FILE_PAGES) * PAGE_SIZE + 7;

		good &= filemap_read(&f.mapping, NULL, buf, 100, pos) == 100 &&
			check_bytes(buf, pos, 100);
	}
	ok(good, "16 MiB streamed and 2000 random reads under a 256-page limit: right bytes");
	if (!ok(wait_free_low(c), "the reclaimer keeps free pages at or above the low watermark"))
		diag("free %llu, in use %lu, inactive %lu, active %lu, isolated %ld, wake %d",
		     (unsigned long long)cache_stat(c, NR_FREE_PAGES),
		     (unsigned long)atomic_load(&c->nr_used), c->nr_inactive, c->nr_active,
		     (long)atomic_load(&c->nr_isolated), (int)c->reclaim_wake);

	/* writes: 8 MiB of dirty pages through 256 pages of cache */
	if (testfile_init(&w, c, dev, 12, REGION_WRITE * FILE_PAGES, 2048))
		BAIL("testfile_init");
	for (uint64_t pos = 0; pos < 2048 * PAGE_SIZE; pos += 64 * 1024) {
		for (int i = 0; i < 64 * 1024; i++)
			buf[i] = pattern(pos + i) ^ 0x5A;
		good &= filemap_write(&w.mapping, buf, 64 * 1024, pos) == 64 * 1024;
	}
	ok(good, "8 MiB written through the cache");
	ok(cache_stat(c, PGWRITE_RECLAIM) > 0, "the reclaimer wrote dirty pages (%llu)",
	   (unsigned long long)cache_stat(c, PGWRITE_RECLAIM));
	/* Reads alone may all be served by direct reclaim when the reader outruns
	 * the reclaimer; dirty pages can only be written by the reclaimer, so by
	 * now it has scanned and freed pages whatever the scheduling. */
	ok(cache_stat(c, PGSCAN_KSWAPD) > 0 && cache_stat(c, PGSTEAL_KSWAPD) > 0,
	   "the background reclaimer scanned and stole (%llu, %llu)",
	   (unsigned long long)cache_stat(c, PGSCAN_KSWAPD),
	   (unsigned long long)cache_stat(c, PGSTEAL_KSWAPD));
	is_int(filemap_write_and_wait(&w.mapping), 0, "write the rest back");
	atomic_store(&sampling, false);
	pthread_join(t, NULL);
	ok(atomic_load(&max_used) <= BG_LIMIT, "pages in use never above %d (max %llu)", BG_LIMIT,
	   (unsigned long long)atomic_load(&max_used));
	for (uint64_t b = 0; b < 2048; b++) {
		bdev_read(dev, (REGION_WRITE * FILE_PAGES + b) * PAGE_SIZE, blk, PAGE_SIZE);
		for (int i = 0; i < PAGE_SIZE; i++)
			bad += blk[i] != (pattern(b * PAGE_SIZE + i) ^ 0x5A);
	}
	is_u64(bad, 0, "the device holds every written byte");
	testfile_destroy(&w);
	testfile_destroy(&f);
	free(buf);
	destroy_cache(c, "background");
}

int main(void)
{
	device_setup();
	test_second_chance();
	test_refault_activate();
	test_shadow_bound();
	test_drop_clean();
	test_trim();
	test_tier();
	test_alloc_wait();
	test_limits();
	test_background();
	bdev_close(dev);
	rcu_barrier();
	is_int(xa_nodes_live(), 0, "no xarray node alive at the end");
	return done_testing();
}
