/*
 * tests/unit/test_faults.c - the page cache over a failing device.
 *
 * Every case builds its own RAM device wrapped by the fault-injecting device
 * (backing/faulty.c), its own cache and testfs files, and checks:
 *  - read errors: -EIO reaches filemap_read()'s caller, the page is not left
 *    uptodate, bytes before the bad page still arrive, a good page whose
 *    readahead window covered the bad block still reads, and once the fault
 *    clears the data reads back right (4 KiB and 1 KiB blocks);
 *  - write-back errors: filemap_write_and_wait() and, once per sampler,
 *    file_check_and_advance_wb_err() report -EIO; the page stays dirty (and
 *    its failed buffer dirty with BH_Write_EIO), drop_clean keeps it, and the
 *    data reaches the device after the fault clears; the same with the device
 *    failing after N writes;
 *  - a torn write leaves the first block new and the rest old on the device,
 *    then the retry lands everything; a crash point leaves the lower device
 *    with exactly what was durable at the last flush;
 *  - latency on every request does not change any byte (two writers/readers
 *    under a small memory limit, reclaim writing dirty pages);
 *  - bread() of a failing metadata block returns NULL with -EIO, a failed
 *    sync_dirty_buffer() leaves the buffer dirty.
 * Each case ends with the cache's allocation counters back at zero.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu.h>

#include "backing/bdev.h"
#include "cache/cache.h"
#include "tests/lib/cachefix.h"
#include "tests/lib/tap.h"

#define KIB 1024ULL

/* One case's world: a RAM device behind the faulty wrapper, a cache. */
static void fenv_init(struct fx *e, uint64_t dev_bytes, uint32_t lbs, unsigned pool_pages,
		      unsigned limit_pages, uint32_t max_io)
{
	struct fx_params p = {
		.dev_bytes = dev_bytes,
		.lbs = lbs,
		.faulty = true,
		.cache = {.pool_bytes = (uint64_t)pool_pages * PAGE_SIZE,
			  .limit_bytes = (uint64_t)limit_pages * PAGE_SIZE,
			  .no_reclaimer = limit_pages == 0,
			  .max_io_bytes = max_io},
	};

	fx_setup(e, &p);
}

/* Leak check, then free everything. */
static void fenv_fini(struct fx *e, const char *name)
{
	struct cache_mem mi;

	rcu_barrier();
	cache_mem_info(e->cache, &mi);
	ok(!mi.pages_in_use && !mi.buffer_heads && !mi.mappings && !mi.xa_nodes &&
		   !mi.metadata_bytes,
	   "%s: nothing left in the cache at teardown (pages %" PRIu64 " bh %" PRIu64
	   " mappings %" PRIu64 " nodes %" PRIu64 " metadata %" PRIu64 ")",
	   name, mi.pages_in_use, mi.buffer_heads, mi.mappings, mi.xa_nodes, mi.metadata_bytes);
	fx_destroy(e);
}

/* Deterministic contents: generation @gen of the bytes at file offset @pos. */
static void pattern(unsigned char *p, uint64_t pos, size_t len, unsigned gen)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)((((pos + i) * 2654435761ULL) >> 13) ^ (gen * 0x3b) ^ 1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		BAIL("out of memory");
	return p;
}

/* True if the RAM device holds zeros at [off, off + len). */
static bool lower_zero(struct fx *e, uint64_t off, size_t len)
{
	unsigned char *z = calloc(1, len);
	bool same;

	if (!z)
		BAIL("out of memory");
	same = fx_dev_has(e, off, z, len);
	free(z);
	return same;
}

/* Page @index is cached and dirty. */
static bool page_is_dirty(struct address_space *m, uint64_t index)
{
	struct page *page = find_get_page(m, index);
	bool dirty;

	if (!page)
		return false;
	dirty = page_test(page, PG_dirty) && !page_test(page, PG_writeback);
	put_page(page);
	return dirty;
}

/* Buffer @nr of cached page @index has every bit in @bits. */
static bool bh_has(struct address_space *m, uint64_t index, unsigned nr, unsigned long bits)
{
	struct page *page = find_get_page(m, index);
	struct buffer_head *bh;
	bool has = false;

	if (!page)
		return false;
	lock_page(page);
	if (page_test(page, PG_private)) {
		bh = page->private;
		while (nr--)
			bh = bh->b_this_page;
		has = (atomic_load(&bh->b_state) & bits) == bits;
	}
	unlock_page(page);
	put_page(page);
	return has;
}

static ssize_t read_fresh(struct address_space *m, void *buf, size_t len, uint64_t pos)
{
	struct file_ra_state ra;

	file_ra_state_init(&ra, m);
	return filemap_read(m, &ra, buf, len, pos);
}

/* ---- read errors ---- */

static void test_read_eio(unsigned bits)
{
	unsigned bs = 1U << bits;
	/* The bad block: page 1's second block (or page 1 itself for 4 KiB blocks). */
	uint64_t bad = 4096 + (bs < 4096 ? bs : 0);
	unsigned char *data = xmalloc(16 * KIB), *buf = xmalloc(16 * KIB);
	struct testfile f;
	struct fx e;
	struct page *page;
	uint64_t rerr;
	ssize_t r;

	diag("read errors, block size %u", bs);
	fenv_init(&e, 1024 * KIB, 512, 256, 0, 0);
	fx_file_init(&e, &f, bits, 0, 256 * KIB);
	pattern(data, 0, 16 * KIB, 1);
	is_int(filemap_write(&f.mapping, data, 16 * KIB, 0), 16 * KIB, "bs %u: write 16 KiB", bs);
	is_int(filemap_write_and_wait(&f.mapping), 0, "bs %u: written back", bs);
	cache_drop_clean(e.cache);
	is_u64(f.mapping.nrpages, 0, "bs %u: drop_clean emptied the mapping", bs);

	faulty_fail_range(e.ctl, FAULTY_READ, bad, bs);
	rerr = cache_stat(e.cache, READ_ERRORS);
	r = read_fresh(&f.mapping, buf, 4096, 4096);
	is_int(r, -EIO, "bs %u: reading the page with the bad block returns -EIO", bs);
	page = find_get_page(&f.mapping, 1);
	ok(!page || !page_test(page, PG_uptodate), "bs %u: that page is not left uptodate", bs);
	if (page)
		put_page(page);
	ok(cache_stat(e.cache, READ_ERRORS) > rerr, "bs %u: READ_ERRORS moved", bs);

	r = read_fresh(&f.mapping, buf, 4096, 0);
	ok(r == 4096 && !memcmp(buf, data, 4096),
	   "bs %u: page 0 reads right although its readahead window held the bad block (%zd)", bs,
	   r);
	r = read_fresh(&f.mapping, buf, 12 * KIB, 0);
	ok(r == 4096 && !memcmp(buf, data, 4096),
	   "bs %u: a read across the bad page returns the bytes before it (%zd)", bs, r);
	r = read_fresh(&f.mapping, buf, 4096, 4096);
	is_int(r, -EIO,
	       "bs %u: a second read of the bad page fails again (error not cached as data)", bs);

	faulty_clear_ranges(e.ctl);
	r = read_fresh(&f.mapping, buf, 16 * KIB, 0);
	ok(r == 16 * KIB && !memcmp(buf, data, 16 * KIB),
	   "bs %u: after the fault clears all 16 KiB read back right (%zd)", bs, r);
	testfile_destroy(&f);
	fenv_fini(&e, bits == 12 ? "read EIO 4k" : "read EIO 1k");
	free(data);
	free(buf);
}

/* ---- write-back errors ---- */

static void check_wb_failure_state(struct fx *e, struct testfile *f, uint64_t bad, unsigned bs)
{
	uint64_t idx = bad / PAGE_SIZE;

	ok(page_is_dirty(&f->mapping, idx),
	   "bs %u: the page whose write failed is still dirty, not under writeback", bs);
	if (bs < PAGE_SIZE)
		ok(bh_has(&f->mapping, idx, (unsigned)((bad % PAGE_SIZE) / bs),
			  (1UL << BH_Dirty) | (1UL << BH_Write_EIO)),
		   "bs %u: the failed buffer is dirty with BH_Write_EIO", bs);
	ok(cache_stat(e->cache, NR_DIRTY) >= 1 && atomic_load(&f->mapping.nrdirty) >= 1,
	   "bs %u: NR_DIRTY %" PRIu64 " and nrdirty %" PRIu64 " count it", bs,
	   cache_stat(e->cache, NR_DIRTY), (uint64_t)atomic_load(&f->mapping.nrdirty));
	ok(lower_zero(e, bad, bs), "bs %u: the failed block did not reach the device", bs);
	cache_drop_clean(e->cache);
	cache_reclaim(e->cache, 64);
	ok(page_is_dirty(&f->mapping, idx), "bs %u: drop_clean and reclaim keep the dirty page",
	   bs);
}

static void test_write_eio(unsigned bits)
{
	unsigned bs = 1U << bits;
	uint64_t bad = 8192 + (bs < 4096 ? bs : 0); /* in page 2 */
	unsigned char *data = xmalloc(16 * KIB);
	errseq_t s1, s2, s3;
	struct testfile f;
	struct fx e;
	uint64_t wbe;

	diag("write-back errors, block size %u", bs);
	fenv_init(&e, 1024 * KIB, 512, 256, 0, 0);
	fx_file_init(&e, &f, bits, 0, 256 * KIB);
	s1 = filemap_sample_wb_err(&f.mapping);
	s2 = filemap_sample_wb_err(&f.mapping);
	pattern(data, 0, 16 * KIB, 2);
	is_int(filemap_write(&f.mapping, data, 16 * KIB, 0), 16 * KIB, "bs %u: write 16 KiB", bs);

	faulty_fail_range(e.ctl, FAULTY_WRITE, bad, bs);
	wbe = cache_stat(e.cache, WB_ERRORS);
	is_int(filemap_write_and_wait(&f.mapping), -EIO, "bs %u: write_and_wait reports -EIO", bs);
	ok(cache_stat(e.cache, WB_ERRORS) > wbe, "bs %u: WB_ERRORS moved", bs);
	check_wb_failure_state(&e, &f, bad, bs);
	is_int(file_check_and_advance_wb_err(&s1, &f.mapping), -EIO,
	       "bs %u: the first fsync of opener 1 sees -EIO", bs);
	is_int(file_check_and_advance_wb_err(&s1, &f.mapping), 0,
	       "bs %u: its second fsync does not see it again", bs);
	is_int(file_check_and_advance_wb_err(&s2, &f.mapping), -EIO,
	       "bs %u: opener 2 sees the error too", bs);

	faulty_clear_ranges(e.ctl);
	is_int(filemap_write_and_wait(&f.mapping), 0, "bs %u: after the fault clears it succeeds",
	       bs);
	is_u64(cache_stat(e.cache, NR_DIRTY), 0, "bs %u: NR_DIRTY back to 0", bs);
	is_u64(f.mapping.nrdirty, 0, "bs %u: the mapping is clean", bs);
	ok(fx_dev_has(&e, 0, data, 16 * KIB), "bs %u: the device holds all 16 KiB", bs);
	is_int(file_check_and_advance_wb_err(&s1, &f.mapping), 0,
	       "bs %u: no new error after the successful write-back", bs);
	s3 = filemap_sample_wb_err(&f.mapping);
	is_int(file_check_and_advance_wb_err(&s3, &f.mapping), 0,
	       "bs %u: an opener sampling after everything was seen gets 0", bs);
	testfile_destroy(&f);
	fenv_fini(&e, bits == 12 ? "write EIO 4k" : "write EIO 1k");
	free(data);
}

/* The device fails every write after the first; one page per device write. */
static void test_write_fail_after(void)
{
	unsigned char *data = xmalloc(16 * KIB);
	struct testfile f;
	struct fx e;
	bool dirty = true;

	diag("write-back after the device starts failing (fail_after)");
	fenv_init(&e, 1024 * KIB, 512, 256, 0, 4096);
	fx_file_init(&e, &f, 12, 0, 256 * KIB);
	pattern(data, 0, 16 * KIB, 3);
	is_int(filemap_write(&f.mapping, data, 16 * KIB, 0), 16 * KIB, "write 4 pages");
	faulty_fail_after(e.ctl, FAULTY_WRITE, 1);
	is_int(filemap_write_and_wait(&f.mapping), -EIO, "write_and_wait reports -EIO");
	ok(fx_dev_has(&e, 0, data, 4096), "the first page (one device write) landed");
	ok(lower_zero(&e, 4096, 12 * KIB), "the three others did not");
	for (uint64_t i = 1; i < 4; i++)
		dirty = dirty && page_is_dirty(&f.mapping, i);
	ok(dirty, "pages 1-3 are still dirty");
	ok(!page_is_dirty(&f.mapping, 0), "page 0 is clean");
	is_u64(cache_stat(e.cache, NR_DIRTY), 3, "NR_DIRTY is 3");
	faulty_reset(e.ctl);
	is_int(filemap_write_and_wait(&f.mapping), 0, "after faulty_reset write_and_wait succeeds");
	ok(fx_dev_has(&e, 0, data, 16 * KIB), "the device holds all 4 pages");
	is_u64(cache_stat(e.cache, NR_DIRTY), 0, "NR_DIRTY back to 0");
	testfile_destroy(&f);
	fenv_fini(&e, "fail_after");
	free(data);
}

/* ---- torn write, crash point ---- */

static void test_torn_write(void)
{
	unsigned char *a = xmalloc(16 * KIB), *b = xmalloc(16 * KIB);
	struct testfile f;
	struct fx e;
	uint64_t inj;
	bool dirty = true;

	diag("torn write");
	fenv_init(&e, 1024 * KIB, 4096, 256, 0, 0);
	fx_file_init(&e, &f, 12, 0, 256 * KIB);
	pattern(a, 0, 16 * KIB, 4);
	pattern(b, 0, 16 * KIB, 5);
	is_int(filemap_write(&f.mapping, a, 16 * KIB, 0), 16 * KIB, "write A");
	is_int(filemap_write_and_wait(&f.mapping), 0, "A written back");
	is_int(bdev_flush(e.dev), 0, "A flushed");
	is_int(filemap_write(&f.mapping, b, 16 * KIB, 0), 16 * KIB, "overwrite with B");
	inj = faulty_injected(e.ctl);
	faulty_tear_next_write(e.ctl, 1);
	is_int(filemap_write_and_wait(&f.mapping), -EIO, "the torn write-back reports -EIO");
	is_u64(faulty_injected(e.ctl), inj + 1,
	       "the 4 contiguous pages went down as one device write, which was torn");
	ok(fx_dev_has(&e, 0, b, 4096), "the first block of the torn write landed (B)");
	ok(fx_dev_has(&e, 4096, a + 4096, 12 * KIB), "the rest of the device still holds A");
	for (uint64_t i = 1; i < 4; i++)
		dirty = dirty && page_is_dirty(&f.mapping, i);
	ok(dirty, "the pages that did not land are still dirty");
	is_int(filemap_write_and_wait(&f.mapping), 0, "the retry succeeds");
	ok(fx_dev_has(&e, 0, b, 16 * KIB), "the device holds B");
	testfile_destroy(&f);
	fenv_fini(&e, "torn write");
	free(a);
	free(b);
}

static void test_crash_point(void)
{
	const uint64_t dev_bytes = 256 * KIB;
	unsigned char *a = xmalloc(64 * KIB), *b = xmalloc(80 * KIB), *snap = xmalloc(dev_bytes);
	struct testfile f;
	struct fx e;
	uint64_t dirty;

	diag("crash point");
	/* 8 KiB per device write, so the write-back takes 10 writes. */
	fenv_init(&e, dev_bytes, 4096, 256, 0, 8192);
	fx_file_init(&e, &f, 12, 0, dev_bytes);
	pattern(a, 0, 64 * KIB, 6);
	pattern(b, 0, 80 * KIB, 7);
	is_int(filemap_write(&f.mapping, a, 64 * KIB, 0), 64 * KIB, "write A (16 pages)");
	is_int(filemap_write_and_wait(&f.mapping), 0, "A written back");
	is_int(bdev_flush(e.dev), 0, "A flushed: durable");
	if (bdev_read(e.mem, 0, snap, dev_bytes))
		BAIL("bdev_read lower");
	is_int(filemap_write(&f.mapping, b, 80 * KIB, 0), 80 * KIB,
	       "overwrite with B and extend to 20 pages");
	faulty_crash_after(e.ctl, 3);
	is_int(filemap_write_and_wait(&f.mapping), -EIO,
	       "write-back that runs into the crash point reports -EIO");
	ok(faulty_crashed(e.ctl), "the crash happened");
	ok(fx_dev_has(&e, 0, snap, dev_bytes),
	   "the lower device holds exactly the durable contents (A, nothing of B)");
	dirty = atomic_load(&f.mapping.nrdirty);
	ok(dirty >= 1 && cache_stat(e.cache, NR_DIRTY) == dirty,
	   "pages whose write failed stay dirty (%" PRIu64 ")", dirty);
	ok(bdev_flush(e.dev) == -EIO, "the crashed device refuses a flush");
	testfile_destroy(&f);
	fenv_fini(&e, "crash point");
	free(a);
	free(b);
	free(snap);
}

/* ---- latency ---- */

#define LAT_FILE (512 * KIB)

struct lat_worker {
	pthread_t thread;
	struct testfile f;
	unsigned char *model;
	uint64_t size;
	uint64_t rng;
	unsigned bad; /* mismatches and failed calls */
};

static uint64_t lat_rnd(struct lat_worker *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static void lat_write(struct lat_worker *w, unsigned char *buf)
{
	uint64_t pos = lat_rnd(w) % LAT_FILE;
	size_t len = 1 + lat_rnd(w) % (16 * KIB);

	if (len > LAT_FILE - pos)
		len = LAT_FILE - pos;
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)lat_rnd(w);
	if (filemap_write(&w->f.mapping, buf, len, pos) != (ssize_t)len) {
		w->bad++;
		return;
	}
	memcpy(w->model + pos, buf, len);
	if (pos + len > w->size)
		w->size = pos + len;
}

/* Read the whole file in 32 KiB steps and compare with the model. */
static unsigned lat_verify(struct testfile *f, const unsigned char *model, uint64_t size)
{
	unsigned char *buf = xmalloc(32 * KIB);
	struct file_ra_state ra;
	unsigned bad = 0;
	uint64_t pos = 0;
	ssize_t r;

	file_ra_state_init(&ra, &f->mapping);
	while (pos < size) {
		r = filemap_read(&f->mapping, &ra, buf, 32 * KIB, pos);
		if (r <= 0 || memcmp(buf, model + pos, (size_t)r)) {
			bad++;
			break;
		}
		pos += (uint64_t)r;
	}
	free(buf);
	return bad;
}

static void *lat_main(void *arg)
{
	struct lat_worker *w = arg;
	unsigned char *buf = xmalloc(16 * KIB);

	for (int i = 0; i < 200; i++) {
		lat_write(w, buf);
		if (i % 50 == 49 && filemap_write_and_wait(&w->f.mapping))
			w->bad++;
	}
	if (filemap_write_and_wait(&w->f.mapping))
		w->bad++;
	w->bad += lat_verify(&w->f, w->model, w->size);
	free(buf);
	return NULL;
}

static void test_latency(void)
{
	static const unsigned bits[2] = {12, 10};
	struct lat_worker w[2];
	struct fx e;
	unsigned bad = 0;

	diag("latency (200 us per request), 2 threads, limit 64 pages");
	fenv_init(&e, 2 * LAT_FILE, 512, 128, 64, 0);
	faulty_set_latency(e.ctl, 200);
	for (int i = 0; i < 2; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		fx_file_init(&e, &w[i].f, bits[i], i * LAT_FILE, LAT_FILE);
		w[i].model = calloc(1, LAT_FILE);
		w[i].rng = 0x1234567ULL * (i + 1);
		if (!w[i].model || pthread_create(&w[i].thread, NULL, lat_main, &w[i]))
			BAIL("latency setup");
	}
	for (int i = 0; i < 2; i++)
		pthread_join(w[i].thread, NULL);
	for (int i = 0; i < 2; i++)
		bad += w[i].bad;
	is_int(bad, 0, "writes, write-backs and a full read-back under latency are all right");
	cache_drop_clean(e.cache);
	bad = 0;
	for (int i = 0; i < 2; i++)
		bad += lat_verify(&w[i].f, w[i].model, w[i].size);
	is_int(bad, 0, "after drop_clean both files read back right from the device");
	ok(cache_stat(e.cache, PGSTEAL_KSWAPD) + cache_stat(e.cache, PGSTEAL_DIRECT) > 0,
	   "reclaim ran under the 64-page limit");
	for (int i = 0; i < 2; i++) {
		testfile_destroy(&w[i].f);
		free(w[i].model);
	}
	fenv_fini(&e, "latency");
}

/* ---- metadata: bread / sync_dirty_buffer ---- */

static void test_bread(unsigned bits)
{
	unsigned bs = 1U << bits;
	const uint64_t blk = 5;
	unsigned char *pat = xmalloc(4096), *ones = xmalloc(bs);
	struct address_space bdm;
	struct buffer_head *bh;
	struct fx e;
	int err;

	diag("metadata blocks, block size %u", bs);
	fenv_init(&e, 1024 * KIB, 512, 64, 0, 0);
	if (mapping_init_bdev(&bdm, e.cache, e.dev, bits))
		BAIL("mapping_init_bdev");
	pattern(pat, blk * bs, bs, 8);
	if (bdev_write(e.mem, blk * bs, pat, bs))
		BAIL("bdev_write lower");

	faulty_fail_range(e.ctl, FAULTY_READ, blk * bs, bs);
	err = 0;
	bh = bread(&bdm, blk, &err);
	ok(bh == NULL, "bs %u: bread of a failing block returns NULL", bs);
	is_int(err, -EIO, "bs %u: with -EIO", bs);
	if (bh)
		brelse(bh);
	faulty_clear_ranges(e.ctl);
	bh = bread(&bdm, blk, &err);
	if (!bh)
		BAIL("bread after the fault cleared: %d", err);
	ok(bh_test(bh, BH_Uptodate) && !memcmp(bh->b_data, pat, bs),
	   "bs %u: after the fault clears bread returns the block's bytes", bs);

	memset(ones, 0xa5, bs);
	lock_buffer(bh);
	memcpy(bh->b_data, ones, bs);
	mark_buffer_dirty(bh);
	unlock_buffer(bh);
	faulty_fail_range(e.ctl, FAULTY_WRITE, blk * bs, bs);
	is_int(sync_dirty_buffer(bh), -EIO, "bs %u: sync_dirty_buffer reports -EIO", bs);
	ok(bh_test(bh, BH_Dirty) && bh_test(bh, BH_Write_EIO),
	   "bs %u: the buffer stays dirty, with BH_Write_EIO", bs);
	ok(fx_dev_has(&e, blk * bs, pat, bs), "bs %u: the device still holds the old block", bs);
	faulty_clear_ranges(e.ctl);
	is_int(sync_dirty_buffer(bh), 0, "bs %u: after the fault clears sync_dirty_buffer succeeds",
	       bs);
	ok(!bh_test(bh, BH_Dirty), "bs %u: the buffer is clean", bs);
	ok(fx_dev_has(&e, blk * bs, ones, bs), "bs %u: the device holds the new block", bs);
	brelse(bh);
	mapping_destroy(&bdm);
	fenv_fini(&e, bits == 12 ? "bread 4k" : "bread 1k");
	free(pat);
	free(ones);
}

static void on_alarm(int sig)
{
	static const char msg[] = "Bail out! fault test timed out\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	alarm(120);
	test_read_eio(12);
	test_read_eio(10);
	test_write_eio(12);
	test_write_eio(10);
	test_write_fail_after();
	test_torn_write();
	test_crash_point();
	test_latency();
	test_bread(10);
	test_bread(12);
	rcu_barrier();
	is_int(xa_nodes_live(), 0, "no xarray node alive at exit");
	return done_testing();
}
