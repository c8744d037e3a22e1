/*
 * tests/unit/test_fs_priv.c - the rules fs/ decides by the thread's caller
 * (fs/cred.c), without FUSE:
 *  - privilege bits: a write, truncate and fallocate by a caller without
 *    FS_CAP_FSETID clear S_ISUID and S_ISGID-with-group-execute and keep
 *    S_ISGID without it; the filesystem itself (no caller set) and a caller
 *    with the capability keep them; chown clears them for everyone, S_ISGID
 *    without group execute only for a caller outside the file's group
 *    (supplementary groups counted, FS_CAP_FSETID exempt); directories keep
 *    them; the modes are on the image after a remount;
 *  - the root reserve: a caller without FS_CAP_RESOURCE fills an image made
 *    with mkfs -m 10 to -ENOSPC leaving exactly the reserve free, also from
 *    four threads at once; a caller with it then writes into the reserve.
 * fsck clean after each. Block size 4 KiB.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "tests/lib/fsfix.h"
#include "tests/lib/tap.h"

static const struct fs_cred user = {.uid = 1000, .gid = 1000, .umask = 022};
static const struct fs_cred root = {.uid = 0, .gid = 0, .umask = 022, .caps = FS_CAP_ALL};

static mode_t mode_of(struct inode *inode)
{
	return fs_inode_mode(inode) & 07777;
}

/* Give @inode owner 1000:@gid, then mode @mode (a chown clears the bits),
 * as the filesystem itself. */
static void set_owner_mode(struct inode *inode, mode_t mode, gid_t gid)
{
	struct stat st = {.st_mode = mode, .st_uid = 1000, .st_gid = gid};

	fs_set_cred(NULL);
	if (fs_setattr(inode, &st, FS_SET_UID | FS_SET_GID) || fs_setattr(inode, &st, FS_SET_MODE))
		BAIL("setattr %u", inode->ino);
}

/* A file @name owned by 1000:@gid with mode @mode. */
static struct inode *make(struct fsfix *t, const char *name, mode_t mode, gid_t gid)
{
	struct inode *inode = fsfix_create(t, name);

	set_owner_mode(inode, mode, gid);
	return inode;
}

static void write_as(const struct fs_cred *cred, struct inode *inode)
{
	struct fs_file *f = fsfix_open(inode, O_RDWR);

	fs_set_cred(cred);
	if (fs_write(f, "data", 4, 0) != 4)
		BAIL("write");
	fs_set_cred(NULL);
	fs_release(f);
}

static void chown_as(const struct fs_cred *cred, struct inode *inode, gid_t gid)
{
	struct stat st = {.st_gid = gid};

	fs_set_cred(cred);
	if (fs_setattr(inode, &st, FS_SET_GID))
		BAIL("chgrp");
	fs_set_cred(NULL);
}

static void test_write_truncate(struct fsfix *t)
{
	struct fs_cred fsetid = user;
	struct inode *a = make(t, "w", 06755, 1000), *b = make(t, "r", 06755, 1000);
	struct inode *c = make(t, "t", 06755, 1000), *d = make(t, "fa", 06755, 1000);
	struct inode *e = make(t, "sg", 02745, 1000), *f = make(t, "k", 06755, 1000);

	fsetid.caps = FS_CAP_FSETID;
	write_as(&user, a);
	is_int(mode_of(a), 0755, "a user's write clears S_ISUID and S_ISGID");
	write_as(&root, b);
	is_int(mode_of(b), 06755, "root's write keeps them");
	write_as(&fsetid, f);
	is_int(mode_of(f), 06755, "a user with FS_CAP_FSETID keeps them");
	fs_set_cred(&user);
	is_int(fs_setsize(c, 1), 0, "a user's truncate");
	is_int(fs_fallocate(d, 0, 0, 8192), 0, "a user's fallocate");
	fs_set_cred(NULL);
	is_int(mode_of(c), 0755, "truncate clears them");
	is_int(mode_of(d), 0755, "fallocate clears them");
	write_as(&user, e);
	is_int(mode_of(e), 02745, "S_ISGID without group execute stays on a write");
	write_as(NULL, make(t, "fs", 06755, 1000));
	fsfix_put(a);
	fsfix_put(b);
	fsfix_put(c);
	fsfix_put(d);
	fsfix_put(e);
	fsfix_put(f);
	a = fsfix_lookup(t, "fs");
	is_int(mode_of(a), 06755, "the filesystem itself (no caller) keeps them");
	fsfix_put(a);
}

static void test_chown(struct fsfix *t)
{
	static const gid_t groups[] = {7, 500};
	struct fs_cred member = user;
	struct inode *a = make(t, "c1", 06755, 1000), *b = make(t, "c2", 02745, 500);
	struct inode *c = make(t, "c3", 02745, 500), *d = make(t, "c4", 02745, 500);
	struct inode *e = make(t, "c5", 02755, 500), *dir;
	struct stat st = {.st_uid = 1000};

	member.groups = groups;
	member.ngroups = 2;
	fs_set_cred(&root);
	is_int(fs_setattr(a, &st, FS_SET_UID), 0, "root chowns a 06755 file");
	fs_set_cred(NULL);
	is_int(mode_of(a), 0755, "chown by root clears both bits");
	chown_as(&user, b, 1000);
	is_int(mode_of(b), 0745, "a chgrp by a caller outside the group clears S_ISGID");
	chown_as(&member, c, 1000);
	is_int(mode_of(c), 02745, "by a member through a supplementary group keeps it");
	chown_as(&root, d, 1000);
	is_int(mode_of(d), 02745, "by root (FS_CAP_FSETID) keeps it");
	chown_as(&member, e, 1000);
	is_int(mode_of(e), 0755, "with group execute it goes for a member too");
	fs_set_cred(NULL);
	if (fs_mkdir(t->root, "sgd", 0755, &fsfix_cred, &dir))
		BAIL("mkdir");
	set_owner_mode(dir, 02755, 500);
	chown_as(&user, dir, 7);
	is_int(mode_of(dir), 02755, "a directory keeps S_ISGID across a chgrp");
	fsfix_put(a);
	fsfix_put(b);
	fsfix_put(c);
	fsfix_put(d);
	fsfix_put(e);
	fsfix_put(dir);
}

static void test_bits(void)
{
	static const struct {
		const char *name;
		mode_t mode;
	} want[] = {{"w", 0755},   {"r", 06755},  {"t", 0755},	 {"fa", 0755}, {"sg", 02745},
		    {"k", 06755},  {"fs", 06755}, {"c1", 0755},	 {"c2", 0745}, {"c3", 02745},
		    {"c4", 02745}, {"c5", 0755},  {"sgd", 02755}};
	struct fsfix t;

	fsfix_mkfs(&t, 4096, "8M", NULL);
	fsfix_mount(&t);
	test_write_truncate(&t);
	test_chown(&t);
	is_int(fsfix_umount(&t), 0, "unmount");
	is_int(fsfix_fsck(&t), 0, "fsck clean");
	fsfix_mount(&t);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct inode *inode = fsfix_lookup(&t, want[i].name);

		is_int(mode_of(inode), want[i].mode, "after a remount: %s is %04o", want[i].name,
		       (unsigned)want[i].mode);
		fsfix_put(inode);
	}
	fsfix_umount(&t);
	fsfix_cleanup(&t);
}

/* ---- the root reserve ---- */

struct filler {
	struct fs_file *f;
	ssize_t last;
};

static void *fill_as_user(void *arg)
{
	struct filler *x = arg;
	char buf[16384];
	uint64_t off = 0;

	memset(buf, 'u', sizeof(buf));
	fs_set_cred(&user);
	while ((x->last = fs_write(x->f, buf, sizeof(buf), off)) > 0)
		off += (uint64_t)x->last;
	return NULL;
}

static void test_reserve(unsigned nthreads)
{
	struct filler x[4];
	pthread_t th[4];
	struct inode *in[4], *r;
	struct statvfs st;
	uint64_t resv;
	struct fsfix t;
	char name[16];

	fsfix_mkfs(&t, 4096, "8M", "-m 10");
	fsfix_mount(&t);
	fs_statfs(t.fs, &st);
	resv = st.f_bfree - st.f_bavail;
	is_u64(resv, st.f_blocks / 10, "%u writer(s): statfs: the reserve is 10%% of the blocks",
	       nthreads);
	for (unsigned i = 0; i < nthreads; i++) {
		snprintf(name, sizeof(name), "u%u", i);
		in[i] = fsfix_create(&t, name);
		x[i].f = fsfix_open(in[i], O_RDWR);
		pthread_create(&th[i], NULL, fill_as_user, &x[i]);
	}
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		is_int((int)x[i].last, -ENOSPC, "%u writer(s): writer %u ends with -ENOSPC",
		       nthreads, i);
	}
	fs_statfs(t.fs, &st);
	is_u64(st.f_bavail, 0, "%u writer(s): f_bavail 0", nthreads);
	ok(st.f_bfree >= resv && st.f_bfree <= resv + 4 * nthreads,
	   "%u writer(s): the users left the reserve free (%llu free, reserve %llu)", nthreads,
	   (unsigned long long)st.f_bfree, (unsigned long long)resv);
	r = fsfix_create(&t, "root");
	{
		struct fs_file *f = fsfix_open(r, O_RDWR);
		char buf[65536];

		memset(buf, 'r', sizeof(buf));
		fs_set_cred(&root);
		is_int((int)fs_write(f, buf, sizeof(buf), 0), (int)sizeof(buf),
		       "%u writer(s): root writes 64 KiB into the reserve", nthreads);
		fs_set_cred(NULL);
		fs_release(f);
	}
	for (unsigned i = 0; i < nthreads; i++) {
		fs_release(x[i].f);
		fsfix_put(in[i]);
	}
	fsfix_put(r);
	is_int(fsfix_umount(&t), 0, "%u writer(s): unmount", nthreads);
	is_int(fsfix_fsck(&t), 0, "%u writer(s): fsck clean", nthreads);
	fsfix_cleanup(&t);
}

int main(void)
{
	test_bits();
	test_reserve(1);
	test_reserve(4);
	done_testing();
}
