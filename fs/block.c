/*
 * fs/block.c - the bottom of the filesystem: metadata blocks through the
 * device mapping, the superblock's block, corruption and the read-only
 * state. Every other fs file calls these; they call only the cache.
 *
 * Interface (fs/fs.h, "block.c"): __fs_corrupt (fs_corrupt),
 * fs_check_writable, fs_bread, fs_bread_fresh, fs_bread_checked,
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
 *  - fs->rdonly is set at mount (-o ro) or by fs_corrupt(); it never clears.
 *    A filesystem switched read-only by corruption still writes back what is
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
 * Prints one line on stderr. The superblock gets ERRORS at the next write.
 *
 * Context: any thread, any fs lock held (takes none).
 * Return: -EUCLEAN, for the caller to pass up.
 */
int __fs_corrupt(struct fs *fs, const char *file, int line, uint32_t ino, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fprintf(stderr, "foliofs: corruption (%s:%d, inode %" PRIu32 "): %s; now read-only\n", file,
		line, ino, what);
	atomic_store(&fs->rdonly, true);
	return -EUCLEAN;
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
	struct buffer_head *bh;
	bool fresh;
	int ret;

	if (!blk || blk >= fs->geom.blocks_count) {
		*err = fs_corrupt(fs, owner, "block pointer %" PRIu64 " outside the filesystem",
				  blk);
		return NULL;
	}
	bh = fs_bread_fresh(fs, blk, &fresh, err);
	if (!bh)
		return NULL;
	if (fresh)
		ret = folio_block_check(fs->csum_seed, bh->b_data, fs->geom.block_size, magic, blk,
					owner);
	else
		ret = fs_block_hdr_ok(bh->b_data, magic, blk, owner);
	if (ret) {
		brelse(bh);
		if (fresh)
			fs_bforget(fs, blk, 1); /* the next read checks it again */
		*err = fs_corrupt(fs, owner, "block %" PRIu64 ": %s", blk,
				  ret == -EBADMSG ? "checksum mismatch"
						  : "bad magic, block number or owner");
		return NULL;
	}
	return bh;
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
 * switched the filesystem read-only, recomputes the checksum and marks block
 * 0 dirty. Writing it to the device is left to writeback (or the caller).
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
	if (atomic_load(&fs->rdonly) && !fs->opts.rdonly)
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
