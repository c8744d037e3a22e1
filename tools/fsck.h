/*
 * tools/fsck.h - state shared by the passes of fsck.foliofs.
 *
 * fsck.foliofs reads the image in passes (see tools/fsck.c):
 *   super   superblock, backup, descriptors, bitmaps     fsck_super.c
 *   journal the journal inode, superblock and replay     fsck_journal.c
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
 * Repair (-p, -y; tools/fsck_repair.c): a problem that the mode may fix is
 * reported through fsck_fix(), which appends ": fixed" and lets the pass
 * change the structure at once (writing the inode or node); references are
 * changed during the passes, bitmaps, descriptors and the superblock only at
 * the end of a round (fsck_commit()). A round that changed references is
 * followed by another, until one changes nothing but bitmaps and counts. A
 * line printed in an earlier round is not printed again.
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
#define FSCK_EXIT_FIXED	 1
#define FSCK_EXIT_ERRORS 4
#define FSCK_EXIT_OPER	 8

#define FSCK_GD_KEEP 2 /* gd_dirty: a descriptor left as found */

/* What the run may change: -n (and no option) nothing, -p what is always
 * safe, -y everything it can. */
enum fsck_mode {
	FSCK_CHECK = 0,
	FSCK_PREEN = 1,
	FSCK_YES = 2,
};

/* The least mode that fixes a problem (fsck_fix()). */
enum fsck_level {
	FX_PREEN = FSCK_PREEN,
	FX_YES = FSCK_YES,
	FX_NEVER = 3,
};

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
	FK_JOURNAL, /* the journal (inode 2) */
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
	FI_RECONN = 1 << 6,  /* queued for /lost+found this round */
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

/* A directory entry that -y removes in the next round (a second name of a
 * directory, or the entry that closes a loop). */
struct fsck_unlink {
	uint32_t dir, ino;
};

struct fsck {
	const char *image;
	bool verbose;
	enum fsck_mode mode;
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

	/* repair state (tools/fsck_repair.c) */
	unsigned round;	       /* 1, 2, ...: passes over the image */
	uint64_t fixed;	       /* fixes made, over every round */
	uint64_t round_fixes;  /* fixes to references made this round */
	uint64_t round_counts; /* fixes to bitmaps and counts found this round */
	bool sb_dirty;	       /* f->sb changed: written at the end */
	uint8_t *imap_dirty;   /* per group: f->imaps changed */
	uint8_t *gd_dirty;     /* per group: 1 rewrite the descriptor, FSCK_GD_KEEP never */
	uint64_t *seen;	       /* hashes of lines printed */
	size_t nseen, seen_cap;
	uint32_t *reconnect; /* inodes to put in lost+found this round */
	size_t nreconnect, reconnect_cap;
	struct fsck_unlink *unlinks; /* entries to remove (kept over rounds) */
	size_t nunlinks, unlinks_cap;
	uint32_t lf_ino;      /* /lost+found, 0 when not found */
	bool journal_ok;      /* the journal superblock checked out */
	bool backup_dirty;    /* rewrite the backup superblock from the primary */
	uint64_t sb_problems; /* problems found in the superblock pass */
	uint8_t *claimed;     /* -y: blocks claimed so far this round */

	/* counters for the summary */
	uint64_t problems, notes;
	uint64_t n_inodes, n_dirs, n_files, n_symlinks, n_other, n_entries, n_orphans;
	uint64_t n_used_blocks, n_tree_blocks;
};

/* fsck.c */
bool fsck_fix(struct fsck *f, enum fsck_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool fsck_fix_count(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fsck_problem(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fsck_note(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fsck_verbose(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fsck_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void *fsck_alloc(size_t size);
void *fsck_block_alloc(size_t nblocks, uint32_t block_size);
void fsck_read(struct fsck *f, uint64_t blk, uint64_t nblocks, void *buf);
void fsck_write(struct fsck *f, uint64_t blk, uint64_t nblocks, const void *buf);
void fsck_flush(struct fsck *f);
bool fsck_range_ok(const struct fsck *f, uint64_t start, uint64_t len);
bool fsck_claim_free(const struct fsck *f, uint64_t start, uint64_t len);
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
	bool root_changed;    /* -y changed the root in the inode */
};
void fsck_walk_extents(struct fsck *f, uint32_t ino, struct folio_extent_root *root,
		       struct fsck_extent_walk *w);

/* fsck_xattr.c */
bool fsck_check_xattrs(struct fsck *f, uint32_t ino, struct folio_inode *in, bool *dirty);

/* fsck_dir.c */
void fsck_add_dir(struct fsck *f, uint32_t ino, struct folio_inode *in, bool xblock, bool *dirty);
void fsck_pass_dirs(struct fsck *f);
void fsck_pass_links(struct fsck *f);

/* fsck_journal.c */
void fsck_check_journal_inode(struct fsck *f, const struct folio_inode *in);
void fsck_pass_journal(struct fsck *f);
bool fsck_journal_repair(struct fsck *f);
bool fsck_replay(struct fsck *f);

/* fsck_repair.c */
void fsck_write_sb(struct fsck *f);
void fsck_inode_write(struct fsck *f, uint32_t ino, struct folio_inode *in);
struct folio_inode *fsck_inode_read(struct fsck *f, uint32_t ino, uint8_t *buf);
void fsck_free_inode(struct fsck *f, uint32_t ino);
void fsck_queue_reconnect(struct fsck *f, uint32_t ino);
void fsck_queue_unlink(struct fsck *f, uint32_t dir, uint32_t ino);
bool fsck_unlink_wanted(const struct fsck *f, uint32_t dir, uint32_t ino);
void fsck_free_orphans(struct fsck *f);
void fsck_pass_reconnect(struct fsck *f);
void fsck_commit(struct fsck *f, bool last);
void fsck_node_remove(void *base, uint32_t *used, uint32_t off, uint32_t size);

/* fsck_bitmap.c */
void fsck_pass_blocks(struct fsck *f);
const char *fsck_claim_name(const struct fsck_claim *c, char *buf, size_t len);

#endif /* FOLIO_TOOLS_FSCK_H */
