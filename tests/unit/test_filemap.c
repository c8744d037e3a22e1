/*
 * tests/unit/test_filemap.c - address_space lookup, insertion and removal,
 * the read and write paths, truncate and punch, on the RAM device through
 * tests/lib/testfs.
 *
 * Checks: mapping_init argument errors; find_or_create_page /
 * add_to_page_cache_lru (-EEXIST) / delete_from_page_cache / read_cache_page
 * with nrpages and NR_FILE_PAGES; write then read bytes (unaligned, across
 * pages), i_size growth and EOF clamping; CACHE_HITS/CACHE_MISSES; holes read
 * zeros without device reads; the EOF page's tail is zero in the cache even
 * when the device holds garbage there; a 64-page read of a contiguous file is
 * one device read; a partial write reads the page once (read-modify-write)
 * while a write into a new block zeroes the rest without reading; truncate
 * then re-extend, and punch, leave nothing stale with 1, 2 and 4 KiB blocks
 * (in the cache and, after write-back and drop, on the device); lookups from
 * other threads during truncation only ever return the right page; leak
 * counters at teardown.
 */
#include "config.h"

#include <errno.h>
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

#define FILE_BLOCKS_BYTES (4ULL << 20) /* each test file's region */

static struct fx fx;
static unsigned next_region;

static void setup(void)
{
	struct fx_params p = {
		.dev_bytes = 64ULL << 20,
		.cache = {.pool_bytes = 2048 * PAGE_SIZE, .ra_max_pages = 32},
	};

	fx_setup(&fx, &p);
}

/* A testfs file over its own 4 MiB of the device. */
static void file_init(struct testfile *f, unsigned blkbits)
{
	uint64_t off = next_region++ * FILE_BLOCKS_BYTES;

	if (next_region * FILE_BLOCKS_BYTES > (64ULL << 20))
		BAIL("out of device regions");
	fx_file_init(&fx, f, blkbits, off, FILE_BLOCKS_BYTES);
}

static uint64_t dev_reads(void)
{
	struct bdev_stats st;

	bdev_get_stats(fx.dev, &st);
	return st.reads;
}

static void fill(unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed + i * 7 + (i >> 9));
}

static bool all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static bool all_byte(const unsigned char *p, size_t len, unsigned char c)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != c)
			return false;
	return true;
}

/* Write back, then drop every clean page, so the next read comes from the device. */
static void flush_and_drop(struct testfile *f)
{
	if (filemap_write_and_wait(&f->mapping))
		BAIL("filemap_write_and_wait");
	cache_drop_clean(fx.cache);
}

static void test_init_errors(void)
{
	struct address_space m;

	is_int(mapping_init(&m, fx.cache, fx.dev, 9, &testfs_aops, NULL), -EINVAL,
	       "mapping_init refuses 512-byte blocks");
	is_int(mapping_init(&m, fx.cache, fx.dev, 13, &testfs_aops, NULL), -EINVAL,
	       "mapping_init refuses 8 KiB blocks");
	is_int(mapping_init(&m, fx.cache, fx.dev, 12, NULL, NULL), -EINVAL,
	       "mapping_init needs map_blocks");
}

static void test_find_add_delete(void)
{
	struct testfile f;
	struct page *p, *q, *n;
	uint64_t nfp = cache_stat(fx.cache, NR_FILE_PAGES);

	file_init(&f, 12);
	is_int(find_or_create_page(&f.mapping, 7, &p), 0, "find_or_create_page creates");
	ok(page_test(p, PG_locked) && !page_test(p, PG_uptodate), "new page locked, not uptodate");
	ok(p->mapping == &f.mapping && p->index == 7, "new page's mapping and index");
	is_int(atomic_load(&p->refcount), 2, "mapping's reference + caller's");
	ok(page_test(p, PG_lru), "new page on the LRU");
	is_u64(atomic_load(&f.mapping.nrpages), 1, "nrpages 1");
	is_u64(cache_stat(fx.cache, NR_FILE_PAGES), nfp + 1, "NR_FILE_PAGES + 1");
	memset(page_address(p), 0x5A, PAGE_SIZE);
	page_set(p, PG_uptodate);
	unlock_page(p);
	is_int(find_or_create_page(&f.mapping, 7, &q), 0, "find_or_create_page finds");
	ok(q == p, "same page");
	unlock_page(q);
	put_page(q);
	q = find_get_page(&f.mapping, 7);
	ok(q == p, "find_get_page finds it");
	put_page(q);
	if (page_cache_alloc(fx.cache, &n))
		BAIL("alloc");
	is_int(add_to_page_cache_lru(n, &f.mapping, 7), -EEXIST, "add at a used index: -EEXIST");
	ok(!page_test(n, PG_locked) && n->mapping == NULL && atomic_load(&n->refcount) == 1,
	   "a refused page is left as it was");
	put_page(n);
	lock_page(p);
	delete_from_page_cache(p);
	ok(p->mapping == NULL, "deleted page has no mapping");
	unlock_page(p);
	is_int(atomic_load(&p->refcount), 1, "only the caller's reference is left");
	put_page(p);
	ok(find_get_page(&f.mapping, 7) == NULL, "deleted page is gone");
	is_u64(atomic_load(&f.mapping.nrpages), 0, "nrpages 0");
	is_u64(cache_stat(fx.cache, NR_FILE_PAGES), nfp, "NR_FILE_PAGES back");
	testfile_destroy(&f);
}

static void test_read_cache_page(void)
{
	struct testfile f;
	unsigned char buf[PAGE_SIZE];
	struct page *p;

	file_init(&f, 12);
	fill(buf, sizeof(buf), 3);
	is_int(filemap_write(&f.mapping, buf, sizeof(buf), PAGE_SIZE), PAGE_SIZE, "write page 1");
	flush_and_drop(&f);
	ok(find_get_page(&f.mapping, 1) == NULL, "dropped");
	is_int(read_cache_page(&f.mapping, 1, &p), 0, "read_cache_page");
	ok(page_test(p, PG_uptodate) && !page_test(p, PG_locked), "uptodate, unlocked");
	ok(memcmp(page_address(p), buf, PAGE_SIZE) == 0, "read_cache_page bytes");
	put_page(p);
	testfile_destroy(&f);
}

static void test_write_read(void)
{
	struct testfile f;
	size_t len = 3 * PAGE_SIZE + 1234;
	unsigned char *src = malloc(len), *dst = malloc(len + 100);
	uint64_t pos = 1000;

	file_init(&f, 12);
	fill(src, len, 11);
	is_int(filemap_write(&f.mapping, src, len, pos), len, "unaligned write across pages");
	is_u64(atomic_load(&f.mapping.i_size), pos + len, "i_size follows the write");
	is_int(filemap_read(&f.mapping, NULL, dst, len, pos), len, "read it back");
	ok(memcmp(src, dst, len) == 0, "same bytes");
	is_int(filemap_read(&f.mapping, NULL, dst, len + 100, pos), len, "read clamps at EOF");
	is_int(filemap_read(&f.mapping, NULL, dst, 10, pos + len), 0, "read at EOF returns 0");
	is_int(filemap_read(&f.mapping, NULL, dst, 10, pos + len + 5000), 0, "read past EOF: 0");
	is_int(filemap_read(&f.mapping, NULL, dst, 1000, 0), 1000, "bytes before the write");
	ok(all_zero(dst, 1000), "read as zeros");
	flush_and_drop(&f);
	memset(dst, 0, len);
	is_int(filemap_read(&f.mapping, NULL, dst, len, pos), len, "read again from the device");
	ok(memcmp(src, dst, len) == 0, "same bytes from the device");
	free(src);
	free(dst);
	testfile_destroy(&f);
}

static void test_hits_misses(void)
{
	struct testfile f;
	unsigned char buf[4 * PAGE_SIZE];
	uint64_t h, m, r;

	file_init(&f, 12);
	fill(buf, sizeof(buf), 5);
	filemap_write(&f.mapping, buf, sizeof(buf), 0);
	h = cache_stat(fx.cache, CACHE_HITS);
	m = cache_stat(fx.cache, CACHE_MISSES);
	r = dev_reads();
	is_int(filemap_read(&f.mapping, NULL, buf, sizeof(buf), 0), sizeof(buf), "read 4 pages");
	is_u64(cache_stat(fx.cache, CACHE_HITS) - h, 4, "4 hits");
	is_u64(cache_stat(fx.cache, CACHE_MISSES) - m, 0, "no miss");
	is_u64(dev_reads() - r, 0, "no device read");
	flush_and_drop(&f);
	h = cache_stat(fx.cache, CACHE_HITS);
	m = cache_stat(fx.cache, CACHE_MISSES);
	r = dev_reads();
	is_int(filemap_read(&f.mapping, NULL, buf, PAGE_SIZE, PAGE_SIZE), PAGE_SIZE, "read page 1");
	is_u64(cache_stat(fx.cache, CACHE_MISSES) - m, 1, "one miss");
	is_u64(cache_stat(fx.cache, CACHE_HITS) - h, 0, "no hit");
	is_u64(dev_reads() - r, 1, "one device read");
	testfile_destroy(&f);
}

static void test_holes(void)
{
	struct testfile f;
	unsigned char *buf = malloc(1 << 20);
	uint64_t r, m, pin;

	file_init(&f, 12);
	is_int(filemap_truncate(&f.mapping, 1 << 20), 0, "grow an empty file to 1 MiB");
	r = dev_reads();
	m = cache_stat(fx.cache, CACHE_MISSES);
	pin = cache_stat(fx.cache, PGPGIN);
	memset(buf, 0xFF, 1 << 20);
	is_int(filemap_read(&f.mapping, NULL, buf, 1 << 20, 0), 1 << 20, "read 1 MiB of holes");
	ok(all_zero(buf, 1 << 20), "holes read as zeros");
	is_u64(dev_reads() - r, 0, "no device read for holes");
	is_u64(cache_stat(fx.cache, PGPGIN) - pin, 0, "PGPGIN unchanged");
	ok(cache_stat(fx.cache, CACHE_MISSES) > m, "the reads were misses");
	free(buf);
	testfile_destroy(&f);
}

static void test_eof_tail(void)
{
	struct testfile f;
	unsigned char garbage[PAGE_SIZE], buf[PAGE_SIZE];
	struct page *p;

	file_init(&f, 12);
	memset(garbage, 0xEE, sizeof(garbage));
	bdev_write(fx.dev, f.base << 12, garbage, sizeof(garbage));
	f.alloc[0] = 1; /* block 0 allocated, holding garbage past the size */
	is_int(filemap_truncate(&f.mapping, 100), 0, "size 100");
	is_int(filemap_read(&f.mapping, NULL, buf, sizeof(buf), 0), 100, "read returns 100 bytes");
	ok(all_byte(buf, 100, 0xEE), "the 100 bytes come from the device");
	p = find_get_page(&f.mapping, 0);
	ok(p && page_test(p, PG_uptodate), "EOF page cached and uptodate");
	ok(p && all_zero((unsigned char *)page_address(p) + 100, PAGE_SIZE - 100),
	   "bytes past EOF are zero in the cached page");
	if (p)
		put_page(p);
	is_int(filemap_truncate(&f.mapping, 3000), 0, "grow to 3000");
	is_int(filemap_read(&f.mapping, NULL, buf, sizeof(buf), 0), 3000, "read 3000");
	ok(all_zero(buf + 100, 2900), "growing shows zeros, not the device's garbage");
	testfile_destroy(&f);
}

static void test_merged_read(void)
{
	struct testfile f;
	struct file_ra_state ra;
	size_t len = 64 * PAGE_SIZE;
	unsigned char *src = malloc(len), *dst = malloc(len);
	uint64_t r;

	file_init(&f, 12);
	fill(src, len, 21);
	filemap_write(&f.mapping, src, len, 0);
	flush_and_drop(&f);
	r = dev_reads();
	is_int(filemap_read(&f.mapping, NULL, dst, len, 0), len, "64-page read without readahead");
	ok(memcmp(src, dst, len) == 0, "bytes");
	is_u64(dev_reads() - r, 1, "one merged device read for 64 contiguous pages");
	cache_drop_clean(fx.cache);
	file_ra_state_init(&ra, &f.mapping);
	r = dev_reads();
	is_int(filemap_read(&f.mapping, &ra, dst, len, 0), len, "64-page read with readahead");
	ok(memcmp(src, dst, len) == 0, "bytes");
	ok(dev_reads() - r <= 3, "a few device reads (%llu)",
	   (unsigned long long)(dev_reads() - r));
	free(src);
	free(dst);
	testfile_destroy(&f);
}

static void test_partial_writes(void)
{
	struct testfile f;
	unsigned char page[PAGE_SIZE], buf[PAGE_SIZE], junk[PAGE_SIZE];
	uint64_t r;

	file_init(&f, 12);
	fill(page, sizeof(page), 31);
	filemap_write(&f.mapping, page, sizeof(page), 0);
	flush_and_drop(&f);
	r = dev_reads();
	memset(buf, 0x11, 10);
	is_int(filemap_write(&f.mapping, buf, 10, 100), 10, "partial write into a cold page");
	is_u64(dev_reads() - r, 1, "it read the page first");
	memcpy(page + 100, buf, 10);
	filemap_read(&f.mapping, NULL, buf, sizeof(buf), 0);
	ok(memcmp(page, buf, sizeof(buf)) == 0, "the rest of the page is preserved");

	/* a new block: the device holds junk there, the cache must not show it */
	memset(junk, 0xCC, sizeof(junk));
	bdev_write(fx.dev, (f.base + 5) << 12, junk, sizeof(junk));
	r = dev_reads();
	memset(buf, 0x22, 10);
	is_int(filemap_write(&f.mapping, buf, 10, 5 * PAGE_SIZE + 200), 10,
	       "partial write into a new block");
	is_u64(dev_reads() - r, 0, "no read for a new block");
	filemap_read(&f.mapping, NULL, buf, sizeof(buf), 5 * PAGE_SIZE);
	ok(all_zero(buf, 200) && all_byte(buf + 200, 10, 0x22), "new block: zeros then the data");
	is_u64(atomic_load(&f.mapping.i_size), 5 * PAGE_SIZE + 210, "i_size");
	flush_and_drop(&f);
	memset(buf, 0xFF, sizeof(buf));
	filemap_read(&f.mapping, NULL, buf, sizeof(buf), 4 * PAGE_SIZE);
	ok(all_zero(buf, PAGE_SIZE), "the hole before it reads as zeros");
	testfile_destroy(&f);
}

/* ---- truncate and punch leave nothing stale ---- */

static bool read_equals(struct testfile *f, const unsigned char *model, uint64_t size)
{
	unsigned char *buf = malloc(size + PAGE_SIZE);
	ssize_t got = filemap_read(&f->mapping, NULL, buf, size + PAGE_SIZE, 0);
	bool same = got == (ssize_t)size && memcmp(buf, model, size) == 0;

	if (!same) {
		for (uint64_t i = 0; i < size && got == (ssize_t)size; i++) {
			if (buf[i] != model[i]) {
				diag("first difference at %llu: %#x, model %#x",
				     (unsigned long long)i, buf[i], model[i]);
				break;
			}
		}
		if (got != (ssize_t)size)
			diag("read returned %zd, size %llu", got, (unsigned long long)size);
	}
	free(buf);
	return same;
}

static void test_truncate_stale(unsigned blkbits, bool written_back)
{
	const uint64_t big = 20000, small = 5003;
	unsigned char *model = calloc(1, big);
	unsigned bs = 1U << blkbits;
	struct testfile f;

	file_init(&f, blkbits);
	memset(model, 0xAA, big);
	filemap_write(&f.mapping, model, big, 0);
	if (written_back)
		filemap_write_and_wait(&f.mapping);
	is_int(testfs_truncate(&f, small), 0, "bs %u%s: truncate to %llu", bs,
	       written_back ? " (written back)" : " (dirty)", (unsigned long long)small);
	memset(model + small, 0, big - small);
	ok(read_equals(&f, model, small), "bs %u: the first %llu bytes survive", bs,
	   (unsigned long long)small);
	is_int(testfs_truncate(&f, big), 0, "bs %u: extend back to %llu", bs,
	       (unsigned long long)big);
	ok(read_equals(&f, model, big), "bs %u: the extension reads zeros (cache)", bs);
	filemap_write_and_wait(&f.mapping);
	cache_drop_clean(fx.cache);
	is_u64(atomic_load(&f.mapping.nrpages), 0, "bs %u: all pages dropped", bs);
	ok(read_equals(&f, model, big), "bs %u: the extension reads zeros (device)", bs);
	free(model);
	testfile_destroy(&f);
}

static void test_punch_stale(unsigned blkbits, uint64_t start, uint64_t len)
{
	const uint64_t size = 40000;
	unsigned char *model = malloc(size);
	unsigned bs = 1U << blkbits;
	struct testfile f;

	file_init(&f, blkbits);
	memset(model, 0xBB, size);
	filemap_write(&f.mapping, model, size, 0);
	filemap_write_and_wait(&f.mapping);
	cache_drop_clean(fx.cache);
	/* bring some pages back so the punch meets cached and uncached pages */
	filemap_read(&f.mapping, NULL, model, 3 * PAGE_SIZE, 0);
	memset(model, 0xBB, size);
	is_int(filemap_zero_range(&f.mapping, start, len), 0, "bs %u: zero_range %llu+%llu", bs,
	       (unsigned long long)start, (unsigned long long)len);
	testfs_punch(&f, start, len);
	memset(model + start, 0, len);
	ok(read_equals(&f, model, size), "bs %u: punched range reads zeros, the rest intact", bs);
	is_u64(atomic_load(&f.mapping.i_size), size, "bs %u: i_size unchanged", bs);
	filemap_write_and_wait(&f.mapping);
	cache_drop_clean(fx.cache);
	ok(read_equals(&f, model, size), "bs %u: same after write-back and drop (device)", bs);
	free(model);
	testfile_destroy(&f);
}

/* ---- lookups racing truncation ---- */

struct race {
	struct testfile *f;
	_Atomic bool stop;
	_Atomic uint64_t found, wrong;
};

static void *race_reader(void *arg)
{
	struct race *r = arg;
	uint64_t i = 0;

	while (!atomic_load(&r->stop)) {
		uint64_t idx = i++ % 64;
		struct page *p = find_get_page(&r->f->mapping, idx);

		if (!p)
			continue;
		atomic_fetch_add(&r->found, 1);
		if (p->index != idx || (p->mapping && p->mapping != &r->f->mapping))
			atomic_fetch_add(&r->wrong, 1);
		put_page(p);
	}
	return NULL;
}

static void test_lookup_race(void)
{
	struct testfile f;
	struct race r = {.f = &f};
	unsigned char buf[64 * 1024];
	pthread_t t[3];

	file_init(&f, 12);
	memset(buf, 1, sizeof(buf));
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, race_reader, &r);
	/* At least 300 rounds, and on until a reader has found a page: on a
	 * loaded machine the readers may not run during the first rounds. */
	for (int round = 0; round < 300 || (atomic_load(&r.found) == 0 && round < 3000000);
	     round++) {
		filemap_write(&f.mapping, buf, sizeof(buf), 0);
		testfs_truncate(&f, (uint64_t)(round % 7) * 3000);
		if (round % 5 == 0)
			cache_drop_clean(fx.cache);
	}
	atomic_store(&r.stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	ok(atomic_load(&r.found) > 0, "lookups found pages during truncation (%llu)",
	   (unsigned long long)atomic_load(&r.found));
	is_u64(atomic_load(&r.wrong), 0, "every page found had the right identity");
	testfile_destroy(&f);
}

int main(void)
{
	static const unsigned bits[] = {10, 11, 12};

	setup();
	test_init_errors();
	test_find_add_delete();
	test_read_cache_page();
	test_write_read();
	test_hits_misses();
	test_holes();
	test_eof_tail();
	test_merged_read();
	test_partial_writes();
	for (int i = 0; i < 3; i++) {
		test_truncate_stale(bits[i], false);
		test_truncate_stale(bits[i], true);
	}
	/* reuse regions: each test file frees its region on destroy */
	next_region = 0;
	for (int i = 0; i < 3; i++) {
		test_punch_stale(bits[i], 1500, 20000);
		test_punch_stale(bits[i], 4096, 8192);
		test_punch_stale(bits[i], 100, 50);
	}
	next_region = 0;
	test_lookup_race();
	fx_teardown(&fx, FX_PAGES | FX_MAPPINGS | FX_HEADS | FX_NODES | FX_FILE_PAGES | FX_SHADOWS |
				 FX_DIRTY);
	return done_testing();
}
