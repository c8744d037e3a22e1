/*
 * tests/mount/flood.c - many threads creating, writing, renaming and
 * removing files in one directory, each checking what it reads back; for
 * tests/mount/flood.sh.
 *
 *   flood DIR THREADS SECONDS [SEED]
 *
 * Thread t owns the names "tT-S" (S < SLOTS) in DIR, all threads in the same
 * directory, and keeps a model of each of its slots: absent, or a file of
 * SIZE bytes whose byte at offset o is a function of (t, GEN, o) only. Each
 * thread draws operations at random: create (O_EXCL) and write, rewrite
 * (O_TRUNC, new generation), append, truncate, read back whole (the size
 * from fstat and every byte checked against the model), stat, rename onto
 * another slot (replacing it when it exists), unlink, and now and then a
 * readdir that must list each of its own names exactly once (other threads'
 * names come and go meanwhile; names nobody touches during a readdir must
 * appear once: POSIX). One write in 16 is followed by fsync.
 *
 * No operation may fail: every errno is unexpected (the image is large
 * enough for the slots). After SECONDS every thread removes its files. The
 * output is TAP for sub_tap (unnumbered): one line for the errors, one for
 * the bytes read back, and diagnostics with the operation counts; exit 0
 * when both pass.
 *
 * Invariants: a thread touches only its own names, so its model is exact;
 * the pattern never repeats between generations or offsets, so stale,
 * misplaced or zero bytes never match.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SLOTS	  16
#define MAX_SIZE  (96 << 10)
#define MAX_ERRS  20 /* messages printed per thread */
#define NAME_MAX_ 64

enum op {
	OP_CREATE,
	OP_REWRITE,
	OP_APPEND,
	OP_TRUNC,
	OP_READ,
	OP_STAT,
	OP_RENAME,
	OP_UNLINK,
	OP_READDIR,
	OP_FSYNC,
	OP_N
};

static const char *const op_names[OP_N] = {
	"create", "rewrite", "append", "truncate", "read",
	"stat",	  "rename",  "unlink", "readdir",  "fsync",
};

struct slot {
	int exists;
	uint32_t gen;
	size_t size;
};

struct worker {
	pthread_t tid;
	int t;
	uint64_t rng;
	uint32_t next_gen;
	struct slot slot[SLOTS];
	uint64_t ops[OP_N];
	uint64_t bytes_checked;
	unsigned errors, mismatches;
	unsigned char buf[MAX_SIZE], want[MAX_SIZE];
};

static const char *dir;
static atomic_int stop;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t rnd(struct worker *w)
{
	uint64_t z = (w->rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t mix(uint64_t x)
{
	x = (x ^ (x >> 33)) * 0xFF51AFD7ED558CCDull;
	x = (x ^ (x >> 33)) * 0xC4CEB9FE1A85EC53ull;
	return x ^ (x >> 33);
}

/* The bytes [off, off + n) of thread @t's generation @gen. */
static void pattern(unsigned char *out, int t, uint32_t gen, size_t off, size_t n)
{
	uint64_t seed = ((uint64_t)t << 40) ^ ((uint64_t)gen << 8) ^ 0x5A;

	for (size_t i = 0; i < n; i++) {
		size_t o = off + i;
		uint64_t word = mix(seed + o / 8);

		out[i] = (unsigned char)(word >> (8 * (o % 8)));
	}
}

static void name_of(char *out, int t, int s)
{
	snprintf(out, NAME_MAX_, "%s/t%02d-%02d", dir, t, s);
}

static void report(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (w->errors + w->mismatches > MAX_ERRS)
		return;
	pthread_mutex_lock(&print_lock);
	printf("# thread %d: ", w->t);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
}

#define FAIL(w, what, s)                                                                           \
	do {                                                                                       \
		(w)->errors++;                                                                     \
		report((w), "%s of slot %d: %s", (what), (s), strerror(errno));                    \
	} while (0)

static int write_all(int fd, const unsigned char *p, size_t n, off_t off)
{
	while (n) {
		ssize_t r = pwrite(fd, p, n, off);

		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* Write generation @gen's bytes [from, to) of slot @s through @fd. */
static int put(struct worker *w, int fd, uint32_t gen, size_t from, size_t to)
{
	pattern(w->buf, w->t, gen, from, to - from);
	if (write_all(fd, w->buf, to - from, (off_t)from))
		return -1;
	if (rnd(w) % 16 == 0) {
		w->ops[OP_FSYNC]++;
		return fsync(fd);
	}
	return 0;
}

static void do_write(struct worker *w, int s, int flags, enum op op)
{
	struct slot *sl = &w->slot[s];
	char path[NAME_MAX_];
	uint32_t gen = op == OP_APPEND ? sl->gen : w->next_gen++;
	size_t from = op == OP_APPEND ? sl->size : 0;
	size_t to = from + rnd(w) % (MAX_SIZE - from + 1);
	int fd;

	name_of(path, w->t, s);
	fd = open(path, flags, 0644);
	if (fd < 0) {
		FAIL(w, op_names[op], s);
		return;
	}
	if (put(w, fd, gen, from, to))
		FAIL(w, op_names[op], s);
	if (close(fd))
		FAIL(w, "close", s);
	/* The model follows what was asked: a failure is counted already. */
	sl->exists = 1;
	sl->gen = gen;
	sl->size = to;
}

static void do_read(struct worker *w, int s)
{
	struct slot *sl = &w->slot[s];
	char path[NAME_MAX_];
	struct stat st;
	size_t got = 0;
	int fd;

	name_of(path, w->t, s);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		FAIL(w, "open for read", s);
		return;
	}
	if (fstat(fd, &st)) {
		FAIL(w, "fstat", s);
	} else if ((size_t)st.st_size != sl->size) {
		w->mismatches++;
		report(w, "slot %d: size %jd, want %zu", s, (intmax_t)st.st_size, sl->size);
	}
	while (got < MAX_SIZE) {
		ssize_t r = read(fd, w->buf + got, MAX_SIZE - got);

		if (r < 0) {
			FAIL(w, "read", s);
			break;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	pattern(w->want, w->t, sl->gen, 0, sl->size);
	if (got != sl->size || memcmp(w->buf, w->want, got)) {
		size_t i = 0;

		while (i < got && i < sl->size && w->buf[i] == w->want[i])
			i++;
		w->mismatches++;
		report(w, "slot %d (gen %u): read %zu bytes of %zu, first difference at %zu", s,
		       sl->gen, got, sl->size, i);
	}
	w->bytes_checked += got;
}

static void do_trunc(struct worker *w, int s)
{
	struct slot *sl = &w->slot[s];
	char path[NAME_MAX_];
	size_t to = sl->size ? rnd(w) % (sl->size + 1) : 0;

	name_of(path, w->t, s);
	if (truncate(path, (off_t)to))
		FAIL(w, "truncate", s);
	sl->size = to;
}

static void do_stat(struct worker *w, int s)
{
	char path[NAME_MAX_];
	struct stat st;

	name_of(path, w->t, s);
	if (lstat(path, &st)) {
		if (errno != ENOENT || w->slot[s].exists)
			FAIL(w, "lstat", s);
		return;
	}
	if (!w->slot[s].exists || (size_t)st.st_size != w->slot[s].size || !S_ISREG(st.st_mode)) {
		w->mismatches++;
		report(w, "slot %d: lstat says size %jd mode %o; model %s, size %zu", s,
		       (intmax_t)st.st_size, st.st_mode, w->slot[s].exists ? "exists" : "absent",
		       w->slot[s].size);
	}
}

static void do_rename(struct worker *w, int s)
{
	int d = (int)(rnd(w) % SLOTS);
	char from[NAME_MAX_], to[NAME_MAX_];

	if (d == s)
		return;
	name_of(from, w->t, s);
	name_of(to, w->t, d);
	if (rename(from, to))
		FAIL(w, "rename", s);
	w->slot[d] = w->slot[s];
	w->slot[s].exists = 0;
}

static void do_unlink(struct worker *w, int s)
{
	char path[NAME_MAX_];

	name_of(path, w->t, s);
	if (unlink(path))
		FAIL(w, "unlink", s);
	w->slot[s].exists = 0;
}

/* Every name of this thread listed exactly once, and only those it has. */
static void do_readdir(struct worker *w)
{
	int seen[SLOTS] = {0};
	char prefix[8];
	struct dirent *e;
	DIR *dp = opendir(dir);

	if (!dp) {
		FAIL(w, "opendir", -1);
		return;
	}
	snprintf(prefix, sizeof(prefix), "t%02d-", w->t);
	errno = 0;
	while ((e = readdir(dp))) {
		int s;

		if (strncmp(e->d_name, prefix, 4) || sscanf(e->d_name + 4, "%d", &s) != 1 ||
		    s < 0 || s >= SLOTS)
			continue;
		seen[s]++;
	}
	if (errno)
		FAIL(w, "readdir", -1);
	closedir(dp);
	for (int s = 0; s < SLOTS; s++) {
		if (seen[s] != w->slot[s].exists) {
			w->mismatches++;
			report(w, "readdir listed slot %d %d times; it %s", s, seen[s],
			       w->slot[s].exists ? "exists" : "does not exist");
		}
	}
}

static void step(struct worker *w)
{
	int s = (int)(rnd(w) % SLOTS);
	unsigned r = (unsigned)(rnd(w) % 100);
	enum op op;

	if (!w->slot[s].exists)
		op = r < 90 ? OP_CREATE : (r < 95 ? OP_STAT : OP_READDIR);
	else if (r < 15)
		op = OP_REWRITE;
	else if (r < 25)
		op = OP_APPEND;
	else if (r < 32)
		op = OP_TRUNC;
	else if (r < 60)
		op = OP_READ;
	else if (r < 70)
		op = OP_STAT;
	else if (r < 82)
		op = OP_RENAME;
	else if (r < 98)
		op = OP_UNLINK;
	else
		op = OP_READDIR;
	/* One readdir in about 100 operations: each lists the whole directory. */
	w->ops[op]++;
	switch (op) {
	case OP_CREATE:
		do_write(w, s, O_WRONLY | O_CREAT | O_EXCL, op);
		break;
	case OP_REWRITE:
		do_write(w, s, O_WRONLY | O_TRUNC, op);
		break;
	case OP_APPEND:
		do_write(w, s, O_WRONLY | O_APPEND, op);
		break;
	case OP_TRUNC:
		do_trunc(w, s);
		break;
	case OP_READ:
		do_read(w, s);
		break;
	case OP_STAT:
		do_stat(w, s);
		break;
	case OP_RENAME:
		do_rename(w, s);
		break;
	case OP_UNLINK:
		do_unlink(w, s);
		break;
	case OP_READDIR:
		do_readdir(w);
		break;
	default:
		break;
	}
}

static void *run(void *arg)
{
	struct worker *w = arg;

	while (!atomic_load(&stop))
		step(w);
	for (int s = 0; s < SLOTS; s++) {
		if (w->slot[s].exists) {
			do_read(w, s);
			do_unlink(w, s);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct worker *ws;
	uint64_t ops[OP_N] = {0}, total = 0, checked = 0;
	unsigned errors = 0, mismatches = 0;
	int n;
	double secs;
	unsigned long seed;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: flood DIR THREADS SECONDS [SEED]\n");
		return 2;
	}
	dir = argv[1];
	n = atoi(argv[2]);
	secs = atof(argv[3]);
	seed = argc == 5 ? strtoul(argv[4], NULL, 0) : (unsigned long)time(NULL);
	if (n < 1 || n > 99 || secs <= 0) {
		fprintf(stderr, "flood: 1 to 99 threads, a positive number of seconds\n");
		return 2;
	}
	printf("# flood: %d threads in %s for %.0f s, seed %lu\n", n, dir, secs, seed);
	fflush(stdout);
	ws = calloc((size_t)n, sizeof(*ws));
	if (!ws) {
		perror("flood");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		ws[i].t = i;
		ws[i].rng = seed * 1000003u + (uint64_t)i;
		ws[i].next_gen = 1;
		if (pthread_create(&ws[i].tid, NULL, run, &ws[i])) {
			fprintf(stderr, "flood: pthread_create failed\n");
			return 2;
		}
	}
	struct timespec ts = {.tv_sec = (time_t)secs,
			      .tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9)};
	nanosleep(&ts, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < n; i++) {
		pthread_join(ws[i].tid, NULL);
		for (int k = 0; k < OP_N; k++)
			ops[k] += ws[i].ops[k];
		errors += ws[i].errors;
		mismatches += ws[i].mismatches;
		checked += ws[i].bytes_checked;
	}
	printf("# ops:");
	for (int k = 0; k < OP_N; k++) {
		printf(" %s %" PRIu64, op_names[k], ops[k]);
		if (k != OP_FSYNC)
			total += ops[k];
	}
	printf("\n# total %" PRIu64 " operations, %" PRIu64 " bytes read back and checked\n", total,
	       checked);
	printf("%s - flood: %" PRIu64 " operations by %d threads, no unexpected errno (%u)\n",
	       errors ? "not ok" : "ok", total, n, errors);
	printf("%s - flood: every read and stat matched the thread's model (%u mismatches)\n",
	       mismatches ? "not ok" : "ok", mismatches);
	free(ws);
	return errors || mismatches ? 1 : 0;
}
