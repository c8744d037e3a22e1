/*
 * format/format.c - helpers for foliofs's on-disk format shared by the daemon,
 * mkfs.foliofs and fsck.foliofs.
 *
 * Interface: format/format.h (checksums, superblock validation, group and inode
 * arithmetic, the directory name hash, record parsers for directory leaves and
 * xattr areas). docs/ON-DISK.md defines every rule implemented here.
 *
 * Invariants: no I/O and no global state; every function reads only its
 * arguments. Parsers never read past the length they are given, whatever the
 * bytes hold, so they are safe on corrupt metadata.
 */
#include "config.h"

#include "format/format.h"
#include "format/crc32c.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const uint8_t folio_zero4[4];

/* ------------------------------------------------------------------ */
/* Checksums                                                           */
/* ------------------------------------------------------------------ */

/**
 * folio_fs_seed - the per-filesystem checksum seed
 * @uuid: the superblock's s_uuid
 *
 * Context: any thread.
 * Return: crc32c(0, uuid, 16); every metadata checksum continues from it.
 */
uint32_t folio_fs_seed(const uint8_t uuid[16])
{
	return crc32c(0, uuid, 16);
}

/* CRC of @len bytes of @buf with the 4 bytes at @skip counted as zero. */
static uint32_t folio_crc_skip(uint32_t crc, const void *buf, size_t len, size_t skip)
{
	const uint8_t *p = buf;

	crc = crc32c(crc, p, skip);
	crc = crc32c(crc, folio_zero4, 4);
	return crc32c(crc, p + skip + 4, len - skip - 4);
}

static uint32_t folio_sb_csum(const struct folio_super *sb)
{
	return folio_crc_skip(folio_fs_seed(sb->s_uuid), sb, FOLIO_SB_SIZE,
			      offsetof(struct folio_super, s_checksum));
}

/**
 * folio_sb_csum_set - store the superblock's checksum
 * @sb: the superblock, every other field final
 *
 * Context: caller owns @sb.
 */
void folio_sb_csum_set(struct folio_super *sb)
{
	sb->s_checksum = cpu_to_le32(folio_sb_csum(sb));
}

/**
 * folio_sb_csum_ok - verify the superblock's checksum
 * @sb: the superblock as read
 *
 * Context: any thread.
 * Return: true when s_checksum matches the contents.
 */
bool folio_sb_csum_ok(const struct folio_super *sb)
{
	return le32_to_cpu(sb->s_checksum) == folio_sb_csum(sb);
}

static uint32_t folio_gd_csum(uint32_t seed, uint32_t group, const struct folio_group_desc *gd)
{
	le32 g = cpu_to_le32(group);
	uint32_t crc = crc32c(seed, &g, 4);

	return crc32c(crc, gd, offsetof(struct folio_group_desc, bg_checksum));
}

/**
 * folio_gd_csum_set - store a group descriptor's checksum
 * @seed: folio_fs_seed() of the filesystem
 * @group: the descriptor's group number
 * @gd: the descriptor, every other field final
 *
 * Context: caller holds the descriptor's buffer locked.
 */
void folio_gd_csum_set(uint32_t seed, uint32_t group, struct folio_group_desc *gd)
{
	gd->bg_checksum = cpu_to_le32(folio_gd_csum(seed, group, gd));
}

/**
 * folio_gd_csum_ok - verify a group descriptor's checksum
 * @seed: folio_fs_seed() of the filesystem
 * @group: the descriptor's group number
 * @gd: the descriptor as read
 *
 * Context: any thread.
 * Return: true when bg_checksum matches.
 */
bool folio_gd_csum_ok(uint32_t seed, uint32_t group, const struct folio_group_desc *gd)
{
	return le32_to_cpu(gd->bg_checksum) == folio_gd_csum(seed, group, gd);
}

static uint32_t folio_inode_csum(uint32_t seed, uint32_t ino, const void *inode,
				 uint32_t inode_size)
{
	le32 n = cpu_to_le32(ino);
	uint32_t crc = crc32c(seed, &n, 4);

	return folio_crc_skip(crc, inode, inode_size, offsetof(struct folio_inode, i_checksum));
}

/**
 * folio_inode_csum_set - store an inode's checksum
 * @seed: folio_fs_seed() of the filesystem
 * @ino: the inode number
 * @inode: the s_inode_size bytes of the inode
 * @inode_size: s_inode_size
 *
 * Context: caller holds the inode table buffer locked.
 */
void folio_inode_csum_set(uint32_t seed, uint32_t ino, void *inode, uint32_t inode_size)
{
	struct folio_inode *in = inode;

	in->i_checksum = cpu_to_le32(folio_inode_csum(seed, ino, inode, inode_size));
}

/**
 * folio_inode_csum_ok - verify an inode's checksum
 * @seed: folio_fs_seed() of the filesystem
 * @ino: the inode number
 * @inode: the s_inode_size bytes of the inode
 * @inode_size: s_inode_size
 *
 * Context: any thread.
 * Return: true when i_checksum matches.
 */
bool folio_inode_csum_ok(uint32_t seed, uint32_t ino, const void *inode, uint32_t inode_size)
{
	const struct folio_inode *in = inode;

	return le32_to_cpu(in->i_checksum) == folio_inode_csum(seed, ino, inode, inode_size);
}

static uint32_t folio_block_csum(uint32_t seed, const void *block, uint32_t block_size)
{
	return folio_crc_skip(seed, block, block_size, offsetof(struct folio_blk_hdr, h_checksum));
}

/**
 * folio_block_csum_set - store the checksum of a block with a folio_blk_hdr
 * @seed: folio_fs_seed() of the filesystem
 * @block: the whole block (extent node, directory node or xattr block)
 * @block_size: B
 *
 * Context: caller holds the block's buffer locked.
 */
void folio_block_csum_set(uint32_t seed, void *block, uint32_t block_size)
{
	struct folio_blk_hdr *h = block;

	h->h_checksum = cpu_to_le32(folio_block_csum(seed, block, block_size));
}

/**
 * folio_block_csum_ok - verify the checksum of a block with a folio_blk_hdr
 * @seed: folio_fs_seed() of the filesystem
 * @block: the whole block
 * @block_size: B
 *
 * Context: any thread.
 * Return: true when h_checksum matches.
 */
bool folio_block_csum_ok(uint32_t seed, const void *block, uint32_t block_size)
{
	const struct folio_blk_hdr *h = block;

	return le32_to_cpu(h->h_checksum) == folio_block_csum(seed, block, block_size);
}

/**
 * folio_bitmap_csum - checksum of a block or inode bitmap block
 * @seed: folio_fs_seed() of the filesystem
 * @bitmap: the whole bitmap block
 * @block_size: B
 *
 * Context: any thread.
 * Return: the value kept in bg_block_bitmap_csum or bg_inode_bitmap_csum.
 */
uint32_t folio_bitmap_csum(uint32_t seed, const void *bitmap, uint32_t block_size)
{
	return crc32c(seed, bitmap, block_size);
}

/**
 * folio_block_check - verify a headed block read from the device
 * @seed: folio_fs_seed() of the filesystem
 * @block: the whole block
 * @block_size: B
 * @magic: the expected h_magic
 * @blocknr: the block number it was read from
 * @owner: the inode expected to own it
 *
 * Context: any thread.
 * Return: 0 if sound; -EUCLEAN for a wrong magic, block number or owner;
 * -EBADMSG for a checksum mismatch (checked after the magic).
 */
int folio_block_check(uint32_t seed, const void *block, uint32_t block_size, uint32_t magic,
		      uint64_t blocknr, uint32_t owner)
{
	const struct folio_blk_hdr *h = block;

	if (le32_to_cpu(h->h_magic) != magic)
		return -EUCLEAN;
	if (!folio_block_csum_ok(seed, block, block_size))
		return -EBADMSG;
	if (le64_to_cpu(h->h_blocknr) != blocknr || le32_to_cpu(h->h_owner) != owner)
		return -EUCLEAN;
	return 0;
}

/**
 * folio_block_init - start a headed block
 * @block: the block buffer
 * @block_size: B
 * @magic: FOLIO_EXT_MAGIC, FOLIO_DIR_MAGIC or FOLIO_XATTR_MAGIC
 * @blocknr: the block's own number
 * @owner: the inode that owns it
 *
 * Zeroes the block and fills the header; the caller adds the kind-specific
 * header and payload, then folio_block_csum_set().
 *
 * Context: caller holds the block's buffer locked.
 */
void folio_block_init(void *block, uint32_t block_size, uint32_t magic, uint64_t blocknr,
		      uint32_t owner)
{
	struct folio_blk_hdr *h = block;

	memset(block, 0, block_size);
	h->h_magic = cpu_to_le32(magic);
	h->h_blocknr = cpu_to_le64(blocknr);
	h->h_owner = cpu_to_le32(owner);
}

/* ------------------------------------------------------------------ */
/* Geometry                                                            */
/* ------------------------------------------------------------------ */

static uint64_t folio_div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

/**
 * folio_geom_init - derive the geometry from the basic parameters
 * @g: filled in
 * @block_shift: log2 of the block size (10..12)
 * @blocks_count: blocks in the filesystem
 * @inodes_per_group: inodes per group
 * @inode_size: bytes per inode
 *
 * Context: any thread.
 * Return: 0, or -EINVAL when the parameters break a rule of ON-DISK.md
 * (block size, inode size, inodes per group, inode count over 2^32 - 1,
 * descriptor table not fitting in group 0).
 */
int folio_geom_init(struct folio_geom *g, uint32_t block_shift, uint64_t blocks_count,
		    uint32_t inodes_per_group, uint32_t inode_size)
{
	uint32_t bs = 1u << block_shift;
	uint64_t groups, inodes;

	memset(g, 0, sizeof(*g));
	if (block_shift < FOLIO_MIN_BSHIFT || block_shift > FOLIO_MAX_BSHIFT)
		return -EINVAL;
	if (inode_size != 256 && inode_size != 512 && inode_size != 1024)
		return -EINVAL;
	if (inode_size > bs || inodes_per_group < FOLIO_MIN_IPG || inodes_per_group > 8 * bs ||
	    inodes_per_group % 8 || inodes_per_group % (bs / inode_size) || blocks_count == 0)
		return -EINVAL;
	groups = folio_div_up(blocks_count, 8ull * bs);
	inodes = groups * inodes_per_group;
	if (groups > UINT32_MAX || inodes > UINT32_MAX)
		return -EINVAL;
	g->block_size = bs;
	g->block_shift = block_shift;
	g->blocks_count = blocks_count;
	g->blocks_per_group = 8 * bs;
	g->inodes_per_group = inodes_per_group;
	g->groups_count = (uint32_t)groups;
	g->inodes_count = (uint32_t)inodes;
	g->inode_size = inode_size;
	g->inodes_per_block = bs / inode_size;
	g->itable_blocks = inodes_per_group / g->inodes_per_block;
	g->descs_per_block = bs / FOLIO_DESC_SIZE;
	g->gdt_blocks = (uint32_t)folio_div_up(groups, g->descs_per_block);
	g->gdt_block = 1;
	g->ext_node_max = (bs - FOLIO_BLK_PAYLOAD) / sizeof(struct folio_extent);
	g->dir_idx_max = (bs - FOLIO_BLK_PAYLOAD) / sizeof(struct folio_dir_idx);
	g->xattr_inode_room = inode_size - FOLIO_INODE_FIXED;
	if (1 + (uint64_t)g->gdt_blocks + 2 + g->itable_blocks >= g->blocks_per_group)
		return -EINVAL;
	return 0;
}

/**
 * folio_group_nblocks - blocks in a group
 * @g: the geometry
 * @group: a group number below g->groups_count
 *
 * Context: any thread.
 * Return: blocks_per_group, or fewer for a short last group.
 */
uint32_t folio_group_nblocks(const struct folio_geom *g, uint32_t group)
{
	uint64_t first = folio_group_first_block(g, group);
	uint64_t left = g->blocks_count - first;

	return left < g->blocks_per_group ? (uint32_t)left : g->blocks_per_group;
}

/**
 * folio_inode_pos - where an inode lives
 * @g: the geometry
 * @inode_table: bg_inode_table of the inode's group
 * @ino: a valid inode number
 * @blk: set to the inode table block holding it
 * @off: set to its byte offset in that block
 *
 * Context: any thread.
 */
void folio_inode_pos(const struct folio_geom *g, uint64_t inode_table, uint32_t ino, uint64_t *blk,
		     uint32_t *off)
{
	uint32_t index = folio_ino_index(g, ino);

	*blk = inode_table + index / g->inodes_per_block;
	*off = (index % g->inodes_per_block) * g->inode_size;
}

/**
 * folio_gd_pos - where a group descriptor lives
 * @g: the geometry
 * @group: the group number
 * @blk: set to the table block holding it
 * @off: set to its byte offset in that block
 *
 * Context: any thread.
 */
void folio_gd_pos(const struct folio_geom *g, uint32_t group, uint64_t *blk, uint32_t *off)
{
	*blk = g->gdt_block + group / g->descs_per_block;
	*off = (group % g->descs_per_block) * FOLIO_DESC_SIZE;
}

/**
 * folio_std_layout - where mkfs places a group's bitmaps and inode table
 * @g: the geometry
 * @group: the group number
 * @out: the block bitmap, inode bitmap, inode table and first block after them
 *
 * Group 0 starts with the superblock and the descriptor table; every group
 * then holds its block bitmap, inode bitmap and inode table, in that order.
 *
 * Context: any thread.
 */
void folio_std_layout(const struct folio_geom *g, uint32_t group, struct folio_layout *out)
{
	uint64_t start = folio_group_first_block(g, group);

	if (group == 0)
		start = g->gdt_block + g->gdt_blocks;
	out->block_bitmap = start;
	out->inode_bitmap = start + 1;
	out->inode_table = start + 2;
	out->first_free = start + 2 + g->itable_blocks;
}

/* ------------------------------------------------------------------ */
/* Superblock validation                                               */
/* ------------------------------------------------------------------ */

#define SBV_FAIL(err, ...)                                                                         \
	do {                                                                                       \
		snprintf(msg, msglen, __VA_ARGS__);                                                \
		return (err);                                                                      \
	} while (0)

/* Version and feature checks, before the checksum (a newer format may
 * checksum differently). */
static int folio_sb_check_version(const struct folio_super *sb, unsigned flags, char *msg,
				  size_t msglen)
{
	uint32_t ver = le32_to_cpu(sb->s_version);
	uint32_t inc = le32_to_cpu(sb->s_feature_incompat) & ~FOLIO_INCOMPAT_KNOWN;
	uint32_t roc = le32_to_cpu(sb->s_feature_ro_compat) & ~FOLIO_RO_COMPAT_KNOWN;

	if (ver > FOLIO_VERSION)
		SBV_FAIL(-EPROTONOSUPPORT, "format version %u is newer than the supported %u", ver,
			 FOLIO_VERSION);
	if (ver == 0)
		SBV_FAIL(-EUCLEAN, "corrupt superblock: format version 0");
	if (inc)
		SBV_FAIL(-EPROTONOSUPPORT, "unsupported incompatible features 0x%x", inc);
	if (roc && !(flags & FOLIO_SBV_RDONLY))
		SBV_FAIL(-EPROTONOSUPPORT,
			 "unsupported read-only-compatible features 0x%x (read-only use only)",
			 roc);
	return 0;
}

/* The journal's place: inside the filesystem, past the descriptor table,
 * large enough for a log; all zero without COMPAT_JOURNAL, and RECOVER only
 * with a journal. */
static int folio_sb_check_journal(const struct folio_super *sb, const struct folio_geom *g,
				  char *msg, size_t msglen)
{
	bool has = le32_to_cpu(sb->s_feature_compat) & FOLIO_COMPAT_JOURNAL;
	uint64_t start = le64_to_cpu(sb->s_journal_block), n = le64_to_cpu(sb->s_journal_blocks);

	if (!has) {
		if (le32_to_cpu(sb->s_feature_incompat) & FOLIO_INCOMPAT_RECOVER)
			SBV_FAIL(-EUCLEAN, "corrupt superblock: needs recovery but has no journal");
		return 0;
	}
	if (n < FOLIO_JOURNAL_MIN_LOG || n > UINT32_MAX || start <= g->gdt_block + g->gdt_blocks ||
	    start >= g->blocks_count || n > g->blocks_count - start)
		SBV_FAIL(-EUCLEAN, "corrupt superblock: journal of %llu blocks at %llu",
			 (unsigned long long)n, (unsigned long long)start);
	return 0;
}

/* The fields folio_geom_init() does not derive must agree with it. */
static int folio_sb_check_derived(const struct folio_super *sb, const struct folio_geom *g,
				  char *msg, size_t msglen)
{
	if (le32_to_cpu(sb->s_blocks_per_group) != g->blocks_per_group)
		SBV_FAIL(-EUCLEAN, "corrupt superblock: %u blocks per group, expected %u",
			 le32_to_cpu(sb->s_blocks_per_group), g->blocks_per_group);
	if (le32_to_cpu(sb->s_groups_count) != g->groups_count)
		SBV_FAIL(-EUCLEAN, "corrupt superblock: %u groups, expected %u",
			 le32_to_cpu(sb->s_groups_count), g->groups_count);
	if (le32_to_cpu(sb->s_inodes_count) != g->inodes_count)
		SBV_FAIL(-EUCLEAN, "corrupt superblock: %u inodes, expected %u",
			 le32_to_cpu(sb->s_inodes_count), g->inodes_count);
	if (le64_to_cpu(sb->s_gdt_block) != g->gdt_block ||
	    le32_to_cpu(sb->s_gdt_blocks) != g->gdt_blocks)
		SBV_FAIL(-EUCLEAN, "corrupt superblock: descriptor table at %llu (%u blocks)",
			 (unsigned long long)le64_to_cpu(sb->s_gdt_block),
			 le32_to_cpu(sb->s_gdt_blocks));
	if (le32_to_cpu(sb->s_root_ino) != FOLIO_ROOT_INO ||
	    le32_to_cpu(sb->s_first_ino) != FOLIO_FIRST_INO)
		SBV_FAIL(-EUCLEAN, "corrupt superblock: root inode %u, first inode %u",
			 le32_to_cpu(sb->s_root_ino), le32_to_cpu(sb->s_first_ino));
	return 0;
}

/* Counts and pointers that must lie inside the geometry. */
static int folio_sb_check_counts(const struct folio_super *sb, const struct folio_geom *g,
				 char *msg, size_t msglen)
{
	uint32_t compat = le32_to_cpu(sb->s_feature_compat);
	uint32_t orphan = le32_to_cpu(sb->s_orphan_head);

	if (le64_to_cpu(sb->s_free_blocks) > g->blocks_count ||
	    le32_to_cpu(sb->s_free_inodes) > g->inodes_count)
		SBV_FAIL(-EUCLEAN, "corrupt superblock: free counts exceed totals");
	if (le64_to_cpu(sb->s_reserved_blocks) > g->blocks_count)
		SBV_FAIL(-EUCLEAN, "corrupt superblock: reserved blocks exceed total");
	if (orphan && !folio_ino_valid(g, orphan))
		SBV_FAIL(-EUCLEAN, "corrupt superblock: orphan list head %u out of range", orphan);
	if ((compat & FOLIO_COMPAT_BACKUP_SB) &&
	    le64_to_cpu(sb->s_backup_sb_block) != g->blocks_count - 1)
		SBV_FAIL(-EUCLEAN, "corrupt superblock: backup superblock at %llu",
			 (unsigned long long)le64_to_cpu(sb->s_backup_sb_block));
	if ((compat & FOLIO_COMPAT_JOURNAL) && le32_to_cpu(sb->s_journal_ino) != FOLIO_JOURNAL_INO)
		SBV_FAIL(-EUCLEAN, "corrupt superblock: journal inode %u",
			 le32_to_cpu(sb->s_journal_ino));
	return folio_sb_check_journal(sb, g, msg, msglen);
}

/**
 * folio_sb_validate - decide whether a superblock can be used
 * @sb: the first FOLIO_SB_SIZE bytes of the device
 * @dev_bytes: the device size in bytes (0: do not check)
 * @flags: FOLIO_SBV_RDONLY, FOLIO_SBV_NOCSUM
 * @geom: filled in on success (may be NULL)
 * @msg: receives one line saying what is wrong (no trailing newline)
 * @msglen: size of @msg
 *
 * Checks, in order: magic, version, features, checksum, geometry, device
 * size.
 *
 * Context: any thread.
 * Return: 0; -EINVAL if not foliofs; -EPROTONOSUPPORT for a newer version or
 * an unsupported feature; -EBADMSG for a checksum mismatch; -EUCLEAN for
 * fields that contradict each other; -ENOSPC when the device is smaller than
 * the filesystem.
 */
int folio_sb_validate(const struct folio_super *sb, uint64_t dev_bytes, unsigned flags,
		      struct folio_geom *geom, char *msg, size_t msglen)
{
	struct folio_geom g;
	uint32_t shift = le32_to_cpu(sb->s_log_block_size) + FOLIO_MIN_BSHIFT;
	uint64_t blocks = le64_to_cpu(sb->s_blocks_count);
	int ret;

	if (msglen)
		msg[0] = '\0';
	if (le64_to_cpu(sb->s_magic) != FOLIO_SB_MAGIC)
		SBV_FAIL(-EINVAL, "not a foliofs filesystem (bad magic)");
	ret = folio_sb_check_version(sb, flags, msg, msglen);
	if (ret)
		return ret;
	if (!(flags & FOLIO_SBV_NOCSUM) && !folio_sb_csum_ok(sb))
		SBV_FAIL(-EBADMSG, "superblock checksum mismatch (stored 0x%08x, computed 0x%08x)",
			 le32_to_cpu(sb->s_checksum), folio_sb_csum(sb));
	if (le32_to_cpu(sb->s_log_block_size) > FOLIO_MAX_BSHIFT - FOLIO_MIN_BSHIFT)
		SBV_FAIL(-EUCLEAN, "corrupt superblock: block size 2^%u",
			 le32_to_cpu(sb->s_log_block_size) + FOLIO_MIN_BSHIFT);
	if (folio_geom_init(&g, shift, blocks, le32_to_cpu(sb->s_inodes_per_group),
			    le16_to_cpu(sb->s_inode_size)))
		SBV_FAIL(-EUCLEAN,
			 "corrupt superblock: %llu blocks of %u bytes, %u inodes of %u bytes per "
			 "group",
			 (unsigned long long)blocks, 1u << shift,
			 le32_to_cpu(sb->s_inodes_per_group), le16_to_cpu(sb->s_inode_size));
	ret = folio_sb_check_derived(sb, &g, msg, msglen);
	if (!ret)
		ret = folio_sb_check_counts(sb, &g, msg, msglen);
	if (ret)
		return ret;
	if (dev_bytes && blocks > dev_bytes >> shift)
		SBV_FAIL(-ENOSPC, "the filesystem has %llu blocks but the device holds only %llu",
			 (unsigned long long)blocks, (unsigned long long)(dev_bytes >> shift));
	if (geom)
		*geom = g;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Directory names                                                     */
/* ------------------------------------------------------------------ */

#define FOLIO_FNV_OFFSET 0xcbf29ce484222325ULL
#define FOLIO_FNV_PRIME	 0x00000100000001b3ULL

/**
 * folio_dirhash - the directory name hash
 * @seed: the superblock's s_hash_seed, in CPU order
 * @name: the name bytes
 * @len: their number
 *
 * FNV-1a over the bytes, started from the FNV offset basis xor seed[0]; then
 * xor seed[1] and the length, then a 64-bit finaliser (ON-DISK.md gives the
 * exact steps and test vectors).
 *
 * Context: any thread.
 * Return: the 64-bit hash.
 */
uint64_t folio_dirhash(const uint64_t seed[2], const void *name, size_t len)
{
	const uint8_t *p = name;
	uint64_t h = FOLIO_FNV_OFFSET ^ seed[0];

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= FOLIO_FNV_PRIME;
	}
	h ^= seed[1] ^ (uint64_t)len;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

/**
 * folio_dir_key_base - the first directory key a hash maps to
 * @hash: folio_dirhash() of the name
 *
 * A name's record has key base | c for a collision index c in 0..255.
 *
 * Context: any thread.
 * Return: hash & FOLIO_DIR_KEY_MASK, raised to FOLIO_DIR_KEY_MIN if lower.
 */
uint64_t folio_dir_key_base(uint64_t hash)
{
	uint64_t base = hash & FOLIO_DIR_KEY_MASK;

	return base < FOLIO_DIR_KEY_MIN ? FOLIO_DIR_KEY_MIN : base;
}

/**
 * folio_name_valid - tell whether a directory entry name is allowed
 * @name: the bytes
 * @len: their number
 *
 * Context: any thread.
 * Return: true for 1..255 bytes without '/' or NUL, other than "." and "..".
 */
bool folio_name_valid(const void *name, size_t len)
{
	const char *s = name;

	if (len == 0 || len > FOLIO_NAME_MAX)
		return false;
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	return memchr(s, '/', len) == NULL && memchr(s, '\0', len) == NULL;
}

/**
 * folio_dirent_next - step through the records of a directory leaf
 * @payload: the leaf's payload (the block from byte 32)
 * @used: dn_used
 * @off: offset of the next record; advanced past it
 * @out: set to the record
 *
 * Context: any thread.
 * Return: 1 with a record, 0 at the end, -EUCLEAN when the record at @off is
 * malformed or runs past @used.
 */
int folio_dirent_next(const void *payload, uint32_t used, uint32_t *off,
		      const struct folio_dirent **out)
{
	const struct folio_dirent *de;
	uint32_t size;

	if (*off == used)
		return 0;
	if (*off > used || used - *off < FOLIO_DIRENT_HDR || *off % 8)
		return -EUCLEAN;
	de = (const struct folio_dirent *)((const uint8_t *)payload + *off);
	size = folio_dirent_size(de->de_namelen);
	if (de->de_namelen == 0 || size > used - *off)
		return -EUCLEAN;
	*out = de;
	*off += size;
	return 1;
}

/**
 * folio_dirent_encode - write one directory leaf record
 * @dst: where the record goes (8-byte aligned offset in the payload)
 * @key: its key (folio_dir_key_base() | collision index)
 * @ino: the inode it names
 * @type: FOLIO_FT_* of that inode
 * @name: the name (folio_name_valid())
 * @namelen: its length
 *
 * Context: caller holds the leaf's buffer locked.
 * Return: bytes written, folio_dirent_size(@namelen), padding zeroed.
 */
uint32_t folio_dirent_encode(void *dst, uint64_t key, uint32_t ino, uint8_t type, const void *name,
			     uint8_t namelen)
{
	struct folio_dirent *de = dst;
	uint32_t size = folio_dirent_size(namelen);

	memset(dst, 0, size);
	de->de_key = cpu_to_le64(key);
	de->de_ino = cpu_to_le32(ino);
	de->de_type = type;
	de->de_namelen = namelen;
	memcpy(de->de_name, name, namelen);
	return size;
}

/**
 * folio_mode_to_ftype - directory entry type for a mode
 * @mode: an st_mode value
 *
 * Context: any thread.
 * Return: FOLIO_FT_*, or 0 for a mode with no valid file type.
 */
uint8_t folio_mode_to_ftype(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFIFO:
		return FOLIO_FT_FIFO;
	case S_IFCHR:
		return FOLIO_FT_CHR;
	case S_IFDIR:
		return FOLIO_FT_DIR;
	case S_IFBLK:
		return FOLIO_FT_BLK;
	case S_IFREG:
		return FOLIO_FT_REG;
	case S_IFLNK:
		return FOLIO_FT_LNK;
	case S_IFSOCK:
		return FOLIO_FT_SOCK;
	default:
		return 0;
	}
}

/* ------------------------------------------------------------------ */
/* Extents                                                             */
/* ------------------------------------------------------------------ */

/**
 * folio_eh_check - sanity of an extent header
 * @eh: the header (in the inode or at byte 24 of a node)
 * @max: the capacity it must state (FOLIO_EXT_INLINE or geom->ext_node_max)
 *
 * Context: any thread.
 * Return: 0, or -EUCLEAN for a wrong magic or capacity, more entries than
 * the capacity, or a depth over FOLIO_EXT_MAX_DEPTH.
 */
int folio_eh_check(const struct folio_extent_header *eh, uint32_t max)
{
	if (le16_to_cpu(eh->eh_magic) != FOLIO_EH_MAGIC || le16_to_cpu(eh->eh_max) != max)
		return -EUCLEAN;
	if (le16_to_cpu(eh->eh_entries) > max || le16_to_cpu(eh->eh_depth) > FOLIO_EXT_MAX_DEPTH)
		return -EUCLEAN;
	return 0;
}

/**
 * folio_eh_init - an empty extent header
 * @eh: the header (in i_data, or at byte 24 of a node)
 * @max: FOLIO_EXT_INLINE in the inode, geom->ext_node_max in a node
 * @depth: 0 for a leaf
 *
 * Context: caller owns the inode or node buffer.
 */
void folio_eh_init(struct folio_extent_header *eh, uint16_t max, uint16_t depth)
{
	eh->eh_magic = cpu_to_le16(FOLIO_EH_MAGIC);
	eh->eh_entries = 0;
	eh->eh_max = cpu_to_le16(max);
	eh->eh_depth = cpu_to_le16(depth);
}

/* ------------------------------------------------------------------ */
/* Extended attributes                                                 */
/* ------------------------------------------------------------------ */

static const char *const folio_xattr_prefixes[] = {
	[FOLIO_XATTR_USER] = "user.",
	[FOLIO_XATTR_TRUSTED] = "trusted.",
	[FOLIO_XATTR_SECURITY] = "security.",
	[FOLIO_XATTR_ACL_ACCESS] = "system.posix_acl_access",
	[FOLIO_XATTR_ACL_DEFAULT] = "system.posix_acl_default",
};

/**
 * folio_xattr_prefix - the name prefix of an xattr index
 * @index: enum folio_xattr_index
 *
 * Context: any thread.
 * Return: the prefix ("user." ...; the whole name for the two ACLs), or NULL
 * for an unknown index.
 */
const char *folio_xattr_prefix(uint8_t index)
{
	if (index < FOLIO_XATTR_USER || index > FOLIO_XATTR_ACL_DEFAULT)
		return NULL;
	return folio_xattr_prefixes[index];
}

/**
 * folio_xattr_split - map a full attribute name to its stored form
 * @fullname: NUL-terminated name as the VFS gives it
 * @index: set to the namespace index
 * @name: set to the part after the prefix
 * @namelen: set to its length
 *
 * Context: any thread.
 * Return: 0; -EOPNOTSUPP for a namespace foliofs does not store; -EINVAL for
 * an empty name after "user.", "trusted." or "security."; -ERANGE when that
 * part is longer than FOLIO_XATTR_NAME_MAX.
 */
int folio_xattr_split(const char *fullname, uint8_t *index, const char **name, size_t *namelen)
{
	for (uint8_t i = FOLIO_XATTR_USER; i <= FOLIO_XATTR_ACL_DEFAULT; i++) {
		const char *p = folio_xattr_prefixes[i];
		size_t plen = strlen(p);
		bool acl = i >= FOLIO_XATTR_ACL_ACCESS;

		if (acl ? strcmp(fullname, p) != 0 : strncmp(fullname, p, plen) != 0)
			continue;
		*index = i;
		*name = fullname + plen;
		*namelen = strlen(*name);
		if (!acl && *namelen == 0)
			return -EINVAL;
		if (*namelen > FOLIO_XATTR_NAME_MAX)
			return -ERANGE;
		return 0;
	}
	return -EOPNOTSUPP;
}

/**
 * folio_xattr_next - step through an xattr area
 * @area: the in-inode area or the xattr block's payload
 * @used: i_xattr_len or xb_used
 * @off: offset of the next entry; advanced past it
 * @out: set to the entry
 *
 * Context: any thread.
 * Return: 1 with an entry, 0 at the end, -EUCLEAN for an unknown index, a name
 * length that does not fit its index, or an entry running past @used.
 */
int folio_xattr_next(const void *area, uint32_t used, uint32_t *off, struct folio_xattr_ref *out)
{
	const struct folio_xattr_entry *xe;
	uint32_t size;
	bool acl;

	if (*off == used)
		return 0;
	if (*off > used || used - *off < FOLIO_XATTR_HDR || *off % 4)
		return -EUCLEAN;
	xe = (const struct folio_xattr_entry *)((const uint8_t *)area + *off);
	if (!folio_xattr_prefix(xe->xe_index))
		return -EUCLEAN;
	acl = xe->xe_index >= FOLIO_XATTR_ACL_ACCESS;
	if (acl != (xe->xe_namelen == 0))
		return -EUCLEAN;
	size = folio_xattr_entry_size(xe->xe_namelen, le16_to_cpu(xe->xe_valuelen));
	if (size > used - *off)
		return -EUCLEAN;
	out->index = xe->xe_index;
	out->namelen = xe->xe_namelen;
	out->valuelen = le16_to_cpu(xe->xe_valuelen);
	out->name = xe->xe_name;
	out->value = (const uint8_t *)xe->xe_name + xe->xe_namelen;
	out->offset = *off;
	out->size = size;
	*off += size;
	return 1;
}

/**
 * folio_xattr_encode - write one xattr entry
 * @dst: where it goes (4-byte aligned offset in the area)
 * @index: enum folio_xattr_index
 * @name: the name after the prefix (empty for the ACLs)
 * @namelen: its length
 * @value: the value
 * @valuelen: its length
 *
 * Context: caller holds the inode's or the block's buffer locked.
 * Return: bytes written, folio_xattr_entry_size(), padding zeroed.
 */
uint32_t folio_xattr_encode(void *dst, uint8_t index, const void *name, uint8_t namelen,
			    const void *value, uint16_t valuelen)
{
	struct folio_xattr_entry *xe = dst;
	uint32_t size = folio_xattr_entry_size(namelen, valuelen);

	memset(dst, 0, size);
	xe->xe_index = index;
	xe->xe_namelen = namelen;
	xe->xe_valuelen = cpu_to_le16(valuelen);
	if (namelen)
		memcpy(xe->xe_name, name, namelen);
	if (valuelen)
		memcpy(xe->xe_name + namelen, value, valuelen);
	return size;
}

/**
 * folio_acl_valid - check a POSIX ACL xattr value
 * @value: the value of system.posix_acl_access or system.posix_acl_default
 * @len: its length
 *
 * The value is the kernel's blob: struct folio_acl_header (version 2), then
 * struct folio_acl_entry's (le16 tag, le16 perm, le32 id).
 *
 * Context: any thread.
 * Return: true when the version, length and every tag are valid.
 */
bool folio_acl_valid(const void *value, size_t len)
{
	const uint8_t *p = value;
	struct folio_acl_header h;

	if (len < sizeof(h) || (len - sizeof(h)) % sizeof(struct folio_acl_entry))
		return false;
	memcpy(&h, p, sizeof(h));
	if (le32_to_cpu(h.a_version) != FOLIO_ACL_VERSION)
		return false;
	for (size_t off = sizeof(h); off < len; off += sizeof(struct folio_acl_entry)) {
		struct folio_acl_entry e;

		memcpy(&e, p + off, sizeof(e));
		switch (le16_to_cpu(e.e_tag)) {
		case FOLIO_ACL_USER_OBJ:
		case FOLIO_ACL_USER:
		case FOLIO_ACL_GROUP_OBJ:
		case FOLIO_ACL_GROUP:
		case FOLIO_ACL_MASK:
		case FOLIO_ACL_OTHER:
			break;
		default:
			return false;
		}
	}
	return true;
}
