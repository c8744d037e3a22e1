/*
 * tests/lib/jwriter.c - journal transactions for the tests; see jwriter.h.
 *
 * Layout of one transaction, from the log head: a descriptor with one tag
 * per copy, the copies (escaped when they start with the log magic), a
 * revoke block when there are revokes, the commit. Single-threaded.
 */
#include "config.h"

#include "tests/lib/jwriter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format/crc32c.h"

/**
 * jw_init - prepare to write transactions into a filesystem's journal
 * @w: the writer
 * @io: the device
 * @sb: the filesystem's superblock (journal position, block size, uuid)
 * @head: the log block the first transaction starts at
 * @seq: its sequence
 *
 * Context: test thread.
 */
void jw_init(struct jw *w, const struct folio_jio *io, const struct folio_super *sb, uint32_t head,
	     uint64_t seq)
{
	w->io = io;
	w->bs = 1024u << le32_to_cpu(sb->s_log_block_size);
	w->seed = folio_fs_seed(sb->s_uuid);
	w->blocks = (uint32_t)le64_to_cpu(sb->s_journal_blocks);
	w->jstart = le64_to_cpu(sb->s_journal_block);
	w->head = head;
	w->seq = seq;
	memcpy(w->uuid, sb->s_uuid, 16);
}

static int jw_put(struct jw *w, const void *buf)
{
	int err = w->io->write(w->io->ctx, w->jstart + w->head, buf);

	w->head = folio_journal_next(w->head, 1, w->blocks);
	return err;
}

static void jw_header(struct jw *w, uint8_t *buf, uint32_t type)
{
	struct folio_jheader *h = (void *)buf;

	memset(buf, 0, w->bs);
	h->h_magic = cpu_to_le32(FOLIO_JNL_MAGIC);
	h->h_type = cpu_to_le32(type);
	h->h_sequence = cpu_to_le64(w->seq);
}

/* The descriptor for @n copies, then the copies. */
static int jw_copies(struct jw *w, uint8_t *buf, uint8_t *copy, size_t n, const uint64_t *homes,
		     const void *const *data, unsigned flags)
{
	struct folio_jtag *tags = (void *)(buf + sizeof(struct folio_jdesc));
	le32 magic = cpu_to_le32(FOLIO_JNL_MAGIC);
	int err;

	jw_header(w, buf, FOLIO_JB_DESCRIPTOR);
	((struct folio_jdesc *)buf)->d_count = cpu_to_le32((uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		tags[i].t_block = cpu_to_le64(homes[i]);
		tags[i].t_csum = cpu_to_le32(crc32c(w->seed, data[i], w->bs));
		if (!memcmp(data[i], &magic, 4))
			tags[i].t_flags = cpu_to_le32(FOLIO_JTAG_ESCAPED);
	}
	if (flags & JW_BAD_COPY)
		tags[0].t_csum ^= cpu_to_le32(1);
	folio_jblock_csum_set(w->seed, buf, w->bs);
	err = jw_put(w, buf);
	for (size_t i = 0; i < n && !err; i++) {
		memcpy(copy, data[i], w->bs);
		if (le32_to_cpu(tags[i].t_flags) & FOLIO_JTAG_ESCAPED)
			memset(copy, 0, 4);
		err = jw_put(w, copy);
	}
	return err;
}

static int jw_revoke(struct jw *w, uint8_t *buf, size_t n, const uint64_t *revokes)
{
	jw_header(w, buf, FOLIO_JB_REVOKE);
	((struct folio_jrevoke *)buf)->r_count = cpu_to_le32((uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		le64 b = cpu_to_le64(revokes[i]);

		memcpy(buf + sizeof(struct folio_jrevoke) + 8 * i, &b, 8);
	}
	folio_jblock_csum_set(w->seed, buf, w->bs);
	return jw_put(w, buf);
}

/**
 * jw_transaction - append one transaction at the log head
 * @w: the writer
 * @n: copies (1..folio_jdesc_max_tags())
 * @homes: their home blocks
 * @data: their contents (block size bytes each)
 * @nrevoke: revoked blocks (0..folio_jrevoke_max()), in one revoke block
 * @revokes: their numbers
 * @flags: JW_* to spoil the transaction on purpose
 *
 * Context: test thread.
 * Return: 0 or the device's error.
 */
int jw_transaction(struct jw *w, size_t n, const uint64_t *homes, const void *const *data,
		   size_t nrevoke, const uint64_t *revokes, unsigned flags)
{
	uint8_t *buf = calloc(1, w->bs), *copy = calloc(1, w->bs);
	uint32_t nblocks = (uint32_t)(1 + n + (nrevoke ? 1 : 0));
	int err = buf && copy ? 0 : -ENOMEM;

	if (!err)
		err = jw_copies(w, buf, copy, n, homes, data, flags);
	if (!err && nrevoke)
		err = jw_revoke(w, buf, nrevoke, revokes);
	if (!err && !(flags & JW_NO_COMMIT)) {
		jw_header(w, buf, FOLIO_JB_COMMIT);
		((struct folio_jcommit *)buf)->c_blocks = cpu_to_le32(nblocks);
		((struct folio_jcommit *)buf)->c_sec = cpu_to_le64(1700000000);
		folio_jblock_csum_set(w->seed, buf, w->bs);
		if (flags & JW_BAD_COMMIT)
			buf[w->bs - 1] ^= 0xff;
		err = jw_put(w, buf);
	}
	w->seq++;
	free(buf);
	free(copy);
	return err;
}

/**
 * jw_set_start - write the journal superblock: replay from @start, @seq
 * @w: the writer
 * @start: log block (0: an empty log)
 * @seq: the sequence of the transaction there
 *
 * Context: test thread.
 * Return: 0 or the device's error.
 */
int jw_set_start(struct jw *w, uint32_t start, uint64_t seq)
{
	uint8_t *buf = calloc(1, w->bs);
	struct folio_jsb *jsb = (void *)buf;
	int err;

	if (!buf)
		return -ENOMEM;
	jsb->j_magic = cpu_to_le32(FOLIO_JSB_MAGIC);
	jsb->j_version = cpu_to_le32(FOLIO_JOURNAL_VERSION);
	jsb->j_block_size = cpu_to_le32(w->bs);
	jsb->j_blocks = cpu_to_le32(w->blocks);
	jsb->j_first = cpu_to_le32(1);
	jsb->j_sequence = cpu_to_le64(seq);
	jsb->j_start = cpu_to_le32(start);
	memcpy(jsb->j_uuid, w->uuid, 16);
	folio_jsb_csum_set(w->seed, jsb);
	err = w->io->write(w->io->ctx, w->jstart, buf);
	free(buf);
	return err;
}
