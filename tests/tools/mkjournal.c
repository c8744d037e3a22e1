/*
 * tests/tools/mkjournal.c - test-only: fill a fresh image's journal with
 * transactions (tests/lib/jwriter) and mark the image as needing recovery,
 * as a daemon that crashed would leave it, for fsck.foliofs's replay tests.
 *
 *   mkjournal IMAGE replay|nocommit
 *
 * replay:   transaction 1 copies the inode table block holding the root with
 *           the root's mtime set to 1234567890, and blocks H1 ('A'), H2 ('B'),
 *           H3 (the log magic, then 'M': an escaped copy); transaction 2
 *           copies H1 ('C') and revokes H2; transaction 3 copies H4 ('D') but
 *           its commit is torn. Replay leaves H1 'C', H2 and H4 as they were
 *           (zeros), H3 as written, and the root's new mtime.
 * nocommit: transaction 1 as above without its commit: nothing is replayed.
 *
 * H1..H4 are free blocks near the end of the image. Prints "h1=N h2=N h3=N
 * h4=N bs=N" for the tests. IMAGE must come from mkfs.foliofs with a
 * journal. Single-threaded test helper; not installed.
 */
#include "config.h"

#include "backing/bdev.h"
#include "format/journal.h"
#include "tests/lib/jwriter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MJ_MTIME 1234567890

static struct bdev *dev;
static uint32_t bs;

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mkjournal: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int mj_read(void *ctx, uint64_t block, void *buf)
{
	(void)ctx;
	return bdev_read(dev, block * bs, buf, bs);
}

static int mj_write(void *ctx, uint64_t block, const void *buf)
{
	(void)ctx;
	return bdev_write(dev, block * bs, buf, bs);
}

static int mj_flush(void *ctx)
{
	(void)ctx;
	return bdev_flush(dev);
}

static uint8_t *fill(int c, bool magic)
{
	uint8_t *b = malloc(bs);
	le32 m = cpu_to_le32(FOLIO_JNL_MAGIC);

	if (!b)
		die("out of memory");
	memset(b, c, bs);
	if (magic)
		memcpy(b, &m, 4);
	return b;
}

/* The root's inode table block with its mtime changed. */
static uint8_t *root_block(const struct folio_super *sb, const struct folio_geom *g, uint64_t *blk)
{
	uint8_t *b = fill(0, false), *gdt = fill(0, false);
	const struct folio_group_desc *gd = (const void *)gdt;
	struct folio_inode *in;
	uint32_t off;

	if (mj_read(NULL, g->gdt_block, gdt))
		die("cannot read the descriptors");
	folio_inode_pos(g, le64_to_cpu(gd->bg_inode_table), FOLIO_ROOT_INO, blk, &off);
	if (mj_read(NULL, *blk, b))
		die("cannot read the inode table");
	in = (struct folio_inode *)(b + off);
	in->i_mtime = cpu_to_le64(MJ_MTIME);
	folio_inode_csum_set(folio_fs_seed(sb->s_uuid), FOLIO_ROOT_INO, in, g->inode_size);
	free(gdt);
	return b;
}

int main(int argc, char **argv)
{
	struct folio_jio io = {NULL, mj_read, mj_write, mj_flush};
	struct folio_super sb;
	struct folio_geom g;
	struct jw w;
	uint8_t head[4096];
	uint64_t h[4], rblk;
	char msg[200];
	bool nocommit;

	if (argc != 3 || (strcmp(argv[2], "replay") && strcmp(argv[2], "nocommit")))
		die("usage: mkjournal IMAGE replay|nocommit");
	nocommit = !strcmp(argv[2], "nocommit");
	if (bdev_file_open(argv[1], BDEV_BUFFERED | BDEV_QUIET, &dev) ||
	    bdev_read(dev, 0, head, 4096))
		die("%s: cannot open", argv[1]);
	memcpy(&sb, head, sizeof(sb));
	if (folio_sb_validate(&sb, dev->size, 0, &g, msg, sizeof(msg)))
		die("%s: %s", argv[1], msg);
	if (!(le32_to_cpu(sb.s_feature_compat) & FOLIO_COMPAT_JOURNAL))
		die("%s: no journal", argv[1]);
	bs = g.block_size;
	for (int i = 0; i < 4; i++)
		h[i] = g.blocks_count - 10 + (uint64_t)i;
	jw_init(&w, &io, &sb, 1, 1);
	{
		uint64_t homes1[4] = {0, h[0], h[1], h[2]}, homes2[1] = {h[0]}, homes3[1] = {h[3]};
		const void *d1[4] = {root_block(&sb, &g, &rblk), fill('A', false), fill('B', false),
				     fill('M', true)};
		const void *d2[1] = {fill('C', false)}, *d3[1] = {fill('D', false)};
		uint64_t rv[1] = {h[1]};

		homes1[0] = rblk;
		if (jw_transaction(&w, 4, homes1, d1, 0, NULL, nocommit ? JW_NO_COMMIT : 0))
			die("cannot write the log");
		if (!nocommit && (jw_transaction(&w, 1, homes2, d2, 1, rv, 0) ||
				  jw_transaction(&w, 1, homes3, d3, 0, NULL, JW_BAD_COMMIT)))
			die("cannot write the log");
		for (int i = 0; i < 4; i++)
			free((void *)d1[i]);
		free((void *)d2[0]);
		free((void *)d3[0]);
	}
	if (jw_set_start(&w, 1, 1))
		die("cannot write the journal superblock");
	sb.s_feature_incompat |= cpu_to_le32(FOLIO_INCOMPAT_RECOVER);
	sb.s_state = 0;
	folio_sb_csum_set(&sb);
	memcpy(head, &sb, sizeof(sb));
	if (bdev_write(dev, 0, head, bs < 4096 ? bs : 4096) || bdev_flush(dev))
		die("cannot write the superblock");
	bdev_close(dev);
	printf("h1=%llu h2=%llu h3=%llu h4=%llu bs=%u\n", (unsigned long long)h[0],
	       (unsigned long long)h[1], (unsigned long long)h[2], (unsigned long long)h[3], bs);
	return 0;
}
