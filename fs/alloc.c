/*
 * fs/alloc.c - block and inode allocation: the per-group bitmaps, the group
 * descriptors' free counts and checksums, and the filesystem-wide totals.
 *
 * Interface (fs/fs.h, "alloc.c"): fs_alloc_blocks, fs_free_blocks,
 * fs_alloc_ino, fs_free_ino, fs_groups_load, fs_read_gd, fs_ino_test,
 * fs_ino_bread.
 *
 * Policy:
 *  - Blocks: first fit from a goal. File data asks for the block right after
 *    the file's previous one, so sequential writes land contiguously. A
 *    request for several blocks takes the first free run at the goal, else
 *    the first run in the group long enough, else the first free run at all.
 *    Groups are tried from the goal's, wrapping around.
 *  - Inodes: a directory goes to the next group (round robin from
 *    fs->alloc_rotor) whose free inodes are at least the average, spreading
 *    directories; anything else goes to its parent's group, else the next
 *    group with a free inode.
 *  - s_reserved_blocks is reported by statfs but not enforced here: the
 *    daemon does not know the caller's identity at this level.
 *
 * Invariants (each change is made under fs->group_lock[g], bitmap first,
 * descriptor second, each under its own buffer lock):
 *  - bg_free_blocks / bg_free_inodes equal the zero bits of the bitmaps;
 *    bg_*_bitmap_csum match them; bg_checksum matches the descriptor.
 *  - fs->free_blocks / fs->free_inodes are the sums of the descriptors' free
 *    counts (exact at every moment a group lock is not held).
 *  - A freed block leaves the device mapping's cache first (dirty contents
 *    dropped), so stale metadata can never be written over its next owner.
 *    Callers therefore release (brelse) every head of blocks they free.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"

/* Free run a request prefers when its goal is taken (blocks). */
#define ALLOC_MIN_RUN 64

/* One group's descriptor and one of its bitmaps, in use. */
struct fs_grp {
	struct fs *fs;
	uint32_t g;
	struct buffer_head *gbh;     /* descriptor table block */
	struct folio_group_desc *gd; /* inside gbh */
	struct buffer_head *mbh;     /* the bitmap */
	uint8_t *map;
};

/* ---- bitmaps ---- */

static inline bool bm_test(const uint8_t *map, uint32_t i)
{
	return map[i >> 3] & (1U << (i & 7));
}

/* First zero bit in [start, end), or end. */
static uint32_t bm_find_zero(const uint8_t *map, uint32_t start, uint32_t end)
{
	uint32_t i = start;

	while (i < end) {
		if (!(i & 63) && i + 64 <= end) {
			uint64_t w;

			memcpy(&w, map + (i >> 3), sizeof(w));
			w = le64toh(w);
			if (w == ~0ULL) {
				i += 64;
				continue;
			}
			return i + (uint32_t)__builtin_ctzll(~w);
		}
		if (!bm_test(map, i))
			return i;
		i++;
	}
	return end;
}

/* Length of the run of zero bits at @start, at most @max, below @end. */
static uint32_t bm_zero_run(const uint8_t *map, uint32_t start, uint32_t end, uint32_t max)
{
	uint32_t i = start;

	while (i < end && i - start < max && !bm_test(map, i))
		i++;
	return i - start;
}

/* Set bits among the first @n. */
static uint32_t bm_weight(const uint8_t *map, uint32_t n)
{
	uint32_t k = 0, i;

	for (i = 0; i + 8 <= n; i += 8)
		k += (uint32_t)__builtin_popcount(map[i >> 3]);
	for (; i < n; i++)
		k += bm_test(map, i);
	return k;
}

/* Are the bits of blocks [first, first + n) that fall in the group starting
 * at @base (of @nb blocks) all set? */
static bool bm_covers(const uint8_t *map, uint64_t base, uint32_t nb, uint64_t first, uint64_t n)
{
	uint64_t lo = first > base ? first : base;
	uint64_t hi = first + n < base + nb ? first + n : base + nb;

	for (uint64_t b = lo; b < hi; b++)
		if (!bm_test(map, (uint32_t)(b - base)))
			return false;
	return true;
}

static void bm_set_range(uint8_t *map, uint32_t start, uint32_t n, bool on)
{
	for (uint32_t i = start; i < start + n; i++) {
		if (on)
			map[i >> 3] |= (uint8_t)(1U << (i & 7));
		else
			map[i >> 3] &= (uint8_t) ~(1U << (i & 7));
	}
}

/* ---- descriptors ---- */

static struct buffer_head *gd_bread(struct fs *fs, uint32_t g, struct folio_group_desc **gd,
				    int *err)
{
	struct buffer_head *bh;
	uint64_t blk;
	uint32_t off;
	bool fresh, ok = true;

	folio_gd_pos(&fs->geom, g, &blk, &off);
	bh = fs_bread_fresh(fs, blk, &fresh, err);
	if (!bh)
		return NULL;
	*gd = (struct folio_group_desc *)(bh->b_data + off);
	if (fresh) {
		/* read back after reclaim: check it again (stable under the lock) */
		lock_buffer(bh);
		ok = folio_gd_csum_ok(fs->csum_seed, g, *gd);
		unlock_buffer(bh);
	}
	if (!ok) {
		brelse(bh);
		fs_bforget(fs, blk, 1); /* the next read checks it again */
		*err = fs_corrupt(fs, 0, "group descriptor %" PRIu32 ": checksum mismatch", g);
		return NULL;
	}
	return bh;
}

/**
 * fs_read_gd - copy a group descriptor
 * @fs: the filesystem
 * @group: the group
 * @out: receives the descriptor
 *
 * The locations in it never change while mounted; the counts may be stale as
 * soon as this returns.
 *
 * Context: may sleep; no buffer lock held.
 * Return: 0 or a negative errno.
 */
int fs_read_gd(struct fs *fs, uint32_t group, struct folio_group_desc *out)
{
	struct folio_group_desc *gd;
	struct buffer_head *bh;
	int err = 0;

	if (group >= fs->geom.groups_count)
		return fs_corrupt(fs, 0, "group %" PRIu32 " out of range", group);
	bh = gd_bread(fs, group, &gd, &err);
	if (!bh)
		return err;
	memcpy(out, gd, sizeof(*out));
	brelse(bh);
	return 0;
}

/**
 * fs_ino_bread - read the inode table block holding an inode's slot
 * @fs: the filesystem
 * @ino: the inode number (valid range)
 * @slot: receives the slot's address inside the block
 * @err: receives the negative errno on failure
 *
 * The slot is read and changed under lock_buffer() of the head returned.
 *
 * Context: may sleep; no buffer lock held.
 * Return: the head in use (brelse() it), or NULL.
 */
struct buffer_head *fs_ino_bread(struct fs *fs, uint32_t ino, struct folio_inode **slot, int *err)
{
	struct folio_group_desc gd;
	struct buffer_head *bh;
	uint64_t blk;
	uint32_t off;

	*err = fs_read_gd(fs, folio_ino_group(&fs->geom, ino), &gd);
	if (*err)
		return NULL;
	folio_inode_pos(&fs->geom, le64_to_cpu(gd.bg_inode_table), ino, &blk, &off);
	bh = fs_bread(fs, blk, err);
	if (bh)
		*slot = (struct folio_inode *)(bh->b_data + off);
	return bh;
}

/* Is [blk, blk + n) inside group @g (after the descriptor table in group 0)? */
static bool gd_range_ok(struct fs *fs, uint32_t g, uint64_t blk, uint64_t n)
{
	uint64_t lo = folio_group_first_block(&fs->geom, g);
	uint64_t hi = lo + folio_group_nblocks(&fs->geom, g);

	if (!g)
		lo = fs->geom.gdt_block + fs->geom.gdt_blocks;
	return blk >= lo && blk + n <= hi && blk + n > blk;
}

/* Do a descriptor's block bitmap, inode bitmap, inode table and the
 * journal (or the backup superblock) share a block? */
static bool gd_overlap(struct fs *fs, const struct folio_group_desc *gd)
{
	struct fs_meta_loc m = {le64_to_cpu(gd->bg_block_bitmap), le64_to_cpu(gd->bg_inode_bitmap),
				le64_to_cpu(gd->bg_inode_table)};
	uint64_t it_end = m.inode_table + fs->geom.itable_blocks;

	if (m.block_bitmap == m.inode_bitmap ||
	    (m.block_bitmap >= m.inode_table && m.block_bitmap < it_end) ||
	    (m.inode_bitmap >= m.inode_table && m.inode_bitmap < it_end))
		return true;
	/* each of them must be clear of the journal and backup superblock */
	return !fs_blocks_are_data(fs, m.block_bitmap, 1) ||
	       !fs_blocks_are_data(fs, m.inode_bitmap, 1) ||
	       !fs_blocks_are_data(fs, m.inode_table, fs->geom.itable_blocks);
}

static int gd_check(struct fs *fs, uint32_t g, const struct folio_group_desc *gd, char *msg,
		    size_t msglen)
{
	if (!folio_gd_csum_ok(fs->csum_seed, g, gd)) {
		snprintf(msg, msglen, "group descriptor %" PRIu32 ": checksum mismatch", g);
		return -EBADMSG;
	}
	if (!gd_range_ok(fs, g, le64_to_cpu(gd->bg_block_bitmap), 1) ||
	    !gd_range_ok(fs, g, le64_to_cpu(gd->bg_inode_bitmap), 1) ||
	    !gd_range_ok(fs, g, le64_to_cpu(gd->bg_inode_table), fs->geom.itable_blocks)) {
		snprintf(msg, msglen,
			 "group descriptor %" PRIu32 ": bitmaps or inode table outside the group",
			 g);
		return -EUCLEAN;
	}
	if (gd_overlap(fs, gd)) {
		snprintf(msg, msglen,
			 "group descriptor %" PRIu32
			 ": bitmaps, inode table or journal overlap each other",
			 g);
		return -EUCLEAN;
	}
	if (le32_to_cpu(gd->bg_free_blocks) > folio_group_nblocks(&fs->geom, g) ||
	    le32_to_cpu(gd->bg_free_inodes) > fs->geom.inodes_per_group) {
		snprintf(msg, msglen, "group descriptor %" PRIu32 ": free counts exceed the group",
			 g);
		return -EUCLEAN;
	}
	return 0;
}

/**
 * fs_groups_load - check every group descriptor and total the free counts
 * @fs: the filesystem being mounted (geometry and device mapping set up)
 * @msg: receives one line on failure
 * @msglen: size of @msg
 *
 * Also records each group's metadata locations in fs->meta_loc (for
 * fs_blocks_are_data()).
 *
 * Context: mount, single-threaded.
 * Return: 0; -EBADMSG for a checksum mismatch, -EUCLEAN for a descriptor
 * whose locations or counts are impossible (outside its group, overlapping
 * each other or the journal), -ENOMEM, or a read error.
 */
int fs_groups_load(struct fs *fs, char *msg, size_t msglen)
{
	uint64_t free_blocks = 0, free_inodes = 0;
	struct folio_group_desc *gd;
	struct buffer_head *bh;
	struct fs_meta_loc *loc = calloc(fs->geom.groups_count, sizeof(*loc));
	int err = 0;

	if (!loc) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t g = 0; g < fs->geom.groups_count; g++) {
		uint64_t blk;
		uint32_t off;

		folio_gd_pos(&fs->geom, g, &blk, &off);
		bh = fs_bread(fs, blk, &err);
		if (!bh) {
			snprintf(msg, msglen, "cannot read group descriptor %" PRIu32 ": %s", g,
				 strerror(-err));
			free(loc);
			return err;
		}
		gd = (struct folio_group_desc *)(bh->b_data + off);
		err = gd_check(fs, g, gd, msg, msglen);
		loc[g] = (struct fs_meta_loc){le64_to_cpu(gd->bg_block_bitmap),
					      le64_to_cpu(gd->bg_inode_bitmap),
					      le64_to_cpu(gd->bg_inode_table)};
		free_blocks += le32_to_cpu(gd->bg_free_blocks);
		free_inodes += le32_to_cpu(gd->bg_free_inodes);
		brelse(bh);
		if (err) {
			free(loc);
			return err;
		}
	}
	fs->meta_loc = loc; /* set last: gd_overlap() must not compare with it */
	atomic_store(&fs->free_blocks, free_blocks);
	atomic_store(&fs->free_inodes, (uint32_t)free_inodes);
	return 0;
}

/* ---- one group, locked ---- */

/* What is wrong with a bitmap just read from the device, or NULL: its zero
 * bits must match the descriptor's free count, and the group's own metadata
 * (bitmaps, inode table; in group 0 the superblock and descriptor table;
 * the journal and backup superblock where they fall) and the reserved
 * inodes must be marked in use, so the allocators never hand them out. */
static const char *grp_bitmap_bad(struct fs *fs, const struct fs_grp *x, bool inodes)
{
	const struct folio_geom *g = &fs->geom;
	const struct folio_group_desc *gd = x->gd;
	uint32_t n = inodes ? g->inodes_per_group : folio_group_nblocks(g, x->g);
	uint64_t base = folio_group_first_block(g, x->g);

	if (n - bm_weight(x->map, n) !=
	    le32_to_cpu(inodes ? gd->bg_free_inodes : gd->bg_free_blocks))
		return "free count differs from the bitmap";
	if (inodes)
		return x->g || bm_weight(x->map, FOLIO_FIRST_INO - 1) == FOLIO_FIRST_INO - 1
			       ? NULL
			       : "a reserved inode marked free";
	if (!bm_covers(x->map, base, n, le64_to_cpu(gd->bg_block_bitmap), 1) ||
	    !bm_covers(x->map, base, n, le64_to_cpu(gd->bg_inode_bitmap), 1) ||
	    !bm_covers(x->map, base, n, le64_to_cpu(gd->bg_inode_table), g->itable_blocks) ||
	    !bm_covers(x->map, base, n, 0, g->gdt_block + g->gdt_blocks))
		return "its own metadata marked free";
	if ((le32_to_cpu(fs->sb.s_feature_compat) & FOLIO_COMPAT_JOURNAL) &&
	    !bm_covers(x->map, base, n, le64_to_cpu(fs->sb.s_journal_block),
		       le64_to_cpu(fs->sb.s_journal_blocks)))
		return "journal blocks marked free";
	if ((le32_to_cpu(fs->sb.s_feature_compat) & FOLIO_COMPAT_BACKUP_SB) &&
	    !bm_covers(x->map, base, n, le64_to_cpu(fs->sb.s_backup_sb_block), 1))
		return "the backup superblock marked free";
	return NULL;
}

/* Get group @g's descriptor and one bitmap (its checksum and contents
 * verified when it was just read from the device); group lock held. */
static int grp_get(struct fs *fs, uint32_t g, bool inodes, struct fs_grp *x)
{
	const char *why;
	uint64_t blk;
	uint32_t want;
	bool fresh;
	int err = 0;

	x->fs = fs;
	x->g = g;
	x->mbh = NULL;
	x->gbh = gd_bread(fs, g, &x->gd, &err);
	if (!x->gbh)
		return err;
	blk = le64_to_cpu(inodes ? x->gd->bg_inode_bitmap : x->gd->bg_block_bitmap);
	want = le32_to_cpu(inodes ? x->gd->bg_inode_bitmap_csum : x->gd->bg_block_bitmap_csum);
	x->mbh = fs_bread_fresh(fs, blk, &fresh, &err);
	if (!x->mbh)
		goto out;
	if (fresh &&
	    folio_bitmap_csum(fs->csum_seed, x->mbh->b_data, fs->geom.block_size) != want) {
		brelse(x->mbh);
		x->mbh = NULL;
		fs_bforget(fs, blk, 1); /* the next read checks it again */
		err = fs_corrupt(fs, 0, "group %" PRIu32 ": %s bitmap checksum mismatch", g,
				 inodes ? "inode" : "block");
		goto out;
	}
	x->map = (uint8_t *)x->mbh->b_data;
	if (fresh && (why = grp_bitmap_bad(fs, x, inodes))) {
		brelse(x->mbh);
		x->mbh = NULL;
		fs_bforget(fs, blk, 1);
		err = fs_corrupt(fs, 0, "group %" PRIu32 ": %s bitmap (block %" PRIu64 "): %s", g,
				 inodes ? "inode" : "block", blk, why);
		goto out;
	}
	return 0;
out:
	brelse(x->mbh);
	brelse(x->gbh);
	return err;
}

static void grp_put(struct fs_grp *x)
{
	brelse(x->mbh);
	brelse(x->gbh);
}

/* Set (@on) or clear bits [start, start + n) of the group's bitmap, then
 * bring the descriptor along: free count, bitmap checksum, used directories
 * (+@ddirs), descriptor checksum. The bits are known to flip. */
static void grp_change(struct fs_grp *x, bool inodes, uint32_t start, uint32_t n, bool on,
		       int ddirs)
{
	struct fs *fs = x->fs;
	struct folio_group_desc *gd = x->gd;
	uint32_t csum, nfree;

	lock_buffer(x->mbh);
	bm_set_range(x->map, start, n, on);
	csum = folio_bitmap_csum(fs->csum_seed, x->map, fs->geom.block_size);
	fs_meta_dirty(fs, x->mbh);
	unlock_buffer(x->mbh);
	lock_buffer(x->gbh);
	if (inodes) {
		nfree = le32_to_cpu(gd->bg_free_inodes);
		gd->bg_free_inodes = cpu_to_le32(on ? nfree - n : nfree + n);
		gd->bg_inode_bitmap_csum = cpu_to_le32(csum);
		gd->bg_used_dirs = cpu_to_le32(le32_to_cpu(gd->bg_used_dirs) + ddirs);
	} else {
		nfree = le32_to_cpu(gd->bg_free_blocks);
		gd->bg_free_blocks = cpu_to_le32(on ? nfree - n : nfree + n);
		gd->bg_block_bitmap_csum = cpu_to_le32(csum);
	}
	folio_gd_csum_set(fs->csum_seed, x->g, gd);
	fs_meta_dirty(fs, x->gbh);
	unlock_buffer(x->gbh);
}

/* ---- blocks ---- */

/* Where to take up to @want blocks in a group's bitmap: the run at @goal,
 * else the first run of max(@want, ALLOC_MIN_RUN) from the goal on
 * (wrapping), so that a new stream starts where it has room to grow
 * contiguously, else the first free run met. Returns the start and sets
 * *len (0: the bitmap is full). */
static uint32_t grp_pick_run(const uint8_t *map, uint32_t n, uint32_t goal, uint32_t want,
			     uint32_t *len)
{
	uint32_t first = n, flen = 0, need = want > ALLOC_MIN_RUN ? want : ALLOC_MIN_RUN;

	if (goal >= n)
		goal = 0;
	if (!bm_test(map, goal)) {
		*len = bm_zero_run(map, goal, n, want);
		return goal;
	}
	for (int pass = 0; pass < 2; pass++) {
		uint32_t lo = pass ? 0 : goal, hi = pass ? goal : n;

		for (uint32_t i = bm_find_zero(map, lo, hi); i < hi;) {
			uint32_t run = bm_zero_run(map, i, n, need);

			if (first == n) {
				first = i;
				flen = run < want ? run : want;
			}
			if (run >= need) {
				*len = want;
				return i;
			}
			i = bm_find_zero(map, i + run, hi);
		}
	}
	*len = flen;
	return first;
}

/* grp_pick_run() over the group's bitmap, with the blocks that uncommitted
 * transactions freed counted as used (the journal keeps them until their
 * commit). *busy says whether there were any. */
static uint32_t grp_pick_free_run(struct fs *fs, uint32_t g, struct fs_grp *x, uint32_t n,
				  uint32_t goal, uint32_t want, uint32_t *len, bool *busy)
{
	uint64_t base = folio_group_first_block(&fs->geom, g);
	uint8_t *map;
	uint32_t start;

	*busy = fs_journal_busy(fs, base, n) != 0;
	if (!*busy)
		return grp_pick_run(x->map, n, goal, want, len);
	map = malloc(fs->geom.block_size);
	if (!map) {
		*len = 0;
		return 0;
	}
	memcpy(map, x->map, fs->geom.block_size);
	fs_journal_busy_mark(fs, base, n, map);
	start = grp_pick_run(map, n, goal, want, len);
	free(map);
	return start;
}

/* Allocate in one group; returns blocks taken (0: none free) or an error. */
static int grp_alloc_blocks(struct fs *fs, uint32_t g, uint32_t goal, uint32_t want,
			    uint64_t *first)
{
	uint32_t n = folio_group_nblocks(&fs->geom, g), start, len = 0;
	struct fs_grp x;
	bool busy;
	int err;

	pthread_mutex_lock(&fs->group_lock[g]);
	err = grp_get(fs, g, false, &x);
	if (err)
		goto out;
	if (!le32_to_cpu(x.gd->bg_free_blocks))
		goto put;
	start = grp_pick_free_run(fs, g, &x, n, goal, want, &len, &busy);
	if (!len) {
		if (!busy)
			err = fs_corrupt(fs, 0, "group %" PRIu32 ": %u free blocks but a full bitmap",
					 g, le32_to_cpu(x.gd->bg_free_blocks));
		goto put;
	}
	*first = folio_group_first_block(&fs->geom, g) + start;
	if (!fs_blocks_are_data(fs, *first, len)) { /* a bitmap that lies */
		err = fs_corrupt(fs, 0,
				 "group %" PRIu32 ": blocks %" PRIu64 "+%u free but metadata", g,
				 *first, len);
		goto put;
	}
	grp_change(&x, false, start, len, true, 0);
	atomic_fetch_sub(&fs->free_blocks, len);
put:
	grp_put(&x);
out:
	pthread_mutex_unlock(&fs->group_lock[g]);
	return err ? err : (int)len;
}

/**
 * fs_alloc_blocks - allocate contiguous blocks near a goal
 * @fs: the filesystem
 * @goal: preferred first block (0 or out of range: group 0)
 * @want: blocks wanted (at least 1 is taken; capped at one group)
 * @first: receives the first block allocated
 *
 * Context: may sleep; takes group locks one at a time, so the caller may hold
 * ext_lock or i_rwsem but no group lock, orphan/sb/i_lock/icache lock or
 * buffer lock.
 * Return: blocks allocated (1..@want), or -ENOSPC, -EROFS, -EUCLEAN.
 */
int fs_alloc_blocks(struct fs *fs, uint64_t goal, uint32_t want, uint64_t *first)
{
	uint32_t groups = fs->geom.groups_count, g0, off;
	int ret;

	if (fs_check_writable(fs))
		return -EROFS;
	if (goal >= fs->geom.blocks_count)
		goal = 0;
	want = want ? want : 1;
	if (want > fs->geom.blocks_per_group)
		want = fs->geom.blocks_per_group;
	g0 = folio_group_of_block(&fs->geom, goal);
	off = (uint32_t)(goal - folio_group_first_block(&fs->geom, g0));
	for (uint32_t i = 0; i < groups; i++) {
		if (!atomic_load(&fs->free_blocks))
			break;
		ret = grp_alloc_blocks(fs, (g0 + i) % groups, i ? 0 : off, want, first);
		if (ret)
			return ret;
	}
	return -ENOSPC;
}

static void grp_free_blocks(struct fs *fs, uint32_t g, uint32_t start, uint32_t n)
{
	struct fs_grp x;

	pthread_mutex_lock(&fs->group_lock[g]);
	if (grp_get(fs, g, false, &x))
		goto out;
	for (uint32_t i = start; i < start + n; i++) {
		if (!bm_test(x.map, i)) {
			fs_corrupt(fs, 0, "freeing free block %" PRIu64,
				   folio_group_first_block(&fs->geom, g) + i);
			goto put;
		}
	}
	grp_change(&x, false, start, n, false, 0);
	fs_journal_free(fs, folio_group_first_block(&fs->geom, g) + start, n);
	atomic_fetch_add(&fs->free_blocks, n);
put:
	grp_put(&x);
out:
	pthread_mutex_unlock(&fs->group_lock[g]);
}

/**
 * fs_free_blocks - free a run of blocks
 * @fs: the filesystem
 * @first: first block
 * @count: blocks (may cross groups)
 *
 * The blocks' cached metadata copies are dropped first, dirty or not. A
 * block that is already free is corruption (logged; that group is left as
 * it was).
 *
 * Context: may sleep; takes the device mapping's invalidate_lock and group
 * locks, so the caller holds no group lock and no buffer lock, and has
 * released its heads of these blocks.
 */
void fs_free_blocks(struct fs *fs, uint64_t first, uint64_t count)
{
	if (!count)
		return;
	if (!first || first >= fs->geom.blocks_count || count > fs->geom.blocks_count - first) {
		fs_corrupt(fs, 0, "freeing blocks %" PRIu64 "+%" PRIu64 " outside the filesystem",
			   first, count);
		return;
	}
	fs_bforget(fs, first, count);
	while (count) {
		uint32_t g = folio_group_of_block(&fs->geom, first);
		uint64_t base = folio_group_first_block(&fs->geom, g);
		uint64_t n = folio_group_nblocks(&fs->geom, g) - (first - base);

		n = n < count ? n : count;
		grp_free_blocks(fs, g, (uint32_t)(first - base), (uint32_t)n);
		first += n;
		count -= n;
	}
}

/* ---- inodes ---- */

/* Take a free inode of group @g: 1 taken, 0 none free, or an error. */
static int grp_alloc_ino(struct fs *fs, uint32_t g, bool is_dir, uint32_t *ino)
{
	uint32_t ipg = fs->geom.inodes_per_group, i;
	struct fs_grp x;
	int err, ret = 0;

	pthread_mutex_lock(&fs->group_lock[g]);
	err = grp_get(fs, g, true, &x);
	if (err)
		goto out;
	if (le32_to_cpu(x.gd->bg_free_inodes)) {
		i = bm_find_zero(x.map, 0, ipg);
		if (i == ipg) {
			err = fs_corrupt(fs, 0, "group %" PRIu32 ": free inodes but a full bitmap",
					 g);
		} else if (g * ipg + i + 1 < FOLIO_FIRST_INO) {
			err = fs_corrupt(fs, g * ipg + i + 1, "reserved inode marked free");
		} else {
			grp_change(&x, true, i, 1, true, is_dir ? 1 : 0);
			atomic_fetch_sub(&fs->free_inodes, 1);
			*ino = g * ipg + i + 1;
			ret = 1;
		}
	}
	grp_put(&x);
out:
	pthread_mutex_unlock(&fs->group_lock[g]);
	return err ? err : ret;
}

/* A group for a new directory: round robin over groups with at least the
 * average number of free inodes. */
static uint32_t fs_dir_group(struct fs *fs)
{
	uint32_t groups = fs->geom.groups_count;
	uint32_t start = atomic_fetch_add(&fs->alloc_rotor, 1) % groups;
	uint64_t avg = atomic_load(&fs->free_inodes) / groups;
	struct folio_group_desc gd;

	for (uint32_t i = 0; i < groups; i++) {
		uint32_t g = (start + i) % groups;

		if (fs_read_gd(fs, g, &gd))
			break;
		if (le32_to_cpu(gd.bg_free_inodes) && le32_to_cpu(gd.bg_free_inodes) >= avg)
			return g;
	}
	return start;
}

/**
 * fs_alloc_ino - allocate an inode number
 * @fs: the filesystem
 * @parent: the parent directory's inode number (0: none)
 * @is_dir: a directory (spread over groups; counted in bg_used_dirs)
 * @ino: receives the number
 *
 * Context: may sleep; takes group locks one at a time (see fs_alloc_blocks()).
 * Return: 0, -ENOSPC when no inode is free, -EROFS, -EUCLEAN.
 */
int fs_alloc_ino(struct fs *fs, uint32_t parent, bool is_dir, uint32_t *ino)
{
	uint32_t groups = fs->geom.groups_count, g0;
	int ret;

	if (fs_check_writable(fs))
		return -EROFS;
	if (is_dir)
		g0 = fs_dir_group(fs);
	else
		g0 = folio_ino_valid(&fs->geom, parent) ? folio_ino_group(&fs->geom, parent) : 0;
	for (uint32_t i = 0; i < groups; i++) {
		if (!atomic_load(&fs->free_inodes))
			break;
		ret = grp_alloc_ino(fs, (g0 + i) % groups, is_dir, ino);
		if (ret < 0)
			return ret;
		if (ret)
			return 0;
	}
	return -ENOSPC;
}

/**
 * fs_free_ino - free an inode number
 * @fs: the filesystem
 * @ino: the inode (its blocks already freed)
 * @is_dir: it was a directory
 *
 * Freeing a free inode is corruption (logged, nothing changed).
 *
 * Context: as fs_alloc_ino().
 */
void fs_free_ino(struct fs *fs, uint32_t ino, bool is_dir)
{
	uint32_t g, i;
	struct fs_grp x;

	if (ino < FOLIO_FIRST_INO || !folio_ino_valid(&fs->geom, ino)) {
		fs_corrupt(fs, ino, "freeing a reserved or invalid inode number");
		return;
	}
	g = folio_ino_group(&fs->geom, ino);
	i = folio_ino_index(&fs->geom, ino);
	pthread_mutex_lock(&fs->group_lock[g]);
	if (grp_get(fs, g, true, &x))
		goto out;
	if (!bm_test(x.map, i)) {
		fs_corrupt(fs, ino, "freeing a free inode");
	} else {
		grp_change(&x, true, i, 1, false, is_dir ? -1 : 0);
		atomic_fetch_add(&fs->free_inodes, 1);
	}
	grp_put(&x);
out:
	pthread_mutex_unlock(&fs->group_lock[g]);
}

/**
 * fs_ino_test - is an inode in use according to its bitmap?
 * @fs: the filesystem
 * @ino: the inode number (valid range)
 *
 * Context: may sleep; takes the inode's group lock.
 * Return: 1 in use, 0 free, or a negative errno (-EUCLEAN for a bad bitmap).
 */
int fs_ino_test(struct fs *fs, uint32_t ino)
{
	uint32_t g = folio_ino_group(&fs->geom, ino);
	struct fs_grp x;
	int ret;

	pthread_mutex_lock(&fs->group_lock[g]);
	ret = grp_get(fs, g, true, &x);
	if (!ret) {
		ret = bm_test(x.map, folio_ino_index(&fs->geom, ino)) ? 1 : 0;
		grp_put(&x);
	}
	pthread_mutex_unlock(&fs->group_lock[g]);
	return ret;
}
