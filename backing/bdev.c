/*
 * backing/bdev.c - the device-independent side of the block layer.
 *
 * Owns the bdev_*() helpers every caller uses instead of reaching into the
 * ops table: they forward to the backend and keep the per-device counters.
 *
 * Invariants: a counter only ever grows; st_reads/st_writes/st_*_bytes,
 * st_flushes and st_discards count requests that succeeded, st_errors the ones
 * that failed (a discard refused with -EOPNOTSUPP counts as neither). Counters
 * are relaxed atomics: totals are exact, their order against other memory is
 * not.
 */
#include "config.h"

#include "backing/bdev.h"
#include "backing/internal.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>

/**
 * bdev_iov_len - check an iovec array and return its total length
 * @iov: the segments
 * @iovcnt: how many (0..IOV_MAX)
 * @len: where to store the sum of the segment lengths
 *
 * Context: any thread.
 * Return: 0, or -EINVAL for a bad count, a NULL array or a sum that overflows.
 */
int bdev_iov_len(const struct iovec *iov, int iovcnt, uint64_t *len)
{
	uint64_t sum = 0;

	if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > UINT64_MAX - sum)
			return -EINVAL;
		sum += iov[i].iov_len;
	}
	*len = sum;
	return 0;
}

/**
 * bdev_mutex_init - initialise a mutex of a device wrapper
 * @m: the mutex
 *
 * Debug builds make it error-checking, so a double lock or an unlock by a
 * non-owner fails instead of corrupting state.
 *
 * Context: any, before the mutex is used.
 * Return: 0 or a negative errno.
 */
int bdev_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int ret;

	pthread_mutexattr_init(&a);
#ifdef FOLIO_DEBUG
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
#endif
	ret = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return -ret;
}

static void bdev_count(_Atomic uint64_t *ctr, uint64_t n)
{
	atomic_fetch_add_explicit(ctr, n, memory_order_relaxed);
}

/* Account one finished request of @bytes on @ops/@bytes_ctr, or an error. */
static int bdev_account(struct bdev *bdev, _Atomic uint64_t *ops, _Atomic uint64_t *bytes_ctr,
			uint64_t bytes, int ret)
{
	if (ret) {
		bdev_count(&bdev->st_errors, 1);
		return ret;
	}
	bdev_count(ops, 1);
	if (bytes_ctr)
		bdev_count(bytes_ctr, bytes);
	return 0;
}

/**
 * bdev_readv - read into several buffers from a device
 * @bdev: the device
 * @off: byte offset, a multiple of bdev->lbs
 * @iov: the buffers, filled in order
 * @iovcnt: number of buffers (0..IOV_MAX); their total is a multiple of lbs
 *
 * Context: any thread; may sleep in the backend.
 * Return: 0 when every byte was read, else a negative errno from the backend.
 */
int bdev_readv(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt)
{
	uint64_t len = 0;
	int ret = bdev_iov_len(iov, iovcnt, &len);

	if (!ret && len)
		ret = bdev->ops->readv(bdev, off, iov, iovcnt);
	return bdev_account(bdev, &bdev->st_reads, &bdev->st_read_bytes, len, ret);
}

/**
 * bdev_writev - write several buffers to a device
 * @bdev: the device
 * @off: byte offset, a multiple of bdev->lbs
 * @iov: the buffers, written in order
 * @iovcnt: number of buffers (0..IOV_MAX); their total is a multiple of lbs
 *
 * Context: any thread; may sleep in the backend.
 * Return: 0 when every byte was written, else a negative errno from the backend.
 */
int bdev_writev(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt)
{
	uint64_t len = 0;
	int ret = bdev_iov_len(iov, iovcnt, &len);

	if (!ret && len)
		ret = bdev->ops->writev(bdev, off, iov, iovcnt);
	return bdev_account(bdev, &bdev->st_writes, &bdev->st_write_bytes, len, ret);
}

/**
 * bdev_read - read one buffer from a device
 * @bdev: the device
 * @off: byte offset, a multiple of bdev->lbs
 * @buf: destination
 * @len: bytes, a multiple of bdev->lbs
 *
 * Context: any thread; may sleep in the backend.
 * Return: 0 or a negative errno, as bdev_readv().
 */
int bdev_read(struct bdev *bdev, uint64_t off, void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	return bdev_readv(bdev, off, &iov, 1);
}

/**
 * bdev_write - write one buffer to a device
 * @bdev: the device
 * @off: byte offset, a multiple of bdev->lbs
 * @buf: source
 * @len: bytes, a multiple of bdev->lbs
 *
 * Context: any thread; may sleep in the backend.
 * Return: 0 or a negative errno, as bdev_writev().
 */
int bdev_write(struct bdev *bdev, uint64_t off, const void *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	return bdev_writev(bdev, off, &iov, 1);
}

/**
 * bdev_flush - make every completed write durable
 * @bdev: the device
 *
 * Context: any thread; may sleep.
 * Return: 0 or a negative errno from the backend.
 */
int bdev_flush(struct bdev *bdev)
{
	return bdev_account(bdev, &bdev->st_flushes, NULL, 0, bdev->ops->flush(bdev));
}

/**
 * bdev_discard - tell a device a byte range is no longer used
 * @bdev: the device
 * @off: byte offset, a multiple of bdev->lbs
 * @len: bytes, a multiple of bdev->lbs
 *
 * Context: any thread; may sleep.
 * Return: 0, -EOPNOTSUPP when the device cannot discard (not counted as an
 * error), or another negative errno.
 */
int bdev_discard(struct bdev *bdev, uint64_t off, uint64_t len)
{
	int ret = len ? bdev->ops->discard(bdev, off, len) : 0;

	if (ret == -EOPNOTSUPP)
		return ret;
	return bdev_account(bdev, &bdev->st_discards, NULL, 0, ret);
}

/**
 * bdev_close - release a device and free it
 * @bdev: the device, or NULL
 *
 * Context: no request may be in flight on @bdev.
 */
void bdev_close(struct bdev *bdev)
{
	if (bdev)
		bdev->ops->close(bdev);
}

/**
 * bdev_get_stats - copy a device's counters
 * @bdev: the device
 * @out: filled with the current values
 *
 * Context: any thread; each value is read atomically, the set is not a snapshot.
 */
void bdev_get_stats(struct bdev *bdev, struct bdev_stats *out)
{
	out->reads = atomic_load_explicit(&bdev->st_reads, memory_order_relaxed);
	out->writes = atomic_load_explicit(&bdev->st_writes, memory_order_relaxed);
	out->read_bytes = atomic_load_explicit(&bdev->st_read_bytes, memory_order_relaxed);
	out->write_bytes = atomic_load_explicit(&bdev->st_write_bytes, memory_order_relaxed);
	out->flushes = atomic_load_explicit(&bdev->st_flushes, memory_order_relaxed);
	out->discards = atomic_load_explicit(&bdev->st_discards, memory_order_relaxed);
	out->errors = atomic_load_explicit(&bdev->st_errors, memory_order_relaxed);
}
