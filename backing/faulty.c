/*
 * backing/faulty.c - a fault-injecting wrapper around another device.
 *
 * Interface: bdev_faulty_create() and the faulty_*() knobs (backing/bdev.h,
 * which also says which request kinds each knob sees).
 *
 * Injected faults: -EIO on byte ranges per request kind; -EIO after N more
 * successful requests of a kind; a torn write (only its first k logical blocks
 * land); latency before every request; a crash point that rolls the lower
 * device back to its state at the last flush and fails everything afterwards;
 * silent corruption (test-only: every Nth write lands with one byte flipped,
 * through a bounce copy, and reports success).
 *
 * bdev_faulty_wrap() flags: FAULTY_BORROW leaves the lower device open at
 * close (the daemon wraps only the file-data path of a device it keeps using
 * for metadata); FAULTY_NO_UNDO keeps no undo log, so a write costs no extra
 * read and no memory, at the price of a crash point that restores nothing.
 *
 * The crash rollback keeps an undo log: before a write reaches the lower device
 * the old contents of its range are read from the lower device and appended to
 * the log; a successful flush empties it; a crash writes the entries back
 * newest-first, so every byte returns to what it held at the last flush.
 *
 * Locks (outer to inner): io_lock, then lock. io_lock serialises writes,
 * flushes, discards, the crash rollback and reset, which keeps "read old
 * contents, then write" atomic for the undo log. lock guards the knobs and is
 * held only briefly, never across I/O. Reads take only lock, briefly. Latency
 * is slept before any lock is taken.
 */
#include "config.h"

#include "backing/bdev.h"
#include "backing/internal.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAULTY_IOV_STACK 16

struct faulty_range {
	uint64_t off, len; /* failing bytes [off, off+len) */
	unsigned ops;	   /* FAULTY_READ and/or FAULTY_WRITE bits */
};

struct faulty_undo {
	uint64_t off; /* where the write went */
	uint64_t len; /* its length */
	void *old;    /* what the lower device held there before */
};

/* A fail_after reservation, given back if the lower device fails the request. */
struct faulty_ticket {
	unsigned gen; /* knob generation when taken */
	bool took[4]; /* which countdowns (by enum faulty_op) were decremented */
};

struct faulty {
	struct bdev bdev;   /* the wrapper; bdev.priv points back here */
	struct bdev *lower; /* fixed */
	unsigned flags;	    /* FAULTY_BORROW, FAULTY_NO_UNDO; fixed */
	_Atomic unsigned latency_us;
	_Atomic uint64_t injected;
	_Atomic uint64_t corrupted; /* writes landed with a flipped byte */

	pthread_mutex_t io_lock; /* protects the undo log below */
#ifdef FOLIO_DEBUG
	pthread_t io_owner; /* holder of io_lock, for assertions */
	bool io_held;
#endif
	struct faulty_undo *undo;
	size_t nundo, undo_cap;

	pthread_mutex_t lock; /* protects everything below */
	struct faulty_range *ranges;
	size_t nranges, ranges_cap;
	long left[4];	      /* fail_after countdowns by enum faulty_op; -1 off */
	unsigned gen;	      /* bumped whenever the countdowns are set */
	uint32_t tear_blocks; /* torn-write knob; 0 off */
	long crash_left;      /* writes until the crash; -1 disarmed */
	bool crashed;
	unsigned corrupt_every; /* corrupt every Nth write; 0 off */
	unsigned corrupt_left;	/* writes until the next corrupted one */
};

static struct faulty *faulty_of(struct bdev *bdev)
{
	return bdev->priv;
}

static void faulty_io_lock(struct faulty *f)
{
	pthread_mutex_lock(&f->io_lock);
#ifdef FOLIO_DEBUG
	f->io_owner = pthread_self();
	f->io_held = true;
#endif
}

static void faulty_io_unlock(struct faulty *f)
{
#ifdef FOLIO_DEBUG
	f->io_held = false;
#endif
	pthread_mutex_unlock(&f->io_lock);
}

static void faulty_assert_io_locked(struct faulty *f)
{
#ifdef FOLIO_DEBUG
	assert(f->io_held && pthread_equal(f->io_owner, pthread_self()));
#endif
}

static void faulty_delay(struct faulty *f)
{
	unsigned us = atomic_load_explicit(&f->latency_us, memory_order_relaxed);
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};

	if (!us)
		return;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int faulty_inject(struct faulty *f)
{
	atomic_fetch_add_explicit(&f->injected, 1, memory_order_relaxed);
	return -EIO;
}

static bool faulty_hits_range(struct faulty *f, enum faulty_op op, uint64_t off, uint64_t len)
{
	for (size_t i = 0; i < f->nranges; i++) {
		const struct faulty_range *r = &f->ranges[i];

		if ((r->ops & op) && off < r->off + r->len && r->off < off + len)
			return true;
	}
	return false;
}

/*
 * Decide whether a read or write of [off, off+len) may go on. On success
 * reserves one slot of each running countdown in @t.
 */
static int faulty_admit(struct faulty *f, enum faulty_op op, uint64_t off, uint64_t len,
			struct faulty_ticket *t)
{
	int ret = 0;

	memset(t, 0, sizeof(*t));
	pthread_mutex_lock(&f->lock);
	if (f->crashed || faulty_hits_range(f, op, off, len) || !f->left[op] ||
	    !f->left[FAULTY_ANY]) {
		ret = faulty_inject(f);
		goto out;
	}
	t->gen = f->gen;
	t->took[op] = f->left[op] > 0;
	t->took[FAULTY_ANY] = f->left[FAULTY_ANY] > 0;
	f->left[op] -= t->took[op];
	f->left[FAULTY_ANY] -= t->took[FAULTY_ANY];
out:
	pthread_mutex_unlock(&f->lock);
	return ret;
}

/* Give back the slots of a request that did not succeed. */
static void faulty_unreserve(struct faulty *f, const struct faulty_ticket *t)
{
	pthread_mutex_lock(&f->lock);
	if (t->gen == f->gen) {
		for (int i = 0; i < 4; i++)
			f->left[i] += t->took[i];
	}
	pthread_mutex_unlock(&f->lock);
}

/* -EIO (counted) when crashed, else 0: the gate for flush and discard. */
static int faulty_check_crashed(struct faulty *f)
{
	bool crashed;

	pthread_mutex_lock(&f->lock);
	crashed = f->crashed;
	pthread_mutex_unlock(&f->lock);
	return crashed ? faulty_inject(f) : 0;
}

static int faulty_readv(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct faulty *f = faulty_of(bdev);
	struct faulty_ticket t;
	uint64_t len;
	int ret = bdev_iov_len(iov, iovcnt, &len);

	if (ret)
		return ret;
	faulty_delay(f);
	ret = faulty_admit(f, FAULTY_READ, off, len, &t);
	if (ret)
		return ret;
	ret = bdev_readv(f->lower, off, iov, iovcnt);
	if (ret)
		faulty_unreserve(f, &t);
	return ret;
}

/* Drop every undo entry (after a flush or a rollback). */
static void __faulty_undo_clear(struct faulty *f)
{
	faulty_assert_io_locked(f);
	for (size_t i = 0; i < f->nundo; i++)
		free(f->undo[i].old);
	f->nundo = 0;
}

/* Save what the lower device holds at [off, off+len) before it is written. */
static int __faulty_undo_log(struct faulty *f, uint64_t off, uint64_t len)
{
	size_t align = f->lower->dio_align > sizeof(void *) ? f->lower->dio_align : sizeof(void *);
	struct faulty_undo *e;
	void *old;
	int ret;

	faulty_assert_io_locked(f);
	if (f->flags & FAULTY_NO_UNDO)
		return 0;
	if (f->nundo == f->undo_cap) {
		size_t cap = f->undo_cap ? 2 * f->undo_cap : 16;

		e = realloc(f->undo, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		f->undo = e;
		f->undo_cap = cap;
	}
	if (len > SIZE_MAX || posix_memalign(&old, align, (size_t)len))
		return -ENOMEM;
	ret = bdev_read(f->lower, off, old, (size_t)len);
	if (ret) {
		free(old);
		return ret;
	}
	f->undo[f->nundo++] = (struct faulty_undo){.off = off, .len = len, .old = old};
	return 0;
}

/* Put every logged range back, newest first, and make that durable. */
static void __faulty_rollback(struct faulty *f)
{
	int ret = 0;

	faulty_assert_io_locked(f);
	for (size_t i = f->nundo; i-- > 0;) {
		const struct faulty_undo *e = &f->undo[i];

		ret = bdev_write(f->lower, e->off, e->old, (size_t)e->len) ?: ret;
	}
	ret = bdev_flush(f->lower) ?: ret;
	if (ret)
		fprintf(stderr, "foliofs: %s: crash rollback failed: %s\n", f->bdev.name,
			strerror(-ret));
	__faulty_undo_clear(f);
}

/* Mark the device crashed, then roll it back. */
static void __faulty_crash(struct faulty *f)
{
	faulty_assert_io_locked(f);
	pthread_mutex_lock(&f->lock);
	f->crashed = true;
	f->crash_left = -1;
	pthread_mutex_unlock(&f->lock);
	__faulty_rollback(f);
}

/* Blocks a write of @nblocks keeps if it is to be torn now, else 0 (consumed). */
static uint32_t faulty_take_tear(struct faulty *f, uint64_t nblocks)
{
	uint32_t keep = 0;

	pthread_mutex_lock(&f->lock);
	if (f->tear_blocks && nblocks > f->tear_blocks) {
		keep = f->tear_blocks;
		f->tear_blocks = 0;
	}
	pthread_mutex_unlock(&f->lock);
	return keep;
}

/* True when this write (which reached the lower device) is the crash point. */
static bool faulty_count_write(struct faulty *f)
{
	bool crash = false;

	pthread_mutex_lock(&f->lock);
	if (f->crash_left > 0 && --f->crash_left == 0)
		crash = true;
	pthread_mutex_unlock(&f->lock);
	return crash;
}

/* Write only the first @keep bytes of @iov to the lower device, then fail. */
static int faulty_torn_write(struct faulty *f, uint64_t off, const struct iovec *iov, int iovcnt,
			     uint64_t keep)
{
	struct iovec stack[FAULTY_IOV_STACK], *v = stack;
	int n = 0, ret;

	if (iovcnt > FAULTY_IOV_STACK) {
		v = malloc(sizeof(*v) * iovcnt);
		if (!v)
			return -ENOMEM;
	}
	for (; keep && n < iovcnt; n++) {
		v[n] = iov[n];
		if (v[n].iov_len > keep)
			v[n].iov_len = keep;
		keep -= v[n].iov_len;
	}
	ret = bdev_writev(f->lower, off, v, n);
	if (v != stack)
		free(v);
	return ret ?: faulty_inject(f);
}

/* True when this write is to be corrupted (counts it toward corrupt_every). */
static bool faulty_take_corrupt(struct faulty *f)
{
	bool corrupt = false;

	pthread_mutex_lock(&f->lock);
	if (f->corrupt_every && --f->corrupt_left == 0) {
		corrupt = true;
		f->corrupt_left = f->corrupt_every;
	}
	pthread_mutex_unlock(&f->lock);
	return corrupt;
}

/* Write a copy of @iov with its middle byte flipped; @iov itself is untouched. */
static int faulty_corrupt_write(struct faulty *f, uint64_t off, const struct iovec *iov, int iovcnt,
				uint64_t len)
{
	size_t align = f->lower->dio_align > sizeof(void *) ? f->lower->dio_align : sizeof(void *);
	unsigned char *copy, *p;
	int ret;

	if (len > SIZE_MAX || posix_memalign((void **)&copy, align, (size_t)len))
		return -ENOMEM;
	p = copy;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	copy[len / 2] ^= 0xff;
	ret = bdev_write(f->lower, off, copy, (size_t)len);
	free(copy);
	if (!ret)
		atomic_fetch_add_explicit(&f->corrupted, 1, memory_order_relaxed);
	return ret;
}

/* The write path once admitted: log, write (or tear), count toward the crash. */
static int __faulty_write(struct faulty *f, uint64_t off, const struct iovec *iov, int iovcnt,
			  uint64_t len)
{
	uint32_t keep;
	int ret;

	faulty_assert_io_locked(f);
	ret = __faulty_undo_log(f, off, len);
	if (ret)
		return ret;
	keep = faulty_take_tear(f, len / f->bdev.lbs);
	if (keep)
		ret = faulty_torn_write(f, off, iov, iovcnt, (uint64_t)keep * f->bdev.lbs);
	else if (len && faulty_take_corrupt(f))
		ret = faulty_corrupt_write(f, off, iov, iovcnt, len);
	else
		ret = bdev_writev(f->lower, off, iov, iovcnt);
	if (faulty_count_write(f))
		__faulty_crash(f);
	return ret;
}

static int faulty_writev(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct faulty *f = faulty_of(bdev);
	struct faulty_ticket t;
	uint64_t len;
	int ret = bdev_iov_len(iov, iovcnt, &len);

	if (ret)
		return ret;
	if (off % bdev->lbs || len % bdev->lbs || off > bdev->size || len > bdev->size - off)
		return bdev_writev(f->lower, off, iov, iovcnt); /* the lower device's error */
	faulty_delay(f);
	faulty_io_lock(f);
	ret = faulty_admit(f, FAULTY_WRITE, off, len, &t);
	if (!ret) {
		ret = __faulty_write(f, off, iov, iovcnt, len);
		if (ret)
			faulty_unreserve(f, &t);
	}
	faulty_io_unlock(f);
	return ret;
}

static int faulty_flush(struct bdev *bdev)
{
	struct faulty *f = faulty_of(bdev);
	int ret;

	faulty_delay(f);
	faulty_io_lock(f);
	ret = faulty_check_crashed(f);
	if (!ret)
		ret = bdev_flush(f->lower);
	if (!ret)
		__faulty_undo_clear(f);
	faulty_io_unlock(f);
	return ret;
}

static int faulty_discard(struct bdev *bdev, uint64_t off, uint64_t len)
{
	struct faulty *f = faulty_of(bdev);
	int ret;

	faulty_delay(f);
	faulty_io_lock(f);
	ret = faulty_check_crashed(f);
	if (!ret)
		ret = bdev_discard(f->lower, off, len);
	faulty_io_unlock(f);
	return ret;
}

static void faulty_close(struct bdev *bdev)
{
	struct faulty *f = faulty_of(bdev);

	faulty_io_lock(f);
	__faulty_undo_clear(f);
	faulty_io_unlock(f);
	free(f->undo);
	free(f->ranges);
	pthread_mutex_destroy(&f->lock);
	pthread_mutex_destroy(&f->io_lock);
	if (!(f->flags & FAULTY_BORROW))
		bdev_close(f->lower);
	free(f);
}

static const struct bdev_ops faulty_ops = {
	.readv = faulty_readv,
	.writev = faulty_writev,
	.flush = faulty_flush,
	.discard = faulty_discard,
	.close = faulty_close,
};

/* Every knob off; caller holds f->lock or owns @f alone. */
static void __faulty_knobs_off(struct faulty *f)
{
	f->nranges = 0;
	for (int i = 0; i < 4; i++)
		f->left[i] = -1;
	f->gen++;
	f->tear_blocks = 0;
	f->crash_left = -1;
	f->crashed = false;
	f->corrupt_every = 0;
	atomic_store(&f->latency_us, 0);
}

/**
 * bdev_faulty_create - wrap a device in a fault injector
 * @lower: the device underneath; the wrapper owns it from now on
 * @out: receives the wrapper device (same size, lbs and dio_align as @lower)
 * @ctl: receives the handle the faulty_*() knobs take; may be NULL
 *
 * Context: any thread.
 * Return: 0, -ENOMEM, or an error from mutex setup. On failure @lower stays
 * the caller's.
 */
int bdev_faulty_create(struct bdev *lower, struct bdev **out, struct faulty **ctl)
{
	return bdev_faulty_wrap(lower, 0, out, ctl);
}

/**
 * bdev_faulty_wrap - wrap a device in a fault injector, with flags
 * @lower: the device underneath; owned by the wrapper unless FAULTY_BORROW
 * @flags: FAULTY_BORROW, FAULTY_NO_UNDO (backing/bdev.h)
 * @out: receives the wrapper device (same size, lbs and dio_align as @lower)
 * @ctl: receives the handle the faulty_*() knobs take; may be NULL
 *
 * Context: any thread.
 * Return: 0, -EINVAL for unknown flags, -ENOMEM, or an error from mutex setup.
 * On failure @lower stays the caller's.
 */
int bdev_faulty_wrap(struct bdev *lower, unsigned flags, struct bdev **out, struct faulty **ctl)
{
	struct faulty *f;
	int ret;

	if (flags & ~(unsigned)(FAULTY_BORROW | FAULTY_NO_UNDO))
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->flags = flags;
	ret = bdev_mutex_init(&f->io_lock);
	if (ret)
		goto fail_free;
	ret = bdev_mutex_init(&f->lock);
	if (ret)
		goto fail_io_lock;
	__faulty_knobs_off(f);
	f->lower = lower;
	f->bdev.ops = &faulty_ops;
	f->bdev.size = lower->size;
	f->bdev.lbs = lower->lbs;
	f->bdev.dio_align = lower->dio_align;
	f->bdev.name = lower->name;
	f->bdev.priv = f;
	*out = &f->bdev;
	if (ctl)
		*ctl = f;
	return 0;
fail_io_lock:
	pthread_mutex_destroy(&f->io_lock);
fail_free:
	free(f);
	return ret;
}

/**
 * faulty_fail_range - fail requests touching a byte range
 * @f: the injector
 * @op: FAULTY_READ, FAULTY_WRITE or FAULTY_ANY
 * @off: first failing byte
 * @len: number of failing bytes, not 0
 *
 * Every later request of kind @op overlapping [off, off+len) fails with -EIO
 * until faulty_clear_ranges() or faulty_reset().
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a bad @op or range, -ENOMEM.
 */
int faulty_fail_range(struct faulty *f, enum faulty_op op, uint64_t off, uint64_t len)
{
	int ret = 0;

	if (op < FAULTY_READ || op > FAULTY_ANY || !len || off > UINT64_MAX - len)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	if (f->nranges == f->ranges_cap) {
		size_t cap = f->ranges_cap ? 2 * f->ranges_cap : 8;
		struct faulty_range *r = realloc(f->ranges, cap * sizeof(*r));

		if (!r) {
			ret = -ENOMEM;
			goto out;
		}
		f->ranges = r;
		f->ranges_cap = cap;
	}
	f->ranges[f->nranges++] = (struct faulty_range){.off = off, .len = len, .ops = op};
out:
	pthread_mutex_unlock(&f->lock);
	return ret;
}

/**
 * faulty_clear_ranges - forget every failing range
 * @f: the injector
 *
 * Context: any thread.
 */
void faulty_clear_ranges(struct faulty *f)
{
	pthread_mutex_lock(&f->lock);
	f->nranges = 0;
	pthread_mutex_unlock(&f->lock);
}

/**
 * faulty_fail_after - fail requests of a kind after some more succeed
 * @f: the injector
 * @op: FAULTY_READ, FAULTY_WRITE or FAULTY_ANY (counts reads and writes)
 * @n: how many more may succeed; < 0 turns this countdown off
 *
 * Context: any thread. A bad @op is ignored.
 */
void faulty_fail_after(struct faulty *f, enum faulty_op op, long n)
{
	if (op < FAULTY_READ || op > FAULTY_ANY)
		return;
	pthread_mutex_lock(&f->lock);
	f->left[op] = n < 0 ? -1 : n;
	f->gen++;
	pthread_mutex_unlock(&f->lock);
}

/**
 * faulty_tear_next_write - tear the next write longer than @blocks blocks
 * @f: the injector
 * @blocks: logical blocks that land before the write fails; 0 disarms
 *
 * Context: any thread.
 */
void faulty_tear_next_write(struct faulty *f, uint32_t blocks)
{
	pthread_mutex_lock(&f->lock);
	f->tear_blocks = blocks;
	pthread_mutex_unlock(&f->lock);
}

/**
 * faulty_set_latency - delay every later request
 * @f: the injector
 * @usec: microseconds slept before each request; 0 for none
 *
 * Context: any thread.
 */
void faulty_set_latency(struct faulty *f, unsigned usec)
{
	atomic_store_explicit(&f->latency_us, usec, memory_order_relaxed);
}

/**
 * faulty_crash_after - arm the crash point
 * @f: the injector
 * @n: writes still to reach the lower device; 0 crashes now; < 0 disarms
 *
 * Context: any thread but a faulty request path; with @n == 0 waits for
 * in-flight writes and performs the rollback before returning.
 */
void faulty_crash_after(struct faulty *f, long n)
{
	if (n == 0) {
		faulty_io_lock(f);
		__faulty_crash(f);
		faulty_io_unlock(f);
		return;
	}
	pthread_mutex_lock(&f->lock);
	f->crash_left = n < 0 ? -1 : n;
	pthread_mutex_unlock(&f->lock);
}

/**
 * faulty_crashed - tell whether the crash point has fired
 * @f: the injector
 *
 * Context: any thread.
 * Return: true from the crash until faulty_reset().
 */
bool faulty_crashed(struct faulty *f)
{
	bool crashed;

	pthread_mutex_lock(&f->lock);
	crashed = f->crashed;
	pthread_mutex_unlock(&f->lock);
	return crashed;
}

/**
 * faulty_reset - turn every fault off and leave the crashed state
 * @f: the injector
 *
 * Keeps faulty_injected() and the undo log (writes since the last flush stay
 * undoable).
 *
 * Context: any thread; waits for in-flight writes, flushes and discards.
 */
void faulty_reset(struct faulty *f)
{
	faulty_io_lock(f);
	pthread_mutex_lock(&f->lock);
	__faulty_knobs_off(f);
	pthread_mutex_unlock(&f->lock);
	faulty_io_unlock(f);
}

/**
 * faulty_injected - count requests failed by injection
 * @f: the injector
 *
 * Context: any thread.
 * Return: the number since creation, torn writes included.
 */
uint64_t faulty_injected(struct faulty *f)
{
	return atomic_load_explicit(&f->injected, memory_order_relaxed);
}

/**
 * faulty_corrupt_writes - silently corrupt every Nth write (test-only)
 * @f: the injector
 * @n: corrupt writes n, 2n, 3n, ... from now on; 0 turns it off
 *
 * A corrupted write lands with the byte in the middle of the request XORed
 * with 0xff and returns 0, as a device that garbles data would; the caller's
 * buffers are not changed.
 *
 * Context: any thread.
 */
void faulty_corrupt_writes(struct faulty *f, unsigned n)
{
	pthread_mutex_lock(&f->lock);
	f->corrupt_every = n;
	f->corrupt_left = n;
	pthread_mutex_unlock(&f->lock);
}

/**
 * faulty_corrupted - count writes corrupted by faulty_corrupt_writes()
 * @f: the injector
 *
 * Context: any thread.
 * Return: the number since creation.
 */
uint64_t faulty_corrupted(struct faulty *f)
{
	return atomic_load_explicit(&f->corrupted, memory_order_relaxed);
}
