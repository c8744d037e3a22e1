/*
 * tests/fuzz/fuzzimg.c - the structure-aware image fuzzer's commands.
 *
 *   fuzzimg seed DIR                 build the seed images in DIR
 *   fuzzimg mutate DIR NUM OUT       write image NUM (mutated from DIR's seeds)
 *   fuzzimg run DIR FIRST COUNT      fuzz images FIRST .. FIRST+COUNT-1
 *   fuzzimg replay IMAGE...          the same checks on kept images
 *   fuzzimg mkfs FIRST COUNT         mkfs.foliofs with random options and sizes
 *
 * Options (before the command's arguments): -j N workers (default 1);
 * -t SEC per-step timeout (default 60); -k DIR keep failing images there;
 * -T DIR the tools' directory (default $top_builddir/tools); -v print each
 * image's mutations, refusals and timings; -Y no fsck -y.
 *
 * For each image: the mutations of fz_mutate(), then a child process mounts
 * it with the library and exercises it (exercise.c) under alarm(); then
 * fsck.foliofs -n, -y and -n again, each in a child under alarm(); for three
 * images in ten the library's turn again on the repaired image. A child killed by
 * SIGALRM is a hang; killed by another signal, or exiting with an unexpected
 * status (the sanitizers are set to abort), or leaving a sanitizer report in
 * its output, is a crash. The counts print at the end; the exit status is 1
 * when anything crashed or hung.
 *
 * Invariant: the parent and the workers never mount anything; all work on an
 * image happens in children, so one failure costs one image.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

/* The sanitizers abort on any report (so a child's death shows it). */
const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
const char *__asan_default_options(void)
{
	return "abort_on_error=1:exitcode=99:detect_leaks=1";
}
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:abort_on_error=1:print_stacktrace=1:exitcode=99";
}

struct fz_opts {
	unsigned jobs, timeout;
	const char *keep, *tools;
	bool verbose, fsck_yes;
};

static struct fz_opts opt = {.jobs = 1, .timeout = 60, .fsck_yes = true};

/* The counts, shared by the workers (MAP_SHARED). */
struct fz_counts {
	unsigned long images, refused, mounted, went_ro, umount_err;
	unsigned long ops_ok, ops_eio, ops_other, images_eio;
	unsigned long fsck_n[9], fsck_y[9], fsck_after_y_unclean;
	unsigned long remounted; /* repaired images mounted and exercised again */
	unsigned long crashes, hangs, sanitizer;
	unsigned long mkfs_ok, mkfs_refused, mkfs_unclean;
};

enum { OUT_OK, OUT_CRASH, OUT_HANG, OUT_SANITIZER };
static const char *const out_name[] = {"ok", "crash", "hang", "sanitizer report"};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzzimg: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st))
		die("%s: %s", path, strerror(errno));
	buf = malloc((size_t)st.st_size + 1);
	if (!buf || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
		die("read %s", path);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void spill(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd))
		die("write %s: %s", path, strerror(errno));
}

/* Does the file at @path hold a sanitizer's report? */
static bool has_report(const char *path)
{
	static const char *const marks[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
					    "runtime error:", "SUMMARY: UndefinedBehavior"};
	size_t len;
	uint8_t *buf = slurp(path, &len);
	bool found = false;

	buf[len] = 0;
	for (unsigned i = 0; i < 4 && !found; i++)
		found = memmem(buf, len, marks[i], strlen(marks[i])) != NULL;
	free(buf);
	return found;
}

/* Wait for child @pid; classify with its log @log. @ok_exit: a bitmask of
 * the exit statuses that are fine. *code gets the exit status (or -1). */
static int wait_child(pid_t pid, const char *log, unsigned ok_exit, int *code)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	*code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (has_report(log))
		return OUT_SANITIZER;
	if (WIFSIGNALED(st))
		return WTERMSIG(st) == SIGALRM ? OUT_HANG : OUT_CRASH;
	return *code < 32 && (ok_exit & (1u << *code)) ? OUT_OK : OUT_CRASH;
}

static void child_io(const char *log)
{
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		_exit(98);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	alarm(opt.timeout);
}

/* Run a tool on @img in a child with the timeout; fsck's exit statuses
 * (0, 1, 2, 4, 8 and their sums up to 15) are fine. */
static int run_tool(const char *prog, const char *arg, const char *img, const char *log, int *code)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		child_io(log);
		execl(prog, prog, arg, img, (char *)NULL);
		_exit(97);
	}
	return wait_child(pid, log, 0xFFFF, code);
}

/* The library's turn: mount, exercise, unmount in a child. */
static int run_exercise(const char *img, const char *log, struct fz_xstats *shared, char *msg,
			bool cont)
{
	pid_t pid;
	int code;

	memset(shared, 0, sizeof(*shared));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		struct fz_xstats st;
		char m[256];

		child_io(log);
		fz_exercise(img, cont, &st, m, sizeof(m));
		*shared = st;
		memcpy(msg, m, sizeof(m));
		exit(0);
	}
	return wait_child(pid, log, 1, &code);
}

struct fz_worker {
	struct fz_counts *cnt; /* shared */
	struct fz_xstats *xst; /* shared with the exercise child */
	char *msg;	       /* shared: fs_mount's refusal */
	char dir[560];	       /* the worker's scratch directory */
	char img[600], log[600], flog[600];
};

static void count_add(struct fz_counts *cnt, unsigned long *field, unsigned long n)
{
	(void)cnt;
	__atomic_add_fetch(field, n, __ATOMIC_RELAXED);
}

/* Keep a failing image and its logs; @orig: the image before any step. */
static void keep_failure(struct fz_worker *w, const char *name, const uint8_t *orig, size_t len,
			 const char *what, const char *recipe)
{
	char path[900], cmd[2048];

	fprintf(stderr, "FAIL %s: %s\n%s", name, what, recipe);
	snprintf(cmd, sizeof(cmd), "tail -n 40 %s %s 1>&2", w->log, w->flog);
	if (system(cmd) < 0)
		perror("system");
	if (!opt.keep)
		return;
	mkdir(opt.keep, 0755);
	snprintf(path, sizeof(path), "%s/%s.img", opt.keep, name);
	if (orig)
		spill(path, orig, len);
	snprintf(cmd, sizeof(cmd), "cp %s %s/%s.exercise.log; cp %s %s/%s.fsck.log", w->log,
		 opt.keep, name, w->flog, opt.keep, name);
	if (system(cmd) < 0)
		perror("system");
}

/* One image through the library and fsck. Returns the worst outcome. */
static int check_image(struct fz_worker *w, const char *name, const uint8_t *orig, size_t len,
		       const char *recipe)
{
	struct fz_counts *cnt = w->cnt;
	char fsck[700], what[200];
	int out, code;
	double t0 = mono(), t1 = 0, t2 = 0;
	char last = name[strlen(name) - 1];
	const char *errors = getenv("FUZZ_ERRORS");
	/* odd image numbers mount with errors=continue; replay with
	 * FUZZ_ERRORS=continue */
	bool cont = (last >= '0' && last <= '9' && (last & 1)) ||
		    (errors && !strcmp(errors, "continue"));

	snprintf(fsck, sizeof(fsck), "%s/fsck.foliofs", opt.tools);
	out = run_exercise(w->img, w->log, w->xst, w->msg, cont);
	t1 = mono();
	snprintf(what, sizeof(what), "library: %s", out_name[out]);
	if (out == OUT_OK) {
		count_add(cnt, &cnt->refused, w->xst->refused);
		count_add(cnt, &cnt->mounted, !w->xst->refused);
		count_add(cnt, &cnt->went_ro, w->xst->went_ro);
		count_add(cnt, &cnt->umount_err, w->xst->umount_err);
		count_add(cnt, &cnt->ops_ok, w->xst->ok);
		count_add(cnt, &cnt->ops_eio, w->xst->eio);
		count_add(cnt, &cnt->ops_other, w->xst->other);
		count_add(cnt, &cnt->images_eio, w->xst->eio > 0);
		if (opt.verbose && w->xst->refused)
			fprintf(stderr, "%s: refused: %s\n", name, w->msg);
		out = run_tool(fsck, "-n", w->img, w->flog, &code);
		snprintf(what, sizeof(what), "fsck -n: %s (exit %d)", out_name[out], code);
		if (out == OUT_OK)
			count_add(cnt, &cnt->fsck_n[code > 8 ? 8 : code], 1);
		t2 = mono();
	}
	if (out == OUT_OK && opt.fsck_yes) {
		out = run_tool(fsck, "-y", w->img, w->flog, &code);
		snprintf(what, sizeof(what), "fsck -y: %s (exit %d)", out_name[out], code);
		if (out == OUT_OK) {
			count_add(cnt, &cnt->fsck_y[code > 8 ? 8 : code], 1);
			if (opt.verbose && code >= 8)
				fprintf(stderr, "%s: fsck -y exit %d\n", name, code);
			out = run_tool(fsck, "-n", w->img, w->flog, &code);
			snprintf(what, sizeof(what), "fsck -n after -y: %s (exit %d)",
				 out_name[out], code);
			count_add(cnt, &cnt->fsck_after_y_unclean, out == OUT_OK && code != 0);
			if (opt.verbose && out == OUT_OK && code != 0)
				fprintf(stderr, "%s: not clean after fsck -y (fsck -n exit %d)\n",
					name, code);
		}
		if (out == OUT_OK && last >= '0' && last <= '9' && last % 4 == 0) {
			/* one image in four: what fsck -y left, through the library */
			out = run_exercise(w->img, w->log, w->xst, w->msg, false);
			snprintf(what, sizeof(what), "library after fsck -y: %s", out_name[out]);
			count_add(cnt, &cnt->remounted, out == OUT_OK && !w->xst->refused);
		}
	}
	count_add(cnt, &cnt->images, 1);
	count_add(cnt, &cnt->crashes, out == OUT_CRASH);
	count_add(cnt, &cnt->hangs, out == OUT_HANG);
	count_add(cnt, &cnt->sanitizer, out == OUT_SANITIZER);
	if (opt.verbose)
		fprintf(stderr, "%s: library %.3f s, fsck -n %.3f s, fsck -y and -n %.3f s\n", name,
			t1 - t0, t2 ? t2 - t1 : 0, t2 ? mono() - t2 : 0);
	if (out != OUT_OK)
		keep_failure(w, name, orig, len, what, recipe);
	return out;
}

static void worker_init(struct fz_worker *w, struct fz_counts *cnt, const char *base, unsigned id)
{
	void *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (sh == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	w->cnt = cnt;
	w->xst = sh;
	w->msg = (char *)sh + 1024;
	snprintf(w->dir, sizeof(w->dir), "%s/w%u", base, id);
	if (mkdir(w->dir, 0755) && errno != EEXIST)
		die("mkdir %s: %s", w->dir, strerror(errno));
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	snprintf(w->log, sizeof(w->log), "%s/exercise.log", w->dir);
	snprintf(w->flog, sizeof(w->flog), "%s/fsck.log", w->dir);
}

/* ---- fuzzimg run ---- */

struct fz_seeds {
	uint8_t *img[FZ_NSEEDS];
	size_t len[FZ_NSEEDS];
	struct fz_cat *cat[FZ_NSEEDS];
};

static void seeds_load(struct fz_seeds *s, const char *dir)
{
	char path[600];

	for (unsigned i = 0; i < FZ_NSEEDS; i++) {
		snprintf(path, sizeof(path), "%s/seed%u.img", dir, i);
		s->img[i] = slurp(path, &s->len[i]);
		s->cat[i] = fz_cat_build(s->img[i], s->len[i]);
		if (!s->cat[i])
			die("%s: not a usable seed", path);
	}
}

static void worker_run(struct fz_worker *w, const struct fz_seeds *s, uint64_t first,
		       uint64_t count, unsigned id)
{
	static uint8_t *buf; /* static: reachable for the leak checker */
	size_t maxlen = 0;
	char recipe[2048], name[64];

	for (unsigned i = 0; i < FZ_NSEEDS; i++)
		maxlen = s->len[i] > maxlen ? s->len[i] : maxlen;
	buf = malloc(maxlen);
	if (!buf)
		die("out of memory");
	for (uint64_t n = first + id; n < first + count; n += opt.jobs) {
		unsigned k = (unsigned)(n % FZ_NSEEDS);

		memcpy(buf, s->img[k], s->len[k]);
		fz_mutate(s->cat[k], n, buf, s->len[k], recipe, sizeof(recipe));
		spill(w->img, buf, s->len[k]);
		if (opt.verbose)
			fprintf(stderr, "image %llu (seed%u):\n%s", (unsigned long long)n, k,
				recipe);
		snprintf(name, sizeof(name), "image-%llu", (unsigned long long)n);
		check_image(w, name, buf, s->len[k], recipe);
	}
	free(buf);
}

static const char *count_prefix = ""; /* "# " for replay's TAP */

static void print_counts(const struct fz_counts *c)
{
	const char *p = count_prefix;

	printf("%simages %lu: refused at mount %lu, mounted %lu (went read-only %lu, unmount "
	       "errors %lu, with EIO/EUCLEAN %lu)\n",
	       p, c->images, c->refused, c->mounted, c->went_ro, c->umount_err, c->images_eio);
	printf("%soperations: ok %lu, EIO/EUCLEAN %lu, other errors %lu\n", p, c->ops_ok,
	       c->ops_eio, c->ops_other);
	printf("%sfsck -n exit 0/1/2/4/8+: %lu/%lu/%lu/%lu/%lu; fsck -y exit 0/1/4/8+: "
	       "%lu/%lu/%lu/%lu; not clean after -y %lu; repaired and mounted again %lu\n",
	       p, c->fsck_n[0], c->fsck_n[1], c->fsck_n[2], c->fsck_n[4], c->fsck_n[8],
	       c->fsck_y[0], c->fsck_y[1], c->fsck_y[4], c->fsck_y[8], c->fsck_after_y_unclean,
	       c->remounted);
	if (c->mkfs_ok + c->mkfs_refused)
		printf("%smkfs: made %lu, refused %lu, made but not fsck-clean %lu\n", p,
		       c->mkfs_ok, c->mkfs_refused, c->mkfs_unclean);
	printf("%scrashes %lu, hangs %lu, sanitizer reports %lu\n", p, c->crashes, c->hangs,
	       c->sanitizer);
}

static char *make_scratch(void)
{
	const char *tmp = getenv("FUZZ_TMPDIR");
	static char dir[512];

	/* tmpfs: no O_DIRECT there, so the device's I/O and flushes cost
	 * nothing and images are cheap to rewrite */
	if (!tmp || !*tmp)
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/fuzzimg.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		die("mkdtemp: %s", strerror(errno));
	return dir;
}

static void remove_scratch(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzzimg: could not remove %s\n", dir);
}

/* Run @fn in opt.jobs worker processes; returns the counts' verdict. */
typedef void (*fz_work_fn)(struct fz_worker *w, unsigned id, void *arg);

static int run_workers(fz_work_fn fn, void *arg)
{
	struct fz_counts *cnt =
		mmap(NULL, sizeof(*cnt), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *scratch = make_scratch();
	pid_t pids[64];
	unsigned n = opt.jobs > 64 ? 64 : opt.jobs;

	if (cnt == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	memset(cnt, 0, sizeof(*cnt));
	fflush(NULL);
	for (unsigned i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork: %s", strerror(errno));
		if (pids[i] == 0) {
			struct fz_worker w;

			worker_init(&w, cnt, scratch, i);
			fn(&w, i, arg);
			fflush(NULL);
			_exit(0);
		}
	}
	for (unsigned i = 0; i < n; i++) {
		int st;

		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "fuzzimg: worker %u failed (status %d)\n", i, st);
			cnt->crashes++;
		}
	}
	remove_scratch(scratch);
	print_counts(cnt);
	return cnt->crashes + cnt->hangs + cnt->sanitizer ? 1 : 0;
}

struct run_arg {
	struct fz_seeds seeds;
	uint64_t first, count;
};

static void run_work(struct fz_worker *w, unsigned id, void *arg)
{
	struct run_arg *a = arg;

	worker_run(w, &a->seeds, a->first, a->count, id);
}

/* Global, so the leak checker of a child sees them reachable. */
static struct run_arg run_arg;

static int cmd_run(int argc, char **argv)
{
	struct run_arg *ap = &run_arg;
#define a (*ap)
	unsigned regions, fields;

	if (argc != 3)
		die("usage: fuzzimg run SEEDDIR FIRST COUNT");
	seeds_load(&a.seeds, argv[0]);
	a.first = strtoull(argv[1], NULL, 0);
	a.count = strtoull(argv[2], NULL, 0);
	for (unsigned i = 0; i < FZ_NSEEDS; i++) {
		fz_cat_counts(a.seeds.cat[i], &regions, &fields);
		printf("seed%u: %u structures, %u fields\n", i, regions, fields);
	}
	return run_workers(run_work, &a);
#undef a
}

/* ---- fuzzimg replay ---- */

struct replay_arg {
	char **images;
	int n;
};

static void replay_work(struct fz_worker *w, unsigned id, void *arg)
{
	struct replay_arg *a = arg;

	for (int i = (int)id; i < a->n; i += (int)opt.jobs) {
		size_t len;
		uint8_t *img = slurp(a->images[i], &len);
		const char *base = strrchr(a->images[i], '/');
		int out;

		spill(w->img, img, len);
		out = check_image(w, base ? base + 1 : a->images[i], NULL, 0, "");
		printf("%s %s\n", out == OUT_OK ? "ok -" : "not ok -",
		       base ? base + 1 : a->images[i]);
		fflush(stdout);
		free(img);
	}
}

static int cmd_replay(int argc, char **argv)
{
	struct replay_arg a = {argv, argc};

	count_prefix = "# ";

	return run_workers(replay_work, &a);
}

/* ---- fuzzimg mkfs ---- */

static const char *pick(struct fz_rng *r, const char *const *v, unsigned n)
{
	return v[fz_below(r, n)];
}

/* One random mkfs command line in @argv (strings in @store). */
static int mkfs_args(struct fz_rng *r, const char *img, char **argv, char store[][64])
{
	static const char *const bsz[] = {"1024", "2048", "4096", "512", "8192", "0", "4k", "x"};
	static const char *const isz[] = {"256", "512", "1024", "128", "2048", "255"};
	static const char *const sizes[] = {"0",    "1",
					    "1K",   "7K",
					    "8K",   "9K",
					    "63K",  "64K",
					    "65K",  "100K",
					    "257K", "1M",
					    "2M",   "8193K",
					    "9M",   "16777217",
					    "17M",  "33M",
					    "64M",  "1x",
					    "-1",   "18446744073709551615",
					    "1T"};
	static const char *const jn[] = {"none",    "size=16",	"size=15",   "size=0",
					 "size=1M", "size=256", "size=2048", "size=999999",
					 "size=",   "bogus",	"size=1K",   "size=64M"};
	static const char *const inodes[] = {"0",	   "1",		 "15",	 "16",
					     "17",	   "100",	 "4096", "65536",
					     "4294967295", "4294967296", "7"};
	int n = 0, s = 0;

	argv[n++] = "mkfs.foliofs";
	argv[n++] = "-q";
	argv[n++] = "-f";
	if (fz_below(r, 4))
		argv[n++] = "-b", argv[n++] = (char *)pick(r, bsz, fz_below(r, 5) ? 3 : 8);
	if (fz_below(r, 3) == 0)
		argv[n++] = "-I", argv[n++] = (char *)pick(r, isz, fz_below(r, 4) ? 3 : 6);
	if (fz_below(r, 3) == 0)
		argv[n++] = "-N", argv[n++] = (char *)pick(r, inodes, 11);
	if (fz_below(r, 3) == 0)
		argv[n++] = "-J", argv[n++] = (char *)pick(r, jn, 12);
	if (fz_below(r, 5) == 0) {
		snprintf(store[s], 64, "%.*s", (int)fz_below(r, 40),
			 "label-label-label-label-label-label-label");
		argv[n++] = "-L", argv[n++] = store[s++];
	}
	if (fz_below(r, 6) == 0)
		argv[n++] = "-U", argv[n++] = fz_below(r, 2) ? "random" : "1234-zz";
	if (fz_below(r, 4))
		argv[n++] = "-s", argv[n++] = (char *)pick(r, sizes, fz_below(r, 3) ? 19 : 23);
	if (fz_below(r, 20) == 0)
		argv[n++] = "-Z";
	argv[n++] = (char *)img;
	argv[n] = NULL;
	return n;
}

static void mkfs_work(struct fz_worker *w, unsigned id, void *arg)
{
	uint64_t *range = arg;
	char prog[700], fsck[700], store[4][64], *argv[32], line[600];
	static const off_t presize[] = {0, 1, 1023, 1024, 4097, 65536, 8 << 20, (9 << 20) + 512};

	snprintf(prog, sizeof(prog), "%s/mkfs.foliofs", opt.tools);
	snprintf(fsck, sizeof(fsck), "%s/fsck.foliofs", opt.tools);
	for (uint64_t n = range[0] + id; n < range[0] + range[1]; n += opt.jobs) {
		struct fz_rng r = {n * 0x9E3779B97F4A7C15ULL + 7};
		struct fz_counts *cnt = w->cnt;
		int out, code, fd;
		pid_t pid;
		size_t used = 0;

		unlink(w->img);
		if (fz_below(&r, 3)) { /* an existing file of some size, or none */
			fd = open(w->img, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0 || ftruncate(fd, presize[fz_below(&r, 8)]) || close(fd))
				die("%s: %s", w->img, strerror(errno));
		}
		mkfs_args(&r, w->img, argv, store);
		for (int i = 0; argv[i] && used < sizeof(line); i++)
			used += (size_t)snprintf(line + used, sizeof(line) - used, "%s ", argv[i]);
		pid = fork();
		if (pid == 0) {
			child_io(w->log);
			execv(prog, argv);
			_exit(97);
		}
		out = wait_child(pid, w->log, 0xFF, &code);
		count_add(cnt, &cnt->images, 1);
		if (opt.verbose)
			fprintf(stderr, "mkfs %llu: %s-> %d\n", (unsigned long long)n, line, code);
		if (out == OUT_OK && code == 0) {
			count_add(cnt, &cnt->mkfs_ok, 1);
			out = run_tool(fsck, "-n", w->img, w->flog, &code);
			if (out == OUT_OK && code != 0) {
				count_add(cnt, &cnt->mkfs_unclean, 1);
				fprintf(stderr, "mkfs %llu: %s: fsck -n exit %d\n",
					(unsigned long long)n, line, code);
			}
			if (out == OUT_OK) {
				out = run_exercise(w->img, w->log, w->xst, w->msg, false);
				if (out == OUT_OK) {
					count_add(cnt, &cnt->refused, w->xst->refused);
					count_add(cnt, &cnt->mounted, !w->xst->refused);
					count_add(cnt, &cnt->ops_ok, w->xst->ok);
					count_add(cnt, &cnt->ops_eio, w->xst->eio);
					count_add(cnt, &cnt->ops_other, w->xst->other);
				}
				if (out == OUT_OK && w->xst->refused)
					fprintf(stderr, "mkfs %llu: %s: mount refused: %s\n",
						(unsigned long long)n, line, w->msg);
				count_add(cnt, &cnt->mkfs_unclean,
					  out == OUT_OK && w->xst->refused);
			}
			if (out == OUT_OK) {
				out = run_tool(fsck, "-n", w->img, w->flog, &code);
				count_add(cnt, &cnt->mkfs_unclean, out == OUT_OK && code != 0);
			}
		} else if (out == OUT_OK) {
			count_add(cnt, &cnt->mkfs_refused, 1);
		}
		count_add(cnt, &cnt->crashes, out == OUT_CRASH);
		count_add(cnt, &cnt->hangs, out == OUT_HANG);
		count_add(cnt, &cnt->sanitizer, out == OUT_SANITIZER);
		if (out != OUT_OK) {
			char name[64];

			snprintf(name, sizeof(name), "mkfs-%llu", (unsigned long long)n);
			keep_failure(w, name, NULL, 0, out_name[out], line);
		}
	}
}

static int cmd_mkfs(int argc, char **argv)
{
	uint64_t range[2];
	int ret;

	if (argc != 2)
		die("usage: fuzzimg mkfs FIRST COUNT");
	range[0] = strtoull(argv[0], NULL, 0);
	range[1] = strtoull(argv[1], NULL, 0);
	ret = run_workers(mkfs_work, range);
	return ret;
}

/* ---- main ---- */

static void tool_env(void)
{
	static char tools[512];
	const char *b = getenv("top_builddir");

	if (!opt.tools) {
		snprintf(tools, sizeof(tools), "%s/tools", b && *b ? b : ".");
		opt.tools = tools;
	}
	/* the tools are separate programs: their sanitizers abort too */
	setenv("ASAN_OPTIONS", __asan_default_options(), 0);
	setenv("UBSAN_OPTIONS", __ubsan_default_options(), 0);
}

int main(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "+j:t:k:T:vY")) != -1) {
		switch (c) {
		case 'j':
			opt.jobs = (unsigned)atoi(optarg);
			break;
		case 't':
			opt.timeout = (unsigned)atoi(optarg);
			break;
		case 'k':
			opt.keep = optarg;
			break;
		case 'T':
			opt.tools = optarg;
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'Y':
			opt.fsck_yes = false;
			break;
		default:
			die("unknown option");
		}
	}
	if (opt.jobs < 1)
		opt.jobs = 1;
	argc -= optind;
	argv += optind;
	if (argc < 1)
		die("usage: fuzzimg [-j N] [-t SEC] [-k DIR] [-T TOOLS] [-v] "
		    "seed|mutate|run|replay|mkfs ...");
	tool_env();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[0], "seed")) {
		if (argc != 2)
			die("usage: fuzzimg seed DIR");
		return fz_seed_build(argv[1], opt.tools) ? 2 : 0;
	}
	if (!strcmp(argv[0], "mutate")) {
		static struct fz_seeds s;
		uint64_t n;
		char recipe[2048];
		unsigned k;

		if (argc != 4)
			die("usage: fuzzimg mutate SEEDDIR NUM OUT");
		seeds_load(&s, argv[1]);
		n = strtoull(argv[2], NULL, 0);
		k = (unsigned)(n % FZ_NSEEDS);
		fz_mutate(s.cat[k], n, s.img[k], s.len[k], recipe, sizeof(recipe));
		spill(argv[3], s.img[k], s.len[k]);
		printf("image %llu from seed%u:\n%s", (unsigned long long)n, k, recipe);
		return 0;
	}
	if (!strcmp(argv[0], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[0], "replay"))
		return cmd_replay(argc - 1, argv + 1);
	if (!strcmp(argv[0], "mkfs"))
		return cmd_mkfs(argc - 1, argv + 1);
	die("unknown command %s", argv[0]);
	return 2;
}
