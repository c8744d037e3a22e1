/*
 * tests/lib/fsfix.h - the fixture of the filesystem unit tests (test_fs_*):
 * make an image with tools/mkfs.foliofs in a temporary directory, mount it
 * with fs_mount (no FUSE), make, open and look up files, fill and check byte
 * patterns, read inode fields, read and patch the image file directly,
 * unmount and run tools/fsck.foliofs on it.
 *
 * The tools are found through $top_builddir (automake's TESTS_ENVIRONMENT
 * exports it), else the current directory. Helpers that set things up BAIL
 * when they fail, so tests check only what they are about. A temporary
 * directory still there when the process that made it exits (after a BAIL,
 * say) is removed then, unless FSFIX_KEEP is set in the environment (to look
 * at the image).
 */
#ifndef FOLIO_TESTS_FSFIX_H
#define FOLIO_TESTS_FSFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs/fs.h"

/* One test image and, while mounted, its filesystem. */
struct fsfix {
	char tmpdir[256];
	char image[300];
	unsigned bs;	    /* block size */
	struct fs *fs;	    /* NULL while unmounted */
	struct inode *root; /* iref held while mounted */
};

/* uid/gid 1000, umask 022: the caller of every operation the tests make. */
extern const struct fs_cred fsfix_cred;
/* The cache fsfix_mount() asks for: 32 MiB unless the test changes it. */
extern uint64_t fsfix_cache_size;

/* Temporary directory plus an image of @size (mkfs -s) with block size @bs;
 * @extra: more mkfs options ("-N 64"), or NULL. */
void fsfix_mkfs(struct fsfix *t, unsigned bs, const char *size, const char *extra);
/* Rewrite the image's directory hash seed (both superblocks and the root
 * leaf's lost+found key) so tests can make names collide. */
void fsfix_set_hash_seed(struct fsfix *t, const uint64_t seed[2]);
/* fs_mount with @opts (NULL: a fsfix_cache_size cache, 32 readahead pages);
 * returns its errno; @msg may be NULL. On success the root is referenced in
 * t->root. */
int fsfix_mount_opts(struct fsfix *t, const struct fs_options *opts, char *msg, size_t msglen);
/* fsfix_mount_opts(t, NULL, ...) with what fs_mount says on stderr captured
 * into @out (NUL-terminated); returns its errno. */
int fsfix_mount_capture(struct fsfix *t, char *out, size_t outlen);
/* fsfix_mount_opts(t, NULL, ...); BAILs when the mount fails. */
void fsfix_mount(struct fsfix *t);
/* Drop the root and unmount; returns fs_unmount()'s result. */
int fsfix_umount(struct fsfix *t);
/* fsfix_umount(); BAILs unless it returns 0. */
void fsfix_umount_or_bail(struct fsfix *t);
/* fsck.foliofs's exit status (0 clean; its output is shown as diagnostics
 * when not 0). */
int fsfix_fsck(struct fsfix *t);
/* Remove the temporary directory and everything in it. */
void fsfix_cleanup(struct fsfix *t);

/* Files in the root directory. fsfix_create/fsfix_lookup return the inode
 * with iref + 1 and nlookup + 1 (as a FUSE entry reply); fsfix_put drops both,
 * also for what fs_create & co. returned. */
struct inode *fsfix_create(struct fsfix *t, const char *name);
struct inode *fsfix_lookup(struct fsfix *t, const char *name);
void fsfix_put(struct inode *inode);
struct fs_file *fsfix_open(struct inode *inode, int flags);
/* Inode @ino (BAILs on failure); release it with fs_iput. */
struct inode *fsfix_iget(struct fsfix *t, uint32_t ino);
/* Look @name up in @dir; 0 when absent. */
uint32_t fsfix_ino_of(struct inode *dir, const char *name);

/* Byte @off of pattern @seed (depends on the absolute file offset). */
static inline uint8_t fsfix_byte(unsigned seed, uint64_t off)
{
	uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)seed * 0xC2B2AE3D27D4EB4FULL;

	return (uint8_t)(x >> 56 ^ x >> 17);
}
void fsfix_fill(void *buf, size_t len, unsigned seed, uint64_t off);
/* Write @len pattern bytes at @off (BAILs unless all are written). */
void fsfix_write_pattern(struct fs_file *f, unsigned seed, uint64_t off, size_t len);
/* True when [off, off + len) of the file equals @expect[0 .. len). */
bool fsfix_file_equals(struct fs_file *f, const uint8_t *expect, uint64_t off, size_t len);
/* True when [off, off + len) of the file reads as zeros. */
bool fsfix_file_zero(struct fs_file *f, uint64_t off, size_t len);

/* Fields of the filesystem and of inodes (under i_lock where it applies;
 * fs/fs.h has fs_inode_mode() and fs_inode_nlink()). */
uint64_t fsfix_free_blocks(struct fsfix *t);
uint32_t fsfix_free_inodes(struct fsfix *t);
uint32_t fsfix_nlink_ino(struct fsfix *t, uint32_t ino);
uint64_t fsfix_size(struct inode *inode);
uint64_t fsfix_blocks(struct inode *inode); /* di->i_blocks */
uint32_t fsfix_parent(struct inode *dir);
uint64_t fsfix_entries(struct inode *dir);
/* Number of entries fs_dir_iterate returns from cookie 0 (UINT64_MAX when it
 * fails). */
uint64_t fsfix_count_entries(struct inode *dir);
/* Set mtime and ctime to 1 s after the epoch, so a later touch shows. */
void fsfix_age(struct inode *inode);
/* Has ctime (or mtime) moved off fsfix_age()'s value? */
bool fsfix_ctime_new(struct inode *inode);
bool fsfix_mtime_new(struct inode *inode);

/* The image's superblock as it is on disk now. */
void fsfix_read_sb(struct fsfix *t, struct folio_super *sb);
/* The whole of file @path (malloc'd) and its size. */
uint8_t *fsfix_slurp(const char *path, size_t *len);
/* Patch @len bytes at @off of file @path. */
void fsfix_patch(const char *path, uint64_t off, const void *data, size_t len);

#endif /* FOLIO_TESTS_FSFIX_H */
