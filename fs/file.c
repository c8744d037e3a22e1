/*
 * fs/file.c - regular file operations: open, read, write, size changes,
 * fallocate, SEEK_DATA/SEEK_HOLE, copy_file_range and fsync.
 *
 * Interface (fs/fs.h, "file.c"): fs_open, fs_release, fs_read, fs_write,
 * fs_setsize, fs_fallocate, fs_lseek, fs_copy_range, fs_fsync,
 * fs_fsync_inode.
 *
 * Every byte of file data goes through the inode's mapping (filemap_read,
 * filemap_write, filemap_truncate, filemap_zero_range); blocks come from
 * map_blocks (extent.c), allocated when a write first touches them, so a
 * full filesystem answers the writer with -ENOSPC.
 *
 * Locking: writers and size changers (fs_write, fs_setsize, fs_fallocate,
 * fs_copy_range's destination) take i_rwsem exclusively themselves: callers
 * must not hold it. Readers take no fs lock (the cache serialises what it
 * must). No fs lock but i_rwsem is held across filemap_* calls.
 *
 * Semantics worth knowing:
 *  - noatime: reads never update the access time.
 *  - fs_open with O_TRUNC on a writable regular file truncates it.
 *  - A write, truncate or fallocate by a caller (fs_cur_cred()) without
 *    FS_CAP_FSETID first clears S_ISUID, and S_ISGID with group execute
 *    (file_remove_privs(); copy_file_range writes through it too).
 *  - SEEK_DATA/SEEK_HOLE look at the extent tree: unwritten (preallocated)
 *    extents count as data; dirty data always has blocks (allocated at
 *    write time), so nothing written is missed.
 *  - fsync writes and waits for the file's pages, writes the inode and (when
 *    they changed) the superblock's counts into their blocks, writes every
 *    dirty metadata block (not only this inode's: bitmaps, descriptors,
 *    extent and directory blocks, so whatever reaching the data needs is
 *    among them), then flushes the device. fdatasync skips the metadata
 *    unless the inode's datasync_dirty says the size or the block mapping
 *    changed since the last sync (a write past the end or into a hole or an
 *    unwritten extent, truncate, fallocate) or the inode is new (its name is
 *    needed to reach it): a pure overwrite leaves only times behind.
 *    fdatasync of a directory is fsync (its entries are its data).
 *    Write-back errors are reported once per fs_file (errseq sampled at
 *    open), whichever thread's write-back met them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/fs.h"

#define COPY_CHUNK (1U << 20) /* bytes per read/write step of fs_copy_range */

static int file_first_err(int a, int b)
{
	return a ? a : b;
}

/* Largest file size in bytes. */
static uint64_t fs_max_size(struct fs *fs)
{
	return FOLIO_MAX_LBLK << fs->geom.block_shift;
}

/* 0 for a regular file we may change, else the errno POSIX gives. */
static int file_check_regular(struct inode *inode, bool write)
{
	uint32_t mode = fs_inode_mode(inode);

	inode_assert_state(inode);
	if (S_ISDIR(mode))
		return -EISDIR;
	if (!S_ISREG(mode) || !inode->has_mapping)
		return -EINVAL;
	return write ? fs_check_writable(inode->fs) : 0;
}

static uint64_t file_size(struct inode *inode)
{
	return atomic_load(&inode->mapping.i_size);
}

/* A change fdatasync must carry to the device: note it before making it. */
static void file_datasync_dirty(struct inode *inode)
{
	if (!atomic_load(&inode->datasync_dirty))
		atomic_store(&inode->datasync_dirty, true);
}

/* Would writing [off, off + len) change the size or the block mapping (a
 * hole or unwritten block in the range)? Errors answer yes. */
static bool file_write_changes_map(struct inode *inode, uint64_t off, uint64_t len)
{
	unsigned bits = inode->fs->geom.block_shift;
	uint64_t lblk = off >> bits, end = (off + len + (1ULL << bits) - 1) >> bits;

	if (off + len > file_size(inode))
		return true;
	while (lblk < end) {
		uint64_t left = end - lblk, pblk;
		unsigned flags = 0;
		int n = fs_map_blocks(&inode->mapping, lblk,
				      left > UINT32_MAX ? UINT32_MAX : (uint32_t)left, &pblk,
				      &flags);

		if (n <= 0 || !(flags & MAP_MAPPED))
			return true;
		lblk += (uint64_t)n;
	}
	return false;
}

/* ---- privilege bits ---- */

/* The privilege bits a write or truncate by @cred clears: S_ISUID, and
 * S_ISGID when group execute is set (without it S_ISGID marks mandatory
 * locking, not a privilege); none for a caller with FS_CAP_FSETID. Linux's
 * should_remove_suid(). */
static mode_t file_kill_bits(mode_t mode, const struct fs_cred *cred)
{
	mode_t kill = 0;

	if (!S_ISREG(mode) || (cred->caps & FS_CAP_FSETID))
		return 0;
	if (mode & S_ISUID)
		kill = S_ISUID;
	if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		kill |= S_ISGID;
	return kill;
}

/*
 * Before a write, truncate or fallocate (i_rwsem held exclusively, so the
 * mode cannot change: every mode change holds it): clear the bits the
 * thread's caller may not keep (file_kill_bits()), as Linux's
 * file_remove_privs(). A file without either bit costs one look at the mode.
 * The change is made, in its own handle, before the operation's own
 * metadata, so it lands in the same transaction or an earlier one: a crash
 * never keeps the operation's new size or blocks with the bits.
 */
static int file_remove_privs(struct inode *inode)
{
	mode_t mode = fs_inode_mode(inode), kill;
	struct stat st;
	int err;

	if (__builtin_expect(!(mode & (S_ISUID | S_ISGID)), 1))
		return 0;
	kill = file_kill_bits(mode, fs_cur_cred());
	if (!kill)
		return 0;
	st.st_mode = mode & ~kill;
	fs_tx_begin(inode->fs);
	err = fs_inode_setattr(inode, &st, FS_SET_MODE);
	fs_tx_end(inode->fs);
	return err;
}

/* ---- size ---- */

/* Set the size with i_rwsem held exclusively (no timestamps). */
static int __fs_setsize(struct inode *inode, uint64_t size)
{
	struct fs *fs = inode->fs;
	uint64_t old = file_size(inode), mask = fs->geom.block_size - 1;
	int err;

	file_datasync_dirty(inode);
	err = filemap_truncate(&inode->mapping, size);
	if (err || size > old)
		return err;
	/* also to the same size: blocks preallocated past the end go */
	fs_tx_begin(fs);
	err = fs_extent_truncate(inode, (size + mask) >> fs->geom.block_shift);
	fs_tx_end(fs);
	return err;
}

/**
 * fs_setsize - change a file's size (truncate or extend)
 * @inode: a regular file
 * @size: the new size in bytes
 *
 * Shrinking drops the cached pages past the end, zeroes the end block's
 * tail and frees every block past it (preallocated ones included); growing
 * only sets the size (the new bytes are a hole). mtime and ctime are set.
 *
 * Context: may sleep; takes i_rwsem exclusively (the caller must not hold it).
 * Return: 0, -EFBIG, -EROFS, -EISDIR, -EINVAL, or an I/O error.
 */
int fs_setsize(struct inode *inode, uint64_t size)
{
	int err = file_check_regular(inode, true);

	if (err)
		return err;
	if (size > fs_max_size(inode->fs))
		return -EFBIG;
	pthread_rwlock_wrlock(&inode->i_rwsem);
	err = file_remove_privs(inode);
	if (!err)
		err = __fs_setsize(inode, size);
	fs_inode_touch(inode, FS_MTIME | FS_CTIME);
	pthread_rwlock_unlock(&inode->i_rwsem);
	return err;
}

/* ---- open, read, write ---- */

/**
 * fs_open - open a file
 * @inode: the inode (the caller's reference; the handle adds an open count)
 * @flags: open(2) flags; O_TRUNC truncates a regular file opened for writing
 * @out: receives the handle
 *
 * Samples the mapping's write-back error state and sets up readahead.
 *
 * Context: may sleep (O_TRUNC).
 * Return: 0, -ENOMEM, or the error of the truncation.
 */
int fs_open(struct inode *inode, int flags, struct fs_file **out)
{
	struct fs_file *file = calloc(1, sizeof(*file));
	int err;

	inode_assert_state(inode);
	if (!file)
		return -ENOMEM;
	if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY && inode->has_mapping &&
	    S_ISREG(fs_inode_mode(inode))) {
		err = fs_setsize(inode, 0);
		if (err) {
			free(file);
			return err;
		}
	}
	file->inode = inode;
	file->flags = flags;
	if (inode->has_mapping) {
		file->wb_err = filemap_sample_wb_err(&inode->mapping);
		file_ra_state_init(&file->ra, &inode->mapping);
	}
	fs_inode_open(inode);
	*out = file;
	return 0;
}

/**
 * fs_release - close a file handle
 * @file: the handle (freed)
 *
 * The last release of an unlinked file frees it (see fs_inode_release()).
 *
 * Context: may sleep.
 */
void fs_release(struct fs_file *file)
{
	fs_inode_release(file->inode);
	free(file);
}

/**
 * fs_read - read file data through the cache
 * @file: the handle (its readahead state is used)
 * @buf: destination
 * @size: bytes wanted
 * @off: file offset
 *
 * Stops at the end of the file; the access time is not updated (noatime).
 *
 * Context: may sleep; no fs lock taken.
 * Return: bytes read (0 at the end), or -EISDIR, -EINVAL, an I/O error.
 */
ssize_t fs_read(struct fs_file *file, void *buf, size_t size, uint64_t off)
{
	struct inode *inode = file->inode;
	int err = file_check_regular(inode, false);

	if (err)
		return err;
	return filemap_read(&inode->mapping, &file->ra, buf, size, off);
}

/* Write with i_rwsem held exclusively: clamp to the largest file, write
 * through the cache, set mtime/ctime and write the inode. */
/*
 * Allocate the blocks under the whole pages of a write [off, off + size)
 * that lie past the end of the file, a run per map_blocks call (one bitmap
 * update, one extent insert), instead of one call per page as the pages are
 * prepared. Only past the end: no read can reach those blocks before the
 * pages over them hold the write's data, and whole pages are never read
 * from them. Returns true when something was allocated; running out of
 * space only stops early (the page-by-page path reports -ENOSPC where it
 * belongs).
 */
static bool file_alloc_ahead(struct inode *inode, uint64_t off, uint64_t size)
{
	unsigned shift = inode->fs->geom.block_shift;
	uint64_t eof = file_size(inode);
	uint64_t first = ((off > eof ? off : eof) + PAGE_SIZE - 1) & PAGE_MASK;
	uint64_t end = (off + size) & PAGE_MASK, lblk, last;
	bool got = false;

	if (end <= first || end - first < 2 * PAGE_SIZE)
		return false;
	for (lblk = first >> shift, last = end >> shift; lblk < last;) {
		uint64_t left = last - lblk, pblk;
		unsigned flags = MAP_CREATE;
		int n;

		fs_tx_begin(inode->fs);
		n = fs_map_blocks(&inode->mapping, lblk,
				  left > UINT32_MAX ? UINT32_MAX : (uint32_t)left, &pblk, &flags);
		fs_tx_end(inode->fs);
		if (n <= 0)
			break;
		got |= (flags & MAP_NEW) != 0;
		lblk += (uint64_t)n;
	}
	return got;
}

/* Pages pinned at most by one writer over unwritten blocks (256 KiB): a
 * longer write goes to the cache in pieces of this size. */
#define FILE_PIN_MAX 64

struct file_ahead {
	struct page *pages[FILE_PIN_MAX];
	uint64_t first; /* index of pages[0] */
	unsigned n;
};

/* Cache, pin (a reference: reclaim leaves the page) and make uptodate the
 * pages [first, end); a page not uptodate gets zeros, what its unwritten
 * block reads as. Returns how many in a row. */
static unsigned file_pin_zero_pages(struct inode *inode, uint64_t first, uint64_t end,
				    struct page **pages)
{
	unsigned n;

	for (n = 0; first + n < end; n++) {
		struct page *page;

		if (find_or_create_page(&inode->mapping, first + n, &page))
			break;
		if (!page_test(page, PG_uptodate)) {
			memset(page_address(page), 0, PAGE_SIZE);
			page_set(page, PG_uptodate);
		}
		unlock_page(page);
		pages[n] = page;
	}
	return n;
}

/*
 * A write over whole pages whose blocks are unwritten (fallocated) inside
 * the file converts them with one map_blocks call per run instead of one
 * per page. A read must never find those blocks written before the pages
 * over them hold the data, so every page of the range is first cached,
 * pinned and uptodate (zeros where it was not cached): reads are answered
 * from those pages, never from the blocks. The pages are dirtied as their
 * blocks are converted, in the same handle (file_dirty_pinned()).
 * 4 KiB blocks only (a page is a block).
 */
/* Dirty the pinned pages over blocks [lblk, lblk + n) just converted, in
 * the same handle: the commit that converts them writes their data first
 * (ordered), and pages the write does not reach get the zeros they read as.
 * Never dirty before the conversion: writeback would meet unwritten blocks. */
static void file_dirty_pinned(struct file_ahead *fa, uint64_t lblk, uint64_t n)
{
	for (uint64_t i = lblk; i < lblk + n; i++) {
		struct page *page = fa->pages[i - fa->first];

		lock_page(page);
		if (page->mapping)
			set_page_dirty(page);
		unlock_page(page);
	}
}

static void file_convert_ahead(struct inode *inode, uint64_t off, uint64_t size,
			       struct file_ahead *fa)
{
	uint64_t eof = file_size(inode), end = off + size < eof ? off + size : eof;
	uint64_t first = (off + PAGE_SIZE - 1) >> PAGE_SHIFT, last = end >> PAGE_SHIFT, pblk;
	unsigned flags = 0;
	int n;

	fa->n = 0;
	if (inode->fs->geom.block_shift != PAGE_SHIFT || last < first + 2)
		return;
	if (last > first + FILE_PIN_MAX)
		last = first + FILE_PIN_MAX;
	n = fs_map_blocks(&inode->mapping, first, (uint32_t)(last - first), &pblk, &flags);
	if (n < 2 || flags != MAP_UNWRITTEN)
		return;
	fa->first = first;
	fa->n = file_pin_zero_pages(inode, first, first + (uint64_t)n, fa->pages);
	for (uint64_t lblk = first; lblk < first + fa->n;) {
		uint32_t left = (uint32_t)(first + fa->n - lblk);

		flags = MAP_CREATE;
		fs_tx_begin(inode->fs);
		n = fs_map_blocks(&inode->mapping, lblk, left, &pblk, &flags);
		if (n > 0)
			file_dirty_pinned(fa, lblk, (uint64_t)n);
		fs_tx_end(inode->fs);
		if (n <= 0)
			break; /* the page-by-page path meets the error again */
		lblk += (uint64_t)n;
	}
}

/* Drop the pins of file_convert_ahead(). */
static void file_unpin_ahead(struct file_ahead *fa)
{
	for (unsigned i = 0; i < fa->n; i++)
		put_page(fa->pages[i]);
	fa->n = 0;
}

/* filemap_write in pieces of at most FILE_PIN_MAX pages, each over
 * unwritten blocks converted ahead (file_convert_ahead; 4 KiB blocks only,
 * other sizes write in one piece). Returns what
 * filemap_write would: bytes written, or an error when none were. */
static ssize_t file_write_pieces(struct inode *inode, const void *buf, size_t size, uint64_t off)
{
	size_t done = 0;

	if (inode->fs->geom.block_shift != PAGE_SHIFT) /* nothing is converted ahead */
		return filemap_write(&inode->mapping, buf, size, off);
	while (done < size) {
		uint64_t pos = off + done;
		size_t piece = FILE_PIN_MAX * PAGE_SIZE - (pos & ~PAGE_MASK);
		struct file_ahead fa;
		ssize_t n;

		if (piece > size - done)
			piece = size - done;
		file_convert_ahead(inode, pos, piece, &fa);
		n = filemap_write(&inode->mapping, (const char *)buf + done, piece, pos);
		file_unpin_ahead(&fa);
		if (n <= 0)
			return done ? (ssize_t)done : n;
		done += (size_t)n;
		if ((size_t)n < piece)
			break;
	}
	return (ssize_t)done;
}

static ssize_t __fs_write(struct inode *inode, const void *buf, size_t size, uint64_t off)
{
	uint64_t max = fs_max_size(inode->fs);
	bool ahead;
	ssize_t n;

	int err;

	if (!size)
		return 0;
	if (off >= max)
		return -EFBIG;
	if (size > max - off)
		size = max - off;
	err = file_remove_privs(inode);
	if (err)
		return err;
	if (!atomic_load(&inode->datasync_dirty) && file_write_changes_map(inode, off, size))
		file_datasync_dirty(inode);
	ahead = file_alloc_ahead(inode, off, size);
	n = file_write_pieces(inode, buf, size, off);
	if ((n == -ENOSPC || (n >= 0 && n < (ssize_t)size)) && fs_journal_retry_enospc(inode->fs)) {
		/* blocks freed by a transaction not yet committed are free now */
		size_t done = n > 0 ? (size_t)n : 0;
		ssize_t m =
			file_write_pieces(inode, (const char *)buf + done, size - done, off + done);

		n = m > 0 ? (ssize_t)(done + (size_t)m) : done ? (ssize_t)done : m;
	}
	if (ahead && n < (ssize_t)size)
		(void)__fs_setsize(inode, file_size(inode)); /* free what is left past the end */
	if (n > 0)
		fs_inode_touch(inode, FS_MTIME | FS_CTIME);
	return n;
}

/**
 * fs_write - write file data through the cache
 * @file: the handle; O_APPEND writes at the end of the file
 * @buf: source
 * @size: bytes
 * @off: file offset (ignored with O_APPEND)
 *
 * Blocks are allocated as pages are prepared; when the filesystem fills up
 * after some bytes were written the count written so far is returned. Sets
 * mtime and ctime and writes the inode (size included).
 *
 * Context: may sleep; takes i_rwsem exclusively.
 * Return: bytes written, or -ENOSPC, -EFBIG, -EROFS, -EISDIR, -EINVAL, an
 * I/O error when nothing was written.
 */
ssize_t fs_write(struct fs_file *file, const void *buf, size_t size, uint64_t off)
{
	struct inode *inode = file->inode;
	int err = file_check_regular(inode, true);
	ssize_t n;

	if (err)
		return err;
	pthread_rwlock_wrlock(&inode->i_rwsem);
	if (file->flags & O_APPEND)
		off = file_size(inode);
	n = __fs_write(inode, buf, size, off);
	pthread_rwlock_unlock(&inode->i_rwsem);
	return n;
}

/* ---- fallocate ---- */

/* First whole block at or after @off and the end of the last whole block
 * at or before @end, as logical blocks. */
static void file_whole_blocks(struct fs *fs, uint64_t off, uint64_t end, uint64_t *first,
			      uint64_t *last)
{
	uint64_t mask = fs->geom.block_size - 1;

	*first = (off + mask) >> fs->geom.block_shift;
	*last = end >> fs->geom.block_shift;
}

/* Zero range's change to the whole blocks: written ones become unwritten,
 * holes among them get unwritten blocks. */
static int file_make_unwritten(struct inode *inode, uint64_t lblk, uint64_t count)
{
	int err = fs_extent_mark_unwritten(inode, lblk, count);

	return err ? err : fs_extent_prealloc(inode, lblk, count);
}

/*
 * Punch hole and zero range: zero the cached bytes of [off, end) (dropping
 * the pages wholly inside) and apply @change to the whole blocks of the
 * range (fs_extent_punch, or file_make_unwritten). Both happen under one
 * hold of invalidate_lock: a read in between (an asynchronous readahead
 * worker, say) would otherwise cache the old blocks' data again, and it
 * would stay cached over the hole or unwritten blocks.
 */
static int file_zero_blocks(struct inode *inode, uint64_t off, uint64_t end,
			    int (*change)(struct inode *inode, uint64_t lblk, uint64_t count))
{
	uint64_t first, last;
	int err;

	filemap_invalidate_lock(&inode->mapping);
	err = __filemap_zero_range(&inode->mapping, off, end - off);
	file_whole_blocks(inode->fs, off, end, &first, &last);
	if (!err && last > first) {
		fs_tx_begin(inode->fs);
		err = change(inode, first, last - first);
		fs_tx_end(inode->fs);
	}
	filemap_invalidate_unlock(&inode->mapping);
	return err;
}

static int file_prealloc(struct inode *inode, uint64_t off, uint64_t end)
{
	struct fs *fs = inode->fs;
	uint64_t first = off >> fs->geom.block_shift;
	uint64_t last = (end + fs->geom.block_size - 1) >> fs->geom.block_shift;
	int err;

	fs_tx_begin(fs);
	err = fs_extent_prealloc(inode, first, last - first);
	fs_tx_end(fs);
	return err;
}

/* The operation itself, i_rwsem held; grows the size unless KEEP_SIZE. */
static int __fs_fallocate(struct inode *inode, int mode, uint64_t off, uint64_t end)
{
	int err;

	if (mode & FALLOC_FL_PUNCH_HOLE)
		return file_zero_blocks(inode, off, end, fs_extent_punch);
	if (mode & FALLOC_FL_ZERO_RANGE)
		err = file_zero_blocks(inode, off, end, file_make_unwritten);
	else
		err = file_prealloc(inode, off, end);
	if (!err && !(mode & FALLOC_FL_KEEP_SIZE) && end > file_size(inode))
		err = filemap_truncate(&inode->mapping, end);
	return err;
}

/**
 * fs_fallocate - preallocate, punch or zero a range
 * @inode: a regular file
 * @mode: 0 or FALLOC_FL_KEEP_SIZE (preallocate unwritten blocks for the
 *	holes); FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE (zero the partial
 *	blocks at the edges, free the whole ones); FALLOC_FL_ZERO_RANGE,
 *	optionally with KEEP_SIZE (zero the edges, make the whole blocks
 *	unwritten and allocate the holes among them as unwritten)
 * @off: first byte
 * @len: bytes (> 0)
 *
 * Without KEEP_SIZE the size grows to @off + @len. ctime is set, and mtime
 * too when data or the size changed.
 *
 * Context: may sleep; takes i_rwsem exclusively.
 * Return: 0, -EINVAL (len 0), -EOPNOTSUPP (other modes), -EFBIG, -ENOSPC,
 * -EROFS, -EISDIR, -ENODEV (not a regular file), an I/O error.
 */
int fs_fallocate(struct inode *inode, int mode, uint64_t off, uint64_t len)
{
	uint64_t old, end = off + len;
	int err = file_check_regular(inode, true);

	if (err == -EINVAL)
		return -ENODEV;
	if (err)
		return err;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) &&
	    (!(mode & FALLOC_FL_KEEP_SIZE) || (mode & FALLOC_FL_ZERO_RANGE)))
		return -EOPNOTSUPP;
	if (!len)
		return -EINVAL;
	if (end < off || end > fs_max_size(inode->fs))
		return -EFBIG;
	pthread_rwlock_wrlock(&inode->i_rwsem);
	old = file_size(inode);
	file_datasync_dirty(inode);
	err = file_remove_privs(inode);
	if (!err)
		err = __fs_fallocate(inode, mode, off, end);
	if (err == -ENOSPC && fs_journal_retry_enospc(inode->fs))
		err = __fs_fallocate(inode, mode, off, end);
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) || file_size(inode) != old)
		fs_inode_touch(inode, FS_MTIME | FS_CTIME);
	else
		fs_inode_touch(inode, FS_CTIME);
	pthread_rwlock_unlock(&inode->i_rwsem);
	return err;
}

/* ---- lseek ---- */

/**
 * fs_lseek - SEEK_DATA and SEEK_HOLE
 * @inode: a regular file
 * @off: where to start looking (bytes)
 * @whence: SEEK_DATA or SEEK_HOLE
 *
 * Unwritten (preallocated) blocks count as data. The end of the file is a
 * hole; a data block that reaches past the end is cut at the size.
 *
 * Context: may sleep; takes ext_lock shared.
 * Return: the offset found, -ENXIO at or past the end (or no data after
 * @off), -EINVAL for another @whence or a negative offset.
 */
int64_t fs_lseek(struct inode *inode, int64_t off, int whence)
{
	struct fs *fs = inode->fs;
	unsigned bits = fs->geom.block_shift;
	uint64_t size, lblk, end, found;
	int err = file_check_regular(inode, false);

	if (err)
		return err;
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off < 0)
		return -ENXIO;
	size = file_size(inode);
	if ((uint64_t)off >= size)
		return -ENXIO;
	lblk = (uint64_t)off >> bits;
	end = (size + fs->geom.block_size - 1) >> bits;
	err = fs_extent_seek(inode, lblk, end, whence == SEEK_DATA, &found);
	if (err == -ENXIO)
		return whence == SEEK_DATA ? -ENXIO : (int64_t)size;
	if (err)
		return err;
	if (found == lblk)
		return off;
	found <<= bits;
	return (int64_t)(found < size ? found : size);
}

/* ---- copy_file_range ---- */

/* Copy @len bytes front to back (or back to front when the destination
 * overlaps the source from above), i_rwsem of the destination held. */
static ssize_t copy_chunks(struct fs_file *in, uint64_t off_in, struct fs_file *out,
			   uint64_t off_out, size_t len, char *buf, size_t bufsz)
{
	bool backward = in->inode == out->inode && off_out > off_in && off_out < off_in + len;
	size_t done = 0;

	while (done < len) {
		size_t n = len - done < bufsz ? len - done : bufsz;
		uint64_t at = backward ? len - done - n : done;
		ssize_t r, w;

		r = filemap_read(&in->inode->mapping, NULL, buf, n, off_in + at);
		if (r <= 0)
			return done ? (ssize_t)done : r;
		if (backward && (size_t)r != n)
			return -EIO;
		w = __fs_write(out->inode, buf, (size_t)r, off_out + at);
		if (w < 0 || (backward && w != r))
			return done && !backward ? (ssize_t)done : (w < 0 ? w : -ENOSPC);
		done += (size_t)w;
		if (w < r)
			break;
	}
	return (ssize_t)done;
}

/**
 * fs_copy_range - copy_file_range through the cache
 * @in: source handle
 * @off_in: source offset
 * @out: destination handle
 * @off_out: destination offset
 * @len: bytes
 *
 * Reads into a buffer and writes, in chunks of 1 MiB; stops at the end of
 * the source. Overlapping ranges of one file are copied back to front when
 * the destination is above the source, so the result is as if the source
 * had been read first; such a copy that fails part way reports the error
 * (its end is already written), not a short count.
 *
 * Context: may sleep; takes the destination's i_rwsem exclusively.
 * Return: bytes copied (short on -ENOSPC after some), or a negative errno.
 */
ssize_t fs_copy_range(struct fs_file *in, uint64_t off_in, struct fs_file *out, uint64_t off_out,
		      size_t len)
{
	struct inode *dst = out->inode;
	uint64_t isize;
	size_t bufsz;
	ssize_t n;
	char *buf;
	int err =
		file_first_err(file_check_regular(in->inode, false), file_check_regular(dst, true));

	if (err)
		return err;
	pthread_rwlock_wrlock(&dst->i_rwsem);
	isize = file_size(in->inode);
	len = off_in >= isize ? 0 : (len < isize - off_in ? len : (size_t)(isize - off_in));
	bufsz = len < COPY_CHUNK ? len : COPY_CHUNK;
	buf = bufsz ? malloc(bufsz) : NULL;
	if (bufsz && !buf)
		n = -ENOMEM;
	else
		n = len ? copy_chunks(in, off_in, out, off_out, len, buf, bufsz) : 0;
	pthread_rwlock_unlock(&dst->i_rwsem);
	free(buf);
	return n;
}

/* ---- fsync ---- */

/* The metadata part of fsync: the inode, the superblock's counts, every
 * dirty metadata block. */
/* The metadata fsync must make durable. With a journal: the inode, and a
 * commit of the running transaction (which holds every metadata change so
 * far; returns 1 when it wrote one, flushed); without: the inode, the
 * superblock's counts and every dirty metadata block written home (the
 * caller flushes). */
static int file_sync_meta(struct inode *inode)
{
	struct fs *fs = inode->fs;
	int err = fs_inode_write(inode);

	if (fs->journal)
		return err ? err : fs_journal_commit(fs);
	err = file_first_err(err, fs_write_super_counts(fs));
	return file_first_err(err, filemap_write_and_wait(&fs->meta));
}

/**
 * fs_fsync_inode - make an inode's data and the metadata durable
 * @inode: any inode (a directory: its entries, for fsyncdir)
 * @datasync: fdatasync: skip the metadata unless the size or the block
 *	mapping changed since the last sync or the inode is new
 *	(inode->datasync_dirty); ignored for a directory
 *
 * Writes and waits for the file's pages, then (see the top of this file)
 * the inode, the superblock's counts and every dirty metadata block, then
 * flushes the device. Nothing on a read-only mount. A failed metadata
 * write leaves datasync_dirty set for the next fdatasync.
 *
 * Context: may sleep; no fs lock held.
 * Return: 0 or the first error (this call's write-back errors included).
 */
int fs_fsync_inode(struct inode *inode, bool datasync)
{
	struct fs *fs = inode->fs;
	bool meta;
	int err = 0, merr;

	if (fs->opts.rdonly)
		return 0;
	if (S_ISDIR(fs_di_mode(inode->di)))
		datasync = false; /* a directory's data is its entries: metadata */
	if (inode->has_mapping)
		err = filemap_write_and_wait(&inode->mapping);
	meta = atomic_exchange(&inode->datasync_dirty, false);
	if (!datasync || meta) {
		merr = file_sync_meta(inode);
		if (merr < 0 && meta)
			atomic_store(&inode->datasync_dirty, true);
		if (merr > 0) /* a journal commit: the device is flushed */
			return err;
		err = file_first_err(err, merr < 0 ? merr : 0);
	}
	return file_first_err(err, bdev_flush(fs->bdev));
}

/**
 * fs_fsync - fsync(2) of an open file
 * @file: the handle
 * @datasync: fdatasync
 *
 * As fs_fsync_inode(), then reports a write-back error of the file that
 * this handle has not seen yet, once (errseq: every handle sees each error
 * once, whichever thread's write-back met it).
 *
 * Context: may sleep; no fs lock held; one caller per handle at a time.
 * Return: 0 or a negative errno.
 */
int fs_fsync(struct fs_file *file, bool datasync)
{
	struct inode *inode = file->inode;
	int err = fs_fsync_inode(inode, datasync), seen = 0;

	if (inode->has_mapping)
		seen = file_check_and_advance_wb_err(&file->wb_err, &inode->mapping);
	return file_first_err(err, seen);
}
