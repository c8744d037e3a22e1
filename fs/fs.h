/*
 * fs/fs.h - the filesystem library's shared structures and the interface its
 * files offer each other and the daemon (daemon/fuse_ops.c).
 *
 * Layers, top to bottom. Each file calls only files below it, except for
 * the two calls marked (*), which are deliberate (docs/DESIGN.md, "fs/").
 * Files in one row do not call each other.
 *   super.c     mount, unmount, sync, statfs: sets up and tears down every
 *               layer below; frees the inodes a crash left on the orphan list
 *   namei.c     create, mkdir, mknod, symlink, link, unlink, rmdir, rename
 *   attr.c      setattr: permission bits, owner, times (the access ACL follows)
 *   file.c      read, write, setsize, fallocate, lseek, copy_file_range, fsync
 *   dir.c xattr.c extent.c
 *               what an inode owns: the directory B+tree (docs/ON-DISK.md
 *               section 10), extended attributes (12), the extent B+tree and
 *               a_ops->map_blocks (9)
 *   inode.c     in-core inodes: the inode cache, lookup counts, loading and
 *               writing, link counts, eviction (*)
 *   orphan.c    the on-disk orphan list
 *   alloc.c     block and inode bitmaps, group descriptors, free counts, the
 *               inode table block of an inode
 *   block.c     metadata blocks through the device mapping, the superblock's
 *               block, corruption and the read-only state
 *   acl.c       POSIX ACL blobs: checks and permission bits; pure functions
 *               (no I/O, no locks, no fs call) that any file may use
 * (*) inode.c calls up twice, on purpose: evicting an unlinked inode frees
 *     what it owns through the files that own it (fs_extent_truncate,
 *     fs_dir_free, fs_xattr_free), since only inode.c knows when the last
 *     user has gone; and it gives new mappings extent.c's fs_file_aops,
 *     whose map_blocks the cache calls.
 * The daemon (daemon/fuse_ops.c) calls the interfaces of super.c, namei.c,
 * attr.c, file.c, xattr.c, dir.c (readdir) and inode.c (references, lookup
 * counts).
 * All metadata goes through the cache's device mapping (fs->meta: bread,
 * lock_buffer, mark_buffer_dirty, brelse); all file data through the inode's
 * own mapping (filemap_read, filemap_write, ...). Nothing touches the image
 * around the cache.
 *
 * Errors are negative errno everywhere. Corruption found on read (bad
 * checksum, impossible field) is reported with fs_corrupt(), which logs file,
 * line and inode, marks the filesystem with errors (fs->errors: the
 * superblock gets ERRORS), switches it to read-only unless mounted with
 * errors=continue, and returns -EUCLEAN; the caller passes that up (the
 * daemon replies EIO). What is checked where: docs/DESIGN.md, "What the
 * daemon trusts in an image".
 *
 * LOCK ORDER (outer to inner; continues into the cache's tree in
 * cache/cache.h, which starts below "inode->i_lock"):
 *   fs->rename_lock                 cross-directory renames only
 *     inode->i_rwsem                directories: parent before child; two
 *                                   unrelated inodes in ascending ino order.
 *                                   Regular files: writers/size changers
 *                                   exclusive, readers none (the cache
 *                                   serialises what it must).
 *      mapping->invalidate_lock     (the cache's; taken after i_rwsem)
 *       journal handle (tx_lock)    fs_tx_begin/end: shared by handles,
 *                                   exclusive for a moment by a commit;
 *                                   opened with no page lock held (the
 *                                   cache's page locks come after it: see
 *                                   fs/journal.c)
 *       inode->ext_mutex            extent.c: serialises changes of the extent
 *                                   tree; held across allocation and reads
 *        inode->ext_lock            the extent tree (rwlock): lookups shared;
 *                                   exclusive only while nodes change in
 *                                   place, never across a page allocation
 *         fs->group_lock[g]         one group's bitmaps and descriptor; two
 *                                   groups in ascending order
 *           fs->orphan_lock         the orphan list (superblock head + links)
 *             fs->sb_lock           the in-core superblock copy
 *               inode->i_lock       the in-core inode fields (inode->di)
 *                 fs->icache_lock   the inode hash, nlookup, nopen, iref
 * Buffer locks (lock_buffer) are taken innermost of the fs locks, one at a
 * time except where a function says otherwise, and never held across an
 * allocation that may reclaim. map_blocks with MAP_NOWAIT uses trylock on
 * ext_lock and returns -EAGAIN.
 */
#ifndef FOLIO_FS_FS_H
#define FOLIO_FS_FS_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "backing/bdev.h"
#include "cache/cache.h"
#include "format/format.h"

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

/*
 * struct fs_options - what fs_mount() needs to know. The daemon's own
 * options (cache mode, allow_other, -f, -d) are in its struct daemon_opts.
 */
struct fs_options {
	uint64_t cache_size;   /* bytes of page cache (default 256 MiB) */
	unsigned ra_max_pages; /* readahead maximum in pages (default 32) */
	bool rdonly;	       /* -o ro */
	/* Test-only (-o debug_corrupt_writes=N): file data goes through a
	 * corrupting wrapper of the device that flips a byte in every Nth
	 * write (N = 0: wrapped, off until foliofs-ctl sets it). Default: no
	 * wrapper. Why it ships: fs_open_data_bdev() in super.c. */
	bool debug_corrupt;
	unsigned debug_corrupt_every;
	/* Test-only (-o debug_logwrites=PATH): the whole device (metadata and
	 * data) goes through backing/logwrites.c's recording wrapper, which
	 * logs every write, flush and discard to PATH for the crash tester.
	 * NULL: no wrapper. Why it ships: fs_open_logwrites() in super.c. */
	const char *debug_logwrites;
	unsigned commit_interval; /* -o commit=N: seconds between commits (0: 5) */
	unsigned errors;	  /* -o errors=: enum fs_errors (0: remount-ro) */
};

/* What finding corruption does besides failing the operation and marking
 * the superblock with ERRORS (-o errors=, as ext4's). */
enum fs_errors {
	FS_ERRORS_REMOUNT_RO = 0, /* the filesystem turns read-only (default) */
	FS_ERRORS_CONTINUE = 1,	  /* it stays writable */
};

/* ------------------------------------------------------------------ */
/* The mounted filesystem                                              */
/* ------------------------------------------------------------------ */

struct inode;

/*
 * struct fs - one mounted foliofs.
 * Immutable after fs_mount(): bdev, data_bdev, data_faulty, logwrites, cache,
 * geom, csum_seed, hash_seed, group_lock array, opts.
 */
struct fs {
	struct bdev *bdev;
	struct bdev *data_bdev;	     /* regular files' data: bdev, or the test-only wrapper */
	struct faulty *data_faulty;  /* that wrapper's knobs, or NULL */
	struct logwrites *logwrites; /* test-only recording wrapper (bdev is it), or NULL */
	struct cache *cache;
	struct address_space meta; /* the device's mapping: all metadata */
	struct folio_geom geom;
	uint32_t csum_seed;    /* folio_fs_seed(uuid) */
	uint64_t hash_seed[2]; /* directory name hash seed */
	struct fs_options opts;

	_Atomic bool rdonly; /* mounted ro, or switched ro by fs_corrupt */
	/* fs_corrupt() has been called: the superblock gets ERRORS; set once,
	 * never cleared. errors_committed: fs_errors_commit() has written it. */
	_Atomic bool errors;
	_Atomic bool errors_committed;
	_Atomic uint64_t nr_corrupt; /* fs_corrupt() calls since mount */
	/* mount only (single-threaded): the orphan list is being freed, the one
	 * time an inode with no link may be loaded from the image */
	bool loading_orphans;
	/* Immutable after mount (alloc.c, fs_groups_load): where each group's
	 * bitmaps and inode table are, for fs_blocks_are_data(). */
	struct fs_meta_loc *meta_loc;

	/* protected by sb_lock */
	pthread_mutex_t sb_lock;
	struct folio_super sb; /* in-core copy; fs_write_super() writes it */

	/* one per group: that group's bitmaps and descriptor */
	pthread_mutex_t *group_lock;
	_Atomic uint64_t free_blocks; /* exact; folded into sb at fs_write_super */
	_Atomic uint32_t free_inodes;
	_Atomic uint32_t alloc_rotor; /* group to try first for new inodes */

	pthread_mutex_t orphan_lock; /* sb.s_orphan_head and i_orphan_next links */
	pthread_mutex_t rename_lock; /* serialises cross-directory renames */

	/* inode cache: protected by icache_lock */
	pthread_mutex_t icache_lock;
	struct inode **ihash;
	uint32_t ihash_mask;
	uint64_t nr_inodes;

	/* inode.c: protected by icache_lock */
	pthread_cond_t icache_wait; /* broadcast when an inode's i_state clears or it leaves */
	/* i_generation of the next new inode (per-mount random start, atomic) */
	_Atomic uint32_t next_generation;

	/* journal.c: NULL without COMPAT_JOURNAL, on a read-only mount, and
	 * after fs_journal_stop(); set before the filesystem is used */
	struct journal *journal;
	bool journal_aborted; /* fs_journal_stop() could not checkpoint */
};

/*
 * struct inode - an in-core inode.
 * @di holds the whole on-disk inode (geom.inode_size bytes: fixed part and
 * in-inode xattrs); fs_inode_write() copies it to the inode table.
 */
struct inode {
	struct fs *fs; /* immutable */
	uint32_t ino;  /* immutable */

	/* protected by fs->icache_lock */
	struct inode *hash_next;
	uint64_t nlookup; /* FUSE lookups not yet forgotten */
	uint32_t nopen;	  /* open file handles */
	uint32_t iref;	  /* in-memory users (fs_iget .. fs_iput) */

	pthread_rwlock_t i_rwsem;  /* see the lock order */
	pthread_rwlock_t ext_lock; /* the extent tree in di->i_extents and nodes */
	/* extent.c: serialises tree changes (held across allocations,
	 * so that ext_lock never is: reclaim's MAP_NOWAIT lookups trylock it) */
	pthread_mutex_t ext_mutex;

	/* protected by i_lock */
	pthread_mutex_t i_lock;
	struct folio_inode *di; /* inode_size bytes */
	bool on_orphan_list;

	/* regular files and long symlinks: file data. i_size lives in
	 * mapping.i_size and is copied to di->i_size by fs_inode_write(). */
	struct address_space mapping;
	bool has_mapping; /* immutable after load */

	/* inode.c: protected by fs->icache_lock. FS_I_NEW while
	 * fs_iget loads it, FS_I_FREEING while it is evicted; whoever finds an
	 * inode in either state waits on fs->icache_wait. */
	unsigned i_state;

	/* extent.c: the entries of the extent root read from the inode table
	 * have been checked (once per load; atomic) */
	_Atomic bool ext_root_checked;

	/* fdatasync (file.c): set before a change that reading the
	 * data needs on the device (size, block mapping) and on a new inode
	 * (fs_inode_new: its name); cleared by the fsync that writes the
	 * metadata. Atomic. */
	_Atomic bool datasync_dirty;
};

enum { FS_I_NEW = 1, FS_I_FREEING = 2 };

/* ------------------------------------------------------------------ */
/* block.c: the bottom; every other file may call these                */
/* ------------------------------------------------------------------ */

/* Log corruption with location and inode, mark the filesystem with errors,
 * go read-only (errors=remount-ro); returns -EUCLEAN. */
int __fs_corrupt(struct fs *fs, const char *file, int line, uint32_t ino, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
#define fs_corrupt(fs, ino, ...) __fs_corrupt(fs, __FILE__, __LINE__, ino, __VA_ARGS__)
/* Where a group's own metadata is (a copy of its descriptor's locations). */
struct fs_meta_loc {
	uint64_t block_bitmap, inode_bitmap, inode_table;
};
/* Are blocks [first, first + count) all inside the filesystem and clear of
 * its metadata (superblock, descriptors, bitmaps, inode tables, journal,
 * backup superblock)? count 0 is not. Pure range tests, no I/O. */
bool fs_blocks_are_data(const struct fs *fs, uint64_t first, uint64_t count);
/* -EROFS when the filesystem is read-only, else 0. */
int fs_check_writable(struct fs *fs);
/* Metadata block helpers: bread + folio_block_check (magic, number, owner). */
struct buffer_head *fs_bread(struct fs *fs, uint64_t blk, int *err);
struct buffer_head *fs_bread_checked(struct fs *fs, uint64_t blk, uint32_t magic, uint32_t owner,
				     int *err);
/* fs_bread_checked() that also says whether the block came from the device
 * just now (*fresh): the caller then checks the contents it will trust. */
struct buffer_head *fs_bread_checked_fresh(struct fs *fs, uint64_t blk, uint32_t magic,
					   uint32_t owner, bool *fresh, int *err);
/* New zeroed metadata block with its header filled (getblk, no read);
 * returned unlocked, uptodate, checksummed and dirty. */
struct buffer_head *fs_new_block(struct fs *fs, uint64_t blk, uint32_t magic, uint32_t owner,
				 int *err);
/* Set the header checksum and mark dirty (caller holds lock_buffer). */
void fs_block_dirty(struct fs *fs, struct buffer_head *bh);
/* Mark a changed metadata block dirty: it joins the running transaction
 * (caller holds lock_buffer and a journal handle). Every metadata change
 * ends here or in fs_block_dirty(). */
void fs_meta_dirty(struct fs *fs, struct buffer_head *bh);
/* fs_bread() that also says whether the block came from the device just
 * now (*fresh), so checksums are verified once per read, not per use. */
struct buffer_head *fs_bread_fresh(struct fs *fs, uint64_t blk, bool *fresh, int *err);
/* Drop the cached copies of blocks [first, first + count) from the device
 * mapping, dirty or not (freed blocks, blocks that failed a check). The
 * caller holds no head of them and no buffer lock. */
void fs_bforget(struct fs *fs, uint64_t first, uint64_t count);
/* Copy the in-core superblock (free counts folded in) to block 0. */
int fs_write_super(struct fs *fs);
/* fsync: fs_write_super() only when a free count changed. */
int fs_write_super_counts(struct fs *fs);

/* Seconds since the epoch, for the superblock's times. */
static inline uint64_t fs_now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

/* ------------------------------------------------------------------ */
/* journal.c: transactions, commit, checkpoint, replay (below block.c:   */
/* it writes the log and the journal superblock to the device itself)   */
/* ------------------------------------------------------------------ */

struct journal;

/* Debug builds: abort unless @cond holds. */
#ifdef FOLIO_DEBUG
#define FS_BUG_ON(cond) assert(!(cond))
#else
#define FS_BUG_ON(cond) ((void)0)
#endif

/* A handle: every metadata change between the two is in one transaction.
 * Nestable per thread; no page lock held at the outermost begin. */
void fs_tx_begin(struct fs *fs);
bool fs_tx_try_begin(struct fs *fs); /* no waiting (a page lock held) */
void fs_tx_end(struct fs *fs);
bool fs_tx_active(struct fs *fs);
/* The changed block joins the running transaction, pinned until it commits;
 * then mark_buffer_dirty() (fs_meta_dirty() calls it). */
void fs_journal_dirty(struct fs *fs, struct buffer_head *bh);
/* Metadata blocks being freed (fs_bforget): untracked, older copies revoked. */
void fs_journal_forget(struct fs *fs, uint64_t first, uint64_t count);
/* Blocks freed in the running transaction: not allocated until it commits. */
void fs_journal_free(struct fs *fs, uint64_t first, uint64_t count);
/* 0, or the end of a busy run overlapping [first, first + count). */
uint64_t fs_journal_busy(struct fs *fs, uint64_t first, uint64_t count);
/* Set the bits of busy blocks in @map, the bitmap of blocks [base, base + n). */
void fs_journal_busy_mark(struct fs *fs, uint64_t base, uint32_t n, uint8_t *map);
/* The inode got new blocks in the running transaction: data first. */
void fs_journal_ordered(struct inode *inode);
/* Commit the running transaction durably (fsync, sync); no handle held. */
int fs_journal_commit(struct fs *fs);
/* Commit, write all metadata home, empty the log; no handle held. */
int fs_journal_checkpoint(struct fs *fs);
/* After -ENOSPC: commit if freed blocks wait for one; true: retry once. */
bool fs_journal_retry_enospc(struct fs *fs);
/* The superblock says there is a journal. */
static inline bool fs_has_journal(const struct fs *fs)
{
	return le32_to_cpu(fs->sb.s_feature_compat) & FOLIO_COMPAT_JOURNAL;
}
/* Mount: replay a journal that needs it (before anything else is read). */
int fs_journal_replay(struct fs *fs, const char *image, char *msg, size_t msglen);
/* Mount, read-write: start journaling; unmount: checkpoint and stop. */
int fs_journal_start(struct fs *fs, char *msg, size_t msglen);
void fs_journal_stop_thread(struct fs *fs); /* before the inodes are evicted */
int fs_journal_stop(struct fs *fs);

struct fs_journal_stats {
	uint32_t blocks, used;	     /* journal size, log blocks in use */
	uint64_t commits, checkpoints; /* since mount */
	uint64_t logged_blocks, revokes;
	uint64_t committed_tid;
};
void fs_journal_stats(struct fs *fs, struct fs_journal_stats *st);

/* ------------------------------------------------------------------ */
/* acl.c: POSIX ACL blobs; pure functions any file may call             */
/* ------------------------------------------------------------------ */

#define FS_ACL_ACCESS  "system.posix_acl_access"
#define FS_ACL_DEFAULT "system.posix_acl_default"

/* The kernel's rules for an ACL value: its entry count, or -EINVAL. */
int fs_acl_check(const void *value, size_t size);
/* The permission bits an access ACL implies (owner, mask or group, other);
 * *equiv (if not NULL) true when it has only the three base entries. */
mode_t fs_acl_mode_from(const void *value, size_t size, bool *equiv);
/* A new inode's copy of a default ACL keeps only what @mode grants; returns
 * the permission bits it implies. */
mode_t fs_acl_create_masq(void *acl, size_t size, mode_t mode);
/* An access ACL takes the permission bits of @mode (chmod). */
void fs_acl_chmod(void *acl, size_t size, mode_t mode);

/* ------------------------------------------------------------------ */
/* alloc.c                                                             */
/* ------------------------------------------------------------------ */

/* Allocate up to @want contiguous blocks, preferably starting at @goal;
 * at least one. Returns the count and sets *first, or -ENOSPC. */
int fs_alloc_blocks(struct fs *fs, uint64_t goal, uint32_t want, uint64_t *first);
void fs_free_blocks(struct fs *fs, uint64_t first, uint64_t count);
/* Allocate an inode number near @parent's group (directories spread out). */
int fs_alloc_ino(struct fs *fs, uint32_t parent, bool is_dir, uint32_t *ino);
void fs_free_ino(struct fs *fs, uint32_t ino, bool is_dir);
/* Added (mount): check every group descriptor's checksum and placement and
 * set fs->free_blocks / free_inodes from them. One line in @msg on failure. */
int fs_groups_load(struct fs *fs, char *msg, size_t msglen);
/* Added: a copy of group @group's descriptor (locations never change). */
int fs_read_gd(struct fs *fs, uint32_t group, struct folio_group_desc *out);
/* Added: is inode @ino's bitmap bit set? 1 yes, 0 no, or a negative errno. */
int fs_ino_test(struct fs *fs, uint32_t ino);
/* Read the inode table block holding inode @ino's slot; *slot points at it. */
struct buffer_head *fs_ino_bread(struct fs *fs, uint32_t ino, struct folio_inode **slot, int *err);

/* ------------------------------------------------------------------ */
/* orphan.c: the on-disk list of unlinked inodes still in use           */
/* ------------------------------------------------------------------ */

/* The first inode on the list, 0 when empty. */
uint32_t fs_orphan_head(struct fs *fs);
/* Put an inode whose link count just reached 0 (and was written) on it. */
int fs_orphan_add(struct inode *inode);
/* Take an inode being freed off it (nothing when it is not on it). */
int fs_orphan_remove(struct inode *inode);
/* Mount: take off an inode the list names that still has links. */
int fs_orphan_remove_linked(struct inode *inode);

/* ------------------------------------------------------------------ */
/* inode.c                                                             */
/* ------------------------------------------------------------------ */

/* The in-core inode @ino with iref + 1 if it is cached and in use (neither
 * loading nor being evicted), else NULL; fs_iput() drops it. */
struct inode *fs_igrab(struct fs *fs, uint32_t ino);

/* The mode of an inode the caller owns or holds i_lock of. */
static inline uint32_t fs_di_mode(const struct folio_inode *di)
{
	return le16_to_cpu(di->i_mode);
}

/* fs_inode_mode(), fs_inode_nlink(), fs_inode_gid(), fs_inode_generation():
 * one field of the in-core inode, read under i_lock. */
#define FS_INODE_GETTER(name, field, conv)                                                         \
	static inline uint32_t fs_inode_##name(struct inode *inode)                                \
	{                                                                                          \
		uint32_t v;                                                                        \
                                                                                                   \
		pthread_mutex_lock(&inode->i_lock);                                                \
		v = conv(inode->di->field);                                                        \
		pthread_mutex_unlock(&inode->i_lock);                                              \
		return v;                                                                          \
	}
FS_INODE_GETTER(mode, i_mode, le16_to_cpu)
FS_INODE_GETTER(nlink, i_nlink, le32_to_cpu)
FS_INODE_GETTER(gid, i_gid, le32_to_cpu)
FS_INODE_GETTER(generation, i_generation, le32_to_cpu)
#undef FS_INODE_GETTER

/* Debug builds: check inode.c's invariants (I1, I2, I4) of an inode in use,
 * and orphan.c's O1 of one whose link count is stable (its i_rwsem held).
 * No-ops otherwise. */
#ifdef FOLIO_DEBUG
void inode_assert_state(struct inode *inode);
void orphan_assert_state(struct inode *inode);
#else
static inline void inode_assert_state(struct inode *inode)
{
	(void)inode;
}

static inline void orphan_assert_state(struct inode *inode)
{
	(void)inode;
}
#endif

/* Get the in-core inode (loading and checking it), iref + 1. -ENOENT when the
 * inode is not in use, -EUCLEAN when corrupt. */
int fs_iget(struct fs *fs, uint32_t ino, struct inode **out);
/* iref - 1; evicts an unused inode; frees an unlinked one (nlink 0, no
 * lookups, not open): data, xattrs, inode, orphan entry. */
void fs_iput(struct inode *inode);
/* FUSE lookup count: +1 on every entry reply, - n on forget. */
void fs_inode_lookup(struct inode *inode);
void fs_forget(struct fs *fs, uint32_t ino, uint64_t n);
void fs_inode_open(struct inode *inode);
void fs_inode_release(struct inode *inode);
/* Allocate and initialise a new inode (nlink 1, or 2 for a directory). */
int fs_inode_new(struct inode *dir, mode_t mode, uid_t uid, gid_t gid, dev_t rdev,
		 struct inode **out);
/* Copy inode->di (with i_size from the mapping) to the inode table. */
int fs_inode_write(struct inode *inode);
void fs_inode_stat(struct inode *inode, struct stat *st);
/* Timestamps: which of FS_ATIME | FS_MTIME | FS_CTIME to set to now. */
enum { FS_ATIME = 1, FS_MTIME = 2, FS_CTIME = 4, FS_CRTIME = 8 };
int fs_inode_touch(struct inode *inode, unsigned which);
/* Set the fields fs_setattr() names (attr.c takes the locks and the ACL). */
int fs_inode_setattr(struct inode *inode, const struct stat *attr, unsigned which);
/* nlink changes (caller holds i_rwsem of the parent directory). nlink 0 puts
 * the inode on the orphan list until it is freed. */
int fs_inode_inc_link(struct inode *inode);
int fs_inode_dec_link(struct inode *inode);
/* Added (super.c): set up the inode cache at mount; write back every cached
 * inode's data (sync); evict every inode, freeing unlinked ones (unmount). */
int fs_icache_init(struct fs *fs);
int fs_icache_writeback(struct fs *fs);
int fs_icache_destroy(struct fs *fs);

/* ------------------------------------------------------------------ */
/* extent.c                                                            */
/* ------------------------------------------------------------------ */

extern const struct address_space_operations fs_file_aops;
/* Look up (and with MAP_CREATE allocate) blocks: a_ops->map_blocks. */
int fs_map_blocks(struct address_space *mapping, uint64_t lblk, uint32_t max, uint64_t *pblk,
		  unsigned *flags);
/* Free every block at or after @lblk (truncate). */
int fs_extent_truncate(struct inode *inode, uint64_t lblk);
/* Free the blocks in [lblk, lblk + count) (punch hole). */
int fs_extent_punch(struct inode *inode, uint64_t lblk, uint64_t count);
/* Allocate [lblk, lblk + count) as unwritten extents where there are holes
 * (fallocate); existing blocks are kept. */
int fs_extent_prealloc(struct inode *inode, uint64_t lblk, uint64_t count);
/* Convert [lblk, lblk + count) to unwritten (ZERO_RANGE keeping blocks). */
int fs_extent_mark_unwritten(struct inode *inode, uint64_t lblk, uint64_t count);
/* SEEK_DATA / SEEK_HOLE over the mapping: first block >= @lblk that is data
 * (@data true: allocated, written or unwritten) or a hole; -ENXIO when none
 * before @end. */
int fs_extent_seek(struct inode *inode, uint64_t lblk, uint64_t end, bool data, uint64_t *out);
/* Number of blocks the extent tree owns (data and tree nodes). */
uint64_t fs_extent_blocks(struct inode *inode);

/* ------------------------------------------------------------------ */
/* dir.c (caller holds the directory's i_rwsem: shared to read,        */
/* exclusive to change)                                                */
/* ------------------------------------------------------------------ */

int fs_dir_init(struct inode *dir, uint32_t parent);
int fs_dir_lookup(struct inode *dir, const char *name, size_t len, uint32_t *ino, uint8_t *type);
int fs_dir_add(struct inode *dir, const char *name, size_t len, uint32_t ino, uint8_t type);
int fs_dir_remove(struct inode *dir, const char *name, size_t len, uint32_t *ino);
/* Point an existing entry at another inode (rename over an existing name). */
int fs_dir_replace(struct inode *dir, const char *name, size_t len, uint32_t ino, uint8_t type);
bool fs_dir_empty(struct inode *dir);
/* readdir: calls @fn for each entry with key >= @cookie in key order, until
 * @fn returns non-zero; next_cookie = key + 1, so passing an entry's
 * next_cookie back resumes after it (docs/ON-DISK.md 10.5: FUSE offsets).
 * "." and ".." are the caller's (offsets 1 and 2). */
typedef int (*fs_dir_actor)(void *ctx, const char *name, size_t len, uint32_t ino, uint8_t type,
			    uint64_t next_cookie);
int fs_dir_iterate(struct inode *dir, uint64_t cookie, fs_dir_actor fn, void *ctx);
/* The same, taking @dir's i_rwsem shared itself (the daemon's readdir). */
int fs_readdir(struct inode *dir, uint64_t cookie, fs_dir_actor fn, void *ctx);
/* Free every block of the directory tree (eviction). */
int fs_dir_free(struct inode *dir);
/* Added by dir.c: ".." of a directory (dr_parent), and moving it (rename;
 * caller holds fs->rename_lock and @dir's i_rwsem exclusively). */
uint32_t fs_dir_parent(struct inode *dir);
int fs_dir_set_parent(struct inode *dir, uint32_t parent);

/* ------------------------------------------------------------------ */
/* xattr.c                                                             */
/* ------------------------------------------------------------------ */

/* Take the inode's i_rwsem (shared to read, exclusive to change). */
int fs_getxattr(struct inode *inode, const char *name, void *buf, size_t size);
int fs_setxattr(struct inode *inode, const char *name, const void *value, size_t size, int flags);
int fs_listxattr(struct inode *inode, char *buf, size_t size);
int fs_removexattr(struct inode *inode, const char *name);
/* The same with i_rwsem held by the caller (namei.c, attr.c). */
int __fs_getxattr(struct inode *inode, const char *name, void *buf, size_t size);
int __fs_setxattr(struct inode *inode, const char *name, const void *value, size_t size, int flags);
int __fs_listxattr(struct inode *inode, char *buf, size_t size);
int __fs_removexattr(struct inode *inode, const char *name);
/* Eviction: drop every attribute and the xattr block. */
int fs_xattr_free(struct inode *inode);

/* ------------------------------------------------------------------ */
/* attr.c                                                              */
/* ------------------------------------------------------------------ */

/* What fs_setattr() changes (the size is fs_setsize()'s). */
enum {
	FS_SET_MODE = 1 << 0,	   /* the permission bits of st_mode */
	FS_SET_UID = 1 << 1,	   /* st_uid */
	FS_SET_GID = 1 << 2,	   /* st_gid */
	FS_SET_ATIME = 1 << 3,	   /* st_atim */
	FS_SET_ATIME_NOW = 1 << 4, /* atime to now */
	FS_SET_MTIME = 1 << 5,	   /* st_mtim */
	FS_SET_MTIME_NOW = 1 << 6, /* mtime to now */
	FS_SET_CTIME = 1 << 7,	   /* st_ctim (else ctime becomes now) */
};
/* chmod, chown, utimensat: the fields @which names; chmod also rewrites the
 * access ACL. Takes i_rwsem exclusively. */
int fs_setattr(struct inode *inode, const struct stat *attr, unsigned which);

/* ------------------------------------------------------------------ */
/* file.c                                                              */
/* ------------------------------------------------------------------ */

/* One open file description (FUSE fh). */
struct fs_file {
	struct inode *inode;
	struct file_ra_state ra; /* readahead state of this open */
	errseq_t wb_err;	 /* write-back errors seen (errseq sample at open) */
	int flags;		 /* open flags */
};

int fs_open(struct inode *inode, int flags, struct fs_file **out);
void fs_release(struct fs_file *file);
ssize_t fs_read(struct fs_file *file, void *buf, size_t size, uint64_t off);
ssize_t fs_write(struct fs_file *file, const void *buf, size_t size, uint64_t off);
/* Change the size (truncate up or down): page cache, blocks, times. */
int fs_setsize(struct inode *inode, uint64_t size);
/* mode: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|KEEP_SIZE, FALLOC_FL_ZERO_RANGE */
int fs_fallocate(struct inode *inode, int mode, uint64_t off, uint64_t len);
/* whence: SEEK_DATA or SEEK_HOLE */
int64_t fs_lseek(struct inode *inode, int64_t off, int whence);
ssize_t fs_copy_range(struct fs_file *in, uint64_t off_in, struct fs_file *out, uint64_t off_out,
		      size_t len);
int fs_fsync(struct fs_file *file, bool datasync);
int fs_fsync_inode(struct inode *inode, bool datasync);

/* ------------------------------------------------------------------ */
/* namei.c: the operations that change names. Each takes the locks it */
/* needs and returns the new inode with iref + 1 and nlookup + 1.      */
/* ------------------------------------------------------------------ */

struct fs_cred {
	uid_t uid;
	gid_t gid;
	mode_t umask;
};

int fs_lookup(struct inode *dir, const char *name, struct inode **out);
int fs_create(struct inode *dir, const char *name, mode_t mode, dev_t rdev,
	      const struct fs_cred *cred, struct inode **out);
int fs_mkdir(struct inode *dir, const char *name, mode_t mode, const struct fs_cred *cred,
	     struct inode **out);
int fs_symlink(struct inode *dir, const char *name, const char *target, const struct fs_cred *cred,
	       struct inode **out);
int fs_readlink(struct inode *inode, char *buf, size_t size);
int fs_link(struct inode *inode, struct inode *dir, const char *name);
int fs_unlink(struct inode *dir, const char *name);
int fs_rmdir(struct inode *dir, const char *name);
/* flags: RENAME_NOREPLACE, RENAME_EXCHANGE (<linux/fs.h>) */
int fs_rename(struct inode *olddir, const char *oldname, struct inode *newdir, const char *newname,
	      unsigned flags);

/* ------------------------------------------------------------------ */
/* super.c: the top                                                    */
/* ------------------------------------------------------------------ */

/* Open @image, validate, set up the cache, replay orphans, mark the image
 * mounted (not clean). On failure writes nothing and puts one line in @msg. */
int fs_mount(const char *image, const struct fs_options *opts, struct fs **out, char *msg,
	     size_t msglen);
/* Write every dirty page and metadata block, flush, mark clean, free all. */
int fs_unmount(struct fs *fs);
/* Write everything dirty and flush the device (sync(2), foliofs-ctl sync). */
int fs_sync(struct fs *fs);
/* After fs_corrupt(): write ERRORS to the superblock durably (once per
 * mount; no fs lock or handle held). 0 when there is nothing to write. */
int fs_errors_commit(struct fs *fs);
struct statvfs;
void fs_statfs(struct fs *fs, struct statvfs *st);

#endif /* FOLIO_FS_FS_H */
