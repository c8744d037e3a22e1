/*
 * tools/fsx.h - foliofs-fsx, a random-operation consistency tester for one file.
 *
 * The tester keeps an in-memory model of one file (its bytes and its size), runs a
 * random sequence of operations on the real file through several descriptors at
 * once (a buffered fd, an O_DIRECT fd, a MAP_SHARED mapping), applies each operation
 * to the model too, and checks every byte it reads against the model.
 *
 * Files:
 *   fsx.c        options, the run loop, --exec, multi-process mode, the summary
 *   fsx_ops.c    descriptors and mapping, choosing operations, doing them
 *   fsx_check.c  random numbers, the data pattern, comparing, the operation log,
 *                failure reports and the .fsxgood/.fsxbad copies
 *   fsx_mark.c   --mark and --mark-dir: marks for a recording device and the
 *                records a crash checker needs
 *
 * Invariants:
 *   - model[size .. maxlen) is all zero, so growing the model needs no clearing.
 *   - Every operation draws exactly FSX_DRAWS numbers from the random stream,
 *     whatever it is and whatever the filesystem returns, so a seed and a set of
 *     options always replay the same operations.
 *   - While an operation runs, fd is open; dio_fd is open unless O_DIRECT is off;
 *     map is mapped unless both mapped operations are off.
 *
 * The tester is single-threaded: one process owns its struct fsx. In multi-process
 * mode every child owns its own copy after fork(); with --exec the children stop
 * at every --exec-every operations, the parent runs the command once when all of
 * them have stopped (fsx.c), then lets them go on.
 *
 * Exit status: 0 success, 1 a check failed or an operation failed unexpectedly,
 * 2 bad usage, a setup failure, or an --exec command that failed.
 */
#ifndef FOLIO_TOOLS_FSX_H
#define FOLIO_TOOLS_FSX_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses. */
#define FSX_EXIT_OK   0
#define FSX_EXIT_FAIL 1
#define FSX_EXIT_USE  2

/* Numbers drawn from the random stream for every operation. */
#define FSX_DRAWS 5
/* Operations kept for the failure report. */
#define FSX_LOG_LEN 64

/* The operations, in the order the option parser and the summary name them. */
enum fsx_op {
	FSX_OP_READ,
	FSX_OP_WRITE,
	FSX_OP_MAPREAD,
	FSX_OP_MAPWRITE,
	FSX_OP_TRUNCATE,
	FSX_OP_FALLOC,
	FSX_OP_FALLOC_KEEP,
	FSX_OP_PUNCH,
	FSX_OP_ZERO,
	FSX_OP_COPY,
	FSX_OP_FSYNC,
	FSX_OP_FDATASYNC,
	FSX_OP_REOPEN,
	FSX_OP_DIO_READ,
	FSX_OP_DIO_WRITE,
	FSX_OP_NR
};

#define FSX_BIT(op) (1u << (op))

/* struct fsx_rec flags. */
#define FSX_F_SKIP     0x1  /* nothing to do (empty file, range too small) */
#define FSX_F_MSYNC    0x2  /* mapped write followed by msync(MS_SYNC) */
#define FSX_F_KEEP     0x4  /* zero range with FALLOC_FL_KEEP_SIZE */
#define FSX_F_FALLBACK 0x8  /* the asked-for op is turned off: done buffered, or skipped */
#define FSX_F_DIOFD    0x10 /* fsync/fdatasync through the O_DIRECT descriptor */

/* One operation as it was done, for -d and the failure report. */
struct fsx_rec {
	unsigned long n;   /* operation number, from 1 */
	enum fsx_op asked; /* what the random stream chose */
	enum fsx_op op;	   /* what was done (read or write in place of a turned-off one) */
	unsigned flags;	   /* FSX_F_* */
	uint64_t off;	   /* offset (source offset for copy, new size for truncate) */
	uint64_t len;	   /* bytes */
	uint64_t dst;	   /* copy destination */
	uint64_t size;	   /* file size after the operation */
};

/* Everything one run owns (see the file comment: single-threaded). */
struct fsx {
	/* Options, fixed after parsing. */
	const char *path;	  /* the file under test */
	unsigned long nops;	  /* operations to run; 0 = no limit */
	uint64_t seed;		  /* 0 until chosen */
	uint64_t maxlen;	  /* largest file size */
	uint64_t maxop;		  /* largest single operation */
	int quiet, debug;	  /* -q, -d */
	const char *savedir;	  /* -P: where .fsxgood/.fsxbad go, or NULL */
	unsigned nproc;		  /* -p; 1 = this process only */
	const char *exec_cmd;	  /* --exec, or NULL */
	unsigned long exec_every; /* --exec-every */
	unsigned opt_off;	  /* FSX_BIT(op) of operations turned off by options */
	int no_keep_size;	  /* -k: zero range never keeps the size either */
	int msync_always;	  /* --msync-mapwrite: every mapped write is msynced */
	const char *prefix;	  /* put before every message ("" or "[K] ") */
	int sync_up, sync_down;	  /* -p with --exec, in a child: pipes to and from
				   * the parent, which runs the command; else -1 */
	const char *mark_cmd;	  /* --mark, or NULL */
	const char *mark_dir;	  /* --mark-dir, or NULL */

	/* Run state. */
	unsigned run_off;		 /* FSX_BIT(op) of operations the filesystem refused */
	unsigned worked;		 /* FSX_BIT(op) of operations that succeeded once */
	uint64_t rng;			 /* random stream state */
	unsigned char *model;		 /* maxlen bytes; see the invariants */
	uint64_t size;			 /* the model's size */
	unsigned char *buf;		 /* I/O buffer of buf_len bytes, aligned for O_DIRECT */
	size_t buf_len;			 /* at least maxlen plus one O_DIRECT unit */
	int fd;				 /* buffered descriptor */
	int dio_fd;			 /* O_DIRECT descriptor, or -1 */
	unsigned char *map;		 /* MAP_SHARED mapping of map_len bytes, or NULL */
	size_t map_len;			 /* maxlen rounded up to pages */
	size_t page;			 /* the system page size */
	uint32_t dio_align;		 /* O_DIRECT offset and length alignment */
	uint32_t dio_mem_align;		 /* O_DIRECT buffer alignment */
	unsigned long opnum;		 /* operations started so far */
	int in_op;			 /* op opnum is under way (not yet checked) */
	unsigned long counts[FSX_OP_NR]; /* operations done, by what was done */
	unsigned long skipped;		 /* operations skipped */
	struct fsx_rec log[FSX_LOG_LEN]; /* ring; log[(n - 1) % FSX_LOG_LEN] is op n */
};

/* fsx_check.c */
void fsx_rng_seed(struct fsx *fs, uint64_t seed);
uint64_t fsx_rng_next(struct fsx *fs);
unsigned char fsx_pattern_byte(unsigned long n, uint64_t off);
void fsx_pattern_fill(unsigned char *dst, unsigned long n, uint64_t off, uint64_t len);
const char *fsx_op_name(enum fsx_op op);
void fsx_rec_print(FILE *f, const struct fsx_rec *rec);
void fsx_compare(struct fsx *fs, const unsigned char *got, uint64_t off, uint64_t len,
		 const char *what);
__attribute__((noreturn, format(printf, 2, 3))) void fsx_fail(struct fsx *fs, const char *fmt, ...);
__attribute__((format(printf, 2, 3))) void fsx_note(struct fsx *fs, const char *fmt, ...);
void fsx_check_file(struct fsx *fs, const char *when);

/* fsx_mark.c */
void fsx_mark_start(struct fsx *fs);
void fsx_mark_before(struct fsx *fs);
void fsx_mark_after(struct fsx *fs, uint64_t old_size);

/* fsx_ops.c */
int fsx_setup(struct fsx *fs);
int fsx_open_all(struct fsx *fs, int trunc);
void fsx_close_all(struct fsx *fs);
void fsx_do_op(struct fsx *fs);
void fsx_teardown(struct fsx *fs);

#endif /* FOLIO_TOOLS_FSX_H */
