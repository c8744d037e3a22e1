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
 *
 * -y removes what breaks a rule: a leaf extent (also one whose blocks another
 * owner or metadata claimed first), an index entry with its subtree; a node
 * left empty is removed from its parent, an index root left empty becomes an
 * empty leaf. A node whose only fault is its checksum gets a new one. Nodes
 * are written as soon as they are walked, the root through the inode.
 */
#include "config.h"

#include "tools/fsck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Logical range [lo, hi) a node may cover. */
struct fsck_range {
	uint64_t lo, hi;
};

/* What to do with an entry: keep it, or (-y) remove it from its node. */
enum { FX_KEEP, FX_DROP };

static bool fsck_walk_node(struct fsck *f, struct fsck_extent_walk *w,
			   struct folio_extent_header *eh, uint64_t blk, struct fsck_range r);

/* A bad extent: removed with -y, else the walk stops counting (w->bad). */
static int fsck_bad_extent(struct fsck *f, struct fsck_extent_walk *w, bool stop)
{
	if (f->mode == FSCK_YES)
		return FX_DROP;
	if (stop)
		w->bad = true;
	return FX_KEEP;
}

static int fsck_leaf_extent(struct fsck *f, struct fsck_extent_walk *w, struct folio_extent *e,
			    struct fsck_range r, bool *changed)
{
	uint64_t lblk = le64_to_cpu(e->ee_lblk), pblk = le64_to_cpu(e->ee_pblk);
	uint32_t len = le32_to_cpu(e->ee_len), flags = le32_to_cpu(e->ee_flags);

	if (!len || lblk < r.lo || lblk >= r.hi || len > r.hi - lblk) {
		fsck_fix(f, FX_YES, "inode %u: extent at logical block %" PRIu64 " (+%u) %s",
			 w->ino, lblk, len, len ? "outside its node's range" : "has length 0");
		return fsck_bad_extent(f, w, true);
	}
	if (lblk < w->next) {
		fsck_fix(f, FX_YES,
			 "inode %u: extent at logical block %" PRIu64
			 " overlaps or precedes the previous one",
			 w->ino, lblk);
		return fsck_bad_extent(f, w, true);
	}
	if ((flags & ~FOLIO_EXT_UNWRITTEN) &&
	    fsck_fix(f, FX_YES, "inode %u: extent at logical block %" PRIu64 " has flags 0x%x",
		     w->ino, lblk, flags)) {
		e->ee_flags = cpu_to_le32(flags & FOLIO_EXT_UNWRITTEN);
		*changed = true;
	}
	if (!fsck_range_ok(f, pblk, len)) {
		fsck_fix(f, FX_YES,
			 "inode %u: extent at logical block %" PRIu64 " maps blocks %" PRIu64
			 "-%" PRIu64 " outside the filesystem",
			 w->ino, lblk, pblk, pblk + len - 1);
		if (fsck_bad_extent(f, w, true) == FX_DROP)
			return FX_DROP;
	} else if (!fsck_claim_free(f, pblk, len)) {
		fsck_fix(f, FX_YES,
			 "inode %u: extent at logical block %" PRIu64 " maps blocks %" PRIu64
			 "-%" PRIu64 " already in use",
			 w->ino, lblk, pblk, pblk + len - 1);
		return FX_DROP;
	} else {
		fsck_claim(f, pblk, len, w->ino, FK_DATA);
	}
	w->holes += lblk - w->next;
	w->next = w->end = lblk + len;
	w->data_blocks += len;
	if (flags & FOLIO_EXT_UNWRITTEN)
		w->unwritten += len;
	return FX_KEEP;
}

/* Check a child node's header; FX_DROP when -y must remove it. */
static int fsck_child_header(struct fsck *f, struct fsck_extent_walk *w, uint8_t *buf,
			     uint64_t child, uint16_t depth, bool *changed)
{
	const struct folio_extent_block *eb = (const void *)buf;
	int ret = folio_block_check(f->seed, buf, f->g.block_size, FOLIO_EXT_MAGIC, child, w->ino);

	if (ret == -EUCLEAN) {
		fsck_fix(f, FX_YES,
			 "inode %u: extent node at block %" PRIu64
			 ": bad magic, block number or owner",
			 w->ino, child);
		return fsck_bad_extent(f, w, true);
	}
	if (folio_eh_check(&eb->eh, f->g.ext_node_max) || le16_to_cpu(eb->eh.eh_depth) != depth) {
		if (ret == -EBADMSG)
			fsck_problem(
				f, "inode %u: extent node at block %" PRIu64 ": checksum mismatch",
				w->ino, child);
		fsck_fix(f, FX_YES, "inode %u: extent node at block %" PRIu64 ": bad header",
			 w->ino, child);
		return fsck_bad_extent(f, w, true);
	}
	/* Only the checksum is wrong: -y recomputes it after the walk. */
	if (ret == -EBADMSG)
		*changed |= fsck_fix(
			f, FX_YES, "inode %u: extent node at block %" PRIu64 ": checksum mismatch",
			w->ino, child);
	return FX_KEEP;
}

/* Read, check and descend into the child of an index entry. */
static int fsck_child(struct fsck *f, struct fsck_extent_walk *w, uint64_t child, uint16_t depth,
		      struct fsck_range r)
{
	struct fsck_extent_walk saved = *w;
	bool changed = false;
	uint8_t *buf;
	int v;

	if (!fsck_range_ok(f, child, 1) || !fsck_claim_free(f, child, 1)) {
		fsck_fix(f, FX_YES, "inode %u: extent node pointer %" PRIu64 " %s", w->ino, child,
			 fsck_range_ok(f, child, 1) ? "to a block already in use"
						    : "outside the filesystem");
		return fsck_bad_extent(f, w, true);
	}
	fsck_claim(f, child, 1, w->ino, FK_EXTNODE);
	w->node_blocks++;
	f->n_tree_blocks++;
	buf = fsck_block_alloc(1, f->g.block_size);
	fsck_read(f, child, 1, buf);
	v = fsck_child_header(f, w, buf, child, depth, &changed);
	if (v == FX_KEEP && !w->bad) {
		changed |= fsck_walk_node(f, w, &((struct folio_extent_block *)buf)->eh, child, r);
		if (f->mode == FSCK_YES && !((struct folio_extent_block *)buf)->eh.eh_entries) {
			fsck_fix(f, FX_YES, "inode %u: extent node at block %" PRIu64 " left empty",
				 w->ino, child);
			v = FX_DROP;
		}
	}
	if (v == FX_KEEP && changed && f->mode == FSCK_YES) {
		folio_block_csum_set(f->seed, buf, f->g.block_size);
		fsck_write(f, child, 1, buf);
	}
	if (v == FX_DROP) {
		saved.bad = w->bad;
		*w = saved;
	}
	free(buf);
	return v;
}

static int fsck_index_entry(struct fsck *f, struct fsck_extent_walk *w,
			    struct folio_extent_header *eh, uint16_t i, struct fsck_range r)
{
	const struct folio_extent_idx *idx = (const void *)(eh + 1);
	uint16_t n = le16_to_cpu(eh->eh_entries), depth = le16_to_cpu(eh->eh_depth);
	uint64_t key = le64_to_cpu(idx[i].ei_lblk);
	uint64_t next = i + 1 < n ? le64_to_cpu(idx[i + 1].ei_lblk) : r.hi;
	struct fsck_range cr = {i ? key : r.lo, next};

	if (key < r.lo || key >= r.hi || (i + 1 < n && next <= key) ||
	    (i && key <= le64_to_cpu(idx[i - 1].ei_lblk))) {
		fsck_fix(f, FX_YES,
			 "inode %u: extent index key %" PRIu64
			 " out of order or outside its node's range",
			 w->ino, key);
		return fsck_bad_extent(f, w, true);
	}
	return fsck_child(f, w, le64_to_cpu(idx[i].ei_child), depth - 1, cr);
}

/* Walk a node's entries, removing those -y drops; true when it changed. */
static bool fsck_walk_node(struct fsck *f, struct fsck_extent_walk *w,
			   struct folio_extent_header *eh, uint64_t blk, struct fsck_range r)
{
	struct folio_extent *ext = (void *)(eh + 1);
	bool changed = false;

	if (blk && !eh->eh_entries) {
		fsck_fix(f, FX_YES, "inode %u: empty extent node at block %" PRIu64, w->ino, blk);
		fsck_bad_extent(f, w, true);
		return false;
	}
	for (uint16_t i = 0; i < le16_to_cpu(eh->eh_entries) && !w->bad;) {
		uint16_t n = le16_to_cpu(eh->eh_entries);
		int v = eh->eh_depth ? fsck_index_entry(f, w, eh, i, r)
				     : fsck_leaf_extent(f, w, &ext[i], r, &changed);

		if (v == FX_KEEP) {
			i++;
			continue;
		}
		memmove(&ext[i], &ext[i + 1], (size_t)(n - i - 1) * sizeof(*ext));
		memset(&ext[n - 1], 0, sizeof(*ext));
		eh->eh_entries = cpu_to_le16((uint16_t)(n - 1));
		changed = true;
	}
	return changed;
}

/**
 * fsck_walk_extents - check an inode's extent tree and claim its blocks
 * @f: the check
 * @ino: the inode number
 * @root: the inode's i_extents (-y may change it: w->root_changed)
 * @w: filled with what the tree maps (see struct fsck_extent_walk)
 *
 * Context: fsck's only thread.
 */
void fsck_walk_extents(struct fsck *f, uint32_t ino, struct folio_extent_root *root,
		       struct fsck_extent_walk *w)
{
	struct fsck_range all = {0, FOLIO_MAX_LBLK};

	*w = (struct fsck_extent_walk){.ino = ino};
	if (folio_eh_check(&root->eh, FOLIO_EXT_INLINE)) {
		if (fsck_fix(f, FX_YES, "inode %u: bad extent root header: file emptied", ino)) {
			memset(root, 0, sizeof(*root));
			folio_eh_init(&root->eh, FOLIO_EXT_INLINE, 0);
			w->root_changed = true;
		} else {
			w->bad = true;
		}
		return;
	}
	w->root_changed = fsck_walk_node(f, w, &root->eh, 0, all);
	if (!root->eh.eh_entries && root->eh.eh_depth) {
		root->eh.eh_depth = 0;
		w->root_changed = true;
	}
}
