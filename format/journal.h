/*
 * format/journal.h - the metadata journal's on-disk format, and the replay
 * that the daemon (at mount) and fsck.foliofs share.
 *
 * docs/ON-DISK.md section 14 describes every byte; the two must agree. The
 * journal is s_journal_blocks contiguous blocks from s_journal_block (inode 2
 * maps the same run). Its block 0 is the journal superblock; blocks
 * [j_first, j_blocks) are a circular log of transactions. A transaction is
 * one or more descriptor blocks, each followed by the blocks it describes
 * (copies of metadata blocks, to be written to their home), revoke blocks,
 * and a commit block. Every log block but the copies starts with a header
 * (magic, type, the transaction's sequence) and ends with a crc32c of the
 * block; each copy's crc32c is in its descriptor tag. A transaction counts as
 * committed only when its commit block and every block before it check out,
 * so a commit written in the same flush as its blocks is safe: a crash that
 * keeps the commit but loses a block leaves a transaction that fails its
 * checks and is not replayed.
 *
 * Interface (format/journal.c): folio_jsb_csum_set/ok, folio_jblock_csum_set/ok,
 * folio_jsb_check, folio_journal_default_blocks, folio_journal_next,
 * folio_journal_replay. Like the rest of format/, nothing here does I/O of
 * its own: the replay reads, writes and flushes through the caller's
 * struct folio_jio, so the daemon and fsck bring their own device.
 *
 * Invariants: j_start == 0 <=> the log holds nothing to replay; otherwise the
 * transaction at j_start has sequence j_sequence and later ones follow it
 * with sequences one apart. A copy whose first four bytes equal
 * FOLIO_JNL_MAGIC is written with them zeroed and FOLIO_JTAG_ESCAPED set.
 */
#ifndef FOLIO_FORMAT_JOURNAL_H
#define FOLIO_FORMAT_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "format/format.h"

#define FOLIO_JSB_MAGIC		 0x42534A46u /* "FJSB": journal superblock */
#define FOLIO_JNL_MAGIC		 0x4C4E4A46u /* "FJNL": log block header */
#define FOLIO_JOURNAL_VERSION	 1	     /* journal format this code writes */
#define FOLIO_JOURNAL_MIN_BLOCKS 256	     /* smallest journal mkfs makes */

/* Log block types (h_type). */
enum {
	FOLIO_JB_DESCRIPTOR = 1, /* tags for the copies that follow */
	FOLIO_JB_COMMIT = 2,	 /* the transaction is complete */
	FOLIO_JB_REVOKE = 3,	 /* blocks whose older copies must not be replayed */
};

/* Descriptor tag flags. */
#define FOLIO_JTAG_ESCAPED 0x1u /* the copy's first 4 bytes were FOLIO_JNL_MAGIC */

/* The journal superblock: journal block 0, bytes 0..127 (the rest zero). */
struct folio_jsb {
	le32 j_magic;	    /* 0x00 FOLIO_JSB_MAGIC */
	le32 j_checksum;    /* 0x04 crc32c(seed, the 128 bytes with this zero) */
	le32 j_version;	    /* 0x08 FOLIO_JOURNAL_VERSION */
	le32 j_block_size;  /* 0x0C the filesystem's block size */
	le32 j_blocks;	    /* 0x10 blocks in the journal, this one included */
	le32 j_first;	    /* 0x14 first log block (1) */
	le64 j_sequence;    /* 0x18 sequence of the transaction at j_start */
	le32 j_start;	    /* 0x20 log block where replay starts; 0: nothing to replay */
	le32 j_flags;	    /* 0x24 zero */
	uint8_t j_uuid[16]; /* 0x28 the filesystem's uuid */
	le64 j_reserved[9]; /* 0x38 zero */
} __attribute__((packed));
_Static_assert(sizeof(struct folio_jsb) == 128, "journal superblock is 128 bytes");

/* The header of every log block but the copies. */
struct folio_jheader {
	le32 h_magic;	 /* 0x00 FOLIO_JNL_MAGIC */
	le32 h_type;	 /* 0x04 FOLIO_JB_* */
	le64 h_sequence; /* 0x08 the transaction's sequence */
} __attribute__((packed));
_Static_assert(sizeof(struct folio_jheader) == 16, "log block header is 16 bytes");

/* A descriptor: header, count, then count tags; crc32c in the last 4 bytes. */
struct folio_jdesc {
	struct folio_jheader d_h;
	le32 d_count; /* 0x10 tags that follow (copies after this block) */
	le32 d_flags; /* 0x14 zero */
} __attribute__((packed));

struct folio_jtag {
	le64 t_block; /* 0x00 home block of the copy */
	le32 t_flags; /* 0x08 FOLIO_JTAG_* */
	le32 t_csum;  /* 0x0C crc32c(seed, the block as it goes home) */
} __attribute__((packed));
_Static_assert(sizeof(struct folio_jtag) == 16, "descriptor tag is 16 bytes");

/* A revoke block: header, count, then count le64 block numbers. */
struct folio_jrevoke {
	struct folio_jheader r_h;
	le32 r_count; /* 0x10 */
	le32 r_flags; /* 0x14 zero */
} __attribute__((packed));

/* The commit block. */
struct folio_jcommit {
	struct folio_jheader c_h;
	le32 c_blocks; /* 0x10 log blocks of the transaction before this one */
	le32 c_flags;  /* 0x14 zero */
	le64 c_sec;    /* 0x18 commit time, seconds since the epoch */
	le32 c_nsec;   /* 0x20 */
	le32 c_pad;    /* 0x24 zero */
} __attribute__((packed));

/* Tags in one descriptor, and block numbers in one revoke block. */
static inline uint32_t folio_jdesc_max_tags(uint32_t block_size)
{
	return (block_size - (uint32_t)sizeof(struct folio_jdesc) - 4) /
	       (uint32_t)sizeof(struct folio_jtag);
}
static inline uint32_t folio_jrevoke_max(uint32_t block_size)
{
	return (block_size - (uint32_t)sizeof(struct folio_jrevoke) - 4) / 8;
}

/* The log position after @pos (wrapping from the end to j_first). */
static inline uint32_t folio_journal_next(uint32_t pos, uint32_t first, uint32_t blocks)
{
	return pos + 1 >= blocks ? first : pos + 1;
}

void folio_jsb_csum_set(uint32_t seed, struct folio_jsb *jsb);
bool folio_jsb_csum_ok(uint32_t seed, const struct folio_jsb *jsb);
/* Log blocks (not copies): crc32c(seed, the block with its last 4 bytes zero)
 * in its last 4 bytes. */
void folio_jblock_csum_set(uint32_t seed, void *block, uint32_t block_size);
bool folio_jblock_csum_ok(uint32_t seed, const void *block, uint32_t block_size);
/* A fresh journal superblock for @sb's journal: an empty log. */
void folio_jsb_init(struct folio_jsb *jsb, const struct folio_super *sb, uint64_t sequence);
/* Inode 2 as the journal file mapping @sb's journal run (checksum not set). */
void folio_journal_inode_map(struct folio_inode *in, const struct folio_super *sb);
/* Checks a journal superblock against the filesystem's superblock: magic,
 * checksum, version, sizes, uuid, j_start in range. 0 or -EUCLEAN /
 * -EPROTONOSUPPORT with one line in @msg. */
int folio_jsb_check(const struct folio_jsb *jsb, const struct folio_super *sb, char *msg,
		    size_t msglen);
/* The journal size mkfs picks for a filesystem of @blocks blocks of
 * @block_size bytes (0: too small for a journal), as mke2fs scales it. */
uint32_t folio_journal_default_blocks(uint64_t blocks, uint32_t block_size);

/*
 * struct folio_replay_info - what a replay found and did.
 * @transactions: committed transactions found (and replayed unless dry)
 * @first_seq, @last_seq: their sequences (0 when none)
 * @blocks: copies written home; @revoked: copies skipped for a revoke
 * @next_seq: the sequence the next transaction will carry
 */
struct folio_replay_info {
	uint32_t transactions;
	uint64_t first_seq, last_seq, next_seq;
	uint64_t blocks, revoked;
};

/*
 * struct folio_jio - the device a replay works on: whole blocks of the
 * filesystem's size by block number; each returns 0 or a negative errno.
 */
struct folio_jio {
	void *ctx;
	int (*read)(void *ctx, uint64_t block, void *buf);
	int (*write)(void *ctx, uint64_t block, const void *buf);
	int (*flush)(void *ctx);
};

/*
 * folio_journal_replay - write every committed transaction of the journal home
 * @io: the image
 * @sb: its superblock (geometry, journal position, uuid), validated
 * @dry: only scan and count; write nothing
 * @info: out
 * @msg, @msglen: one line on failure
 *
 * Scans from j_start, replays in order (skipping copies a later or equal
 * revoke names), flushes, then empties the log (j_start 0, j_sequence the
 * next one) and flushes again. The superblock's INCOMPAT_RECOVER is the
 * caller's. Return: 0; -EUCLEAN for a bad journal superblock; an I/O error.
 */
int folio_journal_replay(const struct folio_jio *io, const struct folio_super *sb, bool dry,
			 struct folio_replay_info *info, char *msg, size_t msglen);

#endif /* FOLIO_FORMAT_JOURNAL_H */
