/*
 * fs/journal.c - the metadata journal: transactions, commit, checkpoint and
 * the replay at mount (jbd2's ordered mode; docs/ON-DISK.md section 14 is
 * the format, docs/DESIGN.md "The journal" the rules).
 *
 * Interface (fs/fs.h, "journal.c"): fs_journal_replay, fs_journal_start,
 * fs_journal_stop, fs_tx_begin, fs_tx_end, fs_journal_dirty,
 * fs_journal_forget, fs_journal_free, fs_journal_busy, fs_journal_ordered,
 * fs_journal_commit, fs_journal_checkpoint, fs_journal_retry_enospc,
 * fs_journal_stats.
 *
 * Handles and transactions. Every change of metadata happens inside a handle
 * (fs_tx_begin .. fs_tx_end, nestable per thread); a handle holds tx_lock
 * shared, so a commit, which takes it exclusively for a moment, sees every
 * operation whole. Each metadata block changed joins the running
 * transaction (fs_journal_dirty) and is pinned: writeback leaves it alone
 * until the transaction that last changed it is committed. A commit takes
 * tx_lock exclusively, makes the running transaction the committing one and
 * copies its blocks ("frozen" copies, so later handles may change them at
 * once), opens a new running transaction and lets handles go on; then,
 * without tx_lock, it writes the data of files that got new blocks in the
 * transaction (ordered mode), writes descriptor, copy and revoke blocks to
 * the log, then the commit block, and flushes (with a flush before the
 * commit block as well when there was ordered data, so that data is on the
 * device before the commit that makes it reachable). Then it unpins the
 * blocks no later transaction changed, and the blocks the transaction freed
 * may be allocated again.
 *
 * Log space. The log runs from the tail (j_start, the oldest transaction not
 * checkpointed) to the head. A checkpoint writes every metadata block home,
 * flushes and empties the log; it holds tx_lock exclusively (commits the
 * running transaction first, so no block is pinned) and runs when a handle
 * would start with the log more than half used, at sync and at unmount. A
 * transaction is kept under a quarter of the log: a handle that finds the
 * running one that large commits it first.
 *
 * Read-only. After corruption (errors=remount-ro) or an abort the journal
 * commits nothing more; fs_journal_commit and fs_journal_checkpoint then
 * fail with -EIO while a change is left uncommitted (always after an abort),
 * so no fsync reports success for it, and return 0 when nothing is.
 *
 * Lock order: i_rwsem -> a mapping's invalidate_lock -> tx_lock (a handle)
 * -> page lock -> the fs locks (ext_mutex, group locks, ...) -> buffer locks
 * -> j->lock (leaf). commit_mutex is taken with no handle held (fsync, the
 * commit thread, a handle start that must make room) and before tx_lock.
 * Nothing waits for a handle to start while it holds a page lock.
 *
 * Invariants:
 *  J1. A block is BH_Pinned iff it has a jbuf whose tid is above
 *      committed_tid (changed by an uncommitted transaction).
 *  J2. running->tid == committed_tid + 1 outside a commit; during one, the
 *      committing transaction has tid committed_tid + 1 and running the next.
 *  J3. used == the log blocks from the tail to the head; j_start on the
 *      device is 0 exactly when used == 0 there.
 *  J4. A busy extent's blocks are free in the bitmap but not allocated again
 *      until its transaction is committed.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "format/crc32c.h"
#include "format/journal.h"
#include "fs/fs.h"

#define JOURNAL_COMMIT_DEFAULT_S 5
#define JBUF_HASH_MIN		 1024

/* A metadata block in a transaction. */
struct jbuf {
	uint64_t blocknr;
	struct buffer_head *bh; /* a user reference (b_count) while listed */
	uint64_t tid;		/* the newest transaction that changed it */
	bool forgotten;		/* freed: not logged, not unpinned (its page is gone) */
	struct jbuf *hnext;	/* hash chain; protected by j->lock */
};

/* A transaction: what it changed, revoked, freed and must write first. */
struct jtx {
	uint64_t tid;
	struct jbuf **bufs; /* protected by j->lock */
	size_t nbufs, capbufs;
	uint64_t *revokes;
	size_t nrev, caprev;
	uint32_t *ordered; /* inodes with new blocks (ordered data) */
	size_t nord, capord;
};

/* A run of blocks freed by a transaction not yet committed. */
struct jbusy {
	uint64_t start, len, tid;
};

struct journal {
	struct fs *fs;
	uint64_t jblock;   /* first device block of the journal (immutable) */
	uint32_t jblocks;  /* blocks in it (immutable) */
	uint32_t bs;	   /* block size (immutable) */
	pthread_rwlock_t tx_lock; /* handles shared; the switch exclusive */
	pthread_mutex_t commit_mutex; /* one commit or checkpoint at a time */

	/* protected by commit_mutex */
	uint32_t head;	     /* next log block to write */
	uint32_t tail;	     /* first log block of the oldest live transaction */
	uint64_t tail_seq;   /* its sequence */
	uint32_t used;	     /* log blocks between tail and head */
	uint8_t *iobuf;	     /* descriptor/revoke/commit blocks being written */
	size_t iobuf_blocks;

	/* protected by j->lock */
	pthread_mutex_t lock;
	struct jtx *running;
	uint64_t committed_tid;
	struct jbuf **hash; /* blocknr -> jbuf */
	uint32_t hash_mask;
	uint64_t *logged; /* blocks logged since the last checkpoint (open addressing) */
	size_t logged_cap, logged_n;
	struct jbusy *busy; /* sorted by start */
	size_t nbusy, capbusy;
	pthread_cond_t committed; /* broadcast after every commit */

	/* the commit thread; protected by j->lock */
	pthread_t thread;
	bool thread_started, thread_stop, kick;
	bool stopping; /* fs_journal_stop(): the inode cache is gone */
	pthread_cond_t wake;
	unsigned interval_s;

	/* journal_abort() ran: a change was lost (atomic; never clears) */
	_Atomic bool aborted;

	/* counters (atomic) */
	_Atomic uint64_t nr_commits, nr_checkpoints, nr_logged_blocks, nr_revokes;
};

/* The handle depth of this thread, and the filesystem it belongs to. */
static __thread unsigned tx_depth;
static __thread struct fs *tx_fs;

/* ---- small helpers ---- */

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*arr, n * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

static uint32_t jlog_size(const struct journal *j)
{
	return j->jblocks - 1;
}

/* Memory for @n blocks, aligned so the device can write it directly
 * (O_DIRECT: a buffer it cannot take goes through the host's page cache,
 * and the flush after it costs a copy and a write-back more). */
static uint8_t *jalloc_blocks(const struct journal *j, size_t n)
{
	size_t bytes = n * j->bs;

	return aligned_alloc(4096, (bytes + 4095) & ~(size_t)4095);
}

static struct jtx *jtx_new(uint64_t tid)
{
	struct jtx *t = calloc(1, sizeof(*t));

	if (t)
		t->tid = tid;
	return t;
}

static void jtx_free(struct jtx *t)
{
	if (!t)
		return;
	free(t->bufs);
	free(t->revokes);
	free(t->ordered);
	free(t);
}

/* Free the blocks freed in @t that it never committed (the filesystem went
 * read-only, or its commit failed): fs_journal_forget unhashed them, so
 * only @t's list holds them. Caller holds j->lock or is the last user. */
static void jtx_free_forgotten(struct jtx *t)
{
	for (size_t i = 0; i < t->nbufs; i++) {
		struct jbuf *b = t->bufs[i];

		if (b->forgotten && b->tid == t->tid)
			free(b);
	}
}

/* Log blocks a transaction needs: descriptors, copies, revokes, commit. */
static uint32_t jtx_log_blocks(const struct journal *j, size_t nbufs, size_t nrev)
{
	uint32_t tags = folio_jdesc_max_tags(j->bs), rpb = folio_jrevoke_max(j->bs);

	return (uint32_t)(nbufs + (nbufs + tags - 1) / tags + (nrev + rpb - 1) / rpb + 1);
}

/* ---- the jbuf hash (j->lock held) ---- */

static uint32_t jhash(const struct journal *j, uint64_t blocknr)
{
	return (uint32_t)((blocknr * 0x9E3779B97F4A7C15ULL) >> 32) & j->hash_mask;
}

static struct jbuf *jbuf_find(struct journal *j, uint64_t blocknr)
{
	struct jbuf *b = j->hash[jhash(j, blocknr)];

	while (b && b->blocknr != blocknr)
		b = b->hnext;
	return b;
}

static void jbuf_unhash(struct journal *j, struct jbuf *b)
{
	struct jbuf **pp = &j->hash[jhash(j, b->blocknr)];

	while (*pp && *pp != b)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = b->hnext;
	b->hnext = NULL;
}

/* ---- the set of blocks logged since the last checkpoint (j->lock) ---- */

static size_t logged_slot(const struct journal *j, uint64_t blocknr)
{
	size_t i = (size_t)(blocknr * 0x9E3779B97F4A7C15ULL) & (j->logged_cap - 1);

	while (j->logged[i] && j->logged[i] != blocknr + 1)
		i = (i + 1) & (j->logged_cap - 1);
	return i;
}

static bool logged_has(const struct journal *j, uint64_t blocknr)
{
	return j->logged_cap && j->logged[logged_slot(j, blocknr)];
}

static int logged_add(struct journal *j, uint64_t blocknr)
{
	if ((j->logged_n + 1) * 2 > j->logged_cap) {
		size_t cap = j->logged_cap ? j->logged_cap * 2 : 1024, old = j->logged_cap;
		uint64_t *o = j->logged, *n = calloc(cap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		j->logged = n;
		j->logged_cap = cap;
		for (size_t i = 0; i < old; i++)
			if (o[i])
				j->logged[logged_slot(j, o[i] - 1)] = o[i];
		free(o);
	}
	size_t i = logged_slot(j, blocknr);

	if (!j->logged[i]) {
		j->logged[i] = blocknr + 1;
		j->logged_n++;
	}
	return 0;
}

static void logged_clear(struct journal *j)
{
	if (j->logged_cap)
		memset(j->logged, 0, j->logged_cap * sizeof(*j->logged));
	j->logged_n = 0;
}

/* ---- busy extents (j->lock) ---- */

/* First busy extent ending after @start (binary search). */
static size_t busy_first_after(const struct journal *j, uint64_t start)
{
	size_t lo = 0, hi = j->nbusy;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (j->busy[mid].start + j->busy[mid].len <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int busy_add(struct journal *j, uint64_t start, uint64_t len, uint64_t tid)
{
	size_t i = busy_first_after(j, start);

	if (i > 0 && j->busy[i - 1].tid == tid && j->busy[i - 1].start + j->busy[i - 1].len == start) {
		j->busy[i - 1].len += len;
		return 0;
	}
	if (grow((void **)&j->busy, &j->capbusy, j->nbusy + 1, sizeof(*j->busy)))
		return -ENOMEM;
	memmove(&j->busy[i + 1], &j->busy[i], (j->nbusy - i) * sizeof(*j->busy));
	j->busy[i] = (struct jbusy){start, len, tid};
	j->nbusy++;
	return 0;
}

/* Forget the busy extents of transactions up to @tid. */
static void busy_release(struct journal *j, uint64_t tid)
{
	size_t k = 0;

	for (size_t i = 0; i < j->nbusy; i++)
		if (j->busy[i].tid > tid)
			j->busy[k++] = j->busy[i];
	j->nbusy = k;
}

/* ---- handles ---- */

static void journal_abort(struct journal *j, const char *why, int err)
{
	fs_corrupt(j->fs, 0, "journal: %s (%s)", why, strerror(-err));
	atomic_store(&j->aborted, true);
	atomic_store(&j->fs->rdonly, true); /* even with errors=continue */
}

/* The filesystem can no longer commit (read-only since corruption or an
 * abort): is a change left that no commit will make durable? After an
 * abort always (a change, or a whole transaction, was dropped); else when
 * the running transaction holds one. */
static bool journal_lost(struct journal *j)
{
	bool lost;

	if (atomic_load(&j->aborted))
		return true;
	pthread_mutex_lock(&j->lock);
	lost = j->running && (j->running->nbufs || j->running->nrev);
	pthread_mutex_unlock(&j->lock);
	return lost;
}

/* What a commit or checkpoint on a filesystem switched read-only returns:
 * -EIO when a change can no longer be made durable, 0 when everything
 * already is. */
static int journal_rdonly_result(struct journal *j)
{
	return journal_lost(j) ? -EIO : 0;
}

/* Commit or checkpoint first if the running transaction or the log is
 * getting full. No handle and no page lock held. */
static void journal_make_room(struct journal *j)
{
	uint32_t need;
	bool commit, ckpt;

	pthread_mutex_lock(&j->lock);
	need = jtx_log_blocks(j, j->running->nbufs, j->running->nrev);
	pthread_mutex_unlock(&j->lock);
	commit = need > jlog_size(j) / 4;
	ckpt = __atomic_load_n(&j->used, __ATOMIC_RELAXED) + need > jlog_size(j) / 2;
	if (ckpt)
		fs_journal_checkpoint(j->fs);
	else if (commit)
		fs_journal_commit(j->fs);
}

/**
 * fs_tx_begin - open a handle: the metadata changes until fs_tx_end() belong
 * to one transaction
 * @fs: the filesystem
 *
 * Nests: only the outermost call of a thread opens the handle. May commit or
 * checkpoint first when the journal is short of room. Does nothing without a
 * journal.
 *
 * Context: may sleep; no page lock and no handle of another filesystem held
 * (see the lock order at the top of fs/journal.c).
 */
void fs_tx_begin(struct fs *fs)
{
	struct journal *j = fs->journal;

	if (!j)
		return;
	if (tx_depth) {
		FS_BUG_ON(tx_fs != fs);
		tx_depth++;
		return;
	}
	journal_make_room(j);
	pthread_rwlock_rdlock(&j->tx_lock);
	tx_fs = fs;
	tx_depth = 1;
	balance_dirty_pages_defer(true); /* a throttled writer would hold up commits */
}

/**
 * fs_tx_try_begin - open a handle if that needs no waiting
 * @fs: the filesystem
 *
 * For a thread that holds a page lock and has no handle (writeback meeting a
 * block it must allocate): fails rather than wait for a commit, which may
 * itself wait for a handle that waits for that page.
 *
 * Context: any; no handle of this thread open.
 * Return: true with a handle open (fs_tx_end() closes it), false if not.
 */
bool fs_tx_try_begin(struct fs *fs)
{
	struct journal *j = fs->journal;

	if (!j)
		return true;
	FS_BUG_ON(tx_depth);
	if (pthread_rwlock_tryrdlock(&j->tx_lock))
		return false;
	tx_fs = fs;
	tx_depth = 1;
	balance_dirty_pages_defer(true);
	return true;
}

/**
 * fs_tx_end - close a handle opened by fs_tx_begin()
 * @fs: the filesystem
 *
 * Context: the thread that opened it.
 */
void fs_tx_end(struct fs *fs)
{
	struct journal *j = fs->journal;

	if (!j)
		return;
	FS_BUG_ON(!tx_depth || tx_fs != fs);
	if (--tx_depth)
		return;
	tx_fs = NULL;
	balance_dirty_pages_defer(false);
	pthread_rwlock_unlock(&j->tx_lock);
}

/**
 * fs_tx_active - is the calling thread inside a handle of @fs?
 * @fs: the filesystem
 *
 * Context: any; for assertions.
 * Return: true inside a handle, or when @fs has no journal.
 */
bool fs_tx_active(struct fs *fs)
{
	return !fs->journal || (tx_depth && tx_fs == fs);
}

/**
 * fs_journal_dirty - a metadata block changed: it joins the running
 * transaction and stays pinned until that commits; then mark it dirty
 * @fs: the filesystem
 * @bh: the block's head, locked by the caller (lock_buffer)
 *
 * Without a journal this is mark_buffer_dirty().
 *
 * Context: inside a handle (fs_tx_begin); takes j->lock.
 */
void fs_journal_dirty(struct fs *fs, struct buffer_head *bh)
{
	struct journal *j = fs->journal;
	struct jbuf *b;
	int err = 0;

	if (!j) {
		mark_buffer_dirty(bh);
		return;
	}
	FS_BUG_ON(!fs_tx_active(fs));
	pthread_mutex_lock(&j->lock);
	b = jbuf_find(j, bh->b_blocknr);
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b) {
			err = -ENOMEM;
			goto out;
		}
		b->blocknr = bh->b_blocknr;
		b->tid = j->running->tid + 1; /* in no transaction yet (tid 0 may run) */
		b->bh = bh;
		get_bh(bh);
		b->hnext = j->hash[jhash(j, b->blocknr)];
		j->hash[jhash(j, b->blocknr)] = b;
	}
	FS_BUG_ON(b->bh != bh);
	if (b->tid != j->running->tid) {
		struct jtx *t = j->running;

		err = grow((void **)&t->bufs, &t->capbufs, t->nbufs + 1, sizeof(*t->bufs));
		if (!err) {
			b->tid = t->tid;
			t->bufs[t->nbufs++] = b;
		}
	}
	if (!err)
		bh_pin(bh);
out:
	pthread_mutex_unlock(&j->lock);
	if (err)
		journal_abort(j, "cannot track a changed block", err);
	mark_buffer_dirty(bh);
}

/**
 * fs_journal_forget - metadata blocks are being freed: drop them from the
 * journal's tracking, and revoke any copy already logged
 * @fs: the filesystem
 * @first: first block
 * @count: blocks
 *
 * Called by fs_bforget() before the blocks leave the device mapping: the
 * journal's reference to a block's head must go first.
 *
 * Context: inside a handle; the blocks' heads unlocked.
 */
void fs_journal_forget(struct fs *fs, uint64_t first, uint64_t count)
{
	struct journal *j = fs->journal;
	bool nomem = false;

	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	for (uint64_t blk = first; blk < first + count; blk++) {
		struct jbuf *b = jbuf_find(j, blk);

		if (b) {
			jbuf_unhash(j, b);
			b->forgotten = true;
			bh_unpin(b->bh);
			brelse(b->bh);
			b->bh = NULL;
		}
		if (logged_has(j, blk)) {
			struct jtx *t = j->running;

			if (grow((void **)&t->revokes, &t->caprev, t->nrev + 1, sizeof(uint64_t)))
				nomem = true;
			else
				t->revokes[t->nrev++] = blk;
		}
	}
	pthread_mutex_unlock(&j->lock);
	if (nomem)
		journal_abort(j, "cannot record a revoke", -ENOMEM);
}

/**
 * fs_journal_free - blocks were freed in the running transaction: keep them
 * from being allocated again until it is committed
 * @fs: the filesystem
 * @first: first block
 * @count: blocks
 *
 * Context: inside a handle; any fs lock held (takes only j->lock).
 */
void fs_journal_free(struct fs *fs, uint64_t first, uint64_t count)
{
	struct journal *j = fs->journal;
	int err;

	if (!j || !count)
		return;
	pthread_mutex_lock(&j->lock);
	err = busy_add(j, first, count, j->running->tid);
	pthread_mutex_unlock(&j->lock);
	if (err)
		journal_abort(j, "cannot record freed blocks", err);
}

/**
 * fs_journal_busy - are some of [first, first + count) freed by an
 * uncommitted transaction?
 * @fs: the filesystem
 * @first: first block
 * @count: blocks
 *
 * Context: any; takes j->lock.
 * Return: 0 when none is; else the block after the first busy run that
 * overlaps the range (the allocator looks again from there).
 */
uint64_t fs_journal_busy(struct fs *fs, uint64_t first, uint64_t count)
{
	struct journal *j = fs->journal;
	uint64_t end = 0;
	size_t i;

	if (!j || !__atomic_load_n(&j->nbusy, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&j->lock);
	i = busy_first_after(j, first);
	if (i < j->nbusy && j->busy[i].start < first + count)
		end = j->busy[i].start + j->busy[i].len;
	pthread_mutex_unlock(&j->lock);
	return end;
}

/**
 * fs_journal_ordered - @inode got new blocks (or written unwritten ones) in
 * the running transaction: its data is written before the commit
 * @inode: the inode
 *
 * Context: inside a handle; takes j->lock.
 */
void fs_journal_ordered(struct inode *inode)
{
	struct journal *j = inode->fs->journal;
	struct jtx *t;
	int err = 0;

	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	t = j->running;
	if (!t->nord || t->ordered[t->nord - 1] != inode->ino) {
		err = grow((void **)&t->ordered, &t->capord, t->nord + 1, sizeof(uint32_t));
		if (!err)
			t->ordered[t->nord++] = inode->ino;
	}
	pthread_mutex_unlock(&j->lock);
	if (err)
		journal_abort(j, "cannot record ordered data", err);
}

/* ---- commit ---- */

/* What a commit writes, captured at the switch. */
struct jcommit {
	struct jtx *t;
	uint8_t *frozen;      /* the copies, one block each, in t->bufs order */
	uint64_t *homes;      /* their blocks */
	size_t ncopies;
	struct inode **ord;   /* inodes whose data goes first (referenced) */
	size_t nord;
};

/* Under tx_lock held exclusively: the running transaction becomes @c's,
 * its blocks are copied, a new one runs. */
static int journal_switch(struct journal *j, struct jcommit *c)
{
	struct jtx *t = j->running, *next = jtx_new(t->tid + 1);
	int err = 0;

	if (!next)
		return -ENOMEM;
	c->t = t;
	c->frozen = NULL;
	c->homes = NULL;
	c->ncopies = 0;
	if (t->nbufs) {
		c->frozen = jalloc_blocks(j, t->nbufs);
		c->homes = malloc(t->nbufs * sizeof(*c->homes));
		if (!c->frozen || !c->homes) {
			free(c->frozen);
			free(c->homes);
			jtx_free(next);
			return -ENOMEM;
		}
	}
	pthread_mutex_lock(&j->lock);
	for (size_t i = 0; i < t->nbufs && !err; i++) {
		struct jbuf *b = t->bufs[i];

		if (b->forgotten || b->tid != t->tid)
			continue;
		memcpy(c->frozen + c->ncopies * j->bs, b->bh->b_data, j->bs);
		c->homes[c->ncopies++] = b->blocknr;
		err = logged_add(j, b->blocknr);
	}
	j->running = next;
	pthread_mutex_unlock(&j->lock);
	return err;
}

/* Take references to the inodes of the ordered list that are still in core.
 * At unmount (stopping) there are none: every inode was evicted, its data
 * written, and the inode cache is gone. */
static int journal_grab_ordered(struct journal *j, struct jcommit *c)
{
	struct jtx *t = c->t;

	c->nord = 0;
	c->ord = NULL;
	if (__atomic_load_n(&j->stopping, __ATOMIC_ACQUIRE))
		return 0;
	c->ord = t->nord ? calloc(t->nord, sizeof(*c->ord)) : NULL;
	if (t->nord && !c->ord)
		return -ENOMEM;
	for (size_t i = 0; i < t->nord; i++) {
		struct inode *inode = fs_igrab(j->fs, t->ordered[i]);

		if (inode)
			c->ord[c->nord++] = inode;
	}
	return 0;
}

/* Ordered mode: the data of files that got new blocks goes first. */
static void journal_write_ordered(struct jcommit *c)
{
	for (size_t i = 0; i < c->nord; i++) {
		struct inode *inode = c->ord[i];

		if (inode->has_mapping)
			filemap_write_and_wait(&inode->mapping);
	}
}

static void jheader(void *block, uint32_t type, uint64_t seq)
{
	struct folio_jheader *h = block;

	h->h_magic = cpu_to_le32(FOLIO_JNL_MAGIC);
	h->h_type = cpu_to_le32(type);
	h->h_sequence = cpu_to_le64(seq);
}

/* The log blocks of @c in order, as iovecs over j->iobuf and the copies;
 * returns how many. Escapes copies that start with the log magic. */
static size_t journal_build(struct journal *j, struct jcommit *c, struct iovec *iov)
{
	uint32_t tags = folio_jdesc_max_tags(j->bs), rpb = folio_jrevoke_max(j->bs);
	struct jtx *t = c->t;
	size_t n = 0, meta = 0;
	uint8_t *blk;

	for (size_t i = 0; i < c->ncopies; i += tags) {
		size_t k = c->ncopies - i < tags ? c->ncopies - i : tags;
		struct folio_jdesc *d;

		blk = j->iobuf + meta++ * j->bs;
		memset(blk, 0, j->bs);
		jheader(blk, FOLIO_JB_DESCRIPTOR, t->tid);
		d = (struct folio_jdesc *)blk;
		d->d_count = cpu_to_le32((uint32_t)k);
		for (size_t m = 0; m < k; m++) {
			struct folio_jtag *tag =
				(struct folio_jtag *)(blk + sizeof(*d)) + m;
			uint8_t *copy = c->frozen + (i + m) * j->bs;
			le32 magic;

			tag->t_block = cpu_to_le64(c->homes[i + m]);
			tag->t_csum = cpu_to_le32(crc32c(j->fs->csum_seed, copy, j->bs));
			memcpy(&magic, copy, 4);
			if (le32_to_cpu(magic) == FOLIO_JNL_MAGIC) {
				tag->t_flags = cpu_to_le32(FOLIO_JTAG_ESCAPED);
				memset(copy, 0, 4);
			}
		}
		folio_jblock_csum_set(j->fs->csum_seed, blk, j->bs);
		iov[n++] = (struct iovec){blk, j->bs};
		for (size_t m = 0; m < k; m++)
			iov[n++] = (struct iovec){c->frozen + (i + m) * j->bs, j->bs};
	}
	for (size_t i = 0; i < t->nrev; i += rpb) {
		size_t k = t->nrev - i < rpb ? t->nrev - i : rpb;
		struct folio_jrevoke *r;

		blk = j->iobuf + meta++ * j->bs;
		memset(blk, 0, j->bs);
		jheader(blk, FOLIO_JB_REVOKE, t->tid);
		r = (struct folio_jrevoke *)blk;
		r->r_count = cpu_to_le32((uint32_t)k);
		for (size_t m = 0; m < k; m++) {
			le64 b = cpu_to_le64(t->revokes[i + m]);

			memcpy(blk + sizeof(*r) + 8 * m, &b, 8);
		}
		folio_jblock_csum_set(j->fs->csum_seed, blk, j->bs);
		iov[n++] = (struct iovec){blk, j->bs};
	}
	return n;
}

/* The commit block, after the @nblocks log blocks before it. */
static void journal_build_commit(struct journal *j, uint64_t tid, size_t nblocks, void *blk)
{
	struct folio_jcommit *cm = blk;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	memset(blk, 0, j->bs);
	jheader(blk, FOLIO_JB_COMMIT, tid);
	cm->c_blocks = cpu_to_le32((uint32_t)nblocks);
	cm->c_sec = cpu_to_le64((uint64_t)ts.tv_sec);
	cm->c_nsec = cpu_to_le32((uint32_t)ts.tv_nsec);
	folio_jblock_csum_set(j->fs->csum_seed, blk, j->bs);
}

/* Write @n log blocks from the head, wrapping; advances the head. */
static int journal_write_at_head(struct journal *j, struct iovec *iov, size_t n)
{
	size_t done = 0;

	while (done < n) {
		size_t room = j->jblocks - j->head, k = n - done < room ? n - done : room;
		int err;

		while (k) {
			int batch = k > 256 ? 256 : (int)k;

			err = bdev_writev(j->fs->bdev, (j->jblock + j->head) * j->bs, iov + done,
					  batch);
			if (err)
				return err;
			done += (size_t)batch;
			k -= (size_t)batch;
			j->head = folio_journal_next(j->head + (uint32_t)batch - 1, 1, j->jblocks);
		}
	}
	return 0;
}

static int journal_write_jsb(struct journal *j, uint32_t start, uint64_t seq);

/* Write @c's log blocks and its commit block, durably. */
static int journal_write_log(struct journal *j, struct jcommit *c, bool ordered)
{
	size_t nmeta = jtx_log_blocks(j, c->ncopies, c->t->nrev) - c->ncopies;
	struct iovec *iov;
	uint32_t start = j->head;
	size_t n;
	int err;

	if (nmeta > j->iobuf_blocks) {
		free(j->iobuf);
		j->iobuf_blocks = 0;
		j->iobuf = jalloc_blocks(j, nmeta * 2);
		if (!j->iobuf)
			return -ENOMEM;
		j->iobuf_blocks = nmeta * 2;
	}
	iov = malloc((c->ncopies + nmeta) * sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	n = journal_build(j, c, iov);
	journal_build_commit(j, c->t->tid, n, j->iobuf + (nmeta - 1) * j->bs);
	iov[n] = (struct iovec){j->iobuf + (nmeta - 1) * j->bs, j->bs};
	if (!j->used) {
		/* the log was empty: replay must start at this transaction */
		err = journal_write_jsb(j, start, c->t->tid);
		if (err)
			goto out;
		j->tail = start;
		j->tail_seq = c->t->tid;
	}
	if (ordered) {
		/* the data and the log on the device before the commit block */
		err = journal_write_at_head(j, iov, n);
		if (!err)
			err = bdev_flush(j->fs->bdev);
		if (!err)
			err = journal_write_at_head(j, iov + n, 1);
	} else {
		/* replay checks every block, so one write and one flush do */
		err = journal_write_at_head(j, iov, n + 1);
	}
	if (!err)
		err = bdev_flush(j->fs->bdev);
	if (!err)
		j->used += (uint32_t)(n + 1);
out:
	free(iov);
	return err;
}

/* After the commit: unpin what no later transaction changed, let its freed
 * blocks be allocated, wake waiters. */
static void journal_finish(struct journal *j, struct jtx *t)
{
	pthread_mutex_lock(&j->lock);
	for (size_t i = 0; i < t->nbufs; i++) {
		struct jbuf *b = t->bufs[i];

		if (b->tid != t->tid)
			continue; /* a later transaction has it */
		if (!b->forgotten) {
			jbuf_unhash(j, b);
			bh_unpin(b->bh);
			brelse(b->bh);
		}
		free(b);
	}
	j->committed_tid = t->tid;
	busy_release(j, t->tid);
	pthread_cond_broadcast(&j->committed);
	pthread_mutex_unlock(&j->lock);
	atomic_fetch_add(&j->nr_commits, 1);
	atomic_fetch_add(&j->nr_logged_blocks, t->nbufs);
	atomic_fetch_add(&j->nr_revokes, t->nrev);
}

static void jcommit_free(struct jcommit *c)
{
	free(c->frozen);
	free(c->homes);
	jtx_free(c->t);
}

static void jcommit_put_inodes(struct jcommit *c)
{
	for (size_t i = 0; i < c->nord; i++)
		fs_iput(c->ord[i]);
	free(c->ord);
	c->ord = NULL;
	c->nord = 0;
}

/* Commit the running transaction. commit_mutex held; with @locked, tx_lock
 * is held exclusively by the caller. The ordered inodes are left in @c for
 * the caller to put (outside commit_mutex: putting may evict). Returns 1
 * when a commit was written (and flushed), 0 when there was nothing to
 * commit, or a negative errno. */
static int __journal_commit(struct journal *j, bool locked, struct jcommit *c)
{
	bool empty;
	int err;

	memset(c, 0, sizeof(*c));
	if (!locked)
		pthread_rwlock_wrlock(&j->tx_lock);
	pthread_mutex_lock(&j->lock);
	empty = !j->running->nbufs && !j->running->nrev;
	pthread_mutex_unlock(&j->lock);
	if (empty) {
		if (!locked)
			pthread_rwlock_unlock(&j->tx_lock);
		return 0;
	}
	err = journal_switch(j, c);
	if (!locked)
		pthread_rwlock_unlock(&j->tx_lock);
	if (err)
		goto fail;
	err = journal_grab_ordered(j, c);
	if (err)
		goto fail;
	journal_write_ordered(c);
	if (jtx_log_blocks(j, c->ncopies, c->t->nrev) + j->used > jlog_size(j)) {
		err = -ENOSPC;
		goto fail;
	}
	/* t->nord, not c->nord: an inode evicted since (at unmount, all of them)
	 * had its data written then, but not flushed */
	err = journal_write_log(j, c, c->t->nord > 0);
	if (err)
		goto fail;
	journal_finish(j, c->t);
	free(c->frozen);
	free(c->homes);
	jtx_free(c->t);
	c->frozen = NULL;
	c->homes = NULL;
	c->t = NULL;
	return 1;
fail:
	journal_abort(j, "commit failed", err);
	if (c->t) {
		/* keep the blocks pinned: nothing of this transaction may go home */
		pthread_mutex_lock(&j->lock);
		jtx_free_forgotten(c->t);
		pthread_mutex_unlock(&j->lock);
		jcommit_free(c);
		c->t = NULL;
	}
	return err;
}

/* ---- the journal superblock, checkpoint ---- */

/* Write the journal superblock with j_start @start and j_sequence @seq (not
 * flushed). */
static int journal_write_jsb(struct journal *j, uint32_t start, uint64_t seq)
{
	struct folio_jsb *jsb;
	void *blk = aligned_alloc(4096, j->bs < 4096 ? 4096 : j->bs);
	int err;

	if (!blk)
		return -ENOMEM;
	memset(blk, 0, j->bs);
	jsb = blk;
	jsb->j_magic = cpu_to_le32(FOLIO_JSB_MAGIC);
	jsb->j_version = cpu_to_le32(FOLIO_JOURNAL_VERSION);
	jsb->j_block_size = cpu_to_le32(j->bs);
	jsb->j_blocks = cpu_to_le32(j->jblocks);
	jsb->j_first = cpu_to_le32(1);
	jsb->j_sequence = cpu_to_le64(seq);
	jsb->j_start = cpu_to_le32(start);
	memcpy(jsb->j_uuid, j->fs->sb.s_uuid, sizeof(jsb->j_uuid));
	folio_jsb_csum_set(j->fs->csum_seed, jsb);
	err = bdev_write(j->fs->bdev, j->jblock * j->bs, blk, j->bs);
	free(blk);
	return err;
}

/* With commit_mutex and tx_lock (exclusive) held: commit, write every
 * metadata block home, flush, empty the log. */
static int __journal_checkpoint(struct journal *j, struct jcommit *c)
{
	int err = __journal_commit(j, true, c);

	if (err < 0)
		return err;
	err = filemap_write_and_wait(&j->fs->meta);
	if (!err)
		err = bdev_flush(j->fs->bdev);
	if (!err && j->used) {
		uint64_t next;

		pthread_mutex_lock(&j->lock);
		next = j->committed_tid + 1;
		pthread_mutex_unlock(&j->lock);
		err = journal_write_jsb(j, 0, next);
		if (!err)
			err = bdev_flush(j->fs->bdev);
		if (!err) {
			j->used = 0;
			j->tail = j->head;
			j->tail_seq = next;
			pthread_mutex_lock(&j->lock);
			logged_clear(j);
			pthread_mutex_unlock(&j->lock);
		}
	}
	if (!err)
		atomic_fetch_add(&j->nr_checkpoints, 1);
	return err;
}

/**
 * fs_journal_commit - commit the running transaction and make it durable
 * @fs: the filesystem
 *
 * Everything done in handles that ended before the call is on the device
 * (in the log) when it returns. Does nothing without a journal or when
 * there is nothing to commit.
 *
 * Context: may sleep; no handle held.
 * On a filesystem switched read-only (corruption with errors=remount-ro,
 * or an aborted journal) nothing is written: a change left uncommitted can
 * no longer be made durable, so the call fails with -EIO while the running
 * transaction holds one or after an abort (docs/DESIGN.md "The journal").
 *
 * Return: 1 when a commit was written and the device flushed, 0 when there
 * was nothing to commit (or no journal); -EIO on a filesystem switched
 * read-only with changes left uncommitted; or the error that aborted the
 * journal.
 */
int fs_journal_commit(struct fs *fs)
{
	struct journal *j = fs->journal;
	struct jcommit c;
	int err;

	if (!j)
		return 0;
	FS_BUG_ON(tx_depth);
	pthread_mutex_lock(&j->commit_mutex);
	if (atomic_load(&fs->rdonly)) {
		pthread_mutex_unlock(&j->commit_mutex);
		return journal_rdonly_result(j);
	}
	err = __journal_commit(j, false, &c);
	pthread_mutex_unlock(&j->commit_mutex);
	if (err >= 0)
		jcommit_put_inodes(&c);
	return err;
}

/**
 * fs_journal_checkpoint - commit, write every metadata block home and empty
 * the log
 * @fs: the filesystem
 *
 * Handles wait meanwhile. On a filesystem switched read-only nothing is
 * written, as in fs_journal_commit().
 *
 * Context: may sleep; no handle held.
 * Return: 0; -EIO on a filesystem switched read-only with changes left
 * uncommitted; or a negative errno.
 */
int fs_journal_checkpoint(struct fs *fs)
{
	struct journal *j = fs->journal;
	struct jcommit c;
	int err;

	if (!j)
		return 0;
	FS_BUG_ON(tx_depth);
	memset(&c, 0, sizeof(c));
	pthread_mutex_lock(&j->commit_mutex);
	pthread_rwlock_wrlock(&j->tx_lock);
	err = atomic_load(&fs->rdonly) ? journal_rdonly_result(j) : __journal_checkpoint(j, &c);
	pthread_rwlock_unlock(&j->tx_lock);
	pthread_mutex_unlock(&j->commit_mutex);
	jcommit_put_inodes(&c);
	return err;
}

/**
 * fs_journal_retry_enospc - after -ENOSPC: would a commit give blocks back?
 * @fs: the filesystem
 *
 * Blocks freed by transactions not yet committed cannot be allocated. When
 * there are any, commit (so they can) and say the operation should be tried
 * again, as ext4 does.
 *
 * Context: may sleep; no handle held.
 * Return: true when the caller should retry once.
 */
bool fs_journal_retry_enospc(struct fs *fs)
{
	struct journal *j = fs->journal;
	bool busy;

	if (!j)
		return false;
	pthread_mutex_lock(&j->lock);
	busy = j->nbusy > 0;
	pthread_mutex_unlock(&j->lock);
	return busy && fs_journal_commit(fs) >= 0;
}

/* ---- the commit thread ---- */

static void *journal_thread(void *arg)
{
	struct journal *j = arg;

	pthread_mutex_lock(&j->lock);
	while (!j->thread_stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += j->interval_s;
		while (!j->thread_stop && !j->kick)
			if (pthread_cond_timedwait(&j->wake, &j->lock, &ts))
				break;
		j->kick = false;
		if (j->thread_stop)
			break;
		pthread_mutex_unlock(&j->lock);
		fs_journal_commit(j->fs);
		pthread_mutex_lock(&j->lock);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* ---- replay, start, stop ---- */

static int jio_read(void *ctx, uint64_t block, void *buf)
{
	struct fs *fs = ctx;

	return bdev_read(fs->bdev, block << fs->geom.block_shift, buf, fs->geom.block_size);
}

static int jio_write(void *ctx, uint64_t block, const void *buf)
{
	struct fs *fs = ctx;

	return bdev_write(fs->bdev, block << fs->geom.block_shift, buf, fs->geom.block_size);
}

static int jio_flush(void *ctx)
{
	return bdev_flush(((struct fs *)ctx)->bdev);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/**
 * fs_journal_replay - replay the journal of an image that needs it
 * @fs: the filesystem being mounted: device open, superblock read and
 *	validated, nothing cached from the device but the superblock's copy
 * @image: its path, for messages
 * @msg, @msglen: one line on failure
 *
 * Does nothing unless the superblock has COMPAT_JOURNAL and RECOVER. Writes
 * the committed transactions home through the device (not the cache) and
 * says so in one line on stderr. The caller reads the superblock again
 * afterwards (the journal may have held it) and keeps RECOVER: the mount
 * sets it anyway.
 *
 * Context: fs_mount(), single-threaded.
 * Return: 0; -EROFS on a read-only mount (nothing is written); -EUCLEAN
 * for a journal that cannot be read; an I/O error.
 */
int fs_journal_replay(struct fs *fs, const char *image, char *msg, size_t msglen)
{
	struct folio_jio io = {fs, jio_read, jio_write, jio_flush};
	struct folio_replay_info info;
	char why[200] = "";
	uint64_t t0;
	int err;

	if (!(le32_to_cpu(fs->sb.s_feature_compat) & FOLIO_COMPAT_JOURNAL) ||
	    !(le32_to_cpu(fs->sb.s_feature_incompat) & FOLIO_INCOMPAT_RECOVER))
		return 0;
	if (fs->opts.rdonly) {
		snprintf(msg, msglen,
			 "%s: the journal needs replay: mount read-write, or run fsck.foliofs -p %s",
			 image, image);
		return -EROFS;
	}
	t0 = mono_ms();
	err = folio_journal_replay(&io, &fs->sb, false, &info, why, sizeof(why));
	if (err) {
		snprintf(msg, msglen, "%s: %s: run fsck.foliofs -y %s", image,
			 why[0] ? why : strerror(-err), image);
		return err;
	}
	if (info.transactions)
		fprintf(stderr,
			"foliofs: %s: journal replayed: %" PRIu32 " transactions (%" PRIu64
			" to %" PRIu64 "), %" PRIu64 " blocks, %" PRIu64 " revoked, in %" PRIu64
			" ms\n",
			image, info.transactions, info.first_seq, info.last_seq, info.blocks,
			info.revoked, mono_ms() - t0);
	return 0;
}

static void journal_free(struct journal *j)
{
	/* the hashed blocks go below */
	if (j->running)
		jtx_free_forgotten(j->running);
	for (uint32_t i = 0; j->hash && i <= j->hash_mask; i++) {
		struct jbuf *b = j->hash[i];

		while (b) {
			struct jbuf *next = b->hnext;

			if (b->bh)
				brelse(b->bh);
			free(b);
			b = next;
		}
	}
	free(j->hash);
	free(j->logged);
	free(j->busy);
	free(j->iobuf);
	jtx_free(j->running);
	pthread_rwlock_destroy(&j->tx_lock);
	pthread_mutex_destroy(&j->commit_mutex);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->committed);
	pthread_cond_destroy(&j->wake);
	free(j);
}

/* Read the journal superblock: where the next transaction goes. */
static int journal_load(struct journal *j, char *msg, size_t msglen)
{
	struct folio_jsb jsb;
	void *blk = aligned_alloc(4096, j->bs < 4096 ? 4096 : j->bs);
	int err;

	if (!blk)
		return -ENOMEM;
	err = bdev_read(j->fs->bdev, j->jblock * j->bs, blk, j->bs);
	memcpy(&jsb, blk, sizeof(jsb));
	free(blk);
	if (err) {
		snprintf(msg, msglen, "cannot read the journal: %s", strerror(-err));
		return err;
	}
	err = folio_jsb_check(&jsb, &j->fs->sb, msg, msglen);
	if (!err && jsb.j_start) {
		snprintf(msg, msglen, "the journal holds transactions that were not replayed");
		err = -EUCLEAN;
	}
	if (err)
		return err;
	j->head = j->tail = 1;
	j->tail_seq = le64_to_cpu(jsb.j_sequence);
	j->used = 0;
	j->committed_tid = j->tail_seq ? j->tail_seq - 1 : 0;
	return 0;
}

static struct journal *journal_alloc(struct fs *fs)
{
	struct journal *j = calloc(1, sizeof(*j));
	pthread_rwlockattr_t ra;

	if (!j)
		return NULL;
	j->fs = fs;
	j->jblock = le64_to_cpu(fs->sb.s_journal_block);
	j->jblocks = (uint32_t)le64_to_cpu(fs->sb.s_journal_blocks);
	j->bs = fs->geom.block_size;
	j->interval_s = fs->opts.commit_interval ? fs->opts.commit_interval : JOURNAL_COMMIT_DEFAULT_S;
	/* writers first, so a commit is not starved by a stream of handles */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&j->tx_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	cache_mutex_init(&j->commit_mutex);
	cache_mutex_init(&j->lock);
	pthread_cond_init(&j->committed, NULL);
	pthread_cond_init(&j->wake, NULL);
	j->hash_mask = JBUF_HASH_MIN - 1;
	while (j->hash_mask + 1 < fs->geom.blocks_count / 64 && j->hash_mask < (1u << 20) - 1)
		j->hash_mask = j->hash_mask * 2 + 1;
	j->hash = calloc(j->hash_mask + 1, sizeof(*j->hash));
	if (!j->hash) {
		journal_free(j);
		return NULL;
	}
	return j;
}

/**
 * fs_journal_start - start journaling a filesystem just mounted read-write
 * @fs: the filesystem (RECOVER already set in its superblock on the device)
 * @msg, @msglen: one line on failure
 *
 * Loads the journal superblock (the log must be empty: fs_journal_replay()
 * ran), opens the first transaction and starts the commit thread, which
 * commits every commit_interval seconds (commit=N, default 5). Without
 * COMPAT_JOURNAL or on a read-only mount, does nothing.
 *
 * Context: fs_mount(), before the filesystem is used.
 * Return: 0, -EUCLEAN for a bad journal, -ENOMEM, an I/O error.
 */
int fs_journal_start(struct fs *fs, char *msg, size_t msglen)
{
	struct journal *j;
	int err;

	if (fs->opts.rdonly || !(le32_to_cpu(fs->sb.s_feature_compat) & FOLIO_COMPAT_JOURNAL))
		return 0;
	j = journal_alloc(fs);
	if (!j) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	err = journal_load(j, msg, msglen);
	if (!err) {
		j->running = jtx_new(j->committed_tid + 1);
		if (!j->running)
			err = -ENOMEM;
	}
	if (!err && pthread_create(&j->thread, NULL, journal_thread, j))
		err = -EAGAIN;
	if (err) {
		if (err == -ENOMEM || err == -EAGAIN)
			snprintf(msg, msglen, "cannot start the journal: %s", strerror(-err));
		journal_free(j);
		return err;
	}
	j->thread_started = true;
	fs->journal = j;
	return 0;
}

/**
 * fs_journal_stop_thread - stop the periodic commits (unmount, first)
 * @fs: the filesystem
 *
 * The commit thread takes references to inodes it writes the data of; it
 * must be gone before unmount evicts every inode (fs_icache_destroy()
 * takes the last reference of each, and would free one the thread still
 * uses). Commits after it happen in the thread that needs them. Idempotent.
 *
 * Context: fs_unmount(); no handle held.
 */
void fs_journal_stop_thread(struct fs *fs)
{
	struct journal *j = fs->journal;

	if (!j || !j->thread_started)
		return;
	pthread_mutex_lock(&j->lock);
	j->thread_stop = true;
	pthread_cond_broadcast(&j->wake);
	pthread_mutex_unlock(&j->lock);
	pthread_join(j->thread, NULL);
	j->thread_started = false;
}

/**
 * fs_journal_stop - commit, checkpoint and stop the journal (unmount)
 * @fs: the filesystem; no handle open, no other user
 *
 * After it, every metadata block is home and the log is empty, unless the
 * journal was aborted (the filesystem went read-only): then nothing more is
 * written, blocks of uncommitted transactions stay pinned so no writeback
 * sends them home, and the image keeps RECOVER.
 *
 * When changes were left uncommitted (lost), one line on stderr says so;
 * the fsyncs that needed them failed with -EIO already, and the image
 * records ERRORS, so the unmount itself does not fail for them (as ext4's
 * unmount after an aborted journal).
 *
 * Context: fs_unmount().
 * Return: 0; -EROFS when the filesystem was switched read-only; an I/O error.
 */
int fs_journal_stop(struct fs *fs)
{
	struct journal *j = fs->journal;
	int err;

	if (!j)
		return 0;
	fs_journal_stop_thread(fs);
	__atomic_store_n(&j->stopping, true, __ATOMIC_RELEASE);
	err = atomic_load(&fs->rdonly) ? -EROFS : fs_journal_checkpoint(fs);
	if (err == -EROFS && journal_lost(j))
		fprintf(stderr, "foliofs: journal: changes not committed before the filesystem "
				"went read-only are lost\n");
	if (err)
		fs->journal_aborted = true;
	fs->journal = NULL;
	journal_free(j);
	return err;
}

/**
 * fs_journal_stats - the journal's counters
 * @fs: the filesystem
 * @st: out (all zero without a journal)
 *
 * Context: any.
 */
void fs_journal_stats(struct fs *fs, struct fs_journal_stats *st)
{
	struct journal *j = fs->journal;

	memset(st, 0, sizeof(*st));
	if (!j)
		return;
	st->blocks = j->jblocks;
	st->used = __atomic_load_n(&j->used, __ATOMIC_RELAXED);
	st->commits = atomic_load(&j->nr_commits);
	st->checkpoints = atomic_load(&j->nr_checkpoints);
	st->logged_blocks = atomic_load(&j->nr_logged_blocks);
	st->revokes = atomic_load(&j->nr_revokes);
	pthread_mutex_lock(&j->lock);
	st->committed_tid = j->committed_tid;
	pthread_mutex_unlock(&j->lock);
}

/**
 * fs_journal_busy_mark - count busy blocks as used in a copy of a bitmap
 * @fs: the filesystem
 * @base: the bitmap's first block
 * @n: blocks it covers
 * @map: the copy (bit i is block base + i)
 *
 * Context: any; takes j->lock.
 */
void fs_journal_busy_mark(struct fs *fs, uint64_t base, uint32_t n, uint8_t *map)
{
	struct journal *j = fs->journal;

	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	for (size_t i = busy_first_after(j, base); i < j->nbusy && j->busy[i].start < base + n;
	     i++) {
		uint64_t s = j->busy[i].start > base ? j->busy[i].start : base;
		uint64_t e = j->busy[i].start + j->busy[i].len;

		e = e < base + n ? e : base + n;
		for (uint64_t b = s; b < e; b++)
			map[(b - base) >> 3] |= (uint8_t)(1u << ((b - base) & 7));
	}
	pthread_mutex_unlock(&j->lock);
}
