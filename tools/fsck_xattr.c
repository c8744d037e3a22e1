/*
 * tools/fsck_xattr.c - fsck.foliofs: extended attributes.
 *
 * Interface (tools/fsck.h): fsck_check_xattrs() checks the in-inode area
 * (i_xattr_len bytes from offset 192) and the xattr block (i_xattr_block):
 * entries well formed with a known namespace index, no name twice across both
 * places, ACL values in the kernel's format, the block's header, checksum,
 * owner, used bytes and entry count. It claims the xattr block.
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

/* Check every entry of one area; returns the number of entries or -1. */
static int fsck_xattr_area(struct fsck *f, uint32_t ino, const void *area, uint32_t used,
			   const char *where, struct fsck_xnames *seen)
{
	struct folio_xattr_ref r;
	uint32_t off = 0;
	int ret, count = 0;

	while ((ret = folio_xattr_next(area, used, &off, &r)) == 1) {
		count++;
		if ((r.index == FOLIO_XATTR_ACL_ACCESS || r.index == FOLIO_XATTR_ACL_DEFAULT) &&
		    !folio_acl_valid(r.value, r.valuelen))
			fsck_problem(f, "inode %u: %s: malformed %s value", ino, where,
				     folio_xattr_prefix(r.index));
		if (fsck_xattr_dup(seen, &r))
			fsck_problem(f, "inode %u: %s: attribute %s%.*s stored twice", ino, where,
				     folio_xattr_prefix(r.index), (int)r.namelen, r.name);
		else if (seen->n < FSCK_XATTR_MAX)
			seen->ref[seen->n++] = r;
	}
	if (ret < 0) {
		fsck_problem(f, "inode %u: %s: malformed attribute entry at offset %u", ino, where,
			     off);
		return -1;
	}
	return count;
}

/* Read and check the xattr block; its entries must stay in @buf while
 * @seen refers to them. */
static void fsck_xattr_block(struct fsck *f, uint32_t ino, uint64_t blk, uint8_t *buf,
			     struct fsck_xnames *seen)
{
	const struct folio_xattr_block *xb = (const void *)buf;
	uint32_t used;
	int ret, count;

	if (!fsck_range_ok(f, blk, 1)) {
		fsck_problem(f, "inode %u: xattr block %" PRIu64 " outside the filesystem", ino,
			     blk);
		return;
	}
	fsck_claim(f, blk, 1, ino, FK_XATTR);
	f->n_tree_blocks++;
	fsck_read(f, blk, 1, buf);
	ret = folio_block_check(f->seed, buf, f->g.block_size, FOLIO_XATTR_MAGIC, blk, ino);
	if (ret == -EBADMSG)
		fsck_problem(f, "inode %u: xattr block %" PRIu64 ": checksum mismatch", ino, blk);
	else if (ret) {
		fsck_problem(f,
			     "inode %u: xattr block %" PRIu64 ": bad magic, block number or owner",
			     ino, blk);
		return;
	}
	used = le16_to_cpu(xb->xb_used);
	if (used > f->g.block_size - FOLIO_BLK_PAYLOAD) {
		fsck_problem(f, "inode %u: xattr block %" PRIu64 ": %u bytes used", ino, blk, used);
		return;
	}
	count = fsck_xattr_area(f, ino, buf + FOLIO_BLK_PAYLOAD, used, "xattr block", seen);
	if (count >= 0 && count != le16_to_cpu(xb->xb_count))
		fsck_problem(f, "inode %u: xattr block %" PRIu64 ": count %u, %d entries", ino, blk,
			     le16_to_cpu(xb->xb_count), count);
}

/**
 * fsck_check_xattrs - check an inode's extended attributes
 * @f: the check
 * @ino: the inode number
 * @in: the inode (s_inode_size bytes)
 *
 * Context: fsck's only thread.
 * Return: true when no problem was found.
 */
bool fsck_check_xattrs(struct fsck *f, uint32_t ino, const struct folio_inode *in)
{
	static struct fsck_xnames names; /* fsck is single-threaded */
	struct fsck_xnames *seen = &names;
	uint32_t len = le16_to_cpu(in->i_xattr_len);
	uint64_t blk = le64_to_cpu(in->i_xattr_block);
	uint64_t before = f->problems;
	uint8_t *buf = NULL;

	seen->n = 0;
	if (len > f->g.xattr_inode_room)
		fsck_problem(f, "inode %u: in-inode xattrs of %u bytes exceed the %u-byte area",
			     ino, len, f->g.xattr_inode_room);
	else
		fsck_xattr_area(f, ino, in->i_xattr, len, "in-inode xattrs", seen);
	if (blk) {
		buf = fsck_block_alloc(1, f->g.block_size);
		fsck_xattr_block(f, ino, blk, buf, seen);
	}
	free(buf);
	return f->problems == before;
}
