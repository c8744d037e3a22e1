/*
 * tools/crash.c - foliofs-crash: build the images a crash could leave, from a
 * base image and the write log of backing/logwrites.c (-o debug_logwrites).
 *
 *   foliofs-crash list LOG                   every entry, one a line
 *   foliofs-crash states LOG [-k N] [-S SEED]  the crash states to try
 *   foliofs-crash write LOG BASE STATE OUT [-t BYTES]  one state's image
 *
 * A crash state is named by a string that rebuilds it exactly:
 *   prefix:N        the first N entries all reached the media (N is the
 *                   crash point: entries 0..N-1 were issued before it)
 *   subset:N:SEED   crash point N; everything up to and including the last
 *                   successful flush before N reached the media, every FUA
 *                   write before N too, and of the other writes and discards
 *                   issued since that flush a random subset (seeded by SEED
 *                   and N) did: each one is kept with probability 1/2, and a
 *                   kept write longer than one tear unit is torn one time in
 *                   four: only a random prefix of its units lands (the torn
 *                   writes of backing/faulty.c). Kept writes are applied in
 *                   log order, so a sector holds the newest kept write to it.
 *
 * `states` lists, one a line, "STATE<TAB>POINT<TAB>MARKS": for every
 * successful flush or FUA write, the prefix that ends right before the next
 * write or discard after it (the image right after the flush, with every mark
 * logged before the next change), and the whole log (the device wrote
 * everything). Then, for every
 * stretch between two flushes (and after the last) with at least one write or
 * discard, -k (default 2) subset states, each with a crash point drawn after
 * the stretch's first write and at most its closing flush (that flush issued,
 * not completed). MARKS is how many marks are guaranteed in the state.
 *
 * Marks: a mark logged at entry m is guaranteed in every state whose crash
 * point N is past it (m < N). Reason: every state keeps all entries up to the
 * last successful flush before N and every FUA write before N. A workload
 * writes a mark only after its fsync (or O_SYNC write, or foliofs-ctl sync)
 * returned, and the filesystem returns only after the flush (or FUA write)
 * that made the data durable completed; the wrapper logs requests in the
 * order they complete, so that flush is logged before the mark, hence before
 * N, hence kept. What was durable at a mark is therefore on every state
 * past it; the checker (tests/crash/) holds the filesystem to that. A CLOSE
 * entry (the wrapper closed at unmount) counts as a mark of everything: the
 * daemon claims everything durable once unmounted.
 *
 * `write` copies BASE (the image as it was before the logged mount: data
 * ranges only, so a sparse image stays sparse) to OUT and writes the state's
 * entries over it, each touched sector once (the newest kept write wins).
 * -t sets the tear unit (default 4096 bytes, a multiple of the log's lbs;
 * -t 512 tears inside 4 KiB blocks too).
 *
 * Exit status: 0 done; 1 a bad log or image or an I/O error; 2 bad usage.
 * A log cut short at its end (the daemon was killed in an append) is used up
 * to its last whole entry, with a note on stderr.
 */
#include "config.h"

#include "backing/logwrites.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CRASH_DEF_TEAR	  4096u
#define CRASH_DEF_SUBSETS 2u
#define CRASH_COPY_CHUNK  (1u << 20)

struct crash_entry {
	struct lw_entry e;
	char *label; /* marks */
};

struct crash_log {
	struct lw_log lw;
	struct crash_entry *ents;
	uint64_t n;
	bool cut; /* the file ended in the middle of an entry */
};

struct crash_state {
	uint64_t point; /* entries 0..point-1 issued */
	bool subset;	/* else a prefix */
	uint64_t seed;
	uint64_t *keep; /* per entry: 0 skip, UINT64_MAX whole, k: first k tear units */
};

static void usage(FILE *f)
{
	fputs("usage: foliofs-crash list LOG\n"
	      "       foliofs-crash states LOG [-k SUBSETS] [-S SEED]\n"
	      "       foliofs-crash write LOG BASE STATE OUT [-t TEAR_BYTES]\n"
	      "STATE is prefix:N or subset:N:SEED (see `states`)\n",
	      f);
}

static bool is_flush_point(const struct lw_entry *e)
{
	return !e->status &&
	       (e->type == LW_FLUSH || (e->type == LW_WRITE && (e->flags & LW_F_FUA)));
}

static bool changes_media(const struct lw_entry *e)
{
	return e->type == LW_WRITE || (e->type == LW_DISCARD && !e->status);
}

/* ---- loading a log ---- */

static int load_label(struct crash_log *log, struct crash_entry *ce)
{
	ce->label = calloc(1, ce->e.payload + 1);
	if (!ce->label)
		return -ENOMEM;
	return lw_log_payload(&log->lw, &ce->e, 0, ce->label, ce->e.payload);
}

static int log_load(const char *path, struct crash_log *log)
{
	uint64_t cap = 0;
	struct lw_entry e;
	int r;

	memset(log, 0, sizeof(*log));
	r = lw_log_open(path, &log->lw);
	if (r) {
		if (r != -EBADMSG)
			fprintf(stderr, "foliofs-crash: %s: %s\n", path, strerror(-r));
		return r;
	}
	while ((r = lw_log_next(&log->lw, &e)) == 1) {
		if (log->n == cap) {
			struct crash_entry *n;

			cap = cap ? 2 * cap : 1024;
			n = realloc(log->ents, cap * sizeof(*n));
			if (!n)
				return -ENOMEM;
			log->ents = n;
		}
		log->ents[log->n] = (struct crash_entry){.e = e};
		if (e.type == LW_MARK && load_label(log, &log->ents[log->n]))
			return -EIO;
		log->n++;
	}
	if (r == -EBADMSG) {
		log->cut = true;
		fprintf(stderr,
			"foliofs-crash: %s: cut short after entry %" PRIu64
			" (the writer was killed); using the whole entries\n",
			path, log->n);
		r = 0;
	}
	return r;
}

static void log_free(struct crash_log *log)
{
	for (uint64_t i = 0; i < log->n; i++)
		free(log->ents[i].label);
	free(log->ents);
	lw_log_close(&log->lw);
}

/* ---- list ---- */

static int cmd_list(const char *path)
{
	struct crash_log log;
	uint64_t counts[LW_CLOSE + 1] = {0}, bytes = 0;
	int r = log_load(path, &log);

	if (r)
		return 1;
	printf("# lbs %u device %" PRIu64 " bytes\n", log.lw.lbs, log.lw.dev_size);
	for (uint64_t i = 0; i < log.n; i++) {
		const struct lw_entry *e = &log.ents[i].e;

		counts[e->type]++;
		printf("%" PRIu64 " %s", e->seq, lw_type_name(e->type));
		if (e->type == LW_WRITE || e->type == LW_DISCARD) {
			printf(" %" PRIu64 " %" PRIu64, e->off, e->len);
			bytes += e->type == LW_WRITE ? e->len : 0;
		}
		if (e->flags & LW_F_FUA)
			printf(" fua");
		if (e->status)
			printf(" error %d", e->status);
		if (e->type == LW_MARK)
			printf(" %s", log.ents[i].label);
		putchar('\n');
	}
	printf("# entries %" PRIu64 " writes %" PRIu64 " bytes %" PRIu64 " flushes %" PRIu64
	       " discards %" PRIu64 " marks %" PRIu64 " close %" PRIu64 " cut %d\n",
	       log.n, counts[LW_WRITE], bytes, counts[LW_FLUSH], counts[LW_DISCARD],
	       counts[LW_MARK], counts[LW_CLOSE], log.cut ? 1 : 0);
	log_free(&log);
	return 0;
}

/* ---- which entries a state keeps ---- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Index just past the last successful flush before @point (0 if none). */
static uint64_t last_flush_end(const struct crash_log *log, uint64_t point)
{
	for (uint64_t i = point; i-- > 0;)
		if (log->ents[i].e.type == LW_FLUSH && !log->ents[i].e.status)
			return i + 1;
	return 0;
}

static uint64_t marks_before(const struct crash_log *log, uint64_t point)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < point; i++)
		n += log->ents[i].e.type == LW_MARK || log->ents[i].e.type == LW_CLOSE;
	return n;
}

/* Fill st->keep for the subset rule (see the top of this file). */
static void plan_subset(const struct crash_log *log, struct crash_state *st, uint32_t tear)
{
	uint64_t from = last_flush_end(log, st->point);
	uint64_t rng = st->seed * 0x100000001B3ull ^ st->point;

	for (uint64_t i = from; i < st->point; i++) {
		const struct lw_entry *e = &log->ents[i].e;
		uint64_t units = (e->len + tear - 1) / tear;

		if (!changes_media(e) || (e->flags & LW_F_FUA))
			continue;
		if (!(splitmix64(&rng) & 1)) {
			st->keep[i] = 0;
			continue;
		}
		if (e->type == LW_WRITE && units > 1 && splitmix64(&rng) % 4 == 0)
			st->keep[i] = 1 + splitmix64(&rng) % (units - 1);
	}
}

static int parse_state(const char *spec, struct crash_state *st)
{
	char *end;

	memset(st, 0, sizeof(*st));
	if (!strncmp(spec, "prefix:", 7)) {
		st->point = strtoull(spec + 7, &end, 10);
		return *end || end == spec + 7 ? -EINVAL : 0;
	}
	if (strncmp(spec, "subset:", 7))
		return -EINVAL;
	st->subset = true;
	st->point = strtoull(spec + 7, &end, 10);
	if (*end != ':' || end == spec + 7)
		return -EINVAL;
	spec = end + 1;
	st->seed = strtoull(spec, &end, 10);
	return *end || end == spec ? -EINVAL : 0;
}

static int plan_state(const struct crash_log *log, struct crash_state *st, uint32_t tear)
{
	if (st->point > log->n)
		return -ERANGE;
	st->keep = calloc(log->n + 1, sizeof(*st->keep));
	if (!st->keep)
		return -ENOMEM;
	for (uint64_t i = 0; i < st->point; i++)
		st->keep[i] = changes_media(&log->ents[i].e) ? UINT64_MAX : 0;
	if (st->subset)
		plan_subset(log, st, tear);
	return 0;
}

/* ---- states ---- */

static void print_state(const struct crash_log *log, const char *spec, uint64_t point)
{
	printf("%s\t%" PRIu64 "\t%" PRIu64 "\n", spec, point, marks_before(log, point));
}

/* Prefix states: one after each flush point, reaching up to the next write
 * or discard (same image, every mark before it), and the whole log. */
static void list_prefixes(const struct crash_log *log)
{
	bool pending = false; /* a flush point not yet listed */
	char spec[64];

	for (uint64_t i = 0; i < log->n; i++) {
		const struct lw_entry *e = &log->ents[i].e;

		if (pending && changes_media(e)) {
			snprintf(spec, sizeof(spec), "prefix:%" PRIu64, i);
			print_state(log, spec, i);
			pending = false;
		}
		if (is_flush_point(e))
			pending = true;
	}
	snprintf(spec, sizeof(spec), "prefix:%" PRIu64, log->n);
	print_state(log, spec, log->n);
}

/* Subset states: @k per stretch between flushes that changes the media. */
static void list_subsets(const struct crash_log *log, unsigned k, uint64_t seed)
{
	uint64_t start = 0, stretch = 0;
	char spec[96];

	while (start < log->n) {
		uint64_t first = UINT64_MAX, end = start;

		for (; end < log->n; end++) {
			const struct lw_entry *e = &log->ents[end].e;

			if (first == UINT64_MAX && changes_media(e))
				first = end;
			if (e->type == LW_FLUSH && !e->status)
				break;
		}
		/* crash points first+1 .. min(end, n): the flush at end issued, not done */
		if (first != UINT64_MAX) {
			uint64_t last = end < log->n ? end : log->n;
			uint64_t rng = seed ^ (stretch * 0xD1B54A32D192ED03ull);

			for (unsigned j = 0; j < k; j++) {
				uint64_t point = first + 1 + splitmix64(&rng) % (last - first);
				uint64_t s = splitmix64(&rng) % 1000000000ull;

				snprintf(spec, sizeof(spec), "subset:%" PRIu64 ":%" PRIu64, point,
					 s);
				print_state(log, spec, point);
			}
		}
		stretch++;
		start = end + 1;
	}
}

static int cmd_states(const char *path, unsigned k, uint64_t seed)
{
	struct crash_log log;

	if (log_load(path, &log))
		return 1;
	list_prefixes(&log);
	list_subsets(&log, k, seed);
	log_free(&log);
	return 0;
}

/* ---- write ---- */

/* Copy @in's data ranges to @out (already as long as @in). */
static int copy_image(int in, int out, uint64_t size)
{
	off_t pos = 0;

	while ((uint64_t)pos < size) {
		off_t data = lseek(in, pos, SEEK_DATA), hole;

		if (data < 0)
			return errno == ENXIO ? 0 : -errno;
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		for (off_t at = data; at < hole;) {
			off_t o_in = at, o_out = at;
			ssize_t n = copy_file_range(in, &o_in, out, &o_out, (size_t)(hole - at), 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			at += n;
		}
		pos = hole;
	}
	return 0;
}

/* Where each sector's bytes come from: entry + 1 (0: untouched), and the
 * sector's index inside that entry's range; a discard zeroes. */
struct sector_src {
	uint32_t entry_plus1;
	uint32_t index;
};

static int map_state(const struct crash_log *log, const struct crash_state *st, uint32_t tear,
		     struct sector_src *map)
{
	uint32_t lbs = log->lw.lbs;

	for (uint64_t i = 0; i < st->point; i++) {
		const struct lw_entry *e = &log->ents[i].e;
		uint64_t len = e->len;

		if (!st->keep[i])
			continue;
		if (i >= UINT32_MAX || e->off % lbs || e->len % lbs)
			return -EINVAL;
		if (st->keep[i] != UINT64_MAX && st->keep[i] * tear < len)
			len = st->keep[i] * tear;
		for (uint64_t s = 0; s < len / lbs; s++)
			map[e->off / lbs + s] = (struct sector_src){
				.entry_plus1 = (uint32_t)i + 1,
				.index = e->type == LW_DISCARD ? UINT32_MAX : (uint32_t)s,
			};
	}
	return 0;
}

/* Write sectors [s, s+run) of the state, all from one source, to @fd. */
static int write_run(const struct crash_log *log, int fd, const struct sector_src *src, uint64_t s,
		     uint64_t run, char *buf)
{
	uint32_t lbs = log->lw.lbs;
	const struct crash_entry *ce = &log->ents[src->entry_plus1 - 1];
	uint64_t len = run * lbs;
	int r = 0;

	if (src->index == UINT32_MAX)
		memset(buf, 0, len);
	else
		r = lw_log_payload(&log->lw, &ce->e, (uint64_t)src->index * lbs, buf, len);
	if (!r && pwrite(fd, buf, len, (off_t)(s * lbs)) != (ssize_t)len)
		r = -EIO;
	return r;
}

static int apply_map(const struct crash_log *log, int fd, const struct sector_src *map,
		     uint64_t nsec)
{
	uint32_t lbs = log->lw.lbs, max_run = CRASH_COPY_CHUNK / lbs;
	char *buf = malloc(CRASH_COPY_CHUNK);
	int r = buf ? 0 : -ENOMEM;

	for (uint64_t s = 0; !r && s < nsec;) {
		uint64_t run = 1;

		if (!map[s].entry_plus1) {
			s++;
			continue;
		}
		while (s + run < nsec && run < max_run &&
		       map[s + run].entry_plus1 == map[s].entry_plus1 &&
		       (map[s].index == UINT32_MAX ? map[s + run].index == UINT32_MAX
						   : map[s + run].index == map[s].index + run))
			run++;
		r = write_run(log, fd, &map[s], s, run, buf);
		s += run;
	}
	free(buf);
	return r;
}

static int build_image(const struct crash_log *log, const struct crash_state *st, uint32_t tear,
		       const char *base, const char *out)
{
	uint64_t nsec = log->lw.dev_size / log->lw.lbs;
	struct sector_src *map = calloc(nsec ? nsec : 1, sizeof(*map));
	int in = open(base, O_RDONLY | O_CLOEXEC), fd = -1, r = 0;
	struct stat sb;

	if (!map || in < 0 || fstat(in, &sb)) {
		r = map ? -errno : -ENOMEM;
		goto out;
	}
	if ((uint64_t)sb.st_size < log->lw.dev_size) {
		fprintf(stderr, "foliofs-crash: %s is smaller than the logged device\n", base);
		r = -EINVAL;
		goto out;
	}
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, sb.st_size)) {
		r = -errno;
		goto out;
	}
	r = copy_image(in, fd, (uint64_t)sb.st_size);
	if (!r)
		r = map_state(log, st, tear, map);
	if (!r)
		r = apply_map(log, fd, map, nsec);
out:
	if (fd >= 0 && close(fd) && !r)
		r = -errno;
	if (in >= 0)
		close(in);
	free(map);
	return r;
}

static int cmd_write(const char *path, const char *base, const char *spec, const char *out,
		     uint32_t tear)
{
	struct crash_log log;
	struct crash_state st;
	uint64_t kept = 0, torn = 0, dropped = 0;
	int r;

	if (parse_state(spec, &st)) {
		fprintf(stderr, "foliofs-crash: bad state '%s' (prefix:N or subset:N:SEED)\n",
			spec);
		return 2;
	}
	if (log_load(path, &log))
		return 1;
	if (tear % log.lw.lbs || !tear) {
		fprintf(stderr, "foliofs-crash: -t %u is not a multiple of the log's lbs %u\n",
			tear, log.lw.lbs);
		log_free(&log);
		return 2;
	}
	r = plan_state(&log, &st, tear);
	if (r == -ERANGE)
		fprintf(stderr, "foliofs-crash: %s: the log has only %" PRIu64 " entries\n", spec,
			log.n);
	if (!r)
		r = build_image(&log, &st, tear, base, out);
	if (r && r != -ERANGE)
		fprintf(stderr, "foliofs-crash: %s: %s\n", out, strerror(-r));
	for (uint64_t i = 0; !r && i < st.point; i++) {
		if (!changes_media(&log.ents[i].e))
			continue;
		kept += st.keep[i] == UINT64_MAX;
		torn += st.keep[i] && st.keep[i] != UINT64_MAX;
		dropped += !st.keep[i];
	}
	if (!r)
		printf("%s: point %" PRIu64 " marks %" PRIu64 " kept %" PRIu64 " torn %" PRIu64
		       " dropped %" PRIu64 "\n",
		       spec, st.point, marks_before(&log, st.point), kept, torn, dropped);
	free(st.keep);
	log_free(&log);
	return r ? 1 : 0;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return *s >= '0' && *s <= '9' && !*end && !errno;
}

int main(int argc, char **argv)
{
	uint64_t k = CRASH_DEF_SUBSETS, seed = 1, tear = CRASH_DEF_TEAR;
	char *pos[5];
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		uint64_t *v = !strcmp(a, "-k")	 ? &k
			      : !strcmp(a, "-S") ? &seed
			      : !strcmp(a, "-t") ? &tear
						 : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (v) {
			if (i + 1 == argc || !parse_u64(argv[++i], v) ||
			    (v != &seed && *v > UINT32_MAX)) {
				usage(stderr);
				return 2;
			}
			continue;
		}
		if (npos == 5 || (a[0] == '-' && a[1])) {
			usage(stderr);
			return 2;
		}
		pos[npos++] = argv[i];
	}
	if (npos == 2 && !strcmp(pos[0], "list"))
		return cmd_list(pos[1]);
	if (npos == 2 && !strcmp(pos[0], "states"))
		return cmd_states(pos[1], (unsigned)k, seed);
	if (npos == 5 && !strcmp(pos[0], "write"))
		return cmd_write(pos[1], pos[2], pos[3], pos[4], (uint32_t)tear);
	usage(stderr);
	return 2;
}
