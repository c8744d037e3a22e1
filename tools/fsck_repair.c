/*
 * tools/fsck_repair.c - fsck.foliofs: the writes of -p and -y.
 *
 * Interface (tools/fsck.h):
 *   fsck_inode_read/fsck_inode_write  one inode, read-modify-write of its
 *                                     table block with a fresh checksum
 *   fsck_write_sb                     the superblock to block 0
 *   fsck_free_inode                   clear an inode's bitmap bit (its blocks
 *                                     go with the next bitmap rebuild)
 *   fsck_free_orphans                 -p/-y, before the inodes pass: free every
 *                                     inode on the orphan list, as a mount does
 *   fsck_queue_reconnect, fsck_pass_reconnect
 *                                     -y: put unreachable inodes in /lost+found
 *                                     (created when missing)
 *   fsck_queue_unlink, fsck_unlink_wanted
 *                                     -y: entries the next round removes
 *   fsck_node_remove                  remove bytes from a node's payload
 *   fsck_commit                       end of a round: bitmaps, descriptors,
 *                                     and at the end the superblock
 *
 * Order of writes, so that a repair cut short leaves nothing worse than it
 * found: references (entries, extents, inode fields, the orphan head) are
 * changed during the passes; fsck_commit() flushes them before it writes
 * bitmaps and descriptors, flushes again, and writes the superblock last.
 * A reference is therefore never removed after the block or inode it named
 * was freed: a cut leaves at worst a leak, which -p frees. Bits are cleared
 * in the block bitmap only when the round found every block's owner (no
 * change to references and nothing left uncorrected); otherwise they are
 * only set.
 */
#include "config.h"

#include "tools/fsck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void fsck_clear_bit(uint8_t *map, uint64_t bit)
{
	map[bit / 8] &= (uint8_t) ~(1u << (bit % 8));
}

/* Block and byte offset of inode @ino; false when its group is unusable. */
static bool fsck_inode_at(struct fsck *f, uint32_t ino, uint64_t *blk, uint32_t *off)
{
	uint32_t group = folio_ino_group(&f->g, ino);

	if (!f->group_ok[group])
		return false;
	folio_inode_pos(&f->g, le64_to_cpu(f->gdt[group].bg_inode_table), ino, blk, off);
	return true;
}

/**
 * fsck_inode_read - read one inode
 * @f: the check
 * @ino: inode number
 * @buf: one block of room
 *
 * Context: fsck's only thread.
 * Return: the inode inside @buf, or NULL when its group's table is unusable.
 */
struct folio_inode *fsck_inode_read(struct fsck *f, uint32_t ino, uint8_t *buf)
{
	uint64_t blk;
	uint32_t off;

	if (!fsck_inode_at(f, ino, &blk, &off))
		return NULL;
	fsck_read(f, blk, 1, buf);
	return (struct folio_inode *)(buf + off);
}

/**
 * fsck_inode_write - store one inode with a fresh checksum
 * @f: the check, opened for writing
 * @ino: inode number
 * @in: its s_inode_size bytes (the checksum is set here)
 *
 * Context: fsck's only thread.
 */
void fsck_inode_write(struct fsck *f, uint32_t ino, struct folio_inode *in)
{
	uint8_t *buf = fsck_block_alloc(1, f->g.block_size);
	uint64_t blk;
	uint32_t off;

	folio_inode_csum_set(f->seed, ino, in, f->g.inode_size);
	if (fsck_inode_at(f, ino, &blk, &off)) {
		fsck_read(f, blk, 1, buf);
		memcpy(buf + off, in, f->g.inode_size);
		fsck_write(f, blk, 1, buf);
	}
	free(buf);
}

/**
 * fsck_free_inode - mark an inode free (written at the end of the round)
 * @f: the check
 * @ino: inode number
 *
 * Its blocks are no longer claimed from the next round on, so the bitmap
 * rebuild frees them.
 *
 * Context: fsck's only thread.
 */
void fsck_free_inode(struct fsck *f, uint32_t ino)
{
	uint32_t group = folio_ino_group(&f->g, ino);

	if (!f->imap_ok[group])
		return;
	fsck_clear_bit(f->imaps + (size_t)group * f->g.block_size, folio_ino_index(&f->g, ino));
	f->imap_dirty[group] = 1;
	f->ino[ino].state &= (uint8_t) ~(FI_INUSE | FI_CHECKED);
}

/**
 * fsck_queue_reconnect - put an inode in /lost+found at the end of the round
 * @f: the check (-y)
 * @ino: an in-use inode no directory reaches
 *
 * Context: fsck's only thread.
 */
void fsck_queue_reconnect(struct fsck *f, uint32_t ino)
{
	if (f->nreconnect == f->reconnect_cap) {
		f->reconnect_cap = f->reconnect_cap ? 2 * f->reconnect_cap : 64;
		f->reconnect = realloc(f->reconnect, f->reconnect_cap * sizeof(*f->reconnect));
		if (!f->reconnect)
			fsck_fatal("out of memory");
	}
	f->reconnect[f->nreconnect++] = ino;
	f->ino[ino].state |= FI_RECONN;
}

/**
 * fsck_queue_unlink - have the next round remove @dir's entry naming @ino
 * @f: the check (-y)
 * @dir: the directory holding the entry
 * @ino: the inode it names
 *
 * Context: fsck's only thread.
 */
void fsck_queue_unlink(struct fsck *f, uint32_t dir, uint32_t ino)
{
	if (f->nunlinks == f->unlinks_cap) {
		f->unlinks_cap = f->unlinks_cap ? 2 * f->unlinks_cap : 16;
		f->unlinks = realloc(f->unlinks, f->unlinks_cap * sizeof(*f->unlinks));
		if (!f->unlinks)
			fsck_fatal("out of memory");
	}
	f->unlinks[f->nunlinks++] = (struct fsck_unlink){dir, ino};
}

/**
 * fsck_unlink_wanted - is @dir's entry naming @ino to be removed?
 * @f: the check
 * @dir: directory
 * @ino: the entry's inode
 *
 * Context: any.
 * Return: true when fsck_queue_unlink() asked for it.
 */
bool fsck_unlink_wanted(const struct fsck *f, uint32_t dir, uint32_t ino)
{
	for (size_t i = 0; i < f->nunlinks; i++)
		if (f->unlinks[i].dir == dir && f->unlinks[i].ino == ino)
			return true;
	return false;
}

/**
 * fsck_node_remove - remove @size bytes at @off from a payload of *@used bytes
 * @base: the payload
 * @used: its bytes in use, reduced by @size
 * @off: where the bytes to remove start
 * @size: how many
 *
 * The freed tail is zeroed.
 *
 * Context: any.
 */
void fsck_node_remove(void *base, uint32_t *used, uint32_t off, uint32_t size)
{
	uint8_t *p = base;

	memmove(p + off, p + off + size, *used - off - size);
	*used -= size;
	memset(p + *used, 0, size);
}

/* ------------------------------------------------------------------ */
/* Orphans                                                             */
/* ------------------------------------------------------------------ */

/**
 * fsck_write_sb - write f->sb, with a fresh checksum, to block 0
 * @f: the check, opened for writing
 *
 * The rest of the block is written as zeros. No flush.
 *
 * Context: fsck's only thread.
 */
void fsck_write_sb(struct fsck *f)
{
	uint8_t *buf = fsck_block_alloc(1, f->g.block_size);

	folio_sb_csum_set(&f->sb);
	memcpy(buf, &f->sb, sizeof(f->sb));
	fsck_write(f, 0, 1, buf);
	free(buf);
}

/* Is @ino a sound orphan: in range, in use, a valid mode, no links? */
static bool fsck_orphan_ok(struct fsck *f, uint32_t ino, uint8_t *buf, uint32_t *next)
{
	const struct folio_inode *in;
	uint32_t group;

	*next = 0;
	if (!folio_ino_valid(&f->g, ino) || ino < FOLIO_FIRST_INO ||
	    (f->ino[ino].state & FI_ORPHAN))
		return false;
	group = folio_ino_group(&f->g, ino);
	if (!f->imap_ok[group] ||
	    !fsck_test_bit(f->imaps + (size_t)group * f->g.block_size, folio_ino_index(&f->g, ino)))
		return false;
	in = fsck_inode_read(f, ino, buf);
	if (!in)
		return false;
	*next = le32_to_cpu(in->i_orphan_next);
	return folio_mode_to_ftype(le16_to_cpu(in->i_mode)) && !in->i_nlink;
}

/**
 * fsck_free_orphans - free the inodes on the orphan list, as a mount does
 * @f: the check (-p, -y), after fsck_pass_groups()
 *
 * -p frees them only when the whole list is sound (else the orphans pass
 * reports it); -y frees the sound ones and drops the rest from the list.
 * The list head is cleared and written (and flushed) before the inode
 * bitmap, at the end of the round.
 *
 * Context: fsck's only thread.
 */
void fsck_free_orphans(struct fsck *f)
{
	uint8_t *buf = fsck_block_alloc(1, f->g.block_size);
	uint32_t ino = le32_to_cpu(f->sb.s_orphan_head), next, bad = 0;
	uint32_t *list = NULL;
	size_t n = 0;

	for (; ino && n <= f->g.inodes_count; ino = next, n++) {
		list = realloc(list, (n + 1) * sizeof(*list));
		if (!list)
			fsck_fatal("out of memory");
		list[n] = ino;
		if (!fsck_orphan_ok(f, ino, buf, &next)) {
			bad = ino;
			n++;
			break;
		}
		f->ino[ino].state |= FI_ORPHAN;
	}
	for (size_t i = 0; i < n; i++)
		if (folio_ino_valid(&f->g, list[i]))
			f->ino[list[i]].state &= (uint8_t)~FI_ORPHAN;
	if (!n || (bad && f->mode < FSCK_YES))
		goto out;
	if (bad)
		fsck_fix(f, FX_YES,
			 "orphan list: inode %u is not an unlinked inode in use: list ended", bad);
	for (size_t i = 0; i < n; i++) {
		if (list[i] == bad)
			continue;
		fsck_fix(f, FX_PREEN, "inode %u: orphan (unlinked while open): freed", list[i]);
		fsck_free_inode(f, list[i]);
	}
	f->sb.s_orphan_head = 0;
	fsck_write_sb(f);
	fsck_flush(f);
out:
	free(list);
	free(buf);
}

/* ------------------------------------------------------------------ */
/* /lost+found                                                         */
/* ------------------------------------------------------------------ */

/* Does f->used hold every block in use: every group's descriptor and
 * bitmaps read, every inode readable? (Reconnection runs only in a round
 * that changed no reference, so the trees are as they stay.) */
static bool fsck_owners_known(const struct fsck *f)
{
	for (uint32_t group = 0; group < f->g.groups_count; group++)
		if (!f->group_ok[group] || !f->bmap_ok[group] || !f->imap_ok[group])
			return false;
	for (uint32_t ino = 1; ino <= f->g.inodes_count; ino++)
		if (f->ino[ino].state & FI_BAD)
			return false;
	return true;
}

/* A block no claim holds and (unless @any) no bitmap bit; claimed for
 * @owner. 0 if none. */
static uint64_t fsck_find_block(struct fsck *f, uint32_t owner, bool any)
{
	for (uint64_t b = f->g.gdt_block + f->g.gdt_blocks; b < f->g.blocks_count; b++) {
		uint32_t group = folio_group_of_block(&f->g, b);
		const uint8_t *map = f->bmaps + (size_t)group * f->g.block_size;

		if (!f->bmap_ok[group]) {
			b = folio_group_first_block(&f->g, group) +
			    folio_group_nblocks(&f->g, group) - 1;
			continue;
		}
		if (fsck_test_bit(f->used, b) ||
		    (!any && fsck_test_bit(map, b - folio_group_first_block(&f->g, group))))
			continue;
		fsck_claim(f, b, 1, owner, FK_DIRNODE);
		fsck_set_bit(f->used, b);
		return b;
	}
	return 0;
}

/* A free block for a directory node of @owner: one free in the bitmaps
 * too, else, when every owner is known, one only a stale bit holds (a
 * bitmap that marks every block used must not keep /lost+found from
 * growing). 0 if none. */
static uint64_t fsck_new_block(struct fsck *f, uint32_t owner)
{
	uint64_t b = fsck_find_block(f, owner, false);

	if (!b && fsck_owners_known(f))
		b = fsck_find_block(f, owner, true);
	return b;
}

/* Descend directory tree @root of @depth to the leaf for @key; the leaf's
 * block number, its contents in @buf, the nodes passed in @path (root
 * first, the leaf last). */
static uint64_t fsck_dir_leaf(struct fsck *f, uint64_t root, uint16_t depth, uint64_t key,
			      uint8_t *buf, uint64_t *path)
{
	uint64_t nr = root;

	fsck_read(f, nr, 1, buf);
	path[0] = nr;
	for (uint16_t level = 1; level <= depth; level++) {
		const struct folio_dir_node *dn = (const void *)buf;
		const struct folio_dir_idx *idx = (const void *)(buf + FOLIO_BLK_PAYLOAD);
		uint16_t n = le16_to_cpu(dn->dn_count), i = 0;

		while (i + 1 < n && le64_to_cpu(idx[i + 1].di_key) <= key)
			i++;
		nr = le64_to_cpu(idx[i].di_child);
		if (!fsck_range_ok(f, nr, 1))
			return 0;
		fsck_read(f, nr, 1, buf);
		path[level] = nr;
	}
	return nr;
}

/* The first key a directory node holds (its first record's or index key). */
static uint64_t fsck_node_first_key(const uint8_t *buf)
{
	return le64_to_cpu(*(const le64 *)(buf + FOLIO_BLK_PAYLOAD));
}

/*
 * Split the directory node in @l into itself and the new node @nr, built in
 * @r: a leaf by bytes, an index node by entries, each half keeping at least
 * one record (the node holds two or more). Returns the new node's first key.
 */
static uint64_t fsck_node_split(struct fsck *f, uint32_t dir, uint8_t *l, uint8_t *r, uint64_t nr)
{
	struct folio_dir_node *ln = (void *)l, *rn = (void *)r;
	uint32_t used = le16_to_cpu(ln->dn_used), count = le16_to_cpu(ln->dn_count);
	uint32_t at = 0, left = 0, off = 0;
	const struct folio_dirent *de;

	if (ln->dn_level) {
		left = count / 2;
		at = left * (uint32_t)sizeof(struct folio_dir_idx);
	} else {
		while (left + 1 < count && off < used / 2 &&
		       folio_dirent_next(l + FOLIO_BLK_PAYLOAD, used, &off, &de) == 1)
			left++;
		at = off;
	}
	folio_block_init(r, f->g.block_size, FOLIO_DIR_MAGIC, nr, dir);
	rn->dn_level = ln->dn_level;
	rn->dn_count = cpu_to_le16((uint16_t)(count - left));
	rn->dn_used = cpu_to_le16((uint16_t)(used - at));
	memcpy(r + FOLIO_BLK_PAYLOAD, l + FOLIO_BLK_PAYLOAD + at, used - at);
	memset(l + FOLIO_BLK_PAYLOAD + at, 0, used - at);
	ln->dn_count = cpu_to_le16((uint16_t)left);
	ln->dn_used = cpu_to_le16((uint16_t)at);
	return fsck_node_first_key(r);
}

/*
 * Add index entry (@key, @child) to the index node in @buf, which has room.
 * @child is the new right half of a child split in two, whose left half's
 * first key is @low (< @key). When @key is below the node's first key (its
 * child 0 held keys under a first key that was not tight, which is
 * allowed), the first key is lowered to @low, so that keys stay in order
 * and every child's records stay in its range.
 */
static void fsck_idx_insert(uint8_t *buf, uint64_t key, uint64_t child, uint64_t low)
{
	struct folio_dir_node *dn = (void *)buf;
	struct folio_dir_idx *idx = (void *)(buf + FOLIO_BLK_PAYLOAD);
	uint16_t n = le16_to_cpu(dn->dn_count), i = n;

	while (i > 0 && le64_to_cpu(idx[i - 1].di_key) > key)
		i--;
	if (i == 0 && n > 0) {
		idx[0].di_key = cpu_to_le64(low);
		i = 1;
	}
	memmove(&idx[i + 1], &idx[i], (size_t)(n - i) * sizeof(*idx));
	idx[i].di_key = cpu_to_le64(key);
	idx[i].di_child = cpu_to_le64(child);
	dn->dn_count = cpu_to_le16((uint16_t)(n + 1));
	dn->dn_used = cpu_to_le16((uint16_t)((n + 1) * sizeof(*idx)));
}

static void fsck_node_write(struct fsck *f, uint64_t nr, uint8_t *buf)
{
	folio_block_csum_set(f->seed, buf, f->g.block_size);
	fsck_write(f, nr, 1, buf);
}

/*
 * What a split of the leaf at the end of @path takes: @splits nodes split,
 * from the leaf up through every full parent, and a new root when that is
 * all of them (@newroot). Finds every block needed (@blocks) before
 * anything is written. 0 or -ENOSPC (no free block, or the tree at its
 * deepest).
 */
static int fsck_grow_plan(struct fsck *f, uint32_t dir, uint16_t depth, const uint64_t *path,
			  uint8_t *buf, uint64_t *blocks, int *splits, bool *newroot)
{
	const uint32_t max = (f->g.block_size - FOLIO_BLK_PAYLOAD) / sizeof(struct folio_dir_idx);
	int level = depth - 1;

	*splits = 1;
	for (; level >= 0; level--, (*splits)++) {
		fsck_read(f, path[level], 1, buf);
		if (le16_to_cpu(((struct folio_dir_node *)buf)->dn_count) < max)
			break;
	}
	*newroot = level < 0;
	if (*newroot && depth >= FOLIO_DIR_MAX_DEPTH)
		return -ENOSPC;
	for (int i = 0; i < *splits + *newroot; i++)
		if (!(blocks[i] = fsck_new_block(f, dir)))
			return -ENOSPC;
	return 0;
}

/* A new root over the old root and its new sibling (@sep, @child); its
 * first key is the lowest a record may have. */
static void fsck_new_root(struct fsck *f, uint32_t dir, struct folio_dir_root *dr, uint64_t nr,
			  uint64_t sep, uint64_t child, uint8_t *r)
{
	folio_block_init(r, f->g.block_size, FOLIO_DIR_MAGIC, nr, dir);
	((struct folio_dir_node *)r)->dn_level = cpu_to_le16(le16_to_cpu(dr->dr_depth) + 1);
	fsck_idx_insert(r, FOLIO_DIR_KEY_MIN, le64_to_cpu(dr->dr_root), 0);
	fsck_idx_insert(r, sep, child, FOLIO_DIR_KEY_MIN);
	fsck_node_write(f, nr, r);
	dr->dr_root = cpu_to_le64(nr);
	dr->dr_depth = cpu_to_le16(le16_to_cpu(dr->dr_depth) + 1);
}

/*
 * Make room in the full leaf at the end of @path (directory @dir, inode @in)
 * as the daemon does (docs/ON-DISK.md section 10.4): split it, put the new
 * node's first key in the parent, splitting full parents on the way up, and
 * a new root one level up when the root splits. @in (dr_root, dr_depth,
 * i_size, i_blocks) is the caller's to write. 0 or -ENOSPC, with nothing
 * written.
 */
static int fsck_dir_grow(struct fsck *f, uint32_t dir, struct folio_inode *in, const uint64_t *path)
{
	struct folio_dir_root *dr = &in->i_dir;
	int depth = le16_to_cpu(dr->dr_depth), splits;
	uint8_t *l = fsck_block_alloc(1, f->g.block_size),
		*r = fsck_block_alloc(1, f->g.block_size);
	uint64_t blocks[FOLIO_DIR_MAX_DEPTH + 2], sep = 0, child = 0, low = 0, first;
	bool newroot;
	int ret = fsck_grow_plan(f, dir, (uint16_t)depth, path, l, blocks, &splits, &newroot);

	for (int i = 0; !ret && i < splits; i++) {
		fsck_read(f, path[depth - i], 1, l);
		first = fsck_node_split(f, dir, l, r, blocks[i]);
		if (child)
			fsck_idx_insert(sep < first ? l : r, sep, child, low);
		fsck_node_write(f, path[depth - i], l);
		fsck_node_write(f, blocks[i], r);
		sep = first;
		child = blocks[i];
		low = fsck_node_first_key(l);
	}
	if (!ret && !newroot) {
		fsck_read(f, path[depth - splits], 1, l);
		fsck_idx_insert(l, sep, child, low);
		fsck_node_write(f, path[depth - splits], l);
	} else if (!ret) {
		fsck_new_root(f, dir, dr, blocks[splits], sep, child, r);
	}
	if (!ret) {
		uint64_t added = (uint64_t)splits + newroot;

		in->i_size = cpu_to_le64(le64_to_cpu(in->i_size) + added * f->g.block_size);
		in->i_blocks = cpu_to_le64(le64_to_cpu(in->i_blocks) + added);
	}
	free(l);
	free(r);
	return ret;
}

/* Insert a record into a leaf held in @buf; -ENOSPC when it does not fit,
 * -EEXIST when 256 names share the hash. */
static int fsck_leaf_insert(struct fsck *f, uint8_t *buf, uint64_t base, uint32_t ino, uint8_t type,
			    const char *name, uint8_t len)
{
	struct folio_dir_node *dn = (void *)buf;
	uint8_t *pay = buf + FOLIO_BLK_PAYLOAD, taken[FOLIO_DIR_COLL_MAX] = {0};
	uint32_t used = le16_to_cpu(dn->dn_used), off = 0, at = used, size = folio_dirent_size(len);
	const struct folio_dirent *de;
	uint64_t key = 0;

	while (folio_dirent_next(pay, used, &off, &de) == 1)
		if ((le64_to_cpu(de->de_key) & FOLIO_DIR_KEY_MASK) == base)
			taken[le64_to_cpu(de->de_key) & 0xff] = 1;
	for (unsigned c = 0; c < FOLIO_DIR_COLL_MAX && !key; c++)
		if (!taken[c])
			key = base | c;
	if (!key)
		return -EEXIST;
	if (used + size > f->g.block_size - FOLIO_BLK_PAYLOAD)
		return -ENOSPC;
	for (off = 0; folio_dirent_next(pay, used, &off, &de) == 1;) {
		if (le64_to_cpu(de->de_key) > key) {
			at = off - folio_dirent_size(de->de_namelen);
			break;
		}
	}
	memmove(pay + at + size, pay + at, used - at);
	folio_dirent_encode(pay + at, key, ino, type, name, len);
	dn->dn_used = cpu_to_le16((uint16_t)(used + size));
	dn->dn_count = cpu_to_le16((uint16_t)(le16_to_cpu(dn->dn_count) + 1));
	return 0;
}

/* Add the entry @name -> @ino (@type) to directory @dir, splitting a full
 * leaf (fsck_dir_grow()). 0 or a negative errno. */
static int fsck_dir_insert(struct fsck *f, uint32_t dir, const char *name, uint32_t ino,
			   uint8_t type)
{
	uint8_t *ibuf = fsck_block_alloc(1, f->g.block_size), *buf;
	struct folio_inode *in = fsck_inode_read(f, dir, ibuf);
	struct folio_dir_root *dr;
	uint8_t len = (uint8_t)strlen(name);
	uint64_t base = folio_dir_key_base(folio_dirhash(f->hash_seed, name, len)), nr;
	uint64_t path[FOLIO_DIR_MAX_DEPTH + 1];
	int ret = -EIO;

	if (!in) {
		free(ibuf);
		return ret;
	}
	dr = &in->i_dir;
	buf = fsck_block_alloc(1, f->g.block_size);
	if (!dr->dr_root) {
		nr = fsck_new_block(f, dir);
		if (!nr) {
			ret = -ENOSPC;
			goto out;
		}
		folio_block_init(buf, f->g.block_size, FOLIO_DIR_MAGIC, nr, dir);
		dr->dr_root = cpu_to_le64(nr);
		dr->dr_depth = 0;
		in->i_size = cpu_to_le64(le64_to_cpu(in->i_size) + f->g.block_size);
		in->i_blocks = cpu_to_le64(le64_to_cpu(in->i_blocks) + 1);
		ret = fsck_leaf_insert(f, buf, base, ino, type, name, len);
	} else {
		/* at most two splits: a half leaf takes any record */
		for (int tries = 0; tries < 3; tries++) {
			nr = fsck_dir_leaf(f, le64_to_cpu(dr->dr_root), le16_to_cpu(dr->dr_depth),
					   base, buf, path);
			ret = nr ? fsck_leaf_insert(f, buf, base, ino, type, name, len) : -EIO;
			if (ret != -ENOSPC || tries == 2)
				break;
			ret = fsck_dir_grow(f, dir, in, path);
			if (ret)
				goto out;
		}
	}
	if (ret)
		goto out;
	fsck_node_write(f, nr, buf);
	dr->dr_entries = cpu_to_le64(le64_to_cpu(dr->dr_entries) + 1);
	if (type == FOLIO_FT_DIR)
		in->i_nlink = cpu_to_le32(le32_to_cpu(in->i_nlink) + 1);
	fsck_inode_write(f, dir, in);
out:
	free(buf);
	free(ibuf);
	return ret;
}

/* A free inode number from FOLIO_FIRST_INO on, marked in use; 0 if none. */
static uint32_t fsck_new_inode(struct fsck *f)
{
	for (uint32_t ino = FOLIO_FIRST_INO; ino <= f->g.inodes_count; ino++) {
		uint32_t group = folio_ino_group(&f->g, ino);
		uint8_t *map = f->imaps + (size_t)group * f->g.block_size;

		if (!f->imap_ok[group] || !f->group_ok[group]) {
			ino = (group + 1) * f->g.inodes_per_group;
			continue;
		}
		if (fsck_test_bit(map, folio_ino_index(&f->g, ino)))
			continue;
		fsck_set_bit(map, folio_ino_index(&f->g, ino));
		f->imap_dirty[group] = 1;
		return ino;
	}
	return 0;
}

/* Create /lost+found: an empty directory, mode 0700, named in the root. */
static uint32_t fsck_make_lost_found(struct fsck *f)
{
	uint32_t ino = fsck_new_inode(f);
	struct folio_inode *in;
	struct timespec now;

	if (!ino)
		return 0;
	in = fsck_alloc(f->g.inode_size);
	clock_gettime(CLOCK_REALTIME, &now);
	in->i_mode = cpu_to_le16(S_IFDIR | 0700);
	in->i_nlink = cpu_to_le32(2);
	in->i_atime = in->i_mtime = in->i_ctime = in->i_crtime = cpu_to_le64((uint64_t)now.tv_sec);
	in->i_dir.dr_parent = cpu_to_le32(FOLIO_ROOT_INO);
	fsck_inode_write(f, ino, in);
	free(in);
	f->ino[ino] = (struct fsck_ino){.mode = S_IFDIR | 0700, .state = FI_INUSE | FI_CHECKED};
	if (fsck_dir_insert(f, FOLIO_ROOT_INO, "lost+found", ino, FOLIO_FT_DIR)) {
		fsck_free_inode(f, ino);
		return 0;
	}
	fsck_fix(f, FX_YES, "directory %u: no /lost+found: created as inode %u", FOLIO_ROOT_INO,
		 ino);
	return ino;
}

/* Name @ino "#ino" in lost+found; point a directory's ".." there, give a
 * file one link. */
static void fsck_reconnect_one(struct fsck *f, uint32_t ino)
{
	uint8_t *buf = fsck_block_alloc(1, f->g.block_size);
	struct folio_inode *in = fsck_inode_read(f, ino, buf);
	uint32_t mode = in ? le16_to_cpu(in->i_mode) : 0;
	char name[16];
	int ret = -EIO;

	snprintf(name, sizeof(name), "#%u", ino);
	if (in)
		ret = fsck_dir_insert(f, f->lf_ino, name, ino, folio_mode_to_ftype(mode));
	if (ret) {
		fsck_problem(f, "inode %u: cannot be put in /lost+found: %s", ino, strerror(-ret));
		free(buf);
		return;
	}
	in = fsck_inode_read(f, ino, buf);
	if (S_ISDIR(mode))
		in->i_dir.dr_parent = cpu_to_le32(f->lf_ino);
	else
		in->i_nlink = cpu_to_le32(1);
	fsck_inode_write(f, ino, in);
	free(buf);
}

/**
 * fsck_pass_reconnect - put the queued inodes in /lost+found
 * @f: the check (-y), after fsck_pass_blocks() (new blocks avoid f->used)
 *
 * Context: fsck's only thread.
 */
void fsck_pass_reconnect(struct fsck *f)
{
	if (!f->lf_ino)
		f->lf_ino = fsck_make_lost_found(f);
	if (!f->lf_ino) {
		fsck_problem(f, "/lost+found cannot be created: %zu inodes stay unreachable",
			     f->nreconnect);
		return;
	}
	for (size_t i = 0; i < f->nreconnect; i++)
		if (f->reconnect[i] != f->lf_ino)
			fsck_reconnect_one(f, f->reconnect[i]);
}

/* ------------------------------------------------------------------ */
/* End of a round                                                      */
/* ------------------------------------------------------------------ */

/* Group @group's block bitmap as it should be: the computed blocks (or,
 * when @set_only, those added to the on-disk bits) and the padding. True
 * when it differs from the disk or its checksum. */
static bool fsck_new_bmap(struct fsck *f, uint32_t group, bool set_only, uint8_t *out)
{
	const uint8_t *disk = f->bmaps + (size_t)group * f->g.block_size;
	const struct folio_group_desc *gd = &f->gdt[group];
	uint64_t first = folio_group_first_block(&f->g, group);
	uint32_t n = folio_group_nblocks(&f->g, group);

	memcpy(out, disk, f->g.block_size);
	for (uint32_t i = 0; i < n; i++) {
		bool want = fsck_test_bit(f->used, first + i);

		if (want)
			fsck_set_bit(out, i);
		else if (!set_only)
			fsck_clear_bit(out, i);
	}
	for (uint64_t bit = n; bit < 8ull * f->g.block_size; bit++)
		fsck_set_bit(out, bit);
	return memcmp(out, disk, f->g.block_size) ||
	       folio_bitmap_csum(f->seed, out, f->g.block_size) !=
		       le32_to_cpu(gd->bg_block_bitmap_csum);
}

static uint32_t fsck_zeros(const uint8_t *map, uint32_t nbits)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < nbits; i++)
		n += !fsck_test_bit(map, i);
	return n;
}

/* Write the bitmaps that changed; recompute each descriptor. */
static void fsck_commit_groups(struct fsck *f, bool set_only)
{
	const struct folio_geom *g = &f->g;
	uint8_t *buf = fsck_block_alloc(1, g->block_size);

	for (uint32_t group = 0; group < g->groups_count; group++) {
		struct folio_group_desc *gd = &f->gdt[group], old = *gd;
		uint8_t *imap = f->imaps + (size_t)group * g->block_size;

		if (f->gd_dirty[group] == FSCK_GD_KEEP)
			continue;

		if (f->bmap_ok[group]) {
			if (fsck_new_bmap(f, group, set_only, buf))
				fsck_write(f, le64_to_cpu(gd->bg_block_bitmap), 1, buf);
			gd->bg_block_bitmap_csum =
				cpu_to_le32(folio_bitmap_csum(f->seed, buf, g->block_size));
			gd->bg_free_blocks =
				cpu_to_le32(fsck_zeros(buf, folio_group_nblocks(g, group)));
		}
		if (f->imap_ok[group]) {
			for (uint64_t bit = g->inodes_per_group; bit < 8ull * g->block_size; bit++)
				fsck_set_bit(imap, bit);
			if (f->imap_dirty[group] ||
			    folio_bitmap_csum(f->seed, imap, g->block_size) !=
				    le32_to_cpu(gd->bg_inode_bitmap_csum))
				fsck_write(f, le64_to_cpu(gd->bg_inode_bitmap), 1, imap);
			gd->bg_inode_bitmap_csum =
				cpu_to_le32(folio_bitmap_csum(f->seed, imap, g->block_size));
			gd->bg_free_inodes = cpu_to_le32(fsck_zeros(imap, g->inodes_per_group));
		}
		if (f->imap_ok[group] && f->group_ok[group]) {
			uint32_t dirs = 0, first = group * g->inodes_per_group + 1;

			for (uint32_t i = 0; i < g->inodes_per_group; i++)
				dirs += (f->ino[first + i].state & FI_CHECKED) &&
					S_ISDIR(f->ino[first + i].mode);
			gd->bg_used_dirs = cpu_to_le32(dirs);
		}
		folio_gd_csum_set(f->seed, group, gd);
		if (memcmp(&old, gd, sizeof(old)) || f->gd_dirty[group])
			f->gd_dirty[group] = 1;
	}
	for (uint32_t b = 0; b < g->gdt_blocks; b++) {
		uint32_t per = g->block_size / sizeof(struct folio_group_desc), dirty = 0;

		for (uint32_t i = b * per; i < (b + 1) * per && i < g->groups_count; i++)
			dirty |= f->gd_dirty[i] == 1;
		if (dirty)
			fsck_write(f, g->gdt_block + b, 1,
				   (uint8_t *)f->gdt + (size_t)b * g->block_size);
	}
	free(buf);
}

/* The superblock's counts and state after a repair; written if changed. */
static void fsck_commit_super(struct fsck *f)
{
	struct folio_super old = f->sb;
	uint64_t fb = 0, fi = 0;
	uint16_t state = le16_to_cpu(f->sb.s_state);

	for (uint32_t g = 0; g < f->g.groups_count; g++) {
		fb += le32_to_cpu(f->gdt[g].bg_free_blocks);
		fi += le32_to_cpu(f->gdt[g].bg_free_inodes);
	}
	f->sb.s_free_blocks = cpu_to_le64(fb);
	f->sb.s_free_inodes = cpu_to_le32((uint32_t)fi);
	if (f->problems)
		state |= FOLIO_STATE_ERRORS;
	else
		state = FOLIO_STATE_CLEAN;
	f->sb.s_state = cpu_to_le16(state);
	if (f->sb_dirty || memcmp(&old, &f->sb, sizeof(old)))
		fsck_write_sb(f);
	if (f->backup_dirty && !f->problems) {
		uint8_t *buf = fsck_block_alloc(1, f->g.block_size);

		folio_sb_csum_set(&f->sb);
		memcpy(buf, &f->sb, sizeof(f->sb));
		fsck_write(f, le64_to_cpu(f->sb.s_backup_sb_block), 1, buf);
		free(buf);
	}
}

/**
 * fsck_commit - write what the round decided about bitmaps and counts
 * @f: the check (-p, -y), after the round's passes
 * @last: no further round follows: write the superblock too
 *
 * Flushes the round's reference changes first, then writes bitmaps and
 * descriptors, flushes, and (@last) writes the superblock and flushes.
 *
 * Context: fsck's only thread.
 */
void fsck_commit(struct fsck *f, bool last)
{
	bool set_only = f->round_fixes || f->problems;

	fsck_flush(f);
	fsck_commit_groups(f, set_only);
	fsck_flush(f);
	if (!last)
		return;
	fsck_commit_super(f);
	fsck_flush(f);
}
