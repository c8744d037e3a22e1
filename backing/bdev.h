/*
 * backing/bdev.h - block devices under the page cache.
 *
 * Every device (image file or block device, RAM, fault-injecting wrapper,
 * the crash tester's recording wrapper in backing/logwrites.h) implements
 * one ops table. Offsets and lengths are in bytes and must be
 * multiples of the device's logical block size (bdev->lbs); a transfer is
 * all-or-nothing: 0 on success, a negative errno on failure (a short read or
 * write is reported as -EIO). Requests may be issued from any thread at once;
 * each backend says how it serialises internally.
 *
 * Counters (reads, writes, bytes, flushes) are kept here for every backend so
 * the cache and the tools can show what reached the device.
 *
 * Conventions shared by every backend (backing/bdev.c holds the helpers):
 *  - Call devices through the bdev_*() helpers, not through ->ops: the helpers
 *    keep the counters. A request that succeeds adds one to st_reads or
 *    st_writes and its length to the byte counter (flushes and discards count
 *    in st_flushes and st_discards); a request that fails adds one to
 *    st_errors only. A discard answered with -EOPNOTSUPP counts as neither.
 *  - iovcnt must be 0..IOV_MAX (else -EINVAL). Only the total length has to be
 *    a multiple of lbs; single segments may have any length. A zero-length
 *    request succeeds without touching the device.
 *  - The buffer alignment in dio_align is what the fast path wants; the file
 *    backend still accepts any address (see bdev_file_open()).
 */
#ifndef FOLIO_BACKING_BDEV_H
#define FOLIO_BACKING_BDEV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct bdev;

/* The one interface every device implements. */
struct bdev_ops {
	/* Read @iovcnt buffers starting at byte @off. */
	int (*readv)(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt);
	/* Write @iovcnt buffers starting at byte @off. */
	int (*writev)(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt);
	/* Make every completed write durable. */
	int (*flush)(struct bdev *bdev);
	/* Tell the device @len bytes at @off are unused (may be a no-op). */
	int (*discard)(struct bdev *bdev, uint64_t off, uint64_t len);
	/* Release the device and free @bdev. */
	void (*close)(struct bdev *bdev);
};

/* Counters every backend keeps (relaxed atomics, read with bdev_stats()). */
struct bdev_stats {
	uint64_t reads, writes, read_bytes, write_bytes, flushes, discards, errors;
};

struct bdev {
	const struct bdev_ops *ops;
	uint64_t size;         /* bytes, a multiple of lbs; fixed after open */
	uint32_t lbs;          /* logical block size: alignment of offsets and lengths */
	uint32_t dio_align;    /* buffer address alignment the device needs (1 if none) */
	const char *name;      /* for messages */
	void *priv;            /* backend state */
	_Atomic uint64_t st_reads, st_writes, st_read_bytes, st_write_bytes;
	_Atomic uint64_t st_flushes, st_discards, st_errors;
};

/* Flags for bdev_file_open(). */
enum {
	BDEV_RDONLY = 1 << 0,   /* open read-only */
	BDEV_BUFFERED = 1 << 1, /* do not try O_DIRECT */
	BDEV_QUIET = 1 << 2,    /* do not print the O_DIRECT fallback notice */
	BDEV_EXCL = 1 << 3,     /* take an exclusive lock (flock) on the image */
};

/* Open an image file or block device. O_DIRECT unless BDEV_BUFFERED; where
 * O_DIRECT is refused it says so once on stderr and goes on buffered. */
int bdev_file_open(const char *path, unsigned flags, struct bdev **out);
/*
 * File backend details (backing/file.c):
 *  - lbs is 512 for a regular file and the logical sector size (BLKSSZGET) for
 *    a block device; size is st_size rounded down to lbs, or BLKGETSIZE64.
 *  - The direct-I/O alignment comes from statx(STATX_DIOALIGN) where the kernel
 *    reports it, else BLKSSZGET for block devices, else 512. A filesystem that
 *    reports no direct-I/O support there is treated like one refusing O_DIRECT.
 *    dio_align is the buffer alignment when direct, 1 when buffered.
 *  - A request whose offset, segment lengths or buffer addresses do not meet
 *    the O_DIRECT alignment goes through a second, buffered descriptor of the
 *    same file (Linux keeps direct and buffered I/O on one file coherent), so
 *    any lbs-aligned request works; aligned requests take the direct path.
 *  - Errors: offset or length not a multiple of lbs: -EINVAL; any byte past
 *    bdev->size, or a file that shrank under us (read hits end of file): -EIO;
 *    writes and discards on BDEV_RDONLY: -EROFS; missing path: -ENOENT;
 *    BDEV_EXCL when another open file description holds the flock: -EBUSY;
 *    neither a regular file nor a block device: -ENOTBLK (-EISDIR for a
 *    directory). Short transfers and EINTR are retried.
 *  - flush is fdatasync(); discard punches a hole (files) or issues BLKDISCARD
 *    (block devices) and gives -EOPNOTSUPP where that is not supported.
 *  - Requests are not serialised: each one is a positioned preadv/pwritev.
 */
/* Testing: while @on, every later O_DIRECT open in this process is treated as
 * refused with EINVAL (as older tmpfs and some FUSE filesystems refuse it), so
 * the buffered fallback can be exercised on kernels that accept O_DIRECT. */
void bdev_file_refuse_direct(bool on);
/* True when @bdev is a file backend that ended up with O_DIRECT. */
bool bdev_file_is_direct(const struct bdev *bdev);

/* A RAM device of @size bytes (rounded up to @lbs), zero-filled. */
int bdev_mem_create(uint64_t size, uint32_t lbs, struct bdev **out);
/*
 * RAM backend details (backing/mem.c): lbs must be a power of two >= 512 and
 * size non-zero (else -EINVAL); dio_align is 1. A request that is not a
 * multiple of lbs or reaches past the end returns -EINVAL. flush does nothing;
 * discard zeroes the range. Requests copy without a lock, like a RAM disk:
 * disjoint requests are independent, a read racing an overlapping write may
 * see old or new bytes.
 */

/* Helpers that call through the ops table and keep the counters. */
int bdev_readv(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt);
int bdev_writev(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt);
int bdev_read(struct bdev *bdev, uint64_t off, void *buf, size_t len);
int bdev_write(struct bdev *bdev, uint64_t off, const void *buf, size_t len);
int bdev_flush(struct bdev *bdev);
int bdev_discard(struct bdev *bdev, uint64_t off, uint64_t len);
void bdev_close(struct bdev *bdev);
void bdev_get_stats(struct bdev *bdev, struct bdev_stats *out);

/*
 * Fault injection (backing/faulty.c). A wrapper around another device; every
 * knob may be changed at run time from any thread.
 *
 * The wrapper has the lower device's size, lbs and dio_align and reaches it
 * through the bdev_*() helpers (so the lower device's counters show what
 * really reached it). Which requests the knobs see:
 *  - readv is a FAULTY_READ request, writev a FAULTY_WRITE request; ranges and
 *    fail_after apply to those two. flush and discard fail only once crashed.
 *  - fail_after keeps one countdown per kind (READ, WRITE, ANY); a request is
 *    failed when its own kind's or the ANY countdown has run out. A request
 *    that the lower device fails gives its slot back.
 *  - A torn write tears the next write of more than @blocks logical blocks;
 *    smaller writes pass and leave it armed. It fires once.
 *  - Every write that reaches the lower device (torn ones included) is logged
 *    (unless FAULTY_NO_UNDO) with the old contents of its range, read from the
 *    lower device first;
 *    a successful flush empties the log. The log therefore grows with the
 *    bytes written between flushes. Writes, flushes and discards are
 *    serialised by the wrapper; reads run in parallel. Discards are not
 *    logged (discarded contents are undefined after a crash anyway).
 *  - The crash countdown counts writes that reach the lower device; the crash
 *    happens right after the @n-th completes (that write returns its own
 *    result), restores the log newest-first, flushes the lower device, and from
 *    then on every request fails with -EIO.
 *  - faulty_injected() counts requests failed by injection, torn writes
 *    included; faulty_reset() does not clear it and keeps the undo log.
 *  - Latency is slept before the request, outside every lock.
 */
struct faulty;

/* Wrap @lower; closing the wrapper closes @lower too. */
int bdev_faulty_create(struct bdev *lower, struct bdev **out, struct faulty **ctl);

/* Flags for bdev_faulty_wrap(). */
enum {
	FAULTY_BORROW = 1 << 0,	 /* closing the wrapper leaves @lower open */
	FAULTY_NO_UNDO = 1 << 1, /* keep no undo log: writes cost no extra read, and a
				  * crash point fails later requests but restores nothing */
};
/* bdev_faulty_create() with FAULTY_* @flags. */
int bdev_faulty_wrap(struct bdev *lower, unsigned flags, struct bdev **out, struct faulty **ctl);

enum faulty_op { FAULTY_READ = 1, FAULTY_WRITE = 2, FAULTY_ANY = 3 };

/* Fail @op on any request touching bytes [off, off+len) with -EIO until cleared. */
int faulty_fail_range(struct faulty *f, enum faulty_op op, uint64_t off, uint64_t len);
/* Forget every range set with faulty_fail_range(). */
void faulty_clear_ranges(struct faulty *f);
/* After @n more requests of kind @op succeed, fail every later one with -EIO
 * (n < 0 turns it off). */
void faulty_fail_after(struct faulty *f, enum faulty_op op, long n);
/* The next multi-block write lands only its first @blocks logical blocks and
 * returns -EIO (a torn write); 0 turns it off. */
void faulty_tear_next_write(struct faulty *f, uint32_t blocks);
/* Add @usec of latency to every request. */
void faulty_set_latency(struct faulty *f, unsigned usec);
/* Crash point: after @n more writes (0: now), undo every write since the last
 * flush and fail every later request with -EIO, as a power cut would. The
 * lower device then holds exactly what was durable. n < 0 disarms. */
void faulty_crash_after(struct faulty *f, long n);
/* True once the crash has happened. */
bool faulty_crashed(struct faulty *f);
/* Clear every fault and the crashed state (the device works again). */
void faulty_reset(struct faulty *f);
/* Number of requests failed by injection so far. */
uint64_t faulty_injected(struct faulty *f);
/*
 * Test-only silent corruption: from now on every @n-th write that reaches the
 * lower device (counting from this call) lands with one byte changed, the byte
 * in the middle of the request, XORed with 0xff; the write reports success and
 * the caller's buffers are left as they were (a bounce copy is written). Torn
 * writes are not counted. 0 turns it off. faulty_reset() turns it off too.
 */
void faulty_corrupt_writes(struct faulty *f, unsigned n);
/* Number of writes corrupted so far (faulty_reset() does not clear it). */
uint64_t faulty_corrupted(struct faulty *f);

#endif /* FOLIO_BACKING_BDEV_H */
