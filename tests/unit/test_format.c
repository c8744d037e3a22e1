/*
 * tests/unit/test_format.c - unit tests of the on-disk format library
 * (format/format.c, format/crc32c.c).
 *
 * Checks: CRC-32C known vectors on both implementations and their agreement
 * on random buffers of every alignment; the directory name hash against
 * pinned values (a change of the function would break every image); struct
 * sizes; checksum set/verify round trips for superblock, descriptor, inode and
 * headed block, each detecting every single flipped bit; group and inode
 * arithmetic for each block size; superblock validation error codes; the
 * record parsers on good and malformed input.
 */
#include "config.h"

#include "format/crc32c.h"
#include "format/format.h"
#include "tests/lib/tap.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const uint8_t test_uuid[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef,
				      0x80, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};

static void test_crc32c(void)
{
	uint8_t buf[4096 + 16];
	uint32_t x = 1;

	is_u64(crc32c(0, "123456789", 9), 0xE3069283, "crc32c(\"123456789\") = 0xE3069283");
	is_u64(crc32c_sw(0, "123456789", 9), 0xE3069283, "table crc32c(\"123456789\")");
	is_u64(crc32c(0, "", 0), 0, "crc32c of nothing is 0");
	memset(buf, 0, 32);
	is_u64(crc32c(0, buf, 32), 0x8A9136AA, "crc32c of 32 zero bytes (RFC 3720)");
	memset(buf, 0xff, 32);
	is_u64(crc32c(0, buf, 32), 0x62A8AB43, "crc32c of 32 0xff bytes (RFC 3720)");
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	is_u64(crc32c_sw(0, buf, 32), 0x46DD794E, "crc32c of bytes 0..31 (RFC 3720)");
	is_u64(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283, "crc32c continues");
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	int bad = 0;
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len < 300; len += 7)
			bad += crc32c(7, buf + off, len) != crc32c_sw(7, buf + off, len);
	ok(bad == 0, "hardware (%s) and table paths agree on every alignment",
	   crc32c_hw_available() ? "sse4.2" : "absent");
	is_u64(crc32c(0, buf, 4096), crc32c_sw(0, buf, 4096), "both paths agree on a 4 KiB block");
}

static void test_dirhash(void)
{
	const uint64_t zero[2] = {0, 0};
	const uint64_t seed[2] = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};

	is_u64(folio_dirhash(zero, "", 0), 0xf52a15e9a9b5e89bULL, "hash('') seed 0 pinned");
	is_u64(folio_dirhash(zero, "a", 1), 0x8097ca68b9cc797bULL, "hash('a') seed 0 pinned");
	is_u64(folio_dirhash(zero, "lost+found", 10), 0x83401696af6a3c01ULL,
	       "hash('lost+found') seed 0 pinned");
	is_u64(folio_dirhash(seed, "lost+found", 10), 0xbabfb58bbe1b6e49ULL,
	       "hash('lost+found') seeded pinned");
	is_u64(folio_dirhash(seed, "file-00001", 10), 0x6dc5e01cb4158d97ULL,
	       "hash('file-00001') seeded pinned");
	ok(folio_dirhash(seed, "ab", 2) != folio_dirhash(seed, "ba", 2), "order matters");
	ok(folio_dirhash(zero, "x", 1) != folio_dirhash(seed, "x", 1), "the seed matters");
	is_u64(folio_dir_key_base(0x8000000000000042ULL), FOLIO_DIR_KEY_MIN,
	       "key base: bit 63 dropped, raised to the minimum");
	is_u64(folio_dir_key_base(0xffffffffffffffffULL), 0x7fffffffffffff00ULL,
	       "key base: low 8 bits clear");

	/* 100000 names: key bases are spread (few collisions, none past 2). */
	int coll = 0;
	static uint64_t keys[100000];
	for (int i = 0; i < 100000; i++) {
		char name[32];
		int n = snprintf(name, sizeof(name), "file-%06d", i);

		keys[i] = folio_dir_key_base(folio_dirhash(seed, name, (size_t)n));
	}
	for (int i = 1; i < 100000; i++)
		coll += keys[i] == keys[i - 1];
	ok(coll == 0, "consecutive names never share a key base");
}

static void test_sizes(void)
{
	is_int(sizeof(struct folio_super), 1024, "superblock is 1024 bytes");
	is_int(sizeof(struct folio_group_desc), 64, "group descriptor is 64 bytes");
	is_int(sizeof(struct folio_inode), 192, "inode fixed part is 192 bytes");
	is_int(offsetof(struct folio_inode, i_data), 0x70, "i_data at 0x70");
	is_int(sizeof(struct folio_extent), 24, "extent is 24 bytes");
	is_int(sizeof(struct folio_extent_idx), 24, "extent index is 24 bytes");
	is_int(sizeof(struct folio_extent_root), 80, "inline extent root fills i_data");
	is_int(sizeof(struct folio_blk_hdr), 24, "block header is 24 bytes");
	is_int(sizeof(struct folio_dir_node), 32, "dir node header is 32 bytes");
	is_int(sizeof(struct folio_dirent), 14, "dirent header is 14 bytes");
	is_int(folio_dirent_size(1), 16, "1-byte name record is 16 bytes");
	is_int(folio_dirent_size(255), 272, "255-byte name record is 272 bytes");
	is_int(folio_xattr_entry_size(4, 5), 16, "xattr entry padded to 4");
}

/* A valid superblock for a filesystem of @blocks blocks of 1 << shift bytes. */
static void make_sb(struct folio_super *sb, uint32_t shift, uint64_t blocks, uint32_t ipg)
{
	struct folio_geom g;

	if (folio_geom_init(&g, shift, blocks, ipg, 256))
		BAIL("folio_geom_init failed for shift %u", shift);
	memset(sb, 0, sizeof(*sb));
	sb->s_magic = cpu_to_le64(FOLIO_SB_MAGIC);
	sb->s_version = cpu_to_le32(FOLIO_VERSION);
	sb->s_feature_compat = cpu_to_le32(FOLIO_COMPAT_BACKUP_SB);
	sb->s_log_block_size = cpu_to_le32(shift - 10);
	sb->s_blocks_count = cpu_to_le64(blocks);
	sb->s_inodes_count = cpu_to_le32(g.inodes_count);
	sb->s_blocks_per_group = cpu_to_le32(g.blocks_per_group);
	sb->s_inodes_per_group = cpu_to_le32(ipg);
	sb->s_groups_count = cpu_to_le32(g.groups_count);
	sb->s_inode_size = cpu_to_le16(256);
	sb->s_state = cpu_to_le16(FOLIO_STATE_CLEAN);
	sb->s_root_ino = cpu_to_le32(FOLIO_ROOT_INO);
	sb->s_first_ino = cpu_to_le32(FOLIO_FIRST_INO);
	sb->s_gdt_blocks = cpu_to_le32(g.gdt_blocks);
	sb->s_gdt_block = cpu_to_le64(1);
	sb->s_backup_sb_block = cpu_to_le64(blocks - 1);
	memcpy(sb->s_uuid, test_uuid, 16);
	folio_sb_csum_set(sb);
}

/* Flip every bit of @buf in turn; count the flips @ok still accepts. */
#define COUNT_MISSED(buf, len, okexpr)                                                             \
	({                                                                                         \
		int missed_ = 0;                                                                   \
		for (size_t byte_ = 0; byte_ < (len); byte_++)                                     \
			for (int bit_ = 0; bit_ < 8; bit_++) {                                     \
				((uint8_t *)(buf))[byte_] ^= (uint8_t)(1u << bit_);                \
				missed_ += !!(okexpr);                                             \
				((uint8_t *)(buf))[byte_] ^= (uint8_t)(1u << bit_);                \
			}                                                                          \
		missed_;                                                                           \
	})

static void test_checksums(void)
{
	struct folio_super sb;
	struct folio_group_desc gd = {.bg_block_bitmap = cpu_to_le64(3), .bg_free_blocks = 7};
	uint32_t seed = folio_fs_seed(test_uuid);

	make_sb(&sb, 12, 16384, 2048);
	ok(folio_sb_csum_ok(&sb), "superblock checksum round trip");
	is_int(COUNT_MISSED(&sb, sizeof(sb), folio_sb_csum_ok(&sb)), 0,
	       "every flipped superblock bit is detected");
	is_u64(seed, crc32c(0, test_uuid, 16), "seed is crc32c of the uuid");

	folio_gd_csum_set(seed, 5, &gd);
	ok(folio_gd_csum_ok(seed, 5, &gd), "descriptor checksum round trip");
	ok(!folio_gd_csum_ok(seed, 6, &gd), "descriptor checksum binds the group number");
	is_int(COUNT_MISSED(&gd, sizeof(gd), folio_gd_csum_ok(seed, 5, &gd)), 0,
	       "every flipped descriptor bit is detected");
}

static void test_checksums_inode_block(void)
{
	uint8_t inode[256] = {0}, block[1024] = {0};
	uint32_t seed = folio_fs_seed(test_uuid);

	((struct folio_inode *)inode)->i_mode = cpu_to_le16(S_IFREG | 0644);
	folio_inode_csum_set(seed, 12, inode, 256);
	ok(folio_inode_csum_ok(seed, 12, inode, 256), "inode checksum round trip");
	ok(!folio_inode_csum_ok(seed, 13, inode, 256), "inode checksum binds the inode number");
	ok(!folio_inode_csum_ok(seed ^ 1, 12, inode, 256), "inode checksum binds the seed");
	is_int(COUNT_MISSED(inode, 256, folio_inode_csum_ok(seed, 12, inode, 256)), 0,
	       "every flipped inode bit is detected");

	struct folio_blk_hdr *h = (void *)block;
	h->h_magic = cpu_to_le32(FOLIO_DIR_MAGIC);
	h->h_blocknr = cpu_to_le64(77);
	h->h_owner = cpu_to_le32(1);
	folio_block_csum_set(seed, block, sizeof(block));
	is_int(folio_block_check(seed, block, sizeof(block), FOLIO_DIR_MAGIC, 77, 1), 0,
	       "block check round trip");
	is_int(folio_block_check(seed, block, sizeof(block), FOLIO_EXT_MAGIC, 77, 1), -EUCLEAN,
	       "wrong magic: -EUCLEAN");
	is_int(folio_block_check(seed, block, sizeof(block), FOLIO_DIR_MAGIC, 78, 1), -EUCLEAN,
	       "wrong block number: -EUCLEAN");
	block[500] ^= 0x10;
	is_int(folio_block_check(seed, block, sizeof(block), FOLIO_DIR_MAGIC, 77, 1), -EBADMSG,
	       "flipped payload bit: -EBADMSG");
	block[500] ^= 0x10;
	is_int(COUNT_MISSED(block, sizeof(block), folio_block_csum_ok(seed, block, sizeof(block))),
	       0, "every flipped block bit is detected");
	ok(folio_bitmap_csum(seed, block, 1024) == crc32c(seed, block, 1024),
	   "bitmap checksum is crc32c(seed, block)");
}

static void test_geometry_one(uint32_t shift)
{
	uint32_t bs = 1u << shift;
	struct folio_geom g;
	struct folio_layout l;
	uint64_t blk;
	uint32_t off;
	/* 2.5 groups of blocks, 64 inodes per group. */
	uint64_t blocks = 8ull * bs * 2 + 4ull * bs;

	is_int(folio_geom_init(&g, shift, blocks, 64, 256), 0, "B=%u: geometry", bs);
	is_int(g.blocks_per_group, 8 * bs, "B=%u: blocks per group", bs);
	is_int(g.groups_count, 3, "B=%u: 3 groups", bs);
	is_int(folio_group_nblocks(&g, 0), 8 * bs, "B=%u: full first group", bs);
	is_int(folio_group_nblocks(&g, 2), 4 * bs, "B=%u: short last group", bs);
	is_int(folio_group_of_block(&g, 8ull * bs), 1, "B=%u: first block of group 1", bs);
	is_int(folio_group_of_block(&g, 8ull * bs - 1), 0, "B=%u: last block of group 0", bs);
	is_int(g.inodes_count, 192, "B=%u: inodes", bs);
	is_int(g.itable_blocks, 64 * 256 / bs, "B=%u: inode table blocks", bs);
	is_int(g.ext_node_max, (bs - 32) / 24, "B=%u: extents per node", bs);
	is_int(folio_ino_group(&g, 64), 0, "B=%u: inode 64 in group 0", bs);
	is_int(folio_ino_group(&g, 65), 1, "B=%u: inode 65 in group 1", bs);
	folio_std_layout(&g, 0, &l);
	is_u64(l.block_bitmap, 2, "B=%u: group 0 block bitmap after sb and 1 gdt block", bs);
	folio_std_layout(&g, 1, &l);
	is_u64(l.block_bitmap, 8ull * bs, "B=%u: group 1 bitmap at its first block", bs);
	is_u64(l.inode_table, 8ull * bs + 2, "B=%u: group 1 inode table", bs);
	folio_inode_pos(&g, 100, 65 + bs / 256, &blk, &off);
	is_u64(blk, 101, "B=%u: inode position block", bs);
	is_int(off, 0, "B=%u: inode position offset", bs);
	folio_inode_pos(&g, 100, 66, &blk, &off);
	is_int(off, 256, "B=%u: second inode of a block at 256", bs);
	folio_gd_pos(&g, bs / 64 + 1, &blk, &off);
	is_u64(blk, 2, "B=%u: descriptor in the second table block", bs);
	is_int(off, 64, "B=%u: descriptor offset", bs);
	ok(folio_geom_init(&g, shift, blocks, 60, 256) == -EINVAL, "B=%u: ipg not multiple of 8",
	   bs);
	ok(folio_geom_init(&g, shift, blocks, 16 * bs, 256) == -EINVAL, "B=%u: ipg over 8*B", bs);
}

static void test_validate(void)
{
	struct folio_super sb, bad;
	struct folio_geom g;
	char msg[200];

	make_sb(&sb, 10, 65536, 512);
	is_int(folio_sb_validate(&sb, 65536ull * 1024, 0, &g, msg, sizeof(msg)), 0,
	       "valid superblock accepted");
	is_int(g.groups_count, 8, "geometry from validate");
	bad = sb;
	bad.s_magic ^= 1;
	is_int(folio_sb_validate(&bad, 0, 0, NULL, msg, sizeof(msg)), -EINVAL,
	       "bad magic: -EINVAL");
	ok(strstr(msg, "not a foliofs") != NULL, "message: %s", msg);
	bad = sb;
	bad.s_version = cpu_to_le32(2);
	folio_sb_csum_set(&bad);
	is_int(folio_sb_validate(&bad, 0, 0, NULL, msg, sizeof(msg)), -EPROTONOSUPPORT,
	       "newer version: -EPROTONOSUPPORT (%s)", msg);
	bad = sb;
	bad.s_feature_incompat = cpu_to_le32(0x80);
	folio_sb_csum_set(&bad);
	is_int(folio_sb_validate(&bad, 0, 0, NULL, msg, sizeof(msg)), -EPROTONOSUPPORT,
	       "unknown incompat: -EPROTONOSUPPORT (%s)", msg);
	bad = sb;
	bad.s_feature_ro_compat = cpu_to_le32(0x1);
	folio_sb_csum_set(&bad);
	is_int(folio_sb_validate(&bad, 0, 0, NULL, msg, sizeof(msg)), -EPROTONOSUPPORT,
	       "unknown ro_compat read-write: -EPROTONOSUPPORT");
	is_int(folio_sb_validate(&bad, 0, FOLIO_SBV_RDONLY, NULL, msg, sizeof(msg)), 0,
	       "unknown ro_compat read-only: accepted");
	bad = sb;
	bad.s_label[3] ^= 0x20;
	is_int(folio_sb_validate(&bad, 0, 0, NULL, msg, sizeof(msg)), -EBADMSG,
	       "checksum mismatch: -EBADMSG (%s)", msg);
	is_int(folio_sb_validate(&bad, 0, FOLIO_SBV_NOCSUM, NULL, msg, sizeof(msg)), 0,
	       "NOCSUM skips the checksum");
	bad = sb;
	bad.s_blocks_per_group = cpu_to_le32(4096);
	folio_sb_csum_set(&bad);
	is_int(folio_sb_validate(&bad, 0, 0, NULL, msg, sizeof(msg)), -EUCLEAN,
	       "inconsistent geometry: -EUCLEAN (%s)", msg);
	bad = sb;
	bad.s_log_block_size = cpu_to_le32(3);
	folio_sb_csum_set(&bad);
	is_int(folio_sb_validate(&bad, 0, 0, NULL, msg, sizeof(msg)), -EUCLEAN,
	       "8 KiB blocks: -EUCLEAN (%s)", msg);
	is_int(folio_sb_validate(&sb, 65535ull * 1024, 0, NULL, msg, sizeof(msg)), -ENOSPC,
	       "device smaller than the filesystem: -ENOSPC (%s)", msg);
}

static void test_dirent_parse(void)
{
	uint8_t leaf[64] = {0};
	struct folio_dirent *de = (void *)leaf;
	const struct folio_dirent *got;
	uint32_t off = 0;

	de->de_namelen = 3;
	memcpy(de->de_name, "abc", 3);
	is_int(folio_dirent_next(leaf, 24, &off, &got), 1, "dirent parsed");
	is_int(off, 24, "dirent advanced by its padded size");
	is_int(folio_dirent_next(leaf, 24, &off, &got), 0, "end of leaf");
	off = 0;
	is_int(folio_dirent_next(leaf, 16, &off, &got), -EUCLEAN, "record past used: -EUCLEAN");
	ok(folio_name_valid("a", 1) && !folio_name_valid(".", 1) && !folio_name_valid("..", 2) &&
		   !folio_name_valid("a/b", 3) && !folio_name_valid("a\0b", 3) &&
		   !folio_name_valid("", 0) && folio_name_valid("...", 3),
	   "name rules");
}

static void test_xattr_parse(void)
{
	uint8_t area[64] = {0};
	struct folio_xattr_ref r;
	uint32_t off = 0;
	uint8_t idx;
	const char *name;
	size_t nlen;

	is_int(folio_xattr_split("user.foo", &idx, &name, &nlen), 0, "user.foo splits");
	ok(idx == FOLIO_XATTR_USER && nlen == 3 && !memcmp(name, "foo", 3), "user index and name");
	is_int(folio_xattr_split("system.posix_acl_default", &idx, &name, &nlen), 0, "acl splits");
	ok(idx == FOLIO_XATTR_ACL_DEFAULT && nlen == 0, "acl default index, empty name");
	is_int(folio_xattr_split("system.foo", &idx, &name, &nlen), -EOPNOTSUPP,
	       "other system. names: -EOPNOTSUPP");
	is_int(folio_xattr_split("user.", &idx, &name, &nlen), -EINVAL, "empty user name: -EINVAL");

	struct folio_xattr_entry *xe = (void *)area;

	xe->xe_index = FOLIO_XATTR_SECURITY;
	xe->xe_namelen = 7;
	xe->xe_valuelen = cpu_to_le16(3);
	memcpy(xe->xe_name, "selinuxabc", 10);
	off = 0;
	is_int(folio_xattr_next(area, 16, &off, &r), 1, "xattr parsed");
	ok(r.namelen == 7 && r.valuelen == 3 && !memcmp(r.name, "selinux", 7) &&
		   !memcmp(r.value, "abc", 3),
	   "xattr fields");
	is_int(off, 16, "xattr advanced by its padded size");
	off = 0;
	is_int(folio_xattr_next(area, 12, &off, &r), -EUCLEAN, "entry past used: -EUCLEAN");
	off = 0;
	xe->xe_index = FOLIO_XATTR_ACL_ACCESS;
	is_int(folio_xattr_next(area, 16, &off, &r), -EUCLEAN, "ACL entry with a name: -EUCLEAN");
	xe->xe_index = 9;
	is_int(folio_xattr_next(area, 16, &off, &r), -EUCLEAN, "unknown index: -EUCLEAN");
}

/* Encoders produce what the parsers and checkers accept. */
static void test_encoders(void)
{
	uint8_t buf[1024], area[64];
	const struct folio_dirent *de;
	struct folio_xattr_ref r;
	uint32_t off = 0, seed = folio_fs_seed(test_uuid), used;
	struct folio_extent_header eh;

	memset(buf, 0xAA, sizeof(buf));
	folio_block_init(buf, sizeof(buf), FOLIO_XATTR_MAGIC, 9, 12);
	folio_block_csum_set(seed, buf, sizeof(buf));
	is_int(folio_block_check(seed, buf, sizeof(buf), FOLIO_XATTR_MAGIC, 9, 12), 0,
	       "folio_block_init gives a block folio_block_check accepts");
	ok(buf[100] == 0, "folio_block_init zeroes the block");
	used = folio_dirent_encode(buf + 32, 0x1234500, 77, FOLIO_FT_REG, "hello", 5);
	is_int(used, 24, "encoded dirent size");
	is_int(folio_dirent_next(buf + 32, used, &off, &de), 1, "encoded dirent parses");
	ok(le64_to_cpu(de->de_key) == 0x1234500 && le32_to_cpu(de->de_ino) == 77 &&
		   de->de_type == FOLIO_FT_REG && de->de_namelen == 5 &&
		   !memcmp(de->de_name, "hello", 5) && buf[32 + 19] == 0,
	   "dirent fields round trip, padding zeroed");
	memset(area, 0xAA, sizeof(area));
	used = folio_xattr_encode(area, FOLIO_XATTR_ACL_ACCESS, NULL, 0, "\2\0\0\0", 4);
	is_int(used, 8, "encoded ACL entry size");
	off = 0;
	is_int(folio_xattr_next(area, used, &off, &r), 1, "encoded xattr parses");
	ok(r.index == FOLIO_XATTR_ACL_ACCESS && r.namelen == 0 && r.valuelen == 4 &&
		   folio_acl_valid(r.value, r.valuelen),
	   "xattr fields round trip");
	folio_eh_init(&eh, FOLIO_EXT_INLINE, 0);
	is_int(folio_eh_check(&eh, FOLIO_EXT_INLINE), 0, "folio_eh_init gives a valid header");
}

static void test_acl_and_headers(void)
{
	uint8_t acl[4 + 3 * 8] = {2, 0, 0, 0, 1, 0, 6,	  0, 0, 0, 0, 0, 4, 0,
				  4, 0, 0, 0, 0, 0, 0x20, 0, 4, 0, 0, 0, 0, 0};
	ok(folio_acl_valid(acl, sizeof(acl)), "minimal ACL blob valid");
	acl[0] = 1;
	ok(!folio_acl_valid(acl, sizeof(acl)), "ACL version 1 refused");
	ok(!folio_acl_valid(acl, 7), "ACL of odd length refused");

	struct folio_extent_header eh = {cpu_to_le16(FOLIO_EH_MAGIC), cpu_to_le16(2),
					 cpu_to_le16(3), 0};
	is_int(folio_eh_check(&eh, FOLIO_EXT_INLINE), 0, "extent header valid");
	eh.eh_entries = cpu_to_le16(4);
	is_int(folio_eh_check(&eh, FOLIO_EXT_INLINE), -EUCLEAN, "more entries than max");
	is_int(folio_mode_to_ftype(S_IFLNK | 0777), FOLIO_FT_LNK, "symlink file type");
	is_int(folio_mode_to_ftype(0), 0, "no file type for mode 0");
}

int main(void)
{
	test_crc32c();
	test_dirhash();
	test_sizes();
	test_checksums();
	test_checksums_inode_block();
	for (uint32_t shift = 10; shift <= 12; shift++)
		test_geometry_one(shift);
	test_validate();
	test_dirent_parse();
	test_xattr_parse();
	test_acl_and_headers();
	test_encoders();
	return done_testing();
}
