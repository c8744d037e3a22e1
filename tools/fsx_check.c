/*
 * tools/fsx_check.c - random numbers, the data pattern, checks and failure reports
 * for foliofs-fsx.
 *
 * Interface (see fsx.h): fsx_rng_*() give the one random stream of a run;
 * fsx_pattern_*() make the bytes every write puts down; fsx_rec_print() shows
 * one operation of the log; fsx_compare() and
 * fsx_check_file() check bytes and size against the model; fsx_fail() reports a
 * failure (message, hexdump where there is one, the last operations, saved
 * .fsxgood/.fsxbad copies) and exits with status 1.
 *
 * The pattern: the byte written at file offset o by operation n depends only on
 * (n, o). Each 16-byte row of the file, aligned to 16, reads
 *     bytes 0-3   n, big-endian (low 32 bits)
 *     bytes 4-9   the row's own file offset, big-endian (low 48 bits)
 *     bytes 10-15 a hash of both
 * so a row seen in the wrong place, or left over from an older write, names the
 * operation and the offset it was written for; the report decodes it.
 *
 * The random stream is splitmix64: a 64-bit counter stepped by a fixed odd constant
 * and passed through a mixing function. It depends on nothing but the seed.
 */
#include "config.h"

#include "tools/fsx.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FSX_ROW 16
/* Rows shown before and after the first differing row. */
#define FSX_ROWS_BEFORE 3
#define FSX_ROWS_AFTER	4

static const char *const fsx_op_names[FSX_OP_NR] = {
	[FSX_OP_READ] = "read",
	[FSX_OP_WRITE] = "write",
	[FSX_OP_MAPREAD] = "mapread",
	[FSX_OP_MAPWRITE] = "mapwrite",
	[FSX_OP_TRUNCATE] = "truncate",
	[FSX_OP_FALLOC] = "falloc",
	[FSX_OP_FALLOC_KEEP] = "falloc_keep",
	[FSX_OP_PUNCH] = "punch_hole",
	[FSX_OP_ZERO] = "zero_range",
	[FSX_OP_COPY] = "copy_range",
	[FSX_OP_FSYNC] = "fsync",
	[FSX_OP_FDATASYNC] = "fdatasync",
	[FSX_OP_REOPEN] = "reopen",
	[FSX_OP_DIO_READ] = "dio_read",
	[FSX_OP_DIO_WRITE] = "dio_write",
};

/**
 * fsx_rng_seed - start the random stream
 * @fs: the run
 * @seed: the seed; the same seed always gives the same stream
 *
 * Context: single-threaded owner of @fs.
 * Return: nothing.
 */
void fsx_rng_seed(struct fsx *fs, uint64_t seed)
{
	fs->rng = seed;
}

/**
 * fsx_rng_next - the next number of the random stream
 * @fs: the run
 *
 * Context: single-threaded owner of @fs.
 * Return: 64 uniformly distributed bits.
 */
uint64_t fsx_rng_next(struct fsx *fs)
{
	uint64_t z;

	fs->rng += 0x9e3779b97f4a7c15ULL;
	z = fs->rng;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t fsx_pattern_hash(uint32_t n, uint64_t row)
{
	uint64_t h = ((uint64_t)n << 40) ^ row ^ 0x5bd1e9955bd1e995ULL;

	h *= 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

/**
 * fsx_pattern_byte - the byte operation @n writes at file offset @off
 * @n: operation number
 * @off: file offset
 *
 * Context: any.
 * Return: the byte (see the file comment for the layout).
 */
unsigned char fsx_pattern_byte(unsigned long n, uint64_t off)
{
	unsigned k = off % FSX_ROW;
	uint64_t row = off - k;
	uint32_t n32 = (uint32_t)n;

	if (k < 4)
		return (unsigned char)(n32 >> (8 * (3 - k)));
	if (k < 10)
		return (unsigned char)(row >> (8 * (9 - k)));
	return (unsigned char)(fsx_pattern_hash(n32, row) >> (8 * (k - 10)));
}

/**
 * fsx_pattern_fill - fill a buffer with what operation @n writes at @off
 * @dst: destination, @len bytes
 * @n: operation number
 * @off: file offset of dst[0]
 * @len: bytes
 *
 * Context: any.
 * Return: nothing.
 */
void fsx_pattern_fill(unsigned char *dst, unsigned long n, uint64_t off, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		dst[i] = fsx_pattern_byte(n, off + i);
}

/**
 * fsx_op_name - the name of an operation, as -d, the log and the summary print it
 * @op: operation
 *
 * Context: any.
 * Return: a static string.
 */
const char *fsx_op_name(enum fsx_op op)
{
	return op < FSX_OP_NR ? fsx_op_names[op] : "?";
}

static void fsx_rec_range(FILE *f, const struct fsx_rec *rec)
{
	uint64_t last = rec->len ? rec->off + rec->len - 1 : rec->off;

	fprintf(f, " 0x%08" PRIx64 " .. 0x%08" PRIx64, rec->off, last);
	if (rec->op == FSX_OP_COPY)
		fprintf(f, " -> 0x%08" PRIx64, rec->dst);
	fprintf(f, " (0x%" PRIx64 " bytes)", rec->len);
}

/**
 * fsx_rec_print - print one operation on one line
 * @f: stream
 * @rec: the operation
 *
 * The line names the operation number, what was done, its range, its variant and
 * the file size after it. It depends only on the operation, never on timing.
 *
 * Context: any.
 * Return: nothing.
 */
void fsx_rec_print(FILE *f, const struct fsx_rec *rec)
{
	fprintf(f, "%8lu %-11s", rec->n, fsx_op_name(rec->op));
	if (rec->flags & FSX_F_SKIP)
		fprintf(f, " skipped (%s)",
			rec->flags & FSX_F_FALLBACK ? "turned off" : "nothing to do");
	else if (rec->op == FSX_OP_TRUNCATE)
		fprintf(f, " 0x%08" PRIx64 " -> 0x%08" PRIx64, rec->dst, rec->off);
	else if (rec->op == FSX_OP_FSYNC || rec->op == FSX_OP_FDATASYNC)
		fprintf(f, " %s", rec->flags & FSX_F_DIOFD ? "(O_DIRECT fd)" : "(buffered fd)");
	else if (rec->op != FSX_OP_REOPEN)
		fsx_rec_range(f, rec);
	if (rec->flags & FSX_F_MSYNC)
		fprintf(f, " msync");
	if (rec->flags & FSX_F_KEEP)
		fprintf(f, " keep_size");
	if (rec->asked != rec->op)
		fprintf(f, " [for %s, turned off]", fsx_op_name(rec->asked));
	fprintf(f, " size 0x%" PRIx64 "\n", rec->size);
}

/**
 * fsx_note - print a note (not a failure) on stderr
 * @fs: the run
 * @fmt: printf format
 *
 * Context: any.
 * Return: nothing.
 */
void fsx_note(struct fsx *fs, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%sfoliofs-fsx: note: ", fs->prefix);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void fsx_fail_begin(struct fsx *fs, const char *fmt, va_list ap)
{
	printf("%sfoliofs-fsx: FAIL %s op %lu of %s (seed %" PRIu64 "): ", fs->prefix,
	       fs->in_op ? "in" : "after", fs->opnum, fs->path, fs->seed);
	vprintf(fmt, ap);
	putchar('\n');
}

static void fsx_print_log(struct fsx *fs)
{
	unsigned long first = fs->opnum > FSX_LOG_LEN ? fs->opnum - FSX_LOG_LEN + 1 : 1;

	if (!fs->opnum)
		return;
	printf("%slast %lu operations, oldest first:\n", fs->prefix, fs->opnum - first + 1);
	for (unsigned long n = first; n <= fs->opnum; n++) {
		fputs(fs->prefix, stdout);
		fsx_rec_print(stdout, &fs->log[(n - 1) % FSX_LOG_LEN]);
	}
}

static void fsx_save_path(struct fsx *fs, char *out, size_t out_len, const char *suffix)
{
	char *copy;

	if (!fs->savedir) {
		snprintf(out, out_len, "%s%s", fs->path, suffix);
		return;
	}
	copy = strdup(fs->path);
	snprintf(out, out_len, "%s/%s%s", fs->savedir, copy ? basename(copy) : "fsx", suffix);
	free(copy);
}

static int fsx_write_all(int fd, const unsigned char *p, uint64_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

static int fsx_save_good(struct fsx *fs, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int err;

	if (fd < 0)
		return -errno;
	err = fsx_write_all(fd, fs->model, fs->size);
	close(fd);
	return err;
}

static int fsx_save_bad(struct fsx *fs, const char *path)
{
	unsigned char chunk[65536];
	int in, out, err = 0;
	ssize_t n;

	in = open(fs->path, O_RDONLY);
	if (in < 0)
		return -errno;
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0) {
		err = -errno;
		goto out_in;
	}
	while ((n = read(in, chunk, sizeof(chunk))) > 0) {
		err = fsx_write_all(out, chunk, n);
		if (err)
			break;
	}
	if (n < 0)
		err = -errno;
	close(out);
out_in:
	close(in);
	return err;
}

static void fsx_save_copies(struct fsx *fs)
{
	char good[4096], bad[4096];
	int err;

	fsx_save_path(fs, good, sizeof(good), ".fsxgood");
	fsx_save_path(fs, bad, sizeof(bad), ".fsxbad");
	err = fsx_save_good(fs, good);
	if (err)
		printf("%scannot save the model to %s: %s\n", fs->prefix, good, strerror(-err));
	else
		printf("%smodel saved to %s (0x%" PRIx64 " bytes)\n", fs->prefix, good, fs->size);
	err = fsx_save_bad(fs, bad);
	if (err)
		printf("%scannot save the file to %s: %s\n", fs->prefix, bad, strerror(-err));
	else
		printf("%sfile contents saved to %s\n", fs->prefix, bad);
}

static __attribute__((noreturn)) void fsx_fail_end(struct fsx *fs)
{
	fsx_print_log(fs);
	fsx_save_copies(fs);
	printf("%sto reproduce, run again with the same options and -S %" PRIu64
	       " (add -d to print every operation)\n",
	       fs->prefix, fs->seed);
	fflush(stdout);
	exit(FSX_EXIT_FAIL);
}

/**
 * fsx_fail - report a failure and exit with status 1
 * @fs: the run
 * @fmt: printf format for the one-line cause
 *
 * Prints the cause, the last operations, saves .fsxgood and .fsxbad.
 *
 * Context: single-threaded owner of @fs.
 * Return: does not return.
 */
void fsx_fail(struct fsx *fs, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fsx_fail_begin(fs, fmt, ap);
	va_end(ap);
	fsx_fail_end(fs);
}

static __attribute__((format(printf, 2, 3))) void fsx_fail_head(struct fsx *fs, const char *fmt,
								...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fsx_fail_begin(fs, fmt, ap);
	va_end(ap);
}

/* Hex bytes of one row, blanks where the row leaves [lo, hi). */
static void fsx_hex_row(const unsigned char *base, uint64_t base_off, uint64_t row, uint64_t lo,
			uint64_t hi)
{
	for (uint64_t o = row; o < row + FSX_ROW; o++) {
		if (o < lo || o >= hi)
			printf("   ");
		else
			printf(" %02x", base[o - base_off]);
	}
}

static void fsx_hexdump(struct fsx *fs, const unsigned char *got, uint64_t off, uint64_t len,
			uint64_t diff)
{
	uint64_t drow = diff - diff % FSX_ROW;
	uint64_t first = drow > FSX_ROWS_BEFORE * FSX_ROW ? drow - FSX_ROWS_BEFORE * FSX_ROW : 0;
	uint64_t end = drow + (FSX_ROWS_AFTER + 1) * FSX_ROW;

	if (first < off - off % FSX_ROW)
		first = off - off % FSX_ROW;
	printf("%s  offset      expected (model)%33s| actual (file)\n", fs->prefix, "");
	for (uint64_t row = first; row < end && row < off + len; row += FSX_ROW) {
		int differs = 0;

		for (uint64_t o = row; o < row + FSX_ROW; o++)
			if (o >= off && o < off + len && got[o - off] != fs->model[o])
				differs = 1;
		printf("%s%c 0x%08" PRIx64 " ", fs->prefix, differs ? '*' : ' ', row);
		fsx_hex_row(fs->model, 0, row, off, off + len);
		printf(" |");
		fsx_hex_row(got, off, row, off, off + len);
		putchar('\n');
	}
}

/* What a whole 16-byte row holds, decoded from the pattern. */
static void fsx_describe_row(struct fsx *fs, const char *who, const unsigned char *p, uint64_t at)
{
	uint32_t n = 0;
	uint64_t o = 0;
	int k;

	for (k = 0; k < FSX_ROW && !p[k]; k++)
		;
	if (k == FSX_ROW) {
		printf("%s  %s row 0x%08" PRIx64 ": zeros (a hole, or never written)\n", fs->prefix,
		       who, at);
		return;
	}
	for (k = 0; k < 4; k++)
		n = n << 8 | p[k];
	for (k = 4; k < 10; k++)
		o = o << 8 | p[k];
	for (k = 0; k < FSX_ROW; k++)
		if (p[k] != fsx_pattern_byte(n, o + k))
			break;
	if (k < FSX_ROW)
		printf("%s  %s row 0x%08" PRIx64 ": not one whole row of any write\n", fs->prefix,
		       who, at);
	else if (o == at)
		printf("%s  %s row 0x%08" PRIx64 ": written by op %" PRIu32 " here\n", fs->prefix,
		       who, at, n);
	else
		printf("%s  %s row 0x%08" PRIx64 ": op %" PRIu32 "'s data for offset 0x%" PRIx64
		       " (misplaced)\n",
		       fs->prefix, who, at, n, o);
}

static void fsx_describe_diff(struct fsx *fs, const unsigned char *got, uint64_t off, uint64_t len,
			      uint64_t diff)
{
	uint64_t row = diff - diff % FSX_ROW;

	if (row < off || row + FSX_ROW > off + len)
		return;
	fsx_describe_row(fs, "expected", fs->model + row, row);
	fsx_describe_row(fs, "actual  ", got + (row - off), row);
}

/**
 * fsx_compare - check bytes read from the file against the model
 * @fs: the run
 * @got: the bytes read
 * @off: file offset of got[0]
 * @len: bytes
 * @what: how they were read, for the report
 *
 * On a difference, prints where and how many bytes differ, a hexdump of expected
 * and actual bytes around the first difference with the rows decoded, then fails.
 *
 * Context: single-threaded owner of @fs.
 * Return: only when every byte matches.
 */
void fsx_compare(struct fsx *fs, const unsigned char *got, uint64_t off, uint64_t len,
		 const char *what)
{
	uint64_t first = UINT64_MAX, last = 0, ndiff = 0;

	if (!memcmp(got, fs->model + off, len))
		return;
	for (uint64_t i = 0; i < len; i++) {
		if (got[i] == fs->model[off + i])
			continue;
		if (first == UINT64_MAX)
			first = off + i;
		last = off + i;
		ndiff++;
	}
	fsx_fail_head(fs,
		      "%s of 0x%" PRIx64 " .. 0x%" PRIx64 ": first difference at offset 0x%" PRIx64
		      " (expected 0x%02x, got 0x%02x); bytes differing: %" PRIu64
		      ", the last at 0x%" PRIx64,
		      what, off, off + len - 1, first, fs->model[first], got[first - off], ndiff,
		      last);
	fsx_hexdump(fs, got, off, len, first);
	fsx_describe_diff(fs, got, off, len, first);
	fsx_fail_end(fs);
}

static void fsx_read_whole(struct fsx *fs, const char *when)
{
	uint64_t done = 0;

	while (done < fs->size) {
		ssize_t n = pread(fs->fd, fs->buf + done, fs->size - done, done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fsx_fail(fs, "%s: read of the whole file at 0x%" PRIx64 ": %s", when, done,
				 strerror(errno));
		if (n == 0)
			fsx_fail(fs,
				 "%s: read of the whole file ended at 0x%" PRIx64
				 ", size is 0x%" PRIx64,
				 when, done, fs->size);
		done += n;
	}
}

/**
 * fsx_check_file - check the file's size and every byte against the model
 * @fs: the run, with fs->fd open
 * @when: what just happened, for the report
 *
 * Context: single-threaded owner of @fs.
 * Return: only when the whole file matches.
 */
void fsx_check_file(struct fsx *fs, const char *when)
{
	struct stat st;

	if (fstat(fs->fd, &st) < 0)
		fsx_fail(fs, "%s: fstat: %s", when, strerror(errno));
	if ((uint64_t)st.st_size != fs->size)
		fsx_fail(fs, "%s: file size is 0x%" PRIx64 ", expected 0x%" PRIx64, when,
			 (uint64_t)st.st_size, fs->size);
	fsx_read_whole(fs, when);
	fsx_compare(fs, fs->buf, 0, fs->size, when);
}
