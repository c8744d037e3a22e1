/*
 * backing/file.c - an image file or a block device as a foliofs device.
 *
 * Interface: bdev_file_open(), bdev_file_is_direct(), bdev_file_refuse_direct()
 * (backing/bdev.h, which also lists the error codes).
 *
 * Two descriptors: fd is opened with O_DIRECT so the host page cache does not
 * hold the image a second time; bfd is a plain descriptor of the same file.
 * Requests meeting the direct-I/O alignment (offset, every segment length, every
 * buffer address) go through fd, the rest through bfd. Linux keeps the two
 * coherent: a direct read first writes back cached dirty pages of its range, a
 * direct write drops cached pages of its range. A second descriptor was chosen
 * over a bounce buffer because the offset alignment may exceed lbs (512 on a
 * filesystem over a 4 KiB-sector disk), which a bounce buffer could only handle
 * with read-modify-write. Where O_DIRECT is refused, fd and bfd are the same
 * buffered descriptor.
 *
 * Batches (bdev_writev_batch()): the O_DIRECT requests of a batch go to the
 * kernel in one io_submit() on the calling thread's own Linux AIO context
 * (made on first use, freed when the thread exits), so the device gets them
 * together - one doorbell, several in flight - instead of one pwritev each
 * waiting for the last. Requests the direct descriptor cannot take, and any
 * that fails or comes back short, are written again alone the usual way.
 * Without a context (io_setup refused) a batch is written one by one.
 *
 * Invariants: every field of struct file_dev is fixed once bdev_file_open()
 * returns, so requests need no lock (each is a positioned preadv/pwritev, or
 * an iocb on the caller's own AIO context).
 */
#include "config.h"

#include "backing/bdev.h"
#include "backing/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Segments copied on the stack before a transfer; more are allocated. */
#define FILE_IOV_STACK 16

struct file_dev {
	struct bdev bdev;   /* bdev.priv points back here */
	char *path;	    /* bdev.name */
	int fd;		    /* O_DIRECT descriptor when direct, else == bfd */
	int bfd;	    /* buffered descriptor */
	uint32_t off_align; /* O_DIRECT offset and segment-length alignment */
	uint32_t mem_align; /* O_DIRECT buffer-address alignment */
	bool direct;	    /* fd is O_DIRECT */
	bool blkdev;	    /* a block device, not a regular file */
	bool rdonly;	    /* opened with BDEV_RDONLY */
};

/* Set once the fallback notice has been printed in this process. */
static atomic_bool file_noticed;
/* bdev_file_refuse_direct() state. */
static atomic_bool file_refuse;

static const struct bdev_ops file_ops;

static struct file_dev *file_dev(struct bdev *bdev)
{
	return bdev->priv;
}

/**
 * bdev_file_refuse_direct - make O_DIRECT opens look refused (testing)
 * @on: true to refuse from now on, false to try O_DIRECT again
 *
 * Context: any thread; affects opens that start afterwards.
 */
void bdev_file_refuse_direct(bool on)
{
	atomic_store(&file_refuse, on);
}

/**
 * bdev_file_is_direct - tell whether a device uses O_DIRECT
 * @bdev: any device
 *
 * Context: any thread.
 * Return: true when @bdev is a file backend whose main descriptor is O_DIRECT.
 */
bool bdev_file_is_direct(const struct bdev *bdev)
{
	return bdev && bdev->ops == &file_ops && ((struct file_dev *)bdev->priv)->direct;
}

/* Say once per process (unless BDEV_QUIET) that @path goes on buffered. */
static void file_fallback(struct file_dev *d, unsigned flags, const char *why)
{
	if (d->fd != d->bfd)
		close(d->fd);
	d->fd = d->bfd;
	d->direct = false;
	if (flags & BDEV_QUIET || atomic_exchange(&file_noticed, true))
		return;
	fprintf(stderr, "foliofs: %s: %s; going on with buffered I/O\n", d->path, why);
}

/* Open bfd, then fd with O_DIRECT unless told not to or refused. */
static int file_open_fds(struct file_dev *d, unsigned flags)
{
	int oflags = (flags & BDEV_RDONLY ? O_RDONLY : O_RDWR) | O_CLOEXEC;

	d->bfd = open(d->path, oflags);
	if (d->bfd < 0)
		return -errno;
	d->fd = d->bfd;
	if (flags & BDEV_BUFFERED)
		return 0;
	if (atomic_load(&file_refuse)) {
		errno = EINVAL;
		d->fd = -1;
	} else {
		d->fd = open(d->path, oflags | O_DIRECT);
	}
	if (d->fd >= 0) {
		d->direct = true;
		return 0;
	}
	if (errno != EINVAL)
		return -errno;
	d->fd = d->bfd;
	file_fallback(d, flags, "O_DIRECT refused by the filesystem");
	return 0;
}

/* Size and logical block size from the file or the device. */
static int file_geometry(struct file_dev *d, const struct stat *st)
{
	int ssz;
	uint64_t bytes;

	if (S_ISREG(st->st_mode)) {
		d->bdev.lbs = 512;
		bytes = (uint64_t)st->st_size;
	} else if (S_ISBLK(st->st_mode)) {
		d->blkdev = true;
		if (ioctl(d->bfd, BLKSSZGET, &ssz) || ioctl(d->bfd, BLKGETSIZE64, &bytes))
			return -errno;
		if (ssz < 512 || (ssz & (ssz - 1)))
			return -EINVAL;
		d->bdev.lbs = (uint32_t)ssz;
	} else {
		return S_ISDIR(st->st_mode) ? -EISDIR : -ENOTBLK;
	}
	d->bdev.size = bytes / d->bdev.lbs * d->bdev.lbs;
	return 0;
}

/*
 * Direct-I/O alignment of fd: statx where the kernel reports it, else the
 * logical block size (block devices) or 512. Returns false when the
 * filesystem says the file cannot do direct I/O at all.
 */
static bool file_dio_align(struct file_dev *d)
{
	d->off_align = d->blkdev ? d->bdev.lbs : 512;
	d->mem_align = d->off_align;
#ifdef STATX_DIOALIGN
	struct statx sx;

	if (!statx(d->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) && sx.stx_mask & STATX_DIOALIGN) {
		if (!sx.stx_dio_offset_align || !sx.stx_dio_mem_align)
			return false;
		d->off_align = sx.stx_dio_offset_align;
		d->mem_align = sx.stx_dio_mem_align;
	}
#endif
	return true;
}

static int file_lock(struct file_dev *d)
{
	if (!flock(d->fd, LOCK_EX | LOCK_NB))
		return 0;
	return errno == EWOULDBLOCK ? -EBUSY : -errno;
}

/* True when a request may take the O_DIRECT descriptor. */
static bool file_aligned(const struct file_dev *d, uint64_t off, const struct iovec *iov,
			 int iovcnt)
{
	if (!d->direct || off % d->off_align)
		return false;
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_len)
			continue;
		if ((uintptr_t)iov[i].iov_base % d->mem_align || iov[i].iov_len % d->off_align)
			return false;
	}
	return true;
}

/* Drop @done bytes from the front of the segment list (*@v, *@n). */
static void file_iov_advance(struct iovec **v, int *n, size_t done)
{
	while (*n && done >= (*v)->iov_len) {
		done -= (*v)->iov_len;
		(*v)++;
		(*n)--;
	}
	if (*n && done) {
		(*v)->iov_base = (char *)(*v)->iov_base + done;
		(*v)->iov_len -= done;
	}
}

/*
 * Move every byte of @v (a private copy, consumed) at @off through @fd,
 * retrying short transfers and EINTR. A direct descriptor refusing a request
 * with EINVAL hands the rest to the buffered one.
 */
static int file_loop(struct file_dev *d, int fd, bool write, uint64_t off, struct iovec *v, int n)
{
	while (n) {
		ssize_t r = write ? pwritev(fd, v, n, (off_t)off) : preadv(fd, v, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EINVAL && fd != d->bfd) {
				fd = d->bfd;
				continue;
			}
			return -errno;
		}
		if (r == 0)
			return -EIO;
		off += (uint64_t)r;
		file_iov_advance(&v, &n, (size_t)r);
	}
	return 0;
}

static int file_xfer(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt,
		     bool write)
{
	struct file_dev *d = file_dev(bdev);
	struct iovec stack[FILE_IOV_STACK], *v = stack;
	uint64_t len;
	int ret = bdev_iov_len(iov, iovcnt, &len);

	if (ret)
		return ret;
	if (write && d->rdonly)
		return -EROFS;
	if (off % bdev->lbs || len % bdev->lbs)
		return -EINVAL;
	if (off > bdev->size || len > bdev->size - off)
		return -EIO;
	if (iovcnt > FILE_IOV_STACK) {
		v = malloc(sizeof(*v) * iovcnt);
		if (!v)
			return -ENOMEM;
	}
	memcpy(v, iov, sizeof(*v) * iovcnt);
	ret = file_loop(d, file_aligned(d, off, iov, iovcnt) ? d->fd : d->bfd, write, off, v,
			iovcnt);
	if (v != stack)
		free(v);
	return ret;
}

static int file_readv(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt)
{
	return file_xfer(bdev, off, iov, iovcnt, false);
}

static int file_writev(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt)
{
	return file_xfer(bdev, off, iov, iovcnt, true);
}

/* ---- batches: Linux AIO ---- */

static pthread_key_t file_aio_key;
static pthread_once_t file_aio_once = PTHREAD_ONCE_INIT;
static bool file_aio_keyed;

static void file_aio_release(void *p)
{
	syscall(SYS_io_destroy, (aio_context_t)(uintptr_t)p);
}

static void file_aio_key_init(void)
{
	file_aio_keyed = pthread_key_create(&file_aio_key, file_aio_release) == 0;
}

/* The calling thread's AIO context; 0 when it cannot have one. */
static aio_context_t file_aio_ctx(void)
{
	static __thread aio_context_t ctx;
	static __thread bool tried;

	if (ctx || tried)
		return ctx;
	tried = true;
	pthread_once(&file_aio_once, file_aio_key_init);
	if (!file_aio_keyed || syscall(SYS_io_setup, BDEV_BATCH_MAX, &ctx)) {
		ctx = 0;
		return 0;
	}
	if (pthread_setspecific(file_aio_key, (void *)(uintptr_t)ctx)) {
		syscall(SYS_io_destroy, ctx);
		ctx = 0;
	}
	return ctx;
}

/* Submit @n iocbs; returns how many the kernel took. */
static int file_aio_submit(aio_context_t ctx, struct iocb **cbs, int n)
{
	int done = 0;

	while (done < n) {
		long r = syscall(SYS_io_submit, ctx, (long)(n - done), cbs + done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done += (int)r;
	}
	return done;
}

/* Wait for @n submitted iocbs; a request whose write did not complete whole
 * is left at 1 in @res (its index is the iocb's aio_data). */
static void file_aio_reap(aio_context_t ctx, int n, const struct bdev_wreq *reqs, int *res)
{
	struct io_event ev[BDEV_BATCH_MAX];
	int got = 0;

	while (got < n) {
		long k = syscall(SYS_io_getevents, ctx, (long)(n - got), (long)(n - got), ev, NULL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) /* cannot happen on a valid context; never leave I/O behind */
			abort();
		for (long e = 0; e < k; e++) {
			int i = (int)ev[e].data;
			uint64_t len = 0;

			(void)bdev_iov_len(reqs[i].iov, reqs[i].iovcnt, &len);
			res[i] = ev[e].res == (int64_t)len ? 0 : 1;
		}
		got += (int)k;
	}
}

/*
 * Write a batch: the requests the direct descriptor takes go in one
 * submission and are waited for together; the rest, and any write that did
 * not complete whole, are written alone (file_writev()).
 */
static void file_writev_batch(struct bdev *bdev, struct bdev_wreq *reqs, int n)
{
	struct file_dev *d = file_dev(bdev);
	aio_context_t ctx = d->direct && !d->rdonly ? file_aio_ctx() : 0;
	struct iocb cb[BDEV_BATCH_MAX], *cbs[BDEV_BATCH_MAX];
	int res[BDEV_BATCH_MAX], m = 0, sent;

	for (int i = 0; i < n; i++) {
		uint64_t off = reqs[i].off, len = 0;

		res[i] = 1; /* not written yet */
		(void)bdev_iov_len(reqs[i].iov, reqs[i].iovcnt, &len);
		if (!ctx || off % bdev->lbs || len % bdev->lbs || off > bdev->size ||
		    len > bdev->size - off || !file_aligned(d, off, reqs[i].iov, reqs[i].iovcnt))
			continue;
		cb[m] = (struct iocb){.aio_data = (uint64_t)i,
				      .aio_lio_opcode = IOCB_CMD_PWRITEV,
				      .aio_fildes = (uint32_t)d->fd,
				      .aio_buf = (uint64_t)(uintptr_t)reqs[i].iov,
				      .aio_nbytes = (uint64_t)reqs[i].iovcnt,
				      .aio_offset = (int64_t)off};
		cbs[m] = &cb[m];
		m++;
	}
	sent = m ? file_aio_submit(ctx, cbs, m) : 0;
	if (sent)
		file_aio_reap(ctx, sent, reqs, res);
	for (int i = 0; i < n; i++) {
		if (!res[i])
			atomic_fetch_add_explicit(&bdev->st_batched, 1, memory_order_relaxed);
		reqs[i].result =
			res[i] ? file_writev(bdev, reqs[i].off, reqs[i].iov, reqs[i].iovcnt) : 0;
	}
}

static int file_flush(struct bdev *bdev)
{
	/* fdatasync works on the inode: it also covers writes made through bfd. */
	return fdatasync(file_dev(bdev)->fd) ? -errno : 0;
}

static int file_discard(struct bdev *bdev, uint64_t off, uint64_t len)
{
	struct file_dev *d = file_dev(bdev);
	uint64_t range[2] = {off, len};
	int r;

	if (d->rdonly)
		return -EROFS;
	if (off % bdev->lbs || len % bdev->lbs)
		return -EINVAL;
	if (off > bdev->size || len > bdev->size - off)
		return -EIO;
	if (d->blkdev)
		r = ioctl(d->bfd, BLKDISCARD, range);
	else
		r = fallocate(d->bfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			      (off_t)len);
	if (!r)
		return 0;
	return errno == ENOSYS || errno == ENOTTY ? -EOPNOTSUPP : -errno;
}

static void file_free(struct file_dev *d)
{
	if (d->fd >= 0 && d->fd != d->bfd)
		close(d->fd);
	if (d->bfd >= 0)
		close(d->bfd);
	free(d->path);
	free(d);
}

static void file_close(struct bdev *bdev)
{
	file_free(file_dev(bdev));
}

static const struct bdev_ops file_ops = {
	.readv = file_readv,
	.writev = file_writev,
	.writev_batch = file_writev_batch,
	.flush = file_flush,
	.discard = file_discard,
	.close = file_close,
};

/* Everything after the descriptors are open: geometry, alignment, lock. */
static int file_setup(struct file_dev *d, unsigned flags)
{
	struct stat st;
	int ret;

	if (fstat(d->bfd, &st))
		return -errno;
	ret = file_geometry(d, &st);
	if (ret)
		return ret;
	if (d->direct && !file_dio_align(d))
		file_fallback(d, flags, "the filesystem reports no direct I/O support");
	if (flags & BDEV_EXCL)
		return file_lock(d);
	return 0;
}

/**
 * bdev_file_open - open an image file or a block device
 * @path: the file or device node
 * @flags: BDEV_RDONLY, BDEV_BUFFERED, BDEV_QUIET, BDEV_EXCL
 * @out: receives the device
 *
 * Tries O_DIRECT unless BDEV_BUFFERED; where the filesystem refuses it, prints
 * one notice per process on stderr (unless BDEV_QUIET) and goes on buffered.
 *
 * Context: any thread; may sleep.
 * Return: 0, or a negative errno: -ENOENT, -EACCES, ... from open(), -EBUSY when
 * BDEV_EXCL finds the image locked, -ENOTBLK/-EISDIR for other file types,
 * -ENOMEM.
 */
int bdev_file_open(const char *path, unsigned flags, struct bdev **out)
{
	struct file_dev *d = calloc(1, sizeof(*d));
	int ret = -ENOMEM;

	if (!d)
		return -ENOMEM;
	d->fd = d->bfd = -1;
	d->path = strdup(path);
	if (!d->path)
		goto fail;
	d->rdonly = flags & BDEV_RDONLY;
	ret = file_open_fds(d, flags);
	if (ret)
		goto fail;
	ret = file_setup(d, flags);
	if (ret)
		goto fail;
	d->bdev.ops = &file_ops;
	d->bdev.dio_align = d->direct ? d->mem_align : 1;
	d->bdev.name = d->path;
	d->bdev.priv = d;
	*out = &d->bdev;
	return 0;
fail:
	file_free(d);
	return ret;
}
