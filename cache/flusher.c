/*
 * cache/flusher.c - the flusher threads, their lists, the dirty thresholds
 * and tunables, and balance_dirty_pages (throttling of writers).
 *
 * Interface (cache.h): cache_wb_tunable_name, cache_wb_tunable_lookup,
 * cache_wb_set, cache_wb_get, cache_dirty_thresholds, cache_flusher_start,
 * cache_flusher_stop, wakeup_flusher, balance_dirty_pages,
 * balance_dirty_pages_cleaner; (internal.h)
 * flusher_init, flusher_destroy, flusher_forget_mapping,
 * flusher_note_dirtied, flusher_note_error, flusher_stat.
 *
 * Lists, as Linux's bdi_writeback keeps them (all under cache->wb_lock):
 *   b_dirty   = cache->dirty_mappings: mappings in the order they went dirty
 *               (wb_listed_when ascending, oldest at the head); writeback.c
 *               appends a mapping when it goes clean -> dirty.
 *   b_io      mappings picked for the current run, oldest first.
 *   b_more_io mappings whose run stopped at the chunk size with dirty pages
 *               left; they go back to b_io (first) at the next queueing.
 * A mapping a flusher thread is writing is on no list (its wb_link is
 * self-linked, AS_DIRTY_LISTED still set) and has wb_users > 0; afterwards
 * it goes to b_more_io (chunk used up), to the tail of b_dirty with a new
 * wb_listed_when (dirty pages left that could not be written: locked,
 * pinned, failed, or dirtied again), or nowhere (clean; writeback.c took it
 * off). mapping_destroy() waits for wb_users == 0 (flusher_forget_mapping).
 *
 * A run (wb_run): queue b_more_io, then the b_dirty mappings listed at or
 * before the cutoff (periodic: now - dirty_expire; background: all), to
 * b_io; write each in turn, at most FLUSH_CHUNK_PAGES pages per turn
 * (WB_SYNC_NONE: tag-then-write, busy pages skipped, contiguous blocks
 * merged up to wb_max_bytes); repeat until a round writes nothing, the
 * run's budget is spent, or (background) dirty memory is at or below the
 * background threshold.
 *
 * Threads: each sleeps on fl->wake until the periodic deadline
 * (dirty_writeback_centisecs; 0 turns periodic runs off), a wakeup from a
 * writer past the background threshold, or a tunable change. The thread
 * that finds the periodic deadline due moves it on, so one periodic run
 * happens per interval whatever the number of threads; background runs may
 * proceed in several threads at once, each on its own mappings.
 *
 * Throttling: see cache.h ("Dirty-memory tunables"). The write-back rate
 * (pages per second) is measured by the flusher over each chunk it writes
 * (a moving average). Without flusher threads nobody writes in the
 * background, so writers are not throttled.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/internal.h"

#define FLUSH_CHUNK_PAGES   1024 /* pages per mapping per turn (4 MiB) */
#define FLUSHER_MAX_THREADS 8
#define FLUSHER_IDLE_MS	    1000   /* longest sleep: tunables are re-read */
#define FLUSHER_BACKOFF_MS  100	   /* after a background run that wrote nothing */
#define BDP_MAX_PAUSE_US    200000 /* one proportional pause at most */
#define BDP_MIN_PAUSE_US    1000   /* shorter pauses accumulate */
#define BDP_WAIT_SLICE_MS   10	   /* over the threshold: recheck this often */
#define BW_INIT_PAGES	    25600  /* 100 MiB/s until measured */
#define BW_MIN_PAGES	    64
#define WB_MAX_BYTES_LIMIT  (64U << 20)
#define CS_MAX		    8640000U /* a day, in centisecs */

/*
 * struct flusher - the flusher state of one cache.
 * Tunables and estimates are atomics any thread reads; the lists belong to
 * cache->wb_lock; the thread fields to @lock.
 */
struct flusher {
	_Atomic unsigned dirty_ratio, bg_ratio;
	_Atomic uint64_t dirty_bytes, bg_bytes;
	_Atomic unsigned expire_cs, interval_cs;

	/* protected by cache->wb_lock */
	struct list_head b_io, b_more_io;
	pthread_cond_t unpinned; /* waits with wb_lock: some wb_users fell to 0 */

	/* protects everything below here up to "estimates" */
	pthread_mutex_t lock;
	pthread_cond_t wake;	 /* flusher threads sleep here */
	pthread_cond_t progress; /* writers over the threshold sleep here */
	pthread_t *threads;
	unsigned nr_threads;
	bool stopping;
	bool bg_wanted;		/* a writer passed the background threshold */
	uint64_t next_periodic; /* monotonic ms */
	uint64_t bg_backoff;	/* no background run before this (ms) */

	/* estimates and counters (atomic) */
	_Atomic bool running;
	_Atomic uint64_t bw; /* write-back pages per second */
	_Atomic uint64_t pause_us;
	_Atomic int last_error;
};

/* Pages this thread dirtied since it last paid for them (any cache). */
static __thread unsigned bdp_dirtied;
static __thread bool bdp_cleaner; /* writes another cache's dirty pages */
static __thread bool bdp_deferred; /* balance_dirty_pages_defer() */

static const char *const tunable_names[NR_WB_TUNABLES] = {
	[WB_DIRTY_RATIO] = "dirty_ratio",
	[WB_DIRTY_BACKGROUND_RATIO] = "dirty_background_ratio",
	[WB_DIRTY_BYTES] = "dirty_bytes",
	[WB_DIRTY_BACKGROUND_BYTES] = "dirty_background_bytes",
	[WB_DIRTY_EXPIRE_CS] = "dirty_expire_centisecs",
	[WB_DIRTY_WRITEBACK_CS] = "dirty_writeback_centisecs",
	[WB_MAX_BYTES] = "wb_max_bytes",
	[WB_FILL_BYTES] = "wb_fill_bytes",
};

/* ---- tunables and thresholds ---- */

/**
 * cache_wb_tunable_name - the name of a writeback tunable
 * @t: the tunable
 *
 * Context: any.
 * Return: a static string ("dirty_ratio", ...), or "unknown".
 */
const char *cache_wb_tunable_name(enum wb_tunable t)
{
	return (unsigned)t < NR_WB_TUNABLES ? tunable_names[t] : "unknown";
}

/**
 * cache_wb_tunable_lookup - a writeback tunable by name
 * @name: "dirty_ratio", "dirty_bytes", ..., "wb_max_bytes"
 *
 * Context: any.
 * Return: the enum wb_tunable value, or -ENOENT.
 */
int cache_wb_tunable_lookup(const char *name)
{
	for (int i = 0; i < NR_WB_TUNABLES; i++)
		if (!strcmp(name, tunable_names[i]))
			return i;
	return -ENOENT;
}

/**
 * cache_wb_check - is a value in range for a writeback tunable?
 * @t: the tunable
 * @value: the value (ranges: see cache_wb_set())
 *
 * Context: any; needs no cache (option parsing).
 * Return: 0 or -EINVAL.
 */
int cache_wb_check(enum wb_tunable t, uint64_t value)
{
	static const uint64_t lo[NR_WB_TUNABLES] = {
		[WB_DIRTY_RATIO] = 1,
		[WB_DIRTY_BYTES] = 2 * PAGE_SIZE,
		[WB_DIRTY_BACKGROUND_BYTES] = PAGE_SIZE,
		[WB_DIRTY_EXPIRE_CS] = 1,
		[WB_MAX_BYTES] = PAGE_SIZE,
	};
	static const uint64_t hi[NR_WB_TUNABLES] = {
		[WB_DIRTY_RATIO] = 100,
		[WB_DIRTY_BACKGROUND_RATIO] = 100,
		[WB_DIRTY_BYTES] = UINT64_MAX,
		[WB_DIRTY_BACKGROUND_BYTES] = UINT64_MAX,
		[WB_DIRTY_EXPIRE_CS] = CS_MAX,
		[WB_DIRTY_WRITEBACK_CS] = CS_MAX,
		[WB_MAX_BYTES] = WB_MAX_BYTES_LIMIT,
		[WB_FILL_BYTES] = WB_FILL_MAX_BYTES,
	};

	if ((unsigned)t >= NR_WB_TUNABLES || value < lo[t] || value > hi[t])
		return -EINVAL;
	return 0;
}

static void fl_kick(struct flusher *fl)
{
	pthread_mutex_lock(&fl->lock);
	pthread_cond_broadcast(&fl->wake);
	pthread_cond_broadcast(&fl->progress);
	pthread_mutex_unlock(&fl->lock);
}

/* The periodic deadline follows a new interval at once. */
static void fl_set_interval(struct flusher *fl, unsigned cs)
{
	pthread_mutex_lock(&fl->lock);
	atomic_store(&fl->interval_cs, cs);
	fl->next_periodic = cache_now_ms() + (uint64_t)cs * 10;
	pthread_mutex_unlock(&fl->lock);
}

static void fl_set_ratio(_Atomic unsigned *ratio, _Atomic uint64_t *bytes, uint64_t v)
{
	atomic_store(ratio, (unsigned)v);
	atomic_store(bytes, 0);
}

static void fl_set_bytes(_Atomic unsigned *ratio, _Atomic uint64_t *bytes, uint64_t v)
{
	atomic_store(bytes, v);
	atomic_store(ratio, 0);
}

/**
 * cache_wb_set - change a writeback tunable
 * @cache: the cache
 * @t: the tunable
 * @value: dirty_ratio 1..100; dirty_background_ratio 0..100; dirty_bytes at
 *	least 2 pages; dirty_background_bytes at least 1 page; the centisecs
 *	up to a day (expire at least 1; writeback 0 turns periodic runs off);
 *	wb_max_bytes 4 KiB..64 MiB, wb_fill_bytes 0..1 MiB (both rounded down
 *	to pages)
 *
 * A *_bytes value zeroes the matching ratio, a ratio the *_bytes value.
 * Flusher threads and throttled writers see the change at once.
 *
 * Context: any thread holding no cache lock.
 * Return: 0 or -EINVAL.
 */
int cache_wb_set(struct cache *cache, enum wb_tunable t, uint64_t value)
{
	struct flusher *fl = cache->flusher;

	if (cache_wb_check(t, value))
		return -EINVAL;
	switch (t) {
	case WB_DIRTY_RATIO:
		fl_set_ratio(&fl->dirty_ratio, &fl->dirty_bytes, value);
		break;
	case WB_DIRTY_BACKGROUND_RATIO:
		fl_set_ratio(&fl->bg_ratio, &fl->bg_bytes, value);
		break;
	case WB_DIRTY_BYTES:
		fl_set_bytes(&fl->dirty_ratio, &fl->dirty_bytes, value);
		break;
	case WB_DIRTY_BACKGROUND_BYTES:
		fl_set_bytes(&fl->bg_ratio, &fl->bg_bytes, value);
		break;
	case WB_DIRTY_EXPIRE_CS:
		atomic_store(&fl->expire_cs, (unsigned)value);
		break;
	case WB_DIRTY_WRITEBACK_CS:
		fl_set_interval(fl, (unsigned)value);
		break;
	case WB_FILL_BYTES:
		__atomic_store_n(&cache->fill_bytes, (uint32_t)(value & PAGE_MASK),
				 __ATOMIC_RELAXED);
		break;
	default: /* WB_MAX_BYTES */
		__atomic_store_n(&cache->max_io_bytes, (uint32_t)(value & PAGE_MASK),
				 __ATOMIC_RELAXED);
		break;
	}
	fl_kick(fl);
	return 0;
}

/**
 * cache_wb_get - read a writeback tunable
 * @cache: the cache
 * @t: the tunable
 *
 * Context: any.
 * Return: its value (0 for an unknown @t).
 */
uint64_t cache_wb_get(struct cache *cache, enum wb_tunable t)
{
	struct flusher *fl = cache->flusher;

	switch (t) {
	case WB_DIRTY_RATIO:
		return atomic_load(&fl->dirty_ratio);
	case WB_DIRTY_BACKGROUND_RATIO:
		return atomic_load(&fl->bg_ratio);
	case WB_DIRTY_BYTES:
		return atomic_load(&fl->dirty_bytes);
	case WB_DIRTY_BACKGROUND_BYTES:
		return atomic_load(&fl->bg_bytes);
	case WB_DIRTY_EXPIRE_CS:
		return atomic_load(&fl->expire_cs);
	case WB_DIRTY_WRITEBACK_CS:
		return atomic_load(&fl->interval_cs);
	case WB_MAX_BYTES:
		return __atomic_load_n(&cache->max_io_bytes, __ATOMIC_RELAXED);
	case WB_FILL_BYTES:
		return __atomic_load_n(&cache->fill_bytes, __ATOMIC_RELAXED);
	default:
		return 0;
	}
}

/**
 * cache_dirty_thresholds - the current dirty and background thresholds
 * @cache: the cache
 * @thresh: out: pages of dirty memory above which writers are throttled
 * @bg_thresh: out: pages above which background writeback runs
 *
 * From the *_bytes values when set, else the ratios of the memory limit;
 * the threshold is at least 1 page and the background threshold below it
 * (half of it when the tunables say otherwise).
 *
 * Context: any.
 */
void cache_dirty_thresholds(struct cache *cache, unsigned long *thresh, unsigned long *bg_thresh)
{
	struct flusher *fl = cache->flusher;
	unsigned long limit = atomic_load(&cache->limit);
	uint64_t db = atomic_load(&fl->dirty_bytes), bb = atomic_load(&fl->bg_bytes);
	unsigned long t, b;

	t = db ? (unsigned long)(db / PAGE_SIZE) : limit * atomic_load(&fl->dirty_ratio) / 100;
	b = bb ? (unsigned long)(bb / PAGE_SIZE) : limit * atomic_load(&fl->bg_ratio) / 100;
	t = MAX(t, 1UL);
	if (b >= t)
		b = t / 2;
	*thresh = t;
	*bg_thresh = b;
}

/* Dirty memory: dirty pages and pages under write-back. */
static unsigned long dirty_pages(struct cache *cache)
{
	return (unsigned long)(cache_stat(cache, NR_DIRTY) + cache_stat(cache, NR_WRITEBACK));
}

static bool over_bg_thresh(struct cache *cache)
{
	unsigned long t, b;

	cache_dirty_thresholds(cache, &t, &b);
	return dirty_pages(cache) > b;
}

static bool fl_stopping(struct flusher *fl)
{
	return __atomic_load_n(&fl->stopping, __ATOMIC_RELAXED);
}

/* ---- the lists ---- */

/* Move b_more_io, then the b_dirty mappings listed at or before @cutoff,
 * to b_io (wb_lock held). */
static void queue_io(struct cache *cache, uint64_t cutoff)
{
	struct flusher *fl = cache->flusher;
	struct list_head *dirty = &cache->dirty_mappings;

	cache_assert_held(&cache->wb_lock);
	while (!list_empty(&fl->b_more_io))
		list_move_tail(fl->b_more_io.next, &fl->b_io);
	while (!list_empty(dirty)) {
		struct address_space *m = list_first_entry(dirty, struct address_space, wb_link);

		if (m->wb_listed_when > cutoff)
			break;
		list_move_tail(&m->wb_link, &fl->b_io);
	}
}

/* Take the oldest mapping off b_io for writing (wb_users + 1), or NULL. */
static struct address_space *pick_io(struct cache *cache)
{
	struct flusher *fl = cache->flusher;
	struct address_space *m = NULL;

	pthread_mutex_lock(&cache->wb_lock);
	while (!list_empty(&fl->b_io)) {
		m = list_first_entry(&fl->b_io, struct address_space, wb_link);
		if ((atomic_load(&m->flags) & AS_EXITING) || m->wb_users) {
			m->wb_listed_when = cache_now_ms();
			list_move_tail(&m->wb_link, &cache->dirty_mappings);
			m = NULL;
			continue;
		}
		list_del_init(&m->wb_link);
		m->wb_users++;
		break;
	}
	pthread_mutex_unlock(&cache->wb_lock);
	return m;
}

/* Put a mapping back after a turn (see the top of this file). */
static void requeue_io(struct cache *cache, struct address_space *m, bool chunk_used)
{
	struct flusher *fl = cache->flusher;

	pthread_mutex_lock(&cache->wb_lock);
	if (atomic_load(&m->flags) & AS_DIRTY_LISTED) {
		if (chunk_used) {
			list_move_tail(&m->wb_link, &fl->b_more_io);
		} else {
			m->wb_listed_when = cache_now_ms();
			list_move_tail(&m->wb_link, &cache->dirty_mappings);
		}
	}
	if (--m->wb_users == 0)
		pthread_cond_broadcast(&fl->unpinned);
	pthread_mutex_unlock(&cache->wb_lock);
}

/**
 * flusher_forget_mapping - a mapping is going away: off the flusher's lists
 * @mapping: the mapping, AS_EXITING set, its pages already truncated
 *
 * Waits until no flusher thread is writing it.
 *
 * Context: mapping_destroy(); takes wb_lock.
 */
void flusher_forget_mapping(struct address_space *mapping)
{
	struct cache *cache = mapping->cache;

	pthread_mutex_lock(&cache->wb_lock);
	while (mapping->wb_users)
		pthread_cond_wait(&cache->flusher->unpinned, &cache->wb_lock);
	if (atomic_fetch_and(&mapping->flags, ~AS_DIRTY_LISTED) & AS_DIRTY_LISTED)
		list_del_init(&mapping->wb_link);
	pthread_mutex_unlock(&cache->wb_lock);
}

/* ---- writing ---- */

/* Fold one chunk's rate into the write-back rate estimate. */
static void bw_update(struct flusher *fl, long pages, uint64_t us)
{
	uint64_t cur, old;

	if (pages < 16 || !us)
		return;
	cur = (uint64_t)pages * 1000000 / us;
	old = atomic_load(&fl->bw);
	atomic_store(&fl->bw, (7 * old + cur) / 8);
}

/* Write one turn of @m: at most FLUSH_CHUNK_PAGES pages. */
static long write_turn(struct cache *cache, struct address_space *m, enum wb_reason reason)
{
	struct writeback_control wbc = {
		.range_end = UINT64_MAX,
		.sync_mode = WB_SYNC_NONE,
		.nr_to_write = FLUSH_CHUNK_PAGES,
		.reason = reason,
	};
	uint64_t t0 = cache_now_us();

	filemap_writepages(m, &wbc);
	bw_update(cache->flusher, wbc.nr_written, cache_now_us() - t0);
	requeue_io(cache, m, wbc.nr_to_write <= 0);
	return wbc.nr_written;
}

/* Should a run stop now? */
static bool run_done(struct cache *cache, enum wb_reason reason, long written, long budget)
{
	if (fl_stopping(cache->flusher) || written >= budget)
		return true;
	return reason == WB_REASON_BACKGROUND && !over_bg_thresh(cache);
}

static void wake_writers(struct flusher *fl)
{
	pthread_mutex_lock(&fl->lock);
	pthread_cond_broadcast(&fl->progress);
	pthread_mutex_unlock(&fl->lock);
}

/* One run (see the top of this file); returns the pages written. */
static long wb_run(struct cache *cache, enum wb_reason reason, long budget)
{
	long written = 0;

	while (!run_done(cache, reason, written, budget)) {
		uint64_t expire = (uint64_t)atomic_load(&cache->flusher->expire_cs) * 10;
		uint64_t now = cache_now_ms(), cutoff = UINT64_MAX;
		struct address_space *m;
		long round = 0;

		if (reason == WB_REASON_PERIODIC)
			cutoff = now > expire ? now - expire : 0;
		pthread_mutex_lock(&cache->wb_lock);
		queue_io(cache, cutoff);
		pthread_mutex_unlock(&cache->wb_lock);
		while ((m = pick_io(cache))) {
			round += write_turn(cache, m, reason);
			wake_writers(cache->flusher);
			if (run_done(cache, reason, written + round, budget))
				break;
		}
		written += round;
		if (!round)
			break;
	}
	return written;
}

/* ---- the threads ---- */

/* Sleep until the next periodic deadline, a wakeup or FLUSHER_IDLE_MS (lock held). */
static void flusher_sleep(struct flusher *fl, uint64_t now)
{
	uint64_t until = now + FLUSHER_IDLE_MS;
	struct timespec ts;

	if (atomic_load(&fl->interval_cs) && fl->next_periodic < until)
		until = fl->next_periodic;
	if (fl->bg_backoff > now && fl->bg_backoff < until)
		until = fl->bg_backoff;
	cache_deadline_at_ms(&ts, until);
	pthread_cond_timedwait(&fl->wake, &fl->lock, &ts);
}

/* What is due now (lock held): claims the periodic run. */
static void flusher_due(struct cache *cache, uint64_t now, bool *periodic, bool *bg)
{
	struct flusher *fl = cache->flusher;
	uint64_t interval = (uint64_t)atomic_load(&fl->interval_cs) * 10;

	*periodic = interval && now >= fl->next_periodic;
	if (*periodic)
		fl->next_periodic = now + interval;
	*bg = now >= fl->bg_backoff && (fl->bg_wanted || over_bg_thresh(cache));
	fl->bg_wanted = false;
}

static void *flusher_main(void *arg)
{
	struct cache *cache = arg;
	struct flusher *fl = cache->flusher;

	cache_rcu_thread_online();
	pthread_mutex_lock(&fl->lock);
	while (!fl->stopping) {
		uint64_t now = cache_now_ms();
		bool periodic, bg;
		long n = 0;

		flusher_due(cache, now, &periodic, &bg);
		if (!periodic && !bg) {
			flusher_sleep(fl, now);
			continue;
		}
		pthread_mutex_unlock(&fl->lock);
		if (bg)
			n = wb_run(cache, WB_REASON_BACKGROUND, LONG_MAX);
		if (periodic)
			wb_run(cache, WB_REASON_PERIODIC,
			       (long)cache_stat(cache, NR_DIRTY) + FLUSH_CHUNK_PAGES);
		pthread_mutex_lock(&fl->lock);
		if (bg && !n && over_bg_thresh(cache))
			fl->bg_backoff = cache_now_ms() + FLUSHER_BACKOFF_MS;
	}
	pthread_mutex_unlock(&fl->lock);
	return NULL;
}

/**
 * cache_flusher_start - start the flusher threads of a cache
 * @cache: the cache
 * @nr_threads: 1..8 (0: 1)
 *
 * From now on dirty data is written periodically and in the background,
 * and writers are throttled (balance_dirty_pages).
 *
 * Context: any thread; once (until cache_flusher_stop()).
 * Return: 0, -EBUSY when running, -EINVAL, or pthread_create's errno.
 */
int cache_flusher_start(struct cache *cache, unsigned nr_threads)
{
	struct flusher *fl = cache->flusher;
	int err = 0;

	nr_threads = nr_threads ? nr_threads : 1;
	if (nr_threads > FLUSHER_MAX_THREADS)
		return -EINVAL;
	pthread_mutex_lock(&fl->lock);
	if (fl->threads) {
		pthread_mutex_unlock(&fl->lock);
		return -EBUSY;
	}
	fl->threads = calloc(nr_threads, sizeof(*fl->threads));
	fl->next_periodic = cache_now_ms() + (uint64_t)atomic_load(&fl->interval_cs) * 10;
	pthread_mutex_unlock(&fl->lock);
	if (!fl->threads)
		return -ENOMEM;
	for (fl->nr_threads = 0; fl->nr_threads < nr_threads; fl->nr_threads++) {
		err = -pthread_create(&fl->threads[fl->nr_threads], NULL, flusher_main, cache);
		if (err)
			break;
	}
	atomic_store(&fl->running, true);
	if (err)
		cache_flusher_stop(cache);
	return err;
}

/**
 * cache_flusher_stop - stop and join the flusher threads
 * @cache: the cache
 *
 * A run in progress ends after its current turn. Dirty data stays dirty
 * (sync or unmount writes it); writers are no longer throttled.
 *
 * Context: any thread but a flusher; no-op when not running.
 */
void cache_flusher_stop(struct cache *cache)
{
	struct flusher *fl = cache->flusher;

	if (!fl->threads)
		return;
	atomic_store(&fl->running, false);
	pthread_mutex_lock(&fl->lock);
	fl->stopping = true;
	pthread_cond_broadcast(&fl->wake);
	pthread_cond_broadcast(&fl->progress);
	pthread_mutex_unlock(&fl->lock);
	for (unsigned i = 0; i < fl->nr_threads; i++)
		pthread_join(fl->threads[i], NULL);
	pthread_mutex_lock(&fl->lock);
	free(fl->threads);
	fl->threads = NULL;
	fl->nr_threads = 0;
	fl->stopping = false;
	pthread_mutex_unlock(&fl->lock);
}

/**
 * wakeup_flusher - ask for background writeback now
 * @cache: the cache
 *
 * Context: any thread holding no cache lock; cheap when already asked.
 */
void wakeup_flusher(struct cache *cache)
{
	struct flusher *fl = cache->flusher;

	if (!atomic_load(&fl->running) || __atomic_load_n(&fl->bg_wanted, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&fl->lock);
	fl->bg_wanted = true;
	pthread_cond_signal(&fl->wake);
	pthread_mutex_unlock(&fl->lock);
}

/* ---- throttling ---- */

static void bdp_account(struct cache *cache, uint64_t us)
{
	stat_inc(cache, BDP_EVENTS);
	atomic_fetch_add(&cache->flusher->pause_us, us);
}

/* Between setpoint and threshold: pay for @pages at the allowed rate. */
static void bdp_proportional(struct cache *cache, unsigned long dirty, unsigned long setpoint,
			     unsigned long thresh)
{
	uint64_t bw = MAX(atomic_load(&cache->flusher->bw), (uint64_t)BW_MIN_PAGES);
	uint64_t pages = MIN(bdp_dirtied, 1U << 20), pause;
	struct timespec ts;

	/* rate = 2 * bw * (thresh - dirty) / (thresh - setpoint) pages/s */
	pause = pages * 1000000 * (thresh - setpoint) / (2 * bw * (thresh - dirty));
	if (pause < BDP_MIN_PAUSE_US)
		return; /* keep counting until the pause is worth a sleep */
	bdp_dirtied = 0;
	pause = MIN(pause, (uint64_t)BDP_MAX_PAUSE_US);
	ts.tv_sec = (time_t)(pause / 1000000);
	ts.tv_nsec = (long)(pause % 1000000) * 1000;
	nanosleep(&ts, NULL);
	bdp_account(cache, pause);
}

/* At or over the threshold: wait until dirty memory is below it again. A
 * failing device (WB_ERRORS moves) or a stopping flusher ends the wait. */
static void bdp_wait(struct cache *cache)
{
	struct flusher *fl = cache->flusher;
	uint64_t errors = cache_stat(cache, WB_ERRORS), t0 = cache_now_us();
	unsigned long thresh, bg;
	struct timespec ts;

	bdp_dirtied = 0;
	pthread_mutex_lock(&fl->lock);
	for (;;) {
		cache_dirty_thresholds(cache, &thresh, &bg);
		if (dirty_pages(cache) < thresh || fl->stopping || !atomic_load(&fl->running) ||
		    cache_stat(cache, WB_ERRORS) != errors)
			break;
		fl->bg_wanted = true;
		pthread_cond_signal(&fl->wake);
		cache_deadline_at_ms(&ts, cache_now_ms() + BDP_WAIT_SLICE_MS);
		pthread_cond_timedwait(&fl->progress, &fl->lock, &ts);
	}
	pthread_mutex_unlock(&fl->lock);
	bdp_account(cache, cache_now_us() - t0);
}

/**
 * balance_dirty_pages - throttle a writer that has dirtied pages
 * @mapping: the mapping it writes
 *
 * Called after each page a write dirties (filemap_write does). Wakes the
 * flusher past the background threshold; pauses past the setpoint in
 * proportion to the pages this thread dirtied and to how close dirty
 * memory is to the threshold; waits at the threshold (see cache.h). Each
 * pause counts in BDP_EVENTS and BDP_PAUSE_MS. Does nothing while no
 * flusher thread runs.
 *
 * Context: may sleep; no page lock held (invalidate_lock and fs inode
 * locks may be).
 */
void balance_dirty_pages(struct address_space *mapping)
{
	struct cache *cache = mapping->cache;
	unsigned long thresh, bg, dirty, setpoint;

	if (!bdp_dirtied || bdp_deferred || !atomic_load(&cache->flusher->running))
		return;
	cache_dirty_thresholds(cache, &thresh, &bg);
	dirty = dirty_pages(cache);
	if (dirty > bg)
		wakeup_flusher(cache);
	setpoint = bg + (thresh - bg) / 2;
	if (dirty <= setpoint || (bdp_cleaner && dirty < thresh)) {
		bdp_dirtied = 0;
		return;
	}
	if (dirty < thresh)
		bdp_proportional(cache, dirty, setpoint, thresh);
	else
		bdp_wait(cache);
}

/**
 * balance_dirty_pages_cleaner - mark the calling thread's writes as cleaning
 * @on: true while the thread writes pages another cache is writing back
 *
 * A cleaner's writes are pages the kernel's own cache is writing back (FUSE
 * writes with FUSE_WRITE_CACHE: cache=kernel writes and mapped pages). The
 * kernel already paces whoever dirtied them against the FUSE mount's
 * write-back rate, which it measures from these writes' replies; pausing
 * them here as well would only lower that measure and pace the dirtier
 * twice. So a cleaner is not paced between setpoint and threshold; it still
 * waits at the threshold, which bounds dirty memory as for any writer (as
 * Linux's PF_LOCAL_THROTTLE does for the loop driver's writes).
 *
 * Context: the thread about to write (and after it, with false).
 */
void balance_dirty_pages_cleaner(bool on)
{
	bdp_cleaner = on;
}

/**
 * balance_dirty_pages_defer - do not throttle the calling thread for now
 * @on: true while it holds something the write-back it would wait for may
 *	need (a journal handle: a commit waits for every handle to end, and
 *	dirty metadata a transaction pinned is written only after its commit)
 *
 * The pages it dirties meanwhile are still counted; its next
 * balance_dirty_pages() after @on goes false pays for them.
 *
 * Context: the thread itself.
 */
void balance_dirty_pages_defer(bool on)
{
	bdp_deferred = on;
}

/* ---- hooks for the other cache files ---- */

/**
 * flusher_note_dirtied - count a page the calling thread dirtied
 * @cache: its cache
 *
 * Context: account_page_dirtied().
 */
void flusher_note_dirtied(struct cache *cache)
{
	(void)cache;
	bdp_dirtied++;
}

/**
 * flusher_note_error - remember the latest write-back error
 * @cache: the cache
 * @err: negative errno
 *
 * Context: any.
 */
void flusher_note_error(struct cache *cache, int err)
{
	atomic_store(&cache->flusher->last_error, -err);
}

/**
 * flusher_stat - the computed counters
 * @cache: the cache
 * @item: DIRTY_THRESHOLD, DIRTY_BACKGROUND_THRESHOLD, BDP_PAUSE_MS or
 *	WB_LAST_ERROR
 *
 * Context: any.
 * Return: the value (0 for another item).
 */
uint64_t flusher_stat(struct cache *cache, enum cache_stat_item item)
{
	unsigned long t, b;

	switch (item) {
	case DIRTY_THRESHOLD:
	case DIRTY_BACKGROUND_THRESHOLD:
		cache_dirty_thresholds(cache, &t, &b);
		return item == DIRTY_THRESHOLD ? t : b;
	case BDP_PAUSE_MS:
		return atomic_load(&cache->flusher->pause_us) / 1000;
	case WB_LAST_ERROR:
		return (uint64_t)atomic_load(&cache->flusher->last_error);
	default:
		return 0;
	}
}

/**
 * flusher_init - set up the flusher state with the default tunables
 * @cache: the cache being created
 *
 * Context: cache_create().
 * Return: 0 or -ENOMEM.
 */
int flusher_init(struct cache *cache)
{
	struct flusher *fl = calloc(1, sizeof(*fl));

	if (!fl)
		return -ENOMEM;
	atomic_init(&fl->dirty_ratio, 20);
	atomic_init(&fl->bg_ratio, 10);
	atomic_init(&fl->expire_cs, 3000);
	atomic_init(&fl->interval_cs, 500);
	atomic_init(&fl->bw, BW_INIT_PAGES);
	INIT_LIST_HEAD(&fl->b_io);
	INIT_LIST_HEAD(&fl->b_more_io);
	cache_mutex_init(&fl->lock);
	cache_cond_init_monotonic(&fl->wake);
	cache_cond_init_monotonic(&fl->progress);
	pthread_cond_init(&fl->unpinned, NULL);
	cache->flusher = fl;
	return 0;
}

/**
 * flusher_destroy - stop the threads and free the flusher state
 * @cache: the cache being destroyed
 *
 * Context: cache_destroy().
 */
void flusher_destroy(struct cache *cache)
{
	struct flusher *fl = cache->flusher;

	if (!fl)
		return;
	cache_flusher_stop(cache);
	pthread_mutex_destroy(&fl->lock);
	pthread_cond_destroy(&fl->wake);
	pthread_cond_destroy(&fl->progress);
	pthread_cond_destroy(&fl->unpinned);
	free(fl);
	cache->flusher = NULL;
}
