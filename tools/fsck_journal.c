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

	if (!fsck_has_journal(f) || f->from_backup)
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
	const struct folio_extent_header *eh = &in->i_extents.eh;
	const struct folio_extent *e = &in->i_extents.ext[0];
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
	if (folio_eh_check(eh, FOLIO_EXT_INLINE) || le16_to_cpu(eh->eh_depth) ||
	    le16_to_cpu(eh->eh_entries) != 1 || e->ee_lblk || le64_to_cpu(e->ee_pblk) != start ||
	    le32_to_cpu(e->ee_len) != n || e->ee_flags)
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
