/*
 * daemon/opts.c - the daemon's command line: foliofs IMAGE MOUNTPOINT
 * [-o opt[,opt...]]... [-f] [-d] [-h] [-V].
 *
 * Interface (daemon/daemon.h): daemon_parse_args, daemon_parse_size,
 * daemon_opts_free, daemon_usage.
 *
 * Every option is checked here, before anything is opened, so a bad one
 * costs one line on stderr and nothing else. Options of our own are listed
 * in opt_table; the generic ones mount(8) and mount.fuse3 pass along (rw,
 * dev, suid, exec, atime, auto, user, _netdev, x-*, ...) are accepted and
 * ignored (also user=NAME and comment=TEXT, which mount(8) may add), so
 * `mount -t fuse.foliofs` and /etc/fstab lines work. Anything else is an
 * error.
 *
 * Sizes are bytes with an optional K, M, G or T suffix (powers of 1024,
 * either case, an optional trailing "B" or "iB").
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"

/* Generic mount options that have no meaning here. */
static const char *const opt_ignored[] = {
	"rw",
	"dev",
	"nodev",
	"suid",
	"nosuid",
	"exec",
	"noexec",
	"atime",
	"noatime",
	"relatime",
	"norelatime",
	"strictatime",
	"nostrictatime",
	"diratime",
	"nodiratime",
	"lazytime",
	"nolazytime",
	"auto",
	"noauto",
	"user",
	"nouser",
	"users",
	"owner",
	"group",
	"_netdev",
	"nofail",
	"defaults",
	"async",
	"silent",
	"loud",
	"iversion",
	"noiversion",
	"nomand",
	"default_permissions",
	NULL,
};

struct opt_ctx {
	struct daemon_opts *o;
	bool have_cache_max;
	char *msg;
	size_t msglen;
};

typedef int (*opt_fn)(struct opt_ctx *c, const char *val);

static int opt_err(struct opt_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int opt_err(struct opt_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, c->msglen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/**
 * daemon_parse_size - parse a size with an optional K/M/G/T suffix
 * @s: the text ("256M", "1g", "4096", "64KiB")
 * @out: receives the bytes
 *
 * Context: any thread.
 * Return: 0, or -EINVAL for text that is not a size, -ERANGE on overflow.
 */
int daemon_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	unsigned shift = 0;
	char *end;
	uint64_t v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (*end) {
		const char *u = strchr(units, end[0] & ~0x20);

		if (!u || !end[0])
			return -EINVAL;
		shift = 10 * (unsigned)(u - units + 1);
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B") || !strcmp(end, "b"))
			end += strlen(end);
		if (*end)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

static int opt_size(struct opt_ctx *c, const char *name, const char *val, uint64_t *out)
{
	if (!val || !*val)
		return opt_err(c, "option %s needs a value (%s=SIZE)", name, name);
	if (daemon_parse_size(val, out))
		return opt_err(c, "bad size '%s' for %s (bytes, or a number with K, M or G)", val,
			       name);
	return 0;
}

static int opt_cache_size(struct opt_ctx *c, const char *val)
{
	uint64_t v;
	int err = opt_size(c, "cache_size", val, &v);

	if (!err && v < DAEMON_CACHE_MIN)
		return opt_err(c, "cache_size=%s is too small (at least 64K)", val);
	if (!err)
		c->o->fs.cache_size = v;
	return err;
}

static int opt_cache_max(struct opt_ctx *c, const char *val)
{
	uint64_t v;
	int err = opt_size(c, "cache_max", val, &v);

	if (!err && v < DAEMON_CACHE_MIN)
		return opt_err(c, "cache_max=%s is too small (at least 64K)", val);
	if (!err) {
		c->o->cache_max = v;
		c->have_cache_max = true;
	}
	return err;
}

static int opt_cache(struct opt_ctx *c, const char *val)
{
	if (val && !strcmp(val, "daemon"))
		c->o->cache_mode = DAEMON_CACHE_DAEMON;
	else if (val && !strcmp(val, "kernel"))
		c->o->cache_mode = DAEMON_CACHE_KERNEL;
	else
		return opt_err(c, "bad value '%s' for cache (daemon or kernel)", val ? val : "");
	return 0;
}

static int opt_readahead(struct opt_ctx *c, const char *val)
{
	uint64_t v;
	int err = opt_size(c, "readahead", val, &v);

	if (!err && v > DAEMON_RA_MAX)
		return opt_err(c, "readahead=%s is too large (at most 16M)", val);
	if (!err)
		c->o->readahead = (uint32_t)v;
	return err;
}

static int opt_ro(struct opt_ctx *c, const char *val)
{
	c->o->fs.rdonly = true;
	return 0;
}

static int opt_rw(struct opt_ctx *c, const char *val)
{
	c->o->fs.rdonly = false;
	return 0;
}

static int opt_allow_other(struct opt_ctx *c, const char *val)
{
	c->o->allow_other = true;
	return 0;
}

static int opt_debug(struct opt_ctx *c, const char *val)
{
	c->o->debug = c->o->foreground = true;
	return 0;
}

static int opt_string(struct opt_ctx *c, const char *name, const char *val, char **out)
{
	if (!val || !*val)
		return opt_err(c, "option %s needs a value (%s=NAME)", name, name);
	free(*out);
	*out = strdup(val);
	return *out ? 0 : -ENOMEM;
}

static int opt_fsname(struct opt_ctx *c, const char *val)
{
	return opt_string(c, "fsname", val, &c->o->fsname);
}

static int opt_subtype(struct opt_ctx *c, const char *val)
{
	return opt_string(c, "subtype", val, &c->o->subtype);
}

static int opt_max_threads(struct opt_ctx *c, const char *val)
{
	char *end;
	unsigned long v = val ? strtoul(val, &end, 10) : 0;

	if (!val || !*val || *end || v < 1 || v > 256)
		return opt_err(c, "bad value '%s' for max_threads (1 to 256)", val ? val : "");
	c->o->max_threads = (unsigned)v;
	return 0;
}

/* Seconds between the journal's commits (as ext4's commit=). */
static int opt_commit(struct opt_ctx *c, const char *val)
{
	char *end;
	unsigned long v = val ? strtoul(val, &end, 10) : 0;

	if (!val || *val < '0' || *val > '9' || *end || v < 1 || v > 3600)
		return opt_err(c, "bad value '%s' for commit (1 to 3600 seconds)", val ? val : "");
	c->o->fs.commit_interval = (unsigned)v;
	return 0;
}

/* What corruption found in the image does besides failing the operation
 * (as ext4's errors=; "panic" is not offered: the daemon never exits on it). */
static int opt_errors(struct opt_ctx *c, const char *val)
{
	if (val && !strcmp(val, "remount-ro"))
		c->o->fs.errors = FS_ERRORS_REMOUNT_RO;
	else if (val && !strcmp(val, "continue"))
		c->o->fs.errors = FS_ERRORS_CONTINUE;
	else
		return opt_err(c, "bad value '%s' for errors (continue or remount-ro)",
			       val ? val : "");
	return 0;
}

/* Test-only: corrupt every Nth file-data write to the image (0: wrapped, off). */
static int opt_debug_corrupt_writes(struct opt_ctx *c, const char *val)
{
	char *end;
	unsigned long v = val ? strtoul(val, &end, 10) : 0;

	if (!val || *val < '0' || *val > '9' || *end || v > UINT32_MAX)
		return opt_err(c, "bad value '%s' for debug_corrupt_writes (a count, 0 = off)",
			       val ? val : "");
	c->o->fs.debug_corrupt = true;
	c->o->fs.debug_corrupt_every = (unsigned)v;
	return 0;
}

/* Test-only: record every device request to PATH (made absolute: the daemon
 * may change directory) for the crash tester. */
static int opt_debug_logwrites(struct opt_ctx *c, const char *val)
{
	char *cwd, *abs;
	int err = opt_string(c, "debug_logwrites", val, &c->o->logwrites_path);

	if (err || c->o->logwrites_path[0] == '/')
		goto out;
	cwd = getcwd(NULL, 0);
	if (!cwd || asprintf(&abs, "%s/%s", cwd, c->o->logwrites_path) < 0) {
		free(cwd);
		return -ENOMEM;
	}
	free(cwd);
	free(c->o->logwrites_path);
	c->o->logwrites_path = abs;
out:
	c->o->fs.debug_logwrites = c->o->logwrites_path;
	return err;
}

static const struct {
	const char *name;
	bool has_value;
	opt_fn fn;
} opt_table[] = {
	{"cache_size", true, opt_cache_size},
	{"cache_max", true, opt_cache_max},
	{"cache", true, opt_cache},
	{"readahead", true, opt_readahead},
	{"ro", false, opt_ro},
	{"rw", false, opt_rw},
	{"allow_other", false, opt_allow_other},
	{"debug", false, opt_debug},
	{"fsname", true, opt_fsname},
	{"subtype", true, opt_subtype},
	{"max_threads", true, opt_max_threads},
	{"commit", true, opt_commit},
	{"errors", true, opt_errors},
	{"debug_corrupt_writes", true, opt_debug_corrupt_writes},
	{"debug_logwrites", true, opt_debug_logwrites},
};

/* A writeback tunable (dirty_ratio=, ...; cache/flusher.c checks the range). */
static int opt_wb(struct opt_ctx *c, int key, const char *name, const char *val)
{
	struct daemon_opts *o = c->o;
	uint64_t v;

	if (!val || !*val || daemon_parse_size(val, &v))
		return opt_err(c, "bad value '%s' for %s (a number; sizes may take K, M or G)",
			       val ? val : "", name);
	if (cache_wb_check(key, v))
		return opt_err(c, "%s=%s is out of range (see foliofs -h)", name, val);
	if (o->nr_wb == sizeof(o->wb) / sizeof(o->wb[0]))
		return opt_err(c, "too many writeback options");
	o->wb[o->nr_wb].key = key;
	o->wb[o->nr_wb++].value = v;
	return 0;
}

/* A compressed-tier parameter (zswap=, zswap_max_pool_percent=, ...;
 * cache/zswap.c checks the value). */
static int opt_zswap(struct opt_ctx *c, int key, const char *name, const char *val)
{
	struct daemon_opts *o = c->o;

	if (!val || cache_zswap_check(key, val) || strlen(val) >= sizeof(o->zswap[0].value))
		return opt_err(c, "bad value '%s' for %s (see foliofs -h)", val ? val : "", name);
	if (o->nr_zswap == sizeof(o->zswap) / sizeof(o->zswap[0]))
		return opt_err(c, "too many zswap options");
	o->zswap[o->nr_zswap].key = key;
	strcpy(o->zswap[o->nr_zswap++].value, val);
	return 0;
}

static bool opt_is_ignored(const char *name, const char *val)
{
	if (!strncmp(name, "x-", 2) || (val && (!strcmp(name, "comment") || !strcmp(name, "user"))))
		return true;
	for (int i = 0; opt_ignored[i]; i++)
		if (!strcmp(name, opt_ignored[i]) && !val)
			return true;
	return false;
}

/* One option; @opt is modified (split at '='). */
static int opt_one(struct opt_ctx *c, char *opt)
{
	char *val = strchr(opt, '=');

	if (val)
		*val++ = '\0';
	if (!*opt)
		return 0;
	for (size_t i = 0; i < sizeof(opt_table) / sizeof(opt_table[0]); i++) {
		if (strcmp(opt, opt_table[i].name))
			continue;
		if (!opt_table[i].has_value && val)
			return opt_err(c, "option %s takes no value", opt);
		return opt_table[i].fn(c, val);
	}
	if (cache_wb_tunable_lookup(opt) >= 0)
		return opt_wb(c, cache_wb_tunable_lookup(opt), opt, val);
	if (cache_zswap_param_lookup(opt) >= 0)
		return opt_zswap(c, cache_zswap_param_lookup(opt), opt, val);
	if (opt_is_ignored(opt, val))
		return 0;
	return opt_err(c, "unknown option '%s'", opt);
}

/* A comma-separated list; "\," is a comma inside a value. */
static int opt_list(struct opt_ctx *c, const char *list)
{
	size_t n = strlen(list);
	char *buf = malloc(n + 1), *w = buf;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	for (const char *r = list;; r++) {
		if (*r == '\\' && r[1] == ',') {
			*w++ = *++r;
			continue;
		}
		if (*r && *r != ',') {
			*w++ = *r;
			continue;
		}
		*w = '\0';
		err = opt_one(c, buf);
		w = buf;
		if (err || !*r)
			break;
	}
	free(buf);
	return err;
}

static void opts_defaults(struct daemon_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->fs.cache_size = DAEMON_CACHE_SIZE;
	o->cache_mode = DAEMON_CACHE_DAEMON;
	o->readahead = DAEMON_RA_DEFAULT;
	o->max_threads = DAEMON_THREADS;
}

/* Everything that depends on more than one option. */
static int opts_finish(struct opt_ctx *c)
{
	struct daemon_opts *o = c->o;

	if (!c->have_cache_max)
		o->cache_max = o->fs.cache_size * 2;
	if (o->cache_max < o->fs.cache_size)
		return opt_err(c,
			       "cache_max (%" PRIu64 " bytes) is smaller than cache_size (%" PRIu64
			       " bytes)",
			       o->cache_max, o->fs.cache_size);
	o->fs.ra_max_pages = o->readahead / PAGE_SIZE;
	if (!o->subtype)
		o->subtype = strdup("foliofs");
	if (!o->fsname)
		o->fsname = strdup(o->image);
	return o->subtype && o->fsname ? 0 : -ENOMEM;
}

/* IMAGE and MOUNTPOINT: the image made absolute when it exists (so the
 * daemon may change directory; fs_mount reports a missing one). */
static int opt_positional(struct opt_ctx *c, const char *arg, int *npos)
{
	struct daemon_opts *o = c->o;

	if (*npos == 0) {
		o->image = realpath(arg, NULL);
		if (!o->image)
			o->image = strdup(arg);
	} else if (*npos == 1) {
		o->mountpoint = strdup(arg);
	} else {
		return opt_err(c, "unexpected argument '%s'", arg);
	}
	(*npos)++;
	return (*npos == 1 ? o->image : o->mountpoint) ? 0 : -ENOMEM;
}

/* One argv word; *i may advance past an -o value. Returns 1 for -h / -V. */
static int opt_arg(struct opt_ctx *c, int argc, char **argv, int *i, int *npos)
{
	const char *a = argv[*i];

	if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
		daemon_usage(stdout);
		return 1;
	}
	if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
		printf("foliofs %s\n", PACKAGE_VERSION);
		return 1;
	}
	if (!strcmp(a, "-f"))
		c->o->foreground = true;
	else if (!strcmp(a, "-d"))
		c->o->debug = c->o->foreground = true;
	else if (!strcmp(a, "-o") && *i + 1 < argc)
		return opt_list(c, argv[++*i]);
	else if (!strncmp(a, "-o", 2) && a[2])
		return opt_list(c, a + 2);
	else if (!strcmp(a, "-o"))
		return opt_err(c, "option -o needs a list of options");
	else if (a[0] == '-' && a[1])
		return opt_err(c, "unknown option '%s' (see foliofs -h)", a);
	else
		return opt_positional(c, a, npos);
	return 0;
}

/**
 * daemon_parse_args - parse the command line
 * @argc: argument count
 * @argv: arguments (argv[0] is the program)
 * @o: filled with the options (free with daemon_opts_free(), also on error)
 * @msg: receives one line saying what is wrong
 * @msglen: size of @msg
 *
 * Context: main thread, at start-up.
 * Return: 0 to go on, 1 when -h or -V was answered, -EINVAL (with @msg) for
 * a bad command line, -ENOMEM.
 */
int daemon_parse_args(int argc, char **argv, struct daemon_opts *o, char *msg, size_t msglen)
{
	struct opt_ctx c = {.o = o, .msg = msg, .msglen = msglen};
	int npos = 0, err = 0;

	opts_defaults(o);
	snprintf(msg, msglen, "out of memory");
	for (int i = 1; i < argc && !err; i++)
		err = opt_arg(&c, argc, argv, &i, &npos);
	if (err)
		return err;
	if (npos < 2)
		return opt_err(&c, "usage: foliofs IMAGE MOUNTPOINT [-o options] [-f] [-d]");
	return opts_finish(&c);
}

/**
 * daemon_opts_free - free what daemon_parse_args() allocated
 * @o: the options
 *
 * Context: main thread.
 */
void daemon_opts_free(struct daemon_opts *o)
{
	free(o->image);
	free(o->mountpoint);
	free(o->fsname);
	free(o->subtype);
	free(o->logwrites_path);
	memset(o, 0, sizeof(*o));
}

/**
 * daemon_usage - print the command line summary
 * @f: where to
 *
 * Context: any thread.
 */
void daemon_usage(FILE *f)
{
	fputs("usage: foliofs IMAGE MOUNTPOINT [-o opt[,opt...]] [-f] [-d]\n"
	      "  -f                 stay in the foreground\n"
	      "  -d                 debug: log every request (implies -f)\n"
	      "  -o cache_size=SIZE page cache memory limit (default 256M; K, M, G suffixes)\n"
	      "  -o cache_max=SIZE  page pool, the most cache_size may be raised to while\n"
	      "                     mounted (default 2 * cache_size)\n"
	      "  -o cache=MODE      daemon (default: every read and write reaches foliofs's\n"
	      "                     cache, mmap stays coherent) or kernel (the kernel's page\n"
	      "                     cache in front)\n"
	      "  -o readahead=SIZE  readahead maximum (default 1M, 0 disables, at most 16M)\n"
	      "  -o commit=N        seconds between journal commits (default 5, 1 to 3600)\n"
	      "  -o ro              read-only\n"
	      "  -o errors=continue|remount-ro  on corruption found in the image, stay\n"
	      "                     writable or turn read-only (default remount-ro); either\n"
	      "                     way the operation fails with EIO and the image is\n"
	      "                     marked with errors\n"
	      "  -o allow_other     let other users use the mount\n"
	      "  -o fsname=NAME     source shown in /proc/mounts (default: the image)\n"
	      "  -o subtype=NAME    type shown as fuse.NAME (default foliofs)\n"
	      "  -o max_threads=N   FUSE worker threads at most (default 16)\n"
	      "Writeback (also foliofs-ctl get/set keys; a *_bytes value zeroes its ratio\n"
	      "and a ratio its *_bytes value):\n"
	      "  -o dirty_ratio=N   writers are throttled above N% of cache_size dirty\n"
	      "                     (default 20, 1 to 100)\n"
	      "  -o dirty_background_ratio=N  background writeback above N% (default 10)\n"
	      "  -o dirty_bytes=SIZE, dirty_background_bytes=SIZE  the same in bytes\n"
	      "  -o dirty_expire_centisecs=N  data dirty longer is written (default 3000)\n"
	      "  -o dirty_writeback_centisecs=N  periodic writeback interval (default 500,\n"
	      "                     0 turns it off)\n"
	      "  -o wb_max_bytes=SIZE  largest merged write to the image (default 1M, at\n"
	      "                     most 64M)\n"
	      "  -o wb_fill_bytes=SIZE  clean cached data written to join two dirty runs\n"
	      "                     into one image write (default 64K, at most 1M, 0 off)\n"
	      "The compressed tier (also foliofs-ctl get/set keys):\n"
	      "  -o zswap=on|off    keep evicted clean pages lz4-compressed in memory\n"
	      "                     (default on; off empties it)\n"
	      "  -o zswap_max_pool_percent=N  of cache_size its pool may take (default 20)\n"
	      "  -o zswap_accept_threshold_percent=N  once full, store again under N% of\n"
	      "                     that maximum (default 90)\n"
	      "  -o zswap_compressor=lz4|lz4hc[:LEVEL]  (default lz4; LEVEL 1 to 12)\n"
	      "  -o zswap_max_compressed_percent=N  reject pages compressed to more than N%\n"
	      "                     of a page (default 75, 1 to 100)\n"
	      "  -o zswap_admission=all|workingset  which evicted pages enter (default all)\n"
	      "  -o debug_corrupt_writes=N  TEST ONLY: flip one byte in every Nth file-data\n"
	      "                     write to the image (0: off until foliofs-ctl sets it)\n"
	      "  -o debug_logwrites=PATH  TEST ONLY: log every write, flush and discard to\n"
	      "                     the image, with their bytes, to PATH for foliofs-crash\n"
	      "                     (foliofs-ctl MOUNTPOINT mark LABEL adds a mark)\n"
	      "Generic mount options (rw, dev, suid, exec, atime, auto, user, _netdev, ...)\n"
	      "are accepted and ignored.\n",
	      f);
}
