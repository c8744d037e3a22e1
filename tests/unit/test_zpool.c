/*
 * tests/unit/test_zpool.c - the compressed tier's size-classed allocator.
 *
 * Checks, with backing pages from a counting allocator of the test's own:
 *  - the class table: every length gets a slot of at least length + 8
 *    bytes, a multiple of 16, on zspages of 1 to 8 pages;
 *  - round trips of objects of every length class from 1 byte to a page;
 *    objects crossing page boundaries inside a zspage read back right;
 *  - packing: 4096 objects of 1900 to 2200 bytes (what 2:1 data gives) take
 *    at most 1.10 times their bytes in pages;
 *  - freeing every object gives every page back; a load with free does too;
 *  - compaction after freeing 3 objects in 4 at random gives pages back,
 *    leaves the pool within 1.15 times the live bytes, and every object
 *    still reads back right through its (rewritten) handle;
 *  - no backing page: -ENOMEM, nothing leaked; a bad length: -EINVAL;
 *  - three threads storing, loading and freeing their own objects while a
 *    fourth compacts: every load returns the bytes stored.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/zpool.h"
#include "tests/lib/tap.h"

/* ---- backing pages: counted, optionally refused ---- */

static _Atomic long pages_out;
static _Atomic bool refuse_pages;

static struct page *test_alloc_page(void *ctx)
{
	struct page *page;

	(void)ctx;
	if (atomic_load(&refuse_pages))
		return NULL;
	page = calloc(1, sizeof(*page));
	if (!page)
		return NULL;
	page->virtual = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
	if (!page->virtual) {
		free(page);
		return NULL;
	}
	memset(page->virtual, 0xa5, PAGE_SIZE); /* not zeroed: catch reads of garbage */
	atomic_fetch_add(&pages_out, 1);
	return page;
}

static void test_free_page(void *ctx, struct page *page)
{
	(void)ctx;
	free(page->virtual);
	free(page);
	atomic_fetch_sub(&pages_out, 1);
}

static const struct zpool_ops test_ops = {
	.alloc_page = test_alloc_page,
	.free_page = test_free_page,
};

/* ---- objects ---- */

struct obj {
	uint64_t handle; /* the pool's handle word: fixed address while live */
	uint32_t len;
	uint32_t seed;
	bool live;
};

static unsigned char obj_byte(uint32_t seed, size_t i)
{
	return (unsigned char)((seed * 2654435761u) >> 24 ^ (i * 31 + seed));
}

static void obj_fill(unsigned char *buf, uint32_t seed, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = obj_byte(seed, i);
}

static bool obj_check(const unsigned char *buf, uint32_t seed, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != obj_byte(seed, i))
			return false;
	return true;
}

static int obj_store(struct zpool *pool, struct obj *o, uint32_t len, uint32_t seed)
{
	unsigned char buf[PAGE_SIZE];
	int err;

	obj_fill(buf, seed, len);
	o->len = len;
	o->seed = seed;
	err = zpool_store(pool, buf, len, &o->handle);
	o->live = !err;
	return err;
}

static bool obj_load(struct zpool *pool, struct obj *o, bool free)
{
	unsigned char buf[PAGE_SIZE];

	zpool_load(pool, &o->handle, o->len, buf, free);
	if (free)
		o->live = false;
	return obj_check(buf, o->seed, o->len);
}

static struct zpool *make_pool(void)
{
	struct zpool *pool;

	if (zpool_create(&test_ops, NULL, &pool))
		BAIL("zpool_create");
	return pool;
}

/* ---- tests ---- */

static void test_classes(void)
{
	bool sizes = true, chains = true, monotonic = true;
	size_t prev = 0;

	for (size_t len = 1; len <= ZPOOL_MAX_OBJ; len++) {
		size_t s = zpool_slot_size(len);
		unsigned c = zpool_class_chain(len);

		sizes &= s >= len + 8 && s % 16 == 0;
		chains &= c >= 1 && c <= ZPOOL_MAX_CHAIN && s <= c * PAGE_SIZE;
		monotonic &= s >= prev;
		prev = s;
	}
	ok(sizes, "classes: every slot holds its object and an 8-byte header, 16-byte steps");
	ok(chains, "classes: zspages of 1 to %d pages", ZPOOL_MAX_CHAIN);
	ok(monotonic, "classes: slot size grows with the length");
	diag("slot of 2048 bytes: %zu on %u pages; of 100: %zu; of 4096: %zu",
	     zpool_slot_size(2048), zpool_class_chain(2048), zpool_slot_size(100),
	     zpool_slot_size(4096));
}

static void test_round_trips(void)
{
	struct zpool *pool = make_pool();
	enum { N = 600 };
	struct obj *o = calloc(N, sizeof(*o));
	bool stored = true, right = true;
	struct zpool_stats st;

	for (unsigned i = 0; i < N; i++) {
		uint32_t len = i < 256 ? (i + 1) * 16 - (i % 16) : 1 + (uint32_t)rand() % 4096;

		if (len > ZPOOL_MAX_OBJ)
			len = ZPOOL_MAX_OBJ;
		stored &= obj_store(pool, &o[i], len, i) == 0;
	}
	ok(stored, "round trips: %d objects of 1 byte to a page stored", N);
	for (unsigned i = 0; i < N; i++)
		right &= obj_load(pool, &o[i], false);
	ok(right, "round trips: every object reads back right (some cross page boundaries)");
	zpool_stats(pool, &st);
	is_u64(st.objects, N, "round trips: %d live objects", N);
	ok(st.pages == (uint64_t)atomic_load(&pages_out),
	   "round trips: pages counted (%" PRIu64 ")", st.pages);
	right = true;
	for (unsigned i = 0; i < N; i += 2)
		right &= obj_load(pool, &o[i], true);
	for (unsigned i = 1; i < N; i += 2)
		zpool_free(pool, &o[i].handle, o[i].len);
	ok(right, "round trips: loads that free read back right");
	zpool_stats(pool, &st);
	is_u64(st.objects, 0, "round trips: no object left");
	is_u64(st.pages, 0, "round trips: every page given back");
	is_int(atomic_load(&pages_out), 0, "round trips: the page allocator agrees");
	zpool_destroy(pool);
	free(o);
}

static void test_packing(void)
{
	struct zpool *pool = make_pool();
	enum { N = 4096 };
	struct obj *o = calloc(N, sizeof(*o));
	uint64_t bytes = 0;
	struct zpool_stats st;
	bool stored = true, right = true;
	double ratio;
	unsigned long freed;

	srand(7);
	for (unsigned i = 0; i < N; i++) {
		uint32_t len = 1900 + (uint32_t)rand() % 301;

		stored &= obj_store(pool, &o[i], len, i * 7 + 1) == 0;
		bytes += len;
	}
	ok(stored, "packing: %d objects of 1900 to 2200 bytes", N);
	zpool_stats(pool, &st);
	ratio = (double)st.pages * PAGE_SIZE / (double)bytes;
	ok(ratio <= 1.10, "packing: pool bytes / object bytes = %.3f (at most 1.10)", ratio);

	/* free 3 in 4 at random, then compact */
	for (unsigned i = 0; i < N; i++) {
		if (rand() % 4) {
			zpool_free(pool, &o[i].handle, o[i].len);
			o[i].live = false;
			bytes -= o[i].len;
		}
	}
	zpool_stats(pool, &st);
	diag("after freeing: %" PRIu64 " pages for %" PRIu64 " bytes (%.2f)", st.pages, bytes,
	     (double)st.pages * PAGE_SIZE / (double)bytes);
	freed = zpool_compact(pool);
	zpool_stats(pool, &st);
	ratio = (double)st.pages * PAGE_SIZE / (double)bytes;
	ok(freed > 0 && st.compacted > 0,
	   "compaction: %lu pages given back, %" PRIu64 " objects moved", freed, st.compacted);
	ok(ratio <= 1.15, "compaction: pool bytes / live bytes = %.3f (at most 1.15)", ratio);
	is_int(atomic_load(&pages_out), (long)st.pages, "compaction: the page allocator agrees");
	for (unsigned i = 0; i < N; i++)
		if (o[i].live)
			right &= obj_load(pool, &o[i], false);
	ok(right, "compaction: every live object reads back right through its handle");
	is_u64(zpool_compact(pool), 0, "compaction: a second pass finds nothing to do");
	for (unsigned i = 0; i < N; i++)
		if (o[i].live)
			zpool_free(pool, &o[i].handle, o[i].len);
	is_u64(zpool_nr_pages(pool), 0, "packing: every page given back");
	zpool_destroy(pool);
	free(o);
}

static void test_failures(void)
{
	struct zpool *pool = make_pool();
	struct obj a, b;

	atomic_store(&refuse_pages, true);
	is_int(obj_store(pool, &a, 1000, 1), -ENOMEM, "no backing page: -ENOMEM");
	atomic_store(&refuse_pages, false);
	is_int(atomic_load(&pages_out), 0, "no backing page: nothing taken");
	is_int(zpool_store(pool, "x", 0, &b.handle), -EINVAL, "length 0: -EINVAL");
	is_int(zpool_store(pool, &a, ZPOOL_MAX_OBJ + 1, &b.handle), -EINVAL,
	       "length over a page: -EINVAL");
	is_int(obj_store(pool, &a, 1000, 1), 0, "a page again: stored");
	ok(obj_load(pool, &a, true), "and loaded");
	is_int(atomic_load(&pages_out), 0, "and its page given back");
	zpool_destroy(pool);
}

/* ---- threads ---- */

#define THREAD_OBJS 256
#define THREAD_OPS  40000

struct worker {
	struct zpool *pool;
	struct obj o[THREAD_OBJS];
	unsigned seed;
	bool right;
	pthread_t th;
};

static _Atomic bool stop_compactor;

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->right = true;
	for (unsigned n = 0; n < THREAD_OPS; n++) {
		unsigned r = (unsigned)rand_r(&w->seed), i = r % THREAD_OBJS;
		struct obj *o = &w->o[i];

		if (!o->live)
			obj_store(w->pool, o, 1 + (r >> 8) % 3000, r);
		else if ((r >> 20) & 1)
			w->right &= obj_load(w->pool, o, (r >> 21) & 1);
		else
			zpool_free(w->pool, &o->handle, o->len), o->live = false;
	}
	for (unsigned i = 0; i < THREAD_OBJS; i++)
		if (w->o[i].live)
			w->right &= obj_load(w->pool, &w->o[i], true);
	return NULL;
}

static void *compactor_main(void *arg)
{
	unsigned long n = 0;

	while (!atomic_load(&stop_compactor))
		n += zpool_compact(arg);
	return (void *)n;
}

static void test_threads(void)
{
	struct zpool *pool = make_pool();
	struct worker *w = calloc(3, sizeof(*w));
	pthread_t comp;
	void *freed;
	bool right = true;

	pthread_create(&comp, NULL, compactor_main, pool);
	for (int i = 0; i < 3; i++) {
		w[i].pool = pool;
		w[i].seed = 100 + i;
		pthread_create(&w[i].th, NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(w[i].th, NULL);
		right &= w[i].right;
	}
	atomic_store(&stop_compactor, true);
	pthread_join(comp, &freed);
	ok(right, "threads: 3 x %d stores, loads and frees beside a compactor read back right",
	   THREAD_OPS);
	diag("threads: the compactor gave back %lu pages", (unsigned long)(uintptr_t)freed);
	is_u64(zpool_nr_pages(pool), 0, "threads: every page given back");
	zpool_destroy(pool);
	free(w);
}

int main(void)
{
	test_classes();
	test_round_trips();
	test_packing();
	test_failures();
	test_threads();
	is_int(atomic_load(&pages_out), 0, "no backing page leaked");
	return done_testing();
}
