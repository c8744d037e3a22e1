/*
 * tools/fsx.c - foliofs-fsx: options, the run loop, --exec, multi-process mode.
 *
 * Usage: foliofs-fsx [options] FILE (see fsx_usage() or --help). One run opens
 * FILE (truncating it), does -N random operations checked against the model
 * (fsx_ops.c), runs the --exec command every --exec-every operations with every
 * descriptor closed and checks the whole file after it, then checks the whole
 * file once more after a final reopen and prints a one-line summary.
 *
 * With -p NPROC, the process forks NPROC children; child K runs the same options
 * on FILE.K with seed + K and prefixes its messages with "[K] "; the parent
 * waits for all of them and names every one that failed. With --exec as well,
 * the command runs once per round, in the parent: every child that reaches an
 * --exec point closes its file and says so on its pipe (fsx_sync_*), the
 * parent waits until every child still running has, runs the command, and
 * answers each one go on (then the child reopens and checks its file) or stop.
 * So the command may unmount and remount the filesystem under all of them.
 *
 * --mark and --mark-dir (crash tests) call the hooks of fsx_mark.c around every
 * operation.
 *
 * Options are validated before anything is touched: a bad value or an unknown
 * option prints one line on stderr and exits 2.
 */
#include "config.h"

#include "tools/fsx.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FSX_DEF_OPS	   10000UL
#define FSX_DEF_MAXLEN	   (256 * 1024)
#define FSX_DEF_MAXOP	   (64 * 1024)
#define FSX_DEF_EXEC_EVERY 100UL
#define FSX_MAX_LENGTH	   (1ULL << 30)
#define FSX_MAX_PROCS	   256
#define FSX_PROGRESS	   10000UL

enum {
	FSX_OPT_EXEC = 0x100,
	FSX_OPT_EXEC_EVERY,
	FSX_OPT_MARK,
	FSX_OPT_MARK_DIR,
	FSX_OPT_MSYNC_MAPWRITE
};

static const struct option fsx_long_opts[] = {
	{"ops", required_argument, NULL, 'N'},
	{"seed", required_argument, NULL, 'S'},
	{"max-length", required_argument, NULL, 'l'},
	{"max-op-size", required_argument, NULL, 'o'},
	{"quiet", no_argument, NULL, 'q'},
	{"debug", no_argument, NULL, 'd'},
	{"save-dir", required_argument, NULL, 'P'},
	{"processes", required_argument, NULL, 'p'},
	{"no-mapread", no_argument, NULL, 'R'},
	{"no-mapwrite", no_argument, NULL, 'W'},
	{"no-truncate", no_argument, NULL, 'T'},
	{"no-fallocate", no_argument, NULL, 'F'},
	{"no-punch-hole", no_argument, NULL, 'H'},
	{"no-zero-range", no_argument, NULL, 'z'},
	{"no-keep-size", no_argument, NULL, 'k'},
	{"no-copy-range", no_argument, NULL, 'C'},
	{"no-direct", no_argument, NULL, 'Z'},
	{"no-fsync", no_argument, NULL, 'y'},
	{"no-reopen", no_argument, NULL, 'c'},
	{"exec", required_argument, NULL, FSX_OPT_EXEC},
	{"exec-every", required_argument, NULL, FSX_OPT_EXEC_EVERY},
	{"mark", required_argument, NULL, FSX_OPT_MARK},
	{"mark-dir", required_argument, NULL, FSX_OPT_MARK_DIR},
	{"msync-mapwrite", no_argument, NULL, FSX_OPT_MSYNC_MAPWRITE},
	{"off", required_argument, NULL, 'x'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static const char fsx_short_opts[] = ":N:S:l:o:qdP:p:x:RWTFHzkCZych";

/* The operations each "turn off" flag removes. */
static const struct {
	int ch;
	unsigned bits;
} fsx_off_flags[] = {
	{'R', FSX_BIT(FSX_OP_MAPREAD)},
	{'W', FSX_BIT(FSX_OP_MAPWRITE)},
	{'T', FSX_BIT(FSX_OP_TRUNCATE)},
	{'F', FSX_BIT(FSX_OP_FALLOC) | FSX_BIT(FSX_OP_FALLOC_KEEP) | FSX_BIT(FSX_OP_PUNCH) |
		      FSX_BIT(FSX_OP_ZERO)},
	{'H', FSX_BIT(FSX_OP_PUNCH)},
	{'z', FSX_BIT(FSX_OP_ZERO)},
	{'k', FSX_BIT(FSX_OP_FALLOC_KEEP)},
	{'C', FSX_BIT(FSX_OP_COPY)},
	{'Z', FSX_BIT(FSX_OP_DIO_READ) | FSX_BIT(FSX_OP_DIO_WRITE)},
	{'y', FSX_BIT(FSX_OP_FSYNC) | FSX_BIT(FSX_OP_FDATASYNC)},
	{'c', FSX_BIT(FSX_OP_REOPEN)},
};

static void fsx_usage(FILE *f)
{
	fprintf(f,
		"usage: foliofs-fsx [options] FILE\n"
		"Random operations on FILE, every byte read checked against a model of it.\n"
		"\n"
		"  -N, --ops N            operations to run (default %lu; 0 = no limit)\n"
		"  -S, --seed N           random seed (default 0 = pick one and print it)\n"
		"  -l, --max-length N     largest file size (default %d; suffix k, m, g)\n"
		"  -o, --max-op-size N    largest single operation (default %d; suffix k, m, g)\n"
		"  -q, --quiet            print only failures, notes and the summary\n"
		"  -d, --debug            print every operation as it is done\n"
		"  -P, --save-dir DIR     put FILE.fsxgood and FILE.fsxbad in DIR on a failure\n"
		"  -p, --processes N      run N processes, process K on FILE.K with seed+K\n"
		"      --exec CMD         every --exec-every operations, close and unmap the\n"
		"                         file, run 'sh -c CMD' with the file's path in\n"
		"                         $FSX_FILE (and the op count in $FSX_OP), reopen and\n"
		"                         check the whole file; CMD failing stops with status 2\n"
		"      --exec-every N     operations between two --exec runs (default %lu)\n"
		"                         (with -p, CMD runs once a round, when every process\n"
		"                         has stopped there; $FSX_FILE is then FILE)\n"
		"      --mark CMD         for crash tests: run 'sh -c CMD' with $FSX_MARK set\n"
		"                         to \"fsx op N\" before each operation N and to\n"
		"                         \"fsx sync N\" after each fsync or fdatasync N (and\n"
		"                         \"fsx sync 0\" after fsyncing the new file first)\n"
		"      --mark-dir DIR     with --mark: write DIR/sync.N (the file as it must\n"
		"                         be after sync N) and DIR/op.N (the range op N may\n"
		"                         change and its bytes after it)\n"
		"  -h, --help             this text\n"
		"\n"
		"Turning operations off:\n"
		"  -x, --off OP[,OP...]   turn the named operations off: read, write,\n"
		"                         mapread, mapwrite, truncate, falloc, falloc_keep,\n"
		"                         punch_hole, zero_range, copy_range, fsync,\n"
		"                         fdatasync, reopen, dio_read, dio_write\n"
		"  -R, --no-mapread       no reads through the shared mapping\n"
		"  -W, --no-mapwrite      no writes through the shared mapping (with/without "
		"msync)\n"
		"      --msync-mapwrite   every write through the mapping is followed by\n"
		"                         msync (the same operations and seeds otherwise)\n"
		"  -T, --no-truncate      no truncate up or down\n"
		"  -F, --no-fallocate     no fallocate of any mode\n"
		"  -H, --no-punch-hole    no FALLOC_FL_PUNCH_HOLE\n"
		"  -z, --no-zero-range    no FALLOC_FL_ZERO_RANGE\n"
		"  -k, --no-keep-size     no FALLOC_FL_KEEP_SIZE (plain or with zero range)\n"
		"  -C, --no-copy-range    no copy_file_range\n"
		"  -Z, --no-direct        no O_DIRECT reads and writes\n"
		"  -y, --no-fsync         no fsync or fdatasync\n"
		"  -c, --no-reopen        no close and reopen\n"
		"\n"
		"Operations the filesystem does not support are turned off with a note.\n"
		"Exit status: 0 passed, 1 a check failed, 2 bad usage or --exec CMD failed.\n",
		FSX_DEF_OPS, FSX_DEF_MAXLEN, FSX_DEF_MAXOP, FSX_DEF_EXEC_EVERY);
}

static __attribute__((noreturn, format(printf, 1, 2))) void fsx_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "foliofs-fsx: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try --help)\n");
	exit(FSX_EXIT_USE);
}

/* The option as the user wrote it, for messages. */
static const char *fsx_opt_name(int ch, char *tmp, size_t len)
{
	for (const struct option *o = fsx_long_opts; o->name; o++)
		if (o->val == ch && ch >= 0x100) {
			snprintf(tmp, len, "--%s", o->name);
			return tmp;
		}
	snprintf(tmp, len, "-%c", ch);
	return tmp;
}

static uint64_t fsx_suffix(const char *end, int sizes)
{
	if (!*end)
		return 1;
	if (!sizes || end[1])
		return 0;
	switch (*end) {
	case 'k':
	case 'K':
		return 1ULL << 10;
	case 'm':
	case 'M':
		return 1ULL << 20;
	case 'g':
	case 'G':
		return 1ULL << 30;
	}
	return 0;
}

/* A number in [min, max]; with @sizes a k/m/g suffix. Bad input exits 2. */
static uint64_t fsx_number(int ch, const char *s, uint64_t min, uint64_t max, int sizes)
{
	char name[32], *end;
	unsigned long long v;
	uint64_t mult;

	errno = 0;
	/* Decimal, or hex after 0x; never octal, so "010" is ten. */
	v = strtoull(s, &end, s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? 16 : 10);
	mult = fsx_suffix(end, sizes);
	if (errno || !isdigit((unsigned char)*s) || !mult || v > max / mult || v * mult < min ||
	    v * mult > max)
		fsx_usage_error("%s: '%s' is not a number from %" PRIu64 " to %" PRIu64,
				fsx_opt_name(ch, name, sizeof(name)), s, min, max);
	return v * mult;
}

static void fsx_save_dir(struct fsx *fs, const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		fsx_usage_error("-P: '%s' is not a directory", dir);
	fs->savedir = dir;
}

static void fsx_mark_dir_opt(struct fsx *fs, const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		fsx_usage_error("--mark-dir: '%s' is not a directory", dir);
	fs->mark_dir = dir;
}

static int fsx_off_flag(struct fsx *fs, int ch)
{
	for (size_t i = 0; i < sizeof(fsx_off_flags) / sizeof(fsx_off_flags[0]); i++) {
		if (fsx_off_flags[i].ch != ch)
			continue;
		fs->opt_off |= fsx_off_flags[i].bits;
		if (ch == 'k')
			fs->no_keep_size = 1;
		return 1;
	}
	return 0;
}

/* -x OP[,OP...]: turn each named operation off. */
static void fsx_off_list(struct fsx *fs, const char *list)
{
	char *copy = strdup(list), *save = NULL, *name;

	if (!copy)
		fsx_usage_error("out of memory");
	for (name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		int op;

		for (op = 0; op < FSX_OP_NR; op++)
			if (!strcmp(name, fsx_op_name(op)))
				break;
		if (op == FSX_OP_NR)
			fsx_usage_error("-x: unknown operation '%s'", name);
		fs->opt_off |= FSX_BIT(op);
		if (op == FSX_OP_FALLOC_KEEP)
			fs->no_keep_size = 1;
	}
	free(copy);
}

static void fsx_bad_option(int ch, char **argv)
{
	char name[32];

	if (ch == ':')
		fsx_usage_error("%s needs a value",
				optopt ? fsx_opt_name(optopt, name, sizeof(name))
				       : argv[optind - 1]);
	if (optopt)
		fsx_usage_error("unknown option '-%c'", optopt);
	fsx_usage_error("unknown option '%s'", argv[optind - 1]);
}

static void fsx_option(struct fsx *fs, int ch, char **argv)
{
	switch (ch) {
	case 'N':
		fs->nops = fsx_number(ch, optarg, 0, ULONG_MAX, 0);
		break;
	case 'S':
		fs->seed = fsx_number(ch, optarg, 0, UINT64_MAX, 0);
		break;
	case 'l':
		fs->maxlen = fsx_number(ch, optarg, 1, FSX_MAX_LENGTH, 1);
		break;
	case 'o':
		fs->maxop = fsx_number(ch, optarg, 1, FSX_MAX_LENGTH, 1);
		break;
	case 'q':
		fs->quiet = 1;
		break;
	case 'd':
		fs->debug = 1;
		break;
	case 'P':
		fsx_save_dir(fs, optarg);
		break;
	case 'p':
		fs->nproc = fsx_number(ch, optarg, 1, FSX_MAX_PROCS, 0);
		break;
	case FSX_OPT_EXEC:
		fs->exec_cmd = optarg;
		break;
	case 'x':
		fsx_off_list(fs, optarg);
		break;
	case FSX_OPT_EXEC_EVERY:
		fs->exec_every = fsx_number(ch, optarg, 1, ULONG_MAX, 0);
		break;
	case FSX_OPT_MARK:
		fs->mark_cmd = optarg;
		break;
	case FSX_OPT_MARK_DIR:
		fsx_mark_dir_opt(fs, optarg);
		break;
	case FSX_OPT_MSYNC_MAPWRITE:
		fs->msync_always = 1;
		break;
	case 'h':
		fsx_usage(stdout);
		exit(FSX_EXIT_OK);
	default:
		if (!fsx_off_flag(fs, ch))
			fsx_bad_option(ch, argv);
	}
}

static void fsx_parse(struct fsx *fs, int argc, char **argv)
{
	int ch, every_set = 0;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, fsx_short_opts, fsx_long_opts, NULL)) != -1) {
		if (ch == FSX_OPT_EXEC_EVERY)
			every_set = 1;
		fsx_option(fs, ch, argv);
	}
	if (optind == argc)
		fsx_usage_error("missing FILE");
	if (optind + 1 < argc)
		fsx_usage_error("one FILE only, got '%s' too", argv[optind + 1]);
	if (every_set && !fs->exec_cmd)
		fsx_usage_error("--exec-every needs --exec");
	if (fs->mark_dir && !fs->mark_cmd)
		fsx_usage_error("--mark-dir needs --mark");
	if (fs->mark_cmd && fs->nproc > 1)
		fsx_usage_error("--mark works with one process only");
	if (fs->opt_off == (1u << FSX_OP_NR) - 1)
		fsx_usage_error("every operation is turned off");
	fs->path = argv[optind];
	if (fs->maxop > fs->maxlen)
		fs->maxop = fs->maxlen;
}

static uint64_t fsx_random_seed(void)
{
	uint64_t s;

	if (getrandom(&s, sizeof(s), 0) != sizeof(s))
		s = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	return s % 2147483646 + 1;
}

/* Run the --exec command with $FSX_FILE = fs->path and $FSX_OP = fs->opnum;
 * 0 when it exited 0, else a description in @why. */
static int fsx_exec_cmd(struct fsx *fs, char *why, size_t why_len)
{
	char num[32];
	pid_t pid;
	int st;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		snprintf(num, sizeof(num), "%lu", fs->opnum);
		setenv("FSX_FILE", fs->path, 1);
		setenv("FSX_OP", num, 1);
		signal(SIGPIPE, SIG_DFL); /* the -p parent ignores it */
		execl("/bin/sh", "sh", "-c", fs->exec_cmd, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		snprintf(why, why_len, "%s", strerror(errno));
	else if (WIFSIGNALED(st))
		snprintf(why, why_len, "killed by signal %d", WTERMSIG(st));
	else if (WEXITSTATUS(st))
		snprintf(why, why_len, "exit status %d", WEXITSTATUS(st));
	else
		return 0;
	return -1;
}

/* Message from a child at an --exec point: its operation count. */
struct fsx_sync_msg {
	unsigned long opnum;
};

/* A child at an --exec point, its files closed: tell the parent, wait for its
 * answer ('G' go on; anything else: the command failed, the parent said so). */
static void fsx_sync_child(struct fsx *fs)
{
	struct fsx_sync_msg m = {.opnum = fs->opnum};
	char answer = 0;
	ssize_t n;

	fflush(stdout);
	if (write(fs->sync_up, &m, sizeof(m)) != sizeof(m)) {
		fprintf(stderr, "%sfoliofs-fsx: lost the parent: %s\n", fs->prefix,
			strerror(errno));
		exit(FSX_EXIT_USE);
	}
	do
		n = read(fs->sync_down, &answer, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || answer != 'G')
		exit(FSX_EXIT_USE);
}

/*
 * Close everything, run the --exec command, reopen and check the whole file.
 * A command that fails stops the run with status 2.
 */
static void fsx_exec(struct fsx *fs)
{
	char why[128];
	int err;

	fsx_close_all(fs);
	if (fs->sync_up >= 0) {
		fsx_sync_child(fs);
	} else if (fsx_exec_cmd(fs, why, sizeof(why))) {
		fprintf(stderr, "%sfoliofs-fsx: --exec command failed after op %lu (%s): %s\n",
			fs->prefix, fs->opnum, why, fs->exec_cmd);
		exit(FSX_EXIT_USE);
	}
	err = fsx_open_all(fs, 0);
	if (err)
		fsx_fail(fs, "reopening after --exec: %s", strerror(-err));
	fsx_check_file(fs, "whole-file check after --exec");
}

static void fsx_summary(struct fsx *fs)
{
	printf("%sfoliofs-fsx: %s: %lu ops passed, seed %" PRIu64 " (", fs->prefix, fs->path,
	       fs->opnum, fs->seed);
	for (int op = 0; op < FSX_OP_NR; op++)
		if (!(fs->opt_off & FSX_BIT(op)))
			printf("%s %lu, ", fsx_op_name(op), fs->counts[op]);
	printf("skipped %lu)\n", fs->skipped);
}

static void fsx_header(struct fsx *fs)
{
	if (fs->quiet)
		return;
	printf("%sfoliofs-fsx: %s: seed %" PRIu64 ", ", fs->prefix, fs->path, fs->seed);
	if (fs->nops)
		printf("%lu ops", fs->nops);
	else
		printf("no op limit");
	printf(", max length 0x%" PRIx64 ", max op 0x%" PRIx64 "\n", fs->maxlen, fs->maxop);
}

static void fsx_final_check(struct fsx *fs)
{
	int err;

	fsx_close_all(fs);
	err = fsx_open_all(fs, 0);
	if (err)
		fsx_fail(fs, "final reopen: %s", strerror(-err));
	fsx_check_file(fs, "final whole-file check");
}

/* One process's run on fs->path. Failures exit from inside. */
static int fsx_run(struct fsx *fs)
{
	int err = fsx_setup(fs);

	if (err) {
		fprintf(stderr, "%sfoliofs-fsx: %s: %s\n", fs->prefix, fs->path, strerror(-err));
		return FSX_EXIT_USE;
	}
	fsx_rng_seed(fs, fs->seed);
	fsx_header(fs);
	fsx_mark_start(fs);
	while (!fs->nops || fs->opnum < fs->nops) {
		uint64_t old_size = fs->size;

		fsx_mark_before(fs);
		fsx_do_op(fs);
		fsx_mark_after(fs, old_size);
		if (fs->exec_cmd && fs->opnum % fs->exec_every == 0)
			fsx_exec(fs);
		if (!fs->quiet && !fs->debug && fs->opnum % FSX_PROGRESS == 0)
			printf("%sfoliofs-fsx: %lu ops done\n", fs->prefix, fs->opnum);
	}
	fsx_final_check(fs);
	fsx_summary(fs);
	fsx_teardown(fs);
	return FSX_EXIT_OK;
}

static __attribute__((noreturn)) void fsx_child(struct fsx *fs, unsigned k, int up, int down)
{
	char *path, *prefix;

	if (asprintf(&path, "%s.%u", fs->path, k) < 0 || asprintf(&prefix, "[%u] ", k) < 0) {
		fprintf(stderr, "foliofs-fsx: out of memory\n");
		exit(FSX_EXIT_USE);
	}
	fs->path = path;
	fs->prefix = prefix;
	fs->seed += k;
	fs->nproc = 1;
	fs->sync_up = up;
	fs->sync_down = down;
	exit(fsx_run(fs));
}

/* Wait for one child; print why it failed. Return: its exit status for us. */
static int fsx_reap(struct fsx *fs, pid_t pid, unsigned k)
{
	int st;

	if (waitpid(pid, &st, 0) < 0) {
		fprintf(stderr, "foliofs-fsx: waiting for process %u: %s\n", k, strerror(errno));
		return FSX_EXIT_FAIL;
	}
	if (WIFEXITED(st) && !WEXITSTATUS(st))
		return FSX_EXIT_OK;
	printf("foliofs-fsx: process %u (%s.%u, seed %" PRIu64 ") failed: %s %d\n", k, fs->path, k,
	       fs->seed + k, WIFEXITED(st) ? "exit status" : "killed by signal",
	       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	if (WIFEXITED(st) && WEXITSTATUS(st) == FSX_EXIT_USE)
		return FSX_EXIT_USE;
	return FSX_EXIT_FAIL;
}

/* The parent's ends of the --exec pipes, one pair per child; -1 when closed. */
struct fsx_sync {
	int up[FSX_MAX_PROCS];	 /* read: a child at an --exec point, or EOF */
	int down[FSX_MAX_PROCS]; /* write: the answer */
};

/* Pipes for child @k; in the child, @up and @down are its own ends. */
static int fsx_sync_pipes(struct fsx_sync *sy, unsigned k, int *up, int *down)
{
	int u[2], d[2];

	if (pipe2(u, O_CLOEXEC))
		return -errno;
	if (pipe2(d, O_CLOEXEC)) {
		close(u[0]);
		close(u[1]);
		return -errno;
	}
	sy->up[k] = u[0];
	sy->down[k] = d[1];
	*up = u[1];
	*down = d[0];
	return 0;
}

/* In a new child: drop the parent's ends of every pipe made so far. */
static void fsx_sync_child_close(struct fsx_sync *sy, unsigned upto)
{
	for (unsigned i = 0; i <= upto; i++) {
		close(sy->up[i]);
		close(sy->down[i]);
	}
}

/* One round: wait until every running child has stopped at an --exec point
 * (or exited), run the command once, answer them. 0 when no child is left. */
static int fsx_sync_round(struct fsx *fs, struct fsx_sync *sy, unsigned n, int *worst)
{
	struct fsx_sync_msg m;
	unsigned waiting = 0;
	char why[128], answer = 'G';
	int stopped[FSX_MAX_PROCS] = {0};

	for (unsigned k = 0; k < n; k++) {
		ssize_t r;

		if (sy->up[k] < 0)
			continue;
		do
			r = read(sy->up[k], &m, sizeof(m));
		while (r < 0 && errno == EINTR);
		if (r == sizeof(m)) {
			stopped[k] = 1;
			waiting++;
			continue;
		}
		close(sy->up[k]);
		close(sy->down[k]);
		sy->up[k] = sy->down[k] = -1;
	}
	if (!waiting)
		return 0;
	fs->opnum = m.opnum;
	if (fsx_exec_cmd(fs, why, sizeof(why))) {
		fprintf(stderr, "foliofs-fsx: --exec command failed after op %lu (%s): %s\n",
			fs->opnum, why, fs->exec_cmd);
		answer = 'S';
		*worst = FSX_EXIT_USE;
	}
	for (unsigned k = 0; k < n; k++)
		if (stopped[k] && write(sy->down[k], &answer, 1) != 1)
			fprintf(stderr, "foliofs-fsx: process %u: %s\n", k, strerror(errno));
	return 1;
}

static int fsx_multi(struct fsx *fs)
{
	pid_t pids[FSX_MAX_PROCS];
	struct fsx_sync sy;
	unsigned started;
	int worst = FSX_EXIT_OK, up = -1, down = -1;

	if (!fs->quiet)
		printf("foliofs-fsx: %u processes on %s.0 .. %s.%u, seeds %" PRIu64 " .. %" PRIu64
		       "\n",
		       fs->nproc, fs->path, fs->path, fs->nproc - 1, fs->seed,
		       fs->seed + fs->nproc - 1);
	fflush(stdout);
	for (started = 0; started < fs->nproc; started++) {
		if (fs->exec_cmd && fsx_sync_pipes(&sy, started, &up, &down)) {
			fprintf(stderr, "foliofs-fsx: pipe: %s\n", strerror(errno));
			worst = FSX_EXIT_USE;
			break;
		}
		pids[started] = fork();
		if (pids[started] == 0) {
			if (fs->exec_cmd)
				fsx_sync_child_close(&sy, started);
			fsx_child(fs, started, up, down);
		}
		if (fs->exec_cmd) {
			close(up);
			close(down);
		}
		if (pids[started] < 0) {
			fprintf(stderr, "foliofs-fsx: fork: %s\n", strerror(errno));
			worst = FSX_EXIT_USE;
			if (fs->exec_cmd) {
				close(sy.up[started]);
				close(sy.down[started]);
			}
			break;
		}
	}
	/* A child killed while stopped must not take the parent with it. */
	if (fs->exec_cmd)
		signal(SIGPIPE, SIG_IGN);
	if (fs->exec_cmd)
		while (fsx_sync_round(fs, &sy, started, &worst))
			;
	for (unsigned k = 0; k < started; k++) {
		int st = fsx_reap(fs, pids[k], k);

		if (st > worst)
			worst = st;
	}
	if (worst == FSX_EXIT_OK)
		printf("foliofs-fsx: all %u processes passed (seeds %" PRIu64 " .. %" PRIu64 ")\n",
		       fs->nproc, fs->seed, fs->seed + fs->nproc - 1);
	return worst;
}

/**
 * main - parse the options, pick a seed, run one process or NPROC of them
 * @argc: argument count
 * @argv: arguments (see fsx_usage())
 *
 * Context: process start.
 * Return: 0 when every check passed, 1 when one failed, 2 for bad usage, a setup
 * failure or a failing --exec command.
 */
int main(int argc, char **argv)
{
	struct fsx fs = {
		.nops = FSX_DEF_OPS,
		.maxlen = FSX_DEF_MAXLEN,
		.maxop = FSX_DEF_MAXOP,
		.nproc = 1,
		.exec_every = FSX_DEF_EXEC_EVERY,
		.prefix = "",
		.fd = -1,
		.dio_fd = -1,
		.sync_up = -1,
		.sync_down = -1,
	};

	fsx_parse(&fs, argc, argv);
	if (!fs.seed)
		fs.seed = fsx_random_seed();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (fs.nproc > 1)
		return fsx_multi(&fs);
	return fsx_run(&fs);
}
