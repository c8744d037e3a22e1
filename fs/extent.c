/*
 * fs/extent.c - the extent B+tree of regular files and long symlinks
 * (docs/ON-DISK.md section 9) and the mapping's map_blocks.
 *
 * Interface (fs/fs.h, "extent.c"): fs_file_aops, fs_map_blocks,
 * fs_extent_truncate, fs_extent_punch, fs_extent_prealloc,
 * fs_extent_mark_unwritten, fs_extent_seek, fs_extent_blocks.
 *
 * The root (header + 3 entries) is in the inode's i_data; other nodes are
 * headed blocks ("FEXT", owner = the inode) with (B - 32) / 24 entries. A
 * walk from the root to a leaf is a struct ext_path; every level records the
 * logical range [lo, hi) the node covers (the root: [0, 2^48)).
 *
 * Algorithms (every change re-descends from the root afterwards, so no path
 * is ever used after the tree changed shape):
 *  - insert: merge with a neighbour in the leaf when logically and
 *    physically contiguous with the same flags; else insert if the leaf has
 *    room; else make room and retry. Making room splits the highest full node
 *    below a node with room (an append-shaped insert moves only the last
 *    entry, so files written in order keep full nodes), or, when every level
 *    is full, moves the root's entries into a new node (depth + 1).
 *  - remove [a, b): trim, split or drop the extents met, one at a time,
 *    freeing their blocks; a leaf left empty is unlinked from its parent
 *    (emptied parents too) and freed; afterwards a root with one child of at
 *    most 3 entries takes those entries back (depth - 1).
 *  - convert [a, b) between written and unwritten: split each extent met
 *    into up to three pieces and merge the middle one with its neighbours.
 *  - holes reported by lookups stop at the leaf's range end, so an extent
 *    allocated for a hole always fits the leaf it is inserted into.
 *
 * Locking: a change holds inode->ext_mutex from start to end (it reads
 * nodes, allocates blocks and buffers, frees blocks; a writer's own walks
 * need nothing more, since only holders of ext_mutex change the tree).
 * inode->ext_lock is taken shared by lookups (map_blocks without
 * MAP_CREATE, seek, counting) and exclusively by a writer only for the short
 * "window" in which it changes nodes in place, with every buffer it needs
 * already in hand: no page allocation, read or free inside a window. So
 * reclaim, whose MAP_NOWAIT lookups only trylock ext_lock, is never held up
 * by a writer waiting for memory. A node is changed under its buffer lock,
 * the root under inode->i_lock (so fs_inode_write() copies a consistent
 * root); one such lock at a time. map_blocks with MAP_NOWAIT reads only nodes
 * already cached and never allocates or converts: -EAGAIN instead.
 *
 * Invariants kept: those of section 9 (sorted, non-overlapping extents
 * inside their node's range; strictly increasing index keys, the first one
 * a lower bound; no empty node but the root; depth <= 5), and i_blocks =
 * data blocks (written and unwritten) + tree nodes + the xattr block.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "fs/fs.h"

#define EXT_MAX_LEN (1U << 31)	/* longest extent made by merging */
#define EXT_MAX_RUN 0x7fffffffU /* map_blocks answers fit an int */

/* An extent in CPU order. */
struct ext {
	uint64_t lblk, pblk;
	uint32_t len, flags;
};

struct ext_level {
	struct buffer_head *bh;		/* NULL for the root */
	struct folio_extent_header *eh; /* the node's header */
	uint64_t blk;			/* the node's block, 0 for the root */
	uint64_t lo, hi;		/* logical blocks the node covers */
	int slot; /* index node: child taken; leaf: last extent starting <= key, or -1 */
};

struct ext_path {
	struct inode *inode;
	unsigned depth;
	struct ext_level lv[FOLIO_EXT_MAX_DEPTH + 1];
};

/* What a lookup found at a logical block. */
struct ext_answer {
	unsigned state; /* MAP_MAPPED, MAP_UNWRITTEN or MAP_HOLE */
	uint64_t len;	/* blocks from the lookup block on with this answer */
	uint64_t pblk;	/* physical block of the lookup block (mapped/unwritten) */
	uint64_t goal;	/* where an allocation here should start */
};

/* ---- entries ---- */

static inline struct folio_extent *ext_ents(struct folio_extent_header *eh)
{
	return (struct folio_extent *)(eh + 1);
}

static inline struct folio_extent_idx *idx_ents(struct folio_extent_header *eh)
{
	return (struct folio_extent_idx *)(eh + 1);
}

static inline unsigned eh_count(const struct folio_extent_header *eh)
{
	return le16_to_cpu(eh->eh_entries);
}

static inline unsigned eh_max(const struct folio_extent_header *eh)
{
	return le16_to_cpu(eh->eh_max);
}

static inline void eh_set_count(struct folio_extent_header *eh, unsigned n)
{
	eh->eh_entries = cpu_to_le16((uint16_t)n);
}

static struct ext ext_get(const struct folio_extent *e)
{
	return (struct ext){le64_to_cpu(e->ee_lblk), le64_to_cpu(e->ee_pblk),
			    le32_to_cpu(e->ee_len), le32_to_cpu(e->ee_flags)};
}

static void ext_put(struct folio_extent *e, const struct ext *x)
{
	e->ee_lblk = cpu_to_le64(x->lblk);
	e->ee_pblk = cpu_to_le64(x->pblk);
	e->ee_len = cpu_to_le32(x->len);
	e->ee_flags = cpu_to_le32(x->flags);
}

static inline uint64_t ext_end(const struct ext *x)
{
	return x->lblk + x->len;
}

static bool ext_mergeable(const struct ext *a, const struct ext *b)
{
	return ext_end(a) == b->lblk && a->pblk + a->len == b->pblk && a->flags == b->flags &&
	       (uint64_t)a->len + b->len <= EXT_MAX_LEN;
}

/* Key of entry @i of a node: extent start or index key. */
static uint64_t node_key(struct folio_extent_header *eh, unsigned i)
{
	if (!le16_to_cpu(eh->eh_depth))
		return le64_to_cpu(ext_ents(eh)[i].ee_lblk);
	return le64_to_cpu(idx_ents(eh)[i].ei_lblk);
}

/* Last entry whose key is <= @key, or -1. */
static int node_search(struct folio_extent_header *eh, uint64_t key)
{
	int lo = 0, hi = (int)eh_count(eh) - 1, ans = -1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;

		if (node_key(eh, (unsigned)mid) <= key) {
			ans = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return ans;
}

/* ---- walking ---- */

static struct folio_extent_header *node_eh(struct buffer_head *bh)
{
	return (struct folio_extent_header *)(bh->b_data + sizeof(struct folio_blk_hdr));
}

static void path_release(struct ext_path *p)
{
	for (unsigned k = 1; k <= FOLIO_EXT_MAX_DEPTH; k++) {
		brelse(p->lv[k].bh);
		p->lv[k].bh = NULL;
	}
}

/* Is the device page holding @blk cached (reclaim must not allocate)? */
static bool ext_node_cached(struct fs *fs, uint64_t blk)
{
	struct page *page = find_get_page(&fs->meta, blk >> (PAGE_SHIFT - fs->geom.block_shift));

	if (page)
		put_page(page);
	return page != NULL;
}

/* ---- checking what the device gave ---- */

/* Do extents @a and @b share a physical block? */
static bool ext_phys_meet(const struct ext *a, const struct ext *b)
{
	return a->pblk < b->pblk + b->len && b->pblk < a->pblk + a->len;
}

/* One leaf entry on its own: non-empty, known flags, below FOLIO_MAX_LBLK,
 * in the data area, not over the node @blk (0: the root) holding it. */
static const char *ext_entry_bad(struct fs *fs, const struct ext *x, uint64_t blk)
{
	if (!x->len || x->len > EXT_MAX_LEN || (x->flags & ~FOLIO_EXT_UNWRITTEN))
		return "zero or too long length, or unknown flags";
	if (x->lblk >= FOLIO_MAX_LBLK || x->len > FOLIO_MAX_LBLK - x->lblk)
		return "past the largest file";
	if (!fs_blocks_are_data(fs, x->pblk, x->len))
		return "blocks on metadata or outside the filesystem";
	if (blk && blk >= x->pblk && blk - x->pblk < x->len)
		return "blocks over its own tree node";
	return NULL;
}

/* A leaf's extents: each sound, in logical order without overlap, and no
 * two sharing a physical block. */
static int ext_leaf_check(struct inode *inode, struct folio_extent_header *eh, uint64_t blk)
{
	struct folio_extent *e = ext_ents(eh);
	unsigned n = eh_count(eh);
	const char *why = NULL;
	unsigned i, j = 0;

	for (i = 0; i < n && !why; i++) {
		struct ext x = ext_get(&e[i]), y;

		why = ext_entry_bad(inode->fs, &x, blk);
		if (!why && i && x.lblk < (y = ext_get(&e[i - 1]), ext_end(&y)))
			why = "out of logical order or overlapping the one before";
		for (j = 0; j < i && !why; j++)
			if ((y = ext_get(&e[j]), ext_phys_meet(&x, &y)))
				why = "sharing physical blocks with another extent";
	}
	if (!why)
		return 0;
	return fs_corrupt(inode->fs, inode->ino,
			  "extent %s %" PRIu64 ", extent %u (logical %" PRIu64 ", block %" PRIu64
			  ", %u blocks): %s",
			  blk ? "node at block" : "root in the inode, depth", blk, i - 1,
			  le64_to_cpu(e[i - 1].ee_lblk), le64_to_cpu(e[i - 1].ee_pblk),
			  le32_to_cpu(e[i - 1].ee_len), why);
}

/* An index node's entries: keys strictly increasing and below
 * FOLIO_MAX_LBLK, children distinct data-area blocks other than the node. */
static int ext_idx_check(struct inode *inode, struct folio_extent_header *eh, uint64_t blk)
{
	struct folio_extent_idx *idx = idx_ents(eh);
	unsigned n = eh_count(eh);
	const char *why = NULL;
	unsigned i;

	for (i = 0; i < n && !why; i++) {
		uint64_t key = le64_to_cpu(idx[i].ei_lblk), child = le64_to_cpu(idx[i].ei_child);

		if (key >= FOLIO_MAX_LBLK || (i && key <= le64_to_cpu(idx[i - 1].ei_lblk)))
			why = "key out of order";
		else if (!fs_blocks_are_data(inode->fs, child, 1) || child == blk)
			why = "child on metadata, outside the filesystem or the node itself";
		for (unsigned j = 0; j < i && !why; j++)
			if (le64_to_cpu(idx[j].ei_child) == child)
				why = "child named twice";
	}
	if (!why)
		return 0;
	return fs_corrupt(inode->fs, inode->ino,
			  "extent %s %" PRIu64 ", index entry %u (child %" PRIu64 "): %s",
			  blk ? "node at block" : "root in the inode, depth",
			  blk ? blk : le16_to_cpu(eh->eh_depth), i - 1,
			  le64_to_cpu(idx[i - 1].ei_child), why);
}

/* The entries of a node read from the device (@blk 0: the root). */
static int ext_entries_check(struct inode *inode, struct folio_extent_header *eh, uint64_t blk)
{
	if (le16_to_cpu(eh->eh_depth))
		return ext_idx_check(inode, eh, blk);
	return ext_leaf_check(inode, eh, blk);
}

/* The root's entries, once per load of the inode (the root is in memory
 * from then on and changed only here). Caller holds ext_lock or ext_mutex. */
static int ext_root_check(struct inode *inode)
{
	int err;

	if (atomic_load_explicit(&inode->ext_root_checked, memory_order_acquire))
		return 0;
	err = ext_entries_check(inode, &inode->di->i_extents.eh, 0);
	if (!err)
		atomic_store_explicit(&inode->ext_root_checked, true, memory_order_release);
	return err;
}

/* Read the node at @blk, which must be at tree depth @depth: header, and
 * the entries when it was just read from the device (a node that fails is
 * dropped from the cache, so the next read checks it again). */
static struct buffer_head *ext_bread_node(struct inode *inode, uint64_t blk, unsigned depth,
					  int *err)
{
	struct fs *fs = inode->fs;
	struct folio_extent_header *eh;
	struct buffer_head *bh;
	bool fresh;

	bh = fs_bread_checked_fresh(fs, blk, FOLIO_EXT_MAGIC, inode->ino, &fresh, err);
	if (!bh)
		return NULL;
	eh = node_eh(bh);
	if (folio_eh_check(eh, fs->geom.ext_node_max) || le16_to_cpu(eh->eh_depth) != depth ||
	    !eh_count(eh)) {
		*err = fs_corrupt(fs, inode->ino, "extent node %" PRIu64 ": bad header", blk);
	} else if (fresh) {
		*err = ext_entries_check(inode, eh, blk);
	} else {
		return bh;
	}
	if (!*err)
		return bh;
	brelse(bh);
	if (fresh)
		fs_bforget(fs, blk, 1);
	return NULL;
}

/* Read the node at level @k of @p from block @blk and check it. */
static int ext_read_node(struct ext_path *p, unsigned k, uint64_t blk, bool nowait)
{
	struct inode *inode = p->inode;
	struct fs *fs = inode->fs;
	struct buffer_head *bh;
	int err = 0;

	if (nowait && !ext_node_cached(fs, blk))
		return -EAGAIN;
	bh = ext_bread_node(inode, blk, p->depth - k, &err);
	if (!bh)
		return err;
	p->lv[k].bh = bh;
	p->lv[k].eh = node_eh(bh);
	p->lv[k].blk = blk;
	return 0;
}

/* The leaf @l's extents lie inside the logical range its parent gives it. */
static int ext_leaf_in_range(struct ext_path *p, struct ext_level *l)
{
	struct folio_extent *e = ext_ents(l->eh);
	unsigned n = eh_count(l->eh);
	struct ext last;

	if (!n)
		return 0;
	last = ext_get(&e[n - 1]);
	if (le64_to_cpu(e[0].ee_lblk) >= l->lo && ext_end(&last) <= l->hi)
		return 0;
	return fs_corrupt(p->inode->fs, p->inode->ino,
			  "extent node %" PRIu64 ": extents outside the range its parent gives",
			  l->blk);
}

/* Choose the child of index level @k for @key and set the child's range. */
static int ext_step(struct ext_path *p, unsigned k, uint64_t key, uint64_t *child)
{
	struct ext_level *l = &p->lv[k], *c = &p->lv[k + 1];
	struct folio_extent_idx *idx = idx_ents(l->eh);
	unsigned n = eh_count(l->eh);
	int i = node_search(l->eh, key);

	if (!n)
		return fs_corrupt(p->inode->fs, p->inode->ino, "empty extent index");
	l->slot = i < 0 ? 0 : i;
	c->lo = l->slot ? le64_to_cpu(idx[l->slot].ei_lblk) : l->lo;
	c->hi = (unsigned)l->slot + 1 < n ? le64_to_cpu(idx[l->slot + 1].ei_lblk) : l->hi;
	if (c->lo < l->lo || c->hi > l->hi || c->lo >= c->hi)
		return fs_corrupt(p->inode->fs, p->inode->ino, "extent index keys out of order");
	*child = le64_to_cpu(idx[l->slot].ei_child);
	return 0;
}

/* Walk from the root to the leaf that covers @key. */
static int ext_find(struct inode *inode, uint64_t key, struct ext_path *p, bool nowait)
{
	struct folio_extent_header *root = &inode->di->i_extents.eh;
	uint64_t child = 0;
	int err;

	memset(p, 0, sizeof(*p));
	p->inode = inode;
	p->depth = le16_to_cpu(root->eh_depth);
	p->lv[0].eh = root;
	p->lv[0].hi = FOLIO_MAX_LBLK;
	err = ext_root_check(inode);
	for (unsigned k = 0; k < p->depth && !err; k++) {
		err = ext_step(p, k, key, &child);
		if (!err)
			err = ext_read_node(p, k + 1, child, nowait);
	}
	if (!err && p->depth)
		err = ext_leaf_in_range(p, &p->lv[p->depth]);
	if (err) {
		path_release(p);
		return err;
	}
	p->lv[p->depth].slot = node_search(p->lv[p->depth].eh, key);
	return 0;
}

static uint64_t ext_default_goal(struct inode *inode)
{
	struct folio_geom *g = &inode->fs->geom;

	return folio_group_first_block(g, folio_ino_group(g, inode->ino));
}

/* What the leaf of @p says about logical block @lblk. */
static void ext_answer(struct ext_path *p, uint64_t lblk, struct ext_answer *a)
{
	struct ext_level *leaf = &p->lv[p->depth];
	struct folio_extent *e = ext_ents(leaf->eh);
	unsigned n = eh_count(leaf->eh);
	int s = leaf->slot;

	a->goal = ext_default_goal(p->inode);
	a->pblk = 0;
	if (s >= 0) {
		struct ext x = ext_get(&e[s]);

		if (lblk < ext_end(&x)) {
			a->state = (x.flags & FOLIO_EXT_UNWRITTEN) ? MAP_UNWRITTEN : MAP_MAPPED;
			a->pblk = x.pblk + (lblk - x.lblk);
			a->len = ext_end(&x) - lblk;
			a->goal = a->pblk;
			return;
		}
		a->goal = x.pblk + x.len;
	}
	a->state = MAP_HOLE;
	a->len = ((unsigned)(s + 1) < n ? le64_to_cpu(e[s + 1].ee_lblk) : leaf->hi) - lblk;
}

static int ext_lookup(struct inode *inode, uint64_t lblk, bool nowait, struct ext_answer *a)
{
	struct ext_path p;
	int err = ext_find(inode, lblk, &p, nowait);

	if (err)
		return err;
	ext_answer(&p, lblk, a);
	path_release(&p);
	return 0;
}

/* ---- changing nodes ---- */

static void node_lock(struct ext_path *p, struct ext_level *l)
{
	if (l->bh)
		lock_buffer(l->bh);
	else
		pthread_mutex_lock(&p->inode->i_lock);
}

static void node_unlock(struct ext_path *p, struct ext_level *l)
{
	if (l->bh) {
		fs_block_dirty(p->inode->fs, l->bh);
		unlock_buffer(l->bh);
	} else {
		pthread_mutex_unlock(&p->inode->i_lock);
	}
}

/* The in-place change window of a writer (ext_mutex held). */
static void ext_window_begin(struct inode *inode)
{
	pthread_rwlock_wrlock(&inode->ext_lock);
}

static void ext_window_end(struct inode *inode)
{
	pthread_rwlock_unlock(&inode->ext_lock);
}

/* i_blocks += @delta. */
static void ext_charge(struct inode *inode, int64_t delta)
{
	pthread_mutex_lock(&inode->i_lock);
	inode->di->i_blocks = cpu_to_le64(le64_to_cpu(inode->di->i_blocks) + (uint64_t)delta);
	pthread_mutex_unlock(&inode->i_lock);
}

/* Remove entry @i of a node (lock held); entries are 24 bytes either kind. */
static void node_remove_at(struct folio_extent_header *eh, unsigned i)
{
	struct folio_extent *e = ext_ents(eh);
	unsigned n = eh_count(eh);

	memmove(&e[i], &e[i + 1], (n - i - 1) * sizeof(*e));
	memset(&e[n - 1], 0, sizeof(*e));
	eh_set_count(eh, n - 1);
}

/* Merge leaf entry @m with its neighbours where possible; new count. */
static unsigned leaf_merge_around(struct folio_extent_header *eh, unsigned m)
{
	struct folio_extent *e = ext_ents(eh);
	struct ext x = ext_get(&e[m]), y;

	if (m + 1 < eh_count(eh) && (y = ext_get(&e[m + 1]), ext_mergeable(&x, &y))) {
		x.len += y.len;
		ext_put(&e[m], &x);
		node_remove_at(eh, m + 1);
	}
	if (m > 0 && (y = ext_get(&e[m - 1]), ext_mergeable(&y, &x))) {
		y.len += x.len;
		ext_put(&e[m - 1], &y);
		node_remove_at(eh, m);
	}
	return eh_count(eh);
}

/* Insert index entry (@key, @child) at @pos of level @l (it has room). */
static void idx_insert(struct ext_path *p, struct ext_level *l, unsigned pos, uint64_t key,
		       uint64_t child)
{
	struct folio_extent_idx *idx = idx_ents(l->eh);
	unsigned n = eh_count(l->eh);

	node_lock(p, l);
	memmove(&idx[pos + 1], &idx[pos], (n - pos) * sizeof(*idx));
	idx[pos].ei_lblk = cpu_to_le64(key);
	idx[pos].ei_child = cpu_to_le64(child);
	idx[pos].ei_reserved = 0;
	eh_set_count(l->eh, n + 1);
	/* the first key is only a lower bound: keep the keys increasing */
	if (pos == 1 && le64_to_cpu(idx[0].ei_lblk) >= key)
		idx[0].ei_lblk = cpu_to_le64(l->lo);
	node_unlock(p, l);
}

/* A new node at block @blk holding @n entries copied from @src, at @depth. */
static int ext_new_node(struct inode *inode, uint64_t blk, unsigned depth, const void *src,
			unsigned n)
{
	struct fs *fs = inode->fs;
	struct folio_extent_header *eh;
	struct buffer_head *bh;
	int err = 0;

	bh = fs_new_block(fs, blk, FOLIO_EXT_MAGIC, inode->ino, &err);
	if (!bh)
		return err;
	lock_buffer(bh);
	eh = node_eh(bh);
	folio_eh_init(eh, (uint16_t)fs->geom.ext_node_max, (uint16_t)depth);
	memcpy(eh + 1, src, n * sizeof(struct folio_extent));
	eh_set_count(eh, n);
	fs_block_dirty(fs, bh);
	unlock_buffer(bh);
	brelse(bh);
	return 0;
}

/* Allocate one block for a tree node near @goal. */
static int ext_alloc_node(struct inode *inode, uint64_t goal, uint64_t *blk)
{
	int got = fs_alloc_blocks(inode->fs, goal, 1, blk);

	return got < 0 ? got : 0;
}

/* Every level is full: move the root's entries into a new node. */
static int ext_grow(struct ext_path *p)
{
	struct inode *inode = p->inode;
	struct folio_extent_header *root = p->lv[0].eh;
	struct folio_extent_idx *idx = idx_ents(root);
	uint64_t nb;
	int err;

	if (p->depth >= FOLIO_EXT_MAX_DEPTH)
		return -EFBIG;
	err = ext_alloc_node(inode, ext_default_goal(inode), &nb);
	if (err)
		return err;
	err = ext_new_node(inode, nb, p->depth, idx, eh_count(root));
	if (err) {
		fs_free_blocks(inode->fs, nb, 1);
		return err;
	}
	ext_window_begin(inode);
	pthread_mutex_lock(&inode->i_lock);
	memset(idx, 0, FOLIO_EXT_INLINE * sizeof(*idx));
	idx[0].ei_lblk = 0;
	idx[0].ei_child = cpu_to_le64(nb);
	eh_set_count(root, 1);
	root->eh_depth = cpu_to_le16((uint16_t)(p->depth + 1));
	inode->di->i_blocks = cpu_to_le64(le64_to_cpu(inode->di->i_blocks) + 1);
	pthread_mutex_unlock(&inode->i_lock);
	ext_window_end(inode);
	return 0;
}

/* Split the full node at level @k (>= 1) of @p; its parent has room. An
 * insert at @key past the node's last key moves only the last entry. */
static int ext_split(struct ext_path *p, unsigned k, uint64_t key)
{
	struct ext_level *l = &p->lv[k];
	unsigned n = eh_count(l->eh), mid = key > node_key(l->eh, n - 1) ? n - 1 : n / 2;
	struct folio_extent *e = ext_ents(l->eh);
	uint64_t nb, newkey = node_key(l->eh, mid);
	int err;

	err = ext_alloc_node(p->inode, l->blk + 1, &nb);
	if (err)
		return err;
	err = ext_new_node(p->inode, nb, le16_to_cpu(l->eh->eh_depth), &e[mid], n - mid);
	if (err) {
		fs_free_blocks(p->inode->fs, nb, 1);
		return err;
	}
	ext_window_begin(p->inode);
	node_lock(p, l);
	memset(&e[mid], 0, (n - mid) * sizeof(*e));
	eh_set_count(l->eh, mid);
	node_unlock(p, l);
	idx_insert(p, &p->lv[k - 1], (unsigned)p->lv[k - 1].slot + 1, newkey, nb);
	ext_window_end(p->inode);
	ext_charge(p->inode, 1);
	return 0;
}

/* The leaf of @p is full: split (or grow) once; the caller re-descends. */
static int ext_make_room(struct ext_path *p, uint64_t key)
{
	int k = (int)p->depth - 1;

	while (k >= 0 && eh_count(p->lv[k].eh) >= eh_max(p->lv[k].eh))
		k--;
	if (k < 0)
		return ext_grow(p);
	return ext_split(p, (unsigned)k + 1, key);
}

/* ---- insert ---- */

/* Merge @x into a neighbour in the leaf of @p, if contiguous. */
static bool leaf_try_merge(struct ext_path *p, const struct ext *x)
{
	struct ext_level *leaf = &p->lv[p->depth];
	struct folio_extent *e = ext_ents(leaf->eh);
	unsigned n = eh_count(leaf->eh);
	int s = leaf->slot;
	struct ext y;

	if (s >= 0 && (y = ext_get(&e[s]), ext_mergeable(&y, x))) {
		node_lock(p, leaf);
		y.len += x->len;
		ext_put(&e[s], &y);
		leaf_merge_around(leaf->eh, (unsigned)s);
		node_unlock(p, leaf);
		return true;
	}
	if ((unsigned)(s + 1) < n && (y = ext_get(&e[s + 1]), ext_mergeable(x, &y))) {
		node_lock(p, leaf);
		y.lblk = x->lblk;
		y.pblk = x->pblk;
		y.len += x->len;
		ext_put(&e[s + 1], &y);
		node_unlock(p, leaf);
		return true;
	}
	return false;
}

/* Insert extent @x (it overlaps nothing and fits the leaf's range). */
static int ext_insert(struct inode *inode, const struct ext *x)
{
	struct ext_path p;
	int err;

	for (;;) {
		struct ext_level *leaf;
		unsigned n, pos;

		err = ext_find(inode, x->lblk, &p, false);
		if (err)
			return err;
		leaf = &p.lv[p.depth];
		n = eh_count(leaf->eh);
		ext_window_begin(inode);
		if (leaf_try_merge(&p, x)) {
			ext_window_end(inode);
			break;
		}
		if (n < eh_max(leaf->eh)) {
			struct folio_extent *e = ext_ents(leaf->eh);

			pos = (unsigned)(leaf->slot + 1);
			node_lock(&p, leaf);
			memmove(&e[pos + 1], &e[pos], (n - pos) * sizeof(*e));
			ext_put(&e[pos], x);
			eh_set_count(leaf->eh, n + 1);
			node_unlock(&p, leaf);
			ext_window_end(inode);
			break;
		}
		ext_window_end(inode);
		err = ext_make_room(&p, x->lblk);
		path_release(&p);
		if (err)
			return err;
	}
	path_release(&p);
	return 0;
}

/* ---- remove ---- */

/* The leaf of @p is empty and not the root: unlink it (and any parent left
 * empty) from the tree; the blocks to free go to @freed. */
static unsigned ext_unlink_empty(struct ext_path *p, uint64_t *freed)
{
	unsigned k = p->depth, nfreed = 0;

	while (k > 0 && !eh_count(p->lv[k].eh)) {
		struct ext_level *parent = &p->lv[k - 1];

		freed[nfreed++] = p->lv[k].blk;
		node_lock(p, parent);
		node_remove_at(parent->eh, (unsigned)parent->slot);
		node_unlock(p, parent);
		k--;
	}
	if (!k && !eh_count(p->lv[0].eh)) {
		pthread_mutex_lock(&p->inode->i_lock);
		p->lv[0].eh->eh_depth = 0;
		pthread_mutex_unlock(&p->inode->i_lock);
	}
	return nfreed;
}

/* First extent of the leaf of @p ending after @a, or the count if none. */
static unsigned leaf_first_after(struct ext_path *p, uint64_t a)
{
	struct ext_level *leaf = &p->lv[p->depth];
	int i = leaf->slot;

	if (i >= 0) {
		struct ext x = ext_get(&ext_ents(leaf->eh)[i]);

		if (ext_end(&x) <= a)
			i++;
	} else {
		i = 0;
	}
	return (unsigned)i;
}

/* Cut [s, t) out of extent @i of the leaf (lock held; room checked). */
static void leaf_cut(struct folio_extent_header *eh, unsigned i, uint64_t s, uint64_t t)
{
	struct folio_extent *e = ext_ents(eh);
	struct ext x = ext_get(&e[i]), r = x;
	unsigned n = eh_count(eh);

	if (s == x.lblk && t == ext_end(&x)) {
		node_remove_at(eh, i);
		return;
	}
	if (s == x.lblk) {
		r.lblk = t;
		r.pblk = x.pblk + (t - x.lblk);
		r.len = (uint32_t)(ext_end(&x) - t);
		ext_put(&e[i], &r);
		return;
	}
	r.len = (uint32_t)(s - x.lblk);
	ext_put(&e[i], &r);
	if (t < ext_end(&x)) {
		r.lblk = t;
		r.pblk = x.pblk + (t - x.lblk);
		r.len = (uint32_t)(ext_end(&x) - t);
		memmove(&e[i + 2], &e[i + 1], (n - i - 1) * sizeof(*e));
		ext_put(&e[i + 1], &r);
		eh_set_count(eh, n + 1);
	}
}

/* One step of removing [*a, b): cut one extent of the leaf of @p (or skip
 * to the next leaf) and free what was cut. Releases @p. */
static int ext_remove_step(struct ext_path *p, uint64_t *a, uint64_t b)
{
	struct inode *inode = p->inode;
	struct ext_level *leaf = &p->lv[p->depth];
	uint64_t freed[FOLIO_EXT_MAX_DEPTH], s, t;
	unsigned i = leaf_first_after(p, *a), n = eh_count(leaf->eh), nfreed = 0;
	struct ext x;

	if (i >= n || le64_to_cpu(ext_ents(leaf->eh)[i].ee_lblk) >= b) {
		*a = leaf->hi < b ? leaf->hi : b;
		path_release(p);
		return 0;
	}
	x = ext_get(&ext_ents(leaf->eh)[i]);
	s = x.lblk > *a ? x.lblk : *a;
	t = ext_end(&x) < b ? ext_end(&x) : b;
	if (s > x.lblk && t < ext_end(&x) && n >= eh_max(leaf->eh)) {
		int err = ext_make_room(p, s);

		path_release(p);
		return err;
	}
	ext_window_begin(inode);
	node_lock(p, leaf);
	leaf_cut(leaf->eh, i, s, t);
	node_unlock(p, leaf);
	if (p->depth && !eh_count(leaf->eh))
		nfreed = ext_unlink_empty(p, freed);
	ext_window_end(inode);
	path_release(p);
	for (unsigned k = 0; k < nfreed; k++)
		fs_free_blocks(inode->fs, freed[k], 1);
	fs_free_blocks(inode->fs, x.pblk + (s - x.lblk), t - s);
	ext_charge(inode, -(int64_t)(nfreed + (t - s)));
	*a = t;
	return 0;
}

/* A root with one child of at most 3 entries takes the child's place. */
static int ext_shrink(struct inode *inode)
{
	struct folio_extent_header *root = &inode->di->i_extents.eh;
	struct fs *fs = inode->fs;

	while (le16_to_cpu(root->eh_depth) && eh_count(root) == 1) {
		uint64_t child = le64_to_cpu(idx_ents(root)[0].ei_child);
		struct folio_extent_header *ceh;
		struct buffer_head *bh;
		unsigned n;
		int err = 0;

		bh = ext_bread_node(inode, child, le16_to_cpu(root->eh_depth) - 1, &err);
		if (!bh)
			return err;
		ceh = node_eh(bh);
		n = eh_count(ceh);
		if (n > FOLIO_EXT_INLINE) {
			brelse(bh);
			return 0;
		}
		ext_window_begin(inode);
		pthread_mutex_lock(&inode->i_lock);
		memset(idx_ents(root), 0, FOLIO_EXT_INLINE * sizeof(struct folio_extent_idx));
		memcpy(idx_ents(root), ceh + 1, n * sizeof(struct folio_extent));
		eh_set_count(root, n);
		root->eh_depth = ceh->eh_depth;
		inode->di->i_blocks = cpu_to_le64(le64_to_cpu(inode->di->i_blocks) - 1);
		pthread_mutex_unlock(&inode->i_lock);
		ext_window_end(inode);
		brelse(bh);
		fs_free_blocks(fs, child, 1);
	}
	return 0;
}

/* Unmap [a, b), freeing the blocks and the nodes emptied. */
static int ext_remove(struct inode *inode, uint64_t a, uint64_t b)
{
	struct ext_path p;
	int err = 0;

	while (a < b && !err) {
		err = ext_find(inode, a, &p, false);
		if (!err)
			err = ext_remove_step(&p, &a, b);
	}
	return err;
}

/* ---- convert written <-> unwritten ---- */

/* Merge neighbours in a short run of extents; returns the new length. */
static unsigned ext_seq_merge(struct ext *seq, unsigned n)
{
	unsigned out = 0;

	for (unsigned i = 0; i < n; i++) {
		if (out && ext_mergeable(&seq[out - 1], &seq[i]))
			seq[out - 1].len += seq[i].len;
		else
			seq[out++] = seq[i];
	}
	return out;
}

/* Replace entries [start, start + span) of a leaf with @seq (lock held; the
 * caller checked that the result fits). */
static void leaf_splice(struct folio_extent_header *eh, unsigned start, unsigned span,
			const struct ext *seq, unsigned nseq)
{
	struct folio_extent *e = ext_ents(eh);
	unsigned n = eh_count(eh), m = n - span + nseq;

	memmove(&e[start + nseq], &e[start + span], (n - start - span) * sizeof(*e));
	for (unsigned j = 0; j < nseq; j++)
		ext_put(&e[start + j], &seq[j]);
	if (m < n)
		memset(&e[m], 0, (n - m) * sizeof(*e));
	eh_set_count(eh, m);
}

/* The run replacing leaf extent @i when [s, t) of it gets flags @to: its
 * pieces plus the neighbours they may merge with, merged. Sets *start and
 * *span (the entries replaced); returns the run's length. */
static unsigned convert_run(struct folio_extent_header *eh, unsigned i, uint64_t s, uint64_t t,
			    uint32_t to, struct ext seq[5], unsigned *start, unsigned *span)
{
	struct folio_extent *e = ext_ents(eh);
	struct ext x = ext_get(&e[i]);
	unsigned n = eh_count(eh), k = 0;
	bool with_next = t == ext_end(&x) && i + 1 < n;

	*start = i > 0 && s == x.lblk ? i - 1 : i;
	*span = i + 1 - *start + with_next;
	if (*start < i)
		seq[k++] = ext_get(&e[i - 1]);
	if (s > x.lblk)
		seq[k++] = (struct ext){x.lblk, x.pblk, (uint32_t)(s - x.lblk), x.flags};
	seq[k++] = (struct ext){s, x.pblk + (s - x.lblk), (uint32_t)(t - s), to};
	if (t < ext_end(&x))
		seq[k++] = (struct ext){t, x.pblk + (t - x.lblk), (uint32_t)(ext_end(&x) - t),
					x.flags};
	if (with_next)
		seq[k++] = ext_get(&e[i + 1]);
	return ext_seq_merge(seq, k);
}

/* One step of converting [*a, b) to @to: one extent, split into up to three
 * pieces and merged with its neighbours. Releases @p. */
static int ext_convert_step(struct ext_path *p, uint64_t *a, uint64_t b, uint32_t to)
{
	struct ext_level *leaf = &p->lv[p->depth];
	struct folio_extent *e = ext_ents(leaf->eh);
	unsigned i = leaf_first_after(p, *a), n = eh_count(leaf->eh), k, start, span;
	struct ext x, seq[5];
	uint64_t s, t;
	int err = 0;

	if (i >= n || le64_to_cpu(e[i].ee_lblk) >= b) {
		*a = leaf->hi < b ? leaf->hi : b;
		path_release(p);
		return 0;
	}
	x = ext_get(&e[i]);
	s = x.lblk > *a ? x.lblk : *a;
	t = ext_end(&x) < b ? ext_end(&x) : b;
	if (x.flags != to) {
		k = convert_run(leaf->eh, i, s, t, to, seq, &start, &span);
		if (n - span + k > eh_max(leaf->eh)) {
			err = ext_make_room(p, s);
			path_release(p);
			return err; /* the caller walks again from *a */
		}
		ext_window_begin(p->inode);
		node_lock(p, leaf);
		leaf_splice(leaf->eh, start, span, seq, k);
		node_unlock(p, leaf);
		ext_window_end(p->inode);
	}
	path_release(p);
	*a = t;
	return 0;
}

/* Give the extents in [a, b) the flags @to (holes stay holes). */
static int ext_convert(struct inode *inode, uint64_t a, uint64_t b, uint32_t to)
{
	struct ext_path p;
	int err = 0;

	while (a < b && !err) {
		err = ext_find(inode, a, &p, false);
		if (!err)
			err = ext_convert_step(&p, &a, b, to);
	}
	return err;
}

/* ---- map_blocks ---- */

/* Allocate @n blocks for the hole at @lblk and map them (ext_mutex held);
 * returns the blocks mapped. */
static int ext_fill_hole(struct inode *inode, uint64_t lblk, uint64_t n, uint64_t goal, uint64_t *p)
{
	struct fs *fs = inode->fs;
	int got, err;

	/* A run answered in pieces must not fail half way: the cache would keep
	 * a block it never zeroed (sub-page blocks). */
	if (n > 1 && atomic_load(&fs->free_blocks) < n + FOLIO_EXT_MAX_DEPTH)
		return -ENOSPC;
	got = fs_alloc_blocks(fs, goal, (uint32_t)n, p);
	if (got < 0)
		return got;
	err = ext_insert(inode, &(struct ext){lblk, *p, (uint32_t)got, 0});
	if (err) {
		fs_free_blocks(fs, *p, (uint64_t)got);
		return err;
	}
	ext_charge(inode, got);
	return got;
}

/* MAP_CREATE for a hole or an unwritten run (ext_mutex held). */
static int ext_map_create(struct inode *inode, uint64_t lblk, uint32_t max, uint64_t *pblk,
			  unsigned *flags)
{
	struct ext_answer a;
	uint64_t p, n;
	int err = fs_check_writable(inode->fs), got;

	if (!err)
		err = ext_lookup(inode, lblk, false, &a);
	if (err)
		return err;
	n = a.len < max ? a.len : max;
	if (a.state == MAP_MAPPED) {
		*pblk = a.pblk;
		*flags = MAP_MAPPED;
		return (int)n;
	}
	if (a.state == MAP_UNWRITTEN) {
		p = a.pblk;
		got = (int)n;
		err = ext_convert(inode, lblk, lblk + n, 0);
	} else {
		got = ext_fill_hole(inode, lblk, n, a.goal, &p);
		err = got < 0 ? got : 0;
	}
	if (err)
		return err;
	ext_shrink(inode);
	fs_inode_write(inode);
	fs_journal_ordered(inode); /* the data goes to the device before the commit */
	*pblk = p;
	*flags = MAP_MAPPED | MAP_NEW;
	return got;
}

/**
 * fs_map_blocks - map a file's logical blocks to device blocks (map_blocks)
 * @mapping: the inode's mapping (host = the inode)
 * @lblk: first logical block
 * @max: blocks wanted
 * @pblk: receives the device block of @lblk (mapped and unwritten runs)
 * @flags: in MAP_CREATE / MAP_NOWAIT; out exactly one of MAP_MAPPED,
 *	MAP_HOLE, MAP_UNWRITTEN, plus MAP_NEW
 *
 * Without MAP_CREATE a lookup (ext_lock shared). With MAP_CREATE a hole gets
 * new blocks (contiguous with the file's previous block where possible) and
 * an unwritten run becomes written; both are reported MAP_MAPPED | MAP_NEW,
 * and i_blocks is charged for new blocks and tree nodes. MAP_NOWAIT only
 * trylocks, only reads cached nodes and never allocates: -EAGAIN instead.
 *
 * Context: called by the cache with the page locked; takes ext_lock
 * shared, and for MAP_CREATE ext_mutex, group locks (allocation) and the
 * inode table buffer.
 * Return: the blocks the answer covers (1..@max), or -EAGAIN, -ENOSPC,
 * -EROFS, -EFBIG (past the largest file), -EUCLEAN.
 */
int fs_map_blocks(struct address_space *mapping, uint64_t lblk, uint32_t max, uint64_t *pblk,
		  unsigned *flags)
{
	struct inode *inode = mapping->host;
	unsigned in = *flags;
	struct ext_answer a;
	int err;

	if (!max)
		return -EINVAL;
	if (lblk >= FOLIO_MAX_LBLK) {
		if (in & MAP_CREATE)
			return -EFBIG;
		*pblk = 0;
		*flags = MAP_HOLE;
		return (int)(max < EXT_MAX_RUN ? max : EXT_MAX_RUN);
	}
	if (max > EXT_MAX_RUN)
		max = EXT_MAX_RUN;
	if (max > FOLIO_MAX_LBLK - lblk)
		max = (uint32_t)(FOLIO_MAX_LBLK - lblk);
	if (in & MAP_NOWAIT) {
		if (pthread_rwlock_tryrdlock(&inode->ext_lock))
			return -EAGAIN;
	} else {
		pthread_rwlock_rdlock(&inode->ext_lock);
	}
	err = ext_lookup(inode, lblk, in & MAP_NOWAIT, &a);
	pthread_rwlock_unlock(&inode->ext_lock);
	if (err)
		return err;
	if (a.state == MAP_MAPPED || !(in & MAP_CREATE)) {
		*pblk = a.pblk;
		*flags = a.state;
		return (int)(a.len < max ? a.len : max);
	}
	if (in & MAP_NOWAIT)
		return -EAGAIN;
	/* A page may be locked here, so no handle may be waited for: the
	 * write path opened one before locking it; writeback meeting a block
	 * still unmapped (it should not) only tries, and retries later. */
	if (!fs_tx_active(inode->fs)) {
		if (!fs_tx_try_begin(inode->fs))
			return -EAGAIN;
		pthread_mutex_lock(&inode->ext_mutex);
		err = ext_map_create(inode, lblk, max, pblk, flags);
		pthread_mutex_unlock(&inode->ext_mutex);
		fs_tx_end(inode->fs);
		return err;
	}
	pthread_mutex_lock(&inode->ext_mutex);
	err = ext_map_create(inode, lblk, max, pblk, flags);
	pthread_mutex_unlock(&inode->ext_mutex);
	return err;
}

/* Around each page filemap_write() writes: a journal handle, opened before
 * the page is locked (handle -> page lock), so the blocks map_blocks
 * allocates for it, and the inode it writes, join one transaction whole. */
static void fs_write_start(struct address_space *mapping)
{
	fs_tx_begin(((struct inode *)mapping->host)->fs);
}

static void fs_write_done(struct address_space *mapping)
{
	fs_tx_end(((struct inode *)mapping->host)->fs);
}

const struct address_space_operations fs_file_aops = {
	.map_blocks = fs_map_blocks,
	.write_start = fs_write_start,
	.write_done = fs_write_done,
};

/* ---- whole-range operations ---- */

static uint64_t ext_range_end(uint64_t lblk, uint64_t count)
{
	if (lblk >= FOLIO_MAX_LBLK)
		return lblk;
	return count > FOLIO_MAX_LBLK - lblk ? FOLIO_MAX_LBLK : lblk + count;
}

/* End of a change (ext_mutex held): fold a small tree back into the inode,
 * write the inode, unlock. */
static int ext_finish(struct inode *inode, int err)
{
	int serr = ext_shrink(inode), werr = fs_inode_write(inode);

	err = err ? err : serr;
	pthread_mutex_unlock(&inode->ext_mutex);
	return err ? err : werr;
}

/**
 * fs_extent_truncate - free every block at or after a logical block
 * @inode: the inode
 * @lblk: first logical block to free
 *
 * The caller has already removed the cached pages (filemap_truncate()).
 * Tree nodes left empty are freed and the tree shrinks back into the inode
 * when it can.
 *
 * Context: may sleep; takes ext_mutex (and ext_lock briefly); the caller holds i_rwsem
 * (or evicts the inode).
 * Return: 0, -EROFS, -EUCLEAN, or -ENOSPC (a node split needed a block).
 */
int fs_extent_truncate(struct inode *inode, uint64_t lblk)
{
	return fs_extent_punch(inode, lblk, FOLIO_MAX_LBLK);
}

/**
 * fs_extent_punch - free the blocks of [lblk, lblk + count)
 * @inode: the inode
 * @lblk: first logical block
 * @count: blocks
 *
 * Extents are trimmed or split (a split may need a new tree node: -ENOSPC
 * then, with the blocks before the failure already freed).
 *
 * Context: as fs_extent_truncate().
 * Return: as fs_extent_truncate().
 */
int fs_extent_punch(struct inode *inode, uint64_t lblk, uint64_t count)
{
	uint64_t end = ext_range_end(lblk, count);
	int err = fs_check_writable(inode->fs);

	if (err)
		return err;
	if (lblk >= end)
		return 0;
	pthread_mutex_lock(&inode->ext_mutex);
	return ext_finish(inode, ext_remove(inode, lblk, end));
}

/**
 * fs_extent_prealloc - allocate unwritten blocks for the holes of a range
 * @inode: the inode
 * @lblk: first logical block
 * @count: blocks
 *
 * Blocks already mapped (written or unwritten) are kept. On -ENOSPC the
 * blocks allocated before stay allocated (as unwritten extents).
 *
 * Context: may sleep; takes ext_mutex (and ext_lock briefly); the caller holds i_rwsem.
 * Return: 0, -ENOSPC, -EROFS, -EUCLEAN.
 */
int fs_extent_prealloc(struct inode *inode, uint64_t lblk, uint64_t count)
{
	uint64_t end = ext_range_end(lblk, count), p;
	struct ext_answer a;
	int err = fs_check_writable(inode->fs), got;

	if (err)
		return err;
	pthread_mutex_lock(&inode->ext_mutex);
	while (lblk < end && !err) {
		uint64_t n;

		err = ext_lookup(inode, lblk, false, &a);
		if (err)
			break;
		n = a.len < end - lblk ? a.len : end - lblk;
		if (a.state != MAP_HOLE) {
			lblk += n;
			continue;
		}
		if (n > inode->fs->geom.blocks_per_group)
			n = inode->fs->geom.blocks_per_group;
		got = fs_alloc_blocks(inode->fs, a.goal, (uint32_t)n, &p);
		if (got < 0) {
			err = got;
			break;
		}
		err = ext_insert(inode, &(struct ext){lblk, p, (uint32_t)got, FOLIO_EXT_UNWRITTEN});
		if (err) {
			fs_free_blocks(inode->fs, p, (uint64_t)got);
			break;
		}
		ext_charge(inode, got);
		lblk += (uint64_t)got;
	}
	return ext_finish(inode, err);
}

/**
 * fs_extent_mark_unwritten - make the mapped blocks of a range unwritten
 * @inode: the inode
 * @lblk: first logical block
 * @count: blocks
 *
 * They keep their blocks and read as zeros; holes stay holes. The caller
 * has removed the range from the page cache first.
 *
 * Context: as fs_extent_prealloc().
 * Return: 0, -ENOSPC (a split needed a node), -EROFS, -EUCLEAN.
 */
int fs_extent_mark_unwritten(struct inode *inode, uint64_t lblk, uint64_t count)
{
	uint64_t end = ext_range_end(lblk, count);
	int err = fs_check_writable(inode->fs);

	if (err)
		return err;
	pthread_mutex_lock(&inode->ext_mutex);
	return ext_finish(inode, ext_convert(inode, lblk, end, FOLIO_EXT_UNWRITTEN));
}

/**
 * fs_extent_seek - find the next data block or hole
 * @inode: the inode
 * @lblk: first logical block to look at
 * @end: stop before this block
 * @data: true: the first allocated block (written or unwritten: unwritten
 *	extents count as data, as the tree alone cannot tell whether the cache
 *	holds data for them); false: the first block of a hole
 * @out: receives the block found
 *
 * Context: may sleep; takes ext_lock shared.
 * Return: 0, -ENXIO when there is none in [@lblk, @end), or a read error.
 */
int fs_extent_seek(struct inode *inode, uint64_t lblk, uint64_t end, bool data, uint64_t *out)
{
	struct ext_answer a;
	int err = 0;

	pthread_rwlock_rdlock(&inode->ext_lock);
	while (lblk < end) {
		err = ext_lookup(inode, lblk, false, &a);
		if (err)
			break;
		if ((a.state != MAP_HOLE) == data) {
			*out = lblk;
			break;
		}
		if (!a.len) { /* past the last logical block a file may have */
			lblk = end;
			break;
		}
		lblk += a.len;
	}
	pthread_rwlock_unlock(&inode->ext_lock);
	if (err)
		return err;
	return lblk < end ? 0 : -ENXIO;
}

/* Blocks under the node @eh at @depth: data blocks plus nodes below it. */
static uint64_t ext_count(struct inode *inode, struct folio_extent_header *eh, unsigned depth)
{
	uint64_t total = 0;
	unsigned n = eh_count(eh);

	if (!depth) {
		for (unsigned i = 0; i < n; i++)
			total += le32_to_cpu(ext_ents(eh)[i].ee_len);
		return total;
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t child = le64_to_cpu(idx_ents(eh)[i].ei_child);
		struct buffer_head *bh;
		int err = 0;

		bh = ext_bread_node(inode, child, depth - 1, &err);
		if (!bh)
			continue;
		total += 1 + ext_count(inode, node_eh(bh), depth - 1);
		brelse(bh);
	}
	return total;
}

/**
 * fs_extent_blocks - count the blocks the extent tree owns
 * @inode: the inode
 *
 * Data blocks (written and unwritten) and tree nodes; unreadable nodes are
 * left out (and reported as corruption).
 *
 * Context: may sleep; takes ext_lock shared.
 * Return: the count.
 */
uint64_t fs_extent_blocks(struct inode *inode)
{
	struct folio_extent_header *root = &inode->di->i_extents.eh;
	uint64_t n;

	pthread_rwlock_rdlock(&inode->ext_lock);
	n = ext_count(inode, root, le16_to_cpu(root->eh_depth));
	pthread_rwlock_unlock(&inode->ext_lock);
	return n;
}
