/*
 * fs/super.c - the top of the filesystem: mount, unmount, sync and statfs.
 * It sets up and tears down every layer below (the device, the cache, the
 * group descriptors, the inode cache) and frees what a crash left on the
 * orphan list.
 *
 * Interface (fs/fs.h, "super.c"): fs_mount, fs_unmount, fs_sync,
 * fs_errors_commit, fs_statfs.
 *
 * Mount, in order (docs/ON-DISK.md section 4): open the image exclusively;
 * create the cache; read the superblock through the cache (a device mapping
 * with 1 KiB blocks, block 0) and validate it; rebuild the device mapping with
 * the real block size; check every group descriptor; then, unless read-only,
 * clear CLEAN, count the mount, write the superblock and flush it before any
 * other write; then free the inodes on the orphan list. Every failure before
 * the superblock write leaves the image untouched and puts one line in the
 * caller's message.
 *
 * Invariants:
 *  - fs->sb is read from block 0 here and written only through block.c's
 *    fs_write_super(); fs->rdonly is set here for -o ro (block.c's fs_corrupt
 *    sets it otherwise).
 *  - Teardown order: inodes (their mappings), the device mapping, the cache,
 *    the device. Nothing is left allocated.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "backing/logwrites.h"
#include "fs/fs.h"

#define FS_DEFAULT_CACHE (256ULL << 20)

/* Write the in-core superblock straight to the device and flush, bypassing
 * the cache: for when its cached block may be pinned by a transaction that
 * will never commit (an aborted journal). */
static int fs_commit_super_direct(struct fs *fs)
{
	size_t len = fs->geom.block_size < 4096 ? 4096 : fs->geom.block_size;
	uint8_t *blk = aligned_alloc(4096, len);
	int err;

	if (!blk)
		return -ENOMEM;
	err = bdev_read(fs->bdev, 0, blk, fs->geom.block_size);
	if (!err) {
		pthread_mutex_lock(&fs->sb_lock);
		fs->sb.s_free_blocks = cpu_to_le64(atomic_load(&fs->free_blocks));
		fs->sb.s_free_inodes = cpu_to_le32(atomic_load(&fs->free_inodes));
		fs->sb.s_write_time = cpu_to_le64(fs_now_sec());
		folio_sb_csum_set(&fs->sb);
		memcpy(blk + FOLIO_SB_OFFSET, &fs->sb, sizeof(fs->sb));
		pthread_mutex_unlock(&fs->sb_lock);
		err = bdev_write(fs->bdev, 0, blk, fs->geom.block_size);
	}
	free(blk);
	return err ? err : bdev_flush(fs->bdev);
}

/* Set ERRORS in the superblock on the device, nothing else, and flush: for
 * a journaled filesystem that can no longer commit (switched read-only, or
 * an aborted journal), whose in-core superblock may hold changes (free
 * counts, the orphan head) of transactions that will never reach the
 * device; the device's copy stays as committed (RECOVER set: the log is
 * replayed by the next fsck). */
static int fs_mark_errors_direct(struct fs *fs)
{
	size_t len = fs->geom.block_size < 4096 ? 4096 : fs->geom.block_size;
	uint8_t *blk = aligned_alloc(4096, len);
	struct folio_super *d = (struct folio_super *)(blk + FOLIO_SB_OFFSET);
	int err;

	if (!blk)
		return -ENOMEM;
	err = bdev_read(fs->bdev, 0, blk, fs->geom.block_size);
	if (!err && !folio_sb_csum_ok(d))
		err = -EIO; /* not what we read at mount: leave it */
	if (!err) {
		d->s_state |= cpu_to_le16(FOLIO_STATE_ERRORS);
		d->s_state &= cpu_to_le16((uint16_t)~FOLIO_STATE_CLEAN);
		folio_sb_csum_set(d);
		err = bdev_write(fs->bdev, 0, blk, fs->geom.block_size);
	}
	free(blk);
	return err ? err : bdev_flush(fs->bdev);
}

/* Write the superblock to the device now and flush it. */
static int fs_commit_super(struct fs *fs)
{
	struct buffer_head *bh;
	int err = fs_write_super(fs);

	if (err)
		return err;
	bh = bread(&fs->meta, 0, &err);
	if (!bh)
		return err;
	err = sync_dirty_buffer(bh);
	brelse(bh);
	return err ? err : bdev_flush(fs->bdev);
}

/**
 * fs_statfs - filesystem statistics for statfs(2)
 * @fs: the filesystem
 * @st: filled in
 *
 * f_bavail leaves out s_reserved_blocks (kept for root).
 *
 * Context: any thread; reads counters only.
 */
void fs_statfs(struct fs *fs, struct statvfs *st)
{
	uint64_t bfree = atomic_load(&fs->free_blocks);
	uint64_t resv = le64_to_cpu(fs->sb.s_reserved_blocks), fsid;

	memset(st, 0, sizeof(*st));
	st->f_bsize = fs->geom.block_size;
	st->f_frsize = fs->geom.block_size;
	st->f_blocks = fs->geom.blocks_count;
	st->f_bfree = bfree;
	st->f_bavail = bfree > resv ? bfree - resv : 0;
	st->f_files = fs->geom.inodes_count;
	st->f_ffree = atomic_load(&fs->free_inodes);
	st->f_favail = st->f_ffree;
	memcpy(&fsid, fs->sb.s_uuid, sizeof(fsid));
	st->f_fsid = (unsigned long)fsid;
	st->f_namemax = FOLIO_NAME_MAX;
	if (atomic_load(&fs->rdonly))
		st->f_flag |= ST_RDONLY;
}

/* ---- mount ---- */

static void fs_msg(char *msg, size_t msglen, const char *image, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void fs_msg(char *msg, size_t msglen, const char *image, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	if (!msglen)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(msg, msglen, "%s: %s", image, what);
}

static void fs_init_locks(struct fs *fs)
{
	cache_mutex_init(&fs->sb_lock);
	cache_mutex_init(&fs->orphan_lock);
	cache_mutex_init(&fs->rename_lock);
}

static void fs_destroy_locks(struct fs *fs)
{
	if (fs->group_lock) {
		for (uint32_t g = 0; g < fs->geom.groups_count; g++)
			pthread_mutex_destroy(&fs->group_lock[g]);
		free(fs->group_lock);
	}
	pthread_mutex_destroy(&fs->sb_lock);
	pthread_mutex_destroy(&fs->orphan_lock);
	pthread_mutex_destroy(&fs->rename_lock);
}

/*
 * Regular files' data goes to data_bdev: the device itself, or (test-only,
 * -o debug_corrupt_writes) backing/faulty.c's wrapper borrowing it, which
 * damages file data on its way to the image while the cache keeps the good
 * copy. It ships in the daemon, off unless that option is given, because
 * its one use needs the real daemon, mount and kernel: showing that the
 * consistency tests (tests/fsx/fsx-foliofs-corrupt.sh, foliofs-fsx) catch
 * data that reaches the image wrong, which no test inside the library can
 * show. foliofs-ctl turns its knobs (daemon/ctl_server.c); metadata never
 * goes through it. Its cost when off is this one branch at mount.
 */
static int fs_open_data_bdev(struct fs *fs, const char *image, char *msg, size_t msglen)
{
	int err;

	fs->data_bdev = fs->bdev;
	if (!fs->opts.debug_corrupt)
		return 0;
	err = bdev_faulty_wrap(fs->bdev, FAULTY_BORROW | FAULTY_NO_UNDO, &fs->data_bdev,
			       &fs->data_faulty);
	if (err) {
		fs->data_bdev = fs->bdev;
		fs_msg(msg, msglen, image, "cannot set up debug_corrupt_writes: %s",
		       strerror(-err));
		return err;
	}
	faulty_corrupt_writes(fs->data_faulty, fs->opts.debug_corrupt_every);
	return 0;
}

/*
 * Test-only (-o debug_logwrites=PATH): the whole device goes through
 * backing/logwrites.c's recording wrapper, so every write, flush and discard
 * of metadata and data is logged, in device order, for the crash replayer
 * (tools/crash.c) and the crash tests (tests/crash/). It ships in the daemon
 * for the same reason as debug_corrupt_writes: the crash states must come
 * from the real daemon driven through the kernel. Its cost when off is this
 * one branch at mount.
 */
static int fs_open_logwrites(struct fs *fs, const char *image, char *msg, size_t msglen)
{
	struct bdev *wrapped;
	int err;

	if (!fs->opts.debug_logwrites)
		return 0;
	err = bdev_logwrites_create(fs->bdev, fs->opts.debug_logwrites, &wrapped, &fs->logwrites);
	if (err) {
		fs_msg(msg, msglen, image, "cannot set up debug_logwrites=%s: %s",
		       fs->opts.debug_logwrites, strerror(-err));
		return err;
	}
	fs->bdev = wrapped;
	return 0;
}

static int fs_open_bdev(struct fs *fs, const char *image, char *msg, size_t msglen)
{
	unsigned flags = BDEV_EXCL | (fs->opts.rdonly ? BDEV_RDONLY : 0);
	int err = bdev_file_open(image, flags, &fs->bdev);

	switch (err) {
	case 0:
		err = fs_open_logwrites(fs, image, msg, msglen);
		return err ? err : fs_open_data_bdev(fs, image, msg, msglen);
	case -ENOENT:
		fs_msg(msg, msglen, image, "no such file or device");
		break;
	case -EBUSY:
		fs_msg(msg, msglen, image, "in use by another process (already mounted?)");
		break;
	case -ENOTBLK:
	case -EISDIR:
		fs_msg(msg, msglen, image, "not a regular file or block device");
		break;
	default:
		fs_msg(msg, msglen, image, "cannot open: %s", strerror(-err));
	}
	return err;
}

static int fs_create_cache(struct fs *fs, const char *image, char *msg, size_t msglen)
{
	uint64_t size = fs->opts.cache_size ? fs->opts.cache_size : FS_DEFAULT_CACHE;
	struct cache_config cfg = {
		.pool_bytes = size,
		.limit_bytes = size,
		.ra_max_pages = fs->opts.ra_max_pages,
	};
	int err = cache_create(&cfg, &fs->cache);

	if (err)
		fs_msg(msg, msglen, image, "cannot create a %" PRIu64 "-byte page cache: %s", size,
		       strerror(-err));
	return err;
}

/* Read block 0 through a device mapping with 1 KiB blocks (or the sector
 * size, if larger) and validate the superblock in it. */
static int fs_read_super(struct fs *fs, const char *image, char *msg, size_t msglen)
{
	unsigned bits = 10, vflags = fs->opts.rdonly ? FOLIO_SBV_RDONLY : 0;
	struct buffer_head *bh;
	char why[200];
	int err;

	while ((1U << bits) < fs->bdev->lbs && bits < PAGE_SHIFT)
		bits++;
	if (fs->bdev->size < (1U << bits)) {
		fs_msg(msg, msglen, image, "not a foliofs filesystem (only %" PRIu64 " bytes)",
		       fs->bdev->size);
		return -EINVAL;
	}
	err = mapping_init_bdev(&fs->meta, fs->cache, fs->bdev, bits);
	if (err) {
		fs_msg(msg, msglen, image, "unsupported sector size %u", fs->bdev->lbs);
		return err;
	}
	bh = bread(&fs->meta, 0, &err);
	if (bh) {
		memcpy(&fs->sb, bh->b_data + FOLIO_SB_OFFSET, sizeof(fs->sb));
		brelse(bh);
	}
	mapping_destroy(&fs->meta);
	if (!bh) {
		fs_msg(msg, msglen, image, "cannot read the superblock: %s", strerror(-err));
		return err;
	}
	err = folio_sb_validate(&fs->sb, fs->bdev->size, vflags, &fs->geom, why, sizeof(why));
	if (err)
		fs_msg(msg, msglen, image, "%s", why);
	return err;
}

/* Refuse an image with ERRORS read-write (fsck first); replay a journal that
 * needs it and read the superblock again (the journal may have held it). */
static int fs_recover(struct fs *fs, const char *image, char *msg, size_t msglen)
{
	int err;

	if (fs->sb.s_state & cpu_to_le16(FOLIO_STATE_ERRORS)) {
		if (!fs->opts.rdonly) {
			fs_msg(msg, msglen, image,
			       "the filesystem has errors: run fsck.foliofs -y %s (or mount with -o ro)",
			       image);
			return -EUCLEAN;
		}
		fprintf(stderr, "foliofs: %s has errors; mounted read-only\n", image);
	}
	fs->csum_seed = folio_fs_seed(fs->sb.s_uuid);
	err = fs_journal_replay(fs, image, msg, msglen);
	if (!err && fs_has_journal(fs) &&
	    (le32_to_cpu(fs->sb.s_feature_incompat) & FOLIO_INCOMPAT_RECOVER))
		err = fs_read_super(fs, image, msg, msglen);
	return err;
}

/* The device mapping with the filesystem's block size, and what derives
 * from the superblock. */
static int fs_setup_meta(struct fs *fs, const char *image, char *msg, size_t msglen)
{
	int err = mapping_init_bdev(&fs->meta, fs->cache, fs->bdev, fs->geom.block_shift);

	if (err) {
		fs_msg(msg, msglen, image,
		       "block size %u is smaller than the device's sectors (%u)",
		       fs->geom.block_size, fs->bdev->lbs);
		return err;
	}
	fs->csum_seed = folio_fs_seed(fs->sb.s_uuid);
	fs->hash_seed[0] = le64_to_cpu(fs->sb.s_hash_seed[0]);
	fs->hash_seed[1] = le64_to_cpu(fs->sb.s_hash_seed[1]);
	fs->group_lock = calloc(fs->geom.groups_count, sizeof(*fs->group_lock));
	if (!fs->group_lock) {
		mapping_destroy(&fs->meta);
		fs_msg(msg, msglen, image, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t g = 0; g < fs->geom.groups_count; g++)
		cache_mutex_init(&fs->group_lock[g]);
	return 0;
}

/* Clear CLEAN, count the mount, write the superblock and flush. */
static int fs_mark_mounted(struct fs *fs, const char *image, char *msg, size_t msglen)
{
	int err;

	pthread_mutex_lock(&fs->sb_lock);
	fs->sb.s_state &= cpu_to_le16((uint16_t)~FOLIO_STATE_CLEAN);
	if (fs_has_journal(fs))
		fs->sb.s_feature_incompat |= cpu_to_le32(FOLIO_INCOMPAT_RECOVER);
	fs->sb.s_mount_count = cpu_to_le32(le32_to_cpu(fs->sb.s_mount_count) + 1);
	fs->sb.s_mount_time = cpu_to_le64(fs_now_sec());
	pthread_mutex_unlock(&fs->sb_lock);
	err = fs_commit_super(fs);
	if (err)
		fs_msg(msg, msglen, image, "cannot write the superblock: %s", strerror(-err));
	return err;
}

static void fs_teardown(struct fs *fs, bool meta)
{
	if (meta)
		mapping_destroy(&fs->meta);
	if (fs->cache)
		cache_destroy(fs->cache);
	if (fs->data_bdev && fs->data_bdev != fs->bdev)
		bdev_close(fs->data_bdev);
	if (fs->bdev)
		bdev_close(fs->bdev);
	fs_destroy_locks(fs);
	free(fs->meta_loc);
	free(fs);
}

/*
 * Free every inode the orphan list names (a crash left them): each is loaded
 * and released, and eviction frees it (nlink 0) and takes it off the list;
 * one that still has links only leaves the list. A list naming a free or
 * reserved inode, or one that does not end, is corruption. Returns 0 or a
 * negative errno (the list is left as far as it got).
 */
static int fs_free_orphans(struct fs *fs)
{
	uint32_t head, prev = 0, n = 0;
	struct inode *inode;
	int err;

	while ((head = fs_orphan_head(fs))) {
		if (head < FOLIO_FIRST_INO || head == prev || ++n > fs->geom.inodes_count)
			return fs_corrupt(fs, head, "orphan list cannot be freed");
		err = fs_iget(fs, head, &inode);
		if (err == -ENOENT)
			return fs_corrupt(fs, head, "orphan list names a free inode");
		if (err)
			return err;
		fs_tx_begin(fs);
		err = inode->di->i_nlink ? fs_orphan_remove_linked(inode) : 0;
		fs_tx_end(fs);
		fs_iput(inode);
		if (err)
			return err;
		prev = head;
	}
	return 0;
}

/* After the superblock: descriptors, inode cache, the mounted state and the
 * orphan list. On failure everything but the device mapping is undone. */
static int fs_mount_finish(struct fs *fs, const char *image, char *msg, size_t msglen)
{
	char why[200];
	int err = fs_groups_load(fs, why, sizeof(why));

	if (err) {
		fs_msg(msg, msglen, image, "%s", why);
		return err;
	}
	err = fs_icache_init(fs);
	if (err) {
		fs_msg(msg, msglen, image, "out of memory");
		return err;
	}
	if (!(fs->sb.s_state & cpu_to_le16(FOLIO_STATE_CLEAN)))
		fprintf(stderr, "foliofs: %s was not cleanly unmounted\n", image);
	if (fs->opts.rdonly)
		return 0;
	err = fs_mark_mounted(fs, image, msg, msglen);
	if (!err) {
		err = fs_journal_start(fs, why, sizeof(why));
		if (err)
			fs_msg(msg, msglen, image, "%s", why);
	}
	if (err) {
		fs_icache_destroy(fs);
		return err;
	}
	fs->loading_orphans = true;
	err = fs_free_orphans(fs);
	fs->loading_orphans = false;
	if (err)
		fprintf(stderr, "foliofs: %s: the orphan list could not be freed\n", image);
	fs_errors_commit(fs);
	return 0;
}

/**
 * fs_mount - open and validate an image and make it ready for use
 * @image: path of the image file or block device
 * @opts: mount options (cache size, readahead maximum, read-only)
 * @out: receives the filesystem
 * @msg: receives one line saying what is wrong, on failure
 * @msglen: size of @msg
 *
 * See the top of this file for the steps. Says on stderr (one line) when the
 * image was not cleanly unmounted. A failure of the orphan cleanup does not
 * fail the mount (the filesystem is read-only then, see fs_corrupt()).
 *
 * Context: any thread.
 * Return: 0; -ENOENT (missing image), -EBUSY (in use), -EINVAL (not
 * foliofs), -EPROTONOSUPPORT (newer version or feature), -EBADMSG (checksum),
 * -EUCLEAN (inconsistent superblock or descriptor), -ENOSPC (device smaller
 * than the filesystem), or another negative errno. Nothing is written then.
 */
int fs_mount(const char *image, const struct fs_options *opts, struct fs **out, char *msg,
	     size_t msglen)
{
	struct fs *fs;
	int err;

	*out = NULL;
	if (msglen)
		msg[0] = '\0';
	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		fs_msg(msg, msglen, image, "out of memory");
		return -ENOMEM;
	}
	fs->opts = *opts;
	atomic_init(&fs->rdonly, opts->rdonly);
	fs_init_locks(fs);
	err = fs_open_bdev(fs, image, msg, msglen);
	if (!err)
		err = fs_create_cache(fs, image, msg, msglen);
	if (!err)
		err = fs_read_super(fs, image, msg, msglen);
	if (!err)
		err = fs_recover(fs, image, msg, msglen);
	if (!err)
		err = fs_setup_meta(fs, image, msg, msglen);
	if (err) {
		fs_teardown(fs, false);
		return err;
	}
	err = fs_mount_finish(fs, image, msg, msglen);
	if (err) {
		fs_teardown(fs, true);
		return err;
	}
	*out = fs;
	return 0;
}

/* ---- sync and unmount ---- */

static int fs_first_err(int a, int b)
{
	return a ? a : b;
}

/* Write the device mapping's dirty blocks and flush the device. */
static int fs_sync_meta(struct fs *fs)
{
	int err = filemap_write_and_wait(&fs->meta);

	return fs_first_err(err, bdev_flush(fs->bdev));
}

/**
 * fs_sync - write everything dirty and flush the device
 * @fs: the filesystem
 *
 * Every cached inode's data, then the superblock (free counts folded in; the
 * state stays "mounted"), then every metadata block, then a device flush.
 * With a journal the metadata is committed and then checkpointed: every
 * block is home and the log empty afterwards, so the image reads (fsck) as
 * a clean unmount would leave it, apart from the state. Does nothing on a
 * read-only mount. On one switched read-only (corruption, an aborted
 * journal) the journal commits nothing more: the superblock is not written
 * (fs_errors_commit() wrote its ERRORS state around the cache), and the
 * call fails with -EIO when a change is left uncommitted
 * (fs_journal_checkpoint()).
 *
 * Context: may sleep; no fs lock held.
 * Return: 0 or the first negative errno (the rest is still written).
 */
int fs_sync(struct fs *fs)
{
	int err;

	if (fs->opts.rdonly)
		return 0;
	err = fs_icache_writeback(fs);
	/* switched read-only, the journal commits nothing more: the superblock's
	 * counts are not written (the descriptors' are the committed truth) */
	if (!atomic_load(&fs->rdonly) || !fs->journal) {
		fs_tx_begin(fs);
		err = fs_first_err(err, fs_write_super(fs));
		fs_tx_end(fs);
	}
	if (fs->journal) /* commit, then everything home and the log empty */
		return fs_first_err(err, fs_journal_checkpoint(fs));
	return fs_first_err(err, fs_sync_meta(fs));
}

/* The clean state, written last, after everything else is on the device:
 * CLEAN, and RECOVER cleared (the journal is empty); or, after corruption or
 * an aborted journal, ERRORS (and RECOVER kept: the log may hold committed
 * transactions), written around the cache: the whole in-core superblock
 * when everything reached the device, else (a journal that could no longer
 * commit) only the ERRORS bit in the device's copy. */
static int fs_mark_clean(struct fs *fs)
{
	bool ok = !atomic_load(&fs->rdonly) && !fs->journal_aborted && !atomic_load(&fs->errors);

	pthread_mutex_lock(&fs->sb_lock);
	if (ok) {
		fs->sb.s_state |= cpu_to_le16(FOLIO_STATE_CLEAN);
		fs->sb.s_feature_incompat &= cpu_to_le32(~FOLIO_INCOMPAT_RECOVER);
	} else {
		fs->sb.s_state |= cpu_to_le16(FOLIO_STATE_ERRORS);
	}
	pthread_mutex_unlock(&fs->sb_lock);
	if (ok)
		return fs_commit_super(fs);
	if (fs_has_journal(fs) && (atomic_load(&fs->rdonly) || fs->journal_aborted))
		return fs_mark_errors_direct(fs); /* uncommitted changes stay off the device */
	return fs_commit_super_direct(fs);
}

/**
 * fs_errors_commit - write the ERRORS state to the device now
 * @fs: the filesystem
 *
 * Called after corruption was found (fs_corrupt() set fs->errors); does
 * the write once per mount. The in-core superblock gets ERRORS (so every
 * later superblock write keeps it); then, on a filesystem still writable
 * (errors=continue) with a journal, it is committed through the journal;
 * without a journal it is written through the cache and flushed; on one
 * switched read-only (the journal no longer commits) only the ERRORS bit is
 * set in the device's copy, around the cache (fs_mark_errors_direct()), so
 * no uncommitted change reaches the device with it. Unmount writes ERRORS
 * again last (fs_mark_clean()).
 *
 * Context: may sleep; no fs lock, buffer lock or journal handle held.
 * Return: 0 (also when there is nothing to do) or a negative errno.
 */
int fs_errors_commit(struct fs *fs)
{
	int err;

	if (fs->opts.rdonly || !atomic_load(&fs->errors) ||
	    atomic_exchange(&fs->errors_committed, true))
		return 0;
	pthread_mutex_lock(&fs->sb_lock);
	fs->sb.s_state |= cpu_to_le16(FOLIO_STATE_ERRORS);
	pthread_mutex_unlock(&fs->sb_lock);
	if (!fs->journal)
		return fs_commit_super(fs);
	if (!atomic_load(&fs->rdonly) && !fs->journal_aborted) {
		fs_tx_begin(fs);
		err = fs_write_super(fs);
		fs_tx_end(fs);
		if (!err)
			err = fs_journal_commit(fs);
		if (!err)
			return 0;
	}
	return fs_mark_errors_direct(fs);
}

/**
 * fs_unmount - write everything, mark the image clean and free the filesystem
 * @fs: the filesystem; no other thread uses it any more
 *
 * Every inode is evicted (its data written; unlinked ones freed, so the
 * orphan list is empty), the metadata is written and flushed, then the
 * superblock gets CLEAN (or ERRORS after corruption) and is written and
 * flushed. A read-only mount writes nothing. Everything is freed, the cache
 * last, then the device is closed, even when a write failed.
 *
 * Context: may sleep; no fs lock held.
 * Return: 0 or the first negative errno.
 */
int fs_unmount(struct fs *fs)
{
	int err;

	fs_journal_stop_thread(fs); /* it may hold references to inodes */
	err = fs_icache_destroy(fs);

	if (!fs->opts.rdonly) {
		int jerr = fs_journal_stop(fs), merr = fs_sync_meta(fs);

		if (!merr || fs->journal_aborted)
			merr = fs_first_err(merr, fs_mark_clean(fs));
		err = fs_first_err(err, fs_first_err(jerr == -EROFS ? 0 : jerr, merr));
	}
	fs_teardown(fs, true);
	return err;
}
