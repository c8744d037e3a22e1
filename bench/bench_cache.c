/*
 * bench/bench_cache.c - page cache microbenchmark (not a test).
 *
 * Measures, on a RAM device and a warm, fully cached testfs file:
 *  - cached-page lookup: find_get_page() + put_page(), sequential and random
 *    indices, on one thread and on two threads at once;
 *  - insert and erase rates: find_or_create_page() into an empty mapping,
 *    removal by truncate_inode_pages() and page by page with
 *    delete_from_page_cache();
 *  - filemap_read() of 4 KiB that hits the cache;
 *  - metadata bytes per cached 4 KiB page from cache_mem_info() (struct page,
 *    xarray nodes, buffer heads) for block sizes 4096 and 1024;
 *  - the compressed tier, for pages that compress 2:1 (half random bytes,
 *    half zeros, as fio's buffer_compress_percentage=50 writes them),
 *    same-filled pages and random (incompressible) pages: eviction with a
 *    store per page (reclaim with the tier on, and off for comparison), a
 *    tier hit per page (filemap_read of an evicted page: allocation,
 *    insertion, decompression, copy), on one thread and on two threads at
 *    once (each its own file), and the pool's bytes per compressed byte.
 * Every figure is the best of REPS repetitions (the fastest is the one least
 * disturbed by other load on the machine).
 * Prints one table and whether the goals (lookup under 50 ns on one thread,
 * metadata under 2% of the cached bytes, a tier hit under 2 us on 2:1 data,
 * the pool under 1.15 bytes per compressed byte on 2:1 data) were met. Timing only: the exit
 * status says whether the benchmark ran, not whether a goal was met.
 *
 * Usage: bench_cache [-p pages] [-i lookups] [-t]   (pages: a power of two;
 * -t: the compressed tier's figures only)
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>

#include "backing/bdev.h"
#include "cache/cache.h"
#include "tests/lib/cachefix.h"
#include "tests/lib/clock.h"

#define GOAL_LOOKUP_NS	 50.0
#define GOAL_META_PCT	 2.0
#define GOAL_TIER_HIT_NS 2000.0
#define GOAL_POOL_RATIO	 1.15
#define REPS		 5

static uint64_t npages = 8192;		   /* pages in the warm file (power of two) */
static uint64_t niters = 20 * 1000 * 1000; /* lookups per figure, over all REPS */

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_cache: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static void row(const char *what, double v, const char *unit, const char *note)
{
	printf("%-46s %12.1f  %-12s %s\n", what, v, unit, note ? note : "");
}

/* A device, a cache big enough for everything, one file of @file_pages pages. */
static void world_init(struct fx *w, unsigned bits, uint64_t file_pages, uint64_t pool_pages)
{
	struct fx_params p = {
		.dev_bytes = 2 * file_pages * PAGE_SIZE,
		.cache = {.pool_bytes = pool_pages * PAGE_SIZE},
		.nfiles = 1,
		.blkbits = bits,
		.file_bytes = file_pages * PAGE_SIZE,
	};

	fx_setup(w, &p);
}

static void world_fini(struct fx *w)
{
	fx_put_files(w);
	fx_destroy(w);
	rcu_barrier(); /* xarray nodes are counted process-wide until freed */
}

/* Write the whole file and write it back: every page cached and clean. */
static void world_fill(struct fx *w, uint64_t file_pages)
{
	static unsigned char buf[1 << 20];
	uint64_t bytes = file_pages * PAGE_SIZE;
	ssize_t n;
	int err;

	memset(buf, 0x5a, sizeof(buf));
	for (uint64_t pos = 0; pos < bytes; pos += sizeof(buf)) {
		size_t len = bytes - pos < sizeof(buf) ? (size_t)(bytes - pos) : sizeof(buf);

		n = filemap_write(&w->f[0].mapping, buf, len, pos);
		if (n != (ssize_t)len)
			die("filemap_write", n < 0 ? (int)n : EIO);
	}
	err = filemap_write_and_wait(&w->f[0].mapping);
	if (err)
		die("filemap_write_and_wait", err);
	if (w->f[0].mapping.nrpages != file_pages)
		die("the file is not fully cached (pool too small?)", ENOMEM);
}

/* ---- lookups ---- */

/* ns per find_get_page + put_page; random order when @seed is non-zero. */
static double lookup_loop(struct address_space *m, uint64_t iters, uint64_t seed)
{
	uint64_t mask = npages - 1, idx = seed & mask;
	struct page *page;
	double t0 = now_ns();

	for (uint64_t i = 0; i < iters; i++) {
		page = find_get_page(m, idx);
		if (!page)
			die("find_get_page missed a cached page", ENOENT);
		put_page(page);
		idx = seed ? (idx * 6364136223846793005ULL + 1442695040888963407ULL) & mask
			   : (idx + 1) & mask;
	}
	return (now_ns() - t0) / iters;
}

/* Best of REPS runs of lookup_loop(). */
static double lookup_best(struct address_space *m, uint64_t seed)
{
	double best = 1e30, ns;

	for (int r = 0; r < REPS; r++) {
		ns = lookup_loop(m, niters / REPS, seed);
		best = ns < best ? ns : best;
	}
	return best;
}

struct lookup_arg {
	struct address_space *m;
	pthread_barrier_t *start;
	uint64_t seed;
	double ns; /* best repetition */
};

static void *lookup_thread(void *p)
{
	struct lookup_arg *a = p;
	double ns;

	lookup_loop(a->m, niters / 10, a->seed); /* warm this thread (RCU registration) */
	a->ns = 1e30;
	for (int r = 0; r < REPS; r++) {
		pthread_barrier_wait(a->start); /* both threads run each repetition together */
		ns = lookup_loop(a->m, niters / REPS, a->seed);
		a->ns = ns < a->ns ? ns : a->ns;
	}
	return NULL;
}

/* Two threads looking up at once (random: each its own random order;
 * else both walk the pages in order); returns the mean ns per lookup per thread. */
static double lookup_two_threads(struct address_space *m, bool random)
{
	struct lookup_arg a[2];
	pthread_barrier_t start;
	pthread_t t[2];

	pthread_barrier_init(&start, NULL, 2);
	for (int i = 0; i < 2; i++) {
		a[i] = (struct lookup_arg){.m = m, .start = &start, .seed = random ? 7 + i : 0};
		if (pthread_create(&t[i], NULL, lookup_thread, &a[i]))
			die("pthread_create", EAGAIN);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	return (a[0].ns + a[1].ns) / 2;
}

static double bench_lookups(struct fx *w)
{
	struct address_space *m = &w->f[0].mapping;
	double one, seq, two;
	char note[64];

	lookup_loop(m, niters / 10, 3); /* warm up */
	seq = lookup_best(m, 0);
	row("lookup (find_get_page+put_page) 1 thread seq", seq, "ns/lookup", NULL);
	one = lookup_best(m, 3);
	snprintf(note, sizeof(note), "goal < %.0f ns: %s", GOAL_LOOKUP_NS,
		 one < GOAL_LOOKUP_NS ? "met" : "MISSED");
	row("lookup 1 thread random", one, "ns/lookup", note);
	two = lookup_two_threads(m, false);
	snprintf(note, sizeof(note), "%.1f M lookups/s together", 2e3 / two);
	row("lookup 2 threads seq, same pages (each)", two, "ns/lookup", note);
	two = lookup_two_threads(m, true);
	snprintf(note, sizeof(note), "%.1f M lookups/s together", 2e3 / two);
	row("lookup 2 threads random (each)", two, "ns/lookup", note);
	return one;
}

/* ---- insert and erase ---- */

static double insert_pages(struct address_space *m, uint64_t n)
{
	struct page *page;
	double t0 = now_ns();
	int err;

	for (uint64_t i = 0; i < n; i++) {
		err = find_or_create_page(m, i, &page);
		if (err)
			die("find_or_create_page", err);
		unlock_page(page);
		put_page(page);
	}
	return (now_ns() - t0) / n;
}

static double delete_pages(struct address_space *m, uint64_t n)
{
	struct page *page;
	double t0 = now_ns();

	for (uint64_t i = 0; i < n; i++) {
		page = find_lock_page(m, i);
		if (!page)
			die("find_lock_page", ENOENT);
		delete_from_page_cache(page);
		unlock_page(page);
		put_page(page);
	}
	return (now_ns() - t0) / n;
}

static void bench_insert_erase(struct fx *w)
{
	struct testfile g;
	double ins = 1e30, trunc = 1e30, del = 1e30, t0, ns;
	char note[64];

	/* The warm file stays; a second, empty file takes the churn. */
	fx_file_init(w, &g, 12, npages * PAGE_SIZE, npages * PAGE_SIZE);
	for (int r = 0; r < REPS; r++) {
		ns = insert_pages(&g.mapping, npages);
		ins = ns < ins ? ns : ins;
		t0 = now_ns();
		truncate_inode_pages(&g.mapping, 0);
		ns = (now_ns() - t0) / npages;
		trunc = ns < trunc ? ns : trunc;
		insert_pages(&g.mapping, npages);
		ns = delete_pages(&g.mapping, npages);
		del = ns < del ? ns : del;
	}
	snprintf(note, sizeof(note), "%.2f M pages/s", 1e3 / ins);
	row("insert (find_or_create_page, new page)", ins, "ns/page", note);
	snprintf(note, sizeof(note), "%.2f M pages/s", 1e3 / trunc);
	row("erase (truncate_inode_pages)", trunc, "ns/page", note);
	snprintf(note, sizeof(note), "%.2f M pages/s", 1e3 / del);
	row("erase (find_lock_page+delete_from_page_cache)", del, "ns/page", note);
	testfile_destroy(&g);
}

/* ---- filemap_read hits ---- */

static void bench_read_hits(struct fx *w)
{
	struct address_space *m = &w->f[0].mapping;
	uint64_t mask = npages - 1, idx = 0, n = niters / 4 / REPS;
	static unsigned char buf[4096];
	struct file_ra_state ra;
	double t0, ns, best;
	char note[64];

	for (int pass = 0; pass < 2; pass++) {
		best = 1e30;
		for (int r = 0; r < REPS; r++) {
			file_ra_state_init(&ra, m);
			t0 = now_ns();
			for (uint64_t i = 0; i < n; i++) {
				if (filemap_read(m, &ra, buf, sizeof(buf), idx * PAGE_SIZE) !=
				    sizeof(buf))
					die("filemap_read", EIO);
				idx = pass ? (idx * 6364136223846793005ULL +
					      1442695040888963407ULL) &
						      mask
					   : (idx + 1) & mask;
			}
			ns = (now_ns() - t0) / n;
			best = ns < best ? ns : best;
		}
		ns = best;
		snprintf(note, sizeof(note), "%.2f GB/s", 4096 / ns);
		row(pass ? "filemap_read 4 KiB hit, random" : "filemap_read 4 KiB hit, sequential",
		    ns, "ns/read", note);
	}
}

/* ---- metadata ---- */

static double bench_metadata(unsigned bits, uint64_t file_pages)
{
	struct fx w;
	struct cache_mem mi;
	double per_page, pct;
	char what[64], note[96];

	world_init(&w, bits, file_pages, 2 * file_pages + 1024);
	world_fill(&w, file_pages);
	cache_mem_info(w.cache, &mi);
	per_page = (double)mi.metadata_bytes / mi.pages_in_use;
	pct = 100.0 * per_page / PAGE_SIZE;
	snprintf(what, sizeof(what), "metadata per cached page, block size %u", 1U << bits);
	snprintf(note, sizeof(note),
		 "%.2f%% (%" PRIu64 " pages, %" PRIu64 " nodes, %" PRIu64 " bh)%s", pct,
		 mi.pages_in_use, mi.xa_nodes, mi.buffer_heads,
		 bits == PAGE_SHIFT
			 ? (pct < GOAL_META_PCT ? " goal < 2%: met" : " goal < 2%: MISSED")
			 : "");
	row(what, per_page, "bytes", note);
	world_fini(&w);
	return pct;
}

/* ---- the compressed tier ---- */

enum tier_kind { TIER_HALF, TIER_SAME, TIER_RANDOM, NR_TIER_KINDS };
static const char *const tier_kind_name[NR_TIER_KINDS] = {"2:1", "same-filled", "incompressible"};

static uint64_t rnd_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void tier_page(unsigned char *buf, enum tier_kind k, uint64_t index)
{
	size_t random_bytes = k == TIER_HALF ? PAGE_SIZE / 2 : k == TIER_RANDOM ? PAGE_SIZE : 0;

	for (size_t i = 0; i < random_bytes; i += 8) {
		uint64_t v = rnd();

		memcpy(buf + i, &v, 8);
	}
	memset(buf + random_bytes, k == TIER_SAME ? (int)(index & 0xff) : 0,
	       PAGE_SIZE - random_bytes);
}

/* Fill @f with @n pages of kind @k and write them back. */
static void tier_fill(struct testfile *f, enum tier_kind k, uint64_t n)
{
	static unsigned char buf[PAGE_SIZE];

	for (uint64_t i = 0; i < n; i++) {
		tier_page(buf, k, i);
		if (filemap_write(&f->mapping, buf, PAGE_SIZE, i * PAGE_SIZE) != PAGE_SIZE)
			die("filemap_write", EIO);
	}
	if (filemap_write_and_wait(&f->mapping))
		die("filemap_write_and_wait", EIO);
}

/* ns per page to read every page of @f once, in a random order. */
static double tier_read_all(struct testfile *f, uint64_t n, uint64_t seed)
{
	static _Thread_local unsigned char buf[PAGE_SIZE];
	uint64_t mask = n - 1, idx = seed & mask;
	double t0 = now_ns();

	for (uint64_t i = 0; i < n; i++) {
		if (filemap_read(&f->mapping, NULL, buf, PAGE_SIZE, idx * PAGE_SIZE) != PAGE_SIZE)
			die("filemap_read", EIO);
		idx = (idx * 6364136223846793005ULL + 1442695040888963407ULL) & mask;
	}
	return (now_ns() - t0) / n;
}

struct tier_arg {
	struct cache *cache;
	struct testfile *f;
	uint64_t n, seed;
	pthread_barrier_t *start;
	double evict, hit; /* best ns per page */
};

/* One thread's repetitions: evict its share (store), read its file back
 * (tier hits); with two threads both do each step together. */
static void *tier_thread(void *p)
{
	struct tier_arg *a = p;
	double t0, ns;

	a->evict = a->hit = 1e30;
	for (int r = 0; r < REPS; r++) {
		pthread_barrier_wait(a->start);
		t0 = now_ns();
		cache_reclaim(a->cache, a->n);
		ns = (now_ns() - t0) / a->n;
		a->evict = ns < a->evict ? ns : a->evict;
		pthread_barrier_wait(a->start);
		ns = tier_read_all(a->f, a->n, a->seed + r);
		a->hit = ns < a->hit ? ns : a->hit;
	}
	return NULL;
}

/* Evict and read back @nthreads files of kind @k, the tier on or off. */
static void tier_run(enum tier_kind k, unsigned nthreads, bool on, double *evict, double *hit,
		     struct cache_zswap_info *zi)
{
	uint64_t n = npages / 2;
	struct cache_config cfg = {.pool_bytes = (2 * n * nthreads + 1024) * PAGE_SIZE};
	struct tier_arg a[2];
	struct testfile f[2];
	pthread_barrier_t start;
	pthread_t t[2];
	struct cache *cache;
	struct bdev *dev;
	int err;

	err = bdev_mem_create(2 * n * nthreads * PAGE_SIZE, 512, &dev);
	if (!err)
		err = cache_create(&cfg, &cache);
	if (err)
		die("tier: setup", err);
	cache_zswap_set(cache, ZSWAP_ENABLED, on ? "on" : "off");
	cache_zswap_set(cache, ZSWAP_MAX_POOL_PERCENT, "100");
	pthread_barrier_init(&start, NULL, nthreads);
	for (unsigned i = 0; i < nthreads; i++) {
		err = testfile_init(&f[i], cache, dev, 12, i * n, n);
		if (err)
			die("testfile_init", err);
		tier_fill(&f[i], k, n);
		a[i] = (struct tier_arg){
			.cache = cache, .f = &f[i], .n = n, .seed = 11 + i, .start = &start};
	}
	for (unsigned i = 0; i < nthreads; i++)
		if (pthread_create(&t[i], NULL, tier_thread, &a[i]))
			die("pthread_create", EAGAIN);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	*evict = (a[0].evict + a[nthreads - 1].evict) / 2;
	*hit = (a[0].hit + a[nthreads - 1].hit) / 2;
	cache_reclaim(cache, n * nthreads); /* what the pool holds at its fullest */
	cache_zswap_info(cache, zi);
	for (unsigned i = 0; i < nthreads; i++)
		testfile_destroy(&f[i]);
	pthread_barrier_destroy(&start);
	cache_destroy(cache);
	bdev_close(dev);
}

static void bench_tier(void)
{
	struct cache_zswap_info zi, zoff;
	double evict, hit, evict_off, hit_off;
	char what[64], note[128];

	for (int k = 0; k < NR_TIER_KINDS; k++) {
		for (unsigned th = 1; th <= 2; th++) {
			tier_run(k, th, true, &evict, &hit, &zi);
			tier_run(k, th, false, &evict_off, &hit_off, &zoff);
			snprintf(what, sizeof(what), "tier %s, %u thread%s: evict+store",
				 tier_kind_name[k], th, th > 1 ? "s (each)" : "");
			snprintf(note, sizeof(note), "tier off: %.0f ns (store %+.0f ns)",
				 evict_off, evict - evict_off);
			row(what, evict, "ns/page", note);
			snprintf(what, sizeof(what), "tier %s, %u thread%s: read miss",
				 tier_kind_name[k], th, th > 1 ? "s (each)" : "");
			if (k == TIER_RANDOM)
				snprintf(note, sizeof(note),
					 "rejected: from the RAM device; tier off %.0f ns",
					 hit_off);
			else
				snprintf(note, sizeof(note), "a tier hit%s; RAM device %.0f ns",
					 k == TIER_HALF ? (hit < GOAL_TIER_HIT_NS
								   ? ", goal < 2 us: met"
								   : ", goal < 2 us: MISSED")
							: "",
					 hit_off);
			row(what, hit, "ns/page", note);
			if (th == 1 && k == TIER_HALF) {
				double ratio = (double)zi.pool_pages * PAGE_SIZE /
					       (double)zi.compressed_bytes;

				snprintf(note, sizeof(note),
					 "%.2f:1 compression, %" PRIu64 " pool pages%s",
					 (double)zi.stored_pages * PAGE_SIZE /
						 (double)zi.compressed_bytes,
					 zi.pool_pages,
					 ratio <= GOAL_POOL_RATIO ? "; goal <= 1.15: met"
								  : "; goal <= 1.15: MISSED");
				row("tier 2:1: pool bytes per compressed byte (x100)", 100 * ratio, "",
				    note);
			}
		}
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_cache [-p pages (power of two)] [-i lookups] [-t]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	bool tier_only = false;
	struct fx w;
	int c;

	while ((c = getopt(argc, argv, "p:i:t")) != -1) {
		if (c == 'p')
			npages = strtoull(optarg, NULL, 0);
		else if (c == 'i')
			niters = strtoull(optarg, NULL, 0);
		else if (c == 't')
			tier_only = true;
		else
			usage();
	}
	if (!npages || (npages & (npages - 1)) || !niters)
		usage();
	printf("bench_cache: %" PRIu64 " cached pages (%" PRIu64 " MiB), %" PRIu64
	       " lookups per figure, best of %d\n",
	       npages, npages * PAGE_SIZE >> 20, niters, REPS);
	printf("%-46s %12s  %-12s %s\n", "measure", "value", "unit", "note");
	if (tier_only) {
		bench_tier();
		return 0;
	}
	/* Room for the warm file and the churn file well above the watermarks,
	 * so reclaim never runs during the measurements. */
	world_init(&w, 12, npages, 3 * npages + 1024);
	world_fill(&w, npages);
	bench_lookups(&w);
	bench_read_hits(&w);
	bench_insert_erase(&w);
	world_fini(&w);
	bench_metadata(12, npages);
	bench_metadata(10, npages);
	bench_tier();
	printf("(struct page %zu bytes, xarray node %zu bytes, buffer_head %zu bytes)\n",
	       sizeof(struct page), xa_node_size(), sizeof(struct buffer_head));
	return 0;
}
