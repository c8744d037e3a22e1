/*
 * tests/unit/test_fs_dir.c - the directory B+tree (fs/dir.c) on real images
 * made by mkfs.foliofs, mounted with fs_mount (no FUSE), for block sizes
 * 1024, 2048 and 4096. Every scenario ends with fs_unmount and a clean
 * fsck.foliofs; deep trees are also checked by fsck while mounted (after
 * fs_sync).
 *
 * Scenarios: an empty directory; a tree grown to depth >= 2 with long names
 * (hard links of one file), every name looked up, shrunk back to nothing;
 * 100,000 files created, looked up, half unlinked, the rest counted by
 * readdir (wall times printed as diagnostics, never checked); readdir cookies
 * stable while entries come and go and across a remount; two names with the
 * same hash (a hash seed solved for them) sharing a key base with collision
 * indexes 0 and 1; ENOSPC in the middle of a split leaving the tree intact.
 *
 * FS_DIR_BIG (environment) overrides the 100,000 of the big scenario.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "tests/lib/clock.h"
#include "tests/lib/fsfix.h"
#include "tests/lib/tap.h"

static const unsigned block_sizes[] = {1024, 2048, 4096};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* A 255-byte name (or shorter) numbered @i. */
static void long_name(char *buf, unsigned i, size_t len)
{
	int n = snprintf(buf, len + 1, "n%06u-", i);

	memset(buf + n, 'a' + i % 26, len - (size_t)n);
	buf[len] = '\0';
}

static int link_name(struct inode *file, struct inode *dir, const char *name)
{
	return fs_link(file, dir, name);
}

static uint16_t dir_depth(struct inode *dir)
{
	uint16_t d;

	pthread_mutex_lock(&dir->i_lock);
	d = le16_to_cpu(dir->di->i_dir.dr_depth);
	pthread_mutex_unlock(&dir->i_lock);
	return d;
}

static uint64_t dir_root(struct inode *dir)
{
	uint64_t r;

	pthread_mutex_lock(&dir->i_lock);
	r = le64_to_cpu(dir->di->i_dir.dr_root);
	pthread_mutex_unlock(&dir->i_lock);
	return r;
}

/* Directory size rules: i_size = nodes * B, i_blocks = nodes (no xattrs). */
static void check_dir_size(struct fsfix *t, struct inode *dir, const char *what)
{
	uint64_t size = fsfix_size(dir), blocks = fsfix_blocks(dir);

	ok(size == blocks * t->bs && (size == 0) == (dir_root(dir) == 0),
	   "%s: i_size %llu = %llu nodes * %u", what, (unsigned long long)size,
	   (unsigned long long)blocks, t->bs);
}

struct keyscan {
	uint64_t n, last, bad;
	uint64_t *keys; /* optional: next_cookie - 1 of each record */
	uint64_t stop;	/* stop after this many (0: never) */
	uint64_t next;	/* next_cookie of the last record seen */
};

static int keyscan_fn(void *ctx, const char *name, size_t len, uint32_t ino, uint8_t type,
		      uint64_t next)
{
	struct keyscan *k = ctx;

	if (next - 1 <= k->last || next - 1 < FOLIO_DIR_KEY_MIN || len == 0)
		k->bad++;
	k->last = next - 1;
	if (k->keys)
		k->keys[k->n] = next - 1;
	k->n++;
	k->next = next;
	return k->stop && k->n >= k->stop;
}

static int scan(struct inode *dir, uint64_t cookie, struct keyscan *k)
{
	int ret;

	pthread_rwlock_rdlock(&dir->i_rwsem);
	ret = fs_dir_iterate(dir, cookie, keyscan_fn, k);
	pthread_rwlock_unlock(&dir->i_rwsem);
	return ret;
}

/* fsck while mounted: everything written by fs_sync, image not clean. */
static void fsck_mounted(struct fsfix *t, const char *what)
{
	is_int(fs_sync(t->fs), 0, "%s: fs_sync", what);
	is_int(fsfix_fsck(t), 0, "%s: fsck clean while mounted", what);
}

/* ------------------------------------------------------------------ */
/* Empty directories and the tree growing and shrinking                */
/* ------------------------------------------------------------------ */

static void test_empty(struct fsfix *t)
{
	struct inode *d;
	uint32_t ino;
	struct keyscan k = {0};
	char big[300];

	is_int(fs_mkdir(t->root, "empty", 0755, &fsfix_cred, &d), 0, "mkdir empty");
	ok(fs_dir_empty(d), "new directory is empty");
	is_u64(fsfix_size(d), 0, "empty directory: size 0");
	is_u64(fsfix_blocks(d), 0, "empty directory: no blocks");
	is_u64(dir_root(d), 0, "empty directory: no root node");
	is_int(scan(d, 0, &k), 0, "iterate empty");
	is_u64(k.n, 0, "iterate empty: no records");
	pthread_rwlock_wrlock(&d->i_rwsem);
	is_int(fs_dir_lookup(d, "x", 1, &ino, NULL), -ENOENT, "lookup in empty: ENOENT");
	is_int(fs_dir_remove(d, "x", 1, NULL), -ENOENT, "remove from empty: ENOENT");
	is_int(fs_dir_replace(d, "x", 1, 8, FOLIO_FT_DIR), -ENOENT, "replace in empty: ENOENT");
	memset(big, 'b', sizeof(big));
	is_int(fs_dir_lookup(d, big, 256, &ino, NULL), -ENAMETOOLONG, "256-byte name");
	is_int(fs_dir_add(d, big, 256, 8, FOLIO_FT_DIR), -ENAMETOOLONG, "add 256-byte name");
	is_int(fs_dir_add(d, "a/b", 3, 8, FOLIO_FT_DIR), -EINVAL, "add name with '/'");
	is_int(fs_dir_add(d, "..", 2, 8, FOLIO_FT_DIR), -EINVAL, "add '..'");
	is_int(fs_dir_add(d, "", 0, 8, FOLIO_FT_DIR), -EINVAL, "add empty name");
	pthread_rwlock_unlock(&d->i_rwsem);
	is_u64(fsfix_parent(d), FOLIO_ROOT_INO, "dr_parent is the root");
	fsfix_put(d);
}

/* Grow a tree of @n long names (links to @file) to depth >= 2. */
static void grow(struct fsfix *t, struct inode *dir, struct inode *file, unsigned n)
{
	char name[FOLIO_NAME_MAX + 1];
	unsigned fails = 0;

	for (unsigned i = 0; i < n; i++) {
		long_name(name, i, FOLIO_NAME_MAX - i % 64);
		fails += link_name(file, dir, name) != 0;
	}
	is_int(fails, 0, "%u links with long names", n);
}

static void lookup_all(struct inode *dir, unsigned n, const bool *gone, uint32_t want,
		       const char *what)
{
	char name[FOLIO_NAME_MAX + 1];
	unsigned bad = 0;
	uint8_t type;
	uint32_t ino;

	pthread_rwlock_rdlock(&dir->i_rwsem);
	for (unsigned i = 0; i < n; i++) {
		int ret;

		long_name(name, i, FOLIO_NAME_MAX - i % 64);
		ret = fs_dir_lookup(dir, name, strlen(name), &ino, &type);
		if (gone && gone[i])
			bad += ret != -ENOENT;
		else
			bad += ret != 0 || ino != want || type != FOLIO_FT_REG;
	}
	pthread_rwlock_unlock(&dir->i_rwsem);
	is_int(bad, 0, "%s: every name found (or gone) as expected", what);
}

static void test_grow_shrink(struct fsfix *t)
{
	unsigned n = t->bs == 4096 ? 6000 : 3000;
	struct inode *dir, *file;
	bool *gone = calloc(n, 1);
	char name[FOLIO_NAME_MAX + 1];
	struct keyscan k = {0};
	unsigned removed = 0, bad = 0;

	is_int(fs_mkdir(t->root, "tree", 0755, &fsfix_cred, &dir), 0, "mkdir tree");
	is_int(fs_create(dir, "file", S_IFREG | 0644, 0, &fsfix_cred, &file), 0, "create file");
	grow(t, dir, file, n);
	ok(dir_depth(dir) >= 2, "tree depth %u >= 2 after %u long names", dir_depth(dir), n);
	is_u64(fsfix_entries(dir), n + 1, "dr_entries counts every record");
	is_u64(fs_inode_nlink(file), n + 1, "file nlink = names");
	check_dir_size(t, dir, "grown");
	is_int(scan(dir, 0, &k), 0, "iterate grown tree");
	is_u64(k.n, n + 1, "iterate returns every record");
	is_u64(k.bad, 0, "keys strictly increasing");
	lookup_all(dir, n, NULL, file->ino, "grown");
	fsck_mounted(t, "grown tree");

	/* remove in a scattered order until a handful remain */
	for (unsigned s = 0; s < 7; s++)
		for (unsigned i = s; i < n; i += 7) {
			if (removed + 5 >= n)
				break;
			long_name(name, i, FOLIO_NAME_MAX - i % 64);
			pthread_rwlock_wrlock(&dir->i_rwsem);
			fs_tx_begin(dir->fs);
			bad += fs_dir_remove(dir, name, strlen(name), NULL) != 0;
			fs_tx_end(dir->fs);
			pthread_rwlock_unlock(&dir->i_rwsem);
			gone[i] = true;
			removed++;
		}
	is_int(bad, 0, "removed %u names", removed);
	lookup_all(dir, n, gone, file->ino, "shrunk");
	ok(dir_depth(dir) <= 1, "tree collapsed to depth %u", dir_depth(dir));
	check_dir_size(t, dir, "shrunk");
	is_u64(fsfix_entries(dir), n - removed + 1, "dr_entries after removals");
	/* the removals went around fs_unlink: put the link count right */
	for (unsigned i = 0; i < removed; i++)
		fs_inode_dec_link(file);
	fsck_mounted(t, "shrunk tree");

	for (unsigned i = 0; i < n; i++) {
		if (gone[i])
			continue;
		long_name(name, i, FOLIO_NAME_MAX - i % 64);
		bad += fs_unlink(dir, name) != 0;
	}
	is_int(bad, 0, "unlinked the rest");
	is_int(fs_unlink(dir, "file"), 0, "unlink file");
	ok(fs_dir_empty(dir), "empty again");
	is_u64(dir_root(dir), 0, "emptied directory freed its root");
	is_u64(fsfix_size(dir), 0, "emptied directory: size 0");
	is_u64(fsfix_blocks(dir), 0, "emptied directory: no blocks");
	is_int(fs_rmdir(t->root, "tree"), 0, "rmdir tree");
	fsfix_put(file);
	fsfix_put(dir);
	free(gone);
}

/* Empty the lowest leaves (the first index entries go, so the new first
 * child's key is above its range's start), then add names that land below
 * it until that child splits: separators must stay increasing. */
struct firstnames {
	unsigned n, want;
	char (*names)[16];
};

static int first_fn(void *ctx, const char *name, size_t len, uint32_t ino, uint8_t type,
		    uint64_t next)
{
	struct firstnames *f = ctx;

	memcpy(f->names[f->n], name, len);
	f->names[f->n][len] = '\0';
	return ++f->n >= f->want;
}

static void test_low_keys(struct fsfix *t)
{
	enum { N = 4000, LOW = 600, MORE = 6000 };
	struct firstnames low = {.want = LOW, .names = malloc(LOW * 16)};
	struct inode *dir, *file;
	unsigned bad = 0;
	char name[16];

	is_int(fs_mkdir(t->root, "low", 0755, &fsfix_cred, &dir), 0, "mkdir low");
	is_int(fs_create(dir, "f", S_IFREG | 0644, 0, &fsfix_cred, &file), 0, "create f");
	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "k%05u", i);
		bad += fs_link(file, dir, name) != 0;
	}
	pthread_rwlock_rdlock(&dir->i_rwsem);
	fs_dir_iterate(dir, 0, first_fn, &low);
	pthread_rwlock_unlock(&dir->i_rwsem);
	for (unsigned i = 0; i < low.n; i++)
		bad += fs_unlink(dir, low.names[i]) != 0;
	is_int(bad, 0, "%u names, the %u lowest keys removed", N, LOW);
	for (unsigned i = 0; i < MORE; i++) {
		snprintf(name, sizeof(name), "m%05u", i);
		bad += fs_link(file, dir, name) != 0;
	}
	is_int(bad, 0, "%u more names", MORE);
	for (unsigned i = 0; i < MORE; i++) {
		snprintf(name, sizeof(name), "m%05u", i);
		bad += fsfix_ino_of(dir, name) != file->ino;
	}
	is_int(bad, 0, "every new name found");
	is_u64(fsfix_count_entries(dir), N + MORE + 1 - low.n, "readdir counts them all");
	fsck_mounted(t, "low keys");
	free(low.names);
	fsfix_put(file);
	fsfix_put(dir);
}

/* Random adds and removes in phases that grow the tree deep and shrink it
 * back, checked against a model after every phase: every present name
 * found, every absent one not, readdir counting exactly the present ones,
 * and fsck clean (splits, merges at every level, root collapses). */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_random(struct fsfix *t)
{
	const unsigned U = t->bs == 4096 ? 8000 : 3000;
	const unsigned target[] = {U * 5 / 6, U / 20, U * 14 / 15, 40, U / 2, 0};
	bool *in = calloc(U, 1);
	struct inode *dir, *file;
	char name[FOLIO_NAME_MAX + 1];
	unsigned present = 0, bad = 0, maxdepth = 0;
	uint64_t rng = 0x9e3779b97f4a7c15ULL ^ t->bs;

	is_int(fs_mkdir(t->root, "rand", 0755, &fsfix_cred, &dir), 0, "mkdir rand");
	is_int(fs_create(t->root, "rand-f", S_IFREG | 0644, 0, &fsfix_cred, &file), 0, "create");
	for (unsigned ph = 0; ph < sizeof(target) / sizeof(target[0]); ph++) {
		unsigned want = target[ph], miss = 0;

		while (present != want) {
			bool grow = present < want;
			unsigned i;

			/* mostly move toward the target, sometimes the other way */
			if (rng_next(&rng) % 4 == 0 && present > 0 && present < U)
				grow = !grow;
			do
				i = (unsigned)(rng_next(&rng) % U);
			while (in[i] == grow);
			long_name(name, i, FOLIO_NAME_MAX - (i * 37) % 200);
			if (grow)
				bad += fs_link(file, dir, name) != 0;
			else
				bad += fs_unlink(dir, name) != 0;
			in[i] = grow;
			present += grow ? 1 : -1;
			if (dir_depth(dir) > maxdepth)
				maxdepth = dir_depth(dir);
		}
		for (unsigned i = 0; i < U; i++) {
			long_name(name, i, FOLIO_NAME_MAX - (i * 37) % 200);
			miss += (fsfix_ino_of(dir, name) == file->ino) != in[i];
		}
		is_int(bad, 0, "phase %u: every add and remove worked", ph);
		is_int(miss, 0, "phase %u: %u names present, lookups agree", ph, present);
		is_u64(fsfix_count_entries(dir), present, "phase %u: readdir count", ph);
		check_dir_size(t, dir, "random phase");
		fsck_mounted(t, "random phase");
	}
	ok(maxdepth >= 2, "the tree reached depth %u", maxdepth);
	is_u64(dir_root(dir), 0, "emptied at the end: no nodes");
	free(in);
	fsfix_put(file);
	fsfix_put(dir);
	is_int(fs_unlink(t->root, "rand-f"), 0, "unlink rand-f");
	is_int(fs_rmdir(t->root, "rand"), 0, "rmdir rand");
}

/* ------------------------------------------------------------------ */
/* 100,000 entries                                                     */
/* ------------------------------------------------------------------ */

static void test_big(unsigned bs, unsigned n)
{
	struct fsfix t;
	struct inode *dir, *f;
	char name[64], nopt[32];
	unsigned bad = 0, rem = 0;
	double t0, c0;
	uint32_t ino;

	snprintf(nopt, sizeof(nopt), "-N %u", n + n / 10 + 64);
	fsfix_mkfs(&t, bs, "768M", nopt);
	fsfix_mount(&t);
	is_int(fs_mkdir(t.root, "big", 0755, &fsfix_cred, &dir), 0, "bs %u: mkdir big", bs);
	t0 = now_sec();
	c0 = cpu_sec();
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "file-%07u", i);
		if (fs_create(dir, name, S_IFREG | 0644, 0, &fsfix_cred, &f)) {
			bad++;
			continue;
		}
		fsfix_put(f);
	}
	diag("bs %u: created %u files in %.2f s (%.2f s CPU)", bs, n, now_sec() - t0,
	     cpu_sec() - c0);
	is_int(bad, 0, "bs %u: %u creates", bs, n);
	is_u64(fsfix_entries(dir), n, "bs %u: dr_entries %u", bs, n);
	t0 = now_sec();
	c0 = cpu_sec();
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "file-%07u", i);
		if (fs_lookup(dir, name, &f)) {
			bad++;
			continue;
		}
		fsfix_put(f);
	}
	diag("bs %u: looked up %u files in %.2f s (%.2f s CPU)", bs, n, now_sec() - t0,
	     cpu_sec() - c0);
	is_int(bad, 0, "bs %u: every name found", bs);
	is_int(fs_lookup(dir, "file-x", &f), -ENOENT, "bs %u: absent name ENOENT", bs);
	diag("bs %u: tree depth %u, %llu nodes", bs, dir_depth(dir),
	     (unsigned long long)fsfix_blocks(dir));
	check_dir_size(&t, dir, "big");
	t0 = now_sec();
	c0 = cpu_sec();
	for (unsigned i = 0; i < n; i += 2, rem++) {
		snprintf(name, sizeof(name), "file-%07u", i);
		bad += fs_unlink(dir, name) != 0;
	}
	diag("bs %u: unlinked %u files in %.2f s (%.2f s CPU)", bs, rem, now_sec() - t0,
	     cpu_sec() - c0);
	is_int(bad, 0, "bs %u: unlinked half", bs);
	t0 = now_sec();
	is_u64(fsfix_count_entries(dir), n - rem, "bs %u: readdir counts exactly the rest", bs);
	diag("bs %u: readdir of %u entries in %.3f s", bs, n - rem, now_sec() - t0);
	pthread_rwlock_rdlock(&dir->i_rwsem);
	for (unsigned i = 0; i < n; i++) {
		int ret;

		snprintf(name, sizeof(name), "file-%07u", i);
		ret = fs_dir_lookup(dir, name, strlen(name), &ino, NULL);
		bad += (i % 2 == 0) ? ret != -ENOENT : ret != 0;
	}
	pthread_rwlock_unlock(&dir->i_rwsem);
	is_int(bad, 0, "bs %u: removed names gone, the others found", bs);
	check_dir_size(&t, dir, "big, halved");
	fsfix_put(dir);
	fsfix_umount_or_bail(&t);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after big directory", bs);
	fsfix_mount(&t);
	dir = fsfix_iget(&t, fsfix_ino_of(t.root, "big"));
	is_u64(fsfix_count_entries(dir), n - rem, "bs %u: after remount, readdir counts the rest",
	       bs);
	fs_iput(dir);
	fsfix_umount_or_bail(&t);
	fsfix_cleanup(&t);
}

/* ------------------------------------------------------------------ */
/* Readdir cookies                                                     */
/* ------------------------------------------------------------------ */

struct seen {
	unsigned n, cap, stop;
	uint32_t *ids; /* number parsed from the name */
	uint64_t next;
};

static int seen_fn(void *ctx, const char *name, size_t len, uint32_t ino, uint8_t type,
		   uint64_t next)
{
	struct seen *s = ctx;

	if (s->n < s->cap)
		s->ids[s->n] = (uint32_t)strtoul(name + 1, NULL, 10);
	s->n++;
	s->next = next;
	return s->stop && s->n >= s->stop;
}

static void seen_iter(struct inode *dir, uint64_t cookie, struct seen *s)
{
	pthread_rwlock_rdlock(&dir->i_rwsem);
	if (fs_dir_iterate(dir, cookie, seen_fn, s))
		BAIL("fs_dir_iterate failed");
	pthread_rwlock_unlock(&dir->i_rwsem);
}

static void cname(char *buf, unsigned i)
{
	sprintf(buf, "c%05u", i);
}

static void test_cookies(struct fsfix *t)
{
	enum { N = 3000, NEW = 500, FIRST = 1000 };
	uint32_t ids1[N + NEW], ids2[N + NEW], ids3[N + NEW];
	struct seen s1 = {.cap = N + NEW, .ids = ids1, .stop = FIRST};
	struct seen s2 = {.cap = N + NEW, .ids = ids2};
	struct seen s3 = {.cap = N + NEW, .ids = ids3};
	uint8_t state[N + NEW] = {0}, count[N + NEW] = {0}; /* 1 removed */
	struct inode *dir, *file;
	char name[16];
	unsigned bad = 0, missing = 0, dup = 0, ghost = 0;
	uint64_t cookie;
	uint32_t dino;

	is_int(fs_mkdir(t->root, "cookies", 0755, &fsfix_cred, &dir), 0, "mkdir cookies");
	is_int(fs_create(dir, "f", S_IFREG | 0644, 0, &fsfix_cred, &file), 0, "create f");
	for (unsigned i = 0; i < N; i++) {
		cname(name, i);
		bad += fs_link(file, dir, name) != 0;
	}
	is_int(bad, 0, "%u names", N);
	is_int(fs_unlink(dir, "f"), 0, "unlink f (the other names stay)");
	seen_iter(dir, 0, &s1);
	is_int(s1.n, FIRST, "first pass stopped after %u", FIRST);
	cookie = s1.next;
	for (unsigned i = 0; i < s1.n; i++)
		count[ids1[i]]++;
	/* remove some seen and some unseen names, add new ones */
	for (unsigned i = 0; i < N; i += 5) {
		cname(name, i);
		bad += fs_unlink(dir, name) != 0;
		state[i] = 1;
	}
	for (unsigned i = N; i < N + NEW; i++) {
		cname(name, i);
		bad += fs_link(file, dir, name) != 0;
	}
	is_int(bad, 0, "removed every fifth, added %u", NEW);
	seen_iter(dir, cookie, &s2);
	for (unsigned i = 0; i < s2.n; i++) {
		count[ids2[i]]++;
		ghost += ids2[i] < N && state[ids2[i]];
	}
	for (unsigned i = 0; i < N; i++) {
		missing += !state[i] && count[i] == 0;
		dup += count[i] > 1;
	}
	for (unsigned i = N; i < N + NEW; i++)
		dup += count[i] > 1;
	is_int(missing, 0, "no entry present throughout was skipped");
	is_int(dup, 0, "no entry returned twice");
	is_int(ghost, 0, "no removed entry returned after its removal");

	/* cookies survive a remount: the same continuation */
	s2.n = 0;
	s2.stop = 0;
	seen_iter(dir, cookie, &s2);
	dino = dir->ino;
	fsfix_put(file);
	fsfix_put(dir);
	fsfix_umount_or_bail(t);
	fsfix_mount(t);
	dir = fsfix_iget(t, dino);
	seen_iter(dir, cookie, &s3);
	ok(s3.n == s2.n && !memcmp(ids2, ids3, s2.n * sizeof(ids2[0])),
	   "after remount the cookie resumes at the same place (%u entries)", s3.n);
	s3.n = 0;
	seen_iter(dir, s2.next, &s3);
	is_int(s3.n, 0, "the last record's next cookie ends the walk");
	s1.n = 0;
	s1.stop = 0;
	seen_iter(dir, 0, &s1);
	s3.n = 0;
	seen_iter(dir, 2, &s3);
	ok(s1.n == s3.n && s1.n == N - N / 5 + NEW, "cookies 0 and 2 both start at the first (%u)",
	   s1.n);
	s3.n = 0;
	seen_iter(dir, 0xFF, &s3);
	is_int(s3.n, s1.n, "cookie 0xFF starts at the first");
	for (unsigned i = 0; i < N + NEW; i++) {
		if (i < N && state[i])
			continue;
		cname(name, i);
		bad += fs_unlink(dir, name) != 0;
	}
	is_int(bad, 0, "unlinked every name");
	ok(fs_dir_empty(dir) && dir_root(dir) == 0, "directory empty, no nodes");
	fs_iput(dir);
	is_int(fs_rmdir(t->root, "cookies"), 0, "rmdir cookies");
}

/* ------------------------------------------------------------------ */
/* Hash collisions                                                     */
/* ------------------------------------------------------------------ */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x00000100000001b3ULL

/* FNV-1a from state @h, then xor the length: the value the hash finaliser
 * scrambles (docs/ON-DISK.md 10.3). Equal for two names => equal hashes. */
static uint64_t fnv_pre(uint64_t h, const char *s)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * FNV_PRIME;
	return h ^ len;
}

/* Both sides are T-functions of h (bit k depends on bits 0..k only), so
 * solve fnv_pre(h, a) == fnv_pre(h, b) bit by bit from the bottom. */
static bool solve_bits(const char *a, const char *b, unsigned k, uint64_t h, uint64_t *out,
		       unsigned *budget)
{
	if (k == 64) {
		*out = h;
		return true;
	}
	if (!(*budget)--)
		return false;
	for (uint64_t bit = 0; bit < 2; bit++) {
		uint64_t hh = h | bit << k, mask = k == 63 ? ~0ULL : (2ULL << k) - 1;

		if (!((fnv_pre(hh, a) ^ fnv_pre(hh, b)) & mask) &&
		    solve_bits(a, b, k + 1, hh, out, budget))
			return true;
	}
	return false;
}

/* Find two names and a hash seed under which they hash alike. */
static bool find_collision(char *a, char *b, uint64_t seed[2])
{
	for (unsigned i = 0; i < 20000; i++) {
		unsigned budget = 20000;
		uint64_t h;

		sprintf(a, "a%u%c", i, 'a' + i % 26);
		sprintf(b, "b%u", i);
		if (solve_bits(a, b, 0, 0, &h, &budget)) {
			seed[0] = h ^ FNV_OFFSET;
			seed[1] = 0x5eed5eed5eed5eedULL;
			return true;
		}
	}
	return false;
}

struct namekey {
	char name[32];
	uint64_t key;
};

struct namekeys {
	unsigned n;
	struct namekey nk[8];
};

static int namekey_fn(void *ctx, const char *name, size_t len, uint32_t ino, uint8_t type,
		      uint64_t next)
{
	struct namekeys *s = ctx;

	if (s->n < 8 && len < 32) {
		memcpy(s->nk[s->n].name, name, len);
		s->nk[s->n].name[len] = '\0';
		s->nk[s->n].key = next - 1;
	}
	s->n++;
	return 0;
}

static uint64_t keyof(struct inode *dir, const char *name)
{
	struct namekeys s = {0};

	pthread_rwlock_rdlock(&dir->i_rwsem);
	fs_dir_iterate(dir, 0, namekey_fn, &s);
	pthread_rwlock_unlock(&dir->i_rwsem);
	for (unsigned i = 0; i < s.n && i < 8; i++)
		if (!strcmp(s.nk[i].name, name))
			return s.nk[i].key;
	return 0;
}

static void test_collisions(unsigned bs)
{
	char a[32], b[32];
	uint64_t seed[2], base;
	struct fsfix t;
	struct inode *dir, *fa, *fb;

	if (!find_collision(a, b, seed)) {
		ok(0, "found a hash seed making two names collide");
		return;
	}
	ok(folio_dirhash(seed, a, strlen(a)) == folio_dirhash(seed, b, strlen(b)),
	   "seed %016llx makes '%s' and '%s' hash alike", (unsigned long long)seed[0], a, b);
	base = folio_dir_key_base(folio_dirhash(seed, a, strlen(a)));
	fsfix_mkfs(&t, bs, "16M", NULL);
	fsfix_set_hash_seed(&t, seed);
	is_int(fsfix_fsck(&t), 0, "bs %u: image with the new seed is clean", bs);
	fsfix_mount(&t);
	is_int(fs_mkdir(t.root, "coll", 0755, &fsfix_cred, &dir), 0, "mkdir coll");
	is_int(fs_create(dir, a, S_IFREG | 0644, 0, &fsfix_cred, &fa), 0, "create %s", a);
	is_int(fs_create(dir, b, S_IFREG | 0644, 0, &fsfix_cred, &fb), 0, "create %s", b);
	is_u64(keyof(dir, a), base | 0, "%s has collision index 0", a);
	is_u64(keyof(dir, b), base | 1, "%s has collision index 1", b);
	is_int(fsfix_ino_of(dir, a), fa->ino, "lookup %s finds its inode", a);
	is_int(fsfix_ino_of(dir, b), fb->ino, "lookup %s finds its inode", b);
	is_int(fs_create(dir, b, S_IFREG | 0644, 0, &fsfix_cred, &fb), -EEXIST, "create %s again",
	       b);
	is_int(fs_unlink(dir, a), 0, "unlink %s", a);
	is_int(fsfix_ino_of(dir, a), 0, "%s gone", a);
	is_int(fsfix_ino_of(dir, b), fb->ino, "%s still found", b);
	is_u64(keyof(dir, b), base | 1, "%s keeps its key", b);
	is_int(fs_link(fb, dir, a), 0, "link %s as %s", b, a);
	is_u64(keyof(dir, a), base | 0, "re-added %s takes the free index 0", a);
	is_int(fsfix_ino_of(dir, a), fb->ino, "%s now names %s's inode", a, b);
	is_int(fs_rename(dir, b, dir, "other", 0), 0, "rename %s away", b);
	is_int(fs_rename(dir, "other", dir, b, 0), 0, "rename back to %s", b);
	is_u64(keyof(dir, b), base | 1, "%s back at index 1", b);
	fsfix_put(fa);
	fsfix_put(fb);
	fsfix_put(dir);
	fsfix_umount_or_bail(&t);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean with colliding names", bs);
	fsfix_cleanup(&t);
}

/* ------------------------------------------------------------------ */
/* ENOSPC while the tree grows                                         */
/* ------------------------------------------------------------------ */

static void test_enospc(unsigned bs)
{
	struct fsfix t;
	struct inode *dir, *file, *x;
	struct statvfs before, full, after;
	char name[FOLIO_NAME_MAX + 1];
	unsigned n = 0, bad = 0;
	uint64_t entries;
	int ret;

	fsfix_mkfs(&t, bs, "2M", NULL);
	fsfix_mount(&t);
	fs_statfs(t.fs, &before);
	is_int(fs_mkdir(t.root, "full", 0755, &fsfix_cred, &dir), 0, "bs %u: mkdir full", bs);
	is_int(fs_create(dir, "f", S_IFREG | 0644, 0, &fsfix_cred, &file), 0, "create f");
	for (;;) {
		long_name(name, n, FOLIO_NAME_MAX - n % 64);
		ret = fs_link(file, dir, name);
		if (ret)
			break;
		n++;
	}
	is_int(ret, -ENOSPC, "bs %u: links until ENOSPC (%u names)", bs, n);
	entries = fsfix_entries(dir);
	is_u64(entries, n + 1, "entries after ENOSPC");
	is_u64(fs_inode_nlink(file), n + 1, "nlink after ENOSPC");
	fs_statfs(t.fs, &full);
	is_int(fs_create(dir, name, S_IFREG | 0644, 0, &fsfix_cred, &x), -ENOSPC,
	       "create a name that needs a split: ENOSPC");
	is_int(fs_mkdir(dir, name, 0755, &fsfix_cred, &x), -ENOSPC, "mkdir likewise: ENOSPC");
	fs_statfs(t.fs, &after);
	is_u64(after.f_ffree, full.f_ffree, "failed creates leaked no inode");
	is_u64(after.f_bfree, full.f_bfree, "failed creates leaked no block");
	is_u64(fsfix_entries(dir), entries, "failed creates left the entries");
	lookup_all(dir, n, NULL, file->ino, "after ENOSPC");
	check_dir_size(&t, dir, "after ENOSPC");
	fsck_mounted(&t, "full image");
	for (unsigned i = 0; i < n; i++) {
		long_name(name, i, FOLIO_NAME_MAX - i % 64);
		bad += fs_unlink(dir, name) != 0;
	}
	is_int(bad, 0, "unlinked every long name");
	is_int(fs_unlink(dir, "f"), 0, "unlink f");
	fsfix_put(file);
	fsfix_put(dir);
	is_int(fs_rmdir(t.root, "full"), 0, "rmdir full");
	fs_statfs(t.fs, &after);
	is_u64(after.f_bfree, before.f_bfree, "every block back");
	is_u64(after.f_ffree, before.f_ffree, "every inode back");
	fsfix_umount_or_bail(&t);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after ENOSPC", bs);
	fsfix_cleanup(&t);
}

int main(void)
{
	const char *big = getenv("FS_DIR_BIG");
	unsigned nbig = big ? (unsigned)strtoul(big, NULL, 10) : 100000;

	fsfix_cache_size = 128ULL << 20; /* a large directory stays cached */
	for (unsigned i = 0; i < sizeof(block_sizes) / sizeof(block_sizes[0]); i++) {
		unsigned bs = block_sizes[i];
		struct fsfix t;

		diag("block size %u", bs);
		fsfix_mkfs(&t, bs, "64M", NULL);
		fsfix_mount(&t);
		test_empty(&t);
		test_grow_shrink(&t);
		test_cookies(&t);
		test_low_keys(&t);
		test_random(&t);
		fsfix_umount_or_bail(&t);
		is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean", bs);
		fsfix_cleanup(&t);
		test_collisions(bs);
		test_enospc(bs);
		if (nbig)
			test_big(bs, nbig);
	}
	return done_testing();
}
