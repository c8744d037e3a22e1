/*
 * cache/writeback.c - dirty accounting, tag-then-write writeback with merged
 * device writes, waiting for write-back, and errseq error tracking.
 *
 * Interface: filemap_writepages, filemap_fdatawrite_range,
 * filemap_fdatawait_range, filemap_write_and_wait_range,
 * filemap_write_and_wait, mapping_set_error, filemap_sample_wb_err,
 * file_check_and_advance_wb_err (cache.h); account_page_dirtied,
 * clear_page_dirty_for_io, cancel_dirty_page, writeback_page_for_reclaim,
 * writeback_buffer (internal.h).
 *
 * A writeback pass (filemap_writepages):
 *  1. Tag: under xa_lock, DIRTY is copied to TOWRITE over the range, so pages
 *     dirtied after the start cannot keep the pass going.
 *  2. Walk TOWRITE in ascending index order. Lock each page: WB_SYNC_NONE
 *     uses trylock and skips busy pages; WB_SYNC_ALL first tries, and before
 *     sleeping on a page lock submits what it has gathered, so it never sleeps
 *     on one page lock while holding others.
 *  3. Plan the page: the dirty heads (minus pinned ones and those past EOF),
 *     or the whole page when it has no heads, and where they go on the device
 *     (map_blocks; MAP_CREATE for blocks still unmapped; MAP_NOWAIT for
 *     reclaim, where -EAGAIN means "skip").
 *  4. Commit: clear_page_dirty_for_io (unless pinned dirty heads keep the page
 *     dirty), clear the written heads' BH_Dirty, set PG_writeback and the
 *     WRITEBACK mark (clearing TOWRITE), and add the page's segments to the
 *     open run.
 *  5. A run is one bdev_writev of device-contiguous segments, at most max_io
 *     bytes and IOV_MAX segments; a segment that does not continue it submits
 *     it first.
 *  6. After a run's I/O every page whose segments are all written is finished:
 *     on failure its heads get BH_Dirty|BH_Write_EIO back, the page PG_error
 *     and PG_dirty again; then the WRITEBACK mark and PG_writeback are cleared
 *     (end_page_writeback wakes the waiters) and the page is unlocked.
 *  7. Write clustering (filemap_writepages on file mappings): when the next
 *     dirty page is at most wb_fill_bytes after the open run and its blocks
 *     follow the run's with exactly the pages between, those clean cached
 *     pages go into the run too (locked, PG_writeback, counted PGWRITE_FILL),
 *     so scattered dirty pages over cached data leave in large writes. A
 *     clean uptodate page holds what its blocks hold, so rewriting it changes
 *     nothing on the device; a fill page whose write fails becomes dirty (W5).
 *
 * Invariants:
 *  W1. mapping->nrdirty counts the mapping's PG_dirty pages: it moves with
 *      every PG_dirty 0->1 (account_page_dirtied) and 1->0
 *      (clear_page_dirty_for_io, cancel_dirty_page), and so does NR_DIRTY.
 *  W2. The DIRTY mark is set under xa_lock after PG_dirty is set, and cleared
 *      under xa_lock only while PG_dirty is clear, so a page dirty again in a
 *      race keeps its mark.
 *  W3. AS_DIRTY_LISTED <=> the mapping is on one of the flusher's lists
 *      (cache->dirty_mappings = b_dirty, b_io, b_more_io) or a flusher
 *      thread is writing it (wb_users > 0, off every list; flusher.c), all
 *      under wb_lock. Whoever moves nrdirty from or to 0 then rechecks it
 *      under wb_lock, so the last one leaves "listed <=> nrdirty > 0".
 *  W4. PG_writeback => the writer holds the page lock, the WRITEBACK mark is
 *      set and NR_WRITEBACK counts the page.
 *  W5. A failed write is never silently clean: the page and its heads are
 *      dirty again, PG_error/BH_Write_EIO set, WB_ERRORS counts the request
 *      and the errno goes to the mapping's errseq.
 *  W6. A pinned head is never written (its page stays dirty).
 *  W7. Until its data is on the device a dirty page carries the DIRTY or the
 *      WRITEBACK mark: clear_page_dirty_for_io leaves the DIRTY mark, and
 *      writeback start swaps it for WRITEBACK in one xa_lock section. So a
 *      WB_SYNC_ALL pass either tags the page (and waits for its page lock) or
 *      finds it under writeback (filemap_fdatawait_range waits for it).
 *
 * Errors: mapping->wb_err is an errseq_t as Linux keeps it: the errno in bits
 * 0-11, ERRSEQ_SEEN in bit 12, a counter above. Each opener samples it and
 * file_check_and_advance_wb_err() reports each new error once per sampler.
 * filemap_fdatawait_range() reports failures of the writes it waited for
 * (PG_error after the wait) with the errseq's errno; nothing else is sticky.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <time.h>
#include <urcu.h>

#include "cache/internal.h"

#define WB_DEFAULT_MAX_IO (1U << 20)
#define WB_SMALL_RUN	  16 /* run size when the big arrays cannot be had */
#define WB_BATCH	  16 /* pages looked up at once */
#define WB_MAX_HEADS	  (PAGE_SIZE >> 10)
#define WB_FILL_MAX_PAGES (WB_FILL_MAX_BYTES >> PAGE_SHIFT)

#define ERRSEQ_MAX_ERRNO 0xfffU
#define ERRSEQ_SEEN	 (1U << 12)
#define ERRSEQ_CTR_INC	 (1U << 13)

/* One piece of a page going to the device. */
struct wb_seg {
	uint64_t off;  /* device byte offset */
	char *data;    /* in the page */
	uint32_t len;  /* bytes */
	unsigned mask; /* heads covered (bit i: head i); 1 for a page without heads */
};

/* What to do with one locked dirty page. */
struct wb_plan {
	struct wb_seg seg[WB_MAX_HEADS];
	unsigned nseg;
	unsigned write;	 /* heads to write */
	unsigned clean;	 /* dirty heads to clean without writing (past EOF) */
	bool keep_dirty; /* dirty heads stay behind (pinned): the page stays dirty */
};

enum { WB_PLAN_WRITE = 1, WB_PLAN_CLEAN = 2, WB_PLAN_SKIP = 3 };

/* A page with segments in the open run, and which of its heads. */
struct wb_entry {
	struct page *page;
	unsigned mask;
	bool fill; /* a clean page written to join two runs (step 7) */
};

/* One writeback call's state; owned by the calling thread. */
struct wb_ctx {
	struct address_space *mapping;
	struct cache *cache;
	struct writeback_control *wbc;
	unsigned map_flags; /* added to map_blocks flags (MAP_NOWAIT) */
	uint32_t max_io;
	uint64_t fill_max; /* largest clean gap to fill, in pages (0: none) */
	struct page *cur;  /* page being gathered: a submit does not finish it */
	bool cur_fill;	   /* cur is a fill page */
	struct page *held; /* locked by our caller: finished but never unlocked */
	int err;	   /* first error */
	/* the open run */
	uint64_t off, len;
	unsigned niov, nent, cap;
	struct iovec *iov;
	struct wb_entry *ent;
	bool heap;
	struct iovec small_iov[WB_SMALL_RUN];
	struct wb_entry small_ent[WB_SMALL_RUN];
};

static const enum cache_stat_item wb_reason_stat[NR_WB_REASONS] = {
	[WB_REASON_SYNC] = PGWRITE_SYNC,
	[WB_REASON_BACKGROUND] = PGWRITE_BACKGROUND,
	[WB_REASON_PERIODIC] = PGWRITE_PERIODIC,
	[WB_REASON_RECLAIM] = PGWRITE_RECLAIM,
};

/* ---- errors ---- */

static errseq_t errseq_set(_Atomic errseq_t *eseq, int err)
{
	errseq_t old = atomic_load(eseq), new;

	if (err >= 0 || (unsigned)-err > ERRSEQ_MAX_ERRNO)
		return old;
	do {
		new = (old & ~(ERRSEQ_MAX_ERRNO | ERRSEQ_SEEN)) | (errseq_t)-err;
		/* A seen error is history: count a new one so samplers see it. */
		if (old & ERRSEQ_SEEN)
			new += ERRSEQ_CTR_INC;
		if (new == old)
			break;
	} while (!atomic_compare_exchange_weak(eseq, &old, new));
	return new;
}

/* The errno of the mapping's latest write-back error (-EIO if none). */
static int wb_last_errno(struct address_space *mapping)
{
	errseq_t cur = atomic_load(&mapping->wb_err);

	return (cur & ERRSEQ_MAX_ERRNO) ? -(int)(cur & ERRSEQ_MAX_ERRNO) : -EIO;
}

/**
 * mapping_set_error - record a write-back error on a mapping
 * @mapping: the mapping
 * @err: a negative errno (0 does nothing)
 *
 * Advances the errseq: every sampler will see it once.
 *
 * Context: any thread, no lock needed.
 */
void mapping_set_error(struct address_space *mapping, int err)
{
	if (!err)
		return;
	errseq_set(&mapping->wb_err, err);
}

/**
 * filemap_sample_wb_err - sample the write-back error state at open
 * @mapping: the mapping
 *
 * An error nobody has seen yet is not part of the sample, so the new opener
 * will be told about it too.
 *
 * Context: any thread.
 * Return: the value to keep per open file for file_check_and_advance_wb_err().
 */
errseq_t filemap_sample_wb_err(struct address_space *mapping)
{
	errseq_t old = atomic_load(&mapping->wb_err);

	return (old & ERRSEQ_SEEN) ? old : 0;
}

/**
 * file_check_and_advance_wb_err - report a new write-back error once
 * @since: the opener's sample, advanced to the current state
 * @mapping: the mapping
 *
 * Context: any thread; the opener serialises calls on one @since.
 * Return: 0 if nothing happened since @since, else the latest error's
 * negative errno (once: @since moves past it, and it is marked seen).
 */
int file_check_and_advance_wb_err(errseq_t *since, struct address_space *mapping)
{
	errseq_t old = atomic_load(&mapping->wb_err), new;

	if (old == *since)
		return 0;
	new = old | ERRSEQ_SEEN;
	if (new != old)
		atomic_compare_exchange_strong(&mapping->wb_err, &old, new);
	*since = new;
	return -(int)(new &ERRSEQ_MAX_ERRNO);
}

/* ---- dirty accounting ---- */

/* Put a dirty mapping on cache->dirty_mappings (invariant W3). */
static void wb_list_mapping(struct address_space *mapping)
{
	struct cache *cache = mapping->cache;

	pthread_mutex_lock(&cache->wb_lock);
	if (atomic_load(&mapping->nrdirty) && !(atomic_load(&mapping->flags) & AS_DIRTY_LISTED)) {
		atomic_fetch_or(&mapping->flags, AS_DIRTY_LISTED);
		mapping->wb_listed_when = cache_now_ms();
		list_add_tail(&mapping->wb_link, &cache->dirty_mappings);
	}
	pthread_mutex_unlock(&cache->wb_lock);
}

/* Take a clean mapping off cache->dirty_mappings (invariant W3). */
static void wb_unlist_mapping(struct address_space *mapping)
{
	struct cache *cache = mapping->cache;

	pthread_mutex_lock(&cache->wb_lock);
	if (!atomic_load(&mapping->nrdirty) && (atomic_load(&mapping->flags) & AS_DIRTY_LISTED)) {
		list_del_init(&mapping->wb_link);
		atomic_fetch_and(&mapping->flags, ~AS_DIRTY_LISTED);
	}
	pthread_mutex_unlock(&cache->wb_lock);
}

/**
 * account_page_dirtied - account a page that just went clean -> dirty
 * @page: the page; the caller newly set PG_dirty
 * @mapping: the page's mapping
 *
 * Sets the DIRTY mark, counts nrdirty, NR_DIRTY and NR_DIRTIED (and the
 * page against the calling thread's dirty budget, balance_dirty_pages), stamps
 * dirtied_when when the mapping was clean, then (no cache lock held) lists
 * the mapping on cache->dirty_mappings and calls a_ops->dirty_notify. A page
 * no longer in @mapping (truncated meanwhile) just loses PG_dirty again.
 *
 * Context: page locked, or a head of it in use (mark_buffer_dirty); takes
 * xa_lock, then wb_lock.
 */
void account_page_dirtied(struct page *page, struct address_space *mapping)
{
	page_assert_state(page);
	struct xarray *xa = &mapping->i_pages;
	bool first;

	xa_lock(xa);
	if (unlikely(page->mapping != mapping)) {
		xa_unlock(xa);
		page_clear(page, PG_dirty);
		return;
	}
	__xa_set_mark(xa, page->index, XA_MARK_DIRTY);
	first = atomic_fetch_add(&mapping->nrdirty, 1) == 0;
	if (first)
		mapping->dirtied_when = cache_now_ms();
	xa_unlock(xa);
	stat_inc(mapping->cache, NR_DIRTY);
	stat_inc(mapping->cache, NR_DIRTIED);
	flusher_note_dirtied(mapping->cache);
	if (!first)
		return;
	wb_list_mapping(mapping);
	if (mapping->a_ops && mapping->a_ops->dirty_notify)
		mapping->a_ops->dirty_notify(mapping);
}

/* Account a page whose PG_dirty the caller just cleared (W1, W2); the
 * DIRTY mark goes too unless writeback is about to start (W7). */
static void wb_account_cleaned(struct address_space *mapping, struct page *page, bool keep_mark)
{
	struct xarray *xa = &mapping->i_pages;
	uint64_t old;

	xa_lock(xa);
	if (!keep_mark && !page_test(page, PG_dirty))
		__xa_clear_mark(xa, page->index, XA_MARK_DIRTY);
	old = atomic_fetch_sub(&mapping->nrdirty, 1);
	xa_unlock(xa);
	CACHE_BUG_ON(old == 0);
	stat_add(mapping->cache, NR_DIRTY, -1);
	if (old == 1)
		wb_unlist_mapping(mapping);
}

static bool wb_clear_dirty(struct page *page, bool keep_mark)
{
	struct address_space *mapping = page->mapping;

	CACHE_BUG_ON(!page_test(page, PG_locked));
	if (!page_test_and_clear(page, PG_dirty))
		return false;
	CACHE_BUG_ON(!mapping);
	if (mapping)
		wb_account_cleaned(mapping, page, keep_mark);
	return true;
}

/**
 * clear_page_dirty_for_io - clear a page's dirtiness before writing it
 * @page: the page, locked and in a mapping
 *
 * PG_dirty and the counts go now; the DIRTY mark stays until writeback
 * starts on the page (or a later pass finds it clean), so the page never
 * carries neither DIRTY nor WRITEBACK while its data is not yet written.
 *
 * Context: page locked; takes xa_lock (and wb_lock when the mapping goes clean).
 * Return: true if the page was dirty.
 */
bool clear_page_dirty_for_io(struct page *page)
{
	page_assert_locked(page);
	return wb_clear_dirty(page, true);
}

/**
 * cancel_dirty_page - drop a page's dirtiness without writing (truncate)
 * @page: the page, locked, still in its mapping
 *
 * Its heads lose BH_Dirty too, so try_to_free_buffers() can free them.
 *
 * Context: page locked; takes xa_lock.
 */
void cancel_dirty_page(struct page *page)
{
	page_assert_locked(page);
	if (page_test(page, PG_private)) {
		struct buffer_head *head = page_buffers(page);
		unsigned n = (unsigned)(PAGE_SIZE / head->b_size);

		for (unsigned i = 0; i < n; i++)
			bh_clear(head + i, BH_Dirty);
	}
	wb_clear_dirty(page, false);
}

/* ---- the writeback context and runs ---- */

static uint32_t wb_max_io(struct address_space *mapping, const struct writeback_control *wbc)
{
	uint32_t max = wbc->max_io_bytes
			       ? wbc->max_io_bytes
			       : __atomic_load_n(&mapping->cache->max_io_bytes, __ATOMIC_RELAXED);

	return max ? max : WB_DEFAULT_MAX_IO;
}

static void wb_ctx_init(struct wb_ctx *ctx, struct address_space *mapping,
			struct writeback_control *wbc, struct page *held, bool small)
{
	ctx->mapping = mapping;
	ctx->cache = mapping->cache;
	ctx->wbc = wbc;
	ctx->map_flags = wbc->reason == WB_REASON_RECLAIM ? MAP_NOWAIT : 0;
	ctx->max_io = wb_max_io(mapping, wbc);
	ctx->fill_max = 0;
	ctx->cur = NULL;
	ctx->cur_fill = false;
	ctx->held = held;
	ctx->err = 0;
	ctx->off = ctx->len = 0;
	ctx->niov = ctx->nent = 0;
	ctx->heap = false;
	if (!small) {
		ctx->iov = malloc(IOV_MAX * sizeof(*ctx->iov));
		ctx->ent = malloc(IOV_MAX * sizeof(*ctx->ent));
		ctx->heap = ctx->iov && ctx->ent;
	}
	if (!ctx->heap) {
		if (!small) {
			free(ctx->iov);
			free(ctx->ent);
		}
		ctx->iov = ctx->small_iov;
		ctx->ent = ctx->small_ent;
	}
	ctx->cap = ctx->heap ? IOV_MAX : WB_SMALL_RUN;
}

static void wb_ctx_free(struct wb_ctx *ctx)
{
	if (ctx->heap) {
		free(ctx->iov);
		free(ctx->ent);
	}
}

static void wb_note_error(struct wb_ctx *ctx, int err)
{
	stat_inc(ctx->cache, WB_ERRORS);
	flusher_note_error(ctx->cache, err);
	mapping_set_error(ctx->mapping, err);
	if (!ctx->err)
		ctx->err = err;
}

/* Drop our hold of a page we are done with (not the caller's). */
static void wb_release(struct wb_ctx *ctx, struct page *page)
{
	if (page == ctx->held)
		return;
	unlock_page(page);
	put_page(page);
}

/* A page this pass is done with without writing: TOWRITE off, and DIRTY
 * off if the page is clean (W2, W7). */
static void wb_clear_towrite(struct address_space *mapping, struct page *page)
{
	xa_lock(&mapping->i_pages);
	__xa_clear_mark(&mapping->i_pages, page->index, XA_MARK_TOWRITE);
	if (!page_test(page, PG_dirty))
		__xa_clear_mark(&mapping->i_pages, page->index, XA_MARK_DIRTY);
	xa_unlock(&mapping->i_pages);
}

/* PG_writeback and the WRITEBACK mark on; TOWRITE off; DIRTY off unless the
 * page is dirty again, in the same xa_lock section (W4, W7). */
static void wb_start_page(struct wb_ctx *ctx, struct page *page)
{
	struct xarray *xa = &ctx->mapping->i_pages;

	CACHE_BUG_ON(!page_test(page, PG_locked) || page_test(page, PG_writeback));
	page_clear(page, PG_error);
	stat_inc(ctx->cache, NR_WRITEBACK); /* counted before anyone sees the bit */
	page_set(page, PG_writeback);
	xa_lock(xa);
	__xa_set_mark(xa, page->index, XA_MARK_WRITEBACK);
	__xa_clear_mark(xa, page->index, XA_MARK_TOWRITE);
	if (!page_test(page, PG_dirty))
		__xa_clear_mark(xa, page->index, XA_MARK_DIRTY);
	xa_unlock(xa);
}

/* All of a page's segments are done: end its writeback (step 6). */
static void wb_finish_page(struct wb_ctx *ctx, struct page *page, bool fill)
{
	page_assert_locked(page);
	bool failed = page_test(page, PG_error);

	if (failed)
		set_page_dirty(page); /* W5: never silently clean */
	end_page_writeback(page);     /* WRITEBACK mark, NR_WRITEBACK, waiters */
	if (!failed && fill) {
		stat_inc(ctx->cache, PGWRITE_FILL);
	} else if (!failed) {
		stat_inc(ctx->cache, NR_WRITTEN);
		stat_inc(ctx->cache, wb_reason_stat[ctx->wbc->reason]);
		ctx->wbc->nr_written++;
	}
	buffer_assert_state(page);
	wb_release(ctx, page);
}

/* Record the run's result in one page's heads. */
static void wb_entry_result(struct wb_entry *e, int err)
{
	struct buffer_head *head;
	unsigned n;

	if (err)
		page_set(e->page, PG_error);
	if (!page_test(e->page, PG_private))
		return;
	head = page_buffers(e->page);
	n = (unsigned)(PAGE_SIZE / head->b_size);
	for (unsigned i = 0; i < n; i++) {
		if (!(e->mask & (1U << i)))
			continue;
		if (err) {
			bh_set(head + i, BH_Dirty);
			bh_set(head + i, BH_Write_EIO);
		} else {
			bh_clear(head + i, BH_Write_EIO);
		}
	}
}

/* Write the open run to the device and finish the pages it completes. */
static void wb_submit(struct wb_ctx *ctx)
{
	int err;

	if (!ctx->len)
		return;
	err = bdev_writev(ctx->mapping->bdev, ctx->off, ctx->iov, (int)ctx->niov);
	if (err)
		wb_note_error(ctx, err);
	else
		stat_add(ctx->cache, PGPGOUT, ctx->len >> 10);
	for (unsigned i = 0; i < ctx->nent; i++)
		wb_entry_result(&ctx->ent[i], err);
	for (unsigned i = 0; i < ctx->nent; i++)
		if (ctx->ent[i].page != ctx->cur)
			wb_finish_page(ctx, ctx->ent[i].page, ctx->ent[i].fill);
	ctx->off = ctx->len = 0;
	ctx->niov = ctx->nent = 0;
}

/* Add one segment of @page to the open run, submitting the run first if the
 * segment does not continue it. */
static void wb_add_seg(struct wb_ctx *ctx, struct page *page, const struct wb_seg *seg)
{
	bool new_ent = !ctx->nent || ctx->ent[ctx->nent - 1].page != page;
	bool join = ctx->niov &&
		    (char *)ctx->iov[ctx->niov - 1].iov_base + ctx->iov[ctx->niov - 1].iov_len ==
			    seg->data;

	if (ctx->len && (ctx->off + ctx->len != seg->off || ctx->len + seg->len > ctx->max_io ||
			 (!join && ctx->niov == ctx->cap) || (new_ent && ctx->nent == ctx->cap))) {
		wb_submit(ctx);
		new_ent = true;
		join = false;
	}
	if (!ctx->len)
		ctx->off = seg->off;
	if (join) {
		ctx->iov[ctx->niov - 1].iov_len += seg->len;
	} else {
		ctx->iov[ctx->niov].iov_base = seg->data;
		ctx->iov[ctx->niov++].iov_len = seg->len;
	}
	if (new_ent)
		ctx->ent[ctx->nent++] =
			(struct wb_entry){.page = page, .mask = seg->mask, .fill = ctx->cur_fill};
	else
		ctx->ent[ctx->nent - 1].mask |= seg->mask;
	ctx->len += seg->len;
}

/* ---- planning one page ---- */

/* Mask of the heads of @page with @bit set. */
static unsigned wb_heads_with(struct page *page, enum bh_state_bits bit)
{
	struct buffer_head *head = page_buffers(page);
	unsigned n = (unsigned)(PAGE_SIZE / head->b_size), mask = 0;

	for (unsigned i = 0; i < n; i++)
		if (bh_test(head + i, bit))
			mask |= 1U << i;
	return mask;
}

/* Mask of the heads of @page that start at or past the backed size. */
static unsigned wb_heads_past(struct address_space *mapping, struct page *page)
{
	uint64_t limit = mapping->is_bdev ? mapping->bdev->size : atomic_load(&mapping->i_size);
	struct buffer_head *head = page_buffers(page);
	unsigned n = (unsigned)(PAGE_SIZE / head->b_size), mask = 0;
	uint64_t start = page->index << PAGE_SHIFT;

	for (unsigned i = 0; i < n; i++)
		if (start + (uint64_t)i * head->b_size >= limit)
			mask |= 1U << i;
	return mask;
}

/* Turn the heads in plan->write into device-contiguous segments. */
static void wb_plan_segments(struct address_space *mapping, struct page *page, struct wb_plan *plan)
{
	struct buffer_head *head = page_buffers(page);
	unsigned n = (unsigned)(PAGE_SIZE / head->b_size);

	plan->nseg = 0;
	for (unsigned i = 0; i < n; i++) {
		struct buffer_head *bh = head + i;
		struct wb_seg *last = plan->nseg ? &plan->seg[plan->nseg - 1] : NULL;
		uint64_t off = bh->b_blocknr << mapping->blkbits;

		if (!(plan->write & (1U << i)))
			continue;
		if (last && last->off + last->len == off && last->data + last->len == bh->b_data) {
			last->len += bh->b_size;
			last->mask |= 1U << i;
			continue;
		}
		plan->seg[plan->nseg++] = (struct wb_seg){
			.off = off, .data = bh->b_data, .len = bh->b_size, .mask = 1U << i};
	}
}

/*
 * Plan a page with heads. @only limits the write to those heads (0: all
 * dirty ones). A dirty page without a dirty head (a racing dirtier, or a
 * caller that dirtied the page alone) writes all its mapped uptodate heads.
 */
static int wb_plan_heads(struct wb_ctx *ctx, struct page *page, unsigned only, struct wb_plan *plan)
{
	unsigned dirty = wb_heads_with(page, BH_Dirty), pinned = wb_heads_with(page, BH_Pinned);
	unsigned past = wb_heads_past(ctx->mapping, page), want, rest = 0, unmapped;
	int ret;

	if (only) {
		want = dirty & only;
		rest = dirty & ~only;
	} else if (dirty) {
		want = dirty;
	} else {
		want = wb_heads_with(page, BH_Mapped) & wb_heads_with(page, BH_Uptodate);
	}
	plan->clean = want & dirty & past;
	plan->write = want & ~pinned & ~past;
	plan->keep_dirty = ((want & pinned & ~past) | rest) != 0;
	if (!plan->write)
		return plan->keep_dirty ? WB_PLAN_SKIP : WB_PLAN_CLEAN;
	unmapped = plan->write & ~wb_heads_with(page, BH_Mapped);
	if (unmapped) {
		ret = block_map_buffers(ctx->mapping, page, unmapped, MAP_CREATE | ctx->map_flags);
		if (ret)
			return ret;
	}
	wb_plan_segments(ctx->mapping, page, plan);
	return WB_PLAN_WRITE;
}

/* Ask the owner where a page without heads (4 KiB blocks) lives. */
static int wb_map_page(struct wb_ctx *ctx, struct page *page, uint64_t *pblk)
{
	const struct address_space_operations *a_ops = ctx->mapping->a_ops;
	unsigned flags = ctx->map_flags;
	int ret;

	ret = a_ops->map_blocks(ctx->mapping, page->index, 1, pblk, &flags);
	if (ret >= 0 && !(flags & MAP_MAPPED)) {
		flags = MAP_CREATE | ctx->map_flags;
		ret = a_ops->map_blocks(ctx->mapping, page->index, 1, pblk, &flags);
	}
	if (ret < 0)
		return ret;
	return (ret == 0 || !(flags & MAP_MAPPED)) ? -EIO : 0;
}

/* Decide what to write of a locked page: WB_PLAN_* or a negative errno. */
static int wb_plan_page(struct wb_ctx *ctx, struct page *page, unsigned only, struct wb_plan *plan)
{
	struct address_space *mapping = ctx->mapping;
	uint64_t pblk;
	int ret;

	if (!page_test(page, PG_private) && (mapping->is_bdev || mapping->blkbits < PAGE_SHIFT)) {
		ret = create_page_buffers(page, mapping->blkbits);
		if (ret)
			return ret;
	}
	if (page_test(page, PG_private))
		return wb_plan_heads(ctx, page, only, plan);
	CACHE_BUG_ON(!page_test(page, PG_uptodate));
	plan->clean = 0;
	plan->keep_dirty = false;
	if ((page->index << PAGE_SHIFT) >= atomic_load(&mapping->i_size))
		return WB_PLAN_CLEAN;
	ret = wb_map_page(ctx, page, &pblk);
	if (ret)
		return ret;
	page_set(page, PG_mappedtodisk);
	plan->write = 1;
	plan->nseg = 1;
	plan->seg[0] = (struct wb_seg){
		.off = pblk << PAGE_SHIFT, .data = page_address(page), .len = PAGE_SIZE, .mask = 1};
	return WB_PLAN_WRITE;
}

/* Clear the dirtiness a plan takes away, before writing (step 4). */
static void wb_take_dirty(struct page *page, const struct wb_plan *plan)
{
	if (!plan->keep_dirty)
		clear_page_dirty_for_io(page);
	if (page_test(page, PG_private)) {
		struct buffer_head *head = page_buffers(page);
		unsigned n = (unsigned)(PAGE_SIZE / head->b_size);

		for (unsigned i = 0; i < n; i++)
			if ((plan->write | plan->clean) & (1U << i))
				bh_clear(head + i, BH_Dirty);
	}
}

/* Start writeback of a planned page and queue its segments (step 4). */
static void wb_commit_page(struct wb_ctx *ctx, struct page *page, const struct wb_plan *plan)
{
	wb_take_dirty(page, plan);
	wb_start_page(ctx, page);
	ctx->wbc->nr_to_write--;
	ctx->cur = page;
	for (unsigned i = 0; i < plan->nseg; i++)
		wb_add_seg(ctx, page, &plan->seg[i]);
	ctx->cur = NULL;
	if (!ctx->nent || ctx->ent[ctx->nent - 1].page != page)
		wb_finish_page(ctx, page, false);
}

/* ---- write clustering: clean pages that join two runs (step 7) ---- */

/* The index of the open run's last page, when the run ends at its end. */
static bool wb_run_tail(const struct wb_ctx *ctx, uint64_t *index)
{
	const struct wb_entry *e;
	const struct iovec *v;

	if (!ctx->nent)
		return false;
	e = &ctx->ent[ctx->nent - 1];
	v = &ctx->iov[ctx->niov - 1];
	*index = e->page->index;
	return (char *)v->iov_base + v->iov_len == (char *)page_address(e->page) + PAGE_SIZE;
}

/* Heads mask covering all of a page of @mapping (1 without heads). */
static unsigned wb_all_heads(struct address_space *mapping, struct page *page)
{
	if (!page_test(page, PG_private))
		return 1;
	return (1U << (PAGE_SIZE >> mapping->blkbits)) - 1;
}

/* Can locked @page fill a gap at device byte @off: cached, uptodate, clean,
 * inside i_size, and all of it mapped there? Never waits (MAP_NOWAIT). */
static bool wb_fill_ok(struct wb_ctx *ctx, struct page *page, uint64_t off)
{
	struct address_space *mapping = ctx->mapping;
	unsigned flags = ctx->map_flags | MAP_NOWAIT, all = wb_all_heads(mapping, page);
	struct wb_plan plan;
	uint64_t pblk;

	if (page->mapping != mapping || !page_test(page, PG_uptodate) ||
	    page_test(page, PG_dirty) || page_test(page, PG_writeback) ||
	    ((page->index + 1) << PAGE_SHIFT) > atomic_load(&mapping->i_size))
		return false;
	if (page_test(page, PG_private)) {
		if ((wb_heads_with(page, BH_Mapped) & wb_heads_with(page, BH_Uptodate)) != all ||
		    wb_heads_with(page, BH_Dirty) || wb_heads_with(page, BH_Pinned))
			return false;
		plan.write = all;
		wb_plan_segments(mapping, page, &plan);
		return plan.nseg == 1 && plan.seg[0].off == off && plan.seg[0].len == PAGE_SIZE;
	}
	if (mapping->blkbits != PAGE_SHIFT ||
	    mapping->a_ops->map_blocks(mapping, page->index, 1, &pblk, &flags) < 1)
		return false;
	return (flags & (MAP_MAPPED | MAP_HOLE | MAP_UNWRITTEN)) == MAP_MAPPED &&
	       pblk << PAGE_SHIFT == off;
}

/* Start writeback of a locked clean fill page at device byte @off. */
static void wb_fill_commit(struct wb_ctx *ctx, struct page *page, uint64_t off)
{
	struct wb_seg seg = {.off = off,
			     .data = page_address(page),
			     .len = PAGE_SIZE,
			     .mask = wb_all_heads(ctx->mapping, page)};

	wb_start_page(ctx, page);
	ctx->cur = page;
	ctx->cur_fill = true;
	wb_add_seg(ctx, page, &seg);
	ctx->cur = NULL;
	ctx->cur_fill = false;
}

/* Lock up to @gap clean pages after @last that continue the run at @off;
 * returns how many in a row could be had (all of them locked in @fill). */
static unsigned wb_fill_lock(struct wb_ctx *ctx, uint64_t last, uint64_t gap, uint64_t off,
			     struct page **fill)
{
	unsigned n;

	for (n = 0; n < gap; n++) {
		struct page *p = find_get_page(ctx->mapping, last + 1 + n);

		if (!p)
			break;
		if (!trylock_page(p)) {
			put_page(p);
			break;
		}
		if (!wb_fill_ok(ctx, p, off + (uint64_t)n * PAGE_SIZE)) {
			unlock_page(p);
			put_page(p);
			break;
		}
		fill[n] = p;
	}
	return n;
}

/*
 * Step 7: before locked dirty @page (planned in @plan) starts a device write
 * of its own, write the clean pages between the open run's last page and it
 * when they close the gap exactly: at most fill_max pages, each cached,
 * uptodate, clean, not under writeback, inside i_size, mapped to the blocks
 * between, and lockable without waiting. One device write then replaces two
 * (random writes over cached data are retired at sequential speed). Anything
 * less leaves the gap alone.
 */
static void wb_fill_gap(struct wb_ctx *ctx, struct page *page, const struct wb_plan *plan)
{
	struct page *fill[WB_FILL_MAX_PAGES];
	uint64_t last, gap, off, bytes = 0;
	unsigned n;

	if (!ctx->fill_max || !plan->nseg || plan->seg[0].data != page_address(page) ||
	    !wb_run_tail(ctx, &last) || page->index <= last + 1 ||
	    page->index - last - 1 > ctx->fill_max)
		return;
	gap = page->index - last - 1;
	off = ctx->off + ctx->len;
	for (unsigned i = 0; i < plan->nseg; i++)
		bytes += plan->seg[i].len;
	if (plan->seg[0].off != off + gap * PAGE_SIZE ||
	    ctx->len + gap * PAGE_SIZE + bytes > ctx->max_io)
		return;
	n = wb_fill_lock(ctx, last, gap, off, fill);
	for (unsigned i = 0; i < n; i++) {
		if (n == gap) {
			wb_fill_commit(ctx, fill[i], off + (uint64_t)i * PAGE_SIZE);
		} else {
			unlock_page(fill[i]);
			put_page(fill[i]);
		}
	}
}

/*
 * Write back one locked page of ctx->mapping (heads in @only, or all dirty).
 * Consumes our hold of the page. Returns 0 when the page was queued or found
 * clean, -EAGAIN when it was left dirty (pinned, or MAP_NOWAIT busy), or the
 * errno that kept it from being written (also recorded in ctx->err).
 */
static int wb_write_locked(struct wb_ctx *ctx, struct page *page, unsigned only)
{
	page_assert_locked(page);
	struct wb_plan plan;
	int ret;

	if (!only && !page_test(page, PG_dirty)) {
		wb_clear_towrite(ctx->mapping, page);
		wb_release(ctx, page);
		return 0;
	}
	ret = wb_plan_page(ctx, page, only, &plan);
	if (ret == WB_PLAN_WRITE) {
		wb_fill_gap(ctx, page, &plan);
		wb_commit_page(ctx, page, &plan);
		return 0;
	}
	if (ret == WB_PLAN_CLEAN) {
		wb_take_dirty(page, &plan);
		ret = 0;
	} else if (ret == WB_PLAN_SKIP) {
		ret = -EAGAIN;
	} else if (ret != -EAGAIN) {
		page_set(page, PG_error);
		wb_note_error(ctx, ret);
	}
	wb_clear_towrite(ctx->mapping, page);
	buffer_assert_state(page);
	wb_release(ctx, page);
	return ret;
}

/* ---- walking a mapping ---- */

/*
 * Look up to @n pages carrying @mark in [*index, last], with a reference
 * each (NULL where a page went away meanwhile); *index moves past them.
 * Returns how many slots of @pages were filled.
 */
static unsigned wb_lookup(struct address_space *mapping, uint64_t *index, uint64_t last,
			  xa_mark_t mark, struct page **pages, unsigned n)
{
	void *entries[WB_BATCH];
	uint64_t indices[WB_BATCH];
	struct page *stale[WB_BATCH];
	unsigned got, nstale = 0;

	n = MIN(n, (unsigned)WB_BATCH);
	rcu_read_lock();
	got = xa_gang_lookup(&mapping->i_pages, *index, last, mark, entries, indices, n);
	for (unsigned i = 0; i < got; i++) {
		struct page *page = entries[i];

		pages[i] = NULL;
		if (xa_is_value(page) || !get_page_unless_zero(page))
			continue;
		if (xa_load(&mapping->i_pages, indices[i]) != page)
			stale[nstale++] = page; /* put outside the read section */
		else
			pages[i] = page;
	}
	rcu_read_unlock();
	for (unsigned i = 0; i < nstale; i++)
		put_page(stale[i]);
	*index = got < n ? last + 1 : indices[got - 1] + 1;
	return got;
}

/* Lock @page for writeback; -EAGAIN when WB_SYNC_NONE finds it busy. */
static int wb_lock_page(struct wb_ctx *ctx, struct page *page)
{
	if (trylock_page(page))
		return 0;
	if (ctx->wbc->sync_mode != WB_SYNC_ALL)
		return -EAGAIN;
	wb_submit(ctx); /* never sleep on a page lock holding others */
	lock_page(page);
	return 0;
}

static bool wb_done(const struct wb_ctx *ctx)
{
	return ctx->wbc->sync_mode == WB_SYNC_NONE && ctx->wbc->nr_to_write <= 0;
}

/* Write back one looked-up page (our reference is consumed). */
static void wb_one(struct wb_ctx *ctx, struct page *page)
{
	if (wb_done(ctx) || wb_lock_page(ctx, page)) {
		put_page(page);
		return;
	}
	if (page->mapping != ctx->mapping) { /* truncated meanwhile */
		unlock_page(page);
		put_page(page);
		return;
	}
	wb_write_locked(ctx, page, 0);
}

static void wb_tag_range(struct address_space *mapping, uint64_t first, uint64_t last)
{
	xa_lock(&mapping->i_pages);
	__xa_tag_range(&mapping->i_pages, first, last, XA_MARK_DIRTY, XA_MARK_TOWRITE, UINT64_MAX);
	xa_unlock(&mapping->i_pages);
}

/**
 * filemap_writepages - write back a mapping's dirty pages in a byte range
 * @mapping: the mapping
 * @wbc: the request: range, sync mode, page budget, reason, merge size;
 *	nr_written is increased by the pages written, nr_to_write decreased
 *
 * Tag-then-write (see the top of this file): only pages dirty when the call
 * starts are written, in ascending order, contiguous blocks merged into one
 * device write of up to max_io_bytes. WB_SYNC_NONE skips locked pages and
 * stops when nr_to_write runs out; WB_SYNC_ALL waits for every page. Pinned
 * heads are skipped (their pages stay dirty). A failed page stays dirty.
 *
 * Context: may sleep; the caller holds no page lock.
 * Return: 0, or the first error (device or map_blocks); the other pages are
 * still written.
 */
int filemap_writepages(struct address_space *mapping, struct writeback_control *wbc)
{
	uint64_t index = wbc->range_start >> PAGE_SHIFT, last = wbc->range_end >> PAGE_SHIFT;
	struct page *pages[WB_BATCH];
	struct wb_ctx ctx;
	int err;

	/* No shortcut on nrdirty == 0: a page another pass is about to start
	 * writing still carries DIRTY only, and must be waited for (W7). */
	if (wbc->range_start > wbc->range_end)
		return 0;
	cache_rcu_thread_online();
	wb_ctx_init(&ctx, mapping, wbc, NULL, false);
	if (!mapping->is_bdev)
		ctx.fill_max =
			MIN(__atomic_load_n(&ctx.cache->fill_bytes, __ATOMIC_RELAXED) >> PAGE_SHIFT,
			    (uint64_t)WB_FILL_MAX_PAGES);
	wb_tag_range(mapping, index, last);
	while (index <= last && !wb_done(&ctx)) {
		unsigned n = wb_lookup(mapping, &index, last, XA_MARK_TOWRITE, pages, WB_BATCH);

		if (!n)
			break;
		for (unsigned i = 0; i < n; i++)
			if (pages[i])
				wb_one(&ctx, pages[i]);
	}
	wb_submit(&ctx);
	err = ctx.err;
	wb_ctx_free(&ctx);
	return err;
}

/* Would @plan continue the open run within the merge size? */
static bool wb_plan_continues(const struct wb_ctx *ctx, const struct wb_plan *plan)
{
	uint64_t bytes = 0;

	for (unsigned i = 0; i < plan->nseg; i++)
		bytes += plan->seg[i].len;
	return ctx->len && plan->nseg && plan->seg[0].off == ctx->off + ctx->len &&
	       ctx->len + bytes <= ctx->max_io;
}

/* Reclaim: add the dirty pages after @index that continue the run and can be
 * locked without waiting. */
static void wb_gather_neighbours(struct wb_ctx *ctx, uint64_t index)
{
	for (;; index++) {
		struct page *page = find_get_page(ctx->mapping, index);
		struct wb_plan plan;

		if (!page)
			return;
		if (!trylock_page(page)) {
			put_page(page);
			return;
		}
		if (page->mapping != ctx->mapping || !page_test(page, PG_dirty) ||
		    wb_plan_page(ctx, page, 0, &plan) != WB_PLAN_WRITE ||
		    !wb_plan_continues(ctx, &plan)) {
			unlock_page(page);
			put_page(page);
			return;
		}
		wb_commit_page(ctx, page, &plan);
	}
}

/**
 * writeback_page_for_reclaim - write one dirty page so reclaim can free it
 * @page: the page, locked and referenced by the caller, in a mapping
 *
 * Writes @page with MAP_NOWAIT, together with the dirty pages after it that
 * continue the same device write (up to max_io_bytes) and can be locked
 * without waiting; those are unlocked again here, @page is not. Counts
 * PGWRITE_RECLAIM.
 *
 * Context: page locked by the caller; never sleeps on a page lock or an fs
 * lock (MAP_NOWAIT); may sleep in the device.
 * Return: 0 when @page is clean now, -EAGAIN when it had to be left dirty
 * (pinned heads, busy owner), or the write's negative errno (page dirty again).
 */
int writeback_page_for_reclaim(struct page *page)
{
	page_assert_locked(page);
	struct address_space *mapping = page->mapping;
	struct writeback_control wbc = {
		.range_end = UINT64_MAX,
		.sync_mode = WB_SYNC_NONE,
		.nr_to_write = LONG_MAX,
		.reason = WB_REASON_RECLAIM,
	};
	struct wb_ctx ctx;
	int ret;

	CACHE_BUG_ON(!page_test(page, PG_locked));
	if (!mapping || !page_test(page, PG_dirty))
		return 0;
	wb_ctx_init(&ctx, mapping, &wbc, page, false);
	ret = wb_write_locked(&ctx, page, 0);
	if (!ret && ctx.len)
		wb_gather_neighbours(&ctx, page->index + 1);
	wb_submit(&ctx);
	if (!ret)
		ret = ctx.err;
	if (!ret && page_test(page, PG_dirty))
		ret = -EAGAIN;
	wb_ctx_free(&ctx);
	return ret;
}

/**
 * writeback_buffer - write one dirty head of a locked page now
 * @bh: the head (not pinned)
 *
 * The page is cleaned when no other head is dirty. Counts as sync writeback.
 *
 * Context: the page is locked by the caller (lock_buffer), stays locked.
 * Return: 0, or the device's negative errno (the head stays dirty with
 * BH_Write_EIO, the error is recorded on the mapping).
 */
int writeback_buffer(struct buffer_head *bh)
{
	page_assert_locked(bh->b_page);
	struct page *page = bh->b_page;
	struct writeback_control wbc = {
		.range_end = UINT64_MAX,
		.sync_mode = WB_SYNC_ALL,
		.nr_to_write = 1,
		.reason = WB_REASON_SYNC,
	};
	unsigned only = 1U << (unsigned)(bh - page_buffers(page));
	struct wb_ctx ctx;
	int ret;

	CACHE_BUG_ON(!page_test(page, PG_locked) || !page->mapping);
	wb_ctx_init(&ctx, page->mapping, &wbc, page, true);
	ret = wb_write_locked(&ctx, page, only);
	wb_submit(&ctx);
	if (!ret)
		ret = ctx.err;
	wb_ctx_free(&ctx);
	return ret;
}

/* ---- waiting ---- */

/**
 * filemap_fdatawrite_range - start writing a byte range and wait for it
 * @mapping: the mapping
 * @start: first byte
 * @end: last byte (inclusive)
 *
 * WB_SYNC_ALL writepages with reason WB_REASON_SYNC.
 *
 * Context: may sleep; no page lock held.
 * Return: 0 or the first write-back error.
 */
int filemap_fdatawrite_range(struct address_space *mapping, uint64_t start, uint64_t end)
{
	struct writeback_control wbc = {
		.range_start = start,
		.range_end = end,
		.sync_mode = WB_SYNC_ALL,
		.nr_to_write = LONG_MAX,
		.reason = WB_REASON_SYNC,
	};

	return filemap_writepages(mapping, &wbc);
}

/**
 * filemap_fdatawait_range - wait for pages under writeback in a byte range
 * @mapping: the mapping
 * @start: first byte
 * @end: last byte (inclusive)
 *
 * Waits for every page that carries the WRITEBACK mark in the range (other
 * threads' writes).
 *
 * Context: may sleep; no page lock held.
 * Return: 0, or the mapping's latest write-back errno if a write waited for
 * failed (that page is dirty again).
 */
int filemap_fdatawait_range(struct address_space *mapping, uint64_t start, uint64_t end)
{
	uint64_t index = start >> PAGE_SHIFT, last = end >> PAGE_SHIFT;
	struct page *pages[WB_BATCH];
	bool failed = false;

	if (start > end)
		return 0;
	cache_rcu_thread_online();
	while (index <= last) {
		unsigned n = wb_lookup(mapping, &index, last, XA_MARK_WRITEBACK, pages, WB_BATCH);

		if (!n)
			break;
		for (unsigned i = 0; i < n; i++) {
			if (!pages[i])
				continue;
			wait_on_page_writeback(pages[i]);
			failed |= page_test(pages[i], PG_error);
			put_page(pages[i]);
		}
	}
	return failed ? wb_last_errno(mapping) : 0;
}

/**
 * filemap_write_and_wait_range - write a byte range and wait until it is on the device
 * @mapping: the mapping
 * @start: first byte
 * @end: last byte (inclusive)
 *
 * Context: may sleep; no page lock held.
 * Return: 0, or the first error: this call's write-back error, else that of
 * a write by another thread waited for.
 */
int filemap_write_and_wait_range(struct address_space *mapping, uint64_t start, uint64_t end)
{
	int err = 0, err2;

	if (atomic_load(&mapping->nrpages))
		err = filemap_fdatawrite_range(mapping, start, end);
	err2 = filemap_fdatawait_range(mapping, start, end);
	return err ? err : err2;
}

/**
 * filemap_write_and_wait - write a whole mapping and wait
 * @mapping: the mapping
 *
 * Context: may sleep; no page lock held.
 * Return: as filemap_write_and_wait_range().
 */
int filemap_write_and_wait(struct address_space *mapping)
{
	return filemap_write_and_wait_range(mapping, 0, UINT64_MAX);
}
