/*
 * format/format.h - foliofs's on-disk format: structures, constants and the
 * helpers that the daemon, mkfs.foliofs and fsck.foliofs share.
 *
 * docs/ON-DISK.md is the prose description of everything here; the two must
 * agree byte for byte. Every structure is packed and little-endian (le16,
 * le32 and le64 fields are converted with le16_to_cpu() and friends); its size
 * and the offsets the documentation names are pinned by _Static_assert.
 *
 * Interface (format/format.c):
 *   checksums  folio_fs_seed(), folio_{sb,gd,inode,block}_csum_{set,ok}(),
 *              folio_bitmap_csum(), folio_block_check(), folio_block_init()
 *   superblock folio_sb_validate() (geometry in struct folio_geom)
 *   geometry   folio_group_*(), folio_ino_*(), folio_inode_pos(),
 *              folio_gd_pos(), folio_std_layout()
 *   names      folio_dirhash(), folio_dir_key_base(), folio_name_valid(),
 *              folio_dirent_size(), folio_dirent_next(), folio_dirent_encode()
 *   extents    folio_eh_check(), folio_eh_init()
 *   xattrs     folio_xattr_split(), folio_xattr_prefix(), folio_xattr_next(),
 *              folio_xattr_entry_size(), folio_xattr_encode(), folio_acl_valid()
 *
 * Invariants: every function here is pure (no I/O, no global state), so any
 * thread may call them on buffers it holds locked.
 */
#ifndef FOLIO_FORMAT_FORMAT_H
#define FOLIO_FORMAT_FORMAT_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Little-endian field types                                           */
/* ------------------------------------------------------------------ */

typedef uint16_t le16;
typedef uint32_t le32;
typedef uint64_t le64;

static inline uint16_t le16_to_cpu(le16 v)
{
	return le16toh(v);
}
static inline uint32_t le32_to_cpu(le32 v)
{
	return le32toh(v);
}
static inline uint64_t le64_to_cpu(le64 v)
{
	return le64toh(v);
}
static inline le16 cpu_to_le16(uint16_t v)
{
	return htole16(v);
}
static inline le32 cpu_to_le32(uint32_t v)
{
	return htole32(v);
}
static inline le64 cpu_to_le64(uint64_t v)
{
	return htole64(v);
}

/* ------------------------------------------------------------------ */
/* Constants                                                           */
/* ------------------------------------------------------------------ */

#define FOLIO_SB_MAGIC	 0x0053464F494C4F46ULL /* bytes "FOLIOFS\0" at offset 0 */
#define FOLIO_VERSION	 1		       /* format version this code writes */
#define FOLIO_SB_OFFSET	 0		       /* byte offset of the superblock */
#define FOLIO_SB_SIZE	 1024		       /* bytes the superblock struct covers */
#define FOLIO_MIN_BSHIFT 10		       /* 1 KiB blocks ... */
#define FOLIO_MAX_BSHIFT 12		       /* ... up to 4 KiB */
#define FOLIO_DESC_SIZE	 64		       /* bytes per group descriptor */

/* Reserved inode numbers. FUSE node ids equal inode numbers (FUSE_ROOT_ID 1). */
#define FOLIO_ROOT_INO	     1	  /* root directory */
#define FOLIO_JOURNAL_INO    2	  /* the journal, when COMPAT_JOURNAL is set */
#define FOLIO_FIRST_INO	     8	  /* first inode number for ordinary files */
#define FOLIO_MIN_IPG	     16	  /* least inodes per group (holds every reserved inode) */
#define FOLIO_INODE_SIZE     256  /* default inode size */
#define FOLIO_INODE_FIXED    192  /* bytes before the in-inode xattr area */
#define FOLIO_INODE_DATA     80	  /* bytes of i_data */
#define FOLIO_NAME_MAX	     255  /* bytes in one file name */
#define FOLIO_SYMLINK_MAX    4095 /* bytes in a symlink target */
#define FOLIO_INLINE_MAX     FOLIO_INODE_DATA /* longest target kept in the inode */
#define FOLIO_XATTR_NAME_MAX 255	      /* bytes of a name after its namespace prefix */

/* Feature flags. Unknown compat bits are ignored; an unknown ro_compat bit
 * allows read-only use only; an unknown incompat bit refuses the image. */
#define FOLIO_COMPAT_BACKUP_SB 0x00000001u /* backup superblock at s_backup_sb_block */
#define FOLIO_COMPAT_JOURNAL   0x00000002u /* inode 2 holds a metadata journal */
#define FOLIO_INCOMPAT_RECOVER 0x00000001u /* the journal may hold transactions to replay */
#define FOLIO_COMPAT_KNOWN     (FOLIO_COMPAT_BACKUP_SB | FOLIO_COMPAT_JOURNAL)
#define FOLIO_INCOMPAT_KNOWN   FOLIO_INCOMPAT_RECOVER /* incompat bits this code supports */
#define FOLIO_JOURNAL_MIN_LOG  16 /* fewest blocks a journal may have (superblock and log) */
#define FOLIO_RO_COMPAT_KNOWN  0x00000000u /* ro_compat bits this code supports */

/* s_state bits. */
#define FOLIO_STATE_CLEAN  0x0001 /* cleanly unmounted (not mounted now) */
#define FOLIO_STATE_ERRORS 0x0002 /* the daemon detected corruption */

/* Magic numbers of metadata blocks (le32 at offset 0, ASCII in a dump). */
#define FOLIO_EXT_MAGIC	  0x54584546u /* "FEXT" extent tree node */
#define FOLIO_DIR_MAGIC	  0x52494446u /* "FDIR" directory tree node */
#define FOLIO_XATTR_MAGIC 0x54415846u /* "FXAT" xattr block */
#define FOLIO_EH_MAGIC	  0xF1E0u     /* extent header, in the inode and in nodes */

/* Tree limits. */
#define FOLIO_EXT_MAX_DEPTH 5		 /* extent tree: root depth at most this */
#define FOLIO_DIR_MAX_DEPTH 8		 /* directory tree: root level at most this */
#define FOLIO_MAX_LBLK	    (1ULL << 48) /* logical blocks of a file are below this */
#define FOLIO_EXT_INLINE    3		 /* extent entries in the inode */

/* i_flags. Bits not listed must be zero. */
#define FOLIO_IFL_INLINE 0x00000001u /* symlink target is in i_data */
#define FOLIO_IFL_KNOWN	 FOLIO_IFL_INLINE

/* Extent flags. */
#define FOLIO_EXT_UNWRITTEN 0x00000001u /* allocated, reads as zeros */

/* Directory keys: bit 63 clear, bits 62..8 from the name hash, bits 7..0 a
 * collision index; keys below FOLIO_DIR_KEY_MIN are never stored, so readdir
 * offsets 0..255 are free for "." and "..". */
#define FOLIO_DIR_KEY_MASK 0x7FFFFFFFFFFFFF00ULL
#define FOLIO_DIR_KEY_MIN  0x100ULL
#define FOLIO_DIR_COLL_MAX 256

/* Directory entry file types (the values of <dirent.h> DT_*). */
#define FOLIO_FT_FIFO 1
#define FOLIO_FT_CHR  2
#define FOLIO_FT_DIR  4
#define FOLIO_FT_BLK  6
#define FOLIO_FT_REG  8
#define FOLIO_FT_LNK  10
#define FOLIO_FT_SOCK 12

/* Xattr name indexes. */
enum folio_xattr_index {
	FOLIO_XATTR_USER = 1,	     /* "user." + name */
	FOLIO_XATTR_TRUSTED = 2,     /* "trusted." + name */
	FOLIO_XATTR_SECURITY = 3,    /* "security." + name */
	FOLIO_XATTR_ACL_ACCESS = 4,  /* "system.posix_acl_access", empty name */
	FOLIO_XATTR_ACL_DEFAULT = 5, /* "system.posix_acl_default", empty name */
};

/* ------------------------------------------------------------------ */
/* Superblock: block 0, bytes 0..1023                                  */
/* ------------------------------------------------------------------ */

struct folio_super {
	le64 s_magic;		    /* 0x000 FOLIO_SB_MAGIC */
	le32 s_checksum;	    /* 0x008 see folio_sb_csum_set() */
	le32 s_version;		    /* 0x00C FOLIO_VERSION */
	le32 s_feature_compat;	    /* 0x010 */
	le32 s_feature_incompat;    /* 0x014 */
	le32 s_feature_ro_compat;   /* 0x018 */
	le32 s_log_block_size;	    /* 0x01C block size = 1024 << this (0, 1, 2) */
	le64 s_blocks_count;	    /* 0x020 blocks in the filesystem */
	le64 s_free_blocks;	    /* 0x028 exact when clean */
	le64 s_reserved_blocks;	    /* 0x030 kept back for root (statfs f_bavail) */
	le32 s_inodes_count;	    /* 0x038 groups_count * inodes_per_group */
	le32 s_free_inodes;	    /* 0x03C exact when clean */
	le32 s_blocks_per_group;    /* 0x040 8 * block size */
	le32 s_inodes_per_group;    /* 0x044 */
	le32 s_groups_count;	    /* 0x048 ceil(blocks_count / blocks_per_group) */
	le16 s_inode_size;	    /* 0x04C 256, 512 or 1024, at most the block size */
	le16 s_state;		    /* 0x04E FOLIO_STATE_* */
	le32 s_root_ino;	    /* 0x050 FOLIO_ROOT_INO */
	le32 s_first_ino;	    /* 0x054 FOLIO_FIRST_INO */
	le32 s_orphan_head;	    /* 0x058 first orphan inode, 0 if none */
	le32 s_gdt_blocks;	    /* 0x05C blocks in the group descriptor table */
	le64 s_gdt_block;	    /* 0x060 first block of the table (1) */
	le64 s_backup_sb_block;	    /* 0x068 blocks_count - 1 with COMPAT_BACKUP_SB */
	uint8_t s_uuid[16];	    /* 0x070 */
	char s_label[32];	    /* 0x080 NUL-padded, not terminated when 32 long */
	le64 s_hash_seed[2];	    /* 0x0A0 directory name hash seed */
	le64 s_mkfs_time;	    /* 0x0B0 seconds since the epoch */
	le64 s_mount_time;	    /* 0x0B8 last mount */
	le64 s_write_time;	    /* 0x0C0 last unmount or sync of the superblock */
	le32 s_mount_count;	    /* 0x0C8 mounts since mkfs */
	le32 s_reserved0;	    /* 0x0CC zero */
	le64 s_reserved1[6];	    /* 0x0D0 zero */
	le32 s_journal_ino;	    /* 0x100 FOLIO_JOURNAL_INO with COMPAT_JOURNAL, else 0 */
	le32 s_journal_flags;	    /* 0x104 zero */
	le64 s_journal_block;	    /* 0x108 first block of the journal (COMPAT_JOURNAL), else 0 */
	le64 s_journal_blocks;	    /* 0x110 its length in blocks (COMPAT_JOURNAL), else 0 */
	le64 s_journal_seq;	    /* 0x118 zero */
	le64 s_journal_reserved[4]; /* 0x120 zero */
	uint8_t s_reserved[704];    /* 0x140 zero */
} __attribute__((packed));

/* ------------------------------------------------------------------ */
/* Group descriptor: 64 bytes, table from block s_gdt_block            */
/* ------------------------------------------------------------------ */

struct folio_group_desc {
	le64 bg_block_bitmap;	   /* 0x00 block number of the block bitmap */
	le64 bg_inode_bitmap;	   /* 0x08 block number of the inode bitmap */
	le64 bg_inode_table;	   /* 0x10 first block of the inode table */
	le32 bg_free_blocks;	   /* 0x18 zero bits of the block bitmap */
	le32 bg_free_inodes;	   /* 0x1C zero bits of the inode bitmap */
	le32 bg_used_dirs;	   /* 0x20 directories among the group's inodes */
	le32 bg_flags;		   /* 0x24 zero */
	le32 bg_block_bitmap_csum; /* 0x28 folio_bitmap_csum() of the block bitmap */
	le32 bg_inode_bitmap_csum; /* 0x2C folio_bitmap_csum() of the inode bitmap */
	le32 bg_reserved[3];	   /* 0x30 zero */
	le32 bg_checksum;	   /* 0x3C see folio_gd_csum_set() */
} __attribute__((packed));

/* ------------------------------------------------------------------ */
/* Extents                                                             */
/* ------------------------------------------------------------------ */

struct folio_extent_header {
	le16 eh_magic;	 /* FOLIO_EH_MAGIC */
	le16 eh_entries; /* entries in use */
	le16 eh_max;	 /* capacity: FOLIO_EXT_INLINE in the inode, (B-32)/24 in a node */
	le16 eh_depth;	 /* 0: entries are extents; >0: index entries */
} __attribute__((packed));

/* A leaf entry: logical [ee_lblk, ee_lblk+ee_len) maps to physical ee_pblk... */
struct folio_extent {
	le64 ee_lblk;  /* first logical block */
	le64 ee_pblk;  /* first physical block */
	le32 ee_len;   /* blocks, at least 1 */
	le32 ee_flags; /* FOLIO_EXT_UNWRITTEN */
} __attribute__((packed));

/* An index entry: the child node covers logical blocks from ei_lblk on. */
struct folio_extent_idx {
	le64 ei_lblk;	  /* lowest logical block the child may hold */
	le64 ei_child;	  /* physical block of the child node */
	le64 ei_reserved; /* zero */
} __attribute__((packed));

/* Extent root inside the inode's i_data. */
struct folio_extent_root {
	struct folio_extent_header eh;
	union {
		struct folio_extent ext[FOLIO_EXT_INLINE];
		struct folio_extent_idx idx[FOLIO_EXT_INLINE];
	};
} __attribute__((packed));

/* ------------------------------------------------------------------ */
/* Common header of tree and xattr blocks (first 24 bytes of a block)  */
/* ------------------------------------------------------------------ */

struct folio_blk_hdr {
	le32 h_magic;	 /* 0x00 FOLIO_EXT_MAGIC, FOLIO_DIR_MAGIC or FOLIO_XATTR_MAGIC */
	le32 h_checksum; /* 0x04 see folio_block_csum_set() */
	le64 h_blocknr;	 /* 0x08 this block's own physical number */
	le32 h_owner;	 /* 0x10 inode number the block belongs to */
	le32 h_reserved; /* 0x14 zero */
} __attribute__((packed));

#define FOLIO_BLK_PAYLOAD 32 /* payload starts here in every headed block */

/* Extent tree node: header, extent header, entries from byte 32. */
struct folio_extent_block {
	struct folio_blk_hdr hdr;
	struct folio_extent_header eh;
} __attribute__((packed));

/* ------------------------------------------------------------------ */
/* Directories                                                         */
/* ------------------------------------------------------------------ */

/* i_data of a directory. */
struct folio_dir_root {
	le64 dr_root;	     /* 0x00 physical block of the root node, 0: no blocks */
	le64 dr_entries;     /* 0x08 entries stored ("." and ".." are not) */
	le32 dr_parent;	     /* 0x10 inode number of ".." (the root: itself) */
	le16 dr_depth;	     /* 0x14 level of the root node (0: a leaf) */
	le16 dr_reserved0;   /* 0x16 zero */
	le64 dr_reserved[7]; /* 0x18 zero */
} __attribute__((packed));

/* Directory tree node: header, node header, payload from byte 32. */
struct folio_dir_node {
	struct folio_blk_hdr hdr;
	le16 dn_level;	  /* 0x18 0: leaf (records); >0: index entries */
	le16 dn_count;	  /* 0x1A records or index entries */
	le16 dn_used;	  /* 0x1C payload bytes in use */
	le16 dn_reserved; /* 0x1E zero */
} __attribute__((packed));

/* Leaf record, 8-byte aligned; size folio_dirent_size(name_len). */
struct folio_dirent {
	le64 de_key;	    /* 0x00 hash-derived key, unique in the directory */
	le32 de_ino;	    /* 0x08 inode number */
	uint8_t de_type;    /* 0x0C FOLIO_FT_* */
	uint8_t de_namelen; /* 0x0D 1..255 */
	char de_name[];	    /* 0x0E name bytes, no NUL; then zero padding */
} __attribute__((packed));

#define FOLIO_DIRENT_HDR 14

/* Index entry of an interior directory node. */
struct folio_dir_idx {
	le64 di_key;   /* lowest key the child may hold */
	le64 di_child; /* physical block of the child node */
} __attribute__((packed));

/* ------------------------------------------------------------------ */
/* Extended attributes                                                 */
/* ------------------------------------------------------------------ */

/* Xattr block: header, then entries from byte 32. */
struct folio_xattr_block {
	struct folio_blk_hdr hdr;
	le16 xb_count;	  /* 0x18 entries */
	le16 xb_used;	  /* 0x1A payload bytes in use */
	le32 xb_reserved; /* 0x1C zero */
} __attribute__((packed));

/* One attribute (in the inode or in the block), padded to 4 bytes. */
struct folio_xattr_entry {
	uint8_t xe_index;   /* 0x00 enum folio_xattr_index */
	uint8_t xe_namelen; /* 0x01 bytes after the prefix (0 for ACLs) */
	le16 xe_valuelen;   /* 0x02 value bytes */
	char xe_name[];	    /* 0x04 name, then the value, then zero padding */
} __attribute__((packed));

#define FOLIO_XATTR_HDR 4

/* A POSIX ACL value (system.posix_acl_access / _default): the kernel's
 * blob, stored as given: a header, then entries. */
#define FOLIO_ACL_VERSION 2

struct folio_acl_header {
	le32 a_version; /* FOLIO_ACL_VERSION */
} __attribute__((packed));

struct folio_acl_entry {
	le16 e_tag;  /* FOLIO_ACL_* */
	le16 e_perm; /* rwx bits (4, 2, 1) */
	le32 e_id;   /* uid or gid of FOLIO_ACL_USER / FOLIO_ACL_GROUP */
} __attribute__((packed));

enum folio_acl_tag {
	FOLIO_ACL_USER_OBJ = 0x01,  /* the owner */
	FOLIO_ACL_USER = 0x02,	    /* a named user */
	FOLIO_ACL_GROUP_OBJ = 0x04, /* the owning group */
	FOLIO_ACL_GROUP = 0x08,	    /* a named group */
	FOLIO_ACL_MASK = 0x10,	    /* the most the group class may have */
	FOLIO_ACL_OTHER = 0x20,	    /* everyone else */
};

/* ------------------------------------------------------------------ */
/* Inode: s_inode_size bytes (256 by default)                          */
/* ------------------------------------------------------------------ */

struct folio_device {
	le32 dev_major;
	le32 dev_minor;
} __attribute__((packed));

struct folio_inode {
	le16 i_mode;	    /* 0x00 type and permission bits, as st_mode */
	le16 i_xattr_len;   /* 0x02 bytes used in the in-inode xattr area */
	le32 i_checksum;    /* 0x04 see folio_inode_csum_set() */
	le32 i_uid;	    /* 0x08 */
	le32 i_gid;	    /* 0x0C */
	le32 i_nlink;	    /* 0x10 */
	le32 i_generation;  /* 0x14 */
	le64 i_size;	    /* 0x18 bytes */
	le64 i_blocks;	    /* 0x20 filesystem blocks owned (st_blocks = this * B / 512) */
	le64 i_atime;	    /* 0x28 seconds (signed) */
	le64 i_mtime;	    /* 0x30 */
	le64 i_ctime;	    /* 0x38 */
	le64 i_crtime;	    /* 0x40 */
	le32 i_atime_nsec;  /* 0x48 0..999999999 */
	le32 i_mtime_nsec;  /* 0x4C */
	le32 i_ctime_nsec;  /* 0x50 */
	le32 i_crtime_nsec; /* 0x54 */
	le32 i_flags;	    /* 0x58 FOLIO_IFL_* */
	le32 i_orphan_next; /* 0x5C next inode on the orphan list, 0 at the end */
	le64 i_xattr_block; /* 0x60 physical block of the xattr block, 0 if none */
	le64 i_reserved;    /* 0x68 zero */
	union {		    /* 0x70 80 bytes */
		uint8_t i_data[FOLIO_INODE_DATA];
		struct folio_extent_root i_extents; /* regular files, long symlinks */
		struct folio_dir_root i_dir;	    /* directories */
		struct folio_device i_rdev;	    /* character and block devices */
		char i_symlink[FOLIO_INLINE_MAX];   /* inline symlink target */
	};
	uint8_t i_xattr[]; /* 0xC0 in-inode xattrs up to s_inode_size */
} __attribute__((packed));

_Static_assert(sizeof(struct folio_super) == FOLIO_SB_SIZE, "superblock size");
_Static_assert(offsetof(struct folio_super, s_uuid) == 0x70, "s_uuid offset");
_Static_assert(offsetof(struct folio_super, s_label) == 0x80, "s_label offset");
_Static_assert(offsetof(struct folio_super, s_journal_ino) == 0x100, "s_journal_ino offset");
_Static_assert(offsetof(struct folio_super, s_reserved) == 0x140, "s_reserved offset");
_Static_assert(sizeof(struct folio_group_desc) == FOLIO_DESC_SIZE, "descriptor size");
_Static_assert(offsetof(struct folio_group_desc, bg_checksum) == 0x3C, "bg_checksum offset");
_Static_assert(sizeof(struct folio_extent_header) == 8, "extent header size");
_Static_assert(sizeof(struct folio_extent) == 24, "extent size");
_Static_assert(sizeof(struct folio_extent_idx) == 24, "extent index size");
_Static_assert(sizeof(struct folio_extent_root) == FOLIO_INODE_DATA, "extent root size");
_Static_assert(sizeof(struct folio_blk_hdr) == 24, "block header size");
_Static_assert(sizeof(struct folio_extent_block) == FOLIO_BLK_PAYLOAD, "extent block hdr");
_Static_assert(sizeof(struct folio_dir_root) == FOLIO_INODE_DATA, "dir root size");
_Static_assert(sizeof(struct folio_dir_node) == FOLIO_BLK_PAYLOAD, "dir node hdr");
_Static_assert(sizeof(struct folio_dirent) == FOLIO_DIRENT_HDR, "dirent header size");
_Static_assert(sizeof(struct folio_dir_idx) == 16, "dir index size");
_Static_assert(sizeof(struct folio_xattr_block) == FOLIO_BLK_PAYLOAD, "xattr block hdr");
_Static_assert(sizeof(struct folio_xattr_entry) == FOLIO_XATTR_HDR, "xattr entry hdr");
_Static_assert(sizeof(struct folio_acl_header) == 4, "ACL header size");
_Static_assert(sizeof(struct folio_acl_entry) == 8, "ACL entry size");
_Static_assert(sizeof(struct folio_inode) == FOLIO_INODE_FIXED, "inode fixed part");
_Static_assert(offsetof(struct folio_inode, i_data) == 0x70, "i_data offset");
_Static_assert(offsetof(struct folio_inode, i_xattr) == 0xC0, "i_xattr offset");

/* ------------------------------------------------------------------ */
/* Geometry derived from a valid superblock                            */
/* ------------------------------------------------------------------ */

struct folio_geom {
	uint32_t block_size;	   /* B */
	uint32_t block_shift;	   /* log2(B) */
	uint64_t blocks_count;	   /* s_blocks_count */
	uint32_t blocks_per_group; /* 8 * B */
	uint32_t inodes_per_group; /* s_inodes_per_group */
	uint32_t groups_count;	   /* s_groups_count */
	uint32_t inodes_count;	   /* s_inodes_count */
	uint32_t inode_size;	   /* s_inode_size */
	uint32_t inodes_per_block; /* B / inode_size */
	uint32_t itable_blocks;	   /* inode table blocks per group */
	uint32_t descs_per_block;  /* B / 64 */
	uint32_t gdt_blocks;	   /* s_gdt_blocks */
	uint64_t gdt_block;	   /* s_gdt_block */
	uint32_t ext_node_max;	   /* extent entries per node: (B - 32) / 24 */
	uint32_t dir_idx_max;	   /* index entries per directory node: (B - 32) / 16 */
	uint32_t xattr_inode_room; /* inode_size - 192 */
};

/* Where mkfs puts a group's metadata (the descriptor is authoritative). */
struct folio_layout {
	uint64_t block_bitmap;
	uint64_t inode_bitmap;
	uint64_t inode_table;
	uint64_t first_free; /* first block after the group's metadata */
};

/* folio_sb_validate() flags. */
#define FOLIO_SBV_RDONLY 0x1 /* allow unknown ro_compat features */
#define FOLIO_SBV_NOCSUM 0x2 /* do not check the checksum (fsck reports it itself) */

int folio_sb_validate(const struct folio_super *sb, uint64_t dev_bytes, unsigned flags,
		      struct folio_geom *geom, char *msg, size_t msglen);
int folio_geom_init(struct folio_geom *g, uint32_t block_shift, uint64_t blocks_count,
		    uint32_t inodes_per_group, uint32_t inode_size);

static inline uint32_t folio_group_of_block(const struct folio_geom *g, uint64_t blk)
{
	return (uint32_t)(blk / g->blocks_per_group);
}
static inline uint64_t folio_group_first_block(const struct folio_geom *g, uint32_t group)
{
	return (uint64_t)group * g->blocks_per_group;
}
uint32_t folio_group_nblocks(const struct folio_geom *g, uint32_t group);
static inline uint32_t folio_ino_group(const struct folio_geom *g, uint32_t ino)
{
	return (ino - 1) / g->inodes_per_group;
}
static inline uint32_t folio_ino_index(const struct folio_geom *g, uint32_t ino)
{
	return (ino - 1) % g->inodes_per_group;
}
static inline bool folio_ino_valid(const struct folio_geom *g, uint64_t ino)
{
	return ino >= 1 && ino <= g->inodes_count;
}
void folio_inode_pos(const struct folio_geom *g, uint64_t inode_table, uint32_t ino, uint64_t *blk,
		     uint32_t *off);
void folio_gd_pos(const struct folio_geom *g, uint32_t group, uint64_t *blk, uint32_t *off);
void folio_std_layout(const struct folio_geom *g, uint32_t group, struct folio_layout *out);

/* ------------------------------------------------------------------ */
/* Checksums                                                           */
/* ------------------------------------------------------------------ */

uint32_t folio_fs_seed(const uint8_t uuid[16]);
void folio_sb_csum_set(struct folio_super *sb);
bool folio_sb_csum_ok(const struct folio_super *sb);
void folio_gd_csum_set(uint32_t seed, uint32_t group, struct folio_group_desc *gd);
bool folio_gd_csum_ok(uint32_t seed, uint32_t group, const struct folio_group_desc *gd);
void folio_inode_csum_set(uint32_t seed, uint32_t ino, void *inode, uint32_t inode_size);
bool folio_inode_csum_ok(uint32_t seed, uint32_t ino, const void *inode, uint32_t inode_size);
void folio_block_csum_set(uint32_t seed, void *block, uint32_t block_size);
bool folio_block_csum_ok(uint32_t seed, const void *block, uint32_t block_size);
uint32_t folio_bitmap_csum(uint32_t seed, const void *bitmap, uint32_t block_size);
int folio_block_check(uint32_t seed, const void *block, uint32_t block_size, uint32_t magic,
		      uint64_t blocknr, uint32_t owner);
void folio_block_init(void *block, uint32_t block_size, uint32_t magic, uint64_t blocknr,
		      uint32_t owner);

/* ------------------------------------------------------------------ */
/* Directory names                                                     */
/* ------------------------------------------------------------------ */

uint64_t folio_dirhash(const uint64_t seed[2], const void *name, size_t len);
uint64_t folio_dir_key_base(uint64_t hash);
bool folio_name_valid(const void *name, size_t len);

/* Bytes a leaf record with a @namelen-byte name takes (8-byte aligned). */
static inline uint32_t folio_dirent_size(uint32_t namelen)
{
	return (FOLIO_DIRENT_HDR + namelen + 7) & ~7u;
}
int folio_dirent_next(const void *payload, uint32_t used, uint32_t *off,
		      const struct folio_dirent **out);
uint32_t folio_dirent_encode(void *dst, uint64_t key, uint32_t ino, uint8_t type, const void *name,
			     uint8_t namelen);
uint8_t folio_mode_to_ftype(uint32_t mode);

/* ------------------------------------------------------------------ */
/* Extents                                                             */
/* ------------------------------------------------------------------ */

int folio_eh_check(const struct folio_extent_header *eh, uint32_t max);
void folio_eh_init(struct folio_extent_header *eh, uint16_t max, uint16_t depth);

/* ------------------------------------------------------------------ */
/* Extended attributes                                                 */
/* ------------------------------------------------------------------ */

/* A parsed attribute, pointing into the buffer it came from. */
struct folio_xattr_ref {
	uint8_t index;
	uint8_t namelen;
	uint16_t valuelen;
	const char *name;
	const uint8_t *value;
	uint32_t offset; /* of the entry in its area */
	uint32_t size;	 /* bytes the entry takes, padding included */
};

static inline uint32_t folio_xattr_entry_size(uint32_t namelen, uint32_t valuelen)
{
	return (FOLIO_XATTR_HDR + namelen + valuelen + 3) & ~3u;
}
int folio_xattr_split(const char *fullname, uint8_t *index, const char **name, size_t *namelen);
const char *folio_xattr_prefix(uint8_t index);
int folio_xattr_next(const void *area, uint32_t used, uint32_t *off, struct folio_xattr_ref *out);
uint32_t folio_xattr_encode(void *dst, uint8_t index, const void *name, uint8_t namelen,
			    const void *value, uint16_t valuelen);
bool folio_acl_valid(const void *value, size_t len);

#endif /* FOLIO_FORMAT_FORMAT_H */
