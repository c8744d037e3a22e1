/*
 * fs/xattr.c - extended attributes and POSIX ACL blobs (docs/ON-DISK.md
 * section 12).
 *
 * Interface (fs/fs.h, "xattr.c"): fs_getxattr, fs_setxattr, fs_listxattr,
 * fs_removexattr take the inode's i_rwsem (shared to read, exclusive to
 * change); __fs_getxattr, __fs_setxattr, __fs_listxattr, __fs_removexattr
 * are the same with the lock held by the caller (namei.c, attr.c);
 * fs_xattr_free (eviction).
 *
 * Storage: the in-inode area (di->i_xattr, i_xattr_len bytes used, up to
 * inode_size - 192) first, then the inode's one xattr block (magic FXAT,
 * owned by the inode, counted in i_blocks). A change works on copies of both
 * areas, decides where the new entry goes, then commits: a new block is
 * allocated and written before the inode points at it; an emptied block is
 * freed after the inode stops pointing at it. Nothing changes on failure.
 *
 * Rules:
 *   - A new or replaced attribute goes into the inode if it fits, else into
 *     the block. One that fits neither place even when both are empty is
 *     -E2BIG (so is a value over 65535 bytes); one that does not fit the
 *     free room now is -ENOSPC.
 *   - system.posix_acl_access and system.posix_acl_default hold the kernel's
 *     blob, checked fully (acl.c's fs_acl_check: the kernel's rules).
 *     Setting the access ACL copies its owner, group-or-mask and other
 *     permissions into the mode; an access ACL equivalent to the mode (only
 *     the three base entries) is not stored (any stored one is removed), as
 *     Linux does. A default ACL on a non-directory is -EACCES; ACLs on
 *     symlinks -EOPNOTSUPP. A blob with no entries removes the ACL.
 *   - Every change sets ctime.
 */
#include "config.h"

#include "fs/fs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#define XAT_INODE_ROOM_MAX (1024 - FOLIO_INODE_FIXED)
#define XAT_VALUE_MAX	   65535

/* One place attributes live, copied to memory. */
struct xat_area {
	uint8_t *data;
	uint32_t used, room;
};

/* Both places of one inode while an operation looks at or changes them. */
struct xat_ctx {
	struct inode *inode;
	struct xat_area in, blk;
	uint64_t blkno;			  /* the inode's xattr block, 0 if none */
	struct buffer_head *bh;		  /* its buffer while loaded */
	uint8_t ibuf[XAT_INODE_ROOM_MAX]; /* last: xat_load() clears what is before */
};

/* ------------------------------------------------------------------ */
/* Loading and searching                                               */
/* ------------------------------------------------------------------ */

/* Walk an area to check it; returns the entry count or -EUCLEAN. */
static int xat_count(struct xat_ctx *x, const struct xat_area *a)
{
	struct folio_xattr_ref r;
	uint32_t off = 0;
	int ret, n = 0;

	while ((ret = folio_xattr_next(a->data, a->used, &off, &r)) == 1)
		n++;
	if (ret < 0)
		return fs_corrupt(x->inode->fs, x->inode->ino,
				  "malformed xattr entry at offset %u of %s %" PRIu64, off,
				  a == &x->blk ? "the xattr block" : "the inode",
				  a == &x->blk ? x->blkno : x->inode->ino);
	return n;
}

static void xat_put(struct xat_ctx *x)
{
	brelse(x->bh);
	x->bh = NULL;
	free(x->blk.data);
	x->blk.data = NULL;
}

/* Copy the in-inode area and the block's payload; check both. */
static int xat_load(struct inode *inode, struct xat_ctx *x)
{
	struct fs *fs = inode->fs;
	int err = 0;

	memset(x, 0, offsetof(struct xat_ctx, ibuf));
	x->inode = inode;
	x->in.data = x->ibuf;
	x->in.room = fs->geom.xattr_inode_room;
	x->blk.room = fs->geom.block_size - FOLIO_BLK_PAYLOAD;
	x->blk.data = calloc(1, x->blk.room);
	if (!x->blk.data)
		return -ENOMEM;
	pthread_mutex_lock(&inode->i_lock);
	x->in.used = le16_to_cpu(inode->di->i_xattr_len);
	if (x->in.used <= x->in.room)
		memcpy(x->ibuf, inode->di->i_xattr, x->in.room);
	x->blkno = le64_to_cpu(inode->di->i_xattr_block);
	pthread_mutex_unlock(&inode->i_lock);
	if (x->in.used > x->in.room) {
		err = fs_corrupt(fs, inode->ino, "in-inode xattrs of %u bytes", x->in.used);
		goto fail;
	}
	if (x->blkno) {
		const struct folio_xattr_block *xb;

		x->bh = fs_bread_checked(fs, x->blkno, FOLIO_XATTR_MAGIC, inode->ino, &err);
		if (!x->bh)
			goto fail;
		xb = (const struct folio_xattr_block *)x->bh->b_data;
		x->blk.used = le16_to_cpu(xb->xb_used);
		if (x->blk.used > x->blk.room) {
			err = fs_corrupt(fs, inode->ino, "xattr block %" PRIu64 " of %u bytes",
					 x->blkno, x->blk.used);
			goto fail;
		}
		memcpy(x->blk.data, x->bh->b_data + FOLIO_BLK_PAYLOAD, x->blk.used);
	}
	if ((err = xat_count(x, &x->in)) < 0 || (err = xat_count(x, &x->blk)) < 0)
		goto fail;
	if (x->bh &&
	    (unsigned)err !=
		    le16_to_cpu(((const struct folio_xattr_block *)x->bh->b_data)->xb_count)) {
		err = fs_corrupt(fs, inode->ino, "xattr block %" PRIu64 ": entry count", x->blkno);
		goto fail;
	}
	return 0;
fail:
	xat_put(x);
	return err ? err : -EIO;
}

/* Find (index, name) in @a. Return: true with @r filled. */
static bool xat_find(const struct xat_area *a, uint8_t index, const char *name, size_t len,
		     struct folio_xattr_ref *r)
{
	uint32_t off = 0;

	while (folio_xattr_next(a->data, a->used, &off, r) == 1)
		if (r->index == index && r->namelen == len && !memcmp(r->name, name, len))
			return true;
	return false;
}

/* The area holding (index, name), or NULL. */
static struct xat_area *xat_lookup(struct xat_ctx *x, uint8_t index, const char *name, size_t len,
				   struct folio_xattr_ref *r)
{
	if (xat_find(&x->in, index, name, len, r))
		return &x->in;
	if (xat_find(&x->blk, index, name, len, r))
		return &x->blk;
	return NULL;
}

static void xat_area_remove(struct xat_area *a, const struct folio_xattr_ref *r)
{
	memmove(a->data + r->offset, a->data + r->offset + r->size, a->used - r->offset - r->size);
	a->used -= r->size;
	memset(a->data + a->used, 0, r->size);
}

/* ------------------------------------------------------------------ */
/* Committing                                                          */
/* ------------------------------------------------------------------ */

/* Write the block payload into @bh (existing or new). */
static void xat_block_write(struct xat_ctx *x, struct buffer_head *bh, int count)
{
	struct folio_xattr_block *xb;

	lock_buffer(bh);
	xb = (struct folio_xattr_block *)bh->b_data;
	xb->xb_count = cpu_to_le16((uint16_t)count);
	xb->xb_used = cpu_to_le16((uint16_t)x->blk.used);
	xb->xb_reserved = 0;
	memcpy(bh->b_data + FOLIO_BLK_PAYLOAD, x->blk.data, x->blk.room);
	fs_block_dirty(x->inode->fs, bh);
	unlock_buffer(bh);
}

/* Allocate the inode's xattr block with its buffer. */
static struct buffer_head *xat_block_new(struct xat_ctx *x, uint64_t *blk, int *err)
{
	struct fs *fs = x->inode->fs;
	uint64_t goal =
		folio_group_first_block(&fs->geom, folio_ino_group(&fs->geom, x->inode->ino));
	struct buffer_head *bh;
	int got = fs_alloc_blocks(fs, goal, 1, blk);

	if (got < 0) {
		*err = got;
		return NULL;
	}
	bh = fs_new_block(fs, *blk, FOLIO_XATTR_MAGIC, x->inode->ino, err);
	if (!bh)
		fs_free_blocks(fs, *blk, 1);
	return bh;
}

/* Store both areas (and @mode when @set_mode) in the inode and the block. */
static int xat_commit(struct xat_ctx *x, bool set_mode, mode_t mode)
{
	struct inode *inode = x->inode;
	struct folio_inode *di = inode->di;
	struct buffer_head *nbh = NULL;
	uint64_t nblk = 0, blocks;
	int count = xat_count(x, &x->blk), err = 0;
	bool drop = x->blkno && !x->blk.used;

	if (count < 0)
		return count;
	if (x->blk.used && !x->blkno) {
		nbh = xat_block_new(x, &nblk, &err);
		if (!nbh)
			return err ? err : -EIO;
	}
	if (x->blk.used)
		xat_block_write(x, nbh ? nbh : x->bh, count);
	pthread_mutex_lock(&inode->i_lock);
	memcpy(di->i_xattr, x->in.data, x->in.room);
	di->i_xattr_len = cpu_to_le16((uint16_t)x->in.used);
	blocks = le64_to_cpu(di->i_blocks);
	if (nbh) {
		di->i_xattr_block = cpu_to_le64(nblk);
		di->i_blocks = cpu_to_le64(blocks + 1);
	} else if (drop) {
		di->i_xattr_block = 0;
		di->i_blocks = cpu_to_le64(blocks ? blocks - 1 : 0);
	}
	if (set_mode)
		di->i_mode = cpu_to_le16((uint16_t)((le16_to_cpu(di->i_mode) & ~07777) | mode));
	pthread_mutex_unlock(&inode->i_lock);
	err = fs_inode_touch(inode, FS_CTIME);
	brelse(nbh);
	if (drop) {
		brelse(x->bh);
		x->bh = NULL;
		fs_free_blocks(inode->fs, x->blkno, 1);
	}
	return err;
}

/* ------------------------------------------------------------------ */
/* The interface                                                       */
/* ------------------------------------------------------------------ */

/**
 * __fs_getxattr - read one attribute
 * @inode: the inode
 * @name: full name ("user.foo", "system.posix_acl_access", ...)
 * @buf: where the value goes
 * @size: room in @buf; 0 asks for the length only
 *
 * Context: caller holds @inode's i_rwsem (shared is enough).
 * Return: the value's length; -ENODATA when absent; -ERANGE when @size is
 * non-zero and too small; -EOPNOTSUPP for an unknown namespace; -EINVAL or
 * -ERANGE for a bad name; -EUCLEAN, -ENOMEM or a read error.
 */
int __fs_getxattr(struct inode *inode, const char *name, void *buf, size_t size)
{
	struct folio_xattr_ref r;
	struct xat_ctx x;
	const char *sub;
	size_t sublen;
	uint8_t index;
	int ret = folio_xattr_split(name, &index, &sub, &sublen);

	if (ret)
		return ret;
	ret = xat_load(inode, &x);
	if (ret)
		return ret;
	if (!xat_lookup(&x, index, sub, sublen, &r))
		ret = -ENODATA;
	else if (size && size < r.valuelen)
		ret = -ERANGE;
	else {
		if (size)
			memcpy(buf, r.value, r.valuelen);
		ret = r.valuelen;
	}
	xat_put(&x);
	return ret;
}

/* Append the full names of @a to @buf (NULL: count only). */
static size_t xat_list_area(const struct xat_area *a, char *buf, size_t pos)
{
	struct folio_xattr_ref r;
	uint32_t off = 0;

	while (folio_xattr_next(a->data, a->used, &off, &r) == 1) {
		const char *prefix = folio_xattr_prefix(r.index);
		size_t plen = strlen(prefix);

		if (buf) {
			memcpy(buf + pos, prefix, plen);
			memcpy(buf + pos + plen, r.name, r.namelen);
			buf[pos + plen + r.namelen] = '\0';
		}
		pos += plen + r.namelen + 1;
	}
	return pos;
}

/**
 * __fs_listxattr - the names of every attribute, each NUL-terminated
 * @inode: the inode
 * @buf: where they go
 * @size: room in @buf; 0 asks for the length only
 *
 * Context: caller holds @inode's i_rwsem (shared is enough).
 * Return: bytes of the list; -ERANGE when @size is non-zero and too small;
 * -EUCLEAN, -ENOMEM or a read error.
 */
int __fs_listxattr(struct inode *inode, char *buf, size_t size)
{
	struct xat_ctx x;
	size_t len;
	int ret = xat_load(inode, &x);

	if (ret)
		return ret;
	len = xat_list_area(&x.blk, NULL, xat_list_area(&x.in, NULL, 0));
	if (size && size < len) {
		ret = -ERANGE;
	} else {
		if (size)
			xat_list_area(&x.blk, buf, xat_list_area(&x.in, buf, 0));
		ret = (int)len;
	}
	xat_put(&x);
	return ret;
}

/* Put a new entry where it fits: the inode first, then the block. */
static int xat_place(struct xat_ctx *x, uint8_t index, const char *sub, size_t sublen,
		     const void *value, size_t size)
{
	uint32_t es = folio_xattr_entry_size((uint32_t)sublen, (uint32_t)size);
	struct xat_area *a;

	if (es > x->in.room && es > x->blk.room)
		return -E2BIG;
	if (x->in.used + es <= x->in.room)
		a = &x->in;
	else if (x->blk.used + es <= x->blk.room)
		a = &x->blk;
	else
		return -ENOSPC;
	a->used += folio_xattr_encode(a->data + a->used, index, sub, (uint8_t)sublen, value,
				      (uint16_t)size);
	return 0;
}

struct xat_set {
	uint8_t index;
	const char *sub;
	size_t sublen;
	const void *value;
	size_t size;
	int flags;
	bool remove;   /* store nothing (equivalent access ACL, empty ACL) */
	bool set_mode; /* access ACL: mode bits follow it */
	mode_t mode;
};

/* Check an ACL value against the inode and work out its effect. */
static int xat_acl_prepare(struct inode *inode, struct xat_set *s)
{
	mode_t imode = fs_inode_mode(inode);
	bool equiv;
	int n;

	if (S_ISLNK(imode))
		return -EOPNOTSUPP;
	n = fs_acl_check(s->value, s->size);
	if (n < 0)
		return n;
	if (s->index == FOLIO_XATTR_ACL_DEFAULT) {
		s->remove = n == 0;
		if (!S_ISDIR(imode))
			return n ? -EACCES : 0;
		return 0;
	}
	if (n == 0) {
		s->remove = true;
		return 0;
	}
	s->set_mode = true;
	s->mode = (imode & 07000) | fs_acl_mode_from(s->value, s->size, &equiv);
	s->remove = equiv;
	return 0;
}

static int xat_set(struct inode *inode, struct xat_set *s)
{
	struct folio_xattr_ref r;
	struct xat_area *where;
	struct xat_ctx x;
	int ret = xat_load(inode, &x);

	if (ret)
		return ret;
	where = xat_lookup(&x, s->index, s->sub, s->sublen, &r);
	if ((s->flags & XATTR_CREATE) && where)
		ret = -EEXIST;
	else if ((s->flags & XATTR_REPLACE) && !where)
		ret = -ENODATA;
	if (ret)
		goto out;
	if (where)
		xat_area_remove(where, &r);
	if (!s->remove)
		ret = xat_place(&x, s->index, s->sub, s->sublen, s->value, s->size);
	if (!ret && (where || !s->remove || s->set_mode))
		ret = xat_commit(&x, s->set_mode, s->mode);
out:
	xat_put(&x);
	return ret;
}

/**
 * __fs_setxattr - create or replace one attribute
 * @inode: the inode
 * @name: full name
 * @value: the value
 * @size: its length
 * @flags: 0, XATTR_CREATE (fail if present) or XATTR_REPLACE (fail if absent)
 *
 * ACL names are checked and synchronised with the mode as the file comment
 * says. Sets ctime.
 *
 * Context: caller holds @inode's i_rwsem exclusively.
 * Return: 0; -EEXIST / -ENODATA for the flags; -E2BIG when the attribute
 * can never fit (or the value is over 65535 bytes); -ENOSPC when it does not
 * fit now or no block is free; -EOPNOTSUPP for an unknown namespace (or an
 * ACL on a symlink); -EINVAL for a bad name, ACL or flags; -ERANGE for a name
 * over 255 bytes; -EACCES for a default ACL on a non-directory; -EROFS;
 * -EUCLEAN, -ENOMEM or an I/O error.
 */
int __fs_setxattr(struct inode *inode, const char *name, const void *value, size_t size, int flags)
{
	struct xat_set s = {.value = value, .size = size, .flags = flags};
	int ret = fs_check_writable(inode->fs);

	if (ret)
		return ret;
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	ret = folio_xattr_split(name, &s.index, &s.sub, &s.sublen);
	if (ret)
		return ret;
	if (size > XAT_VALUE_MAX)
		return -E2BIG;
	if (s.index == FOLIO_XATTR_ACL_ACCESS || s.index == FOLIO_XATTR_ACL_DEFAULT) {
		ret = xat_acl_prepare(inode, &s);
		if (ret)
			return ret;
	}
	return xat_set(inode, &s);
}

/**
 * __fs_removexattr - remove one attribute
 * @inode: the inode
 * @name: full name
 *
 * Removing the access ACL leaves the mode as it is. Sets ctime; frees the
 * xattr block when it empties.
 *
 * Context: caller holds @inode's i_rwsem exclusively.
 * Return: 0; -ENODATA when absent; -EOPNOTSUPP, -EINVAL, -ERANGE for the name;
 * -EROFS; -EUCLEAN, -ENOMEM or a read error.
 */
int __fs_removexattr(struct inode *inode, const char *name)
{
	struct xat_set s = {.flags = XATTR_REPLACE, .remove = true};
	int ret = fs_check_writable(inode->fs);

	if (ret)
		return ret;
	ret = folio_xattr_split(name, &s.index, &s.sub, &s.sublen);
	if (ret)
		return ret;
	return xat_set(inode, &s);
}

/**
 * fs_xattr_free - drop every attribute and free the xattr block (eviction)
 * @inode: the inode, unused by anyone else
 *
 * Context: the caller owns @inode.
 * Return: 0 or the error of writing the inode.
 */
int fs_xattr_free(struct inode *inode)
{
	struct folio_inode *di = inode->di;
	uint64_t blk, blocks;
	int ret;

	pthread_mutex_lock(&inode->i_lock);
	blk = le64_to_cpu(di->i_xattr_block);
	memset(di->i_xattr, 0, inode->fs->geom.xattr_inode_room);
	di->i_xattr_len = 0;
	di->i_xattr_block = 0;
	blocks = le64_to_cpu(di->i_blocks);
	if (blk)
		di->i_blocks = cpu_to_le64(blocks ? blocks - 1 : 0);
	pthread_mutex_unlock(&inode->i_lock);
	ret = fs_inode_write(inode);
	if (blk && blk < inode->fs->geom.blocks_count)
		fs_free_blocks(inode->fs, blk, 1);
	return ret;
}

/* ---- the same, taking the inode's i_rwsem ---- */

/**
 * fs_getxattr - __fs_getxattr() under @inode's i_rwsem (shared)
 * @inode: the inode
 * @name: full name
 * @buf: where the value goes
 * @size: room in @buf; 0 asks for the length only
 *
 * Context: may sleep; the caller holds no lock of @inode.
 * Return: as __fs_getxattr().
 */
int fs_getxattr(struct inode *inode, const char *name, void *buf, size_t size)
{
	int ret;

	pthread_rwlock_rdlock(&inode->i_rwsem);
	ret = __fs_getxattr(inode, name, buf, size);
	pthread_rwlock_unlock(&inode->i_rwsem);
	return ret;
}

/**
 * fs_listxattr - __fs_listxattr() under @inode's i_rwsem (shared)
 * @inode: the inode
 * @buf: where the names go
 * @size: room in @buf; 0 asks for the length only
 *
 * Context: may sleep; the caller holds no lock of @inode.
 * Return: as __fs_listxattr().
 */
int fs_listxattr(struct inode *inode, char *buf, size_t size)
{
	int ret;

	pthread_rwlock_rdlock(&inode->i_rwsem);
	ret = __fs_listxattr(inode, buf, size);
	pthread_rwlock_unlock(&inode->i_rwsem);
	return ret;
}

/**
 * fs_setxattr - __fs_setxattr() under @inode's i_rwsem (exclusive)
 * @inode: the inode
 * @name: full name
 * @value: the value
 * @size: its length
 * @flags: 0, XATTR_CREATE or XATTR_REPLACE
 *
 * Context: may sleep; the caller holds no lock of @inode.
 * Return: as __fs_setxattr().
 */
int fs_setxattr(struct inode *inode, const char *name, const void *value, size_t size, int flags)
{
	int ret;

	pthread_rwlock_wrlock(&inode->i_rwsem);
	fs_tx_begin(inode->fs);
	ret = __fs_setxattr(inode, name, value, size, flags);
	fs_tx_end(inode->fs);
	if (ret == -ENOSPC && fs_journal_retry_enospc(inode->fs)) {
		fs_tx_begin(inode->fs);
		ret = __fs_setxattr(inode, name, value, size, flags);
		fs_tx_end(inode->fs);
	}
	pthread_rwlock_unlock(&inode->i_rwsem);
	return ret;
}

/**
 * fs_removexattr - __fs_removexattr() under @inode's i_rwsem (exclusive)
 * @inode: the inode
 * @name: full name
 *
 * Context: may sleep; the caller holds no lock of @inode.
 * Return: as __fs_removexattr().
 */
int fs_removexattr(struct inode *inode, const char *name)
{
	int ret;

	pthread_rwlock_wrlock(&inode->i_rwsem);
	fs_tx_begin(inode->fs);
	ret = __fs_removexattr(inode, name);
	fs_tx_end(inode->fs);
	pthread_rwlock_unlock(&inode->i_rwsem);
	return ret;
}
