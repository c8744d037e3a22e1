/*
 * tests/unit/test_fs_xattr.c - extended attributes and POSIX ACLs
 * (fs/xattr.c, and the ACL inheritance of fs/namei.c) on real images mounted
 * with fs_mount (no FUSE), for block sizes 1024, 2048 and 4096.
 *
 * Checks: round trips in the inode and spilling into the xattr block (which
 * area holds what, i_blocks), list bytes, size queries and -ERANGE, create /
 * replace flags, removal and the block being freed, namespaces and bad names,
 * size limits (-E2BIG, -ENOSPC with nothing changed), ctime; access ACLs
 * setting the mode (an equivalent ACL is not stored), ACL validation,
 * default ACLs; setattr (fs/attr.c): the fields it names, ctime, the access
 * ACL following chmod; inheritance on create and mkdir, umask without a default
 * ACL; everything again after unmount + mount; ENOSPC when no block is left
 * for an xattr block; fsck.foliofs clean at the end.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include "tests/lib/fsfix.h"
#include "tests/lib/tap.h"

static const unsigned block_sizes[] = {1024, 2048, 4096};

#define ACL_ACCESS  "system.posix_acl_access"
#define ACL_DEFAULT "system.posix_acl_default"

enum { UOBJ = 1, USER = 2, GOBJ = 4, GROUP = 8, MASK = 0x10, OTHER = 0x20 };

struct acl {
	uint8_t bytes[4 + 8 * 16];
	size_t len;
};

/* Build an ACL blob from (tag, perm, id) triples; id -1 for base entries. */
static struct acl mkacl(unsigned n, const unsigned (*e)[3])
{
	struct acl a;
	le32 v = cpu_to_le32(2);

	memcpy(a.bytes, &v, 4);
	for (unsigned i = 0; i < n; i++) {
		le16 tag = cpu_to_le16((uint16_t)e[i][0]), perm = cpu_to_le16((uint16_t)e[i][1]);
		le32 id = cpu_to_le32(e[i][2]);

		memcpy(a.bytes + 4 + 8 * i, &tag, 2);
		memcpy(a.bytes + 6 + 8 * i, &perm, 2);
		memcpy(a.bytes + 8 + 8 * i, &id, 4);
	}
	a.len = 4 + 8 * n;
	return a;
}

#define ACL(...)                                                                                   \
	({                                                                                         \
		static const unsigned e_[][3] = {__VA_ARGS__};                                     \
		mkacl(sizeof(e_) / sizeof(e_[0]), e_);                                             \
	})
#define NONE 0xFFFFFFFFu

static int xset(struct inode *i, const char *name, const void *v, size_t n, int flags)
{
	int ret;

	pthread_rwlock_wrlock(&i->i_rwsem);
	fs_tx_begin(i->fs);
	ret = __fs_setxattr(i, name, v, n, flags);
	fs_tx_end(i->fs);
	pthread_rwlock_unlock(&i->i_rwsem);
	return ret;
}

static int xget(struct inode *i, const char *name, void *v, size_t n)
{
	int ret;

	pthread_rwlock_rdlock(&i->i_rwsem);
	ret = __fs_getxattr(i, name, v, n);
	pthread_rwlock_unlock(&i->i_rwsem);
	return ret;
}

static int xlist(struct inode *i, char *v, size_t n)
{
	int ret;

	pthread_rwlock_rdlock(&i->i_rwsem);
	ret = __fs_listxattr(i, v, n);
	pthread_rwlock_unlock(&i->i_rwsem);
	return ret;
}

static int xremove(struct inode *i, const char *name)
{
	int ret;

	pthread_rwlock_wrlock(&i->i_rwsem);
	fs_tx_begin(i->fs);
	ret = __fs_removexattr(i, name);
	fs_tx_end(i->fs);
	pthread_rwlock_unlock(&i->i_rwsem);
	return ret;
}

static uint16_t in_inode_len(struct inode *i)
{
	uint16_t n;

	pthread_mutex_lock(&i->i_lock);
	n = le16_to_cpu(i->di->i_xattr_len);
	pthread_mutex_unlock(&i->i_lock);
	return n;
}

static uint64_t xblock(struct inode *i)
{
	uint64_t b;

	pthread_mutex_lock(&i->i_lock);
	b = le64_to_cpu(i->di->i_xattr_block);
	pthread_mutex_unlock(&i->i_lock);
	return b;
}

static void fill(uint8_t *buf, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(seed * 31 + i * 7);
}

/* getxattr returns exactly @n bytes equal to fill(seed). */
static bool xis(struct inode *i, const char *name, size_t n, unsigned seed)
{
	uint8_t want[4096], got[4096];

	fill(want, n, seed);
	memset(got, 0, sizeof(got));
	return xget(i, name, got, sizeof(got)) == (int)n && !memcmp(got, want, n);
}

static struct inode *mk(struct inode *dir, const char *name, mode_t mode,
			const struct fs_cred *cred)
{
	struct inode *n = NULL;
	int ret = S_ISDIR(mode) ? fs_mkdir(dir, name, mode & 07777, cred, &n)
				: fs_create(dir, name, mode, 0, cred, &n);

	if (ret)
		BAIL("create %s: %d", name, ret);
	return n;
}

/* ------------------------------------------------------------------ */
/* Plain attributes                                                    */
/* ------------------------------------------------------------------ */

static void test_roundtrip(struct fsfix *t, struct inode *f)
{
	uint8_t v[4096];
	char list[256];
	uint64_t blocks = fsfix_blocks(f);
	static const char want_list[] = "user.a\0user.b\0user.c";

	fill(v, 40, 1);
	fsfix_age(f);
	is_int(xset(f, "user.a", "1", 1, 0), 0, "set user.a");
	ok(fsfix_ctime_new(f), "setxattr sets ctime");
	ok(!fsfix_mtime_new(f), "setxattr leaves mtime");
	is_int(in_inode_len(f), 8, "user.a in the inode (8 bytes)");
	is_u64(xblock(f), 0, "no xattr block yet");
	is_int(xget(f, "user.a", v, 0), 1, "size query: 1");
	is_int(xget(f, "user.a", v, sizeof(v)), 1, "get user.a");
	ok(v[0] == '1', "user.a value");
	fill(v, 40, 2);
	is_int(xset(f, "user.b", v, 40, 0), 0, "set user.b (40 bytes)");
	is_int(in_inode_len(f), 8 + 48, "user.b in the inode too");
	is_int(xget(f, "user.b", v, 39), -ERANGE, "get into 39 bytes: ERANGE");
	ok(xis(f, "user.b", 40, 2), "user.b round trip");
	fill(v, 16, 3);
	is_int(xset(f, "user.c", v, 16, 0), 0, "set user.c (16 bytes)");
	is_int(in_inode_len(f), 56, "user.c did not fit the inode");
	ok(xblock(f) != 0, "user.c spilled into an xattr block");
	is_u64(fsfix_blocks(f), blocks + 1, "i_blocks counts the xattr block");
	ok(xis(f, "user.c", 16, 3), "user.c round trip");
	is_int(xlist(f, NULL, 0), sizeof(want_list), "list size query");
	is_int(xlist(f, list, 5), -ERANGE, "list into 5 bytes: ERANGE");
	memset(list, 0x7f, sizeof(list));
	is_int(xlist(f, list, sizeof(list)), sizeof(want_list), "list");
	ok(!memcmp(list, want_list, sizeof(want_list)), "list bytes: inode first, then block");

	/* flags */
	is_int(xset(f, "user.a", "2", 1, XATTR_CREATE), -EEXIST, "CREATE existing: EEXIST");
	is_int(xset(f, "user.zz", "2", 1, XATTR_REPLACE), -ENODATA, "REPLACE missing: ENODATA");
	is_int(xget(f, "user.zz", v, sizeof(v)), -ENODATA, "failed REPLACE stored nothing");
	is_int(xget(f, "user.a", v, sizeof(v)), 1, "failed CREATE kept the value");
	ok(v[0] == '1', "value still '1'");
	is_int(xset(f, "user.a", "x", 1, 0x40), -EINVAL, "unknown flag: EINVAL");
	fill(v, 60, 4);
	is_int(xset(f, "user.a", v, 60, XATTR_REPLACE), 0, "REPLACE user.a by 60 bytes");
	ok(xis(f, "user.a", 60, 4), "user.a has the new value");
	is_int(in_inode_len(f), 48, "the bigger user.a moved to the block");
	is_int(xset(f, "user.d", "d", 1, XATTR_CREATE), 0, "CREATE new");
	is_int(in_inode_len(f), 56, "user.d fills the freed room in the inode");

	/* removal */
	fsfix_age(f);
	is_int(xremove(f, "user.c"), 0, "remove user.c");
	ok(fsfix_ctime_new(f), "removexattr sets ctime");
	is_int(xget(f, "user.c", v, sizeof(v)), -ENODATA, "removed: ENODATA");
	is_int(xremove(f, "user.c"), -ENODATA, "remove again: ENODATA");
	ok(xblock(f) != 0, "block kept while user.a is in it");
	is_int(xremove(f, "user.a"), 0, "remove user.a");
	is_u64(xblock(f), 0, "emptied xattr block freed");
	is_u64(fsfix_blocks(f), blocks, "i_blocks back");
	ok(xis(f, "user.b", 40, 2), "user.b untouched");
	is_int(xremove(f, "user.b"), 0, "remove user.b");
	is_int(xremove(f, "user.d"), 0, "remove user.d");
	is_int(in_inode_len(f), 0, "in-inode area empty");
	is_int(xlist(f, list, sizeof(list)), 0, "empty list");
	(void)t;
}

static void test_names_limits(struct fsfix *t, struct inode *f)
{
	uint32_t room = t->bs - FOLIO_BLK_PAYLOAD;
	static uint8_t v[70000];
	char name[300];
	unsigned n = 0;
	int ret;

	is_int(xset(f, "foo.bar", "x", 1, 0), -EOPNOTSUPP, "unknown namespace: EOPNOTSUPP");
	is_int(xget(f, "foo.bar", v, 10), -EOPNOTSUPP, "get unknown namespace: EOPNOTSUPP");
	is_int(xremove(f, "system.other"), -EOPNOTSUPP, "system.other: EOPNOTSUPP");
	is_int(xset(f, "user.", "x", 1, 0), -EINVAL, "empty name after user.: EINVAL");
	snprintf(name, sizeof(name), "user.%0256d", 0);
	is_int(xset(f, name, "x", 1, 0), -ERANGE, "256-byte name: ERANGE");
	is_int(xset(f, "trusted.t", "tt", 2, 0), 0, "trusted. works");
	is_int(xset(f, "security.s", "ss", 2, 0), 0, "security. works");
	is_int(xget(f, "trusted.t", v, 10), 2, "get trusted.t");
	is_int(xget(f, "user.t", v, 10), -ENODATA, "namespaces are distinct");

	/* the largest value: one attribute filling the block */
	fill(v, room - 4 - 1, 9);
	is_int(xset(f, "user.L", v, room - 4, 0), -E2BIG, "value one byte over the block: E2BIG");
	is_int(xset(f, "user.L", v, 65536, 0), -E2BIG, "65536-byte value: E2BIG");
	is_int(xset(f, "user.L", v, room - 4 - 1 - 12, 0), 0,
	       "largest value that fits beside the others");
	ok(xis(f, "user.L", room - 4 - 1 - 12, 9), "largest value round trip");
	is_int(xset(f, "user.M", v, 64, 0), -ENOSPC, "no room left anywhere: ENOSPC");
	is_int(xget(f, "user.M", v, 1), -ENODATA, "nothing stored by the failed set");
	ok(xis(f, "user.L", room - 4 - 1 - 12, 9), "failed set left user.L");
	is_int(xremove(f, "user.L"), 0, "remove user.L");

	/* many small attributes until the room runs out */
	for (;;) {
		snprintf(name, sizeof(name), "user.k%03u", n);
		ret = xset(f, name, v, 20, 0);
		if (ret)
			break;
		n++;
	}
	is_int(ret, -ENOSPC, "small attributes until ENOSPC (%u)", n);
	ok(n >= (room + 64) / 32 - 2, "both places used (%u attributes)", n);
	for (unsigned i = 0, bad = 0;; i++) {
		if (i == n) {
			is_int(bad, 0, "every stored attribute reads back");
			break;
		}
		snprintf(name, sizeof(name), "user.k%03u", i);
		bad += xget(f, name, v, 20) != 20;
	}
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "user.k%03u", i);
		xremove(f, name);
	}
	is_u64(xblock(f), 0, "all removed: block freed");
}

/* ------------------------------------------------------------------ */
/* ACLs                                                                */
/* ------------------------------------------------------------------ */

static void test_acl_set(struct fsfix *t, struct inode *f, struct inode *d, struct inode *l)
{
	struct acl full = ACL({UOBJ, 6, NONE}, {USER, 4, 1234}, {GOBJ, 4, NONE}, {MASK, 6, NONE},
			      {OTHER, 0, NONE});
	struct acl equiv = ACL({UOBJ, 5, NONE}, {GOBJ, 0, NONE}, {OTHER, 4, NONE});
	struct acl bad_order = ACL({UOBJ, 6, NONE}, {GOBJ, 4, NONE}, {USER, 4, 1}, {MASK, 6, NONE},
				   {OTHER, 0, NONE});
	struct acl no_mask =
		ACL({UOBJ, 6, NONE}, {USER, 4, 1234}, {GOBJ, 4, NONE}, {OTHER, 0, NONE});
	struct acl no_other = ACL({UOBJ, 6, NONE}, {GOBJ, 4, NONE});
	struct acl bad_perm = ACL({UOBJ, 8, NONE}, {GOBJ, 4, NONE}, {OTHER, 0, NONE});
	struct acl bad_tag = ACL({UOBJ, 6, NONE}, {0x40, 4, NONE}, {OTHER, 0, NONE});
	struct acl bad_ver = full;
	uint8_t got[512];

	bad_ver.bytes[0] = 1;
	is_int(fs_inode_mode(f) & 07777, 0644, "file starts 0644");
	fsfix_age(f);
	is_int(xset(f, ACL_ACCESS, full.bytes, full.len, 0), 0, "set an access ACL");
	is_int(fs_inode_mode(f) & 07777, 0660, "mode follows: owner rw, mask rw, other none");
	ok(fsfix_ctime_new(f), "ACL change sets ctime");
	is_int(xget(f, ACL_ACCESS, got, sizeof(got)), full.len, "get the access ACL");
	ok(!memcmp(got, full.bytes, full.len), "ACL bytes round trip");
	is_int(xset(f, ACL_ACCESS, equiv.bytes, equiv.len, 0), 0, "set an equivalent ACL");
	is_int(fs_inode_mode(f) & 07777, 0504, "mode from the equivalent ACL");
	is_int(xget(f, ACL_ACCESS, got, sizeof(got)), -ENODATA,
	       "an ACL equal to the mode is not stored (the old one is gone)");
	is_int(xset(f, ACL_ACCESS, full.bytes, full.len, 0), 0, "full ACL again");
	is_int(xremove(f, ACL_ACCESS), 0, "remove the access ACL");
	is_int(fs_inode_mode(f) & 07777, 0660, "removing the ACL leaves the mode");
	is_int(xset(f, ACL_ACCESS, bad_order.bytes, bad_order.len, 0), -EINVAL,
	       "bad order: EINVAL");
	is_int(xset(f, ACL_ACCESS, no_mask.bytes, no_mask.len, 0), -EINVAL,
	       "named entry without mask: EINVAL");
	is_int(xset(f, ACL_ACCESS, no_other.bytes, no_other.len, 0), -EINVAL, "no OTHER: EINVAL");
	is_int(xset(f, ACL_ACCESS, bad_perm.bytes, bad_perm.len, 0), -EINVAL, "perm 8: EINVAL");
	is_int(xset(f, ACL_ACCESS, bad_tag.bytes, bad_tag.len, 0), -EINVAL, "unknown tag: EINVAL");
	is_int(xset(f, ACL_ACCESS, bad_ver.bytes, bad_ver.len, 0), -EINVAL, "version 1: EINVAL");
	is_int(xset(f, ACL_ACCESS, full.bytes, 7, 0), -EINVAL, "truncated blob: EINVAL");
	is_int(fs_inode_mode(f) & 07777, 0660, "rejected ACLs left the mode");
	is_int(xset(f, ACL_DEFAULT, full.bytes, full.len, 0), -EACCES,
	       "default ACL on a file: EACCES");
	is_int(xset(l, ACL_ACCESS, full.bytes, full.len, 0), -EOPNOTSUPP,
	       "ACL on a symlink: EOPNOTSUPP");
	is_int(xset(d, ACL_DEFAULT, full.bytes, full.len, 0), 0, "default ACL on a directory");
	is_int(fs_inode_mode(d) & 07777, 0755, "default ACL leaves the mode");
	is_int(xget(d, ACL_DEFAULT, got, sizeof(got)), full.len, "get the default ACL");
	ok(!memcmp(got, full.bytes, full.len), "default ACL bytes");
	is_int(xremove(d, ACL_DEFAULT), 0, "remove the default ACL");
	(void)t;
}

/* fs_setattr: the fields it names, ctime, and the access ACL after chmod. */
static void test_setattr(struct fsfix *t)
{
	struct inode *g = mk(t->root, "sa", S_IFREG | 0644, &fsfix_cred);
	struct acl full = ACL({UOBJ, 6, NONE}, {USER, 4, 1234}, {GOBJ, 4, NONE}, {MASK, 6, NONE},
			      {OTHER, 0, NONE});
	struct acl after = ACL({UOBJ, 7, NONE}, {USER, 4, 1234}, {GOBJ, 4, NONE}, {MASK, 5, NONE},
			       {OTHER, 1, NONE});
	struct stat a = {.st_mode = S_IFDIR | 0640, .st_uid = 77, .st_gid = 88}, st;
	uint8_t got[512];

	fsfix_age(g);
	is_int(fs_setattr(g, &a, FS_SET_MODE), 0, "setattr: chmod");
	is_int(fs_inode_mode(g), S_IFREG | 0640, "chmod sets the permission bits, not the type");
	ok(fsfix_ctime_new(g) && !fsfix_mtime_new(g), "chmod sets ctime, not mtime");
	is_int(fs_setattr(g, &a, FS_SET_UID | FS_SET_GID), 0, "setattr: chown");
	fs_inode_stat(g, &st);
	ok(st.st_uid == 77 && st.st_gid == 88, "owner and group set");
	a.st_atim = (struct timespec){.tv_sec = 1000, .tv_nsec = 5};
	a.st_mtim = (struct timespec){.tv_sec = 2000, .tv_nsec = 6};
	a.st_ctim = (struct timespec){.tv_sec = 3000, .tv_nsec = 7};
	is_int(fs_setattr(g, &a, FS_SET_ATIME | FS_SET_MTIME | FS_SET_CTIME), 0,
	       "setattr: times given");
	fs_inode_stat(g, &st);
	ok(st.st_atim.tv_sec == 1000 && st.st_atim.tv_nsec == 5 && st.st_mtim.tv_sec == 2000 &&
		   st.st_mtim.tv_nsec == 6 && st.st_ctim.tv_sec == 3000 && st.st_ctim.tv_nsec == 7,
	   "atime, mtime and ctime as given, with nanoseconds");
	is_int(fs_setattr(g, &a, FS_SET_MTIME_NOW), 0, "setattr: mtime now");
	fs_inode_stat(g, &st);
	ok(st.st_atim.tv_sec == 1000 && st.st_mtim.tv_sec > 2000 && st.st_ctim.tv_sec > 3000,
	   "mtime and ctime now, atime left alone");
	is_int(xset(g, ACL_ACCESS, full.bytes, full.len, 0), 0, "an access ACL");
	a.st_mode = 0751;
	is_int(fs_setattr(g, &a, FS_SET_MODE), 0, "chmod with an access ACL");
	is_int(fs_inode_mode(g) & 07777, 0751, "the mode is as given");
	is_int(xget(g, ACL_ACCESS, got, sizeof(got)), after.len, "the ACL is still there");
	ok(!memcmp(got, after.bytes, after.len),
	   "its owner, mask and other entries took the new bits; the named ones did not");
	fsfix_put(g);
	is_int(fs_unlink(t->root, "sa"), 0, "unlink it");
}

static void test_acl_inherit(struct fsfix *t)
{
	struct acl dflt = ACL({UOBJ, 7, NONE}, {USER, 7, 1234}, {GOBJ, 5, NONE}, {MASK, 7, NONE},
			      {OTHER, 5, NONE});
	struct acl want_file = ACL({UOBJ, 6, NONE}, {USER, 7, 1234}, {GOBJ, 5, NONE},
				   {MASK, 6, NONE}, {OTHER, 4, NONE});
	struct acl small = ACL({UOBJ, 7, NONE}, {GOBJ, 0, NONE}, {OTHER, 0, NONE});
	struct fs_cred strict = fsfix_cred;
	struct inode *d, *d2, *f, *sub, *l, *fifo;
	uint8_t got[512];

	strict.umask = 077;
	d = mk(t->root, "acl", S_IFDIR | 0755, &fsfix_cred);
	is_int(xset(d, ACL_DEFAULT, dflt.bytes, dflt.len, 0), 0, "default ACL on acl/");
	f = mk(d, "f", S_IFREG | 0666, &strict);
	is_int(fs_inode_mode(f) & 07777, 0664, "new file: mode from the masked default, no umask");
	is_int(xget(f, ACL_ACCESS, got, sizeof(got)), want_file.len, "new file has an access ACL");
	ok(!memcmp(got, want_file.bytes, want_file.len), "its bytes: the default masked by 0666");
	is_int(xget(f, ACL_DEFAULT, got, sizeof(got)), -ENODATA, "files get no default ACL");
	sub = mk(d, "sub", S_IFDIR | 0777, &strict);
	is_int(fs_inode_mode(sub) & 07777, 0775, "new directory: mode from the default ACL");
	is_int(xget(sub, ACL_DEFAULT, got, sizeof(got)), dflt.len,
	       "directory inherits the default");
	ok(!memcmp(got, dflt.bytes, dflt.len), "same default ACL bytes");
	is_int(xget(sub, ACL_ACCESS, got, sizeof(got)), dflt.len, "and an access ACL");
	ok(!memcmp(got, dflt.bytes, dflt.len), "equal to the default (0777 masks nothing)");
	is_int(fs_symlink(d, "l", "target", &strict, &l), 0, "symlink under a default ACL");
	is_int(fs_inode_mode(l), S_IFLNK | 0777, "symlink mode 0777");
	is_int(in_inode_len(l), 0, "symlink has no ACL");
	is_int(fs_create(d, "fifo", S_IFIFO | 0640, 0, &strict, &fifo), 0, "fifo under it");
	is_int(fs_inode_mode(fifo) & 07777, 0640, "fifo mode masked by the default ACL");
	ok(xget(fifo, ACL_ACCESS, got, sizeof(got)) > 0, "fifo has an access ACL");

	d2 = mk(t->root, "acl2", S_IFDIR | 0755, &fsfix_cred);
	is_int(xset(d2, ACL_DEFAULT, small.bytes, small.len, 0), 0, "equivalent default ACL");
	fsfix_put(f);
	f = mk(d2, "f", S_IFREG | 0666, &fsfix_cred);
	is_int(fs_inode_mode(f) & 07777, 0600, "mode masked by the 3-entry default, not the umask");
	is_int(xget(f, ACL_ACCESS, got, sizeof(got)), -ENODATA,
	       "an inherited ACL equal to the mode is not stored");
	fsfix_put(f);
	f = mk(t->root, "plain", S_IFREG | 0666, &strict);
	is_int(fs_inode_mode(f) & 07777, 0600, "without a default ACL the umask applies");
	fsfix_put(f);
	fsfix_put(d);
	fsfix_put(d2);
	fsfix_put(sub);
	fsfix_put(l);
	fsfix_put(fifo);
}

static void check_persist(struct fsfix *t)
{
	struct acl dflt = ACL({UOBJ, 7, NONE}, {USER, 7, 1234}, {GOBJ, 5, NONE}, {MASK, 7, NONE},
			      {OTHER, 5, NONE});
	struct inode *d = fsfix_iget(t, fsfix_ino_of(t->root, "acl"));
	struct inode *p = fsfix_iget(t, fsfix_ino_of(t->root, "keep"));
	uint8_t got[512];

	is_int(xget(d, ACL_DEFAULT, got, sizeof(got)), dflt.len, "default ACL after remount");
	ok(!memcmp(got, dflt.bytes, dflt.len), "its bytes after remount");
	ok(xis(p, "user.small", 10, 5), "in-inode attribute after remount");
	ok(xis(p, "user.big", 200, 6), "block attribute after remount");
	ok(xblock(p) != 0 && in_inode_len(p) == 20, "placement kept");
	fs_iput(d);
	fs_iput(p);
}

static void make_keep(struct fsfix *t)
{
	struct inode *p = mk(t->root, "keep", S_IFREG | 0644, &fsfix_cred);
	uint8_t v[256];

	fill(v, 10, 5);
	is_int(xset(p, "user.small", v, 10, 0), 0, "keep: small attribute");
	fill(v, 200, 6);
	is_int(xset(p, "user.big", v, 200, 0), 0, "keep: big attribute");
	fsfix_put(p);
}

/* Unlinking a file frees its xattr block. */
static void test_free_on_unlink(struct fsfix *t)
{
	struct statvfs s0, s1;
	struct inode *f;
	uint8_t v[300];

	fs_statfs(t->fs, &s0);
	f = mk(t->root, "gone", S_IFREG | 0644, &fsfix_cred);
	fill(v, 300, 7);
	is_int(xset(f, "user.big", v, 300, 0), 0, "attribute in a block");
	is_int(fs_unlink(t->root, "gone"), 0, "unlink it");
	fsfix_put(f);
	fs_statfs(t->fs, &s1);
	is_u64(s1.f_bfree, s0.f_bfree, "its xattr block was freed with it");
	is_u64(s1.f_ffree, s0.f_ffree, "and its inode");
}

/* No block left for an xattr block: ENOSPC and nothing changed. */
static void test_enospc(unsigned bs)
{
	struct fsfix t;
	struct inode *f;
	uint8_t v[600];
	char name[32];
	unsigned n = 0;
	int ret;

	fsfix_mkfs(&t, bs, "2M", "-N 2048");
	fsfix_mount(&t);
	fill(v, sizeof(v), 8);
	for (;;) {
		snprintf(name, sizeof(name), "x%u", n);
		ret = fs_create(t.root, name, S_IFREG | 0644, 0, &fsfix_cred, &f);
		if (ret)
			break;
		ret = xset(f, "user.v", v, sizeof(v), 0);
		if (ret) {
			is_int(in_inode_len(f), 0, "bs %u: failed set left the inode area", bs);
			is_u64(xblock(f), 0, "bs %u: no xattr block", bs);
			is_u64(fsfix_blocks(f), 0, "bs %u: i_blocks 0", bs);
			fsfix_put(f);
			break;
		}
		fsfix_put(f);
		n++;
	}
	is_int(ret, -ENOSPC, "bs %u: xattr blocks until ENOSPC (%u files)", bs, n);
	fsfix_umount_or_bail(&t);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after xattr ENOSPC", bs);
	fsfix_cleanup(&t);
}

int main(void)
{
	fsfix_cache_size = 128ULL << 20; /* a large directory stays cached */
	for (unsigned i = 0; i < sizeof(block_sizes) / sizeof(block_sizes[0]); i++) {
		unsigned bs = block_sizes[i];
		struct inode *f, *d, *l;
		struct fsfix t;

		diag("block size %u", bs);
		fsfix_mkfs(&t, bs, "64M", NULL);
		fsfix_mount(&t);
		f = mk(t.root, "f", S_IFREG | 0644, &fsfix_cred);
		d = mk(t.root, "d", S_IFDIR | 0755, &fsfix_cred);
		if (fs_symlink(t.root, "l", "target", &fsfix_cred, &l))
			BAIL("symlink");
		test_roundtrip(&t, f);
		test_names_limits(&t, f);
		test_acl_set(&t, f, d, l);
		test_setattr(&t);
		test_acl_inherit(&t);
		make_keep(&t);
		test_free_on_unlink(&t);
		fsfix_put(f);
		fsfix_put(d);
		fsfix_put(l);
		fsfix_umount_or_bail(&t);
		is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean", bs);
		fsfix_mount(&t);
		check_persist(&t);
		fsfix_umount_or_bail(&t);
		is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after remount", bs);
		fsfix_cleanup(&t);
		test_enospc(bs);
	}
	return done_testing();
}
