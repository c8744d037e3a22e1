/*
 * tests/fuzz/mutate.c - the fuzzer's knowledge of the format: a catalogue of
 * every structure of a seed image and every field in it, and the mutations.
 *
 * Interface: fz_cat_build(), fz_cat_free(), fz_cat_counts(), fz_mutate()
 * (tests/fuzz/fuzz.h).
 *
 * The catalogue is a list of regions (one structure each: the superblock and
 * its backup, a group descriptor, a bitmap, an inode, an extent node, a
 * directory node, an xattr block, the journal superblock, a log block), each
 * with its fields: byte offset in the image, width, and the kind of value
 * (a block number, an inode number, a count, a key, a mode, flags, a time,
 * a whole entry, name bytes, a bitmap). A mutation picks a region, a field
 * and a value that matters for its kind (boundaries, off by one, another
 * structure's block or inode, another field's value of the same kind, a
 * duplicated entry, flipped bits), then recomputes the region's checksum (and
 * a bitmap's in its descriptor), so the checks behind the checksums are
 * what the filesystem meets; one image in sixteen keeps the bad checksum.
 *
 * Invariants: fz_mutate() is a pure function of the catalogue and the image
 * number; the catalogue is read-only after fz_cat_build().
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/format.h"
#include "format/journal.h"
#include "tests/fuzz/fuzz.h"

enum fz_kind {
	FK_RAW,	   /* anything */
	FK_BLK,	   /* a block number */
	FK_INO,	   /* an inode number */
	FK_CNT,	   /* a count, length or size */
	FK_KEY,	   /* a directory key */
	FK_MODE,   /* i_mode */
	FK_FLAGS,  /* flag bits */
	FK_TIME,   /* seconds */
	FK_ENT,	   /* a whole entry (extent, index, tag): duplicated, zeroed */
	FK_BYTES,  /* name or label bytes */
	FK_BITMAP, /* a whole bitmap block */
	FK_NKINDS
};

enum fz_rtype {
	R_SB,
	R_GD,
	R_BBITMAP,
	R_IBITMAP,
	R_INODE,
	R_EXT,
	R_DIR,
	R_XATTR,
	R_JSB,
	R_JLOG,
	R_NTYPES
};

static const char *const fz_rname[R_NTYPES] = {
	"superblock",  "descriptor", "block-bitmap", "inode-bitmap", "inode",
	"extent-node", "dir-node",   "xattr-block",  "journal-sb",   "journal-log"};
/* How often each region type is picked (weights). */
static const unsigned fz_rweight[R_NTYPES] = {10, 8, 5, 5, 30, 14, 14, 8, 3, 5};

struct fz_field {
	uint64_t off; /* absolute byte offset in the image */
	uint16_t size;
	uint8_t kind;
	const char *name;
};

struct fz_region {
	uint8_t type;
	uint64_t off; /* of the structure in the image */
	uint32_t len;
	uint32_t id;	       /* group, inode number, or block number */
	uint32_t first, count; /* its fields in c->f */
};

struct fz_cat {
	const uint8_t *img;
	size_t size;
	struct folio_geom g;
	uint32_t seed; /* checksum seed */
	uint64_t journal_block, journal_blocks;
	struct fz_region *r;
	unsigned nr, rcap;
	struct fz_field *f;
	unsigned nf, fcap;
	uint64_t *blks; /* interesting block numbers: metadata and data */
	unsigned nblks, bcap;
	uint32_t *inos; /* inodes in use */
	unsigned ninos, icap;
	unsigned by_type[R_NTYPES];
};

/* ------------------------------------------------------------------ */
/* Building the catalogue                                              */
/* ------------------------------------------------------------------ */

static void *fz_grow(void *p, unsigned *cap, unsigned n, size_t elem)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 256;
	p = realloc(p, *cap * elem);
	if (!p) {
		perror("fuzz: realloc");
		exit(2);
	}
	return p;
}

static void cat_blk(struct fz_cat *c, uint64_t blk)
{
	c->blks = fz_grow(c->blks, &c->bcap, c->nblks, sizeof(*c->blks));
	c->blks[c->nblks++] = blk;
}

static struct fz_region *cat_region(struct fz_cat *c, uint8_t type, uint64_t off, uint32_t len,
				    uint32_t id)
{
	struct fz_region *r;

	c->r = fz_grow(c->r, &c->rcap, c->nr, sizeof(*c->r));
	r = &c->r[c->nr++];
	*r = (struct fz_region){.type = type, .off = off, .len = len, .id = id, .first = c->nf};
	c->by_type[type]++;
	return r;
}

/* A field of the last region, @off relative to the region's start. */
static void cat_field(struct fz_cat *c, uint32_t off, uint16_t size, uint8_t kind, const char *name)
{
	struct fz_region *r = &c->r[c->nr - 1];

	if (off + size > r->len)
		return;
	c->f = fz_grow(c->f, &c->fcap, c->nf, sizeof(*c->f));
	c->f[c->nf++] = (struct fz_field){r->off + off, size, kind, name};
	r->count++;
}

#define FLD(c, base, type, member, kind)                                                           \
	cat_field(c, (base) + offsetof(type, member), sizeof(((type *)0)->member), kind, #member)

static const void *cat_at(const struct fz_cat *c, uint64_t off, size_t len)
{
	return off <= c->size && len <= c->size - off ? c->img + off : NULL;
}

static const void *cat_block(const struct fz_cat *c, uint64_t blk)
{
	if (blk >= c->size / c->g.block_size)
		return NULL;
	return c->img + blk * c->g.block_size;
}

static void cat_super(struct fz_cat *c, uint64_t off)
{
	typedef struct folio_super S;

	cat_region(c, R_SB, off, FOLIO_SB_SIZE, 0);
	FLD(c, 0, S, s_magic, FK_RAW);
	FLD(c, 0, S, s_version, FK_CNT);
	FLD(c, 0, S, s_feature_compat, FK_FLAGS);
	FLD(c, 0, S, s_feature_incompat, FK_FLAGS);
	FLD(c, 0, S, s_feature_ro_compat, FK_FLAGS);
	FLD(c, 0, S, s_log_block_size, FK_CNT);
	FLD(c, 0, S, s_blocks_count, FK_BLK);
	FLD(c, 0, S, s_free_blocks, FK_CNT);
	FLD(c, 0, S, s_reserved_blocks, FK_CNT);
	FLD(c, 0, S, s_inodes_count, FK_INO);
	FLD(c, 0, S, s_free_inodes, FK_CNT);
	FLD(c, 0, S, s_blocks_per_group, FK_CNT);
	FLD(c, 0, S, s_inodes_per_group, FK_CNT);
	FLD(c, 0, S, s_groups_count, FK_CNT);
	FLD(c, 0, S, s_inode_size, FK_CNT);
	FLD(c, 0, S, s_state, FK_FLAGS);
	FLD(c, 0, S, s_root_ino, FK_INO);
	FLD(c, 0, S, s_first_ino, FK_INO);
	FLD(c, 0, S, s_orphan_head, FK_INO);
	FLD(c, 0, S, s_gdt_blocks, FK_CNT);
	FLD(c, 0, S, s_gdt_block, FK_BLK);
	FLD(c, 0, S, s_backup_sb_block, FK_BLK);
	cat_field(c, offsetof(S, s_uuid), 1, FK_BYTES, "s_uuid");
	cat_field(c, offsetof(S, s_label), 32, FK_BYTES, "s_label");
	cat_field(c, offsetof(S, s_hash_seed), 8, FK_RAW, "s_hash_seed");
	FLD(c, 0, S, s_mkfs_time, FK_TIME);
	FLD(c, 0, S, s_mount_time, FK_TIME);
	FLD(c, 0, S, s_mount_count, FK_CNT);
	FLD(c, 0, S, s_reserved0, FK_RAW);
	FLD(c, 0, S, s_journal_ino, FK_INO);
	FLD(c, 0, S, s_journal_flags, FK_FLAGS);
	FLD(c, 0, S, s_journal_block, FK_BLK);
	FLD(c, 0, S, s_journal_blocks, FK_CNT);
	FLD(c, 0, S, s_journal_seq, FK_CNT);
}

static void cat_groups(struct fz_cat *c)
{
	typedef struct folio_group_desc D;
	uint32_t bs = c->g.block_size;

	for (uint32_t grp = 0; grp < c->g.groups_count; grp++) {
		uint64_t blk;
		uint32_t off;
		const D *gd;

		folio_gd_pos(&c->g, grp, &blk, &off);
		gd = cat_at(c, blk * bs + off, sizeof(*gd));
		if (!gd)
			continue;
		cat_blk(c, blk);
		cat_region(c, R_GD, blk * bs + off, sizeof(*gd), grp);
		FLD(c, 0, D, bg_block_bitmap, FK_BLK);
		FLD(c, 0, D, bg_inode_bitmap, FK_BLK);
		FLD(c, 0, D, bg_inode_table, FK_BLK);
		FLD(c, 0, D, bg_free_blocks, FK_CNT);
		FLD(c, 0, D, bg_free_inodes, FK_CNT);
		FLD(c, 0, D, bg_used_dirs, FK_CNT);
		FLD(c, 0, D, bg_flags, FK_FLAGS);
		FLD(c, 0, D, bg_block_bitmap_csum, FK_RAW);
		FLD(c, 0, D, bg_inode_bitmap_csum, FK_RAW);
		cat_field(c, offsetof(D, bg_reserved), 4, FK_RAW, "bg_reserved");
		cat_region(c, R_BBITMAP, le64_to_cpu(gd->bg_block_bitmap) * bs, bs, grp);
		cat_field(c, 0, (uint16_t)bs, FK_BITMAP, "block bitmap");
		cat_region(c, R_IBITMAP, le64_to_cpu(gd->bg_inode_bitmap) * bs, bs, grp);
		cat_field(c, 0, (uint16_t)bs, FK_BITMAP, "inode bitmap");
		cat_blk(c, le64_to_cpu(gd->bg_block_bitmap));
		cat_blk(c, le64_to_cpu(gd->bg_inode_bitmap));
		cat_blk(c, le64_to_cpu(gd->bg_inode_table));
		cat_blk(c, le64_to_cpu(gd->bg_inode_table) + c->g.itable_blocks - 1);
	}
}

/* The fields of a headed block's common header. */
static void cat_blk_hdr(struct fz_cat *c)
{
	typedef struct folio_blk_hdr H;

	FLD(c, 0, H, h_magic, FK_RAW);
	FLD(c, 0, H, h_blocknr, FK_BLK);
	FLD(c, 0, H, h_owner, FK_INO);
	FLD(c, 0, H, h_reserved, FK_RAW);
}

/* Xattr entries in an area at @base (relative to the last region). */
static void cat_xattrs(struct fz_cat *c, const uint8_t *area, uint32_t base, uint32_t used)
{
	struct folio_xattr_ref ref;
	uint32_t off = 0;

	while (folio_xattr_next(area, used, &off, &ref) == 1) {
		uint32_t e = base + ref.offset;

		cat_field(c, e, 1, FK_CNT, "xe_index");
		cat_field(c, e + 1, 1, FK_CNT, "xe_namelen");
		cat_field(c, e + 2, 2, FK_CNT, "xe_valuelen");
		if (ref.namelen)
			cat_field(c, e + 4, 1, FK_BYTES, "xe_name");
		if (ref.valuelen)
			cat_field(c, e + 4 + ref.namelen, 4, FK_RAW, "xe_value");
	}
}

static void cat_ext_entries(struct fz_cat *c, const struct folio_extent_header *eh, uint32_t base,
			    uint32_t ino, int level);

/* Extent entries following the header at @base of the last region; walks
 * into index children. */
static void cat_ext_node(struct fz_cat *c, uint64_t blk, uint32_t ino, int level)
{
	const uint8_t *b = cat_block(c, blk);

	if (!b || level > FOLIO_EXT_MAX_DEPTH + 1 || c->nr > 200000)
		return;
	cat_blk(c, blk);
	cat_region(c, R_EXT, blk * c->g.block_size, c->g.block_size, (uint32_t)blk);
	cat_blk_hdr(c);
	cat_ext_entries(c, (const void *)(b + 24), 24, ino, level);
}

static void cat_ext_entries(struct fz_cat *c, const struct folio_extent_header *eh, uint32_t base,
			    uint32_t ino, int level)
{
	typedef struct folio_extent_header EH;
	unsigned n = le16_to_cpu(eh->eh_entries), depth = le16_to_cpu(eh->eh_depth);
	unsigned reg = c->nr - 1;
	const uint8_t *ents = (const uint8_t *)(eh + 1);

	FLD(c, base, EH, eh_magic, FK_RAW);
	FLD(c, base, EH, eh_entries, FK_CNT);
	FLD(c, base, EH, eh_max, FK_CNT);
	FLD(c, base, EH, eh_depth, FK_CNT);
	if (n > le16_to_cpu(eh->eh_max))
		n = le16_to_cpu(eh->eh_max);
	for (unsigned i = 0; i < n; i++) {
		uint32_t e = base + 8 + i * 24;
		const struct folio_extent *x = (const void *)(ents + i * 24);

		if (e + 24 > c->r[reg].len)
			break;
		cat_field(c, e, 24, FK_ENT, depth ? "index entry" : "extent");
		cat_field(c, e, 8, FK_CNT, depth ? "ei_lblk" : "ee_lblk");
		cat_field(c, e + 8, 8, FK_BLK, depth ? "ei_child" : "ee_pblk");
		cat_field(c, e + 16, 4, depth ? FK_RAW : FK_CNT, depth ? "ei_reserved" : "ee_len");
		cat_field(c, e + 20, 4, depth ? FK_RAW : FK_FLAGS,
			  depth ? "ei_reserved" : "ee_flags");
		cat_blk(c, le64_to_cpu(x->ee_pblk));
		if (!depth)
			cat_blk(c, le64_to_cpu(x->ee_pblk) + le32_to_cpu(x->ee_len) - 1);
	}
	for (unsigned i = 0; depth && i < n; i++) {
		const struct folio_extent_idx *x = (const void *)(ents + i * 24);

		cat_ext_node(c, le64_to_cpu(x->ei_child), ino, level + 1);
	}
}

static void cat_dir_node(struct fz_cat *c, uint64_t blk, uint32_t ino, int level)
{
	typedef struct folio_dir_node N;
	const uint8_t *b = cat_block(c, blk);
	const N *n = (const void *)b;
	uint32_t used, bs = c->g.block_size;

	if (!b || level > FOLIO_DIR_MAX_DEPTH + 1 || c->nr > 200000)
		return;
	cat_blk(c, blk);
	cat_region(c, R_DIR, blk * bs, bs, (uint32_t)blk);
	cat_blk_hdr(c);
	FLD(c, 0, N, dn_level, FK_CNT);
	FLD(c, 0, N, dn_count, FK_CNT);
	FLD(c, 0, N, dn_used, FK_CNT);
	FLD(c, 0, N, dn_reserved, FK_RAW);
	used = le16_to_cpu(n->dn_used);
	if (used > bs - FOLIO_BLK_PAYLOAD)
		return;
	if (le16_to_cpu(n->dn_level) == 0) {
		const struct folio_dirent *de;
		uint32_t off = 0, prev = 0;

		while (folio_dirent_next(b + FOLIO_BLK_PAYLOAD, used, &off, &de) == 1) {
			uint32_t e = (uint32_t)((const uint8_t *)de - b);

			cat_field(c, e, 8, FK_KEY, "de_key");
			cat_field(c, e + 8, 4, FK_INO, "de_ino");
			cat_field(c, e + 12, 1, FK_CNT, "de_type");
			cat_field(c, e + 13, 1, FK_CNT, "de_namelen");
			cat_field(c, e + 14, 1, FK_BYTES, "de_name");
			if (prev)
				cat_field(c, prev, (uint16_t)(e - prev), FK_ENT, "dirent");
			prev = e;
		}
		return;
	}
	for (unsigned i = 0; i < le16_to_cpu(n->dn_count) && 16 * (i + 1) <= used; i++) {
		uint32_t e = FOLIO_BLK_PAYLOAD + 16 * i;

		cat_field(c, e, 16, FK_ENT, "dir index entry");
		cat_field(c, e, 8, FK_KEY, "di_key");
		cat_field(c, e + 8, 8, FK_BLK, "di_child");
	}
	for (unsigned i = 0; i < le16_to_cpu(n->dn_count) && 16 * (i + 1) <= used; i++) {
		const struct folio_dir_idx *x = (const void *)(b + FOLIO_BLK_PAYLOAD + 16 * i);

		cat_dir_node(c, le64_to_cpu(x->di_child), ino, level + 1);
	}
}

static void cat_xattr_block(struct fz_cat *c, uint64_t blk)
{
	typedef struct folio_xattr_block X;
	const uint8_t *b = cat_block(c, blk);
	uint32_t bs = c->g.block_size, used;

	if (!b)
		return;
	cat_blk(c, blk);
	cat_region(c, R_XATTR, blk * bs, bs, (uint32_t)blk);
	cat_blk_hdr(c);
	FLD(c, 0, X, xb_count, FK_CNT);
	FLD(c, 0, X, xb_used, FK_CNT);
	FLD(c, 0, X, xb_reserved, FK_RAW);
	used = le16_to_cpu(((const X *)b)->xb_used);
	if (used <= bs - FOLIO_BLK_PAYLOAD)
		cat_xattrs(c, b + FOLIO_BLK_PAYLOAD, FOLIO_BLK_PAYLOAD, used);
}

static void cat_inode(struct fz_cat *c, uint32_t ino, uint64_t off)
{
	typedef struct folio_inode I;
	const I *di = cat_at(c, off, c->g.inode_size);
	uint32_t mode, xlen;

	if (!di)
		return;
	c->inos = fz_grow(c->inos, &c->icap, c->ninos, sizeof(*c->inos));
	c->inos[c->ninos++] = ino;
	cat_region(c, R_INODE, off, c->g.inode_size, ino);
	FLD(c, 0, I, i_mode, FK_MODE);
	FLD(c, 0, I, i_xattr_len, FK_CNT);
	FLD(c, 0, I, i_uid, FK_RAW);
	FLD(c, 0, I, i_gid, FK_RAW);
	FLD(c, 0, I, i_nlink, FK_CNT);
	FLD(c, 0, I, i_generation, FK_RAW);
	FLD(c, 0, I, i_size, FK_CNT);
	FLD(c, 0, I, i_blocks, FK_CNT);
	FLD(c, 0, I, i_atime, FK_TIME);
	FLD(c, 0, I, i_mtime, FK_TIME);
	FLD(c, 0, I, i_mtime_nsec, FK_CNT);
	FLD(c, 0, I, i_flags, FK_FLAGS);
	FLD(c, 0, I, i_orphan_next, FK_INO);
	FLD(c, 0, I, i_xattr_block, FK_BLK);
	FLD(c, 0, I, i_reserved, FK_RAW);
	mode = le16_to_cpu(di->i_mode);
	if (S_ISDIR(mode)) {
		typedef struct folio_dir_root DR;
		uint32_t b = offsetof(I, i_data);

		FLD(c, b, DR, dr_root, FK_BLK);
		FLD(c, b, DR, dr_entries, FK_CNT);
		FLD(c, b, DR, dr_parent, FK_INO);
		FLD(c, b, DR, dr_depth, FK_CNT);
		FLD(c, b, DR, dr_reserved0, FK_RAW);
		if (le64_to_cpu(di->i_dir.dr_root))
			cat_dir_node(c, le64_to_cpu(di->i_dir.dr_root), ino, 0);
	} else if (S_ISLNK(mode) && (le32_to_cpu(di->i_flags) & FOLIO_IFL_INLINE)) {
		cat_field(c, offsetof(I, i_data), 1, FK_BYTES, "i_symlink");
	} else if (S_ISREG(mode) || S_ISLNK(mode)) {
		cat_ext_entries(c, &di->i_extents.eh, offsetof(I, i_data), ino, 0);
	} else {
		cat_field(c, offsetof(I, i_data), 4, FK_RAW, "dev_major");
		cat_field(c, offsetof(I, i_data) + 4, 4, FK_RAW, "dev_minor");
	}
	/* the inode's own region may have been followed by its blocks' */
	xlen = le16_to_cpu(di->i_xattr_len);
	if (xlen && xlen <= c->g.inode_size - FOLIO_INODE_FIXED) {
		/* a second region for the in-inode area, so its fields stay
		 * with an inode checksum */
		cat_region(c, R_INODE, off, c->g.inode_size, ino);
		cat_xattrs(c, di->i_xattr, FOLIO_INODE_FIXED, xlen);
	}
	if (le64_to_cpu(di->i_xattr_block))
		cat_xattr_block(c, le64_to_cpu(di->i_xattr_block));
}

static void cat_inodes(struct fz_cat *c)
{
	uint32_t bs = c->g.block_size;

	for (uint32_t grp = 0; grp < c->g.groups_count; grp++) {
		const struct folio_group_desc *gd;
		const uint8_t *map;
		uint64_t blk;
		uint32_t off;

		folio_gd_pos(&c->g, grp, &blk, &off);
		gd = cat_at(c, blk * bs + off, sizeof(*gd));
		map = gd ? cat_block(c, le64_to_cpu(gd->bg_inode_bitmap)) : NULL;
		for (uint32_t i = 0; map && i < c->g.inodes_per_group; i++) {
			uint32_t ino = grp * c->g.inodes_per_group + i + 1;
			uint32_t ioff;

			if (!(map[i / 8] & (1u << (i % 8))))
				continue;
			folio_inode_pos(&c->g, le64_to_cpu(gd->bg_inode_table), ino, &blk, &ioff);
			cat_inode(c, ino, blk * bs + ioff);
		}
	}
}

/* The journal superblock and the log blocks from j_start on. */
static void cat_journal(struct fz_cat *c, const struct folio_super *sb)
{
	typedef struct folio_jsb J;
	uint64_t jb = le64_to_cpu(sb->s_journal_block), n = le64_to_cpu(sb->s_journal_blocks);
	uint32_t bs = c->g.block_size;
	const J *jsb;
	uint32_t pos, first;

	if (!(le32_to_cpu(sb->s_feature_compat) & FOLIO_COMPAT_JOURNAL) ||
	    !(jsb = cat_block(c, jb)))
		return;
	c->journal_block = jb;
	c->journal_blocks = n;
	cat_blk(c, jb);
	cat_blk(c, jb + n - 1);
	cat_region(c, R_JSB, jb * bs, sizeof(J), (uint32_t)jb);
	FLD(c, 0, J, j_magic, FK_RAW);
	FLD(c, 0, J, j_version, FK_CNT);
	FLD(c, 0, J, j_block_size, FK_CNT);
	FLD(c, 0, J, j_blocks, FK_CNT);
	FLD(c, 0, J, j_first, FK_CNT);
	FLD(c, 0, J, j_sequence, FK_CNT);
	FLD(c, 0, J, j_start, FK_CNT);
	FLD(c, 0, J, j_flags, FK_FLAGS);
	cat_field(c, offsetof(J, j_uuid), 1, FK_BYTES, "j_uuid");
	pos = le32_to_cpu(jsb->j_start);
	first = le32_to_cpu(jsb->j_first);
	for (unsigned k = 0; pos && pos < n && k < n; k++) {
		const uint8_t *b = cat_block(c, jb + pos);
		const struct folio_jheader *h = (const void *)b;
		uint32_t type, cnt;

		if (!b || le32_to_cpu(h->h_magic) != FOLIO_JNL_MAGIC)
			break;
		type = le32_to_cpu(h->h_type);
		cat_region(c, R_JLOG, (jb + pos) * bs, bs, (uint32_t)(jb + pos));
		cat_field(c, 4, 4, FK_CNT, "h_type");
		cat_field(c, 8, 8, FK_CNT, "h_sequence");
		cat_field(c, 16, 4, FK_CNT, type == FOLIO_JB_COMMIT ? "c_blocks" : "count");
		cnt = le32_to_cpu(*(const le32 *)(b + 16));
		if (type == FOLIO_JB_DESCRIPTOR) {
			for (uint32_t i = 0; i < cnt && i < folio_jdesc_max_tags(bs); i++) {
				uint32_t e = 24 + 16 * i;

				cat_field(c, e, 16, FK_ENT, "tag");
				cat_field(c, e, 8, FK_BLK, "t_block");
				cat_field(c, e + 8, 4, FK_FLAGS, "t_flags");
			}
			for (uint32_t i = 0; i <= cnt && i < n; i++)
				pos = folio_journal_next(pos, first, (uint32_t)n);
			continue;
		}
		if (type == FOLIO_JB_REVOKE)
			for (uint32_t i = 0; i < cnt && i < folio_jrevoke_max(bs); i++)
				cat_field(c, 24 + 8 * i, 8, FK_BLK, "revoked block");
		if (type == FOLIO_JB_COMMIT)
			cat_field(c, 24, 8, FK_TIME, "c_sec");
		pos = folio_journal_next(pos, first, (uint32_t)n);
	}
}

/**
 * fz_cat_build - catalogue the structures of a seed image
 * @img: the image's bytes
 * @size: its length
 *
 * Context: any thread; @img must stay valid while the catalogue is used.
 * Return: the catalogue, or NULL (with a line on stderr) when the superblock
 * is not valid.
 */
struct fz_cat *fz_cat_build(const uint8_t *img, size_t size)
{
	struct fz_cat *c = calloc(1, sizeof(*c));
	const struct folio_super *sb = (const void *)img;
	char msg[200];

	if (!c || size < FOLIO_SB_SIZE)
		goto bad;
	c->img = img;
	c->size = size;
	if (folio_sb_validate(sb, size, 0, &c->g, msg, sizeof(msg))) {
		fprintf(stderr, "fuzz: seed image: %s\n", msg);
		goto bad;
	}
	c->seed = folio_fs_seed(sb->s_uuid);
	cat_blk(c, 0);
	cat_super(c, 0);
	if (le32_to_cpu(sb->s_feature_compat) & FOLIO_COMPAT_BACKUP_SB) {
		cat_blk(c, le64_to_cpu(sb->s_backup_sb_block));
		cat_super(c, le64_to_cpu(sb->s_backup_sb_block) * c->g.block_size);
	}
	cat_groups(c);
	cat_inodes(c);
	cat_journal(c, sb);
	cat_blk(c, c->g.blocks_count - 1);
	return c;
bad:
	free(c);
	return NULL;
}

void fz_cat_free(struct fz_cat *c)
{
	if (!c)
		return;
	free(c->r);
	free(c->f);
	free(c->blks);
	free(c->inos);
	free(c);
}

void fz_cat_counts(const struct fz_cat *c, unsigned *regions, unsigned *fields)
{
	*regions = c->nr;
	*fields = c->nf;
}

/* ------------------------------------------------------------------ */
/* Mutations                                                           */
/* ------------------------------------------------------------------ */

static uint64_t get_le(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size && i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le(uint8_t *p, unsigned size, uint64_t v)
{
	for (unsigned i = 0; i < size && i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t pick_blk(const struct fz_cat *c, struct fz_rng *r, uint64_t cur)
{
	uint64_t n = c->g.blocks_count;

	switch (fz_below(r, 12)) {
	case 0:
		return 0;
	case 1:
		return cur + 1;
	case 2:
		return cur - 1;
	case 3:
		return n - 1;
	case 4:
		return n;
	case 5:
		return n + fz_below(r, 3) + 1;
	case 6:
		return ~0ULL >> fz_below(r, 40);
	case 7:
		return c->g.gdt_block;
	case 8:
		return c->journal_block + fz_below(r, c->journal_blocks + 1);
	case 9:
		return fz_below(r, n);
	default:
		return c->blks[fz_below(r, c->nblks)] + fz_below(r, 3) - 1;
	}
}

static uint64_t pick_ino(const struct fz_cat *c, struct fz_rng *r, uint64_t cur)
{
	uint64_t n = c->g.inodes_count;

	switch (fz_below(r, 10)) {
	case 0:
		return fz_below(r, 9); /* 0, root, journal, reserved */
	case 1:
		return cur + 1;
	case 2:
		return cur - 1;
	case 3:
		return n;
	case 4:
		return n + 1;
	case 5:
		return 0xFFFFFFFFu;
	case 6:
		return c->g.inodes_per_group * (1 + fz_below(r, c->g.groups_count)) +
		       fz_below(r, 2);
	default:
		return c->inos[fz_below(r, c->ninos)];
	}
}

static uint64_t pick_cnt(struct fz_rng *r, uint64_t cur, unsigned size)
{
	uint64_t max = size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;

	switch (fz_below(r, 12)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return cur + 1;
	case 3:
		return cur - 1;
	case 4:
		return cur * 2;
	case 5:
		return cur / 2;
	case 6:
		return max;
	case 7:
		return max - 1;
	case 8:
		return 1ULL << (8 * size - 1);
	case 9:
		return fz_below(r, 300);
	case 10:
		return cur + fz_below(r, 64);
	default:
		return 1ULL << fz_below(r, 8 * size);
	}
}

static uint64_t pick_mode(struct fz_rng *r, uint64_t cur)
{
	static const uint16_t types[] = {S_IFREG, S_IFDIR,  S_IFLNK, S_IFCHR, S_IFBLK,
					 S_IFIFO, S_IFSOCK, 0,	     0xF000,  0x3000};

	switch (fz_below(r, 3)) {
	case 0:
		return (cur & 07777) | types[fz_below(r, 10)];
	case 1:
		return (cur & ~07777ULL) | fz_below(r, 010000);
	default:
		return cur ^ (1ULL << fz_below(r, 16));
	}
}

static uint64_t pick_value(const struct fz_cat *c, struct fz_rng *r, const struct fz_field *f,
			   uint64_t cur)
{
	switch (f->kind) {
	case FK_BLK:
		return pick_blk(c, r, cur);
	case FK_INO:
		return pick_ino(c, r, cur);
	case FK_CNT:
		return pick_cnt(r, cur, f->size);
	case FK_KEY:
		switch (fz_below(r, 6)) {
		case 0:
			return cur + 1;
		case 1:
			return cur - 1;
		case 2:
			return cur & ~0xFFULL;
		case 3:
			return fz_below(r, 0x101);
		case 4:
			return cur | 1ULL << 63;
		default:
			return cur ^ 1ULL << (8 + fz_below(r, 55));
		}
	case FK_MODE:
		return pick_mode(r, cur);
	case FK_FLAGS:
		switch (fz_below(r, 4)) {
		case 0:
			return 0;
		case 1:
			return ~0ULL;
		default:
			return cur ^ 1ULL << fz_below(r, 8 * f->size);
		}
	case FK_TIME: {
		static const uint64_t t[] = {0,		 ~0ULL,	     0x7FFFFFFFFFFFFFFFULL,
					     1ULL << 63, 1ULL << 34, 0xFFFFFFFFULL};
		return t[fz_below(r, 6)];
	}
	default:
		switch (fz_below(r, 4)) {
		case 0:
			return 0;
		case 1:
			return ~0ULL;
		case 2:
			return fz_next(r);
		default:
			return cur ^ 1ULL << fz_below(r, 8 * (f->size > 8 ? 8 : f->size));
		}
	}
}

/* Another field of the same kind and width, anywhere in the image. */
static const struct fz_field *pick_twin(const struct fz_cat *c, struct fz_rng *r,
					const struct fz_field *f)
{
	for (int tries = 0; tries < 64; tries++) {
		const struct fz_field *g = &c->f[fz_below(r, c->nf)];

		if (g != f && g->kind == f->kind && g->size == f->size)
			return g;
	}
	return NULL;
}

static void mutate_bitmap(const struct fz_cat *c, struct fz_rng *r, const struct fz_region *rg,
			  uint8_t *p, char *how, size_t howlen)
{
	uint32_t bits = c->g.block_size * 8, bit;

	switch (fz_below(r, 6)) {
	case 0:
		memset(p, 0, c->g.block_size);
		snprintf(how, howlen, "all clear");
		return;
	case 1:
		memset(p, 0xff, c->g.block_size);
		snprintf(how, howlen, "all set");
		return;
	case 2: /* the bit of a block or inode in use */
		if (rg->type == R_BBITMAP)
			bit = (uint32_t)(c->blks[fz_below(r, c->nblks)] -
					 (uint64_t)rg->id * c->g.blocks_per_group);
		else
			bit = c->inos[fz_below(r, c->ninos)] - 1 - rg->id * c->g.inodes_per_group;
		break;
	default:
		bit = (uint32_t)fz_below(r, bits);
		break;
	}
	bit %= bits;
	p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	snprintf(how, howlen, "bit %u flipped", bit);
}

/* Change field @f; a description of what was done in @how. */
static void mutate_field(const struct fz_cat *c, struct fz_rng *r, const struct fz_region *rg,
			 const struct fz_field *f, uint8_t *img, char *how, size_t howlen)
{
	uint8_t *p = img + f->off;
	const struct fz_field *twin;
	uint64_t cur, v;

	if (f->kind == FK_BITMAP) {
		mutate_bitmap(c, r, rg, p, how, howlen);
		return;
	}
	if (f->kind == FK_ENT || f->kind == FK_BYTES || f->size > 8) {
		twin = pick_twin(c, r, f);
		switch (fz_below(r, 4)) {
		case 0:
			if (twin) { /* duplicate another entry of the same shape */
				memmove(p, img + twin->off, f->size);
				snprintf(how, howlen, "copied from offset %llu",
					 (unsigned long long)twin->off);
				return;
			}
			/* fall through */
		case 1:
			memset(p, fz_below(r, 2) ? 0 : 0xff, f->size);
			snprintf(how, howlen, "filled");
			return;
		default: {
			uint32_t bit = (uint32_t)fz_below(r, 8u * f->size);

			p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			if (f->kind == FK_BYTES && fz_below(r, 3) == 0)
				p[bit / 8] = fz_below(r, 2) ? '/' : 0;
			snprintf(how, howlen, "bit %u flipped", bit);
			return;
		}
		}
	}
	cur = get_le(p, f->size);
	if (fz_below(r, 8) == 0 && (twin = pick_twin(c, r, f))) {
		v = get_le(img + twin->off, f->size); /* swap in another structure's value */
	} else if (fz_below(r, 8) == 0) {
		v = cur ^ 1ULL << fz_below(r, 8 * f->size);
	} else {
		v = pick_value(c, r, f, cur);
	}
	put_le(p, f->size, v);
	snprintf(how, howlen, "%llu -> %llu", (unsigned long long)cur,
		 (unsigned long long)get_le(p, f->size));
}

/* Recompute the checksum that covers region @rg. */
static void fix_csum(const struct fz_cat *c, const struct fz_region *rg, uint8_t *img)
{
	uint32_t bs = c->g.block_size;
	uint64_t blk;
	uint32_t off;

	switch (rg->type) {
	case R_SB:
		folio_sb_csum_set((void *)(img + rg->off));
		break;
	case R_GD:
		folio_gd_csum_set(c->seed, rg->id, (void *)(img + rg->off));
		break;
	case R_BBITMAP:
	case R_IBITMAP: {
		struct folio_group_desc *gd;
		uint32_t sum = folio_bitmap_csum(c->seed, img + rg->off, bs);

		folio_gd_pos(&c->g, rg->id, &blk, &off);
		gd = (void *)(img + blk * bs + off);
		if (rg->type == R_BBITMAP)
			gd->bg_block_bitmap_csum = cpu_to_le32(sum);
		else
			gd->bg_inode_bitmap_csum = cpu_to_le32(sum);
		folio_gd_csum_set(c->seed, rg->id, gd);
		break;
	}
	case R_INODE:
		folio_inode_csum_set(c->seed, rg->id, img + rg->off, c->g.inode_size);
		break;
	case R_EXT:
	case R_DIR:
	case R_XATTR:
		folio_block_csum_set(c->seed, img + rg->off, bs);
		break;
	case R_JSB:
		folio_jsb_csum_set(c->seed, (void *)(img + rg->off));
		break;
	case R_JLOG:
		folio_jblock_csum_set(c->seed, img + rg->off, bs);
		break;
	}
}

static const struct fz_region *pick_region(const struct fz_cat *c, struct fz_rng *r)
{
	unsigned total = 0, w, type = 0;

	for (unsigned t = 0; t < R_NTYPES; t++)
		total += c->by_type[t] ? fz_rweight[t] : 0;
	w = (unsigned)fz_below(r, total);
	for (unsigned t = 0; t < R_NTYPES; t++) {
		unsigned tw = c->by_type[t] ? fz_rweight[t] : 0;

		if (w < tw) {
			type = t;
			break;
		}
		w -= tw;
	}
	for (int tries = 0; tries < 10000; tries++) {
		const struct fz_region *rg = &c->r[fz_below(r, c->nr)];

		if (rg->type == type && rg->count)
			return rg;
	}
	return &c->r[0];
}

/**
 * fz_mutate - apply image @num's mutations
 * @c: the catalogue of the seed image
 * @num: the image number (the seed of the random stream)
 * @img: a copy of the seed image, changed in place
 * @size: its length (the catalogue's)
 * @log: receives one line per mutation (may be NULL)
 * @loglen: room in @log
 *
 * One to five fields change, in one structure in a quarter of the images;
 * each changed region's checksum is recomputed, except in one image of
 * sixteen.
 *
 * Context: any thread.
 */
void fz_mutate(const struct fz_cat *c, uint64_t num, uint8_t *img, size_t size, char *log,
	       size_t loglen)
{
	struct fz_rng r = {num * 0x2545F4914F6CDD1DULL + 1};
	unsigned n, roll = (unsigned)fz_below(&r, 100);
	bool keep_bad_csum = fz_below(&r, 16) == 0;
	bool focus = fz_below(&r, 4) == 0; /* every mutation in one structure */
	const struct fz_region *rg = NULL;
	size_t used = 0;

	(void)size;
	n = roll < 60 ? 1 : roll < 85 ? 2 : 3 + (unsigned)fz_below(&r, 2);
	if (focus)
		n += 1;
	if (log && loglen)
		log[0] = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct fz_field *f;
		char how[96];

		if (!rg || !focus)
			rg = pick_region(c, &r);
		f = &c->f[rg->first + fz_below(&r, rg->count)];

		mutate_field(c, &r, rg, f, img, how, sizeof(how));
		if (!keep_bad_csum)
			fix_csum(c, rg, img);
		if (log && used < loglen)
			used += (size_t)snprintf(log + used, loglen - used, "%s %u %s: %s%s\n",
						 fz_rname[rg->type], rg->id, f->name, how,
						 keep_bad_csum ? " (checksum left bad)" : "");
	}
}
