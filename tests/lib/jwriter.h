/*
 * tests/lib/jwriter.h - writes journal transactions for the tests
 * (docs/ON-DISK.md section 14), through the same struct folio_jio the replay
 * reads with, so a test can build any log - committed, torn, revoked,
 * escaped, wrapping - and check what folio_journal_replay() makes of it.
 *
 * Interface: jw_init() over a filesystem superblock with a journal; each
 * jw_transaction() appends one transaction at the log head (descriptor,
 * copies, a revoke block when asked, a commit), JW_* flags spoiling it on
 * purpose; jw_set_start() writes the journal superblock so replay starts at
 * a given log block and sequence. Single-threaded test helper.
 */
#ifndef FOLIO_TESTS_JWRITER_H
#define FOLIO_TESTS_JWRITER_H

#include "format/journal.h"

#include <stddef.h>
#include <stdint.h>

#define JW_NO_COMMIT  0x1 /* leave out the commit block */
#define JW_BAD_COMMIT 0x2 /* a commit whose checksum is wrong (torn) */
#define JW_BAD_COPY   0x4 /* the first copy differs from its tag's checksum */

struct jw {
	const struct folio_jio *io;
	uint32_t bs, seed, blocks; /* block size, checksum seed, journal blocks */
	uint64_t jstart;	   /* the journal's first physical block */
	uint32_t head;		   /* the next log block */
	uint64_t seq;		   /* the next transaction's sequence */
	uint8_t uuid[16];
};

void jw_init(struct jw *w, const struct folio_jio *io, const struct folio_super *sb, uint32_t head,
	     uint64_t seq);
int jw_transaction(struct jw *w, size_t n, const uint64_t *homes, const void *const *data,
		   size_t nrevoke, const uint64_t *revokes, unsigned flags);
int jw_set_start(struct jw *w, uint32_t start, uint64_t seq);

#endif /* FOLIO_TESTS_JWRITER_H */
