/*
 * tools/fsck_xattr.c - fsck.foliofs: extended attributes.
 *
 * Interface (tools/fsck.h): fsck_check_xattrs() checks the in-inode area
 * (i_xattr_len bytes from offset 192) and the xattr block (i_xattr_block):
 * entries well formed with a known namespace index, no name twice across both
 * places, ACL values in the kernel's format, the block's header, checksum,
 * owner, used bytes and entry count. It claims the xattr block.
 *
 * -y drops a place that breaks a rule: the in-inode area is emptied, the
 * xattr block is detached (and freed by the bitmap rebuild); a block whose
 * only fault is its checksum or count is rewritten.
 */
#include "config.h"

#include "tools/fsck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define FSCK_XATTR_MAX 512 /* names remembered per inode for the duplicate check */

struct fsck_xnames {
	struct folio_xattr_ref ref[FSCK_XATTR_MAX];
	unsigned n;
};

static bool fsck_xattr_dup(const struct fsck_xnames *seen, const struct folio_xattr_ref *r)
{
	for (unsigned i = 0; i < seen->n; i++) {
		const struct folio_xattr_ref *s = &seen->ref[i];

		if (s->index == r->index && s->namelen == r->namelen &&
		    !memcmp(s->name, r->name, r->namelen))
			return true;
	}
	return false;
}

/* Check every entry of one area; returns the number of entries, or -1
 * when any is wrong (reported; -y then drops the area). */
static int fsck_xattr_area(struct fsck *f, uint32_t ino, const void *area, uint32_t used,
			   const char *where, struct fsck_xnames *seen)
{
	struct folio_xattr_ref r;
	uint32_t off = 0;
	int ret, count = 0;
	bool bad = false;

	while ((ret = folio_xattr_next(area, used, &off, &r)) == 1) {
		count++;
		if ((r.index == FOLIO_XATTR_ACL_ACCESS || r.index == FOLIO_XATTR_ACL_DEFAULT) &&
		    !folio_acl_valid(r.value, r.valuelen)) {
			fsck_fix(f, FX_YES, "inode %u: %s: malformed %s value", ino, where,
				 folio_xattr_prefix(r.index));
			bad = true;
		}
		if (fsck_xattr_dup(seen, &r)) {
			fsck_fix(f, FX_YES, "inode %u: %s: attribute %s%.*s stored twice", ino,
				 where, folio_xattr_prefix(r.index), (int)r.namelen, r.name);
			bad = true;
		} else if (seen->n < FSCK_XATTR_MAX) {
			seen->ref[seen->n++] = r;
		}
	}
	if (ret < 0) {
		fsck_fix(f, FX_YES, "inode %u: %s: malformed attribute entry at offset %u", ino,
			 where, off);
		return -1;
	}
	return bad ? -1 : count;
}

/* Read and check the xattr block; its entries must stay in @buf while
 * @seen refers to them. False when -y must detach it. */
static bool fsck_xattr_block(struct fsck *f, uint32_t ino, uint64_t blk, uint8_t *buf,
			     struct fsck_xnames *seen)
{
	struct folio_xattr_block *xb = (void *)buf;
	bool rewrite = false;
	uint32_t used;
	int ret, count;

	if (!fsck_range_ok(f, blk, 1) || !fsck_claim_free(f, blk, 1)) {
		fsck_fix(f, FX_YES, "inode %u: xattr block %" PRIu64 " %s", ino, blk,
			 fsck_range_ok(f, blk, 1) ? "already in use" : "outside the filesystem");
		return false;
	}
	fsck_claim(f, blk, 1, ino, FK_XATTR);
	f->n_tree_blocks++;
	fsck_read(f, blk, 1, buf);
	ret = folio_block_check(f->seed, buf, f->g.block_size, FOLIO_XATTR_MAGIC, blk, ino);
	if (ret && ret != -EBADMSG) {
		fsck_fix(f, FX_YES,
			 "inode %u: xattr block %" PRIu64 ": bad magic, block number or owner", ino,
			 blk);
		return false;
	}
	used = le16_to_cpu(xb->xb_used);
	if (used > f->g.block_size - FOLIO_BLK_PAYLOAD) {
		fsck_fix(f, FX_YES, "inode %u: xattr block %" PRIu64 ": %u bytes used", ino, blk,
			 used);
		return false;
	}
	count = fsck_xattr_area(f, ino, buf + FOLIO_BLK_PAYLOAD, used, "xattr block", seen);
	if (count < 0)
		return false;
	if (ret == -EBADMSG)
		rewrite |=
			fsck_fix(f, FX_YES, "inode %u: xattr block %" PRIu64 ": checksum mismatch",
				 ino, blk);
	if (count != le16_to_cpu(xb->xb_count) &&
	    fsck_fix(f, FX_YES, "inode %u: xattr block %" PRIu64 ": count %u, %d entries", ino, blk,
		     le16_to_cpu(xb->xb_count), count)) {
		xb->xb_count = cpu_to_le16((uint16_t)count);
		rewrite = true;
	}
	if (rewrite) {
		folio_block_csum_set(f->seed, buf, f->g.block_size);
		fsck_write(f, blk, 1, buf);
	}
	return true;
}

/**
 * fsck_check_xattrs - check an inode's extended attributes
 * @f: the check
 * @ino: the inode number
 * @in: the inode (s_inode_size bytes; -y may change it)
 * @dirty: set when -y changed @in
 *
 * Context: fsck's only thread.
 * Return: true when no problem was found.
 */
bool fsck_check_xattrs(struct fsck *f, uint32_t ino, struct folio_inode *in, bool *dirty)
{
	static struct fsck_xnames names; /* fsck is single-threaded */
	struct fsck_xnames *seen = &names;
	uint32_t len = le16_to_cpu(in->i_xattr_len);
	uint64_t blk = le64_to_cpu(in->i_xattr_block);
	uint64_t before = f->problems;
	uint8_t *buf = NULL;

	bool bad = false;

	seen->n = 0;
	if (len > f->g.xattr_inode_room) {
		fsck_fix(f, FX_YES, "inode %u: in-inode xattrs of %u bytes exceed the %u-byte area",
			 ino, len, f->g.xattr_inode_room);
		bad = true;
	} else {
		bad = fsck_xattr_area(f, ino, in->i_xattr, len, "in-inode xattrs", seen) < 0;
	}
	if (bad && f->mode == FSCK_YES) {
		memset(in->i_xattr, 0, f->g.xattr_inode_room);
		in->i_xattr_len = 0;
		*dirty = true;
		seen->n = 0;
	}
	if (blk) {
		buf = fsck_block_alloc(1, f->g.block_size);
		if (!fsck_xattr_block(f, ino, blk, buf, seen) && f->mode == FSCK_YES) {
			in->i_xattr_block = 0;
			*dirty = true;
		}
	}
	free(buf);
	return f->problems == before;
}
