/*
 * tests/tools/mkimage.c - test-only builder of populated foliofs images, so
 * fsck.foliofs can be tested on every kind of structure before a daemon
 * writes them.
 *
 *   mkimage IMAGE [-e ENTRIES] [-F] [-c CORRUPTION]
 *
 * IMAGE must come fresh from mkfs.foliofs. mkimage loads it whole into memory,
 * adds a fixed tree (files with inline and multi-level extent trees, a file
 * with data past 1 TiB, unwritten extents, inline and block symlinks, hard
 * links, special files, xattrs in the inode and in a block with an ACL,
 * nested directories, a directory of ENTRIES names with a multi-level tree,
 * an orphan on a not-cleanly-unmounted image), optionally breaks exactly one
 * invariant (recomputing checksums so that only the invariant is wrong), and
 * writes the image back. The corruptions named lie-* are the lies the daemon
 * must catch as it reads (tests/mount/lies.sh): an extent on a bitmap or the
 * superblock, overlapping or empty extents, an index child on the inode
 * table, a bad mode, a huge size, a directory record naming an inode out of
 * range or with no name, a directory node using more than its block, an
 * xattr entry running out of its block, an inode-table block marked free.
 * "lostmany" adds a directory of 2,500 files and breaks its root, so fsck
 * must grow /lost+found; corrupt_layout()'s damages move a pointer to where
 * a structure is. It prints "name=inode" lines for the tests.
 *
 * Trees are bulk-built bottom-up: sorted records packed into leaves, then
 * index levels. By default nodes are kept small (4 entries per index node,
 * about 300 bytes per directory leaf) so small trees are deep; -F packs
 * nodes full.
 *
 * Single-threaded test helper; not installed.
 */
#include "config.h"

#include "format/format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MI_MAX_DIRS   16
#define MI_SMALL_FAN  4	  /* index entries per node unless -F */
#define MI_SMALL_LEAF 300 /* directory leaf payload bytes unless -F */
#define MI_LOST_MANY  2500 /* "lostmany": files in the directory lost */

struct mi_ent {
	char name[FOLIO_NAME_MAX + 1];
	uint8_t len;
	uint8_t type;
	uint32_t ino;
	uint64_t key;
};

struct mi_dir {
	uint32_t ino, parent, subdirs;
	struct mi_ent *e;
	size_t n, cap;
};

struct mi {
	const char *path;
	uint8_t *mem;
	size_t bytes;
	struct folio_super *sb;
	struct folio_geom g;
	uint32_t seed;
	uint64_t hseed[2];
	struct folio_group_desc *gdt;
	bool full;
	const char *corrupt;
	struct mi_dir dirs[MI_MAX_DIRS];
	int ndirs;
	uint64_t cursor; /* next block to try allocating */
};

/* Inode numbers and blocks the corruptions refer to. */
static uint32_t i_small, i_frag, i_xattr, i_orphan, i_lshort, i_target;
static int d_root, d_a, d_b, d_c, d_big, d_many = -1;

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mkimage: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static bool is(const struct mi *m, const char *what)
{
	return m->corrupt && !strcmp(m->corrupt, what);
}

static uint8_t *blk(struct mi *m, uint64_t n)
{
	if (n >= m->g.blocks_count)
		die("block %llu out of range", (unsigned long long)n);
	return m->mem + (n << m->g.block_shift);
}

static struct folio_inode *inode(struct mi *m, uint32_t ino)
{
	uint64_t b;
	uint32_t off;

	folio_inode_pos(&m->g, le64_to_cpu(m->gdt[folio_ino_group(&m->g, ino)].bg_inode_table), ino,
			&b, &off);
	return (struct folio_inode *)(blk(m, b) + off);
}

static void bit_set(uint8_t *map, uint64_t bit, bool on)
{
	if (on)
		map[bit / 8] |= (uint8_t)(1u << (bit % 8));
	else
		map[bit / 8] &= (uint8_t) ~(1u << (bit % 8));
}

static bool bit_test(const uint8_t *map, uint64_t bit)
{
	return map[bit / 8] >> (bit % 8) & 1;
}

/* ------------------------------------------------------------------ */
/* Allocation                                                          */
/* ------------------------------------------------------------------ */

static uint64_t alloc_block(struct mi *m)
{
	for (; m->cursor < m->g.blocks_count; m->cursor++) {
		uint32_t grp = folio_group_of_block(&m->g, m->cursor);
		struct folio_group_desc *gd = &m->gdt[grp];
		uint8_t *map = blk(m, le64_to_cpu(gd->bg_block_bitmap));
		uint64_t bit = m->cursor - folio_group_first_block(&m->g, grp);

		if (bit_test(map, bit))
			continue;
		bit_set(map, bit, true);
		gd->bg_free_blocks = cpu_to_le32(le32_to_cpu(gd->bg_free_blocks) - 1);
		memset(blk(m, m->cursor), 0, m->g.block_size);
		return m->cursor++;
	}
	die("out of blocks");
	return 0;
}

static void free_block(struct mi *m, uint64_t b)
{
	uint32_t grp = folio_group_of_block(&m->g, b);
	struct folio_group_desc *gd = &m->gdt[grp];

	bit_set(blk(m, le64_to_cpu(gd->bg_block_bitmap)), b - folio_group_first_block(&m->g, grp),
		false);
	gd->bg_free_blocks = cpu_to_le32(le32_to_cpu(gd->bg_free_blocks) + 1);
}

static uint32_t alloc_inode(struct mi *m, uint32_t mode, uint32_t nlink)
{
	for (uint32_t grp = 0; grp < m->g.groups_count; grp++) {
		struct folio_group_desc *gd = &m->gdt[grp];
		uint8_t *map = blk(m, le64_to_cpu(gd->bg_inode_bitmap));

		for (uint32_t i = 0; i < m->g.inodes_per_group; i++) {
			uint32_t ino = grp * m->g.inodes_per_group + i + 1;
			struct folio_inode *in;

			if (bit_test(map, i))
				continue;
			bit_set(map, i, true);
			gd->bg_free_inodes = cpu_to_le32(le32_to_cpu(gd->bg_free_inodes) - 1);
			if (S_ISDIR(mode))
				gd->bg_used_dirs = cpu_to_le32(le32_to_cpu(gd->bg_used_dirs) + 1);
			in = inode(m, ino);
			memset(in, 0, m->g.inode_size);
			in->i_mode = cpu_to_le16((uint16_t)mode);
			in->i_nlink = cpu_to_le32(nlink);
			in->i_generation = cpu_to_le32(ino * 7);
			in->i_mtime = in->i_ctime = in->i_atime = in->i_crtime =
				cpu_to_le64(1700000000);
			in->i_mtime_nsec = cpu_to_le32(123456789);
			return ino;
		}
	}
	die("out of inodes");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Extent trees                                                        */
/* ------------------------------------------------------------------ */

/* One level of nodes built from @n entries of 24 bytes; returns the node
 * count and fills @keys/@blocks with each node's first key and block. */
static size_t build_ext_level(struct mi *m, uint32_t ino, const void *ents, size_t n,
			      uint16_t depth, uint64_t *keys, uint64_t *blocks)
{
	size_t fan = m->full ? m->g.ext_node_max : MI_SMALL_FAN, nodes = 0;
	const uint8_t *src = ents;

	for (size_t i = 0; i < n; i += fan, nodes++) {
		size_t cnt = n - i < fan ? n - i : fan;
		uint64_t b = alloc_block(m);
		struct folio_extent_block *eb = (void *)blk(m, b);

		folio_block_init(eb, m->g.block_size, FOLIO_EXT_MAGIC, b, ino);
		folio_eh_init(&eb->eh, (uint16_t)m->g.ext_node_max, depth);
		eb->eh.eh_entries = cpu_to_le16((uint16_t)cnt);
		memcpy(eb + 1, src + i * 24, cnt * 24);
		folio_block_csum_set(m->seed, eb, m->g.block_size);
		keys[nodes] = le64_to_cpu(((const struct folio_extent *)(src + i * 24))->ee_lblk);
		blocks[nodes] = b;
	}
	return nodes;
}

/* Map @n sorted extents into inode @ino; returns the tree node count. */
static uint64_t build_extents(struct mi *m, uint32_t ino, const struct folio_extent *ext, size_t n)
{
	struct folio_extent_root *root = &inode(m, ino)->i_extents;
	struct folio_extent_idx *idx = calloc(n + 1, sizeof(*idx));
	uint64_t *keys = calloc(n + 1, 8), *blocks = calloc(n + 1, 8), nodes = 0;
	const void *level = ext;
	uint16_t depth = 0;

	folio_eh_init(&root->eh, FOLIO_EXT_INLINE, 0);
	while (n > FOLIO_EXT_INLINE) {
		n = build_ext_level(m, ino, level, n, depth, keys, blocks);
		nodes += n;
		for (size_t i = 0; i < n; i++)
			idx[i] = (struct folio_extent_idx){cpu_to_le64(keys[i]),
							   cpu_to_le64(blocks[i]), 0};
		level = idx;
		depth++;
	}
	root->eh.eh_entries = cpu_to_le16((uint16_t)n);
	root->eh.eh_depth = cpu_to_le16(depth);
	if (n)
		memcpy(root->ext, level, n * 24);
	free(idx);
	free(keys);
	free(blocks);
	return nodes;
}

/* A regular file (or long symlink) of @nblocks one-block extents spaced
 * @stride logical blocks apart. */
static uint32_t make_file(struct mi *m, uint32_t mode, size_t nblocks, uint64_t stride,
			  uint64_t size)
{
	uint32_t ino = alloc_inode(m, mode, 1);
	struct folio_extent *ext = calloc(nblocks + 1, sizeof(*ext));
	uint64_t nodes;

	for (size_t i = 0; i < nblocks; i++) {
		uint64_t b = alloc_block(m);

		memset(blk(m, b), 'a' + (int)(i % 26), m->g.block_size);
		ext[i] = (struct folio_extent){cpu_to_le64(i * stride), cpu_to_le64(b),
					       cpu_to_le32(1), 0};
	}
	nodes = build_extents(m, ino, ext, nblocks);
	inode(m, ino)->i_size = cpu_to_le64(size);
	inode(m, ino)->i_blocks = cpu_to_le64(nblocks + nodes);
	free(ext);
	return ino;
}

/* ------------------------------------------------------------------ */
/* Directories                                                         */
/* ------------------------------------------------------------------ */

static void dir_add(struct mi *m, int d, const char *name, uint32_t ino, uint8_t type)
{
	struct mi_dir *dir = &m->dirs[d];
	struct mi_ent *e;

	if (dir->n == dir->cap) {
		dir->cap = dir->cap ? 2 * dir->cap : 16;
		dir->e = realloc(dir->e, dir->cap * sizeof(*dir->e));
		if (!dir->e)
			die("out of memory");
	}
	e = &dir->e[dir->n++];
	memset(e, 0, sizeof(*e));
	e->len = (uint8_t)strlen(name);
	memcpy(e->name, name, e->len);
	e->ino = ino;
	e->type = type;
	e->key = folio_dir_key_base(folio_dirhash(m->hseed, name, e->len));
	if (type == FOLIO_FT_DIR)
		dir->subdirs++;
}

static int mk_dir(struct mi *m, int parent, const char *name, bool link)
{
	int d = m->ndirs++;
	uint32_t ino = alloc_inode(m, S_IFDIR | 0755, 2);

	m->dirs[d] = (struct mi_dir){.ino = ino, .parent = m->dirs[parent].ino};
	if (link)
		dir_add(m, parent, name, ino, FOLIO_FT_DIR);
	return d;
}

static int ent_cmp(const void *a, const void *b)
{
	const struct mi_ent *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->len != y->len)
		return x->len - y->len;
	return memcmp(x->name, y->name, x->len);
}

/* Give names sharing a key base collision indexes 0, 1, ... and sort. */
static void assign_keys(struct mi_dir *dir)
{
	qsort(dir->e, dir->n, sizeof(*dir->e), ent_cmp);
	for (size_t i = 1; i < dir->n; i++)
		if ((dir->e[i].key & FOLIO_DIR_KEY_MASK) ==
		    (dir->e[i - 1].key & FOLIO_DIR_KEY_MASK))
			dir->e[i].key = dir->e[i - 1].key + 1;
}

static uint64_t new_dir_node(struct mi *m, uint32_t owner, uint16_t level)
{
	uint64_t b = alloc_block(m);
	struct folio_dir_node *dn = (void *)blk(m, b);

	folio_block_init(dn, m->g.block_size, FOLIO_DIR_MAGIC, b, owner);
	dn->dn_level = cpu_to_le16(level);
	return b;
}

/* Pack the sorted entries into leaves; returns the leaf count. */
static size_t build_leaves(struct mi *m, struct mi_dir *dir, uint64_t *keys, uint64_t *blocks)
{
	uint32_t cap = m->full ? m->g.block_size - FOLIO_BLK_PAYLOAD : MI_SMALL_LEAF;
	struct folio_dir_node *dn = NULL;
	size_t leaves = 0;

	for (size_t i = 0; i < dir->n; i++) {
		const struct mi_ent *e = &dir->e[i];
		uint32_t size = folio_dirent_size(e->len);
		uint8_t *dst;

		if (!dn || le16_to_cpu(dn->dn_used) + size > cap) {
			blocks[leaves] = new_dir_node(m, dir->ino, 0);
			keys[leaves++] = e->key;
			dn = (void *)blk(m, blocks[leaves - 1]);
		}
		dst = (uint8_t *)dn + FOLIO_BLK_PAYLOAD + le16_to_cpu(dn->dn_used);
		folio_dirent_encode(dst, e->key, e->ino, e->type, e->name, e->len);
		dn->dn_used = cpu_to_le16((uint16_t)(le16_to_cpu(dn->dn_used) + size));
		dn->dn_count = cpu_to_le16((uint16_t)(le16_to_cpu(dn->dn_count) + 1));
	}
	for (size_t i = 0; i < leaves; i++)
		folio_block_csum_set(m->seed, blk(m, blocks[i]), m->g.block_size);
	return leaves;
}

/* One index level over @n children; returns the node count. */
static size_t build_index(struct mi *m, uint32_t owner, uint16_t level, uint64_t *keys,
			  uint64_t *blocks, size_t n)
{
	size_t fan = m->full ? m->g.dir_idx_max : MI_SMALL_FAN, nodes = 0;

	for (size_t i = 0; i < n; i += fan, nodes++) {
		size_t cnt = n - i < fan ? n - i : fan;
		uint64_t b = new_dir_node(m, owner, level);
		struct folio_dir_node *dn = (void *)blk(m, b);
		struct folio_dir_idx *idx = (void *)((uint8_t *)dn + FOLIO_BLK_PAYLOAD);

		for (size_t j = 0; j < cnt; j++)
			idx[j] = (struct folio_dir_idx){cpu_to_le64(keys[i + j]),
							cpu_to_le64(blocks[i + j])};
		dn->dn_count = cpu_to_le16((uint16_t)cnt);
		dn->dn_used = cpu_to_le16((uint16_t)(cnt * sizeof(*idx)));
		folio_block_csum_set(m->seed, dn, m->g.block_size);
		keys[nodes] = keys[i];
		blocks[nodes] = b;
	}
	return nodes;
}

/* Build directory @d's tree and fill its inode. */
static void build_dir(struct mi *m, int d)
{
	struct mi_dir *dir = &m->dirs[d];
	struct folio_inode *in = inode(m, dir->ino);
	uint64_t *keys = calloc(dir->n + 1, 8), *blocks = calloc(dir->n + 1, 8);
	uint64_t total;
	size_t n;
	uint16_t level = 0;

	assign_keys(dir);
	n = build_leaves(m, dir, keys, blocks);
	total = n;
	while (n > 1) {
		n = build_index(m, dir->ino, ++level, keys, blocks, n);
		total += n;
	}
	in->i_dir.dr_root = cpu_to_le64(n ? blocks[0] : 0);
	in->i_dir.dr_entries = cpu_to_le64(dir->n);
	in->i_dir.dr_parent = cpu_to_le32(dir->parent);
	in->i_dir.dr_depth = cpu_to_le16(level);
	in->i_size = cpu_to_le64(total << m->g.block_shift);
	in->i_blocks = cpu_to_le64(total);
	in->i_nlink = cpu_to_le32(2 + dir->subdirs);
	free(keys);
	free(blocks);
}

/* ------------------------------------------------------------------ */
/* Xattrs, symlinks, special files                                     */
/* ------------------------------------------------------------------ */

static uint32_t put_xattr(uint8_t *area, uint32_t used, uint8_t index, const char *name,
			  const void *value, uint16_t vlen)
{
	return used +
	       folio_xattr_encode(area + used, index, name, (uint8_t)strlen(name), value, vlen);
}

static uint32_t make_xattr_file(struct mi *m)
{
	uint32_t ino = alloc_inode(m, S_IFREG | 0644, 1);
	struct folio_inode *in = inode(m, ino);
	uint64_t b = alloc_block(m);
	struct folio_xattr_block *xb = (void *)blk(m, b);
	uint8_t acl[4 + 3 * 8] = {2, 0, 0, 0, 1, 0, 6,	  0, 0, 0, 0, 0, 4, 0,
				  4, 0, 0, 0, 0, 0, 0x20, 0, 4, 0, 0, 0, 0, 0};
	char big[300];
	uint32_t used;

	build_extents(m, ino, NULL, 0);
	folio_block_init(xb, m->g.block_size, FOLIO_XATTR_MAGIC, b, ino);
	used = put_xattr(in->i_xattr, 0, FOLIO_XATTR_USER, "a", "1", 1);
	in->i_xattr_len = cpu_to_le16((uint16_t)used);
	memset(big, 'v', sizeof(big));
	if (is(m, "acl"))
		acl[0] = 1;
	used = put_xattr((uint8_t *)(xb + 1), 0, FOLIO_XATTR_SECURITY, "selinux",
			 "system_u:object_r:foo_t:s0", 26);
	used = put_xattr((uint8_t *)(xb + 1), used, FOLIO_XATTR_TRUSTED, "t", "x", 1);
	used = put_xattr((uint8_t *)(xb + 1), used, FOLIO_XATTR_ACL_ACCESS, "", acl, sizeof(acl));
	used = put_xattr((uint8_t *)(xb + 1), used, FOLIO_XATTR_USER, "big", big, sizeof(big));
	used = put_xattr((uint8_t *)(xb + 1), used, FOLIO_XATTR_USER, is(m, "xdup") ? "a" : "b",
			 "2", 1);
	xb->xb_count = cpu_to_le16(5);
	xb->xb_used = cpu_to_le16((uint16_t)used);
	folio_block_csum_set(m->seed, xb, m->g.block_size);
	in->i_xattr_block = cpu_to_le64(b);
	in->i_blocks = cpu_to_le64(1);
	return ino;
}

/* Leaf extent covering logical block @lblk of @ino (trees built here have
 * one-block extents), or NULL. */
static const struct folio_extent *find_extent(struct mi *m, uint32_t ino, uint64_t lblk)
{
	const struct folio_extent_header *eh = &inode(m, ino)->i_extents.eh;

	for (;;) {
		const struct folio_extent_idx *idx = (const void *)(eh + 1);
		uint16_t n = le16_to_cpu(eh->eh_entries), i = 0;

		if (!le16_to_cpu(eh->eh_depth))
			break;
		while (i + 1 < n && le64_to_cpu(idx[i + 1].ei_lblk) <= lblk)
			i++;
		eh = &((const struct folio_extent_block *)blk(m, le64_to_cpu(idx[i].ei_child)))->eh;
	}
	for (uint16_t i = 0; i < le16_to_cpu(eh->eh_entries); i++) {
		const struct folio_extent *e = (const struct folio_extent *)(eh + 1) + i;

		if (le64_to_cpu(e->ee_lblk) == lblk)
			return e;
	}
	return NULL;
}

/* Copy @len bytes into the start of file @ino. */
static void write_data(struct mi *m, uint32_t ino, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (uint64_t l = 0; l << m->g.block_shift < len; l++) {
		const struct folio_extent *e = find_extent(m, ino, l);
		size_t off = l << m->g.block_shift;
		size_t n = len - off < m->g.block_size ? len - off : m->g.block_size;

		if (!e)
			die("inode %u: no block %llu", ino, (unsigned long long)l);
		memcpy(blk(m, le64_to_cpu(e->ee_pblk)), p + off, n);
	}
}

static uint32_t make_symlink(struct mi *m, const char *target)
{
	size_t len = strlen(target);
	uint32_t ino;

	if (len > FOLIO_INLINE_MAX) {
		size_t nb = (len + m->g.block_size - 1) >> m->g.block_shift;

		ino = make_file(m, S_IFLNK | 0777, nb, 1, len);
		write_data(m, ino, target, len);
		return ino;
	}
	ino = alloc_inode(m, S_IFLNK | 0777, 1);
	inode(m, ino)->i_flags = cpu_to_le32(FOLIO_IFL_INLINE);
	inode(m, ino)->i_size = cpu_to_le64(len);
	memcpy(inode(m, ino)->i_symlink, target, len);
	if (is(m, "symnul"))
		inode(m, ino)->i_symlink[1] = '\0';
	return ino;
}

static uint32_t make_special(struct mi *m, uint32_t mode, uint32_t major, uint32_t minor)
{
	uint32_t ino = alloc_inode(m, mode, 1);

	inode(m, ino)->i_rdev.dev_major = cpu_to_le32(major);
	inode(m, ino)->i_rdev.dev_minor = cpu_to_le32(minor);
	return ino;
}

/* ------------------------------------------------------------------ */
/* The tree                                                            */
/* ------------------------------------------------------------------ */

static void populate_files(struct mi *m)
{
	uint64_t tib = (1ULL << 40) >> m->g.block_shift;
	uint32_t ino;
	char longt[FOLIO_SYMLINK_MAX + 1];

	i_small = make_file(m, S_IFREG | 0644, 1, 1, 100);
	dir_add(m, d_root, "small", i_small, is(m, "dirtype") ? FOLIO_FT_DIR : FOLIO_FT_REG);
	i_frag = make_file(m, S_IFREG | 0600, 40, 2, 80ull << m->g.block_shift);
	dir_add(m, d_root, "frag", i_frag, FOLIO_FT_REG);
	ino = make_file(m, S_IFREG | 0644, 2, tib, (tib + 1) << m->g.block_shift);
	dir_add(m, d_root, "sparse-1TiB", ino, FOLIO_FT_REG);
	ino = make_file(m, S_IFREG | 0644, 2, 1, m->g.block_size);
	inode(m, ino)->i_extents.ext[1].ee_flags = cpu_to_le32(FOLIO_EXT_UNWRITTEN);
	dir_add(m, d_root, "prealloc", ino, FOLIO_FT_REG);
	ino = make_file(m, S_IFREG | 0644, 0, 1, 0);
	dir_add(m, d_root, "empty", ino, FOLIO_FT_REG);
	i_xattr = make_xattr_file(m);
	dir_add(m, d_root, "xattrs", i_xattr, FOLIO_FT_REG);
	i_lshort = make_symlink(m, "small");
	dir_add(m, d_root, "link-short", i_lshort, FOLIO_FT_LNK);
	memset(longt, 'x', sizeof(longt));
	longt[200] = '\0';
	dir_add(m, d_root, "link-200", make_symlink(m, longt), FOLIO_FT_LNK);
	longt[200] = 'x';
	longt[FOLIO_SYMLINK_MAX] = '\0';
	dir_add(m, d_root, "link-4095", make_symlink(m, longt), FOLIO_FT_LNK);
	dir_add(m, d_root, "fifo", make_special(m, S_IFIFO | 0644, 0, 0), FOLIO_FT_FIFO);
	dir_add(m, d_root, "null", make_special(m, S_IFCHR | 0666, 1, 3), FOLIO_FT_CHR);
	dir_add(m, d_root, "sda", make_special(m, S_IFBLK | 0660, 8, 0), FOLIO_FT_BLK);
	dir_add(m, d_root, "sock", make_special(m, S_IFSOCK | 0755, 0, 0), FOLIO_FT_SOCK);
}

static void populate_dirs(struct mi *m, unsigned entries)
{
	char name[64];
	uint32_t hard;

	d_a = mk_dir(m, d_root, "a", !is(m, "loop"));
	d_b = mk_dir(m, d_a, "b", true);
	d_c = mk_dir(m, d_b, "c", true);
	if (is(m, "loop")) {
		dir_add(m, d_c, "a", m->dirs[d_a].ino, FOLIO_FT_DIR);
		m->dirs[d_a].parent = m->dirs[d_c].ino;
	}
	if (is(m, "dirlink"))
		dir_add(m, d_root, "b-again", m->dirs[d_b].ino, FOLIO_FT_DIR);
	if (is(m, "dupname"))
		dir_add(m, d_a, "b", i_small, FOLIO_FT_REG);
	hard = make_file(m, S_IFREG | 0644, 1, 1, 10);
	inode(m, hard)->i_nlink = cpu_to_le32(2);
	dir_add(m, d_root, "hard1", hard, FOLIO_FT_REG);
	dir_add(m, d_c, "hard2", hard, FOLIO_FT_REG);
	d_big = mk_dir(m, d_root, "big", true);
	i_target = make_file(m, S_IFREG | 0644, 1, 1, 1);
	inode(m, i_target)->i_nlink = cpu_to_le32(entries);
	for (unsigned i = 0; i < entries; i++) {
		snprintf(name, sizeof(name), "entry-%07u-with-a-longer-name", i);
		dir_add(m, d_big, name, i_target, FOLIO_FT_REG);
	}
	if (is(m, "dirfree"))
		dir_add(m, d_b, "ghost", m->g.inodes_count, FOLIO_FT_REG);
	if (is(m, "lostmany")) {
		d_many = mk_dir(m, d_root, "many", true);
		for (unsigned i = 0; i < MI_LOST_MANY; i++) {
			snprintf(name, sizeof(name), "f-%04u", i);
			dir_add(m, d_many, name, make_file(m, S_IFREG | 0644, 0, 1, 0),
				FOLIO_FT_REG);
		}
	}
}

static void populate_orphan(struct mi *m)
{
	i_orphan = make_file(m, S_IFREG | 0644, 3, 1, 3ull << m->g.block_shift);
	inode(m, i_orphan)->i_nlink = 0;
	if (!is(m, "unlinked"))
		m->sb->s_orphan_head = cpu_to_le32(i_orphan);
	if (!is(m, "orphanclean"))
		m->sb->s_state = cpu_to_le16(0);
	m->sb->s_mount_count = cpu_to_le32(1);
}

static void populate(struct mi *m, unsigned entries)
{
	struct mi_dir *root = &m->dirs[0];
	struct folio_inode *rin = inode(m, FOLIO_ROOT_INO);

	/* Re-home the root: free mkfs's leaf, keep lost+found. */
	free_block(m, le64_to_cpu(rin->i_dir.dr_root));
	*root = (struct mi_dir){.ino = FOLIO_ROOT_INO, .parent = FOLIO_ROOT_INO};
	m->ndirs = 1;
	d_root = 0;
	dir_add(m, d_root, "lost+found", FOLIO_FIRST_INO, FOLIO_FT_DIR);
	populate_files(m);
	populate_dirs(m, entries);
	populate_orphan(m);
	for (int d = 0; d < m->ndirs; d++)
		build_dir(m, d);
	if (is(m, "nlink"))
		inode(m, i_small)->i_nlink = cpu_to_le32(2);
}

/* ------------------------------------------------------------------ */
/* Corruptions applied after the build                                 */
/* ------------------------------------------------------------------ */

/* First leaf of a tree: follow the first child down. */
static uint8_t *ext_first_leaf(struct mi *m, uint32_t ino, uint64_t *nr)
{
	struct folio_extent_header *eh = &inode(m, ino)->i_extents.eh;
	uint8_t *b = NULL;

	*nr = 0;
	while (le16_to_cpu(eh->eh_depth)) {
		*nr = le64_to_cpu(((struct folio_extent_idx *)(eh + 1))->ei_child);
		b = blk(m, *nr);
		eh = &((struct folio_extent_block *)b)->eh;
	}
	return b;
}

static uint8_t *dir_first_leaf(struct mi *m, uint32_t ino)
{
	uint8_t *b = blk(m, le64_to_cpu(inode(m, ino)->i_dir.dr_root));

	while (le16_to_cpu(((struct folio_dir_node *)b)->dn_level))
		b = blk(m,
			le64_to_cpu(((struct folio_dir_idx *)(b + FOLIO_BLK_PAYLOAD))->di_child));
	return b;
}

static void corrupt_extents(struct mi *m)
{
	struct folio_extent *small = &inode(m, i_small)->i_extents.ext[0];
	uint64_t nr;
	uint8_t *leaf = ext_first_leaf(m, i_frag, &nr);
	struct folio_extent *fe = (void *)(leaf + FOLIO_BLK_PAYLOAD);

	if (is(m, "overlap"))
		fe[0].ee_pblk = small->ee_pblk;
	if (is(m, "meta"))
		small->ee_pblk = m->gdt[0].bg_inode_table;
	if (is(m, "range"))
		small->ee_pblk = cpu_to_le64(m->g.blocks_count + 5);
	if (is(m, "order")) {
		struct folio_extent t = fe[0];

		fe[0] = fe[1];
		fe[1] = t;
	}
	if (is(m, "extdepth"))
		((struct folio_extent_block *)leaf)->eh.eh_depth = cpu_to_le16(1);
	if (is(m, "iblocks"))
		inode(m, i_frag)->i_blocks =
			cpu_to_le64(le64_to_cpu(inode(m, i_frag)->i_blocks) + 1);
	folio_block_csum_set(m->seed, leaf, m->g.block_size);
}

static void corrupt_dirs(struct mi *m)
{
	uint32_t big = m->dirs[d_big].ino;
	uint8_t *leaf = dir_first_leaf(m, big);
	uint8_t *root = blk(m, le64_to_cpu(inode(m, big)->i_dir.dr_root));
	struct folio_dirent *de = (void *)(leaf + FOLIO_BLK_PAYLOAD);
	struct folio_dir_idx *idx = (void *)(root + FOLIO_BLK_PAYLOAD);

	if (is(m, "hash"))
		de->de_name[de->de_namelen - 1] ^= 0x01;
	if (is(m, "idxorder")) {
		le64 t = idx[1].di_key;

		idx[1].di_key = idx[2].di_key;
		idx[2].di_key = t;
	}
	if (is(m, "dirsize"))
		inode(m, big)->i_size = cpu_to_le64(12345);
	if (is(m, "lostmany")) {
		/* the directory's root unusable: every file in it is lost */
		uint8_t *mr = blk(m, le64_to_cpu(inode(m, m->dirs[d_many].ino)->i_dir.dr_root));

		memset(mr, 0, 4);
		folio_block_csum_set(m->seed, mr, m->g.block_size);
	}
	folio_block_csum_set(m->seed, leaf, m->g.block_size);
	folio_block_csum_set(m->seed, root, m->g.block_size);
}

/* Lies the daemon must catch as it reads (tests/mount/lies.sh): values with
 * valid checksums that point file data at metadata, break the order of a
 * tree, or lie outside their limits. */
static void corrupt_lie(struct mi *m)
{
	struct folio_inode *s = inode(m, i_small), *fr = inode(m, i_frag);
	struct folio_extent *small = &s->i_extents.ext[0];
	uint64_t nr, it0 = le64_to_cpu(m->gdt[0].bg_inode_table);
	uint8_t *leaf = ext_first_leaf(m, i_frag, &nr);
	struct folio_extent *fe = (void *)(leaf + FOLIO_BLK_PAYLOAD);
	uint8_t *dleaf = dir_first_leaf(m, m->dirs[d_big].ino);
	struct folio_dir_node *dn = (void *)dleaf;
	struct folio_dirent *de = (void *)(dleaf + FOLIO_BLK_PAYLOAD);
	uint8_t *xb = blk(m, le64_to_cpu(inode(m, i_xattr)->i_xattr_block));
	struct folio_xattr_entry *xe = (void *)(xb + FOLIO_BLK_PAYLOAD);

	if (is(m, "lie-bitmap"))
		small->ee_pblk = m->gdt[0].bg_block_bitmap;
	if (is(m, "lie-sb"))
		small->ee_pblk = 0;
	if (is(m, "lie-overlap"))
		fe[1].ee_pblk = fe[0].ee_pblk;
	if (is(m, "lie-zerolen"))
		fe[0].ee_len = 0;
	if (is(m, "lie-idxchild"))
		fr->i_extents.idx[0].ei_child = cpu_to_le64(it0);
	if (is(m, "lie-mode"))
		s->i_mode = cpu_to_le16(0170644);
	if (is(m, "lie-size"))
		s->i_size = cpu_to_le64(1ULL << 62);
	if (is(m, "lie-dirent-ino"))
		de->de_ino = cpu_to_le32(m->g.inodes_count + 5);
	if (is(m, "lie-dirent-len"))
		de->de_namelen = 0;
	if (is(m, "lie-dir-used"))
		dn->dn_used = cpu_to_le16((uint16_t)(m->g.block_size - FOLIO_BLK_PAYLOAD + 8));
	if (is(m, "lie-xattr"))
		xe->xe_valuelen = cpu_to_le16(60000);
	if (is(m, "lie-bmmeta"))
		free_block(m, it0);
	folio_block_csum_set(m->seed, leaf, m->g.block_size);
	folio_block_csum_set(m->seed, dleaf, m->g.block_size);
	folio_block_csum_set(m->seed, xb, m->g.block_size);
}

/* Only the lie-* damages (the others may leave the trees unwalkable). */
static void corrupt_lies(struct mi *m)
{
	if (m->corrupt && !strncmp(m->corrupt, "lie-", 4))
		corrupt_lie(m);
}

static void corrupt_bitmap(struct mi *m)
{
	uint64_t b = le64_to_cpu(inode(m, i_small)->i_extents.ext[0].ee_pblk);

	if (is(m, "bitmap"))
		free_block(m, b);
}

/*
 * Damage to where things are, made after seal() so that only a pointer is
 * wrong (checksums recomputed over it): group 0's block or inode bitmap
 * pointing into the journal or at file data, its inode table running out of
 * the group, inode 2 mapping the journal at the wrong logical block, the
 * superblock's journal run moved, the primary superblock's uuid changed
 * (every other structure keeps the checksums of the backup's). fsck -y
 * finds each at its standard place or from the other records of it.
 */
static void corrupt_layout(struct mi *m)
{
	struct folio_group_desc *gd = &m->gdt[0];
	struct folio_inode *j = inode(m, FOLIO_JOURNAL_INO);
	uint64_t js = le64_to_cpu(m->sb->s_journal_block);

	if (is(m, "gd-bbitmap"))
		gd->bg_block_bitmap = cpu_to_le64(js + 1);
	if (is(m, "gd-ibitmap"))
		gd->bg_inode_bitmap = inode(m, i_small)->i_extents.ext[0].ee_pblk;
	if (is(m, "gd-itable"))
		gd->bg_inode_table = cpu_to_le64(folio_group_first_block(&m->g, 1) - 1);
	if (is(m, "jinode"))
		j->i_extents.ext[0].ee_lblk = cpu_to_le64(5);
	if (is(m, "jsb-loc"))
		m->sb->s_journal_block = cpu_to_le64(js + 100);
	if (is(m, "sb-uuid"))
		m->sb->s_uuid[0] ^= 0x01;
	folio_inode_csum_set(m->seed, FOLIO_JOURNAL_INO, j, m->g.inode_size);
	folio_gd_csum_set(m->seed, 0, gd);
	folio_sb_csum_set(m->sb);
}

/* ------------------------------------------------------------------ */
/* Load and store                                                      */
/* ------------------------------------------------------------------ */

static void load(struct mi *m)
{
	int fd = open(m->path, O_RDONLY);
	struct stat st;
	char msg[200];

	if (fd < 0 || fstat(fd, &st))
		die("%s: %s", m->path, strerror(errno));
	m->bytes = (size_t)st.st_size;
	m->mem = malloc(m->bytes);
	if (!m->mem || pread(fd, m->mem, m->bytes, 0) != (ssize_t)m->bytes)
		die("%s: cannot read", m->path);
	close(fd);
	m->sb = (struct folio_super *)m->mem;
	if (folio_sb_validate(m->sb, m->bytes, 0, &m->g, msg, sizeof(msg)))
		die("%s: %s", m->path, msg);
	m->seed = folio_fs_seed(m->sb->s_uuid);
	m->hseed[0] = le64_to_cpu(m->sb->s_hash_seed[0]);
	m->hseed[1] = le64_to_cpu(m->sb->s_hash_seed[1]);
	m->gdt = (struct folio_group_desc *)blk(m, m->g.gdt_block);
}

/* Recompute every inode, bitmap, descriptor and superblock checksum. */
static void seal(struct mi *m)
{
	uint64_t fb = 0, fi = 0;

	for (uint32_t ino = 1; ino <= m->g.inodes_count; ino++) {
		uint32_t grp = folio_ino_group(&m->g, ino);

		if (bit_test(blk(m, le64_to_cpu(m->gdt[grp].bg_inode_bitmap)),
			     folio_ino_index(&m->g, ino)))
			folio_inode_csum_set(m->seed, ino, inode(m, ino), m->g.inode_size);
	}
	for (uint32_t grp = 0; grp < m->g.groups_count; grp++) {
		struct folio_group_desc *gd = &m->gdt[grp];

		gd->bg_block_bitmap_csum = cpu_to_le32(folio_bitmap_csum(
			m->seed, blk(m, le64_to_cpu(gd->bg_block_bitmap)), m->g.block_size));
		gd->bg_inode_bitmap_csum = cpu_to_le32(folio_bitmap_csum(
			m->seed, blk(m, le64_to_cpu(gd->bg_inode_bitmap)), m->g.block_size));
		folio_gd_csum_set(m->seed, grp, gd);
		fb += le32_to_cpu(gd->bg_free_blocks);
		fi += le32_to_cpu(gd->bg_free_inodes);
	}
	m->sb->s_free_blocks = cpu_to_le64(fb);
	m->sb->s_free_inodes = cpu_to_le32((uint32_t)fi);
	folio_sb_csum_set(m->sb);
}

static void store(struct mi *m)
{
	int fd = open(m->path, O_WRONLY);

	if (fd < 0 || pwrite(fd, m->mem, m->bytes, 0) != (ssize_t)m->bytes || fsync(fd))
		die("%s: cannot write: %s", m->path, strerror(errno));
	close(fd);
}

int main(int argc, char **argv)
{
	struct mi m = {0};
	unsigned entries = 300;
	int c;

	while ((c = getopt(argc, argv, "e:Fc:")) != -1) {
		switch (c) {
		case 'e':
			entries = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'F':
			m.full = true;
			break;
		case 'c':
			m.corrupt = optarg;
			break;
		default:
			die("usage: mkimage IMAGE [-e ENTRIES] [-F] [-c CORRUPTION]");
		}
	}
	if (optind != argc - 1)
		die("usage: mkimage IMAGE [-e ENTRIES] [-F] [-c CORRUPTION]");
	m.path = argv[optind];
	load(&m);
	populate(&m, entries);
	corrupt_bitmap(&m);
	corrupt_extents(&m);
	corrupt_dirs(&m);
	corrupt_lies(&m);
	seal(&m);
	corrupt_layout(&m);
	store(&m);
	printf("small=%u frag=%u xattrs=%u orphan=%u link-short=%u target=%u\n", i_small, i_frag,
	       i_xattr, i_orphan, i_lshort, i_target);
	printf("root=%u a=%u b=%u c=%u big=%u\n", m.dirs[d_root].ino, m.dirs[d_a].ino,
	       m.dirs[d_b].ino, m.dirs[d_c].ino, m.dirs[d_big].ino);
	for (int d = 0; d < m.ndirs; d++)
		free(m.dirs[d].e);
	free(m.mem);
	return 0;
}
