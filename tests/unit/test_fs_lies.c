/*
 * tests/unit/test_fs_lies.c - the checks on what the image says, one lie at
 * a time: an image is made and populated through the filesystem, unmounted,
 * changed in one value with every checksum recomputed (so only the check
 * behind the checksum can catch it), and mounted again. The operation that
 * meets the lie must fail with -EUCLEAN, mark the filesystem with errors
 * and turn it read-only; a removed check makes its case fail. Also
 * fs_blocks_are_data() against the layout itself, and errors=continue
 * (writable afterwards, ERRORS on the image before the unmount).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/fsfix.h"
#include "tests/lib/tap.h"

/* The unmounted image in memory. */
struct img {
	uint8_t *mem;
	size_t len;
	struct folio_super *sb;
	struct folio_geom g;
	uint32_t seed;
	struct folio_group_desc *gdt;
};

/* What the populated image holds. */
struct layout {
	uint32_t small, frag; /* one extent in the inode; a tree of depth 1 */
	uint64_t node;	      /* frag's leaf */
};

static void img_load(struct fsfix *t, struct img *im)
{
	char msg[200];

	im->mem = fsfix_slurp(t->image, &im->len);
	im->sb = (struct folio_super *)im->mem;
	if (folio_sb_validate(im->sb, im->len, 0, &im->g, msg, sizeof(msg)))
		BAIL("%s", msg);
	im->seed = folio_fs_seed(im->sb->s_uuid);
	im->gdt = (struct folio_group_desc *)(im->mem + (im->g.gdt_block << im->g.block_shift));
}

static uint8_t *img_blk(struct img *im, uint64_t b)
{
	return im->mem + (b << im->g.block_shift);
}

static struct folio_inode *img_inode(struct img *im, uint32_t ino)
{
	uint64_t b;
	uint32_t off;

	folio_inode_pos(&im->g, le64_to_cpu(im->gdt[folio_ino_group(&im->g, ino)].bg_inode_table),
			ino, &b, &off);
	return (struct folio_inode *)(img_blk(im, b) + off);
}

/* Recompute the checksums of @ino, block @blk (0: none) and group 0, and
 * write the image back. */
static void img_store(struct fsfix *t, struct img *im, uint32_t ino, uint64_t blk)
{
	struct folio_group_desc *gd = &im->gdt[0];

	if (ino)
		folio_inode_csum_set(im->seed, ino, img_inode(im, ino), im->g.inode_size);
	if (blk)
		folio_block_csum_set(im->seed, img_blk(im, blk), im->g.block_size);
	gd->bg_block_bitmap_csum = cpu_to_le32(folio_bitmap_csum(
		im->seed, img_blk(im, le64_to_cpu(gd->bg_block_bitmap)), im->g.block_size));
	folio_gd_csum_set(im->seed, 0, gd);
	fsfix_patch(t->image, 0, im->mem, im->len);
	free(im->mem);
}

/* A fresh image with "small" (one block) and "frag" (8 one-block extents
 * with holes between: a leaf node under the root). */
static void populate(struct fsfix *t, struct layout *l)
{
	struct inode *inode;
	struct fs_file *f;

	fsfix_mkfs(t, 1024, "8M", NULL);
	fsfix_mount(t);
	inode = fsfix_create(t, "small");
	f = fsfix_open(inode, O_RDWR);
	fsfix_write_pattern(f, 1, 0, 1024);
	fs_release(f);
	l->small = inode->ino;
	fsfix_put(inode);
	inode = fsfix_create(t, "frag");
	f = fsfix_open(inode, O_RDWR);
	for (int i = 0; i < 8; i++)
		fsfix_write_pattern(f, 2, (uint64_t)i * 2048, 1024);
	fs_release(f);
	if (le16_to_cpu(inode->di->i_extents.eh.eh_depth) != 1)
		BAIL("frag: depth %u", le16_to_cpu(inode->di->i_extents.eh.eh_depth));
	l->frag = inode->ino;
	l->node = le64_to_cpu(inode->di->i_extents.idx[0].ei_child);
	fsfix_put(inode);
	fsfix_umount_or_bail(t);
}

/* Read a byte of @name: the errno, 0 when it reads. */
static int read_one(struct fsfix *t, const char *name)
{
	struct inode *inode;
	struct fs_file *f;
	uint8_t b;
	ssize_t n;
	int err = fs_lookup(t->root, name, &inode);

	if (err)
		return err;
	err = fs_open(inode, O_RDONLY, &f);
	if (!err) {
		n = fs_read(f, &b, 1, 0);
		err = n < 0 ? (int)n : 0;
		fs_release(f);
	}
	fsfix_put(inode);
	return err;
}

/* Write a new file (allocates): the errno, 0 when it is written. */
static int write_new(struct fsfix *t, const char *name)
{
	struct inode *inode;
	struct fs_file *f;
	ssize_t n;
	int err = fs_create(t->root, name, S_IFREG | 0644, 0, &fsfix_cred, &inode);

	if (err)
		return err;
	err = fs_open(inode, O_RDWR, &f);
	if (!err) {
		char buf[4096];

		memset(buf, 'x', sizeof(buf));
		n = fs_write(f, buf, sizeof(buf), 0);
		err = n < 0 ? (int)n : fs_fsync(f, false);
		fs_release(f);
	}
	fsfix_put(inode);
	return err;
}

/* Mount the lying image, run @name's operation, check what follows. */
static void expect_lie(struct fsfix *t, const char *what, int (*op)(struct fsfix *, const char *),
		       const char *name)
{
	struct folio_super sb;

	fsfix_mount(t);
	is_int(op(t, name), -EUCLEAN, "%s: -EUCLEAN", what);
	ok(atomic_load(&t->fs->errors), "%s: the filesystem has errors", what);
	is_int(fs_check_writable(t->fs), -EROFS, "%s: and is read-only", what);
	fsfix_umount(t);
	fsfix_read_sb(t, &sb);
	ok(le16_to_cpu(sb.s_state) & FOLIO_STATE_ERRORS, "%s: ERRORS on the image", what);
	fsfix_cleanup(t);
}

enum lie {
	LIE_EXT_BITMAP,	  /* small's extent on the block bitmap */
	LIE_EXT_ITABLE,	  /* ... on the inode table */
	LIE_EXT_SB,	  /* ... on the superblock */
	LIE_EXT_JOURNAL,  /* ... on the journal */
	LIE_EXT_PAST,	  /* ... past the end */
	LIE_EXT_LONG,	  /* ... running past the end */
	LIE_LEAF_ORDER,	  /* frag's leaf: two extents swapped */
	LIE_LEAF_PHYS,	  /* ... two extents on one block */
	LIE_LEAF_ZERO,	  /* ... an extent of length 0 */
	LIE_LEAF_FLAGS,	  /* ... unknown flags */
	LIE_LEAF_SELF,	  /* ... an extent over the leaf itself */
	LIE_LEAF_RANGE,	  /* ... an extent past the logical limit */
	LIE_IDX_ITABLE,	  /* frag's root index: child on the inode table */
	LIE_IDX_PAST,	  /* ... child past the end */
	LIE_NSEC,	  /* small's mtime nanoseconds */
	LIE_SIZE,	  /* small's size beyond the largest file */
	LIE_NLINK0,	  /* small has no link but a name */
	LIE_XATTR_BLK,	  /* small's xattr block on the bitmap */
	LIE_DIRENT_INO,	  /* the root's record of small names inode 3 */
	LIE_DIRENT_FREE,  /* ... names a free inode */
	LIE_DIRENT_TYPE,  /* ... has file type 3 */
	LIE_BITMAP_META,  /* group 0's inode table marked free */
	LIE_BITMAP_COUNT, /* group 0's free count one more than its bitmap */
	NR_LIES
};

static const char *const lie_names[NR_LIES] = {
	"extent on the block bitmap",
	"extent on the inode table",
	"extent on the superblock",
	"extent on the journal",
	"extent past the end",
	"extent running past the end",
	"leaf out of order",
	"leaf extents sharing a block",
	"leaf extent of length 0",
	"leaf extent flags",
	"leaf extent over its node",
	"leaf extent past 2^48",
	"index child on the inode table",
	"index child past the end",
	"nanoseconds",
	"huge size",
	"no link but a name",
	"xattr block on metadata",
	"record naming inode 3",
	"record naming a free inode",
	"record of file type 3",
	"inode table marked free",
	"free count against the bitmap",
};

/* The root directory's record of @name (a one-leaf tree). */
static struct folio_dirent *img_dirent(struct img *im, const char *name)
{
	uint8_t *leaf = img_blk(im, le64_to_cpu(img_inode(im, FOLIO_ROOT_INO)->i_dir.dr_root));
	const struct folio_dir_node *dn = (const void *)leaf;
	const struct folio_dirent *de;
	uint32_t off = 0;

	while (folio_dirent_next(leaf + FOLIO_BLK_PAYLOAD, le16_to_cpu(dn->dn_used), &off, &de) ==
	       1)
		if (de->de_namelen == strlen(name) && !memcmp(de->de_name, name, de->de_namelen))
			return (struct folio_dirent *)de;
	BAIL("no record of %s", name);
	return NULL;
}

/* Change the one value @lie names; returns the inode and block to reseal. */
static void apply(struct img *im, const struct layout *l, enum lie lie, uint32_t *ino,
		  uint64_t *blk)
{
	struct folio_inode *s = img_inode(im, l->small), *fr = img_inode(im, l->frag);
	struct folio_extent *se = &s->i_extents.ext[0];
	struct folio_extent *le = (void *)(img_blk(im, l->node) + FOLIO_BLK_PAYLOAD);
	uint8_t *bm = img_blk(im, le64_to_cpu(im->gdt[0].bg_block_bitmap));
	uint64_t it = le64_to_cpu(im->gdt[0].bg_inode_table), end = im->g.blocks_count;

	*ino = l->small;
	*blk = 0;
	switch (lie) {
	case LIE_EXT_BITMAP:
		se->ee_pblk = im->gdt[0].bg_block_bitmap;
		break;
	case LIE_EXT_ITABLE:
		se->ee_pblk = cpu_to_le64(it + im->g.itable_blocks - 1);
		break;
	case LIE_EXT_SB:
		se->ee_pblk = 0;
		break;
	case LIE_EXT_JOURNAL:
		se->ee_pblk = im->sb->s_journal_block;
		break;
	case LIE_EXT_PAST:
		se->ee_pblk = cpu_to_le64(end);
		break;
	case LIE_EXT_LONG:
		se->ee_len = cpu_to_le32((uint32_t)end);
		break;
	case LIE_NLINK0:
		s->i_nlink = 0;
		break;
	case LIE_NSEC:
		s->i_mtime_nsec = cpu_to_le32(1000000000u);
		break;
	case LIE_SIZE:
		s->i_size = cpu_to_le64(FOLIO_MAX_LBLK << 10 | 1);
		break;
	case LIE_XATTR_BLK:
		s->i_xattr_block = im->gdt[0].bg_inode_bitmap;
		break;
	case LIE_DIRENT_INO:
		img_dirent(im, "small")->de_ino = cpu_to_le32(3);
		goto dir;
	case LIE_DIRENT_FREE:
		img_dirent(im, "small")->de_ino = cpu_to_le32(im->g.inodes_count);
		goto dir;
	case LIE_DIRENT_TYPE:
		img_dirent(im, "small")->de_type = 3;
		goto dir;
	case LIE_BITMAP_META: /* the count follows the bitmap */
		bm[(it + 1) / 8] &= (uint8_t) ~(1u << ((it + 1) % 8));
		/* fall through */
	case LIE_BITMAP_COUNT:
		im->gdt[0].bg_free_blocks = cpu_to_le32(le32_to_cpu(im->gdt[0].bg_free_blocks) + 1);
		*ino = 0;
		break;
	default:
		*ino = l->frag;
		*blk = l->node;
		switch (lie) {
		case LIE_LEAF_ORDER: {
			struct folio_extent x = le[0];

			le[0] = le[1];
			le[1] = x;
			break;
		}
		case LIE_LEAF_PHYS:
			le[1].ee_pblk = le[0].ee_pblk;
			break;
		case LIE_LEAF_ZERO:
			le[2].ee_len = 0;
			break;
		case LIE_LEAF_FLAGS:
			le[0].ee_flags = cpu_to_le32(0x80);
			break;
		case LIE_LEAF_SELF:
			le[0].ee_pblk = cpu_to_le64(l->node);
			break;
		case LIE_LEAF_RANGE:
			le[7].ee_lblk = cpu_to_le64(FOLIO_MAX_LBLK - 1);
			le[7].ee_len = cpu_to_le32(2);
			break;
		case LIE_IDX_ITABLE:
			fr->i_extents.idx[0].ei_child = cpu_to_le64(it);
			*blk = 0;
			break;
		case LIE_IDX_PAST:
			fr->i_extents.idx[0].ei_child = cpu_to_le64(end + 7);
			*blk = 0;
			break;
		default:
			BAIL("lie %d", lie);
		}
	}
	return;
dir:
	*ino = 0;
	*blk = le64_to_cpu(img_inode(im, FOLIO_ROOT_INO)->i_dir.dr_root);
}

/* The operation that meets @lie. */
static int (*lie_op(enum lie lie, const char **name))(struct fsfix *, const char *)
{
	*name = "small";
	if (lie == LIE_BITMAP_META || lie == LIE_BITMAP_COUNT) {
		*name = "new";
		return write_new;
	}
	if (lie >= LIE_LEAF_ORDER && lie <= LIE_IDX_PAST)
		*name = "frag";
	return read_one;
}

static void test_lie(enum lie lie)
{
	struct layout l;
	struct fsfix t;
	struct img im;
	const char *name;
	uint32_t ino;
	uint64_t blk;
	int (*op)(struct fsfix *, const char *) = lie_op(lie, &name);

	populate(&t, &l);
	fsfix_mount(&t);
	is_int(op(&t, op == write_new ? "new0" : name), 0,
	       "%s: before the lie, the operation works", lie_names[lie]);
	fsfix_umount_or_bail(&t);
	img_load(&t, &im);
	apply(&im, &l, lie, &ino, &blk);
	img_store(&t, &im, ino, blk);
	expect_lie(&t, lie_names[lie], op, name);
}

/* fs_blocks_are_data() against the layout of a fresh image. */
static void test_blocks_are_data(void)
{
	struct fsfix t;
	struct fs *fs;
	struct folio_group_desc gd;
	uint64_t j, jn, end;

	fsfix_mkfs(&t, 1024, "16M", NULL);
	fsfix_mount(&t);
	fs = t.fs;
	end = fs->geom.blocks_count;
	j = le64_to_cpu(fs->sb.s_journal_block);
	jn = le64_to_cpu(fs->sb.s_journal_blocks);
	ok(jn > 0, "the image has a journal (%llu blocks)", (unsigned long long)jn);
	ok(!fs_blocks_are_data(fs, 0, 1), "superblock: not data");
	ok(!fs_blocks_are_data(fs, fs->geom.gdt_block, 1), "descriptor table: not data");
	for (uint32_t g = 0; g < fs->geom.groups_count; g++) {
		uint64_t it;

		if (fs_read_gd(fs, g, &gd))
			BAIL("gd %u", g);
		it = le64_to_cpu(gd.bg_inode_table);
		ok(!fs_blocks_are_data(fs, le64_to_cpu(gd.bg_block_bitmap), 1) &&
			   !fs_blocks_are_data(fs, le64_to_cpu(gd.bg_inode_bitmap), 1) &&
			   !fs_blocks_are_data(fs, it, 1) &&
			   !fs_blocks_are_data(fs, it + fs->geom.itable_blocks - 1, 1) &&
			   fs_blocks_are_data(fs, it + fs->geom.itable_blocks, 1) ==
				   !(it + fs->geom.itable_blocks >= j &&
				     it + fs->geom.itable_blocks < j + jn),
		   "group %u: bitmaps and inode table are not data, the block after it is "
		   "(unless the journal)",
		   g);
		ok(!fs_blocks_are_data(fs, it - 5, 10), "group %u: a run into the inode table", g);
	}
	ok(!fs_blocks_are_data(fs, j, 1) && !fs_blocks_are_data(fs, j + jn - 1, 1),
	   "journal: not data");
	ok(fs_blocks_are_data(fs, j + jn, 1), "the block after the journal is data");
	ok(!fs_blocks_are_data(fs, j - 1, 2), "a run into the journal");
	ok(fs_blocks_are_data(fs, end - 2, 1), "the second-last block is data");
	ok(!fs_blocks_are_data(fs, end - 1, 1) ||
		   !(le32_to_cpu(fs->sb.s_feature_compat) & FOLIO_COMPAT_BACKUP_SB),
	   "the backup superblock is not data");
	ok(!fs_blocks_are_data(fs, end, 1), "past the end");
	ok(!fs_blocks_are_data(fs, end - 2, 3), "running past the end");
	ok(!fs_blocks_are_data(fs, end - 2, UINT64_MAX), "a count that wraps");
	ok(!fs_blocks_are_data(fs, end - 2, 0), "no blocks");
	fsfix_umount(&t);
	fsfix_cleanup(&t);
}

/* errors=continue: the operation fails, the filesystem stays writable, and
 * ERRORS is on the image before the unmount (fs_errors_commit()). */
static void test_continue(void)
{
	struct fs_options o = {
		.cache_size = 32ULL << 20, .ra_max_pages = 32, .errors = FS_ERRORS_CONTINUE};
	struct folio_super sb;
	struct layout l;
	struct fsfix t;
	struct img im;
	uint32_t ino;
	uint64_t blk;

	populate(&t, &l);
	img_load(&t, &im);
	apply(&im, &l, LIE_EXT_ITABLE, &ino, &blk);
	img_store(&t, &im, ino, blk);
	is_int(fsfix_mount_opts(&t, &o, NULL, 0), 0, "errors=continue: mounts");
	is_int(read_one(&t, "small"), -EUCLEAN, "errors=continue: the lie: -EUCLEAN");
	is_int(read_one(&t, "small"), -EUCLEAN, "errors=continue: and again");
	ok(atomic_load(&t.fs->errors), "errors=continue: the filesystem has errors");
	is_int(fs_check_writable(t.fs), 0, "errors=continue: still writable");
	is_int(write_new(&t, "after"), 0, "errors=continue: a new file is written");
	fsfix_read_sb(&t, &sb);
	ok(!(le16_to_cpu(sb.s_state) & FOLIO_STATE_ERRORS), "not yet on the image");
	is_int(fs_errors_commit(t.fs), 0, "fs_errors_commit");
	fsfix_read_sb(&t, &sb);
	ok(le16_to_cpu(sb.s_state) & FOLIO_STATE_ERRORS, "ERRORS on the image while mounted");
	ok(folio_sb_csum_ok(&sb), "with a valid checksum");
	is_int(fsfix_umount(&t), 0, "errors=continue: unmounts");
	fsfix_read_sb(&t, &sb);
	ok((le16_to_cpu(sb.s_state) & FOLIO_STATE_ERRORS) &&
		   !(le16_to_cpu(sb.s_state) & FOLIO_STATE_CLEAN),
	   "ERRORS, not CLEAN, after the unmount");
	ok(fsfix_mount_opts(&t, NULL, NULL, 0) != 0, "a read-write mount is refused");
	fsfix_cleanup(&t);
}

int main(void)
{
	test_blocks_are_data();
	for (int lie = 0; lie < NR_LIES; lie++)
		test_lie((enum lie)lie);
	test_continue();
	return done_testing();
}
