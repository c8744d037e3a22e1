/*
 * tools/fsck_extent.c - fsck.foliofs: extent trees.
 *
 * Interface (tools/fsck.h): fsck_walk_extents() checks the tree rooted in an
 * inode and claims every block it maps or occupies.
 *
 * Rules checked (docs/ON-DISK.md, "Extent trees"): header magic, capacity and
 * depth; each node one level below its parent; no empty node except the root;
 * index keys strictly increasing and inside the range the parent gives the
 * node; leaf extents non-empty, sorted, not overlapping, inside the node's
 * range and below FOLIO_MAX_LBLK, physically inside the filesystem; nodes with
 * a sound header, checksum, block number and owner. Overlaps between files or
 * with metadata are found later from the claims (fsck_bitmap.c).
 */
#include "config.h"

#include "tools/fsck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

/* Logical range [lo, hi) a node may cover. */
struct fsck_range {
	uint64_t lo, hi;
};

static void fsck_walk_node(struct fsck *f, struct fsck_extent_walk *w,
			   const struct folio_extent_header *eh, uint64_t blk, struct fsck_range r);

static void fsck_leaf_extent(struct fsck *f, struct fsck_extent_walk *w,
			     const struct folio_extent *e, struct fsck_range r)
{
	uint64_t lblk = le64_to_cpu(e->ee_lblk), pblk = le64_to_cpu(e->ee_pblk);
	uint32_t len = le32_to_cpu(e->ee_len), flags = le32_to_cpu(e->ee_flags);

	if (!len || lblk < r.lo || lblk >= r.hi || len > r.hi - lblk) {
		fsck_problem(f, "inode %u: extent at logical block %" PRIu64 " (+%u) %s", w->ino,
			     lblk, len, len ? "outside its node's range" : "has length 0");
		w->bad = true;
		return;
	}
	if (lblk < w->next) {
		fsck_problem(f,
			     "inode %u: extent at logical block %" PRIu64
			     " overlaps or precedes the previous one",
			     w->ino, lblk);
		w->bad = true;
		return;
	}
	if (flags & ~FOLIO_EXT_UNWRITTEN)
		fsck_problem(f, "inode %u: extent at logical block %" PRIu64 " has flags 0x%x",
			     w->ino, lblk, flags);
	if (!fsck_range_ok(f, pblk, len)) {
		fsck_problem(f,
			     "inode %u: extent at logical block %" PRIu64 " maps blocks %" PRIu64
			     "-%" PRIu64 " outside the filesystem",
			     w->ino, lblk, pblk, pblk + len - 1);
		w->bad = true;
	} else {
		fsck_claim(f, pblk, len, w->ino, FK_DATA);
	}
	w->holes += lblk - w->next;
	w->next = w->end = lblk + len;
	w->data_blocks += len;
	if (flags & FOLIO_EXT_UNWRITTEN)
		w->unwritten += len;
}

/* Read, check and descend into the child of an index entry. */
static void fsck_child(struct fsck *f, struct fsck_extent_walk *w, uint64_t child, uint16_t depth,
		       struct fsck_range r)
{
	uint8_t *buf;
	const struct folio_extent_block *eb;
	int ret;

	if (!fsck_range_ok(f, child, 1)) {
		fsck_problem(f, "inode %u: extent node pointer %" PRIu64 " outside the filesystem",
			     w->ino, child);
		w->bad = true;
		return;
	}
	fsck_claim(f, child, 1, w->ino, FK_EXTNODE);
	w->node_blocks++;
	f->n_tree_blocks++;
	buf = fsck_block_alloc(1, f->g.block_size);
	fsck_read(f, child, 1, buf);
	eb = (const void *)buf;
	ret = folio_block_check(f->seed, buf, f->g.block_size, FOLIO_EXT_MAGIC, child, w->ino);
	if (ret == -EBADMSG)
		fsck_problem(f, "inode %u: extent node at block %" PRIu64 ": checksum mismatch",
			     w->ino, child);
	else if (ret)
		fsck_problem(f,
			     "inode %u: extent node at block %" PRIu64
			     ": bad magic, block number or owner",
			     w->ino, child);
	if (ret == -EUCLEAN || folio_eh_check(&eb->eh, f->g.ext_node_max) ||
	    le16_to_cpu(eb->eh.eh_depth) != depth) {
		if (ret != -EUCLEAN)
			fsck_problem(f, "inode %u: extent node at block %" PRIu64 ": bad header",
				     w->ino, child);
		w->bad = true;
	} else {
		fsck_walk_node(f, w, &eb->eh, child, r);
	}
	free(buf);
}

static void fsck_index_node(struct fsck *f, struct fsck_extent_walk *w,
			    const struct folio_extent_header *eh, struct fsck_range r)
{
	const struct folio_extent_idx *idx = (const void *)(eh + 1);
	uint16_t n = le16_to_cpu(eh->eh_entries), depth = le16_to_cpu(eh->eh_depth);

	for (uint16_t i = 0; i < n; i++) {
		uint64_t key = le64_to_cpu(idx[i].ei_lblk);
		uint64_t next = i + 1 < n ? le64_to_cpu(idx[i + 1].ei_lblk) : r.hi;
		struct fsck_range cr = {i ? key : r.lo, next};

		if (key < r.lo || key >= r.hi || (i + 1 < n && next <= key)) {
			fsck_problem(f,
				     "inode %u: extent index key %" PRIu64
				     " out of order or outside its node's range",
				     w->ino, key);
			w->bad = true;
			return;
		}
		fsck_child(f, w, le64_to_cpu(idx[i].ei_child), depth - 1, cr);
	}
}

static void fsck_walk_node(struct fsck *f, struct fsck_extent_walk *w,
			   const struct folio_extent_header *eh, uint64_t blk, struct fsck_range r)
{
	const struct folio_extent *ext = (const void *)(eh + 1);
	uint16_t n = le16_to_cpu(eh->eh_entries);

	if (blk && n == 0) {
		fsck_problem(f, "inode %u: empty extent node at block %" PRIu64, w->ino, blk);
		w->bad = true;
		return;
	}
	if (le16_to_cpu(eh->eh_depth)) {
		fsck_index_node(f, w, eh, r);
		return;
	}
	for (uint16_t i = 0; i < n && !w->bad; i++)
		fsck_leaf_extent(f, w, &ext[i], r);
}

/**
 * fsck_walk_extents - check an inode's extent tree and claim its blocks
 * @f: the check
 * @ino: the inode number
 * @root: the inode's i_extents
 * @w: filled with what the tree maps (see struct fsck_extent_walk)
 *
 * Context: fsck's only thread.
 */
void fsck_walk_extents(struct fsck *f, uint32_t ino, const struct folio_extent_root *root,
		       struct fsck_extent_walk *w)
{
	struct fsck_range all = {0, FOLIO_MAX_LBLK};

	*w = (struct fsck_extent_walk){.ino = ino};
	if (folio_eh_check(&root->eh, FOLIO_EXT_INLINE)) {
		fsck_problem(f, "inode %u: bad extent root header", ino);
		w->bad = true;
		return;
	}
	fsck_walk_node(f, w, &root->eh, 0, all);
}
