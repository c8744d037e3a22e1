/*
 * tests/unit/test_buffer.c - buffer heads, for 1, 2 and 4 KiB blocks.
 *
 * File mappings (tests/lib/testfs over a RAM device): a partial-page write
 * reads only the blocks it partly covers (device reads and bytes counted),
 * new blocks are zeroed instead of read, block_read_page reads only missing
 * blocks and merges device-contiguous ones, and writeback writes only the
 * dirty blocks. The device mapping: bread/getblk/brelse, mark_buffer_dirty,
 * sync_dirty_buffer, pinning, try_to_free_buffers and cancel_dirty_page, and
 * read errors from the fault-injecting device. Every case checks bytes on the
 * device, head and page state, and counters; teardown must leave no page,
 * head or mapping behind.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backing/bdev.h"
#include "cache/internal.h"
#include "tests/lib/cachefix.h"
#include "tests/lib/tap.h"

#define DEV_BYTES  (32ULL << 20)
#define FILE_OFF   (1ULL << 20) /* the test file's region starts here */
#define FILE_BYTES (4ULL << 20)
#define META_OFF   (16ULL << 20) /* metadata blocks used through bread */
#define POOL_PAGES 1024

struct io {
	uint64_t reads, rbytes, writes, wbytes;
};

static struct io io_now(struct bdev *b)
{
	struct bdev_stats s;

	bdev_get_stats(b, &s);
	return (struct io){s.reads, s.read_bytes, s.writes, s.write_bytes};
}

static struct io io_since(struct bdev *b, struct io then)
{
	struct io now = io_now(b);

	return (struct io){now.reads - then.reads, now.rbytes - then.rbytes,
			   now.writes - then.writes, now.wbytes - then.wbytes};
}

/* Write @len bytes of pattern @seed at device byte @off, behind the cache's back. */
static void dev_fill(struct fx *fx, uint64_t off, uint64_t len, unsigned seed)
{
	unsigned char *buf = malloc(len);

	if (!buf)
		BAIL("out of memory");
	fx_fill(buf, off, len, seed);
	if (bdev_write(fx->mem, off, buf, len))
		BAIL("device write failed");
	free(buf);
}

/* Does the RAM device hold pattern @seed at [off, off + len)? */
static bool dev_has_pat(struct fx *fx, uint64_t off, size_t len, unsigned seed)
{
	unsigned char *want = malloc(len);
	bool same;

	if (!want)
		BAIL("out of memory");
	fx_fill(want, off, len, seed);
	same = fx_dev_has(fx, off, want, len);
	free(want);
	return same;
}

/*
 * Set up a cache, a RAM device (optionally behind the fault injector), a
 * testfs file whose region holds pattern 1 and, if @allocated, is fully
 * allocated with i_size covering it, and the device mapping.
 */
static void setup(struct fx *fx, unsigned blkbits, bool faulty, bool allocated)
{
	struct fx_params p = {
		.dev_bytes = DEV_BYTES,
		.faulty = faulty,
		.cache = {.pool_bytes = POOL_PAGES * PAGE_SIZE, .no_reclaimer = true},
		.nfiles = 1,
		.blkbits = blkbits,
		.file_off = FILE_OFF,
		.file_bytes = FILE_BYTES,
		.allocated = allocated,
		.model = true,
		.dev_mapping = true,
	};

	fx_setup(fx, &p);
	dev_fill(fx, FILE_OFF, FILE_BYTES, 1);
	if (allocated)
		fx_fill(fx->model, FILE_OFF, FILE_BYTES, 1);
}

static void teardown(struct fx *fx)
{
	struct cache_mem mem;

	fx_put_files(fx);
	cache_mem_info(fx->cache, &mem);
	is_u64(mem.buffer_heads, 0, "teardown: no buffer head left");
	is_u64(mem.pages_in_use, 0, "teardown: no page left");
	is_u64(cache_stat(fx->cache, NR_BUFFER_HEADS), 0, "teardown: NR_BUFFER_HEADS is 0");
	is_u64(cache_stat(fx->cache, NR_DIRTY), 0, "teardown: NR_DIRTY is 0");
	fx_destroy(fx);
}

/* Read through the cache and compare with the model. */
static bool fx_read_matches(struct fx *fx, uint64_t pos, size_t len)
{
	struct file_ra_state ra;
	unsigned char *buf = malloc(len);
	bool same;

	if (!buf)
		BAIL("out of memory");
	file_ra_state_init(&ra, &fx->f[0].mapping);
	same = filemap_read(&fx->f[0].mapping, &ra, buf, len, pos) == (ssize_t)len &&
	       memcmp(buf, fx->model + pos, len) == 0;
	free(buf);
	return same;
}

/*
 * Expected device traffic of a write of bytes [from, to) into an uncached,
 * allocated page: reads of the partly covered blocks (adjacent ones merged),
 * then one write of every block touched.
 */
static void expect_partial(unsigned bs, unsigned from, unsigned to, struct io *want)
{
	bool prev = false;

	memset(want, 0, sizeof(*want));
	for (unsigned b = 0; b < PAGE_SIZE; b += bs) {
		bool touched = b < to && b + bs > from;
		bool partial = touched && (from > b || to < b + bs);

		if (touched)
			want->wbytes += bs;
		if (partial) {
			want->rbytes += bs;
			want->reads += !prev;
		}
		prev = partial;
	}
	want->writes = want->wbytes ? 1 : 0;
}

static void test_partial_write(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	unsigned ranges[][2] = {
		{bs / 4, bs / 4 + 10},		      /* inside one block */
		{bs / 2 - 1, PAGE_SIZE - bs / 2 + 1}, /* both edges partial */
		{bs < PAGE_SIZE ? bs : 0, bs < PAGE_SIZE ? 2 * bs : PAGE_SIZE}, /* whole block */
		{0, PAGE_SIZE},							/* whole page */
		{bs - 1, bs + 1}, /* across a block boundary */
	};
	struct fx fx;

	setup(&fx, blkbits, false, true);
	for (unsigned c = 0; c < ARRAY_SIZE(ranges); c++) {
		unsigned from = ranges[c][0], to = MIN(ranges[c][1], (unsigned)PAGE_SIZE);
		uint64_t pos = (uint64_t)(c + 1) * PAGE_SIZE * 3 + from;
		struct io want, got, then = io_now(fx.dev);

		expect_partial(bs, from, to, &want);
		fx_write(&fx, pos, to - from, 10 + c);
		got = io_since(fx.dev, then);
		is_u64(got.reads, want.reads, "bs %u write [%u,%u): device reads", bs, from, to);
		is_u64(got.rbytes, want.rbytes, "bs %u write [%u,%u): bytes read", bs, from, to);
		ok(fx_page_flag(&fx, pos >> PAGE_SHIFT, PG_dirty), "bs %u case %u: page dirty", bs,
		   c);
		then = io_now(fx.dev);
		is_int(filemap_write_and_wait(&fx.f[0].mapping), 0, "bs %u case %u: write_and_wait",
		       bs, c);
		got = io_since(fx.dev, then);
		is_u64(got.writes, want.writes, "bs %u case %u: one device write", bs, c);
		is_u64(got.wbytes, want.wbytes, "bs %u case %u: only touched blocks written", bs,
		       c);
		ok(fx_dev_has(&fx, FILE_OFF + (pos & PAGE_MASK), fx.model + (pos & PAGE_MASK),
			      PAGE_SIZE),
		   "bs %u case %u: device holds the page", bs, c);
	}
	/* Read back only now: readahead must not fill the next case's page. */
	for (unsigned c = 0; c < ARRAY_SIZE(ranges); c++) {
		uint64_t page_pos = (uint64_t)(c + 1) * PAGE_SIZE * 3;

		ok(fx_read_matches(&fx, page_pos, PAGE_SIZE), "bs %u case %u: cache reads back", bs,
		   c);
	}
	teardown(&fx);
}

/* A write into a hole: nothing is read, the rest of the new block is zero. */
static void test_new_blocks(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	struct io got, then;
	struct fx fx;

	setup(&fx, blkbits, false, false);
	atomic_store(&fx.f[0].mapping.i_size, FILE_BYTES); /* a sparse file */
	then = io_now(fx.dev);
	fx_write(&fx, bs / 4, 100, 3);
	ok(fx_read_matches(&fx, 0, PAGE_SIZE), "bs %u: new block reads as zeros + data", bs);
	got = io_since(fx.dev, then);
	is_u64(got.reads, 0, "bs %u: no device read for a hole", bs);
	then = io_now(fx.dev);
	is_int(filemap_write_and_wait(&fx.f[0].mapping), 0, "bs %u: write_and_wait", bs);
	got = io_since(fx.dev, then);
	is_u64(got.wbytes, bs, "bs %u: only the new block is written", bs);
	ok(fx_dev_has(&fx, FILE_OFF, fx.model, bs), "bs %u: device block replaced, garbage gone",
	   bs);
	if (bs < PAGE_SIZE)
		ok(dev_has_pat(&fx, FILE_OFF + bs, PAGE_SIZE - bs, 1),
		   "bs %u: hole blocks untouched on the device", bs);
	is_int(fx.f[0].alloc[0], 1, "bs %u: block allocated by the write", bs);
	if (bs < PAGE_SIZE)
		is_int(fx.f[0].alloc[1], 0, "bs %u: neighbour still a hole", bs);
	teardown(&fx);
}

/* Dirty a few blocks of a cached page: writeback writes those blocks only. */
static void test_dirty_blocks_only(unsigned blkbits)
{
	unsigned bs = 1U << blkbits, n = PAGE_SIZE / bs;
	unsigned dirty[2] = {n > 1 ? 1 : 0, n - 1}, ndirty = n > 2 ? 2 : 1;
	struct io got, then;
	struct fx fx;

	setup(&fx, blkbits, false, true);
	ok(fx_read_matches(&fx, 0, PAGE_SIZE), "bs %u: page read", bs);
	for (unsigned i = 0; i < ndirty; i++)
		fx_write(&fx, dirty[i] * bs + 7, 5, 20 + i);
	/* Change a clean block behind the cache: writeback must not overwrite it. */
	if (n > 2)
		dev_fill(&fx, FILE_OFF, bs, 99);
	then = io_now(fx.dev);
	is_int(filemap_write_and_wait(&fx.f[0].mapping), 0, "bs %u: write_and_wait", bs);
	got = io_since(fx.dev, then);
	is_u64(got.wbytes, (uint64_t)ndirty * bs, "bs %u: written bytes = dirty blocks", bs);
	is_u64(got.writes, ndirty, "bs %u: one write per non-adjacent dirty block", bs);
	for (unsigned i = 0; i < ndirty; i++)
		ok(fx_dev_has(&fx, FILE_OFF + dirty[i] * bs, fx.model + dirty[i] * bs, bs),
		   "bs %u: dirty block %u on the device", bs, dirty[i]);
	if (n > 2)
		ok(dev_has_pat(&fx, FILE_OFF, bs, 99), "bs %u: clean block 0 not rewritten", bs);
	ok(!fx_page_flag(&fx, 0, PG_dirty), "bs %u: page clean after writeback", bs);
	teardown(&fx);
}

/* block_read_page: only missing blocks, contiguous ones merged, holes free. */
static void test_block_read_page(unsigned blkbits)
{
	unsigned bs = 1U << blkbits, n = PAGE_SIZE / bs, hole = n == 4 ? 2 : n == 2 ? 1 : n;
	uint64_t want_reads = n == 4 ? 2 : 1, want_bytes = (hole < n ? n - 1 : n) * bs;
	struct page *page;
	struct io got, then;
	struct fx fx;
	int err;

	setup(&fx, blkbits, false, true);
	if (hole < n) {
		fx.f[0].alloc[hole] = 0;
		memset(fx.model + hole * bs, 0, bs);
	}
	if (find_or_create_page(&fx.f[0].mapping, 0, &page))
		BAIL("find_or_create_page");
	then = io_now(fx.dev);
	err = block_read_page(&fx.f[0].mapping, page);
	got = io_since(fx.dev, then);
	is_int(err, 0, "bs %u: block_read_page", bs);
	is_u64(got.reads, want_reads, "bs %u: one read per device-contiguous run", bs);
	is_u64(got.rbytes, want_bytes, "bs %u: holes are not read", bs);
	ok(page_test(page, PG_uptodate), "bs %u: page uptodate", bs);
	ok(memcmp(page_address(page), fx.model, PAGE_SIZE) == 0, "bs %u: bytes (hole = zeros)", bs);
	ok(page_test(page, PG_private) && bh_test(page_buffers(page), BH_Uptodate),
	   "bs %u: heads attached and uptodate", bs);
	buffer_assert_state(page);
	then = io_now(fx.dev);
	is_int(block_read_page(&fx.f[0].mapping, page), 0, "bs %u: again", bs);
	is_u64(io_since(fx.dev, then).reads, 0, "bs %u: nothing read twice", bs);
	unlock_page(page);
	put_page(page);
	teardown(&fx);
}

/* The device mapping: bread, mark_buffer_dirty, brelse, writeback. */
static void test_bread_roundtrip(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	uint64_t blk = (META_OFF >> blkbits) + (bs < PAGE_SIZE ? 1 : 0), off = blk << blkbits;
	uint64_t dirty0;
	struct buffer_head *bh, *bh2;
	unsigned char *want = malloc(bs);
	struct io got, then;
	struct fx fx;
	int err = 1;

	setup(&fx, blkbits, false, true);
	dev_fill(&fx, META_OFF, 2 * PAGE_SIZE, 5);
	dirty0 = cache_stat(fx.cache, NR_DIRTY);
	then = io_now(fx.dev);
	bh = bread(&fx.bm, blk, &err);
	got = io_since(fx.dev, then);
	ok(bh != NULL, "bs %u: bread", bs);
	if (!bh)
		BAIL("bread failed: %d", err);
	is_u64(got.reads, 1, "bs %u: bread reads once", bs);
	is_u64(got.rbytes, bs, "bs %u: bread reads one block", bs);
	ok(bh->b_size == bs && bh->b_blocknr == blk && bh_test(bh, BH_Uptodate) &&
		   bh_test(bh, BH_Mapped),
	   "bs %u: head state", bs);
	fx_fill(want, off, bs, 5);
	ok(memcmp(bh->b_data, want, bs) == 0, "bs %u: bread bytes", bs);
	then = io_now(fx.dev);
	bh2 = bread(&fx.bm, blk, &err);
	ok(bh2 == bh && io_since(fx.dev, then).reads == 0, "bs %u: second bread is a hit", bs);
	is_int(atomic_load(&bh->b_count), 2, "bs %u: b_count 2", bs);
	brelse(bh2);

	lock_buffer(bh);
	memset(bh->b_data, 0xa5, bs);
	mark_buffer_dirty(bh);
	unlock_buffer(bh);
	ok(bh_test(bh, BH_Dirty) && page_test(bh->b_page, PG_dirty), "bs %u: dirty", bs);
	is_u64(cache_stat(fx.cache, NR_DIRTY), dirty0 + 1, "bs %u: NR_DIRTY +1", bs);
	if (bs < PAGE_SIZE) /* the clean neighbour changes behind the cache */
		dev_fill(&fx, off - bs, bs, 77);
	brelse(bh);
	ok(dev_has_pat(&fx, off, bs, 5), "bs %u: device unchanged before writeback", bs);

	then = io_now(fx.dev);
	is_int(filemap_write_and_wait(&fx.bm), 0, "bs %u: write_and_wait device mapping", bs);
	got = io_since(fx.dev, then);
	is_u64(got.writes, 1, "bs %u: one device write", bs);
	is_u64(got.wbytes, bs, "bs %u: only the dirty block", bs);
	memset(want, 0xa5, bs);
	ok(fx_dev_has(&fx, off, want, bs), "bs %u: device holds the change", bs);
	if (bs < PAGE_SIZE)
		ok(dev_has_pat(&fx, off - bs, bs, 77), "bs %u: clean neighbour not written", bs);
	is_u64(cache_stat(fx.cache, NR_DIRTY), dirty0, "bs %u: NR_DIRTY back", bs);
	free(want);
	teardown(&fx);
}

/* getblk + set_buffer_uptodate + sync_dirty_buffer; bread past the end. */
static void test_getblk_sync(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	uint64_t blk = (META_OFF >> blkbits) + 2;
	unsigned char *want = malloc(bs);
	struct buffer_head *bh;
	struct io got, then;
	struct fx fx;
	int err = 0;

	setup(&fx, blkbits, false, true);
	dev_fill(&fx, META_OFF, 2 * PAGE_SIZE, 6);
	then = io_now(fx.dev);
	bh = getblk(&fx.bm, blk, &err);
	if (!bh)
		BAIL("getblk failed: %d", err);
	ok(!bh_test(bh, BH_Uptodate), "bs %u: getblk does not read", bs);
	lock_buffer(bh);
	memset(bh->b_data, 0x5a, bs);
	set_buffer_uptodate(bh);
	mark_buffer_dirty(bh);
	unlock_buffer(bh);
	is_int(sync_dirty_buffer(bh), 0, "bs %u: sync_dirty_buffer", bs);
	got = io_since(fx.dev, then);
	is_u64(got.reads, 0, "bs %u: nothing read", bs);
	is_u64(got.wbytes, bs, "bs %u: one block written", bs);
	memset(want, 0x5a, bs);
	ok(fx_dev_has(&fx, blk << blkbits, want, bs), "bs %u: device holds it", bs);
	ok(!bh_test(bh, BH_Dirty) && !page_test(bh->b_page, PG_dirty), "bs %u: head and page clean",
	   bs);
	is_int(sync_dirty_buffer(bh), 0, "bs %u: sync of a clean head", bs);
	ok(page_test(bh->b_page, PG_uptodate) == (bs == PAGE_SIZE),
	   "bs %u: page uptodate only if every head is", bs);
	brelse(bh);
	bh = bread(&fx.bm, DEV_BYTES >> blkbits, &err);
	ok(bh == NULL && err == -EINVAL, "bs %u: bread past the device end: -EINVAL", bs);
	free(want);
	teardown(&fx);
}

/* A pinned head is skipped by writeback and written after bh_unpin. */
static void test_pin(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	uint64_t blk = META_OFF >> blkbits, off = blk << blkbits;
	struct buffer_head *bh, *other = NULL;
	unsigned char *want = malloc(bs);
	struct io got, then;
	struct fx fx;
	int err;

	setup(&fx, blkbits, false, true);
	dev_fill(&fx, META_OFF, PAGE_SIZE, 8);
	bh = bread(&fx.bm, blk, &err);
	if (!bh)
		BAIL("bread failed: %d", err);
	lock_buffer(bh);
	bh_pin(bh);
	memset(bh->b_data, 0x11, bs);
	mark_buffer_dirty(bh);
	unlock_buffer(bh);
	if (bs < PAGE_SIZE) { /* an unpinned dirty neighbour in the same page */
		other = bread(&fx.bm, blk + 1, &err);
		if (!other)
			BAIL("bread failed: %d", err);
		memset(other->b_data, 0x22, bs);
		mark_buffer_dirty(other);
	}
	then = io_now(fx.dev);
	is_int(filemap_write_and_wait(&fx.bm), 0, "bs %u: write_and_wait with a pin", bs);
	got = io_since(fx.dev, then);
	is_u64(got.wbytes, other ? bs : 0, "bs %u: pinned block not written", bs);
	ok(dev_has_pat(&fx, off, bs, 8), "bs %u: device unchanged under the pin", bs);
	ok(page_test(bh->b_page, PG_dirty) && bh_test(bh, BH_Dirty),
	   "bs %u: page and head still dirty", bs);
	is_u64(cache_stat(fx.cache, NR_DIRTY), 1, "bs %u: NR_DIRTY still counts it", bs);
	if (other)
		ok(!bh_test(other, BH_Dirty), "bs %u: the unpinned neighbour was written", bs);
	is_int(sync_dirty_buffer(bh), -EBUSY, "bs %u: sync_dirty_buffer refuses a pin", bs);
	lock_page(bh->b_page);
	ok(!try_to_free_buffers(bh->b_page), "bs %u: pinned heads are not freed", bs);
	ok(page_has_pinned_buffers(bh->b_page), "bs %u: page_has_pinned_buffers", bs);
	unlock_page(bh->b_page);
	bh_unpin(bh);
	then = io_now(fx.dev);
	is_int(filemap_write_and_wait(&fx.bm), 0, "bs %u: write_and_wait after unpin", bs);
	got = io_since(fx.dev, then);
	is_u64(got.wbytes, bs, "bs %u: the unpinned block is written", bs);
	memset(want, 0x11, bs);
	ok(fx_dev_has(&fx, off, want, bs), "bs %u: device holds it", bs);
	ok(!page_test(bh->b_page, PG_dirty), "bs %u: page clean", bs);
	is_u64(cache_stat(fx.cache, NR_DIRTY), 0, "bs %u: NR_DIRTY 0", bs);
	brelse(other);
	brelse(bh);
	free(want);
	teardown(&fx);
}

/* Contiguous dirty blocks across a page boundary: one device write. */
static void test_bdev_merge(unsigned blkbits)
{
	unsigned bs = 1U << blkbits, n = PAGE_SIZE / bs;
	uint64_t first = (META_OFF >> blkbits) + n - 1, nblk = n + 1;
	struct buffer_head *bh[8];
	struct io got, then;
	struct fx fx;
	int err;

	setup(&fx, blkbits, false, true);
	dev_fill(&fx, META_OFF, 4 * PAGE_SIZE, 12);
	for (unsigned i = 0; i < nblk; i++) {
		bh[i] = bread(&fx.bm, first + i, &err);
		if (!bh[i])
			BAIL("bread: %d", err);
		lock_buffer(bh[i]);
		memset(bh[i]->b_data, 0x40 + i, bs);
		mark_buffer_dirty(bh[i]);
		unlock_buffer(bh[i]);
	}
	is_u64(cache_stat(fx.cache, NR_DIRTY), 2, "bs %u: two dirty pages", bs);
	then = io_now(fx.dev);
	is_int(filemap_write_and_wait(&fx.bm), 0, "bs %u: write_and_wait", bs);
	got = io_since(fx.dev, then);
	is_u64(got.writes, 1, "bs %u: %u blocks over two pages in one write", bs, (unsigned)nblk);
	is_u64(got.wbytes, nblk * bs, "bs %u: only those blocks", bs);
	for (unsigned i = 0; i < nblk; i++) {
		unsigned char want[4096];

		memset(want, 0x40 + i, bs);
		ok(fx_dev_has(&fx, (first + i) << blkbits, want, bs),
		   "bs %u: block %u on the device", bs, i);
		brelse(bh[i]);
	}
	if (n > 1)
		ok(dev_has_pat(&fx, META_OFF, (size_t)(n - 1) * bs, 12),
		   "bs %u: clean blocks before the run untouched", bs);
	teardown(&fx);
}

/* try_to_free_buffers and cancel_dirty_page on device-mapping pages. */
static void test_free_and_cancel(unsigned blkbits)
{
	unsigned bs = 1U << blkbits, n = PAGE_SIZE / bs;
	uint64_t blk = META_OFF >> blkbits;
	struct buffer_head *bh;
	struct page *page;
	uint64_t heads;
	struct fx fx;
	int err;

	setup(&fx, blkbits, false, true);
	bh = bread(&fx.bm, blk, &err);
	if (!bh)
		BAIL("bread failed: %d", err);
	page = bh->b_page;
	heads = cache_stat(fx.cache, NR_BUFFER_HEADS);
	is_u64(heads, n, "bs %u: NR_BUFFER_HEADS = heads per page", bs);
	lock_page(page);
	ok(!try_to_free_buffers(page), "bs %u: heads in use are not freed", bs);
	unlock_page(page);
	mark_buffer_dirty(bh);
	lock_page(page);
	buffer_assert_state(page);
	cancel_dirty_page(page);
	ok(!page_test(page, PG_dirty) && !bh_test(bh, BH_Dirty), "bs %u: dirtiness cancelled", bs);
	is_u64(cache_stat(fx.cache, NR_DIRTY), 0, "bs %u: NR_DIRTY back to 0", bs);
	unlock_page(page);
	get_page(page);
	brelse(bh);
	lock_page(page);
	ok(try_to_free_buffers(page), "bs %u: clean unused heads freed", bs);
	ok(!page_test(page, PG_private) && !page->private, "bs %u: page has no heads", bs);
	is_u64(cache_stat(fx.cache, NR_BUFFER_HEADS), 0, "bs %u: NR_BUFFER_HEADS 0", bs);
	unlock_page(page);
	put_page(page);
	teardown(&fx);
}

/* Device read errors reach bread's and filemap_read's callers. */
static void test_read_errors(unsigned blkbits)
{
	unsigned bs = 1U << blkbits;
	uint64_t blk = META_OFF >> blkbits, errs;
	struct file_ra_state ra;
	unsigned char buf[64];
	struct buffer_head *bh;
	struct fx fx;
	int err = 0;

	setup(&fx, blkbits, true, true);
	errs = cache_stat(fx.cache, READ_ERRORS);
	faulty_fail_range(fx.ctl, FAULTY_READ, blk << blkbits, bs);
	bh = bread(&fx.bm, blk, &err);
	ok(bh == NULL && err == -EIO, "bs %u: bread read error is -EIO", bs);
	ok(cache_stat(fx.cache, READ_ERRORS) > errs, "bs %u: READ_ERRORS moved", bs);
	faulty_clear_ranges(fx.ctl);
	bh = bread(&fx.bm, blk, &err);
	ok(bh != NULL, "bs %u: bread works once the device does", bs);
	brelse(bh);

	faulty_fail_range(fx.ctl, FAULTY_READ, FILE_OFF + 5 * PAGE_SIZE, PAGE_SIZE);
	file_ra_state_init(&ra, &fx.f[0].mapping);
	is_int(filemap_read(&fx.f[0].mapping, &ra, buf, sizeof(buf), 5 * PAGE_SIZE + 100), -EIO,
	       "bs %u: filemap_read gets -EIO", bs);
	faulty_clear_ranges(fx.ctl);
	ok(fx_read_matches(&fx, 5 * PAGE_SIZE, PAGE_SIZE), "bs %u: read works afterwards", bs);
	teardown(&fx);
}

int main(void)
{
	static const unsigned sizes[] = {10, 11, 12};

	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		diag("block size %u", 1U << sizes[i]);
		test_partial_write(sizes[i]);
		test_new_blocks(sizes[i]);
		test_dirty_blocks_only(sizes[i]);
		test_block_read_page(sizes[i]);
		test_bread_roundtrip(sizes[i]);
		test_getblk_sync(sizes[i]);
		test_pin(sizes[i]);
		test_bdev_merge(sizes[i]);
		test_free_and_cancel(sizes[i]);
		test_read_errors(sizes[i]);
	}
	return done_testing();
}
