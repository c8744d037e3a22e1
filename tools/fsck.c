/*
 * tools/fsck.c - fsck.foliofs: check every invariant of a foliofs image,
 * read-only.
 *
 *   fsck.foliofs IMAGE [-n] [-v] [-f]
 *
 * -n (no changes) and -f (check even if clean) are accepted for e2fsck
 * compatibility: fsck.foliofs never writes and always checks. -v prints the
 * superblock, the group layout and each pass.
 *
 * This file owns the program's frame: options, opening the image, the order
 * of the passes (fsck.h lists them), problem reporting, block reads, claims
 * and the summary. Exit status: 0 clean, 4 problems found (none corrected),
 * 8 operational error (missing or unreadable image, not foliofs, a newer
 * format, out of memory).
 */
#include "config.h"

#include "tools/fsck.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/**
 * fsck_problem - report one problem (counted; exit status becomes 4)
 * @f: the check
 * @fmt: printf format of the line, without program name or newline
 *
 * Context: fsck's only thread.
 */
void fsck_problem(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	f->problems++;
	printf(FSCK_PROG ": ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/**
 * fsck_note - report an expected state that is not an error
 * @f: the check
 * @fmt: printf format of the line
 *
 * Context: fsck's only thread.
 */
void fsck_note(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	f->notes++;
	printf(FSCK_PROG ": note: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/**
 * fsck_verbose - print a line only with -v
 * @f: the check
 * @fmt: printf format of the line
 *
 * Context: fsck's only thread.
 */
void fsck_verbose(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	if (!f->verbose)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/**
 * fsck_fatal - report an operational error and exit with status 8
 * @fmt: printf format of the line
 *
 * Context: fsck's only thread. Does not return.
 */
void fsck_fatal(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, FSCK_PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(FSCK_EXIT_OPER);
}

/**
 * fsck_alloc - zeroed memory or exit 8
 * @size: bytes
 *
 * Context: fsck's only thread.
 * Return: the memory (never NULL).
 */
void *fsck_alloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);

	if (!p)
		fsck_fatal("out of memory (%zu bytes)", size);
	return p;
}

/**
 * fsck_block_alloc - an aligned, zeroed buffer for whole blocks, or exit 8
 * @nblocks: blocks
 * @block_size: bytes per block
 *
 * Context: fsck's only thread.
 * Return: the buffer (free() it).
 */
void *fsck_block_alloc(size_t nblocks, uint32_t block_size)
{
	size_t bytes = (nblocks * block_size + 4095) / 4096 * 4096;
	void *p = aligned_alloc(4096, bytes ? bytes : 4096);

	if (!p)
		fsck_fatal("out of memory (%zu bytes)", bytes);
	memset(p, 0, bytes ? bytes : 4096);
	return p;
}

/**
 * fsck_read - read whole blocks or exit 8
 * @f: the check
 * @blk: first block
 * @nblocks: how many
 * @buf: destination (nblocks * B bytes)
 *
 * Context: fsck's only thread.
 */
void fsck_read(struct fsck *f, uint64_t blk, uint64_t nblocks, void *buf)
{
	int ret = bdev_read(f->bdev, blk << f->g.block_shift, buf, nblocks << f->g.block_shift);

	if (ret)
		fsck_fatal("%s: cannot read block %" PRIu64 ": %s", f->image, blk, strerror(-ret));
}

/**
 * fsck_range_ok - tell whether blocks lie inside the filesystem
 * @f: the check
 * @start: first block
 * @len: blocks
 *
 * Context: any.
 * Return: true when 1 <= start and start + len <= blocks_count (block 0 always
 * holds the superblock, so 0 is never a valid pointer).
 */
bool fsck_range_ok(const struct fsck *f, uint64_t start, uint64_t len)
{
	return start >= 1 && len <= f->g.blocks_count && start <= f->g.blocks_count - len;
}

/**
 * fsck_claim - record that a structure occupies blocks
 * @f: the check
 * @start: first block (fsck_range_ok() must hold)
 * @len: blocks
 * @owner: inode number, or group number for group metadata
 * @k: what occupies them
 *
 * Context: fsck's only thread.
 */
void fsck_claim(struct fsck *f, uint64_t start, uint64_t len, uint32_t owner, enum fsck_kind k)
{
	if (f->nclaims == f->claims_cap) {
		size_t cap = f->claims_cap ? 2 * f->claims_cap : 1024;

		f->claims = realloc(f->claims, cap * sizeof(*f->claims));
		if (!f->claims)
			fsck_fatal("out of memory (%zu claims)", cap);
		f->claims_cap = cap;
	}
	f->claims[f->nclaims++] = (struct fsck_claim){start, len, owner, (uint8_t)k};
}

/**
 * fsck_test_bit - read one bit of a little-endian bitmap
 * @map: the bitmap
 * @bit: bit number
 *
 * Context: any.
 * Return: the bit.
 */
bool fsck_test_bit(const uint8_t *map, uint64_t bit)
{
	return map[bit / 8] >> (bit % 8) & 1;
}

/**
 * fsck_set_bit - set one bit of a little-endian bitmap
 * @map: the bitmap
 * @bit: bit number
 *
 * Context: any.
 */
void fsck_set_bit(uint8_t *map, uint64_t bit)
{
	map[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

static void fsck_usage(void)
{
	fprintf(stderr, "usage: " FSCK_PROG " IMAGE [-n] [-v] [-f]\n");
	exit(FSCK_EXIT_OPER);
}

static void fsck_parse_args(int argc, char **argv, struct fsck *f)
{
	int c;

	opterr = 0;
	while ((c = getopt(argc, argv, "nvfh")) != -1) {
		switch (c) {
		case 'n':
		case 'f':
			break;
		case 'v':
			f->verbose = true;
			break;
		case 'h':
			fsck_usage();
			break;
		default:
			fsck_fatal("unknown option '-%c' (usage: " FSCK_PROG
				   " IMAGE [-n] [-v] [-f])",
				   optopt);
		}
	}
	if (optind != argc - 1)
		fsck_usage();
	f->image = argv[optind];
}

static void fsck_open(struct fsck *f)
{
	int ret = bdev_file_open(f->image, BDEV_RDONLY | BDEV_BUFFERED | BDEV_QUIET | BDEV_EXCL,
				 &f->bdev);

	if (ret == -EBUSY) {
		printf(FSCK_PROG ": warning: %s is in use (mounted?); results may be inaccurate\n",
		       f->image);
		ret = bdev_file_open(f->image, BDEV_RDONLY | BDEV_BUFFERED | BDEV_QUIET, &f->bdev);
	}
	if (ret)
		fsck_fatal("%s: %s", f->image, strerror(-ret));
}

static void fsck_summary(const struct fsck *f)
{
	const struct folio_geom *g = &f->g;

	printf("%s: %" PRIu64 " inodes checked (%" PRIu64 " directories, %" PRIu64
	       " files, %" PRIu64 " symlinks, %" PRIu64 " other), %" PRIu64 " entries\n",
	       f->image, f->n_inodes, f->n_dirs, f->n_files, f->n_symlinks, f->n_other,
	       f->n_entries);
	printf("%s: %" PRIu64 "/%" PRIu64 " blocks in use (%" PRIu64
	       " tree and xattr blocks checked), %u groups\n",
	       f->image, f->n_used_blocks, g->blocks_count, f->n_tree_blocks, g->groups_count);
	if (f->problems)
		printf("%s: %" PRIu64 " problem%s found, none corrected\n", f->image, f->problems,
		       f->problems == 1 ? "" : "s");
	else
		printf("%s: clean%s\n", f->image,
		       f->n_orphans ? " (orphans will be freed at the next mount)" : "");
}

static void fsck_free(struct fsck *f)
{
	free(f->gdt);
	free(f->group_ok);
	free(f->bmap_ok);
	free(f->imap_ok);
	free(f->bmaps);
	free(f->imaps);
	free(f->ino);
	free(f->dirs);
	free(f->claims);
	free(f->used);
	bdev_close(f->bdev);
}

int main(int argc, char **argv)
{
	struct fsck f = {0};

	fsck_parse_args(argc, argv, &f);
	fsck_open(&f);
	fsck_pass_super(&f);
	fsck_pass_groups(&f);
	fsck_verbose(&f, "pass: inodes");
	fsck_pass_inodes(&f);
	fsck_pass_orphans(&f);
	fsck_verbose(&f, "pass: directories");
	fsck_pass_dirs(&f);
	fsck_verbose(&f, "pass: link counts and connectivity");
	fsck_pass_links(&f);
	fsck_verbose(&f, "pass: blocks and bitmaps");
	fsck_pass_blocks(&f);
	fsck_summary(&f);
	fsck_free(&f);
	return f.problems ? FSCK_EXIT_ERRORS : FSCK_EXIT_OK;
}
