/*
 * tests/unit/test_stress.c - the page cache under concurrent load, checked
 * against a reference model.
 *
 * Several worker threads read, write, truncate and punch random ranges of
 * several testfs files (block sizes 1, 2 and 4 KiB) on a RAM device, with a
 * memory limit of a few hundred pages so the background reclaimer, direct
 * reclaim, readahead and writeback run underneath all the time. Each file has
 * a model: its bytes (zero past the size) and its size.
 *
 * Serialisation (the owner's part, as an fs inode lock would do it): each file
 * has a rwlock. Readers hold it shared, so a read only ever races with cache
 * internals (reclaim, readahead, writeback), never with a writer of the same
 * bytes, and must match the model byte for byte. Writers, truncaters and
 * punchers hold it exclusive and update the model with the operation. Write-
 * back requests (filemap_write_and_wait) take no file lock at all.
 *
 * A watcher thread samples the pages in use (never above the limit plus the
 * reclaimer's reserve), calls cache_drop_clean() now and then, and bails out
 * when the workers stop making progress (a deadlock).
 *
 * A metadata operation does the same through the device's own mapping
 * (bread, lock_buffer, mark_buffer_dirty, brelse) on 1 KiB blocks of a region
 * after the files, against a model of that region.
 *
 * At the end every file is written back and compared with the device block by
 * block, every clean page is dropped, every file is read again from the
 * device and compared, the counters are shown to have moved, and teardown
 * must leave no page, buffer head, mapping or xarray node behind.
 *
 * Environment: STRESS_SECONDS (random phase length, default 8),
 * STRESS_THREADS (workers, default 4), STRESS_SEED (default: time),
 * STRESS_LIMIT (memory limit in pages, default 300).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>

#include "backing/bdev.h"
#include "cache/cache.h"
#include "tests/lib/cachefix.h"
#include "tests/lib/clock.h"
#include "tests/lib/tap.h"

#define NFILES	    4
#define FILE_MAX    (1024 * 1024) /* bytes per file region */
#define LIMIT_PAGES 300		  /* default memory limit */
#define POOL_PAGES  512
/* Pages the background reclaimer alone may use above the limit (lru.c). */
#define RESERVE_PAGES 4
#define MAX_THREADS   16
#define BUF_BYTES     (64 * 1024 + 8192)
#define MAX_DIAGS     40
#define MAX(a, b)     ((a) > (b) ? (a) : (b))
#define STALL_SECONDS 60
#define META_BITS     10
#define META_BYTES    (256 * 1024) /* device-mapping region after the files */
#define META_BLOCKS   (META_BYTES >> META_BITS)

static const unsigned file_blkbits[NFILES] = {10, 11, 12, 12};

/*
 * struct sfile - one file under test and its model.
 * @tf:    the testfs file (its mapping is what the cache sees)
 * @lock:  the owner's lock: shared for reads, exclusive for changes
 * @model: FILE_MAX bytes, zero at and past @size; protected by @lock
 * @size:  the file's size per the model; protected by @lock
 */
struct sfile {
	struct testfile tf;
	pthread_rwlock_t lock;
	unsigned char *model;
	uint64_t size;
};

enum op_kind {
	OP_IDLE,
	OP_READ,
	OP_SEQREAD,
	OP_PEEK,
	OP_WRITE,
	OP_PUNCH,
	OP_TRUNC,
	OP_SYNC,
	OP_META
};

static const char *const op_names[] = {"idle",	"read",	    "seqread", "peek", "write",
				       "punch", "truncate", "sync",    "meta"};

/*
 * The device mapping's region: bdm caches device blocks [META_BASE, +META_BLOCKS)
 * of 1 KiB; meta_model holds what they must contain. meta_lock: shared to
 * bread and compare, exclusive to change a block or write the mapping back.
 */
static struct address_space bdm;
static pthread_rwlock_t meta_lock = PTHREAD_RWLOCK_INITIALIZER;
static unsigned char *meta_model; /* protected by meta_lock */
#define META_BASE (((uint64_t)NFILES * FILE_MAX) >> META_BITS)

/*
 * struct worker - one worker thread. Everything is private to the thread
 * except the progress fields, which the watcher reads.
 */
struct worker {
	pthread_t thread;
	unsigned id;
	uint64_t rng;
	unsigned char *buf;
	struct file_ra_state ra[NFILES];
	_Atomic uint64_t ops; /* operations finished */
	_Atomic int cur_op;   /* enum op_kind in progress */
	_Atomic int cur_file; /* its file */
};

/* Totals over all workers; a *_fail count must end at zero. */
static struct {
	_Atomic uint64_t reads, read_fail, peeks, peek_fail, writes, write_fail;
	_Atomic uint64_t punches, punch_fail, truncs, trunc_fail, syncs, sync_fail;
	_Atomic uint64_t size_fail, metas, meta_fail;
} st;

static struct fx fx;
static struct sfile files[NFILES];
static struct worker workers[MAX_THREADS];
static unsigned nthreads = 4;
static unsigned long limit_pages = LIMIT_PAGES; /* STRESS_LIMIT */
static _Atomic bool stop_workers, stop_watcher;
static pthread_t watcher; /* runs until the final write-back is done */
static _Atomic uint64_t max_in_use, samples, drops_during;
static pthread_mutex_t diag_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned ndiags;

static void fail_diag(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&diag_lock);
	if (ndiags++ < MAX_DIAGS) {
		printf("# ");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		fflush(stdout);
	}
	pthread_mutex_unlock(&diag_lock);
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd_below(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

static void fill_random(uint64_t *s, unsigned char *p, size_t len)
{
	uint64_t v;

	while (len >= 8) {
		v = rnd(s);
		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	v = rnd(s);
	memcpy(p, &v, len);
}

static unsigned long env_ulong(const char *name, unsigned long def)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 0) : def;
}

/* First byte where @a and @b differ, or -1. */
static long first_diff(const unsigned char *a, const unsigned char *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (a[i] != b[i])
			return (long)i;
	return -1;
}

/* ---- worker operations ---- */

/* Compare a read result with the model; the caller holds the file shared. */
static void check_read(struct worker *w, int fi, uint64_t pos, size_t len, ssize_t got)
{
	struct sfile *f = &files[fi];
	size_t want = pos >= f->size ? 0 : (size_t)(f->size - pos < len ? f->size - pos : len);
	long d;

	atomic_fetch_add(&st.reads, 1);
	if (got != (ssize_t)want) {
		atomic_fetch_add(&st.read_fail, 1);
		fail_diag("t%u file%d read pos %" PRIu64 " len %zu size %" PRIu64
			  ": returned %zd, want %zu",
			  w->id, fi, pos, len, f->size, got, want);
		return;
	}
	d = first_diff(w->buf, f->model + pos, want);
	if (d >= 0) {
		atomic_fetch_add(&st.read_fail, 1);
		fail_diag("t%u file%d (bs %u) read pos %" PRIu64 " len %zu size %" PRIu64
			  ": byte %" PRIu64 " is %#x, model %#x",
			  w->id, fi, 1U << f->tf.mapping.blkbits, pos, len, f->size, pos + d,
			  w->buf[d], f->model[pos + d]);
	}
}

static void check_isize(struct worker *w, int fi, const char *what)
{
	struct sfile *f = &files[fi];
	uint64_t isz = atomic_load(&f->tf.mapping.i_size);

	if (isz != f->size) {
		atomic_fetch_add(&st.size_fail, 1);
		fail_diag("t%u file%d after %s: i_size %" PRIu64 ", model %" PRIu64, w->id, fi,
			  what, isz, f->size);
	}
}

static void op_read(struct worker *w, int fi)
{
	struct sfile *f = &files[fi];
	uint64_t pos = rnd_below(&w->rng, FILE_MAX + 8192);
	size_t len = 1 + rnd_below(&w->rng, rnd_below(&w->rng, 2) ? 512 : 16384);
	ssize_t got;

	if (pos + len > FILE_MAX + 8192)
		len = FILE_MAX + 8192 - pos;
	pthread_rwlock_rdlock(&f->lock);
	got = filemap_read(&f->tf.mapping, &w->ra[fi], w->buf, len, pos);
	check_read(w, fi, pos, len, got);
	check_isize(w, fi, "read");
	pthread_rwlock_unlock(&f->lock);
}

/* A sequential stream (from 0 or a random page) so readahead windows grow. */
static void op_seqread(struct worker *w, int fi)
{
	struct sfile *f = &files[fi];
	uint64_t pos =
		rnd_below(&w->rng, 4) ? rnd_below(&w->rng, FILE_MAX / PAGE_SIZE) * PAGE_SIZE : 0;
	size_t chunk = rnd_below(&w->rng, 2) ? 4096 : 16384;
	ssize_t got;

	pthread_rwlock_rdlock(&f->lock);
	for (int i = 0; i < 16 && pos < f->size; i++) {
		got = filemap_read(&f->tf.mapping, &w->ra[fi], w->buf, chunk, pos);
		check_read(w, fi, pos, chunk, got);
		if (got <= 0)
			break;
		pos += (uint64_t)got;
	}
	pthread_rwlock_unlock(&f->lock);
}

/* Look at a cached page directly: identity, invariants, and (uptodate) bytes. */
static void op_peek(struct worker *w, int fi)
{
	struct sfile *f = &files[fi];
	uint64_t idx = rnd_below(&w->rng, FILE_MAX / PAGE_SIZE);
	struct page *page;
	long d;

	pthread_rwlock_rdlock(&f->lock);
	page = find_get_page(&f->tf.mapping, idx);
	if (page) {
		atomic_fetch_add(&st.peeks, 1);
		page_assert_state(page);
		if (page->mapping != &f->tf.mapping || page->index != idx) {
			atomic_fetch_add(&st.peek_fail, 1);
			fail_diag("t%u file%d page %" PRIu64 ": mapping %p index %" PRIu64, w->id,
				  fi, idx, (void *)page->mapping, page->index);
		} else if (page_test(page, PG_uptodate) &&
			   (d = first_diff(page_address(page), f->model + idx * PAGE_SIZE,
					   PAGE_SIZE)) >= 0) {
			atomic_fetch_add(&st.peek_fail, 1);
			fail_diag("t%u file%d (bs %u) uptodate page %" PRIu64 " size %" PRIu64
				  ": byte %" PRIu64 " is %#x, model %#x",
				  w->id, fi, 1U << f->tf.mapping.blkbits, idx, f->size,
				  idx * PAGE_SIZE + d, ((unsigned char *)page_address(page))[d],
				  f->model[idx * PAGE_SIZE + d]);
		}
		put_page(page);
	}
	pthread_rwlock_unlock(&f->lock);
}

static size_t write_len(struct worker *w)
{
	switch (rnd_below(&w->rng, 5)) {
	case 0:
	case 1:
		return 1 + rnd_below(&w->rng, 512);
	case 2:
	case 3:
		return 1 + rnd_below(&w->rng, 16384);
	default:
		return 16384 + rnd_below(&w->rng, 49152);
	}
}

static void op_write(struct worker *w, int fi)
{
	struct sfile *f = &files[fi];
	uint64_t pos = rnd_below(&w->rng, FILE_MAX);
	size_t len = write_len(w);
	ssize_t got;

	if (len > FILE_MAX - pos)
		len = FILE_MAX - pos;
	fill_random(&w->rng, w->buf, len);
	pthread_rwlock_wrlock(&f->lock);
	got = filemap_write(&f->tf.mapping, w->buf, len, pos);
	atomic_fetch_add(&st.writes, 1);
	if (got != (ssize_t)len) {
		atomic_fetch_add(&st.write_fail, 1);
		fail_diag("t%u file%d write pos %" PRIu64 " len %zu: returned %zd", w->id, fi, pos,
			  len, got);
	}
	if (got > 0) {
		memcpy(f->model + pos, w->buf, (size_t)got);
		if (pos + (uint64_t)got > f->size)
			f->size = pos + (uint64_t)got;
	}
	check_isize(w, fi, "write");
	pthread_rwlock_unlock(&f->lock);
}

/* Punch a hole inside the file: zero the range in the cache, free whole blocks. */
static void op_punch(struct worker *w, int fi)
{
	struct sfile *f = &files[fi];
	uint64_t start, len;
	int err;

	pthread_rwlock_wrlock(&f->lock);
	if (f->size == 0)
		goto out;
	start = rnd_below(&w->rng, f->size);
	len = 1 + rnd_below(&w->rng, rnd_below(&w->rng, 2) ? 4096 : 65536);
	if (len > f->size - start)
		len = f->size - start;
	err = filemap_zero_range(&f->tf.mapping, start, len);
	atomic_fetch_add(&st.punches, 1);
	if (err) {
		atomic_fetch_add(&st.punch_fail, 1);
		fail_diag("t%u file%d zero_range %" PRIu64 "+%" PRIu64 ": %d", w->id, fi, start,
			  len, err);
	} else {
		testfs_punch(&f->tf, start, len);
	}
	memset(f->model + start, 0, len);
	check_isize(w, fi, "punch");
out:
	pthread_rwlock_unlock(&f->lock);
}

static void op_trunc(struct worker *w, int fi)
{
	struct sfile *f = &files[fi];
	uint64_t newsize;
	int err;

	pthread_rwlock_wrlock(&f->lock);
	if (rnd_below(&w->rng, 3))
		newsize = rnd_below(&w->rng, f->size + 1); /* shrink (mostly) */
	else
		newsize = rnd_below(&w->rng, FILE_MAX + 1); /* anywhere, grow too */
	err = testfs_truncate(&f->tf, newsize);
	atomic_fetch_add(&st.truncs, 1);
	if (err) {
		atomic_fetch_add(&st.trunc_fail, 1);
		fail_diag("t%u file%d truncate %" PRIu64 " -> %" PRIu64 ": %d", w->id, fi, f->size,
			  newsize, err);
	} else {
		if (newsize < f->size)
			memset(f->model + newsize, 0, f->size - newsize);
		f->size = newsize;
	}
	check_isize(w, fi, "truncate");
	pthread_rwlock_unlock(&f->lock);
}

/* Write back without any file lock, racing writers, truncate and reclaim. */
static void op_sync(struct worker *w, int fi)
{
	struct address_space *m = &files[fi].tf.mapping;
	uint64_t start, end;
	int err;

	if (rnd_below(&w->rng, 2)) {
		err = filemap_write_and_wait(m);
	} else {
		start = rnd_below(&w->rng, FILE_MAX);
		end = start + rnd_below(&w->rng, 256 * 1024);
		err = filemap_write_and_wait_range(m, start, end);
	}
	atomic_fetch_add(&st.syncs, 1);
	if (err) {
		atomic_fetch_add(&st.sync_fail, 1);
		fail_diag("t%u file%d write_and_wait: %d", w->id, fi, err);
	}
}

/* bread a block and check it; now and then change it or write the region back. */
static void op_meta(struct worker *w)
{
	uint64_t b = rnd_below(&w->rng, META_BLOCKS), r = rnd_below(&w->rng, 10);
	unsigned char *want = meta_model + (b << META_BITS);
	struct buffer_head *bh;
	int err = 0;

	atomic_fetch_add(&st.metas, 1);
	if (r == 0) {
		pthread_rwlock_rdlock(&meta_lock);
		err = filemap_write_and_wait(&bdm);
		pthread_rwlock_unlock(&meta_lock);
		if (err) {
			atomic_fetch_add(&st.meta_fail, 1);
			fail_diag("t%u meta write_and_wait: %d", w->id, err);
		}
		return;
	}
	r < 4 ? pthread_rwlock_wrlock(&meta_lock) : pthread_rwlock_rdlock(&meta_lock);
	bh = bread(&bdm, META_BASE + b, &err);
	if (!bh) {
		atomic_fetch_add(&st.meta_fail, 1);
		fail_diag("t%u bread %" PRIu64 ": %d", w->id, META_BASE + b, err);
	} else if (memcmp(bh->b_data, want, 1U << META_BITS)) {
		atomic_fetch_add(&st.meta_fail, 1);
		fail_diag("t%u metadata block %" PRIu64 " differs from the model", w->id,
			  META_BASE + b);
	} else if (r < 4) {
		lock_buffer(bh);
		fill_random(&w->rng, want, 1U << META_BITS);
		memcpy(bh->b_data, want, 1U << META_BITS);
		mark_buffer_dirty(bh);
		unlock_buffer(bh);
	}
	if (bh)
		brelse(bh);
	pthread_rwlock_unlock(&meta_lock);
}

static void worker_step(struct worker *w)
{
	int fi = (int)rnd_below(&w->rng, NFILES);
	unsigned r = (unsigned)rnd_below(&w->rng, 100);
	enum op_kind op = r < 30   ? OP_READ
			  : r < 40 ? OP_SEQREAD
			  : r < 48 ? OP_PEEK
			  : r < 74 ? OP_WRITE
			  : r < 84 ? OP_PUNCH
			  : r < 90 ? OP_TRUNC
			  : r < 95 ? OP_META
				   : OP_SYNC;

	atomic_store(&w->cur_file, fi);
	atomic_store(&w->cur_op, op);
	switch (op) {
	case OP_READ:
		op_read(w, fi);
		break;
	case OP_SEQREAD:
		op_seqread(w, fi);
		break;
	case OP_PEEK:
		op_peek(w, fi);
		break;
	case OP_WRITE:
		op_write(w, fi);
		break;
	case OP_PUNCH:
		op_punch(w, fi);
		break;
	case OP_TRUNC:
		op_trunc(w, fi);
		break;
	case OP_META:
		op_meta(w);
		break;
	default:
		op_sync(w, fi);
		break;
	}
	atomic_store(&w->cur_op, OP_IDLE);
	atomic_fetch_add(&w->ops, 1);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < NFILES; i++)
		file_ra_state_init(&w->ra[i], &files[i].tf.mapping);
	while (!atomic_load(&stop_workers))
		worker_step(w);
	return NULL;
}

/* ---- watcher: memory limit, drop-clean pressure, stall detection ---- */

static uint64_t total_ops(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < nthreads; i++)
		n += atomic_load(&workers[i].ops);
	return n;
}

static void stall_bail(unsigned who)
{
	printf("# t%u made no progress for %d s; workers:\n", who, STALL_SECONDS);
	for (unsigned i = 0; i < nthreads; i++)
		printf("#   t%u: %s on file%d after %" PRIu64 " ops\n", i,
		       op_names[atomic_load(&workers[i].cur_op)], atomic_load(&workers[i].cur_file),
		       atomic_load(&workers[i].ops));
	BAIL("stress workers stalled (deadlock?)");
}

static void watch_sample(void)
{
	struct cache_mem mi;
	uint64_t old;

	cache_mem_info(fx.cache, &mi);
	old = atomic_load(&max_in_use);
	while (mi.pages_in_use > old &&
	       !atomic_compare_exchange_weak(&max_in_use, &old, mi.pages_in_use))
		;
	atomic_fetch_add(&samples, 1);
}

/* Bail out if a worker has been inside one operation for STALL_SECONDS. */
static void watch_progress(uint64_t *last_ops, double *last_change)
{
	double now = now_sec();
	uint64_t ops;

	for (unsigned i = 0; i < nthreads; i++) {
		ops = atomic_load(&workers[i].ops);
		if (ops != last_ops[i] || atomic_load(&workers[i].cur_op) == OP_IDLE) {
			last_ops[i] = ops;
			last_change[i] = now;
		} else if (now - last_change[i] > STALL_SECONDS) {
			stall_bail(i);
		}
	}
}

static void *watcher_main(void *arg)
{
	double last_drop = now_sec(), last_change[MAX_THREADS];
	uint64_t last_ops[MAX_THREADS] = {0};

	(void)arg;
	for (unsigned i = 0; i < MAX_THREADS; i++)
		last_change[i] = now_sec();
	while (!atomic_load(&stop_watcher)) {
		watch_sample();
		if (now_sec() - last_drop > 0.25) {
			cache_drop_clean(fx.cache);
			atomic_fetch_add(&drops_during, 1);
			last_drop = now_sec();
		}
		watch_progress(last_ops, last_change);
		usleep(200);
	}
	return NULL;
}

/* ---- setup, final checks, teardown ---- */

static void setup(void)
{
	struct fx_params p = {
		.dev_bytes = (uint64_t)NFILES * FILE_MAX + META_BYTES,
		.cache = {.pool_bytes = (uint64_t)MAX(POOL_PAGES, limit_pages) * PAGE_SIZE,
			  .limit_bytes = (uint64_t)limit_pages * PAGE_SIZE,
			  .ra_max_pages = 32,
			  .ra_threads = 2},
	};
	int err;

	fx_setup(&fx, &p);
	for (int i = 0; i < NFILES; i++) {
		struct sfile *f = &files[i];

		fx_file_init(&fx, &f->tf, file_blkbits[i], (uint64_t)i * FILE_MAX, FILE_MAX);
		f->model = calloc(1, FILE_MAX);
		if (!f->model)
			BAIL("out of memory");
		pthread_rwlock_init(&f->lock, NULL);
	}
	err = mapping_init_bdev(&bdm, fx.cache, fx.dev, META_BITS);
	meta_model = calloc(1, META_BYTES);
	if (err || !meta_model)
		BAIL("device mapping: %d", err);
}

/* Every allocated block holds the model's bytes; every hole is zero in the model. */
static uint64_t check_device(int fi)
{
	struct sfile *f = &files[fi];
	unsigned bs = 1U << f->tf.mapping.blkbits;
	unsigned char blk[4096];
	uint64_t bad = 0, nb = (f->size + bs - 1) / bs;
	size_t n;
	long d;

	for (uint64_t b = 0; b < nb; b++) {
		n = (b + 1) * bs <= f->size ? bs : (size_t)(f->size - b * bs);
		if (!f->tf.alloc[b]) {
			memset(blk, 0, bs);
		} else if (bdev_read(fx.dev, (f->tf.base + b) * bs, blk, bs)) {
			bad++;
			continue;
		}
		d = first_diff(blk, f->model + b * bs, n);
		if (d >= 0 && bad++ < 5)
			fail_diag("file%d (bs %u) %s block %" PRIu64 ": byte %" PRIu64
				  " is %#x, model %#x",
				  fi, bs, f->tf.alloc[b] ? "device" : "hole", b, b * bs + d, blk[d],
				  f->model[b * bs + d]);
	}
	return bad;
}

/* Read a whole file back through the cache (sequentially, with readahead). */
static uint64_t check_reread(int fi, unsigned char *buf)
{
	struct sfile *f = &files[fi];
	struct file_ra_state ra;
	uint64_t bad = 0, pos = 0;
	ssize_t got;
	long d;

	file_ra_state_init(&ra, &f->tf.mapping);
	for (;;) {
		got = filemap_read(&f->tf.mapping, &ra, buf, 65536, pos);
		if (got <= 0)
			break;
		d = first_diff(buf, f->model + pos, (size_t)got);
		if (d >= 0 && bad++ < 5)
			fail_diag("file%d reread: byte %" PRIu64 " is %#x, model %#x", fi, pos + d,
				  buf[d], f->model[pos + d]);
		pos += (uint64_t)got;
	}
	if (got < 0 || pos != f->size) {
		bad++;
		fail_diag("file%d reread ended at %" PRIu64 " (size %" PRIu64 ") with %zd", fi, pos,
			  f->size, got);
	}
	return bad;
}

/* The device region of the device mapping holds the metadata model. */
static uint64_t check_meta_device(void)
{
	unsigned char *buf = malloc(META_BYTES);
	uint64_t bad;

	if (!buf || bdev_read(fx.dev, META_BASE << META_BITS, buf, META_BYTES))
		BAIL("reading the metadata region");
	bad = memcmp(buf, meta_model, META_BYTES) != 0;
	free(buf);
	return bad;
}

/* Every metadata block read through bread matches the model. */
static uint64_t check_meta_bread(void)
{
	struct buffer_head *bh;
	uint64_t bad = 0;
	int err;

	for (uint64_t b = 0; b < META_BLOCKS; b++) {
		bh = bread(&bdm, META_BASE + b, &err);
		if (!bh || memcmp(bh->b_data, meta_model + (b << META_BITS), 1U << META_BITS))
			bad++;
		if (bh)
			brelse(bh);
	}
	return bad;
}

static void check_final_writeback(void)
{
	uint64_t bad = 0, dirty = 0;
	int err, errs = 0;
	errseq_t since;

	for (int i = 0; i < NFILES; i++) {
		since = 0;
		err = filemap_write_and_wait(&files[i].tf.mapping);
		if (err && errs++ < 5)
			fail_diag("final write_and_wait file%d: %d", i, err);
		if (file_check_and_advance_wb_err(&since, &files[i].tf.mapping))
			errs++;
		dirty += atomic_load(&files[i].tf.mapping.nrdirty);
	}
	if (filemap_write_and_wait(&bdm))
		errs++;
	dirty += atomic_load(&bdm.nrdirty);
	is_int(errs, 0,
	       "final write_and_wait of every file and the device mapping succeeds, no error");
	is_u64(dirty, 0, "no mapping has dirty pages after write_and_wait");
	is_u64(cache_stat(fx.cache, NR_DIRTY), 0, "NR_DIRTY is 0");
	is_u64(cache_stat(fx.cache, NR_WRITEBACK), 0, "NR_WRITEBACK is 0");
	for (int i = 0; i < NFILES; i++)
		bad += check_device(i);
	is_u64(bad, 0, "the device holds the model of every file (allocated blocks and holes)");
	is_u64(check_meta_device(), 0, "the device holds the metadata model");
}

static void check_final_reread(void)
{
	unsigned char *buf = malloc(65536);
	struct cache_mem mi;
	uint64_t bad = 0;
	unsigned long dropped;

	if (!buf)
		BAIL("out of memory");
	dropped = cache_drop_clean(fx.cache);
	cache_mem_info(fx.cache, &mi);
	diag("final cache_drop_clean freed %lu pages", dropped);
	is_u64(mi.pages_in_use, 0, "cache_drop_clean leaves no page in use (all were clean)");
	is_u64(cache_stat(fx.cache, NR_FILE_PAGES), 0, "NR_FILE_PAGES is 0 after drop_clean");
	for (int i = 0; i < NFILES; i++)
		bad += check_reread(i, buf);
	is_u64(bad, 0, "every file read back from the device matches its model");
	is_u64(check_meta_bread(), 0, "every metadata block read back with bread matches");
	free(buf);
}

static void check_counters(void)
{
	uint64_t s[NR_CACHE_STATS];
	static const enum cache_stat_item shown[] = {
		PGSCAN_KSWAPD,	   PGSCAN_DIRECT,      PGSTEAL_KSWAPD,	    PGSTEAL_DIRECT,
		ALLOCSTALL,	   PGACTIVATE,	       PGDEACTIVATE,	    PGREADAHEAD,
		PGREADAHEAD_ASYNC, CACHE_HITS,	       CACHE_MISSES,	    NR_DIRTIED,
		NR_WRITTEN,	   WORKINGSET_REFAULT, WORKINGSET_ACTIVATE, PGPGIN,
		PGPGOUT,	   PGWRITE_SYNC,       PGWRITE_RECLAIM,	    WB_ERRORS,
		READ_ERRORS,
	};

	cache_stats_snapshot(fx.cache, s);
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		diag("%-22s %" PRIu64, cache_stat_name(shown[i]), s[shown[i]]);
	ok(s[PGSCAN_KSWAPD] > 0, "the background reclaimer scanned pages (PGSCAN_KSWAPD)");
	ok(s[PGSTEAL_KSWAPD] > 0, "the background reclaimer freed pages (PGSTEAL_KSWAPD)");
	ok(s[PGSCAN_KSWAPD] >= s[PGSTEAL_KSWAPD] && s[PGSCAN_DIRECT] >= s[PGSTEAL_DIRECT],
	   "pages stolen never exceed pages scanned");
	ok(s[PGREADAHEAD] > 0, "readahead read pages (PGREADAHEAD)");
	ok(s[CACHE_HITS] > 0, "reads hit the cache (CACHE_HITS)");
	ok(s[CACHE_MISSES] > 0, "reads missed the cache (CACHE_MISSES)");
	ok(s[NR_WRITTEN] > 0, "pages were written back (NR_WRITTEN)");
	ok(s[WORKINGSET_REFAULT] > 0, "evicted pages refaulted (WORKINGSET_REFAULT)");
	is_u64(s[WB_ERRORS], 0, "no write-back error on a healthy device");
	is_u64(s[READ_ERRORS], 0, "no read error on a healthy device");
}

static void teardown(void)
{
	struct cache_mem mi;

	for (int i = 0; i < NFILES; i++) {
		testfile_destroy(&files[i].tf);
		pthread_rwlock_destroy(&files[i].lock);
		free(files[i].model);
	}
	mapping_destroy(&bdm);
	free(meta_model);
	rcu_barrier();
	cache_mem_info(fx.cache, &mi);
	is_u64(mi.pages_in_use, 0, "teardown: no page in use");
	is_u64(mi.buffer_heads, 0, "teardown: no buffer head");
	is_u64(mi.mappings, 0, "teardown: no mapping");
	is_u64(mi.xa_nodes, 0, "teardown: no xarray node");
	is_u64(mi.metadata_bytes, 0, "teardown: no metadata bytes");
	fx_destroy(&fx);
	rcu_barrier();
	is_int(xa_nodes_live(), 0, "no xarray node alive after cache_destroy and rcu_barrier");
}

static void run_workers(double seconds, uint64_t seed)
{
	double t0 = now_sec();

	if (pthread_create(&watcher, NULL, watcher_main, NULL))
		BAIL("pthread_create");
	for (unsigned i = 0; i < nthreads; i++) {
		workers[i].id = i;
		workers[i].rng = seed + 0x9E3779B97F4A7C15ULL * (i + 1);
		workers[i].buf = malloc(BUF_BYTES);
		if (!workers[i].buf ||
		    pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]))
			BAIL("worker setup");
	}
	while (now_sec() - t0 < seconds)
		usleep(50000);
	atomic_store(&stop_workers, true);
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(workers[i].thread, NULL);
		free(workers[i].buf);
	}
	diag("%" PRIu64 " operations in %.1f s: reads %" PRIu64 " peeks %" PRIu64 " writes %" PRIu64
	     " punches %" PRIu64 " truncates %" PRIu64 " syncs %" PRIu64 " meta %" PRIu64,
	     total_ops(), now_sec() - t0, st.reads, st.peeks, st.writes, st.punches, st.truncs,
	     st.syncs, st.metas);
}

static void check_worker_results(void)
{
	is_u64(st.read_fail, 0, "%" PRIu64 " reads returned the model's length and bytes",
	       (uint64_t)st.reads);
	is_u64(st.peek_fail, 0, "%" PRIu64 " cached pages had the right identity and bytes",
	       (uint64_t)st.peeks);
	is_u64(st.write_fail, 0, "%" PRIu64 " writes returned their full length",
	       (uint64_t)st.writes);
	is_u64(st.punch_fail, 0, "%" PRIu64 " filemap_zero_range calls returned 0",
	       (uint64_t)st.punches);
	is_u64(st.trunc_fail, 0, "%" PRIu64 " truncates returned 0", (uint64_t)st.truncs);
	is_u64(st.sync_fail, 0, "%" PRIu64 " concurrent write_and_wait calls returned 0",
	       (uint64_t)st.syncs);
	is_u64(st.size_fail, 0, "i_size followed the model after every operation");
	is_u64(st.meta_fail, 0,
	       "%" PRIu64 " metadata operations (bread/modify/write-back) were right",
	       (uint64_t)st.metas);
	ok(st.reads > 0 && st.writes > 0 && st.punches > 0 && st.truncs > 0 && st.syncs > 0 &&
		   st.metas > 0,
	   "every kind of operation ran");
}

static void on_alarm(int sig)
{
	static const char msg[] = "Bail out! stress test timed out\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

int main(void)
{
	double seconds = (double)env_ulong("STRESS_SECONDS", 8);
	uint64_t seed = env_ulong("STRESS_SEED", (unsigned long)time(NULL));

	nthreads = (unsigned)env_ulong("STRESS_THREADS", 4);
	limit_pages = env_ulong("STRESS_LIMIT", LIMIT_PAGES);
	if (nthreads < 1 || nthreads > MAX_THREADS)
		BAIL("STRESS_THREADS must be 1..%d", MAX_THREADS);
	signal(SIGALRM, on_alarm);
	alarm((unsigned)seconds * 4 + 300);
	diag("seed %" PRIu64 " (STRESS_SEED), %u threads, %.0f s, limit %lu pages, pool %lu", seed,
	     nthreads, seconds, limit_pages, MAX(POOL_PAGES, limit_pages));
	setup();
	run_workers(seconds, seed);
	check_worker_results();
	check_final_writeback();
	atomic_store(&stop_watcher, true);
	pthread_join(watcher, NULL);
	diag("watcher: %" PRIu64 " samples, max pages in use %" PRIu64 ", %" PRIu64
	     " drop_clean calls",
	     (uint64_t)samples, (uint64_t)max_in_use, (uint64_t)drops_during);
	ok(samples > 0 && max_in_use <= limit_pages + RESERVE_PAGES,
	   "pages in use never above the limit (%lu) plus the reserve (%d): max %" PRIu64,
	   limit_pages, RESERVE_PAGES, (uint64_t)max_in_use);
	check_final_reread();
	check_counters();
	teardown();
	return done_testing();
}
