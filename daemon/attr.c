/*
 * daemon/attr.c - setattr's changes other than the size: mode, owner,
 * group, access and modification times (given, or now), and ctime.
 *
 * Interface (daemon/daemon.h): daemon_setattr. fs/fs.h has no call for these
 * (fs_setsize covers the size), so the fields are set here, in the in-core
 * inode under i_lock, and written through with fs_inode_write() as every fs
 * change is.
 *
 * Permission checks are the kernel's (the mount always has
 * default_permissions): it refuses chmod and chown to non-owners, clears
 * S_ISGID on chmod by someone outside the group, and - because the daemon
 * does not ask for FUSE_CAP_HANDLE_KILLPRIV - sends the mode without
 * S_ISUID/S_ISGID along with chown, truncate and write.
 *
 * chmod keeps an access ACL in step, as the kernel's posix_acl_chmod does:
 * the ACL's owner, mask (or group when there is no mask) and other entries
 * take the new permission bits. The kernel forgets its cached ACLs after
 * every setattr, so it reads the new one back.
 *
 * Locking: i_rwsem exclusive for the whole change (the xattr calls need it),
 * i_lock around the field updates; nothing else.
 */
#include "config.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

#include "daemon/daemon.h"

#define ACL_ACCESS_NAME	  "system.posix_acl_access"
#define ACL_HDR		  4 /* le32 version */
#define ACL_ENTRY	  8 /* le16 tag, le16 perm, le32 id */
#define ACL_TAG_USER_OBJ  0x01
#define ACL_TAG_GROUP_OBJ 0x04
#define ACL_TAG_MASK	  0x10
#define ACL_TAG_OTHER	  0x20

static uint16_t acl_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void acl_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Give an ACL blob the permission bits of @mode (posix_acl_chmod). */
static void acl_apply_mode(uint8_t *acl, size_t size, mode_t mode)
{
	size_t n = (size - ACL_HDR) / ACL_ENTRY;
	uint8_t *group = NULL, *mask = NULL;

	for (size_t i = 0; i < n; i++) {
		uint8_t *e = acl + ACL_HDR + i * ACL_ENTRY;

		switch (acl_get16(e)) {
		case ACL_TAG_USER_OBJ:
			acl_put16(e + 2, (mode >> 6) & 7);
			break;
		case ACL_TAG_GROUP_OBJ:
			group = e;
			break;
		case ACL_TAG_MASK:
			mask = e;
			break;
		case ACL_TAG_OTHER:
			acl_put16(e + 2, mode & 7);
			break;
		}
	}
	if (mask || group)
		acl_put16((mask ? mask : group) + 2, (mode >> 3) & 7);
}

/* chmod of an inode with an access ACL: rewrite the ACL (i_rwsem held). */
static int attr_acl_chmod(struct inode *inode, mode_t mode)
{
	int size = fs_getxattr(inode, ACL_ACCESS_NAME, NULL, 0);
	uint8_t *acl;
	int err;

	if (size == -ENODATA || size == -EOPNOTSUPP)
		return 0;
	if (size < 0)
		return size;
	if (size < ACL_HDR)
		return 0;
	acl = malloc((size_t)size);
	if (!acl)
		return -ENOMEM;
	err = fs_getxattr(inode, ACL_ACCESS_NAME, acl, (size_t)size);
	if (err == size) {
		acl_apply_mode(acl, (size_t)size, mode);
		err = fs_setxattr(inode, ACL_ACCESS_NAME, acl, (size_t)size, XATTR_REPLACE);
	} else if (err >= 0) {
		err = -EAGAIN; /* cannot happen with i_rwsem held */
	}
	free(acl);
	return err;
}

/* Set the times in @which (FS_ATIME, FS_MTIME, FS_CTIME) to @ts; i_lock held. */
static void attr_set_time(struct folio_inode *di, unsigned which, const struct timespec *ts)
{
	le64 sec = cpu_to_le64((uint64_t)(int64_t)ts->tv_sec);
	le32 nsec = cpu_to_le32((uint32_t)ts->tv_nsec);

	if (which & FS_ATIME) {
		di->i_atime = sec;
		di->i_atime_nsec = nsec;
	}
	if (which & FS_MTIME) {
		di->i_mtime = sec;
		di->i_mtime_nsec = nsec;
	}
	if (which & FS_CTIME) {
		di->i_ctime = sec;
		di->i_ctime_nsec = nsec;
	}
}

/* Copy the requested fields into the in-core inode (i_lock taken here). */
static void attr_apply(struct inode *inode, const struct stat *attr, int to_set)
{
	struct folio_inode *di = inode->di;
	struct timespec now, ctime;

	clock_gettime(CLOCK_REALTIME, &now);
	ctime = (to_set & FUSE_SET_ATTR_CTIME) ? attr->st_ctim : now;
	pthread_mutex_lock(&inode->i_lock);
	if (to_set & FUSE_SET_ATTR_MODE)
		di->i_mode = cpu_to_le16(
			(uint16_t)((le16_to_cpu(di->i_mode) & S_IFMT) | (attr->st_mode & 07777)));
	if (to_set & FUSE_SET_ATTR_UID)
		di->i_uid = cpu_to_le32((uint32_t)attr->st_uid);
	if (to_set & FUSE_SET_ATTR_GID)
		di->i_gid = cpu_to_le32((uint32_t)attr->st_gid);
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		attr_set_time(di, FS_ATIME, &now);
	else if (to_set & FUSE_SET_ATTR_ATIME)
		attr_set_time(di, FS_ATIME, &attr->st_atim);
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		attr_set_time(di, FS_MTIME, &now);
	else if (to_set & FUSE_SET_ATTR_MTIME)
		attr_set_time(di, FS_MTIME, &attr->st_mtim);
	attr_set_time(di, FS_CTIME, &ctime);
	pthread_mutex_unlock(&inode->i_lock);
}

/**
 * daemon_setattr - change mode, owner, group and times of an inode
 * @inode: the inode (referenced by the caller)
 * @attr: the new values (st_mode, st_uid, st_gid, st_atim, st_mtim, st_ctim)
 * @to_set: FUSE_SET_ATTR_* bits saying which; SIZE is not handled here.
 *	ATIME_NOW / MTIME_NOW mean the current time (utimensat's UTIME_NOW);
 *	a time with neither bit is left alone (UTIME_OMIT). ctime becomes the
 *	given one with FUSE_SET_ATTR_CTIME, else now.
 *
 * A mode change also rewrites the access ACL, if there is one.
 *
 * Context: may sleep; takes @inode's i_rwsem exclusively (the caller holds
 * no lock of it).
 * Return: 0, -EROFS, or the error of the ACL update or the inode write.
 */
int daemon_setattr(struct inode *inode, const struct stat *attr, int to_set)
{
	int err = fs_check_writable(inode->fs);

	if (err)
		return err;
	pthread_rwlock_wrlock(&inode->i_rwsem);
	if (to_set & FUSE_SET_ATTR_MODE)
		err = attr_acl_chmod(inode, attr->st_mode);
	if (!err) {
		attr_apply(inode, attr, to_set);
		err = fs_inode_write(inode);
	}
	pthread_rwlock_unlock(&inode->i_rwsem);
	return err;
}
