/*
 * tests/lib/fsfix.c - the filesystem unit tests' fixture: images, mounts,
 * files, byte patterns and inode fields (see fsfix.h).
 *
 * Invariant: every fixture whose temporary directory exists is in
 * fsfix_live[] until fsfix_cleanup(), so the exit handler of the process
 * that made it can remove it.
 */
#include "config.h"

#include "tests/lib/fsfix.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/tap.h"

const struct fs_cred fsfix_cred = {.uid = 1000, .gid = 1000, .umask = 022};
uint64_t fsfix_cache_size = 32ULL << 20;

static const char *fsfix_builddir(void)
{
	const char *d = getenv("top_builddir");

	return d && *d ? d : ".";
}

static int fsfix_run(const char *cmd)
{
	int st = system(cmd);

	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* ---- temporary directories, removed at exit unless FSFIX_KEEP is set ---- */

#define FSFIX_MAX_LIVE 8
static struct fsfix *fsfix_live[FSFIX_MAX_LIVE];
static pid_t fsfix_owner; /* the process that registered the exit handler */

static void fsfix_remove(struct fsfix *t)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->tmpdir);
	if (fsfix_run(cmd) != 0)
		diag("could not remove %s", t->tmpdir);
}

static void fsfix_atexit(void)
{
	if (getenv("FSFIX_KEEP") || getpid() != fsfix_owner)
		return; /* a forked child leaves its parent's images alone */
	for (unsigned i = 0; i < FSFIX_MAX_LIVE; i++)
		if (fsfix_live[i])
			fsfix_remove(fsfix_live[i]);
}

static void fsfix_track(struct fsfix *t, bool on)
{
	if (!fsfix_owner && !atexit(fsfix_atexit))
		fsfix_owner = getpid();
	for (unsigned i = 0; i < FSFIX_MAX_LIVE; i++)
		if (fsfix_live[i] == t)
			fsfix_live[i] = NULL;
	for (unsigned i = 0; on && i < FSFIX_MAX_LIVE; i++) {
		if (!fsfix_live[i]) {
			fsfix_live[i] = t;
			return;
		}
	}
}

/* ---- images, mounts and fsck ---- */

void fsfix_mkfs(struct fsfix *t, unsigned bs, const char *size, const char *extra)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[1024];

	memset(t, 0, sizeof(*t));
	snprintf(t->tmpdir, sizeof(t->tmpdir), "%s/fsfix.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(t->tmpdir))
		BAIL("mkdtemp: %s", strerror(errno));
	fsfix_track(t, true);
	snprintf(t->image, sizeof(t->image), "%s/img", t->tmpdir);
	t->bs = bs;
	snprintf(cmd, sizeof(cmd), "%s/tools/mkfs.foliofs -q -s %s -b %u %s %s", fsfix_builddir(),
		 size, bs, extra ? extra : "", t->image);
	if (fsfix_run(cmd) != 0)
		BAIL("mkfs failed: %s", cmd);
}

static void fsfix_pio(int fd, void *buf, size_t len, uint64_t off, bool write)
{
	ssize_t n = write ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);

	if (n != (ssize_t)len)
		BAIL("image %s at %llu failed", write ? "write" : "read", (unsigned long long)off);
}

/* Patch one superblock copy's hash seed (and checksum). */
static void fsfix_patch_sb(int fd, uint64_t off, const uint64_t seed[2])
{
	struct folio_super sb;

	fsfix_pio(fd, &sb, sizeof(sb), off, false);
	sb.s_hash_seed[0] = cpu_to_le64(seed[0]);
	sb.s_hash_seed[1] = cpu_to_le64(seed[1]);
	folio_sb_csum_set(&sb);
	fsfix_pio(fd, &sb, sizeof(sb), off, true);
}

/* Re-key the records of the root leaf mkfs wrote (just lost+found). */
static void fsfix_rekey_root(int fd, const struct folio_super *sb, const uint64_t seed[2])
{
	uint32_t bs = 1024u << le32_to_cpu(sb->s_log_block_size), off = 0;
	uint32_t cseed = folio_fs_seed(sb->s_uuid);
	struct folio_group_desc gd;
	struct folio_inode in;
	struct folio_dirent *de;
	uint8_t *blk = malloc(bs);
	uint64_t leaf;

	fsfix_pio(fd, &gd, sizeof(gd), le64_to_cpu(sb->s_gdt_block) * bs, false);
	fsfix_pio(fd, &in, sizeof(in), le64_to_cpu(gd.bg_inode_table) * bs, false);
	leaf = le64_to_cpu(in.i_dir.dr_root);
	if (!blk || !leaf || le16_to_cpu(in.i_dir.dr_depth))
		BAIL("unexpected root directory from mkfs");
	fsfix_pio(fd, blk, bs, leaf * bs, false);
	while (folio_dirent_next(blk + FOLIO_BLK_PAYLOAD,
				 le16_to_cpu(((struct folio_dir_node *)blk)->dn_used), &off,
				 (const struct folio_dirent **)&de) == 1)
		de->de_key = cpu_to_le64(
			folio_dir_key_base(folio_dirhash(seed, de->de_name, de->de_namelen)));
	folio_block_csum_set(cseed, blk, bs);
	fsfix_pio(fd, blk, bs, leaf * bs, true);
	free(blk);
}

void fsfix_set_hash_seed(struct fsfix *t, const uint64_t seed[2])
{
	struct folio_super sb;
	int fd = open(t->image, O_RDWR);

	if (fd < 0)
		BAIL("open %s: %s", t->image, strerror(errno));
	fsfix_pio(fd, &sb, sizeof(sb), 0, false);
	fsfix_patch_sb(fd, 0, seed);
	if (le32_to_cpu(sb.s_feature_compat) & FOLIO_COMPAT_BACKUP_SB)
		fsfix_patch_sb(fd,
			       le64_to_cpu(sb.s_backup_sb_block)
				       << (10 + le32_to_cpu(sb.s_log_block_size)),
			       seed);
	fsfix_rekey_root(fd, &sb, seed);
	close(fd);
}

int fsfix_mount_opts(struct fsfix *t, const struct fs_options *opts, char *msg, size_t msglen)
{
	struct fs_options def = {.cache_size = fsfix_cache_size, .ra_max_pages = 32};
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

int fsfix_mount_capture(struct fsfix *t, char *out, size_t outlen)
{
	char path[320];
	int fd, saved, err;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/stderr", t->tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	saved = dup(2);
	if (fd < 0 || saved < 0)
		BAIL("capture stderr");
	fflush(stderr);
	dup2(fd, 2);
	err = fsfix_mount_opts(t, NULL, NULL, 0);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	return err;
}

void fsfix_mount(struct fsfix *t)
{
	char msg[256] = "";
	int err = fsfix_mount_opts(t, NULL, msg, sizeof(msg));

	if (err)
		BAIL("fs_mount %s: %d %s", t->image, err, msg);
}

int fsfix_umount(struct fsfix *t)
{
	int err;

	fs_iput(t->root);
	t->root = NULL;
	err = fs_unmount(t->fs);
	t->fs = NULL;
	return err;
}

void fsfix_umount_or_bail(struct fsfix *t)
{
	int err = fsfix_umount(t);

	if (err)
		BAIL("fs_unmount: %d", err);
}

int fsfix_fsck(struct fsfix *t)
{
	char cmd[1024], line[512];
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "%s/tools/fsck.foliofs %s 2>&1", fsfix_builddir(), t->image);
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

void fsfix_cleanup(struct fsfix *t)
{
	fsfix_remove(t);
	fsfix_track(t, false);
}

/* ---- files and inodes ---- */

struct inode *fsfix_create(struct fsfix *t, const char *name)
{
	struct inode *inode;
	int err = fs_create(t->root, name, S_IFREG | 0644, 0, &fsfix_cred, &inode);

	if (err)
		BAIL("fs_create %s: %d", name, err);
	return inode;
}

struct inode *fsfix_lookup(struct fsfix *t, const char *name)
{
	struct inode *inode;
	int err = fs_lookup(t->root, name, &inode);

	if (err)
		BAIL("fs_lookup %s: %d", name, err);
	return inode;
}

void fsfix_put(struct inode *inode)
{
	fs_forget(inode->fs, inode->ino, 1);
	fs_iput(inode);
}

struct fs_file *fsfix_open(struct inode *inode, int flags)
{
	struct fs_file *f;
	int err = fs_open(inode, flags, &f);

	if (err)
		BAIL("fs_open %u: %d", inode->ino, err);
	return f;
}

struct inode *fsfix_iget(struct fsfix *t, uint32_t ino)
{
	struct inode *inode;
	int ret = fs_iget(t->fs, ino, &inode);

	if (ret)
		BAIL("fs_iget(%u): %d", ino, ret);
	return inode;
}

uint32_t fsfix_ino_of(struct inode *dir, const char *name)
{
	uint32_t ino = 0;

	pthread_rwlock_rdlock(&dir->i_rwsem);
	if (fs_dir_lookup(dir, name, strlen(name), &ino, NULL))
		ino = 0;
	pthread_rwlock_unlock(&dir->i_rwsem);
	return ino;
}

/* ---- byte patterns ---- */

void fsfix_fill(void *buf, size_t len, unsigned seed, uint64_t off)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = fsfix_byte(seed, off + i);
}

void fsfix_write_pattern(struct fs_file *f, unsigned seed, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	ssize_t n;

	if (!buf)
		BAIL("out of memory");
	fsfix_fill(buf, len, seed, off);
	n = fs_write(f, buf, len, off);
	free(buf);
	if (n != (ssize_t)len)
		BAIL("fs_write %zu at %llu: %zd", len, (unsigned long long)off, n);
}

bool fsfix_file_equals(struct fs_file *f, const uint8_t *expect, uint64_t off, size_t len)
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

bool fsfix_file_zero(struct fs_file *f, uint64_t off, size_t len)
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

/* ---- fields ---- */

uint64_t fsfix_free_blocks(struct fsfix *t)
{
	return atomic_load(&t->fs->free_blocks);
}

uint32_t fsfix_free_inodes(struct fsfix *t)
{
	return atomic_load(&t->fs->free_inodes);
}

#define FSFIX_FIELD(inode, expr)                                                                   \
	({                                                                                         \
		__typeof__(expr) v_;                                                               \
		pthread_mutex_lock(&(inode)->i_lock);                                              \
		v_ = (expr);                                                                       \
		pthread_mutex_unlock(&(inode)->i_lock);                                            \
		v_;                                                                                \
	})

uint32_t fsfix_nlink_ino(struct fsfix *t, uint32_t ino)
{
	struct inode *inode = fsfix_iget(t, ino);
	uint32_t n = fs_inode_nlink(inode);

	fs_iput(inode);
	return n;
}

uint64_t fsfix_size(struct inode *inode)
{
	struct stat st;

	fs_inode_stat(inode, &st);
	return (uint64_t)st.st_size;
}

uint64_t fsfix_blocks(struct inode *inode)
{
	return FSFIX_FIELD(inode, le64_to_cpu(inode->di->i_blocks));
}

uint32_t fsfix_parent(struct inode *dir)
{
	return FSFIX_FIELD(dir, le32_to_cpu(dir->di->i_dir.dr_parent));
}

uint64_t fsfix_entries(struct inode *dir)
{
	return FSFIX_FIELD(dir, le64_to_cpu(dir->di->i_dir.dr_entries));
}

static int fsfix_count_fn(void *ctx, const char *name, size_t len, uint32_t ino, uint8_t type,
			  uint64_t next)
{
	(*(uint64_t *)ctx)++;
	return 0;
}

uint64_t fsfix_count_entries(struct inode *dir)
{
	uint64_t n = 0;
	int ret;

	pthread_rwlock_rdlock(&dir->i_rwsem);
	ret = fs_dir_iterate(dir, 0, fsfix_count_fn, &n);
	pthread_rwlock_unlock(&dir->i_rwsem);
	return ret ? UINT64_MAX : n;
}

void fsfix_age(struct inode *inode)
{
	pthread_mutex_lock(&inode->i_lock);
	inode->di->i_mtime = cpu_to_le64(1);
	inode->di->i_ctime = cpu_to_le64(1);
	inode->di->i_mtime_nsec = 0;
	inode->di->i_ctime_nsec = 0;
	pthread_mutex_unlock(&inode->i_lock);
	if (fs_inode_write(inode))
		BAIL("fs_inode_write(%u)", inode->ino);
}

bool fsfix_ctime_new(struct inode *inode)
{
	return FSFIX_FIELD(inode, le64_to_cpu(inode->di->i_ctime)) > 1;
}

bool fsfix_mtime_new(struct inode *inode)
{
	return FSFIX_FIELD(inode, le64_to_cpu(inode->di->i_mtime)) > 1;
}

/* ---- the image file ---- */

void fsfix_read_sb(struct fsfix *t, struct folio_super *sb)
{
	int fd = open(t->image, O_RDONLY);

	if (fd < 0 || pread(fd, sb, sizeof(*sb), 0) != (ssize_t)sizeof(*sb))
		BAIL("read superblock of %s", t->image);
	close(fd);
}

uint8_t *fsfix_slurp(const char *path, size_t *len)
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

void fsfix_patch(const char *path, uint64_t off, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || pwrite(fd, data, len, (off_t)off) != (ssize_t)len)
		BAIL("patch %s", path);
	close(fd);
}
