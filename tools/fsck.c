/*
 * tools/fsck.c - fsck.foliofs: check every invariant of a foliofs image,
 * and repair what it may.
 *
 *   fsck.foliofs IMAGE [-n|-p|-y] [-v] [-f]
 *
 * Without an option, or with -n, it never writes. -p (preen) replays the
 * journal and fixes what is always safe: free counts, bitmap bits, orphans,
 * the clean state; anything else it reports and exits 4. -y fixes
 * everything it can (tools/fsck_repair.c). -f (check even if clean) is
 * accepted for e2fsck compatibility: fsck.foliofs always checks. -v prints
 * the superblock, the group layout and each pass.
 *
 * This file owns the program's frame: options, opening the image, the order
 * of the passes (fsck.h lists them) and the rounds, problem reporting, block
 * I/O, claims and the summary. Exit status, as e2fsck's: 0 clean, 1 errors
 * corrected, 4 errors left uncorrected, 8 operational error (bad options,
 * missing or unreadable image, not foliofs, a newer format, out of memory,
 * a failed write).
 */
#include "config.h"

#include "tools/fsck.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FSCK_LINE 640 /* longest problem line */

/* Was @line printed before (in an earlier round)? Remembers it. */
static bool fsck_seen(struct fsck *f, const char *line)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const char *p = line; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	for (size_t i = 0; i < f->nseen; i++)
		if (f->seen[i] == h)
			return true;
	if (f->nseen == f->seen_cap) {
		f->seen_cap = f->seen_cap ? 2 * f->seen_cap : 256;
		f->seen = realloc(f->seen, f->seen_cap * sizeof(*f->seen));
		if (!f->seen)
			fsck_fatal("out of memory");
	}
	f->seen[f->nseen++] = h;
	return false;
}

/* Print "fsck.foliofs: PREFIX LINE SUFFIX" unless printed before; true when
 * printed. */
static bool fsck_say(struct fsck *f, const char *prefix, const char *suffix, const char *fmt,
		     va_list ap)
{
	char line[FSCK_LINE];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (fsck_seen(f, line))
		return false;
	printf(FSCK_PROG ": %s%s%s\n", prefix, line, suffix);
	return true;
}

/**
 * fsck_problem - report one problem (counted; exit status becomes 4)
 * @f: the check
 * @fmt: printf format of the line, without program name or newline
 *
 * A line printed in an earlier round is counted but not printed again.
 *
 * Context: fsck's only thread.
 */
void fsck_problem(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	f->problems++;
	va_start(ap, fmt);
	fsck_say(f, "", "", fmt, ap);
	va_end(ap);
}

/* A problem that is fixed (counted in *@counter) or left (a problem). */
static bool fsck_report(struct fsck *f, bool fix, uint64_t *counter, const char *fmt, va_list ap)
{
	if (!fix)
		f->problems++;
	if (fsck_say(f, "", fix ? ": fixed" : "", fmt, ap) && fix)
		f->fixed++;
	if (fix)
		(*counter)++;
	return fix;
}

/**
 * fsck_fix - report a problem and say whether to fix it now
 * @f: the check
 * @lvl: the least mode that fixes it (FX_PREEN, FX_YES, FX_NEVER)
 * @fmt: printf format of the line
 *
 * When the mode allows, the line ends in ": fixed", the fix is counted (a
 * change to references: another round follows) and the caller makes it;
 * otherwise this is fsck_problem().
 *
 * Context: fsck's only thread.
 * Return: true when the caller must fix the problem.
 */
bool fsck_fix(struct fsck *f, enum fsck_level lvl, const char *fmt, ...)
{
	va_list ap;
	bool fix;

	va_start(ap, fmt);
	fix = fsck_report(f, (int)f->mode >= (int)lvl, &f->round_fixes, fmt, ap);
	va_end(ap);
	return fix;
}

/**
 * fsck_fix_count - report a wrong bitmap bit, count or state that -p and -y
 * set right at the end of the round (fsck_commit())
 * @f: the check
 * @fmt: printf format of the line
 *
 * Context: fsck's only thread.
 * Return: true when it will be fixed.
 */
bool fsck_fix_count(struct fsck *f, const char *fmt, ...)
{
	va_list ap;
	bool fix;

	va_start(ap, fmt);
	fix = fsck_report(f, f->mode >= FSCK_PREEN, &f->round_counts, fmt, ap);
	va_end(ap);
	return fix;
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
	va_start(ap, fmt);
	fsck_say(f, "note: ", "", fmt, ap);
	va_end(ap);
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
 * fsck_write - write whole blocks or exit 8
 * @f: the check, opened for writing (-p, -y)
 * @blk: first block
 * @nblocks: how many
 * @buf: source
 *
 * Context: fsck's only thread.
 */
void fsck_write(struct fsck *f, uint64_t blk, uint64_t nblocks, const void *buf)
{
	int ret;

	if (f->mode == FSCK_CHECK)
		fsck_fatal("internal error: write at block %" PRIu64 " in a read-only check", blk);
	ret = bdev_write(f->bdev, blk << f->g.block_shift, buf, nblocks << f->g.block_shift);
	if (ret)
		fsck_fatal("%s: cannot write block %" PRIu64 ": %s", f->image, blk, strerror(-ret));
}

/**
 * fsck_flush - make every write so far durable, or exit 8
 * @f: the check
 *
 * Context: fsck's only thread.
 */
void fsck_flush(struct fsck *f)
{
	int ret;

	if (f->mode == FSCK_CHECK)
		return;
	ret = bdev_flush(f->bdev);
	if (ret)
		fsck_fatal("%s: flush failed: %s", f->image, strerror(-ret));
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
	if (f->claimed)
		for (uint64_t b = start; b < start + len; b++)
			fsck_set_bit(f->claimed, b);
}

/**
 * fsck_claim_free - tell whether no claim so far covers any of the blocks
 * @f: the check (-y keeps the claimed bitmap; otherwise always true)
 * @start: first block, fsck_range_ok()
 * @len: blocks
 *
 * Context: fsck's only thread.
 * Return: true when the blocks may be claimed without an overlap.
 */
bool fsck_claim_free(const struct fsck *f, uint64_t start, uint64_t len)
{
	if (!f->claimed)
		return true;
	for (uint64_t b = start; b < start + len; b++)
		if (fsck_test_bit(f->claimed, b))
			return false;
	return true;
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

#define FSCK_USAGE "usage: " FSCK_PROG " IMAGE [-n|-p|-y] [-v] [-f]"

static void fsck_usage(void)
{
	fprintf(stderr, FSCK_USAGE "\n");
	exit(FSCK_EXIT_OPER);
}

static void fsck_set_mode(struct fsck *f, enum fsck_mode mode, bool *given)
{
	if (*given && f->mode != mode)
		fsck_fatal("only one of -n, -p and -y may be given");
	*given = true;
	f->mode = mode;
}

static void fsck_parse_args(int argc, char **argv, struct fsck *f)
{
	bool given = false;
	int c;

	opterr = 0;
	while ((c = getopt(argc, argv, "npyavfh")) != -1) {
		switch (c) {
		case 'n':
			fsck_set_mode(f, FSCK_CHECK, &given);
			break;
		case 'p':
		case 'a':
			fsck_set_mode(f, FSCK_PREEN, &given);
			break;
		case 'y':
			fsck_set_mode(f, FSCK_YES, &given);
			break;
		case 'f':
			break;
		case 'v':
			f->verbose = true;
			break;
		case 'h':
			fsck_usage();
			break;
		default:
			fsck_fatal("unknown option '-%c' (" FSCK_USAGE ")", optopt);
		}
	}
	if (optind != argc - 1)
		fsck_usage();
	f->image = argv[optind];
}

static void fsck_open(struct fsck *f)
{
	unsigned mode = f->mode == FSCK_CHECK ? BDEV_RDONLY : 0;
	int ret = bdev_file_open(f->image, mode | BDEV_BUFFERED | BDEV_QUIET | BDEV_EXCL, &f->bdev);

	if (ret == -EBUSY && f->mode != FSCK_CHECK)
		fsck_fatal("%s: in use (mounted?); not repairing", f->image);
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
	if (f->fixed)
		printf("%s: %" PRIu64 " problem%s fixed\n", f->image, f->fixed,
		       f->fixed == 1 ? "" : "s");
	if (f->problems && f->mode == FSCK_CHECK)
		printf("%s: %" PRIu64 " problem%s found, none corrected\n", f->image, f->problems,
		       f->problems == 1 ? "" : "s");
	else if (f->problems)
		printf("%s: %" PRIu64 " problem%s left uncorrected%s\n", f->image, f->problems,
		       f->problems == 1 ? "" : "s",
		       f->mode == FSCK_PREEN ? "; run " FSCK_PROG " -y" : "");
	else
		printf("%s: clean%s\n", f->image,
		       f->n_orphans && f->mode == FSCK_CHECK
			       ? " (orphans will be freed at the next mount)"
			       : "");
}

/* Free what one round built, so the next starts afresh. */
static void fsck_round_free(struct fsck *f)
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
	free(f->claimed);
	f->claimed = NULL;
	free(f->imap_dirty);
	free(f->gd_dirty);
	free(f->reconnect);
	memset(&f->gdt, 0, offsetof(struct fsck, round) - offsetof(struct fsck, gdt));
	f->reconnect = NULL;
	f->nreconnect = f->reconnect_cap = 0;
	f->imap_dirty = f->gd_dirty = NULL;
	f->problems = f->sb_problems;
	f->notes = 0;
	f->n_inodes = f->n_dirs = f->n_files = f->n_symlinks = f->n_other = 0;
	f->n_entries = f->n_orphans = f->n_used_blocks = f->n_tree_blocks = 0;
	f->round_fixes = f->round_counts = 0;
	f->lf_ino = 0;
}

/* One pass over everything after the superblock. */
static void fsck_round(struct fsck *f)
{
	fsck_pass_groups(f);
	fsck_pass_journal(f);
	if (f->mode != FSCK_CHECK)
		fsck_free_orphans(f);
	fsck_verbose(f, "pass: inodes");
	fsck_pass_inodes(f);
	fsck_pass_orphans(f);
	fsck_verbose(f, "pass: directories");
	fsck_pass_dirs(f);
	fsck_verbose(f, "pass: link counts and connectivity");
	fsck_pass_links(f);
	fsck_verbose(f, "pass: blocks and bitmaps");
	fsck_pass_blocks(f);
	if (f->nreconnect)
		fsck_pass_reconnect(f);
}

#define FSCK_MAX_ROUNDS 6

int main(int argc, char **argv)
{
	struct fsck f = {0};
	uint64_t problems;

	fsck_parse_args(argc, argv, &f);
	fsck_open(&f);
	fsck_pass_super(&f);
	if (f.mode != FSCK_CHECK && (fsck_journal_repair(&f) | fsck_replay(&f))) {
		f.problems = 0;
		fsck_pass_super(&f); /* the replay may have changed it */
	}
	f.sb_problems = f.problems;
	for (f.round = 1;; f.round++) {
		bool last = f.mode == FSCK_CHECK || f.round == FSCK_MAX_ROUNDS;

		fsck_round(&f);
		if (f.mode != FSCK_CHECK)
			fsck_commit(&f, last || !f.round_fixes);
		if (last || !f.round_fixes)
			break;
		fsck_verbose(&f, "round %u changed references: checking again", f.round);
		fsck_round_free(&f);
	}
	fsck_summary(&f);
	problems = f.problems;
	fsck_round_free(&f);
	free(f.seen);
	free(f.unlinks);
	bdev_close(f.bdev);
	if (problems)
		return FSCK_EXIT_ERRORS;
	return f.fixed ? FSCK_EXIT_FIXED : FSCK_EXIT_OK;
}
