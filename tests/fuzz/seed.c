/*
 * tests/fuzz/seed.c - the fuzzer's seed images: every kind of structure the
 * mutations can reach.
 *
 * Interface: fz_seed_build() (tests/fuzz/fuzz.h).
 *
 * Each image is made by mkfs.foliofs (fixed uuid, so checksums are the same
 * from run to run) and filled through the filesystem library: files of
 * several sizes, a sparse file, a file of 300 extents (an extent tree two
 * levels deep at 1 KiB blocks), preallocated (unwritten) extents, a
 * directory of 400 names (a directory tree with index nodes), nested
 * directories, xattrs in the inode and in a block, access and default ACLs,
 * short and long symlinks, hard links, a FIFO and a device node. seed1 is
 * seed0 mounted again, with an unlinked file held open (an orphan) and more
 * changes committed to the journal, copied while still mounted: it needs
 * journal replay and orphan cleanup.
 *
 * File data is text (block number and file in every line), so images
 * compress well for tests/fuzz/regress.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs/fs.h"
#include "tests/fuzz/fuzz.h"

#define SEED_UUID "6f6c696f-6675-7a7a-8000-000000000001"

static const struct fs_cred seed_cred = {.uid = 0, .gid = 0, .umask = 022};

struct seeder {
	struct fs *fs;
	struct inode *root;
	int err; /* first failure */
};

static void sd_fail(struct seeder *s, const char *what, int err)
{
	if (err && !s->err) {
		fprintf(stderr, "fuzz: seed: %s: %s\n", what, strerror(-err));
		s->err = err;
	}
}

static void sd_put(struct inode *inode)
{
	if (inode) {
		fs_forget(inode->fs, inode->ino, 1);
		fs_iput(inode);
	}
}

/* Compressible text naming the file and offset. */
static void sd_fill(char *buf, size_t len, const char *tag, uint64_t off)
{
	for (size_t i = 0; i < len; i += 64) {
		char line[65];
		size_t n = (size_t)snprintf(line, sizeof(line), "%-20.20s %016llx ..............\n",
					    tag, (unsigned long long)(off + i));

		memcpy(buf + i, line, len - i < n ? len - i : n);
		if (len - i > n)
			memset(buf + i + n, '.', (len - i < 64 ? len - i : 64) - n);
	}
}

static void sd_write(struct seeder *s, struct inode *ino, const char *tag, uint64_t off, size_t len)
{
	struct fs_file *f;
	char *buf = malloc(len);
	int err = fs_open(ino, O_RDWR, &f);

	if (!buf || err) {
		sd_fail(s, tag, err ? err : -ENOMEM);
		free(buf);
		return;
	}
	sd_fill(buf, len, tag, off);
	if (fs_write(f, buf, len, off) != (ssize_t)len)
		sd_fail(s, tag, -EIO);
	fs_release(f);
	free(buf);
}

static struct inode *sd_file(struct seeder *s, struct inode *dir, const char *name, mode_t mode,
			     dev_t rdev)
{
	struct inode *ino = NULL;

	sd_fail(s, name, fs_create(dir, name, mode, rdev, &seed_cred, &ino));
	return ino;
}

static struct inode *sd_dir(struct seeder *s, struct inode *dir, const char *name)
{
	struct inode *ino = NULL;

	sd_fail(s, name, fs_mkdir(dir, name, 0755, &seed_cred, &ino));
	return ino;
}

/* A POSIX ACL blob: owner rwx, user 1001 r-x, group r--, mask r-x, other r--. */
static size_t sd_acl(uint8_t *buf)
{
	static const uint16_t tag[] = {FOLIO_ACL_USER_OBJ, FOLIO_ACL_USER, FOLIO_ACL_GROUP_OBJ,
				       FOLIO_ACL_MASK, FOLIO_ACL_OTHER};
	static const uint16_t perm[] = {7, 5, 4, 5, 4};
	struct folio_acl_header h = {cpu_to_le32(FOLIO_ACL_VERSION)};

	memcpy(buf, &h, sizeof(h));
	for (unsigned i = 0; i < 5; i++) {
		struct folio_acl_entry e = {
			cpu_to_le16(tag[i]), cpu_to_le16(perm[i]),
			cpu_to_le32(tag[i] == FOLIO_ACL_USER ? 1001 : 0xFFFFFFFFu)};

		memcpy(buf + 4 + 8 * i, &e, sizeof(e));
	}
	return 4 + 8 * 5;
}

static void sd_files(struct seeder *s, uint32_t bs)
{
	struct inode *r = s->root, *i;
	char name[64], val[700];

	i = sd_file(s, r, "small", S_IFREG | 0644, 0);
	if (i) {
		sd_write(s, i, "small", 0, 100);
		sd_fail(s, "xattr", fs_setxattr(i, "user.a", "1", 1, 0));
		sd_put(i);
	}
	i = sd_file(s, r, "med", S_IFREG | 0640, 0);
	if (i) {
		sd_write(s, i, "med", 0, 3000);
		memset(val, 'v', sizeof(val));
		sd_fail(s, "xattr", fs_setxattr(i, "user.big", val, sizeof(val), 0));
		for (int k = 0; k < 6; k++) {
			snprintf(name, sizeof(name), "user.x%d", k);
			sd_fail(s, "xattr", fs_setxattr(i, name, val, 20 + k, 0));
		}
		sd_fail(s, "xattr", fs_setxattr(i, "trusted.t", "tv", 2, 0));
		sd_put(i);
	}
	i = sd_file(s, r, "big", S_IFREG | 0755, 0);
	if (i) {
		uint8_t acl[64];

		sd_write(s, i, "big", 0, 300 << 10);
		sd_fail(s, "acl", fs_setxattr(i, "system.posix_acl_access", acl, sd_acl(acl), 0));
		sd_put(i);
	}
	i = sd_file(s, r, "sparse", S_IFREG | 0644, 0);
	if (i) {
		sd_write(s, i, "sparse", 0, 4096);
		sd_write(s, i, "sparse", 2 << 20, 4096);
		sd_write(s, i, "sparse", 5 << 20, bs);
		sd_fail(s, "setsize", fs_setsize(i, 6 << 20));
		sd_put(i);
	}
	i = sd_file(s, r, "frag", S_IFREG | 0644, 0);
	for (unsigned k = 0; i && k < 300; k++)
		sd_write(s, i, "frag", 2ULL * k * bs, bs);
	sd_put(i);
	i = sd_file(s, r, "prealloc", S_IFREG | 0644, 0);
	if (i) {
		sd_fail(s, "fallocate", fs_fallocate(i, FALLOC_FL_KEEP_SIZE, 0, 20ULL * bs));
		sd_write(s, i, "prealloc", 3ULL * bs, 2 * bs);
		sd_put(i);
	}
	i = sd_file(s, r, "fifo", S_IFIFO | 0644, 0);
	sd_put(i);
	i = sd_file(s, r, "chr", S_IFCHR | 0644, makedev(1, 3));
	sd_put(i);
}

static void sd_dirs(struct seeder *s)
{
	struct inode *big, *d1, *d2, *d3, *f, *l = NULL;
	char name[64], target[300];

	big = sd_dir(s, s->root, "bigdir");
	for (int k = 0; big && k < 400 && !s->err; k++) {
		snprintf(name, sizeof(name), "entry-%04d-abcdefghijklmnop", k);
		f = sd_file(s, big, name, S_IFREG | 0644, 0);
		if (f && k % 50 == 0)
			sd_write(s, f, name, 0, 200);
		sd_put(f);
	}
	d1 = sd_dir(s, s->root, "d1");
	d2 = d1 ? sd_dir(s, d1, "d2") : NULL;
	d3 = d2 ? sd_dir(s, d2, "d3") : NULL;
	if (d3) {
		f = sd_file(s, d3, "deep", S_IFREG | 0600, 0);
		if (f)
			sd_write(s, f, "deep", 0, 5000);
		sd_put(f);
	}
	if (d1) {
		uint8_t acl[64];
		size_t n = sd_acl(acl);

		sd_fail(s, "default acl", fs_setxattr(d1, "system.posix_acl_default", acl, n, 0));
		sd_fail(s, "acl", fs_setxattr(d1, "system.posix_acl_access", acl, n, 0));
		f = sd_file(s, d1, "inherits", S_IFREG | 0666, 0);
		sd_put(f);
	}
	sd_fail(s, "symlink", fs_symlink(s->root, "ln-short", "small", &seed_cred, &l));
	sd_put(l);
	l = NULL;
	memset(target, 'p', 200);
	memcpy(target + 200, "/med", 5);
	sd_fail(s, "symlink", fs_symlink(s->root, "ln-long", target, &seed_cred, &l));
	sd_put(l);
	if (!fs_lookup(s->root, "med", &f)) {
		if (d1)
			sd_fail(s, "link", fs_link(f, d1, "med-link"));
		if (big)
			sd_fail(s, "link", fs_link(f, big, "med-link2"));
		sd_put(f);
	}
	sd_put(d3);
	sd_put(d2);
	sd_put(d1);
	sd_put(big);
}

static int sd_mount(struct seeder *s, const char *image)
{
	struct fs_options o = {.cache_size = 16 << 20, .ra_max_pages = 8};
	char msg[256];
	int err;

	memset(s, 0, sizeof(*s));
	err = fs_mount(image, &o, &s->fs, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "fuzz: seed: mount %s: %s\n", image, msg);
		return -1;
	}
	err = fs_iget(s->fs, FOLIO_ROOT_INO, &s->root);
	if (err) {
		fprintf(stderr, "fuzz: seed: root: %s\n", strerror(-err));
		fs_unmount(s->fs);
		return -1;
	}
	return 0;
}

static int sd_umount(struct seeder *s)
{
	fs_iput(s->root);
	return fs_unmount(s->fs) || s->err ? -1 : 0;
}

static int sd_run(const char *cmd)
{
	int st = system(cmd);

	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int sd_populated(const char *image, const char *tools, unsigned bs, const char *size)
{
	struct seeder s;
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "%s/mkfs.foliofs -q -f -b %u -s %s -N 1024 -U %s %s", tools, bs,
		 size, SEED_UUID, image);
	if (sd_run(cmd) || sd_mount(&s, image))
		return -1;
	sd_files(&s, bs);
	sd_dirs(&s);
	return sd_umount(&s);
}

/* seed0 mounted again, changed, committed, and copied while mounted. */
static int sd_pending(const char *from, const char *image)
{
	struct inode *f = NULL, *d = NULL;
	struct fs_file *open = NULL;
	struct seeder s;
	char cmd[2048];
	int ret;

	snprintf(cmd, sizeof(cmd), "cp %s %s.tmp", from, image);
	if (sd_run(cmd))
		return -1;
	snprintf(cmd, sizeof(cmd), "%s.tmp", image);
	if (sd_mount(&s, cmd))
		return -1;
	if (!fs_lookup(s.root, "small", &f)) {
		sd_fail(&s, "open", fs_open(f, O_RDWR, &open));
		sd_fail(&s, "unlink", fs_unlink(s.root, "small"));
	}
	d = sd_file(&s, s.root, "journalled", S_IFREG | 0644, 0);
	if (d) {
		sd_write(&s, d, "journalled", 0, 2000);
		sd_fail(&s, "xattr", fs_setxattr(d, "user.j", "jj", 2, 0));
		sd_put(d);
	}
	sd_fail(&s, "rename", fs_rename(s.root, "med", s.root, "med-renamed", 0));
	d = sd_dir(&s, s.root, "jdir");
	sd_put(d);
	sd_fail(&s, "unlink", fs_unlink(s.root, "fifo"));
	ret = fs_journal_commit(s.fs); /* 1: a commit was written */
	sd_fail(&s, "commit", ret < 0 ? ret : ret == 1 ? 0 : -EAGAIN);
	snprintf(cmd, sizeof(cmd), "cp %s.tmp %s && rm -f %s.tmp", image, image, image);
	ret = sd_run(cmd);
	if (open)
		fs_release(open);
	sd_put(f);
	return sd_umount(&s) || ret ? -1 : 0;
}

/**
 * fz_seed_build - make the seed images
 * @dir: where seed0.img, seed1.img and seed2.img go
 * @tools: the directory holding mkfs.foliofs
 *
 * Context: a process of its own (it mounts with the library).
 * Return: 0, or -1 with a line on stderr.
 */
int fz_seed_build(const char *dir, const char *tools)
{
	char a[512], b[512], c[512];

	snprintf(a, sizeof(a), "%s/seed0.img", dir);
	snprintf(b, sizeof(b), "%s/seed1.img", dir);
	snprintf(c, sizeof(c), "%s/seed2.img", dir);
	if (sd_populated(a, tools, 1024, "9M") || sd_pending(a, b) ||
	    sd_populated(c, tools, 4096, "16M"))
		return -1;
	return 0;
}
