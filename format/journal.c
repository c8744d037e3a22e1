/*
 * format/journal.c - the journal's checksums, checks, default size and the
 * replay shared by the daemon (at mount) and fsck.foliofs.
 *
 * Interface: format/journal.h.
 *
 * Replay, in three passes over the log as jbd2 does:
 *   scan    from j_start with sequence j_sequence: a transaction is its
 *           descriptor, copy and revoke blocks up to a commit block; it is
 *           committed when every header carries its sequence, every block
 *           checksum and copy checksum holds and the commit counts its blocks.
 *           The first transaction that is not ends the log.
 *   revoke  every committed transaction's revoke records, the highest
 *           sequence per block;
 *   replay  each committed transaction's copies, oldest first, to their home
 *           blocks, skipping a copy whose block a transaction at or after its
 *           own revoked; then a flush, the emptied log, another flush.
 * Nothing is written before the scan has finished, so a replay cut short by
 * a crash is simply run again.
 *
 * Invariants: every function is pure apart from the I/O it asks of the
 * caller's struct folio_jio; the log is never written beyond its superblock.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/crc32c.h"
#include "format/journal.h"

static void jmsg(char *msg, size_t msglen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void jmsg(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (!msg || !msglen)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
}

/* ---- checksums ---- */

static uint32_t jsb_crc(uint32_t seed, const struct folio_jsb *jsb)
{
	static const uint8_t zero4[4];
	const uint8_t *p = (const uint8_t *)jsb;
	uint32_t crc = crc32c(seed, p, 4);

	crc = crc32c(crc, zero4, 4);
	return crc32c(crc, p + 8, sizeof(*jsb) - 8);
}

/**
 * folio_jsb_csum_set - compute and store the journal superblock's checksum
 * @seed: folio_fs_seed() of the filesystem
 * @jsb: the journal superblock
 *
 * Context: any.
 */
void folio_jsb_csum_set(uint32_t seed, struct folio_jsb *jsb)
{
	jsb->j_checksum = cpu_to_le32(jsb_crc(seed, jsb));
}

/**
 * folio_jsb_csum_ok - check the journal superblock's checksum
 * @seed: folio_fs_seed() of the filesystem
 * @jsb: the journal superblock
 *
 * Context: any.
 * Return: true when it matches.
 */
bool folio_jsb_csum_ok(uint32_t seed, const struct folio_jsb *jsb)
{
	return le32_to_cpu(jsb->j_checksum) == jsb_crc(seed, jsb);
}

/**
 * folio_jblock_csum_set - store a log block's checksum in its last 4 bytes
 * @seed: folio_fs_seed() of the filesystem
 * @block: a descriptor, revoke or commit block
 * @block_size: its size
 *
 * Context: any.
 */
void folio_jblock_csum_set(uint32_t seed, void *block, uint32_t block_size)
{
	le32 crc = cpu_to_le32(crc32c(seed, block, block_size - 4));

	memcpy((uint8_t *)block + block_size - 4, &crc, 4);
}

/**
 * folio_jblock_csum_ok - check a log block's checksum
 * @seed: folio_fs_seed() of the filesystem
 * @block: the block
 * @block_size: its size
 *
 * Context: any.
 * Return: true when it matches.
 */
bool folio_jblock_csum_ok(uint32_t seed, const void *block, uint32_t block_size)
{
	le32 crc;

	memcpy(&crc, (const uint8_t *)block + block_size - 4, 4);
	return le32_to_cpu(crc) == crc32c(seed, block, block_size - 4);
}

/**
 * folio_jsb_init - a fresh journal superblock: an empty log
 * @jsb: out (the whole struct is overwritten)
 * @sb: the filesystem's superblock (block size, journal size, uuid)
 * @sequence: the sequence the first transaction will carry
 *
 * What mkfs writes, and what fsck -y writes over a journal superblock that
 * cannot be used (after zeroing the log, so no stale block can replay).
 *
 * Context: any.
 */
void folio_jsb_init(struct folio_jsb *jsb, const struct folio_super *sb, uint64_t sequence)
{
	memset(jsb, 0, sizeof(*jsb));
	jsb->j_magic = cpu_to_le32(FOLIO_JSB_MAGIC);
	jsb->j_version = cpu_to_le32(FOLIO_JOURNAL_VERSION);
	jsb->j_block_size = cpu_to_le32(1024u << le32_to_cpu(sb->s_log_block_size));
	jsb->j_blocks = cpu_to_le32((uint32_t)le64_to_cpu(sb->s_journal_blocks));
	jsb->j_first = cpu_to_le32(1);
	jsb->j_sequence = cpu_to_le64(sequence);
	memcpy(jsb->j_uuid, sb->s_uuid, sizeof(jsb->j_uuid));
	folio_jsb_csum_set(folio_fs_seed(sb->s_uuid), jsb);
}

/**
 * folio_journal_inode_map - make inode 2 the journal file of @sb
 * @in: inode 2 (its times and other fields are left as they are)
 * @sb: the filesystem's superblock (the journal's run)
 *
 * A regular file of mode 0600 and one link whose one extent maps exactly
 * s_journal_blocks blocks from s_journal_block. The caller sets the checksum.
 *
 * Context: any.
 */
void folio_journal_inode_map(struct folio_inode *in, const struct folio_super *sb)
{
	uint64_t n = le64_to_cpu(sb->s_journal_blocks);

	in->i_mode = cpu_to_le16((uint16_t)(S_IFREG | 0600));
	in->i_nlink = cpu_to_le32(1);
	in->i_size = cpu_to_le64(n << (10 + le32_to_cpu(sb->s_log_block_size)));
	in->i_blocks = cpu_to_le64(n);
	in->i_flags = 0;
	in->i_xattr_block = 0;
	memset(&in->i_extents, 0, sizeof(in->i_extents));
	folio_eh_init(&in->i_extents.eh, FOLIO_EXT_INLINE, 0);
	in->i_extents.eh.eh_entries = cpu_to_le16(1);
	in->i_extents.ext[0].ee_pblk = sb->s_journal_block;
	in->i_extents.ext[0].ee_len = cpu_to_le32((uint32_t)n);
}

/**
 * folio_jsb_check - check a journal superblock against the filesystem
 * @jsb: the journal superblock (journal block 0)
 * @sb: the filesystem's superblock, validated
 * @msg, @msglen: one line on failure
 *
 * Context: any.
 * Return: 0, -EPROTONOSUPPORT for a newer journal version, -EUCLEAN for
 * anything else wrong.
 */
int folio_jsb_check(const struct folio_jsb *jsb, const struct folio_super *sb, char *msg,
		    size_t msglen)
{
	uint32_t bs = 1024u << le32_to_cpu(sb->s_log_block_size);
	uint32_t blocks = le32_to_cpu(jsb->j_blocks), first = le32_to_cpu(jsb->j_first);
	uint32_t start = le32_to_cpu(jsb->j_start);

	if (le32_to_cpu(jsb->j_magic) != FOLIO_JSB_MAGIC) {
		jmsg(msg, msglen, "journal superblock: bad magic");
		return -EUCLEAN;
	}
	if (!folio_jsb_csum_ok(folio_fs_seed(sb->s_uuid), jsb)) {
		jmsg(msg, msglen, "journal superblock: checksum mismatch");
		return -EUCLEAN;
	}
	if (le32_to_cpu(jsb->j_version) != FOLIO_JOURNAL_VERSION) {
		jmsg(msg, msglen,
		     "journal version %" PRIu32 " is not supported (this code reads %d)",
		     le32_to_cpu(jsb->j_version), FOLIO_JOURNAL_VERSION);
		return le32_to_cpu(jsb->j_version) > FOLIO_JOURNAL_VERSION ? -EPROTONOSUPPORT
									   : -EUCLEAN;
	}
	if (le32_to_cpu(jsb->j_block_size) != bs || blocks != le64_to_cpu(sb->s_journal_blocks) ||
	    first != 1 || blocks < first + 8 || (start && (start < first || start >= blocks)) ||
	    memcmp(jsb->j_uuid, sb->s_uuid, sizeof(jsb->j_uuid))) {
		jmsg(msg, msglen, "journal superblock: geometry does not match the filesystem");
		return -EUCLEAN;
	}
	return 0;
}

/**
 * folio_journal_default_blocks - the journal size mkfs picks
 * @blocks: blocks in the filesystem
 * @block_size: bytes per block
 *
 * Scaled with the filesystem as mke2fs does: no journal under 2,048 blocks;
 * then 1,024 blocks, 4,096 from 32,768, 8,192 from 256 Ki, 16,384 from 512 Ki,
 * 32,768 from 1 Mi and 65,536 from 2 Mi blocks; at most 1 GiB and never more
 * than a sixteenth of the filesystem.
 *
 * Context: any.
 * Return: blocks, or 0 when the filesystem is too small for a journal.
 */
uint32_t folio_journal_default_blocks(uint64_t blocks, uint32_t block_size)
{
	uint64_t j;

	if (blocks < 2048)
		return 0;
	if (blocks < 32768)
		j = 1024;
	else if (blocks < 256 * 1024)
		j = 4096;
	else if (blocks < 512 * 1024)
		j = 8192;
	else if (blocks < 1024 * 1024)
		j = 16384;
	else if (blocks < 2048 * 1024)
		j = 32768;
	else
		j = 65536;
	if (j * block_size > (1ULL << 30))
		j = (1ULL << 30) / block_size;
	if (j > blocks / 16)
		j = blocks / 16;
	return j < FOLIO_JOURNAL_MIN_BLOCKS ? 0 : (uint32_t)j;
}

/* ---- replay ---- */

/* One copy to write home. */
struct jcopy {
	uint64_t seq;	/* its transaction */
	uint64_t home;	/* its block */
	uint32_t pos;	/* its log block */
	uint32_t flags; /* FOLIO_JTAG_* */
};

/* Revoked blocks: open addressing, block -> highest revoking sequence. */
struct jrevokes {
	uint64_t *block, *seq;
	size_t cap, n;
};

/* What a scan collects. */
struct jscan {
	const struct folio_jio *io;
	uint32_t bs, seed, first, blocks;
	uint64_t jstart;    /* the journal's first physical block */
	uint64_t fs_blocks; /* blocks in the filesystem */
	uint8_t *buf, *copy;
	struct jcopy *copies;
	size_t ncopies, capcopies;
	struct jrevokes rv;
	/* the transaction being scanned */
	size_t tx_copies; /* copies of earlier transactions */
	uint64_t *tx_rv;  /* its revoke records */
	size_t tx_nrv, tx_caprv;
};

static size_t rv_slot(const struct jrevokes *rv, uint64_t block)
{
	size_t i = (size_t)(block * 0x9E3779B97F4A7C15ULL) & (rv->cap - 1);

	while (rv->seq[i] && rv->block[i] != block)
		i = (i + 1) & (rv->cap - 1);
	return i;
}

static int rv_grow(struct jrevokes *rv)
{
	struct jrevokes n = {.cap = rv->cap ? rv->cap * 2 : 256};

	n.block = calloc(n.cap, sizeof(uint64_t));
	n.seq = calloc(n.cap, sizeof(uint64_t));
	if (!n.block || !n.seq) {
		free(n.block);
		free(n.seq);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rv->cap; i++) {
		if (rv->seq[i]) {
			size_t j = rv_slot(&n, rv->block[i]);

			n.block[j] = rv->block[i];
			n.seq[j] = rv->seq[i];
			n.n++;
		}
	}
	free(rv->block);
	free(rv->seq);
	*rv = n;
	return 0;
}

static int rv_add(struct jrevokes *rv, uint64_t block, uint64_t seq)
{
	size_t i;

	if ((rv->n + 1) * 2 > rv->cap && rv_grow(rv))
		return -ENOMEM;
	i = rv_slot(rv, block);
	if (!rv->seq[i]) {
		rv->block[i] = block;
		rv->n++;
	}
	if (seq > rv->seq[i])
		rv->seq[i] = seq;
	return 0;
}

static uint64_t rv_get(const struct jrevokes *rv, uint64_t block)
{
	return rv->cap ? rv->seq[rv_slot(rv, block)] : 0;
}

static int js_read(struct jscan *js, uint32_t pos, void *buf)
{
	return js->io->read(js->io->ctx, js->jstart + pos, buf);
}

/* The header of the log block in js->buf, if it belongs to @seq. */
static uint32_t js_type(const struct jscan *js, uint64_t seq)
{
	const struct folio_jheader *h = (const void *)js->buf;

	if (le32_to_cpu(h->h_magic) != FOLIO_JNL_MAGIC || le64_to_cpu(h->h_sequence) != seq)
		return 0;
	return le32_to_cpu(h->h_type);
}

static int js_push_copy(struct jscan *js, const struct jcopy *c)
{
	if (js->ncopies == js->capcopies) {
		size_t cap = js->capcopies ? js->capcopies * 2 : 256;
		struct jcopy *n = realloc(js->copies, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		js->copies = n;
		js->capcopies = cap;
	}
	js->copies[js->ncopies++] = *c;
	return 0;
}

/* A copy as it goes home: its first four bytes put back when escaped. */
static void js_unescape(void *block, uint32_t flags)
{
	if (flags & FOLIO_JTAG_ESCAPED) {
		le32 m = cpu_to_le32(FOLIO_JNL_MAGIC);

		memcpy(block, &m, 4);
	}
}

/* Can @home take a copy: inside the filesystem and outside the journal? */
static bool js_home_ok(const struct jscan *js, uint64_t home)
{
	return home < js->fs_blocks && (home < js->jstart || home - js->jstart >= js->blocks);
}

/* Descriptor in js->buf at *pos: check it and the copies after it; *pos
 * ends on the last copy. 1 when it checks out, 0 when it does not (the log
 * ends), negative on an I/O or memory error. */
static int js_descriptor(struct jscan *js, uint64_t seq, uint32_t *pos, uint32_t *nblocks)
{
	const struct folio_jdesc *d = (const void *)js->buf;
	uint32_t count = le32_to_cpu(d->d_count);
	struct folio_jtag *tags;
	int err = 0;

	if (!folio_jblock_csum_ok(js->seed, js->buf, js->bs) || !count ||
	    count > folio_jdesc_max_tags(js->bs))
		return 0;
	tags = malloc(count * sizeof(*tags));
	if (!tags)
		return -ENOMEM;
	memcpy(tags, js->buf + sizeof(*d), count * sizeof(*tags));
	for (uint32_t i = 0; i < count && !err; i++) {
		struct jcopy c = {.seq = seq,
				  .home = le64_to_cpu(tags[i].t_block),
				  .flags = le32_to_cpu(tags[i].t_flags)};

		if (!js_home_ok(js, c.home)) {
			/* a home outside the filesystem or in the log: no
			 * writer made this descriptor; the log ends here */
			free(tags);
			return 0;
		}

		*pos = folio_journal_next(*pos, js->first, js->blocks);
		c.pos = *pos;
		err = js_read(js, c.pos, js->copy);
		if (err)
			break;
		js_unescape(js->copy, c.flags);
		if (crc32c(js->seed, js->copy, js->bs) != le32_to_cpu(tags[i].t_csum)) {
			free(tags);
			return 0;
		}
		err = js_push_copy(js, &c);
		(*nblocks)++;
	}
	free(tags);
	return err ? err : 1;
}

/* Revoke block in js->buf: remember its records for the transaction. */
static int js_revoke(struct jscan *js)
{
	const struct folio_jrevoke *r = (const void *)js->buf;
	uint32_t count = le32_to_cpu(r->r_count);

	if (!folio_jblock_csum_ok(js->seed, js->buf, js->bs) || count > folio_jrevoke_max(js->bs))
		return 0;
	if (js->tx_nrv + count > js->tx_caprv) {
		size_t cap = (js->tx_nrv + count) * 2;
		uint64_t *n = realloc(js->tx_rv, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		js->tx_rv = n;
		js->tx_caprv = cap;
	}
	for (uint32_t i = 0; i < count; i++) {
		le64 b;

		memcpy(&b, js->buf + sizeof(*r) + 8 * i, 8);
		js->tx_rv[js->tx_nrv++] = le64_to_cpu(b);
	}
	return 1;
}

/* Scan one transaction from *pos. 1: committed (*pos after its commit);
 * 0: the log ends here (its copies dropped); negative: error. */
static int js_transaction(struct jscan *js, uint64_t seq, uint32_t *pos)
{
	uint32_t nblocks = 0, limit = js->blocks - js->first;
	int r;

	js->tx_copies = js->ncopies;
	js->tx_nrv = 0;
	for (;;) {
		if (nblocks >= limit)
			break;
		r = js_read(js, *pos, js->buf);
		if (r)
			return r;
		switch (js_type(js, seq)) {
		case FOLIO_JB_DESCRIPTOR:
			r = js_descriptor(js, seq, pos, &nblocks);
			break;
		case FOLIO_JB_REVOKE:
			r = js_revoke(js);
			break;
		case FOLIO_JB_COMMIT: {
			const struct folio_jcommit *c = (const void *)js->buf;

			if (!folio_jblock_csum_ok(js->seed, js->buf, js->bs) ||
			    le32_to_cpu(c->c_blocks) != nblocks)
				goto end;
			for (size_t i = 0; i < js->tx_nrv; i++)
				if (rv_add(&js->rv, js->tx_rv[i], seq))
					return -ENOMEM;
			*pos = folio_journal_next(*pos, js->first, js->blocks);
			return 1;
		}
		default:
			goto end;
		}
		if (r <= 0) {
			if (r < 0)
				return r;
			goto end;
		}
		nblocks++;
		*pos = folio_journal_next(*pos, js->first, js->blocks);
	}
end:
	js->ncopies = js->tx_copies;
	return 0;
}

static int js_write_home(struct jscan *js, struct folio_replay_info *info)
{
	for (size_t i = 0; i < js->ncopies; i++) {
		const struct jcopy *c = &js->copies[i];
		int err;

		if (rv_get(&js->rv, c->home) >= c->seq) {
			info->revoked++;
			continue;
		}
		err = js_read(js, c->pos, js->copy);
		if (err)
			return err;
		js_unescape(js->copy, c->flags);
		err = js->io->write(js->io->ctx, c->home, js->copy);
		if (err)
			return err;
		info->blocks++;
	}
	return 0;
}

/* Empty the log: j_start 0, the next sequence. */
static int js_reset(struct jscan *js, struct folio_jsb *jsb, uint64_t next_seq)
{
	memset(js->buf, 0, js->bs);
	jsb->j_start = 0;
	jsb->j_sequence = cpu_to_le64(next_seq);
	folio_jsb_csum_set(js->seed, jsb);
	memcpy(js->buf, jsb, sizeof(*jsb));
	return js->io->write(js->io->ctx, js->jstart, js->buf);
}

static void js_free(struct jscan *js)
{
	free(js->buf);
	free(js->copy);
	free(js->copies);
	free(js->rv.block);
	free(js->rv.seq);
	free(js->tx_rv);
}

/* Load and check the journal superblock into @jsb. */
static int js_load(struct jscan *js, const struct folio_super *sb, struct folio_jsb *jsb, char *msg,
		   size_t msglen)
{
	int err = js_read(js, 0, js->buf);

	if (err) {
		jmsg(msg, msglen, "journal superblock: read failed");
		return err;
	}
	memcpy(jsb, js->buf, sizeof(*jsb));
	return folio_jsb_check(jsb, sb, msg, msglen);
}

/* Scan every committed transaction from j_start. */
static int js_scan_all(struct jscan *js, const struct folio_jsb *jsb,
		       struct folio_replay_info *info)
{
	uint32_t pos = le32_to_cpu(jsb->j_start);
	uint64_t seq = le64_to_cpu(jsb->j_sequence);
	int r = 1;

	info->next_seq = seq;
	if (!pos)
		return 0;
	while (r == 1 && info->transactions < js->blocks) {
		r = js_transaction(js, seq, &pos);
		if (r == 1) {
			if (!info->transactions)
				info->first_seq = seq;
			info->last_seq = seq;
			info->transactions++;
			seq++;
		}
	}
	info->next_seq = seq;
	return r < 0 ? r : 0;
}

int folio_journal_replay(const struct folio_jio *io, const struct folio_super *sb, bool dry,
			 struct folio_replay_info *info, char *msg, size_t msglen)
{
	struct jscan js = {.io = io};
	struct folio_jsb jsb;
	int err;

	memset(info, 0, sizeof(*info));
	js.bs = 1024u << le32_to_cpu(sb->s_log_block_size);
	js.seed = folio_fs_seed(sb->s_uuid);
	js.jstart = le64_to_cpu(sb->s_journal_block);
	js.fs_blocks = le64_to_cpu(sb->s_blocks_count);
	js.blocks = (uint32_t)le64_to_cpu(sb->s_journal_blocks);
	js.first = 1;
	js.buf = malloc(js.bs);
	js.copy = malloc(js.bs);
	if (!js.buf || !js.copy) {
		js_free(&js);
		return -ENOMEM;
	}
	err = js_load(&js, sb, &jsb, msg, msglen);
	if (!err)
		err = js_scan_all(&js, &jsb, info);
	if (err || dry || !jsb.j_start)
		goto out;
	err = js_write_home(&js, info);
	if (!err)
		err = io->flush(io->ctx);
	if (!err)
		err = js_reset(&js, &jsb, info->next_seq);
	if (!err)
		err = io->flush(io->ctx);
	if (err)
		jmsg(msg, msglen, "journal replay: %s", strerror(-err));
out:
	js_free(&js);
	return err;
}
