/*
 * fs/block.c - the bottom of the filesystem: metadata blocks through the
 * device mapping, the superblock's block, corruption and the read-only
 * state. Every other fs file calls these; they call only the cache.
 *
 * Interface (fs/fs.h, "block.c"): __fs_corrupt (fs_corrupt),
 * fs_blocks_are_data, fs_check_writable, fs_bread, fs_bread_fresh,
 * fs_bread_checked, fs_bread_checked_fresh,
 * fs_new_block, fs_block_dirty, fs_bforget, fs_write_super,
 * fs_write_super_counts.
 *
 * Checksums of headed blocks, bitmaps and descriptors are verified when the
 * block comes from the device (fs_bread_fresh() says so), not on every use
 * of a cached copy; a block that fails is dropped from the cache so the next
 * read checks it again.
 *
 * Invariants:
 *  - fs->sb is the in-core superblock (sb_lock). Its free counts are folded
 *    in from fs->free_blocks / fs->free_inodes by fs_write_super(), which is
 *    the only writer of block 0.
 *  - fs->rdonly is set at mount (-o ro) or by fs_corrupt() (unless
 *    errors=continue); it never clears. fs->errors is set by fs_corrupt()
 *    and never clears: from then on every superblock write carries ERRORS
 *    (fs_errors_commit() in super.c writes it durably at once). A
 *    filesystem switched read-only by corruption still writes back what is
 *    already dirty at sync and unmount, and records ERRORS instead of CLEAN.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fs/fs.h"

/**
 * __fs_corrupt - report corruption and switch the filesystem read-only
 * @fs: the filesystem
 * @file: source file that found it
 * @line: source line
 * @ino: inode involved, 0 if none
 * @fmt: printf format of what is wrong
 *
 * Prints one line on stderr (the daemon's log) naming the inode and what is
 * wrong (callers name the block). Sets fs->errors, so the superblock gets
 * ERRORS (fs_errors_commit() writes it; the daemon calls it when it turns
 * -EUCLEAN into EIO), and switches the filesystem read-only unless it was
 * mounted with errors=continue.
 *
 * Context: any thread, any fs lock held (takes none).
 * Return: -EUCLEAN, for the caller to pass up.
 */
int __fs_corrupt(struct fs *fs, const char *file, int line, uint32_t ino, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	bool ro = fs->opts.errors != FS_ERRORS_CONTINUE;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fprintf(stderr, "foliofs: corruption (%s:%d, inode %" PRIu32 "): %s; %s\n", file, line, ino,
		what, ro ? "now read-only" : "continuing (errors=continue)");
	atomic_fetch_add(&fs->nr_corrupt, 1);
	atomic_store(&fs->errors, true);
	if (ro)
		atomic_store(&fs->rdonly, true);
	return -EUCLEAN;
}

/* Do [a, a + n) and [b, b + m) share a block? */
static bool fs_ranges_meet(uint64_t a, uint64_t n, uint64_t b, uint64_t m)
{
	return a < b + m && b < a + n;
}

/**
 * fs_blocks_are_data - may a file's extent or a tree node sit at these blocks?
 * @fs: the filesystem (mounted: fs->meta_loc set)
 * @first: first block
 * @count: blocks (0 is never valid)
 *
 * True when [@first, @first + @count) lies inside the filesystem and meets
 * none of its fixed metadata: the superblock and descriptor table (the start
 * of group 0), each group's bitmaps and inode table (fs->meta_loc, copied
 * from the descriptors at mount), the journal and the backup superblock.
 * Whether the blocks belong to this file is not known here (that needs the
 * bitmaps and every other file: fsck's job).
 *
 * Context: any thread; pure range tests on data immutable after mount.
 * Return: true when the range may hold file data or tree nodes.
 */
bool fs_blocks_are_data(const struct fs *fs, uint64_t first, uint64_t count)
{
	const struct folio_geom *g = &fs->geom;
	uint64_t jblk = le64_to_cpu(fs->sb.s_journal_block);
	uint64_t jlen = le64_to_cpu(fs->sb.s_journal_blocks);
	uint32_t g0, g1;

	if (!count || first >= g->blocks_count || count > g->blocks_count - first)
		return false;
	if (first < g->gdt_block + g->gdt_blocks)
		return false;
	if ((le32_to_cpu(fs->sb.s_feature_compat) & FOLIO_COMPAT_JOURNAL) &&
	    fs_ranges_meet(first, count, jblk, jlen))
		return false;
	if ((le32_to_cpu(fs->sb.s_feature_compat) & FOLIO_COMPAT_BACKUP_SB) &&
	    fs_ranges_meet(first, count, le64_to_cpu(fs->sb.s_backup_sb_block), 1))
		return false;
	if (!fs->meta_loc)
		return true; /* before the descriptors are loaded: nothing to compare */
	g0 = folio_group_of_block(g, first);
	g1 = folio_group_of_block(g, first + count - 1);
	for (uint32_t i = g0; i <= g1 && i < g->groups_count; i++) {
		const struct fs_meta_loc *m = &fs->meta_loc[i];

		if (fs_ranges_meet(first, count, m->block_bitmap, 1) ||
		    fs_ranges_meet(first, count, m->inode_bitmap, 1) ||
		    fs_ranges_meet(first, count, m->inode_table, g->itable_blocks))
			return false;
	}
	return true;
}

/**
 * fs_check_writable - may the filesystem be changed?
 * @fs: the filesystem
 *
 * Context: any thread.
 * Return: 0, or -EROFS when mounted read-only or switched read-only.
 */
int fs_check_writable(struct fs *fs)
{
	return atomic_load(&fs->rdonly) ? -EROFS : 0;
}

/**
 * fs_bread - read a metadata block through the device mapping
 * @fs: the filesystem
 * @blk: physical block number
 * @err: receives the negative errno on failure
 *
 * A block number outside the filesystem is corruption.
 *
 * Context: may sleep; no buffer lock held.
 * Return: the uptodate head in use (brelse() it), or NULL.
 */
struct buffer_head *fs_bread(struct fs *fs, uint64_t blk, int *err)
{
	if (blk >= fs->geom.blocks_count) {
		*err = fs_corrupt(fs, 0, "block %" PRIu64 " outside the filesystem", blk);
		return NULL;
	}
	return bread(&fs->meta, blk, err);
}

/**
 * fs_bread_fresh - read a metadata block, saying whether it was just read
 * @fs: the filesystem
 * @blk: physical block number
 * @fresh: set when the block was not in the cache (or not uptodate) before,
 *	so its contents came from the device and deserve a checksum check;
 *	clear when they were already in memory (checked then, or written by us)
 * @err: receives the negative errno on failure
 *
 * Context: may sleep; no buffer lock held.
 * Return: the uptodate head in use (brelse() it), or NULL.
 */
struct buffer_head *fs_bread_fresh(struct fs *fs, uint64_t blk, bool *fresh, int *err)
{
	struct buffer_head *bh, *rd;

	if (blk >= fs->geom.blocks_count) {
		*err = fs_corrupt(fs, 0, "block %" PRIu64 " outside the filesystem", blk);
		return NULL;
	}
	bh = getblk(&fs->meta, blk, err);
	if (!bh)
		return NULL;
	*fresh = !bh_test(bh, BH_Uptodate);
	if (!*fresh)
		return bh;
	rd = bread(&fs->meta, blk, err);
	brelse(bh);
	return rd;
}

/**
 * fs_bforget - drop blocks from the device mapping's cache
 * @fs: the filesystem
 * @first: first block
 * @count: blocks
 *
 * Dirty contents are dropped unwritten: for blocks just freed (so stale
 * metadata can never overwrite the blocks' next owner) and for blocks that
 * failed a check (so the next read goes to the device and fails again).
 *
 * Context: may sleep; takes the device mapping's invalidate_lock
 * exclusively and its page locks; the caller holds no head of these blocks
 * and no buffer lock.
 */
void fs_bforget(struct fs *fs, uint64_t first, uint64_t count)
{
	unsigned bits = fs->geom.block_shift;

	fs_journal_forget(fs, first, count);
	filemap_invalidate_lock(&fs->meta);
	truncate_inode_pages_range(&fs->meta, first << bits, ((first + count) << bits) - 1);
	filemap_invalidate_unlock(&fs->meta);
}

/* The header fields of a block already verified once. */
static int fs_block_hdr_ok(const void *block, uint32_t magic, uint64_t blk, uint32_t owner)
{
	const struct folio_blk_hdr *h = block;

	if (le32_to_cpu(h->h_magic) != magic || le64_to_cpu(h->h_blocknr) != blk ||
	    le32_to_cpu(h->h_owner) != owner)
		return -EUCLEAN;
	return 0;
}

/**
 * fs_bread_checked_fresh - fs_bread_checked() that also says whether the
 * block was just read from the device
 * @fs: the filesystem
 * @blk: physical block number (0 is "no block": corruption)
 * @magic: expected h_magic
 * @owner: expected h_owner (inode number)
 * @fresh: set when the contents came from the device just now, so the
 *	caller checks what it will trust in them (once per read from disk);
 *	if that check fails it drops the block with fs_bforget()
 * @err: receives the negative errno on failure
 *
 * Context: as fs_bread_checked().
 * Return: as fs_bread_checked().
 */
struct buffer_head *fs_bread_checked_fresh(struct fs *fs, uint64_t blk, uint32_t magic,
					   uint32_t owner, bool *fresh, int *err)
{
	struct buffer_head *bh;
	int ret;

	*fresh = false;
	if (!blk || blk >= fs->geom.blocks_count) {
		*err = fs_corrupt(fs, owner, "block pointer %" PRIu64 " outside the filesystem",
				  blk);
		return NULL;
	}
	bh = fs_bread_fresh(fs, blk, fresh, err);
	if (!bh)
		return NULL;
	if (*fresh)
		ret = folio_block_check(fs->csum_seed, bh->b_data, fs->geom.block_size, magic, blk,
					owner);
	else
		ret = fs_block_hdr_ok(bh->b_data, magic, blk, owner);
	if (ret) {
		brelse(bh);
		if (*fresh)
			fs_bforget(fs, blk, 1); /* the next read checks it again */
		*err = fs_corrupt(fs, owner, "block %" PRIu64 ": %s", blk,
				  ret == -EBADMSG ? "checksum mismatch"
						  : "bad magic, block number or owner");
		return NULL;
	}
	return bh;
}

/**
 * fs_bread_checked - read a headed metadata block and verify it
 * @fs: the filesystem
 * @blk: physical block number (0 is "no block": corruption)
 * @magic: expected h_magic
 * @owner: expected h_owner (inode number)
 * @err: receives the negative errno on failure
 *
 * Checks magic, block number and owner, and the checksum when the block
 * was just read from the device (folio_block_check()); a failure is
 * corruption.
 *
 * Context: may sleep; the caller holds the lock that keeps the block stable
 * (the owner's tree lock), no buffer lock.
 * Return: the head in use, or NULL (-EUCLEAN for a bad block).
 */
struct buffer_head *fs_bread_checked(struct fs *fs, uint64_t blk, uint32_t magic, uint32_t owner,
				     int *err)
{
	bool fresh;

	return fs_bread_checked_fresh(fs, blk, magic, owner, &fresh, err);
}

/**
 * fs_new_block - set up a freshly allocated headed metadata block
 * @fs: the filesystem
 * @blk: the block (just allocated by the caller)
 * @magic: FOLIO_EXT_MAGIC, FOLIO_DIR_MAGIC or FOLIO_XATTR_MAGIC
 * @owner: the owning inode
 * @err: receives the negative errno on failure
 *
 * The block is not read: it is zeroed, gets its header and checksum and is
 * marked dirty, so it is valid as it stands. The caller then fills it under
 * lock_buffer() and calls fs_block_dirty().
 *
 * Context: may sleep; no buffer lock held.
 * Return: the head, unlocked, uptodate and in use (brelse() it), or NULL.
 */
struct buffer_head *fs_new_block(struct fs *fs, uint64_t blk, uint32_t magic, uint32_t owner,
				 int *err)
{
	struct buffer_head *bh = getblk(&fs->meta, blk, err);

	if (!bh)
		return NULL;
	lock_buffer(bh);
	folio_block_init(bh->b_data, fs->geom.block_size, magic, blk, owner);
	set_buffer_uptodate(bh);
	fs_block_dirty(fs, bh);
	unlock_buffer(bh);
	return bh;
}

/**
 * fs_block_dirty - a headed metadata block changed
 * @fs: the filesystem
 * @bh: the block's head
 *
 * Recomputes the header checksum and marks the block dirty.
 *
 * Context: the caller holds lock_buffer(@bh).
 */
void fs_block_dirty(struct fs *fs, struct buffer_head *bh)
{
	folio_block_csum_set(fs->csum_seed, bh->b_data, fs->geom.block_size);
	fs_meta_dirty(fs, bh);
}

/**
 * fs_meta_dirty - mark a changed metadata block dirty
 * @fs: the filesystem
 * @bh: the block's head
 *
 * With a journal the block joins the running transaction and stays pinned
 * until that is committed (fs_journal_dirty()); without one this is
 * mark_buffer_dirty().
 *
 * Context: the caller holds lock_buffer(@bh) and, with a journal, a handle.
 */
void fs_meta_dirty(struct fs *fs, struct buffer_head *bh)
{
	fs_journal_dirty(fs, bh);
}

/* ---- block 0: the superblock ---- */

/**
 * fs_write_super - copy the in-core superblock to block 0
 * @fs: the filesystem
 *
 * Folds the free counts in, sets s_write_time, sets ERRORS when corruption
 * was found (fs->errors) or switched the filesystem read-only, recomputes the checksum and marks
 * block 0 dirty. Writing it to the device is left to writeback (or the caller).
 *
 * Context: may sleep; takes sb_lock and the buffer lock of block 0, so the
 * caller holds neither (nor i_lock or icache_lock).
 * Return: 0 or a negative errno from reading block 0.
 */
int fs_write_super(struct fs *fs)
{
	struct buffer_head *bh;
	struct folio_super *d;
	int err = 0;

	bh = bread(&fs->meta, 0, &err);
	if (!bh)
		return err;
	pthread_mutex_lock(&fs->sb_lock);
	fs->sb.s_free_blocks = cpu_to_le64(atomic_load(&fs->free_blocks));
	fs->sb.s_free_inodes = cpu_to_le32(atomic_load(&fs->free_inodes));
	fs->sb.s_write_time = cpu_to_le64(fs_now_sec());
	if ((atomic_load(&fs->rdonly) || atomic_load(&fs->errors)) && !fs->opts.rdonly)
		fs->sb.s_state |= cpu_to_le16(FOLIO_STATE_ERRORS);
	folio_sb_csum_set(&fs->sb);
	lock_buffer(bh);
	d = (struct folio_super *)(bh->b_data + FOLIO_SB_OFFSET);
	memcpy(d, &fs->sb, sizeof(*d));
	fs_meta_dirty(fs, bh);
	unlock_buffer(bh);
	pthread_mutex_unlock(&fs->sb_lock);
	brelse(bh);
	return 0;
}

/**
 * fs_write_super_counts - fold changed free counts into block 0
 * @fs: the filesystem
 *
 * fs_write_super() when the free block or inode count differs from the
 * in-core superblock's, else nothing (fsync calls it: an overwrite changes
 * no count and should not cost a superblock write).
 *
 * Context: as fs_write_super().
 * Return: 0 or a negative errno from reading block 0.
 */
int fs_write_super_counts(struct fs *fs)
{
	bool same;

	pthread_mutex_lock(&fs->sb_lock);
	same = le64_to_cpu(fs->sb.s_free_blocks) == atomic_load(&fs->free_blocks) &&
	       le32_to_cpu(fs->sb.s_free_inodes) == atomic_load(&fs->free_inodes);
	pthread_mutex_unlock(&fs->sb_lock);
	return same ? 0 : fs_write_super(fs);
}
