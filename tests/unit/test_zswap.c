/*
 * tests/unit/test_zswap.c - the compressed tier, through the cache.
 *
 * Checks (a RAM device, testfs files, the tier on, no background reclaimer
 * unless said):
 *  - parameters: every value the options take is accepted and read back,
 *    bad ones are refused;
 *  - round trips: pages of random bytes are rejected (reject_compress_poor;
 *    after 8 of a file in a row, most are not even tried:
 *    reject_compress_skipped) and come back from the device; the 2:1 pages
 *    evicted right after them are all compressed; zero pages,
 *    pages of one byte and pages of one repeated word are same-filled (no
 *    pool bytes); each kind reads back right without a device read, and
 *    loads are exclusive (stored_pages back to 0, the pool empty); the
 *    pool's pages count in the cache's pages in use (one budget);
 *  - lz4hc stores and loads too;
 *  - the pool limit: stores stop at zswap_max_pool_percent of the limit,
 *    pool_limit_hit counts, and after a hit the pool is under
 *    zswap_accept_threshold_percent of the maximum (with 100 it only just
 *    fits under the maximum);
 *  - the tier's LRU: lowering zswap_max_pool_percent drops the oldest
 *    stores first, so what is left is exactly the newest pages;
 *  - invalidation: truncate, punch (whole pages) and zero range (partial
 *    pages) drop exactly the copies of the range, which then reads as zeros
 *    while the rest comes back from the tier;
 *  - coherence traps: a whole-page write over a page held in the tier, then
 *    fsync and drop-caches, reads back the new bytes (the write's new page
 *    took the tier's copy); a 1 KiB write into a page held by the tier of a
 *    1 KiB-block file keeps the page's other bytes;
 *  - metadata: device-mapping pages (bread/getblk) go through the tier;
 *  - drop-caches and zswap=off empty the tier; stores are refused while off;
 *  - admission=workingset turns away pages used once, and takes pages that
 *    were active, used again after an eviction, or never used;
 *  - stress: four threads write (whole pages and 1 KiB pieces), read, punch
 *    and fsync the same 256 pages of a file through a 64-page cache with the
 *    background reclaimer storing into the tier (pool at most half the
 *    limit), one of them also drops caches and turns the tier off and on;
 *    every read returns the latest bytes. Once with 4 KiB and once with
 *    1 KiB blocks.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>

#include "backing/bdev.h"
#include "cache/cache.h"
#include "tests/lib/tap.h"
#include "tests/lib/testfs.h"

#define REGION_PAGES 4096
#define NR_REGIONS   16

#define MAX_U64(a, b) ((a) > (b) ? (a) : (b))

static struct bdev *dev;
static unsigned next_region;

enum kind { K_RANDOM, K_HALF, K_ZERO, K_BYTE, K_WORD, NR_KINDS };
static const char *const kind_name[NR_KINDS] = {"random", "2:1", "zero", "one-byte", "one-word"};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Random bytes from @seed. */
static void fill_random(unsigned char *buf, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = mix(seed + i);

		memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
	}
}

/* The content of page @index of kind @k, version @v. */
static void content(unsigned char *buf, enum kind k, uint64_t index, uint64_t v)
{
	uint64_t seed = index * 1000003 + v * 7919 + 1, word;

	switch (k) {
	case K_RANDOM:
		fill_random(buf, PAGE_SIZE, seed);
		break;
	case K_HALF:
		fill_random(buf, PAGE_SIZE / 2, seed);
		memset(buf + PAGE_SIZE / 2, 0, PAGE_SIZE / 2);
		break;
	case K_ZERO:
		memset(buf, 0, PAGE_SIZE);
		break;
	case K_BYTE:
		memset(buf, (int)(0x5a + index), PAGE_SIZE);
		break;
	case K_WORD:
		word = 0x0123456789abcdefULL + index;
		for (size_t i = 0; i < PAGE_SIZE; i += 8)
			memcpy(buf + i, &word, 8);
		break;
	default:
		break;
	}
}

static uint64_t dev_reads(void)
{
	struct bdev_stats st;

	bdev_get_stats(dev, &st);
	return st.reads;
}

static struct cache *make_cache(unsigned pool, unsigned limit, bool reclaimer)
{
	struct cache_config cfg = {
		.pool_bytes = (uint64_t)pool * PAGE_SIZE,
		.limit_bytes = (uint64_t)limit * PAGE_SIZE,
		.ra_max_pages = 32,
		.no_reclaimer = !reclaimer,
		.zswap = true,
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
	ok(mi.pages_in_use == 0 && mi.mappings == 0 && mi.xa_nodes == 0 &&
		   cache_stat(c, ZSWAP_STORED_PAGES) == 0 &&
		   cache_stat(c, ZSWAP_POOL_TOTAL_SIZE) == 0,
	   "%s: nothing left (pages %llu, mappings %llu, nodes %llu, tier %llu)", name,
	   (unsigned long long)mi.pages_in_use, (unsigned long long)mi.mappings,
	   (unsigned long long)mi.xa_nodes, (unsigned long long)cache_stat(c, ZSWAP_STORED_PAGES));
	cache_destroy(c);
}

/* A file of @pages pages (block size 1 << @bits) on a region of its own. */
static void file_init(struct testfile *f, struct cache *c, unsigned bits, uint64_t pages)
{
	uint64_t per_page = PAGE_SIZE >> bits;

	if (next_region == NR_REGIONS)
		BAIL("out of device regions");
	if (testfile_init(f, c, dev, bits, (uint64_t)next_region++ * REGION_PAGES * per_page,
			  pages * per_page))
		BAIL("testfile_init");
}

static bool write_page(struct testfile *f, uint64_t index, const unsigned char *buf)
{
	return filemap_write(&f->mapping, buf, PAGE_SIZE, index * PAGE_SIZE) == (ssize_t)PAGE_SIZE;
}

static bool read_page(struct testfile *f, uint64_t index, unsigned char *buf)
{
	return filemap_read(&f->mapping, NULL, buf, PAGE_SIZE, index * PAGE_SIZE) ==
	       (ssize_t)PAGE_SIZE;
}

static bool page_is(struct testfile *f, uint64_t index, enum kind k, uint64_t v)
{
	unsigned char want[PAGE_SIZE], got[PAGE_SIZE];

	content(want, k, index, v);
	return read_page(f, index, got) && !memcmp(want, got, PAGE_SIZE);
}

static bool page_zero(struct testfile *f, uint64_t index, unsigned from, unsigned to)
{
	unsigned char got[PAGE_SIZE];

	if (!read_page(f, index, got))
		return false;
	for (unsigned i = from; i < to; i++)
		if (got[i])
			return false;
	return true;
}

/* Write pages [first, first + n) of kind @k, version @v, write them back. */
static bool write_kind(struct testfile *f, uint64_t first, unsigned n, enum kind k, uint64_t v)
{
	unsigned char buf[PAGE_SIZE];
	bool good = true;

	for (uint64_t i = first; i < first + n; i++) {
		content(buf, k, i, v);
		good &= write_page(f, i, buf);
	}
	return good && filemap_write_and_wait(&f->mapping) == 0;
}

static uint64_t pool_pages(struct cache *c)
{
	return cache_stat(c, ZSWAP_POOL_TOTAL_SIZE) / PAGE_SIZE;
}

static void set(struct cache *c, enum zswap_param p, const char *v)
{
	if (cache_zswap_set(c, p, v))
		BAIL("cache_zswap_set %s=%s", cache_zswap_param_name(p), v);
}

/* ---- parameters ---- */

static void test_params(void)
{
	struct cache *c = make_cache(64, 64, false);
	static const struct {
		enum zswap_param p;
		const char *in, *out;
	} good[] = {
		{ZSWAP_ENABLED, "off", "off"},
		{ZSWAP_ENABLED, "on", "on"},
		{ZSWAP_ENABLED, "0", "off"},
		{ZSWAP_ENABLED, "Y", "on"},
		{ZSWAP_MAX_POOL_PERCENT, "50", "50"},
		{ZSWAP_MAX_POOL_PERCENT, "0", "0"},
		{ZSWAP_ACCEPT_THRESHOLD_PERCENT, "100", "100"},
		{ZSWAP_COMPRESSOR, "lz4hc", "lz4hc:9"},
		{ZSWAP_COMPRESSOR, "lz4hc:12", "lz4hc:12"},
		{ZSWAP_COMPRESSOR, "lz4", "lz4"},
		{ZSWAP_MAX_COMPRESSED_PERCENT, "60", "60"},
		{ZSWAP_ADMISSION, "workingset", "workingset"},
		{ZSWAP_ADMISSION, "all", "all"},
	};
	static const struct {
		enum zswap_param p;
		const char *in;
	} bad[] = {
		{ZSWAP_ENABLED, "maybe"},	{ZSWAP_MAX_POOL_PERCENT, "101"},
		{ZSWAP_MAX_POOL_PERCENT, "-1"}, {ZSWAP_MAX_POOL_PERCENT, "5%"},
		{ZSWAP_COMPRESSOR, "zstd"},	{ZSWAP_COMPRESSOR, "lz4hc:13"},
		{ZSWAP_COMPRESSOR, "lz4hc:"},	{ZSWAP_MAX_COMPRESSED_PERCENT, "0"},
		{ZSWAP_ADMISSION, "some"},	{ZSWAP_ACCEPT_THRESHOLD_PERCENT, ""},
	};
	bool all = true, none = true;
	char buf[64];

	cache_zswap_get(c, ZSWAP_ENABLED, buf, sizeof(buf));
	is_int(strcmp(buf, "on"), 0, "params: on (the test made it so)");
	cache_zswap_get(c, ZSWAP_MAX_POOL_PERCENT, buf, sizeof(buf));
	is_int(strcmp(buf, "20"), 0, "params: max_pool_percent 20 by default");
	cache_zswap_get(c, ZSWAP_ACCEPT_THRESHOLD_PERCENT, buf, sizeof(buf));
	is_int(strcmp(buf, "90"), 0, "params: accept_threshold_percent 90 by default");
	cache_zswap_get(c, ZSWAP_MAX_COMPRESSED_PERCENT, buf, sizeof(buf));
	is_int(strcmp(buf, "75"), 0, "params: max_compressed_percent 75 by default");
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		bool one = cache_zswap_check(good[i].p, good[i].in) == 0 &&
			   cache_zswap_set(c, good[i].p, good[i].in) == 0 &&
			   cache_zswap_get(c, good[i].p, buf, sizeof(buf)) == 0 &&
			   !strcmp(buf, good[i].out);

		if (!one)
			diag("%s=%s read back as %s", cache_zswap_param_name(good[i].p), good[i].in,
			     buf);
		all &= one;
	}
	ok(all, "params: every good value is taken and read back");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		none &= cache_zswap_check(bad[i].p, bad[i].in) == -EINVAL &&
			cache_zswap_set(c, bad[i].p, bad[i].in) == -EINVAL;
	ok(none, "params: bad values are refused");
	is_int(cache_zswap_param_lookup("zswap_max_pool_percent"), ZSWAP_MAX_POOL_PERCENT,
	       "params: lookup by name");
	is_int(cache_zswap_param_lookup("zswap_bogus"), -1, "params: unknown name");
	destroy_cache(c, "params");
}

/* ---- round trips ---- */

static void round_trips(const char *compressor)
{
	enum { N = 32 };
	struct cache *c = make_cache(1024, 1024, false);
	struct testfile f;
	uint64_t out0, in0, poor0, skip0, poor, skipped, reads;
	struct cache_zswap_info zi;
	struct cache_mem mi;
	bool right = true;

	set(c, ZSWAP_COMPRESSOR, compressor);
	set(c, ZSWAP_MAX_POOL_PERCENT, "100");
	file_init(&f, c, 12, NR_KINDS * N);
	for (int k = 0; k < NR_KINDS; k++)
		right &= write_kind(&f, (uint64_t)k * N, N, k, 1);
	ok(right, "%s: %d pages of each kind written back", compressor, N);
	out0 = cache_stat(c, ZSWPOUT);
	poor0 = cache_stat(c, ZSWAP_REJECT_COMPRESS_POOR);
	skip0 = cache_stat(c, ZSWAP_REJECT_COMPRESS_SKIPPED);
	is_int(cache_reclaim(c, NR_KINDS * N), NR_KINDS * N, "%s: every page evicted", compressor);
	is_u64(cache_stat(c, ZSWPOUT) - out0, (NR_KINDS - 1) * N,
	       "%s: zswpout: every page but the random ones", compressor);
	poor = cache_stat(c, ZSWAP_REJECT_COMPRESS_POOR) - poor0;
	skipped = cache_stat(c, ZSWAP_REJECT_COMPRESS_SKIPPED) - skip0;
	is_u64(poor + skipped, N,
	       "%s: reject_compress_poor + reject_compress_skipped: the random "
	       "pages (%" PRIu64 " + %" PRIu64 ")",
	       compressor, poor, skipped);
	ok(poor >= 8 && skipped >= N / 2,
	   "%s: after 8 in a row, random-looking pages of the file are mostly not tried",
	   compressor);
	is_u64(cache_stat(c, ZSWAP_STORED_PAGES), (NR_KINDS - 1) * N, "%s: stored_pages",
	       compressor);
	is_u64(cache_stat(c, ZSWAP_SAME_FILLED_PAGES), 3 * N,
	       "%s: same_filled_pages: the zero, one-byte and one-word pages", compressor);
	cache_zswap_info(c, &zi);
	ok(zi.compressed_bytes > N * PAGE_SIZE / 2 && zi.compressed_bytes < N * PAGE_SIZE * 6 / 10,
	   "%s: the 2:1 pages take about half a page each (%" PRIu64 " bytes)", compressor,
	   zi.compressed_bytes);
	cache_mem_info(c, &mi);
	is_u64(mi.pages_in_use, cache_stat(c, NR_FILE_PAGES) + pool_pages(c),
	       "%s: pages in use = cached pages + pool pages (%" PRIu64 ")", compressor,
	       pool_pages(c));
	in0 = cache_stat(c, ZSWPIN);
	reads = dev_reads();
	for (int k = 0; k < NR_KINDS; k++) {
		bool kind_right = true;

		for (uint64_t i = (uint64_t)k * N; i < (uint64_t)(k + 1) * N; i++)
			kind_right &= page_is(&f, i, k, 1);
		ok(kind_right, "%s: %s pages read back right", compressor, kind_name[k]);
	}
	is_u64(cache_stat(c, ZSWPIN) - in0, (NR_KINDS - 1) * N, "%s: zswpin", compressor);
	is_u64(dev_reads() - reads, N, "%s: only the random pages were read from the device",
	       compressor);
	is_u64(cache_stat(c, ZSWAP_STORED_PAGES), 0, "%s: loads are exclusive: nothing stored",
	       compressor);
	is_u64(pool_pages(c), 0, "%s: and the pool is empty", compressor);
	testfile_destroy(&f);
	destroy_cache(c, compressor);
}

/* ---- the pool limit and the LRU ---- */

/* Evict pages one batch at a time; the largest pool seen. */
static uint64_t evict_all(struct cache *c, unsigned n)
{
	uint64_t most = 0;

	for (unsigned done = 0; done < n; done += 8) {
		cache_reclaim(c, 8);
		most = MAX_U64(most, pool_pages(c));
	}
	return most;
}

static void test_pool_limit(void)
{
	enum { N = 1024 };
	struct cache *c = make_cache(2048, 2048, false);
	struct cache_zswap_info zi;
	uint64_t most, hits;
	struct testfile f;

	file_init(&f, c, 12, N);
	set(c, ZSWAP_MAX_POOL_PERCENT, "10"); /* 204 pages */
	set(c, ZSWAP_ACCEPT_THRESHOLD_PERCENT, "50");
	ok(write_kind(&f, 0, N, K_HALF, 1), "limit: %d pages of 2:1 data written back", N);
	most = evict_all(c, N);
	cache_zswap_info(c, &zi);
	hits = cache_stat(c, ZSWAP_POOL_LIMIT_HIT);
	ok(most <= zi.max_pool_pages + 8,
	   "limit: the pool stays at the maximum (%" PRIu64 " pages at most, maximum %" PRIu64 ")",
	   most, zi.max_pool_pages);
	ok(hits > 0, "limit: pool_limit_hit counts (%" PRIu64 ")", hits);
	ok(cache_stat(c, ZSWAP_LRU_DROPPED) > 0,
	   "limit: the oldest copies were dropped (%" PRIu64 ")", cache_stat(c, ZSWAP_LRU_DROPPED));
	ok(pool_pages(c) < zi.max_pool_pages, "limit: under the maximum after the last hit");

	/* the hysteresis: right after a hit the pool is under half the maximum */
	cache_drop_clean(c);
	set(c, ZSWAP_MAX_POOL_PERCENT, "10");
	ok(write_kind(&f, 0, N, K_HALF, 2), "hysteresis: rewritten");
	{
		uint64_t before = cache_stat(c, ZSWAP_POOL_LIMIT_HIT), after_hit = 0;
		bool seen = false;

		for (unsigned done = 0; done < N && !seen; done++) {
			cache_reclaim(c, 1);
			if (cache_stat(c, ZSWAP_POOL_LIMIT_HIT) > before) {
				seen = true;
				after_hit = pool_pages(c);
			}
		}
		ok(seen && after_hit < zi.max_pool_pages / 2,
		   "hysteresis: at a hit the pool fell under 50%% of the maximum (%" PRIu64
		   " < %" PRIu64 ")",
		   after_hit, zi.max_pool_pages / 2);
	}
	cache_drop_clean(c);
	set(c, ZSWAP_ACCEPT_THRESHOLD_PERCENT, "100");
	ok(write_kind(&f, 0, N, K_HALF, 3), "no hysteresis: rewritten");
	{
		uint64_t before = cache_stat(c, ZSWAP_POOL_LIMIT_HIT), after_hit = 0;
		bool seen = false;

		for (unsigned done = 0; done < N && !seen; done++) {
			cache_reclaim(c, 1);
			if (cache_stat(c, ZSWAP_POOL_LIMIT_HIT) > before) {
				seen = true;
				after_hit = pool_pages(c);
			}
		}
		ok(seen && after_hit >= zi.max_pool_pages * 3 / 4 && after_hit < zi.max_pool_pages,
		   "accept 100%%: at a hit the pool only just fell under the maximum (%" PRIu64
		   " of %" PRIu64 ")",
		   after_hit, zi.max_pool_pages);
	}
	testfile_destroy(&f);
	destroy_cache(c, "limit");
}

static void test_lru_order(void)
{
	enum { N = 256 };
	struct cache *c = make_cache(2048, 2048, false);
	struct testfile f;
	uint64_t stored, dropped0, reads;
	unsigned first_kept = N, tier_hits = 0;
	bool suffix = true;

	file_init(&f, c, 12, N);
	set(c, ZSWAP_MAX_POOL_PERCENT, "100");
	ok(write_kind(&f, 0, N, K_HALF, 1), "lru: %d pages written back", N);
	/* evict in index order: one page at a time from the inactive tail */
	for (unsigned i = 0; i < N; i++)
		cache_reclaim(c, 1);
	stored = cache_stat(c, ZSWAP_STORED_PAGES);
	is_u64(stored, N, "lru: all stored");
	dropped0 = cache_stat(c, ZSWAP_LRU_DROPPED);
	set(c, ZSWAP_MAX_POOL_PERCENT, "3"); /* 61 pages: about half of them go */
	stored = cache_stat(c, ZSWAP_STORED_PAGES);
	ok(stored < N && stored > 0, "lru: a lower maximum dropped some (%" PRIu64 " left)",
	   stored);
	is_u64(cache_stat(c, ZSWAP_LRU_DROPPED) - dropped0, N - stored,
	       "lru: lru_dropped_pages counts them");
	for (unsigned i = 0; i < N; i++) {
		reads = dev_reads();
		if (!page_is(&f, i, K_HALF, 1))
			suffix = false;
		if (dev_reads() == reads) {
			tier_hits++;
			if (first_kept == N)
				first_kept = i;
		} else if (first_kept != N) {
			suffix = false; /* an older page kept after a newer one went */
		}
	}
	ok(suffix, "lru: the pages kept are exactly the newest (from page %u on)", first_kept);
	is_u64(tier_hits, stored, "lru: every one kept came from the tier");
	testfile_destroy(&f);
	destroy_cache(c, "lru");
}

/* ---- invalidation and coherence ---- */

static void test_invalidate(void)
{
	enum { N = 32 };
	struct cache *c = make_cache(512, 512, false);
	unsigned char buf[PAGE_SIZE];
	struct testfile f;
	bool right = true;

	file_init(&f, c, 12, N);
	set(c, ZSWAP_MAX_POOL_PERCENT, "100");
	ok(write_kind(&f, 0, N, K_HALF, 1), "inval: %d pages written back", N);
	cache_reclaim(c, N);
	is_u64(cache_stat(c, ZSWAP_STORED_PAGES), N, "inval: all in the tier");

	/* punch pages 8..15 as a filesystem does */
	filemap_invalidate_lock(&f.mapping);
	truncate_inode_pages_range(&f.mapping, 8 * PAGE_SIZE, 16 * PAGE_SIZE - 1);
	testfs_punch(&f, 8 * PAGE_SIZE, 8 * PAGE_SIZE);
	filemap_invalidate_unlock(&f.mapping);
	is_u64(cache_stat(c, ZSWAP_STORED_PAGES), N - 8, "punch: 8 copies dropped");
	for (uint64_t i = 8; i < 16; i++)
		right &= page_zero(&f, i, 0, PAGE_SIZE);
	ok(right, "punch: the hole reads as zeros, nothing stale from the tier");

	/* zero range over the middle of pages 20..22, as a filesystem punches
	 * (the whole blocks inside are freed): edge copies dropped too */
	filemap_invalidate_lock(&f.mapping);
	is_int(__filemap_zero_range(&f.mapping, 20 * PAGE_SIZE + 100, 2 * PAGE_SIZE), 0,
	       "zero range: 20+100 .. 22+100");
	testfs_punch(&f, 20 * PAGE_SIZE + 100, 2 * PAGE_SIZE);
	filemap_invalidate_unlock(&f.mapping);
	right = page_zero(&f, 20, 100, PAGE_SIZE) && page_zero(&f, 21, 0, PAGE_SIZE) &&
		page_zero(&f, 22, 0, 100);
	ok(right, "zero range: the range reads as zeros");
	content(buf, K_HALF, 20, 1);
	{
		unsigned char got[PAGE_SIZE];

		ok(read_page(&f, 20, got) && !memcmp(got, buf, 100),
		   "zero range: page 20 keeps its first 100 bytes");
		content(buf, K_HALF, 22, 1);
		ok(read_page(&f, 22, got) && !memcmp(got + 100, buf + 100, PAGE_SIZE - 100),
		   "zero range: page 22 keeps its bytes after 100");
	}

	/* truncate to 28 pages + 10 bytes: copies of 28..31 go */
	is_int(testfs_truncate(&f, 28 * PAGE_SIZE + 10), 0, "truncate to 28 pages + 10 bytes");
	is_int(testfs_truncate(&f, N * PAGE_SIZE), 0, "and back to 32 pages");
	right = page_zero(&f, 28, 10, PAGE_SIZE);
	for (uint64_t i = 29; i < N; i++)
		right &= page_zero(&f, i, 0, PAGE_SIZE);
	ok(right, "truncate: nothing stale came back past the old end");
	right = true;
	for (uint64_t i = 0; i < 8; i++)
		right &= page_is(&f, i, K_HALF, 1);
	for (uint64_t i = 16; i < 20; i++)
		right &= page_is(&f, i, K_HALF, 1);
	for (uint64_t i = 23; i < 28; i++)
		right &= page_is(&f, i, K_HALF, 1);
	ok(right, "the pages outside every range read back right");
	is_u64(cache_stat(c, ZSWAP_STORED_PAGES), 0, "and they came from the tier");
	filemap_write_and_wait(&f.mapping);
	testfile_destroy(&f);
	destroy_cache(c, "invalidate");
}

static void test_coherence(void)
{
	struct cache *c = make_cache(512, 512, false);
	unsigned char buf[PAGE_SIZE], got[PAGE_SIZE], want[PAGE_SIZE];
	struct testfile f, g;
	uint64_t in0;

	set(c, ZSWAP_MAX_POOL_PERCENT, "100");
	file_init(&f, c, 12, 8);
	ok(write_kind(&f, 0, 8, K_HALF, 1), "trap: 8 pages written back");
	cache_reclaim(c, 8);
	is_u64(cache_stat(c, ZSWAP_STORED_PAGES), 8, "trap: in the tier");
	in0 = cache_stat(c, ZSWPIN);
	content(buf, K_HALF, 3, 2);
	ok(write_page(&f, 3, buf), "trap: a whole-page write over page 3 (no read)");
	is_u64(cache_stat(c, ZSWPIN) - in0, 1, "trap: its new page took the tier's copy");
	is_int(filemap_write_and_wait(&f.mapping), 0, "trap: fsync");
	cache_drop_clean(c);
	ok(page_is(&f, 3, K_HALF, 2), "trap: after drop-caches page 3 reads the new bytes");

	/* 1 KiB blocks: a 1 KiB write into a page the tier holds */
	file_init(&g, c, 10, 8);
	ok(write_kind(&g, 0, 8, K_HALF, 1), "1k: 8 pages written back");
	cache_reclaim(c, 16);
	ok(cache_stat(c, ZSWAP_STORED_PAGES) >= 8,
	   "1k: in the tier (%" PRIu64 ", %" PRIu64 " cached)", cache_stat(c, ZSWAP_STORED_PAGES),
	   cache_stat(c, NR_FILE_PAGES));
	memset(buf, 0xee, 1024);
	ok(filemap_write(&g.mapping, buf, 1024, 5 * PAGE_SIZE + 2048) == 1024,
	   "1k: a 1 KiB write at 2 KiB into page 5");
	is_int(filemap_write_and_wait(&g.mapping), 0, "1k: fsync");
	cache_drop_clean(c);
	content(want, K_HALF, 5, 1);
	memset(want + 2048, 0xee, 1024);
	ok(read_page(&g, 5, got) && !memcmp(got, want, PAGE_SIZE),
	   "1k: page 5 holds the write and its other bytes");
	testfile_destroy(&f);
	testfile_destroy(&g);
	destroy_cache(c, "coherence");
}

/* ---- metadata ---- */

static void test_metadata(void)
{
	struct cache *c = make_cache(512, 512, false);
	struct address_space meta;
	struct buffer_head *bh;
	uint64_t base = (uint64_t)next_region++ * REGION_PAGES * 4; /* 1 KiB blocks */
	uint64_t in0, reads;
	bool right = true;
	int err;

	set(c, ZSWAP_MAX_POOL_PERCENT, "100");
	if (mapping_init_bdev(&meta, c, dev, 10))
		BAIL("mapping_init_bdev");
	for (uint64_t b = 0; b < 64; b++) {
		bh = getblk(&meta, base + b, &err);
		if (!bh)
			BAIL("getblk");
		lock_buffer(bh);
		memset(bh->b_data, (int)b, 512);
		memset(bh->b_data + 512, 0, 512);
		set_buffer_uptodate(bh);
		mark_buffer_dirty(bh);
		unlock_buffer(bh);
		brelse(bh);
	}
	is_int(filemap_write_and_wait(&meta), 0, "meta: 64 blocks written");
	cache_reclaim(c, 16);
	is_u64(cache_stat(c, ZSWAP_STORED_PAGES), 16, "meta: their 16 pages went to the tier");
	in0 = cache_stat(c, ZSWPIN);
	reads = dev_reads();
	for (uint64_t b = 0; b < 64; b++) {
		bh = bread(&meta, base + b, &err);
		if (!bh)
			BAIL("bread");
		right &= (unsigned char)bh->b_data[0] == (unsigned char)b && bh->b_data[600] == 0;
		brelse(bh);
	}
	ok(right, "meta: bread reads every block back right");
	is_u64(cache_stat(c, ZSWPIN) - in0, 16, "meta: from the tier");
	is_u64(dev_reads() - reads, 0, "meta: no device read");
	mapping_destroy(&meta);
	destroy_cache(c, "metadata");
}

/* ---- emptying, off, admission ---- */

static void test_empty_and_off(void)
{
	struct cache *c = make_cache(512, 512, false);
	struct testfile f;
	uint64_t out0;

	set(c, ZSWAP_MAX_POOL_PERCENT, "100");
	file_init(&f, c, 12, 64);
	ok(write_kind(&f, 0, 64, K_HALF, 1), "empty: 64 pages written back");
	cache_reclaim(c, 64);
	is_u64(cache_stat(c, ZSWAP_STORED_PAGES), 64, "empty: in the tier");
	cache_drop_clean(c);
	is_u64(cache_stat(c, ZSWAP_STORED_PAGES), 0, "drop-caches empties the tier");
	is_u64(pool_pages(c), 0, "and its pool");

	ok(read_page(&f, 0, (unsigned char[PAGE_SIZE]){0}), "off: read the pages again");
	for (uint64_t i = 1; i < 64; i++)
		page_is(&f, i, K_HALF, 1);
	cache_reclaim(c, 32);
	is_u64(cache_stat(c, ZSWAP_STORED_PAGES), 32, "off: 32 in the tier");
	set(c, ZSWAP_ENABLED, "off");
	is_u64(cache_stat(c, ZSWAP_STORED_PAGES), 0, "off: turning it off empties it");
	is_u64(pool_pages(c), 0, "off: and its pool");
	out0 = cache_stat(c, ZSWPOUT);
	cache_reclaim(c, 32);
	is_u64(cache_stat(c, ZSWPOUT) - out0, 0, "off: no store while off");
	set(c, ZSWAP_ENABLED, "on");
	for (uint64_t i = 0; i < 64; i++)
		page_is(&f, i, K_HALF, 1);
	cache_reclaim(c, 64);
	is_u64(cache_stat(c, ZSWPOUT) - out0, 64, "on again: stores again");

	testfile_destroy(&f);
	destroy_cache(c, "empty");
}

/* admission=workingset: pages used once are turned away; pages that were
 * active, that were used again after an eviction, or never used, are taken. */
static void test_admission(void)
{
	struct cache *c = make_cache(512, 512, false);
	uint64_t rej0, out0;
	struct testfile f;

	set(c, ZSWAP_MAX_POOL_PERCENT, "100");
	set(c, ZSWAP_ADMISSION, "workingset");
	file_init(&f, c, 12, 64);
	ok(write_kind(&f, 0, 64, K_HALF, 1), "admission: 64 pages written back, never read");
	out0 = cache_stat(c, ZSWPOUT);
	cache_reclaim(c, 64);
	is_u64(cache_stat(c, ZSWPOUT) - out0, 64, "admission: pages never used are taken");
	for (uint64_t i = 0; i < 64; i++) /* from the tier: no reuse, they were never used */
		page_is(&f, i, K_HALF, 1);
	for (uint64_t i = 0; i < 8; i++) /* used twice: promoted at the next scan */
		page_is(&f, i, K_HALF, 1);
	rej0 = cache_stat(c, ZSWAP_REJECT_ADMISSION);
	out0 = cache_stat(c, ZSWPOUT);
	cache_reclaim(c, 56);
	is_u64(cache_stat(c, ZSWAP_REJECT_ADMISSION) - rej0, 56,
	       "admission: the 56 pages used once are turned away");
	is_u64(cache_stat(c, ZSWPOUT) - out0, 0, "admission: none stored");
	for (uint64_t i = 8; i < 64; i++) /* used again after their eviction */
		page_is(&f, i, K_HALF, 1);
	cache_reclaim(c, 56);
	is_u64(cache_stat(c, ZSWPOUT) - out0, 56,
	       "admission: used again after an eviction, the 56 pages are taken");
	out0 = cache_stat(c, ZSWPOUT);
	cache_reclaim(c, 64);
	is_u64(cache_stat(c, ZSWPOUT) - out0, 8, "admission: and so are the 8 that were active");
	testfile_destroy(&f);
	destroy_cache(c, "admission");
}

/* ---- stress ---- */

#define S_PAGES	  256
#define S_PARTS	  4 /* a page in 1 KiB parts */
#define S_THREADS 4

/* The model: per page, a version per 1 KiB part (0: zeros), under lock. */
struct s_page {
	pthread_rwlock_t lock;
	uint32_t v[S_PARTS];
};

struct stress {
	struct cache *c;
	struct testfile f;
	struct s_page pages[S_PAGES];
	_Atomic uint32_t next_version;
	_Atomic bool stop;
	_Atomic long reads, writes, punches, bad;
};

static void part_content(unsigned char *buf, uint64_t index, unsigned part, uint32_t v)
{
	if (!v) {
		memset(buf, 0, 1024);
		return;
	}
	if (v % 5 == 0) { /* sometimes same-filled */
		memset(buf, (int)(v & 0xff) | 1, 1024);
		return;
	}
	fill_random(buf, 512, index * 131 + part * 17 + (uint64_t)v * 100003);
	memset(buf + 512, (int)(v & 0xff), 512);
}

static void s_read(struct stress *s, unsigned i)
{
	unsigned char got[PAGE_SIZE], want[1024];
	struct s_page *p = &s->pages[i];
	bool good;

	pthread_rwlock_rdlock(&p->lock);
	good = read_page(&s->f, i, got);
	for (unsigned q = 0; q < S_PARTS && good; q++) {
		part_content(want, i, q, p->v[q]);
		good = !memcmp(got + q * 1024, want, 1024);
	}
	pthread_rwlock_unlock(&p->lock);
	if (!good && atomic_fetch_add(&s->bad, 1) < 5)
		diag("stress: page %u read wrong", i);
	atomic_fetch_add(&s->reads, 1);
}

static void s_write(struct stress *s, unsigned i, unsigned r)
{
	unsigned char buf[PAGE_SIZE];
	struct s_page *p = &s->pages[i];
	bool whole = r & 1;
	unsigned q0 = whole ? 0 : (r >> 1) % S_PARTS, nq = whole ? S_PARTS : 1;
	uint32_t v = atomic_fetch_add(&s->next_version, 1);

	pthread_rwlock_wrlock(&p->lock);
	for (unsigned q = q0; q < q0 + nq; q++)
		part_content(buf + (q - q0) * 1024, i, q, v);
	if (filemap_write(&s->f.mapping, buf, nq * 1024, (uint64_t)i * PAGE_SIZE + q0 * 1024) ==
	    (ssize_t)(nq * 1024)) {
		for (unsigned q = q0; q < q0 + nq; q++)
			p->v[q] = v;
	} else {
		atomic_fetch_add(&s->bad, 1);
	}
	pthread_rwlock_unlock(&p->lock);
	atomic_fetch_add(&s->writes, 1);
}

static void s_punch(struct stress *s, unsigned i, unsigned n)
{
	if (i + n > S_PAGES)
		n = S_PAGES - i;
	for (unsigned k = i; k < i + n; k++)
		pthread_rwlock_wrlock(&s->pages[k].lock);
	filemap_invalidate_lock(&s->f.mapping);
	truncate_inode_pages_range(&s->f.mapping, (uint64_t)i * PAGE_SIZE,
				   (uint64_t)(i + n) * PAGE_SIZE - 1);
	testfs_punch(&s->f, (uint64_t)i * PAGE_SIZE, (uint64_t)n * PAGE_SIZE);
	filemap_invalidate_unlock(&s->f.mapping);
	for (unsigned k = i; k < i + n; k++) {
		memset(s->pages[k].v, 0, sizeof(s->pages[k].v));
		pthread_rwlock_unlock(&s->pages[k].lock);
	}
	atomic_fetch_add(&s->punches, 1);
}

struct s_worker {
	struct stress *s;
	unsigned seed, id;
	pthread_t th;
};

static void *s_main(void *arg)
{
	struct s_worker *w = arg;
	struct stress *s = w->s;

	while (!atomic_load(&s->stop)) {
		unsigned r = (unsigned)rand_r(&w->seed), i = r % S_PAGES, op = (r >> 8) % 100;

		if (op < 55)
			s_read(s, i);
		else if (op < 88)
			s_write(s, i, r >> 16);
		else if (op < 93)
			s_punch(s, i, 1 + (r >> 16) % 4);
		else if (op < 99)
			filemap_write_and_wait(&s->f.mapping);
		else if (w->id == 0 && (r >> 16) % 8 == 0)
			cache_drop_clean(s->c);
		else if (w->id == 0 && (r >> 16) % 8 == 1)
			cache_zswap_set(s->c, ZSWAP_ENABLED, (r >> 19) & 1 ? "on" : "off");
	}
	return NULL;
}

static void stress(unsigned bits, unsigned seconds)
{
	struct stress *s = calloc(1, sizeof(*s));
	struct s_worker w[S_THREADS];
	bool right = true;
	uint64_t out0, in0;

	s->c = make_cache(128, 64, true);
	set(s->c, ZSWAP_MAX_POOL_PERCENT, "50");
	file_init(&s->f, s->c, bits, S_PAGES);
	if (filemap_truncate(&s->f.mapping, (uint64_t)S_PAGES * PAGE_SIZE))
		BAIL("filemap_truncate");
	atomic_store(&s->next_version, 1);
	for (unsigned i = 0; i < S_PAGES; i++)
		pthread_rwlock_init(&s->pages[i].lock, NULL);
	out0 = cache_stat(s->c, ZSWPOUT);
	in0 = cache_stat(s->c, ZSWPIN);
	for (unsigned t = 0; t < S_THREADS; t++) {
		w[t] = (struct s_worker){.s = s, .seed = 1000 * bits + t, .id = t};
		pthread_create(&w[t].th, NULL, s_main, &w[t]);
	}
	sleep(seconds);
	atomic_store(&s->stop, true);
	for (unsigned t = 0; t < S_THREADS; t++)
		pthread_join(w[t].th, NULL);
	cache_zswap_set(s->c, ZSWAP_ENABLED, "on");
	/* a last pass over every page, then once more from the device */
	for (unsigned i = 0; i < S_PAGES; i++)
		s_read(s, i);
	filemap_write_and_wait(&s->f.mapping);
	cache_drop_clean(s->c);
	for (unsigned i = 0; i < S_PAGES; i++)
		s_read(s, i);
	right = atomic_load(&s->bad) == 0;
	diag("stress %u: %ld reads, %ld writes, %ld punches; zswpout %" PRIu64 ", zswpin %" PRIu64
	     ", lru dropped %" PRIu64,
	     1U << bits, atomic_load(&s->reads), atomic_load(&s->writes), atomic_load(&s->punches),
	     cache_stat(s->c, ZSWPOUT) - out0, cache_stat(s->c, ZSWPIN) - in0,
	     cache_stat(s->c, ZSWAP_LRU_DROPPED));
	ok(right, "stress %u-byte blocks: every read returned the latest bytes (%ld wrong)",
	   1U << bits, atomic_load(&s->bad));
	ok(cache_stat(s->c, ZSWPOUT) - out0 > 100 && cache_stat(s->c, ZSWPIN) - in0 > 100,
	   "stress %u-byte blocks: the tier stored and loaded all along", 1U << bits);
	testfile_destroy(&s->f);
	for (unsigned i = 0; i < S_PAGES; i++)
		pthread_rwlock_destroy(&s->pages[i].lock);
	destroy_cache(s->c, "stress");
	free(s);
}

int main(void)
{
	unsigned seconds =
		getenv("ZSWAP_STRESS_SECONDS") ? atoi(getenv("ZSWAP_STRESS_SECONDS")) : 3;

	rcu_register_thread();
	if (bdev_mem_create((uint64_t)NR_REGIONS * REGION_PAGES * PAGE_SIZE, 512, &dev))
		BAIL("bdev_mem_create");
	test_params();
	round_trips("lz4");
	round_trips("lz4hc");
	test_pool_limit();
	test_lru_order();
	test_invalidate();
	test_coherence();
	test_metadata();
	test_empty_and_off();
	test_admission();
	stress(12, seconds);
	stress(10, seconds);
	bdev_close(dev);
	rcu_unregister_thread();
	return done_testing();
}
