/*
 * fs/inode.c - in-core inodes: the inode cache, reference and lookup counts,
 * loading and writing inodes, eviction, link counts.
 *
 * Interface (fs/fs.h, "inode.c"): fs_iget, fs_iput, fs_inode_lookup,
 * fs_forget, fs_inode_open, fs_inode_release, fs_inode_new, fs_inode_write,
 * fs_inode_stat, fs_inode_touch, fs_inode_setattr, fs_inode_inc_link,
 * fs_inode_dec_link, fs_icache_init, fs_icache_writeback, fs_icache_destroy.
 *
 * Life of an in-core inode (all counts under fs->icache_lock):
 *   fs_iget: found (iref + 1), or inserted with FS_I_NEW, loaded and checked
 *   (checksum, inode bitmap bit, mode, flags, extent root), FS_I_NEW cleared.
 *   Users hold iref (fs_iget..fs_iput), FUSE holds nlookup, open files nopen.
 *   When all three reach 0 the inode gets FS_I_FREEING and is evicted: an
 *   inode with nlink 0 is freed (data, directory blocks, xattrs, orphan
 *   entry, inode number); any other has its dirty data written. Then it
 *   leaves the hash and waiters on fs->icache_wait retry. Nothing is kept
 *   cached once unused: the buffer cache keeps the inode table blocks.
 *
 * Invariants (inode_assert_state() checks I1-I4 in debug builds at the entry
 * points that rely on them; orphan.c's orphan_assert_state() checks O1):
 *  I1. At most one in-core inode per number, in the hash; one in state
 *      FS_I_NEW or FS_I_FREEING is never handed out, and one handed out is
 *      used only while something holds it (iref, nlookup or nopen).
 *  I2. inode->di is the whole on-disk inode and a valid one (known type,
 *      known flags, FOLIO_IFL_INLINE only on symlinks); every change is
 *      written through to the inode table buffer by fs_inode_write() (i_size
 *      from the mapping), around the slot's i_orphan_next, which belongs to
 *      orphan.c (its O2).
 *  I3. nlink 0 <=> on the orphan list (orphan.c's O1), from
 *      fs_inode_dec_link() until the inode is freed.
 *  I4. Mappings (fs_file_aops) exist for regular files and long symlinks
 *      (and every new symlink, until namei.c makes it inline), for nothing
 *      else, and a mapping's host is its inode.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "fs/fs.h"

#define ICACHE_MIN_BUCKETS 1024u

static int first_err(int a, int b)
{
	return a ? a : b;
}

/* ---- the hash ---- */

static inline uint32_t ihash_fn(uint32_t ino)
{
	return ino * 2654435761u;
}

static struct inode *icache_find(struct fs *fs, uint32_t ino)
{
	struct inode *inode = fs->ihash[ihash_fn(ino) & fs->ihash_mask];

	while (inode && inode->ino != ino)
		inode = inode->hash_next;
	return inode;
}

/* Double the buckets once there are twice as many inodes (keeps chains short
 * for directories of 100,000 entries); failure to grow is harmless. */
static void icache_grow(struct fs *fs)
{
	uint32_t n = (fs->ihash_mask + 1) * 2;
	struct inode **h = calloc(n, sizeof(*h));

	if (!h)
		return;
	for (uint32_t b = 0; b <= fs->ihash_mask; b++) {
		struct inode *inode = fs->ihash[b], *next;

		for (; inode; inode = next) {
			next = inode->hash_next;
			inode->hash_next = h[ihash_fn(inode->ino) & (n - 1)];
			h[ihash_fn(inode->ino) & (n - 1)] = inode;
		}
	}
	free(fs->ihash);
	fs->ihash = h;
	fs->ihash_mask = n - 1;
}

static void icache_insert(struct fs *fs, struct inode *inode)
{
	struct inode **head = &fs->ihash[ihash_fn(inode->ino) & fs->ihash_mask];

	inode->hash_next = *head;
	*head = inode;
	if (++fs->nr_inodes > 2ULL * (fs->ihash_mask + 1))
		icache_grow(fs);
}

static void icache_remove(struct fs *fs, struct inode *inode)
{
	struct inode **pp = &fs->ihash[ihash_fn(inode->ino) & fs->ihash_mask];

	while (*pp && *pp != inode)
		pp = &(*pp)->hash_next;
	if (*pp) {
		*pp = inode->hash_next;
		fs->nr_inodes--;
	}
}

#ifdef FOLIO_DEBUG
static bool mode_valid(uint32_t mode);

/**
 * inode_assert_state - check invariants I1, I2 and I4 of an inode in use
 * @inode: an inode the caller holds (iref, a lookup or an open file)
 *
 * For the entry points that rely on them, as SQLite's pager checks its
 * state. I3 (the link count against the orphan list) needs the count to be
 * stable: orphan_assert_state().
 *
 * Context: debug builds only (a no-op otherwise); takes icache_lock and
 * i_lock, so the caller holds neither; aborts on a violation.
 */
void inode_assert_state(struct inode *inode)
{
	struct fs *fs = inode->fs;
	uint32_t mode, flags;

	assert(folio_ino_valid(&fs->geom, inode->ino));
	pthread_mutex_lock(&fs->icache_lock);
	assert(icache_find(fs, inode->ino) == inode);	       /* I1 */
	assert(!inode->i_state);			       /* I1 */
	assert(inode->iref || inode->nlookup || inode->nopen); /* I1 */
	pthread_mutex_unlock(&fs->icache_lock);
	pthread_mutex_lock(&inode->i_lock);
	mode = fs_di_mode(inode->di);
	flags = le32_to_cpu(inode->di->i_flags);
	assert(mode_valid(mode));			      /* I2 */
	assert(!(flags & ~FOLIO_IFL_KNOWN));		      /* I2 */
	assert(!(flags & FOLIO_IFL_INLINE) || S_ISLNK(mode)); /* I2 */
	pthread_mutex_unlock(&inode->i_lock);
	assert(!S_ISREG(mode) || inode->has_mapping);		       /* I4 */
	assert(!inode->has_mapping || S_ISREG(mode) || S_ISLNK(mode)); /* I4 */
	assert(!inode->has_mapping || inode->mapping.host == inode);   /* I4 */
}
#endif

/**
 * fs_icache_init - set up the inode cache at mount
 * @fs: the filesystem
 *
 * Context: mount, single-threaded.
 * Return: 0 or -ENOMEM.
 */
int fs_icache_init(struct fs *fs)
{
	uint32_t gen;

	fs->ihash = calloc(ICACHE_MIN_BUCKETS, sizeof(*fs->ihash));
	if (!fs->ihash)
		return -ENOMEM;
	fs->ihash_mask = ICACHE_MIN_BUCKETS - 1;
	fs->nr_inodes = 0;
	cache_mutex_init(&fs->icache_lock);
	pthread_cond_init(&fs->icache_wait, NULL);
	if (getrandom(&gen, sizeof(gen), GRND_NONBLOCK) != sizeof(gen))
		gen = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
	atomic_init(&fs->next_generation, gen);
	return 0;
}

/* ---- allocation of in-core inodes ---- */

static struct inode *inode_alloc(struct fs *fs, uint32_t ino)
{
	struct inode *inode = calloc(1, sizeof(*inode));

	if (!inode)
		return NULL;
	inode->di = calloc(1, fs->geom.inode_size);
	if (!inode->di) {
		free(inode);
		return NULL;
	}
	inode->fs = fs;
	inode->ino = ino;
	pthread_rwlock_init(&inode->i_rwsem, NULL);
	pthread_rwlock_init(&inode->ext_lock, NULL);
	cache_mutex_init(&inode->ext_mutex);
	cache_mutex_init(&inode->i_lock);
	return inode;
}

/* Free the in-core inode (its mapping already destroyed). */
static void inode_destroy(struct inode *inode)
{
	pthread_rwlock_destroy(&inode->i_rwsem);
	pthread_rwlock_destroy(&inode->ext_lock);
	pthread_mutex_destroy(&inode->ext_mutex);
	pthread_mutex_destroy(&inode->i_lock);
	free(inode->di);
	free(inode);
}

static bool mode_valid(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		return true;
	}
	return false;
}

static bool di_wants_mapping(const struct folio_inode *di)
{
	uint32_t mode = fs_di_mode(di);

	return S_ISREG(mode) || (S_ISLNK(mode) && !(le32_to_cpu(di->i_flags) & FOLIO_IFL_INLINE));
}

static int inode_setup_mapping(struct inode *inode)
{
	struct fs *fs = inode->fs;
	struct bdev *bdev = S_ISREG(fs_di_mode(inode->di)) ? fs->data_bdev : fs->bdev;
	int err = mapping_init(&inode->mapping, fs->cache, bdev, fs->geom.block_shift,
			       &fs_file_aops, inode);

	if (err)
		return err;
	atomic_store(&inode->mapping.i_size, le64_to_cpu(inode->di->i_size));
	inode->has_mapping = true;
	return 0;
}

/* ---- loading ---- */

#define INODE_NSEC_MAX 999999999u

/* Sizes by type (as fsck checks them): a regular file within the largest
 * file, a symlink 1..FOLIO_SYMLINK_MAX bytes and inline exactly when short,
 * a directory's tree root in the data area at a possible depth. */
static const char *inode_size_bad(struct fs *fs, const struct folio_inode *di)
{
	uint32_t mode = fs_di_mode(di);
	uint64_t size = le64_to_cpu(di->i_size);
	bool inl = le32_to_cpu(di->i_flags) & FOLIO_IFL_INLINE;

	if (S_ISREG(mode) && size > (FOLIO_MAX_LBLK << fs->geom.block_shift))
		return "size beyond the largest file";
	if (S_ISLNK(mode) &&
	    (!size || size > FOLIO_SYMLINK_MAX || inl != (size <= FOLIO_INLINE_MAX)))
		return "symlink size or inline flag";
	if (S_ISDIR(mode) && di->i_dir.dr_root &&
	    (!fs_blocks_are_data(fs, le64_to_cpu(di->i_dir.dr_root), 1) ||
	     le16_to_cpu(di->i_dir.dr_depth) > FOLIO_DIR_MAX_DEPTH))
		return "directory root block or depth";
	if (S_ISDIR(mode) && !folio_ino_valid(&fs->geom, le32_to_cpu(di->i_dir.dr_parent)))
		return "directory parent out of range";
	return NULL;
}

/* The fields every inode has: times, xattr area and block. */
static int inode_check_fields(struct inode *inode)
{
	struct fs *fs = inode->fs;
	const struct folio_inode *di = inode->di;
	uint64_t xblk = le64_to_cpu(di->i_xattr_block);
	const char *why = inode_size_bad(fs, di);

	if (le32_to_cpu(di->i_atime_nsec) > INODE_NSEC_MAX ||
	    le32_to_cpu(di->i_mtime_nsec) > INODE_NSEC_MAX ||
	    le32_to_cpu(di->i_ctime_nsec) > INODE_NSEC_MAX ||
	    le32_to_cpu(di->i_crtime_nsec) > INODE_NSEC_MAX)
		why = "nanoseconds of a time beyond a second";
	else if (le16_to_cpu(di->i_xattr_len) > fs->geom.xattr_inode_room)
		why = "in-inode xattrs longer than their room";
	else if (xblk && !fs_blocks_are_data(fs, xblk, 1))
		why = "xattr block on metadata or outside the filesystem";
	if (!why)
		return 0;
	return fs_corrupt(fs, inode->ino,
			  "inode %" PRIu32 " (size %" PRIu64 ", xattr block %" PRIu64 "): %s",
			  inode->ino, le64_to_cpu(di->i_size), xblk, why);
}

static int inode_check(struct inode *inode)
{
	struct fs *fs = inode->fs;
	struct folio_inode *di = inode->di;
	uint32_t mode = fs_di_mode(di), flags = le32_to_cpu(di->i_flags);

	if (!folio_inode_csum_ok(fs->csum_seed, inode->ino, di, fs->geom.inode_size))
		return fs_corrupt(fs, inode->ino, "inode checksum mismatch");
	if (!mode_valid(mode))
		return fs_corrupt(fs, inode->ino, "bad mode 0%o", mode);
	if ((flags & ~FOLIO_IFL_KNOWN) || ((flags & FOLIO_IFL_INLINE) && !S_ISLNK(mode)))
		return fs_corrupt(fs, inode->ino, "bad flags 0x%x", flags);
	if (di_wants_mapping(di) && folio_eh_check(&di->i_extents.eh, FOLIO_EXT_INLINE))
		return fs_corrupt(fs, inode->ino, "bad extent root");
	return inode_check_fields(inode);
}

/* Read, check and set up a new in-core inode (FS_I_NEW, private to us). */
static int inode_fill(struct inode *inode)
{
	struct fs *fs = inode->fs;
	struct folio_inode *slot;
	struct buffer_head *bh;
	int err = fs_ino_test(fs, inode->ino);

	if (err <= 0)
		return err ? err : -ENOENT;
	bh = fs_ino_bread(fs, inode->ino, &slot, &err);
	if (!bh)
		return err;
	lock_buffer(bh); /* orphan.c may change this or a neighbour's link */
	memcpy(inode->di, slot, fs->geom.inode_size);
	unlock_buffer(bh);
	brelse(bh);
	err = inode_check(inode);
	/* an unlinked inode is in core until it is freed; on the image only the
	 * orphan list may name one, and mount frees those */
	if (!err && !inode->di->i_nlink && !fs->loading_orphans)
		err = fs_corrupt(fs, inode->ino, "inode %" PRIu32 " has no link", inode->ino);
	if (!err && di_wants_mapping(inode->di))
		err = inode_setup_mapping(inode);
	inode->on_orphan_list = !inode->di->i_nlink;
	return err;
}

/* Find @ino, waiting while it is being loaded or evicted (icache_lock held). */
static struct inode *icache_find_wait(struct fs *fs, uint32_t ino)
{
	struct inode *inode;

	while ((inode = icache_find(fs, ino)) && inode->i_state)
		pthread_cond_wait(&fs->icache_wait, &fs->icache_lock);
	return inode;
}

/**
 * fs_iget - get the in-core inode, loading it if needed
 * @fs: the filesystem
 * @ino: inode number
 * @out: receives the inode with iref + 1
 *
 * Context: may sleep; no fs lock held but i_rwsem/ext_lock of other inodes.
 * Return: 0; -ENOENT for a number out of range, reserved or not in use;
 * -EUCLEAN when the inode is corrupt; -ENOMEM; a read error.
 */
int fs_iget(struct fs *fs, uint32_t ino, struct inode **out)
{
	struct inode *inode;
	int err;

	if (!folio_ino_valid(&fs->geom, ino) || (ino != FOLIO_ROOT_INO && ino < FOLIO_FIRST_INO))
		return -ENOENT;
	pthread_mutex_lock(&fs->icache_lock);
	inode = icache_find_wait(fs, ino);
	if (inode) {
		inode->iref++;
		pthread_mutex_unlock(&fs->icache_lock);
		inode_assert_state(inode);
		*out = inode;
		return 0;
	}
	inode = inode_alloc(fs, ino);
	if (!inode) {
		pthread_mutex_unlock(&fs->icache_lock);
		return -ENOMEM;
	}
	inode->i_state = FS_I_NEW;
	inode->iref = 1;
	icache_insert(fs, inode);
	pthread_mutex_unlock(&fs->icache_lock);
	err = inode_fill(inode);
	pthread_mutex_lock(&fs->icache_lock);
	if (err)
		icache_remove(fs, inode);
	inode->i_state = 0;
	pthread_cond_broadcast(&fs->icache_wait);
	pthread_mutex_unlock(&fs->icache_lock);
	if (err) {
		if (inode->has_mapping)
			mapping_destroy(&inode->mapping);
		inode_destroy(inode);
		return err;
	}
	inode_assert_state(inode);
	*out = inode;
	return 0;
}

/* ---- writing ---- */

/*
 * Copy @src into the table slot @slot around its i_orphan_next, which is
 * never stored to, not even with the value it holds.
 *
 * The orphan code reads the links of other inodes while their owners may be
 * writing them. This copy once wrote the whole in-core inode, link included,
 * and then put the slot's link back: between the two stores the slot held
 * the in-core copy's stale link (0 for an inode made since the mount). A walk
 * in orphan.c reading the link of the head (whose unlink writes it
 * right after putting it on the list) in that instant stopped there, took
 * its inode for absent, cleared its link and freed it while its predecessor
 * still named it: after a clean unmount the list named a free inode
 * (tests/mount/bigdir.sh, once). Neither side now leaves a gap: this copy
 * skips the link, and the orphan code reads links under the buffer lock.
 */
static void inode_copy_slot(struct folio_inode *slot, const struct folio_inode *src, uint32_t isz)
{
	const size_t link = offsetof(struct folio_inode, i_orphan_next);
	const size_t after = link + sizeof(slot->i_orphan_next);

	memcpy(slot, src, link);
	memcpy((uint8_t *)slot + after, (const uint8_t *)src + after, isz - after);
}

/* On a filesystem switched read-only, whose journal commits nothing more:
 * does the slot already hold the in-core inode? Then writing it would only
 * add a change no commit will make durable (fsync would report it lost).
 * Always false while the filesystem is writable. Caller holds i_lock and the
 * slot's buffer lock. */
static bool inode_slot_same(struct fs *fs, struct inode *inode, const struct folio_inode *slot)
{
	uint32_t isz = fs->geom.inode_size;
	struct folio_inode *copy;
	bool same;

	if (!atomic_load(&fs->rdonly) || !fs->journal)
		return false;
	copy = malloc(isz);
	if (!copy)
		return false;
	memcpy(copy, slot, isz);
	inode_copy_slot(copy, inode->di, isz);
	folio_inode_csum_set(fs->csum_seed, inode->ino, copy, isz);
	same = !memcmp(copy, slot, isz);
	free(copy);
	return same;
}

/* Copy the in-core inode into its table slot. @whole: a new inode, every
 * byte (i_orphan_next 0: its number was free, so it is on no list); else the
 * slot's i_orphan_next is left as the orphan code set it. */
static int inode_write_slot(struct inode *inode, bool whole)
{
	struct fs *fs = inode->fs;
	uint32_t isz = fs->geom.inode_size;
	struct folio_inode *slot;
	struct buffer_head *bh;
	bool grows;
	int err;

	if (fs->opts.rdonly)
		return -EROFS;
	bh = fs_ino_bread(fs, inode->ino, &slot, &err);
	if (!bh)
		return err;
	fs_tx_begin(fs);
	pthread_mutex_lock(&inode->i_lock);
	if (inode->has_mapping)
		inode->di->i_size = cpu_to_le64(atomic_load(&inode->mapping.i_size));
	lock_buffer(bh);
	grows = !whole && le64_to_cpu(inode->di->i_size) > le64_to_cpu(slot->i_size);
	if (whole || !inode_slot_same(fs, inode, slot)) {
		if (whole)
			memcpy(slot, inode->di, isz);
		else
			inode_copy_slot(slot, inode->di, isz);
		folio_inode_csum_set(fs->csum_seed, inode->ino, slot, isz);
		fs_meta_dirty(fs, bh);
	}
	unlock_buffer(bh);
	pthread_mutex_unlock(&inode->i_lock);
	/* the bytes the larger size makes visible reach the device before the
	 * commit that writes it (ordered mode) */
	if (grows)
		fs_journal_ordered(inode);
	fs_tx_end(fs);
	brelse(bh);
	return 0;
}

/**
 * fs_inode_write - write the in-core inode through to its table buffer
 * @inode: the inode
 *
 * i_size comes from the mapping for regular files and long symlinks. The
 * slot's i_orphan_next is kept (the orphan code owns it). On a filesystem
 * switched read-only (its journal commits nothing more) a slot that already
 * holds the inode is left alone, so no change that cannot be committed is
 * made up.
 *
 * Context: may sleep; takes i_lock and the slot's buffer lock, so the caller
 * holds neither (nor icache_lock).
 * Return: 0, -EROFS on a read-only mount, or a read error.
 */
int fs_inode_write(struct inode *inode)
{
	return inode_write_slot(inode, false);
}

/* ---- eviction ---- */

/* Free an unlinked inode: its blocks, xattrs, orphan entry and number. */
static int inode_free_all(struct inode *inode)
{
	struct fs *fs = inode->fs;
	uint32_t mode = fs_di_mode(inode->di);
	int err = 0;

	/* a new symlink made inline keeps its (empty) mapping */
	if (inode->has_mapping)
		err = filemap_truncate(&inode->mapping, 0);
	fs_tx_begin(fs); /* the cache's pages are gone: now the metadata */
	if (!err && inode->has_mapping && di_wants_mapping(inode->di))
		err = fs_extent_truncate(inode, 0);
	else if (!err && !inode->has_mapping && S_ISDIR(mode))
		err = fs_dir_free(inode);
	if (!err)
		err = fs_xattr_free(inode);
	if (!err)
		err = fs_orphan_remove(inode);
	if (!err)
		fs_free_ino(fs, inode->ino, S_ISDIR(mode));
	fs_tx_end(fs);
	return err;
}

/* Evict an inode in state FS_I_FREEING that nobody uses. */
static int inode_evict(struct inode *inode)
{
	struct fs *fs = inode->fs;
	int err = 0;

	orphan_assert_state(inode); /* FS_I_FREEING: nobody else uses it */
	if (!fs_inode_nlink(inode) && !fs_check_writable(fs))
		err = inode_free_all(inode);
	else if (inode->has_mapping && !fs->opts.rdonly)
		err = filemap_write_and_wait(&inode->mapping);
	if (err)
		fprintf(stderr, "foliofs: inode %" PRIu32 ": %s while evicting it\n", inode->ino,
			strerror(-err));
	if (inode->has_mapping)
		mapping_destroy(&inode->mapping);
	pthread_mutex_lock(&fs->icache_lock);
	icache_remove(fs, inode);
	pthread_cond_broadcast(&fs->icache_wait);
	pthread_mutex_unlock(&fs->icache_lock);
	inode_destroy(inode);
	return err;
}

/* With icache_lock held: if nothing uses @inode any more, mark it for
 * eviction. Unlocks icache_lock and evicts it then. */
static void inode_put_unlock(struct inode *inode)
{
	struct fs *fs = inode->fs;
	bool evict = !inode->iref && !inode->nlookup && !inode->nopen && !inode->i_state;

	if (evict)
		inode->i_state = FS_I_FREEING;
	pthread_mutex_unlock(&fs->icache_lock);
	if (evict)
		inode_evict(inode);
}

/**
 * fs_igrab - a reference to an in-core inode, if it is there and in use
 * @fs: the filesystem
 * @ino: the inode number
 *
 * Unlike fs_iget() it never loads an inode and never waits: an inode being
 * loaded or evicted is not returned (eviction writes a linked inode's data
 * itself, and an unlinked one's data no longer matters).
 *
 * Context: any thread; takes icache_lock.
 * Return: the inode with iref + 1 (fs_iput() drops it), or NULL.
 */
struct inode *fs_igrab(struct fs *fs, uint32_t ino)
{
	struct inode *inode;

	pthread_mutex_lock(&fs->icache_lock);
	inode = icache_find(fs, ino);
	if (inode && inode->i_state)
		inode = NULL;
	if (inode)
		inode->iref++;
	pthread_mutex_unlock(&fs->icache_lock);
	return inode;
}

/**
 * fs_iput - drop a reference from fs_iget() or fs_inode_new()
 * @inode: the inode
 *
 * When no reference, lookup or open file remains the inode is evicted: an
 * unlinked inode is freed then (data, directory blocks, xattrs, orphan entry,
 * number), any other has its dirty data written back.
 *
 * Context: may sleep (eviction); the caller holds no lock of this inode and
 * no fs spinning lock (i_rwsem of other inodes is fine).
 */
void fs_iput(struct inode *inode)
{
	inode_assert_state(inode);
	pthread_mutex_lock(&inode->fs->icache_lock);
	if (inode->iref)
		inode->iref--;
	inode_put_unlock(inode);
}

/**
 * fs_inode_lookup - count one FUSE lookup (an entry reply)
 * @inode: the inode (referenced by the caller)
 *
 * Context: any thread; takes icache_lock.
 */
void fs_inode_lookup(struct inode *inode)
{
	inode_assert_state(inode);
	pthread_mutex_lock(&inode->fs->icache_lock);
	inode->nlookup++;
	pthread_mutex_unlock(&inode->fs->icache_lock);
}

/**
 * fs_forget - drop FUSE lookups (forget, batch_forget)
 * @fs: the filesystem
 * @ino: the inode number
 * @n: lookups to drop (clamped to those held)
 *
 * Context: may sleep (eviction); no fs lock held.
 */
void fs_forget(struct fs *fs, uint32_t ino, uint64_t n)
{
	struct inode *inode;

	pthread_mutex_lock(&fs->icache_lock);
	inode = icache_find(fs, ino);
	if (!inode || inode->i_state) {
		pthread_mutex_unlock(&fs->icache_lock);
		return;
	}
	inode->nlookup -= n < inode->nlookup ? n : inode->nlookup;
	inode_put_unlock(inode);
}

/**
 * fs_inode_open - count an open file handle
 * @inode: the inode (referenced by the caller)
 *
 * Context: any thread; takes icache_lock.
 */
void fs_inode_open(struct inode *inode)
{
	inode_assert_state(inode);
	pthread_mutex_lock(&inode->fs->icache_lock);
	inode->nopen++;
	pthread_mutex_unlock(&inode->fs->icache_lock);
}

/**
 * fs_inode_release - drop an open file handle
 * @inode: the inode
 *
 * The last release of an unlinked inode nobody else uses frees it.
 *
 * Context: may sleep (eviction); no lock of this inode held.
 */
void fs_inode_release(struct inode *inode)
{
	inode_assert_state(inode);
	pthread_mutex_lock(&inode->fs->icache_lock);
	if (inode->nopen)
		inode->nopen--;
	inode_put_unlock(inode);
}

/* ---- new inodes ---- */

static void inode_init_fields(struct inode *inode, mode_t mode, uid_t uid, gid_t gid, dev_t rdev)
{
	struct folio_inode *di = inode->di;
	struct fs *fs = inode->fs;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	memset(di, 0, fs->geom.inode_size);
	di->i_mode = cpu_to_le16((uint16_t)(mode & (S_IFMT | 07777)));
	di->i_uid = cpu_to_le32(uid);
	di->i_gid = cpu_to_le32(gid);
	di->i_nlink = cpu_to_le32(S_ISDIR(mode) ? 2 : 1);
	di->i_generation = cpu_to_le32(atomic_fetch_add(&fs->next_generation, 1));
	di->i_atime = di->i_mtime = di->i_ctime = di->i_crtime = cpu_to_le64((uint64_t)ts.tv_sec);
	di->i_atime_nsec = di->i_mtime_nsec = di->i_ctime_nsec = di->i_crtime_nsec =
		cpu_to_le32((uint32_t)ts.tv_nsec);
	if (S_ISREG(mode) || S_ISLNK(mode))
		folio_eh_init(&di->i_extents.eh, FOLIO_EXT_INLINE, 0);
	if (S_ISCHR(mode) || S_ISBLK(mode)) {
		di->i_rdev.dev_major = cpu_to_le32(major(rdev));
		di->i_rdev.dev_minor = cpu_to_le32(minor(rdev));
	}
}

/* Put a new inode in the hash, waiting for an evicted namesake to leave. */
static int icache_add_new(struct fs *fs, struct inode *inode)
{
	struct inode *old;

	pthread_mutex_lock(&fs->icache_lock);
	while ((old = icache_find(fs, inode->ino)) && (old->i_state & FS_I_FREEING))
		pthread_cond_wait(&fs->icache_wait, &fs->icache_lock);
	if (!old) {
		inode->iref = 1;
		icache_insert(fs, inode);
	}
	pthread_mutex_unlock(&fs->icache_lock);
	return old ? fs_corrupt(fs, inode->ino, "allocated inode is in use") : 0;
}

/**
 * fs_inode_new - allocate and initialise a new inode
 * @dir: the directory it will be linked into (its group is preferred)
 * @mode: file type and permission bits
 * @uid: owner
 * @gid: group
 * @rdev: device number for character and block devices
 * @out: receives the inode with iref 1 (nlookup 0)
 *
 * nlink is 1 (2 for a directory), the four times are now, the generation is
 * new. Regular files and symlinks get an empty extent root and a mapping (an
 * inline symlink is made so by its creator, who also calls fs_dir_init() for
 * a directory). The whole inode is written to its slot. The caller links it
 * or, on failure, drops its link count to 0 and fs_iput()s it.
 *
 * Context: may sleep; no lock of @dir's group or of the fs held (i_rwsem of
 * @dir is fine).
 * Return: 0, -EINVAL (bad type), -EROFS, -ENOSPC (no free inode), -ENOMEM.
 */
int fs_inode_new(struct inode *dir, mode_t mode, uid_t uid, gid_t gid, dev_t rdev,
		 struct inode **out)
{
	struct fs *fs = dir->fs;
	struct inode *inode;
	uint32_t ino;
	int err;

	if (!mode_valid(mode))
		return -EINVAL;
	err = fs_alloc_ino(fs, dir->ino, S_ISDIR(mode), &ino);
	if (err)
		return err;
	inode = inode_alloc(fs, ino);
	if (!inode) {
		err = -ENOMEM;
		goto out_ino;
	}
	inode_init_fields(inode, mode, uid, gid, rdev);
	/* fdatasync of a new file must write it and its name: reading it needs both */
	atomic_store(&inode->datasync_dirty, true);
	if (S_ISREG(mode) || S_ISLNK(mode))
		err = inode_setup_mapping(inode);
	if (!err)
		err = inode_write_slot(inode, true);
	if (!err)
		err = icache_add_new(fs, inode);
	if (!err) {
		*out = inode;
		return 0;
	}
	if (inode->has_mapping)
		mapping_destroy(&inode->mapping);
	inode_destroy(inode);
	if (err == -EUCLEAN)
		return err; /* the number belongs to someone else */
out_ino:
	fs_free_ino(fs, ino, S_ISDIR(mode));
	return err;
}

/* ---- attributes ---- */

/**
 * fs_inode_stat - fill a struct stat from the inode
 * @inode: the inode
 * @st: filled in; st_blocks in 512-byte units, st_blksize 4096, times
 *	with nanoseconds
 *
 * Context: any thread; takes i_lock.
 */
void fs_inode_stat(struct inode *inode, struct stat *st)
{
	struct folio_inode *di = inode->di;
	struct fs *fs = inode->fs;
	uint32_t mode;

	inode_assert_state(inode);
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&inode->i_lock);
	mode = fs_di_mode(di);
	st->st_ino = inode->ino;
	st->st_mode = mode;
	st->st_nlink = le32_to_cpu(di->i_nlink);
	st->st_uid = le32_to_cpu(di->i_uid);
	st->st_gid = le32_to_cpu(di->i_gid);
	if (S_ISCHR(mode) || S_ISBLK(mode))
		st->st_rdev = makedev(le32_to_cpu(di->i_rdev.dev_major),
				      le32_to_cpu(di->i_rdev.dev_minor));
	st->st_size = (off_t)(inode->has_mapping ? atomic_load(&inode->mapping.i_size)
						 : le64_to_cpu(di->i_size));
	st->st_blocks = (blkcnt_t)(le64_to_cpu(di->i_blocks) << (fs->geom.block_shift - 9));
	st->st_blksize = 4096;
	st->st_atim.tv_sec = (time_t)le64_to_cpu(di->i_atime);
	st->st_atim.tv_nsec = le32_to_cpu(di->i_atime_nsec);
	st->st_mtim.tv_sec = (time_t)le64_to_cpu(di->i_mtime);
	st->st_mtim.tv_nsec = le32_to_cpu(di->i_mtime_nsec);
	st->st_ctim.tv_sec = (time_t)le64_to_cpu(di->i_ctime);
	st->st_ctim.tv_nsec = le32_to_cpu(di->i_ctime_nsec);
	pthread_mutex_unlock(&inode->i_lock);
}

/* Set the times in @which to @ts (i_lock held). */
static void di_set_times(struct folio_inode *di, unsigned which, const struct timespec *ts)
{
	le64 s = cpu_to_le64((uint64_t)ts->tv_sec);
	le32 ns = cpu_to_le32((uint32_t)ts->tv_nsec);

	if (which & FS_ATIME) {
		di->i_atime = s;
		di->i_atime_nsec = ns;
	}
	if (which & FS_MTIME) {
		di->i_mtime = s;
		di->i_mtime_nsec = ns;
	}
	if (which & FS_CTIME) {
		di->i_ctime = s;
		di->i_ctime_nsec = ns;
	}
	if (which & FS_CRTIME) {
		di->i_crtime = s;
		di->i_crtime_nsec = ns;
	}
}

/**
 * fs_inode_touch - set timestamps to now and write the inode
 * @inode: the inode
 * @which: FS_ATIME | FS_MTIME | FS_CTIME | FS_CRTIME
 *
 * The inode is written through (fs_inode_write()); callers that change
 * something else first may leave a failure for the next write or sync to
 * find.
 *
 * Context: may sleep; as fs_inode_write().
 * Return: as fs_inode_write().
 */
int fs_inode_touch(struct inode *inode, unsigned which)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&inode->i_lock);
	di_set_times(inode->di, which, &ts);
	pthread_mutex_unlock(&inode->i_lock);
	return fs_inode_write(inode);
}

/**
 * fs_inode_setattr - set permission bits, owner, group and times
 * @inode: the inode
 * @attr: the values (see fs_setattr())
 * @which: FS_SET_* bits saying which; ctime is set in any case (to st_ctim
 *	with FS_SET_CTIME, else to now)
 *
 * The inode is written through (fs_inode_write()).
 *
 * Context: may sleep; the caller holds the inode's i_rwsem exclusively
 * (fs_setattr()), none of the locks fs_inode_write() takes.
 * Return: 0 or the error of the inode write.
 */
int fs_inode_setattr(struct inode *inode, const struct stat *attr, unsigned which)
{
	struct folio_inode *di = inode->di;
	struct timespec now;

	inode_assert_state(inode);
	clock_gettime(CLOCK_REALTIME, &now);
	pthread_mutex_lock(&inode->i_lock);
	if (which & FS_SET_MODE)
		di->i_mode = cpu_to_le16(
			(uint16_t)((le16_to_cpu(di->i_mode) & S_IFMT) | (attr->st_mode & 07777)));
	if (which & FS_SET_UID)
		di->i_uid = cpu_to_le32((uint32_t)attr->st_uid);
	if (which & FS_SET_GID)
		di->i_gid = cpu_to_le32((uint32_t)attr->st_gid);
	if (which & (FS_SET_ATIME | FS_SET_ATIME_NOW))
		di_set_times(di, FS_ATIME, which & FS_SET_ATIME_NOW ? &now : &attr->st_atim);
	if (which & (FS_SET_MTIME | FS_SET_MTIME_NOW))
		di_set_times(di, FS_MTIME, which & FS_SET_MTIME_NOW ? &now : &attr->st_mtim);
	di_set_times(di, FS_CTIME, which & FS_SET_CTIME ? &attr->st_ctim : &now);
	pthread_mutex_unlock(&inode->i_lock);
	return fs_inode_write(inode);
}

/* nlink + @delta (1 or -1) and ctime now, written through; *@was gets the
 * count before. An inode with no link gets none back or loses none. */
static int inode_add_link(struct inode *inode, int delta, uint32_t *was)
{
	struct timespec ts;
	uint32_t n;
	int err = fs_check_writable(inode->fs);

	inode_assert_state(inode);
	orphan_assert_state(inode); /* the caller holds i_rwsem, or owns a new inode */
	if (err)
		return err;
	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&inode->i_lock);
	n = le32_to_cpu(inode->di->i_nlink);
	if (!n || (delta > 0 && n == UINT32_MAX)) {
		pthread_mutex_unlock(&inode->i_lock);
		return n ? -EMLINK : -ENOENT;
	}
	inode->di->i_nlink = cpu_to_le32(n + (uint32_t)delta);
	di_set_times(inode->di, FS_CTIME, &ts);
	pthread_mutex_unlock(&inode->i_lock);
	*was = n;
	return fs_inode_write(inode);
}

/**
 * fs_inode_inc_link - add a link
 * @inode: the inode
 *
 * Sets ctime and writes the inode.
 *
 * Context: the caller holds the parent directory's i_rwsem; may sleep.
 * Return: 0, -ENOENT (the inode is unlinked), -EMLINK, -EROFS.
 */
int fs_inode_inc_link(struct inode *inode)
{
	uint32_t was;

	return inode_add_link(inode, 1, &was);
}

/**
 * fs_inode_dec_link - drop a link
 * @inode: the inode
 *
 * Sets ctime and writes the inode. At 0 the inode goes on the orphan list
 * (inode slot first, then the superblock) until fs_iput()/fs_forget()/
 * fs_inode_release() free it.
 *
 * Context: the caller holds the parent directory's i_rwsem; may sleep; takes
 * orphan_lock, sb_lock and i_lock, so the caller holds none of them.
 * Return: 0, -ENOENT (already 0), -EROFS, or a write error.
 */
int fs_inode_dec_link(struct inode *inode)
{
	uint32_t was;
	int err = inode_add_link(inode, -1, &was);

	if (!err && was == 1)
		err = fs_orphan_add(inode);
	return err;
}

/* ---- mount and unmount ---- */

/**
 * fs_icache_writeback - write back the data of every cached inode
 * @fs: the filesystem
 *
 * Context: may sleep; no fs lock held.
 * Return: 0 or the first write-back error (every inode is still tried).
 */
int fs_icache_writeback(struct fs *fs)
{
	struct inode **list, *inode;
	uint64_t n = 0;
	int err = 0;

	pthread_mutex_lock(&fs->icache_lock);
	list = malloc((fs->nr_inodes + 1) * sizeof(*list));
	if (!list) {
		pthread_mutex_unlock(&fs->icache_lock);
		return -ENOMEM;
	}
	for (uint32_t b = 0; b <= fs->ihash_mask; b++) {
		for (inode = fs->ihash[b]; inode; inode = inode->hash_next) {
			if (inode->i_state || !inode->has_mapping)
				continue;
			inode->iref++;
			list[n++] = inode;
		}
	}
	pthread_mutex_unlock(&fs->icache_lock);
	for (uint64_t i = 0; i < n; i++) {
		err = first_err(err, filemap_write_and_wait(&list[i]->mapping));
		fs_iput(list[i]);
	}
	free(list);
	return err;
}

/*
 * The next inode to evict at unmount, marked FS_I_FREEING (lock held). The
 * scan resumes at *@cursor, the bucket of the last pick (everything before
 * it was evicted or busy), so evicting n inodes costs one pass over the
 * buckets, not one pass per inode; a bucket left behind is looked at again
 * by a final pass from bucket 0 before the scan waits or ends.
 */
static struct inode *icache_pick(struct fs *fs, uint32_t *cursor)
{
	for (;;) {
		bool busy = false;
		uint32_t start = *cursor;

		for (uint32_t b = start; b <= fs->ihash_mask; b++) {
			for (struct inode *inode = fs->ihash[b]; inode; inode = inode->hash_next) {
				if (inode->i_state) {
					busy = true;
					continue;
				}
				if (inode->iref)
					fprintf(stderr,
						"foliofs: inode %" PRIu32
						" still referenced at unmount\n",
						inode->ino);
				inode->iref = 0;
				inode->nlookup = 0;
				inode->nopen = 0;
				inode->i_state = FS_I_FREEING;
				*cursor = b;
				return inode;
			}
		}
		*cursor = 0;
		if (start)
			continue;
		if (!busy)
			return NULL;
		pthread_cond_wait(&fs->icache_wait, &fs->icache_lock);
	}
}

/**
 * fs_icache_destroy - evict every inode and free the inode cache
 * @fs: the filesystem being unmounted (or a failed mount)
 *
 * Lookups and open handles are dropped as the kernel does at unmount, so
 * unlinked inodes are freed now (on a writable filesystem) and the orphan
 * list ends empty; the others have their data written back.
 *
 * Context: unmount; no other thread uses the filesystem.
 * Return: 0 or the first error met while evicting.
 */
int fs_icache_destroy(struct fs *fs)
{
	struct inode *inode;
	uint32_t cursor = 0;
	int err = 0;

	pthread_mutex_lock(&fs->icache_lock);
	while ((inode = icache_pick(fs, &cursor))) {
		pthread_mutex_unlock(&fs->icache_lock);
		err = first_err(err, inode_evict(inode));
		pthread_mutex_lock(&fs->icache_lock);
	}
	pthread_mutex_unlock(&fs->icache_lock);
	free(fs->ihash);
	fs->ihash = NULL;
	pthread_cond_destroy(&fs->icache_wait);
	pthread_mutex_destroy(&fs->icache_lock);
	return err;
}
