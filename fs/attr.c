/*
 * fs/attr.c - setattr: the permission bits, owner, group and times of any
 * inode. The size is file.c's (fs_setsize); the fields themselves are
 * inode.c's (fs_inode_setattr).
 *
 * Interface (fs/fs.h, "attr.c"): fs_setattr.
 *
 * Permission checks are the caller's: the daemon mounts with
 * default_permissions, so the kernel refuses chmod and chown to non-owners
 * and clears S_ISGID on chmod by someone outside the group.
 *
 * Privilege bits: a chown clears them here, as Linux does
 * (attr_chown_kill()). The kernel, without FUSE_CAP_HANDLE_KILLPRIV, also
 * sends a mode without them along with a chown and a truncate, but its FUSE
 * client clears S_ISGID only with group execute, so the rule for S_ISGID
 * without it (kept unless the caller is outside the file's group and not
 * privileged) is this file's. Writes, truncates and fallocate clear them in
 * file.c (file_remove_privs()): the kernel does not for direct I/O writes
 * (cache=daemon) nor for pages written back from a shared mapping.
 *
 * chmod keeps an access ACL in step, as the kernel's posix_acl_chmod does
 * (acl.c's fs_acl_chmod): the ACL's owner, mask (or group when there is no
 * mask) and other entries take the new permission bits. The kernel forgets its cached ACLs after
 * every setattr, so it reads the new one back.
 *
 * Locking: the inode's i_rwsem exclusively for the whole change (the xattr
 * calls need it); inode.c takes i_lock around the field updates.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/xattr.h>

#include "fs/fs.h"

/* chmod of an inode with an access ACL: rewrite the ACL (i_rwsem held). */
static int attr_acl_chmod(struct inode *inode, mode_t mode)
{
	int size = __fs_getxattr(inode, FS_ACL_ACCESS, NULL, 0);
	uint8_t *acl;
	int err;

	if (size == -ENODATA || size == -EOPNOTSUPP)
		return 0;
	if (size < 0)
		return size;
	if ((size_t)size < sizeof(struct folio_acl_header))
		return 0;
	acl = malloc((size_t)size);
	if (!acl)
		return -ENOMEM;
	err = __fs_getxattr(inode, FS_ACL_ACCESS, acl, (size_t)size);
	if (err == size) {
		fs_acl_chmod(acl, (size_t)size, mode);
		err = __fs_setxattr(inode, FS_ACL_ACCESS, acl, (size_t)size, XATTR_REPLACE);
	} else if (err >= 0) {
		err = -EAGAIN; /* cannot happen with i_rwsem held */
	}
	free(acl);
	return err;
}

/* chown of a non-directory: the privilege bits Linux clears (chown_common()
 * with setattr_should_drop_sgid()): S_ISUID always, root's chown included;
 * S_ISGID with group execute; S_ISGID without it (mandatory locking, not a
 * privilege) only when the caller is neither in the file's group (@gid,
 * before the change) nor holds FS_CAP_FSETID. */
static mode_t attr_chown_kill(mode_t mode, gid_t gid, const struct fs_cred *cred)
{
	mode_t kill = 0;

	if (S_ISDIR(mode))
		return 0;
	if (mode & S_ISUID)
		kill = S_ISUID;
	if ((mode & S_ISGID) &&
	    ((mode & S_IXGRP) || (!(cred->caps & FS_CAP_FSETID) && !fs_cred_in_group(cred, gid))))
		kill |= S_ISGID;
	return kill;
}

/* The mode a chown leaves (i_rwsem held): *@st's mode with the bits
 * attr_chown_kill() names cleared, and FS_SET_MODE added to @which when
 * that changes anything. */
static unsigned attr_chown_mode(struct inode *inode, struct stat *st, unsigned which)
{
	mode_t cur = fs_inode_mode(inode), mode = cur, kill;

	if (!(which & (FS_SET_UID | FS_SET_GID)))
		return which;
	if (which & FS_SET_MODE)
		mode = (cur & S_IFMT) | (st->st_mode & 07777);
	kill = attr_chown_kill(mode, fs_inode_gid(inode), fs_cur_cred());
	if (!(mode & kill))
		return which;
	st->st_mode = mode & ~kill;
	return which | FS_SET_MODE;
}

/**
 * fs_setattr - change the permission bits, owner, group and times of an inode
 * @inode: the inode (referenced by the caller)
 * @attr: the new values (st_mode's permission bits, st_uid, st_gid,
 *	st_atim, st_mtim, st_ctim)
 * @which: FS_SET_* bits saying which. ATIME_NOW / MTIME_NOW mean the
 *	current time (utimensat's UTIME_NOW); a time with neither bit is left
 *	alone (UTIME_OMIT). ctime becomes st_ctim with FS_SET_CTIME, else now.
 *
 * A mode change also rewrites the access ACL, if there is one. A change of
 * owner or group of a non-directory clears S_ISUID, and S_ISGID as Linux
 * does (attr_chown_kill(); the thread's caller, fs_cur_cred(), decides the
 * one case that depends on who asks). The inode is written through.
 *
 * Context: may sleep; takes @inode's i_rwsem exclusively (the caller holds
 * no lock of it).
 * Return: 0, -EROFS, or the error of the ACL update or the inode write.
 */
int fs_setattr(struct inode *inode, const struct stat *attr, unsigned which)
{
	int err = fs_check_writable(inode->fs);
	struct stat st = *attr;

	inode_assert_state(inode);
	if (err)
		return err;
	pthread_rwlock_wrlock(&inode->i_rwsem);
	orphan_assert_state(inode);
	which = attr_chown_mode(inode, &st, which);
	fs_tx_begin(inode->fs);
	if (which & FS_SET_MODE)
		err = attr_acl_chmod(inode, st.st_mode);
	if (!err)
		err = fs_inode_setattr(inode, &st, which);
	fs_tx_end(inode->fs);
	pthread_rwlock_unlock(&inode->i_rwsem);
	return err;
}
