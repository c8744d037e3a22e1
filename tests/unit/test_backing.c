/*
 * tests/unit/test_backing.c - unit tests for backing/: the RAM device, the
 * file backend (on a temporary file under /tmp and on /dev/shm) and the
 * fault-injecting wrapper.
 *
 * Every check compares bytes, return codes or counters; nothing passes on
 * timing except the latency check, which tests a lower bound only.
 */
#include "config.h"

#include "backing/bdev.h"
#include "tests/lib/clock.h"
#include "tests/lib/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BLK 4096u

/* Fill @buf with a pattern that differs per @seed and per byte position. */
static void pattern(void *buf, size_t len, unsigned seed)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 9));
}

static bool has_pattern(const void *buf, size_t len, unsigned seed)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != (unsigned char)(seed * 131u + i * 7u + (i >> 9)))
			return false;
	return true;
}

static bool all_bytes(const void *buf, size_t len, unsigned char c)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != c)
			return false;
	return true;
}

static void *xalloc(size_t len)
{
	void *p;

	if (posix_memalign(&p, 4096, len))
		BAIL("out of memory");
	memset(p, 0xee, len);
	return p;
}

static bool stats_are(struct bdev *b, struct bdev_stats want)
{
	struct bdev_stats s;

	bdev_get_stats(b, &s);
	if (!memcmp(&s, &want, sizeof(s)))
		return true;
	diag("stats: reads %lu writes %lu rbytes %lu wbytes %lu flushes %lu discards %lu errors "
	     "%lu",
	     (unsigned long)s.reads, (unsigned long)s.writes, (unsigned long)s.read_bytes,
	     (unsigned long)s.write_bytes, (unsigned long)s.flushes, (unsigned long)s.discards,
	     (unsigned long)s.errors);
	return false;
}

/* ---- RAM device ---- */

static void test_mem_create(void)
{
	struct bdev *b = NULL;
	char buf[BLK];

	is_int(bdev_mem_create(1 << 20, 1000, &b), -EINVAL, "mem: lbs not a power of two refused");
	is_int(bdev_mem_create(1 << 20, 256, &b), -EINVAL, "mem: lbs below 512 refused");
	is_int(bdev_mem_create(0, 512, &b), -EINVAL, "mem: size 0 refused");
	is_int(bdev_mem_create(5000, BLK, &b), 0, "mem: create 5000 bytes, lbs 4096");
	is_u64(b->size, 8192, "mem: size rounded up to lbs");
	is_int(b->lbs, BLK, "mem: lbs as given");
	is_int(b->dio_align, 1, "mem: dio_align 1");
	memset(buf, 0x55, sizeof(buf));
	is_int(bdev_read(b, BLK, buf, BLK), 0, "mem: read fresh block");
	ok(all_bytes(buf, BLK, 0), "mem: fresh device reads zeros");
	bdev_close(b);
}

static void test_mem_roundtrip(struct bdev *b)
{
	unsigned char *w = xalloc(4 * BLK), *r = xalloc(4 * BLK);
	struct iovec wv[3] = {{w, 100}, {w + 100, 2 * BLK - 100}, {w + 2 * BLK, 2 * BLK}};
	struct iovec rv[2] = {{r, 3 * BLK + 7}, {r + 3 * BLK + 7, BLK - 7}};

	pattern(w, BLK, 1);
	is_int(bdev_write(b, 0, w, BLK), 0, "mem: write one block");
	is_int(bdev_read(b, 0, r, BLK), 0, "mem: read it back");
	ok(has_pattern(r, BLK, 1), "mem: bytes round-trip");
	pattern(w, 4 * BLK, 2);
	is_int(bdev_writev(b, 4 * BLK, wv, 3), 0, "mem: gather write of 3 segments");
	is_int(bdev_readv(b, 4 * BLK, rv, 2), 0, "mem: scatter read of 2 other segments");
	ok(has_pattern(r, 4 * BLK, 2), "mem: scatter/gather bytes match");
	is_int(bdev_read(b, 0, r, BLK), 0, "mem: first block again");
	ok(has_pattern(r, BLK, 1), "mem: neighbouring write left block 0 alone");
	free(w);
	free(r);
}

static void test_mem_errors(struct bdev *b)
{
	char *buf = xalloc(2 * BLK);

	is_int(bdev_read(b, b->size - BLK, buf, 2 * BLK), -EINVAL, "mem: read across the end");
	is_int(bdev_write(b, b->size, buf, BLK), -EINVAL, "mem: write past the end");
	is_int(bdev_read(b, UINT64_MAX - BLK + 1, buf, BLK), -EINVAL, "mem: huge offset");
	is_int(bdev_read(b, 512, buf, BLK), -EINVAL, "mem: offset not a multiple of lbs");
	is_int(bdev_write(b, 0, buf, BLK + 512), -EINVAL, "mem: length not a multiple of lbs");
	is_int(bdev_discard(b, 512, BLK), -EINVAL, "mem: misaligned discard");
	is_int(bdev_readv(b, 0, NULL, -1), -EINVAL, "mem: negative iovcnt");
	free(buf);
}

static void test_mem_discard(struct bdev *b)
{
	unsigned char *buf = xalloc(3 * BLK), *want = xalloc(3 * BLK);

	pattern(want, 3 * BLK, 9);
	is_int(bdev_write(b, 8 * BLK, want, 3 * BLK), 0, "mem: write 3 blocks");
	is_int(bdev_discard(b, 9 * BLK, BLK), 0, "mem: discard the middle one");
	is_int(bdev_read(b, 8 * BLK, buf, 3 * BLK), 0, "mem: read them");
	ok(all_bytes(buf + BLK, BLK, 0), "mem: discarded block reads zeros");
	ok(!memcmp(buf, want, BLK) && !memcmp(buf + 2 * BLK, want + 2 * BLK, BLK),
	   "mem: neighbours of the discard untouched");
	free(buf);
	free(want);
}

static void test_mem(void)
{
	struct bdev *b;

	test_mem_create();
	if (bdev_mem_create(16 * BLK, BLK, &b))
		BAIL("mem create");
	test_mem_roundtrip(b);
	ok(stats_are(b, (struct bdev_stats){.reads = 3,
					    .writes = 2,
					    .read_bytes = 6 * BLK,
					    .write_bytes = 5 * BLK}),
	   "mem: counters after round trips");
	test_mem_errors(b);
	is_int(bdev_flush(b), 0, "mem: flush");
	is_int(bdev_flush(b), 0, "mem: flush again");
	test_mem_discard(b);
	ok(stats_are(b, (struct bdev_stats){.reads = 4,
					    .writes = 3,
					    .read_bytes = 9 * BLK,
					    .write_bytes = 8 * BLK,
					    .flushes = 2,
					    .discards = 1,
					    .errors = 7}),
	   "mem: counters after errors, flushes and a discard");
	bdev_close(b);
}

/* ---- file backend ---- */

#define FILE_SIZE (1024u * 1024u)

/* Create a temporary file of @size bytes in @dir; its path goes to @path. */
static int make_image(const char *dir, char *path, size_t pathlen, off_t size)
{
	int fd;

	snprintf(path, pathlen, "%s/test_backing.XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size)) {
		close(fd);
		unlink(path);
		return -errno;
	}
	return fd;
}

/* 1 when @path accepts O_DIRECT, 0 when refused with EINVAL, <0 on other errors. */
static int probe_direct(const char *path)
{
	int fd = open(path, O_RDWR | O_DIRECT);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno == EINVAL ? 0 : -errno;
}

/* Bytes of the image read through a plain descriptor of its own. */
static bool file_has(int fd, off_t off, const void *want, size_t len)
{
	unsigned char *got = xalloc(len);
	bool same = pread(fd, got, len, off) == (ssize_t)len && !memcmp(got, want, len);

	free(got);
	return same;
}

static void test_file_roundtrip(struct bdev *b, int rawfd)
{
	unsigned char *w = xalloc(4 * BLK), *r = xalloc(4 * BLK);
	struct iovec wv[3] = {{w, BLK}, {w + BLK, BLK}, {w + 2 * BLK, 2 * BLK}};

	pattern(w, 4 * BLK, 21);
	is_int(bdev_writev(b, 0, wv, 3), 0, "file: aligned gather write of 4 blocks");
	ok(file_has(rawfd, 0, w, 4 * BLK), "file: the bytes are in the image file");
	is_int(bdev_read(b, 0, r, 4 * BLK), 0, "file: aligned read");
	ok(!memcmp(r, w, 4 * BLK), "file: bytes round-trip");
	is_int(bdev_flush(b), 0, "file: flush");
	free(w);
	free(r);
}

/* Unaligned buffers and odd segment lengths go the buffered way; all stay coherent. */
static void test_file_misaligned(struct bdev *b, int rawfd)
{
	unsigned char *raw = xalloc(4 * BLK + 1), *mis = raw + 1, *r = xalloc(4 * BLK);
	struct iovec odd[3] = {{r, 100}, {r + 100, 1000}, {r + 1100, 948}};

	pattern(mis, BLK, 31);
	is_int(bdev_write(b, 8 * BLK, mis, BLK), 0, "file: write from an unaligned buffer");
	is_int(bdev_read(b, 8 * BLK, r, BLK), 0, "file: aligned read of it");
	ok(has_pattern(r, BLK, 31), "file: aligned read sees the unaligned write");
	is_int(bdev_read(b, 12 * BLK, mis, BLK), 0, "file: unaligned read (fills cache)");
	pattern(r, BLK, 32);
	is_int(bdev_write(b, 12 * BLK, r, BLK), 0, "file: aligned write over it");
	is_int(bdev_read(b, 12 * BLK, mis, BLK), 0, "file: unaligned read again");
	ok(has_pattern(mis, BLK, 32), "file: unaligned read sees the aligned write");
	pattern(r, 2048, 33);
	is_int(bdev_write(b, 16 * BLK + 512, r, 2048), 0, "file: write at a 512-byte offset");
	memset(r, 0, 2048);
	is_int(bdev_readv(b, 16 * BLK + 512, odd, 3), 0, "file: read into 100/1000/948 segments");
	ok(has_pattern(r, 2048, 33), "file: odd segments hold the right bytes");
	ok(file_has(rawfd, 16 * BLK + 512, r, 2048), "file: image file agrees");
	is_int(bdev_read(b, 100, r, 512), -EINVAL, "file: offset not a multiple of 512");
	is_int(bdev_read(b, 0, r, 700), -EINVAL, "file: length not a multiple of 512");
	is_int(bdev_read(b, FILE_SIZE - 512, r, 1024), -EIO, "file: read past the end");
	free(raw);
	free(r);
}

static void test_file_discard(struct bdev *b)
{
	unsigned char *buf = xalloc(3 * BLK), *want = xalloc(3 * BLK);
	int ret;

	pattern(want, 3 * BLK, 41);
	is_int(bdev_write(b, 32 * BLK, want, 3 * BLK), 0, "file: write 3 blocks");
	ret = bdev_discard(b, 33 * BLK, BLK);
	if (ret == -EOPNOTSUPP) {
		skip("file: discard punches a hole", "hole punching not supported here");
		goto out;
	}
	is_int(ret, 0, "file: discard the middle block");
	is_int(bdev_read(b, 32 * BLK, buf, 3 * BLK), 0, "file: read them back");
	ok(all_bytes(buf + BLK, BLK, 0), "file: discarded block reads zeros");
	ok(!memcmp(buf, want, BLK) && !memcmp(buf + 2 * BLK, want + 2 * BLK, BLK),
	   "file: neighbours of the discard untouched");
out:
	free(buf);
	free(want);
}

/* A child process tries BDEV_EXCL; returns its -errno. */
static int excl_in_child(const char *path)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		struct bdev *b;
		int ret = bdev_file_open(path, BDEV_EXCL | BDEV_QUIET, &b);

		_exit(ret < 0 ? -ret : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -ECHILD;
	return -WEXITSTATUS(status);
}

static void test_file_open_modes(const char *path)
{
	struct bdev *a = NULL, *b = NULL;
	char buf[512] = {0};

	is_int(bdev_file_open("/tmp/test_backing.does-not-exist", BDEV_QUIET, &b), -ENOENT,
	       "file: missing path gives -ENOENT");
	is_int(bdev_file_open("/tmp", BDEV_QUIET | BDEV_RDONLY, &b), -EISDIR,
	       "file: a directory gives -EISDIR");
	is_int(bdev_file_open("/dev/null", BDEV_QUIET, &b), -ENOTBLK,
	       "file: a character device gives -ENOTBLK");
	is_int(bdev_file_open(path, BDEV_EXCL | BDEV_QUIET, &a), 0, "file: BDEV_EXCL open");
	is_int(bdev_file_open(path, BDEV_EXCL | BDEV_QUIET, &b), -EBUSY,
	       "file: second BDEV_EXCL open in this process gives -EBUSY");
	is_int(excl_in_child(path), -EBUSY, "file: BDEV_EXCL open in a child gives -EBUSY");
	is_int(bdev_file_open(path, BDEV_QUIET | BDEV_RDONLY, &b), 0,
	       "file: open without BDEV_EXCL still works");
	bdev_close(b);
	bdev_close(a);
	is_int(bdev_file_open(path, BDEV_EXCL | BDEV_QUIET, &a), 0,
	       "file: BDEV_EXCL works again after close");
	bdev_close(a);
	is_int(bdev_file_open(path, BDEV_RDONLY | BDEV_QUIET, &b), 0, "file: BDEV_RDONLY open");
	is_int(bdev_write(b, 0, buf, 512), -EROFS, "file: write on a read-only device is -EROFS");
	is_int(bdev_discard(b, 0, 512), -EROFS, "file: discard on a read-only device is -EROFS");
	is_int(bdev_read(b, 0, buf, 512), 0, "file: read on a read-only device works");
	bdev_close(b);
}

/* The file shrinks under the device: reads past the new end are -EIO. */
static void test_file_shrunk(struct bdev *b, int rawfd)
{
	char *buf = xalloc(BLK);

	if (ftruncate(rawfd, FILE_SIZE / 2))
		BAIL("ftruncate");
	is_int(bdev_read(b, FILE_SIZE / 2, buf, BLK), -EIO,
	       "file: read beyond a shrunk file's end is -EIO");
	is_int(bdev_read(b, 0, buf, BLK), 0, "file: read before it still works");
	free(buf);
}

static void test_file_tmp(void)
{
	char path[64];
	struct bdev *b;
	int rawfd = make_image("/tmp", path, sizeof(path), FILE_SIZE + 100), direct;

	if (rawfd < 0)
		BAIL("cannot create a file in /tmp: %s", strerror(-rawfd));
	direct = probe_direct(path);
	is_int(bdev_file_open(path, BDEV_QUIET, &b), 0, "file: open %s", path);
	is_u64(b->size, FILE_SIZE, "file: size is st_size rounded down to 512");
	is_int(b->lbs, 512, "file: lbs 512");
	if (direct == 1) {
		ok(bdev_file_is_direct(b), "file: /tmp image uses O_DIRECT");
		ok(b->dio_align >= 1 && b->dio_align <= 4096, "file: dio_align %u", b->dio_align);
	} else {
		skip("file: /tmp image uses O_DIRECT", "/tmp does not support O_DIRECT");
		skip("file: dio_align", "/tmp does not support O_DIRECT");
	}
	test_file_roundtrip(b, rawfd);
	test_file_misaligned(b, rawfd);
	ok(stats_are(b, (struct bdev_stats){.reads = 5,
					    .writes = 4,
					    .read_bytes = 7 * BLK + 2048,
					    .write_bytes = 6 * BLK + 2048,
					    .flushes = 1,
					    .errors = 3}),
	   "file: counters");
	test_file_discard(b);
	test_file_shrunk(b, rawfd);
	bdev_close(b);
	test_file_open_modes(path);
	ok(!bdev_file_is_direct(NULL), "file: NULL is not direct");
	close(rawfd);
	unlink(path);
}

/* ---- file backend on tmpfs: the buffered fallback ---- */

struct capture {
	int saved, fd;
	char path[64];
};

static void capture_start(struct capture *c)
{
	snprintf(c->path, sizeof(c->path), "/tmp/test_backing.err.XXXXXX");
	c->fd = mkstemp(c->path);
	if (c->fd < 0)
		BAIL("mkstemp");
	fflush(stderr);
	c->saved = dup(2);
	dup2(c->fd, 2);
}

/* Stop capturing stderr; returns what was written (malloc'd). */
static char *capture_end(struct capture *c)
{
	static const size_t max = 4096;
	char *out = calloc(1, max);
	ssize_t n;

	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	n = pread(c->fd, out, max - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(c->fd);
	unlink(c->path);
	return out;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_shm_io(struct bdev *b)
{
	unsigned char *raw = xalloc(2 * BLK + 1), *mis = raw + 1, *r = xalloc(2 * BLK);

	pattern(r, 2 * BLK, 51);
	is_int(bdev_write(b, BLK, r, 2 * BLK), 0, "shm: aligned write");
	is_int(bdev_read(b, BLK, mis, 2 * BLK), 0, "shm: unaligned read");
	ok(has_pattern(mis, 2 * BLK, 51), "shm: bytes round-trip");
	pattern(mis, BLK, 52);
	is_int(bdev_write(b, 512, mis, BLK), 0, "shm: unaligned write at a 512-byte offset");
	is_int(bdev_read(b, 512, r, BLK), 0, "shm: read it");
	ok(has_pattern(r, BLK, 52), "shm: bytes round-trip");
	is_int(bdev_flush(b), 0, "shm: flush");
	free(raw);
	free(r);
}

static void test_file_shm(void)
{
	char path[64], path2[64];
	struct bdev *b = NULL, *b2 = NULL, *b3 = NULL;
	struct capture cap;
	char *err;
	int fd = make_image("/dev/shm", path, sizeof(path), 64 * BLK), fd2, natural;

	if (fd < 0) {
		skip("shm: buffered fallback", "cannot create a file in /dev/shm");
		return;
	}
	fd2 = make_image("/dev/shm", path2, sizeof(path2), 64 * BLK);
	natural = probe_direct(path);
	if (natural == 0)
		diag("/dev/shm refuses O_DIRECT: testing the real fallback");
	else
		diag("/dev/shm accepts O_DIRECT on this kernel: refusal is simulated");
	bdev_file_refuse_direct(natural != 0);
	capture_start(&cap);
	is_int(bdev_file_open(path, BDEV_BUFFERED, &b3), 0, "shm: BDEV_BUFFERED open");
	is_int(bdev_file_open(path, 0, &b), 0, "shm: open falls back and succeeds");
	is_int(bdev_file_open(path2, 0, &b2), 0, "shm: second fallback open succeeds");
	err = capture_end(&cap);
	bdev_file_refuse_direct(false);
	is_int(count_lines(err), 1, "shm: exactly one notice line for two fallbacks");
	ok(strstr(err, path) && strstr(err, "buffered"), "shm: notice names the path and buffered");
	diag("notice: %.*s", (int)strcspn(err, "\n"), err);
	ok(!bdev_file_is_direct(b) && !bdev_file_is_direct(b2) && !bdev_file_is_direct(b3),
	   "shm: none of them is direct");
	is_int(b->dio_align, 1, "shm: buffered device needs no buffer alignment");
	test_shm_io(b);
	free(err);
	bdev_close(b);
	bdev_close(b2);
	bdev_close(b3);
	close(fd);
	close(fd2);
	unlink(path);
	unlink(path2);
}

/* ---- block device (opt-in: FOLIO_TEST_BLKDEV names a device it may overwrite) ---- */

static void test_blkdev_io(struct bdev *b)
{
	size_t len = 2 * (size_t)b->lbs;
	unsigned char *raw = xalloc(len + 1), *mis = raw + 1, *r = xalloc(len);
	uint64_t last = b->size - len;
	int ret;

	pattern(r, len, 61);
	is_int(bdev_write(b, last, r, len), 0, "blkdev: aligned write of the last 2 sectors");
	is_int(bdev_read(b, last, mis, len), 0, "blkdev: unaligned read");
	ok(has_pattern(mis, len, 61), "blkdev: bytes round-trip");
	pattern(mis, len, 62);
	is_int(bdev_write(b, 0, mis, len), 0, "blkdev: unaligned write");
	is_int(bdev_read(b, 0, r, len), 0, "blkdev: aligned read");
	ok(has_pattern(r, len, 62), "blkdev: bytes round-trip");
	is_int(bdev_read(b, b->size, r, len), -EIO, "blkdev: read past the end");
	is_int(bdev_flush(b), 0, "blkdev: flush");
	ret = bdev_discard(b, 0, len);
	ok(ret == 0 || ret == -EOPNOTSUPP, "blkdev: discard gives 0 or -EOPNOTSUPP (%d)", ret);
	free(raw);
	free(r);
}

static void test_blkdev(void)
{
	const char *path = getenv("FOLIO_TEST_BLKDEV");
	struct bdev *b;
	uint64_t bytes = 0;
	int ssz = 0, fd;

	if (!path || !*path) {
		skip("blkdev: block device backend", "FOLIO_TEST_BLKDEV not set");
		return;
	}
	fd = open(path, O_RDONLY);
	if (fd < 0 || ioctl(fd, BLKSSZGET, &ssz) || ioctl(fd, BLKGETSIZE64, &bytes))
		BAIL("%s: not a block device", path);
	close(fd);
	is_int(bdev_file_open(path, BDEV_QUIET | BDEV_EXCL, &b), 0, "blkdev: open %s", path);
	is_int(b->lbs, ssz, "blkdev: lbs is the logical sector size");
	is_u64(b->size, bytes / ssz * ssz, "blkdev: size from BLKGETSIZE64");
	diag("blkdev: direct %d, dio_align %u", bdev_file_is_direct(b), b->dio_align);
	test_blkdev_io(b);
	bdev_close(b);
}

/* ---- fault injection ---- */

#define FBLOCKS 64u

static struct bdev *faulty_setup(struct bdev **lower, struct faulty **f)
{
	struct bdev *b;

	if (bdev_mem_create(FBLOCKS * BLK, BLK, lower) || bdev_faulty_create(*lower, &b, f))
		BAIL("faulty setup");
	return b;
}

/* Fill @n blocks at block @blk of @b with the byte @c. */
static int put(struct bdev *b, unsigned blk, unsigned n, unsigned char c)
{
	unsigned char *buf = xalloc((size_t)n * BLK);
	int ret;

	memset(buf, c, (size_t)n * BLK);
	ret = bdev_write(b, (uint64_t)blk * BLK, buf, (size_t)n * BLK);
	free(buf);
	return ret;
}

/* True when block @blk of @b reads back as all @c. */
static bool holds(struct bdev *b, unsigned blk, unsigned char c)
{
	unsigned char *buf = xalloc(BLK);
	bool yes = !bdev_read(b, (uint64_t)blk * BLK, buf, BLK) && all_bytes(buf, BLK, c);

	free(buf);
	return yes;
}

static void test_faulty_ranges(void)
{
	struct bdev *lower, *b;
	struct faulty *f;
	char *buf = xalloc(2 * BLK);

	b = faulty_setup(&lower, &f);
	is_u64(b->size, lower->size, "faulty: same size as the lower device");
	is_int(faulty_fail_range(f, FAULTY_READ, 2 * BLK, BLK), 0, "faulty: fail reads of block 2");
	is_int(faulty_fail_range(f, FAULTY_READ, 0, 0), -EINVAL, "faulty: empty range refused");
	is_int(bdev_read(b, 2 * BLK, buf, BLK), -EIO, "faulty: read of block 2 fails");
	is_int(bdev_read(b, BLK, buf, 2 * BLK), -EIO, "faulty: read touching block 2 fails");
	is_int(bdev_read(b, 0, buf, 2 * BLK), 0, "faulty: read of blocks 0-1 works");
	is_int(bdev_read(b, 3 * BLK, buf, BLK), 0, "faulty: read of block 3 works");
	is_int(put(b, 2, 1, 'w'), 0, "faulty: write to block 2 works (reads only)");
	is_u64(faulty_injected(f), 2, "faulty: two requests injected");
	is_int(faulty_fail_range(f, FAULTY_WRITE, 5 * BLK, BLK), 0,
	       "faulty: fail writes of block 5");
	is_int(put(b, 4, 2, 'x'), -EIO, "faulty: write touching block 5 fails");
	ok(holds(lower, 4, 0) && holds(lower, 5, 0), "faulty: failed write changed nothing");
	is_int(put(b, 6, 1, 'y'), 0, "faulty: write to block 6 works");
	faulty_clear_ranges(f);
	is_int(bdev_read(b, 2 * BLK, buf, BLK), 0, "faulty: block 2 readable after clear");
	ok(holds(b, 2, 'w') && holds(b, 6, 'y'), "faulty: bytes came through");
	is_u64(faulty_injected(f), 3, "faulty: three requests injected");
	struct bdev_stats s;
	bdev_get_stats(b, &s);
	is_u64(s.errors, 3, "faulty: injected failures count as errors on the wrapper");
	bdev_get_stats(lower, &s);
	is_u64(s.errors, 0, "faulty: the lower device saw no error");
	free(buf);
	bdev_close(b);
}

static void test_faulty_fail_after(void)
{
	struct bdev *lower, *b;
	struct faulty *f;

	b = faulty_setup(&lower, &f);
	faulty_fail_after(f, FAULTY_WRITE, 2);
	is_int(put(b, 0, 1, 'a'), 0, "fail_after: write 1 of 2 works");
	is_int(put(b, FBLOCKS, 1, 'x'), -EINVAL,
	       "fail_after: an invalid write does not use a slot");
	is_int(put(b, 1, 1, 'b'), 0, "fail_after: write 2 of 2 works");
	is_int(put(b, 2, 1, 'c'), -EIO, "fail_after: write 3 fails");
	is_int(put(b, 3, 1, 'd'), -EIO, "fail_after: write 4 fails");
	ok(holds(b, 0, 'a') && holds(b, 1, 'b'), "fail_after: reads still work");
	ok(holds(lower, 2, 0) && holds(lower, 3, 0), "fail_after: failed writes did not land");
	faulty_fail_after(f, FAULTY_WRITE, -1);
	is_int(put(b, 2, 1, 'c'), 0, "fail_after: off again, write works");
	faulty_fail_after(f, FAULTY_ANY, 3);
	ok(holds(b, 0, 'a'), "fail_after ANY: request 1 (read)");
	is_int(put(b, 4, 1, 'e'), 0, "fail_after ANY: request 2 (write)");
	ok(holds(b, 4, 'e'), "fail_after ANY: request 3 (read)");
	ok(!holds(b, 4, 'e'), "fail_after ANY: request 4 (read) fails");
	is_int(put(b, 5, 1, 'f'), -EIO, "fail_after ANY: request 5 (write) fails");
	is_u64(faulty_injected(f), 4, "fail_after: four requests injected");
	faulty_reset(f);
	ok(holds(b, 4, 'e'), "fail_after: reset lets reads through");
	bdev_close(b);
}

/* A request the lower device fails gives its fail_after slot back. */
static void test_faulty_give_back(void)
{
	struct bdev *mem, *inner, *b;
	struct faulty *fi, *f;

	inner = faulty_setup(&mem, &fi);
	if (bdev_faulty_create(inner, &b, &f))
		BAIL("stacked faulty");
	faulty_fail_range(fi, FAULTY_ANY, 10 * BLK, BLK);
	faulty_fail_after(f, FAULTY_WRITE, 1);
	faulty_fail_after(f, FAULTY_READ, 1);
	is_int(put(b, 10, 1, 'a'), -EIO, "give back: write failed below");
	ok(!holds(b, 10, 0), "give back: read failed below");
	is_int(put(b, 0, 1, 'a'), 0, "give back: the write slot is still there");
	ok(holds(b, 0, 'a'), "give back: the read slot is still there");
	is_int(put(b, 1, 1, 'b'), -EIO, "give back: then writes fail");
	ok(!holds(b, 0, 'a'), "give back: then reads fail");
	is_u64(faulty_injected(f), 2, "give back: upper injected 2");
	is_u64(faulty_injected(fi), 2, "give back: lower injected 2");
	bdev_close(b);
}

static void test_faulty_torn(void)
{
	struct bdev *lower, *b;
	struct faulty *f;

	b = faulty_setup(&lower, &f);
	is_int(put(lower, 0, 8, 'O'), 0, "torn: old contents in blocks 0-7");
	faulty_tear_next_write(f, 2);
	is_int(put(b, 7, 1, 'S'), 0, "torn: a one-block write is not torn");
	is_int(put(b, 6, 2, 'S'), 0, "torn: a write of only 2 blocks is not torn either");
	is_int(put(b, 0, 4, 'N'), -EIO, "torn: the 4-block write fails");
	ok(holds(lower, 0, 'N') && holds(lower, 1, 'N'), "torn: its first 2 blocks are new");
	ok(holds(lower, 2, 'O') && holds(lower, 3, 'O'), "torn: its last 2 blocks are old");
	is_u64(faulty_injected(f), 1, "torn: counted as injected");
	is_int(put(b, 0, 4, 'M'), 0, "torn: fires once; the next write is whole");
	ok(holds(lower, 0, 'M') && holds(lower, 3, 'M'), "torn: whole write landed");
	bdev_close(b);
}

static void test_faulty_crash(void)
{
	struct bdev *lower, *b;
	struct faulty *f;

	b = faulty_setup(&lower, &f);
	is_int(put(b, 0, 2, 'A'), 0, "crash: write A to blocks 0-1");
	is_int(put(b, 3, 1, 'A'), 0, "crash: write A to block 3");
	is_int(bdev_flush(b), 0, "crash: flush");
	is_int(put(b, 0, 2, 'B'), 0, "crash: write B to blocks 0-1");
	is_int(put(b, 5, 1, 'B'), 0, "crash: write B to block 5");
	is_int(put(b, 3, 1, 'X'), 0, "crash: write X to block 3");
	is_int(put(b, 3, 1, 'Y'), 0, "crash: write Y to block 3");
	ok(holds(lower, 0, 'B') && holds(lower, 3, 'Y'), "crash: lower holds B and Y before");
	ok(!faulty_crashed(f), "crash: not crashed yet");
	faulty_crash_after(f, 0);
	ok(faulty_crashed(f), "crash: crashed");
	ok(holds(lower, 0, 'A') && holds(lower, 1, 'A'), "crash: blocks 0-1 back to A");
	ok(holds(lower, 3, 'A'), "crash: block 3 back to A (undone newest first)");
	ok(holds(lower, 5, 0), "crash: block 5 back to zeros");
	is_int(put(b, 8, 1, 'C'), -EIO, "crash: writes fail");
	ok(!holds(b, 0, 'A'), "crash: reads fail");
	is_int(bdev_flush(b), -EIO, "crash: flush fails");
	is_int(bdev_discard(b, 0, BLK), -EIO, "crash: discard fails");
	ok(holds(lower, 8, 0), "crash: failed write did not land");
	is_u64(faulty_injected(f), 4, "crash: four requests injected");
	faulty_reset(f);
	ok(!faulty_crashed(f) && holds(b, 0, 'A'), "crash: reset brings the device back");
	faulty_crash_after(f, 2);
	is_int(put(b, 0, 1, 'C'), 0, "crash after 2: write 1");
	ok(!faulty_crashed(f), "crash after 2: not yet");
	is_int(put(b, 1, 1, 'D'), 0, "crash after 2: write 2 returns its own result");
	ok(faulty_crashed(f), "crash after 2: crashed after the second write");
	ok(holds(lower, 0, 'A') && holds(lower, 1, 'A'), "crash after 2: both writes undone");
	faulty_reset(f);
	faulty_tear_next_write(f, 1);
	is_int(put(b, 0, 2, 'T'), -EIO, "crash: torn write");
	ok(holds(lower, 0, 'T'), "crash: torn write left its first block");
	faulty_crash_after(f, 0);
	ok(holds(lower, 0, 'A') && holds(lower, 1, 'A'), "crash: torn write undone too");
	bdev_close(b);
}

static void test_faulty_latency(void)
{
	struct bdev *lower, *b;
	struct faulty *f;
	double t0;

	b = faulty_setup(&lower, &f);
	faulty_set_latency(f, 30000);
	t0 = now_sec();
	ok(holds(b, 0, 0), "latency: read works");
	ok((now_sec() - t0) * 1e3 >= 30.0, "latency: read took at least 30 ms");
	t0 = now_sec();
	is_int(bdev_flush(b), 0, "latency: flush works");
	ok((now_sec() - t0) * 1e3 >= 30.0, "latency: flush took at least 30 ms");
	faulty_set_latency(f, 0);
	bdev_close(b);
}

/* The crash rollback over a real image file (undo buffers on the direct path). */
static void test_faulty_on_file(void)
{
	char path[64];
	struct bdev *lower, *b;
	struct faulty *f;
	int rawfd = make_image("/tmp", path, sizeof(path), 16 * BLK);
	unsigned char *want = xalloc(BLK);

	if (rawfd < 0 || bdev_file_open(path, BDEV_QUIET, &lower) ||
	    bdev_faulty_create(lower, &b, &f))
		BAIL("faulty over a file");
	is_int(put(b, 2, 1, 'A'), 0, "file crash: write A");
	is_int(bdev_flush(b), 0, "file crash: flush");
	is_int(put(b, 2, 1, 'B'), 0, "file crash: write B");
	faulty_crash_after(f, 0);
	memset(want, 'A', BLK);
	ok(file_has(rawfd, 2 * BLK, want, BLK), "file crash: image file holds A again");
	bdev_close(b);
	close(rawfd);
	unlink(path);
	free(want);
}

#define NTHREADS 4
#define ROUNDS	 300

struct worker {
	struct bdev *b;
	unsigned id;
	int failures;
};

/* Each worker writes and checks its own blocks while the knobs change. */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	unsigned char *buf = xalloc(BLK), *got = xalloc(BLK);

	for (unsigned i = 0; i < ROUNDS; i++) {
		uint64_t off = (uint64_t)(w->id * 8 + i % 8) * BLK;

		pattern(buf, BLK, w->id * 1000 + i);
		if (bdev_write(w->b, off, buf, BLK) || bdev_read(w->b, off, got, BLK) ||
		    memcmp(buf, got, BLK))
			w->failures++;
		if (i % 50 == 0 && bdev_flush(w->b))
			w->failures++;
	}
	free(buf);
	free(got);
	return NULL;
}

static void test_faulty_threads(void)
{
	struct bdev *lower, *b;
	struct faulty *f;
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	int failures = 0;

	b = faulty_setup(&lower, &f);
	for (unsigned i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){.b = b, .id = i};
		if (pthread_create(&t[i], NULL, worker_run, &w[i]))
			BAIL("pthread_create");
	}
	for (unsigned i = 0; i < 2000; i++) {
		/* Knobs that must not touch the workers' blocks 0-31. */
		faulty_fail_range(f, FAULTY_ANY, (uint64_t)(40 + i % 20) * BLK, BLK);
		faulty_set_latency(f, i % 2 ? 20 : 0);
		faulty_tear_next_write(f, 0);
		if (i % 8 == 3)
			faulty_clear_ranges(f);
	}
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		failures += w[i].failures;
	}
	is_int(failures, 0, "threads: every request of %d workers succeeded while knobs changed",
	       NTHREADS);
	is_int(put(b, 59, 1, 'z'), -EIO, "threads: a range set during the run is in force");
	bdev_close(b);
}

/* Silent corruption: every Nth write lands with its middle byte flipped, the
 * caller's buffer untouched; FAULTY_BORROW leaves the lower device open;
 * FAULTY_NO_UNDO keeps a crash from restoring anything. */
static void test_faulty_corrupt(void)
{
	struct bdev *lower, *b;
	struct faulty *f;
	unsigned char *buf = xalloc(2 * BLK), *back = xalloc(2 * BLK);

	if (bdev_mem_create(FBLOCKS * BLK, BLK, &lower))
		BAIL("corrupt setup");
	is_int(bdev_faulty_wrap(lower, 0x80, &b, &f), -EINVAL, "corrupt: unknown flag refused");
	if (bdev_faulty_wrap(lower, FAULTY_BORROW | FAULTY_NO_UNDO, &b, &f))
		BAIL("corrupt setup");
	faulty_corrupt_writes(f, 2);
	memset(buf, 'a', 2 * BLK);
	is_int(bdev_write(b, 0, buf, 2 * BLK), 0, "corrupt: write 1 succeeds");
	memset(buf, 'b', 2 * BLK);
	is_int(bdev_write(b, 4 * BLK, buf, 2 * BLK), 0, "corrupt: write 2 reports success");
	ok(all_bytes(buf, 2 * BLK, 'b'), "corrupt: the caller's buffer is unchanged");
	ok(holds(lower, 0, 'a') && holds(lower, 1, 'a'), "corrupt: write 1 landed intact");
	is_int(bdev_read(lower, 4 * BLK, back, 2 * BLK), 0, "corrupt: read write 2 back");
	ok(back[BLK] == ('b' ^ 0xff), "corrupt: write 2's middle byte is flipped");
	back[BLK] = 'b';
	ok(all_bytes(back, 2 * BLK, 'b'), "corrupt: and no other byte changed");
	is_u64(faulty_corrupted(f), 1, "corrupt: one write corrupted");
	is_int(put(b, 8, 1, 'c'), 0, "corrupt: write 3");
	is_int(put(b, 9, 1, 'd'), 0, "corrupt: write 4");
	ok(holds(lower, 8, 'c') && !holds(lower, 9, 'd'), "corrupt: write 3 intact, 4 corrupted");
	faulty_corrupt_writes(f, 0);
	is_int(put(b, 10, 1, 'e'), 0, "corrupt: turned off");
	is_int(put(b, 11, 1, 'f'), 0, "corrupt: turned off, second write");
	ok(holds(lower, 10, 'e') && holds(lower, 11, 'f'), "corrupt: off, both writes intact");
	is_u64(faulty_corrupted(f), 2, "corrupt: two writes corrupted in all");
	is_u64(faulty_injected(f), 0, "corrupt: corruption is not a failed request");
	faulty_crash_after(f, 0);
	ok(holds(lower, 11, 'f'), "corrupt: without an undo log a crash restores nothing");
	bdev_close(b);
	ok(holds(lower, 0, 'a'), "corrupt: FAULTY_BORROW left the lower device open");
	bdev_close(lower);
	free(buf);
	free(back);
}

int main(void)
{
	test_mem();
	test_file_tmp();
	test_file_shm();
	test_blkdev();
	test_faulty_ranges();
	test_faulty_fail_after();
	test_faulty_give_back();
	test_faulty_torn();
	test_faulty_crash();
	test_faulty_latency();
	test_faulty_on_file();
	test_faulty_threads();
	test_faulty_corrupt();
	return done_testing();
}
