/*
 * tools/fsck_inode.c - fsck.foliofs: every in-use inode, and the orphan list.
 *
 * Interface (tools/fsck.h): fsck_pass_inodes() reads the inode table of each
 * group up to its last in-use inode and checks every inode whose bitmap bit
 * is set: checksum, mode, times, flags, xattrs, and by type the extent tree
 * (regular files, long symlinks), the inline target (short symlinks), sizes
 * and i_blocks. Directories are queued for fsck_pass_dirs().
 * fsck_pass_orphans() walks the orphan list from s_orphan_head.
 *
 * Reserved inodes 2..7 are not checked unless a feature gives them a meaning
 * (inode 2 with COMPAT_JOURNAL is checked as the journal, fsck_journal.c).
 *
 * -y fixes an inode in its table copy (each check sets *dirty) and writes
 * it once checked: bad nanoseconds and flags cleared, sizes and i_blocks set
 * to what the inode owns, a checksum recomputed when the rest is sound; an
 * inode with an invalid mode or a symlink that cannot be read is freed.
 *
 * Invariants: after the pass, f->ino[n].state has FI_INUSE for every inode
 * whose bitmap bit is set, FI_CHECKED for those read and checked, FI_BAD for
 * those whose mode makes them unusable; mode and nlink are filled for
 * FI_CHECKED inodes.
 */
#include "config.h"

#include "tools/fsck.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FSCK_NSEC_MAX 999999999u

static uint32_t fsck_nsec(le32 ns)
{
	return le32_to_cpu(ns) > FSCK_NSEC_MAX ? 0 : le32_to_cpu(ns);
}

static void fsck_check_times(struct fsck *f, uint32_t ino, struct folio_inode *in, bool *dirty)
{
	if ((le32_to_cpu(in->i_atime_nsec) > FSCK_NSEC_MAX ||
	     le32_to_cpu(in->i_mtime_nsec) > FSCK_NSEC_MAX ||
	     le32_to_cpu(in->i_ctime_nsec) > FSCK_NSEC_MAX ||
	     le32_to_cpu(in->i_crtime_nsec) > FSCK_NSEC_MAX) &&
	    fsck_fix(f, FX_YES, "inode %u: nanoseconds of a timestamp out of range", ino)) {
		in->i_atime_nsec = cpu_to_le32(fsck_nsec(in->i_atime_nsec));
		in->i_mtime_nsec = cpu_to_le32(fsck_nsec(in->i_mtime_nsec));
		in->i_ctime_nsec = cpu_to_le32(fsck_nsec(in->i_ctime_nsec));
		in->i_crtime_nsec = cpu_to_le32(fsck_nsec(in->i_crtime_nsec));
		*dirty = true;
	}
}

static void fsck_check_iblocks(struct fsck *f, uint32_t ino, struct folio_inode *in,
			       uint64_t counted, bool *dirty)
{
	uint64_t stored = le64_to_cpu(in->i_blocks);

	if (stored != counted &&
	    fsck_fix(f, FX_YES, "inode %u: i_blocks %" PRIu64 ", %" PRIu64 " blocks owned", ino,
		     stored, counted)) {
		in->i_blocks = cpu_to_le64(counted);
		*dirty = true;
	}
}

static void fsck_check_regular(struct fsck *f, uint32_t ino, struct folio_inode *in,
			       uint64_t xblocks, bool *dirty)
{
	struct fsck_extent_walk w;
	uint64_t size = le64_to_cpu(in->i_size), max = FOLIO_MAX_LBLK << f->g.block_shift;

	fsck_walk_extents(f, ino, &in->i_extents, &w);
	*dirty |= w.root_changed;
	if (size > max &&
	    fsck_fix(f, FX_YES, "inode %u: size %" PRIu64 " beyond the largest file", ino, size)) {
		in->i_size = cpu_to_le64(max);
		*dirty = true;
	}
	if (!w.bad)
		fsck_check_iblocks(f, ino, in, w.data_blocks + w.node_blocks + xblocks, dirty);
}

/* A long symlink: extent-mapped target filling every block up to its size. */
/* A symlink whose target cannot be read: -y frees the inode (its entries
 * go in the next round). True when freed. */
static bool fsck_bad_symlink(struct fsck *f, uint32_t ino, const char *what, uint64_t size)
{
	if (!fsck_fix(f, FX_YES, "inode %u: symlink target of %" PRIu64 " bytes %s: inode cleared",
		      ino, size, what))
		return false;
	fsck_free_inode(f, ino);
	return true;
}

static bool fsck_check_long_symlink(struct fsck *f, uint32_t ino, struct folio_inode *in,
				    uint64_t size, uint64_t xblocks, bool *dirty)
{
	struct fsck_extent_walk w;
	uint64_t need = (size + f->g.block_size - 1) >> f->g.block_shift;
	char what[80];

	fsck_walk_extents(f, ino, &in->i_extents, &w);
	*dirty |= w.root_changed;
	if (w.bad)
		return false;
	if (w.end != need || w.holes || w.unwritten) {
		snprintf(what, sizeof(what), "is not mapped by written blocks 0-%" PRIu64,
			 need - 1);
		if (fsck_bad_symlink(f, ino, what, size))
			return true;
	}
	fsck_check_iblocks(f, ino, in, w.data_blocks + w.node_blocks + xblocks, dirty);
	return false;
}

/* Returns true when the inode was freed. */
static bool fsck_check_symlink(struct fsck *f, uint32_t ino, struct folio_inode *in,
			       uint64_t xblocks, bool *dirty)
{
	uint64_t size = le64_to_cpu(in->i_size);
	bool inl = le32_to_cpu(in->i_flags) & FOLIO_IFL_INLINE;

	if (size == 0 || size > FOLIO_SYMLINK_MAX)
		return fsck_bad_symlink(f, ino, "(1..4095 allowed)", size);
	if (inl != (size <= FOLIO_INLINE_MAX))
		return fsck_bad_symlink(f, ino, inl ? "wrongly marked inline" : "not stored inline",
					size);
	if (!inl)
		return fsck_check_long_symlink(f, ino, in, size, xblocks, dirty);
	if (memchr(in->i_symlink, '\0', size) &&
	    fsck_fix(f, FX_YES,
		     "inode %u: inline symlink target contains a NUL byte: inode cleared", ino)) {
		fsck_free_inode(f, ino);
		return true;
	}
	fsck_check_iblocks(f, ino, in, xblocks, dirty);
	return false;
}

/* Devices, fifos and sockets hold no data. */
static void fsck_check_special(struct fsck *f, uint32_t ino, struct folio_inode *in,
			       uint64_t xblocks, bool *dirty)
{
	if (le64_to_cpu(in->i_size) &&
	    fsck_fix(f, FX_YES, "inode %u: special file with size %" PRIu64, ino,
		     le64_to_cpu(in->i_size))) {
		in->i_size = 0;
		*dirty = true;
	}
	fsck_check_iblocks(f, ino, in, xblocks, dirty);
}

static void fsck_check_flags(struct fsck *f, uint32_t ino, struct folio_inode *in, bool *dirty)
{
	uint32_t flags = le32_to_cpu(in->i_flags);

	if ((flags & ~FOLIO_IFL_KNOWN) &&
	    fsck_fix(f, FX_YES, "inode %u: unknown flags 0x%x", ino, flags & ~FOLIO_IFL_KNOWN)) {
		flags &= FOLIO_IFL_KNOWN;
		*dirty = true;
	}
	if ((flags & FOLIO_IFL_INLINE) && !S_ISLNK(le16_to_cpu(in->i_mode)) &&
	    fsck_fix(f, FX_YES, "inode %u: inline flag on a file that is not a symlink", ino)) {
		flags &= ~FOLIO_IFL_INLINE;
		*dirty = true;
	}
	in->i_flags = cpu_to_le32(flags);
}

static void fsck_count_type(struct fsck *f, uint32_t mode)
{
	if (S_ISDIR(mode))
		f->n_dirs++;
	else if (S_ISREG(mode))
		f->n_files++;
	else if (S_ISLNK(mode))
		f->n_symlinks++;
	else
		f->n_other++;
}

/* The checks by type; true when the inode was freed. */
static bool fsck_check_by_type(struct fsck *f, uint32_t ino, struct folio_inode *in, uint32_t mode,
			       bool *dirty)
{
	uint64_t xblocks = in->i_xattr_block ? 1 : 0;

	if (S_ISREG(mode))
		fsck_check_regular(f, ino, in, xblocks, dirty);
	else if (S_ISDIR(mode))
		fsck_add_dir(f, ino, in, xblocks, dirty);
	else if (S_ISLNK(mode))
		return fsck_check_symlink(f, ino, in, xblocks, dirty);
	else
		fsck_check_special(f, ino, in, xblocks, dirty);
	return false;
}

/* Check one in-use inode; @in points at its s_inode_size bytes (a copy
 * -y may change and write back). */
static void fsck_check_inode(struct fsck *f, uint32_t ino, struct folio_inode *in)
{
	struct fsck_ino *fi = &f->ino[ino];
	uint32_t mode = le16_to_cpu(in->i_mode);
	bool csum_ok = folio_inode_csum_ok(f->seed, ino, in, f->g.inode_size), dirty = false;
	uint64_t before = f->problems;

	f->n_inodes++;
	if (!folio_mode_to_ftype(mode)) {
		if (!csum_ok)
			fsck_problem(f, "inode %u: checksum mismatch", ino);
		if (fsck_fix(f, FX_YES, "inode %u: in use with invalid mode 0%o: cleared", ino,
			     mode))
			fsck_free_inode(f, ino);
		else
			fi->state |= FI_BAD;
		return;
	}
	fi->state |= FI_CHECKED;
	fi->mode = (uint16_t)mode;
	fi->nlink = le32_to_cpu(in->i_nlink);
	fsck_count_type(f, mode);
	fsck_check_times(f, ino, in, &dirty);
	fsck_check_flags(f, ino, in, &dirty);
	fsck_check_xattrs(f, ino, in, &dirty);
	if (fsck_check_by_type(f, ino, in, mode, &dirty))
		return;
	/* A checksum is recomputed only when nothing else was left wrong. */
	if (!csum_ok &&
	    (f->problems != before || !fsck_fix(f, FX_YES, "inode %u: checksum mismatch", ino)))
		fsck_problem(f, "inode %u: checksum mismatch", ino);
	else if (dirty || !csum_ok)
		fsck_inode_write(f, ino, in);
}

/* Should an in-use inode number be checked as a file? */
static bool fsck_ino_is_file(const struct fsck *f, uint32_t ino)
{
	if (ino >= FOLIO_FIRST_INO || ino == FOLIO_ROOT_INO)
		return true;
	return ino == FOLIO_JOURNAL_INO &&
	       (le32_to_cpu(f->sb.s_feature_compat) & FOLIO_COMPAT_JOURNAL);
}

/* Highest in-use index of @group's inode bitmap + 1 (0: none in use). */
static uint32_t fsck_group_used_end(const struct fsck *f, uint32_t group)
{
	const uint8_t *map = f->imaps + (size_t)group * f->g.block_size;

	for (uint32_t i = f->g.inodes_per_group; i > 0; i--)
		if (fsck_test_bit(map, i - 1))
			return i;
	return 0;
}

static void fsck_group_inodes(struct fsck *f, uint32_t group, uint8_t *table)
{
	const struct folio_geom *g = &f->g;
	const uint8_t *map = f->imaps + (size_t)group * g->block_size;
	uint32_t end = fsck_group_used_end(f, group);
	uint32_t nblk = (end + g->inodes_per_block - 1) / g->inodes_per_block;

	if (!end)
		return;
	if (f->group_ok[group])
		fsck_read(f, le64_to_cpu(f->gdt[group].bg_inode_table), nblk, table);
	for (uint32_t i = 0; i < end; i++) {
		uint32_t ino = group * g->inodes_per_group + i + 1;

		if (!fsck_test_bit(map, i))
			continue;
		f->ino[ino].state |= FI_INUSE;
		if (!f->group_ok[group])
			f->ino[ino].state |= FI_BAD;
		else if (ino == FOLIO_JOURNAL_INO && fsck_ino_is_file(f, ino))
			fsck_check_journal_inode(f,
						 (const void *)(table + (size_t)i * g->inode_size));
		else if (fsck_ino_is_file(f, ino))
			fsck_check_inode(f, ino, (void *)(table + (size_t)i * g->inode_size));
	}
}

/**
 * fsck_pass_inodes - check every in-use inode
 * @f: the check, after fsck_pass_groups()
 *
 * Context: fsck's only thread.
 */
void fsck_pass_inodes(struct fsck *f)
{
	uint8_t *table = fsck_block_alloc(f->g.itable_blocks, f->g.block_size);
	const struct fsck_ino *root = &f->ino[FOLIO_ROOT_INO];

	for (uint32_t group = 0; group < f->g.groups_count; group++) {
		if (f->imap_ok[group])
			fsck_group_inodes(f, group, table);
	}
	free(table);
	if (!(root->state & FI_INUSE))
		fsck_problem(f, "inode %u: root directory marked free", FOLIO_ROOT_INO);
	else if ((root->state & FI_CHECKED) && !S_ISDIR(root->mode))
		fsck_problem(f, "inode %u: root is not a directory (mode 0%o)", FOLIO_ROOT_INO,
			     root->mode);
}

/* Read inode @ino's orphan link; 0 when it cannot be read. */
static uint32_t fsck_orphan_next(struct fsck *f, uint32_t ino, uint8_t *buf)
{
	const struct folio_geom *g = &f->g;
	uint32_t group = folio_ino_group(g, ino), off;
	uint64_t blk;

	if (!f->group_ok[group])
		return 0;
	folio_inode_pos(g, le64_to_cpu(f->gdt[group].bg_inode_table), ino, &blk, &off);
	fsck_read(f, blk, 1, buf);
	return le32_to_cpu(((const struct folio_inode *)(buf + off))->i_orphan_next);
}

/* Report one orphan: expected on a dirty image, a problem on a clean one. */
static void fsck_orphan(struct fsck *f, uint32_t ino)
{
	f->n_orphans++;
	if (f->dirty)
		fsck_note(f,
			  "inode %u: orphan (unlinked while open), to be freed at the next mount",
			  ino);
	else
		fsck_problem(f, "inode %u: on the orphan list of a cleanly unmounted image", ino);
}

/**
 * fsck_pass_orphans - walk the orphan list and check unlinked inodes
 * @f: the check, after fsck_pass_inodes()
 *
 * Every orphan must be an in-use inode with link count 0; the list must end
 * without a loop; every in-use inode with link count 0 must be on it.
 *
 * Context: fsck's only thread.
 */
void fsck_pass_orphans(struct fsck *f)
{
	uint8_t *buf = fsck_block_alloc(1, f->g.block_size);
	uint32_t ino = le32_to_cpu(f->sb.s_orphan_head), prev = 0;

	while (ino) {
		struct fsck_ino *fi;

		if (!folio_ino_valid(&f->g, ino) || ino < FOLIO_FIRST_INO) {
			fsck_problem(f, "orphan list: inode %u (after %u) out of range", ino, prev);
			break;
		}
		fi = &f->ino[ino];
		if (fi->state & FI_ORPHAN) {
			fsck_problem(f, "orphan list: loop at inode %u", ino);
			break;
		}
		fi->state |= FI_ORPHAN;
		if (!(fi->state & FI_INUSE))
			fsck_problem(f, "inode %u: on the orphan list but marked free", ino);
		else if ((fi->state & FI_CHECKED) && fi->nlink)
			fsck_problem(f, "inode %u: on the orphan list with link count %u", ino,
				     fi->nlink);
		else
			fsck_orphan(f, ino);
		prev = ino;
		ino = fsck_orphan_next(f, ino, buf);
	}
	free(buf);
}
