/*
 * tools/fsx_ops.c - descriptors, the mapping and the operations of foliofs-fsx.
 *
 * Interface (see fsx.h): fsx_setup() allocates the model and buffers and opens
 * the file (truncating it); fsx_open_all()/fsx_close_all() open and close the
 * buffered fd, the O_DIRECT fd and the shared mapping together; fsx_do_op() draws
 * one operation from the random stream, does it on the file and on the model,
 * checks what it read and the size after it; fsx_teardown() frees everything.
 *
 * Every operation draws FSX_DRAWS numbers, r[0] choosing the operation and
 * r[1..] its offset, length and variant, before anything touches the file.
 * Offsets and lengths come from those numbers and the model's size only.
 *
 * An operation the filesystem refuses (EINVAL opening O_DIRECT, mmap refused,
 * EOPNOTSUPP or ENOSYS from a fallocate mode or copy_file_range, and EINVAL, or
 * EXDEV for copy_file_range, as long as that operation has not worked once in
 * this run) is turned off in fs->run_off with one note. Afterwards an O_DIRECT or mapped
 * read/write that the stream chooses is done through the buffered fd instead
 * (same numbers, the range rules of the buffered operation); the others are
 * logged as skipped.
 *
 * A SIGBUS while touching the mapping is turned into a failure report.
 */
#include "config.h"

#include "tools/fsx.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FSX_DIO_OPS	      (FSX_BIT(FSX_OP_DIO_READ) | FSX_BIT(FSX_OP_DIO_WRITE))
#define FSX_MAP_OPS	      (FSX_BIT(FSX_OP_MAPREAD) | FSX_BIT(FSX_OP_MAPWRITE))
#define FSX_DIO_DEFAULT_ALIGN 4096

/* How often each operation is chosen, relative to the others. */
static const unsigned fsx_weight[FSX_OP_NR] = {
	[FSX_OP_READ] = 4,	  [FSX_OP_WRITE] = 4,	 [FSX_OP_MAPREAD] = 2,
	[FSX_OP_MAPWRITE] = 2,	  [FSX_OP_TRUNCATE] = 1, [FSX_OP_FALLOC] = 1,
	[FSX_OP_FALLOC_KEEP] = 1, [FSX_OP_PUNCH] = 1,	 [FSX_OP_ZERO] = 1,
	[FSX_OP_COPY] = 2,	  [FSX_OP_FSYNC] = 1,	 [FSX_OP_FDATASYNC] = 1,
	[FSX_OP_REOPEN] = 1,	  [FSX_OP_DIO_READ] = 2, [FSX_OP_DIO_WRITE] = 2,
};

static sigjmp_buf fsx_bus_env;
static volatile sig_atomic_t fsx_in_map;

static void fsx_sigbus(int sig)
{
	if (fsx_in_map)
		siglongjmp(fsx_bus_env, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static uint64_t fsx_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t fsx_round_down(uint64_t x, uint64_t a)
{
	return x - x % a;
}

static uint64_t fsx_round_up(uint64_t x, uint64_t a)
{
	return fsx_round_down(x + a - 1, a);
}

static void fsx_turn_off(struct fsx *fs, unsigned bits, const char *what, int err)
{
	fs->run_off |= bits;
	fsx_note(fs, "%s not supported here (%s); turned off", what, strerror(err));
}

/* O_DIRECT alignment from statx, 4096 when the filesystem does not say. */
static void fsx_dio_query(struct fsx *fs)
{
	struct statx stx;

	fs->dio_align = FSX_DIO_DEFAULT_ALIGN;
	fs->dio_mem_align = FSX_DIO_DEFAULT_ALIGN;
	if (statx(fs->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) < 0 ||
	    !(stx.stx_mask & STATX_DIOALIGN))
		return;
	if (!stx.stx_dio_offset_align) {
		fsx_turn_off(fs, FSX_DIO_OPS, "O_DIRECT", EINVAL);
		return;
	}
	fs->dio_align = stx.stx_dio_offset_align;
	fs->dio_mem_align = stx.stx_dio_mem_align;
}

static int fsx_want(struct fsx *fs, unsigned bits)
{
	return (bits & ~(fs->opt_off | fs->run_off)) != 0;
}

static int fsx_open_dio(struct fsx *fs)
{
	if (!fsx_want(fs, FSX_DIO_OPS))
		return 0;
	if (!fs->dio_align) {
		fsx_dio_query(fs);
		if (!fsx_want(fs, FSX_DIO_OPS))
			return 0;
	}
	fs->dio_fd = open(fs->path, O_RDWR | O_DIRECT);
	if (fs->dio_fd >= 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	fsx_turn_off(fs, FSX_DIO_OPS, "O_DIRECT", errno);
	return 0;
}

static int fsx_open_map(struct fsx *fs)
{
	void *p;

	if (!fsx_want(fs, FSX_MAP_OPS))
		return 0;
	p = mmap(NULL, fs->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fs->fd, 0);
	if (p != MAP_FAILED) {
		fs->map = p;
		return 0;
	}
	if (errno != ENODEV && errno != EINVAL && errno != EOPNOTSUPP && errno != EACCES)
		return -errno;
	fsx_turn_off(fs, FSX_MAP_OPS, "shared mmap", errno);
	return 0;
}

/**
 * fsx_open_all - open the buffered fd, the O_DIRECT fd and the shared mapping
 * @fs: the run, with everything closed
 * @trunc: truncate the file (only when the run starts)
 *
 * Turns O_DIRECT or the mapped operations off, with a note, when the filesystem
 * refuses them. The first call also reads the O_DIRECT alignment.
 *
 * Context: single-threaded owner of @fs.
 * Return: 0, or a negative errno with everything closed again.
 */
int fsx_open_all(struct fsx *fs, int trunc)
{
	int err;

	fs->fd = open(fs->path, O_RDWR | O_CREAT | (trunc ? O_TRUNC : 0), 0644);
	if (fs->fd < 0)
		return -errno;
	err = fsx_open_dio(fs);
	if (err)
		goto err_close;
	err = fsx_open_map(fs);
	if (err)
		goto err_close;
	return 0;
err_close:
	fsx_close_all(fs);
	return err;
}

/**
 * fsx_close_all - unmap the file and close both descriptors
 * @fs: the run
 *
 * Context: single-threaded owner of @fs.
 * Return: nothing.
 */
void fsx_close_all(struct fsx *fs)
{
	if (fs->map)
		munmap(fs->map, fs->map_len);
	fs->map = NULL;
	if (fs->dio_fd >= 0)
		close(fs->dio_fd);
	fs->dio_fd = -1;
	if (fs->fd >= 0)
		close(fs->fd);
	fs->fd = -1;
}

static int fsx_alloc_buf(struct fsx *fs)
{
	size_t align = fs->page;
	void *p;

	if (fs->dio_mem_align > align)
		align = fs->dio_mem_align;
	if (fs->dio_align > align)
		align = fs->dio_align;
	fs->buf_len = fsx_round_up(fs->maxlen + align, align);
	if (posix_memalign(&p, align, fs->buf_len))
		return -ENOMEM;
	fs->buf = p;
	return 0;
}

/**
 * fsx_setup - allocate the model and buffers, create or truncate the file, open it
 * @fs: the run, options filled in
 *
 * Context: single-threaded owner of @fs.
 * Return: 0, or a negative errno (nothing left allocated or open).
 */
int fsx_setup(struct fsx *fs)
{
	struct sigaction sa = {.sa_handler = fsx_sigbus};
	int err;

	fs->fd = fs->dio_fd = -1;
	fs->page = sysconf(_SC_PAGESIZE);
	fs->map_len = fsx_round_up(fs->maxlen, fs->page);
	fs->model = calloc(1, fs->maxlen);
	if (!fs->model)
		return -ENOMEM;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	err = fsx_open_all(fs, 1);
	if (err)
		goto err_model;
	err = fsx_alloc_buf(fs);
	if (err)
		goto err_close;
	return 0;
err_close:
	fsx_close_all(fs);
err_model:
	free(fs->model);
	fs->model = NULL;
	return err;
}

/**
 * fsx_teardown - close the file and free the model and buffers
 * @fs: the run
 *
 * Context: single-threaded owner of @fs.
 * Return: nothing.
 */
void fsx_teardown(struct fsx *fs)
{
	fsx_close_all(fs);
	free(fs->buf);
	free(fs->model);
	fs->buf = fs->model = NULL;
}

/* Model helpers: the model's tail past size stays zero. */
static void fsx_model_grow(struct fsx *fs, uint64_t end)
{
	if (end > fs->size)
		fs->size = end;
}

static void fsx_model_zero(struct fsx *fs, uint64_t off, uint64_t len)
{
	memset(fs->model + off, 0, len);
}

/* A range inside the file; 0 when the file is empty. */
static int fsx_in_file(struct fsx *fs, const uint64_t *r, struct fsx_rec *rec)
{
	if (!fs->size)
		return 0;
	rec->off = r[1] % fs->size;
	rec->len = fsx_min(1 + r[2] % fs->maxop, fs->size - rec->off);
	return 1;
}

/* A range anywhere below the maximum length. */
static void fsx_anywhere(struct fsx *fs, const uint64_t *r, struct fsx_rec *rec)
{
	rec->off = r[1] % fs->maxlen;
	rec->len = fsx_min(1 + r[2] % fs->maxop, fs->maxlen - rec->off);
}

static void fsx_pread_all(struct fsx *fs, int fd, unsigned char *dst, uint64_t off, uint64_t len,
			  const char *what)
{
	uint64_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, dst + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fsx_fail(fs, "%s at 0x%" PRIx64 ": %s", what, off + done, strerror(errno));
		if (n == 0)
			fsx_fail(fs, "%s: end of file at 0x%" PRIx64 ", expected size 0x%" PRIx64,
				 what, off + done, fs->size);
		done += n;
	}
}

static void fsx_pwrite_all(struct fsx *fs, int fd, const unsigned char *src, uint64_t off,
			   uint64_t len, const char *what)
{
	uint64_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, src + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fsx_fail(fs, "%s at 0x%" PRIx64 ": %s", what, off + done,
				 n ? strerror(errno) : "wrote nothing");
		done += n;
	}
}

static void fsx_op_read(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	if (!fsx_in_file(fs, r, rec)) {
		rec->flags |= FSX_F_SKIP;
		return;
	}
	fsx_pread_all(fs, fs->fd, fs->buf, rec->off, rec->len, "read");
	fsx_compare(fs, fs->buf, rec->off, rec->len, "read");
}

static void fsx_op_write(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	fsx_anywhere(fs, r, rec);
	fsx_pattern_fill(fs->buf, rec->n, rec->off, rec->len);
	fsx_pwrite_all(fs, fs->fd, fs->buf, rec->off, rec->len, "write");
	memcpy(fs->model + rec->off, fs->buf, rec->len);
	fsx_model_grow(fs, rec->off + rec->len);
}

/* Copy between the mapping and a buffer; a SIGBUS becomes a failure. */
static void fsx_map_copy(struct fsx *fs, unsigned char *dst, const unsigned char *src, uint64_t len,
			 const char *what)
{
	if (sigsetjmp(fsx_bus_env, 1)) {
		fsx_in_map = 0;
		fsx_fail(fs, "%s: SIGBUS touching the mapping (size 0x%" PRIx64 ")", what,
			 fs->size);
	}
	fsx_in_map = 1;
	memcpy(dst, src, len);
	fsx_in_map = 0;
}

/* Past EOF, the rest of the last page must read as zeros through the mapping. */
static void fsx_check_eof_page(struct fsx *fs, const struct fsx_rec *rec)
{
	uint64_t end = fsx_min(fsx_round_up(fs->size, fs->page), fs->maxlen);

	if (end <= fs->size || rec->off + rec->len <= fsx_round_down(fs->size, fs->page))
		return;
	fsx_map_copy(fs, fs->buf, fs->map + fs->size, end - fs->size, "mapped read past EOF");
	fsx_compare(fs, fs->buf, fs->size, end - fs->size, "mapped read past EOF (must be zero)");
}

static void fsx_op_mapread(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	if (!fsx_in_file(fs, r, rec)) {
		rec->flags |= FSX_F_SKIP;
		return;
	}
	fsx_map_copy(fs, fs->buf, fs->map + rec->off, rec->len, "mapped read");
	fsx_compare(fs, fs->buf, rec->off, rec->len, "mapped read");
	fsx_check_eof_page(fs, rec);
}

static void fsx_op_mapwrite(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	uint64_t end, pg;

	fsx_anywhere(fs, r, rec);
	end = rec->off + rec->len;
	if (end > fs->size) {
		if (ftruncate(fs->fd, end) < 0)
			fsx_fail(fs, "mapwrite: ftruncate to 0x%" PRIx64 ": %s", end,
				 strerror(errno));
		fsx_model_grow(fs, end);
	}
	fsx_pattern_fill(fs->buf, rec->n, rec->off, rec->len);
	fsx_map_copy(fs, fs->map + rec->off, fs->buf, rec->len, "mapped write");
	memcpy(fs->model + rec->off, fs->buf, rec->len);
	if (!(r[3] & 1) && !fs->msync_always)
		return;
	rec->flags |= FSX_F_MSYNC;
	pg = fsx_round_down(rec->off, fs->page);
	if (msync(fs->map + pg, end - pg, MS_SYNC) < 0)
		fsx_fail(fs, "msync of 0x%" PRIx64 " .. 0x%" PRIx64 ": %s", pg, end - 1,
			 strerror(errno));
}

static void fsx_op_truncate(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	uint64_t size = r[1] % (fs->maxlen + 1);

	rec->dst = fs->size;
	rec->off = size;
	if (ftruncate(fs->fd, size) < 0)
		fsx_fail(fs, "ftruncate to 0x%" PRIx64 ": %s", size, strerror(errno));
	if (size < fs->size)
		fsx_model_zero(fs, size, fs->size - size);
	fs->size = size;
}

/*
 * Whether errno @err from operation @op means the filesystem does not support it:
 * EOPNOTSUPP or ENOSYS always; EINVAL (and EXDEV for copy_file_range) only while
 * the operation has never worked in this run.
 */
static int fsx_refused(struct fsx *fs, enum fsx_op op, int err)
{
	if (err == EOPNOTSUPP || err == ENOSYS)
		return 1;
	if (fs->worked & FSX_BIT(op))
		return 0;
	return err == EINVAL || (op == FSX_OP_COPY && err == EXDEV);
}

/* fallocate; 0 when the mode turned out to be unsupported (now turned off). */
static int fsx_fallocate(struct fsx *fs, struct fsx_rec *rec, int mode, const char *what)
{
	if (!fallocate(fs->fd, mode, rec->off, rec->len)) {
		fs->worked |= FSX_BIT(rec->op);
		return 1;
	}
	if (!fsx_refused(fs, rec->op, errno))
		fsx_fail(fs, "%s of 0x%" PRIx64 " .. 0x%" PRIx64 ": %s", what, rec->off,
			 rec->off + rec->len - 1, strerror(errno));
	fsx_turn_off(fs, FSX_BIT(rec->op), what, errno);
	rec->flags |= FSX_F_SKIP | FSX_F_FALLBACK;
	return 0;
}

static void fsx_op_falloc(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	fsx_anywhere(fs, r, rec);
	if (fsx_fallocate(fs, rec, 0, "fallocate"))
		fsx_model_grow(fs, rec->off + rec->len);
}

static void fsx_op_falloc_keep(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	fsx_anywhere(fs, r, rec);
	rec->flags |= FSX_F_KEEP;
	fsx_fallocate(fs, rec, FALLOC_FL_KEEP_SIZE, "fallocate KEEP_SIZE");
}

static void fsx_op_punch(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	if (!fsx_in_file(fs, r, rec)) {
		rec->flags |= FSX_F_SKIP;
		return;
	}
	if (fsx_fallocate(fs, rec, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  "fallocate PUNCH_HOLE"))
		fsx_model_zero(fs, rec->off, rec->len);
}

static void fsx_op_zero(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	int keep = !fs->no_keep_size && (r[3] & 1);
	uint64_t end;

	fsx_anywhere(fs, r, rec);
	end = rec->off + rec->len;
	if (keep)
		rec->flags |= FSX_F_KEEP;
	if (!fsx_fallocate(fs, rec, FALLOC_FL_ZERO_RANGE | (keep ? FALLOC_FL_KEEP_SIZE : 0),
			   "fallocate ZERO_RANGE"))
		return;
	if (keep)
		end = fsx_min(end, fs->size);
	if (end > rec->off)
		fsx_model_zero(fs, rec->off, end - rec->off);
	fsx_model_grow(fs, end);
}

/* Source inside the file, destination anywhere below maxlen, never overlapping. */
static int fsx_copy_ranges(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	if (!fsx_in_file(fs, r, rec))
		return 0;
	rec->dst = r[3] % fs->maxlen;
	if (rec->dst < rec->off)
		rec->len = fsx_min(rec->len, rec->off - rec->dst);
	else if (rec->dst < rec->off + rec->len)
		rec->dst = rec->off + rec->len;
	if (rec->dst >= fs->maxlen)
		return 0;
	rec->len = fsx_min(rec->len, fs->maxlen - rec->dst);
	return 1;
}

/* copy_file_range until done; 0 when it turned out to be unsupported. */
static int fsx_copy_range(struct fsx *fs, struct fsx_rec *rec)
{
	loff_t src = rec->off, dst = rec->dst;
	uint64_t left = rec->len;

	while (left) {
		ssize_t n = copy_file_range(fs->fd, &src, fs->fd, &dst, left, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && left == rec->len && fsx_refused(fs, FSX_OP_COPY, errno)) {
			fsx_turn_off(fs, FSX_BIT(FSX_OP_COPY), "copy_file_range", errno);
			rec->flags |= FSX_F_FALLBACK;
			return 0;
		}
		if (n <= 0)
			fsx_fail(fs, "copy_file_range 0x%" PRIx64 " -> 0x%" PRIx64 ": %s",
				 (uint64_t)src, (uint64_t)dst,
				 n ? strerror(errno) : "copied nothing before the end");
		left -= n;
	}
	fs->worked |= FSX_BIT(FSX_OP_COPY);
	return 1;
}

static void fsx_op_copy(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	if (!fsx_copy_ranges(fs, rec, r) || !fsx_copy_range(fs, rec)) {
		rec->flags |= FSX_F_SKIP;
		return;
	}
	memmove(fs->model + rec->dst, fs->model + rec->off, rec->len);
	fsx_model_grow(fs, rec->dst + rec->len);
}

static void fsx_op_sync(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	int fd = fs->fd;
	int err;

	if ((r[1] & 1) && fs->dio_fd >= 0) {
		fd = fs->dio_fd;
		rec->flags |= FSX_F_DIOFD;
	}
	err = rec->op == FSX_OP_FSYNC ? fsync(fd) : fdatasync(fd);
	if (err < 0)
		fsx_fail(fs, "%s: %s", fsx_op_name(rec->op), strerror(errno));
}

static void fsx_op_reopen(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	int err;

	fsx_close_all(fs);
	err = fsx_open_all(fs, 0);
	if (err)
		fsx_fail(fs, "reopen: %s", strerror(-err));
}

/* An aligned length of at most maxop, at least one alignment unit. */
static uint64_t fsx_dio_len(struct fsx *fs, uint64_t x)
{
	uint64_t len = fsx_round_down(1 + x % fs->maxop, fs->dio_align);

	return len ? len : fs->dio_align;
}

static void fsx_op_dio_read(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	uint64_t a = fs->dio_align, want, done = 0;

	if (!fs->size) {
		rec->flags |= FSX_F_SKIP;
		return;
	}
	rec->off = fsx_round_down(r[1] % fs->size, a);
	rec->len = fsx_min(fsx_dio_len(fs, r[2]), fsx_round_up(fs->size, a) - rec->off);
	want = fsx_min(rec->len, fs->size - rec->off);
	while (done < want) {
		ssize_t n = pread(fs->dio_fd, fs->buf + done, rec->len - done, rec->off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (done + n < want && (done + n) % a))
			fsx_fail(fs, "O_DIRECT read at 0x%" PRIx64 ": %s", rec->off + done,
				 n < 0 ? strerror(errno) : "short read");
		done += n;
	}
	fsx_compare(fs, fs->buf, rec->off, want, "O_DIRECT read");
}

static void fsx_op_dio_write(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r)
{
	uint64_t a = fs->dio_align;

	rec->off = fsx_round_down(r[1] % fs->maxlen, a);
	rec->len = fsx_dio_len(fs, r[2]);
	if (rec->off + rec->len > fs->maxlen)
		rec->len = fsx_round_down(fs->maxlen - rec->off, a);
	if (!rec->len) {
		rec->flags |= FSX_F_SKIP;
		return;
	}
	fsx_pattern_fill(fs->buf, rec->n, rec->off, rec->len);
	fsx_pwrite_all(fs, fs->dio_fd, fs->buf, rec->off, rec->len, "O_DIRECT write");
	memcpy(fs->model + rec->off, fs->buf, rec->len);
	fsx_model_grow(fs, rec->off + rec->len);
}

typedef void (*fsx_op_fn)(struct fsx *fs, struct fsx_rec *rec, const uint64_t *r);

static const fsx_op_fn fsx_op_fns[FSX_OP_NR] = {
	[FSX_OP_READ] = fsx_op_read,
	[FSX_OP_WRITE] = fsx_op_write,
	[FSX_OP_MAPREAD] = fsx_op_mapread,
	[FSX_OP_MAPWRITE] = fsx_op_mapwrite,
	[FSX_OP_TRUNCATE] = fsx_op_truncate,
	[FSX_OP_FALLOC] = fsx_op_falloc,
	[FSX_OP_FALLOC_KEEP] = fsx_op_falloc_keep,
	[FSX_OP_PUNCH] = fsx_op_punch,
	[FSX_OP_ZERO] = fsx_op_zero,
	[FSX_OP_COPY] = fsx_op_copy,
	[FSX_OP_FSYNC] = fsx_op_sync,
	[FSX_OP_FDATASYNC] = fsx_op_sync,
	[FSX_OP_REOPEN] = fsx_op_reopen,
	[FSX_OP_DIO_READ] = fsx_op_dio_read,
	[FSX_OP_DIO_WRITE] = fsx_op_dio_write,
};

/* The operation r0 picks among those the options leave on. */
static enum fsx_op fsx_pick(struct fsx *fs, uint64_t r0)
{
	unsigned total = 0, op;
	uint64_t x;

	for (op = 0; op < FSX_OP_NR; op++)
		if (!(fs->opt_off & FSX_BIT(op)))
			total += fsx_weight[op];
	x = r0 % total;
	for (op = 0; op < FSX_OP_NR; op++) {
		if (fs->opt_off & FSX_BIT(op))
			continue;
		if (x < fsx_weight[op])
			break;
		x -= fsx_weight[op];
	}
	return op;
}

/* What is done instead of an operation the filesystem refused. */
static void fsx_fall_back(struct fsx *fs, struct fsx_rec *rec)
{
	if (!(fs->run_off & FSX_BIT(rec->op)))
		return;
	if (rec->op == FSX_OP_DIO_READ || rec->op == FSX_OP_MAPREAD)
		rec->op = FSX_OP_READ;
	else if (rec->op == FSX_OP_DIO_WRITE || rec->op == FSX_OP_MAPWRITE)
		rec->op = FSX_OP_WRITE;
	else
		rec->flags |= FSX_F_SKIP;
	rec->flags |= FSX_F_FALLBACK;
}

static void fsx_check_size(struct fsx *fs, const struct fsx_rec *rec)
{
	struct stat st;

	if (fstat(fs->fd, &st) < 0)
		fsx_fail(fs, "fstat after %s: %s", fsx_op_name(rec->op), strerror(errno));
	if ((uint64_t)st.st_size != fs->size)
		fsx_fail(fs, "after %s the file size is 0x%" PRIx64 ", expected 0x%" PRIx64,
			 fsx_op_name(rec->op), (uint64_t)st.st_size, fs->size);
}

/**
 * fsx_do_op - draw, do and check the next operation
 * @fs: the run, with everything open
 *
 * Records the operation in the log ring before touching the file, so a failure
 * report shows it; prints it with -d once done; checks the size afterwards.
 *
 * Context: single-threaded owner of @fs.
 * Return: nothing; a failure exits through fsx_fail().
 */
void fsx_do_op(struct fsx *fs)
{
	uint64_t r[FSX_DRAWS];
	struct fsx_rec *rec;

	for (int i = 0; i < FSX_DRAWS; i++)
		r[i] = fsx_rng_next(fs);
	fs->opnum++;
	rec = &fs->log[(fs->opnum - 1) % FSX_LOG_LEN];
	memset(rec, 0, sizeof(*rec));
	rec->n = fs->opnum;
	rec->asked = rec->op = fsx_pick(fs, r[0]);
	rec->size = fs->size;
	fsx_fall_back(fs, rec);
	fs->in_op = 1;
	if (!(rec->flags & FSX_F_SKIP))
		fsx_op_fns[rec->op](fs, rec, r);
	rec->size = fs->size;
	if (rec->flags & FSX_F_SKIP)
		fs->skipped++;
	else
		fs->counts[rec->op]++;
	if (fs->debug) {
		fputs(fs->prefix, stdout);
		fsx_rec_print(stdout, rec);
	}
	fsx_check_size(fs, rec);
	fs->in_op = 0;
}
