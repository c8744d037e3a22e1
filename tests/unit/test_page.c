/*
 * tests/unit/test_page.c - the page pool, references, the page lock and page
 * waiting, RCU thread registration, and the lookup hit path.
 *
 * Checks: pool pages come back with one reference and no state and return to
 * the pool on the last put (pages in use counted); get_page_unless_zero and
 * freezing; trylock/lock/unlock exclusion under threads (a counter guarded
 * only by the page lock ends exact, and a locker never enters while another
 * holds the lock); wait_on_page_locked and wait_on_page_writeback /
 * end_page_writeback (mark, NR_WRITEBACK, waking); threads that use the cache
 * register with RCU by themselves; find_get_page + put_page on a cached page
 * (timed and shown, not judged); leak counters back to zero at teardown.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>

#include "backing/bdev.h"
#include "cache/cache.h"
#include "cache/internal.h"
#include "tests/lib/cachefix.h"
#include "tests/lib/clock.h"
#include "tests/lib/tap.h"

static struct fx fx;

static void setup(unsigned pool_pages)
{
	struct fx_params p = {
		.dev_bytes = 16 << 20,
		.cache = {.pool_bytes = (uint64_t)pool_pages * PAGE_SIZE},
	};

	fx_setup(&fx, &p);
}

static uint64_t in_use(void)
{
	struct cache_mem mi;

	cache_mem_info(fx.cache, &mi);
	return mi.pages_in_use;
}

static void test_pool(void)
{
	struct page *p1, *p2;

	is_int(page_cache_alloc(fx.cache, &p1), 0, "alloc a page");
	is_int(atomic_load(&p1->refcount), 1, "new page has one reference");
	is_u64(atomic_load(&p1->flags), 0, "new page has no flags");
	ok(p1->mapping == NULL && p1->private == NULL, "new page has no mapping, no private");
	ok(((uintptr_t)page_address(p1) & (PAGE_SIZE - 1)) == 0, "page data is page aligned");
	ok(page_cache_of(p1) == fx.cache, "page_cache_of finds the page's cache");
	is_int(page_cache_alloc(fx.cache, &p2), 0, "alloc a second page");
	ok(p1 != p2 && page_address(p1) != page_address(p2), "two distinct pages");
	is_u64(in_use(), 2, "two pages in use");
	memset(page_address(p1), 0xAB, PAGE_SIZE);
	get_page(p1);
	is_int(atomic_load(&p1->refcount), 2, "get_page raises the count");
	put_page(p1);
	is_u64(in_use(), 2, "put to one keeps the page");
	page_set(p1, PG_referenced);
	put_page(p1);
	is_u64(in_use(), 1, "last put returns the page to the pool");
	is_u64(atomic_load(&p1->flags), 0, "a freed page has no flags");
	put_page(p2);
	is_u64(in_use(), 0, "no page in use");
}

static void test_refs(void)
{
	struct page *p;

	if (page_cache_alloc(fx.cache, &p))
		BAIL("alloc");
	ok(get_page_unless_zero(p), "get_page_unless_zero on a live page");
	ok(!page_ref_freeze(p, 1), "freeze fails when the count is not the expected one");
	ok(page_ref_freeze(p, 2), "freeze succeeds at the expected count");
	is_int(atomic_load(&p->refcount), 0, "frozen page has count 0");
	ok(!get_page_unless_zero(p), "get_page_unless_zero fails on a frozen page");
	page_ref_unfreeze(p, 2);
	is_int(atomic_load(&p->refcount), 2, "unfreeze restores the count");
	put_page(p);
	put_page(p);
	is_u64(in_use(), 0, "page freed after unfreeze and two puts");
}

/* ---- lock exclusion under threads ---- */

#define LOCKERS 4
#define ROUNDS	20000

static struct page *lpage;
static unsigned long guarded;	  /* protected by lpage's lock only */
static _Atomic int inside;	  /* lockers inside the critical section */
static _Atomic int overlap;	  /* times two were inside at once */
static _Atomic bool main_holds;	  /* main thread holds the lock */
static _Atomic int entered_while; /* lockers that got in while main held it */

static void *locker(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		lock_page(lpage);
		if (atomic_load(&main_holds))
			atomic_fetch_add(&entered_while, 1);
		if (atomic_fetch_add(&inside, 1) != 0)
			atomic_fetch_add(&overlap, 1);
		guarded++;
		atomic_fetch_sub(&inside, 1);
		unlock_page(lpage);
	}
	return NULL;
}

static void test_lock_threads(void)
{
	pthread_t t[LOCKERS];

	if (page_cache_alloc(fx.cache, &lpage))
		BAIL("alloc");
	ok(trylock_page(lpage), "trylock a free page");
	ok(!trylock_page(lpage), "trylock fails while locked");
	atomic_store(&main_holds, true);
	for (int i = 0; i < LOCKERS; i++)
		pthread_create(&t[i], NULL, locker, NULL);
	for (int i = 0; i < 5000 && !page_test(lpage, PG_waiters); i++)
		usleep(1000); /* let them block on the lock */
	ok(page_test(lpage, PG_waiters), "blocked lockers set PG_waiters");
	atomic_store(&main_holds, false);
	unlock_page(lpage);
	for (int i = 0; i < LOCKERS; i++)
		pthread_join(t[i], NULL);
	is_int(atomic_load(&entered_while), 0, "no locker entered while the lock was held");
	is_int(atomic_load(&overlap), 0, "never two holders at once");
	is_u64(guarded, (uint64_t)LOCKERS * ROUNDS, "counter guarded by the page lock is exact");
	ok(!page_test(lpage, PG_locked), "page unlocked at the end");
	put_page(lpage);
}

/* ---- waiting for unlock and for write-back ---- */

static _Atomic int wait_stage;
static _Atomic int seen_value;
static int shared_value;

static void *wait_locked_thread(void *arg)
{
	struct page *page = arg;

	atomic_store(&wait_stage, 1);
	wait_on_page_locked(page);
	atomic_store(&seen_value, shared_value);
	atomic_store(&wait_stage, 2);
	return NULL;
}

static void *wait_wb_thread(void *arg)
{
	struct page *page = arg;

	atomic_store(&wait_stage, 1);
	wait_on_page_writeback(page);
	atomic_store(&wait_stage, 2);
	return NULL;
}

static void test_wait_locked(void)
{
	struct page *page;
	pthread_t t;

	if (page_cache_alloc(fx.cache, &page))
		BAIL("alloc");
	lock_page(page);
	atomic_store(&wait_stage, 0);
	pthread_create(&t, NULL, wait_locked_thread, page);
	while (atomic_load(&wait_stage) == 0)
		usleep(100);
	usleep(20000);
	is_int(atomic_load(&wait_stage), 1, "wait_on_page_locked sleeps while locked");
	shared_value = 42;
	unlock_page(page);
	pthread_join(t, NULL);
	is_int(atomic_load(&seen_value), 42, "the waiter saw what was written under the lock");
	ok(!page_test(page, PG_locked), "wait_on_page_locked does not take the lock");
	put_page(page);
}

static void test_wait_writeback(void)
{
	struct testfile f;
	struct page *page;
	pthread_t t;
	uint64_t wb0;

	fx_file_init(&fx, &f, 12, 0, 64 * PAGE_SIZE);
	is_int(find_or_create_page(&f.mapping, 3, &page), 0, "find_or_create_page");
	/* start write-back the way writeback.c does */
	page_set(page, PG_writeback);
	xa_lock(&f.mapping.i_pages);
	__xa_set_mark(&f.mapping.i_pages, 3, XA_MARK_WRITEBACK);
	xa_unlock(&f.mapping.i_pages);
	stat_inc(fx.cache, NR_WRITEBACK);
	wb0 = cache_stat(fx.cache, NR_WRITEBACK);
	atomic_store(&wait_stage, 0);
	pthread_create(&t, NULL, wait_wb_thread, page);
	while (atomic_load(&wait_stage) == 0)
		usleep(100);
	usleep(20000);
	is_int(atomic_load(&wait_stage), 1, "wait_on_page_writeback sleeps during write-back");
	end_page_writeback(page);
	pthread_join(t, NULL);
	is_int(atomic_load(&wait_stage), 2, "end_page_writeback wakes the waiter");
	ok(!page_test(page, PG_writeback), "PG_writeback cleared");
	ok(!xa_get_mark(&f.mapping.i_pages, 3, XA_MARK_WRITEBACK), "WRITEBACK mark cleared");
	is_u64(cache_stat(fx.cache, NR_WRITEBACK), wb0 - 1, "NR_WRITEBACK lowered");
	page_assert_state(page);
	unlock_page(page);
	put_page(page);
	testfile_destroy(&f);
}

/* ---- RCU registration by threads that use the cache ---- */

struct rcu_arg {
	struct address_space *mapping;
	int found;
};

static void *rcu_user(void *arg)
{
	struct rcu_arg *a = arg;

	for (uint64_t i = 0; i < 8; i++) {
		struct page *page = find_get_page(a->mapping, i);

		if (page) {
			a->found++;
			put_page(page);
		}
	}
	return NULL;
}

static void test_rcu_threads(void)
{
	struct testfile f;
	struct rcu_arg args[8];
	pthread_t t[8];
	char buf[100];

	fx_file_init(&fx, &f, 12, 0, 64 * PAGE_SIZE);
	memset(buf, 7, sizeof(buf));
	for (int i = 0; i < 4; i++)
		filemap_write(&f.mapping, buf, sizeof(buf), (uint64_t)i * PAGE_SIZE);
	for (int i = 0; i < 8; i++) {
		args[i].mapping = &f.mapping;
		args[i].found = 0;
		pthread_create(&t[i], NULL, rcu_user, &args[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	int all = 1;
	for (int i = 0; i < 8; i++)
		all &= args[i].found == 4;
	ok(all, "threads that never registered with RCU look pages up (and exit cleanly)");
	synchronize_rcu();
	ok(1, "synchronize_rcu returns after those threads exited");
	testfile_destroy(&f);
}

/* ---- the hit path ---- */

static void test_hit_path(void)
{
	struct testfile f;
	struct page *page;
	const int n = 2000000;
	char buf[64] = "x";
	double t0, t1;
	int bad = 0;

	fx_file_init(&fx, &f, 12, 0, 64 * PAGE_SIZE);
	filemap_write(&f.mapping, buf, 1, 5 * PAGE_SIZE);
	t0 = now_ns();
	for (int i = 0; i < n; i++) {
		page = find_get_page(&f.mapping, 5);
		if (!page) {
			bad++;
			continue;
		}
		put_page(page);
	}
	t1 = now_ns();
	is_int(bad, 0, "find_get_page finds the cached page every time");
	page = find_get_page(&f.mapping, 5);
	ok(page && atomic_load(&page->refcount) == 2, "lookups leave only the mapping's reference");
	if (page)
		put_page(page);
	diag("cached find_get_page + put_page: %.1f ns (informational)", (t1 - t0) / n);
	ok(find_get_page(&f.mapping, 6) == NULL, "find_get_page misses an uncached index");
	testfile_destroy(&f);
}

int main(void)
{
	setup(256);
	test_pool();
	test_refs();
	test_lock_threads();
	test_wait_locked();
	test_wait_writeback();
	test_rcu_threads();
	test_hit_path();
	fx_teardown(&fx, FX_PAGES | FX_MAPPINGS | FX_HEADS | FX_NODES | FX_METADATA);
	return done_testing();
}
