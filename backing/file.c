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
 * Invariants: every field of struct file_dev is fixed once bdev_file_open()
 * returns, so requests need no lock (each is a positioned preadv/pwritev).
 */
#include "config.h"

#include "backing/bdev.h"
#include "backing/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
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
