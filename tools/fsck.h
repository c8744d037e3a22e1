/*
 * tools/fsck.h - state shared by the passes of fsck.foliofs.
 *
 * fsck.foliofs reads the image once, in passes (see tools/fsck.c):
 *   super   superblock, backup, descriptors, bitmaps     fsck_super.c
 *   inodes  every in-use inode, its extents and xattrs    fsck_inode.c, fsck_extent.c,
 *                                                         fsck_xattr.c
 *   dirs    every directory tree, entries and references  fsck_dir.c
 *   links   link counts, parents, loops, orphans          fsck_dir.c, fsck_inode.c
 *   blocks  overlaps between claims, bitmaps, free counts fsck_bitmap.c
 *
 * Every block a structure occupies is recorded as a claim (start, length,
 * owner); the blocks pass sorts the claims, reports overlaps by name and
 * builds the computed in-use bitmap from them.
 *
 * Problems are printed one per line on stdout ("fsck.foliofs: inode 12: ...")
 * and counted; notes (expected states of a dirty image) are printed but not
 * counted. Operational errors end the program with exit status 8.
 *
 * Single-threaded: nothing here is shared between threads.
 */
#ifndef FOLIO_TOOLS_FSCK_H
#define FOLIO_TOOLS_FSCK_H

#include "backing/bdev.h"
#include "format/format.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FSCK_PROG "fsck.foliofs"

/* Exit status, as e2fsck. */
#define FSCK_EXIT_OK	 0
#define FSCK_EXIT_ERRORS 4
#define FSCK_EXIT_OPER	 8

/* What a claim is. Metadata claims carry a group number as owner, the others
 * an inode number. */
enum fsck_kind {
	FK_SUPER,   /* block 0 */
	FK_GDT,	    /* the descriptor table */
	FK_BACKUP,  /* the backup superblock */
	FK_BBITMAP, /* a group's block bitmap */
	FK_IBITMAP, /* a group's inode bitmap */
	FK_ITABLE,  /* a group's inode table */
	FK_DATA,    /* file data (or a long symlink's target) */
	FK_EXTNODE, /* extent tree node */
	FK_DIRNODE, /* directory tree node */
	FK_XATTR,   /* xattr block */
};

struct fsck_claim {
	uint64_t start;
	uint64_t len;
	uint32_t owner;
	uint8_t kind;
};

/* Per inode number (index 0 unused). */
enum {
	FI_INUSE = 1 << 0,   /* inode bitmap bit set */
	FI_CHECKED = 1 << 1, /* read and checked in the inodes pass */
	FI_BAD = 1 << 2,     /* unusable (bad mode): references are not cross-checked */
	FI_ORPHAN = 1 << 3,  /* on the orphan list */
	FI_DIRDONE = 1 << 4, /* directory: connectivity known */
	FI_LINKED = 1 << 5,  /* directory: reaches the root */
};

struct fsck_ino {
	uint16_t mode;
	uint8_t state;	       /* FI_* */
	uint32_t nlink;	       /* i_nlink */
	uint32_t refs;	       /* directory entries naming this inode */
	uint32_t parent;       /* directories: dr_parent */
	uint32_t found_parent; /* directories: directory holding the first entry */
	uint32_t subdirs;      /* directories: entries of type directory inside */
};

/* A directory found by the inodes pass, walked by the dirs pass. */
struct fsck_dir {
	uint32_t ino;
	uint16_t depth;
	bool xblock; /* has an xattr block (counted in i_blocks) */
	uint64_t root;
	uint64_t entries;
	uint64_t size;
	uint64_t blocks;
};

struct fsck {
	const char *image;
	bool verbose;
	struct bdev *bdev;
	struct folio_super sb; /* the superblock in use (primary or backup) */
	struct folio_geom g;
	uint32_t seed;
	uint64_t hash_seed[2];
	bool dirty;	  /* not cleanly unmounted */
	bool from_backup; /* the primary was unusable */

	struct folio_group_desc *gdt;
	uint8_t *group_ok; /* per group: descriptor locations usable */
	uint8_t *bmap_ok;  /* per group: block bitmap read and located sanely */
	uint8_t *imap_ok;  /* per group: inode bitmap read and located sanely */
	uint8_t *bmaps;	   /* on-disk block bitmaps, one block per group */
	uint8_t *imaps;	   /* on-disk inode bitmaps, one block per group */

	struct fsck_ino *ino; /* inodes_count + 1 entries */
	struct fsck_dir *dirs;
	size_t ndirs, dirs_cap;
	struct fsck_claim *claims;
	size_t nclaims, claims_cap;
	uint8_t *used; /* computed in-use blocks, one bit each */

	/* counters for the summary */
	uint64_t problems, notes;
	uint64_t n_inodes, n_dirs, n_files, n_symlinks, n_other, n_entries, n_orphans;
	uint64_t n_used_blocks, n_tree_blocks;
};

/* fsck.c */
void fsck_problem(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fsck_note(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fsck_verbose(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fsck_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void *fsck_alloc(size_t size);
void *fsck_block_alloc(size_t nblocks, uint32_t block_size);
void fsck_read(struct fsck *f, uint64_t blk, uint64_t nblocks, void *buf);
bool fsck_range_ok(const struct fsck *f, uint64_t start, uint64_t len);
void fsck_claim(struct fsck *f, uint64_t start, uint64_t len, uint32_t owner, enum fsck_kind k);
bool fsck_test_bit(const uint8_t *map, uint64_t bit);
void fsck_set_bit(uint8_t *map, uint64_t bit);

/* fsck_super.c */
void fsck_pass_super(struct fsck *f);
void fsck_pass_groups(struct fsck *f);

/* fsck_inode.c */
void fsck_pass_inodes(struct fsck *f);
void fsck_pass_orphans(struct fsck *f);

/* fsck_extent.c */
struct fsck_extent_walk {
	uint32_t ino;
	uint64_t data_blocks; /* blocks mapped by leaf extents */
	uint64_t node_blocks; /* extent tree nodes */
	uint64_t end;	      /* highest logical block mapped + 1 */
	uint64_t holes;	      /* logical blocks below end not mapped */
	uint64_t unwritten;   /* blocks in unwritten extents */
	uint64_t next;	      /* internal: next logical block expected */
	bool bad;	      /* the tree has a problem (already reported) */
};
void fsck_walk_extents(struct fsck *f, uint32_t ino, const struct folio_extent_root *root,
		       struct fsck_extent_walk *w);

/* fsck_xattr.c */
bool fsck_check_xattrs(struct fsck *f, uint32_t ino, const struct folio_inode *in);

/* fsck_dir.c */
void fsck_add_dir(struct fsck *f, uint32_t ino, const struct folio_inode *in, bool xblock);
void fsck_pass_dirs(struct fsck *f);
void fsck_pass_links(struct fsck *f);

/* fsck_bitmap.c */
void fsck_pass_blocks(struct fsck *f);
const char *fsck_claim_name(const struct fsck_claim *c, char *buf, size_t len);

#endif /* FOLIO_TOOLS_FSCK_H */
