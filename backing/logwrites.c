/*
 * backing/logwrites.c - the recording wrapper (test-only) and the reader of
 * its log.
 *
 * Interface (backing/logwrites.h, which also describes the log format):
 * bdev_logwrites_create, logwrites_mark, logwrites_entries; lw_log_open,
 * lw_log_next, lw_log_payload, lw_log_close, lw_type_name.
 *
 * Invariants:
 *  - lw->lock is held across each logged request to the lower device and the
 *    append of its entry, so entries are in device order and sequence numbers
 *    have no gap; a flush entry follows every write that completed before
 *    the flush was issued.
 *  - An entry is appended whole or the wrapper is broken: a failed or short
 *    append sets lw->err, and from then on every logged request and mark
 *    fails with it without reaching the lower device.
 *  - Reads are not logged and take no lock.
 */
#include "config.h"

#include "backing/internal.h"
#include "backing/logwrites.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define LW_IOV_STACK 16

struct logwrites {
	struct bdev bdev;   /* the wrapper; bdev.priv points back here */
	struct bdev *lower; /* fixed */
	int fd;		    /* the log file; fixed */
	_Atomic uint64_t entries;

	pthread_mutex_t lock; /* protects everything below, and orders the log */
	uint64_t seq;	      /* sequence number of the next entry */
	int err;	      /* first append failure; 0 while the log is whole */
};

/* The on-disk entry header (backing/logwrites.h). */
struct lw_disk_entry {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;
	uint32_t payload;
	int32_t status;
	uint64_t seq;
	uint64_t off;
	uint64_t len;
} __attribute__((packed));
_Static_assert(sizeof(struct lw_disk_entry) == LW_ENTRY_SIZE, "log entry header size");

struct lw_disk_header {
	char magic[8];
	uint32_t version;
	uint32_t lbs;
	uint64_t dev_size;
	uint8_t reserved[LW_HEADER_SIZE - 24];
} __attribute__((packed));
_Static_assert(sizeof(struct lw_disk_header) == LW_HEADER_SIZE, "log header size");

static struct logwrites *lw_of(struct bdev *bdev)
{
	return bdev->priv;
}

/* Write all of @iov (which this may change) at the end of the log. */
static int lw_write_all(int fd, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0) {
		ssize_t w = writev(fd, iov, iovcnt > IOV_MAX ? IOV_MAX : iovcnt);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		while (iovcnt > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Append one entry (header, then @iovcnt payload buffers); lock held. */
static int __lw_append(struct logwrites *lw, enum lw_type type, unsigned flags, int status,
		       uint64_t off, uint64_t len, const struct iovec *payload, int iovcnt)
{
	struct iovec stack[LW_IOV_STACK], *v = stack;
	struct lw_disk_entry h;
	uint64_t plen = 0;
	int ret = bdev_iov_len(payload, iovcnt, &plen);

	if (ret || plen > UINT32_MAX)
		return ret ? ret : -EFBIG;
	if (iovcnt + 1 > LW_IOV_STACK) {
		v = malloc(sizeof(*v) * (size_t)(iovcnt + 1));
		if (!v)
			return -ENOMEM;
	}
	h = (struct lw_disk_entry){
		.magic = htole32(LW_ENTRY_MAGIC),
		.type = htole16((uint16_t)type),
		.flags = htole16((uint16_t)flags),
		.payload = htole32((uint32_t)plen),
		.status = (int32_t)htole32((uint32_t)status),
		.seq = htole64(lw->seq),
		.off = htole64(off),
		.len = htole64(len),
	};
	v[0] = (struct iovec){.iov_base = &h, .iov_len = sizeof(h)};
	if (iovcnt)
		memcpy(v + 1, payload, sizeof(*v) * (size_t)iovcnt);
	ret = lw_write_all(lw->fd, v, iovcnt + 1);
	if (v != stack)
		free(v);
	if (ret) {
		fprintf(stderr, "foliofs: %s: the write log is broken: %s\n", lw->bdev.name,
			strerror(-ret));
		lw->err = ret;
		return ret;
	}
	lw->seq++;
	atomic_fetch_add_explicit(&lw->entries, 1, memory_order_relaxed);
	return 0;
}

static int lw_readv(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt)
{
	return bdev_readv(lw_of(bdev)->lower, off, iov, iovcnt);
}

static int lw_writev(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct logwrites *lw = lw_of(bdev);
	uint64_t len = 0;
	int ret, aret;

	pthread_mutex_lock(&lw->lock);
	ret = lw->err;
	if (!ret) {
		ret = bdev_writev(lw->lower, off, iov, iovcnt);
		bdev_iov_len(iov, iovcnt, &len);
		aret = __lw_append(lw, LW_WRITE, 0, ret, off, len, iov, iovcnt);
		ret = ret ? ret : aret;
	}
	pthread_mutex_unlock(&lw->lock);
	return ret;
}

/* A request without payload (flush, discard), logged with its result. */
static int lw_logged(struct logwrites *lw, enum lw_type type, uint64_t off, uint64_t len)
{
	int ret, aret;

	pthread_mutex_lock(&lw->lock);
	ret = lw->err;
	if (!ret) {
		ret = type == LW_FLUSH ? bdev_flush(lw->lower) : bdev_discard(lw->lower, off, len);
		aret = __lw_append(lw, type, 0, ret, off, len, NULL, 0);
		ret = ret ? ret : aret;
	}
	pthread_mutex_unlock(&lw->lock);
	return ret;
}

static int lw_flush(struct bdev *bdev)
{
	return lw_logged(lw_of(bdev), LW_FLUSH, 0, 0);
}

static int lw_discard(struct bdev *bdev, uint64_t off, uint64_t len)
{
	return lw_logged(lw_of(bdev), LW_DISCARD, off, len);
}

static void lw_close(struct bdev *bdev)
{
	struct logwrites *lw = lw_of(bdev);

	pthread_mutex_lock(&lw->lock);
	if (!lw->err)
		__lw_append(lw, LW_CLOSE, 0, 0, 0, 0, NULL, 0);
	pthread_mutex_unlock(&lw->lock);
	close(lw->fd);
	pthread_mutex_destroy(&lw->lock);
	bdev_close(lw->lower);
	free(lw);
}

static const struct bdev_ops lw_ops = {
	.readv = lw_readv,
	.writev = lw_writev,
	.flush = lw_flush,
	.discard = lw_discard,
	.close = lw_close,
};

static int lw_write_header(int fd, const struct bdev *lower)
{
	struct lw_disk_header h = {
		.version = htole32(LW_VERSION),
		.lbs = htole32(lower->lbs),
		.dev_size = htole64(lower->size),
	};
	struct iovec v = {.iov_base = &h, .iov_len = sizeof(h)};

	memcpy(h.magic, LW_MAGIC, sizeof(h.magic));
	return lw_write_all(fd, &v, 1);
}

/**
 * bdev_logwrites_create - wrap a device in the recording wrapper
 * @lower: the device underneath; the wrapper owns it from now on
 * @path: the log file, created or truncated
 * @out: receives the wrapper device (same size, lbs and dio_align as @lower)
 * @ctl: receives the handle logwrites_mark() takes; may be NULL
 *
 * Context: any thread.
 * Return: 0, or a negative errno from opening or writing the log, or
 * -ENOMEM. On failure @lower stays the caller's and no log is left behind
 * half-written (a created file keeps its header at most).
 */
int bdev_logwrites_create(struct bdev *lower, const char *path, struct bdev **out,
			  struct logwrites **ctl)
{
	struct logwrites *lw = calloc(1, sizeof(*lw));
	int ret;

	if (!lw)
		return -ENOMEM;
	lw->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (lw->fd < 0) {
		ret = -errno;
		free(lw);
		return ret;
	}
	ret = lw_write_header(lw->fd, lower);
	if (!ret)
		ret = bdev_mutex_init(&lw->lock);
	if (ret) {
		close(lw->fd);
		free(lw);
		return ret;
	}
	lw->lower = lower;
	lw->bdev.ops = &lw_ops;
	lw->bdev.size = lower->size;
	lw->bdev.lbs = lower->lbs;
	lw->bdev.dio_align = lower->dio_align;
	lw->bdev.name = lower->name;
	lw->bdev.priv = lw;
	*out = &lw->bdev;
	if (ctl)
		*ctl = lw;
	return 0;
}

/**
 * logwrites_mark - append a mark to the log
 * @lw: the wrapper
 * @label: the mark's text: 1 to LW_LABEL_MAX bytes, no newline
 *
 * The mark lands after every request that completed before this call and
 * before every request issued after it returns.
 *
 * Context: any thread; takes the wrapper's lock.
 * Return: 0, -EINVAL for a bad label, or the log's error.
 */
int logwrites_mark(struct logwrites *lw, const char *label)
{
	size_t n = strlen(label);
	struct iovec v = {.iov_base = (void *)label, .iov_len = n};
	int ret;

	if (!n || n > LW_LABEL_MAX || strchr(label, '\n'))
		return -EINVAL;
	pthread_mutex_lock(&lw->lock);
	ret = lw->err ? lw->err : __lw_append(lw, LW_MARK, 0, 0, 0, 0, &v, 1);
	pthread_mutex_unlock(&lw->lock);
	return ret;
}

/**
 * logwrites_entries - count the entries appended so far
 * @lw: the wrapper
 *
 * Context: any thread.
 * Return: the number of entries in the log (the header not counted).
 */
uint64_t logwrites_entries(struct logwrites *lw)
{
	return atomic_load_explicit(&lw->entries, memory_order_relaxed);
}

/* ---- the reader ---- */

/* pread all of @len bytes at @off: 0, -errno, or -EBADMSG at end of file. */
static int lw_pread_all(int fd, void *buf, uint64_t len, uint64_t off)
{
	char *p = buf;

	while (len) {
		ssize_t r = pread(fd, p, len > (1u << 30) ? (1u << 30) : (size_t)len, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EBADMSG;
		p += r;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

/**
 * lw_log_open - open a write log for reading
 * @path: the log file
 * @log: filled in
 *
 * Context: any thread.
 * Return: 0; a negative errno from open; -EBADMSG for a file without a valid
 * header (one line on stderr).
 */
int lw_log_open(const char *path, struct lw_log *log)
{
	struct lw_disk_header h;
	struct stat st;
	int ret;

	memset(log, 0, sizeof(*log));
	log->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (log->fd < 0)
		return -errno;
	if (fstat(log->fd, &st)) {
		ret = -errno;
		goto fail;
	}
	ret = lw_pread_all(log->fd, &h, sizeof(h), 0);
	if (ret == -EBADMSG || (!ret && (memcmp(h.magic, LW_MAGIC, 8) ||
					 le32toh(h.version) != LW_VERSION || !le32toh(h.lbs)))) {
		fprintf(stderr, "%s: not a foliofs write log (version %d)\n", path, LW_VERSION);
		ret = -EBADMSG;
	}
	if (ret)
		goto fail;
	log->lbs = le32toh(h.lbs);
	log->dev_size = le64toh(h.dev_size);
	log->pos = LW_HEADER_SIZE;
	log->file_size = (uint64_t)st.st_size;
	return 0;
fail:
	close(log->fd);
	log->fd = -1;
	return ret;
}

static bool lw_entry_ok(const struct lw_log *log, const struct lw_entry *e)
{
	switch (e->type) {
	case LW_WRITE:
		return e->payload == e->len && e->off <= log->dev_size &&
		       e->len <= log->dev_size - e->off;
	case LW_DISCARD:
		return !e->payload && e->off <= log->dev_size && e->len <= log->dev_size - e->off;
	case LW_MARK:
		return e->payload && e->payload <= LW_LABEL_MAX;
	case LW_FLUSH:
	case LW_CLOSE:
		return !e->payload;
	}
	return false;
}

/**
 * lw_log_next - read the next entry's header
 * @log: the open log
 * @e: filled in (payload_at says where its payload is)
 *
 * Context: one thread per @log.
 * Return: 1 with an entry; 0 at the end of the log; -EBADMSG when the rest
 * of the file is not a whole, valid entry (a cut-short append); -errno.
 */
int lw_log_next(struct lw_log *log, struct lw_entry *e)
{
	struct lw_disk_entry h;
	int ret;

	if (log->pos == log->file_size)
		return 0;
	if (log->file_size - log->pos < LW_ENTRY_SIZE)
		return -EBADMSG;
	ret = lw_pread_all(log->fd, &h, sizeof(h), log->pos);
	if (ret)
		return ret;
	*e = (struct lw_entry){
		.seq = le64toh(h.seq),
		.type = (enum lw_type)le16toh(h.type),
		.flags = le16toh(h.flags),
		.status = (int32_t)le32toh((uint32_t)h.status),
		.off = le64toh(h.off),
		.len = le64toh(h.len),
		.payload = le32toh(h.payload),
		.payload_at = log->pos + LW_ENTRY_SIZE,
	};
	if (le32toh(h.magic) != LW_ENTRY_MAGIC || e->seq != log->next_seq ||
	    e->payload > log->file_size - e->payload_at || !lw_entry_ok(log, e))
		return -EBADMSG;
	log->pos = e->payload_at + e->payload;
	log->next_seq++;
	return 1;
}

/**
 * lw_log_payload - read part of an entry's payload
 * @log: the open log
 * @e: an entry lw_log_next() returned
 * @skip: bytes of the payload to skip
 * @buf: destination
 * @len: bytes to read; skip + len at most e->payload
 *
 * Context: any thread (pread).
 * Return: 0, -EINVAL for a range outside the payload, or -errno.
 */
int lw_log_payload(const struct lw_log *log, const struct lw_entry *e, uint64_t skip, void *buf,
		   uint64_t len)
{
	if (skip > e->payload || len > e->payload - skip)
		return -EINVAL;
	return lw_pread_all(log->fd, buf, len, e->payload_at + skip);
}

/**
 * lw_log_close - close a log opened with lw_log_open()
 * @log: the log
 */
void lw_log_close(struct lw_log *log)
{
	if (log->fd >= 0)
		close(log->fd);
	log->fd = -1;
}

/**
 * lw_type_name - the name of an entry type
 * @t: the type
 *
 * Return: "write", "flush", "discard", "mark", "close" or "?".
 */
const char *lw_type_name(enum lw_type t)
{
	switch (t) {
	case LW_WRITE:
		return "write";
	case LW_FLUSH:
		return "flush";
	case LW_DISCARD:
		return "discard";
	case LW_MARK:
		return "mark";
	case LW_CLOSE:
		return "close";
	}
	return "?";
}
