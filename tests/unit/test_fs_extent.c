/*
 * tests/unit/test_fs_extent.c - the extent tree under load: thousands of
 * one-block extents written in random order (trees of depth 2 and 3, leaf
 * and index splits), then random punches, unwritten conversions and
 * truncates, checked after every phase against a per-block model, against
 * i_blocks, the free-block count and fsck.foliofs. A small cache makes
 * reclaim write pages back (map_blocks with MAP_NOWAIT) while the tree is
 * deep. Block sizes 1, 2 and 4 KiB. And one write over fallocated blocks
 * (converted ahead of the copy with 4 KiB blocks): bytes, zeros around
 * them and block states, cached and after a remount.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/fsfix.h"
#include "tests/lib/tap.h"

/* The model: the pattern seed of every block, 0 for zeros. */
struct model {
	unsigned *seed;
	uint64_t nblocks;
	unsigned bs;
};

static uint64_t rnd_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static unsigned tree_depth(struct inode *inode)
{
	return le16_to_cpu(inode->di->i_extents.eh.eh_depth);
}

/* Every block of the file against the model. */
static bool model_check(struct fs_file *f, const struct model *m)
{
	uint8_t *buf = malloc(m->bs), *want = malloc(m->bs);
	bool ok = true;

	for (uint64_t b = 0; b < m->nblocks && ok; b++) {
		uint64_t off = b * m->bs;

		if (m->seed[b])
			fsfix_fill(want, m->bs, m->seed[b], off);
		else
			memset(want, 0, m->bs);
		ok = fs_read(f, buf, m->bs, off) == (ssize_t)m->bs && !memcmp(buf, want, m->bs);
		if (!ok)
			diag("block %llu differs (seed %u)", (unsigned long long)b, m->seed[b]);
	}
	free(buf);
	free(want);
	return ok;
}

/* Mapped blocks of the model: blocks that are allocated. */
static uint64_t model_allocated(const unsigned char *alloc, uint64_t n)
{
	uint64_t k = 0;

	for (uint64_t b = 0; b < n; b++)
		k += alloc[b];
	return k;
}

static void check_counts(struct fsfix *t, struct inode *inode, uint64_t free0,
			 const unsigned char *alloc, uint64_t n, const char *when)
{
	uint64_t ib = fsfix_blocks(inode), data = model_allocated(alloc, n);

	is_u64(ib, fs_extent_blocks(inode), "bs %u %s: i_blocks equals what the tree owns", t->bs,
	       when);
	ok(ib >= data && ib - data <= data / 20 + 2,
	   "bs %u %s: i_blocks %llu = %llu data blocks + a few nodes (depth %u)", t->bs, when,
	   (unsigned long long)ib, (unsigned long long)data, tree_depth(inode));
	is_u64(free0 - fsfix_free_blocks(t), ib, "bs %u %s: free count fell by i_blocks", t->bs,
	       when);
}

static void test_tree(unsigned bs, unsigned next, unsigned want_depth)
{
	struct fs_options opts = {.cache_size = 4ULL << 20, .ra_max_pages = 8};
	struct model m = {.nblocks = 2ULL * next, .bs = bs};
	unsigned *order = malloc(next * sizeof(*order));
	unsigned char *alloc;
	struct inode *inode;
	struct fs_file *f;
	uint64_t free0;
	struct fsfix t;
	unsigned seed = 1;

	m.seed = calloc(m.nblocks, sizeof(*m.seed));
	alloc = calloc(m.nblocks, 1);
	fsfix_mkfs(&t, bs, "64M", NULL);
	if (fsfix_mount_opts(&t, &opts, NULL, 0))
		BAIL("mount");
	free0 = fsfix_free_blocks(&t);
	inode = fsfix_create(&t, "tree");
	f = fsfix_open(inode, O_RDWR);

	/* one block at every even position, in random order */
	for (unsigned i = 0; i < next; i++)
		order[i] = i;
	for (unsigned i = next - 1; i > 0; i--) {
		unsigned j = (unsigned)(rnd() % (i + 1)), x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	for (unsigned i = 0; i < next; i++) {
		uint64_t b = 2ULL * order[i];

		m.seed[b] = seed++;
		alloc[b] = 1;
		fsfix_write_pattern(f, m.seed[b], b * bs, bs);
	}
	fs_setsize(inode, m.nblocks * bs);
	ok(tree_depth(inode) >= want_depth, "bs %u: %u extents make a tree of depth %u", bs, next,
	   tree_depth(inode));
	ok(model_check(f, &m), "bs %u: every block reads back", bs);
	check_counts(&t, inode, free0, alloc, m.nblocks, "after the writes");
	ok(cache_stat(t.fs->cache, PGWRITE_RECLAIM) > 0,
	   "bs %u: reclaim wrote %llu pages back meanwhile", bs,
	   (unsigned long long)cache_stat(t.fs->cache, PGWRITE_RECLAIM));
	is_u64(cache_stat(t.fs->cache, WB_ERRORS), 0, "bs %u: no write-back error", bs);

	/* punch and convert random block ranges */
	for (int i = 0; i < 300; i++) {
		uint64_t a = rnd() % m.nblocks, len = 1 + rnd() % 40;
		bool punch = rnd() & 1;

		if (a + len > m.nblocks)
			len = m.nblocks - a;
		if (fs_fallocate(inode,
				 punch ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
				       : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
				 a * bs, len * bs))
			BAIL("fallocate %d", i);
		for (uint64_t b = a; b < a + len; b++) {
			m.seed[b] = 0;
			alloc[b] = !punch;
		}
	}
	ok(model_check(f, &m), "bs %u: contents after punches and zero ranges", bs);
	check_counts(&t, inode, free0, alloc, m.nblocks, "after punches");
	fs_release(f);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean with a deep tree", bs);

	if (fsfix_mount_opts(&t, &opts, NULL, 0))
		BAIL("mount");
	inode = fsfix_lookup(&t, "tree");
	f = fsfix_open(inode, O_RDWR);
	ok(model_check(f, &m), "bs %u: contents after remount", bs);
	/* fill every hole again: unwritten blocks convert, holes allocate */
	for (uint64_t b = 0; b < m.nblocks; b += 3) {
		m.seed[b] = seed++;
		alloc[b] = 1;
		fsfix_write_pattern(f, m.seed[b], b * bs, bs);
	}
	ok(model_check(f, &m), "bs %u: contents after refilling", bs);
	check_counts(&t, inode, free0, alloc, m.nblocks, "after refilling");
	is_int(fs_setsize(inode, m.nblocks * bs / 2 + 7), 0, "bs %u: truncate to half", bs);
	for (uint64_t b = m.nblocks / 2 + 1; b < m.nblocks; b++) {
		m.seed[b] = 0;
		alloc[b] = 0;
	}
	m.nblocks = m.nblocks / 2 + 1;
	{
		/* the last block keeps 7 bytes */
		uint64_t last = m.nblocks - 1;
		uint8_t *buf = malloc(bs), *want = calloc(1, bs);

		if (m.seed[last])
			fsfix_fill(want, 7, m.seed[last], last * bs);
		ok(fs_read(f, buf, bs, last * bs) == 7 && !memcmp(buf, want, 7),
		   "bs %u: the cut block keeps its first bytes", bs);
		m.nblocks--;
		free(buf);
		free(want);
	}
	ok(model_check(f, &m), "bs %u: contents after truncating to half", bs);
	is_int(fs_setsize(inode, 0), 0, "bs %u: truncate to 0", bs);
	ok(fsfix_blocks(inode) == 0 && tree_depth(inode) == 0,
	   "bs %u: nothing owned, the tree is back in the inode", bs);
	is_u64(fsfix_free_blocks(&t), free0, "bs %u: every block free again", bs);
	fs_release(f);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after truncating", bs);
	free(order);
	free(m.seed);
	free(alloc);
	fsfix_cleanup(&t);
}

/* ---- several threads at once ---- */

#define TH_WRITERS 4
#define TH_BLOCKS  1500

struct th_arg {
	struct fsfix *t;
	struct fs_file *f;    /* the file this thread writes */
	unsigned *seed;	      /* per block, the model */
	unsigned first, step; /* blocks first, first + step, ... */
	unsigned id;
	_Atomic bool *stop;
	uint64_t ops;
};

static void *th_writer(void *p)
{
	struct th_arg *a = p;
	unsigned bs = a->t->bs, n = TH_BLOCKS / a->step;
	uint64_t rs = 0x1234567ULL * (a->id + 1);

	for (unsigned k = 0; k < 3 * n; k++) {
		unsigned b;

		rs ^= rs << 13;
		rs ^= rs >> 7;
		rs ^= rs << 17;
		b = a->first + (unsigned)(rs % n) * a->step;
		if (k % 37 == 36 && a->step == 1) {
			unsigned len = 1 + (unsigned)(rs >> 32) % 8;

			if (b + len > TH_BLOCKS)
				len = TH_BLOCKS - b;
			if (fs_fallocate(a->f->inode, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					 (uint64_t)b * bs, (uint64_t)len * bs))
				return (void *)1;
			for (unsigned j = b; j < b + len; j++)
				a->seed[j] = 0;
		} else {
			a->seed[b] = a->id * 100000 + k + 1;
			fsfix_write_pattern(a->f, a->seed[b], (uint64_t)b * bs, bs);
		}
		a->ops++;
	}
	return NULL;
}

static void *th_reader(void *p)
{
	struct th_arg *a = p;
	uint8_t buf[8192];

	while (!atomic_load(a->stop)) {
		for (uint64_t off = 0; off < (uint64_t)TH_BLOCKS * a->t->bs; off += sizeof(buf))
			if (fs_read(a->f, buf, sizeof(buf), off) < 0)
				return (void *)1;
		a->ops++;
	}
	return NULL;
}

static void *th_syncer(void *p)
{
	struct th_arg *a = p;

	while (!atomic_load(a->stop)) {
		if (fs_sync(a->t->fs))
			return (void *)1;
		a->ops++;
		usleep(2000);
	}
	return NULL;
}

static bool th_check(struct fs_file *f, const unsigned *seed, unsigned bs)
{
	struct model m = {.seed = (unsigned *)seed, .nblocks = TH_BLOCKS, .bs = bs};
	struct stat st;

	fs_inode_stat(f->inode, &st);
	if ((uint64_t)st.st_size < (uint64_t)TH_BLOCKS * bs)
		m.nblocks = (uint64_t)st.st_size / bs;
	return model_check(f, &m);
}

static void test_threads(unsigned bs)
{
	struct fs_options opts = {.cache_size = 4ULL << 20, .ra_max_pages = 16};
	struct th_arg arg[TH_WRITERS + 4];
	pthread_t tid[TH_WRITERS + 4];
	struct inode *inode[TH_WRITERS + 1];
	struct fs_file *file[TH_WRITERS + 1];
	unsigned *seed[TH_WRITERS + 1];
	_Atomic bool stop = false;
	unsigned nw = TH_WRITERS + 2, bad = 0;
	char name[16];
	struct fsfix t;

	fsfix_mkfs(&t, bs, "64M", NULL);
	if (fsfix_mount_opts(&t, &opts, NULL, 0))
		BAIL("mount");
	for (unsigned i = 0; i <= TH_WRITERS; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		inode[i] = fsfix_create(&t, name);
		file[i] = fsfix_open(inode[i], O_RDWR);
		seed[i] = calloc(TH_BLOCKS, sizeof(unsigned));
		fs_setsize(inode[i], (uint64_t)TH_BLOCKS * bs);
	}
	/* writers 0..3 on their own files; two more share file 4 (even, odd) */
	for (unsigned i = 0; i < nw; i++) {
		unsigned fi = i < TH_WRITERS ? i : TH_WRITERS;

		arg[i] = (struct th_arg){.t = &t,
					 .f = file[fi],
					 .seed = seed[fi],
					 .id = i + 1,
					 .first = i < TH_WRITERS ? 0 : i - TH_WRITERS,
					 .step = i < TH_WRITERS ? 1 : 2,
					 .stop = &stop};
	}
	arg[nw] = (struct th_arg){.t = &t, .f = file[TH_WRITERS], .stop = &stop};
	arg[nw + 1] = (struct th_arg){.t = &t, .stop = &stop};
	for (unsigned i = 0; i < nw; i++)
		pthread_create(&tid[i], NULL, th_writer, &arg[i]);
	pthread_create(&tid[nw], NULL, th_reader, &arg[nw]);
	pthread_create(&tid[nw + 1], NULL, th_syncer, &arg[nw + 1]);
	for (unsigned i = 0; i < nw; i++) {
		void *r;

		pthread_join(tid[i], &r);
		bad += r != NULL;
	}
	atomic_store(&stop, true);
	for (unsigned i = nw; i < nw + 2; i++) {
		void *r;

		pthread_join(tid[i], &r);
		bad += r != NULL;
	}
	is_int(bad, 0, "bs %u: %u writers, a reader and a syncer ran without error", bs, nw);
	ok(arg[nw].ops > 0 && arg[nw + 1].ops > 0, "bs %u: reader passes %llu, syncs %llu", bs,
	   (unsigned long long)arg[nw].ops, (unsigned long long)arg[nw + 1].ops);
	for (unsigned i = 0; i <= TH_WRITERS; i++) {
		ok(th_check(file[i], seed[i], bs), "bs %u: file t%u matches its model", bs, i);
		is_u64(fsfix_blocks(inode[i]), fs_extent_blocks(inode[i]),
		       "bs %u: t%u i_blocks agrees with its tree", bs, i);
		fs_release(file[i]);
		fsfix_put(inode[i]);
	}
	is_u64(cache_stat(t.fs->cache, WB_ERRORS), 0, "bs %u: no write-back error", bs);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after the threads", bs);
	if (fsfix_mount_opts(&t, &opts, NULL, 0))
		BAIL("mount");
	for (unsigned i = 0; i <= TH_WRITERS; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		inode[i] = fsfix_lookup(&t, name);
		file[i] = fsfix_open(inode[i], O_RDONLY);
		ok(th_check(file[i], seed[i], bs), "bs %u: t%u after remount", bs, i);
		fs_release(file[i]);
		fsfix_put(inode[i]);
		free(seed[i]);
	}
	fsfix_umount(&t);
	fsfix_cleanup(&t);
}

/* The state map_blocks reports for file block @lblk. */
static unsigned block_state(struct inode *inode, uint64_t lblk)
{
	unsigned flags = 0;
	uint64_t pblk;

	fs_map_blocks(&inode->mapping, lblk, 1, &pblk, &flags);
	return flags;
}

/* One write over fallocated (unwritten) blocks: whole pages are converted
 * ahead of the copy (4 KiB blocks) - the bytes, the zeros around them, the
 * blocks' states, and all of it again after a remount. */
static void check_prealloc_file(struct fs_file *f, const uint8_t *expect, const char *when,
				unsigned bs)
{
	ok(fsfix_file_zero(f, 0, 4196), "bs %u: %s: zeros before the write", bs, when);
	ok(fsfix_file_equals(f, expect, 4196, 600 << 10), "bs %u: %s: the bytes written", bs, when);
	ok(fsfix_file_zero(f, 4196 + (600 << 10), (1 << 20) - 4196 - (600 << 10)),
	   "bs %u: %s: zeros after the write", bs, when);
}

static void test_prealloc_write(unsigned bs)
{
	uint8_t *expect = malloc(600 << 10);
	struct inode *inode;
	struct fs_file *f;
	struct fsfix t;

	if (!expect)
		BAIL("out of memory");
	fsfix_fill(expect, 600 << 10, 7, 4196);
	fsfix_mkfs(&t, bs, "16M", NULL);
	fsfix_mount(&t);
	inode = fsfix_create(&t, "pre");
	f = fsfix_open(inode, O_RDWR);
	is_int(fs_fallocate(inode, 0, 0, 1 << 20), 0, "bs %u: fallocate 1 MiB", bs);
	is_int((int)block_state(inode, 100), MAP_UNWRITTEN, "bs %u: blocks unwritten", bs);
	ok(fsfix_file_zero(f, 0, 1 << 20), "bs %u: the file reads as zeros", bs);
	fsfix_write_pattern(f, 7, 4196, 600 << 10);
	is_int((int)block_state(inode, (300 << 10) / bs), MAP_MAPPED,
	       "bs %u: blocks under the write are written", bs);
	is_int((int)block_state(inode, (900 << 10) / bs), MAP_UNWRITTEN,
	       "bs %u: blocks past it stay unwritten", bs);
	check_prealloc_file(f, expect, "cached", bs);
	fs_release(f);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean", bs);
	fsfix_mount(&t);
	inode = fsfix_lookup(&t, "pre");
	f = fsfix_open(inode, O_RDONLY);
	check_prealloc_file(f, expect, "after a remount", bs);
	fs_release(f);
	fsfix_put(inode);
	fsfix_umount(&t);
	fsfix_cleanup(&t);
	free(expect);
}

#define RACE_BYTES (2U << 20)

struct race_reader {
	struct fs_file *f;
	_Atomic bool stop;
	_Atomic unsigned long bad, reads;
};

/* Read the file over and over: every byte must be 0 or the new pattern. */
static void *race_read(void *arg)
{
	struct race_reader *r = arg;
	static __thread uint8_t buf[64 << 10];

	while (!atomic_load(&r->stop)) {
		for (uint64_t off = 0; off < RACE_BYTES; off += sizeof(buf)) {
			ssize_t n = fs_read(r->f, buf, sizeof(buf), off);

			for (ssize_t i = 0; i < n; i++)
				if (buf[i] && buf[i] != fsfix_byte(11, off + (uint64_t)i))
					atomic_fetch_add(&r->bad, 1);
			atomic_fetch_add(&r->reads, 1);
		}
	}
	return NULL;
}

/* Writes over fallocated blocks that held another file's data, with a
 * reader racing them: it must never see the old data (the conversion ahead
 * of the copy must not expose the blocks before the pages hold the bytes). */
static void test_prealloc_race(unsigned bs)
{
	struct race_reader r = {0};
	struct inode *old, *inode;
	struct fs_file *f, *of;
	pthread_t tid;
	struct fsfix t;

	fsfix_mkfs(&t, bs, "16M", NULL);
	fsfix_mount(&t);
	old = fsfix_create(&t, "old");
	of = fsfix_open(old, O_RDWR);
	fsfix_write_pattern(of, 9, 0, RACE_BYTES);
	is_int(fs_fsync(of, false), 0, "bs %u: old data on the device", bs);
	fs_release(of);
	fsfix_put(old);
	is_int(fs_unlink(t.root, "old"), 0, "bs %u: old file unlinked", bs);
	inode = fsfix_create(&t, "new");
	f = fsfix_open(inode, O_RDWR);
	r.f = fsfix_open(inode, O_RDONLY);
	pthread_create(&tid, NULL, race_read, &r);
	for (unsigned round = 0; round < 24; round++) {
		uint8_t *buf = malloc((256 << 10) + 100);

		if (!buf ||
		    fs_fallocate(inode, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
				 RACE_BYTES) ||
		    fs_fallocate(inode, 0, 0, RACE_BYTES))
			BAIL("fallocate");
		cache_drop_clean(t.fs->cache);
		for (uint64_t off = 100 * round; off + (256 << 10) + 100 <= RACE_BYTES;
		     off += (256 << 10) + 100) {
			fsfix_fill(buf, (256 << 10) + 100, 11, off);
			if (fs_write(f, buf, (256 << 10) + 100, off) != (256 << 10) + 100)
				BAIL("fs_write");
		}
		free(buf);
	}
	atomic_store(&r.stop, true);
	pthread_join(tid, NULL);
	diag("bs %u: %lu reads of 64 KiB raced with the writes", bs, atomic_load(&r.reads));
	is_u64(atomic_load(&r.bad), 0, "bs %u: a racing reader never saw the old file's bytes", bs);
	fs_release(r.f);
	fs_release(f);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean", bs);
	fsfix_cleanup(&t);
}

int main(void)
{
	test_tree(1024, 6000, 3);
	test_tree(2048, 3000, 2);
	test_tree(4096, 2000, 2);
	test_threads(1024);
	test_threads(2048);
	test_threads(4096);
	test_prealloc_write(1024);
	test_prealloc_write(4096);
	test_prealloc_race(4096);
	return done_testing();
}
