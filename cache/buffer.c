/*
 * cache/buffer.c - buffer heads: the state of each block inside a page.
 *
 * A page carries buffer heads when its mapping's blocks are smaller than the
 * page (1 and 2 KiB blocks in file mappings) and always in the device mapping,
 * where metadata is reached block by block (the buffer cache is the page cache
 * of the device). Each head keeps one block's uptodate, dirty, mapped, new,
 * unwritten and pinned state, so a partial-page write reads only the blocks it
 * partly covers and writeback (writeback.c) writes only dirty blocks.
 *
 * Interface: bread, getblk, brelse, mark_buffer_dirty, set_buffer_uptodate,
 * lock_buffer, unlock_buffer, sync_dirty_buffer, bh_pin, bh_unpin, get_bh (cache.h);
 * create_page_buffers, block_read_page, block_write_begin, block_write_end,
 * block_invalidate_range, block_map_buffers, try_to_free_buffers,
 * page_has_pinned_buffers, buffer_assert_state (internal.h).
 *
 * Invariants (buffer_assert_state() checks them in debug builds):
 *  B1. PG_private <=> page->private != NULL. page->private is the first of
 *      PAGE_SIZE >> blkbits heads from one allocation, in block order and
 *      linked in a circle through b_this_page; head i has b_page == page,
 *      b_size == 1 << blkbits and b_data == page_address(page) + i * b_size.
 *  B2. Heads are created, freed and (re)mapped only with the page locked, so
 *      b_blocknr and BH_Mapped are stable under the page lock.
 *  B3. BH_Dirty => BH_Uptodate. BH_New => BH_Mapped. BH_Unwritten =>
 *      !BH_Mapped (an unwritten block reads as zeros, like a hole).
 *  B4. PG_uptodate => every head BH_Uptodate; whenever this file marks the
 *      last head uptodate it sets PG_uptodate.
 *  B5. In the device mapping every head is BH_Mapped with b_blocknr = page
 *      index * heads per page + head number.
 *  B6. A dirty head makes its page PG_dirty: mark_buffer_dirty sets BH_Dirty
 *      before PG_dirty, and writeback clears PG_dirty before the heads'
 *      BH_Dirty, so a racing dirtier is never lost (at worst a page is dirty
 *      with no dirty head; writeback then writes all its mapped heads).
 *  B7. b_count >= 0, and each count comes with a page reference (bread,
 *      getblk; brelse drops both), so a page with users is never freed.
 *      try_to_free_buffers refuses dirty, pinned or used heads.
 *  B8. A BH_Pinned head is never written (writeback leaves its page dirty and
 *      sync_dirty_buffer refuses it) until bh_unpin.
 *
 * Counters: NR_BUFFER_HEADS and cache->nr_bh follow the live heads; device
 * reads made here add to PGPGIN (KiB), and failed ones to READ_ERRORS.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cache/internal.h"

/* Heads of a page are a plain array: head i is page_buffers(page) + i. */
static inline struct buffer_head *bh_nth(struct page *page, unsigned i)
{
	return page_buffers(page) + i;
}

static inline unsigned bh_count_of(const struct buffer_head *head)
{
	return (unsigned)(PAGE_SIZE / head->b_size);
}

/* Index of @bh inside its page. */
static inline unsigned bh_index(const struct buffer_head *bh)
{
	return (unsigned)(bh - page_buffers(bh->b_page));
}

/* Bytes of the mapping that are backed: i_size, or the device size. */
static uint64_t bh_limit(const struct address_space *mapping)
{
	if (mapping->is_bdev)
		return mapping->bdev->size;
	return atomic_load_explicit(&mapping->i_size, memory_order_acquire);
}

static bool bh_all_uptodate(struct page *page)
{
	struct buffer_head *head = page_buffers(page);
	unsigned n = bh_count_of(head);

	for (unsigned i = 0; i < n; i++)
		if (!bh_test(head + i, BH_Uptodate))
			return false;
	return true;
}

/* Set PG_uptodate once every head is (invariant B4). */
static void bh_update_page_uptodate(struct page *page)
{
	if (!page_test(page, PG_uptodate) && bh_all_uptodate(page))
		page_set(page, PG_uptodate);
}

#ifdef FOLIO_DEBUG
static void bh_assert_head(struct page *page, struct buffer_head *bh, unsigned i, bool bdev)
{
	unsigned n = bh_count_of(page_buffers(page));

	assert(bh->b_page == page);
	assert(bh->b_size == page_buffers(page)->b_size);
	assert(bh->b_data == (char *)page_address(page) + (size_t)i * bh->b_size);
	assert(bh->b_this_page == bh_nth(page, (i + 1) % n));
	assert(atomic_load(&bh->b_count) >= 0);
	assert(!bh_test(bh, BH_Dirty) || bh_test(bh, BH_Uptodate));
	assert(!bh_test(bh, BH_New) || bh_test(bh, BH_Mapped));
	assert(!bh_test(bh, BH_Unwritten) || !bh_test(bh, BH_Mapped));
	if (page_test(page, PG_uptodate))
		assert(bh_test(bh, BH_Uptodate));
	if (bdev) {
		assert(bh_test(bh, BH_Mapped));
		assert(bh->b_blocknr == page->index * n + i);
	}
}

/**
 * buffer_assert_state - check a page's buffer-head invariants (B1-B5, B7)
 * @page: the page, locked by the caller (or otherwise unable to change)
 *
 * Context: debug builds only (a no-op otherwise); aborts on a violation.
 */
void buffer_assert_state(struct page *page)
{
	struct buffer_head *head;
	unsigned n;
	bool bdev;

	assert(page_test(page, PG_private) == (page->private != NULL));
	if (!page_test(page, PG_private))
		return;
	head = page_buffers(page);
	assert(head->b_size == 1024 || head->b_size == 2048 || head->b_size == 4096);
	n = bh_count_of(head);
	bdev = page->mapping && page->mapping->is_bdev;
	for (unsigned i = 0; i < n; i++)
		bh_assert_head(page, head + i, i, bdev);
}
#endif

/**
 * create_page_buffers - attach buffer heads to a page
 * @page: the page, locked
 * @blkbits: log2 of the block size (10, 11 or 12)
 *
 * The heads inherit the page's state: all uptodate if the page is, all dirty
 * if it is dirty (so nothing it holds is lost). In the device mapping they
 * are mapped to their own blocks at once. No-op if the page has heads.
 *
 * Context: page locked; may allocate.
 * Return: 0, or -ENOMEM.
 */
int create_page_buffers(struct page *page, unsigned blkbits)
{
	struct address_space *mapping = page->mapping;
	unsigned n = 1U << (PAGE_SHIFT - blkbits);
	bool bdev = mapping && mapping->is_bdev;
	unsigned long state = 0;
	struct buffer_head *heads;
	struct cache *cache;

	if (page_test(page, PG_private))
		return 0;
	CACHE_BUG_ON(blkbits < 10 || blkbits > PAGE_SHIFT);
	heads = calloc(n, sizeof(*heads));
	if (!heads)
		return -ENOMEM;
	if (page_test(page, PG_uptodate))
		state |= 1UL << BH_Uptodate;
	if (page_test(page, PG_dirty) && page_test(page, PG_uptodate))
		state |= 1UL << BH_Dirty;
	if (bdev)
		state |= 1UL << BH_Mapped;
	for (unsigned i = 0; i < n; i++) {
		heads[i].b_page = page;
		heads[i].b_size = 1U << blkbits;
		heads[i].b_data = (char *)page_address(page) + ((size_t)i << blkbits);
		heads[i].b_this_page = &heads[(i + 1) % n];
		heads[i].b_blocknr = bdev ? page->index * n + i : 0;
		atomic_init(&heads[i].b_state, state);
		atomic_init(&heads[i].b_count, 0);
	}
	page_clear(page, PG_mappedtodisk); /* only pages without heads carry it */
	page->private = heads;
	page_set(page, PG_private);
	cache = page_cache_of(page);
	atomic_fetch_add(&cache->nr_bh, n);
	stat_add(cache, NR_BUFFER_HEADS, n);
	return 0;
}

/**
 * page_has_pinned_buffers - is any head of a page pinned?
 * @page: the page, locked
 *
 * Context: page locked (or its heads otherwise kept alive).
 * Return: true if the page has heads and one of them is BH_Pinned.
 */
bool page_has_pinned_buffers(struct page *page)
{
	struct buffer_head *head;
	unsigned n;

	if (!page_test(page, PG_private))
		return false;
	head = page_buffers(page);
	n = bh_count_of(head);
	for (unsigned i = 0; i < n; i++)
		if (bh_test(head + i, BH_Pinned))
			return true;
	return false;
}

/**
 * try_to_free_buffers - free a page's buffer heads if nothing needs them
 * @page: the page, locked, not under writeback
 *
 * Context: page locked.
 * Return: true if the page has no heads now; false (nothing changed) if a head
 * is dirty, pinned or has users.
 */
bool try_to_free_buffers(struct page *page)
{
	struct buffer_head *head;
	struct cache *cache;
	unsigned n;

	if (!page_test(page, PG_private))
		return true;
	if (page_test(page, PG_writeback))
		return false;
	head = page_buffers(page);
	n = bh_count_of(head);
	for (unsigned i = 0; i < n; i++) {
		if (bh_test(head + i, BH_Dirty) || bh_test(head + i, BH_Pinned) ||
		    atomic_load(&head[i].b_count) > 0)
			return false;
	}
	page_clear(page, PG_private);
	page->private = NULL;
	free(head);
	cache = page_cache_of(page);
	atomic_fetch_sub(&cache->nr_bh, n);
	stat_add(cache, NR_BUFFER_HEADS, -(int64_t)n);
	return true;
}

/* Record one map_blocks answer in @bh (the page is locked). */
static void bh_apply_map(struct buffer_head *bh, uint64_t pblk, unsigned flags)
{
	if (flags & MAP_MAPPED) {
		bool was_unwritten = bh_test(bh, BH_Unwritten);

		bh->b_blocknr = pblk;
		bh_clear(bh, BH_Unwritten);
		bh_set(bh, BH_Mapped);
		/* A converted unwritten block holds garbage, as a new one does. */
		if ((flags & MAP_NEW) || was_unwritten)
			bh_set(bh, BH_New);
	} else if (flags & MAP_UNWRITTEN) {
		bh->b_blocknr = pblk;
		bh_clear(bh, BH_New);
		bh_clear(bh, BH_Mapped);
		bh_set(bh, BH_Unwritten);
	} else {
		bh_clear(bh, BH_New);
		bh_clear(bh, BH_Mapped);
		bh_clear(bh, BH_Unwritten);
	}
}

/* Ask the owner about heads [first, last) of @page; returns heads answered. */
static int bh_map_run(struct address_space *mapping, struct page *page, unsigned first,
		      unsigned last, unsigned map_flags)
{
	unsigned shift = PAGE_SHIFT - mapping->blkbits;
	uint64_t lblk = (page->index << shift) + first;
	unsigned flags = map_flags;
	uint64_t pblk = 0;
	int ret;

	ret = mapping->a_ops->map_blocks(mapping, lblk, last - first, &pblk, &flags);
	if (ret < 0)
		return ret;
	if (ret == 0 || ((map_flags & MAP_CREATE) && !(flags & MAP_MAPPED)))
		return -EIO; /* the owner broke the map_blocks contract */
	ret = MIN((unsigned)ret, last - first);
	for (unsigned k = 0; k < (unsigned)ret; k++)
		bh_apply_map(bh_nth(page, first + k), pblk + k, flags);
	return ret;
}

/**
 * block_map_buffers - map the unmapped heads of a locked page
 * @mapping: the page's mapping
 * @page: the page, locked, with heads
 * @mask: heads to consider (bit i: head i)
 * @map_flags: 0 to look up, MAP_CREATE to allocate holes and unwritten
 *	blocks, optionally with MAP_NOWAIT
 *
 * Heads already BH_Mapped are left alone; consecutive unmapped heads are asked
 * for in one map_blocks call. A newly allocated block gets BH_New.
 *
 * Context: page locked; calls the owner's map_blocks.
 * Return: 0, or the owner's negative errno (-ENOSPC, -EAGAIN, ...).
 */
int block_map_buffers(struct address_space *mapping, struct page *page, unsigned mask,
		      unsigned map_flags)
{
	unsigned n = bh_count_of(page_buffers(page));
	unsigned i = 0;

	if (mapping->is_bdev)
		return 0;
	while (i < n) {
		unsigned j = i;
		int ret;

		if (!(mask & (1U << i)) || bh_test(bh_nth(page, i), BH_Mapped)) {
			i++;
			continue;
		}
		while (j < n && (mask & (1U << j)) && !bh_test(bh_nth(page, j), BH_Mapped))
			j++;
		ret = bh_map_run(mapping, page, i, j, map_flags);
		if (ret < 0)
			return ret;
		i += (unsigned)ret;
	}
	return 0;
}

/* Zero bytes [from, to) of @bh's block (offsets inside the block). */
static void bh_zero(struct buffer_head *bh, unsigned from, unsigned to)
{
	if (from < to)
		memset(bh->b_data + from, 0, to - from);
}

/* Keep the bytes of a just-read head past @limit zero (EOF tail). */
static void bh_zero_past(struct page *page, struct buffer_head *bh, uint64_t limit)
{
	uint64_t start = (page->index << PAGE_SHIFT) + (uint64_t)bh_index(bh) * bh->b_size;

	if (limit <= start)
		bh_zero(bh, 0, bh->b_size);
	else if (limit - start < bh->b_size)
		bh_zero(bh, (unsigned)(limit - start), bh->b_size);
}

/* One device read of heads [first, last), contiguous on the device. */
static int bh_read_run(struct address_space *mapping, struct page *page, unsigned first,
		       unsigned last)
{
	struct buffer_head *bh = bh_nth(page, first);
	struct cache *cache = mapping->cache;
	uint32_t len = (last - first) * bh->b_size;
	int ret;

	ret = bdev_read(mapping->bdev, bh->b_blocknr << mapping->blkbits, bh->b_data, len);
	if (ret) {
		stat_inc(cache, READ_ERRORS);
		page_set(page, PG_error);
		return ret;
	}
	stat_add(cache, PGPGIN, len >> 10);
	for (unsigned k = first; k < last; k++) {
		if (!mapping->is_bdev)
			bh_zero_past(page, bh_nth(page, k), bh_limit(mapping));
		bh_set(bh_nth(page, k), BH_Uptodate);
	}
	return 0;
}

/* Read the mapped heads in @mask, merging heads contiguous on the device. */
static int bh_read_heads(struct address_space *mapping, struct page *page, unsigned mask)
{
	unsigned n = bh_count_of(page_buffers(page));
	unsigned i = 0;
	int err = 0;

	while (i < n) {
		unsigned j = i + 1;
		int ret;

		if (!(mask & (1U << i))) {
			i++;
			continue;
		}
		while (j < n && (mask & (1U << j)) &&
		       bh_nth(page, j)->b_blocknr == bh_nth(page, i)->b_blocknr + (j - i))
			j++;
		ret = bh_read_run(mapping, page, i, j);
		if (ret && !err)
			err = ret;
		i = j;
	}
	return err;
}

/* Mask of the heads of @page that start at or past @limit. */
static unsigned bh_past_mask(struct page *page, uint64_t limit)
{
	struct buffer_head *head = page_buffers(page);
	uint64_t start = page->index << PAGE_SHIFT;
	unsigned n = bh_count_of(head), mask = 0;

	for (unsigned i = 0; i < n; i++)
		if (start + (uint64_t)i * head->b_size >= limit)
			mask |= 1U << i;
	return mask;
}

/*
 * Fill heads in @mask that need no I/O: past the limit, holes, unwritten and
 * new blocks read as zeros. A new block was never written, so its zeros are
 * made dirty: the device must not keep its garbage. Returns the mask still to
 * be read.
 */
static unsigned bh_fill_zero_heads(struct address_space *mapping, struct page *page, unsigned mask)
{
	unsigned n = bh_count_of(page_buffers(page));
	unsigned past = bh_past_mask(page, bh_limit(mapping));
	bool dirtied = false;

	for (unsigned i = 0; i < n; i++) {
		struct buffer_head *bh = bh_nth(page, i);

		if (!(mask & (1U << i)))
			continue;
		if (bh_test(bh, BH_Mapped) && !bh_test(bh, BH_New) && !(past & (1U << i)))
			continue;
		bh_zero(bh, 0, bh->b_size);
		bh_set(bh, BH_Uptodate);
		if (bh_test(bh, BH_New) && !(past & (1U << i))) {
			bh_clear(bh, BH_New);
			bh_set(bh, BH_Dirty);
			dirtied = true;
		}
		mask &= ~(1U << i);
	}
	if (dirtied)
		set_page_dirty(page);
	return mask;
}

/* Mask of the heads of @page that are not uptodate. */
static unsigned bh_missing_mask(struct page *page)
{
	unsigned n = bh_count_of(page_buffers(page)), mask = 0;

	for (unsigned i = 0; i < n; i++)
		if (!bh_test(bh_nth(page, i), BH_Uptodate))
			mask |= 1U << i;
	return mask;
}

/**
 * block_read_page - read the blocks of a page that are not uptodate
 * @mapping: the page's mapping
 * @page: the page, locked
 *
 * Creates heads if the page has none, maps the missing blocks (no
 * allocation), zero-fills holes, unwritten blocks and blocks past EOF without
 * I/O, and reads the rest with one device read per run of blocks contiguous on
 * the device. Bytes past i_size are left zero. Counts PGPGIN and, on failure,
 * READ_ERRORS (and sets PG_error). The page is uptodate when every head is.
 *
 * Context: page locked (not unlocked here); calls map_blocks; may sleep.
 * Return: 0, or a negative errno (mapping or device); heads read before the
 * error stay uptodate.
 */
int block_read_page(struct address_space *mapping, struct page *page)
{
	unsigned mask, past;
	int ret;

	ret = create_page_buffers(page, mapping->blkbits);
	if (ret)
		return ret;
	mask = bh_missing_mask(page);
	past = bh_past_mask(page, bh_limit(mapping));
	if (mask & ~past) {
		ret = block_map_buffers(mapping, page, mask & ~past, 0);
		if (ret)
			return ret;
	}
	mask = bh_fill_zero_heads(mapping, page, mask);
	ret = bh_read_heads(mapping, page, mask);
	bh_update_page_uptodate(page);
	if (!ret && page_test(page, PG_uptodate))
		page_clear(page, PG_error);
	buffer_assert_state(page);
	return ret;
}

/* Mask of the heads overlapping bytes [from, to) of the page. */
static unsigned bh_range_mask(struct page *page, unsigned from, unsigned to)
{
	unsigned size = page_buffers(page)->b_size, mask = 0;

	for (unsigned start = 0, i = 0; start < PAGE_SIZE; start += size, i++)
		if (start < to && start + size > from)
			mask |= 1U << i;
	return mask;
}

/*
 * Prepare head @i of a write of [from, to): zero what the write leaves of a
 * block whose device contents must not show (new, or past EOF). Returns true
 * if the block must be read instead.
 */
static bool bh_prepare_head(struct page *page, unsigned i, unsigned from, unsigned to,
			    unsigned past)
{
	struct buffer_head *bh = bh_nth(page, i);
	unsigned bs = i * bh->b_size, be = bs + bh->b_size;

	if (bh_test(bh, BH_Uptodate))
		return false;
	if (bh_test(bh, BH_New) || (past & (1U << i))) {
		if (from > bs)
			bh_zero(bh, 0, MIN(from, be) - bs);
		if (to < be)
			bh_zero(bh, MAX(to, bs) - bs, bh->b_size);
		return false;
	}
	return from > bs || to < be;
}

/**
 * block_write_begin - prepare bytes [from, to) of a page for a write
 * @mapping: the page's mapping
 * @page: the page, locked
 * @from: first byte in the page
 * @to: end byte (exclusive), @from < @to <= PAGE_SIZE
 *
 * Creates heads, maps every block the write touches with MAP_CREATE (so
 * -ENOSPC reaches the writer), reads only the blocks the write partly covers
 * that are neither uptodate nor new (merging device-contiguous ones), and
 * zeroes what the write leaves of new blocks and of blocks past EOF.
 *
 * Context: page locked; calls map_blocks; may sleep.
 * Return: 0, or a negative errno (-ENOMEM, -ENOSPC, a device error).
 */
int block_write_begin(struct address_space *mapping, struct page *page, unsigned from, unsigned to)
{
	unsigned touched, past, read = 0;
	int ret;

	CACHE_BUG_ON(from >= to || to > PAGE_SIZE);
	ret = create_page_buffers(page, mapping->blkbits);
	if (ret)
		return ret;
	touched = bh_range_mask(page, from, to);
	ret = block_map_buffers(mapping, page, touched, MAP_CREATE);
	if (ret)
		return ret;
	past = mapping->is_bdev ? 0 : bh_past_mask(page, bh_limit(mapping));
	for (unsigned i = 0; i < bh_count_of(page_buffers(page)); i++)
		if ((touched & (1U << i)) && bh_prepare_head(page, i, from, to, past))
			read |= 1U << i;
	ret = bh_read_heads(mapping, page, read);
	buffer_assert_state(page);
	return ret;
}

/**
 * block_write_end - finish a write of bytes [from, to) of a page
 * @page: the page, locked, prepared by block_write_begin()
 * @from: first byte written
 * @to: end byte (exclusive)
 *
 * The heads the write touched become uptodate and dirty (no longer new), the
 * page uptodate if every head is, and the page dirty (set_page_dirty).
 *
 * Context: page locked.
 */
void block_write_end(struct page *page, unsigned from, unsigned to)
{
	unsigned mask, n;

	if (from >= to)
		return;
	mask = bh_range_mask(page, from, to);
	n = bh_count_of(page_buffers(page));
	for (unsigned i = 0; i < n; i++) {
		struct buffer_head *bh = bh_nth(page, i);

		if (!(mask & (1U << i)))
			continue;
		bh_set(bh, BH_Uptodate);
		bh_clear(bh, BH_New);
		bh_set(bh, BH_Dirty);
	}
	bh_update_page_uptodate(page);
	set_page_dirty(page);
	buffer_assert_state(page);
}

/**
 * block_invalidate_range - forget the blocks wholly inside [from, to)
 * @page: the page, locked
 * @from: first byte in the page
 * @to: end byte (exclusive)
 *
 * For truncate and punch: those heads become clean and, in a file mapping,
 * unmapped holes holding zeros (the caller deallocates the blocks). In the
 * device mapping they stay mapped but are no longer uptodate (the device
 * still holds the data). Partly covered heads are left to the caller.
 *
 * Context: page locked.
 */
void block_invalidate_range(struct page *page, unsigned from, unsigned to)
{
	struct buffer_head *head;
	bool bdev = page->mapping && page->mapping->is_bdev;
	unsigned n;

	if (!page_test(page, PG_private))
		return;
	head = page_buffers(page);
	n = bh_count_of(head);
	for (unsigned i = 0; i < n; i++) {
		struct buffer_head *bh = head + i;
		unsigned bs = i * bh->b_size;

		if (bs < from || bs + bh->b_size > to)
			continue;
		bh_clear(bh, BH_Dirty);
		bh_clear(bh, BH_New);
		bh_clear(bh, BH_Write_EIO);
		if (bdev) {
			bh_clear(bh, BH_Uptodate);
			page_clear(page, PG_uptodate);
			continue;
		}
		bh_clear(bh, BH_Mapped);
		bh_clear(bh, BH_Unwritten);
		bh_zero(bh, 0, bh->b_size);
		bh_set(bh, BH_Uptodate);
	}
	bh_update_page_uptodate(page);
}

/* ---- the device mapping: metadata blocks ---- */

/* Read one head of a locked page from the device. */
static int bh_read_one(struct address_space *mapping, struct buffer_head *bh)
{
	unsigned i = bh_index(bh);
	int ret = bh_read_run(mapping, bh->b_page, i, i + 1);

	if (!ret)
		bh_update_page_uptodate(bh->b_page);
	return ret;
}

/* The locked page at @index of the device mapping, added if missing (under
 * invalidate_lock shared, as adding pages requires). */
static int bh_find_page(struct address_space *mapping, uint64_t index, struct page **pagep)
{
	int ret;

	*pagep = find_lock_page(mapping, index);
	if (*pagep)
		return 0;
	filemap_invalidate_lock_shared(mapping);
	ret = find_or_create_page(mapping, index, pagep);
	filemap_invalidate_unlock_shared(mapping);
	return ret;
}

/* bread/getblk: find or create the block's page, give back its head in use. */
static struct buffer_head *bh_get(struct address_space *mapping, uint64_t block, bool read,
				  int *err)
{
	unsigned shift = PAGE_SHIFT - mapping->blkbits;
	struct buffer_head *bh = NULL;
	struct page *page;
	int ret = -EINVAL;

	if (!mapping->is_bdev || block >= (mapping->bdev->size >> mapping->blkbits))
		goto out;
	ret = bh_find_page(mapping, block >> shift, &page);
	if (ret)
		goto out;
	ret = create_page_buffers(page, mapping->blkbits);
	if (ret)
		goto put;
	bh = bh_nth(page, (unsigned)(block & ((1U << shift) - 1)));
	if (read && !bh_test(bh, BH_Uptodate)) {
		ret = bh_read_one(mapping, bh);
		if (ret)
			goto put;
	}
	atomic_fetch_add(&bh->b_count, 1);
	buffer_assert_state(page);
	unlock_page(page);
	/* Metadata gets the same second chance in reclaim as file data. */
	mark_page_accessed(page);
	return bh;
put:
	unlock_page(page);
	put_page(page);
	bh = NULL;
out:
	if (err)
		*err = ret;
	return bh;
}

/**
 * bread - read a metadata block
 * @bdev_mapping: the device mapping (mapping_init_bdev)
 * @block: device block number, in units of the mapping's block size
 * @err: receives the negative errno on failure (may be NULL)
 *
 * Context: may sleep (page lock, allocation, device read); takes the device
 * mapping's invalidate_lock shared when the page must be added, so not with
 * it held exclusively.
 * Return: the block's head, uptodate, with b_count raised and a page reference
 * held (release both with brelse()); NULL on failure (-EINVAL past the device
 * end, -ENOMEM, or the device's errno).
 */
struct buffer_head *bread(struct address_space *bdev_mapping, uint64_t block, int *err)
{
	return bh_get(bdev_mapping, block, true, err);
}

/**
 * getblk - get a metadata block's head without reading it
 * @bdev_mapping: the device mapping
 * @block: device block number
 * @err: receives the negative errno on failure (may be NULL)
 *
 * For a block about to be overwritten whole: the caller fills b_data (under
 * lock_buffer) and calls set_buffer_uptodate() before mark_buffer_dirty().
 *
 * Context: may sleep.
 * Return: the head (uptodate only if it already was), in use as with bread();
 * NULL on failure.
 */
struct buffer_head *getblk(struct address_space *bdev_mapping, uint64_t block, int *err)
{
	return bh_get(bdev_mapping, block, false, err);
}

/**
 * get_bh - take another use of a head the caller already uses
 * @bh: a head from bread()/getblk() (or get_bh())
 *
 * Like bread(): one head user and one page reference; brelse() drops both.
 *
 * Context: any.
 */
void get_bh(struct buffer_head *bh)
{
	int old = atomic_fetch_add(&bh->b_count, 1);

	CACHE_BUG_ON(old <= 0);
	(void)old;
	get_page(bh->b_page);
}

/**
 * brelse - release a head from bread() or getblk()
 * @bh: the head, or NULL
 *
 * Context: any thread; @bh must not be used afterwards.
 */
void brelse(struct buffer_head *bh)
{
	struct page *page;
	int old;

	if (!bh)
		return;
	page = bh->b_page;
	old = atomic_fetch_sub(&bh->b_count, 1);
	CACHE_BUG_ON(old <= 0);
	(void)old;
	put_page(page);
}

/**
 * set_buffer_uptodate - mark a head's contents valid
 * @bh: a head in use (bread/getblk) or of a locked page
 *
 * Sets PG_uptodate too when every head of the page is now uptodate.
 *
 * Context: the caller filled b_data, normally under lock_buffer().
 */
void set_buffer_uptodate(struct buffer_head *bh)
{
	bh_set(bh, BH_Uptodate);
	bh_update_page_uptodate(bh->b_page);
}

/**
 * mark_buffer_dirty - a metadata block changed in memory
 * @bh: an uptodate head in use
 *
 * Sets BH_Dirty, then dirties the page (set_page_dirty), in that order
 * (invariant B6), so a writeback running meanwhile cannot lose the change.
 *
 * Context: any thread; normally under lock_buffer() after the change.
 */
void mark_buffer_dirty(struct buffer_head *bh)
{
	CACHE_BUG_ON(!bh_test(bh, BH_Uptodate));
	if (!bh_test(bh, BH_Dirty))
		bh_set(bh, BH_Dirty);
	if (!page_test(bh->b_page, PG_dirty))
		set_page_dirty(bh->b_page);
}

/**
 * lock_buffer - take a head's lock, which is its page's lock
 * @bh: a head in use
 *
 * Waits for any read or writeback of the page (both run with the page lock
 * held), so the block is stable until unlock_buffer().
 *
 * Context: may sleep; not with the page already locked by this thread.
 */
void lock_buffer(struct buffer_head *bh)
{
	lock_page(bh->b_page);
}

/**
 * unlock_buffer - drop a head's lock
 * @bh: a head locked with lock_buffer()
 *
 * Context: the caller holds the page lock.
 */
void unlock_buffer(struct buffer_head *bh)
{
	unlock_page(bh->b_page);
}

/**
 * sync_dirty_buffer - write one dirty head now and wait for it
 * @bh: a head in use
 *
 * Other dirty heads of the page stay dirty (the page too, then).
 *
 * Context: may sleep; not with the page locked by this thread.
 * Return: 0 (also when the head was clean), -EBUSY if it is pinned, or the
 * device's negative errno (the head stays dirty, BH_Write_EIO set, and the
 * error is recorded on the mapping).
 */
int sync_dirty_buffer(struct buffer_head *bh)
{
	int ret = 0;

	lock_buffer(bh);
	if (bh_test(bh, BH_Dirty)) {
		if (bh_test(bh, BH_Pinned))
			ret = -EBUSY;
		else
			ret = writeback_buffer(bh);
	}
	unlock_buffer(bh);
	return ret;
}

/**
 * bh_pin - keep writeback off a head (a journal holds its new contents)
 * @bh: a head in use
 *
 * Writebacks that start after this skip the head and leave its page dirty.
 * Pin under lock_buffer() to be sure no writeback is writing it right now.
 *
 * Context: any thread.
 */
void bh_pin(struct buffer_head *bh)
{
	bh_set(bh, BH_Pinned);
}

/**
 * bh_unpin - let writeback write a head again
 * @bh: a pinned head in use
 *
 * A dirty head's page is still dirty, so the next writeback writes it.
 *
 * Context: any thread.
 */
void bh_unpin(struct buffer_head *bh)
{
	bh_clear(bh, BH_Pinned);
}
