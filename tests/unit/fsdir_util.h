/*
 * tests/unit/fsdir_util.h - helpers for the directory, name and xattr unit
 * tests (test_fs_dir, test_fs_namei, test_fs_xattr): make an image with
 * tools/mkfs.foliofs in a temporary directory, mount it with fs_mount (no
 * FUSE), read inode fields, drop references, unmount and run
 * tools/fsck.foliofs on it.
 *
 * The tools are found through $top_builddir (automake's TESTS_ENVIRONMENT
 * exports it), else the current directory. Every helper BAILs when setup
 * fails, so the tests themselves check only what they are about.
 */
#ifndef FOLIO_TESTS_FSDIR_UTIL_H
#define FOLIO_TESTS_FSDIR_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs/fs.h"

struct tfs {
	char tmpdir[256];
	char image[300];
	unsigned block_size;
	struct fs *fs;
	struct inode *root; /* iref held while mounted */
};

extern const struct fs_cred tfs_cred; /* uid/gid of the test, umask 022 */

/* Make a temporary directory and an image in it: @size as mkfs -s takes it,
 * @inodes for -N (0: mkfs's default). */
void tfs_mkfs(struct tfs *t, unsigned block_size, const char *size, unsigned inodes);
/* Rewrite the image's directory hash seed (both superblocks and the root
 * leaf's lost+found key) so tests can make names collide. */
void tfs_set_hash_seed(struct tfs *t, const uint64_t seed[2]);
void tfs_mount(struct tfs *t);
void tfs_mount_opts(struct tfs *t, const struct fs_options *opts);
void tfs_umount(struct tfs *t);
/* Run fsck.foliofs on the image; returns its exit status (0 clean). */
int tfs_fsck(struct tfs *t);
/* Remove the image and the temporary directory (done at exit for images
 * not cleaned up, unless FSDIR_KEEP is set). */
void tfs_cleanup(struct tfs *t);

/* Drop what fs_create & co. returned: one lookup and one reference. */
void tfs_put(struct inode *inode);
/* Get inode @ino (BAILs on failure); release with fs_iput. */
struct inode *tfs_iget(struct tfs *t, uint32_t ino);
/* Look @name up in @dir; 0 when absent. */
uint32_t tfs_ino_of(struct inode *dir, const char *name);

uint32_t tfs_nlink(struct inode *inode);
uint32_t tfs_nlink_ino(struct tfs *t, uint32_t ino);
mode_t tfs_mode(struct inode *inode);
uint64_t tfs_size(struct inode *inode);
uint64_t tfs_blocks(struct inode *inode);
uint32_t tfs_parent(struct inode *dir);
uint64_t tfs_entries(struct inode *dir);
/* Set mtime and ctime to 1 s after the epoch, so a later touch shows. */
void tfs_age(struct inode *inode);
/* Has ctime (or mtime) moved off tfs_age()'s value? */
bool tfs_ctime_new(struct inode *inode);
bool tfs_mtime_new(struct inode *inode);

/* Number of entries fs_dir_iterate returns from cookie 0. */
uint64_t tfs_count_entries(struct inode *dir);

/* Monotonic seconds, for the timings the tests print as diagnostics. */
double tfs_now(void);
/* CPU seconds of the process (timings on a busy machine). */
double tfs_cpu(void);

#endif /* FOLIO_TESTS_FSDIR_UTIL_H */
