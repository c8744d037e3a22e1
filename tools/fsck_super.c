/*
 * tools/fsck_super.c - fsck.foliofs: the superblock, its backup, the group
 * descriptors and the on-disk bitmaps.
 *
 * Interface (tools/fsck.h): fsck_pass_super() picks the superblock to trust
 * (the primary, or the backup when the primary is unusable) and fills f->sb,
 * f->g, f->seed; fsck_pass_groups() reads and checks every descriptor and
 * both bitmaps of every group, claims the fixed metadata blocks, and checks
 * each descriptor's free counts against its bitmaps.
 *
 * Invariants after these passes: f->gdt holds every descriptor as read;
 * f->bmaps/f->imaps hold the bitmaps of groups whose bmap_ok/imap_ok is set;
 * group_ok says the inode table location is inside the group.
 */
#include "config.h"

#include "tools/fsck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FSCK_SB_READ 4096 /* bytes read at offset 0 to find the superblock */

/* Read the first FSCK_SB_READ bytes (fewer on a tiny device) into @buf. */
static void fsck_read_head(struct fsck *f, uint8_t *buf)
{
	uint64_t len = f->bdev->size < FSCK_SB_READ ? f->bdev->size : FSCK_SB_READ;
	int ret;

	len -= len % f->bdev->lbs;
	if (len < FOLIO_SB_SIZE)
		fsck_fatal("%s: not a foliofs filesystem (only %" PRIu64 " bytes)", f->image,
			   f->bdev->size);
	ret = bdev_read(f->bdev, 0, buf, len);
	if (ret)
		fsck_fatal("%s: cannot read the superblock: %s", f->image, strerror(-ret));
}

/* A valid backup superblock stored at the last block of a filesystem that
 * fills the device, for any block size; true if found (copied to f->sb). */
static bool fsck_find_backup(struct fsck *f, uint8_t *buf)
{
	char msg[160];

	for (uint32_t shift = FOLIO_MIN_BSHIFT; shift <= FOLIO_MAX_BSHIFT; shift++) {
		uint64_t blk = (f->bdev->size >> shift) - 1;
		const struct folio_super *sb = (const void *)buf;

		if ((f->bdev->size >> shift) < 2 || (1u << shift) % f->bdev->lbs)
			continue;
		if (bdev_read(f->bdev, blk << shift, buf, 1u << shift))
			continue;
		if (folio_sb_validate(sb, f->bdev->size, 0, &f->g, msg, sizeof(msg)))
			continue;
		if (le32_to_cpu(sb->s_log_block_size) + FOLIO_MIN_BSHIFT != shift ||
		    le64_to_cpu(sb->s_backup_sb_block) != blk)
			continue;
		memcpy(&f->sb, sb, sizeof(f->sb));
		return true;
	}
	return false;
}

/* The last mount time as UTC text, or its raw number when the image holds
 * a time gmtime cannot represent (a crafted image's INT64_MAX). */
static const char *fsck_time_text(uint64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t)
		return "never";
	if (t > INT64_MAX || !gmtime_r(&tt, &tm) ||
	    !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "%" PRIu64 " (out of range)", t);
	return buf;
}

static void fsck_print_super(struct fsck *f)
{
	const struct folio_super *sb = &f->sb;
	const uint8_t *u = sb->s_uuid;
	char label[33] = {0};
	char mt[64];

	memcpy(label, sb->s_label, 32);
	fsck_verbose(f, "label: \"%s\"", label);
	fsck_verbose(f,
		     "uuid: %02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		     u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
		     u[12], u[13], u[14], u[15]);
	fsck_verbose(f, "version: %u  features: compat 0x%x incompat 0x%x ro_compat 0x%x",
		     le32_to_cpu(sb->s_version), le32_to_cpu(sb->s_feature_compat),
		     le32_to_cpu(sb->s_feature_incompat), le32_to_cpu(sb->s_feature_ro_compat));
	fsck_verbose(f, "block size: %u  blocks: %" PRIu64 "  free: %" PRIu64 "  groups: %u",
		     f->g.block_size, f->g.blocks_count, le64_to_cpu(sb->s_free_blocks),
		     f->g.groups_count);
	fsck_verbose(f, "inodes: %u  free: %u  per group: %u  size: %u", f->g.inodes_count,
		     le32_to_cpu(sb->s_free_inodes), f->g.inodes_per_group, f->g.inode_size);
	fsck_verbose(f, "state: %s%s  mount count: %u  last mount: %s",
		     f->dirty ? "not clean" : "clean",
		     le16_to_cpu(sb->s_state) & FOLIO_STATE_ERRORS ? ", errors" : "",
		     le32_to_cpu(sb->s_mount_count),
		     fsck_time_text(le64_to_cpu(sb->s_mount_time), mt, sizeof(mt)));
	fsck_verbose(f, "orphan list head: %u  backup superblock: %" PRIu64,
		     le32_to_cpu(sb->s_orphan_head), le64_to_cpu(sb->s_backup_sb_block));
}

/* Fields the backup must share with the primary (everything but the
 * label, counts, state, times and RECOVER, which only the primary tracks). */
static bool fsck_backup_matches(const struct folio_super *a, const struct folio_super *b)
{
	le32 state = cpu_to_le32(FOLIO_INCOMPAT_RECOVER);

	return a->s_magic == b->s_magic && a->s_version == b->s_version &&
	       (a->s_feature_incompat & ~state) == (b->s_feature_incompat & ~state) &&
	       a->s_feature_ro_compat == b->s_feature_ro_compat &&
	       a->s_log_block_size == b->s_log_block_size &&
	       a->s_blocks_count == b->s_blocks_count && a->s_inodes_count == b->s_inodes_count &&
	       a->s_inodes_per_group == b->s_inodes_per_group &&
	       a->s_inode_size == b->s_inode_size && a->s_gdt_block == b->s_gdt_block &&
	       !memcmp(a->s_uuid, b->s_uuid, 16) &&
	       !memcmp(a->s_hash_seed, b->s_hash_seed, sizeof(a->s_hash_seed));
}

static void fsck_check_backup(struct fsck *f)
{
	uint64_t blk = le64_to_cpu(f->sb.s_backup_sb_block);
	uint8_t *buf;
	const struct folio_super *b;

	if (!(le32_to_cpu(f->sb.s_feature_compat) & FOLIO_COMPAT_BACKUP_SB) || f->from_backup)
		return;
	buf = fsck_block_alloc(1, f->g.block_size);
	fsck_read(f, blk, 1, buf);
	b = (const void *)buf;
	if (le64_to_cpu(b->s_magic) != FOLIO_SB_MAGIC)
		f->backup_dirty |= fsck_fix(
			f, FX_PREEN, "backup superblock at block %" PRIu64 ": bad magic", blk);
	else if (!folio_sb_csum_ok(b))
		f->backup_dirty |=
			fsck_fix(f, FX_PREEN,
				 "backup superblock at block %" PRIu64 ": checksum mismatch", blk);
	else if (!fsck_backup_matches(&f->sb, b))
		f->backup_dirty |= fsck_fix(
			f, FX_PREEN,
			"backup superblock at block %" PRIu64 ": differs from the primary", blk);
	free(buf);
}

/* The primary is unusable (@ret, @msg): fall back to a backup or give up. */
static void fsck_primary_bad(struct fsck *f, uint8_t *buf, int ret, const char *msg)
{
	if (ret == -EPROTONOSUPPORT || !fsck_find_backup(f, buf)) {
		free(buf);
		fsck_fatal("%s: %s", f->image, msg);
	}
	f->from_backup = true;
	f->sb_dirty |= fsck_fix(
		f, FX_YES, "primary superblock: %s; checking with the backup at block %" PRIu64,
		msg, le64_to_cpu(f->sb.s_backup_sb_block));
}

/* Does descriptor 0, where @g puts it, check out under @uuid's seed? */
static bool fsck_gd0_carries(struct fsck *f, const struct folio_geom *g, const uint8_t *uuid)
{
	uint8_t *buf = fsck_block_alloc(1, g->block_size);
	bool ok = !bdev_read(f->bdev, g->gdt_block << g->block_shift, buf, g->block_size) &&
		  folio_gd_csum_ok(folio_fs_seed(uuid), 0, (const void *)buf);

	free(buf);
	return ok;
}

/*
 * A primary that validates but differs from a valid backup, where the
 * descriptors carry the backup's uuid and geometry and not the primary's:
 * the primary is the one that is wrong (rewriting the backup from it, as a
 * plain difference would, would lose the filesystem's checksums).
 */
static bool fsck_primary_contradicted(struct fsck *f)
{
	uint64_t blk = le64_to_cpu(f->sb.s_backup_sb_block);
	uint8_t *buf;
	struct folio_geom g;
	char msg[160];
	bool wrong = false;

	if (!(le32_to_cpu(f->sb.s_feature_compat) & FOLIO_COMPAT_BACKUP_SB) ||
	    fsck_gd0_carries(f, &f->g, f->sb.s_uuid))
		return false;
	buf = fsck_block_alloc(1, f->g.block_size);
	if (!bdev_read(f->bdev, blk << f->g.block_shift, buf, f->g.block_size) &&
	    !folio_sb_validate((const void *)buf, f->bdev->size, 0, &g, msg, sizeof(msg)) &&
	    !fsck_backup_matches(&f->sb, (const void *)buf) &&
	    fsck_gd0_carries(f, &g, ((const struct folio_super *)buf)->s_uuid))
		wrong = true;
	free(buf);
	return wrong;
}

/**
 * fsck_pass_super - find and check the superblock
 * @f: the check, with the device open
 *
 * Exits with status 8 when no usable superblock exists (not foliofs, a newer
 * format or unsupported feature, unreadable).
 *
 * Context: fsck's only thread.
 */
void fsck_pass_super(struct fsck *f)
{
	uint8_t *buf = fsck_block_alloc(1, FSCK_SB_READ);
	char msg[200];
	int ret;

	fsck_read_head(f, buf);
	memcpy(&f->sb, buf, sizeof(f->sb));
	ret = folio_sb_validate(&f->sb, f->bdev->size, FOLIO_SBV_NOCSUM, &f->g, msg, sizeof(msg));
	if (ret)
		fsck_primary_bad(f, buf, ret, msg);
	else if (!f->from_backup && fsck_primary_contradicted(f))
		fsck_primary_bad(f, buf, -EUCLEAN,
				 "its uuid or geometry is not what the descriptors carry (the "
				 "backup's is)");
	else if (!folio_sb_csum_ok(&f->sb))
		f->sb_dirty |= fsck_fix(f, FX_YES, "superblock: checksum mismatch");
	free(buf);
	f->seed = folio_fs_seed(f->sb.s_uuid);
	f->hash_seed[0] = le64_to_cpu(f->sb.s_hash_seed[0]);
	f->hash_seed[1] = le64_to_cpu(f->sb.s_hash_seed[1]);
	f->dirty = !(le16_to_cpu(f->sb.s_state) & FOLIO_STATE_CLEAN);
	if (f->g.block_size % f->bdev->lbs)
		fsck_fatal("%s: block size %u is not a multiple of the device's sector size %u",
			   f->image, f->g.block_size, f->bdev->lbs);
	fsck_print_super(f);
	if (f->dirty)
		fsck_note(f, "%s was not cleanly unmounted", f->image);
	if (le16_to_cpu(f->sb.s_state) & FOLIO_STATE_ERRORS)
		fsck_note(f, "superblock: the daemon recorded errors on this filesystem");
	fsck_check_backup(f);
}

/* ------------------------------------------------------------------ */
/* Groups                                                              */
/* ------------------------------------------------------------------ */

/* True when [start, start + len) lies in the part of @group after the
 * superblock and descriptor table. */
static bool fsck_in_group(const struct fsck *f, uint32_t group, uint64_t start, uint64_t len)
{
	uint64_t first = folio_group_first_block(&f->g, group);
	uint64_t end = first + folio_group_nblocks(&f->g, group);

	if (group == 0)
		first = f->g.gdt_block + f->g.gdt_blocks;
	return start >= first && start < end && len <= end - start;
}

static uint32_t fsck_zero_bits(const uint8_t *map, uint32_t nbits)
{
	uint32_t n = 0, i;

	for (i = 0; i + 8 <= nbits; i += 8)
		n += 8 - (uint32_t)__builtin_popcount(map[i / 8]);
	for (; i < nbits; i++)
		n += !fsck_test_bit(map, i);
	return n;
}

static void fsck_check_padding(struct fsck *f, uint32_t group, const uint8_t *map, uint32_t from,
			       const char *what)
{
	for (uint64_t bit = from; bit < 8ull * f->g.block_size; bit++) {
		if (bit % 8 == 0 && map[bit / 8] == 0xff) {
			bit += 7;
			continue;
		}
		if (!fsck_test_bit(map, bit)) {
			fsck_fix_count(f, "group %u: %s bitmap has padding bit %" PRIu64 " clear",
				       group, what, bit);
			return;
		}
	}
}

/*
 * Group @group's block bitmap, or (@inodes) its inode bitmap: inside the
 * group, claimed, read into f->bmaps / f->imaps, and its checksum, padding
 * bits and the descriptor's free count checked.
 */
static void fsck_group_bitmap(struct fsck *f, uint32_t group, bool inodes)
{
	const struct folio_group_desc *gd = &f->gdt[group];
	const char *what = inodes ? "inode" : "block";
	uint64_t blk = le64_to_cpu(inodes ? gd->bg_inode_bitmap : gd->bg_block_bitmap);
	uint32_t csum = le32_to_cpu(inodes ? gd->bg_inode_bitmap_csum : gd->bg_block_bitmap_csum);
	uint32_t nfree = le32_to_cpu(inodes ? gd->bg_free_inodes : gd->bg_free_blocks);
	uint32_t nbits = inodes ? f->g.inodes_per_group : folio_group_nblocks(&f->g, group);
	uint8_t *map = (inodes ? f->imaps : f->bmaps) + (size_t)group * f->g.block_size;
	struct folio_layout l;
	uint32_t zeros;

	if (!fsck_in_group(f, group, blk, 1)) {
		fsck_problem(f, "group %u: %s bitmap at %" PRIu64 " is outside the group", group,
			     what, blk);
		return;
	}
	fsck_claim(f, blk, 1, group, inodes ? FK_IBITMAP : FK_BBITMAP);
	fsck_read(f, blk, 1, map);
	(inodes ? f->imap_ok : f->bmap_ok)[group] = 1;
	if (folio_bitmap_csum(f->seed, map, f->g.block_size) != csum) {
		/* A block bitmap at its standard place is rebuilt from the
		 * claims; an inode bitmap's bits are trusted, and a block bitmap
		 * elsewhere may be file data: only -y does either. Below -y the
		 * group is then left as found, so nothing is written there. */
		folio_std_layout(&f->g, group, &l);
		if (!inodes && blk == l.block_bitmap)
			fsck_fix_count(f, "group %u: block bitmap checksum mismatch", group);
		else if (fsck_fix(f, FX_YES, "group %u: %s bitmap checksum mismatch", group, what))
			(inodes ? f->imap_dirty : f->gd_dirty)[group] = 1;
		else {
			f->gd_dirty[group] = FSCK_GD_KEEP;
			return;
		}
	}
	fsck_check_padding(f, group, map, nbits, what);
	zeros = fsck_zero_bits(map, nbits);
	if (zeros != nfree)
		fsck_fix_count(f, "group %u: free %ss count %u, bitmap has %u free", group, what,
			       nfree, zeros);
}

/* The reserved inodes (group 0) must be marked in use. */
static void fsck_reserved_inodes(struct fsck *f)
{
	for (uint32_t ino = 1; ino < FOLIO_FIRST_INO; ino++) {
		if (fsck_test_bit(f->imaps, ino - 1))
			continue;
		if (fsck_fix_count(f, "inode %u: reserved but marked free in the inode bitmap",
				   ino)) {
			fsck_set_bit(f->imaps, ino - 1);
			f->imap_dirty[0] = 1;
		}
	}
}

/* Does @start..+@len meet the journal's run? */
static bool fsck_meets_journal(const struct fsck *f, uint64_t start, uint64_t len)
{
	uint64_t js = le64_to_cpu(f->sb.s_journal_block), jn = le64_to_cpu(f->sb.s_journal_blocks);

	return (le32_to_cpu(f->sb.s_feature_compat) & FOLIO_COMPAT_JOURNAL) && start < js + jn &&
	       js < start + len;
}

/* Does the block at @blk hold a bitmap whose checksum is @csum? */
static bool fsck_bitmap_at(struct fsck *f, uint32_t group, uint64_t blk, uint32_t csum,
			   uint8_t *buf)
{
	if (!fsck_in_group(f, group, blk, 1))
		return false;
	fsck_read(f, blk, 1, buf);
	return folio_bitmap_csum(f->seed, buf, f->g.block_size) == csum;
}

/* -y: a bitmap pointer @cur that does not hold its bitmap, where the
 * standard place @std (folio_std_layout()) does: returns where it is. */
static uint64_t fsck_bitmap_home(struct fsck *f, uint32_t group, uint64_t cur, uint64_t std,
				 uint32_t csum, const char *what, uint8_t *buf)
{
	if (cur == std ||
	    (fsck_bitmap_at(f, group, cur, csum, buf) && !fsck_meets_journal(f, cur, 1)) ||
	    !fsck_bitmap_at(f, group, std, csum, buf) ||
	    !fsck_fix(f, FX_YES,
		      "group %u: %s bitmap at %" PRIu64 ", found where mkfs put it, at %" PRIu64,
		      group, what, cur, std))
		return cur;
	f->gd_dirty[group] = 1;
	return std;
}

/* -y: descriptor locations outside the group, on each other or on the
 * journal, where the standard places hold the bitmaps, are set back to
 * them; an inode table so placed moves back when its standard place is
 * free of the group's bitmaps. */
static void fsck_relocate_group(struct fsck *f, uint32_t group)
{
	struct folio_group_desc *gd = &f->gdt[group];
	uint32_t itb = f->g.itable_blocks;
	struct folio_layout l;
	uint8_t *buf;
	uint64_t it, bb, ib;

	if (f->mode != FSCK_YES || f->gd_dirty[group] == FSCK_GD_KEEP)
		return;
	folio_std_layout(&f->g, group, &l);
	buf = fsck_block_alloc(1, f->g.block_size);
	bb = fsck_bitmap_home(f, group, le64_to_cpu(gd->bg_block_bitmap), l.block_bitmap,
			      le32_to_cpu(gd->bg_block_bitmap_csum), "block", buf);
	ib = fsck_bitmap_home(f, group, le64_to_cpu(gd->bg_inode_bitmap), l.inode_bitmap,
			      le32_to_cpu(gd->bg_inode_bitmap_csum), "inode", buf);
	free(buf);
	gd->bg_block_bitmap = cpu_to_le64(bb);
	gd->bg_inode_bitmap = cpu_to_le64(ib);
	it = le64_to_cpu(gd->bg_inode_table);
	if (it == l.inode_table ||
	    (fsck_in_group(f, group, it, itb) && !(bb >= it && bb < it + itb) &&
	     !(ib >= it && ib < it + itb) && !fsck_meets_journal(f, it, itb)) ||
	    (bb >= l.inode_table && bb < l.inode_table + itb) ||
	    (ib >= l.inode_table && ib < l.inode_table + itb) ||
	    !fsck_fix(f, FX_YES,
		      "group %u: inode table at %" PRIu64
		      ", set back to where mkfs put it, %" PRIu64,
		      group, it, l.inode_table))
		return;
	gd->bg_inode_table = cpu_to_le64(l.inode_table);
	f->gd_dirty[group] = 1;
}

/* Check one descriptor's checksum and locations, claim its blocks, read its
 * bitmaps. */
static void fsck_group(struct fsck *f, uint32_t group)
{
	const struct folio_group_desc *gd = &f->gdt[group];
	uint64_t bb = le64_to_cpu(gd->bg_block_bitmap), ib = le64_to_cpu(gd->bg_inode_bitmap);
	uint64_t it = le64_to_cpu(gd->bg_inode_table);
	uint32_t itb = f->g.itable_blocks;

	/* A descriptor whose checksum is left wrong is not rewritten at all
	 * (FSCK_GD_KEEP), nor are its bitmaps, whose checksums it holds. */
	if (!folio_gd_csum_ok(f->seed, group, gd))
		f->gd_dirty[group] =
			fsck_fix(f, FX_YES, "group %u: descriptor checksum mismatch", group)
				? 1
				: FSCK_GD_KEEP;
	if (le32_to_cpu(gd->bg_flags) &&
	    fsck_fix(f, FX_YES, "group %u: unknown flags 0x%x", group, le32_to_cpu(gd->bg_flags))) {
		f->gdt[group].bg_flags = 0;
		f->gd_dirty[group] = 1;
	}
	fsck_relocate_group(f, group);
	bb = le64_to_cpu(gd->bg_block_bitmap);
	ib = le64_to_cpu(gd->bg_inode_bitmap);
	it = le64_to_cpu(gd->bg_inode_table);
	fsck_verbose(f,
		     "group %u: blocks %" PRIu64 "-%" PRIu64 ", block bitmap %" PRIu64
		     ", inode bitmap %" PRIu64 ", inode table %" PRIu64 "-%" PRIu64
		     ", free %u blocks %u inodes, %u dirs",
		     group, folio_group_first_block(&f->g, group),
		     folio_group_first_block(&f->g, group) + folio_group_nblocks(&f->g, group) - 1,
		     bb, ib, it, it + itb - 1, le32_to_cpu(gd->bg_free_blocks),
		     le32_to_cpu(gd->bg_free_inodes), le32_to_cpu(gd->bg_used_dirs));
	fsck_group_bitmap(f, group, false);
	fsck_group_bitmap(f, group, true);
	if (group == 0 && f->imap_ok[0])
		fsck_reserved_inodes(f);
	if (!fsck_in_group(f, group, it, itb))
		fsck_problem(f, "group %u: inode table at %" PRIu64 " is outside the group", group,
			     it);
	else {
		fsck_claim(f, it, itb, group, FK_ITABLE);
		f->group_ok[group] = 1;
	}
}

/**
 * fsck_pass_groups - check the descriptor table and every group's bitmaps
 * @f: the check, after fsck_pass_super()
 *
 * Context: fsck's only thread.
 */
void fsck_pass_groups(struct fsck *f)
{
	const struct folio_geom *g = &f->g;
	uint32_t n = g->groups_count;

	f->gdt = fsck_block_alloc(g->gdt_blocks, g->block_size);
	f->group_ok = fsck_alloc(n);
	f->bmap_ok = fsck_alloc(n);
	f->imap_ok = fsck_alloc(n);
	f->bmaps = fsck_block_alloc(n, g->block_size);
	f->imaps = fsck_block_alloc(n, g->block_size);
	f->ino = fsck_alloc(((size_t)g->inodes_count + 1) * sizeof(*f->ino));
	f->imap_dirty = fsck_alloc(n);
	f->gd_dirty = fsck_alloc(n);
	if (f->mode == FSCK_YES)
		f->claimed = fsck_alloc((size_t)(g->blocks_count + 7) / 8);
	fsck_read(f, g->gdt_block, g->gdt_blocks, f->gdt);
	fsck_claim(f, 0, 1, 0, FK_SUPER);
	fsck_claim(f, g->gdt_block, g->gdt_blocks, 0, FK_GDT);
	if (le32_to_cpu(f->sb.s_feature_compat) & FOLIO_COMPAT_BACKUP_SB)
		fsck_claim(f, g->blocks_count - 1, 1, 0, FK_BACKUP);
	for (uint32_t group = 0; group < n; group++)
		fsck_group(f, group);
}
