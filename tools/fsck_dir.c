/*
 * tools/fsck_dir.c - fsck.foliofs: directory trees, link counts and
 * connectivity.
 *
 * Interface (tools/fsck.h): fsck_add_dir() queues a directory found by the
 * inodes pass; fsck_pass_dirs() walks every queued tree; fsck_pass_links()
 * compares link counts with the references found and checks that every
 * directory has exactly one entry naming it, that its ".." (dr_parent) is
 * that entry's directory, and that following parents reaches the root.
 *
 * Directory tree rules checked (docs/ON-DISK.md, "Directories"): node header,
 * checksum, block number, owner, level one below the parent's, no empty node
 * but the root; index keys strictly increasing inside the node's range; leaf
 * records well formed, keys strictly increasing over the whole directory,
 * inside the node's range, not below FOLIO_DIR_KEY_MIN; each key's hash part
 * equal to the hash of the record's name; no name twice; a valid name; the
 * target an in-use inode of the type the record states; counts, size and
 * i_blocks of the directory inode.
 *
 * -y removes a record that breaks a rule (bad key, name or target, a second
 * name of a directory, a duplicate, an entry fsck_queue_unlink() asked for),
 * fixes a record's type, truncates a leaf at a malformed record, removes an
 * index entry whose child is unusable (a directory whose root is unusable
 * becomes empty), and sets the directory's counts, size and i_blocks. Link
 * counts, parents and unreachable inodes are fixed only in a round that
 * changed no reference: the counts it sees are then final.
 */
#include "config.h"

#include "tools/fsck.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct fsck_dirwalk {
	uint32_t dir;
	uint64_t entries;
	uint64_t dropped; /* records -y removed */
	uint64_t blocks;
	uint64_t last_key;
	/* names seen under the current key base, for the duplicate check */
	uint64_t run_base;
	unsigned run_n;
	uint8_t run_len[FOLIO_DIR_COLL_MAX];
	char run_name[FOLIO_DIR_COLL_MAX][FOLIO_NAME_MAX];
};

struct fsck_keyrange {
	uint64_t lo, hi;
};

/* A printable copy of a name for messages. */
static const char *fsck_name(char *buf, const char *name, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		buf[i] = isprint((unsigned char)name[i]) ? name[i] : '?';
	buf[len] = '\0';
	return buf;
}

/**
 * fsck_add_dir - check a directory inode's own fields and queue its tree
 * @f: the check
 * @ino: the directory's inode number
 * @in: the inode
 * @xblock: whether it has an xattr block
 *
 * Context: fsck's only thread.
 */
void fsck_add_dir(struct fsck *f, uint32_t ino, struct folio_inode *in, bool xblock, bool *dirty)
{
	struct folio_dir_root *dr = &in->i_dir;
	struct fsck_dir *d;

	f->ino[ino].parent = le32_to_cpu(dr->dr_parent);
	if (le16_to_cpu(dr->dr_depth) > FOLIO_DIR_MAX_DEPTH ||
	    (!dr->dr_root && (dr->dr_entries || dr->dr_depth))) {
		if (!fsck_fix(f, FX_YES,
			      "directory %u: bad tree root (block %" PRIu64 ", depth %u)", ino,
			      le64_to_cpu(dr->dr_root), le16_to_cpu(dr->dr_depth)))
			return;
		dr->dr_root = dr->dr_entries = 0;
		dr->dr_depth = 0;
		in->i_size = 0;
		in->i_blocks = cpu_to_le64(xblock ? 1 : 0);
		*dirty = true;
	}
	if (f->ndirs == f->dirs_cap) {
		f->dirs_cap = f->dirs_cap ? 2 * f->dirs_cap : 256;
		f->dirs = realloc(f->dirs, f->dirs_cap * sizeof(*f->dirs));
		if (!f->dirs)
			fsck_fatal("out of memory (%zu directories)", f->dirs_cap);
	}
	d = &f->dirs[f->ndirs++];
	*d = (struct fsck_dir){.ino = ino,
			       .depth = le16_to_cpu(dr->dr_depth),
			       .xblock = xblock,
			       .root = le64_to_cpu(dr->dr_root),
			       .entries = le64_to_cpu(dr->dr_entries),
			       .size = le64_to_cpu(in->i_size),
			       .blocks = le64_to_cpu(in->i_blocks)};
}

/* Duplicate names share a key base: compare with the run of that base. */
static bool fsck_dup_check(struct fsck *f, struct fsck_dirwalk *dw, uint64_t base,
			   const struct folio_dirent *de)
{
	char pr[FOLIO_NAME_MAX + 1];

	if (base != dw->run_base) {
		dw->run_base = base;
		dw->run_n = 0;
	}
	for (unsigned i = 0; i < dw->run_n; i++) {
		if (dw->run_len[i] == de->de_namelen &&
		    !memcmp(dw->run_name[i], de->de_name, de->de_namelen)) {
			fsck_fix(f, FX_YES, "directory %u: name '%s' appears twice", dw->dir,
				 fsck_name(pr, de->de_name, de->de_namelen));
			return true;
		}
	}
	if (dw->run_n < FOLIO_DIR_COLL_MAX) {
		dw->run_len[dw->run_n] = de->de_namelen;
		memcpy(dw->run_name[dw->run_n++], de->de_name, de->de_namelen);
	}
	return false;
}

/* What to do with a record or an index entry: keep it, or (-y) remove it. */
enum { FX_KEEP, FX_DROP };

/* A bad record: removed with -y. */
static int fsck_drop(const struct fsck *f)
{
	return f->mode == FSCK_YES ? FX_DROP : FX_KEEP;
}

/* Can the record's target be named at all (in use, not reserved)? */
static int fsck_target_ok(struct fsck *f, struct fsck_dirwalk *dw, uint32_t target,
			  const char *name)
{
	if (!folio_ino_valid(&f->g, target) || target == FOLIO_ROOT_INO ||
	    target < FOLIO_FIRST_INO) {
		fsck_fix(f, FX_YES,
			 "directory %u: entry '%s' names inode %u, which cannot be named", dw->dir,
			 name, target);
		return fsck_drop(f);
	}
	if (!(f->ino[target].state & FI_INUSE)) {
		fsck_fix(f, FX_YES, "directory %u: entry '%s' names free inode %u", dw->dir, name,
			 target);
		return fsck_drop(f);
	}
	if (f->mode == FSCK_YES && fsck_unlink_wanted(f, dw->dir, target)) {
		fsck_fix(f, FX_YES, "directory %u: entry '%s' naming directory %u removed", dw->dir,
			 name, target);
		return FX_DROP;
	}
	if (f->mode == FSCK_YES && S_ISDIR(f->ino[target].mode) &&
	    (f->ino[target].state & FI_CHECKED) && f->ino[target].refs) {
		/* Keep the name in the directory its ".." names. */
		if (f->ino[target].parent == dw->dir && f->ino[target].found_parent != dw->dir) {
			fsck_fix(f, FX_YES, "directory %u: named by 2 entries, its parent is %u",
				 target, dw->dir);
			fsck_queue_unlink(f, f->ino[target].found_parent, target);
			return FX_KEEP;
		}
		fsck_fix(f, FX_YES, "directory %u: entry '%s' is a second name of directory %u",
			 dw->dir, name, target);
		return FX_DROP;
	}
	return FX_KEEP;
}

/* The inode a record names: in use, of the stated type; count the reference. */
static int fsck_entry_target(struct fsck *f, struct fsck_dirwalk *dw, struct folio_dirent *de,
			     const char *name, bool *changed)
{
	uint32_t target = le32_to_cpu(de->de_ino);
	struct fsck_ino *ti;

	if (fsck_target_ok(f, dw, target, name) == FX_DROP)
		return FX_DROP;
	if (!folio_ino_valid(&f->g, target) || !(f->ino[target].state & FI_INUSE))
		return FX_KEEP;
	ti = &f->ino[target];
	ti->refs++;
	if (!(ti->state & FI_CHECKED))
		return FX_KEEP;
	if (de->de_type != folio_mode_to_ftype(ti->mode) &&
	    fsck_fix(f, FX_YES, "directory %u: entry '%s' has type %u but inode %u has mode 0%o",
		     dw->dir, name, de->de_type, target, ti->mode)) {
		de->de_type = folio_mode_to_ftype(ti->mode);
		*changed = true;
	}
	if (S_ISDIR(ti->mode)) {
		f->ino[dw->dir].subdirs++;
		if (!ti->found_parent)
			ti->found_parent = dw->dir;
		if (dw->dir == FOLIO_ROOT_INO && de->de_namelen == 10 &&
		    !memcmp(de->de_name, "lost+found", 10))
			f->lf_ino = target;
	}
	return FX_KEEP;
}

static int fsck_record(struct fsck *f, struct fsck_dirwalk *dw, struct folio_dirent *de,
		       struct fsck_keyrange r, bool *changed)
{
	uint64_t key = le64_to_cpu(de->de_key), base;
	char name[FOLIO_NAME_MAX + 1];

	fsck_name(name, de->de_name, de->de_namelen);
	if (key < FOLIO_DIR_KEY_MIN || key >> 63 || key < r.lo || key >= r.hi ||
	    (dw->entries && key <= dw->last_key)) {
		fsck_fix(f, FX_YES,
			 "directory %u: entry '%s' key 0x%016" PRIx64
			 " out of order or outside its node's range",
			 dw->dir, name, key);
		if (fsck_drop(f) == FX_DROP)
			return FX_DROP;
	}
	if (!folio_name_valid(de->de_name, de->de_namelen)) {
		fsck_fix(f, FX_YES, "directory %u: invalid name '%s'", dw->dir, name);
		if (fsck_drop(f) == FX_DROP)
			return FX_DROP;
		dw->entries++;
		f->n_entries++;
		dw->last_key = key;
		return FX_KEEP;
	}
	base = folio_dir_key_base(folio_dirhash(f->hash_seed, de->de_name, de->de_namelen));
	if ((key & FOLIO_DIR_KEY_MASK) != base) {
		fsck_fix(f, FX_YES,
			 "directory %u: entry '%s' key 0x%016" PRIx64
			 " does not match its name's hash",
			 dw->dir, name, key);
		if (fsck_drop(f) == FX_DROP)
			return FX_DROP;
	}
	if (fsck_dup_check(f, dw, base, de) && fsck_drop(f) == FX_DROP)
		return FX_DROP;
	if (fsck_entry_target(f, dw, de, name, changed) == FX_DROP)
		return FX_DROP;
	dw->entries++;
	f->n_entries++;
	dw->last_key = key;
	return FX_KEEP;
}

/* Walk a leaf's records, removing those -y drops; true when it changed. */
static bool fsck_leaf(struct fsck *f, struct fsck_dirwalk *dw, uint8_t *blk, uint64_t nr,
		      struct fsck_keyrange r)
{
	struct folio_dir_node *dn = (void *)blk;
	uint8_t *pay = blk + FOLIO_BLK_PAYLOAD;
	const struct folio_dirent *de;
	uint32_t used = le16_to_cpu(dn->dn_used), off = 0, at;
	unsigned count = 0, dropped = 0;
	bool changed = false;
	int ret;

	for (at = off; (ret = folio_dirent_next(pay, used, &off, &de)) == 1; at = off) {
		if (fsck_record(f, dw, (struct folio_dirent *)de, r, &changed) == FX_KEEP) {
			count++;
			continue;
		}
		fsck_node_remove(pay, &used, at, off - at);
		off = at;
		dropped++;
		changed = true;
	}
	if (ret < 0 &&
	    fsck_fix(f, FX_YES, "directory %u: block %" PRIu64 ": malformed record at offset %u",
		     dw->dir, nr, off + FOLIO_BLK_PAYLOAD)) {
		memset(pay + off, 0, used - off);
		used = off;
		changed = true;
	}
	dn->dn_used = cpu_to_le16((uint16_t)used);
	dw->dropped += dropped;
	if (ret >= 0 && count + dropped != le16_to_cpu(dn->dn_count) &&
	    fsck_fix(f, FX_YES, "directory %u: block %" PRIu64 ": count %u, %u records", dw->dir,
		     nr, le16_to_cpu(dn->dn_count), count)) {
		dn->dn_count = cpu_to_le16((uint16_t)count);
		changed = true;
	} else if (changed) {
		dn->dn_count = cpu_to_le16((uint16_t)count);
	}
	return changed;
}

static int fsck_dir_node(struct fsck *f, struct fsck_dirwalk *dw, uint64_t nr, uint16_t level,
			 struct fsck_keyrange r, bool root);

/* Walk an index node's entries, removing those -y drops; true when it
 * changed. */
static bool fsck_index(struct fsck *f, struct fsck_dirwalk *dw, uint8_t *blk, uint64_t nr,
		       struct fsck_keyrange r)
{
	struct folio_dir_node *dn = (void *)blk;
	struct folio_dir_idx *idx = (void *)(blk + FOLIO_BLK_PAYLOAD);
	uint16_t level = le16_to_cpu(dn->dn_level);
	bool changed = false;

	for (uint16_t i = 0; i < le16_to_cpu(dn->dn_count);) {
		uint16_t n = le16_to_cpu(dn->dn_count);
		uint64_t key = le64_to_cpu(idx[i].di_key);
		uint64_t next = i + 1 < n ? le64_to_cpu(idx[i + 1].di_key) : r.hi;
		int v;

		if (key < r.lo || key >= r.hi || (i + 1 < n && next <= key) ||
		    (i && key <= le64_to_cpu(idx[i - 1].di_key))) {
			fsck_fix(f, FX_YES,
				 "directory %u: block %" PRIu64 ": index key 0x%016" PRIx64
				 " out of order or outside its node's range",
				 dw->dir, nr, key);
			v = fsck_drop(f);
			if (v == FX_KEEP)
				return false;
		} else {
			v = fsck_dir_node(f, dw, le64_to_cpu(idx[i].di_child), level - 1,
					  (struct fsck_keyrange){i ? key : r.lo, next}, false);
		}
		if (v == FX_KEEP) {
			i++;
			continue;
		}
		memmove(&idx[i], &idx[i + 1], (size_t)(n - i - 1) * sizeof(*idx));
		memset(&idx[n - 1], 0, sizeof(*idx));
		dn->dn_count = cpu_to_le16((uint16_t)(n - 1));
		dn->dn_used = cpu_to_le16((uint16_t)((n - 1) * sizeof(*idx)));
		changed = true;
	}
	return changed;
}

/* Check the node header of directory block @nr; FX_KEEP when it can be
 * walked (*changed when only its checksum is wrong and -y fixes it). */
static int fsck_dir_header(struct fsck *f, struct fsck_dirwalk *dw, const uint8_t *blk, uint64_t nr,
			   uint16_t level, bool root, bool *changed)
{
	const struct folio_dir_node *dn = (const void *)blk;
	int ret = folio_block_check(f->seed, blk, f->g.block_size, FOLIO_DIR_MAGIC, nr, dw->dir);
	uint16_t n = le16_to_cpu(dn->dn_count);

	if (ret && ret != -EBADMSG) {
		fsck_fix(f, FX_YES,
			 "directory %u: block %" PRIu64 ": bad magic, block number or owner",
			 dw->dir, nr);
		return FX_DROP;
	}
	if (ret == -EBADMSG)
		*changed |=
			fsck_fix(f, FX_YES, "directory %u: block %" PRIu64 ": checksum mismatch",
				 dw->dir, nr);
	if (le16_to_cpu(dn->dn_level) != level) {
		fsck_fix(f, FX_YES, "directory %u: block %" PRIu64 ": level %u, expected %u",
			 dw->dir, nr, le16_to_cpu(dn->dn_level), level);
		return FX_DROP;
	}
	if (le16_to_cpu(dn->dn_used) > f->g.block_size - FOLIO_BLK_PAYLOAD) {
		fsck_fix(f, FX_YES, "directory %u: block %" PRIu64 ": %u bytes used", dw->dir, nr,
			 le16_to_cpu(dn->dn_used));
		return FX_DROP;
	}
	if (!n && !root) {
		fsck_fix(f, FX_YES, "directory %u: block %" PRIu64 ": empty node", dw->dir, nr);
		return FX_DROP;
	}
	if (level && (n > f->g.dir_idx_max ||
		      le16_to_cpu(dn->dn_used) != n * sizeof(struct folio_dir_idx))) {
		fsck_fix(f, FX_YES, "directory %u: block %" PRIu64 ": count %u, %u bytes used",
			 dw->dir, nr, n, le16_to_cpu(dn->dn_used));
		return FX_DROP;
	}
	return FX_KEEP;
}

/* A node -y drops: what its walk counted is taken back. */
struct fsck_dirsnap {
	uint64_t entries, blocks, n_entries, last_key;
};

static int fsck_dir_node(struct fsck *f, struct fsck_dirwalk *dw, uint64_t nr, uint16_t level,
			 struct fsck_keyrange r, bool root)
{
	struct fsck_dirsnap snap = {dw->entries, dw->blocks, f->n_entries, dw->last_key};
	bool changed = false;
	uint8_t *blk;
	int v;

	if (!fsck_range_ok(f, nr, 1) || !fsck_claim_free(f, nr, 1)) {
		fsck_fix(f, FX_YES, "directory %u: block pointer %" PRIu64 " %s", dw->dir, nr,
			 fsck_range_ok(f, nr, 1) ? "to a block already in use"
						 : "outside the filesystem");
		return fsck_drop(f);
	}
	fsck_claim(f, nr, 1, dw->dir, FK_DIRNODE);
	dw->blocks++;
	f->n_tree_blocks++;
	blk = fsck_block_alloc(1, f->g.block_size);
	fsck_read(f, nr, 1, blk);
	v = fsck_dir_header(f, dw, blk, nr, level, root, &changed);
	if (v == FX_KEEP) {
		changed |= level ? fsck_index(f, dw, blk, nr, r) : fsck_leaf(f, dw, blk, nr, r);
		if (changed && f->mode == FSCK_YES && !root &&
		    !((struct folio_dir_node *)blk)->dn_count) {
			fsck_fix(f, FX_YES, "directory %u: block %" PRIu64 " left empty", dw->dir,
				 nr);
			v = FX_DROP;
		}
	} else {
		v = fsck_drop(f);
	}
	if (v == FX_KEEP && changed && f->mode == FSCK_YES) {
		folio_block_csum_set(f->seed, blk, f->g.block_size);
		fsck_write(f, nr, 1, blk);
	}
	if (v == FX_DROP) {
		dw->entries = snap.entries;
		dw->blocks = snap.blocks;
		f->n_entries = snap.n_entries;
		dw->last_key = snap.last_key;
	}
	free(blk);
	return v;
}

/* -y: store the directory's root, counts, size and i_blocks as walked. */
static void fsck_dir_store(struct fsck *f, const struct fsck_dir *d, bool emptied,
			   const struct fsck_dirwalk *dw, uint32_t xb)
{
	uint8_t *buf = fsck_block_alloc(1, f->g.block_size);
	struct folio_inode *in = fsck_inode_read(f, d->ino, buf);

	if (in) {
		if (emptied) {
			in->i_dir.dr_root = 0;
			in->i_dir.dr_depth = 0;
		}
		in->i_dir.dr_entries = cpu_to_le64(dw->entries);
		in->i_size = cpu_to_le64(dw->blocks << f->g.block_shift);
		in->i_blocks = cpu_to_le64(dw->blocks + xb);
		fsck_inode_write(f, d->ino, in);
	}
	free(buf);
}

static void fsck_walk_dir(struct fsck *f, const struct fsck_dir *d, struct fsck_dirwalk *dw)
{
	uint32_t xb = d->xblock ? 1 : 0;
	bool fix = false, emptied = false;

	memset(dw, 0, offsetof(struct fsck_dirwalk, run_len));
	dw->dir = d->ino;
	dw->run_base = UINT64_MAX;
	if (d->ino == FOLIO_ROOT_INO)
		fsck_verbose(f, "root directory: tree root block %" PRIu64 ", depth %u", d->root,
			     d->depth);
	if (d->root &&
	    fsck_dir_node(f, dw, d->root, d->depth,
			  (struct fsck_keyrange){FOLIO_DIR_KEY_MIN, 1ULL << 63}, true) == FX_DROP) {
		fsck_fix(f, FX_YES, "directory %u: tree root unusable: directory emptied", d->ino);
		emptied = fix = true;
	}
	fix |= dw->dropped != 0; /* the count follows the records removed */
	if (dw->entries + dw->dropped != d->entries)
		fix |= fsck_fix(f, FX_YES,
				"directory %u: %" PRIu64 " entries recorded, %" PRIu64 " found",
				d->ino, d->entries, dw->entries);
	if (d->size != dw->blocks << f->g.block_shift)
		fix |= fsck_fix(f, FX_YES,
				"directory %u: size %" PRIu64 ", expected %" PRIu64 " (%" PRIu64
				" blocks)",
				d->ino, d->size, dw->blocks << f->g.block_shift, dw->blocks);
	if (d->blocks != dw->blocks + xb)
		fix |= fsck_fix(f, FX_YES,
				"inode %u: i_blocks %" PRIu64 ", %" PRIu64 " blocks owned", d->ino,
				d->blocks, dw->blocks + xb);
	if (fix)
		fsck_dir_store(f, d, emptied, dw, xb);
}

/**
 * fsck_pass_dirs - walk every directory tree
 * @f: the check, after fsck_pass_inodes()
 *
 * Context: fsck's only thread.
 */
void fsck_pass_dirs(struct fsck *f)
{
	struct fsck_dirwalk *dw = fsck_alloc(sizeof(*dw));

	for (size_t i = 0; i < f->ndirs; i++)
		fsck_walk_dir(f, &f->dirs[i], dw);
	free(dw);
}

/* ------------------------------------------------------------------ */
/* Link counts and connectivity                                        */
/* ------------------------------------------------------------------ */

/* Does directory @ino reach the root through found_parent links? Marks every
 * directory on the path with the answer. */
static bool fsck_connected(struct fsck *f, uint32_t ino)
{
	uint32_t cur = ino;
	size_t steps = 0;
	bool linked;

	while (cur && cur != FOLIO_ROOT_INO && !(f->ino[cur].state & FI_DIRDONE) &&
	       steps++ <= f->ndirs)
		cur = f->ino[cur].found_parent;
	if (cur == FOLIO_ROOT_INO)
		linked = true;
	else if (cur && (f->ino[cur].state & FI_DIRDONE))
		linked = f->ino[cur].state & FI_LINKED;
	else
		linked = false;
	for (cur = ino, steps = 0; cur && cur != FOLIO_ROOT_INO && steps++ <= f->ndirs;
	     cur = f->ino[cur].found_parent) {
		if (f->ino[cur].state & FI_DIRDONE)
			break;
		f->ino[cur].state |= FI_DIRDONE | (linked ? FI_LINKED : 0);
	}
	return linked;
}

/* Change one inode's link count (and a directory's parent) with -y. */
static void fsck_set_links(struct fsck *f, uint32_t ino, uint32_t nlink, uint32_t parent)
{
	uint8_t *buf = fsck_block_alloc(1, f->g.block_size);
	struct folio_inode *in = fsck_inode_read(f, ino, buf);

	if (in) {
		in->i_nlink = cpu_to_le32(nlink);
		if (parent)
			in->i_dir.dr_parent = cpu_to_le32(parent);
		fsck_inode_write(f, ino, in);
	}
	free(buf);
}

/* Is a directory on @ino's path up (through found_parent) queued for
 * /lost+found already? */
static bool fsck_ancestor_queued(const struct fsck *f, uint32_t ino)
{
	uint32_t cur = f->ino[ino].found_parent;

	for (size_t steps = 0; cur && cur != FOLIO_ROOT_INO && steps <= f->ndirs; steps++) {
		if (f->ino[cur].state & FI_RECONN)
			return true;
		cur = f->ino[cur].found_parent;
	}
	return false;
}

/* A directory no path from the root reaches: -y moves it (or the first of
 * its loop) to /lost+found, removing the entry that named it. */
static void fsck_dir_unreachable(struct fsck *f, uint32_t ino, const struct fsck_ino *fi)
{
	if (f->mode == FSCK_YES && fsck_ancestor_queued(f, ino))
		return; /* reconnected with the directory above it */
	if (!fsck_fix(f, FX_YES, "directory %u: not reachable from the root (loop)", ino))
		return;
	fsck_queue_unlink(f, fi->found_parent, ino);
	fsck_queue_reconnect(f, ino);
}

static void fsck_dir_links(struct fsck *f, uint32_t ino, const struct fsck_ino *fi)
{
	uint32_t want = 2 + fi->subdirs;

	if (fi->nlink != want && !(fi->state & FI_ORPHAN) &&
	    fsck_fix(f, FX_YES, "directory %u: link count %u, expected %u (2 + %u subdirectories)",
		     ino, fi->nlink, want, fi->subdirs))
		fsck_set_links(f, ino, want, 0);
	if (ino == FOLIO_ROOT_INO) {
		if (fi->parent != FOLIO_ROOT_INO &&
		    fsck_fix(f, FX_YES, "directory %u: parent %u, expected itself", ino,
			     fi->parent))
			fsck_set_links(f, ino, want, FOLIO_ROOT_INO);
		return;
	}
	if (fi->refs == 0)
		return; /* fsck_unnamed_dirs() */
	if (fi->refs > 1)
		fsck_problem(f, "directory %u: named by %u entries (only one allowed)", ino,
			     fi->refs);
	if (fi->parent != fi->found_parent &&
	    fsck_fix(f, FX_YES, "directory %u: parent %u, but its entry is in directory %u", ino,
		     fi->parent, fi->found_parent))
		fsck_set_links(f, ino, want, fi->found_parent);
	if (!fsck_connected(f, ino))
		fsck_dir_unreachable(f, ino, fi);
}

/* Directories no entry names (first, so that their subdirectories follow
 * them into /lost+found rather than on their own). */
static void fsck_unnamed_dirs(struct fsck *f)
{
	for (size_t i = 0; i < f->ndirs; i++) {
		uint32_t ino = f->dirs[i].ino;
		const struct fsck_ino *fi = &f->ino[ino];

		if (ino == FOLIO_ROOT_INO || fi->refs || (fi->state & FI_ORPHAN) ||
		    !(fi->state & FI_CHECKED))
			continue;
		if (fsck_fix(f, FX_YES, "directory %u: not named by any directory", ino))
			fsck_queue_reconnect(f, ino);
	}
}

/* A file, symlink or special file: its link count against its entries. */
static void fsck_file_links(struct fsck *f, uint32_t ino, const struct fsck_ino *fi)
{
	if (ino == FOLIO_JOURNAL_INO || (fi->nlink == fi->refs && fi->nlink))
		return;
	if (!fi->refs && !fi->nlink) {
		if (fi->state & FI_ORPHAN)
			return;
		if (fsck_fix(f, FX_PREEN,
			     "inode %u: link count 0 but not on the orphan list (leaked): freed",
			     ino))
			fsck_free_inode(f, ino);
		return;
	}
	if (!fi->refs) {
		if (fsck_fix(f, FX_YES, "inode %u: link count %u, %u references (in no directory)",
			     ino, fi->nlink, fi->refs))
			fsck_queue_reconnect(f, ino);
		return;
	}
	if (fsck_fix(f, FX_YES, "inode %u: link count %u, %u references", ino, fi->nlink, fi->refs))
		fsck_set_links(f, ino, fi->refs, 0);
}

/* Directories per group against bg_used_dirs. */
static void fsck_used_dirs(struct fsck *f)
{
	const struct folio_geom *g = &f->g;

	for (uint32_t group = 0; group < g->groups_count; group++) {
		uint32_t n = 0, first = group * g->inodes_per_group + 1;

		if (!f->imap_ok[group] || !f->group_ok[group])
			continue;
		for (uint32_t i = 0; i < g->inodes_per_group; i++) {
			const struct fsck_ino *fi = &f->ino[first + i];

			n += (fi->state & FI_CHECKED) && S_ISDIR(fi->mode);
		}
		if (n != le32_to_cpu(f->gdt[group].bg_used_dirs))
			fsck_fix_count(f, "group %u: used directories count %u, found %u", group,
				       le32_to_cpu(f->gdt[group].bg_used_dirs), n);
	}
}

/**
 * fsck_pass_links - compare link counts with references, check parents
 * and connectivity
 * @f: the check, after fsck_pass_dirs()
 *
 * Context: fsck's only thread.
 */
void fsck_pass_links(struct fsck *f)
{
	/* After a change to references the counts are not final: the next
	 * round checks them. */
	if (f->mode != FSCK_CHECK && f->round_fixes)
		return;
	fsck_unnamed_dirs(f);
	for (uint32_t ino = 1; ino <= f->g.inodes_count; ino++) {
		const struct fsck_ino *fi = &f->ino[ino];

		if (!(fi->state & FI_CHECKED))
			continue;
		if (S_ISDIR(fi->mode))
			fsck_dir_links(f, ino, fi);
		else
			fsck_file_links(f, ino, fi);
	}
	fsck_used_dirs(f);
}
