/*
 * fs/dir.c - directories: the per-directory B+tree of docs/ON-DISK.md
 * section 10.
 *
 * Interface (fs/fs.h, "dir.c"): fs_dir_init, fs_dir_lookup, fs_dir_add,
 * fs_dir_remove, fs_dir_replace, fs_dir_empty, fs_dir_iterate, fs_dir_free,
 * fs_dir_parent, fs_dir_set_parent: the caller holds the directory's
 * i_rwsem, shared to read, exclusive to change; fs_readdir takes it itself. Link counts are the
 * caller's (namei.c).
 *
 * The tree: the root block and depth live in the inode (i_dir); every node is
 * a headed block (magic FDIR, owner = the directory) read and written through
 * the device mapping (fs_bread_checked, fs_new_block, fs_block_dirty). Leaves
 * hold records sorted by key; index nodes hold (key, child) pairs, and child
 * i covers [key_i, key_i+1), except that child 0 covers [lo, key_1) where lo
 * is the node's own lower bound. Keys are folio_dir_key_base(hash) | c with
 * the smallest collision index c free at insertion; a record keeps its key
 * for life, which is what makes readdir cookies stable.
 *
 * Invariants kept here:
 *   1. Balanced: every leaf is at level 0, the root at dr_depth <= 8.
 *   2. No node but the root is empty; an emptied root leaf is freed (dr_root
 *      0), an index root with one child is replaced by that child.
 *   3. i_size = nodes * B, i_blocks counts the nodes (plus the xattr block,
 *      which xattr.c adds), dr_entries the records.
 *   4. Changes that need new blocks allocate all of them (and their buffers)
 *      before touching the tree, so -ENOSPC leaves the tree as it was.
 *   5. Each block is changed between lock_buffer and unlock_buffer, one buffer
 *      lock at a time, and re-checksummed by fs_block_dirty().
 *   6. A node split at child position 0 resets that index entry's key to the
 *      node's lower bound, so separators stay strictly increasing.
 * Emptied nodes are freed; a node (leaf or index) left under a quarter full
 * is merged with a sibling when the two fit in three quarters of a block.
 */
#include "config.h"

#include "fs/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DIR_LEVELS  (FOLIO_DIR_MAX_DEPTH + 1)
#define DIR_MAXNEW  (FOLIO_DIR_MAX_DEPTH + 2) /* blocks one insertion may need */
#define DIR_MAXFREE (2 * DIR_LEVELS)	      /* blocks one removal may free */

/* The nodes from the root down to one leaf. Level l is the node at tree level
 * l (0: the leaf); pos[l] the child taken in the index node at level l. */
struct dir_path {
	unsigned depth;
	struct buffer_head *bh[DIR_LEVELS];
	uint64_t blk[DIR_LEVELS];
	unsigned pos[DIR_LEVELS];
	uint64_t lo[DIR_LEVELS]; /* lower bound of the node's key range */
};

/* Root fields and counters an operation changes; written by dir_commit(). */
struct dir_state {
	uint64_t root;
	unsigned depth;
	int64_t entries; /* delta */
	int64_t nodes;	 /* delta */
	unsigned nfree;
	uint64_t freed[DIR_MAXFREE];
};

/* Blocks allocated (with buffers) before a split changes anything. */
struct dir_newblocks {
	unsigned n, next;
	uint64_t blk[DIR_MAXNEW];
	struct buffer_head *bh[DIR_MAXNEW];
};

/* ------------------------------------------------------------------ */
/* Node access                                                         */
/* ------------------------------------------------------------------ */

static inline struct folio_dir_node *dn_of(struct buffer_head *bh)
{
	return (struct folio_dir_node *)bh->b_data;
}

static inline uint8_t *payload_of(struct buffer_head *bh)
{
	return (uint8_t *)bh->b_data + FOLIO_BLK_PAYLOAD;
}

static inline struct folio_dir_idx *idx_of(struct buffer_head *bh)
{
	return (struct folio_dir_idx *)payload_of(bh);
}

static inline unsigned dn_count(struct buffer_head *bh)
{
	return le16_to_cpu(dn_of(bh)->dn_count);
}

static inline uint32_t dn_used(struct buffer_head *bh)
{
	return le16_to_cpu(dn_of(bh)->dn_used);
}

static inline uint32_t dir_room(const struct fs *fs)
{
	return fs->geom.block_size - FOLIO_BLK_PAYLOAD;
}

static inline const struct folio_dirent *de_at(const uint8_t *payload, uint32_t off)
{
	return (const struct folio_dirent *)(payload + off);
}

static inline uint64_t de_key(const struct folio_dirent *de)
{
	return le64_to_cpu(de->de_key);
}

/* A file type a record may carry. */
static bool dir_type_valid(uint8_t type)
{
	switch (type) {
	case FOLIO_FT_FIFO:
	case FOLIO_FT_CHR:
	case FOLIO_FT_DIR:
	case FOLIO_FT_BLK:
	case FOLIO_FT_REG:
	case FOLIO_FT_LNK:
	case FOLIO_FT_SOCK:
		return true;
	}
	return false;
}

/* Check a leaf's records: well formed, keys strictly increasing, count;
 * each naming an ordinary inode number with a known file type. */
static int dir_leaf_check(struct inode *dir, struct buffer_head *bh, uint64_t blk)
{
	const uint8_t *payload = payload_of(bh);
	const struct folio_dirent *de;
	uint32_t off = 0, n = 0;
	uint64_t last = 0;
	int ret;

	while ((ret = folio_dirent_next(payload, dn_used(bh), &off, &de)) == 1) {
		uint32_t ino = le32_to_cpu(de->de_ino);

		if (de_key(de) < FOLIO_DIR_KEY_MIN || de_key(de) <= last)
			return fs_corrupt(dir->fs, dir->ino, "directory block %llu: key order",
					  (unsigned long long)blk);
		if (!folio_ino_valid(&dir->fs->geom, ino) || ino < FOLIO_FIRST_INO ||
		    !dir_type_valid(de->de_type))
			return fs_corrupt(dir->fs, dir->ino,
					  "directory block %llu: entry names inode %u of type %u",
					  (unsigned long long)blk, ino, de->de_type);
		last = de_key(de);
		n++;
	}
	if (ret < 0 || n != dn_count(bh))
		return fs_corrupt(dir->fs, dir->ino, "directory block %llu: malformed leaf",
				  (unsigned long long)blk);
	return 0;
}

/* Check an index node's entries: keys strictly increasing, children in the
 * data area and not the node itself. */
static int dir_idx_check(struct inode *dir, struct buffer_head *bh, uint64_t blk)
{
	const struct folio_dir_idx *idx = idx_of(bh);
	unsigned n = dn_count(bh);

	for (unsigned i = 0; i < n; i++) {
		uint64_t child = le64_to_cpu(idx[i].di_child);

		if ((i && le64_to_cpu(idx[i].di_key) <= le64_to_cpu(idx[i - 1].di_key)) ||
		    child == blk || !fs_blocks_are_data(dir->fs, child, 1))
			return fs_corrupt(
				dir->fs, dir->ino,
				"directory block %llu: index entry %u (child %llu) out of "
				"order, on metadata or outside the filesystem",
				(unsigned long long)blk, i, (unsigned long long)child);
	}
	return 0;
}

/* Read and check the node at @blk, which must be at tree level @level: the
 * header on every read, the entries when the block was just read from the
 * device (a block that fails is dropped, so the next read checks it again). */
static struct buffer_head *dir_read(struct inode *dir, uint64_t blk, unsigned level, int *err)
{
	struct fs *fs = dir->fs;
	struct buffer_head *bh;
	bool fresh;
	unsigned n;

	if (!fs_blocks_are_data(fs, blk, 1)) {
		*err = fs_corrupt(fs, dir->ino,
				  "directory node pointer %llu on metadata or out of range",
				  (unsigned long long)blk);
		return NULL;
	}
	bh = fs_bread_checked_fresh(fs, blk, FOLIO_DIR_MAGIC, dir->ino, &fresh, err);
	if (!bh)
		return NULL;
	n = dn_count(bh);
	if (le16_to_cpu(dn_of(bh)->dn_level) != level || dn_used(bh) > dir_room(fs) ||
	    (level && (n > fs->geom.dir_idx_max || dn_used(bh) != n * 16 || !n))) {
		*err = fs_corrupt(fs, dir->ino, "directory block %llu: bad node header",
				  (unsigned long long)blk);
	} else if (fresh) {
		*err = level ? dir_idx_check(dir, bh, blk) : dir_leaf_check(dir, bh, blk);
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

/* Index of the last entry with key <= @key (0 if none). */
static unsigned idx_find(const struct folio_dir_idx *idx, unsigned n, uint64_t key)
{
	unsigned lo = 0, hi = n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (le64_to_cpu(idx[mid].di_key) <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : 0;
}

/* Byte offset of the first record with key >= @key (dn_used if none). */
static uint32_t leaf_find(const uint8_t *payload, uint32_t used, uint64_t key)
{
	uint32_t off = 0;

	while (off < used && de_key(de_at(payload, off)) < key)
		off += folio_dirent_size(de_at(payload, off)->de_namelen);
	return off;
}

/* Write @used payload bytes and a node header into a locked-for-us block. */
static void dir_node_write(struct fs *fs, struct buffer_head *bh, unsigned level, unsigned count,
			   const void *payload, uint32_t used)
{
	struct folio_dir_node *dn;

	lock_buffer(bh);
	dn = dn_of(bh);
	dn->dn_level = cpu_to_le16((uint16_t)level);
	dn->dn_count = cpu_to_le16((uint16_t)count);
	dn->dn_used = cpu_to_le16((uint16_t)used);
	dn->dn_reserved = 0;
	memmove(payload_of(bh), payload, used);
	memset(payload_of(bh) + used, 0, dir_room(fs) - used);
	fs_block_dirty(fs, bh);
	unlock_buffer(bh);
}

/* ------------------------------------------------------------------ */
/* Paths                                                               */
/* ------------------------------------------------------------------ */

static void dir_path_release(struct dir_path *p)
{
	for (unsigned l = 0; l < DIR_LEVELS; l++) {
		brelse(p->bh[l]);
		p->bh[l] = NULL;
	}
}

/* Descend from the root to the leaf whose range holds @key.
 * Return: 0 with @p filled, 1 when the directory has no tree, or -errno. */
static int dir_walk(struct inode *dir, uint64_t key, struct dir_path *p)
{
	const struct folio_dir_root *dr = &dir->di->i_dir;
	uint64_t blk = le64_to_cpu(dr->dr_root);
	int err = 0;

	memset(p, 0, sizeof(*p));
	p->depth = le16_to_cpu(dr->dr_depth);
	if (!blk)
		return 1;
	if (p->depth > FOLIO_DIR_MAX_DEPTH)
		return fs_corrupt(dir->fs, dir->ino, "directory depth %u", p->depth);
	p->lo[p->depth] = FOLIO_DIR_KEY_MIN;
	for (unsigned l = p->depth;; l--) {
		const struct folio_dir_idx *idx;

		p->blk[l] = blk;
		p->bh[l] = dir_read(dir, blk, l, &err);
		if (!p->bh[l])
			goto fail;
		if (l == 0)
			return 0;
		idx = idx_of(p->bh[l]);
		p->pos[l] = idx_find(idx, dn_count(p->bh[l]), key);
		p->lo[l - 1] = p->pos[l] ? le64_to_cpu(idx[p->pos[l]].di_key) : p->lo[l];
		blk = le64_to_cpu(idx[p->pos[l]].di_child);
	}
fail:
	dir_path_release(p);
	return err;
}

/* Move @p to the next leaf in key order. Return: 1 moved, 0 at the end, -errno. */
static int dir_next_leaf(struct inode *dir, struct dir_path *p)
{
	unsigned l;
	int err = 0;

	for (l = 1; l <= p->depth; l++)
		if (p->pos[l] + 1 < dn_count(p->bh[l]))
			break;
	if (l > p->depth)
		return 0;
	p->pos[l]++;
	for (; l >= 1; l--) {
		const struct folio_dir_idx *idx = idx_of(p->bh[l]);
		unsigned pos = p->pos[l];

		p->lo[l - 1] = pos ? le64_to_cpu(idx[pos].di_key) : p->lo[l];
		p->blk[l - 1] = le64_to_cpu(idx[pos].di_child);
		brelse(p->bh[l - 1]);
		p->bh[l - 1] = dir_read(dir, p->blk[l - 1], l - 1, &err);
		if (!p->bh[l - 1])
			return err;
		if (l - 1 >= 1)
			p->pos[l - 1] = 0;
	}
	return 1;
}

typedef int (*dir_scan_fn)(void *ctx, const struct folio_dirent *de);

/* Call @fn on every record with key >= @start in key order until it returns
 * non-zero. Return: 0 at the end, @fn's non-zero value, or -errno. */
static int dir_scan(struct inode *dir, uint64_t start, dir_scan_fn fn, void *ctx)
{
	struct dir_path p;
	int ret = dir_walk(dir, start, &p);

	if (ret)
		return ret == 1 ? 0 : ret;
	do {
		const uint8_t *payload = payload_of(p.bh[0]);
		uint32_t used = dn_used(p.bh[0]);
		uint32_t off = leaf_find(payload, used, start);

		for (; off < used; off += folio_dirent_size(de_at(payload, off)->de_namelen)) {
			ret = fn(ctx, de_at(payload, off));
			if (ret)
				goto out;
		}
		ret = dir_next_leaf(dir, &p);
	} while (ret == 1);
out:
	dir_path_release(&p);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Finding a name                                                      */
/* ------------------------------------------------------------------ */

struct dir_match {
	const char *name;
	size_t len;
	uint64_t base;
	bool found;
	uint64_t key;
	uint32_t ino;
	uint8_t type;
	uint8_t used[FOLIO_DIR_COLL_MAX / 8]; /* collision indexes taken */
};

static int dir_match_fn(void *ctx, const struct folio_dirent *de)
{
	struct dir_match *m = ctx;
	uint64_t key = de_key(de);

	if (key > (m->base | 0xFF))
		return 1;
	m->used[(key & 0xFF) / 8] |= (uint8_t)(1u << (key & 7));
	if (de->de_namelen != m->len || memcmp(de->de_name, m->name, m->len))
		return 0;
	m->found = true;
	m->key = key;
	m->ino = le32_to_cpu(de->de_ino);
	m->type = de->de_type;
	return 1;
}

/* Look @name up; fills @m (found, key, ino, type, taken collision indexes). */
static int dir_find(struct inode *dir, const char *name, size_t len, struct dir_match *m)
{
	int ret;

	memset(m, 0, sizeof(*m));
	if (len > FOLIO_NAME_MAX)
		return -ENAMETOOLONG;
	if (!folio_name_valid(name, len))
		return -EINVAL;
	m->name = name;
	m->len = len;
	m->base = folio_dir_key_base(folio_dirhash(dir->fs->hash_seed, name, len));
	ret = dir_scan(dir, m->base, dir_match_fn, m);
	return ret < 0 ? ret : 0;
}

/* ------------------------------------------------------------------ */
/* Committing inode fields and freeing blocks                          */
/* ------------------------------------------------------------------ */

static void dir_state_init(struct inode *dir, struct dir_state *st)
{
	memset(st, 0, sizeof(*st));
	st->root = le64_to_cpu(dir->di->i_dir.dr_root);
	st->depth = le16_to_cpu(dir->di->i_dir.dr_depth);
}

static void dir_state_free(struct dir_state *st, uint64_t blk)
{
	if (st->nfree < DIR_MAXFREE)
		st->freed[st->nfree++] = blk;
	st->nodes--;
}

/* Store the root fields and counters in the inode, write it, free blocks. */
static int dir_commit(struct inode *dir, struct dir_state *st)
{
	struct folio_inode *di = dir->di;
	struct fs *fs = dir->fs;
	int ret;

	pthread_mutex_lock(&dir->i_lock);
	di->i_dir.dr_root = cpu_to_le64(st->root);
	di->i_dir.dr_depth = cpu_to_le16((uint16_t)st->depth);
	di->i_dir.dr_entries = cpu_to_le64(le64_to_cpu(di->i_dir.dr_entries) + st->entries);
	di->i_size = cpu_to_le64(le64_to_cpu(di->i_size) + st->nodes * fs->geom.block_size);
	di->i_blocks = cpu_to_le64(le64_to_cpu(di->i_blocks) + st->nodes);
	pthread_mutex_unlock(&dir->i_lock);
	ret = fs_inode_write(dir);
	for (unsigned i = 0; i < st->nfree; i++)
		fs_free_blocks(fs, st->freed[i], 1);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Insertion                                                           */
/* ------------------------------------------------------------------ */

static void dir_newblocks_put(struct fs *fs, struct dir_newblocks *nb, bool unused)
{
	for (unsigned i = 0; i < nb->n; i++) {
		brelse(nb->bh[i]);
		if (unused && i >= nb->next)
			fs_free_blocks(fs, nb->blk[i], 1);
	}
	nb->n = 0;
}

/* Allocate @want node blocks near @goal, each with its new buffer. */
static int dir_newblocks_get(struct inode *dir, uint64_t goal, unsigned want,
			     struct dir_newblocks *nb)
{
	struct fs *fs = dir->fs;
	int ret = 0;

	memset(nb, 0, sizeof(*nb));
	while (nb->n < want) {
		uint64_t first;
		int got = fs_alloc_blocks(fs, goal, want - nb->n, &first);

		if (got < 0) {
			ret = got;
			goto fail;
		}
		for (int i = 0; i < got; i++) {
			nb->blk[nb->n] = first + i;
			nb->bh[nb->n] =
				fs_new_block(fs, first + i, FOLIO_DIR_MAGIC, dir->ino, &ret);
			if (!nb->bh[nb->n]) {
				fs_free_blocks(fs, first + i, got - i);
				goto fail;
			}
			nb->n++;
		}
		goal = first + got;
	}
	return 0;
fail:
	dir_newblocks_put(fs, nb, true);
	return ret ? ret : -EIO;
}

/* Take the next preallocated block. */
static struct buffer_head *dir_newblock(struct dir_newblocks *nb, uint64_t *blk)
{
	*blk = nb->blk[nb->next];
	return nb->bh[nb->next++];
}

/* Insert (key, child) into the index node at @level after p->pos[level],
 * splitting upward as needed; above the root, grow a new root. */
static void dir_index_insert(struct inode *dir, struct dir_path *p, struct dir_state *st,
			     unsigned level, uint64_t key, uint64_t child, struct dir_newblocks *nb)
{
	struct fs *fs = dir->fs;
	struct folio_dir_idx tmp[(4096 - FOLIO_BLK_PAYLOAD) / 16 + 1];
	unsigned max = fs->geom.dir_idx_max, n, pos, m;
	struct buffer_head *nbh;
	uint64_t nblk;

	if (level > p->depth) {
		nbh = dir_newblock(nb, &nblk);
		tmp[0].di_key = cpu_to_le64(FOLIO_DIR_KEY_MIN);
		tmp[0].di_child = cpu_to_le64(p->blk[p->depth]);
		tmp[1].di_key = cpu_to_le64(key);
		tmp[1].di_child = cpu_to_le64(child);
		dir_node_write(fs, nbh, level, 2, tmp, 2 * sizeof(tmp[0]));
		st->root = nblk;
		st->depth = level;
		st->nodes++;
		return;
	}
	n = dn_count(p->bh[level]);
	pos = p->pos[level] + 1;
	memcpy(tmp, idx_of(p->bh[level]), pos * sizeof(tmp[0]));
	memcpy(tmp + pos + 1, idx_of(p->bh[level]) + pos, (n - pos) * sizeof(tmp[0]));
	tmp[pos].di_key = cpu_to_le64(key);
	tmp[pos].di_child = cpu_to_le64(child);
	if (pos == 1) /* the split child was entry 0: keep separators increasing */
		tmp[0].di_key = cpu_to_le64(p->lo[level]);
	n++;
	if (n <= max) {
		dir_node_write(fs, p->bh[level], level, n, tmp, n * sizeof(tmp[0]));
		return;
	}
	m = n / 2;
	nbh = dir_newblock(nb, &nblk);
	dir_node_write(fs, p->bh[level], level, m, tmp, m * sizeof(tmp[0]));
	dir_node_write(fs, nbh, level, n - m, tmp + m, (n - m) * sizeof(tmp[0]));
	st->nodes++;
	dir_index_insert(dir, p, st, level + 1, le64_to_cpu(tmp[m].di_key), nblk, nb);
}

/* Where to split @n bytes of records: a record boundary near the middle. */
static uint32_t leaf_split_point(const uint8_t *recs, uint32_t total, unsigned *nleft)
{
	uint32_t off = 0;

	*nleft = 0;
	while (off < total) {
		uint32_t size = folio_dirent_size(de_at(recs, off)->de_namelen);

		if (off && off + size > total / 2)
			break;
		off += size;
		(*nleft)++;
	}
	return off;
}

/* Split the full leaf of @p while inserting @rec at key order. */
static void dir_split_leaf(struct inode *dir, struct dir_path *p, struct dir_state *st,
			   uint8_t *tmp, const void *rec, uint32_t rsize, uint64_t key,
			   struct dir_newblocks *nb)
{
	struct fs *fs = dir->fs;
	struct buffer_head *leaf = p->bh[0], *nbh;
	uint32_t used = dn_used(leaf), off, total = used + rsize, split;
	unsigned count = dn_count(leaf) + 1, nleft;
	uint64_t nblk;

	off = leaf_find(payload_of(leaf), used, key);
	memcpy(tmp, payload_of(leaf), off);
	memcpy(tmp + off, rec, rsize);
	memcpy(tmp + off + rsize, payload_of(leaf) + off, used - off);
	split = leaf_split_point(tmp, total, &nleft);
	nbh = dir_newblock(nb, &nblk);
	dir_node_write(fs, leaf, 0, nleft, tmp, split);
	dir_node_write(fs, nbh, 0, count - nleft, tmp + split, total - split);
	st->nodes++;
	dir_index_insert(dir, p, st, 1, de_key(de_at(tmp, split)), nblk, nb);
}

/* Blocks a split of the leaf of @p needs: the leaf, each full index node
 * above it, and a new root if the root splits. */
static int dir_split_need(struct inode *dir, const struct dir_path *p, unsigned *need)
{
	unsigned l;

	*need = 1;
	for (l = 1; l <= p->depth && dn_count(p->bh[l]) >= dir->fs->geom.dir_idx_max; l++)
		(*need)++;
	if (l > p->depth) {
		if (p->depth >= FOLIO_DIR_MAX_DEPTH)
			return -ENOSPC;
		(*need)++;
	}
	return 0;
}

/* Insert a record into a leaf that has room for it. */
static void dir_leaf_insert(struct fs *fs, struct buffer_head *leaf, const void *rec,
			    uint32_t rsize, uint64_t key)
{
	uint32_t used = dn_used(leaf), off = leaf_find(payload_of(leaf), used, key);
	uint8_t *pl = payload_of(leaf);

	lock_buffer(leaf);
	memmove(pl + off + rsize, pl + off, used - off);
	memcpy(pl + off, rec, rsize);
	dn_of(leaf)->dn_used = cpu_to_le16((uint16_t)(used + rsize));
	dn_of(leaf)->dn_count = cpu_to_le16((uint16_t)(dn_count(leaf) + 1));
	fs_block_dirty(fs, leaf);
	unlock_buffer(leaf);
}

/* Insert a record into the tree (it has a leaf). */
static int dir_insert_tree(struct inode *dir, struct dir_state *st, const void *rec, uint32_t rsize,
			   uint64_t key)
{
	struct fs *fs = dir->fs;
	struct dir_newblocks nb;
	struct dir_path p;
	struct buffer_head *leaf;
	uint8_t *tmp = NULL;
	unsigned need;
	int ret = dir_walk(dir, key, &p);

	if (ret)
		return ret == 1 ? fs_corrupt(fs, dir->ino, "directory entries but no tree") : ret;
	leaf = p.bh[0];
	if (dn_used(leaf) + rsize <= dir_room(fs)) {
		dir_leaf_insert(fs, leaf, rec, rsize, key);
		goto out;
	}
	ret = dir_split_need(dir, &p, &need);
	if (ret)
		goto out;
	tmp = malloc(2 * fs->geom.block_size);
	if (!tmp) {
		ret = -ENOMEM;
		goto out;
	}
	ret = dir_newblocks_get(dir, p.blk[0], need, &nb);
	if (ret)
		goto out;
	dir_split_leaf(dir, &p, st, tmp, rec, rsize, key, &nb);
	dir_newblocks_put(fs, &nb, true);
out:
	free(tmp);
	dir_path_release(&p);
	return ret;
}

/* The first record of an empty directory: a new root leaf. */
static int dir_insert_first(struct inode *dir, struct dir_state *st, const void *rec,
			    uint32_t rsize)
{
	struct dir_newblocks nb;
	struct buffer_head *bh;
	uint64_t blk, goal;
	int ret;

	goal = folio_group_first_block(&dir->fs->geom, folio_ino_group(&dir->fs->geom, dir->ino));
	ret = dir_newblocks_get(dir, goal, 1, &nb);
	if (ret)
		return ret;
	bh = dir_newblock(&nb, &blk);
	dir_node_write(dir->fs, bh, 0, 1, rec, rsize);
	dir_newblocks_put(dir->fs, &nb, true);
	st->root = blk;
	st->depth = 0;
	st->nodes++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Removal                                                             */
/* ------------------------------------------------------------------ */

/* Replace an index root with a single child by that child, repeatedly. */
static void dir_collapse_root(struct inode *dir, struct dir_state *st)
{
	while (st->depth > 0 && st->root) {
		struct buffer_head *bh;
		uint64_t child;
		int err;

		bh = dir_read(dir, st->root, st->depth, &err);
		if (!bh)
			return;
		if (dn_count(bh) != 1) {
			brelse(bh);
			return;
		}
		child = le64_to_cpu(idx_of(bh)->di_child);
		brelse(bh);
		dir_state_free(st, st->root);
		st->root = child;
		st->depth--;
	}
}

static void dir_try_merge(struct inode *dir, struct dir_path *p, struct dir_state *st,
			  unsigned level);

/* Remove entry p->pos[level] of the index node at @level (its child is
 * already gone); an emptied node goes too, upward; an underfull one merges. */
static void dir_index_remove(struct inode *dir, struct dir_path *p, struct dir_state *st,
			     unsigned level)
{
	struct buffer_head *bh = p->bh[level];
	unsigned n = dn_count(bh), pos = p->pos[level];
	struct folio_dir_idx *idx = idx_of(bh);

	if (n == 1) {
		dir_state_free(st, p->blk[level]);
		if (level == p->depth) {
			st->root = 0;
			st->depth = 0;
			return;
		}
		dir_index_remove(dir, p, st, level + 1);
		return;
	}
	lock_buffer(bh);
	memmove(idx + pos, idx + pos + 1, (n - pos - 1) * sizeof(*idx));
	memset(idx + n - 1, 0, sizeof(*idx));
	dn_of(bh)->dn_count = cpu_to_le16((uint16_t)(n - 1));
	dn_of(bh)->dn_used = cpu_to_le16((uint16_t)((n - 1) * sizeof(*idx)));
	fs_block_dirty(dir->fs, bh);
	unlock_buffer(bh);
	if (level == p->depth)
		dir_collapse_root(dir, st);
	else if (dn_used(bh) < dir_room(dir->fs) / 4)
		dir_try_merge(dir, p, st, level);
}

/* Merge the underfull node at @level of @p with a sibling under the same
 * parent when both fit in three quarters of a block: the right one moves
 * into the left, and the parent loses the right one's entry. An index
 * node's moved first entry takes the right node's key in the parent, the
 * lower bound of everything under it. */
static void dir_try_merge(struct inode *dir, struct dir_path *p, struct dir_state *st,
			  unsigned level)
{
	struct fs *fs = dir->fs;
	struct buffer_head *parent = p->bh[level + 1], *left, *right, *sib;
	unsigned n = dn_count(parent), pos = p->pos[level + 1], rpos;
	uint32_t lused, rused;
	uint64_t sblk;
	int err = 0;

	if (n < 2)
		return;
	rpos = pos + 1 < n ? pos + 1 : pos;
	sblk = le64_to_cpu(idx_of(parent)[pos + 1 < n ? pos + 1 : pos - 1].di_child);
	sib = dir_read(dir, sblk, level, &err);
	if (!sib)
		return; /* the change is done all the same; fs_corrupt() has spoken */
	left = rpos == pos ? sib : p->bh[level];
	right = rpos == pos ? p->bh[level] : sib;
	lused = dn_used(left);
	rused = dn_used(right);
	if (lused + rused > dir_room(fs) * 3 / 4) {
		brelse(sib);
		return;
	}
	lock_buffer(left);
	memcpy(payload_of(left) + lused, payload_of(right), rused);
	if (level)
		((struct folio_dir_idx *)(payload_of(left) + lused))->di_key =
			idx_of(parent)[rpos].di_key;
	dn_of(left)->dn_used = cpu_to_le16((uint16_t)(lused + rused));
	dn_of(left)->dn_count = cpu_to_le16((uint16_t)(dn_count(left) + dn_count(right)));
	fs_block_dirty(fs, left);
	unlock_buffer(left);
	dir_state_free(st, rpos == pos ? p->blk[level] : sblk);
	brelse(sib);
	p->pos[level + 1] = rpos;
	dir_index_remove(dir, p, st, level + 1);
}

/* Remove the record with key @key from the leaf of @p. */
static int dir_remove_key(struct inode *dir, struct dir_path *p, struct dir_state *st, uint64_t key)
{
	struct fs *fs = dir->fs;
	struct buffer_head *leaf = p->bh[0];
	uint8_t *pl = payload_of(leaf);
	uint32_t used = dn_used(leaf), off = leaf_find(pl, used, key), size;
	unsigned count = dn_count(leaf);

	if (off >= used || de_key(de_at(pl, off)) != key)
		return fs_corrupt(fs, dir->ino, "directory key %llx vanished",
				  (unsigned long long)key);
	size = folio_dirent_size(de_at(pl, off)->de_namelen);
	lock_buffer(leaf);
	memmove(pl + off, pl + off + size, used - off - size);
	memset(pl + used - size, 0, size);
	dn_of(leaf)->dn_used = cpu_to_le16((uint16_t)(used - size));
	dn_of(leaf)->dn_count = cpu_to_le16((uint16_t)(count - 1));
	fs_block_dirty(fs, leaf);
	unlock_buffer(leaf);
	st->entries--;
	if (count - 1 == 0) {
		dir_state_free(st, p->blk[0]);
		if (p->depth == 0) {
			st->root = 0;
			return 0;
		}
		dir_index_remove(dir, p, st, 1);
		return 0;
	}
	if (p->depth > 0 && used - size < dir_room(fs) / 4)
		dir_try_merge(dir, p, st, 0);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The interface                                                       */
/* ------------------------------------------------------------------ */

/**
 * fs_dir_init - give a new directory inode an empty tree
 * @dir: the directory (new, not yet named anywhere)
 * @parent: inode number of the directory that will hold its entry
 *
 * Context: the caller owns @dir (holds its i_rwsem or nobody else sees it).
 * Return: 0 or the error of writing the inode.
 */
int fs_dir_init(struct inode *dir, uint32_t parent)
{
	struct folio_inode *di = dir->di;

	pthread_mutex_lock(&dir->i_lock);
	memset(&di->i_dir, 0, sizeof(di->i_dir));
	di->i_dir.dr_parent = cpu_to_le32(parent);
	di->i_size = 0;
	pthread_mutex_unlock(&dir->i_lock);
	return fs_inode_write(dir);
}

/**
 * fs_dir_parent - the inode number of a directory's ".."
 * @dir: the directory
 *
 * Context: caller holds @dir's i_rwsem (either mode) or fs->rename_lock.
 * Return: dr_parent (the root's is itself).
 */
uint32_t fs_dir_parent(struct inode *dir)
{
	uint32_t parent;

	pthread_mutex_lock(&dir->i_lock);
	parent = le32_to_cpu(dir->di->i_dir.dr_parent);
	pthread_mutex_unlock(&dir->i_lock);
	return parent;
}

/**
 * fs_dir_set_parent - point a directory's ".." elsewhere (rename)
 * @dir: the directory being moved
 * @parent: the directory that now holds its entry
 *
 * Context: caller holds fs->rename_lock and @dir's i_rwsem exclusively.
 * Return: 0 or the error of writing the inode.
 */
int fs_dir_set_parent(struct inode *dir, uint32_t parent)
{
	pthread_mutex_lock(&dir->i_lock);
	dir->di->i_dir.dr_parent = cpu_to_le32(parent);
	pthread_mutex_unlock(&dir->i_lock);
	return fs_inode_write(dir);
}

/**
 * fs_dir_lookup - find a name in a directory
 * @dir: the directory
 * @name: the name (not NUL-terminated)
 * @len: its length
 * @ino: set to the inode number it names
 * @type: set to its FOLIO_FT_* type (may be NULL)
 *
 * Reads one node per tree level (plus the next leaf when the name's key
 * range straddles two leaves).
 *
 * Context: caller holds @dir's i_rwsem shared or exclusive.
 * Return: 0; -ENOENT when absent; -ENAMETOOLONG over 255 bytes; -EINVAL for
 * a name that cannot be stored ("", ".", "..", '/' or NUL inside); -EUCLEAN
 * on corruption, or the read error.
 */
int fs_dir_lookup(struct inode *dir, const char *name, size_t len, uint32_t *ino, uint8_t *type)
{
	struct dir_match m;
	int ret = dir_find(dir, name, len, &m);

	if (ret)
		return ret;
	if (!m.found)
		return -ENOENT;
	/* only "." names the directory itself (callers lock it, then the
	 * inode found: the same lock twice) */
	if (m.ino == dir->ino)
		return fs_corrupt(dir->fs, dir->ino, "entry %.*s names its own directory",
				  (int)len, name);
	*ino = m.ino;
	if (type)
		*type = m.type;
	return 0;
}

/**
 * fs_dir_add - add a name to a directory
 * @dir: the directory
 * @name: the new name
 * @len: its length
 * @ino: the inode it names
 * @type: FOLIO_FT_* of that inode
 *
 * Takes the smallest free collision index for the name's key base; grows
 * the tree by splitting (all new blocks are allocated first). Updates
 * dr_entries, i_size and i_blocks and writes the inode; times and link
 * counts are the caller's.
 *
 * Context: caller holds @dir's i_rwsem exclusively.
 * Return: 0; -EEXIST when the name is there; -ENOSPC when no block is free,
 * all 256 keys of the name's hash are taken, or the tree is at depth 8;
 * -ENAMETOOLONG, -EINVAL, -EROFS, -EUCLEAN, -ENOMEM or a read error.
 */
int fs_dir_add(struct inode *dir, const char *name, size_t len, uint32_t ino, uint8_t type)
{
	uint8_t rec[FOLIO_DIRENT_HDR + FOLIO_NAME_MAX + 8];
	struct dir_state st;
	struct dir_match m;
	uint32_t rsize;
	unsigned c;
	int ret = fs_check_writable(dir->fs);

	if (!ret)
		ret = dir_find(dir, name, len, &m);
	if (ret)
		return ret;
	if (m.found)
		return -EEXIST;
	for (c = 0; c < FOLIO_DIR_COLL_MAX && (m.used[c / 8] & (1u << (c % 8))); c++)
		;
	if (c == FOLIO_DIR_COLL_MAX)
		return -ENOSPC;
	rsize = folio_dirent_encode(rec, m.base | c, ino, type, name, (uint8_t)len);
	dir_state_init(dir, &st);
	if (st.root)
		ret = dir_insert_tree(dir, &st, rec, rsize, m.base | c);
	else
		ret = dir_insert_first(dir, &st, rec, rsize);
	if (ret)
		return ret;
	st.entries = 1;
	return dir_commit(dir, &st);
}

/* For a change to an existing name: @dir writable, the name found (@m) and
 * the path to its leaf walked (@p, for the caller to release). */
static int dir_walk_name(struct inode *dir, const char *name, size_t len, struct dir_match *m,
			 struct dir_path *p)
{
	int ret = fs_check_writable(dir->fs);

	if (!ret)
		ret = dir_find(dir, name, len, m);
	if (ret)
		return ret;
	if (!m->found)
		return -ENOENT;
	ret = dir_walk(dir, m->key, p);
	return ret == 1 ? fs_corrupt(dir->fs, dir->ino, "directory entry but no tree") : ret;
}

/**
 * fs_dir_remove - remove a name from a directory
 * @dir: the directory
 * @name: the name
 * @len: its length
 * @ino: set to the inode number it named (may be NULL)
 *
 * Frees nodes left empty (the root leaf too), merges an underfull leaf with
 * a sibling, collapses an index root with one child. Updates dr_entries,
 * i_size, i_blocks and writes the inode.
 *
 * Context: caller holds @dir's i_rwsem exclusively.
 * Return: 0; -ENOENT when absent; -ENAMETOOLONG, -EINVAL, -EROFS, -EUCLEAN or
 * a read error.
 */
int fs_dir_remove(struct inode *dir, const char *name, size_t len, uint32_t *ino)
{
	struct dir_state st;
	struct dir_match m;
	struct dir_path p;
	int ret = dir_walk_name(dir, name, len, &m, &p);

	if (ret)
		return ret;
	dir_state_init(dir, &st);
	ret = dir_remove_key(dir, &p, &st, m.key);
	dir_path_release(&p);
	if (ret)
		return ret;
	if (ino)
		*ino = m.ino;
	return dir_commit(dir, &st);
}

/**
 * fs_dir_replace - point an existing name at another inode
 * @dir: the directory
 * @name: the name
 * @len: its length
 * @ino: the inode it names from now on
 * @type: FOLIO_FT_* of that inode
 *
 * The record keeps its key (so readdir cookies stay valid); the directory's
 * counters do not change.
 *
 * Context: caller holds @dir's i_rwsem exclusively.
 * Return: 0; -ENOENT when absent; -EROFS, -EUCLEAN or a read error.
 */
int fs_dir_replace(struct inode *dir, const char *name, size_t len, uint32_t ino, uint8_t type)
{
	struct folio_dirent *de;
	struct dir_match m;
	struct dir_path p;
	uint32_t off;
	int ret = dir_walk_name(dir, name, len, &m, &p);

	if (ret)
		return ret;
	off = leaf_find(payload_of(p.bh[0]), dn_used(p.bh[0]), m.key);
	de = (struct folio_dirent *)(payload_of(p.bh[0]) + off);
	if (off >= dn_used(p.bh[0]) || de_key(de) != m.key) {
		ret = fs_corrupt(dir->fs, dir->ino, "directory key %llx vanished",
				 (unsigned long long)m.key);
	} else {
		lock_buffer(p.bh[0]);
		de->de_ino = cpu_to_le32(ino);
		de->de_type = type;
		fs_block_dirty(dir->fs, p.bh[0]);
		unlock_buffer(p.bh[0]);
	}
	dir_path_release(&p);
	return ret;
}

/**
 * fs_dir_empty - does a directory hold no entries?
 * @dir: the directory
 *
 * Context: caller holds @dir's i_rwsem.
 * Return: true when dr_entries is 0 ("." and ".." are not stored).
 */
bool fs_dir_empty(struct inode *dir)
{
	return le64_to_cpu(dir->di->i_dir.dr_entries) == 0;
}

struct dir_iter {
	fs_dir_actor fn;
	void *ctx;
};

static int dir_iter_fn(void *ctx, const struct folio_dirent *de)
{
	struct dir_iter *it = ctx;

	return it->fn(it->ctx, de->de_name, de->de_namelen, le32_to_cpu(de->de_ino), de->de_type,
		      de_key(de) + 1);
}

/**
 * fs_dir_iterate - readdir: the records from a cookie on, in key order
 * @dir: the directory
 * @cookie: where to resume: a record's next_cookie, or 0 to start
 * @fn: called per record with next_cookie = key + 1 (the FUSE offset of
 *	the following entry, docs/ON-DISK.md 10.5); a non-zero return stops
 * @ctx: passed to @fn
 *
 * Calls @fn for every record with key >= @cookie (all of them for a cookie
 * below 0x100). A record keeps its key while it exists, so resuming from a
 * cookie neither repeats nor skips a record that exists throughout.
 *
 * Context: caller holds @dir's i_rwsem shared; @fn may not change @dir.
 * Return: 0 at the end or when @fn stopped (a negative return of @fn is
 * passed up), or -errno from reading the tree.
 */
int fs_dir_iterate(struct inode *dir, uint64_t cookie, fs_dir_actor fn, void *ctx)
{
	struct dir_iter it = {.fn = fn, .ctx = ctx};
	int ret;

	ret = dir_scan(dir, cookie < FOLIO_DIR_KEY_MIN ? FOLIO_DIR_KEY_MIN : cookie, dir_iter_fn,
		       &it);
	return ret > 0 ? 0 : ret;
}

/**
 * fs_readdir - fs_dir_iterate() under the directory's i_rwsem (shared)
 * @dir: the directory
 * @cookie: where to resume: a record's next_cookie, or 0 to start
 * @fn: called per record, as for fs_dir_iterate()
 * @ctx: passed to @fn
 *
 * "." and ".." are the caller's (fs_dir_parent() names the parent).
 *
 * Context: may sleep; the caller holds no lock of @dir; @fn may not change
 * @dir.
 * Return: as fs_dir_iterate().
 */
int fs_readdir(struct inode *dir, uint64_t cookie, fs_dir_actor fn, void *ctx)
{
	int ret;

	pthread_rwlock_rdlock(&dir->i_rwsem);
	ret = fs_dir_iterate(dir, cookie, fn, ctx);
	pthread_rwlock_unlock(&dir->i_rwsem);
	return ret;
}

/* Free the subtree at @blk (level @level); counts freed blocks. */
static int dir_free_node(struct inode *dir, uint64_t blk, unsigned level, uint64_t *freed)
{
	uint64_t kids[(4096 - FOLIO_BLK_PAYLOAD) / 16];
	struct buffer_head *bh;
	unsigned n = 0;
	int err = 0, ret = 0;

	if (level) {
		bh = dir_read(dir, blk, level, &err);
		if (!bh)
			return err;
		n = dn_count(bh);
		for (unsigned i = 0; i < n; i++)
			kids[i] = le64_to_cpu(idx_of(bh)[i].di_child);
		brelse(bh);
	}
	for (unsigned i = 0; i < n; i++) {
		err = dir_free_node(dir, kids[i], level - 1, freed);
		if (err && !ret)
			ret = err;
	}
	fs_free_blocks(dir->fs, blk, 1);
	(*freed)++;
	return ret;
}

/**
 * fs_dir_free - free every node of a directory's tree
 * @dir: the directory (being evicted; nobody else uses it)
 *
 * Leaves an empty tree (dr_root 0, no entries, size 0; dr_parent kept) and
 * writes the inode. A subtree that cannot be read is skipped (its blocks
 * leak; fs_corrupt() has said why and made the filesystem read-only).
 *
 * Context: the caller owns @dir.
 * Return: 0 or -errno.
 */
int fs_dir_free(struct inode *dir)
{
	struct folio_inode *di = dir->di;
	uint64_t root = le64_to_cpu(di->i_dir.dr_root), freed = 0, blocks;
	int ret = 0, wret;

	if (root)
		ret = dir_free_node(dir, root, le16_to_cpu(di->i_dir.dr_depth), &freed);
	pthread_mutex_lock(&dir->i_lock);
	di->i_dir.dr_root = 0;
	di->i_dir.dr_depth = 0;
	di->i_dir.dr_entries = 0;
	di->i_size = 0;
	blocks = le64_to_cpu(di->i_blocks);
	di->i_blocks = cpu_to_le64(blocks > freed ? blocks - freed : 0);
	pthread_mutex_unlock(&dir->i_lock);
	wret = fs_inode_write(dir);
	return ret ? ret : wret;
}
