/*
 * tools/fsck_bitmap.c - fsck.foliofs: overlaps between claims, the computed
 * block bitmap against the on-disk one, and the superblock's free counts.
 *
 * Interface (tools/fsck.h): fsck_pass_blocks() runs last. It sorts every
 * claim by first block and sweeps them once, reporting each overlap with the
 * names of both owners; it builds the computed in-use bitmap from the claims
 * and compares it, group by group, with the block bitmaps read from disk,
 * reporting runs of differing blocks; it checks the superblock's free counts
 * against the descriptors (exact only on a clean image).
 * fsck_claim_name() describes a claim for messages.
 */
#include "config.h"

#include "tools/fsck.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/**
 * fsck_claim_name - describe what a claim is
 * @c: the claim
 * @buf: room for the text
 * @len: size of @buf
 *
 * Context: any.
 * Return: @buf, e.g. "inode 12 (data)" or "group 3's inode table".
 */
const char *fsck_claim_name(const struct fsck_claim *c, char *buf, size_t len)
{
	switch (c->kind) {
	case FK_SUPER:
		snprintf(buf, len, "the superblock");
		break;
	case FK_GDT:
		snprintf(buf, len, "the group descriptor table");
		break;
	case FK_BACKUP:
		snprintf(buf, len, "the backup superblock");
		break;
	case FK_BBITMAP:
		snprintf(buf, len, "group %u's block bitmap", c->owner);
		break;
	case FK_IBITMAP:
		snprintf(buf, len, "group %u's inode bitmap", c->owner);
		break;
	case FK_ITABLE:
		snprintf(buf, len, "group %u's inode table", c->owner);
		break;
	case FK_DATA:
		snprintf(buf, len, "inode %u (data)", c->owner);
		break;
	case FK_EXTNODE:
		snprintf(buf, len, "inode %u (extent tree node)", c->owner);
		break;
	case FK_DIRNODE:
		snprintf(buf, len, "directory %u (tree node)", c->owner);
		break;
	case FK_JOURNAL:
		snprintf(buf, len, "the journal (inode %u)", c->owner);
		break;
	default:
		snprintf(buf, len, "inode %u (xattr block)", c->owner);
		break;
	}
	return buf;
}

static int fsck_claim_cmp(const void *a, const void *b)
{
	const struct fsck_claim *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Set bits [from, from + n) of @map. */
static void fsck_set_range(uint8_t *map, uint64_t from, uint64_t n)
{
	while (n && from % 8) {
		fsck_set_bit(map, from++);
		n--;
	}
	memset(map + from / 8, 0xff, n / 8);
	from += n / 8 * 8;
	for (n %= 8; n; n--)
		fsck_set_bit(map, from++);
}

/* "block 7" or "blocks 7-9" */
static const char *fsck_blocks(char *buf, size_t len, uint64_t from, uint64_t to)
{
	if (from == to)
		snprintf(buf, len, "block %" PRIu64, from);
	else
		snprintf(buf, len, "blocks %" PRIu64 "-%" PRIu64, from, to);
	return buf;
}

/* Sweep the sorted claims: report overlaps, fill the computed bitmap. */
static void fsck_sweep(struct fsck *f)
{
	const struct fsck_claim *reach = NULL;
	uint64_t reach_end = 0;
	char a[64], b[64], r[64];

	for (size_t i = 0; i < f->nclaims; i++) {
		const struct fsck_claim *c = &f->claims[i];
		uint64_t end = c->start + c->len;

		if (reach && c->start < reach_end) {
			uint64_t last = (end < reach_end ? end : reach_end) - 1;

			fsck_problem(f, "%s: used by both %s and %s",
				     fsck_blocks(r, sizeof(r), c->start, last),
				     fsck_claim_name(reach, a, sizeof(a)),
				     fsck_claim_name(c, b, sizeof(b)));
		}
		if (end > reach_end) {
			reach_end = end;
			reach = c;
		}
		fsck_set_range(f->used, c->start, c->len);
	}
}

/* A run of blocks whose bit is wrong. -p and -y set the bits of blocks in
 * use at once; they clear those of unused blocks only when the round found
 * every owner (fsck_commit()): after a change to references the next round
 * reports them, and with a problem left the blocks stay marked. */
static void fsck_report_run(struct fsck *f, bool in_use, uint64_t from, uint64_t to)
{
	char b[64];

	if (in_use) {
		fsck_fix_count(f, "%s: in use but marked free in the bitmap",
			       fsck_blocks(b, sizeof(b), from, to));
		return;
	}
	if (f->mode != FSCK_CHECK && f->round_fixes)
		return;
	if (f->mode != FSCK_CHECK && !f->problems)
		fsck_fix_count(f, "%s: marked in use in the bitmap but not used by anything",
			       fsck_blocks(b, sizeof(b), from, to));
	else
		fsck_problem(f, "%s: marked in use in the bitmap but not used by anything",
			     fsck_blocks(b, sizeof(b), from, to));
}

/* Compare @group's on-disk block bitmap with the computed one, by runs. */
static void fsck_compare_group(struct fsck *f, uint32_t group)
{
	const uint8_t *disk = f->bmaps + (size_t)group * f->g.block_size;
	uint64_t first = folio_group_first_block(&f->g, group);
	uint32_t n = folio_group_nblocks(&f->g, group);
	uint64_t run_start = 0;
	int run = -1; /* -1 none, 1 used-but-free, 0 marked-but-unused */

	for (uint32_t i = 0; i <= n; i++) {
		int diff = -1;

		/* Whole equal bytes (groups start on a byte boundary) are skipped
		 * while no run is open. */
		if (run < 0 && i % 8 == 0 && i + 8 <= n &&
		    disk[i / 8] == f->used[(first + i) / 8]) {
			i += 7;
			continue;
		}
		if (i < n) {
			bool want = fsck_test_bit(f->used, first + i);

			if (want != fsck_test_bit(disk, i))
				diff = want;
		}
		if (diff == run)
			continue;
		if (run >= 0)
			fsck_report_run(f, run, run_start, first + i - 1);
		run = diff;
		run_start = first + i;
	}
}

static uint64_t fsck_count_bits(const uint8_t *map, uint64_t nbits)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < nbits / 8; i++)
		n += (uint64_t)__builtin_popcount(map[i]);
	for (uint64_t i = nbits / 8 * 8; i < nbits; i++)
		n += fsck_test_bit(map, i);
	return n;
}

/* The superblock's free counts against the descriptors' sums. */
static void fsck_super_counts(struct fsck *f)
{
	uint64_t fb = 0, fi = 0;
	uint64_t sfb = le64_to_cpu(f->sb.s_free_blocks), sfi = le32_to_cpu(f->sb.s_free_inodes);

	for (uint32_t g = 0; g < f->g.groups_count; g++) {
		fb += le32_to_cpu(f->gdt[g].bg_free_blocks);
		fi += le32_to_cpu(f->gdt[g].bg_free_inodes);
	}
	if (f->from_backup || (sfb == fb && sfi == fi))
		return;
	if (f->dirty) {
		fsck_verbose(f,
			     "superblock free counts %" PRIu64 " blocks, %" PRIu64
			     " inodes lag the groups' %" PRIu64 ", %" PRIu64 " (not clean)",
			     sfb, sfi, fb, fi);
		return;
	}
	if (sfb != fb)
		fsck_fix_count(f, "superblock: free blocks count %" PRIu64 ", groups have %" PRIu64,
			       sfb, fb);
	if (sfi != fi)
		fsck_fix_count(f, "superblock: free inodes count %" PRIu64 ", groups have %" PRIu64,
			       sfi, fi);
}

/**
 * fsck_pass_blocks - overlaps, bitmaps against reachable blocks, free counts
 * @f: the check, after every pass that claims blocks
 *
 * Context: fsck's only thread.
 */
void fsck_pass_blocks(struct fsck *f)
{
	f->used = fsck_alloc((size_t)(f->g.blocks_count + 7) / 8);
	qsort(f->claims, f->nclaims, sizeof(*f->claims), fsck_claim_cmp);
	fsck_sweep(f);
	f->n_used_blocks = fsck_count_bits(f->used, f->g.blocks_count);
	for (uint32_t group = 0; group < f->g.groups_count; group++)
		if (f->bmap_ok[group])
			fsck_compare_group(f, group);
	fsck_super_counts(f);
}
