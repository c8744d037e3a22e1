/*
 * fs/namei.c - the operations that change names: lookup, create (regular
 * files, fifos, sockets, devices), mkdir, symlink, readlink, link, unlink,
 * rmdir, rename.
 *
 * Interface (fs/fs.h, "namei.c"). Each operation takes the locks it needs:
 * the directory's i_rwsem (exclusive to change, shared for lookup), then the
 * child's, as fs.h orders them; a rename between directories takes
 * fs->rename_lock first and then both directories, ancestor first (unrelated
 * ones in ascending inode order). Operations that return an inode return it
 * with iref + 1 and nlookup + 1 (fs_link returns none and leaves nlookup to
 * the caller).
 *
 * Invariants kept here:
 *   - New inodes are allocated, initialised and written before their name is
 *     added; a failure after allocation drops the inode's link count to zero
 *     so fs_iput() frees it (no leak, fsck clean after -ENOSPC).
 *   - Link counts: files count their names; directories 2 + subdirectories.
 *     Renames and rmdir keep dr_parent and the parents' counts in step.
 *   - Every name change sets the directory's mtime and ctime; link, unlink
 *     and rename set the ctime of the inodes whose names changed.
 *   - Default ACL inheritance (FUSE_CAP_POSIX_ACL leaves it to us): a new node
 *     under a directory with system.posix_acl_default gets an access ACL
 *     derived from it (directories the default too) and its mode masked by
 *     it; without one the mode is masked by cred->umask. Symlinks get
 *     neither. An inherited ACL equal to the mode is not stored.
 *   - Hard links: at most FS_LINK_MAX names per file; a directory may hold
 *     up to FS_DIR_LINK_MAX - 2 subdirectories.
 */
#include "config.h"

#include "fs/fs.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>

#define FS_LINK_MAX	65000u		 /* names of one non-directory (-EMLINK past it) */
#define FS_DIR_LINK_MAX (UINT32_MAX - 1) /* link count of a directory */

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static void ilock(struct inode *inode)
{
	int ret = pthread_rwlock_wrlock(&inode->i_rwsem);

	assert(ret == 0);
	(void)ret;
}

static void ilock_shared(struct inode *inode)
{
	int ret = pthread_rwlock_rdlock(&inode->i_rwsem);

	assert(ret == 0);
	(void)ret;
}

static void iunlock(struct inode *inode)
{
	pthread_rwlock_unlock(&inode->i_rwsem);
}

/* 1 for ".", 2 for "..", else 0. */
static int dotname(const char *name, size_t len)
{
	if (len == 1 && name[0] == '.')
		return 1;
	if (len == 2 && name[0] == '.' && name[1] == '.')
		return 2;
	return 0;
}

/* Length of a name to create or remove: -ENAMETOOLONG over 255 bytes,
 * -ENOENT when empty, -EINVAL with '/' inside; "." and ".." pass. */
static int name_len(const char *name, size_t *len)
{
	size_t n = strnlen(name, FOLIO_NAME_MAX + 1);

	if (n > FOLIO_NAME_MAX)
		return -ENAMETOOLONG;
	if (n == 0)
		return -ENOENT;
	if (memchr(name, '/', n))
		return -EINVAL;
	*len = n;
	return 0;
}

/* Check a name for a new entry in @dir, which the caller holds locked:
 * valid, the directory still linked, the name free. */
static int name_free(struct inode *dir, const char *name, size_t *len)
{
	uint32_t ino;
	int ret = name_len(name, len);

	if (ret)
		return ret;
	if (dotname(name, *len))
		return -EEXIST;
	if (!S_ISDIR(fs_inode_mode(dir)))
		return -ENOTDIR;
	if (fs_inode_nlink(dir) == 0)
		return -ENOENT;
	ret = fs_dir_lookup(dir, name, *len, &ino, NULL);
	return ret == -ENOENT ? 0 : ret ? ret : -EEXIST;
}

/* Drop a new inode that never got a name: fs_iput() frees it. */
static void inode_discard(struct inode *inode)
{
	while (fs_inode_nlink(inode) > 0)
		if (fs_inode_dec_link(inode))
			break;
	fs_iput(inode);
}

/* ------------------------------------------------------------------ */
/* ACL inheritance                                                     */
/* ------------------------------------------------------------------ */

struct acl_inherit {
	void *dflt; /* the parent's default ACL, NULL if none */
	size_t dlen;
	void *access; /* the new inode's access ACL, NULL if none */
	size_t alen;
};

/* Work out a new inode's mode and ACLs from @dir's default ACL or the umask.
 * Context: caller holds @dir's i_rwsem. */
static int acl_prepare(struct inode *dir, mode_t *mode, const struct fs_cred *cred,
		       struct acl_inherit *ai)
{
	size_t room = dir->fs->geom.block_size;
	bool equiv;
	int len;

	memset(ai, 0, sizeof(*ai));
	if (S_ISLNK(*mode))
		return 0;
	ai->dflt = malloc(room);
	if (!ai->dflt)
		return -ENOMEM;
	len = __fs_getxattr(dir, FS_ACL_DEFAULT, ai->dflt, room);
	if (len <= (int)sizeof(struct folio_acl_header)) { /* none, empty, or an error */
		free(ai->dflt);
		ai->dflt = NULL;
		*mode &= ~(cred->umask & 0777);
		return len < 0 && len != -ENODATA ? len : 0;
	}
	ai->dlen = (size_t)len;
	ai->access = malloc(ai->dlen);
	if (!ai->access)
		return -ENOMEM;
	memcpy(ai->access, ai->dflt, ai->dlen);
	ai->alen = ai->dlen;
	*mode = (*mode & ~0777) | fs_acl_create_masq(ai->access, ai->alen, *mode);
	fs_acl_mode_from(ai->access, ai->alen, &equiv);
	if (equiv) {
		free(ai->access);
		ai->access = NULL;
	}
	if (!S_ISDIR(*mode)) {
		free(ai->dflt);
		ai->dflt = NULL;
	}
	return 0;
}

static void acl_release(struct acl_inherit *ai)
{
	free(ai->dflt);
	free(ai->access);
}

/* Store the inherited ACLs on the new inode. */
static int acl_apply(struct inode *inode, const struct acl_inherit *ai)
{
	int ret = 0;

	if (!ai->access && !ai->dflt)
		return 0;
	ilock(inode);
	if (ai->access)
		ret = __fs_setxattr(inode, FS_ACL_ACCESS, ai->access, ai->alen, 0);
	if (!ret && ai->dflt)
		ret = __fs_setxattr(inode, FS_ACL_DEFAULT, ai->dflt, ai->dlen, 0);
	iunlock(inode);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Lookup and creation                                                 */
/* ------------------------------------------------------------------ */

/**
 * fs_lookup - find a name in a directory and get its inode
 * @dir: the directory
 * @name: NUL-terminated name; "." and ".." are answered too
 * @out: set to the inode (iref + 1, nlookup + 1)
 *
 * Context: takes @dir's i_rwsem shared.
 * Return: 0; -ENOENT; -ENAMETOOLONG over 255 bytes; -ENOTDIR when @dir is not
 * a directory; -EINVAL for a name with '/'; -EUCLEAN or a read error.
 */
int fs_lookup(struct inode *dir, const char *name, struct inode **out)
{
	uint32_t ino = 0;
	size_t len;
	int ret = name_len(name, &len);

	inode_assert_state(dir);
	if (ret)
		return ret;
	if (!S_ISDIR(fs_inode_mode(dir)))
		return -ENOTDIR;
	ilock_shared(dir);
	if (dotname(name, len) == 1)
		ino = dir->ino;
	else if (dotname(name, len) == 2)
		ino = fs_dir_parent(dir);
	else
		ret = fs_dir_lookup(dir, name, len, &ino, NULL);
	if (!ret)
		ret = fs_iget(dir->fs, ino, out);
	/* an entry (held still by i_rwsem) naming a free inode is a lie; ".."
	 * of a removed directory may name a parent freed since */
	if (ret == -ENOENT && !dotname(name, len) && ino)
		ret = fs_corrupt(dir->fs, dir->ino,
				 "entry '%s' names inode %" PRIu32 ", not in use", name, ino);
	iunlock(dir);
	if (!ret)
		fs_inode_lookup(*out);
	return ret;
}

/* Name @inode in @dir (locked) and finish a creation; drops the inode on
 * failure. */
static int create_finish(struct inode *dir, const char *name, size_t len, struct inode *inode,
			 const struct acl_inherit *ai, struct inode **out)
{
	mode_t mode = fs_inode_mode(inode);
	int ret = acl_apply(inode, ai);

	if (!ret)
		ret = fs_dir_add(dir, name, len, inode->ino, folio_mode_to_ftype(mode));
	if (!ret && S_ISDIR(mode)) {
		ret = fs_inode_inc_link(dir);
		if (ret)
			fs_dir_remove(dir, name, len, NULL);
	}
	if (ret) {
		inode_discard(inode);
		return ret;
	}
	fs_inode_touch(dir, FS_MTIME | FS_CTIME);
	fs_inode_lookup(inode);
	*out = inode;
	return 0;
}

/* The owner group of a new inode and the set-group-id bit of directories. */
static gid_t new_gid(struct inode *dir, mode_t *mode, const struct fs_cred *cred)
{
	if (!(fs_inode_mode(dir) & S_ISGID))
		return cred->gid;
	if (S_ISDIR(*mode))
		*mode |= S_ISGID;
	return fs_inode_gid(dir);
}

/* Everything fs_create, fs_mkdir and fs_symlink share; @init fills the new
 * inode before it is named. */
static int create_once(struct inode *dir, const char *name, mode_t mode, dev_t rdev,
		       const struct fs_cred *cred, int (*init)(struct inode *, const void *),
		       const void *arg, struct inode **out)
{
	struct acl_inherit ai = {0};
	struct inode *inode;
	size_t len;
	gid_t gid;
	int ret = fs_check_writable(dir->fs);

	inode_assert_state(dir);
	if (ret)
		return ret;
	ilock(dir);
	fs_tx_begin(dir->fs);
	ret = name_free(dir, name, &len);
	if (!ret && S_ISDIR(mode) && fs_inode_nlink(dir) >= FS_DIR_LINK_MAX)
		ret = -EMLINK;
	if (!ret)
		ret = acl_prepare(dir, &mode, cred, &ai);
	if (ret)
		goto out;
	gid = new_gid(dir, &mode, cred);
	ret = fs_inode_new(dir, mode, cred->uid, gid, rdev, &inode);
	if (ret)
		goto out;
	ret = init ? init(inode, arg) : 0;
	if (ret) {
		inode_discard(inode);
		goto out;
	}
	ret = create_finish(dir, name, len, inode, &ai, out);
out:
	fs_tx_end(dir->fs);
	iunlock(dir);
	acl_release(&ai);
	return ret;
}

/* create_once(), tried again after -ENOSPC when a commit gives blocks back
 * (blocks freed by an uncommitted transaction cannot be allocated yet). */
static int create_common(struct inode *dir, const char *name, mode_t mode, dev_t rdev,
			 const struct fs_cred *cred, int (*init)(struct inode *, const void *),
			 const void *arg, struct inode **out)
{
	int ret = create_once(dir, name, mode, rdev, cred, init, arg, out);

	if (ret == -ENOSPC && fs_journal_retry_enospc(dir->fs))
		ret = create_once(dir, name, mode, rdev, cred, init, arg, out);
	return ret;
}

/**
 * fs_create - make a regular file, fifo, socket or device node
 * @dir: the directory
 * @name: the new name
 * @mode: type (S_IFREG when none; S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK) and
 *	permission bits before the umask or default ACL
 * @rdev: device number for S_IFCHR and S_IFBLK
 * @cred: owner and umask of the caller
 * @out: set to the new inode (iref + 1, nlookup + 1)
 *
 * Context: takes @dir's i_rwsem exclusively.
 * Return: 0; -EEXIST; -ENOSPC; -ENAMETOOLONG; -EINVAL for a bad type or name;
 * -ENOENT when @dir was removed; -ENOTDIR; -EROFS; -EUCLEAN or an I/O error.
 */
int fs_create(struct inode *dir, const char *name, mode_t mode, dev_t rdev,
	      const struct fs_cred *cred, struct inode **out)
{
	if (!(mode & S_IFMT))
		mode |= S_IFREG;
	switch (mode & S_IFMT) {
	case S_IFCHR:
	case S_IFBLK:
		break;
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
		rdev = 0;
		break;
	default:
		return -EINVAL;
	}
	return create_common(dir, name, mode & (S_IFMT | 07777), rdev, cred, NULL, NULL, out);
}

static int mkdir_init(struct inode *inode, const void *arg)
{
	const struct inode *dir = arg;

	return fs_dir_init(inode, dir->ino);
}

/**
 * fs_mkdir - make a directory
 * @dir: the parent
 * @name: the new name
 * @mode: permission bits (before the umask or default ACL)
 * @cred: owner and umask of the caller
 * @out: set to the new directory (iref + 1, nlookup + 1)
 *
 * The new directory has link count 2 and dr_parent @dir; @dir gains a link.
 * Of @mode only the permission and sticky bits count; S_ISGID comes from
 * @dir, as do both ACLs when @dir has a default ACL.
 *
 * Context: takes @dir's i_rwsem exclusively.
 * Return: as fs_create(), and -EMLINK when @dir has too many subdirectories.
 */
int fs_mkdir(struct inode *dir, const char *name, mode_t mode, const struct fs_cred *cred,
	     struct inode **out)
{
	return create_common(dir, name, S_IFDIR | (mode & (0777 | S_ISVTX)), 0, cred, mkdir_init,
			     dir, out);
}

/* Store a symlink target: inline in i_data, or as file data. */
static int symlink_init(struct inode *inode, const void *arg)
{
	const char *target = arg;
	size_t len = strlen(target);
	ssize_t done;

	if (len <= FOLIO_INLINE_MAX) {
		pthread_mutex_lock(&inode->i_lock);
		memset(inode->di->i_data, 0, FOLIO_INODE_DATA);
		memcpy(inode->di->i_symlink, target, len);
		inode->di->i_flags =
			cpu_to_le32(le32_to_cpu(inode->di->i_flags) | FOLIO_IFL_INLINE);
		inode->di->i_size = cpu_to_le64(len);
		if (inode->has_mapping)
			atomic_store(&inode->mapping.i_size, len);
		pthread_mutex_unlock(&inode->i_lock);
		return fs_inode_write(inode);
	}
	if (!inode->has_mapping)
		return -EIO;
	done = filemap_write(&inode->mapping, target, len, 0);
	if (done < 0)
		return (int)done;
	if ((size_t)done != len)
		return -ENOSPC;
	return fs_inode_write(inode);
}

/**
 * fs_symlink - make a symbolic link
 * @dir: the directory
 * @name: the new name
 * @target: NUL-terminated target, 1..4095 bytes
 * @cred: owner of the link (mode 0777, no umask, no ACL)
 * @out: set to the new inode (iref + 1, nlookup + 1)
 *
 * Targets up to FOLIO_INLINE_MAX bytes live in i_data (FOLIO_IFL_INLINE);
 * longer ones are written as file data through the inode's mapping.
 *
 * Context: takes @dir's i_rwsem exclusively.
 * Return: as fs_create(); -ENAMETOOLONG for a target over 4095 bytes,
 * -ENOENT for an empty one.
 */
int fs_symlink(struct inode *dir, const char *name, const char *target, const struct fs_cred *cred,
	       struct inode **out)
{
	size_t tlen = strnlen(target, FOLIO_SYMLINK_MAX + 1);

	if (tlen > FOLIO_SYMLINK_MAX)
		return -ENAMETOOLONG;
	if (tlen == 0)
		return -ENOENT;
	return create_common(dir, name, S_IFLNK | 0777, 0, cred, symlink_init, target, out);
}

/**
 * fs_readlink - read a symlink's target
 * @inode: the symlink
 * @buf: where the target goes (NUL-terminated when there is room)
 * @size: room in @buf
 *
 * Context: any thread; targets do not change after creation.
 * Return: bytes of target copied (at most @size); -EINVAL when @inode is not
 * a symlink; -EUCLEAN for an impossible size; a read error.
 */
int fs_readlink(struct inode *inode, char *buf, size_t size)
{
	uint64_t len;
	bool inl;
	ssize_t got;

	pthread_mutex_lock(&inode->i_lock);
	len = le64_to_cpu(inode->di->i_size);
	inl = le32_to_cpu(inode->di->i_flags) & FOLIO_IFL_INLINE;
	if (S_ISLNK(fs_di_mode(inode->di)) && inl && len <= FOLIO_INLINE_MAX)
		memcpy(buf, inode->di->i_symlink, len < size ? len : size);
	pthread_mutex_unlock(&inode->i_lock);
	if (!S_ISLNK(fs_inode_mode(inode)))
		return -EINVAL;
	if (len == 0 || len > FOLIO_SYMLINK_MAX || (inl && len > FOLIO_INLINE_MAX) ||
	    (!inl && !inode->has_mapping))
		return fs_corrupt(inode->fs, inode->ino, "symlink of %llu bytes",
				  (unsigned long long)len);
	if (len > size)
		len = size;
	if (!inl) {
		got = filemap_read(&inode->mapping, NULL, buf, len, 0);
		if (got < 0)
			return (int)got;
		if ((uint64_t)got != len)
			return fs_corrupt(inode->fs, inode->ino, "symlink target short");
	}
	if (len < size)
		buf[len] = '\0';
	return (int)len;
}

/* ------------------------------------------------------------------ */
/* Link, unlink, rmdir                                                 */
/* ------------------------------------------------------------------ */

/**
 * fs_link - give an inode another name
 * @inode: the inode (not a directory)
 * @dir: the directory for the new name
 * @name: the new name
 *
 * Does not touch nlookup: the caller answering with an entry adds it.
 *
 * Context: takes @dir's then @inode's i_rwsem exclusively.
 * Return: 0; -EPERM for a directory; -EMLINK at FS_LINK_MAX names; -ENOENT
 * when @inode has no name left; -EEXIST; -ENOSPC; -ENAMETOOLONG; -EINVAL;
 * -ENOTDIR; -EROFS; -EUCLEAN or an I/O error.
 */
static int link_once(struct inode *inode, struct inode *dir, const char *name);

int fs_link(struct inode *inode, struct inode *dir, const char *name)
{
	int ret = link_once(inode, dir, name);

	if (ret == -ENOSPC && fs_journal_retry_enospc(dir->fs))
		ret = link_once(inode, dir, name);
	return ret;
}

static int link_once(struct inode *inode, struct inode *dir, const char *name)
{
	size_t len;
	int ret = fs_check_writable(dir->fs);

	inode_assert_state(inode);
	inode_assert_state(dir);
	if (ret)
		return ret;
	if (S_ISDIR(fs_inode_mode(inode)))
		return -EPERM;
	if (!S_ISDIR(fs_inode_mode(dir)))
		return -ENOTDIR;
	ilock(dir);
	ilock(inode);
	fs_tx_begin(dir->fs);
	ret = name_free(dir, name, &len);
	if (!ret && fs_inode_nlink(inode) == 0)
		ret = -ENOENT;
	if (!ret && fs_inode_nlink(inode) >= FS_LINK_MAX)
		ret = -EMLINK;
	if (!ret)
		ret = fs_dir_add(dir, name, len, inode->ino,
				 folio_mode_to_ftype(fs_inode_mode(inode)));
	if (!ret) {
		ret = fs_inode_inc_link(inode);
		if (ret)
			fs_dir_remove(dir, name, len, NULL);
	}
	if (!ret) {
		fs_inode_touch(inode, FS_CTIME);
		fs_inode_touch(dir, FS_MTIME | FS_CTIME);
	}
	fs_tx_end(dir->fs);
	iunlock(inode);
	iunlock(dir);
	return ret;
}

/* Look up the victim of unlink (@rmdir false: anything but a directory) or
 * rmdir (a directory) in @dir, which the caller holds locked. */
static int victim_get(struct inode *dir, const char *name, size_t len, bool rmdir,
		      struct inode **out)
{
	uint32_t ino;
	uint8_t type;
	bool isdir;
	int ret;

	if (!S_ISDIR(fs_inode_mode(dir)))
		return -ENOTDIR;
	ret = fs_dir_lookup(dir, name, len, &ino, &type);
	if (!ret)
		ret = fs_iget(dir->fs, ino, out);
	if (ret)
		return ret;
	isdir = S_ISDIR(fs_inode_mode(*out));
	if (rmdir ? !isdir : isdir || type == FOLIO_FT_DIR) {
		fs_iput(*out);
		return rmdir ? -ENOTDIR : -EISDIR;
	}
	return 0;
}

/* A directory loses its name: both its links, and its parent's link. */
static int rmdir_links(struct inode *parent, struct inode *victim)
{
	int ret = 0;

	while (!ret && fs_inode_nlink(victim) > 0)
		ret = fs_inode_dec_link(victim);
	if (!ret)
		ret = fs_inode_dec_link(parent);
	return ret;
}

/* The change itself, both inodes locked: the name goes; a file loses a link,
 * an empty directory both and its parent one. */
static int remove_victim(struct inode *dir, const char *name, size_t len, bool rmdir,
			 struct inode *victim)
{
	int ret;

	if (!rmdir) {
		ret = fs_dir_remove(dir, name, len, NULL);
		return ret ? ret : fs_inode_dec_link(victim);
	}
	ret = fs_dir_empty(victim) ? fs_dir_remove(dir, name, len, NULL) : -ENOTEMPTY;
	return ret ? ret : rmdir_links(dir, victim);
}

/* Everything fs_unlink and fs_rmdir share: check the name, lock @dir, find
 * and lock the victim, remove it, set the times. */
static int remove_common(struct inode *dir, const char *name, bool rmdir)
{
	struct inode *victim;
	size_t len;
	int ret = fs_check_writable(dir->fs);

	inode_assert_state(dir);
	if (!ret)
		ret = name_len(name, &len);
	if (ret)
		return ret;
	if (dotname(name, len))
		return !rmdir ? -EISDIR : dotname(name, len) == 1 ? -EINVAL : -ENOTEMPTY;
	ilock(dir);
	ret = victim_get(dir, name, len, rmdir, &victim);
	if (ret)
		goto out;
	ilock(victim);
	fs_tx_begin(dir->fs);
	ret = remove_victim(dir, name, len, rmdir, victim);
	if (!ret) {
		fs_inode_touch(victim, FS_CTIME);
		fs_inode_touch(dir, FS_MTIME | FS_CTIME);
	}
	fs_tx_end(dir->fs);
	iunlock(victim);
	fs_iput(victim);
out:
	iunlock(dir);
	return ret;
}

/**
 * fs_unlink - remove a name of a non-directory
 * @dir: the directory
 * @name: the name
 *
 * The inode loses a link and ctime is set; at link count 0 it goes on the
 * orphan list and lives until fs_iput() finds it unused.
 *
 * Context: takes @dir's then the inode's i_rwsem exclusively.
 * Return: 0; -ENOENT; -EISDIR for a directory; -ENAMETOOLONG; -EINVAL;
 * -ENOTDIR; -EROFS; -EUCLEAN or an I/O error.
 */
int fs_unlink(struct inode *dir, const char *name)
{
	return remove_common(dir, name, false);
}

/**
 * fs_rmdir - remove an empty directory
 * @dir: the parent
 * @name: the directory's name
 *
 * Context: takes @dir's then the victim's i_rwsem exclusively.
 * Return: 0; -ENOENT; -ENOTDIR when the name is not a directory; -ENOTEMPTY;
 * -EINVAL for "."; -ENOTEMPTY for ".."; -ENAMETOOLONG; -EROFS; -EUCLEAN or
 * an I/O error.
 */
int fs_rmdir(struct inode *dir, const char *name)
{
	return remove_common(dir, name, true);
}

/* ------------------------------------------------------------------ */
/* Rename                                                              */
/* ------------------------------------------------------------------ */

/* Is directory @anc the directory @ino or one of its ancestors? Follows
 * dr_parent up to the root. Context: caller holds fs->rename_lock, so no
 * directory changes parent meanwhile. */
static int is_ancestor(struct fs *fs, uint32_t anc, uint32_t ino, bool *out)
{
	uint32_t steps = 0;

	*out = false;
	while (ino != anc) {
		struct inode *d;
		uint32_t parent;
		int ret;

		if (ino == FOLIO_ROOT_INO)
			return 0;
		if (++steps > fs->geom.inodes_count)
			return fs_corrupt(fs, ino, "directory parents loop");
		ret = fs_iget(fs, ino, &d);
		if (ret)
			return ret == -ENOENT ? 0 : ret;
		parent = S_ISDIR(fs_inode_mode(d)) ? fs_dir_parent(d) : FOLIO_ROOT_INO;
		fs_iput(d);
		ino = parent;
	}
	*out = true;
	return 0;
}

/* Everything one rename works on. */
struct rename_ctx {
	struct inode *od, *nd; /* the directories */
	const char *oname, *nname;
	size_t olen, nlen;
	unsigned flags;
	struct inode *src, *tgt; /* source and (if any) target inodes */
	uint8_t stype, ttype;
	bool cross;		 /* od != nd: rename_lock held */
	struct inode *locked[2]; /* children whose i_rwsem we hold */
};

/* Lock the two directories: ancestor first, else ascending inode number. */
static int rename_lock_dirs(struct rename_ctx *r)
{
	struct inode *first = r->od, *second = r->nd;
	bool anc;
	int ret;

	if (!r->cross) {
		ilock(r->od);
		return 0;
	}
	pthread_mutex_lock(&r->od->fs->rename_lock);
	ret = is_ancestor(r->od->fs, r->nd->ino, r->od->ino, &anc);
	if (!ret && anc) {
		first = r->nd;
		second = r->od;
	} else if (!ret) {
		ret = is_ancestor(r->od->fs, r->od->ino, r->nd->ino, &anc);
		if (!ret && !anc && r->nd->ino < r->od->ino) {
			first = r->nd;
			second = r->od;
		}
	}
	if (ret) {
		pthread_mutex_unlock(&r->od->fs->rename_lock);
		return ret;
	}
	ilock(first);
	ilock(second);
	return 0;
}

static void rename_unlock(struct rename_ctx *r)
{
	for (int i = 1; i >= 0; i--)
		if (r->locked[i])
			iunlock(r->locked[i]);
	iunlock(r->od);
	if (r->cross) {
		iunlock(r->nd);
		pthread_mutex_unlock(&r->od->fs->rename_lock);
	}
}

/* Lock the source if it is a directory (its dr_parent may change) and the
 * target (its link count may drop, racing with fs_link), ascending inode
 * order: they are unrelated once rename_check() passed. */
static void rename_lock_children(struct rename_ctx *r)
{
	struct inode *a = S_ISDIR(fs_inode_mode(r->src)) ? r->src : NULL;
	struct inode *b = r->tgt;

	if (a && b && b->ino < a->ino) {
		struct inode *t = a;

		a = b;
		b = t;
	}
	if (!a) {
		a = b;
		b = NULL;
	}
	if (a)
		ilock(a);
	if (b)
		ilock(b);
	r->locked[0] = a;
	r->locked[1] = b;
}

/* Type, emptiness, loop and link-limit checks. */
static int rename_check(struct rename_ctx *r)
{
	bool sdir = S_ISDIR(fs_inode_mode(r->src)), tdir = r->tgt && S_ISDIR(fs_inode_mode(r->tgt)),
	     anc;
	struct fs *fs = r->od->fs;
	int ret;

	if (r->tgt && !(r->flags & RENAME_EXCHANGE)) {
		if (sdir && !tdir)
			return -ENOTDIR;
		if (!sdir && tdir)
			return -EISDIR;
	}
	if (r->cross && tdir && !(r->flags & RENAME_EXCHANGE)) {
		/* an ancestor of the source holds it: not empty (and locked after
		 * its descendants would break the lock order, so stop here) */
		ret = is_ancestor(fs, r->tgt->ino, r->od->ino, &anc);
		if (ret || anc)
			return ret ? ret : -ENOTEMPTY;
	}
	if (r->cross && sdir) {
		ret = is_ancestor(fs, r->src->ino, r->nd->ino, &anc);
		if (ret || anc)
			return ret ? ret : -EINVAL;
	}
	if (r->cross && tdir && (r->flags & RENAME_EXCHANGE)) {
		ret = is_ancestor(fs, r->tgt->ino, r->od->ino, &anc);
		if (ret || anc)
			return ret ? ret : -EINVAL;
	}
	if (r->cross && sdir && !tdir && fs_inode_nlink(r->nd) >= FS_DIR_LINK_MAX)
		return -EMLINK;
	if (r->cross && tdir && !sdir && (r->flags & RENAME_EXCHANGE) &&
	    fs_inode_nlink(r->od) >= FS_DIR_LINK_MAX)
		return -EMLINK;
	return 0;
}

/* Find source and target; decide the cases that end before any change.
 * Return: 0 to go on, 1 for "nothing to do", or -errno. */
static int rename_lookup(struct rename_ctx *r)
{
	struct fs *fs = r->od->fs;
	uint32_t sino, tino;
	int ret;

	if (fs_inode_nlink(r->od) == 0 || fs_inode_nlink(r->nd) == 0)
		return -ENOENT;
	ret = fs_dir_lookup(r->od, r->oname, r->olen, &sino, &r->stype);
	if (ret)
		return ret;
	ret = fs_dir_lookup(r->nd, r->nname, r->nlen, &tino, &r->ttype);
	if (ret && ret != -ENOENT)
		return ret;
	if (!ret && (r->flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (ret && (r->flags & RENAME_EXCHANGE))
		return -ENOENT;
	if (!ret && tino == sino)
		return 1;
	ret = ret ? 0 : fs_iget(fs, tino, &r->tgt);
	if (!ret)
		ret = fs_iget(fs, sino, &r->src);
	return ret;
}

/* A plain rename: the source's name moves, a target is overwritten. */
static int rename_move(struct rename_ctx *r)
{
	bool sdir = S_ISDIR(fs_inode_mode(r->src));
	int ret;

	if (r->tgt) {
		if (S_ISDIR(fs_inode_mode(r->tgt)) && !fs_dir_empty(r->tgt))
			return -ENOTEMPTY;
		ret = fs_dir_replace(r->nd, r->nname, r->nlen, r->src->ino, r->stype);
	} else {
		ret = fs_dir_add(r->nd, r->nname, r->nlen, r->src->ino, r->stype);
	}
	if (ret)
		return ret;
	ret = fs_dir_remove(r->od, r->oname, r->olen, NULL);
	if (ret) {
		if (r->tgt)
			fs_dir_replace(r->nd, r->nname, r->nlen, r->tgt->ino, r->ttype);
		else
			fs_dir_remove(r->nd, r->nname, r->nlen, NULL);
		return ret;
	}
	if (sdir && r->cross) {
		ret = fs_dir_set_parent(r->src, r->nd->ino);
		if (!ret)
			ret = fs_inode_inc_link(r->nd);
		if (!ret)
			ret = fs_inode_dec_link(r->od);
	}
	if (!ret && r->tgt && S_ISDIR(fs_inode_mode(r->tgt)))
		ret = rmdir_links(r->nd, r->tgt);
	else if (!ret && r->tgt)
		ret = fs_inode_dec_link(r->tgt);
	return ret;
}

/* RENAME_EXCHANGE: the two names swap inodes. */
static int rename_exchange(struct rename_ctx *r)
{
	bool sdir = S_ISDIR(fs_inode_mode(r->src)), tdir = S_ISDIR(fs_inode_mode(r->tgt));
	int ret;

	ret = fs_dir_replace(r->od, r->oname, r->olen, r->tgt->ino, r->ttype);
	if (ret)
		return ret;
	ret = fs_dir_replace(r->nd, r->nname, r->nlen, r->src->ino, r->stype);
	if (ret) {
		fs_dir_replace(r->od, r->oname, r->olen, r->src->ino, r->stype);
		return ret;
	}
	if (!r->cross || sdir == tdir) {
		if (r->cross && sdir) {
			ret = fs_dir_set_parent(r->src, r->nd->ino);
			if (!ret)
				ret = fs_dir_set_parent(r->tgt, r->od->ino);
		}
		return ret;
	}
	/* one directory changes sides: its old parent loses a link */
	ret = fs_dir_set_parent(sdir ? r->src : r->tgt, sdir ? r->nd->ino : r->od->ino);
	if (!ret)
		ret = fs_inode_inc_link(sdir ? r->nd : r->od);
	if (!ret)
		ret = fs_inode_dec_link(sdir ? r->od : r->nd);
	return ret;
}

static int rename_names(struct rename_ctx *r, const char *oldname, const char *newname)
{
	int ret = name_len(oldname, &r->olen);

	if (!ret)
		ret = name_len(newname, &r->nlen);
	if (ret)
		return ret;
	if (dotname(oldname, r->olen) || dotname(newname, r->nlen))
		return -EINVAL;
	if (!S_ISDIR(fs_inode_mode(r->od)) || !S_ISDIR(fs_inode_mode(r->nd)))
		return -ENOTDIR;
	return 0;
}

/**
 * fs_rename - rename, overwrite or exchange names
 * @olddir: directory of the source
 * @oldname: the source's name
 * @newdir: directory of the destination
 * @newname: the destination's name
 * @flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE
 *
 * Every case POSIX and Linux define: a file or empty directory at the
 * destination is replaced (its link count drops); the same inode under both
 * names changes nothing; RENAME_EXCHANGE swaps two existing names of any
 * types; a directory moved elsewhere gets its dr_parent and both parents'
 * link counts fixed. Times: both directories' mtime and ctime, the ctime of
 * the inodes involved.
 *
 * Context: takes fs->rename_lock when the directories differ, then the
 * directories (ancestor first), then a source directory and the target.
 * Return: 0; -ENOENT (source missing, or target missing with EXCHANGE);
 * -EEXIST (NOREPLACE); -ENOTEMPTY; -EISDIR / -ENOTDIR for type mismatches;
 * -EINVAL for bad flags, "." or "..", or a directory moved into its own
 * subtree; -EMLINK; -ENOSPC; -ENAMETOOLONG; -EROFS; -EUCLEAN or an I/O error.
 */
static int rename_once(struct inode *olddir, const char *oldname, struct inode *newdir,
		       const char *newname, unsigned flags);

int fs_rename(struct inode *olddir, const char *oldname, struct inode *newdir, const char *newname,
	      unsigned flags)
{
	int ret = rename_once(olddir, oldname, newdir, newname, flags);

	if (ret == -ENOSPC && fs_journal_retry_enospc(olddir->fs))
		ret = rename_once(olddir, oldname, newdir, newname, flags);
	return ret;
}

static int rename_once(struct inode *olddir, const char *oldname, struct inode *newdir,
		       const char *newname, unsigned flags)
{
	struct rename_ctx r = {.od = olddir,
			       .nd = newdir,
			       .oname = oldname,
			       .nname = newname,
			       .flags = flags,
			       .cross = olddir != newdir};
	int ret = fs_check_writable(olddir->fs);

	inode_assert_state(olddir);
	inode_assert_state(newdir);
	if (ret)
		return ret;
	if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	ret = rename_names(&r, oldname, newname);
	if (!ret)
		ret = rename_lock_dirs(&r);
	if (ret)
		return ret;
	ret = rename_lookup(&r);
	if (!ret)
		ret = rename_check(&r);
	if (!ret) {
		rename_lock_children(&r);
		fs_tx_begin(olddir->fs);
		ret = flags & RENAME_EXCHANGE ? rename_exchange(&r) : rename_move(&r);
		if (!ret) {
			fs_inode_touch(r.src, FS_CTIME);
			if (r.tgt)
				fs_inode_touch(r.tgt, FS_CTIME);
			fs_inode_touch(r.od, FS_MTIME | FS_CTIME);
			if (r.cross)
				fs_inode_touch(r.nd, FS_MTIME | FS_CTIME);
		}
		fs_tx_end(olddir->fs);
	}
	rename_unlock(&r);
	if (r.src)
		fs_iput(r.src);
	if (r.tgt)
		fs_iput(r.tgt);
	return ret == 1 ? 0 : ret;
}
