/*
 * tests/unit/test_logwrites.c - the recording wrapper (backing/logwrites.c)
 * and the reader of its log.
 *
 *  - every request reaches the lower device and is logged once, with its
 *    kind, range, bytes and result; marks and the closing entry too;
 *  - the log's order is the lower device's order: eight threads write,
 *    flush, discard and mark at once over a lower device that records the
 *    order in which it served them, and the two sequences must be equal;
 *  - a failed lower request is logged with its error; a failed append (the
 *    log's file size limit) fails the request and every later one, and the
 *    reader stops at the cut-short entry;
 *  - the reader refuses a file that is not a log and stops at a damaged or
 *    cut-short entry, keeping the ones before it.
 */
#include "config.h"

#include "backing/logwrites.h"
#include "tests/lib/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLK	 512u
#define NBLOCKS	 256u
#define NTHREADS 8
#define PER_THR	 200

static char tmpdir[] = "/tmp/test_logwrites.XXXXXX";
static char logpath[PATH_MAX];

static void fill(void *buf, size_t len, unsigned seed)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 37u + i * 11u + (i >> 8));
}

/* ---- a lower device that records the order it serves requests in ---- */

struct rec_op {
	enum lw_type type;
	uint64_t off, len;
};

struct recdev {
	struct bdev bdev;
	struct bdev *mem;
	pthread_mutex_t lock;
	struct rec_op *ops;
	size_t n, cap;
};

static void rec_add(struct recdev *r, enum lw_type type, uint64_t off, uint64_t len)
{
	pthread_mutex_lock(&r->lock);
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 256;
		r->ops = realloc(r->ops, r->cap * sizeof(*r->ops));
		if (!r->ops)
			BAIL("out of memory");
	}
	r->ops[r->n++] = (struct rec_op){.type = type, .off = off, .len = len};
	pthread_mutex_unlock(&r->lock);
}

static int rec_readv(struct bdev *b, uint64_t off, const struct iovec *iov, int n)
{
	return bdev_readv(((struct recdev *)b->priv)->mem, off, iov, n);
}

/* The write lands, then a short pause, then it is recorded: without the
 * wrapper's serialisation another thread's request would often be recorded
 * in between and the orders would differ. */
static int rec_writev(struct bdev *b, uint64_t off, const struct iovec *iov, int n)
{
	struct recdev *r = b->priv;
	uint64_t len = 0;
	int ret = bdev_writev(r->mem, off, iov, n);

	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	usleep(20);
	rec_add(r, LW_WRITE, off, len);
	return ret;
}

static int rec_flush(struct bdev *b)
{
	usleep(20);
	rec_add(b->priv, LW_FLUSH, 0, 0);
	return 0;
}

static int rec_discard(struct bdev *b, uint64_t off, uint64_t len)
{
	struct recdev *r = b->priv;
	int ret = bdev_discard(r->mem, off, len);

	rec_add(r, LW_DISCARD, off, len);
	return ret;
}

static void rec_close(struct bdev *b)
{
	(void)b; /* the test frees the recorder itself */
}

static const struct bdev_ops rec_ops = {
	.readv = rec_readv,
	.writev = rec_writev,
	.flush = rec_flush,
	.discard = rec_discard,
	.close = rec_close,
};

static void rec_init(struct recdev *r)
{
	memset(r, 0, sizeof(*r));
	if (bdev_mem_create((uint64_t)NBLOCKS * BLK, BLK, &r->mem))
		BAIL("mem device");
	pthread_mutex_init(&r->lock, NULL);
	r->bdev.ops = &rec_ops;
	r->bdev.size = r->mem->size;
	r->bdev.lbs = BLK;
	r->bdev.dio_align = 1;
	r->bdev.name = "recdev";
	r->bdev.priv = r;
}

static void rec_destroy(struct recdev *r)
{
	bdev_close(r->mem);
	pthread_mutex_destroy(&r->lock);
	free(r->ops);
}

/* ---- reading a log back ---- */

struct entries {
	struct lw_entry *e;
	size_t n;
	int end; /* what lw_log_next returned last: 0 or -EBADMSG */
};

static void read_log(struct lw_log *log, struct entries *out)
{
	struct lw_entry e;
	int r;

	memset(out, 0, sizeof(*out));
	while ((r = lw_log_next(log, &e)) == 1) {
		out->e = realloc(out->e, (out->n + 1) * sizeof(e));
		if (!out->e)
			BAIL("out of memory");
		out->e[out->n++] = e;
	}
	out->end = r;
}

static bool payload_is(struct lw_log *log, const struct lw_entry *e, const void *want, size_t len)
{
	char *buf = malloc(len ? len : 1);
	bool same = buf && e->payload == len && !lw_log_payload(log, e, 0, buf, len) &&
		    !memcmp(buf, want, len);

	free(buf);
	return same;
}

/* ---- tests ---- */

static void test_basic(void)
{
	struct bdev *mem, *b;
	struct logwrites *lw;
	struct lw_log log;
	struct entries es;
	char *a = malloc(4 * BLK), *c = malloc(2 * BLK), *rd = malloc(4 * BLK);
	struct iovec iov[3] = {
		{.iov_base = c, .iov_len = 100},
		{.iov_base = c + 100, .iov_len = 2 * BLK - 300},
		{.iov_base = c + 2 * BLK - 200, .iov_len = 200},
	};

	if (!a || !c || !rd || bdev_mem_create((uint64_t)NBLOCKS * BLK, BLK, &mem))
		BAIL("setup");
	fill(a, 4 * BLK, 1);
	fill(c, 2 * BLK, 2);
	is_int(bdev_logwrites_create(mem, logpath, &b, &lw), 0, "basic: wrapper created");
	is_u64(b->size, mem->size, "basic: same size as the lower device");
	is_int(b->lbs, BLK, "basic: same lbs");
	is_int(bdev_write(b, 8 * BLK, a, 4 * BLK), 0, "basic: write of 4 blocks");
	is_int(logwrites_mark(lw, "after write 1"), 0, "basic: mark");
	is_int(bdev_flush(b), 0, "basic: flush");
	is_int(bdev_writev(b, 20 * BLK, iov, 3), 0, "basic: writev of 3 segments");
	is_int(bdev_discard(b, 8 * BLK, BLK), 0, "basic: discard");
	is_int(bdev_read(b, 8 * BLK, rd, 4 * BLK), 0, "basic: read through the wrapper");
	ok(!memcmp(rd + BLK, a + BLK, 3 * BLK), "basic: reads see the lower device's bytes");
	is_u64(logwrites_entries(lw), 5, "basic: 5 entries (reads are not logged)");
	is_int(logwrites_mark(lw, ""), -EINVAL, "basic: empty label refused");
	is_int(logwrites_mark(lw, "two\nlines"), -EINVAL, "basic: label with a newline refused");
	{
		char *big = malloc(LW_LABEL_MAX + 2);

		memset(big, 'x', LW_LABEL_MAX + 1);
		big[LW_LABEL_MAX + 1] = '\0';
		is_int(logwrites_mark(lw, big), -EINVAL, "basic: label over LW_LABEL_MAX refused");
		big[LW_LABEL_MAX] = '\0';
		is_int(logwrites_mark(lw, big), 0, "basic: label of LW_LABEL_MAX bytes taken");
		free(big);
	}
	bdev_close(b);

	is_int(lw_log_open(logpath, &log), 0, "basic: log opens");
	is_int(log.lbs, BLK, "basic: header lbs");
	is_u64(log.dev_size, (uint64_t)NBLOCKS * BLK, "basic: header device size");
	read_log(&log, &es);
	is_int(es.end, 0, "basic: log ends cleanly");
	is_int((int)es.n, 7, "basic: 7 entries (5, the long mark, close)");
	if (es.n == 7) {
		is_int(es.e[0].type, LW_WRITE, "basic: 0 write");
		ok(es.e[0].off == 8 * BLK && es.e[0].len == 4 * BLK && !es.e[0].status,
		   "basic: 0 range and status");
		ok(payload_is(&log, &es.e[0], a, 4 * BLK), "basic: 0 carries the written bytes");
		is_int(es.e[1].type, LW_MARK, "basic: 1 mark");
		ok(payload_is(&log, &es.e[1], "after write 1", 13), "basic: 1 label");
		is_int(es.e[2].type, LW_FLUSH, "basic: 2 flush");
		is_int(es.e[3].type, LW_WRITE, "basic: 3 write");
		ok(es.e[3].off == 20 * BLK && payload_is(&log, &es.e[3], c, 2 * BLK),
		   "basic: 3 is the writev's 3 segments in order");
		is_int(es.e[4].type, LW_DISCARD, "basic: 4 discard");
		ok(es.e[4].off == 8 * BLK && es.e[4].len == BLK, "basic: 4 range");
		ok(es.e[5].type == LW_MARK && es.e[5].payload == LW_LABEL_MAX,
		   "basic: 5 the long mark");
		is_int(es.e[6].type, LW_CLOSE, "basic: 6 close");
		ok(es.e[6].seq == 6, "basic: sequence numbers 0..6");
	}
	free(es.e);
	lw_log_close(&log);
	free(a);
	free(c);
	free(rd);
}

struct thr_arg {
	struct bdev *b;
	struct logwrites *lw;
	unsigned id;
};

static void *thr_run(void *p)
{
	struct thr_arg *t = p;
	char buf[2 * BLK], label[32];

	for (unsigned i = 0; i < PER_THR; i++) {
		uint64_t blk = (t->id * 31u + i * 7u) % (NBLOCKS - 2);

		fill(buf, sizeof(buf), t->id * 1000 + i);
		switch (i % 10) {
		case 3:
			bdev_flush(t->b);
			break;
		case 6:
			bdev_discard(t->b, blk * BLK, BLK);
			break;
		case 8:
			snprintf(label, sizeof(label), "t%u i%u", t->id, i);
			logwrites_mark(t->lw, label);
			break;
		default:
			bdev_write(t->b, blk * BLK, buf, (i & 1) ? 2 * BLK : BLK);
		}
	}
	return NULL;
}

static void test_order(void)
{
	struct recdev rec;
	struct bdev *b;
	struct logwrites *lw;
	pthread_t th[NTHREADS];
	struct thr_arg args[NTHREADS];
	struct lw_log log;
	struct entries es;
	size_t j = 0, bad = SIZE_MAX, marks = 0;

	rec_init(&rec);
	if (bdev_logwrites_create(&rec.bdev, logpath, &b, &lw))
		BAIL("wrapper");
	for (int i = 0; i < NTHREADS; i++) {
		args[i] = (struct thr_arg){.b = b, .lw = lw, .id = (unsigned)i};
		pthread_create(&th[i], NULL, thr_run, &args[i]);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	bdev_close(b);
	if (lw_log_open(logpath, &log))
		BAIL("log");
	read_log(&log, &es);
	for (size_t i = 0; i < es.n; i++) {
		const struct lw_entry *e = &es.e[i];

		if (e->type == LW_MARK || e->type == LW_CLOSE) {
			marks += e->type == LW_MARK;
			continue;
		}
		if (j >= rec.n || rec.ops[j].type != e->type ||
		    (e->type != LW_FLUSH &&
		     (rec.ops[j].off != e->off || rec.ops[j].len != e->len))) {
			bad = i;
			break;
		}
		j++;
	}
	is_int(es.end, 0, "order: log ends cleanly");
	is_u64(es.n, (uint64_t)NTHREADS * PER_THR + 1, "order: every request and mark logged");
	is_u64(marks, (uint64_t)NTHREADS * PER_THR / 10, "order: every mark logged");
	ok(bad == SIZE_MAX && j == rec.n,
	   "order: the log's order is the order the lower device served them in",
	   bad == SIZE_MAX ? "" : "first difference at entry");
	if (bad != SIZE_MAX)
		diag("first difference at log entry %zu (lower request %zu)", bad, j);
	free(es.e);
	lw_log_close(&log);
	rec_destroy(&rec);
}

static void test_failures(void)
{
	struct bdev *mem, *f, *b;
	struct faulty *fc;
	struct logwrites *lw;
	struct lw_log log;
	struct entries es;
	struct rlimit old, lim;
	char buf[4 * BLK];

	fill(buf, sizeof(buf), 9);
	if (bdev_mem_create((uint64_t)NBLOCKS * BLK, BLK, &mem) || bdev_faulty_create(mem, &f, &fc))
		BAIL("setup");
	if (bdev_logwrites_create(f, logpath, &b, &lw))
		BAIL("wrapper");
	faulty_fail_range(fc, FAULTY_WRITE, 10 * BLK, BLK);
	is_int(bdev_write(b, 9 * BLK, buf, 2 * BLK), -EIO, "fail: the lower device's EIO returned");
	faulty_clear_ranges(fc);

	/* The log may not grow past its size now: the next write's entry is cut. */
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	{
		struct stat st;

		if (stat(logpath, &st))
			BAIL("stat");
		lim.rlim_cur = (rlim_t)st.st_size + 1000;
	}
	setrlimit(RLIMIT_FSIZE, &lim);
	is_int(bdev_write(b, 0, buf, 4 * BLK), -EFBIG,
	       "fail: an append that fails fails the write");
	setrlimit(RLIMIT_FSIZE, &old);
	is_int(bdev_flush(b), -EFBIG, "fail: and every later request");
	is_int(logwrites_mark(lw, "late"), -EFBIG, "fail: and every later mark");
	bdev_close(b);

	is_int(lw_log_open(logpath, &log), 0, "fail: log opens");
	read_log(&log, &es);
	is_int((int)es.n, 1, "fail: one whole entry");
	if (es.n == 1)
		ok(es.e[0].type == LW_WRITE && es.e[0].status == -EIO && es.e[0].off == 9 * BLK &&
			   payload_is(&log, &es.e[0], buf, 2 * BLK),
		   "fail: the failed write is logged with -EIO and its bytes");
	is_int(es.end, -EBADMSG, "fail: the reader stops at the cut-short entry");
	free(es.e);
	lw_log_close(&log);
}

static void test_reader(void)
{
	struct bdev *mem, *b;
	struct logwrites *lw;
	struct lw_log log;
	struct entries es;
	char buf[BLK];
	int fd;

	fill(buf, sizeof(buf), 4);
	if (bdev_mem_create((uint64_t)NBLOCKS * BLK, BLK, &mem) ||
	    bdev_logwrites_create(mem, logpath, &b, &lw))
		BAIL("setup");
	for (int i = 0; i < 4; i++)
		bdev_write(b, (uint64_t)i * BLK, buf, BLK);
	bdev_close(b);
	/* Cut the last entry (the close) in half, then damage entry 2's magic. */
	if (truncate(logpath, LW_HEADER_SIZE + 4 * (LW_ENTRY_SIZE + BLK) + LW_ENTRY_SIZE / 2))
		BAIL("truncate");
	is_int(lw_log_open(logpath, &log), 0, "reader: cut log opens");
	read_log(&log, &es);
	ok(es.n == 4 && es.end == -EBADMSG, "reader: 4 whole entries, then -EBADMSG");
	free(es.e);
	lw_log_close(&log);
	fd = open(logpath, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || pwrite(fd, "XXXX", 4, LW_HEADER_SIZE + 2 * (LW_ENTRY_SIZE + BLK)) != 4)
		BAIL("damage");
	close(fd);
	is_int(lw_log_open(logpath, &log), 0, "reader: damaged log opens");
	read_log(&log, &es);
	ok(es.n == 2 && es.end == -EBADMSG, "reader: 2 entries, then -EBADMSG at the damage");
	free(es.e);
	lw_log_close(&log);
	fd = open(logpath, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0 || write(fd,
			    "not a log at all, not a log at all, not a log at all, "
			    "not a log at all",
			    70) != 70)
		BAIL("junk");
	close(fd);
	is_int(lw_log_open(logpath, &log), -EBADMSG, "reader: a file that is not a log is refused");
	is_int(lw_log_open("/nonexistent/log", &log), -ENOENT, "reader: missing file: ENOENT");
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		BAIL("mkdtemp");
	snprintf(logpath, sizeof(logpath), "%s/log", tmpdir);
	test_basic();
	test_order();
	test_failures();
	test_reader();
	unlink(logpath);
	rmdir(tmpdir);
	return done_testing();
}
