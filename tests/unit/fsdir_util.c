/*
 * tests/unit/fsdir_util.c - image, mount and inode helpers for the fs unit
 * tests (see fsdir_util.h).
 */
#include "config.h"

#include "tests/unit/fsdir_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/tap.h"

const struct fs_cred tfs_cred = {.uid = 1000, .gid = 1000, .umask = 022};

static const char *tfs_builddir(void)
{
	const char *d = getenv("top_builddir");

	return d && *d ? d : ".";
}

static int tfs_run(const char *cmd)
{
	int st = system(cmd);

	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Images still around at exit (a BAIL, a failed check) are removed then,
 * unless FSDIR_KEEP is set (to look at them). */
#define TFS_MAX_LIVE 8
static struct tfs *tfs_live[TFS_MAX_LIVE];

static void tfs_remove(struct tfs *t)
{
	char path[512];

	unlink(t->image);
	snprintf(path, sizeof(path), "%s/fsck.out", t->tmpdir);
	unlink(path);
	rmdir(t->tmpdir);
}

static void tfs_atexit(void)
{
	if (getenv("FSDIR_KEEP"))
		return;
	for (unsigned i = 0; i < TFS_MAX_LIVE; i++)
		if (tfs_live[i])
			tfs_remove(tfs_live[i]);
}

static void tfs_track(struct tfs *t, bool on)
{
	static bool registered;

	if (!registered)
		registered = !atexit(tfs_atexit);
	for (unsigned i = 0; i < TFS_MAX_LIVE; i++) {
		if (on && !tfs_live[i]) {
			tfs_live[i] = t;
			return;
		}
		if (!on && tfs_live[i] == t)
			tfs_live[i] = NULL;
	}
}

void tfs_mkfs(struct tfs *t, unsigned block_size, const char *size, unsigned inodes)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[1024], nopt[32] = "";

	memset(t, 0, sizeof(*t));
	snprintf(t->tmpdir, sizeof(t->tmpdir), "%s/fsdir.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(t->tmpdir))
		BAIL("mkdtemp: %s", strerror(errno));
	tfs_track(t, true);
	snprintf(t->image, sizeof(t->image), "%s/img", t->tmpdir);
	t->block_size = block_size;
	if (inodes)
		snprintf(nopt, sizeof(nopt), "-N %u", inodes);
	snprintf(cmd, sizeof(cmd), "%s/tools/mkfs.foliofs -q -s %s -b %u %s %s", tfs_builddir(),
		 size, block_size, nopt, t->image);
	if (tfs_run(cmd) != 0)
		BAIL("mkfs failed: %s", cmd);
}

static void tfs_pio(int fd, void *buf, size_t len, uint64_t off, bool write)
{
	ssize_t n = write ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);

	if (n != (ssize_t)len)
		BAIL("image %s at %llu failed", write ? "write" : "read", (unsigned long long)off);
}

/* Patch one superblock copy's hash seed (and checksum). */
static void tfs_patch_sb(int fd, uint64_t off, const uint64_t seed[2])
{
	struct folio_super sb;

	tfs_pio(fd, &sb, sizeof(sb), off, false);
	sb.s_hash_seed[0] = cpu_to_le64(seed[0]);
	sb.s_hash_seed[1] = cpu_to_le64(seed[1]);
	folio_sb_csum_set(&sb);
	tfs_pio(fd, &sb, sizeof(sb), off, true);
}

/* Re-key the records of the root leaf mkfs wrote (just lost+found). */
static void tfs_rekey_root(int fd, const struct folio_super *sb, const uint64_t seed[2])
{
	uint32_t bs = 1024u << le32_to_cpu(sb->s_log_block_size), off = 0;
	uint32_t cseed = folio_fs_seed(sb->s_uuid);
	struct folio_group_desc gd;
	struct folio_inode in;
	struct folio_dirent *de;
	uint8_t *blk = malloc(bs);
	uint64_t leaf;

	tfs_pio(fd, &gd, sizeof(gd), le64_to_cpu(sb->s_gdt_block) * bs, false);
	tfs_pio(fd, &in, sizeof(in), le64_to_cpu(gd.bg_inode_table) * bs, false);
	leaf = le64_to_cpu(in.i_dir.dr_root);
	if (!blk || !leaf || le16_to_cpu(in.i_dir.dr_depth))
		BAIL("unexpected root directory from mkfs");
	tfs_pio(fd, blk, bs, leaf * bs, false);
	while (folio_dirent_next(blk + FOLIO_BLK_PAYLOAD,
				 le16_to_cpu(((struct folio_dir_node *)blk)->dn_used), &off,
				 (const struct folio_dirent **)&de) == 1)
		de->de_key = cpu_to_le64(
			folio_dir_key_base(folio_dirhash(seed, de->de_name, de->de_namelen)));
	folio_block_csum_set(cseed, blk, bs);
	tfs_pio(fd, blk, bs, leaf * bs, true);
	free(blk);
}

void tfs_set_hash_seed(struct tfs *t, const uint64_t seed[2])
{
	struct folio_super sb;
	int fd = open(t->image, O_RDWR);

	if (fd < 0)
		BAIL("open %s: %s", t->image, strerror(errno));
	tfs_pio(fd, &sb, sizeof(sb), 0, false);
	tfs_patch_sb(fd, 0, seed);
	if (le32_to_cpu(sb.s_feature_compat) & FOLIO_COMPAT_BACKUP_SB)
		tfs_patch_sb(fd,
			     le64_to_cpu(sb.s_backup_sb_block)
				     << (10 + le32_to_cpu(sb.s_log_block_size)),
			     seed);
	tfs_rekey_root(fd, &sb, seed);
	close(fd);
}

void tfs_mount_opts(struct tfs *t, const struct fs_options *opts)
{
	char msg[256] = "";
	int ret = fs_mount(t->image, opts, &t->fs, msg, sizeof(msg));

	if (ret)
		BAIL("fs_mount %s: %d %s", t->image, ret, msg);
	ret = fs_iget(t->fs, FOLIO_ROOT_INO, &t->root);
	if (ret)
		BAIL("fs_iget(root): %d", ret);
}

void tfs_mount(struct tfs *t)
{
	struct fs_options opts = {.cache_size = 128ULL << 20, .ra_max_pages = 32};

	tfs_mount_opts(t, &opts);
}

void tfs_umount(struct tfs *t)
{
	int ret;

	fs_iput(t->root);
	t->root = NULL;
	ret = fs_unmount(t->fs);
	t->fs = NULL;
	if (ret)
		BAIL("fs_unmount: %d", ret);
}

int tfs_fsck(struct tfs *t)
{
	char cmd[1024];
	int st;

	snprintf(cmd, sizeof(cmd), "%s/tools/fsck.foliofs %s > %s/fsck.out 2>&1", tfs_builddir(),
		 t->image, t->tmpdir);
	st = tfs_run(cmd);
	if (st != 0) {
		snprintf(cmd, sizeof(cmd), "sed 's/^/# /' %s/fsck.out | head -40", t->tmpdir);
		tfs_run(cmd);
	}
	return st;
}

void tfs_cleanup(struct tfs *t)
{
	tfs_remove(t);
	tfs_track(t, false);
}

void tfs_put(struct inode *inode)
{
	fs_forget(inode->fs, inode->ino, 1);
	fs_iput(inode);
}

struct inode *tfs_iget(struct tfs *t, uint32_t ino)
{
	struct inode *inode;
	int ret = fs_iget(t->fs, ino, &inode);

	if (ret)
		BAIL("fs_iget(%u): %d", ino, ret);
	return inode;
}

uint32_t tfs_ino_of(struct inode *dir, const char *name)
{
	uint32_t ino = 0;

	pthread_rwlock_rdlock(&dir->i_rwsem);
	if (fs_dir_lookup(dir, name, strlen(name), &ino, NULL))
		ino = 0;
	pthread_rwlock_unlock(&dir->i_rwsem);
	return ino;
}

#define TFS_FIELD(inode, expr)                                                                     \
	({                                                                                         \
		__typeof__(expr) v_;                                                               \
		pthread_mutex_lock(&(inode)->i_lock);                                              \
		v_ = (expr);                                                                       \
		pthread_mutex_unlock(&(inode)->i_lock);                                            \
		v_;                                                                                \
	})

uint32_t tfs_nlink(struct inode *inode)
{
	return TFS_FIELD(inode, le32_to_cpu(inode->di->i_nlink));
}

uint32_t tfs_nlink_ino(struct tfs *t, uint32_t ino)
{
	struct inode *inode = tfs_iget(t, ino);
	uint32_t n = tfs_nlink(inode);

	fs_iput(inode);
	return n;
}

mode_t tfs_mode(struct inode *inode)
{
	return TFS_FIELD(inode, (mode_t)le16_to_cpu(inode->di->i_mode));
}

uint64_t tfs_size(struct inode *inode)
{
	struct stat st;

	fs_inode_stat(inode, &st);
	return (uint64_t)st.st_size;
}

uint64_t tfs_blocks(struct inode *inode)
{
	return TFS_FIELD(inode, le64_to_cpu(inode->di->i_blocks));
}

uint32_t tfs_parent(struct inode *dir)
{
	return TFS_FIELD(dir, le32_to_cpu(dir->di->i_dir.dr_parent));
}

uint64_t tfs_entries(struct inode *dir)
{
	return TFS_FIELD(dir, le64_to_cpu(dir->di->i_dir.dr_entries));
}

void tfs_age(struct inode *inode)
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

bool tfs_ctime_new(struct inode *inode)
{
	return TFS_FIELD(inode, le64_to_cpu(inode->di->i_ctime)) > 1;
}

bool tfs_mtime_new(struct inode *inode)
{
	return TFS_FIELD(inode, le64_to_cpu(inode->di->i_mtime)) > 1;
}

static int tfs_count_fn(void *ctx, const char *name, size_t len, uint32_t ino, uint8_t type,
			uint64_t next)
{
	(*(uint64_t *)ctx)++;
	return 0;
}

uint64_t tfs_count_entries(struct inode *dir)
{
	uint64_t n = 0;
	int ret;

	pthread_rwlock_rdlock(&dir->i_rwsem);
	ret = fs_dir_iterate(dir, 0, tfs_count_fn, &n);
	pthread_rwlock_unlock(&dir->i_rwsem);
	return ret ? UINT64_MAX : n;
}

double tfs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double tfs_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
