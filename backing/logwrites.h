/*
 * backing/logwrites.h - the recording device (test-only) and its log.
 *
 * A wrapper in the style of the kernel's dm-log-writes: every request passes
 * to the lower device and, once it has completed, is appended to a log file
 * with its result, in the order the requests reached the device: writes
 * (offset, length and the bytes), flushes, discards, and marks (a label) that
 * the workload inserts through logwrites_mark() (the daemon's control socket:
 * `foliofs-ctl MOUNTPOINT mark LABEL`). Closing the wrapper appends a CLOSE
 * entry. The crash replayer (tools/crash.c, foliofs-crash) reads the log back
 * with the lw_log_*() reader below and builds the images a crash could leave.
 *
 * Order: writes, flushes, discards and marks are serialised by the wrapper
 * (one lock held across the lower request and the append), so the log's order
 * is the order in which the device saw the requests and a flush in the log
 * follows every write that completed before it. Reads pass through unlogged
 * and unserialised.
 *
 * The log file, all integers little-endian:
 *   header (64 bytes): magic "FOLIOLW1", le32 version (1), le32 lbs,
 *     le64 device size, le64 reserved (zero) up to byte 64.
 *   entries, each a 40-byte header then @payload bytes:
 *     le32 magic LW_ENTRY_MAGIC, le16 type (LW_*), le16 flags (LW_F_*),
 *     le32 payload (bytes after this header), le32 status (0 or a negative
 *     errno, as a signed 32-bit integer), le64 seq (0, 1, 2, ... in log
 *     order), le64 off, le64 len (bytes: the write's or discard's range).
 *   WRITE: payload = len bytes, the data as the device was asked to store it
 *     (a write that failed is logged too, status < 0: the device may hold any
 *     part of it). LW_F_FUA marks a write that is durable on completion (no
 *     backend issues one today; the replayer honours the flag).
 *   FLUSH: no payload. DISCARD: no payload (off, len). MARK: payload = the
 *     label (no NUL, at most LW_LABEL_MAX bytes). CLOSE: no payload.
 * A reader stops at the first entry that is cut short (the writer was killed
 * in the middle of an append) and reports it.
 */
#ifndef FOLIO_BACKING_LOGWRITES_H
#define FOLIO_BACKING_LOGWRITES_H

#include <stdbool.h>
#include <stdint.h>

#include "backing/bdev.h"

#define LW_MAGIC       "FOLIOLW1"
#define LW_VERSION     1
#define LW_HEADER_SIZE 64
#define LW_ENTRY_MAGIC 0x4e45574cu /* "LWEN" */
#define LW_ENTRY_SIZE  40
#define LW_LABEL_MAX   4096

/* Entry types. */
enum lw_type {
	LW_WRITE = 1,
	LW_FLUSH = 2,
	LW_DISCARD = 3,
	LW_MARK = 4,
	LW_CLOSE = 5,
};

/* Entry flags. */
enum {
	LW_F_FUA = 1 << 0, /* a write that was durable when it completed */
};

/* ---- the recording wrapper ---- */

struct logwrites;

/*
 * bdev_logwrites_create - wrap @lower, recording to a new log file at @path
 * (created or truncated). The wrapper has @lower's size, lbs and dio_align
 * and owns @lower (closing it closes @lower). If an append to the log fails,
 * the request that was logged fails with that error and so does every later
 * one: a log with a gap would replay wrong states.
 * Return: 0, or a negative errno (@lower stays the caller's).
 */
int bdev_logwrites_create(struct bdev *lower, const char *path, struct bdev **out,
			  struct logwrites **ctl);
/* Append a MARK with @label (at most LW_LABEL_MAX bytes, no newline); 0 or a
 * negative errno (-EINVAL for a bad label). Serialised with the requests. */
int logwrites_mark(struct logwrites *lw, const char *label);
/* Entries appended so far. */
uint64_t logwrites_entries(struct logwrites *lw);

/* ---- reading a log ---- */

struct lw_entry {
	uint64_t seq;
	enum lw_type type;
	unsigned flags;
	int status;
	uint64_t off, len;   /* WRITE, DISCARD */
	uint32_t payload;    /* bytes after the header */
	uint64_t payload_at; /* where they start in the log file */
};

struct lw_log {
	int fd;
	uint32_t lbs;
	uint64_t dev_size;
	uint64_t pos; /* file offset of the next entry */
	uint64_t next_seq;
	uint64_t file_size;
};

/* Open a log for reading and check its header: 0, -errno, or -EBADMSG for a
 * file that is not a log (one line on stderr says why). */
int lw_log_open(const char *path, struct lw_log *log);
/* The next entry: 1, 0 at the clean end, -EBADMSG when the rest is cut short
 * or damaged (the entries before it are good). */
int lw_log_next(struct lw_log *log, struct lw_entry *e);
/* Read @len payload bytes of @e starting @skip bytes in: 0 or -errno. */
int lw_log_payload(const struct lw_log *log, const struct lw_entry *e, uint64_t skip, void *buf,
		   uint64_t len);
void lw_log_close(struct lw_log *log);
/* "write", "flush", ... */
const char *lw_type_name(enum lw_type t);

#endif /* FOLIO_BACKING_LOGWRITES_H */
