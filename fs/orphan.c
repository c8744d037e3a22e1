/*
 * fs/orphan.c - the on-disk orphan list: inodes with no name left that are
 * still in use (open, looked up, referenced), so that a crash cannot leak
 * them: the next mount frees whatever the list names.
 *
 * Interface (fs/fs.h, "orphan.c"): fs_orphan_head, fs_orphan_add,
 * fs_orphan_remove, fs_orphan_remove_linked.
 *
 * The list is singly linked on disk: the superblock's s_orphan_head names
 * the first inode, each member's inode-table slot names the next in
 * i_orphan_next, 0 ends it. New orphans go at the head; removal walks from
 * the head to the predecessor (the list holds only what is unlinked and
 * still in use, so it stays short).
 *
 * Invariants (orphan_assert_state() checks O1 in debug builds):
 *  O1. nlink 0 <=> on the list, from fs_inode_dec_link() (which calls
 *      fs_orphan_add() after writing the inode) until eviction frees the
 *      inode (fs_orphan_remove() before its number is freed).
 *      inode->on_orphan_list says which, under inode->i_lock.
 *  O2. A slot's i_orphan_next belongs to this file alone: it is read and
 *      changed here, in the slot, under fs->orphan_lock and the slot's buffer
 *      lock; fs_inode_write() copies the rest of the inode around it and
 *      never stores to it (see inode_copy_slot() for the race that rule
 *      closes). The in-core copy (inode->di->i_orphan_next) means nothing.
 *  O3. The head changes only under fs->orphan_lock, in fs->sb (sb_lock),
 *      and reaches block 0 through fs_write_super().
 *  O4. A member's link is written before the head names it, and an inode
 *      leaves the list (its predecessor or the head skips it) before its
 *      link is cleared and its number freed: the list on disk never names
 *      a free inode.
 *
 * Lock order: orphan_lock, then sb_lock (fs_write_super) or one buffer lock
 * at a time, then i_lock for on_orphan_list.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>

#include "fs/fs.h"

#ifdef FOLIO_DEBUG
/**
 * orphan_assert_state - check O1 for an inode whose link count is stable
 * @inode: the inode; the caller holds its i_rwsem (every link count change
 *	happens under it) or owns it outright (a new inode, eviction)
 *
 * Context: debug builds only (a no-op otherwise); takes i_lock; aborts on a
 * violation.
 */
void orphan_assert_state(struct inode *inode)
{
	bool on, unlinked;

	pthread_mutex_lock(&inode->i_lock);
	on = inode->on_orphan_list;
	unlinked = !inode->di->i_nlink;
	pthread_mutex_unlock(&inode->i_lock);
	assert(on == unlinked); /* O1 */
}
#endif

/* ---- links in the table slots (orphan_lock held) ---- */

static int orphan_get_next(struct fs *fs, uint32_t ino, uint32_t *next)
{
	struct folio_inode *slot;
	int err;
	struct buffer_head *bh = fs_ino_bread(fs, ino, &slot, &err);

	if (!bh)
		return err;
	lock_buffer(bh); /* the slot's owner may be writing it (O2) */
	*next = le32_to_cpu(slot->i_orphan_next);
	unlock_buffer(bh);
	brelse(bh);
	return 0;
}

static int orphan_set_next(struct fs *fs, uint32_t ino, uint32_t next)
{
	struct folio_inode *slot;
	int err;
	struct buffer_head *bh = fs_ino_bread(fs, ino, &slot, &err);

	if (!bh)
		return err;
	lock_buffer(bh);
	slot->i_orphan_next = cpu_to_le32(next);
	folio_inode_csum_set(fs->csum_seed, ino, slot, fs->geom.inode_size);
	fs_meta_dirty(fs, bh);
	unlock_buffer(bh);
	brelse(bh);
	return 0;
}

/* ---- the head ---- */

/**
 * fs_orphan_head - the first inode on the orphan list
 * @fs: the filesystem
 *
 * Context: any thread; takes sb_lock.
 * Return: its number, or 0 when the list is empty.
 */
uint32_t fs_orphan_head(struct fs *fs)
{
	uint32_t head;

	pthread_mutex_lock(&fs->sb_lock);
	head = le32_to_cpu(fs->sb.s_orphan_head);
	pthread_mutex_unlock(&fs->sb_lock);
	return head;
}

static int orphan_set_head(struct fs *fs, uint32_t ino)
{
	pthread_mutex_lock(&fs->sb_lock);
	fs->sb.s_orphan_head = cpu_to_le32(ino);
	pthread_mutex_unlock(&fs->sb_lock);
	return fs_write_super(fs);
}

static void orphan_mark(struct inode *inode, bool on)
{
	pthread_mutex_lock(&inode->i_lock);
	inode->on_orphan_list = on;
	pthread_mutex_unlock(&inode->i_lock);
}

/* ---- adding and removing ---- */

/**
 * fs_orphan_add - put an inode that lost its last name on the orphan list
 * @inode: the inode, nlink 0 and already written
 *
 * Its link first, then the superblock's head (O4).
 *
 * Context: may sleep; takes orphan_lock, sb_lock, buffer locks and i_lock,
 * so the caller holds none of them (i_rwsem is fine).
 * Return: 0 or a negative errno (a read error; the list is unchanged then).
 */
int fs_orphan_add(struct inode *inode)
{
	struct fs *fs = inode->fs;
	int err;

	assert(!inode->di->i_nlink &&
	       !inode->on_orphan_list); /* O1: what it is about to make true */
	pthread_mutex_lock(&fs->orphan_lock);
	err = orphan_set_next(fs, inode->ino, fs_orphan_head(fs));
	if (!err)
		err = orphan_set_head(fs, inode->ino);
	if (!err)
		orphan_mark(inode, true);
	pthread_mutex_unlock(&fs->orphan_lock);
	return err;
}

/* Make the head or @inode's predecessor skip it (orphan_lock held). */
static int orphan_unlink(struct fs *fs, uint32_t ino)
{
	uint32_t next = 0, p, pn = 0, steps = 0;
	int err = orphan_get_next(fs, ino, &next);

	if (err)
		return err;
	p = fs_orphan_head(fs);
	if (p == ino)
		return orphan_set_head(fs, next);
	while (p) {
		if (p < FOLIO_FIRST_INO || !folio_ino_valid(&fs->geom, p) ||
		    ++steps > fs->geom.inodes_count)
			return fs_corrupt(fs, p, "orphan list broken");
		err = orphan_get_next(fs, p, &pn);
		if (err)
			return err;
		if (pn == ino)
			return orphan_set_next(fs, p, next);
		p = pn;
	}
	return 0;
}

/**
 * fs_orphan_remove - take an inode off the orphan list
 * @inode: the inode being freed (nobody else uses it)
 *
 * Nothing when it is not on the list. Walks from the head to its
 * predecessor, makes that skip it, then clears its own link (O4).
 *
 * Context: may sleep; as fs_orphan_add().
 * Return: 0, -EUCLEAN when the list is broken (a loop, a bad number), or a
 * read error.
 */
int fs_orphan_remove(struct inode *inode)
{
	struct fs *fs = inode->fs;
	int err;

	if (!inode->on_orphan_list)
		return 0;
	pthread_mutex_lock(&fs->orphan_lock);
	err = orphan_unlink(fs, inode->ino);
	if (!err)
		err = orphan_set_next(fs, inode->ino, 0);
	if (!err)
		orphan_mark(inode, false);
	pthread_mutex_unlock(&fs->orphan_lock);
	return err;
}

/**
 * fs_orphan_remove_linked - take an inode that still has links off the list
 * @inode: an inode the list names although its link count is not 0 (a
 *	crash came between its last unlink reaching the list and the link
 *	count reaching the disk)
 *
 * Context: mount, before the filesystem is used.
 * Return: as fs_orphan_remove().
 */
int fs_orphan_remove_linked(struct inode *inode)
{
	orphan_mark(inode, true);
	return fs_orphan_remove(inode);
}
