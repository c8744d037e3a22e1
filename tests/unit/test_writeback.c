/*
 * tests/unit/test_writeback.c - writeback, for 1, 2 and 4 KiB blocks.
 *
 * Merging (64 contiguous dirty pages are one device write; max_io_bytes
 * splits it; a gap splits it), write clustering (clean cached pages fill
 * short gaps: PGWRITE_FILL; missing or locked pages and wb_fill_bytes stop it), WB_SYNC_NONE
 * budgets and busy pages, tag-then-write (a WB_SYNC_ALL pass writes only what was dirty when it
 * started and finishes while another thread keeps dirtying the range),
 * writeback for reclaim, waiting for other threads' writeback, dirty
 * accounting (NR_DIRTY, NR_DIRTIED, NR_WRITEBACK, NR_WRITTEN, PGPGOUT,
 * PGWRITE_*, the dirty-mapping list, dirty_notify), truncate of dirty pages,
 * and errors from the fault-injecting device: -EIO from
 * filemap_write_and_wait_range, pages left dirty, errseq reported once per
 * sampler, and the data written once the device recovers.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backing/bdev.h"
#include "cache/internal.h"
#include "tests/lib/cachefix.h"
#include "tests/lib/tap.h"

#define DEV_BYTES  (16ULL << 20)
#define FILE_OFF   (1ULL << 20)
#define FILE_BYTES (4ULL << 20)
#define POOL_PAGES 1024
#define NPAGES	   64

static _Atomic unsigned notified;

static void count_notify(struct address_space *mapping)
{
	(void)mapping;
	atomic_fetch_add(&notified, 1);
}

/* An existing file: every block allocated, zeros on the device; a model. */
static void setup(struct fx *fx, unsigned blkbits, bool faulty)
{
	struct fx_params p = {
		.dev_bytes = DEV_BYTES,
		.faulty = faulty,
		.cache = {.pool_bytes = POOL_PAGES * PAGE_SIZE, .no_reclaimer = true},
		.nfiles = 1,
		.blkbits = blkbits,
		.file_off = FILE_OFF,
		.file_bytes = FILE_BYTES,
		.allocated = true,
		.model = true,
		.dirty_notify = count_notify,
	};

	fx_setup(fx, &p);
	atomic_store(&notified, 0);
}

static void teardown(struct fx *fx)
{
	struct cache_mem mem;

	fx_put_files(fx);
	cache_mem_info(fx->cache, &mem);
	is_u64(mem.buffer_heads + mem.pages_in_use + mem.mappings, 0,
	       "teardown: no head, page or mapping left");
	is_u64(cache_stat(fx->cache, NR_DIRTY) + cache_stat(fx->cache, NR_WRITEBACK), 0,
	       "teardown: NR_DIRTY and NR_WRITEBACK are 0");
	fx_destroy(fx);
}

static struct bdev_stats io_now(struct bdev *b)
{
	struct bdev_stats s;

	bdev_get_stats(b, &s);
	return s;
}

static unsigned count_dirty(struct fx *fx, uint64_t first, uint64_t last)
{
	unsigned n = 0;

	for (uint64_t i = first; i <= last; i++)
		n += fx_page_flag(fx, i, PG_dirty);
	return n;
}

static bool mapping_listed(struct fx *fx)
{
	struct cache *cache = fx->cache;
	bool found = false;

	pthread_mutex_lock(&cache->wb_lock);
	for (struct list_head *p = cache->dirty_mappings.next; p != &cache->dirty_mappings;
	     p = p->next)
		found |= p == &fx->f[0].mapping.wb_link;
	pthread_mutex_unlock(&cache->wb_lock);
	return found && (atomic_load(&fx->f[0].mapping.flags) & AS_DIRTY_LISTED);
}

static void stats_snap(struct fx *fx, uint64_t s[NR_CACHE_STATS])
{
	cache_stats_snapshot(fx->cache, s);
}

static uint64_t stat_since(struct fx *fx, const uint64_t s[NR_CACHE_STATS],
			   enum cache_stat_item item)
{
	return cache_stat(fx->cache, item) - s[item];
}

static int writepages(struct fx *fx, enum wb_sync_mode mode, long budget, enum wb_reason why,
		      uint32_t max_io, long *written)
{
	struct writeback_control wbc = {.range_start = 0,
					.range_end = UINT64_MAX,
					.sync_mode = mode,
					.nr_to_write = budget,
					.reason = why,
					.max_io_bytes = max_io};
	int err = filemap_writepages(&fx->f[0].mapping, &wbc);

	if (written)
		*written = wbc.nr_written;
	return err;
}

/* 64 contiguous dirty pages: one device write; max_io_bytes and gaps split. */
static void test_merge(unsigned blkbits)
{
	uint64_t s[NR_CACHE_STATS];
	struct bdev_stats io0, io1;
	unsigned bs = 1U << blkbits;
	long written = 0;
	struct fx fx;

	setup(&fx, blkbits, false);
	stats_snap(&fx, s);
	fx_write(&fx, 0, NPAGES * PAGE_SIZE, 1);
	is_u64(stat_since(&fx, s, NR_DIRTY), NPAGES, "bs %u: NR_DIRTY +64", bs);
	is_u64(stat_since(&fx, s, NR_DIRTIED), NPAGES, "bs %u: NR_DIRTIED +64", bs);
	is_u64(atomic_load(&fx.f[0].mapping.nrdirty), NPAGES, "bs %u: nrdirty 64", bs);
	ok(mapping_listed(&fx), "bs %u: mapping on dirty_mappings", bs);
	is_int(atomic_load(&notified), 1, "bs %u: dirty_notify once", bs);
	io0 = io_now(fx.dev);
	is_int(writepages(&fx, WB_SYNC_ALL, LONG_MAX, WB_REASON_SYNC, 0, &written), 0,
	       "bs %u: writepages", bs);
	io1 = io_now(fx.dev);
	is_u64(io1.writes - io0.writes, 1, "bs %u: 64 pages in one device write", bs);
	is_u64(io1.write_bytes - io0.write_bytes, NPAGES * PAGE_SIZE, "bs %u: 256 KiB", bs);
	is_int(written, NPAGES, "bs %u: nr_written 64", bs);
	is_u64(stat_since(&fx, s, NR_WRITTEN), NPAGES, "bs %u: NR_WRITTEN +64", bs);
	is_u64(stat_since(&fx, s, PGPGOUT), NPAGES * 4, "bs %u: PGPGOUT +256 KiB", bs);
	is_u64(stat_since(&fx, s, PGWRITE_SYNC), NPAGES, "bs %u: PGWRITE_SYNC +64", bs);
	is_u64(stat_since(&fx, s, NR_DIRTY), 0, "bs %u: NR_DIRTY back", bs);
	is_u64(cache_stat(fx.cache, NR_WRITEBACK), 0, "bs %u: NR_WRITEBACK 0", bs);
	is_u64(atomic_load(&fx.f[0].mapping.nrdirty), 0, "bs %u: nrdirty 0", bs);
	ok(!mapping_listed(&fx), "bs %u: clean mapping off the list", bs);
	ok(fx_dev_matches(&fx, 0, NPAGES * PAGE_SIZE), "bs %u: device holds the data", bs);

	stats_snap(&fx, s);
	fx_write(&fx, 0, NPAGES * PAGE_SIZE, 2);
	is_int(atomic_load(&notified), 2, "bs %u: dirty_notify again after clean", bs);
	io0 = io_now(fx.dev);
	is_int(writepages(&fx, WB_SYNC_ALL, LONG_MAX, WB_REASON_BACKGROUND, 64 * 1024, NULL), 0,
	       "bs %u: writepages max_io 64 KiB", bs);
	io1 = io_now(fx.dev);
	is_u64(io1.writes - io0.writes, 4, "bs %u: max_io_bytes splits into 4 writes", bs);
	is_u64(io1.write_bytes - io0.write_bytes, NPAGES * PAGE_SIZE, "bs %u: same bytes", bs);
	is_u64(stat_since(&fx, s, PGWRITE_BACKGROUND), NPAGES, "bs %u: PGWRITE_BACKGROUND", bs);
	is_u64(stat_since(&fx, s, PGWRITE_SYNC), 0, "bs %u: not counted as sync", bs);
	ok(fx_dev_matches(&fx, 0, NPAGES * PAGE_SIZE), "bs %u: device holds the data", bs);

	is_int(cache_wb_set(fx.cache, WB_FILL_BYTES, 0), 0, "bs %u: wb_fill_bytes 0", bs);
	fx_write(&fx, 0, 4 * PAGE_SIZE, 3);
	fx_write(&fx, 10 * PAGE_SIZE, 4 * PAGE_SIZE, 3);
	io0 = io_now(fx.dev);
	is_int(filemap_write_and_wait(&fx.f[0].mapping), 0, "bs %u: write_and_wait", bs);
	io1 = io_now(fx.dev);
	is_u64(io1.writes - io0.writes, 2, "bs %u: a gap makes two writes", bs);
	ok(fx_dev_matches(&fx, 0, NPAGES * PAGE_SIZE), "bs %u: device holds the data", bs);
	teardown(&fx);
}

/* WB_SYNC_NONE: nr_to_write budget, locked pages skipped. */
static void test_sync_none(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	struct bdev_stats io0, io1;
	struct page *locked;
	long written = 0;
	struct fx fx;

	setup(&fx, blkbits, false);
	fx_write(&fx, 0, NPAGES * PAGE_SIZE, 4);
	is_int(writepages(&fx, WB_SYNC_NONE, 10, WB_REASON_PERIODIC, 0, &written), 0,
	       "bs %u: budget of 10", bs);
	is_int(written, 10, "bs %u: 10 pages written", bs);
	is_int(count_dirty(&fx, 0, 9), 0, "bs %u: the first 10 pages are clean", bs);
	is_int(count_dirty(&fx, 10, NPAGES - 1), NPAGES - 10, "bs %u: the rest still dirty", bs);
	is_u64(atomic_load(&fx.f[0].mapping.nrdirty), NPAGES - 10, "bs %u: nrdirty 54", bs);

	locked = find_lock_page(&fx.f[0].mapping, 20);
	if (!locked)
		BAIL("find_lock_page");
	io0 = io_now(fx.dev);
	is_int(writepages(&fx, WB_SYNC_NONE, LONG_MAX, WB_REASON_BACKGROUND, 0, &written), 0,
	       "bs %u: WB_SYNC_NONE with a locked page", bs);
	io1 = io_now(fx.dev);
	is_int(count_dirty(&fx, 0, NPAGES - 1), 1, "bs %u: only the locked page still dirty", bs);
	ok(page_test(locked, PG_dirty), "bs %u: it is the locked one", bs);
	is_u64(io1.writes - io0.writes, 2, "bs %u: the runs around it, one write each", bs);
	unlock_page(locked);
	put_page(locked);
	is_int(filemap_write_and_wait(&fx.f[0].mapping), 0, "bs %u: write_and_wait", bs);
	ok(fx_dev_matches(&fx, 0, NPAGES * PAGE_SIZE), "bs %u: device holds everything", bs);
	teardown(&fx);
}

struct bg_sync {
	struct fx *fx;
	int err;
};

static void *bg_write_and_wait(void *arg)
{
	struct bg_sync *b = arg;

	b->err = filemap_write_and_wait(&b->fx->f[0].mapping);
	return NULL;
}

/*
 * Tag-then-write, step by step: with page 63 locked, a WB_SYNC_ALL pass
 * writes (and releases) pages 0..62 before it sleeps on 63; page 5 dirtied
 * meanwhile is not part of the pass and stays dirty.
 */
static void test_tag_snapshot(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	struct bg_sync b = {0};
	struct page *last;
	pthread_t t;
	struct fx fx;

	setup(&fx, blkbits, false);
	fx_write(&fx, 0, NPAGES * PAGE_SIZE, 5);
	last = find_lock_page(&fx.f[0].mapping, NPAGES - 1);
	if (!last)
		BAIL("find_lock_page");
	b.fx = &fx;
	if (pthread_create(&t, NULL, bg_write_and_wait, &b))
		BAIL("pthread_create");
	while (count_dirty(&fx, 0, NPAGES - 2))
		sched_yield();
	ok(page_test(last, PG_dirty), "bs %u: pages before the locked one written first", bs);
	fx_write(&fx, 5 * PAGE_SIZE + 9, 3, 6);
	unlock_page(last);
	put_page(last);
	pthread_join(t, NULL);
	is_int(b.err, 0, "bs %u: the pass finished", bs);
	ok(fx_page_flag(&fx, 5, PG_dirty), "bs %u: page dirtied after the tag is left dirty", bs);
	ok(!fx_page_flag(&fx, NPAGES - 1, PG_dirty), "bs %u: the locked page was written", bs);
	is_int(filemap_write_and_wait(&fx.f[0].mapping), 0, "bs %u: write_and_wait", bs);
	ok(fx_dev_matches(&fx, 0, NPAGES * PAGE_SIZE), "bs %u: device holds everything", bs);
	teardown(&fx);
}

struct dirtier {
	struct fx *fx;
	_Atomic bool stop;
	_Atomic unsigned long writes;
};

static void *dirty_loop(void *arg)
{
	struct dirtier *d = arg;
	unsigned seed = 1;

	while (!atomic_load(&d->stop)) {
		uint64_t pos =
			(uint64_t)(rand_r(&seed) % NPAGES) * PAGE_SIZE + rand_r(&seed) % 4000;

		fx_write(d->fx, pos, 16, 100 + (unsigned)(atomic_load(&d->writes) % 50));
		atomic_fetch_add(&d->writes, 1);
	}
	return NULL;
}

/* WB_SYNC_ALL passes finish while another thread keeps dirtying the range. */
static void test_tag_livelock(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	struct dirtier d = {0};
	int errs = 0, passes = 0;
	pthread_t t;
	struct fx fx;

	setup(&fx, blkbits, false);
	fx_write(&fx, 0, NPAGES * PAGE_SIZE, 7);
	d.fx = &fx;
	if (pthread_create(&t, NULL, dirty_loop, &d))
		BAIL("pthread_create");
	/* Keep passing until the dirtier has raced with them for a while. */
	while (passes < 50 || atomic_load(&d.writes) < 5000) {
		errs += filemap_write_and_wait(&fx.f[0].mapping) != 0;
		passes++;
	}
	atomic_store(&d.stop, true);
	pthread_join(t, NULL);
	is_int(errs, 0, "bs %u: every sync pass finished under a dirtier", bs);
	diag("bs %u: %d passes, %lu writes raced with them", bs, passes, atomic_load(&d.writes));
	is_int(filemap_write_and_wait(&fx.f[0].mapping), 0, "bs %u: final write_and_wait", bs);
	ok(fx_dev_matches(&fx, 0, NPAGES * PAGE_SIZE), "bs %u: device holds the last bytes", bs);
	is_u64(cache_stat(fx.cache, NR_DIRTY), 0, "bs %u: NR_DIRTY 0", bs);
	teardown(&fx);
}

static bool heads_have(struct fx *fx, uint64_t index, enum bh_state_bits bit)
{
	struct page *page = find_lock_page(&fx->f[0].mapping, index);
	bool all = true;

	if (!page)
		return false;
	if (page_test(page, PG_private)) {
		struct buffer_head *head = page_buffers(page);

		for (unsigned i = 0; i < PAGE_SIZE / head->b_size; i++)
			all &= bh_test(head + i, bit);
	}
	unlock_page(page);
	put_page(page);
	return all;
}

/* A failed write-back: -EIO, pages still dirty, errseq once per sampler. */
static void test_write_errors(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	uint64_t s[NR_CACHE_STATS];
	errseq_t s1, s2, s3;
	struct fx fx;

	setup(&fx, blkbits, true);
	s1 = filemap_sample_wb_err(&fx.f[0].mapping);
	s2 = filemap_sample_wb_err(&fx.f[0].mapping);
	fx_write(&fx, 0, 8 * PAGE_SIZE, 8);
	stats_snap(&fx, s);
	faulty_fail_range(fx.ctl, FAULTY_WRITE, FILE_OFF + 3 * PAGE_SIZE, PAGE_SIZE);
	is_int(filemap_write_and_wait_range(&fx.f[0].mapping, 0, 8 * PAGE_SIZE - 1), -EIO,
	       "bs %u: write_and_wait_range returns -EIO", bs);
	ok(fx_page_flag(&fx, 3, PG_dirty) && fx_page_flag(&fx, 3, PG_error),
	   "bs %u: failed page still dirty, PG_error", bs);
	is_int(count_dirty(&fx, 0, 7), 8, "bs %u: the whole failed write stays dirty", bs);
	is_u64(cache_stat(fx.cache, NR_DIRTY), 8, "bs %u: NR_DIRTY counts them", bs);
	is_u64(stat_since(&fx, s, WB_ERRORS), 1, "bs %u: WB_ERRORS +1", bs);
	is_u64(cache_stat(fx.cache, NR_WRITEBACK), 0, "bs %u: NR_WRITEBACK 0", bs);
	if (bs < PAGE_SIZE)
		ok(heads_have(&fx, 3, BH_Dirty) && heads_have(&fx, 3, BH_Write_EIO),
		   "bs %u: heads dirty with BH_Write_EIO", bs);
	is_int(file_check_and_advance_wb_err(&s1, &fx.f[0].mapping), -EIO, "bs %u: s1 sees EIO",
	       bs);
	is_int(file_check_and_advance_wb_err(&s1, &fx.f[0].mapping), 0, "bs %u: s1 once only", bs);
	is_int(file_check_and_advance_wb_err(&s2, &fx.f[0].mapping), -EIO, "bs %u: s2 sees EIO",
	       bs);
	is_int(file_check_and_advance_wb_err(&s2, &fx.f[0].mapping), 0, "bs %u: s2 once only", bs);
	s3 = filemap_sample_wb_err(&fx.f[0].mapping);
	is_int(file_check_and_advance_wb_err(&s3, &fx.f[0].mapping), 0,
	       "bs %u: an opener after the error was seen gets 0", bs);

	/* One page per write: only the failing page stays dirty. */
	is_int(writepages(&fx, WB_SYNC_ALL, LONG_MAX, WB_REASON_SYNC, PAGE_SIZE, NULL), -EIO,
	       "bs %u: page-sized writes: -EIO again", bs);
	is_int(count_dirty(&fx, 0, 7), 1, "bs %u: only the failing page dirty", bs);
	ok(fx_page_flag(&fx, 3, PG_dirty), "bs %u: page 3", bs);
	is_int(file_check_and_advance_wb_err(&s1, &fx.f[0].mapping), -EIO,
	       "bs %u: a new error is seen again", bs);

	faulty_clear_ranges(fx.ctl);
	is_int(filemap_write_and_wait_range(&fx.f[0].mapping, 0, 8 * PAGE_SIZE - 1), 0,
	       "bs %u: writeback succeeds once the device works", bs);
	ok(fx_dev_matches(&fx, 0, 8 * PAGE_SIZE), "bs %u: device holds the data", bs);
	ok(!fx_page_flag(&fx, 3, PG_dirty) && !fx_page_flag(&fx, 3, PG_error),
	   "bs %u: page clean, PG_error cleared", bs);
	if (bs < PAGE_SIZE)
		ok(!heads_have(&fx, 3, BH_Write_EIO), "bs %u: BH_Write_EIO cleared", bs);
	is_int(file_check_and_advance_wb_err(&s1, &fx.f[0].mapping), 0, "bs %u: s1: nothing new",
	       bs);
	is_int(file_check_and_advance_wb_err(&s2, &fx.f[0].mapping), -EIO,
	       "bs %u: s2 still gets the second error once", bs);
	is_int(file_check_and_advance_wb_err(&s2, &fx.f[0].mapping), 0, "bs %u: then 0", bs);
	teardown(&fx);
}

/* sync_dirty_buffer on a failing device keeps the head dirty. */
static void test_buffer_write_error(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	struct address_space bm;
	struct buffer_head *bh;
	uint64_t blk = (8ULL << 20) >> blkbits;
	unsigned char *want = malloc(bs);
	struct fx fx;
	int err;

	setup(&fx, blkbits, true);
	if (mapping_init_bdev(&bm, fx.cache, fx.dev, blkbits))
		BAIL("mapping_init_bdev");
	bh = bread(&bm, blk, &err);
	if (!bh)
		BAIL("bread: %d", err);
	lock_buffer(bh);
	memset(bh->b_data, 0x3c, bs);
	mark_buffer_dirty(bh);
	unlock_buffer(bh);
	faulty_fail_range(fx.ctl, FAULTY_WRITE, blk << blkbits, bs);
	is_int(sync_dirty_buffer(bh), -EIO, "bs %u: sync_dirty_buffer -EIO", bs);
	ok(bh_test(bh, BH_Dirty) && bh_test(bh, BH_Write_EIO) && page_test(bh->b_page, PG_dirty),
	   "bs %u: head and page still dirty, BH_Write_EIO", bs);
	faulty_clear_ranges(fx.ctl);
	is_int(sync_dirty_buffer(bh), 0, "bs %u: sync after recovery", bs);
	ok(!bh_test(bh, BH_Dirty) && !bh_test(bh, BH_Write_EIO), "bs %u: head clean", bs);
	memset(want, 0x3c, bs);
	ok(bdev_read(fx.mem, blk << blkbits, fx.model, bs) == 0 && !memcmp(fx.model, want, bs),
	   "bs %u: device holds the block", bs);
	brelse(bh);
	mapping_destroy(&bm);
	free(want);
	teardown(&fx);
}

/* writeback_page_for_reclaim: the page and the dirty run after it. */
static void test_reclaim(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	uint64_t s[NR_CACHE_STATS];
	struct bdev_stats io0, io1;
	struct page *page, *busy;
	struct fx fx;

	setup(&fx, blkbits, false);
	fx_write(&fx, 0, 8 * PAGE_SIZE, 9);
	page = find_lock_page(&fx.f[0].mapping, 2);
	busy = find_lock_page(&fx.f[0].mapping, 5);
	if (!page || !busy)
		BAIL("find_lock_page");
	stats_snap(&fx, s);
	io0 = io_now(fx.dev);
	is_int(writeback_page_for_reclaim(page), 0, "bs %u: reclaim writeback", bs);
	io1 = io_now(fx.dev);
	ok(!page_test(page, PG_dirty) && page_test(page, PG_locked),
	   "bs %u: page clean, still locked by us", bs);
	is_u64(io1.writes - io0.writes, 1, "bs %u: one device write", bs);
	is_u64(io1.write_bytes - io0.write_bytes, 3 * PAGE_SIZE,
	       "bs %u: pages 2-4 (stops at the busy page 5)", bs);
	is_int(count_dirty(&fx, 0, 7), 5, "bs %u: pages 0, 1, 5, 6, 7 still dirty", bs);
	is_u64(stat_since(&fx, s, PGWRITE_RECLAIM), 3, "bs %u: PGWRITE_RECLAIM +3", bs);
	ok(!trylock_page(page), "bs %u: our page still locked", bs);
	unlock_page(busy);
	put_page(busy);
	unlock_page(page);
	put_page(page);
	page = find_lock_page(&fx.f[0].mapping, 3);
	ok(page != NULL, "bs %u: neighbour unlocked again", bs);
	unlock_page(page);
	put_page(page);
	is_int(filemap_write_and_wait(&fx.f[0].mapping), 0, "bs %u: write_and_wait", bs);
	ok(fx_dev_matches(&fx, 0, 8 * PAGE_SIZE), "bs %u: device holds everything", bs);
	teardown(&fx);
}

static void *bg_sync_none(void *arg)
{
	struct bg_sync *b = arg;
	struct writeback_control wbc = {.range_end = UINT64_MAX,
					.sync_mode = WB_SYNC_NONE,
					.nr_to_write = LONG_MAX,
					.reason = WB_REASON_BACKGROUND};

	b->err = filemap_writepages(&b->fx->f[0].mapping, &wbc);
	return NULL;
}

/* filemap_fdatawait_range waits for another thread's writeback. */
static void test_fdatawait(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	struct bg_sync b = {0};
	pthread_t t;
	struct fx fx;

	setup(&fx, blkbits, true);
	fx_write(&fx, 0, PAGE_SIZE, 10);
	faulty_set_latency(fx.ctl, 200 * 1000);
	b.fx = &fx;
	if (pthread_create(&t, NULL, bg_sync_none, &b))
		BAIL("pthread_create");
	while (!fx_page_flag(&fx, 0, PG_writeback))
		sched_yield();
	ok(cache_stat(fx.cache, NR_WRITEBACK) == 1, "bs %u: NR_WRITEBACK 1 during the I/O", bs);
	is_int(filemap_fdatawait_range(&fx.f[0].mapping, 0, PAGE_SIZE - 1), 0, "bs %u: fdatawait",
	       bs);
	ok(!fx_page_flag(&fx, 0, PG_writeback), "bs %u: the writeback had ended", bs);
	ok(fx_dev_matches(&fx, 0, PAGE_SIZE), "bs %u: data on the device", bs);
	pthread_join(t, NULL);
	is_int(b.err, 0, "bs %u: background pass ok", bs);
	faulty_set_latency(fx.ctl, 0);
	teardown(&fx);
}

struct gap_sync {
	struct fx *fx;
	_Atomic bool *io_done;
	bool saw_io_done;
	int err;
};

static void *gap_sync_thread(void *arg)
{
	struct gap_sync *g = arg;

	g->err = filemap_write_and_wait(&g->fx->f[0].mapping);
	g->saw_io_done = atomic_load(g->io_done);
	return NULL;
}

/*
 * Another writer has taken a page's dirtiness (clear_page_dirty_for_io) and
 * holds the page lock while its I/O runs. A sync pass started meanwhile must
 * not return before that I/O is done: the page keeps its DIRTY mark until
 * writeback starts, so the pass tags it and waits for the page lock.
 */
static void test_no_gap(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	_Atomic bool io_done = false;
	struct gap_sync g = {0};
	struct page *page;
	pthread_t t;
	struct fx fx;

	setup(&fx, blkbits, false);
	fx_write(&fx, 0, PAGE_SIZE, 13);
	page = find_lock_page(&fx.f[0].mapping, 0);
	if (!page)
		BAIL("find_lock_page");
	ok(clear_page_dirty_for_io(page), "bs %u: page was dirty", bs);
	is_u64(cache_stat(fx.cache, NR_DIRTY), 0, "bs %u: NR_DIRTY 0", bs);
	ok(xa_get_mark(&fx.f[0].mapping.i_pages, 0, XA_MARK_DIRTY), "bs %u: DIRTY mark kept", bs);
	g.fx = &fx;
	g.io_done = &io_done;
	if (pthread_create(&t, NULL, gap_sync_thread, &g))
		BAIL("pthread_create");
	usleep(100 * 1000); /* let the pass reach the page (coverage only) */
	if (bdev_write(fx.dev, FILE_OFF, page_address(page), PAGE_SIZE))
		BAIL("device write");
	if (page_test(page, PG_private)) /* the other writer wrote every head */
		for (unsigned i = 0; i < PAGE_SIZE / bs; i++)
			bh_clear(page_buffers(page) + i, BH_Dirty);
	atomic_store(&io_done, true);
	unlock_page(page);
	put_page(page);
	pthread_join(t, NULL);
	is_int(g.err, 0, "bs %u: the pass succeeded", bs);
	ok(g.saw_io_done, "bs %u: the pass returned only after the other write", bs);
	ok(!xa_get_mark(&fx.f[0].mapping.i_pages, 0, XA_MARK_DIRTY),
	   "bs %u: the stale DIRTY mark is gone", bs);
	ok(fx_dev_matches(&fx, 0, PAGE_SIZE), "bs %u: device holds the page", bs);
	teardown(&fx);
}

/* Truncating dirty pages cancels their dirtiness and frees their heads. */
static void test_truncate_dirty(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	struct fx fx;

	setup(&fx, blkbits, false);
	fx_write(&fx, 0, 16 * PAGE_SIZE, 11);
	is_u64(cache_stat(fx.cache, NR_DIRTY), 16, "bs %u: 16 dirty", bs);
	filemap_invalidate_lock(&fx.f[0].mapping);
	truncate_inode_pages(&fx.f[0].mapping, 8 * PAGE_SIZE);
	filemap_invalidate_unlock(&fx.f[0].mapping);
	is_u64(cache_stat(fx.cache, NR_DIRTY), 8, "bs %u: truncate cancels 8", bs);
	is_u64(atomic_load(&fx.f[0].mapping.nrdirty), 8, "bs %u: nrdirty 8", bs);
	if (bs < PAGE_SIZE)
		is_u64(cache_stat(fx.cache, NR_BUFFER_HEADS), 8 * (PAGE_SIZE / bs),
		       "bs %u: heads of truncated pages freed", bs);
	filemap_invalidate_lock(&fx.f[0].mapping);
	truncate_inode_pages(&fx.f[0].mapping, 0);
	filemap_invalidate_unlock(&fx.f[0].mapping);
	is_u64(cache_stat(fx.cache, NR_DIRTY), 0, "bs %u: all cancelled", bs);
	ok(!mapping_listed(&fx), "bs %u: off the dirty list", bs);
	teardown(&fx);
}

/* Rewrite whole pages @idx[0..n) of the file (seed @seed). */
static void dirty_pages(struct fx *fx, const unsigned *idx, unsigned n, unsigned seed)
{
	for (unsigned i = 0; i < n; i++)
		fx_write(fx, (uint64_t)idx[i] * PAGE_SIZE, PAGE_SIZE, seed);
}

/* Write clustering: clean cached pages between dirty ones join the writes. */
static void test_fill(unsigned blkbits)
{
	static const unsigned scattered[] = {0, 2, 5, 13, 14, 40};
	uint64_t s[NR_CACHE_STATS];
	struct bdev_stats io0, io1;
	unsigned bs = 1U << blkbits;
	long written = 0;
	struct fx fx;

	setup(&fx, blkbits, false);
	is_u64(cache_wb_get(fx.cache, WB_FILL_BYTES), 65536, "bs %u: wb_fill_bytes 64K default",
	       bs);
	fx_write(&fx, 0, NPAGES * PAGE_SIZE, 1);
	is_int(filemap_write_and_wait(&fx.f[0].mapping), 0, "bs %u: cached and clean", bs);

	/* gaps of 1, 2, 7 (filled), 0 and 25 pages (too long: a second write) */
	stats_snap(&fx, s);
	dirty_pages(&fx, scattered, ARRAY_SIZE(scattered), 2);
	io0 = io_now(fx.dev);
	is_int(writepages(&fx, WB_SYNC_NONE, LONG_MAX, WB_REASON_BACKGROUND, 0, &written), 0,
	       "bs %u: writepages", bs);
	io1 = io_now(fx.dev);
	is_u64(io1.writes - io0.writes, 2, "bs %u: 6 scattered pages in 2 device writes", bs);
	is_u64(io1.write_bytes - io0.write_bytes, 16 * PAGE_SIZE, "bs %u: 15 + 1 pages written",
	       bs);
	is_int(written, 6, "bs %u: nr_written counts the dirty pages only", bs);
	is_u64(stat_since(&fx, s, PGWRITE_FILL), 10, "bs %u: PGWRITE_FILL +10", bs);
	is_u64(stat_since(&fx, s, PGWRITE_BACKGROUND), 6, "bs %u: PGWRITE_BACKGROUND +6", bs);
	is_u64(cache_stat(fx.cache, NR_WRITEBACK), 0, "bs %u: NR_WRITEBACK 0", bs);
	is_u64(count_dirty(&fx, 0, NPAGES - 1), 0, "bs %u: nothing dirty", bs);
	ok(!fx_page_flag(&fx, 3, PG_writeback) && !fx_page_flag(&fx, 3, PG_locked),
	   "bs %u: fill page unlocked, writeback ended", bs);
	ok(fx_dev_matches(&fx, 0, NPAGES * PAGE_SIZE), "bs %u: device holds the data", bs);

	/* a page missing from the cache keeps the gap open */
	{
		struct page *page = find_lock_page(&fx.f[0].mapping, 1);

		ok(page != NULL, "bs %u: page 1 cached", bs);
		if (page) {
			delete_from_page_cache(page);
			unlock_page(page);
			put_page(page);
		}
	}
	dirty_pages(&fx, scattered, 2, 3);
	io0 = io_now(fx.dev);
	is_int(filemap_write_and_wait(&fx.f[0].mapping), 0, "bs %u: write_and_wait", bs);
	io1 = io_now(fx.dev);
	is_u64(io1.writes - io0.writes, 2, "bs %u: uncached gap page: two writes", bs);

	/* a locked page keeps it open too, and so does wb_fill_bytes below the gap */
	{
		struct page *page = find_lock_page(&fx.f[0].mapping, 3);

		dirty_pages(&fx, scattered + 1, 2, 4);
		io0 = io_now(fx.dev);
		is_int(writepages(&fx, WB_SYNC_NONE, LONG_MAX, WB_REASON_BACKGROUND, 0, NULL), 0,
		       "bs %u: writepages", bs);
		io1 = io_now(fx.dev);
		is_u64(io1.writes - io0.writes, 2, "bs %u: locked gap page: two writes", bs);
		if (page) {
			unlock_page(page);
			put_page(page);
		}
	}
	is_int(cache_wb_set(fx.cache, WB_FILL_BYTES, PAGE_SIZE), 0, "bs %u: wb_fill_bytes 4K", bs);
	dirty_pages(&fx, scattered + 1, 2, 5);
	io0 = io_now(fx.dev);
	is_int(filemap_write_and_wait(&fx.f[0].mapping), 0, "bs %u: write_and_wait", bs);
	io1 = io_now(fx.dev);
	is_u64(io1.writes - io0.writes, 2, "bs %u: a 2-page gap over a 1-page limit: two writes",
	       bs);
	ok(fx_dev_matches(&fx, 0, NPAGES * PAGE_SIZE), "bs %u: device holds the data", bs);
	is_int(cache_wb_set(fx.cache, WB_FILL_BYTES, (1U << 20) + PAGE_SIZE), -EINVAL,
	       "bs %u: wb_fill_bytes above 1M refused", bs);
	teardown(&fx);
}

int main(void)
{
	static const unsigned sizes[] = {10, 11, 12};

	alarm(300); /* a hang (deadlock, livelock) fails the test */
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		diag("block size %u", 1U << sizes[i]);
		test_merge(sizes[i]);
		test_fill(sizes[i]);
		test_sync_none(sizes[i]);
		test_tag_snapshot(sizes[i]);
		test_tag_livelock(sizes[i]);
		test_write_errors(sizes[i]);
		test_buffer_write_error(sizes[i]);
		test_reclaim(sizes[i]);
		test_fdatawait(sizes[i]);
		test_no_gap(sizes[i]);
		test_truncate_dirty(sizes[i]);
	}
	return done_testing();
}
