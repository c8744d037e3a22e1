/*
 * backing/mem.c - a RAM device for unit tests.
 *
 * Interface: bdev_mem_create() (backing/bdev.h). The contents live in one
 * anonymous private mapping, so a large device costs memory only where it has
 * been written, and reads of untouched blocks return zeros.
 *
 * Invariants: size is a non-zero multiple of lbs, lbs a power of two >= 512;
 * both fixed at creation. Every request is checked against them before a byte
 * moves (-EINVAL otherwise). There is no lock: requests copy directly, as a
 * RAM disk does, so disjoint requests never wait for each other.
 */
#include "config.h"

#include "backing/bdev.h"
#include "backing/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct mem_dev {
	struct bdev bdev;    /* bdev.priv points back here */
	unsigned char *data; /* bdev.size bytes; fixed after create */
};

static struct mem_dev *mem_dev(struct bdev *bdev)
{
	return bdev->priv;
}

/* 0 when [off, off+len) is lbs-aligned and inside the device, else -EINVAL. */
static int mem_check(const struct bdev *bdev, uint64_t off, uint64_t len)
{
	if (off % bdev->lbs || len % bdev->lbs)
		return -EINVAL;
	if (off > bdev->size || len > bdev->size - off)
		return -EINVAL;
	return 0;
}

static int mem_xfer(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt,
		    bool write)
{
	unsigned char *p = mem_dev(bdev)->data + off;
	uint64_t len;
	int ret = bdev_iov_len(iov, iovcnt, &len);

	if (!ret)
		ret = mem_check(bdev, off, len);
	if (ret)
		return ret;
	for (int i = 0; i < iovcnt; i++) {
		if (write)
			memcpy(p, iov[i].iov_base, iov[i].iov_len);
		else
			memcpy(iov[i].iov_base, p, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	return 0;
}

static int mem_readv(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt)
{
	return mem_xfer(bdev, off, iov, iovcnt, false);
}

static int mem_writev(struct bdev *bdev, uint64_t off, const struct iovec *iov, int iovcnt)
{
	return mem_xfer(bdev, off, iov, iovcnt, true);
}

static int mem_flush(struct bdev *bdev)
{
	return 0;
}

/* Zero the range: whole pages are handed back to the kernel, edges memset. */
static int mem_discard(struct bdev *bdev, uint64_t off, uint64_t len)
{
	unsigned char *data = mem_dev(bdev)->data;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t first, last;
	int ret = mem_check(bdev, off, len);

	if (ret)
		return ret;
	first = (off + page - 1) / page * page;
	last = (off + len) / page * page;
	if (first >= last) {
		memset(data + off, 0, len);
		return 0;
	}
	memset(data + off, 0, first - off);
	memset(data + last, 0, off + len - last);
	if (madvise(data + first, last - first, MADV_DONTNEED))
		memset(data + first, 0, last - first);
	return 0;
}

static void mem_close(struct bdev *bdev)
{
	struct mem_dev *m = mem_dev(bdev);

	munmap(m->data, bdev->size);
	free(m);
}

static const struct bdev_ops mem_ops = {
	.readv = mem_readv,
	.writev = mem_writev,
	.flush = mem_flush,
	.discard = mem_discard,
	.close = mem_close,
};

/**
 * bdev_mem_create - create a zero-filled RAM device
 * @size: bytes, rounded up to a multiple of @lbs; must not be 0
 * @lbs: logical block size, a power of two >= 512
 * @out: receives the device
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a bad size or block size, -ENOMEM when the memory
 * cannot be mapped.
 */
int bdev_mem_create(uint64_t size, uint32_t lbs, struct bdev **out)
{
	struct mem_dev *m;

	if (lbs < 512 || (lbs & (lbs - 1)) || !size || size > UINT64_MAX - (lbs - 1))
		return -EINVAL;
	size = (size + lbs - 1) / lbs * lbs;
	if (size > SIZE_MAX)
		return -ENOMEM;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->data = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->data == MAP_FAILED) {
		free(m);
		return -ENOMEM;
	}
	m->bdev.ops = &mem_ops;
	m->bdev.size = size;
	m->bdev.lbs = lbs;
	m->bdev.dio_align = 1;
	m->bdev.name = "mem";
	m->bdev.priv = m;
	*out = &m->bdev;
	return 0;
}
