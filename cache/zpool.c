/*
 * cache/zpool.c - the compressed tier's size-classed allocator (zsmalloc-like).
 *
 * Interface (cache/zpool.h): zpool_create, zpool_destroy, zpool_store,
 * zpool_load, zpool_free, zpool_compact, zpool_nr_pages, zpool_stats,
 * zpool_slot_size, zpool_class_chain.
 *
 * Slots. An object of len bytes takes a slot of roundup(len + 8, 16) bytes:
 * an 8-byte header, then the data. The header of a used slot holds the
 * owner's handle word address with bit 0 set; a free slot's header holds
 * the index of the next free slot of its zspage, shifted left by one (bit 0
 * clear). Slots start at multiples of 16, so a header never crosses a page
 * boundary; data may, into the next page of the zspage.
 *
 * Classes. Every slot size from 16 to ZPOOL_MAX_OBJ + 8 (steps of 16) has a
 * zspage of 1 to ZPOOL_MAX_CHAIN pages, chosen to waste the fewest bytes at
 * the zspage's tail (ties: fewer pages). Neighbouring sizes whose zspages
 * hold the same number of objects on the same number of pages share one
 * class, of the largest of those sizes (as zsmalloc merges them): fewer
 * classes, so fewer partly used zspages, at no cost in objects per page.
 *
 * Zspages. A class keeps its zspages on fullness lists: group 0 full, then
 * 1 (at least 3/4 used) to 4 (under 1/4 used). An allocation takes a slot
 * from the fullest partly used zspage, so holes are filled before new pages
 * are taken; a zspage that empties gives its pages back at once.
 *
 * Compaction moves objects from the emptiest zspages of a class into the
 * fullest, while the class's free slots add up to at least a whole zspage,
 * and gives back the zspages it empties. It rewrites each moved object's
 * handle word (the header says where it is) under the class lock, which is
 * the only lock under which handles are read.
 *
 * Handles: the zspage's metadata address shifted left by 16, or'ed with the
 * slot index.
 *
 * Invariants (per class, under its lock):
 *   Z1. A zspage is on exactly one fullness list, the one of its inuse count;
 *       no zspage with inuse == 0 is kept.
 *   Z2. inuse + the length of its free-slot chain == objs.
 *   Z3. Every used slot's header points at a word holding that slot's
 *       handle.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/internal.h"
#include "cache/zpool.h"

#define ZP_ALIGN      16
#define ZP_HDR	      8
#define ZP_MAX_SLOT   ((ZPOOL_MAX_OBJ + ZP_HDR + ZP_ALIGN - 1) / ZP_ALIGN * ZP_ALIGN)
#define ZP_NR_STEPS   (ZP_MAX_SLOT / ZP_ALIGN)
#define ZP_NR_GROUPS  5	      /* 0 full; 1 >= 3/4; 2 >= 1/2; 3 >= 1/4; 4 > 0 */
#define ZP_NONE	      0xffffU /* end of a free-slot chain */
#define ZP_IDX_BITS   16
#define ZP_MOVE_BATCH 128 /* objects moved per hold of a class lock */

_Static_assert(sizeof(void *) == 8, "handles need 64-bit pointers");
_Static_assert(ZPOOL_MAX_CHAIN *PAGE_SIZE / ZP_ALIGN < ZP_NONE, "slot index fits 16 bits");

struct zclass;

/*
 * struct zspage - one run of slots on 1 to ZPOOL_MAX_CHAIN pages.
 * Everything is protected by its class's lock.
 * @link:      on the class's fullness list @group
 * @class:     its class (fixed)
 * @inuse:     used slots
 * @free_head: first free slot, ZP_NONE when full
 * @group:     the fullness list it is on
 * @pages:     its pages, in slot order (fixed)
 */
struct zspage {
	struct list_head link;
	struct zclass *class;
	uint16_t inuse;
	uint16_t free_head;
	uint8_t group;
	struct page *pages[ZPOOL_MAX_CHAIN];
};

/*
 * struct zclass - the zspages of one slot size.
 * @lock:     protects everything below, and the zspages and slots of the class
 * @size:     slot bytes (fixed)
 * @chain:    pages per zspage (fixed)
 * @objs:     slots per zspage (fixed)
 * @groups:   the fullness lists
 * @nr_zspages, @nr_objs: zspages and used slots (read without the lock by
 *            zpool_stats(), which sums them)
 */
struct zclass {
	pthread_mutex_t lock;
	uint32_t size;
	uint16_t chain;
	uint16_t objs;
	struct list_head groups[ZP_NR_GROUPS];
	uint64_t nr_zspages;
	uint64_t nr_objs;
} __attribute__((aligned(64)));

/*
 * struct zpool - a pool. The classes are fixed at creation; counters are
 * atomic (exact when no call is in flight).
 */
struct zpool {
	const struct zpool_ops *ops;
	void *ctx;
	unsigned nr_classes;
	uint16_t class_of_step[ZP_NR_STEPS]; /* slot size / 16 - 1 -> class */
	_Atomic uint64_t nr_pages, nr_zspages, compacted;
	struct zclass classes[];
};

/* ---- the class table ---- */

static size_t slot_of(size_t len)
{
	return (len + ZP_HDR + ZP_ALIGN - 1) / ZP_ALIGN * ZP_ALIGN;
}

/* Pages per zspage for @size wasting the least (ties: fewer pages). */
static unsigned best_chain(size_t size)
{
	unsigned best = 1;
	size_t best_waste = PAGE_SIZE % size;

	for (unsigned k = 2; k <= ZPOOL_MAX_CHAIN; k++) {
		size_t bytes = k * PAGE_SIZE, waste = bytes % size;

		/* compare waste per page: waste/k < best_waste/best */
		if (waste * best < best_waste * k) {
			best = k;
			best_waste = waste;
		}
	}
	return best;
}

static unsigned objs_of(size_t size, unsigned chain)
{
	return (unsigned)(chain * PAGE_SIZE / size);
}

/* Fill pool->classes from the largest size down, merging a size into the
 * class above it when both hold the same objects on the same pages. */
static unsigned build_classes(struct zpool *pool, bool fill)
{
	unsigned n = 0, prev_chain = 0, prev_objs = 0;

	for (int step = ZP_NR_STEPS - 1; step >= 0; step--) {
		size_t size = (size_t)(step + 1) * ZP_ALIGN;
		unsigned chain = best_chain(size), objs = objs_of(size, chain);

		if (!(n && chain == prev_chain && objs == prev_objs)) {
			if (fill) {
				pool->classes[n].size = (uint32_t)size;
				pool->classes[n].chain = (uint16_t)chain;
				pool->classes[n].objs = (uint16_t)objs;
			}
			n++;
			prev_chain = chain;
			prev_objs = objs;
		}
		if (fill)
			pool->class_of_step[step] = (uint16_t)(n - 1);
	}
	return n;
}

static struct zclass *class_of(struct zpool *pool, size_t len)
{
	return &pool->classes[pool->class_of_step[slot_of(len) / ZP_ALIGN - 1]];
}

/**
 * zpool_slot_size - bytes a pool object of @len bytes takes
 * @len: 1 .. ZPOOL_MAX_OBJ
 *
 * Context: any.
 * Return: the slot size of its class (header included).
 */
size_t zpool_slot_size(size_t len)
{
	size_t size = slot_of(len);
	unsigned chain = best_chain(size), objs = objs_of(size, chain);

	/* the class is the largest size with the same chain and objects */
	while (size + ZP_ALIGN <= ZP_MAX_SLOT && best_chain(size + ZP_ALIGN) == chain &&
	       objs_of(size + ZP_ALIGN, chain) == objs)
		size += ZP_ALIGN;
	return size;
}

/**
 * zpool_class_chain - pages per zspage of the class of @len-byte objects
 * @len: 1 .. ZPOOL_MAX_OBJ
 *
 * Context: any.
 * Return: 1 .. ZPOOL_MAX_CHAIN.
 */
unsigned zpool_class_chain(size_t len)
{
	return best_chain(zpool_slot_size(len));
}

/* ---- slots ---- */

static uint64_t *slot_hdr(struct zspage *zs, unsigned idx)
{
	size_t off = (size_t)idx * zs->class->size;

	return (uint64_t *)((char *)page_address(zs->pages[off >> PAGE_SHIFT]) +
			    (off & ~PAGE_MASK));
}

/* Copy @len bytes at byte @off of the zspage to (@out) or from @buf. */
static void zs_copy(struct zspage *zs, size_t off, void *buf, size_t len, bool out)
{
	char *b = buf;

	while (len) {
		size_t o = off & ~PAGE_MASK, n = MIN(len, PAGE_SIZE - o);
		char *addr = (char *)page_address(zs->pages[off >> PAGE_SHIFT]) + o;

		if (out)
			memcpy(b, addr, n);
		else
			memcpy(addr, b, n);
		b += n;
		off += n;
		len -= n;
	}
}

static size_t slot_data(struct zspage *zs, unsigned idx)
{
	return (size_t)idx * zs->class->size + ZP_HDR;
}

static uint64_t mk_handle(struct zspage *zs, unsigned idx)
{
	return ((uint64_t)(uintptr_t)zs << ZP_IDX_BITS) | idx;
}

static struct zspage *handle_zspage(uint64_t h)
{
	return (struct zspage *)(uintptr_t)(h >> ZP_IDX_BITS);
}

static unsigned handle_idx(uint64_t h)
{
	return (unsigned)(h & ((1U << ZP_IDX_BITS) - 1));
}

/* ---- zspages (class lock held) ---- */

static unsigned group_of(const struct zclass *class, unsigned inuse)
{
	if (inuse == class->objs)
		return 0;
	return ZP_NR_GROUPS - 1 - inuse * (ZP_NR_GROUPS - 1) / class->objs;
}

static void zs_regroup(struct zspage *zs)
{
	unsigned g = group_of(zs->class, zs->inuse);

	if (g == zs->group)
		return;
	list_move(&zs->link, &zs->class->groups[g]);
	zs->group = (uint8_t)g;
}

static void zs_free_pages(struct zpool *pool, struct page **pages, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		pool->ops->free_page(pool->ctx, pages[i]);
	atomic_fetch_sub(&pool->nr_pages, n);
}

/* A new empty zspage, its slots chained free, on no list; NULL if its pages
 * or its metadata cannot be had. */
static struct zspage *zs_create(struct zpool *pool, struct zclass *class)
{
	struct zspage *zs = calloc(1, sizeof(*zs));
	unsigned i;

	if (!zs || ((uintptr_t)zs >> (64 - ZP_IDX_BITS))) {
		free(zs);
		return NULL;
	}
	zs->class = class;
	for (i = 0; i < class->chain; i++) {
		zs->pages[i] = pool->ops->alloc_page(pool->ctx);
		if (!zs->pages[i])
			break;
	}
	if (i < class->chain) {
		for (unsigned k = 0; k < i; k++)
			pool->ops->free_page(pool->ctx, zs->pages[k]);
		free(zs);
		return NULL;
	}
	for (i = 0; i < class->objs; i++)
		*slot_hdr(zs, i) = (uint64_t)(i + 1 < class->objs ? i + 1 : ZP_NONE) << 1;
	zs->free_head = 0;
	INIT_LIST_HEAD(&zs->link);
	atomic_fetch_add(&pool->nr_pages, class->chain);
	atomic_fetch_add(&pool->nr_zspages, 1);
	class->nr_zspages++;
	return zs;
}

/* Take a free slot of @zs for the word at @handlep; returns its index. */
static unsigned zs_take(struct zspage *zs, uint64_t *handlep)
{
	unsigned idx = zs->free_head;
	uint64_t *hdr = slot_hdr(zs, idx);

	CACHE_BUG_ON(idx == ZP_NONE || (*hdr & 1));
	zs->free_head = (uint16_t)(*hdr >> 1);
	*hdr = (uint64_t)(uintptr_t)handlep | 1;
	zs->inuse++;
	__atomic_store_n(&zs->class->nr_objs, zs->class->nr_objs + 1, __ATOMIC_RELAXED);
	*handlep = mk_handle(zs, idx);
	return idx;
}

/* Give slot @idx back. Returns true when the zspage emptied: it is then
 * off its list and its pages are in @pages (the caller frees them after
 * dropping the lock, and the metadata). */
static bool zs_put(struct zspage *zs, unsigned idx, struct page **pages)
{
	uint64_t *hdr = slot_hdr(zs, idx);

	CACHE_BUG_ON(!(*hdr & 1));
	*hdr = (uint64_t)zs->free_head << 1;
	zs->free_head = (uint16_t)idx;
	zs->inuse--;
	__atomic_store_n(&zs->class->nr_objs, zs->class->nr_objs - 1, __ATOMIC_RELAXED);
	if (zs->inuse) {
		zs_regroup(zs);
		return false;
	}
	list_del_init(&zs->link);
	zs->class->nr_zspages--;
	memcpy(pages, zs->pages, zs->class->chain * sizeof(pages[0]));
	return true;
}

/* The fullest zspage with a free slot, or NULL. */
static struct zspage *zs_fullest(struct zclass *class)
{
	for (unsigned g = 1; g < ZP_NR_GROUPS; g++)
		if (!list_empty(&class->groups[g]))
			return list_first_entry(&class->groups[g], struct zspage, link);
	return NULL;
}

/* The emptiest zspage with a used slot and a free one, or NULL. */
static struct zspage *zs_emptiest(struct zclass *class)
{
	for (unsigned g = ZP_NR_GROUPS - 1; g >= 1; g--)
		if (!list_empty(&class->groups[g]))
			return list_last_entry(&class->groups[g], struct zspage, link);
	return NULL;
}

/* ---- the pool ---- */

/**
 * zpool_create - make an empty pool
 * @ops: where its backing pages come from
 * @ctx: passed to @ops
 * @out: out: the pool
 *
 * Context: any thread.
 * Return: 0 or -ENOMEM.
 */
int zpool_create(const struct zpool_ops *ops, void *ctx, struct zpool **out)
{
	unsigned n = build_classes(NULL, false);
	struct zpool *pool;

	pool = aligned_alloc(64, (sizeof(*pool) + n * sizeof(struct zclass) + 63) / 64 * 64);
	if (!pool)
		return -ENOMEM;
	memset(pool, 0, sizeof(*pool) + n * sizeof(struct zclass));
	pool->ops = ops;
	pool->ctx = ctx;
	pool->nr_classes = build_classes(pool, true);
	for (unsigned i = 0; i < n; i++) {
		cache_mutex_init(&pool->classes[i].lock);
		for (unsigned g = 0; g < ZP_NR_GROUPS; g++)
			INIT_LIST_HEAD(&pool->classes[i].groups[g]);
	}
	*out = pool;
	return 0;
}

/**
 * zpool_destroy - free an empty pool
 * @pool: the pool (NULL is ignored); every object already freed
 *
 * Context: no other user of the pool.
 */
void zpool_destroy(struct zpool *pool)
{
	if (!pool)
		return;
	CACHE_BUG_ON(atomic_load(&pool->nr_zspages) != 0);
	for (unsigned i = 0; i < pool->nr_classes; i++)
		pthread_mutex_destroy(&pool->classes[i].lock);
	free(pool);
}

/**
 * zpool_store - allocate an object and copy @len bytes into it
 * @pool: the pool
 * @src: the bytes
 * @len: 1 .. ZPOOL_MAX_OBJ
 * @handlep: the owner's handle word; receives the handle. It must stay at
 *	this address until the object is freed (compaction rewrites it).
 *
 * Context: any thread; takes the class lock, and may take backing pages
 * (never sleeping, never reclaiming).
 * Return: 0, -EINVAL for a bad length, or -ENOMEM when no backing page or
 * metadata could be had.
 */
int zpool_store(struct zpool *pool, const void *src, size_t len, uint64_t *handlep)
{
	struct zclass *class;
	struct zspage *zs;
	unsigned idx;

	if (!len || len > ZPOOL_MAX_OBJ)
		return -EINVAL;
	class = class_of(pool, len);
	pthread_mutex_lock(&class->lock);
	zs = zs_fullest(class);
	if (!zs) {
		zs = zs_create(pool, class);
		if (!zs) {
			pthread_mutex_unlock(&class->lock);
			return -ENOMEM;
		}
		zs->group = ZP_NR_GROUPS - 1;
		list_add(&zs->link, &class->groups[zs->group]);
	}
	idx = zs_take(zs, handlep);
	zs_copy(zs, slot_data(zs, idx), (void *)src, len, false);
	zs_regroup(zs);
	pthread_mutex_unlock(&class->lock);
	return 0;
}

/* Free slot @idx of @zs (class lock held); the emptied zspage, if any, is
 * returned for zs_release() after the unlock. */
static struct zspage *zs_free_slot(struct zspage *zs, unsigned idx, struct page **pages)
{
	return zs_put(zs, idx, pages) ? zs : NULL;
}

static void zs_release(struct zpool *pool, struct zspage *zs, struct page **pages)
{
	if (!zs)
		return;
	zs_free_pages(pool, pages, zs->class->chain);
	atomic_fetch_sub(&pool->nr_zspages, 1);
	free(zs);
}

/**
 * zpool_load - copy an object's bytes out, and free it if asked
 * @pool: the pool
 * @handlep: the object's handle word
 * @len: the length given to zpool_store()
 * @dst: receives @len bytes
 * @free: free the object too (the handle word is then stale)
 *
 * Context: any thread; takes the class lock.
 */
void zpool_load(struct zpool *pool, uint64_t *handlep, size_t len, void *dst, bool free)
{
	struct zclass *class = class_of(pool, len);
	struct page *pages[ZPOOL_MAX_CHAIN];
	struct zspage *zs, *empty = NULL;
	unsigned idx;
	uint64_t h;

	pthread_mutex_lock(&class->lock);
	h = *handlep;
	zs = handle_zspage(h);
	idx = handle_idx(h);
	CACHE_BUG_ON(zs->class != class ||
		     *slot_hdr(zs, idx) != ((uint64_t)(uintptr_t)handlep | 1));
	zs_copy(zs, slot_data(zs, idx), dst, len, true);
	if (free)
		empty = zs_free_slot(zs, idx, pages);
	pthread_mutex_unlock(&class->lock);
	zs_release(pool, empty, pages);
}

/**
 * zpool_free - free an object
 * @pool: the pool
 * @handlep: the object's handle word
 * @len: the length given to zpool_store()
 *
 * A zspage that empties gives its pages back at once.
 *
 * Context: any thread; takes the class lock.
 */
void zpool_free(struct zpool *pool, uint64_t *handlep, size_t len)
{
	struct zclass *class = class_of(pool, len);
	struct page *pages[ZPOOL_MAX_CHAIN];
	struct zspage *zs, *empty;
	uint64_t h;

	pthread_mutex_lock(&class->lock);
	h = *handlep;
	zs = handle_zspage(h);
	CACHE_BUG_ON(zs->class != class);
	empty = zs_free_slot(zs, handle_idx(h), pages);
	pthread_mutex_unlock(&class->lock);
	zs_release(pool, empty, pages);
}

/* ---- compaction ---- */

/* Can compaction give back at least one zspage of @class? */
static bool class_can_compact(const struct zclass *class)
{
	return class->nr_zspages * class->objs - class->nr_objs >= class->objs;
}

/* Move slot @idx of @src into @dst (which has a free slot). */
static void zs_move(struct zpool *pool, struct zspage *src, unsigned idx, struct zspage *dst,
		    struct page **pages, struct zspage **emptied)
{
	char buf[ZP_MAX_SLOT];
	size_t n = src->class->size - ZP_HDR;
	uint64_t *handlep = (uint64_t *)(uintptr_t)(*slot_hdr(src, idx) & ~(uint64_t)1);
	unsigned to;

	zs_copy(src, slot_data(src, idx), buf, n, true);
	to = zs_take(dst, handlep);
	zs_copy(dst, slot_data(dst, to), buf, n, false);
	if (zs_put(src, idx, pages)) /* zs_take counted the object, zs_put uncounts it */
		*emptied = src;
	atomic_fetch_add(&pool->compacted, 1);
}

/* One batch of moves in @class (lock held): from the emptiest zspage into
 * the fullest. Returns the zspage it emptied (its pages in @pages), or
 * NULL; *@more says whether the class may still compact. */
static struct zspage *class_compact_batch(struct zpool *pool, struct zclass *class,
					  struct page **pages, bool *more)
{
	struct zspage *src, *dst, *emptied = NULL;
	unsigned moved = 0;

	*more = false;
	while (!emptied && moved < ZP_MOVE_BATCH && class_can_compact(class)) {
		src = zs_emptiest(class);
		dst = zs_fullest(class);
		if (!src || !dst || src == dst)
			return NULL;
		for (unsigned idx = 0; idx < class->objs && !emptied && dst->free_head != ZP_NONE;
		     idx++) {
			if (!(*slot_hdr(src, idx) & 1))
				continue;
			zs_move(pool, src, idx, dst, pages, &emptied);
			moved++;
		}
		zs_regroup(dst);
	}
	*more = class_can_compact(class);
	return emptied;
}

/**
 * zpool_compact - move objects together and give back the pages freed
 * @pool: the pool
 *
 * Each class is compacted while its free slots add up to a whole zspage;
 * its lock is dropped between batches, so loads and stores go on meanwhile.
 *
 * Context: any thread holding no class lock.
 * Return: pages given back.
 */
unsigned long zpool_compact(struct zpool *pool)
{
	unsigned long freed = 0;

	for (unsigned i = 0; i < pool->nr_classes; i++) {
		struct zclass *class = &pool->classes[i];
		struct page *pages[ZPOOL_MAX_CHAIN];
		struct zspage *emptied;
		bool more = true;

		while (more) {
			pthread_mutex_lock(&class->lock);
			emptied = class_compact_batch(pool, class, pages, &more);
			pthread_mutex_unlock(&class->lock);
			if (emptied) {
				freed += class->chain;
				zs_release(pool, emptied, pages);
			}
		}
	}
	return freed;
}

/* ---- figures ---- */

/**
 * zpool_nr_pages - backing pages the pool holds
 * @pool: the pool
 *
 * Context: any.
 */
uint64_t zpool_nr_pages(struct zpool *pool)
{
	return atomic_load_explicit(&pool->nr_pages, memory_order_relaxed);
}

/**
 * zpool_stats - the pool's figures
 * @pool: the pool
 * @st: out
 *
 * Sums the classes' counts without their locks.
 *
 * Context: any; exact when no call is in flight.
 */
void zpool_stats(struct zpool *pool, struct zpool_stats *st)
{
	st->pages = atomic_load(&pool->nr_pages);
	st->objects = st->obj_bytes = 0;
	for (unsigned i = 0; i < pool->nr_classes; i++) {
		uint64_t n = __atomic_load_n(&pool->classes[i].nr_objs, __ATOMIC_RELAXED);

		st->objects += n;
		st->obj_bytes += n * pool->classes[i].size;
	}
	st->zspages = atomic_load(&pool->nr_zspages);
	st->compacted = atomic_load(&pool->compacted);
	st->meta_bytes = st->zspages * sizeof(struct zspage);
}
