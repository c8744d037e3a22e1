/*
 * tests/unit/fscore_util.c - image, mount, file and pattern helpers for the
 * filesystem core unit tests (see fscore_util.h).
 */
#include "config.h"

#include "tests/unit/fscore_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/tap.h"

const struct fs_cred fct_cred = {.uid = 1000, .gid = 1000, .umask = 022};

static const char *fct_builddir(void)
{
	const char *d = getenv("top_builddir");

	return d && *d ? d : ".";
}

static int fct_run(const char *cmd)
{
	int st = system(cmd);

	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

void fct_mkfs(struct fct *t, unsigned bs, const char *size, const char *extra)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[1024];

	memset(t, 0, sizeof(*t));
	snprintf(t->tmpdir, sizeof(t->tmpdir), "%s/fscore.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(t->tmpdir))
		BAIL("mkdtemp: %s", strerror(errno));
	snprintf(t->image, sizeof(t->image), "%s/img", t->tmpdir);
	t->bs = bs;
	snprintf(cmd, sizeof(cmd), "%s/tools/mkfs.foliofs -q -s %s -b %u %s %s", fct_builddir(),
		 size, bs, extra ? extra : "", t->image);
	if (fct_run(cmd) != 0)
		BAIL("mkfs failed: %s", cmd);
}

int fct_mount_opts(struct fct *t, const struct fs_options *opts, char *msg, size_t msglen)
{
	struct fs_options def = {.cache_size = 32ULL << 20, .ra_max_pages = 32};
	char buf[256];
	int err;

	if (!msg) {
		msg = buf;
		msglen = sizeof(buf);
	}
	err = fs_mount(t->image, opts ? opts : &def, &t->fs, msg, msglen);
	if (err)
		return err;
	err = fs_iget(t->fs, FOLIO_ROOT_INO, &t->root);
	if (err)
		BAIL("fs_iget(root): %d", err);
	return 0;
}

void fct_mount(struct fct *t)
{
	char msg[256] = "";
	int err = fct_mount_opts(t, NULL, msg, sizeof(msg));

	if (err)
		BAIL("fs_mount %s: %d %s", t->image, err, msg);
}

int fct_umount(struct fct *t)
{
	int err;

	fs_iput(t->root);
	t->root = NULL;
	err = fs_unmount(t->fs);
	t->fs = NULL;
	return err;
}

int fct_fsck(struct fct *t)
{
	char cmd[1024], line[512];
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "%s/tools/fsck.foliofs %s 2>&1", fct_builddir(), t->image);
	p = popen(cmd, "r");
	if (!p)
		BAIL("popen fsck: %s", strerror(errno));
	char *out = NULL;
	size_t outlen = 0;
	FILE *mem = open_memstream(&out, &outlen);

	while (fgets(line, sizeof(line), p))
		fputs(line, mem);
	fclose(mem);
	st = pclose(p);
	st = (st == -1 || !WIFEXITED(st)) ? -1 : WEXITSTATUS(st);
	if (st) {
		for (char *s = strtok(out, "\n"); s; s = strtok(NULL, "\n"))
			diag("fsck: %s", s);
	}
	free(out);
	return st;
}

void fct_cleanup(struct fct *t)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->tmpdir);
	if (fct_run(cmd) != 0)
		diag("could not remove %s", t->tmpdir);
}

struct inode *fct_create(struct fct *t, const char *name)
{
	struct inode *inode;
	int err = fs_create(t->root, name, S_IFREG | 0644, 0, &fct_cred, &inode);

	if (err)
		BAIL("fs_create %s: %d", name, err);
	return inode;
}

struct inode *fct_lookup(struct fct *t, const char *name)
{
	struct inode *inode;
	int err = fs_lookup(t->root, name, &inode);

	if (err)
		BAIL("fs_lookup %s: %d", name, err);
	return inode;
}

void fct_put(struct inode *inode)
{
	fs_forget(inode->fs, inode->ino, 1);
	fs_iput(inode);
}

struct fs_file *fct_open(struct inode *inode, int flags)
{
	struct fs_file *f;
	int err = fs_open(inode, flags, &f);

	if (err)
		BAIL("fs_open %u: %d", inode->ino, err);
	return f;
}

void fct_fill(void *buf, size_t len, unsigned seed, uint64_t off)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = fct_byte(seed, off + i);
}

void fct_write_pattern(struct fs_file *f, unsigned seed, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	ssize_t n;

	if (!buf)
		BAIL("out of memory");
	fct_fill(buf, len, seed, off);
	n = fs_write(f, buf, len, off);
	free(buf);
	if (n != (ssize_t)len)
		BAIL("fs_write %zu at %llu: %zd", len, (unsigned long long)off, n);
}

bool fct_file_equals(struct fs_file *f, const uint8_t *expect, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	ssize_t n;
	bool ok;

	if (!buf)
		BAIL("out of memory");
	n = fs_read(f, buf, len, off);
	ok = n == (ssize_t)len && !memcmp(buf, expect, len);
	if (!ok && n == (ssize_t)len) {
		for (size_t i = 0; i < len; i++) {
			if (buf[i] != expect[i]) {
				diag("first difference at %llu: got %02x, want %02x",
				     (unsigned long long)(off + i), buf[i], expect[i]);
				break;
			}
		}
	} else if (!ok) {
		diag("read %zu at %llu returned %zd", len, (unsigned long long)off, n);
	}
	free(buf);
	return ok;
}

bool fct_file_zero(struct fs_file *f, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	ssize_t n;
	bool ok;

	if (!buf)
		BAIL("out of memory");
	memset(buf, 0xAA, len);
	n = fs_read(f, buf, len, off);
	ok = n == (ssize_t)len;
	for (size_t i = 0; ok && i < len; i++)
		ok = !buf[i];
	free(buf);
	return ok;
}

uint64_t fct_free_blocks(struct fct *t)
{
	return atomic_load(&t->fs->free_blocks);
}

uint32_t fct_free_inodes(struct fct *t)
{
	return atomic_load(&t->fs->free_inodes);
}

uint64_t fct_iblocks(struct inode *inode)
{
	uint64_t n;

	pthread_mutex_lock(&inode->i_lock);
	n = le64_to_cpu(inode->di->i_blocks);
	pthread_mutex_unlock(&inode->i_lock);
	return n;
}

void fct_read_sb(struct fct *t, struct folio_super *sb)
{
	int fd = open(t->image, O_RDONLY);

	if (fd < 0 || pread(fd, sb, sizeof(*sb), 0) != (ssize_t)sizeof(*sb))
		BAIL("read superblock of %s", t->image);
	close(fd);
}

uint8_t *fct_slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st))
		BAIL("open %s: %s", path, strerror(errno));
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
		BAIL("read %s", path);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

void fct_patch(const char *path, uint64_t off, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || pwrite(fd, data, len, (off_t)off) != (ssize_t)len)
		BAIL("patch %s", path);
	close(fd);
}
