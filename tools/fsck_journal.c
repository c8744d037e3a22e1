/*
 * tools/fsck_journal.c - fsck.foliofs: the journal (docs/ON-DISK.md
 * section 14).
 *
 * Interface (tools/fsck.h): fsck_replay() runs before the passes in -p and
 * -y: it replays the committed transactions of a journal that needs it
 * (INCOMPAT_RECOVER, or a log left non-empty) and clears RECOVER.
 * fsck_check_journal_inode() checks inode 2 as the journal file (a regular
 * file, mode 0600, one link, one extent over exactly the superblock's run)
 * and claims the run; fsck_pass_journal() checks the journal superblock
 * (folio_jsb_check()) and, on a read-only check, says whether the log needs
 * replay - a problem, since the image cannot be checked as it will be after
 * the replay.
 *
 * Replay writes go through the image's device: folio_journal_replay() writes
 * the copies home, flushes, empties the log and flushes; only then is
 * RECOVER cleared in the superblock (and flushed), so a replay cut short is
 * simply run again.
 */
#include "config.h"

#include "tools/fsck.h"
#include "format/journal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool fsck_has_journal(const struct fsck *f)
{
	return le32_to_cpu(f->sb.s_feature_compat) & FOLIO_COMPAT_JOURNAL;
}

static bool fsck_needs_recovery(const struct fsck *f)
{
	return le32_to_cpu(f->sb.s_feature_incompat) & FOLIO_INCOMPAT_RECOVER;
}

static int fsck_jio_read(void *ctx, uint64_t block, void *buf)
{
	struct fsck *f = ctx;

	if (block >= f->g.blocks_count)
		return -EIO;
	return bdev_read(f->bdev, block << f->g.block_shift, buf, f->g.block_size);
}

static int fsck_jio_write(void *ctx, uint64_t block, const void *buf)
{
	struct fsck *f = ctx;

	if (block >= f->g.blocks_count)
		return -EIO;
	return bdev_write(f->bdev, block << f->g.block_shift, buf, f->g.block_size);
}

static int fsck_jio_flush(void *ctx)
{
	struct fsck *f = ctx;

	return bdev_flush(f->bdev);
}

/* Scan (or, unless @dry, replay) the log. */
static int fsck_journal_scan(struct fsck *f, bool dry, struct folio_replay_info *info, char *msg,
			     size_t len)
{
	struct folio_jio io = {
		.ctx = f, .read = fsck_jio_read, .write = fsck_jio_write, .flush = fsck_jio_flush};

	msg[0] = '\0';
	return folio_journal_replay(&io, &f->sb, dry, info, msg, len);
}

/* Does inode 2's extent root map exactly @n blocks from @start, in one
 * extent? */
static bool fsck_jinode_maps(const struct folio_inode *in, uint64_t start, uint64_t n)
{
	const struct folio_extent_header *eh = &in->i_extents.eh;
	const struct folio_extent *e = &in->i_extents.ext[0];

	return !folio_eh_check(eh, FOLIO_EXT_INLINE) && !le16_to_cpu(eh->eh_depth) &&
	       le16_to_cpu(eh->eh_entries) == 1 && !e->ee_lblk &&
	       le64_to_cpu(e->ee_pblk) == start && le32_to_cpu(e->ee_len) == n && !e->ee_flags;
}

/* Inode 2 as the journal of @sb: every field fsck_check_journal_inode()
 * checks. */
static bool fsck_jinode_ok(const struct fsck *f, const struct folio_inode *in,
			   const struct folio_super *sb)
{
	uint64_t n = le64_to_cpu(sb->s_journal_blocks);

	return folio_inode_csum_ok(f->seed, FOLIO_JOURNAL_INO, in, f->g.inode_size) &&
	       le16_to_cpu(in->i_mode) == (S_IFREG | 0600) && le32_to_cpu(in->i_nlink) == 1 &&
	       fsck_jinode_maps(in, le64_to_cpu(sb->s_journal_block), n) &&
	       le64_to_cpu(in->i_blocks) == n && !in->i_xattr_block;
}

/* Could @n blocks from @start be the journal: inside the image and clear of
 * the superblocks, the descriptor table and every group's standard bitmaps
 * and inode table (where mkfs puts them)? */
static bool fsck_jrun_free(const struct fsck *f, uint64_t start, uint64_t n)
{
	const struct folio_geom *g = &f->g;
	struct folio_layout l;

	if (!n || n > UINT32_MAX || !fsck_range_ok(f, start, n) ||
	    start + n > g->blocks_count - 1 || start < g->gdt_block + g->gdt_blocks)
		return false;
	for (uint32_t group = 0; group < g->groups_count; group++) {
		folio_std_layout(g, group, &l);
		if (start < l.first_free && l.block_bitmap < start + n)
			return false;
	}
	return true;
}

/* The journal superblock at @sb's journal run: 0, or folio_jsb_check()'s
 * error with @msg set. */
static int fsck_jsb_read(struct fsck *f, const struct folio_super *sb, uint8_t *buf, char *msg,
			 size_t len)
{
	fsck_read(f, le64_to_cpu(sb->s_journal_block), 1, buf);
	return folio_jsb_check((const struct folio_jsb *)buf, sb, msg, len);
}

/* Write a fresh journal superblock over the run, after zeros over its log. */
static void fsck_jsb_rewrite(struct fsck *f)
{
	const uint32_t chunk = 256;
	uint64_t start = le64_to_cpu(f->sb.s_journal_block);
	uint64_t n = le64_to_cpu(f->sb.s_journal_blocks);
	uint8_t *zeros = fsck_block_alloc(chunk, f->g.block_size);

	for (uint64_t b = 1; b < n; b += chunk)
		fsck_write(f, start + b, n - b < chunk ? n - b : chunk, zeros);
	fsck_flush(f);
	folio_jsb_init((struct folio_jsb *)zeros, &f->sb, 1);
	fsck_write(f, start, 1, zeros);
	fsck_flush(f);
	free(zeros);
}

/*
 * Inode 2's one extent, read as a claim on where the journal is: its
 * (start, length) in @alt, a copy of f->sb with those. False when inode 2's
 * checksum fails or it holds no single extent.
 */
static bool fsck_jinode_run(const struct fsck *f, const struct folio_inode *in,
			    struct folio_super *alt)
{
	const struct folio_extent *e = &in->i_extents.ext[0];

	if (!folio_inode_csum_ok(f->seed, FOLIO_JOURNAL_INO, in, f->g.inode_size) ||
	    !fsck_jinode_maps(in, le64_to_cpu(e->ee_pblk), le32_to_cpu(e->ee_len)))
		return false;
	*alt = f->sb;
	alt->s_journal_block = e->ee_pblk;
	alt->s_journal_blocks = cpu_to_le64(le32_to_cpu(e->ee_len));
	return true;
}

/*
 * With -y, before the replay: the journal's three records of itself (the
 * superblock's run, inode 2, the journal superblock) where one is wrong and
 * two agree. Inode 2 is read only where group 0's descriptor checks out and
 * holds the standard inode table.
 */
static bool fsck_journal_mend(struct fsck *f, struct folio_inode *in, uint8_t *jbuf)
{
	uint64_t start = le64_to_cpu(f->sb.s_journal_block);
	uint64_t n = le64_to_cpu(f->sb.s_journal_blocks);
	struct folio_super alt;
	char msg[200], msg2[200];
	int ret = -EUCLEAN;

	if (fsck_jrun_free(f, start, n))
		ret = fsck_jsb_read(f, &f->sb, jbuf, msg, sizeof(msg));
	else
		snprintf(msg, sizeof(msg),
			 "journal at blocks %" PRIu64 "-%" PRIu64 " is not usable", start,
			 start + n - 1);
	if (!ret && !fsck_jinode_ok(f, in, &f->sb)) {
		if (!fsck_fix(f, FX_YES,
			      "inode %u (journal): rewritten to map blocks %" PRIu64 "-%" PRIu64
			      " (the superblock and the journal superblock agree on them)",
			      FOLIO_JOURNAL_INO, start, start + n - 1))
			return false;
		folio_journal_inode_map(in, &f->sb);
		folio_inode_csum_set(f->seed, FOLIO_JOURNAL_INO, in, f->g.inode_size);
		return true;
	}
	if (ret != -EUCLEAN)
		return false;
	if (fsck_jinode_run(f, in, &alt) &&
	    (alt.s_journal_block != f->sb.s_journal_block ||
	     alt.s_journal_blocks != f->sb.s_journal_blocks) &&
	    fsck_jrun_free(f, le64_to_cpu(alt.s_journal_block),
			   le64_to_cpu(alt.s_journal_blocks)) &&
	    !fsck_jsb_read(f, &alt, jbuf, msg2, sizeof(msg2))) {
		if (!fsck_fix(f, FX_YES,
			      "superblock: journal at %" PRIu64 " (%" PRIu64
			      " blocks), where inode 2 and the journal superblock say %" PRIu64
			      " (%" PRIu64 " blocks)",
			      start, n, le64_to_cpu(alt.s_journal_block),
			      le64_to_cpu(alt.s_journal_blocks)))
			return false;
		f->sb.s_journal_block = alt.s_journal_block;
		f->sb.s_journal_blocks = alt.s_journal_blocks;
		fsck_write_sb(f);
		fsck_flush(f);
		return false;
	}
	if (!fsck_jinode_ok(f, in, &f->sb) || !fsck_jrun_free(f, start, n) ||
	    !fsck_fix(f, FX_YES,
		      "%s: written afresh, its log emptied (inode 2 and the "
		      "superblock agree on where it is)",
		      msg))
		return false;
	fsck_jsb_rewrite(f);
	return false;
}

/**
 * fsck_journal_repair - with -y, mend the journal's records of itself
 * @f: the check, after fsck_pass_super(), opened for writing
 *
 * Runs before fsck_replay(), so that a journal found again can replay:
 * rewrites inode 2 when the superblock's run holds a sound journal
 * superblock; takes inode 2's run into the superblock when the journal
 * superblock there is sound and the superblock's is not; writes a fresh
 * journal superblock and empties the log when inode 2 and the superblock
 * agree and the journal superblock is unusable (whatever the log held is
 * lost: it cannot be read without it). A journal of a newer version is left.
 *
 * Context: fsck's only thread.
 * Return: true when something was written (the superblock must be re-read).
 */
bool fsck_journal_repair(struct fsck *f)
{
	const struct folio_geom *g = &f->g;
	uint8_t *gbuf, *ibuf, *jbuf;
	const struct folio_group_desc *gd;
	struct folio_layout l;
	uint64_t gblk, iblk, fixed = f->fixed;
	uint32_t goff, ioff;

	if (f->mode != FSCK_YES || !fsck_has_journal(f))
		return false;
	gbuf = fsck_block_alloc(1, g->block_size);
	ibuf = fsck_block_alloc(1, g->block_size);
	jbuf = fsck_block_alloc(1, g->block_size);
	folio_gd_pos(g, 0, &gblk, &goff);
	fsck_read(f, gblk, 1, gbuf);
	gd = (const struct folio_group_desc *)(gbuf + goff);
	folio_std_layout(g, 0, &l);
	if (folio_gd_csum_ok(f->seed, 0, gd) && le64_to_cpu(gd->bg_inode_table) == l.inode_table) {
		folio_inode_pos(g, l.inode_table, FOLIO_JOURNAL_INO, &iblk, &ioff);
		fsck_read(f, iblk, 1, ibuf);
		if (fsck_journal_mend(f, (struct folio_inode *)(ibuf + ioff), jbuf)) {
			fsck_write(f, iblk, 1, ibuf);
			fsck_flush(f);
		}
	}
	free(gbuf);
	free(ibuf);
	free(jbuf);
	f->round_fixes = 0; /* not a change the passes must see twice */
	return f->fixed != fixed;
}

/**
 * fsck_replay - replay the journal if it needs it, and clear RECOVER
 * @f: the check, after fsck_pass_super(), opened for writing
 *
 * Exits 8 when the journal cannot be read or written. A journal superblock
 * that fails its checks is left to fsck_pass_journal() (and RECOVER set).
 *
 * Context: fsck's only thread.
 * Return: true when something was written (the superblock must be re-read).
 */
bool fsck_replay(struct fsck *f)
{
	struct folio_replay_info info;
	char msg[200];
	int ret;

	/* The backup superblock never carries RECOVER: with -y, a log found
	 * committed replays as it would have with the primary's flag. */
	if (!fsck_has_journal(f) || (f->from_backup && f->mode != FSCK_YES))
		return false;
	ret = fsck_journal_scan(f, true, &info, msg, sizeof(msg));
	if (ret == -EUCLEAN || ret == -EPROTONOSUPPORT)
		return false;
	if (ret)
		fsck_fatal("%s: %s", f->image, msg[0] ? msg : strerror(-ret));
	if (!fsck_needs_recovery(f) && !info.transactions)
		return false;
	ret = fsck_journal_scan(f, false, &info, msg, sizeof(msg));
	if (ret)
		fsck_fatal("%s: %s", f->image, msg[0] ? msg : strerror(-ret));
	if (!info.transactions)
		fsck_verbose(f, "journal: empty, nothing to replay");
	else if (fsck_fix(f, FX_PREEN,
			  "journal: %u committed transaction%s (sequences %" PRIu64 "-%" PRIu64
			  ") replayed, %" PRIu64 " blocks written, %" PRIu64 " revoked",
			  info.transactions, info.transactions == 1 ? "" : "s", info.first_seq,
			  info.last_seq, info.blocks, info.revoked))
		f->round_fixes = 0; /* not a change the passes must see twice */
	f->sb.s_feature_incompat &= ~cpu_to_le32(FOLIO_INCOMPAT_RECOVER);
	fsck_write_sb(f);
	fsck_flush(f);
	return true;
}

/**
 * fsck_check_journal_inode - check inode 2 as the journal and claim its run
 * @f: the check
 * @in: inode 2 (s_inode_size bytes)
 *
 * Context: fsck's only thread.
 */
void fsck_check_journal_inode(struct fsck *f, const struct folio_inode *in)
{
	uint64_t start = le64_to_cpu(f->sb.s_journal_block);
	uint64_t n = le64_to_cpu(f->sb.s_journal_blocks);
	uint32_t ino = FOLIO_JOURNAL_INO;

	f->ino[ino].state |= FI_CHECKED;
	f->ino[ino].mode = le16_to_cpu(in->i_mode);
	f->ino[ino].nlink = le32_to_cpu(in->i_nlink);
	if (fsck_range_ok(f, start, n))
		fsck_claim(f, start, n, ino, FK_JOURNAL);
	if (!folio_inode_csum_ok(f->seed, ino, in, f->g.inode_size))
		fsck_problem(f, "inode %u (journal): checksum mismatch", ino);
	if (le16_to_cpu(in->i_mode) != (S_IFREG | 0600) || le32_to_cpu(in->i_nlink) != 1)
		fsck_problem(
			f, "inode %u (journal): mode 0%o, %u links (a regular file, 0600, 1 link)",
			ino, le16_to_cpu(in->i_mode), le32_to_cpu(in->i_nlink));
	if (!fsck_jinode_maps(in, start, n))
		fsck_problem(f,
			     "inode %u (journal): does not map blocks %" PRIu64 "-%" PRIu64
			     " with one extent",
			     ino, start, start + n - 1);
	if (le64_to_cpu(in->i_blocks) != n || in->i_xattr_block)
		fsck_problem(f,
			     "inode %u (journal): i_blocks %" PRIu64 ", %" PRIu64 " blocks owned",
			     ino, le64_to_cpu(in->i_blocks), n);
}

/**
 * fsck_pass_journal - check the journal superblock and whether it needs replay
 * @f: the check, after fsck_pass_groups()
 *
 * Context: fsck's only thread.
 */
void fsck_pass_journal(struct fsck *f)
{
	struct folio_replay_info info;
	char msg[200];
	int ret;

	f->journal_ok = false;
	if (!fsck_has_journal(f))
		return;
	if (!(f->imap_ok[0] && fsck_test_bit(f->imaps, FOLIO_JOURNAL_INO - 1)))
		fsck_problem(f, "inode %u (journal): marked free in the inode bitmap",
			     FOLIO_JOURNAL_INO);
	ret = fsck_journal_scan(f, true, &info, msg, sizeof(msg));
	if (ret == -EUCLEAN || ret == -EPROTONOSUPPORT) {
		fsck_problem(f, "%s", msg);
		return;
	}
	if (ret)
		fsck_fatal("%s: %s", f->image, msg[0] ? msg : strerror(-ret));
	f->journal_ok = true;
	fsck_verbose(f, "journal: %" PRIu64 " blocks at %" PRIu64 ", next sequence %" PRIu64,
		     le64_to_cpu(f->sb.s_journal_blocks), le64_to_cpu(f->sb.s_journal_block),
		     info.next_seq);
	if (fsck_needs_recovery(f) && !info.transactions)
		/* mounted, or a crash right after a checkpoint: the log is empty,
		 * so a replay would change nothing and the image is as checked */
		fsck_note(f, "journal: marked for recovery, but its log is empty");
	else if (fsck_needs_recovery(f))
		fsck_problem(f,
			     "journal: needs replay (%u committed transaction%s); the check "
			     "below sees the image without them (" FSCK_PROG " -p replays it)",
			     info.transactions, info.transactions == 1 ? "" : "s");
	else if (info.transactions)
		fsck_problem(f,
			     "journal: %u committed transaction%s in the log of an image not "
			     "marked for recovery",
			     info.transactions, info.transactions == 1 ? "" : "s");
}
