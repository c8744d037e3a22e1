/*
 * tools/mkfs.c - mkfs.foliofs: write an empty foliofs onto an image.
 *
 *   mkfs.foliofs IMAGE [-b 1024|2048|4096] [-N inodes] [-I inode-size]
 *                [-L label] [-U uuid] [-s SIZE] [-J size=SIZE|none]
 *                [-m reserved-percent] [-f] [-q]
 *
 * Order of work, so that a refusal writes nothing: parse and validate every
 * option; probe the image (if it exists) for a filesystem signature; plan the
 * geometry from the size, and the journal's size and place; only then create
 * or extend the file (-s) and write: a zeroed block 0 (flushed), every
 * group's bitmaps, the descriptor table, the inode table blocks holding
 * inodes 1..8, the root directory's leaf, the journal (its superblock, then
 * zeros); a flush; the backup and primary superblocks; a flush. Other inode
 * table blocks are not written: an inode slot means something only while its
 * inode bitmap bit is set (docs/ON-DISK.md).
 *
 * The journal (docs/ON-DISK.md section 14) is made by default, sized by
 * folio_journal_default_blocks() as mke2fs sizes it, unless the filesystem
 * is too small for one (then silently none) or -J none. It is one run of
 * contiguous free blocks in a single group, the middle group first (as
 * mke2fs places it), so its size is capped by a group's free space.
 *
 * -m keeps that percentage of the blocks for root (s_reserved_blocks, as
 * mke2fs -m; the daemon refuses them to other users). The default is 0.
 *
 * Exit status: 0 on success, 1 for any error (one line on stderr).
 */
#include "config.h"

#include "backing/bdev.h"
#include "format/format.h"
#include "format/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PROG		 "mkfs.foliofs"
#define MKFS_MIN_BYTES	 (1ULL << 20)	 /* smallest filesystem mkfs makes */
#define MKFS_INODE_RATIO 8192		 /* default: one inode per this many bytes */
#define MKFS_GROUP_SLACK 16		 /* data blocks a group must offer beyond metadata */
#define MKFS_PROBE_BYTES 69632		 /* bytes read to look for a signature */
#define MKFS_LF_INO	 FOLIO_FIRST_INO /* lost+found */

struct mkfs_opts {
	const char *image;
	uint32_t block_shift;
	uint32_t inode_size;
	uint64_t inodes; /* 0: from MKFS_INODE_RATIO */
	uint64_t size;	 /* -s, 0 when not given */
	const char *label;
	uint8_t uuid[16];
	bool uuid_set;
	bool force;
	bool quiet;
	bool no_journal;       /* -J none */
	uint64_t jsize_bytes;  /* -J size=N[K|M|G], 0 when not given */
	uint64_t jsize_blocks; /* -J size=N (blocks), 0 when not given */
	unsigned reserved_pct; /* -m: percent of the blocks kept for root */
};

struct mkfs {
	struct mkfs_opts o;
	struct folio_geom g;
	struct bdev *bdev;
	uint32_t seed;
	uint64_t hash_seed[2];
	uint64_t root_block; /* root directory leaf */
	struct timespec now;
	uint8_t *buf; /* one block, aligned */
	struct folio_group_desc *gdt;
	uint64_t free_blocks;
	uint32_t free_inodes;
	uint64_t journal_block;	 /* first block of the journal */
	uint32_t journal_blocks; /* 0: no journal */
};

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

#define MKFS_USAGE                                                                                 \
	"usage: " PROG " IMAGE [-b 1024|2048|4096] [-N inodes] [-I 256|512|1024] [-L label]\n"     \
	"       [-U uuid|random] [-s SIZE[K|M|G|T]] [-J size=BLOCKS|SIZE[K|M|G]|none]\n"           \
	"       [-m reserved-percent] [-f] [-q]\n"

static void usage(void)
{
	fputs(MKFS_USAGE, stdout);
	exit(0);
}

/* ------------------------------------------------------------------ */
/* Option parsing                                                      */
/* ------------------------------------------------------------------ */

/* Parse "123", "64M", "1g" ... into bytes; false on any junk or overflow. */
static bool mkfs_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned shift = 0;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return false;
	if (*end) {
		const char *units = "KMGT";
		const char *u = strchr(units, *end & ~0x20);

		if (!u || !*u || end[1])
			return false;
		shift = 10 * (unsigned)(u - units + 1);
	}
	if (shift && v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

static bool mkfs_parse_uint(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && !*end;
}

static int mkfs_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into 16 bytes. */
static bool mkfs_parse_uuid(const char *s, uint8_t uuid[16])
{
	int n = 0;

	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		int hi, lo;

		if (dash) {
			if (s[i] != '-')
				return false;
			continue;
		}
		hi = mkfs_hexval(s[i]);
		lo = mkfs_hexval(s[++i]);
		if (hi < 0 || lo < 0)
			return false;
		uuid[n++] = (uint8_t)(hi << 4 | lo);
	}
	return n == 16;
}

/* Zeroed, 4096-aligned memory for device I/O (size rounded up), or exit. */
static void *mkfs_alloc(size_t size)
{
	size_t bytes = (size + 4095) / 4096 * 4096;
	void *p = aligned_alloc(4096, bytes ? bytes : 4096);

	if (!p)
		die("out of memory");
	memset(p, 0, bytes ? bytes : 4096);
	return p;
}

static void mkfs_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = getrandom(p, len, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("cannot get random bytes: %s", strerror(errno));
		}
		p += r;
		len -= (size_t)r;
	}
}

static void mkfs_random_uuid(uint8_t uuid[16])
{
	mkfs_random(uuid, 16);
	uuid[6] = (uuid[6] & 0x0f) | 0x40; /* version 4 */
	uuid[8] = (uuid[8] & 0x3f) | 0x80; /* RFC 4122 variant */
}

/* -J size=N (blocks), size=N[K|M|G] (bytes) or none. */
static void mkfs_opt_journal(struct mkfs_opts *o, const char *arg)
{
	const char *v = arg + 5;
	uint64_t n;

	o->no_journal = !strcmp(arg, "none");
	o->jsize_bytes = o->jsize_blocks = 0;
	if (o->no_journal)
		return;
	if (strncmp(arg, "size=", 5) || !*v)
		die("invalid journal option '%s' (use -J size=BLOCKS, -J size=SIZE[K|M|G] or "
		    "-J none)",
		    arg);
	if (mkfs_parse_uint(v, &n))
		o->jsize_blocks = n;
	else if (mkfs_parse_size(v, &n) && (v[strlen(v) - 1] | 0x20) != 't')
		o->jsize_bytes = n;
	if (!o->jsize_blocks && !o->jsize_bytes)
		die("invalid journal size '%s' (a block count, or a number with a K, M or G "
		    "suffix)",
		    v);
}

/* One option that takes a value; dies on a bad one. */
static void mkfs_opt_value(struct mkfs_opts *o, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case 'b':
		if (!mkfs_parse_uint(arg, &v) || (v != 1024 && v != 2048 && v != 4096))
			die("invalid block size '%s' (use 1024, 2048 or 4096)", arg);
		o->block_shift = v == 1024 ? 10 : v == 2048 ? 11 : 12;
		break;
	case 'N':
		if (!mkfs_parse_uint(arg, &v) || v == 0 || v > UINT32_MAX)
			die("invalid inode count '%s'", arg);
		o->inodes = v;
		break;
	case 'I':
		if (!mkfs_parse_uint(arg, &v) || (v != 256 && v != 512 && v != 1024))
			die("invalid inode size '%s' (use 256, 512 or 1024)", arg);
		o->inode_size = (uint32_t)v;
		break;
	case 'L':
		if (strlen(arg) > 32)
			die("label '%s' is longer than 32 bytes", arg);
		o->label = arg;
		break;
	case 'U':
		if (!strcmp(arg, "random"))
			mkfs_random_uuid(o->uuid);
		else if (!mkfs_parse_uuid(arg, o->uuid))
			die("invalid UUID '%s'", arg);
		o->uuid_set = true;
		break;
	case 's':
		if (!mkfs_parse_size(arg, &o->size) || o->size == 0)
			die("invalid size '%s' (a number with an optional K, M, G or T suffix)",
			    arg);
		break;
	case 'J':
		mkfs_opt_journal(o, arg);
		break;
	case 'm':
		if (!mkfs_parse_uint(arg, &v) || v > 50)
			die("invalid reserved-blocks percentage '%s' (0 to 50)", arg);
		o->reserved_pct = (unsigned)v;
		break;
	}
}

static void mkfs_parse_args(int argc, char **argv, struct mkfs_opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->block_shift = 12;
	o->inode_size = FOLIO_INODE_SIZE;
	opterr = 0;
	while ((c = getopt(argc, argv, ":b:N:I:L:U:s:J:m:fqh")) != -1) {
		switch (c) {
		case 'f':
			o->force = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'b':
		case 'N':
		case 'I':
		case 'L':
		case 'U':
		case 's':
		case 'J':
		case 'm':
			mkfs_opt_value(o, c, optarg);
			break;
		case 'h':
			usage();
			break;
		case ':':
			die("option '-%c' needs a value (see " PROG " -h)", optopt);
		default:
			die("unknown option '-%c' (see " PROG " -h)", optopt);
		}
	}
	if (optind == argc)
		die("no IMAGE given (see " PROG " -h)");
	if (optind != argc - 1)
		die("give exactly one IMAGE (got '%s' and '%s')", argv[optind], argv[optind + 1]);
	o->image = argv[optind];
	if (!o->uuid_set)
		mkfs_random_uuid(o->uuid);
}

/* ------------------------------------------------------------------ */
/* Probing the image                                                   */
/* ------------------------------------------------------------------ */

static bool mkfs_has(const uint8_t *p, size_t len, size_t off, const void *sig, size_t n)
{
	return off + n <= len && !memcmp(p + off, sig, n);
}

/* Name of the filesystem whose signature is in @p, or NULL. */
static const char *mkfs_signature(const uint8_t *p, size_t len)
{
	static const uint8_t folio[8] = {'F', 'O', 'L', 'I', 'O', 'F', 'S', 0};
	static const uint8_t ext[2] = {0x53, 0xEF};

	if (mkfs_has(p, len, 0, folio, 8))
		return "a foliofs";
	if (mkfs_has(p, len, 1080, ext, 2))
		return "an ext2/3/4";
	if (mkfs_has(p, len, 0, "XFSB", 4))
		return "an XFS";
	if (mkfs_has(p, len, 0x10040, "_BHRfS_M", 8))
		return "a btrfs";
	if (mkfs_has(p, len, 0, "LUKS\xba\xbe", 6))
		return "a LUKS";
	if (mkfs_has(p, len, 4086, "SWAPSPACE2", 10) || mkfs_has(p, len, 4086, "SWAP-SPACE", 10))
		return "a swap";
	return NULL;
}

/* Open the existing image read-only, refuse a recognised filesystem unless
 * -f, and return its size in bytes. */
static uint64_t mkfs_probe(const struct mkfs_opts *o)
{
	struct bdev *b;
	uint8_t *buf;
	uint64_t len, size;
	const char *what;
	int ret = bdev_file_open(o->image, BDEV_RDONLY | BDEV_BUFFERED | BDEV_QUIET, &b);

	if (ret)
		die("%s: %s", o->image, strerror(-ret));
	size = b->size;
	len = size < MKFS_PROBE_BYTES ? size : MKFS_PROBE_BYTES;
	len -= len % b->lbs;
	buf = mkfs_alloc(MKFS_PROBE_BYTES);
	ret = bdev_read(b, 0, buf, len);
	bdev_close(b);
	if (ret) {
		free(buf);
		die("%s: cannot read: %s", o->image, strerror(-ret));
	}
	what = mkfs_signature(buf, len);
	free(buf);
	if (what && !o->force)
		die("%s already contains %s filesystem; use -f to overwrite it", o->image, what);
	return size;
}

/* ------------------------------------------------------------------ */
/* Geometry                                                            */
/* ------------------------------------------------------------------ */

/* Blocks of metadata at the start of @group, plus the backup superblock in
 * the last group and the root directory block in group 0. */
static uint64_t mkfs_meta_blocks(const struct folio_geom *g, uint32_t group)
{
	uint64_t n = 2 + g->itable_blocks;

	if (group == 0)
		n += 1 + g->gdt_blocks + 1;
	if (group == g->groups_count - 1)
		n += 1;
	return n;
}

/* Inodes per group for @inodes in @groups groups, or 0 if it cannot be. */
static uint32_t mkfs_ipg(uint64_t inodes, uint64_t groups, uint32_t bs, uint32_t isz)
{
	uint64_t step = bs / isz > 8 ? bs / isz : 8;
	uint64_t ipg = (inodes + groups - 1) / groups;

	ipg = (ipg + step - 1) / step * step;
	if (ipg < FOLIO_MIN_IPG)
		ipg = FOLIO_MIN_IPG;
	return ipg > 8ull * bs ? 0 : (uint32_t)ipg;
}

/* Choose blocks_count and inodes_per_group for @bytes; die when impossible. */
static void mkfs_plan(struct mkfs *m, uint64_t bytes)
{
	struct mkfs_opts *o = &m->o;
	uint32_t bs = 1u << o->block_shift, bpg = 8 * bs;
	uint64_t blocks = bytes >> o->block_shift;

	if (bytes < MKFS_MIN_BYTES)
		die("%s: %" PRIu64 " bytes is too small (at least 1 MiB is needed)", o->image,
		    bytes);
	for (;;) {
		uint64_t groups = (blocks + bpg - 1) / bpg;
		uint64_t inodes = o->inodes ? o->inodes : blocks * bs / MKFS_INODE_RATIO;
		uint32_t ipg = mkfs_ipg(inodes, groups, bs, o->inode_size);
		uint32_t last;

		if (!ipg && !o->inodes)
			ipg = 8 * bs;
		if (!ipg)
			die("%" PRIu64 " inodes do not fit in %" PRIu64
			    " group%s of %u-byte blocks (use a smaller -N or a larger image)",
			    o->inodes, groups, groups == 1 ? "" : "s", bs);
		if (folio_geom_init(&m->g, o->block_shift, blocks, ipg, o->inode_size))
			die("%s: cannot lay out %" PRIu64 " blocks of %u bytes with %" PRIu64
			    " inodes (too large or too many inodes)",
			    o->image, blocks, bs, groups * ipg);
		last = m->g.groups_count - 1;
		if (folio_group_nblocks(&m->g, last) >=
		    mkfs_meta_blocks(&m->g, last) + MKFS_GROUP_SLACK)
			break;
		if (m->g.groups_count == 1)
			die("%s: too small for %u inodes with %u-byte blocks", o->image, ipg, bs);
		blocks = (uint64_t)last * bpg;
	}
}

/* The run of free blocks in @group after its metadata (and group 0's root
 * leaf, and the last group's backup superblock): [*start, *start + return). */
static uint64_t mkfs_group_run(const struct folio_geom *g, uint32_t group, uint64_t *start)
{
	struct folio_layout l;
	uint64_t end = folio_group_first_block(g, group) + folio_group_nblocks(g, group);

	folio_std_layout(g, group, &l);
	*start = l.first_free + (group == 0 ? 1 : 0);
	if (group == g->groups_count - 1)
		end--;
	return end > *start ? end - *start : 0;
}

/* A group whose free run holds @n blocks, the middle group first; its run's
 * length, or the largest run of all groups when none holds @n. */
static uint64_t mkfs_journal_place(struct mkfs *m, uint64_t n)
{
	const struct folio_geom *g = &m->g;
	uint64_t best = 0, start;

	for (uint32_t i = 0; i < g->groups_count; i++) {
		uint32_t group = (g->groups_count / 2 + i) % g->groups_count;
		uint64_t run = mkfs_group_run(g, group, &start);

		if (run >= n) {
			m->journal_block = start;
			return run;
		}
		if (run > best)
			best = run;
	}
	return best;
}

/* Size and place the journal (-J, or the default); die when a requested one
 * cannot be made. */
static void mkfs_plan_journal(struct mkfs *m)
{
	const struct mkfs_opts *o = &m->o;
	uint32_t bs = m->g.block_size;
	uint64_t n, run;

	if (o->no_journal)
		return;
	if (!o->jsize_blocks && !o->jsize_bytes) {
		n = folio_journal_default_blocks(m->g.blocks_count, bs);
		if (!n)
			return; /* too small for a journal: none, as mke2fs */
		run = mkfs_journal_place(m, n);
		if (run < n) {
			n = run; /* the largest run of one group */
			if (n < FOLIO_JOURNAL_MIN_BLOCKS || mkfs_journal_place(m, n) < n)
				return;
		}
		m->journal_blocks = (uint32_t)n;
		return;
	}
	n = o->jsize_blocks ? o->jsize_blocks : (o->jsize_bytes + bs - 1) / bs;
	if (n < FOLIO_JOURNAL_MIN_BLOCKS)
		die("journal of %" PRIu64 " blocks is below the minimum of %u blocks", n,
		    FOLIO_JOURNAL_MIN_BLOCKS);
	run = mkfs_journal_place(m, n);
	if (run < n)
		die("%s: a journal of %" PRIu64 " blocks does not fit (at most %" PRIu64
		    " contiguous free blocks in one group)",
		    o->image, n, run);
	m->journal_blocks = (uint32_t)n;
}

/* ------------------------------------------------------------------ */
/* Creating the file                                                   */
/* ------------------------------------------------------------------ */

/* -s: create the image or extend it to o->size (never shrink it). */
static void mkfs_create(const struct mkfs_opts *o, bool exists, uint64_t cur)
{
	struct stat st;
	int fd;

	if (exists && !stat(o->image, &st) && !S_ISREG(st.st_mode)) {
		if (cur < o->size)
			die("%s: device holds %" PRIu64 " bytes, less than -s %" PRIu64, o->image,
			    cur, o->size);
		return;
	}
	if (exists && cur >= o->size)
		return;
	fd = open(o->image, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die("%s: cannot create: %s", o->image, strerror(errno));
	if (ftruncate(fd, (off_t)o->size)) {
		int err = errno;

		close(fd);
		die("%s: cannot set size to %" PRIu64 ": %s", o->image, o->size, strerror(err));
	}
	close(fd);
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

static void mkfs_write(struct mkfs *m, uint64_t blk, const void *buf, uint64_t nblocks)
{
	int ret = bdev_write(m->bdev, blk << m->g.block_shift, buf, nblocks << m->g.block_shift);

	if (ret)
		die("%s: write at block %" PRIu64 " failed: %s", m->o.image, blk, strerror(-ret));
}

static void mkfs_set_bit(uint8_t *map, uint64_t bit)
{
	map[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* Build group @group's block bitmap in m->buf; returns its free count. */
static uint32_t mkfs_block_bitmap(struct mkfs *m, uint32_t group, const struct folio_layout *l)
{
	const struct folio_geom *g = &m->g;
	uint64_t first = folio_group_first_block(g, group);
	uint32_t n = folio_group_nblocks(g, group), used = 0;

	memset(m->buf, 0, g->block_size);
	for (uint64_t b = first; b < l->first_free; b++, used++)
		mkfs_set_bit(m->buf, b - first);
	for (uint64_t bit = n; bit < g->blocks_per_group; bit++)
		mkfs_set_bit(m->buf, bit);
	if (group == 0) {
		mkfs_set_bit(m->buf, m->root_block - first);
		used++;
	}
	if (group == g->groups_count - 1) {
		mkfs_set_bit(m->buf, g->blocks_count - 1 - first);
		used++;
	}
	if (m->journal_blocks && folio_group_of_block(g, m->journal_block) == group) {
		for (uint64_t b = m->journal_block; b < m->journal_block + m->journal_blocks; b++)
			mkfs_set_bit(m->buf, b - first);
		used += m->journal_blocks;
	}
	return n - used;
}

/* Build group @group's inode bitmap in m->buf; returns its free count. */
static uint32_t mkfs_inode_bitmap(struct mkfs *m, uint32_t group)
{
	const struct folio_geom *g = &m->g;
	uint32_t used = 0;

	memset(m->buf, 0, g->block_size);
	if (group == 0) {
		for (uint32_t ino = 1; ino <= MKFS_LF_INO; ino++, used++)
			mkfs_set_bit(m->buf, ino - 1);
	}
	for (uint64_t bit = g->inodes_per_group; bit < 8ull * g->block_size; bit++)
		mkfs_set_bit(m->buf, bit);
	return g->inodes_per_group - used;
}

/* Write both bitmaps of @group and fill its descriptor. */
static void mkfs_group(struct mkfs *m, uint32_t group)
{
	struct folio_group_desc *gd = &m->gdt[group];
	struct folio_layout l;
	uint32_t free_blocks, free_inodes;

	folio_std_layout(&m->g, group, &l);
	free_blocks = mkfs_block_bitmap(m, group, &l);
	gd->bg_block_bitmap_csum = cpu_to_le32(folio_bitmap_csum(m->seed, m->buf, m->g.block_size));
	mkfs_write(m, l.block_bitmap, m->buf, 1);
	free_inodes = mkfs_inode_bitmap(m, group);
	gd->bg_inode_bitmap_csum = cpu_to_le32(folio_bitmap_csum(m->seed, m->buf, m->g.block_size));
	mkfs_write(m, l.inode_bitmap, m->buf, 1);
	gd->bg_block_bitmap = cpu_to_le64(l.block_bitmap);
	gd->bg_inode_bitmap = cpu_to_le64(l.inode_bitmap);
	gd->bg_inode_table = cpu_to_le64(l.inode_table);
	gd->bg_free_blocks = cpu_to_le32(free_blocks);
	gd->bg_free_inodes = cpu_to_le32(free_inodes);
	gd->bg_used_dirs = cpu_to_le32(group == 0 ? 2 : 0);
	folio_gd_csum_set(m->seed, group, gd);
	m->free_blocks += free_blocks;
	m->free_inodes += free_inodes;
}

static void mkfs_set_times(struct mkfs *m, struct folio_inode *in)
{
	le64 s = cpu_to_le64((uint64_t)m->now.tv_sec);
	le32 ns = cpu_to_le32((uint32_t)m->now.tv_nsec);

	in->i_atime = in->i_mtime = in->i_ctime = in->i_crtime = s;
	in->i_atime_nsec = in->i_mtime_nsec = in->i_ctime_nsec = in->i_crtime_nsec = ns;
}

/* Fill a directory inode: @nlink links, @parent, optional one-block tree. */
static void mkfs_dir_inode(struct mkfs *m, struct folio_inode *in, uint32_t mode, uint32_t nlink,
			   uint32_t parent, uint64_t root, uint64_t entries)
{
	in->i_mode = cpu_to_le16((uint16_t)(S_IFDIR | mode));
	in->i_uid = cpu_to_le32(getuid());
	in->i_gid = cpu_to_le32(getgid());
	in->i_nlink = cpu_to_le32(nlink);
	in->i_size = cpu_to_le64(root ? m->g.block_size : 0);
	in->i_blocks = cpu_to_le64(root ? 1 : 0);
	mkfs_set_times(m, in);
	in->i_dir.dr_root = cpu_to_le64(root);
	in->i_dir.dr_entries = cpu_to_le64(entries);
	in->i_dir.dr_parent = cpu_to_le32(parent);
}

static void mkfs_fill_super(struct mkfs *m, struct folio_super *sb)
{
	const struct folio_geom *g = &m->g;

	memset(sb, 0, sizeof(*sb));
	sb->s_magic = cpu_to_le64(FOLIO_SB_MAGIC);
	sb->s_version = cpu_to_le32(FOLIO_VERSION);
	sb->s_feature_compat = cpu_to_le32(FOLIO_COMPAT_BACKUP_SB);
	if (m->journal_blocks) {
		sb->s_feature_compat |= cpu_to_le32(FOLIO_COMPAT_JOURNAL);
		sb->s_journal_ino = cpu_to_le32(FOLIO_JOURNAL_INO);
		sb->s_journal_block = cpu_to_le64(m->journal_block);
		sb->s_journal_blocks = cpu_to_le64(m->journal_blocks);
	}
	sb->s_log_block_size = cpu_to_le32(g->block_shift - FOLIO_MIN_BSHIFT);
	sb->s_blocks_count = cpu_to_le64(g->blocks_count);
	sb->s_free_blocks = cpu_to_le64(m->free_blocks);
	sb->s_reserved_blocks = cpu_to_le64(g->blocks_count * m->o.reserved_pct / 100);
	sb->s_inodes_count = cpu_to_le32(g->inodes_count);
	sb->s_free_inodes = cpu_to_le32(m->free_inodes);
	sb->s_blocks_per_group = cpu_to_le32(g->blocks_per_group);
	sb->s_inodes_per_group = cpu_to_le32(g->inodes_per_group);
	sb->s_groups_count = cpu_to_le32(g->groups_count);
	sb->s_inode_size = cpu_to_le16((uint16_t)g->inode_size);
	sb->s_state = cpu_to_le16(FOLIO_STATE_CLEAN);
	sb->s_root_ino = cpu_to_le32(FOLIO_ROOT_INO);
	sb->s_first_ino = cpu_to_le32(FOLIO_FIRST_INO);
	sb->s_gdt_blocks = cpu_to_le32(g->gdt_blocks);
	sb->s_gdt_block = cpu_to_le64(g->gdt_block);
	sb->s_backup_sb_block = cpu_to_le64(g->blocks_count - 1);
	memcpy(sb->s_uuid, m->o.uuid, 16);
	if (m->o.label)
		memcpy(sb->s_label, m->o.label, strlen(m->o.label));
	sb->s_hash_seed[0] = cpu_to_le64(m->hash_seed[0]);
	sb->s_hash_seed[1] = cpu_to_le64(m->hash_seed[1]);
	sb->s_mkfs_time = sb->s_write_time = cpu_to_le64((uint64_t)m->now.tv_sec);
	folio_sb_csum_set(sb);
}

/* Inode 2: the journal file (folio_journal_inode_map()). */
static void mkfs_journal_inode(struct mkfs *m, struct folio_inode *in)
{
	struct folio_super sb;

	mkfs_fill_super(m, &sb);
	folio_journal_inode_map(in, &sb);
	mkfs_set_times(m, in);
}

/* The journal: its superblock (an empty log, sequence 1), then zeros. */
static void mkfs_journal(struct mkfs *m)
{
	const uint32_t chunk = 256;
	uint8_t *zeros = mkfs_alloc((size_t)chunk << m->g.block_shift);
	struct folio_super sb;

	mkfs_fill_super(m, &sb);
	folio_jsb_init((struct folio_jsb *)zeros, &sb, 1);
	mkfs_write(m, m->journal_block, zeros, 1);
	memset(zeros, 0, sizeof(struct folio_jsb));
	for (uint64_t b = 1; b < m->journal_blocks; b += chunk) {
		uint64_t n = m->journal_blocks - b < chunk ? m->journal_blocks - b : chunk;

		mkfs_write(m, m->journal_block + b, zeros, n);
	}
	free(zeros);
}

/* Write the inode table blocks holding inodes 1..8 (root, reserved, lost+found). */
static void mkfs_inodes(struct mkfs *m)
{
	const struct folio_geom *g = &m->g;
	uint32_t nblk = (MKFS_LF_INO + g->inodes_per_block - 1) / g->inodes_per_block;
	uint8_t *tab = mkfs_alloc((size_t)nblk * g->block_size);
	struct folio_inode *root, *lf;

	root = (struct folio_inode *)tab;
	lf = (struct folio_inode *)(tab + (MKFS_LF_INO - 1) * g->inode_size);
	mkfs_dir_inode(m, root, 0755, 3, FOLIO_ROOT_INO, m->root_block, 1);
	mkfs_dir_inode(m, lf, 0700, 2, FOLIO_ROOT_INO, 0, 0);
	if (m->journal_blocks)
		mkfs_journal_inode(
			m, (struct folio_inode *)(tab + (FOLIO_JOURNAL_INO - 1) * g->inode_size));
	for (uint32_t ino = 1; ino <= MKFS_LF_INO; ino++)
		folio_inode_csum_set(m->seed, ino, tab + (ino - 1) * g->inode_size, g->inode_size);
	mkfs_write(m, le64_to_cpu(m->gdt[0].bg_inode_table), tab, nblk);
	free(tab);
}

/* The root directory's single leaf, holding "lost+found". */
static void mkfs_root_dir(struct mkfs *m)
{
	struct folio_dir_node *dn = (struct folio_dir_node *)m->buf;
	static const char name[] = "lost+found";
	uint8_t len = sizeof(name) - 1;
	uint64_t key = folio_dir_key_base(folio_dirhash(m->hash_seed, name, len));

	folio_block_init(m->buf, m->g.block_size, FOLIO_DIR_MAGIC, m->root_block, FOLIO_ROOT_INO);
	dn->dn_level = 0;
	dn->dn_count = cpu_to_le16(1);
	dn->dn_used = cpu_to_le16((uint16_t)folio_dirent_encode(
		m->buf + FOLIO_BLK_PAYLOAD, key, MKFS_LF_INO, FOLIO_FT_DIR, name, len));
	folio_block_csum_set(m->seed, m->buf, m->g.block_size);
	mkfs_write(m, m->root_block, m->buf, 1);
}

/* Superblock in block 0 and a copy in the last block. */
static void mkfs_supers(struct mkfs *m)
{
	memset(m->buf, 0, m->g.block_size);
	mkfs_fill_super(m, (struct folio_super *)m->buf);
	mkfs_write(m, m->g.blocks_count - 1, m->buf, 1);
	mkfs_write(m, 0, m->buf, 1);
}

static void mkfs_flush(struct mkfs *m)
{
	int ret = bdev_flush(m->bdev);

	if (ret)
		die("%s: flush failed: %s", m->o.image, strerror(-ret));
}

/*
 * Write order: a zeroed block 0 (flushed, so an old superblock never
 * describes half-written metadata), the metadata, a flush, then the
 * superblocks and a last flush.
 */
static void mkfs_format(struct mkfs *m)
{
	const struct folio_geom *g = &m->g;
	struct folio_layout l0;

	m->seed = folio_fs_seed(m->o.uuid);
	mkfs_random(m->hash_seed, sizeof(m->hash_seed));
	clock_gettime(CLOCK_REALTIME, &m->now);
	folio_std_layout(g, 0, &l0);
	m->root_block = l0.first_free;
	m->buf = mkfs_alloc(4096);
	m->gdt = mkfs_alloc((size_t)g->gdt_blocks * g->block_size);
	mkfs_write(m, 0, m->buf, 1);
	mkfs_flush(m);
	for (uint32_t grp = 0; grp < g->groups_count; grp++)
		mkfs_group(m, grp);
	mkfs_write(m, g->gdt_block, m->gdt, g->gdt_blocks);
	mkfs_inodes(m);
	mkfs_root_dir(m);
	if (m->journal_blocks)
		mkfs_journal(m);
	mkfs_flush(m);
	mkfs_supers(m);
	mkfs_flush(m);
	free(m->gdt);
	free(m->buf);
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static void mkfs_summary(const struct mkfs *m)
{
	const struct folio_geom *g = &m->g;
	const uint8_t *u = m->o.uuid;

	printf("%s: foliofs, %" PRIu64 " blocks of %u bytes (%" PRIu64 " KiB), %u groups\n",
	       m->o.image, g->blocks_count, g->block_size, (g->blocks_count * g->block_size) >> 10,
	       g->groups_count);
	printf("inodes: %u (%u per group, %u bytes each)\n", g->inodes_count, g->inodes_per_group,
	       g->inode_size);
	printf("free: %" PRIu64 " blocks, %u inodes\n", m->free_blocks, m->free_inodes);
	printf("uuid: %02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\n", u[0],
	       u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
	       u[14], u[15]);
	printf("label: \"%s\"\n", m->o.label ? m->o.label : "");
	if (m->journal_blocks)
		printf("journal: %u blocks at block %" PRIu64 "\n", m->journal_blocks,
		       m->journal_block);
	else
		printf("journal: none\n");
}

int main(int argc, char **argv)
{
	struct mkfs m = {0};
	struct stat st;
	bool exists;
	uint64_t cur = 0, bytes;
	int ret;

	mkfs_parse_args(argc, argv, &m.o);
	exists = stat(m.o.image, &st) == 0;
	if (!exists && (errno != ENOENT || !m.o.size))
		die("%s: %s", m.o.image, strerror(errno));
	if (exists)
		cur = mkfs_probe(&m.o);
	bytes = m.o.size ? m.o.size : cur;
	mkfs_plan(&m, bytes);
	mkfs_plan_journal(&m);
	if (m.o.size)
		mkfs_create(&m.o, exists, cur);
	ret = bdev_file_open(m.o.image, BDEV_EXCL | BDEV_BUFFERED | BDEV_QUIET, &m.bdev);
	if (ret)
		die("%s: %s", m.o.image, ret == -EBUSY ? "in use (mounted?)" : strerror(-ret));
	if (m.g.block_size % m.bdev->lbs)
		die("%s: block size %u is smaller than the device's sector size %u", m.o.image,
		    m.g.block_size, m.bdev->lbs);
	if (m.bdev->size < m.g.blocks_count * m.g.block_size)
		die("%s: device shrank to %" PRIu64 " bytes", m.o.image, m.bdev->size);
	mkfs_format(&m);
	bdev_close(m.bdev);
	if (!m.o.quiet)
		mkfs_summary(&m);
	return 0;
}
