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
void fsck_add_dir(struct fsck *f, uint32_t ino, const struct folio_inode *in, bool xblock)
{
	const struct folio_dir_root *dr = &in->i_dir;
	struct fsck_dir *d;

	f->ino[ino].parent = le32_to_cpu(dr->dr_parent);
	if (le16_to_cpu(dr->dr_depth) > FOLIO_DIR_MAX_DEPTH ||
	    (!dr->dr_root && (dr->dr_entries || dr->dr_depth))) {
		fsck_problem(f, "directory %u: bad tree root (block %" PRIu64 ", depth %u)", ino,
			     le64_to_cpu(dr->dr_root), le16_to_cpu(dr->dr_depth));
		return;
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
static void fsck_dup_check(struct fsck *f, struct fsck_dirwalk *dw, uint64_t base,
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
			fsck_problem(f, "directory %u: name '%s' appears twice", dw->dir,
				     fsck_name(pr, de->de_name, de->de_namelen));
			return;
		}
	}
	if (dw->run_n < FOLIO_DIR_COLL_MAX) {
		dw->run_len[dw->run_n] = de->de_namelen;
		memcpy(dw->run_name[dw->run_n++], de->de_name, de->de_namelen);
	}
}

/* The inode a record names: in use, of the stated type; count the reference. */
static void fsck_entry_target(struct fsck *f, struct fsck_dirwalk *dw,
			      const struct folio_dirent *de, const char *name)
{
	uint32_t target = le32_to_cpu(de->de_ino);
	struct fsck_ino *ti;

	if (!folio_ino_valid(&f->g, target) || target == FOLIO_ROOT_INO ||
	    target < FOLIO_FIRST_INO) {
		fsck_problem(f, "directory %u: entry '%s' names inode %u, which cannot be named",
			     dw->dir, name, target);
		return;
	}
	ti = &f->ino[target];
	if (!(ti->state & FI_INUSE)) {
		fsck_problem(f, "directory %u: entry '%s' names free inode %u", dw->dir, name,
			     target);
		return;
	}
	ti->refs++;
	if (!(ti->state & FI_CHECKED))
		return;
	if (de->de_type != folio_mode_to_ftype(ti->mode))
		fsck_problem(f, "directory %u: entry '%s' has type %u but inode %u has mode 0%o",
			     dw->dir, name, de->de_type, target, ti->mode);
	if (S_ISDIR(ti->mode)) {
		f->ino[dw->dir].subdirs++;
		if (!ti->found_parent)
			ti->found_parent = dw->dir;
	}
}

static void fsck_record(struct fsck *f, struct fsck_dirwalk *dw, const struct folio_dirent *de,
			struct fsck_keyrange r)
{
	uint64_t key = le64_to_cpu(de->de_key), base;
	char name[FOLIO_NAME_MAX + 1];

	fsck_name(name, de->de_name, de->de_namelen);
	dw->entries++;
	f->n_entries++;
	if (key < FOLIO_DIR_KEY_MIN || key >> 63 || key < r.lo || key >= r.hi ||
	    (dw->entries > 1 && key <= dw->last_key))
		fsck_problem(f,
			     "directory %u: entry '%s' key 0x%016" PRIx64
			     " out of order or outside its node's range",
			     dw->dir, name, key);
	dw->last_key = key;
	if (!folio_name_valid(de->de_name, de->de_namelen)) {
		fsck_problem(f, "directory %u: invalid name '%s'", dw->dir, name);
		return;
	}
	base = folio_dir_key_base(folio_dirhash(f->hash_seed, de->de_name, de->de_namelen));
	if ((key & FOLIO_DIR_KEY_MASK) != base)
		fsck_problem(f,
			     "directory %u: entry '%s' key 0x%016" PRIx64
			     " does not match its name's hash",
			     dw->dir, name, key);
	fsck_dup_check(f, dw, base, de);
	fsck_entry_target(f, dw, de, name);
}

static void fsck_leaf(struct fsck *f, struct fsck_dirwalk *dw, const uint8_t *blk, uint64_t nr,
		      struct fsck_keyrange r)
{
	const struct folio_dir_node *dn = (const void *)blk;
	const struct folio_dirent *de;
	uint32_t used = le16_to_cpu(dn->dn_used), off = 0;
	unsigned count = 0;
	int ret;

	while ((ret = folio_dirent_next(blk + FOLIO_BLK_PAYLOAD, used, &off, &de)) == 1) {
		count++;
		fsck_record(f, dw, de, r);
	}
	if (ret < 0)
		fsck_problem(f, "directory %u: block %" PRIu64 ": malformed record at offset %u",
			     dw->dir, nr, off + FOLIO_BLK_PAYLOAD);
	else if (count != le16_to_cpu(dn->dn_count))
		fsck_problem(f, "directory %u: block %" PRIu64 ": count %u, %u records", dw->dir,
			     nr, le16_to_cpu(dn->dn_count), count);
}

static void fsck_dir_node(struct fsck *f, struct fsck_dirwalk *dw, uint64_t nr, uint16_t level,
			  struct fsck_keyrange r, bool root);

static void fsck_index(struct fsck *f, struct fsck_dirwalk *dw, const uint8_t *blk, uint64_t nr,
		       struct fsck_keyrange r)
{
	const struct folio_dir_node *dn = (const void *)blk;
	const struct folio_dir_idx *idx = (const void *)(blk + FOLIO_BLK_PAYLOAD);
	uint16_t n = le16_to_cpu(dn->dn_count), level = le16_to_cpu(dn->dn_level);

	if (n > f->g.dir_idx_max || le16_to_cpu(dn->dn_used) != n * sizeof(*idx)) {
		fsck_problem(f, "directory %u: block %" PRIu64 ": count %u, %u bytes used", dw->dir,
			     nr, n, le16_to_cpu(dn->dn_used));
		return;
	}
	for (uint16_t i = 0; i < n; i++) {
		uint64_t key = le64_to_cpu(idx[i].di_key);
		uint64_t next = i + 1 < n ? le64_to_cpu(idx[i + 1].di_key) : r.hi;

		if (key < r.lo || key >= r.hi || (i + 1 < n && next <= key)) {
			fsck_problem(f,
				     "directory %u: block %" PRIu64 ": index key 0x%016" PRIx64
				     " out of order or outside its node's range",
				     dw->dir, nr, key);
			return;
		}
		fsck_dir_node(f, dw, le64_to_cpu(idx[i].di_child), level - 1,
			      (struct fsck_keyrange){i ? key : r.lo, next}, false);
	}
}

/* Check the node header of directory block @nr; true when it can be walked. */
static bool fsck_dir_header(struct fsck *f, struct fsck_dirwalk *dw, const uint8_t *blk,
			    uint64_t nr, uint16_t level, bool root)
{
	const struct folio_dir_node *dn = (const void *)blk;
	int ret = folio_block_check(f->seed, blk, f->g.block_size, FOLIO_DIR_MAGIC, nr, dw->dir);

	if (ret == -EBADMSG)
		fsck_problem(f, "directory %u: block %" PRIu64 ": checksum mismatch", dw->dir, nr);
	else if (ret) {
		fsck_problem(f, "directory %u: block %" PRIu64 ": bad magic, block number or owner",
			     dw->dir, nr);
		return false;
	}
	if (le16_to_cpu(dn->dn_level) != level) {
		fsck_problem(f, "directory %u: block %" PRIu64 ": level %u, expected %u", dw->dir,
			     nr, le16_to_cpu(dn->dn_level), level);
		return false;
	}
	if (le16_to_cpu(dn->dn_used) > f->g.block_size - FOLIO_BLK_PAYLOAD) {
		fsck_problem(f, "directory %u: block %" PRIu64 ": %u bytes used", dw->dir, nr,
			     le16_to_cpu(dn->dn_used));
		return false;
	}
	if (!dn->dn_count && !root) {
		fsck_problem(f, "directory %u: block %" PRIu64 ": empty node", dw->dir, nr);
		return false;
	}
	return true;
}

static void fsck_dir_node(struct fsck *f, struct fsck_dirwalk *dw, uint64_t nr, uint16_t level,
			  struct fsck_keyrange r, bool root)
{
	uint8_t *blk;

	if (!fsck_range_ok(f, nr, 1)) {
		fsck_problem(f, "directory %u: block pointer %" PRIu64 " outside the filesystem",
			     dw->dir, nr);
		return;
	}
	fsck_claim(f, nr, 1, dw->dir, FK_DIRNODE);
	dw->blocks++;
	f->n_tree_blocks++;
	blk = fsck_block_alloc(1, f->g.block_size);
	fsck_read(f, nr, 1, blk);
	if (fsck_dir_header(f, dw, blk, nr, level, root)) {
		if (level)
			fsck_index(f, dw, blk, nr, r);
		else
			fsck_leaf(f, dw, blk, nr, r);
	}
	free(blk);
}

static void fsck_walk_dir(struct fsck *f, const struct fsck_dir *d, struct fsck_dirwalk *dw)
{
	uint32_t xb = d->xblock ? 1 : 0;

	memset(dw, 0, offsetof(struct fsck_dirwalk, run_len));
	dw->dir = d->ino;
	dw->run_base = UINT64_MAX;
	if (d->ino == FOLIO_ROOT_INO)
		fsck_verbose(f, "root directory: tree root block %" PRIu64 ", depth %u", d->root,
			     d->depth);
	if (d->root)
		fsck_dir_node(f, dw, d->root, d->depth,
			      (struct fsck_keyrange){FOLIO_DIR_KEY_MIN, 1ULL << 63}, true);
	if (dw->entries != d->entries)
		fsck_problem(f, "directory %u: %" PRIu64 " entries recorded, %" PRIu64 " found",
			     d->ino, d->entries, dw->entries);
	if (d->size != dw->blocks << f->g.block_shift)
		fsck_problem(f,
			     "directory %u: size %" PRIu64 ", expected %" PRIu64 " (%" PRIu64
			     " blocks)",
			     d->ino, d->size, dw->blocks << f->g.block_shift, dw->blocks);
	if (d->blocks != dw->blocks + xb)
		fsck_problem(f, "inode %u: i_blocks %" PRIu64 ", %" PRIu64 " blocks owned", d->ino,
			     d->blocks, dw->blocks + xb);
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

static void fsck_dir_links(struct fsck *f, uint32_t ino, const struct fsck_ino *fi)
{
	uint32_t want = 2 + fi->subdirs;

	if (fi->nlink != want && !(fi->state & FI_ORPHAN))
		fsck_problem(f, "directory %u: link count %u, expected %u (2 + %u subdirectories)",
			     ino, fi->nlink, want, fi->subdirs);
	if (ino == FOLIO_ROOT_INO) {
		if (fi->parent != FOLIO_ROOT_INO)
			fsck_problem(f, "directory %u: parent %u, expected itself", ino,
				     fi->parent);
		return;
	}
	if (fi->refs == 0) {
		if (!(fi->state & FI_ORPHAN))
			fsck_problem(f, "directory %u: not named by any directory", ino);
		return;
	}
	if (fi->refs > 1)
		fsck_problem(f, "directory %u: named by %u entries (only one allowed)", ino,
			     fi->refs);
	if (fi->parent != fi->found_parent)
		fsck_problem(f, "directory %u: parent %u, but its entry is in directory %u", ino,
			     fi->parent, fi->found_parent);
	if (!fsck_connected(f, ino))
		fsck_problem(f, "directory %u: not reachable from the root (loop)", ino);
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
			fsck_problem(f, "group %u: used directories count %u, found %u", group,
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
	for (uint32_t ino = 1; ino <= f->g.inodes_count; ino++) {
		const struct fsck_ino *fi = &f->ino[ino];

		if (!(fi->state & FI_CHECKED))
			continue;
		if (S_ISDIR(fi->mode))
			fsck_dir_links(f, ino, fi);
		else if (fi->nlink != fi->refs && ino != FOLIO_JOURNAL_INO)
			fsck_problem(f, "inode %u: link count %u, %u references", ino, fi->nlink,
				     fi->refs);
	}
	fsck_used_dirs(f);
}
