/*
 * tools/fsx_mark.c - foliofs-fsx's hooks for crash testing: marks and records.
 *
 * With --mark CMD the tester runs `sh -c CMD` with $FSX_MARK set to a label
 * (and $FSX_FILE, $FSX_OP as for --exec) at three kinds of points:
 *   "fsx sync 0"   once at the start, after the new, empty file was fsynced
 *   "fsx op N"     before operation N starts
 *   "fsx sync N"   after operation N, an fsync or fdatasync, returned
 * For a filesystem mounted over a recording device (foliofs's -o
 * debug_logwrites, with CMD running `foliofs-ctl MOUNTPOINT mark
 * "$FSX_MARK"`) the marks land in the device's log between the requests, as
 * xfstests' fsx does with dm-log-writes. With --mark-dir DIR it also writes
 * what a crash checker needs to know about each mark (tests/crash/):
 *   DIR/sync.N   the whole file as it must read after "fsx sync N" (the model)
 *   DIR/op.N     what operation N may have changed: three little-endian
 *                64-bit numbers LO, HI, SIZE (the byte range it wrote, zeroed,
 *                copied to or truncated across, and the file size after it),
 *                then the model's bytes [LO, min(HI, SIZE)) after it
 * so that after a crash at any point the file must hold, byte for byte, the
 * last sync's copy or a value some later operation that had begun gave it.
 * sync.N is written before its mark and op.N right after operation N, so
 * every file a mark refers to exists once the run ends.
 *
 * A mark command that fails stops the run with exit status 2, as --exec does.
 */
#include "config.h"

#include "tools/fsx.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static __attribute__((noreturn, format(printf, 2, 3))) void fsx_mark_die(struct fsx *fs,
									 const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%sfoliofs-fsx: ", fs->prefix);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(FSX_EXIT_USE);
}

/* Run the mark command with $FSX_MARK = @label; exits 2 when it fails. */
static void fsx_mark_run(struct fsx *fs, const char *label)
{
	char num[32];
	pid_t pid;
	int st;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		snprintf(num, sizeof(num), "%lu", fs->opnum);
		setenv("FSX_MARK", label, 1);
		setenv("FSX_FILE", fs->path, 1);
		setenv("FSX_OP", num, 1);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", fs->mark_cmd, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		fsx_mark_die(fs, "--mark command for '%s': %s", label, strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fsx_mark_die(fs, "--mark command failed for '%s' (%s %d): %s", label,
			     WIFEXITED(st) ? "exit status" : "signal",
			     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), fs->mark_cmd);
}

/* Write @n parts to DIR/NAME.N (created or truncated). */
static void fsx_mark_file(struct fsx *fs, const char *name, unsigned long n, const void *a,
			  size_t alen, const void *b, size_t blen)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s.%lu", fs->mark_dir, name, n);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (alen && write(fd, a, alen) != (ssize_t)alen) ||
	    (blen && write(fd, b, blen) != (ssize_t)blen) || close(fd))
		fsx_mark_die(fs, "--mark-dir: cannot write %s: %s", path, strerror(errno));
}

/* The bytes operation @rec may have changed, given the size before it. */
static void fsx_op_range(const struct fsx_rec *rec, uint64_t old, uint64_t *lo, uint64_t *hi)
{
	*lo = *hi = 0;
	if (rec->flags & FSX_F_SKIP)
		return;
	switch (rec->op) {
	case FSX_OP_WRITE:
	case FSX_OP_MAPWRITE:
	case FSX_OP_DIO_WRITE:
	case FSX_OP_FALLOC:
	case FSX_OP_PUNCH:
	case FSX_OP_ZERO:
		*lo = rec->off;
		*hi = rec->off + rec->len;
		break;
	case FSX_OP_COPY:
		*lo = rec->dst;
		*hi = rec->dst + rec->len;
		break;
	case FSX_OP_TRUNCATE:
		*lo = old < rec->off ? old : rec->off;
		*hi = old < rec->off ? rec->off : old;
		break;
	default: /* reads, falloc_keep, fsync, fdatasync, reopen change no byte */
		break;
	}
}

/* sync.N with the model, then the mark "fsx sync N". */
static void fsx_mark_sync(struct fsx *fs, unsigned long n)
{
	char label[64];

	if (fs->mark_dir)
		fsx_mark_file(fs, "sync", n, fs->model, fs->size, NULL, 0);
	snprintf(label, sizeof(label), "fsx sync %lu", n);
	fsx_mark_run(fs, label);
}

/**
 * fsx_mark_start - the first mark: the new empty file, fsynced
 * @fs: the run, set up (the file open and truncated)
 *
 * Context: single-threaded owner of @fs. Failures exit.
 */
void fsx_mark_start(struct fsx *fs)
{
	if (!fs->mark_cmd)
		return;
	if (fsync(fs->fd) < 0)
		fsx_fail(fs, "fsync of the new file: %s", strerror(errno));
	fsx_mark_sync(fs, 0);
}

/**
 * fsx_mark_before - the mark "fsx op N" before operation N
 * @fs: the run
 *
 * Context: single-threaded owner of @fs. Failures exit.
 */
void fsx_mark_before(struct fsx *fs)
{
	char label[64];

	if (!fs->mark_cmd)
		return;
	snprintf(label, sizeof(label), "fsx op %lu", fs->opnum + 1);
	fsx_mark_run(fs, label);
}

/**
 * fsx_mark_after - the record of the operation just done, and its sync mark
 * @fs: the run
 * @old_size: the model's size before the operation
 *
 * Writes op.N (with --mark-dir); after an fsync or fdatasync also sync.N and
 * the mark "fsx sync N".
 *
 * Context: single-threaded owner of @fs. Failures exit.
 */
void fsx_mark_after(struct fsx *fs, uint64_t old_size)
{
	const struct fsx_rec *rec = &fs->log[(fs->opnum - 1) % FSX_LOG_LEN];
	uint64_t lo, hi, head[3];

	if (!fs->mark_cmd)
		return;
	if (fs->mark_dir) {
		fsx_op_range(rec, old_size, &lo, &hi);
		head[0] = htole64(lo);
		head[1] = htole64(hi);
		head[2] = htole64(fs->size);
		if (hi > fs->size)
			hi = fs->size;
		fsx_mark_file(fs, "op", rec->n, head, sizeof(head), fs->model + lo,
			      hi > lo ? hi - lo : 0);
	}
	if ((rec->op == FSX_OP_FSYNC || rec->op == FSX_OP_FDATASYNC) && !(rec->flags & FSX_F_SKIP))
		fsx_mark_sync(fs, rec->n);
}
