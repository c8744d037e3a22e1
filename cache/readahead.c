/*
 * cache/readahead.c - on-demand readahead windows, merged device reads and
 * the asynchronous readahead workers.
 *
 * Interface: file_ra_state_init, page_cache_sync_readahead,
 * page_cache_async_readahead (cache.h); read_pages, read_pages_locked,
 * readahead_start_workers, readahead_stop_workers, readahead_drain
 * (internal.h).
 *
 * Windows (per open file, struct file_ra_state):
 *   - a miss with no sequential history (not at index 0, not next to
 *     prev_pos, not at the end of the current window) reads only the pages
 *     asked for: random access does no readahead and counts no PGREADAHEAD;
 *   - a miss at index 0 or continuing the previous read opens a window of
 *     roundup_pow2(req) * 4 or * 2 pages (capped at ra_pages and at 1/16 of
 *     the cache limit, RA_LIMIT_DIV), async_size =
 *     size / 2, and marks page start + size - async_size PG_readahead;
 *   - hitting the marked page (or missing at the window's end) moves the
 *     window on: start += size, size = min(2 * size, ra_pages), async_size =
 *     size, so the next mark is the new window's first page.
 * Readahead never reads past EOF, skips cached pages, and never waits for
 * memory (page_cache_alloc_nowait; the window just ends early). PGREADAHEAD
 * counts pages read beyond those requested; PGREADAHEAD_ASYNC the part read by
 * the workers. The caller holds invalidate_lock shared while pages are added.
 *
 * Asynchronous windows: the caller allocates the pages and inserts them
 * locked (so readers and truncate wait for them), then queues one work item;
 * a worker reads the pages (read_pages), drops the allocation references and
 * unlocks them. The work item is the worker's; it does not touch the mapping
 * after unlocking the last page.
 *
 * Merged reads (read_pages_locked): pages already uptodate (filled from the
 * compressed tier when they were added) are skipped; buffer-
 * less pages whose blocks map to a contiguous device run are read with one
 * bdev_readv over their page buffers, up to max_io_bytes; holes and unwritten
 * runs are zeroed without I/O; pages whose blocks differ inside the page (or
 * that already have buffers, or belong to the device mapping) go through
 * create_page_buffers + block_read_page. Bytes past i_size are zeroed.
 */
#include "config.h"

#define _LGPL_SOURCE

#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "cache/internal.h"

/* Pages added per synchronous batch, and pages per merged device read. */
#define RA_BATCH      64
#define RIO_MAX_PAGES 256
/* Largest window honoured, whatever ra_pages says; and at most this part of
 * the cache limit, so that a window's locked pages (up to two per reader:
 * the one read now and the one read ahead) never fill a small cache and
 * leave none for the metadata its own reads need. */
#define CACHE_RA_WINDOW_MAX 4096
#define RA_LIMIT_DIV	    16

/* One asynchronous window, queued on cache->ra_queue, then on ra_running
 * while a worker reads it. */
struct ra_work {
	struct list_head link; /* on ra_queue or ra_running; protected by ra_lock */
	uint64_t ticket;       /* order of queueing (readahead_drain) */
	struct address_space *mapping;
	unsigned nr;
	struct page *pages[];
};

/* A merged device read being assembled. */
struct rio {
	struct iovec iov[RIO_MAX_PAGES];
	struct page *pages[RIO_MAX_PAGES];
	unsigned n, max;
	uint64_t start_blk, next_blk; /* in the mapping's blocks */
};

/**
 * file_ra_state_init - start a readahead state for an open file
 * @ra: the state
 * @mapping: the file's mapping (its cache's ra_max_pages is the maximum window)
 *
 * Context: any.
 */
void file_ra_state_init(struct file_ra_state *ra, struct address_space *mapping)
{
	memset(ra, 0, sizeof(*ra));
	ra->ra_pages = cache_get_ra_max(mapping->cache);
	ra->prev_pos = UINT64_MAX;
}

/* ---- merged reads ---- */

static void zero_beyond_eof(struct address_space *mapping, struct page *page)
{
	uint64_t isize = atomic_load(&mapping->i_size), start = page->index << PAGE_SHIFT;
	uint64_t off;

	if (mapping->is_bdev || start + PAGE_SIZE <= isize)
		return;
	off = isize > start ? isize - start : 0;
	memset((char *)page_address(page) + off, 0, PAGE_SIZE - off);
}

static void page_read_done(struct address_space *mapping, struct page *page, bool mapped)
{
	zero_beyond_eof(mapping, page);
	page_clear(page, PG_error);
	if (mapped && mapping->blkbits == PAGE_SHIFT)
		page_set(page, PG_mappedtodisk);
	page_set(page, PG_uptodate);
}

static int rio_submit(struct address_space *mapping, struct rio *rio)
{
	struct cache *cache = mapping->cache;
	int err;

	if (!rio->n)
		return 0;
	err = bdev_readv(mapping->bdev, rio->start_blk << mapping->blkbits, rio->iov, (int)rio->n);
	for (unsigned i = 0; i < rio->n; i++) {
		if (err)
			page_set(rio->pages[i], PG_error);
		else
			page_read_done(mapping, rio->pages[i], true);
	}
	if (err)
		stat_inc(cache, READ_ERRORS);
	else
		stat_add(cache, PGPGIN, (int64_t)rio->n * (PAGE_SIZE / 1024));
	rio->n = 0;
	return err;
}

/* Queue @page (device block @blk) on the merged read, submitting first if it
 * does not continue it. */
static int rio_add(struct address_space *mapping, struct rio *rio, struct page *page, uint64_t blk)
{
	int err = 0;

	if (rio->n && (blk != rio->next_blk || rio->n == rio->max))
		err = rio_submit(mapping, rio);
	if (!rio->n)
		rio->start_blk = blk;
	rio->iov[rio->n].iov_base = page_address(page);
	rio->iov[rio->n].iov_len = PAGE_SIZE;
	rio->pages[rio->n++] = page;
	rio->next_blk = blk + (1U << (PAGE_SHIFT - mapping->blkbits));
	return err;
}

/* Read a page block by block through its buffer heads. */
static int read_page_buffers(struct address_space *mapping, struct page *page)
{
	int err = create_page_buffers(page, mapping->blkbits);

	if (!err)
		err = block_read_page(mapping, page);
	if (!err && !page_test(page, PG_uptodate))
		err = -EIO;
	if (err) {
		page_set(page, PG_error);
		return err;
	}
	page_clear(page, PG_error);
	zero_beyond_eof(mapping, page);
	return 0;
}

/* Can pages[i] join a whole-page merged read? */
static bool page_plain(struct page *page)
{
	return !page_test(page, PG_uptodate) && !page_test(page, PG_private);
}

/*
 * Map the run of consecutive plain pages starting at pages[i] and read (or
 * queue) the pages the answer covers. Returns pages consumed (>= 1); *errp
 * gets an error.
 */
static unsigned read_map_run(struct address_space *mapping, struct page **pages, unsigned i,
			     unsigned nr, struct rio *rio, int *errp)
{
	unsigned k = PAGE_SHIFT - mapping->blkbits, run = 1, covered, flags = 0;
	uint64_t first = pages[i]->index, pblk = 0;
	int n;

	while (i + run < nr && run < rio->max && pages[i + run]->index == first + run &&
	       page_plain(pages[i + run]))
		run++;
	n = mapping->a_ops->map_blocks(mapping, first << k, run << k, &pblk, &flags);
	if (n <= 0) {
		*errp = n ? n : -EIO;
		page_set(pages[i], PG_error);
		stat_inc(mapping->cache, READ_ERRORS);
		return 1;
	}
	if ((unsigned)n < (1U << k)) {
		/* blocks of this page differ: read them one by one */
		*errp = rio_submit(mapping, rio) ?: *errp;
		*errp = read_page_buffers(mapping, pages[i]) ?: *errp;
		return 1;
	}
	covered = MIN((unsigned)n >> k, run);
	for (unsigned j = 0; j < covered; j++) {
		if (flags & MAP_MAPPED) {
			*errp = rio_add(mapping, rio, pages[i + j], pblk + ((uint64_t)j << k))
					?: *errp;
		} else {
			memset(page_address(pages[i + j]), 0, PAGE_SIZE);
			page_read_done(mapping, pages[i + j], false);
		}
	}
	return covered;
}

/**
 * read_pages_locked - read locked pages that are not uptodate, keep them locked
 * @mapping: their mapping
 * @pages: the pages, ascending index (not necessarily contiguous)
 * @nr: how many
 *
 * Each page ends uptodate or with PG_error set.
 *
 * Context: the pages are locked by the caller; may sleep (device I/O).
 * Return: 0, or the first negative errno met.
 */
int read_pages_locked(struct address_space *mapping, struct page **pages, unsigned nr)
{
	struct rio rio;
	int err = 0;

	rio.n = 0;
	rio.max = MIN(mapping->cache->max_io_bytes / PAGE_SIZE, (unsigned)RIO_MAX_PAGES);
	rio.max = MAX(rio.max, 1U);
	for (unsigned i = 0; i < nr;) {
		struct page *page = pages[i];

		if (page_test(page, PG_uptodate)) {
			i++;
		} else if (page_test(page, PG_private) || mapping->is_bdev) {
			err = rio_submit(mapping, &rio) ?: err;
			err = read_page_buffers(mapping, page) ?: err;
			i++;
		} else {
			i += read_map_run(mapping, pages, i, nr, &rio, &err);
		}
	}
	return rio_submit(mapping, &rio) ?: err;
}

/**
 * read_pages - read new locked pages, drop the caller's references, unlock
 * @mapping: their mapping
 * @pages: the pages, ascending index, each referenced by the caller
 * @nr: how many
 *
 * Each page ends uptodate or with PG_error, without the caller's reference,
 * and unlocked. The reference goes first, while the page is still locked:
 * a locked page cannot leave its mapping, whose own reference keeps it
 * alive until the unlock. So once a page is unlocked this read holds
 * nothing of it, and a truncate or mapping_destroy() that waited for the
 * page lock frees the page at once (dropping the references after the
 * unlock left an asynchronous window's pages allocated for a moment after
 * mapping_destroy() had returned). The mapping is not touched after the
 * last page is unlocked (it may be destroyed then).
 *
 * Context: the pages are locked by the caller (or handed to a worker).
 */
void read_pages(struct address_space *mapping, struct page **pages, unsigned nr)
{
	read_pages_locked(mapping, pages, nr);
	for (unsigned i = 0; i < nr; i++) {
		put_page(pages[i]);
		unlock_page(pages[i]);
	}
}

/* ---- windows ---- */

static unsigned roundup_pow2(unsigned n)
{
	unsigned p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* First window for a request of @req pages. */
static unsigned ra_init_size(unsigned req, unsigned max)
{
	unsigned size = roundup_pow2(req);

	if (size <= max / 32)
		size *= 4;
	else if (size <= max / 4)
		size *= 2;
	else
		size = max;
	return MIN(size, max);
}

static unsigned ra_next_size(unsigned size, unsigned max)
{
	return MIN(2 * size, max);
}

static bool ra_page_cached(struct address_space *mapping, uint64_t index)
{
	void *entry;

	rcu_read_lock();
	entry = xa_load(&mapping->i_pages, index);
	rcu_read_unlock();
	return entry && !xa_is_value(entry);
}

/* Hand an asynchronous window to the workers (or, with none, read it now).
 * The mapping is not touched after the window's last page is unlocked. */
static void ra_queue_work(struct cache *cache, struct ra_work *work)
{
	if (!cache->nr_ra_workers) {
		read_pages(work->mapping, work->pages, work->nr);
		free(work);
		return;
	}
	pthread_mutex_lock(&cache->ra_lock);
	work->ticket = cache->ra_next_ticket++;
	list_add_tail(&work->link, &cache->ra_queue);
	pthread_cond_signal(&cache->ra_cond);
	pthread_mutex_unlock(&cache->ra_lock);
}

/*
 * struct ra_request - one window to bring in.
 * @start, @nr:    the window (pages)
 * @mark:          page to mark PG_readahead (UINT64_MAX: none)
 * @req_start, @req_end: pages the reader asked for (not counted as readahead)
 * @async:         read by a worker
 */
struct ra_request {
	uint64_t start, nr, mark, req_start, req_end;
	bool async;
};

/* Allocate and insert the window's missing pages (locked) into @pages;
 * returns how many. Stops early when memory is short. */
static unsigned ra_fill(struct address_space *mapping, const struct ra_request *rq,
			struct page **pages, unsigned max, uint64_t *next, uint64_t end)
{
	unsigned n = 0;
	uint64_t i;

	for (i = *next; i < end && n < max; i++) {
		struct page *page;
		int err;

		if (ra_page_cached(mapping, i))
			continue;
		if (page_cache_alloc_nowait(mapping->cache, &page))
			break;
		err = add_to_page_cache_lru(page, mapping, i);
		if (err) {
			put_page(page);
			if (err == -EEXIST)
				continue;
			break;
		}
		if (i == rq->mark)
			page_set(page, PG_readahead);
		pages[n++] = page;
	}
	*next = i < end && n < max ? end : i; /* stopped early: give up the rest */
	return n;
}

static unsigned ra_count_extra(struct page **pages, unsigned n, const struct ra_request *rq)
{
	unsigned extra = 0;

	for (unsigned i = 0; i < n; i++)
		extra += pages[i]->index < rq->req_start || pages[i]->index >= rq->req_end;
	return extra;
}

static void ra_submit_sync(struct address_space *mapping, const struct ra_request *rq, uint64_t end)
{
	struct page *pages[RA_BATCH];
	uint64_t next = rq->start;
	unsigned n;

	while (next < end) {
		n = ra_fill(mapping, rq, pages, RA_BATCH, &next, end);
		if (!n)
			break;
		stat_add(mapping->cache, PGREADAHEAD, ra_count_extra(pages, n, rq));
		read_pages(mapping, pages, n);
	}
}

static void ra_submit_async(struct address_space *mapping, const struct ra_request *rq,
			    uint64_t end)
{
	struct ra_work *work = malloc(sizeof(*work) + (end - rq->start) * sizeof(struct page *));
	uint64_t next = rq->start;
	unsigned n;

	if (!work) {
		ra_submit_sync(mapping, rq, end);
		return;
	}
	n = ra_fill(mapping, rq, work->pages, (unsigned)(end - rq->start), &next, end);
	if (!n) {
		free(work);
		return;
	}
	stat_add(mapping->cache, PGREADAHEAD, n);
	stat_add(mapping->cache, PGREADAHEAD_ASYNC, n);
	work->mapping = mapping;
	work->nr = n;
	ra_queue_work(mapping->cache, work);
}

/* Bring in a window, clamped to EOF. */
static void ra_submit(struct address_space *mapping, const struct ra_request *rq)
{
	uint64_t isize = atomic_load(&mapping->i_size), last, end;

	if (!isize || !rq->nr)
		return;
	last = (isize - 1) >> PAGE_SHIFT;
	if (rq->start > last)
		return;
	end = rq->nr > last + 1 - rq->start ? last + 1 : rq->start + rq->nr;
	if (rq->async)
		ra_submit_async(mapping, rq, end);
	else
		ra_submit_sync(mapping, rq, end);
}

/* Submit the window described by @ra. */
static void ra_submit_window(struct address_space *mapping, struct file_ra_state *ra,
			     uint64_t req_start, uint64_t req_end, bool async)
{
	struct ra_request rq = {
		.start = ra->start,
		.nr = ra->size,
		.mark = ra->async_size ? ra->start + ra->size - ra->async_size : UINT64_MAX,
		.req_start = req_start,
		.req_end = req_end,
		.async = async,
	};

	ra_submit(mapping, &rq);
}

/* Does a miss at @index continue the previous read? */
static bool ra_sequential(const struct file_ra_state *ra, uint64_t index)
{
	uint64_t last;

	if (ra->prev_pos == UINT64_MAX || ra->prev_pos == 0)
		return false;
	last = (ra->prev_pos - 1) >> PAGE_SHIFT;
	return index == last || index == last + 1;
}

/* The window limit for @ra now (0: no readahead). */
static unsigned ra_window_max(struct address_space *mapping, const struct file_ra_state *ra)
{
	unsigned long part = atomic_load(&mapping->cache->limit) / RA_LIMIT_DIV;
	unsigned max = ra ? MIN(ra->ra_pages, (unsigned)CACHE_RA_WINDOW_MAX) : 0;

	return MIN(max, (unsigned)MAX(part, 1UL));
}

/**
 * page_cache_sync_readahead - a reader missed: read the page(s) it needs and,
 * on a sequential stream, a window ahead
 * @mapping: the mapping
 * @ra: the reader's state (NULL: read only what is asked)
 * @index: the page that missed
 * @req_pages: pages the reader wants from @index on
 *
 * Context: invalidate_lock held shared by the caller; may sleep for the I/O.
 */
void page_cache_sync_readahead(struct address_space *mapping, struct file_ra_state *ra,
			       uint64_t index, unsigned req_pages)
{
	struct ra_request plain = {.start = index,
				   .nr = req_pages ? req_pages : 1,
				   .mark = UINT64_MAX,
				   .req_start = index};
	unsigned max = ra_window_max(mapping, ra);

	plain.req_end = index + plain.nr;
	if (!max) {
		ra_submit(mapping, &plain);
		return;
	}
	if (ra->size &&
	    (index == ra->start + ra->size || index == ra->start + ra->size - ra->async_size)) {
		ra->start = index; /* reached the end of the window: move on */
		ra->size = ra_next_size(ra->size, max);
		ra->async_size = ra->size;
	} else if (index == 0 || ra_sequential(ra, index)) {
		ra->start = index;
		ra->size = ra_init_size(plain.nr, max);
		ra->async_size = ra->size / 2;
	} else {
		ra_submit(mapping, &plain); /* random: no readahead */
		return;
	}
	ra_submit_window(mapping, ra, plain.req_start, plain.req_end, false);
	if (plain.req_end > ra->start + ra->size) {
		plain.start = ra->start + ra->size; /* the request is longer than the window */
		plain.nr = plain.req_end - plain.start;
		ra_submit(mapping, &plain);
	}
}

/**
 * page_cache_async_readahead - a reader hit a PG_readahead page: start the
 * next window in the background
 * @mapping: the mapping
 * @ra: the reader's state
 * @page: the page hit (its PG_readahead already cleared by the caller)
 * @index: its index
 * @req_pages: pages the reader wants from @index on
 *
 * Context: invalidate_lock held shared by the caller; does not wait for I/O.
 */
void page_cache_async_readahead(struct address_space *mapping, struct file_ra_state *ra,
				struct page *page, uint64_t index, unsigned req_pages)
{
	unsigned max = ra_window_max(mapping, ra);

	(void)page;
	if (!max)
		return;
	if (ra->size && index == ra->start + ra->size - ra->async_size) {
		ra->start += ra->size;
		ra->size = ra_next_size(ra->size, max);
	} else {
		/* a mark without matching state (another reader, a seek) */
		ra->start = index + 1;
		ra->size = ra_init_size(req_pages ? req_pages : 1, max);
	}
	ra->async_size = ra->size;
	ra_submit_window(mapping, ra, 0, 0, true);
}

/* ---- workers ---- */

static void *ra_worker_main(void *arg)
{
	struct cache *cache = arg;

	cache_rcu_thread_online();
	pthread_mutex_lock(&cache->ra_lock);
	for (;;) {
		struct ra_work *work;

		while (list_empty(&cache->ra_queue) && !cache->ra_stopping)
			pthread_cond_wait(&cache->ra_cond, &cache->ra_lock);
		if (list_empty(&cache->ra_queue))
			break;
		work = list_first_entry(&cache->ra_queue, struct ra_work, link);
		list_move_tail(&work->link, &cache->ra_running);
		pthread_mutex_unlock(&cache->ra_lock);
		read_pages(work->mapping, work->pages, work->nr);
		pthread_mutex_lock(&cache->ra_lock);
		list_del_init(&work->link);
		free(work);
		pthread_cond_broadcast(&cache->ra_idle);
	}
	pthread_mutex_unlock(&cache->ra_lock);
	return NULL;
}

/**
 * readahead_start_workers - start the asynchronous readahead threads
 * @cache: the cache
 * @n: how many
 *
 * If none can be started, asynchronous windows are read synchronously.
 *
 * Context: cache_create().
 */
void readahead_start_workers(struct cache *cache, unsigned n)
{
	cache->ra_workers = calloc(n, sizeof(pthread_t));
	cache->nr_ra_workers = 0;
	if (!cache->ra_workers)
		return;
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&cache->ra_workers[i], NULL, ra_worker_main, cache))
			break;
		cache->nr_ra_workers++;
	}
}

/* Is a window queued before @ticket still queued or being read? */
static bool ra_pending_before(struct cache *cache, uint64_t ticket)
{
	struct list_head *pos;

	if (!list_empty(&cache->ra_queue) &&
	    list_first_entry(&cache->ra_queue, struct ra_work, link)->ticket < ticket)
		return true;
	for (pos = cache->ra_running.next; pos != &cache->ra_running; pos = pos->next)
		if (list_entry(pos, struct ra_work, link)->ticket < ticket)
			return true;
	return false;
}

/**
 * readahead_drain - wait for the asynchronous windows queued so far
 * @cache: the cache
 *
 * Windows queued after the call are not waited for, so a stream of new
 * readahead cannot starve the caller.
 *
 * Context: no cache lock and no page lock held; may sleep.
 */
void readahead_drain(struct cache *cache)
{
	uint64_t ticket;

	pthread_mutex_lock(&cache->ra_lock);
	ticket = cache->ra_next_ticket;
	while (ra_pending_before(cache, ticket))
		pthread_cond_wait(&cache->ra_idle, &cache->ra_lock);
	pthread_mutex_unlock(&cache->ra_lock);
}

/**
 * readahead_stop_workers - finish the queued windows and join the workers
 * @cache: the cache
 *
 * Context: cache_destroy().
 */
void readahead_stop_workers(struct cache *cache)
{
	pthread_mutex_lock(&cache->ra_lock);
	cache->ra_stopping = true;
	pthread_cond_broadcast(&cache->ra_cond);
	pthread_mutex_unlock(&cache->ra_lock);
	for (unsigned i = 0; i < cache->nr_ra_workers; i++)
		pthread_join(cache->ra_workers[i], NULL);
	free(cache->ra_workers);
	cache->ra_workers = NULL;
	cache->nr_ra_workers = 0;
}
