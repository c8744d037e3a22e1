/*
 * tests/unit/fscore_util.h - helpers for the filesystem core unit tests
 * (test_fs_core, test_fs_extent, test_fs_enospc): make an image with
 * tools/mkfs.foliofs in a temporary directory, mount it with fs_mount (no
 * FUSE), make and open files in the root, fill and check byte patterns, read
 * the image file directly, unmount and run tools/fsck.foliofs.
 *
 * The tools are found through $top_builddir (automake's TESTS_ENVIRONMENT
 * exports it), else the current directory. Helpers that set things up BAIL
 * when they fail, so tests check only what they are about.
 */
#ifndef FOLIO_TESTS_FSCORE_UTIL_H
#define FOLIO_TESTS_FSCORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/fs.h"

/* One test image and, while mounted, its filesystem. */
struct fct {
	char tmpdir[256];
	char image[300];
	unsigned bs;	    /* block size */
	struct fs *fs;	    /* NULL while unmounted */
	struct inode *root; /* iref held while mounted */
};

extern const struct fs_cred fct_cred;

/* Temporary directory plus an image of @size (mkfs -s) with block size @bs;
 * @extra: more mkfs options, or NULL. */
void fct_mkfs(struct fct *t, unsigned bs, const char *size, const char *extra);
/* fs_mount with a 32 MiB cache (or @opts); returns its errno; @msg may be
 * NULL. On success the root is referenced in t->root. */
int fct_mount_opts(struct fct *t, const struct fs_options *opts, char *msg, size_t msglen);
void fct_mount(struct fct *t);
/* Drop the root and unmount; returns fs_unmount()'s result. */
int fct_umount(struct fct *t);
/* fsck.foliofs exit status (its output is shown as diagnostics when not 0). */
int fct_fsck(struct fct *t);
/* Remove the temporary directory. */
void fct_cleanup(struct fct *t);

/* Files in the root directory. fct_create/fct_lookup return the inode with
 * iref + 1 and nlookup + 1 (as a FUSE entry reply); fct_put drops both. */
struct inode *fct_create(struct fct *t, const char *name);
struct inode *fct_lookup(struct fct *t, const char *name);
void fct_put(struct inode *inode);
struct fs_file *fct_open(struct inode *inode, int flags);

/* Byte @i of pattern @seed (depends on the absolute file offset). */
static inline uint8_t fct_byte(unsigned seed, uint64_t off)
{
	uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)seed * 0xC2B2AE3D27D4EB4FULL;

	return (uint8_t)(x >> 56 ^ x >> 17);
}
void fct_fill(void *buf, size_t len, unsigned seed, uint64_t off);
/* Write @len pattern bytes at @off (BAILs unless all are written). */
void fct_write_pattern(struct fs_file *f, unsigned seed, uint64_t off, size_t len);
/* True when [off, off + len) of the file equals @expect[0 .. len). */
bool fct_file_equals(struct fs_file *f, const uint8_t *expect, uint64_t off, size_t len);
/* True when [off, off + len) of the file reads as zeros. */
bool fct_file_zero(struct fs_file *f, uint64_t off, size_t len);

uint64_t fct_free_blocks(struct fct *t);
uint32_t fct_free_inodes(struct fct *t);
uint64_t fct_iblocks(struct inode *inode); /* di->i_blocks */
/* The image's superblock as it is on disk now. */
void fct_read_sb(struct fct *t, struct folio_super *sb);
/* The whole image file (malloc'd) and its size. */
uint8_t *fct_slurp(const char *path, size_t *len);
/* Patch @len bytes at @off of the image file. */
void fct_patch(const char *path, uint64_t off, const void *data, size_t len);

#endif /* FOLIO_TESTS_FSCORE_UTIL_H */
