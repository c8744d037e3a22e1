/*
 * tests/unit/test_readahead.c - on-demand readahead on the RAM device.
 *
 * Checks: a sequential stream of 4 KiB reads grows the window up to ra_max
 * (never beyond), moves PGREADAHEAD and PGREADAHEAD_ASYNC, costs far fewer
 * device reads than pages and returns the right bytes; a raised ra_max is
 * honoured by new opens; random reads do no readahead (PGREADAHEAD unchanged,
 * only the pages read are cached, one device read each); ra_max 0 disables
 * readahead; readahead stops at EOF; pages already cached are skipped (and
 * counted as hits); several threads streaming the same and different files
 * get the right bytes; destroying a mapping while an asynchronous window is
 * in flight waits for it and leaves no page allocated; drop-caches waits for
 * queued windows; leak counters at teardown.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu.h>

#include "backing/bdev.h"
#include "cache/cache.h"
#include "cache/internal.h"
#include "tests/lib/cachefix.h"
#include "tests/lib/tap.h"

#define FILE_PAGES 1024
#define FILE_BYTES ((uint64_t)FILE_PAGES * PAGE_SIZE)
#define NFILES	   3

static struct fx fx;

static unsigned char pattern(uint64_t pos, int fi)
{
	return (unsigned char)((pos >> 12) * 13 + (pos & 0xfff) * 7 + fi * 101);
}

static uint64_t dev_reads(void)
{
	struct bdev_stats st;

	bdev_get_stats(fx.dev, &st);
	return st.reads;
}

/* Fill file @fi with its pattern, write it back and drop it from the cache. */
static void file_setup(int fi)
{
	unsigned char *buf = malloc(FILE_BYTES);
	struct testfile *f = &fx.f[fi];

	for (uint64_t i = 0; i < FILE_BYTES; i++)
		buf[i] = pattern(i, fi);
	if (filemap_write(&f->mapping, buf, FILE_BYTES, 0) != (ssize_t)FILE_BYTES)
		BAIL("filemap_write");
	if (filemap_write_and_wait(&f->mapping))
		BAIL("write_and_wait");
	free(buf);
}

static bool check_bytes(const unsigned char *buf, uint64_t pos, size_t len, int fi)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(pos + i, fi))
			return false;
	return true;
}

static void setup(void)
{
	struct fx_params p = {
		.dev_bytes = NFILES * FILE_BYTES,
		.cache = {.pool_bytes = 4096 * PAGE_SIZE, .ra_max_pages = 32, .ra_threads = 2},
		.nfiles = NFILES,
		.file_bytes = FILE_BYTES,
	};

	fx_setup(&fx, &p);
	for (int i = 0; i < NFILES; i++)
		file_setup(i);
	cache_drop_clean(fx.cache);
}

static void test_sequential(unsigned ra_max)
{
	struct testfile *f = &fx.f[0];
	struct file_ra_state ra;
	unsigned char buf[PAGE_SIZE];
	uint64_t ra0, async0, r0, pos;
	unsigned max_seen = 0, first_size = 0;
	bool bytes_ok = true, reached_at_512 = false;

	cache_drop_clean(fx.cache);
	is_int(cache_set_ra_max(fx.cache, ra_max), 0, "ra_max %u", ra_max);
	file_ra_state_init(&ra, &f->mapping);
	is_int(ra.ra_pages, ra_max, "new open takes ra_max %u", ra_max);
	ra0 = cache_stat(fx.cache, PGREADAHEAD);
	async0 = cache_stat(fx.cache, PGREADAHEAD_ASYNC);
	r0 = dev_reads();
	for (pos = 0; pos < FILE_BYTES; pos += PAGE_SIZE) {
		if (filemap_read(&f->mapping, &ra, buf, PAGE_SIZE, pos) != PAGE_SIZE ||
		    !check_bytes(buf, pos, PAGE_SIZE, 0))
			bytes_ok = false;
		max_seen = MAX(max_seen, ra.size);
		if (!pos)
			first_size = ra.size;
		if (pos == 512 * PAGE_SIZE)
			reached_at_512 = ra.size == ra_max;
	}
	ok(bytes_ok, "ra_max %u: sequential 4 KiB reads return the file's bytes", ra_max);
	ok(first_size > 0 && first_size < ra_max, "ra_max %u: the first window is small (%u)",
	   ra_max, first_size);
	is_int(max_seen, ra_max, "ra_max %u: the window grew to ra_max and not beyond", ra_max);
	ok(reached_at_512, "ra_max %u: the window stays at ra_max on a long stream", ra_max);
	ok(cache_stat(fx.cache, PGREADAHEAD) - ra0 >= FILE_PAGES / 2,
	   "ra_max %u: PGREADAHEAD moved (%llu)", ra_max,
	   (unsigned long long)(cache_stat(fx.cache, PGREADAHEAD) - ra0));
	ok(cache_stat(fx.cache, PGREADAHEAD_ASYNC) - async0 >= FILE_PAGES / 2,
	   "ra_max %u: PGREADAHEAD_ASYNC moved (%llu)", ra_max,
	   (unsigned long long)(cache_stat(fx.cache, PGREADAHEAD_ASYNC) - async0));
	ok(dev_reads() - r0 <= FILE_PAGES / (ra_max / 4),
	   "ra_max %u: %llu device reads for %d pages", ra_max,
	   (unsigned long long)(dev_reads() - r0), FILE_PAGES);
	is_u64(atomic_load(&f->mapping.nrpages), FILE_PAGES, "every page of the file cached");
}

static void test_random(void)
{
	struct testfile *f = &fx.f[1];
	struct file_ra_state ra;
	unsigned char buf[PAGE_SIZE], used[FILE_PAGES] = {0};
	uint64_t ra0, async0, r0, idx = 0, prev = 0, rng = 0x9E3779B97F4A7C15ULL;
	const int nreads = 100;
	bool bytes_ok = true;

	cache_drop_clean(fx.cache);
	cache_set_ra_max(fx.cache, 32);
	file_ra_state_init(&ra, &f->mapping);
	ra0 = cache_stat(fx.cache, PGREADAHEAD);
	async0 = cache_stat(fx.cache, PGREADAHEAD_ASYNC);
	r0 = dev_reads();
	for (int i = 0; i < nreads; i++) {
		/* distinct pages, never 0, never next to the previous one */
		do {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			idx = rng % FILE_PAGES;
		} while (!idx || used[idx] || idx == prev || idx == prev + 1 || idx + 1 == prev);
		used[idx] = 1;
		prev = idx;
		if (filemap_read(&f->mapping, &ra, buf, 100, idx * PAGE_SIZE + 50) != 100 ||
		    !check_bytes(buf, idx * PAGE_SIZE + 50, 100, 1))
			bytes_ok = false;
	}
	ok(bytes_ok, "random reads return the right bytes");
	is_u64(cache_stat(fx.cache, PGREADAHEAD) - ra0, 0, "random reads: PGREADAHEAD unchanged");
	is_u64(cache_stat(fx.cache, PGREADAHEAD_ASYNC) - async0, 0, "PGREADAHEAD_ASYNC unchanged");
	is_u64(atomic_load(&f->mapping.nrpages), nreads, "only the pages read are cached");
	is_u64(dev_reads() - r0, nreads, "one device read per random read");
}

static void test_ra_disabled(void)
{
	struct testfile *f = &fx.f[0];
	struct file_ra_state ra;
	unsigned char buf[PAGE_SIZE];
	uint64_t ra0;

	cache_drop_clean(fx.cache);
	cache_set_ra_max(fx.cache, 0);
	file_ra_state_init(&ra, &f->mapping);
	ra0 = cache_stat(fx.cache, PGREADAHEAD);
	for (uint64_t pos = 0; pos < 64 * PAGE_SIZE; pos += PAGE_SIZE)
		filemap_read(&f->mapping, &ra, buf, PAGE_SIZE, pos);
	is_u64(cache_stat(fx.cache, PGREADAHEAD) - ra0, 0, "ra_max 0: no readahead");
	is_u64(atomic_load(&f->mapping.nrpages), 64, "ra_max 0: only the pages read");
	is_int(cache_set_ra_max(fx.cache, 5000), -EINVAL, "ra_max above 4096 refused");
	cache_set_ra_max(fx.cache, 32);
}

static void test_eof(void)
{
	struct testfile *f = &fx.f[2];
	struct file_ra_state ra;
	unsigned char buf[PAGE_SIZE];
	uint64_t size = 10 * PAGE_SIZE + 100, pos;
	bool past = false;

	cache_drop_clean(fx.cache);
	is_int(testfs_truncate(f, size), 0, "shrink file 2 to 10 pages + 100 bytes");
	file_ra_state_init(&ra, &f->mapping);
	for (pos = 0; pos < size; pos += PAGE_SIZE)
		filemap_read(&f->mapping, &ra, buf, PAGE_SIZE, pos);
	usleep(10000);
	for (uint64_t i = 11; i < 64; i++) {
		struct page *p = find_get_page(&f->mapping, i);

		if (p) {
			past = true;
			put_page(p);
		}
	}
	ok(!past, "readahead never reads past EOF");
	is_u64(atomic_load(&f->mapping.nrpages), 11, "11 pages cached");
}

static void test_skip_cached(void)
{
	struct testfile *f = &fx.f[1];
	struct file_ra_state ra;
	unsigned char *buf = malloc(16 * PAGE_SIZE);
	bool bytes_ok = true;
	uint64_t h0;

	cache_drop_clean(fx.cache);
	/* cache every fourth page first */
	for (uint64_t i = 0; i < 256; i += 4)
		filemap_read(&f->mapping, NULL, buf, 1, i * PAGE_SIZE + 10);
	is_u64(atomic_load(&f->mapping.nrpages), 64, "64 scattered pages cached");
	h0 = cache_stat(fx.cache, CACHE_HITS);
	file_ra_state_init(&ra, &f->mapping);
	for (uint64_t pos = 0; pos < 256 * PAGE_SIZE; pos += 16 * PAGE_SIZE) {
		if (filemap_read(&f->mapping, &ra, buf, 16 * PAGE_SIZE, pos) != 16 * PAGE_SIZE ||
		    !check_bytes(buf, pos, 16 * PAGE_SIZE, 1))
			bytes_ok = false;
	}
	ok(bytes_ok, "a stream over partly cached pages reads the right bytes");
	ok(atomic_load(&f->mapping.nrpages) >= 256 && atomic_load(&f->mapping.nrpages) <= 256 + 64,
	   "the stream's pages cached, at most one window beyond (%llu)",
	   (unsigned long long)atomic_load(&f->mapping.nrpages));
	ok(cache_stat(fx.cache, CACHE_HITS) - h0 >= 64, "the pre-cached pages were hits");
	free(buf);
}

/* ---- concurrent streams ---- */

struct stream {
	int fi;
	size_t chunk;
	bool ok;
};

static void *stream_main(void *arg)
{
	struct stream *s = arg;
	struct testfile *f = &fx.f[s->fi];
	unsigned char *buf = malloc(s->chunk);
	uint64_t size = atomic_load(&f->mapping.i_size);
	struct file_ra_state ra;
	ssize_t got;

	s->ok = true;
	file_ra_state_init(&ra, &f->mapping);
	for (uint64_t pos = 0; pos < size; pos += (uint64_t)got) {
		got = filemap_read(&f->mapping, &ra, buf, s->chunk, pos);
		if (got <= 0 || !check_bytes(buf, pos, (size_t)got, s->fi)) {
			s->ok = false;
			break;
		}
	}
	free(buf);
	return NULL;
}

static void test_concurrent_streams(void)
{
	struct stream s[6] = {
		{0, 4096, false}, {0, 16384, false}, {1, 65536, false},
		{1, 4096, false}, {0, 12288, false}, {1, 1000, false},
	};
	pthread_t t[6];
	bool all = true;

	cache_drop_clean(fx.cache);
	for (int i = 0; i < 6; i++)
		pthread_create(&t[i], NULL, stream_main, &s[i]);
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		all &= s[i].ok;
	}
	ok(all, "six concurrent streams over two files read the right bytes");
}

static void test_destroy_in_flight(void)
{
	struct testfile f;
	struct file_ra_state ra;
	unsigned char buf[PAGE_SIZE];
	struct cache_mem mi0, mi1;

	cache_drop_clean(fx.cache);
	cache_mem_info(fx.cache, &mi0);
	/* a new file over file 0's blocks, all allocated */
	fx_file_init(&fx, &f, 12, 0, FILE_BYTES);
	memset(f.alloc, 1, FILE_PAGES);
	filemap_truncate(&f.mapping, FILE_BYTES);
	file_ra_state_init(&ra, &f.mapping);
	for (uint64_t pos = 0; pos < 40 * PAGE_SIZE; pos += PAGE_SIZE)
		filemap_read(&f.mapping, &ra, buf, PAGE_SIZE, pos);
	ok(check_bytes(buf, 39 * PAGE_SIZE, PAGE_SIZE, 0), "bytes before destroy");
	testfile_destroy(&f); /* async windows may still be in flight */
	cache_mem_info(fx.cache, &mi1);
	is_u64(mi1.pages_in_use, mi0.pages_in_use, "destroy waited for readahead; no page left");
}

/* drop-caches waits for the asynchronous windows already queued, so what
 * they bring in is dropped too: with a slow device the window is still
 * being read (its pages locked) when cache_drop_clean() is called. */
static void test_drop_waits_for_readahead(void)
{
	struct testfile f;
	struct file_ra_state ra;
	unsigned char buf[PAGE_SIZE];
	struct faulty *slow;
	struct bdev *sdev;
	uint64_t async0;
	bool bytes_ok = true;

	cache_drop_clean(fx.cache);
	if (bdev_faulty_wrap(fx.dev, FAULTY_BORROW | FAULTY_NO_UNDO, &sdev, &slow))
		BAIL("bdev_faulty_wrap");
	/* a file over file 2's blocks, all allocated, on the slow device */
	if (testfile_init(&f, fx.cache, sdev, 12, 2 * FILE_PAGES, FILE_PAGES))
		BAIL("testfile_init");
	memset(f.alloc, 1, FILE_PAGES);
	filemap_truncate(&f.mapping, FILE_BYTES);
	file_ra_state_init(&ra, &f.mapping);
	async0 = cache_stat(fx.cache, PGREADAHEAD_ASYNC);
	faulty_set_latency(slow, 20000);
	/* page 0 opens a window; reaching its marked page queues the next */
	for (uint64_t pos = 0; pos < 4 * PAGE_SIZE; pos += PAGE_SIZE)
		if (filemap_read(&f.mapping, &ra, buf, PAGE_SIZE, pos) != PAGE_SIZE ||
		    !check_bytes(buf, pos, PAGE_SIZE, 2))
			bytes_ok = false;
	ok(bytes_ok, "slow device: the bytes read");
	ok(cache_stat(fx.cache, PGREADAHEAD_ASYNC) > async0, "an asynchronous window was queued");
	cache_drop_clean(fx.cache);
	is_u64(atomic_load(&f.mapping.nrpages), 0,
	       "drop-caches waited for the window in flight and dropped it too");
	faulty_set_latency(slow, 0);
	testfile_destroy(&f);
	bdev_close(sdev);
}

/* A window never takes more than 1/16 of the cache limit: a 1 MiB window in
 * a 2 MiB cache kept its pages locked while its own extent lookups waited
 * for memory that nothing could free. */
static void test_small_cache_window(void)
{
	struct testfile *f = &fx.f[1];
	struct file_ra_state ra;
	unsigned char buf[PAGE_SIZE];
	unsigned max_seen = 0;
	bool bytes_ok = true;

	cache_drop_clean(fx.cache);
	is_int(cache_set_limit(fx.cache, 512 * PAGE_SIZE), 0, "limit 512 pages");
	is_int(cache_set_ra_max(fx.cache, 256), 0, "ra_max 256 pages");
	file_ra_state_init(&ra, &f->mapping);
	for (uint64_t pos = 0; pos < FILE_BYTES; pos += PAGE_SIZE) {
		if (filemap_read(&f->mapping, &ra, buf, PAGE_SIZE, pos) != PAGE_SIZE ||
		    !check_bytes(buf, pos, PAGE_SIZE, 1))
			bytes_ok = false;
		max_seen = MAX(max_seen, ra.size);
	}
	ok(bytes_ok, "small cache: sequential reads return the file's bytes");
	is_int(max_seen, 32, "small cache: the window stops at limit / 16 (32 pages)");
	is_int(cache_set_limit(fx.cache, 4096 * PAGE_SIZE), 0, "limit back to 4096 pages");
	is_int(cache_set_ra_max(fx.cache, 32), 0, "ra_max back to 32");
}

int main(void)
{
	setup();
	test_sequential(32);
	test_sequential(64);
	test_small_cache_window();
	test_random();
	test_ra_disabled();
	test_eof();
	test_skip_cached();
	test_concurrent_streams();
	test_destroy_in_flight();
	test_drop_waits_for_readahead();
	fx_teardown(&fx, FX_PAGES | FX_MAPPINGS | FX_NODES | FX_FILE_PAGES);
	return done_testing();
}
