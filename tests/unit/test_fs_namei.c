/*
 * tests/unit/test_fs_namei.c - name operations (fs/namei.c) on real images,
 * mounted with fs_mount (no FUSE), for block sizes 1024, 2048 and 4096:
 * lookup, create of every file type, mkdir, symlink (inline and long),
 * readlink, link, unlink (and orphans), rmdir, every rename case, the times
 * each one sets, the errno of each failure, link counts after every step,
 * -EMLINK, -EROFS, and that everything survives unmount + mount with a clean
 * fsck.foliofs at the end.
 */
#include "config.h"

#include <errno.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tests/lib/fsfix.h"
#include "tests/lib/tap.h"

static const unsigned block_sizes[] = {1024, 2048, 4096};

static struct inode *mk(struct inode *dir, const char *name, mode_t mode)
{
	struct inode *inode = NULL;
	int ret = S_ISDIR(mode) ? fs_mkdir(dir, name, mode & 07777, &fsfix_cred, &inode)
				: fs_create(dir, name, mode, 0, &fsfix_cred, &inode);

	if (ret)
		BAIL("creating %s: %d", name, ret);
	return inode;
}

/* The inode number @dir's entry @name names, or 0. */
#define INO(dir, name) fsfix_ino_of(dir, name)

/* ------------------------------------------------------------------ */
/* Lookup and create                                                   */
/* ------------------------------------------------------------------ */

static void test_lookup_create(struct fsfix *t)
{
	struct inode *root = t->root, *f, *g, *d;
	char name[300];
	struct stat st;
	uint32_t rootlinks = fs_inode_nlink(root);

	fsfix_age(root);
	is_int(fs_create(root, "file", S_IFREG | 0666, 0, &fsfix_cred, &f), 0, "create file");
	ok(fsfix_mtime_new(root) && fsfix_ctime_new(root),
	   "create sets the parent's mtime and ctime");
	is_int(fs_inode_nlink(f), 1, "new file nlink 1");
	is_int(fs_inode_mode(f), S_IFREG | 0644, "mode 0666 masked by umask 022");
	fs_inode_stat(f, &st);
	ok(st.st_uid == fsfix_cred.uid && st.st_gid == fsfix_cred.gid,
	   "owner from the credentials");
	is_int(fs_lookup(root, "file", &g), 0, "lookup file");
	ok(g == f, "lookup returns the same in-core inode");
	fsfix_put(g);
	is_int(fs_create(root, "file", S_IFREG | 0644, 0, &fsfix_cred, &g), -EEXIST,
	       "create existing: EEXIST");
	is_int(fs_mkdir(root, "file", 0755, &fsfix_cred, &g), -EEXIST, "mkdir existing: EEXIST");
	is_int(fs_lookup(root, "nothing", &g), -ENOENT, "lookup missing: ENOENT");
	memset(name, 'n', 256);
	name[256] = '\0';
	is_int(fs_lookup(root, name, &g), -ENAMETOOLONG, "lookup 256 bytes: ENAMETOOLONG");
	is_int(fs_create(root, name, S_IFREG | 0644, 0, &fsfix_cred, &g), -ENAMETOOLONG,
	       "create 256 bytes: ENAMETOOLONG");
	name[255] = '\0';
	is_int(fs_create(root, name, S_IFREG | 0644, 0, &fsfix_cred, &g), 0, "create 255 bytes");
	is_int(fs_lookup(root, name, &d), 0, "lookup 255 bytes");
	ok(d == g, "255-byte name names the new file");
	fsfix_put(d);
	fsfix_put(g);
	is_int(fs_unlink(root, name), 0, "unlink 255 bytes");
	is_int(fs_lookup(f, "x", &g), -ENOTDIR, "lookup in a file: ENOTDIR");
	is_int(fs_create(f, "x", S_IFREG | 0644, 0, &fsfix_cred, &g), -ENOTDIR,
	       "create in a file: ENOTDIR");
	is_int(fs_create(root, "dir", S_IFDIR | 0755, 0, &fsfix_cred, &g), -EINVAL,
	       "fs_create of a directory: EINVAL");
	is_int(fs_create(root, "a/b", S_IFREG | 0644, 0, &fsfix_cred, &g), -EINVAL,
	       "name with '/'");
	is_int(fs_lookup(root, ".", &g), 0, "lookup '.'");
	ok(g == root, "'.' is the directory itself");
	fsfix_put(g);
	is_int(fs_lookup(root, "..", &g), 0, "lookup '..' of the root");
	ok(g == root, "the root's '..' is itself");
	fsfix_put(g);

	d = mk(root, "sub", S_IFDIR | 0777);
	is_int(fs_inode_nlink(d), 2, "new directory nlink 2");
	is_int(fs_inode_nlink(root), rootlinks + 1, "parent nlink + 1");
	is_int(fsfix_parent(d), FOLIO_ROOT_INO, "dr_parent of the new directory");
	is_int(fs_inode_mode(d), S_IFDIR | 0755, "directory mode masked by umask");
	is_int(fs_lookup(d, "..", &g), 0, "lookup '..'");
	ok(g == root, "'..' of sub is the root");
	fsfix_put(g);
	fsfix_put(d);
	fsfix_put(f);
}

static void test_special(struct fsfix *t)
{
	struct inode *d = mk(t->root, "dev", S_IFDIR | 0755), *n;
	struct {
		const char *name;
		mode_t mode;
		dev_t rdev;
		uint8_t type;
	} cases[] = {
		{"fifo", S_IFIFO | 0600, 0, FOLIO_FT_FIFO},
		{"sock", S_IFSOCK | 0600, 0, FOLIO_FT_SOCK},
		{"chr", S_IFCHR | 0600, makedev(4, 64), FOLIO_FT_CHR},
		{"blk", S_IFBLK | 0600, makedev(259, 3), FOLIO_FT_BLK},
		{"plain", 0600, 0, FOLIO_FT_REG},
	};
	struct stat st;

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t ino;
		uint8_t type = 0;

		is_int(fs_create(d, cases[i].name, cases[i].mode, cases[i].rdev, &fsfix_cred, &n),
		       0, "create %s", cases[i].name);
		fs_inode_stat(n, &st);
		is_int(st.st_mode & S_IFMT, (cases[i].mode & S_IFMT) ?: S_IFREG, "%s: file type",
		       cases[i].name);
		is_u64(st.st_rdev, cases[i].rdev, "%s: rdev", cases[i].name);
		is_u64(st.st_size, 0, "%s: size 0", cases[i].name);
		pthread_rwlock_rdlock(&d->i_rwsem);
		fs_dir_lookup(d, cases[i].name, strlen(cases[i].name), &ino, &type);
		pthread_rwlock_unlock(&d->i_rwsem);
		is_int(type, cases[i].type, "%s: entry type", cases[i].name);
		fsfix_put(n);
	}
	is_int(fs_create(d, "bad", S_IFLNK | 0777, 0, &fsfix_cred, &n), -EINVAL,
	       "fs_create of a symlink type: EINVAL");
	fsfix_put(d);
}

/* ------------------------------------------------------------------ */
/* Symlinks                                                            */
/* ------------------------------------------------------------------ */

static void target_of(char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('a' + (i * 7) % 26);
	buf[len] = '\0';
	if (len > 10)
		buf[len / 2] = '/';
}

static void check_link(struct inode *dir, const char *name, size_t len, const char *what)
{
	char want[FOLIO_SYMLINK_MAX + 1], got[FOLIO_SYMLINK_MAX + 2];
	struct inode *l;
	bool inl;

	target_of(want, len);
	if (fs_lookup(dir, name, &l)) {
		ok(0, "%s: lookup %s", what, name);
		return;
	}
	memset(got, 0x55, sizeof(got));
	is_int(fs_readlink(l, got, sizeof(got)), len, "%s: readlink %zu bytes", what, len);
	ok(!memcmp(got, want, len) && got[len] == '\0', "%s: target bytes (%zu)", what, len);
	is_u64(fsfix_size(l), len, "%s: i_size %zu", what, len);
	pthread_mutex_lock(&l->i_lock);
	inl = le32_to_cpu(l->di->i_flags) & FOLIO_IFL_INLINE;
	pthread_mutex_unlock(&l->i_lock);
	ok(inl == (len <= FOLIO_INLINE_MAX), "%s: %s", what,
	   len <= FOLIO_INLINE_MAX ? "inline" : "stored as data");
	if (len <= FOLIO_INLINE_MAX)
		is_u64(fsfix_blocks(l), 0, "%s: inline link owns no block", what);
	else
		ok(fsfix_blocks(l) >= 1, "%s: long link owns its data blocks", what);
	memset(got, 0x55, sizeof(got));
	if (len > 5) {
		is_int(fs_readlink(l, got, 5), 5, "%s: readlink into 5 bytes", what);
		ok(!memcmp(got, want, 5) && got[5] == 0x55, "%s: truncated, nothing past", what);
	}
	fsfix_put(l);
}

static const size_t link_lens[] = {1,	 79,   FOLIO_INLINE_MAX, FOLIO_INLINE_MAX + 1,
				   1000, 2049, FOLIO_SYMLINK_MAX};

static void test_symlinks(struct fsfix *t)
{
	struct inode *d = mk(t->root, "links", S_IFDIR | 0755), *l;
	char target[FOLIO_SYMLINK_MAX + 2], name[32];
	struct stat st;

	for (unsigned i = 0; i < sizeof(link_lens) / sizeof(link_lens[0]); i++) {
		target_of(target, link_lens[i]);
		snprintf(name, sizeof(name), "l%zu", link_lens[i]);
		is_int(fs_symlink(d, name, target, &fsfix_cred, &l), 0, "symlink of %zu bytes",
		       link_lens[i]);
		fs_inode_stat(l, &st);
		is_int(st.st_mode, S_IFLNK | 0777, "symlink mode 0777, no umask");
		fsfix_put(l);
		check_link(d, name, link_lens[i], "fresh");
	}
	target_of(target, FOLIO_SYMLINK_MAX + 1);
	is_int(fs_symlink(d, "toolong", target, &fsfix_cred, &l), -ENAMETOOLONG,
	       "4096-byte target: ENAMETOOLONG");
	is_int(fs_symlink(d, "empty", "", &fsfix_cred, &l), -ENOENT, "empty target: ENOENT");
	is_int(fs_symlink(d, "l1", "x", &fsfix_cred, &l), -EEXIST, "symlink over a name: EEXIST");
	is_int(fs_readlink(d, target, sizeof(target)), -EINVAL, "readlink of a directory: EINVAL");
	fsfix_put(d);
}

static void check_symlinks_again(struct fsfix *t)
{
	struct inode *d = fsfix_iget(t, INO(t->root, "links"));
	char name[32];

	for (unsigned i = 0; i < sizeof(link_lens) / sizeof(link_lens[0]); i++) {
		snprintf(name, sizeof(name), "l%zu", link_lens[i]);
		check_link(d, name, link_lens[i], "remounted");
	}
	fs_iput(d);
}

/* ------------------------------------------------------------------ */
/* Link, unlink, rmdir                                                 */
/* ------------------------------------------------------------------ */

static void test_links(struct fsfix *t)
{
	struct inode *d = mk(t->root, "hl", S_IFDIR | 0755), *e = mk(d, "e", S_IFDIR | 0755);
	struct inode *f = mk(d, "f", S_IFREG | 0644), *g;
	struct statvfs s0, s1;

	fsfix_age(f);
	fsfix_age(e);
	is_int(fs_link(f, e, "f2"), 0, "link f into e");
	is_int(fs_inode_nlink(f), 2, "nlink 2 after link");
	ok(fsfix_ctime_new(f), "link sets the inode's ctime");
	ok(fsfix_mtime_new(e) && fsfix_ctime_new(e), "link sets the directory's mtime and ctime");
	is_int(INO(e, "f2"), f->ino, "new name names the inode");
	is_int(fs_link(f, e, "f2"), -EEXIST, "link over a name: EEXIST");
	is_int(fs_link(e, d, "e2"), -EPERM, "link a directory: EPERM");
	is_int(fs_link(f, f, "x"), -ENOTDIR, "link into a file: ENOTDIR");
	is_int(fs_inode_nlink(e), 2, "directory e: nlink 2 (no subdirectories)");
	is_int(fs_inode_nlink(d), 3, "directory d: nlink 3 (one subdirectory)");
	fsfix_age(f);
	fsfix_age(d);
	is_int(fs_unlink(d, "f"), 0, "unlink f");
	is_int(fs_inode_nlink(f), 1, "nlink 1 after unlink");
	ok(fsfix_ctime_new(f), "unlink sets the inode's ctime");
	ok(fsfix_mtime_new(d) && fsfix_ctime_new(d), "unlink sets the directory's mtime and ctime");
	is_int(fs_unlink(d, "f"), -ENOENT, "unlink again: ENOENT");
	is_int(fs_unlink(d, "e"), -EISDIR, "unlink a directory: EISDIR");
	is_int(fs_rmdir(e, "f2"), -ENOTDIR, "rmdir a file: ENOTDIR");
	is_int(fs_rmdir(d, "e"), -ENOTEMPTY, "rmdir non-empty: ENOTEMPTY");
	is_int(fs_rmdir(d, "nothing"), -ENOENT, "rmdir missing: ENOENT");
	is_int(fs_rmdir(d, "."), -EINVAL, "rmdir '.': EINVAL");
	is_int(fs_rmdir(d, ".."), -ENOTEMPTY, "rmdir '..': ENOTEMPTY");

	/* an open (referenced) file loses its last name: orphan until put */
	fs_statfs(t->fs, &s0);
	is_int(fs_unlink(e, "f2"), 0, "unlink the last name");
	is_int(fs_inode_nlink(f), 0, "nlink 0");
	ok(f->on_orphan_list, "on the orphan list while still referenced");
	is_int(fs_link(f, e, "again"), -ENOENT, "link an unlinked inode: ENOENT");
	{
		uint32_t ino = f->ino;

		fsfix_put(f);
		is_int(fs_iget(t->fs, ino, &g), -ENOENT, "freed once the last reference goes");
	}
	fs_statfs(t->fs, &s1);
	is_u64(s1.f_ffree, s0.f_ffree + 1, "its inode is free again");

	fsfix_age(d);
	is_int(fs_rmdir(d, "e"), 0, "rmdir empty e");
	is_int(fs_inode_nlink(e), 0, "removed directory: nlink 0");
	is_int(fs_inode_nlink(d), 2, "parent loses the subdirectory's link");
	ok(fsfix_mtime_new(d) && fsfix_ctime_new(d), "rmdir sets the parent's mtime and ctime");
	is_int(fs_create(e, "late", S_IFREG | 0644, 0, &fsfix_cred, &g), -ENOENT,
	       "create in a removed directory: ENOENT");
	is_int(fs_mkdir(e, "late", 0755, &fsfix_cred, &g), -ENOENT,
	       "mkdir in a removed directory: ENOENT");
	fsfix_put(e);
	fsfix_put(d);
}

static void test_emlink(struct fsfix *t)
{
	struct inode *d = mk(t->root, "many", S_IFDIR | 0755), *f = mk(d, "f", S_IFREG | 0644);
	char name[32];
	unsigned n = 1, bad = 0;
	int ret;

	for (;;) {
		snprintf(name, sizeof(name), "l%u", n);
		ret = fs_link(f, d, name);
		if (ret)
			break;
		n++;
	}
	is_int(ret, -EMLINK, "links until EMLINK");
	is_int(n, 65000, "the limit is 65000 names");
	is_int(fs_inode_nlink(f), 65000, "nlink at the limit");
	is_int(INO(d, name), 0, "the refused name was not added");
	for (unsigned i = 1; i < n; i++) {
		snprintf(name, sizeof(name), "l%u", i);
		bad += fs_unlink(d, name) != 0;
	}
	is_int(bad, 0, "unlinked the extra names");
	is_int(fs_inode_nlink(f), 1, "back to one name");
	fsfix_put(f);
	fsfix_put(d);
}

/* ------------------------------------------------------------------ */
/* Rename                                                              */
/* ------------------------------------------------------------------ */

struct rn {
	struct inode *a, *b; /* two directories under the root */
};

static void rn_setup(struct fsfix *t, struct rn *r, const char *tag)
{
	char n1[32], n2[32];

	snprintf(n1, sizeof(n1), "%s-a", tag);
	snprintf(n2, sizeof(n2), "%s-b", tag);
	r->a = mk(t->root, n1, S_IFDIR | 0755);
	r->b = mk(t->root, n2, S_IFDIR | 0755);
}

static void rn_done(struct rn *r)
{
	fsfix_put(r->a);
	fsfix_put(r->b);
}

static void test_rename_files(struct fsfix *t)
{
	struct rn r;
	struct inode *f, *g, *h;
	uint32_t fi, gi;

	rn_setup(t, &r, "rf");
	f = mk(r.a, "f", S_IFREG | 0644);
	fi = f->ino;
	fsfix_age(f);
	fsfix_age(r.a);
	is_int(fs_rename(r.a, "f", r.a, "g", 0), 0, "same-dir rename");
	ok(INO(r.a, "f") == 0 && INO(r.a, "g") == fi, "old name gone, new name names it");
	is_int(fs_inode_nlink(f), 1, "nlink unchanged");
	ok(fsfix_ctime_new(f), "rename sets the inode's ctime");
	ok(fsfix_mtime_new(r.a) && fsfix_ctime_new(r.a), "rename sets the directory's mtime/ctime");

	fsfix_age(r.a);
	fsfix_age(r.b);
	is_int(fs_rename(r.a, "g", r.b, "f", 0), 0, "cross-dir rename");
	ok(INO(r.a, "g") == 0 && INO(r.b, "f") == fi, "moved to the other directory");
	ok(fsfix_mtime_new(r.a) && fsfix_mtime_new(r.b), "both directories' mtime");
	ok(fsfix_ctime_new(r.a) && fsfix_ctime_new(r.b), "both directories' ctime");
	is_int(fs_inode_nlink(r.a), 2, "file moves leave a's nlink");
	is_int(fs_inode_nlink(r.b), 2, "file moves leave b's nlink");

	/* overwrite a file: the victim loses its only link and is freed */
	g = mk(r.b, "g", S_IFREG | 0644);
	gi = g->ino;
	fsfix_put(g);
	is_int(fs_rename(r.b, "f", r.b, "g", 0), 0, "rename over a file");
	ok(INO(r.b, "f") == 0 && INO(r.b, "g") == fi, "target name now names the source");
	is_int(fs_iget(t->fs, gi, &g), -ENOENT, "overwritten file freed");

	/* overwrite a file that has another name: nlink 2 -> 1 */
	g = mk(r.a, "g", S_IFREG | 0644);
	is_int(fs_link(g, r.a, "g2"), 0, "second name for g");
	is_int(fs_rename(r.b, "g", r.a, "g2", 0), 0, "cross-dir rename over a linked file");
	is_int(fs_inode_nlink(g), 1, "overwritten file keeps one link");
	is_int(INO(r.a, "g2"), fi, "g2 names the source");
	is_int(INO(r.a, "g"), g->ino, "g still names the victim");

	/* two names of one inode: nothing happens */
	is_int(fs_link(f, r.a, "same"), 0, "second name for f");
	is_int(fs_rename(r.a, "g2", r.a, "same", 0), 0, "rename onto another name of itself");
	ok(INO(r.a, "g2") == fi && INO(r.a, "same") == fi, "both names still there");
	is_int(fs_inode_nlink(f), 2, "nlink still 2");
	is_int(fs_rename(r.a, "same", r.a, "same", 0), 0, "rename onto itself");
	is_int(INO(r.a, "same"), fi, "name still there");
	is_int(fs_unlink(r.a, "same"), 0, "drop the second name");

	/* NOREPLACE */
	is_int(fs_rename(r.a, "g2", r.a, "g", RENAME_NOREPLACE), -EEXIST, "NOREPLACE: EEXIST");
	ok(INO(r.a, "g2") == fi && INO(r.a, "g") == g->ino, "NOREPLACE failure changed nothing");
	is_int(fs_rename(r.a, "g2", r.a, "fresh", RENAME_NOREPLACE), 0, "NOREPLACE to a new name");
	is_int(INO(r.a, "fresh"), fi, "moved");

	/* EXCHANGE of two files in different directories */
	h = mk(r.b, "h", S_IFREG | 0644);
	fsfix_age(f);
	fsfix_age(h);
	is_int(fs_rename(r.a, "fresh", r.b, "h", RENAME_EXCHANGE), 0, "EXCHANGE two files");
	ok(INO(r.a, "fresh") == h->ino && INO(r.b, "h") == fi, "names swapped");
	ok(fsfix_ctime_new(f) && fsfix_ctime_new(h), "EXCHANGE sets both inodes' ctime");
	is_int(fs_inode_nlink(f) + fs_inode_nlink(h), 2, "link counts unchanged");
	is_int(fs_rename(r.a, "fresh", r.b, "none", RENAME_EXCHANGE), -ENOENT,
	       "EXCHANGE with a missing target: ENOENT");
	is_int(fs_rename(r.a, "none", r.b, "h", 0), -ENOENT, "missing source: ENOENT");
	is_int(fs_rename(r.a, "fresh", r.b, "h", RENAME_EXCHANGE | RENAME_NOREPLACE), -EINVAL,
	       "EXCHANGE|NOREPLACE: EINVAL");
	is_int(fs_rename(r.a, "fresh", r.b, "h", 0x80), -EINVAL, "unknown flag: EINVAL");
	is_int(fs_rename(r.a, "fresh", r.b, "..", 0), -EINVAL, "rename onto '..': EINVAL");
	fsfix_put(f);
	fsfix_put(g);
	fsfix_put(h);
	rn_done(&r);
}

static void test_rename_dirs(struct fsfix *t)
{
	struct rn r;
	struct inode *x, *y, *z, *sub, *f;

	rn_setup(t, &r, "rd");
	x = mk(r.a, "x", S_IFDIR | 0755);
	sub = mk(x, "sub", S_IFDIR | 0755);
	is_int(fs_inode_nlink(r.a), 3, "a: 2 + x");
	is_int(fs_inode_nlink(x), 3, "x: 2 + sub");

	/* same-dir directory rename */
	is_int(fs_rename(r.a, "x", r.a, "x2", 0), 0, "same-dir directory rename");
	is_int(fsfix_parent(x), r.a->ino, "dr_parent unchanged");
	is_int(fs_inode_nlink(r.a), 3, "a's nlink unchanged");

	/* cross-dir directory move */
	fsfix_age(x);
	is_int(fs_rename(r.a, "x2", r.b, "x", 0), 0, "cross-dir directory move");
	is_int(fsfix_parent(x), r.b->ino, "dr_parent follows");
	is_int(fs_inode_nlink(r.a), 2, "old parent loses a link");
	is_int(fs_inode_nlink(r.b), 3, "new parent gains a link");
	ok(fsfix_ctime_new(x), "moved directory's ctime");
	is_int(fs_lookup(x, "..", &z), 0, "lookup '..' of the moved directory");
	ok(z == r.b, "'..' is the new parent");
	fsfix_put(z);

	/* into its own subtree */
	is_int(fs_rename(r.b, "x", sub, "x", 0), -EINVAL, "into its own subdirectory: EINVAL");
	is_int(fs_rename(r.b, "x", x, "x", 0), -EINVAL, "into itself: EINVAL");
	is_int(fs_rename(t->root, "rd-b", sub, "b", 0), -EINVAL, "an ancestor into a descendant");
	is_int(fsfix_parent(x), r.b->ino, "failed renames left dr_parent");

	/* over an empty directory, across directories */
	y = mk(r.a, "y", S_IFDIR | 0755);
	is_int(fs_inode_nlink(r.a), 3, "a: 2 + y");
	is_int(fs_rename(r.b, "x", r.a, "y", 0), 0, "directory over an empty directory");
	is_int(INO(r.a, "y"), x->ino, "y now names x");
	is_int(fs_inode_nlink(y), 0, "replaced directory: nlink 0");
	is_int(fs_inode_nlink(r.a), 3, "a: one subdirectory replaced by another");
	is_int(fs_inode_nlink(r.b), 2, "b: lost x");
	is_int(fsfix_parent(x), r.a->ino, "dr_parent is a");
	fsfix_put(y);

	/* over a non-empty directory, type mismatches */
	z = mk(r.b, "z", S_IFDIR | 0755);
	f = mk(r.b, "f", S_IFREG | 0644);
	is_int(fs_rename(r.b, "z", r.a, "y", 0), -ENOTEMPTY, "over a non-empty directory");
	is_int(fs_rename(r.b, "z", r.b, "f", 0), -ENOTDIR, "directory over a file: ENOTDIR");
	is_int(fs_rename(r.b, "f", r.b, "z", 0), -EISDIR, "file over a directory: EISDIR");
	is_int(fs_rename(r.a, "y", sub, "..", 0), -EINVAL, "target '..': EINVAL");
	is_int(fs_rename(x, "sub", t->root, "rd-a", 0), -ENOTEMPTY,
	       "over its own (non-empty) ancestor: ENOTEMPTY");
	ok(INO(r.b, "z") == z->ino && INO(r.b, "f") == f->ino, "failures changed nothing");

	/* EXCHANGE a directory with a file across directories */
	is_int(fs_rename(r.a, "y", r.b, "f", RENAME_EXCHANGE), 0, "EXCHANGE directory and file");
	ok(INO(r.a, "y") == f->ino && INO(r.b, "f") == x->ino, "swapped");
	is_int(fsfix_parent(x), r.b->ino, "the directory's '..' follows");
	is_int(fs_inode_nlink(r.a), 2, "a lost the subdirectory");
	is_int(fs_inode_nlink(r.b), 4, "b gained it (z and x)");
	/* EXCHANGE two directories across directories */
	is_int(fs_rename(r.b, "z", r.a, "y", RENAME_EXCHANGE), 0,
	       "EXCHANGE directory and file back");
	is_int(fs_inode_nlink(r.a), 3, "a: z");
	is_int(fs_inode_nlink(r.b), 3, "b: x");
	is_int(fs_rename(r.a, "y", r.b, "f", RENAME_EXCHANGE), 0, "EXCHANGE two directories");
	ok(INO(r.a, "y") == x->ino && INO(r.b, "f") == z->ino, "swapped");
	ok(fsfix_parent(x) == r.a->ino && fsfix_parent(z) == r.b->ino, "both '..' follow");
	is_int(fs_inode_nlink(r.a) + fs_inode_nlink(r.b), 6, "parents' counts unchanged");
	is_int(fs_rename(r.a, "y", x, "sub", RENAME_EXCHANGE), -EINVAL,
	       "EXCHANGE with its own child: EINVAL");
	is_int(fs_rename(x, "sub", r.a, "y", RENAME_EXCHANGE), -EINVAL,
	       "EXCHANGE with its own parent: EINVAL");
	ok(fsfix_parent(sub) == x->ino && fsfix_parent(x) == r.a->ino,
	   "failed EXCHANGE changed nothing");
	is_int(fs_rename(r.a, "y", r.b, "f", RENAME_NOREPLACE), -EEXIST,
	       "directory NOREPLACE: EEXIST");
	fsfix_put(x);
	fsfix_put(z);
	fsfix_put(f);
	fsfix_put(sub);
	rn_done(&r);
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

/* Four directories (D inside A, so renames between them take the ancestor
 * first) and threads doing random name operations among them. Only the
 * errnos POSIX gives for races are allowed; a deadlock trips the alarm;
 * fsck must be clean afterwards. */
struct conc {
	struct inode *dirs[4];
	unsigned seed, ops, unexpected, done;
	int last_bad;
};

static bool conc_ok(int ret)
{
	switch (ret) {
	case 0:
	case -ENOENT:
	case -EEXIST:
	case -ENOTEMPTY:
	case -EISDIR:
	case -ENOTDIR:
	case -EINVAL:
	case -EPERM:
		return true;
	default:
		return false;
	}
}

static int conc_op(struct conc *c, unsigned r)
{
	struct inode *d1 = c->dirs[r % 4], *d2 = c->dirs[(r >> 2) % 4], *n = NULL;
	static const unsigned flags[] = {0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE};
	char a[8], b[8];
	int ret;

	snprintf(a, sizeof(a), "n%u", (r >> 4) % 12);
	snprintf(b, sizeof(b), "n%u", (r >> 8) % 12);
	switch ((r >> 12) % 9) {
	case 0:
		ret = fs_create(d1, a, S_IFREG | 0644, 0, &fsfix_cred, &n);
		break;
	case 1:
		ret = fs_mkdir(d1, a, 0755, &fsfix_cred, &n);
		break;
	case 2:
		ret = fs_unlink(d1, a);
		break;
	case 3:
		ret = fs_rmdir(d1, a);
		break;
	case 4:
	case 5:
		return fs_rename(d1, a, d2, b, flags[(r >> 16) % 4]);
	case 6:
		ret = fs_lookup(d1, a, &n);
		if (!ret && !S_ISDIR(fs_inode_mode(n)))
			ret = fs_link(n, d2, b);
		break;
	case 7:
		ret = fs_lookup(d1, a, &n);
		break;
	default:
		return (int)fsfix_count_entries(d1) < 0 ? -EIO : 0;
	}
	if (n)
		fsfix_put(n);
	return ret;
}

static void *conc_thread(void *arg)
{
	struct conc *c = arg;
	uint64_t rng = 0x2545F4914F6CDD1DULL * (c->seed + 1);

	for (unsigned i = 0; i < c->ops; i++) {
		int ret;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		ret = conc_op(c, (unsigned)(rng >> 20));
		c->done += ret == 0;
		if (!conc_ok(ret)) {
			c->unexpected++;
			c->last_bad = ret;
		}
	}
	return NULL;
}

static void test_threads(struct fsfix *t)
{
	enum { THREADS = 4, OPS = 3000 };
	struct inode *top = mk(t->root, "conc", S_IFDIR | 0755), *dirs[4];
	struct conc c[THREADS];
	pthread_t th[THREADS];
	unsigned unexpected = 0, done = 0;

	dirs[0] = mk(top, "A", S_IFDIR | 0755);
	dirs[1] = mk(top, "B", S_IFDIR | 0755);
	dirs[2] = mk(top, "C", S_IFDIR | 0755);
	dirs[3] = mk(dirs[0], "D", S_IFDIR | 0755);
	alarm(300);
	for (unsigned i = 0; i < THREADS; i++) {
		c[i] = (struct conc){.seed = i, .ops = OPS};
		memcpy(c[i].dirs, dirs, sizeof(dirs));
		pthread_create(&th[i], NULL, conc_thread, &c[i]);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		unexpected += c[i].unexpected;
		done += c[i].done;
		if (c[i].unexpected)
			diag("thread %u: last unexpected error %d", i, c[i].last_bad);
	}
	alarm(0);
	diag("%u of %u operations succeeded", done, THREADS * OPS);
	is_int(unexpected, 0, "%u threads x %u random name operations, no unexpected errno",
	       THREADS, OPS);
	is_int(fsfix_parent(dirs[3]), dirs[0]->ino, "D is still in A");
	for (unsigned i = 0; i < 4; i++)
		fsfix_put(dirs[i]);
	fsfix_put(top);
	is_int(fs_sync(t->fs), 0, "fs_sync after the threads");
	is_int(fsfix_fsck(t), 0, "fsck clean after concurrent operations");
}

/* ------------------------------------------------------------------ */
/* Read-only, persistence                                              */
/* ------------------------------------------------------------------ */

static void test_rdonly(struct fsfix *t)
{
	struct fs_options opts = {.cache_size = 32ULL << 20, .rdonly = true};
	struct inode *n, *d;

	if (fsfix_mount_opts(t, &opts, NULL, 0))
		BAIL("read-only mount failed");
	is_int(fs_create(t->root, "ro", S_IFREG | 0644, 0, &fsfix_cred, &n), -EROFS,
	       "create: EROFS");
	is_int(fs_mkdir(t->root, "ro", 0755, &fsfix_cred, &n), -EROFS, "mkdir: EROFS");
	is_int(fs_symlink(t->root, "ro", "x", &fsfix_cred, &n), -EROFS, "symlink: EROFS");
	is_int(fs_unlink(t->root, "file"), -EROFS, "unlink: EROFS");
	is_int(fs_rmdir(t->root, "sub"), -EROFS, "rmdir: EROFS");
	is_int(fs_rename(t->root, "file", t->root, "f2", 0), -EROFS, "rename: EROFS");
	d = fsfix_iget(t, INO(t->root, "file"));
	is_int(fs_link(d, t->root, "f2"), -EROFS, "link: EROFS");
	is_int(fs_lookup(t->root, "file", &n), 0, "lookup works read-only");
	fsfix_put(n);
	fs_iput(d);
	fsfix_umount_or_bail(t);
}

static void check_after_remount(struct fsfix *t)
{
	struct inode *a = fsfix_iget(t, INO(t->root, "rd-a")),
		     *b = fsfix_iget(t, INO(t->root, "rd-b"));
	struct inode *x;

	ok(INO(t->root, "file") != 0 && INO(t->root, "sub") != 0, "names survive a remount");
	is_int(fs_inode_nlink(a), 3, "rd-a nlink after remount");
	is_int(fs_inode_nlink(b), 3, "rd-b nlink after remount");
	x = fsfix_iget(t, INO(a, "y"));
	is_int(fsfix_parent(x), a->ino, "dr_parent after remount");
	is_int(fs_inode_nlink(x), 3, "moved directory nlink after remount");
	fs_iput(x);
	fs_iput(a);
	fs_iput(b);
	check_symlinks_again(t);
}

int main(void)
{
	fsfix_cache_size = 128ULL << 20; /* a large directory stays cached */
	for (unsigned i = 0; i < sizeof(block_sizes) / sizeof(block_sizes[0]); i++) {
		unsigned bs = block_sizes[i];
		struct fsfix t;

		diag("block size %u", bs);
		fsfix_mkfs(&t, bs, "64M", NULL);
		fsfix_mount(&t);
		test_lookup_create(&t);
		test_special(&t);
		test_symlinks(&t);
		test_links(&t);
		if (bs == 4096)
			test_emlink(&t);
		test_rename_files(&t);
		test_rename_dirs(&t);
		test_threads(&t);
		fsfix_umount_or_bail(&t);
		is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after the name operations", bs);
		test_rdonly(&t);
		fsfix_mount(&t);
		check_after_remount(&t);
		fsfix_umount_or_bail(&t);
		is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean at the end", bs);
		fsfix_cleanup(&t);
	}
	return done_testing();
}
