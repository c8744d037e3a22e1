/*
 * tests/unit/test_flusher.c - the flusher threads, dirty thresholds and
 * balance_dirty_pages, against the RAM device (behind the fault-injecting
 * wrapper, for latency and write errors).
 *
 * Tunables (ranges, *_bytes zeroing the ratio and back, thresholds and
 * their counters); periodic writeback of expired data (PGWRITE_PERIODIC,
 * oldest-dirtied mapping first, nothing before expiry); background
 * writeback past the background threshold (PGWRITE_BACKGROUND, stops at the
 * threshold); throttling of several writer threads on a slow device (dirty
 * memory sampled never passes the threshold plus DIRTY_SLACK_PAGES per
 * writer, BDP_EVENTS moves, every byte lands); a cleaner (a thread writing
 * pages the kernel writes back) is not paced between setpoint and threshold
 * where a plain writer is, and waits at the threshold; a WB_SYNC_ALL pass finishes
 * under a writer that keeps dirtying while the flusher runs; a writer to a
 * page under write-back waits and its bytes win; write errors met by the
 * flusher: the page stays dirty, WB_ERRORS and WB_LAST_ERROR, EIO once per
 * sampler, the data reaches the device after it recovers; a mapping
 * destroyed while a flusher writes it.
 *
 * Waits poll with generous limits (WAIT_MS); no result depends on timing
 * except "nothing is written before it expires", where expiry is 30 s.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backing/bdev.h"
#include "cache/internal.h"
#include "tests/lib/cachefix.h"
#include "tests/lib/clock.h"
#include "tests/lib/tap.h"

#define DEV_BYTES  (64ULL << 20)
#define POOL_PAGES 4096
#define FILE_PAGES 1024 /* each test file's region: 4 MiB */
#define NFILES	   4
#define WAIT_MS	   20000

/* Order in which mappings were first asked for blocks by writeback. */
static struct address_space *_Atomic map_log[NFILES];
static _Atomic unsigned map_log_n;

static int logging_map_blocks(struct address_space *mapping, uint64_t lblk, uint32_t max,
			      uint64_t *pblk, unsigned *flags)
{
	unsigned n = atomic_load(&map_log_n);
	bool seen = false;

	for (unsigned i = 0; i < n && i < NFILES; i++)
		seen |= atomic_load(&map_log[i]) == mapping;
	if (!seen && n < NFILES && atomic_compare_exchange_strong(&map_log_n, &n, n + 1))
		atomic_store(&map_log[n], mapping);
	return testfs_aops.map_blocks(mapping, lblk, max, pblk, flags);
}

static void sleep_ms(unsigned ms)
{
	usleep(ms * 1000);
}

/* Every file region: blocks allocated (zeros on the device), size 4 MiB. */
static void setup(struct fx *fx, unsigned latency_us)
{
	struct fx_params p = {
		.dev_bytes = DEV_BYTES,
		.faulty = true,
		.cache = {.pool_bytes = POOL_PAGES * PAGE_SIZE, .no_reclaimer = true},
		.nfiles = NFILES,
		.file_off = FILE_PAGES * PAGE_SIZE,
		.file_bytes = FILE_PAGES * PAGE_SIZE,
		.allocated = true,
		.map_blocks = logging_map_blocks,
	};

	atomic_store(&map_log_n, 0);
	fx_setup(fx, &p);
	faulty_set_latency(fx->ctl, latency_us);
}

static void teardown(struct fx *fx)
{
	struct cache_mem mem;

	fx_put_files(fx);
	cache_mem_info(fx->cache, &mem);
	is_u64(mem.pages_in_use + mem.mappings, 0, "teardown: no page or mapping left");
	fx_destroy(fx);
}

static void fx_set(struct fx *fx, enum wb_tunable t, uint64_t v)
{
	if (cache_wb_set(fx->cache, t, v))
		BAIL("cache_wb_set %s=%llu", cache_wb_tunable_name(t), (unsigned long long)v);
}

static ssize_t file_write(struct fx *fx, unsigned file, uint64_t pos, size_t len, unsigned seed)
{
	unsigned char *buf = malloc(len);
	ssize_t n;

	if (!buf)
		BAIL("out of memory");
	fx_fill(buf, pos, len, seed);
	n = filemap_write(&fx->f[file].mapping, buf, len, pos);
	free(buf);
	return n;
}

/* Does the device hold pattern @seed at [pos, pos + len) of @file? */
static bool dev_holds(struct fx *fx, unsigned file, uint64_t pos, size_t len, unsigned seed)
{
	unsigned char *want = malloc(len);
	bool same;

	if (!want)
		BAIL("out of memory");
	fx_fill(want, pos, len, seed);
	same = fx_dev_has(fx, fx->f[file].base * PAGE_SIZE + pos, want, len);
	free(want);
	return same;
}

static uint64_t st(struct fx *fx, enum cache_stat_item item)
{
	return cache_stat(fx->cache, item);
}

/* Dirty memory as the thresholds count it. */
static uint64_t dirty_now(struct fx *fx)
{
	return st(fx, NR_DIRTY) + st(fx, NR_WRITEBACK);
}

static bool wait_dirty_at_most(struct fx *fx, uint64_t pages)
{
	double end = now_sec() + WAIT_MS / 1000.0;

	while (dirty_now(fx) > pages) {
		if (now_sec() > end)
			return false;
		sleep_ms(5);
	}
	return true;
}

static bool wait_stat_above(struct fx *fx, enum cache_stat_item item, uint64_t v)
{
	double end = now_sec() + WAIT_MS / 1000.0;

	while (st(fx, item) <= v) {
		if (now_sec() > end)
			return false;
		sleep_ms(2);
	}
	return true;
}

/* ---- tunables ---- */

static void test_tunables(void)
{
	struct fx fx;
	unsigned long t, b;

	setup(&fx, 0);
	is_u64(cache_wb_get(fx.cache, WB_DIRTY_RATIO), 20, "default dirty_ratio 20");
	is_u64(cache_wb_get(fx.cache, WB_DIRTY_BACKGROUND_RATIO), 10, "default background 10");
	is_u64(cache_wb_get(fx.cache, WB_DIRTY_EXPIRE_CS), 3000, "default expire 3000");
	is_u64(cache_wb_get(fx.cache, WB_DIRTY_WRITEBACK_CS), 500, "default interval 500");
	is_u64(cache_wb_get(fx.cache, WB_MAX_BYTES), 1 << 20, "default wb_max_bytes 1M");
	cache_dirty_thresholds(fx.cache, &t, &b);
	is_u64(t, POOL_PAGES * 20 / 100, "threshold is 20 percent of the limit");
	is_u64(b, POOL_PAGES * 10 / 100, "background threshold is 10 percent");
	is_u64(st(&fx, DIRTY_THRESHOLD), t, "dirty_threshold counter");
	is_u64(st(&fx, DIRTY_BACKGROUND_THRESHOLD), b, "dirty_background_threshold counter");
	is_int(cache_wb_set(fx.cache, WB_DIRTY_BYTES, 1 << 20), 0, "set dirty_bytes 1M");
	is_u64(cache_wb_get(fx.cache, WB_DIRTY_RATIO), 0, "dirty_bytes zeroes dirty_ratio");
	is_u64(st(&fx, DIRTY_THRESHOLD), 256, "threshold 256 pages");
	is_int(cache_wb_set(fx.cache, WB_DIRTY_RATIO, 30), 0, "set dirty_ratio 30");
	is_u64(cache_wb_get(fx.cache, WB_DIRTY_BYTES), 0, "dirty_ratio zeroes dirty_bytes");
	is_int(cache_wb_set(fx.cache, WB_DIRTY_BACKGROUND_BYTES, 8 << 20), 0, "background 8M");
	is_u64(cache_wb_get(fx.cache, WB_DIRTY_BACKGROUND_RATIO), 0, "zeroes the ratio");
	cache_dirty_thresholds(fx.cache, &t, &b);
	is_u64(b, t / 2, "background above the threshold is cut to half of it");
	is_int(cache_wb_set(fx.cache, WB_DIRTY_RATIO, 0), -EINVAL, "dirty_ratio 0 refused");
	is_int(cache_wb_set(fx.cache, WB_DIRTY_RATIO, 101), -EINVAL, "dirty_ratio 101 refused");
	is_int(cache_wb_set(fx.cache, WB_DIRTY_BYTES, 4096), -EINVAL, "dirty_bytes 1 page refused");
	is_int(cache_wb_set(fx.cache, WB_DIRTY_EXPIRE_CS, 0), -EINVAL, "expire 0 refused");
	is_int(cache_wb_set(fx.cache, WB_DIRTY_WRITEBACK_CS, 0), 0, "interval 0 accepted (off)");
	is_int(cache_wb_set(fx.cache, WB_MAX_BYTES, 100 << 20), -EINVAL,
	       "wb_max_bytes 100M refused");
	is_int(cache_wb_set(fx.cache, WB_MAX_BYTES, 65536 + 100), 0, "wb_max_bytes 64K+100");
	is_u64(cache_wb_get(fx.cache, WB_MAX_BYTES), 65536, "rounded down to pages");
	is_int(cache_wb_tunable_lookup("dirty_background_bytes"), WB_DIRTY_BACKGROUND_BYTES,
	       "lookup by name");
	is_int(cache_wb_tunable_lookup("dirty"), -ENOENT, "unknown name");
	is_int(cache_flusher_start(fx.cache, 9), -EINVAL, "9 flusher threads refused");
	is_int(cache_flusher_start(fx.cache, 2), 0, "two flusher threads");
	is_int(cache_flusher_start(fx.cache, 1), -EBUSY, "a second start is refused");
	teardown(&fx);
}

/* ---- periodic writeback ---- */

static void test_periodic(void)
{
	struct fx fx;
	uint64_t periodic, bg;
	bool ordered;

	setup(&fx, 0);
	fx_set(&fx, WB_DIRTY_WRITEBACK_CS, 5);
	if (cache_flusher_start(fx.cache, 1))
		BAIL("cache_flusher_start");
	periodic = st(&fx, PGWRITE_PERIODIC);
	bg = st(&fx, PGWRITE_BACKGROUND);
	is_int(file_write(&fx, 0, 0, 16 * PAGE_SIZE, 1), 16 * PAGE_SIZE,
	       "file 0: 16 pages dirtied");
	sleep_ms(50);
	is_int(file_write(&fx, 1, 0, 16 * PAGE_SIZE, 2), 16 * PAGE_SIZE, "file 1: 16 pages later");
	sleep_ms(300);
	is_u64(st(&fx, NR_DIRTY), 32, "nothing written before it expires (expiry 30 s)");
	ok(!dev_holds(&fx, 0, 0, PAGE_SIZE, 1), "the device does not hold file 0 yet");
	atomic_store(&map_log_n, 0); /* from now on: map calls of write-back only */
	fx_set(&fx, WB_DIRTY_EXPIRE_CS, 10);
	ok(wait_dirty_at_most(&fx, 0), "expired data written with no sync");
	ok(dev_holds(&fx, 0, 0, 16 * PAGE_SIZE, 1), "device holds file 0");
	ok(dev_holds(&fx, 1, 0, 16 * PAGE_SIZE, 2), "device holds file 1");
	is_u64(st(&fx, PGWRITE_PERIODIC) - periodic, 32, "PGWRITE_PERIODIC +32");
	is_u64(st(&fx, PGWRITE_BACKGROUND) - bg, 0, "no background writeback");
	ordered = atomic_load(&map_log_n) >= 2 && atomic_load(&map_log[0]) == &fx.f[0].mapping &&
		  atomic_load(&map_log[1]) == &fx.f[1].mapping;
	ok(ordered, "the mapping dirtied first is written first");
	ok(list_empty(&fx.cache->dirty_mappings), "no mapping left on b_dirty");
	teardown(&fx);
}

/* ---- background writeback ---- */

static void test_background(void)
{
	struct fx fx;
	uint64_t periodic, bg, written;

	setup(&fx, 0);
	fx_set(&fx, WB_DIRTY_WRITEBACK_CS, 0); /* periodic off */
	fx_set(&fx, WB_DIRTY_BYTES, 2048 * PAGE_SIZE);
	fx_set(&fx, WB_DIRTY_BACKGROUND_BYTES, 64 * PAGE_SIZE);
	if (cache_flusher_start(fx.cache, 2))
		BAIL("cache_flusher_start");
	periodic = st(&fx, PGWRITE_PERIODIC);
	bg = st(&fx, PGWRITE_BACKGROUND);
	is_int(file_write(&fx, 0, 0, 40 * PAGE_SIZE, 3), 40 * PAGE_SIZE, "40 pages: below");
	sleep_ms(200);
	is_u64(st(&fx, NR_DIRTY), 40, "below the background threshold nothing is written");
	is_int(file_write(&fx, 1, 0, 200 * PAGE_SIZE, 4), 200 * PAGE_SIZE, "200 more pages");
	ok(wait_stat_above(&fx, PGWRITE_BACKGROUND, bg), "background writeback started");
	ok(wait_dirty_at_most(&fx, 64), "dirty memory brought down to the background threshold");
	sleep_ms(200);
	written = st(&fx, PGWRITE_BACKGROUND) - bg;
	ok(written >= 240 - 64 && written <= 240, "background wrote what was over (%llu pages)",
	   (unsigned long long)written);
	is_u64(st(&fx, PGWRITE_PERIODIC) - periodic, 0, "no periodic writeback (interval 0)");
	is_int(filemap_write_and_wait(&fx.f[0].mapping), 0, "sync file 0");
	is_int(filemap_write_and_wait(&fx.f[1].mapping), 0, "sync file 1");
	ok(dev_holds(&fx, 0, 0, 40 * PAGE_SIZE, 3) && dev_holds(&fx, 1, 0, 200 * PAGE_SIZE, 4),
	   "device holds both files");
	teardown(&fx);
}

/* ---- throttling ---- */

#define NWRITERS 4
#define WR_PAGES 512

struct thr {
	struct fx *fx;
	unsigned file;
	int err;
	_Atomic bool *stop;
	uint64_t max_dirty;
};

static void *writer_main(void *arg)
{
	struct thr *t = arg;

	for (uint64_t p = 0; p < WR_PAGES; p += 4)
		if (file_write(t->fx, t->file, p * PAGE_SIZE, 4 * PAGE_SIZE, 10 + t->file) !=
		    4 * PAGE_SIZE)
			t->err = -EIO;
	return NULL;
}

static void *sampler_main(void *arg)
{
	struct thr *t = arg;

	while (!atomic_load(t->stop)) {
		uint64_t d = dirty_now(t->fx);

		t->max_dirty = MAX(t->max_dirty, d);
		usleep(200);
	}
	return NULL;
}

static void test_throttle(void)
{
	struct thr w[NWRITERS], s = {0};
	pthread_t tid[NWRITERS], stid;
	_Atomic bool stop = false;
	struct fx fx;
	uint64_t events, limit = 128;
	bool all = true;

	setup(&fx, 5000); /* 5 ms per device request: writers outrun the flusher */
	fx_set(&fx, WB_DIRTY_WRITEBACK_CS, 0);
	fx_set(&fx, WB_DIRTY_BYTES, limit * PAGE_SIZE);
	fx_set(&fx, WB_DIRTY_BACKGROUND_BYTES, 32 * PAGE_SIZE);
	fx_set(&fx, WB_MAX_BYTES, 64 << 10);
	if (cache_flusher_start(fx.cache, 2))
		BAIL("cache_flusher_start");
	events = st(&fx, BDP_EVENTS);
	s.fx = &fx;
	s.stop = &stop;
	pthread_create(&stid, NULL, sampler_main, &s);
	for (unsigned i = 0; i < NWRITERS; i++) {
		w[i] = (struct thr){.fx = &fx, .file = i};
		pthread_create(&tid[i], NULL, writer_main, &w[i]);
	}
	for (unsigned i = 0; i < NWRITERS; i++) {
		pthread_join(tid[i], NULL);
		all &= !w[i].err;
	}
	atomic_store(&stop, true);
	pthread_join(stid, NULL);
	ok(all, "%d writers wrote %d pages each", NWRITERS, WR_PAGES);
	ok(s.max_dirty <= limit + DIRTY_SLACK_PAGES * NWRITERS,
	   "dirty memory stayed within threshold + slack (max %llu, threshold %llu, slack %d)",
	   (unsigned long long)s.max_dirty, (unsigned long long)limit,
	   DIRTY_SLACK_PAGES * NWRITERS);
	ok(s.max_dirty > 32, "dirty memory did pass the background threshold (%llu)",
	   (unsigned long long)s.max_dirty);
	ok(st(&fx, BDP_EVENTS) > events, "writers were throttled (%llu pauses, %llu ms)",
	   (unsigned long long)(st(&fx, BDP_EVENTS) - events),
	   (unsigned long long)st(&fx, BDP_PAUSE_MS));
	ok(st(&fx, PGWRITE_BACKGROUND) > 0, "the flusher wrote in the background");
	for (unsigned i = 0; i < NWRITERS; i++)
		filemap_write_and_wait(&fx.f[i].mapping);
	for (unsigned i = 0; i < NWRITERS; i++)
		all &= dev_holds(&fx, i, 0, WR_PAGES * PAGE_SIZE, 10 + i);
	ok(all, "every byte reached the device");
	teardown(&fx);
}

/* ---- a cleaner (FUSE_WRITE_CACHE writes) is not paced ---- */

/* Write @n pages of @file one at a time from page @first, as a cleaner or
 * not; returns false on a short write. */
static bool write_pages(struct fx *fx, unsigned file, unsigned first, unsigned n, bool cleaner)
{
	bool all = true;

	balance_dirty_pages_cleaner(cleaner);
	for (unsigned p = first; p < first + n; p++)
		all &= file_write(fx, file, (uint64_t)p * PAGE_SIZE, PAGE_SIZE, 60 + file) ==
		       PAGE_SIZE;
	balance_dirty_pages_cleaner(false);
	return all;
}

static void test_cleaner(void)
{
	const uint64_t thresh = 64, bg = 16; /* setpoint 40 */
	uint64_t events, d;
	bool all = true;
	struct fx fx;

	setup(&fx, 200000); /* 200 ms per request: about 5 pages/s leave */
	fx_set(&fx, WB_DIRTY_WRITEBACK_CS, 0);
	fx_set(&fx, WB_DIRTY_BYTES, thresh * PAGE_SIZE);
	fx_set(&fx, WB_DIRTY_BACKGROUND_BYTES, bg * PAGE_SIZE);
	fx_set(&fx, WB_MAX_BYTES, PAGE_SIZE);
	if (cache_flusher_start(fx.cache, 1))
		BAIL("cache_flusher_start");

	/* a cleaner crosses the setpoint to near the threshold unpaced */
	events = st(&fx, BDP_EVENTS);
	all &= write_pages(&fx, 0, 0, 60, true);
	d = dirty_now(&fx);
	ok(d > 48 && d < thresh,
	   "cleaner: 60 pages dirtied, %llu dirty (setpoint 40, threshold 64)",
	   (unsigned long long)d);
	is_u64(st(&fx, BDP_EVENTS) - events, 0, "cleaner: no pause between setpoint and threshold");

	/* a plain writer at that level is paced or waits */
	events = st(&fx, BDP_EVENTS);
	all &= write_pages(&fx, 1, 0, 4, false);
	ok(st(&fx, BDP_EVENTS) > events, "plain writer at the same level: throttled (%llu pauses)",
	   (unsigned long long)(st(&fx, BDP_EVENTS) - events));

	/* at the threshold a cleaner waits like anyone */
	events = st(&fx, BDP_EVENTS);
	all &= write_pages(&fx, 2, 0, 16, true);
	ok(st(&fx, BDP_EVENTS) > events, "cleaner at the threshold: waited (%llu waits)",
	   (unsigned long long)(st(&fx, BDP_EVENTS) - events));
	d = dirty_now(&fx);
	ok(d <= thresh + DIRTY_SLACK_PAGES, "dirty memory within threshold + slack (%llu)",
	   (unsigned long long)d);
	ok(all, "every write was whole");

	faulty_set_latency(fx.ctl, 0);
	for (unsigned i = 0; i < 3; i++)
		filemap_write_and_wait(&fx.f[i].mapping);
	ok(dev_holds(&fx, 0, 0, 60 * PAGE_SIZE, 60) && dev_holds(&fx, 1, 0, 4 * PAGE_SIZE, 61) &&
		   dev_holds(&fx, 2, 0, 16 * PAGE_SIZE, 62),
	   "every byte reached the device");
	teardown(&fx);
}

/* ---- sync under a dirtier, with the flusher running ---- */

static void *dirtier_main(void *arg)
{
	struct thr *t = arg;
	unsigned seed = 40;

	while (!atomic_load(t->stop))
		for (uint64_t p = 0; p < 256 && !atomic_load(t->stop); p += 8)
			file_write(t->fx, 0, p * PAGE_SIZE, 8 * PAGE_SIZE, seed++ % 200 + 20);
	return NULL;
}

static void test_sync_not_starved(void)
{
	struct thr d = {0};
	_Atomic bool stop = false;
	pthread_t tid;
	struct fx fx;
	int passes = 0, err = 0;

	setup(&fx, 50);
	fx_set(&fx, WB_DIRTY_WRITEBACK_CS, 2);
	fx_set(&fx, WB_DIRTY_EXPIRE_CS, 1);
	fx_set(&fx, WB_DIRTY_BYTES, 64 * PAGE_SIZE);
	if (cache_flusher_start(fx.cache, 2))
		BAIL("cache_flusher_start");
	d.fx = &fx;
	d.stop = &stop;
	pthread_create(&tid, NULL, dirtier_main, &d);
	for (int i = 0; i < 10; i++) {
		err |= filemap_write_and_wait_range(&fx.f[0].mapping, 0, 256 * PAGE_SIZE - 1);
		passes++;
	}
	atomic_store(&stop, true);
	pthread_join(tid, NULL);
	is_int(passes, 10, "10 sync passes finished while a writer kept dirtying");
	is_int(err, 0, "none failed");
	is_int(file_write(&fx, 0, 0, 256 * PAGE_SIZE, 7), 256 * PAGE_SIZE, "last write");
	is_int(filemap_write_and_wait(&fx.f[0].mapping), 0, "final sync");
	ok(dev_holds(&fx, 0, 0, 256 * PAGE_SIZE, 7), "device holds the last bytes");
	teardown(&fx);
}

/* ---- a write to a page under write-back ---- */

struct syncer {
	struct fx *fx;
	int err;
};

static void *syncer_main(void *arg)
{
	struct syncer *s = arg;

	s->err = filemap_write_and_wait(&s->fx->f[0].mapping);
	return NULL;
}

static void test_stable_page(void)
{
	struct syncer sy;
	struct page *page;
	pthread_t tid;
	struct fx fx;
	bool under_wb = false, old_on_dev, wb_over;

	setup(&fx, 0);
	is_int(file_write(&fx, 0, 0, PAGE_SIZE, 50), PAGE_SIZE, "page dirtied (old bytes)");
	faulty_set_latency(fx.ctl, 300000); /* the write-back takes 300 ms */
	sy = (struct syncer){.fx = &fx};
	pthread_create(&tid, NULL, syncer_main, &sy);
	page = find_get_page(&fx.f[0].mapping, 0);
	for (double end = now_sec() + WAIT_MS / 1000.0; page && now_sec() < end && !under_wb;
	     sleep_ms(1))
		under_wb = page_test(page, PG_writeback);
	ok(under_wb, "page under write-back");
	is_int(file_write(&fx, 0, 0, PAGE_SIZE, 51), PAGE_SIZE, "a write to it returns");
	wb_over = !page_test(page, PG_writeback);
	old_on_dev = dev_holds(&fx, 0, 0, PAGE_SIZE, 50);
	ok(wb_over, "only after the write-back ended (the writer waited)");
	ok(old_on_dev, "the device got the old bytes whole: the page was stable");
	ok(page_test(page, PG_dirty), "the page is dirty again with the new bytes");
	pthread_join(tid, NULL);
	is_int(sy.err, 0, "the write-back succeeded");
	faulty_set_latency(fx.ctl, 0);
	is_int(filemap_write_and_wait(&fx.f[0].mapping), 0, "write again");
	ok(dev_holds(&fx, 0, 0, PAGE_SIZE, 51), "the writer's bytes win on the device");
	put_page(page);
	teardown(&fx);
}

/* ---- errors met by the flusher ---- */

static bool page_dirty_or_wb(struct fx *fx, unsigned file, uint64_t index)
{
	struct page *page = find_get_page(&fx->f[file].mapping, index);
	bool ret = page && (page_test(page, PG_dirty) || page_test(page, PG_writeback));

	if (page)
		put_page(page);
	return ret;
}

static void test_errors(void)
{
	struct address_space *m;
	errseq_t s1, s2, s3;
	struct fx fx;
	uint64_t errors;

	setup(&fx, 0);
	m = &fx.f[2].mapping;
	fx_set(&fx, WB_DIRTY_WRITEBACK_CS, 5);
	fx_set(&fx, WB_DIRTY_EXPIRE_CS, 1);
	s1 = filemap_sample_wb_err(m);
	s2 = filemap_sample_wb_err(m);
	errors = st(&fx, WB_ERRORS);
	if (faulty_fail_range(fx.ctl, FAULTY_WRITE, fx.f[2].base * PAGE_SIZE, 8 * PAGE_SIZE))
		BAIL("faulty_fail_range");
	is_int(file_write(&fx, 2, 0, 8 * PAGE_SIZE, 60), 8 * PAGE_SIZE, "8 pages dirtied");
	if (cache_flusher_start(fx.cache, 1))
		BAIL("cache_flusher_start");
	ok(wait_stat_above(&fx, WB_ERRORS, errors), "the flusher met the write error");
	is_u64(st(&fx, WB_LAST_ERROR), EIO, "wb_last_error is EIO");
	ok(page_dirty_or_wb(&fx, 2, 0) && page_dirty_or_wb(&fx, 2, 7),
	   "the failed pages are not clean");
	ok(dirty_now(&fx) >= 8, "NR_DIRTY still counts them");
	ok(!dev_holds(&fx, 2, 0, PAGE_SIZE, 60), "the device does not hold them");
	faulty_clear_ranges(fx.ctl);
	ok(wait_dirty_at_most(&fx, 0), "after the device recovers the flusher writes them");
	ok(dev_holds(&fx, 2, 0, 8 * PAGE_SIZE, 60), "the device holds the data");
	is_int(file_check_and_advance_wb_err(&s1, m), -EIO, "opener 1: EIO");
	is_int(file_check_and_advance_wb_err(&s1, m), 0, "opener 1: once");
	is_int(file_check_and_advance_wb_err(&s2, m), -EIO, "opener 2: EIO too");
	is_int(file_check_and_advance_wb_err(&s2, m), 0, "opener 2: once");
	s3 = filemap_sample_wb_err(m);
	is_int(file_check_and_advance_wb_err(&s3, m), 0, "an opener after it was seen: 0");
	teardown(&fx);
}

/* ---- a mapping destroyed under the flusher ---- */

static void test_destroy_under_flusher(void)
{
	struct fx fx;
	struct testfile *f;

	setup(&fx, 2000);
	f = &fx.f[3];
	fx_set(&fx, WB_DIRTY_WRITEBACK_CS, 0);
	fx_set(&fx, WB_DIRTY_BYTES, 2048 * PAGE_SIZE);
	fx_set(&fx, WB_DIRTY_BACKGROUND_BYTES, 16 * PAGE_SIZE);
	fx_set(&fx, WB_MAX_BYTES, PAGE_SIZE); /* one page per request: a slow run */
	is_int(file_write(&fx, 3, 0, 256 * PAGE_SIZE, 70), 256 * PAGE_SIZE, "256 pages dirtied");
	if (cache_flusher_start(fx.cache, 2))
		BAIL("cache_flusher_start");
	ok(wait_stat_above(&fx, PGWRITE_BACKGROUND, 0), "the flusher is writing the file");
	testfile_destroy(f);
	ok(1, "mapping destroyed while the flusher wrote it");
	is_u64(dirty_now(&fx), 0, "its dirty pages are gone");
	ok(list_empty(&fx.cache->dirty_mappings), "off the flusher's lists");
	/* fx_teardown destroys it again: give it a fresh, empty one */
	if (testfile_init(f, fx.cache, fx.dev, PAGE_SHIFT, 4 * FILE_PAGES, FILE_PAGES))
		BAIL("testfile_init");
	teardown(&fx);
}

int main(void)
{
	test_tunables();
	test_periodic();
	test_background();
	test_throttle();
	test_cleaner();
	test_sync_not_starved();
	test_stable_page();
	test_errors();
	test_destroy_under_flusher();
	return done_testing();
}
