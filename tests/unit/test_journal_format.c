/*
 * tests/unit/test_journal_format.c - format/journal.c on the RAM device:
 * folio_journal_replay() over logs written by tests/lib/jwriter - a round
 * trip, replaying twice, revokes across transactions, escaped copies, a log
 * that wraps past its end, torn and partial transactions, a copy whose
 * home is outside the filesystem or in the log, a bad journal superblock -
 * plus the checksums and mkfs's default sizes.
 */
#include "config.h"

#include "backing/bdev.h"
#include "format/journal.h"
#include "tests/lib/jwriter.h"
#include "tests/lib/tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BS	4096
#define NBLOCKS 1024 /* the device */
#define JSTART	100  /* the journal's first block */
#define JBLOCKS 32   /* a small journal, so logs wrap */

struct tj {
	struct bdev *dev;
	struct folio_jio io;
	struct folio_super sb;
	struct jw w;
	int flushes;
};

static int tj_read(void *ctx, uint64_t block, void *buf)
{
	struct tj *t = ctx;

	return bdev_read(t->dev, block * BS, buf, BS);
}

static int tj_write(void *ctx, uint64_t block, const void *buf)
{
	struct tj *t = ctx;

	return bdev_write(t->dev, block * BS, buf, BS);
}

static int tj_flush(void *ctx)
{
	struct tj *t = ctx;

	t->flushes++;
	return bdev_flush(t->dev);
}

/* A fresh device with an empty journal whose log starts at @head, @seq. */
static void tj_setup(struct tj *t, uint32_t head, uint64_t seq)
{
	memset(t, 0, sizeof(*t));
	if (bdev_mem_create((uint64_t)NBLOCKS * BS, 512, &t->dev))
		BAIL("cannot create the RAM device");
	t->io = (struct folio_jio){t, tj_read, tj_write, tj_flush};
	t->sb.s_log_block_size = cpu_to_le32(2);
	t->sb.s_blocks_count = cpu_to_le64(NBLOCKS);
	t->sb.s_feature_compat = cpu_to_le32(FOLIO_COMPAT_JOURNAL);
	t->sb.s_journal_ino = cpu_to_le32(FOLIO_JOURNAL_INO);
	t->sb.s_journal_block = cpu_to_le64(JSTART);
	t->sb.s_journal_blocks = cpu_to_le64(JBLOCKS);
	for (int i = 0; i < 16; i++)
		t->sb.s_uuid[i] = (uint8_t)(i * 17 + 3);
	jw_init(&t->w, &t->io, &t->sb, head, seq);
	if (jw_set_start(&t->w, 0, seq))
		BAIL("cannot write the journal superblock");
}

static void tj_done(struct tj *t)
{
	bdev_close(t->dev);
}

/* A block of @c, or of @c after the log magic when @magic. */
static uint8_t *pattern(uint8_t c, bool magic)
{
	static uint8_t bufs[8][BS];
	static int next;
	uint8_t *b = bufs[next++ % 8];
	le32 m = cpu_to_le32(FOLIO_JNL_MAGIC);

	memset(b, c, BS);
	if (magic)
		memcpy(b, &m, 4);
	return b;
}

/* Is home block @blk equal to @want (NULL: zeros)? */
static bool home_is(struct tj *t, uint64_t blk, const uint8_t *want)
{
	static uint8_t buf[BS], zero[BS];

	if (tj_read(t, blk, buf))
		return false;
	return !memcmp(buf, want ? want : zero, BS);
}

static struct folio_jsb read_jsb(struct tj *t)
{
	static uint8_t buf[BS];
	struct folio_jsb jsb;

	tj_read(t, JSTART, buf);
	memcpy(&jsb, buf, sizeof(jsb));
	return jsb;
}

static int replay(struct tj *t, bool dry, struct folio_replay_info *info)
{
	char msg[200];

	return folio_journal_replay(&t->io, &t->sb, dry, info, msg, sizeof(msg));
}

static void test_round_trip(void)
{
	struct tj t;
	struct folio_replay_info info;
	uint64_t homes[2] = {500, 501};
	const void *data[2];
	uint8_t a[BS], b[BS];
	struct folio_jsb jsb;

	tj_setup(&t, 1, 7);
	memcpy(a, pattern('A', false), BS);
	memcpy(b, pattern('B', false), BS);
	data[0] = a;
	data[1] = b;
	ok(!jw_transaction(&t.w, 2, homes, data, 0, NULL, 0), "round trip: transaction written");
	jw_set_start(&t.w, 1, 7);
	is_int(replay(&t, true, &info), 0, "dry run succeeds");
	is_int(info.transactions, 1, "dry run finds one transaction");
	ok(home_is(&t, 500, NULL), "dry run writes nothing home");
	is_int(replay(&t, false, &info), 0, "replay succeeds");
	is_int(info.transactions, 1, "one transaction replayed");
	is_u64(info.first_seq, 7, "its sequence");
	is_u64(info.blocks, 2, "two blocks written");
	ok(home_is(&t, 500, a) && home_is(&t, 501, b), "both blocks are home");
	jsb = read_jsb(&t);
	is_int(le32_to_cpu(jsb.j_start), 0, "the log is empty afterwards");
	is_u64(le64_to_cpu(jsb.j_sequence), 8, "the next sequence is 8");
	ok(folio_jsb_check(&jsb, &t.sb, NULL, 0) == 0, "the new journal superblock checks out");
	ok(t.flushes >= 2, "flushed before and after emptying the log");
	/* Replaying again is the same as once. */
	memset(b, 0, BS);
	tj_write(&t, 501, b); /* a later change to the home block survives */
	is_int(replay(&t, false, &info), 0, "second replay succeeds");
	is_int(info.transactions, 0, "second replay finds nothing");
	ok(home_is(&t, 500, a) && home_is(&t, 501, NULL), "second replay changes nothing");
	tj_done(&t);
}

static void test_revokes(void)
{
	struct tj t;
	struct folio_replay_info info;
	uint64_t h1[2] = {600, 601}, h2[1] = {602}, h3[1] = {600}, rv[1] = {600}, rv2[1] = {601};
	const void *d1[2], *d2[1], *d3[1];
	uint8_t a[BS], b[BS], x[BS], c[BS];

	tj_setup(&t, 1, 1);
	memcpy(a, pattern('A', false), BS);
	memcpy(b, pattern('B', false), BS);
	memcpy(x, pattern('X', false), BS);
	memcpy(c, pattern('C', false), BS);
	d1[0] = a;
	d1[1] = b;
	d2[0] = x;
	d3[0] = c;
	jw_transaction(&t.w, 2, h1, d1, 0, NULL, 0); /* 1: 600=A 601=B */
	jw_transaction(&t.w, 1, h2, d2, 1, rv, 0);   /* 2: 602=X, revoke 600 */
	jw_transaction(&t.w, 1, h3, d3, 1, rv2, 0);  /* 3: 600=C, revoke 601 */
	jw_set_start(&t.w, 1, 1);
	is_int(replay(&t, false, &info), 0, "revokes: replay succeeds");
	is_int(info.transactions, 3, "three transactions");
	ok(home_is(&t, 600, c), "a copy after the revoke is replayed");
	ok(home_is(&t, 601, NULL), "a copy revoked by a later transaction is not");
	ok(home_is(&t, 602, x), "an unrelated copy is");
	is_u64(info.revoked, 2, "two copies skipped for revokes");
	tj_done(&t);
}

static void test_escape(void)
{
	struct tj t;
	struct folio_replay_info info;
	uint64_t h[1] = {700};
	uint8_t m[BS], log[BS];
	const void *d[1] = {m};

	tj_setup(&t, 1, 1);
	memcpy(m, pattern('M', true), BS);
	jw_transaction(&t.w, 1, h, d, 0, NULL, 0);
	jw_set_start(&t.w, 1, 1);
	tj_read(&t, JSTART + 2, log);
	ok(!memcmp(log, "\0\0\0\0", 4) && !memcmp(log + 4, m + 4, BS - 4),
	   "escape: the copy in the log starts with zeros");
	is_int(replay(&t, false, &info), 0, "escape: replay succeeds");
	ok(home_is(&t, 700, m), "escape: the block goes home with its magic");
	tj_done(&t);
}

static void test_wrap(void)
{
	struct tj t;
	struct folio_replay_info info;
	uint64_t h[6] = {800, 801, 802, 803, 804, 805};
	uint8_t blk[6][BS];
	const void *d[6];
	bool all = true;

	/* The log is blocks 1..31; start at 28 so 8 blocks wrap to 1..4. */
	tj_setup(&t, 28, 40);
	for (int i = 0; i < 6; i++) {
		memcpy(blk[i], pattern((uint8_t)('a' + i), false), BS);
		d[i] = blk[i];
	}
	jw_transaction(&t.w, 6, h, d, 0, NULL, 0);
	is_int(t.w.head, 5, "wrap: the transaction ends past the start of the log");
	jw_set_start(&t.w, 28, 40);
	is_int(replay(&t, false, &info), 0, "wrap: replay succeeds");
	is_int(info.transactions, 1, "wrap: one transaction");
	for (int i = 0; i < 6; i++)
		all &= home_is(&t, h[i], blk[i]);
	ok(all, "wrap: every block home");
	tj_done(&t);
}

/* Transaction 1 sound, transaction 2 spoiled by @flags or by its home
 * @home2 (one no writer would use: outside the filesystem, in the log
 * itself; 901 otherwise), transaction 3 sound: only 1 may be replayed, and
 * replay succeeds (before the home check, writing such a copy home failed,
 * and the image could be neither mounted nor repaired). */
static void test_spoiled(unsigned flags, uint64_t home2, const char *what)
{
	struct tj t;
	struct folio_replay_info info;
	uint64_t h1[1] = {900}, h2[1] = {home2}, h3[1] = {902};
	uint8_t a[BS], b[BS], c[BS];
	const void *d1[1] = {a}, *d2[1] = {b}, *d3[1] = {c};

	tj_setup(&t, 1, 1);
	memcpy(a, pattern('1', false), BS);
	memcpy(b, pattern('2', false), BS);
	memcpy(c, pattern('3', false), BS);
	jw_transaction(&t.w, 1, h1, d1, 0, NULL, 0);
	jw_transaction(&t.w, 1, h2, d2, 0, NULL, flags);
	jw_transaction(&t.w, 1, h3, d3, 0, NULL, 0);
	jw_set_start(&t.w, 1, 1);
	is_int(replay(&t, false, &info), 0, "%s: replay succeeds", what);
	is_int(info.transactions, 1, "%s: only the first transaction counts", what);
	ok(home_is(&t, 900, a), "%s: the first is home", what);
	ok((home2 != 901 || home_is(&t, 901, NULL)) && home_is(&t, 902, NULL),
	   "%s: nothing after it is", what);
	is_u64(le64_to_cpu(read_jsb(&t).j_sequence), 2, "%s: the next sequence is 2", what);
	tj_done(&t);
}

static void test_bad_jsb(void)
{
	struct tj t;
	struct folio_replay_info info;
	uint8_t buf[BS];

	tj_setup(&t, 1, 1);
	tj_read(&t, JSTART, buf);
	buf[40] ^= 1; /* the uuid: checksum mismatch */
	tj_write(&t, JSTART, buf);
	is_int(replay(&t, false, &info), -EUCLEAN, "a bad journal superblock is refused");
	tj_done(&t);
	tj_setup(&t, 1, 1);
	t.sb.s_journal_blocks = cpu_to_le64(JBLOCKS + 1);
	is_int(replay(&t, true, &info), -EUCLEAN, "a journal of another size is refused");
	tj_done(&t);
}

static void test_sizes(void)
{
	is_int(folio_journal_default_blocks(1000, 4096), 0, "no journal under 2048 blocks");
	is_int(folio_journal_default_blocks(16384, 4096), 1024, "64 MiB at 4 KiB: 1024 blocks");
	is_int(folio_journal_default_blocks(65536, 1024), 4096, "64 MiB at 1 KiB: 4096 blocks");
	is_int(folio_journal_default_blocks(8192, 1024), 512, "at most a sixteenth");
	ok(folio_jdesc_max_tags(4096) * 16 + 28 <= 4096, "descriptor tags fit a block");
}

int main(void)
{
	test_round_trip();
	test_revokes();
	test_escape();
	test_wrap();
	test_spoiled(JW_NO_COMMIT, 901, "no commit");
	test_spoiled(JW_BAD_COMMIT, 901, "torn commit");
	test_spoiled(JW_BAD_COPY, 901, "bad copy checksum");
	test_spoiled(0, NBLOCKS + 5, "home past the filesystem");
	test_spoiled(0, JSTART + 3, "home in the log");
	test_bad_jsb();
	test_sizes();
	return done_testing();
}
