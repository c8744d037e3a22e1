/*
 * daemon/ctl_server.c - the control socket: what tools/foliofs-ctl talks to.
 *
 * Interface (daemon/daemon.h): ctl_start, ctl_stop.
 *
 * Channel: a unix stream socket file named MAJOR:MINOR.sock after the mount's device
 * number (which the daemon reads from /proc/self/mountinfo once mounted and a client
 * gets from stat(MOUNTPOINT).st_dev), in a directory only the daemon's user can write;
 * daemon/ctl_sock.c makes it, claims the name from a killed daemon's stale file, and
 * removes it at exit.
 *
 * Connections: one thread accepts; each connection gets its own thread, so a slow or
 * silent client delays nobody else. A connection has CTL_TIMEOUT_S for its request
 * line to arrive (counted from accept, however slowly the bytes come) and as long
 * again for its answer to be taken; it is then closed. At most CTL_CONN_PER_UID
 * connections per uid and CTL_CONN_MAX in all, root's and the daemon's user's not
 * counted in the second limit (daemon/daemon.h); one over a limit gets an ERR line at
 * once. Changes (set, drop-caches, reclaim, sync, mark) run one at a time under
 * exec_lock; stats and get never wait for them.
 *
 * Protocol: the daemon sends the hello line (CTL_HELLO_FMT: its pid and the device
 * number, which the client checks against SO_PEERCRED and st_dev), the client sends one
 * line, the daemon answers with zero or more lines of output and a last line "OK" or
 * "ERR <exit code> <message>", then closes. Requests:
 *   stats              vmstat-style "name value" lines (every cache counter,
 *                      the device's, the filesystem's and the daemon's), a
 *                      blank line, then a meminfo-style summary
 *   get KEY            the value alone
 *   set KEY=VALUE      change a tunable
 *   drop-caches        free every clean, unused page; "dropped_pages N"
 *   reclaim SIZE       reclaim up to SIZE of clean pages now, as memory
 *                      pressure would (the compressed tier keeps what it
 *                      takes), like cgroup v2's memory.reclaim;
 *                      "reclaimed_pages N"
 *   sync               write everything dirty and flush the device
 *   mark LABEL         test-only, see below
 * Keys: cache_size (rw, bytes, 64K..cache_max), readahead (rw, bytes,
 * 0..16M, for files opened afterwards), the writeback tunables (rw:
 * dirty_ratio, dirty_background_ratio, dirty_bytes, dirty_background_bytes,
 * dirty_expire_centisecs, dirty_writeback_centisecs, wb_max_bytes,
 * wb_fill_bytes; see cache/cache.h), the compressed tier's parameters (rw:
 * zswap, zswap_max_pool_percent, zswap_accept_threshold_percent,
 * zswap_compressor, zswap_max_compressed_percent, zswap_admission; see
 * cache/cache.h), cache_max, cache, pid, image, mountpoint (read-only).
 * Test-only: debug_corrupt_writes (set only, a count, on a mount made with
 * -o debug_corrupt_writes) and its stats line debug_corrupted_writes;
 * debug_fail_writes (set only, 0 or 1, same mount option): every file-data
 * write fails with EIO while 1. "mark LABEL" (on a mount made with
 * -o debug_logwrites) appends a mark to the write log, after every device
 * request that completed before it (backing/logwrites.h); the stats line
 * debug_logwrites_entries counts the log's entries.
 *
 * Permissions (SO_PEERCRED): anyone who can reach the socket may read (stats, get of
 * every key: what get shows is public already, the image and mountpoint in
 * /proc/mounts, the pid in /proc); set, drop-caches, reclaim, sync and mark need root
 * or the user that runs the daemon.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backing/logwrites.h"
#include "daemon/daemon.h"

#define CTL_LINE_MAX  8192 /* a mark's label (LW_LABEL_MAX) and its request word */
#define CTL_TIMEOUT_S 10   /* for the request line to arrive, and for the answer to go */

/* ---- finding the mount's device number ---- */

/* One mountinfo line: does it show our mount? Sets the device number. */
static bool ctl_mountinfo_match(char *line, const char *mnt, const char *fstype, unsigned *maj,
				unsigned *min)
{
	char *sep = strstr(line, " - "), *save = NULL, *f[5];
	char type[256];

	if (!sep || sscanf(sep + 3, "%255s", type) != 1 || strcmp(type, fstype))
		return false;
	*sep = '\0';
	f[0] = strtok_r(line, " ", &save);
	for (int i = 1; i < 5; i++)
		f[i] = f[i - 1] ? strtok_r(NULL, " ", &save) : NULL;
	if (!f[4] || sscanf(f[2], "%u:%u", maj, min) != 2)
		return false;
	ctl_unescape(f[4]);
	return !strcmp(f[4], mnt);
}

/* The device number of the newest mount of type fuse.SUBTYPE on our
 * mountpoint. */
static int ctl_find_dev(struct daemon *d)
{
	char fstype[300], *line = NULL;
	unsigned maj, min;
	size_t cap = 0;
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -errno;
	snprintf(fstype, sizeof(fstype), "fuse.%s", d->opts.subtype);
	while (getline(&line, &cap, f) > 0) {
		if (ctl_mountinfo_match(line, d->opts.mountpoint, fstype, &maj, &min)) {
			d->ctl.dev_major = maj;
			d->ctl.dev_minor = min;
			found = true;
		}
	}
	free(line);
	fclose(f);
	return found ? 0 : -ENOENT;
}

/* ---- requests ---- */

/* The journal's counters (all 0 without one). */
static void ctl_stats_journal(struct fs *fs, FILE *out)
{
	struct fs_journal_stats js;

	fs_journal_stats(fs, &js);
	fprintf(out,
		"journal_blocks %" PRIu32 "\njournal_used_blocks %" PRIu32
		"\njournal_commits %" PRIu64 "\njournal_checkpoints %" PRIu64
		"\njournal_logged_blocks %" PRIu64 "\njournal_revokes %" PRIu64
		"\njournal_committed_tid %" PRIu64 "\n",
		js.blocks, js.used, js.commits, js.checkpoints, js.logged_blocks, js.revokes,
		js.committed_tid);
}

static void ctl_stats_counters(struct daemon *d, FILE *out)
{
	uint64_t v[NR_CACHE_STATS];
	struct bdev_stats b;
	struct fs *fs = d->fs;
	uint64_t nr_inodes;

	cache_stats_snapshot(fs->cache, v);
	for (int i = 0; i < NR_CACHE_STATS; i++)
		fprintf(out, "%s %" PRIu64 "\n", cache_stat_name(i), v[i]);
	bdev_get_stats(fs->bdev, &b);
	fprintf(out, "bdev_reads %" PRIu64 "\nbdev_writes %" PRIu64 "\n", b.reads, b.writes);
	fprintf(out, "bdev_read_bytes %" PRIu64 "\nbdev_write_bytes %" PRIu64 "\n", b.read_bytes,
		b.write_bytes);
	fprintf(out,
		"bdev_flushes %" PRIu64 "\nbdev_discards %" PRIu64 "\nbdev_errors %" PRIu64 "\n",
		b.flushes, b.discards, b.errors);
	pthread_mutex_lock(&fs->icache_lock);
	nr_inodes = fs->nr_inodes;
	pthread_mutex_unlock(&fs->icache_lock);
	fprintf(out, "fs_inodes_cached %" PRIu64 "\n", nr_inodes);
	fprintf(out, "fs_blocks %" PRIu64 "\nfs_free_blocks %" PRIu64 "\n", fs->geom.blocks_count,
		atomic_load(&fs->free_blocks));
	fprintf(out, "fs_inodes %" PRIu64 "\nfs_free_inodes %" PRIu32 "\n",
		(uint64_t)fs->geom.inodes_count, atomic_load(&fs->free_inodes));
	fprintf(out, "fs_block_size %u\nfs_read_only %d\n", (unsigned)fs->geom.block_size,
		atomic_load(&fs->rdonly) ? 1 : 0);
	fprintf(out, "fs_errors %d\nfs_corruptions %" PRIu64 "\nfs_errors_continue %d\n",
		atomic_load(&fs->errors) ? 1 : 0, atomic_load(&fs->nr_corrupt),
		fs->opts.errors == FS_ERRORS_CONTINUE ? 1 : 0);
	ctl_stats_journal(fs, out);
	if (fs->data_faulty)
		fprintf(out, "debug_corrupted_writes %" PRIu64 "\n",
			faulty_corrupted(fs->data_faulty));
	if (fs->logwrites)
		fprintf(out, "debug_logwrites_entries %" PRIu64 "\n",
			logwrites_entries(fs->logwrites));
}

static void ctl_stats_daemon(struct daemon *d, FILE *out)
{
	for (int i = 0; i < NR_DAEMON_OPS; i++)
		fprintf(out, "fuse_%s %" PRIu64 "\n", daemon_op_name(i),
			atomic_load(&d->nr_ops[i]));
	fprintf(out, "fuse_errors %" PRIu64 "\n", atomic_load(&d->nr_errors));
	fprintf(out, "fuse_read_bytes %" PRIu64 "\nfuse_write_bytes %" PRIu64 "\n",
		atomic_load(&d->read_bytes), atomic_load(&d->write_bytes));
	fprintf(out, "inval_sent %" PRIu64 "\ninval_failed %" PRIu64 "\n",
		atomic_load(&d->notify.sent), atomic_load(&d->notify.failed));
	fprintf(out, "direct_io_allow_mmap %d\n", atomic_load(&d->io.patched) ? 1 : 0);
}

static void ctl_kb(FILE *out, const char *name, uint64_t bytes)
{
	char label[32];

	snprintf(label, sizeof(label), "%s:", name);
	fprintf(out, "%-16s%10" PRIu64 " kB\n", label, bytes >> 10);
}

/* Zswap: the pool's bytes; Zswapped: the bytes of the pages it holds, and
 * their ratio (as /proc/meminfo has the first two). */
static void ctl_stats_zswap(struct cache *c, FILE *out)
{
	struct cache_zswap_info zi;
	uint64_t pool, orig;

	cache_zswap_info(c, &zi);
	pool = zi.pool_pages * PAGE_SIZE;
	orig = zi.stored_pages * PAGE_SIZE;
	ctl_kb(out, "Zswap", pool);
	ctl_kb(out, "Zswapped", orig);
	ctl_kb(out, "ZswapMax", zi.max_pool_pages * PAGE_SIZE);
	fprintf(out, "%-16s%10.2f\n", "ZswapRatio:", pool ? (double)orig / (double)pool : 0.0);
}

static void ctl_stats_meminfo(struct daemon *d, FILE *out)
{
	struct cache *c = d->fs->cache;
	uint64_t meta = atomic_load(&d->fs->meta.nrpages), file = cache_stat(c, NR_FILE_PAGES);
	struct cache_mem mem;

	cache_mem_info(c, &mem);
	ctl_kb(out, "MemLimit", cache_get_limit(c));
	ctl_kb(out, "MemPool", d->opts.cache_max);
	ctl_kb(out, "PoolResident", (uint64_t)cache_pool_resident(c) * PAGE_SIZE);
	ctl_kb(out, "MemFree", cache_stat(c, NR_FREE_PAGES) * PAGE_SIZE);
	ctl_kb(out, "Buffers", meta * PAGE_SIZE);
	ctl_kb(out, "Cached", (file > meta ? file - meta : 0) * PAGE_SIZE);
	ctl_kb(out, "Active(file)", cache_stat(c, NR_ACTIVE_FILE) * PAGE_SIZE);
	ctl_kb(out, "Inactive(file)", cache_stat(c, NR_INACTIVE_FILE) * PAGE_SIZE);
	ctl_kb(out, "Dirty", cache_stat(c, NR_DIRTY) * PAGE_SIZE);
	ctl_kb(out, "Writeback", cache_stat(c, NR_WRITEBACK) * PAGE_SIZE);
	ctl_kb(out, "Metadata", mem.metadata_bytes);
	ctl_kb(out, "ReadaheadMax", (uint64_t)cache_get_ra_max(c) * PAGE_SIZE);
	ctl_stats_zswap(c, out);
}

static const char *const ctl_keys[] = {
	"cache_size", "readahead", "cache_max", "cache", "pid", "image", "mountpoint", NULL,
};

static bool ctl_key_known(const char *key)
{
	for (int i = 0; ctl_keys[i]; i++)
		if (!strcmp(key, ctl_keys[i]))
			return true;
	return false;
}

static const char *ctl_mode_name(int mode)
{
	return mode == DAEMON_CACHE_KERNEL ? "kernel" : "daemon";
}

static int ctl_get_zswap(struct cache *c, int key, FILE *out)
{
	char buf[64];
	int err = cache_zswap_get(c, key, buf, sizeof(buf));

	if (!err)
		fprintf(out, "%s\n", buf);
	return err;
}

static int ctl_get(struct daemon *d, const char *key, FILE *out)
{
	struct cache *c = d->fs->cache;

	if (!strcmp(key, "cache_size"))
		fprintf(out, "%" PRIu64 "\n", cache_get_limit(c));
	else if (!strcmp(key, "cache_max"))
		fprintf(out, "%" PRIu64 "\n", d->opts.cache_max);
	else if (!strcmp(key, "readahead"))
		fprintf(out, "%" PRIu64 "\n", (uint64_t)cache_get_ra_max(c) * PAGE_SIZE);
	else if (!strcmp(key, "cache"))
		fprintf(out, "%s\n", ctl_mode_name(atomic_load(&d->cache_mode)));
	else if (!strcmp(key, "pid"))
		fprintf(out, "%ld\n", (long)getpid());
	else if (!strcmp(key, "image"))
		fprintf(out, "%s\n", d->opts.image);
	else if (!strcmp(key, "mountpoint"))
		fprintf(out, "%s\n", d->opts.mountpoint);
	else if (cache_wb_tunable_lookup(key) >= 0)
		fprintf(out, "%" PRIu64 "\n", cache_wb_get(c, cache_wb_tunable_lookup(key)));
	else if (cache_zswap_param_lookup(key) >= 0)
		return ctl_get_zswap(c, cache_zswap_param_lookup(key), out);
	else
		return -ENOENT;
	return 0;
}

/* Test-only: set debug_corrupt_writes=N on a mount made with that option. */
static int ctl_set_corrupt(struct daemon *d, const char *val, char *err, size_t errlen)
{
	char *end;
	unsigned long v = strtoul(val, &end, 10);

	if (!d->fs->data_faulty) {
		snprintf(err, errlen, "debug_corrupt_writes needs a mount with that option");
		return -EINVAL;
	}
	if (*val < '0' || *val > '9' || *end || v > UINT32_MAX) {
		snprintf(err, errlen, "bad count '%.100s' for debug_corrupt_writes", val);
		return -EINVAL;
	}
	faulty_corrupt_writes(d->fs->data_faulty, (unsigned)v);
	return 0;
}

/* Test-only: set debug_fail_writes=1 makes every file-data write to the
 * image fail with EIO (the debug_corrupt_writes wrapper), 0 ends it. */
static int ctl_set_fail(struct daemon *d, const char *val, char *err, size_t errlen)
{
	if (!d->fs->data_faulty) {
		snprintf(err, errlen, "debug_fail_writes needs a mount with debug_corrupt_writes");
		return -EINVAL;
	}
	if (!strcmp(val, "0")) {
		faulty_clear_ranges(d->fs->data_faulty);
		return 0;
	}
	if (strcmp(val, "1")) {
		snprintf(err, errlen, "bad value '%.100s' for debug_fail_writes (0 or 1)", val);
		return -EINVAL;
	}
	return faulty_fail_range(d->fs->data_faulty, FAULTY_WRITE, 0, UINT64_MAX);
}

/* set of a writeback tunable (dirty_ratio, ...). */
static int ctl_set_wb(struct daemon *d, int key, const char *name, const char *val, char *err,
		      size_t errlen)
{
	uint64_t v;

	if (daemon_parse_size(val, &v) || cache_wb_set(d->fs->cache, key, v)) {
		snprintf(err, errlen, "bad value '%.100s' for %s (see foliofs -h)", val, name);
		return -EINVAL;
	}
	return 0;
}

/* set of a compressed-tier parameter (zswap, zswap_max_pool_percent, ...). */
static int ctl_set_zswap(struct daemon *d, int key, const char *name, const char *val, char *err,
			 size_t errlen)
{
	if (cache_zswap_set(d->fs->cache, key, val)) {
		snprintf(err, errlen, "bad value '%.100s' for %s (see foliofs -h)", val, name);
		return -EINVAL;
	}
	return 0;
}

/* set KEY=VALUE; one line in @err on failure. */
static int ctl_set(struct daemon *d, char *arg, char *err, size_t errlen)
{
	char *val = strchr(arg, '=');
	uint64_t v;

	if (!val) {
		snprintf(err, errlen, "set needs KEY=VALUE");
		return -EINVAL;
	}
	*val++ = '\0';
	if (!strcmp(arg, "debug_corrupt_writes"))
		return ctl_set_corrupt(d, val, err, errlen);
	if (!strcmp(arg, "debug_fail_writes"))
		return ctl_set_fail(d, val, err, errlen);
	if (cache_wb_tunable_lookup(arg) >= 0)
		return ctl_set_wb(d, cache_wb_tunable_lookup(arg), arg, val, err, errlen);
	if (cache_zswap_param_lookup(arg) >= 0)
		return ctl_set_zswap(d, cache_zswap_param_lookup(arg), arg, val, err, errlen);
	if (strcmp(arg, "cache_size") && strcmp(arg, "readahead")) {
		if (ctl_key_known(arg))
			snprintf(err, errlen, "%.100s cannot be changed while mounted", arg);
		else
			snprintf(err, errlen,
				 "unknown key '%.100s' (cache_size, readahead, dirty_*, "
				 "wb_max_bytes, wb_fill_bytes, zswap, zswap_*)",
				 arg);
		return -EINVAL;
	}
	if (daemon_parse_size(val, &v)) {
		snprintf(err, errlen, "bad size '%.100s' for %s", val, arg);
		return -EINVAL;
	}
	if (!strcmp(arg, "readahead")) {
		if (v > DAEMON_RA_MAX) {
			snprintf(err, errlen, "readahead=%.100s is too large (at most 16M)", val);
			return -EINVAL;
		}
		return cache_set_ra_max(d->fs->cache, (unsigned)(v / PAGE_SIZE));
	}
	if (v < DAEMON_CACHE_MIN || v > d->opts.cache_max) {
		snprintf(err, errlen,
			 "cache_size=%.100s is out of range (64K to cache_max=%" PRIu64 ")", val,
			 d->opts.cache_max);
		return -EINVAL;
	}
	return cache_set_limit(d->fs->cache, v);
}

/* Test-only: mark LABEL on a mount made with -o debug_logwrites. */
static int ctl_mark(struct daemon *d, const char *label, char *err, size_t errlen)
{
	int ret;

	if (!d->fs->logwrites) {
		snprintf(err, errlen, "mark needs a mount with debug_logwrites");
		return -EINVAL;
	}
	ret = label ? logwrites_mark(d->fs->logwrites, label) : -EINVAL;
	if (ret == -EINVAL)
		snprintf(err, errlen, "mark needs a label of 1 to %d bytes", LW_LABEL_MAX);
	return ret;
}

/* reclaim SIZE: clean pages out, as memory pressure would evict them. */
static int ctl_reclaim(struct daemon *d, const char *arg, FILE *out, char *err, size_t errlen)
{
	uint64_t v;

	if (!arg || daemon_parse_size(arg, &v)) {
		snprintf(err, errlen, "reclaim needs a size (bytes, or a number with K, M or G)");
		return -EINVAL;
	}
	fprintf(out, "reclaimed_pages %lu\n", cache_reclaim(d->fs->cache, v / PAGE_SIZE));
	return 0;
}

/* May @uid change things (set, sync, ...)? */
static bool ctl_may_change(struct daemon *d, uid_t uid)
{
	return uid == 0 || uid == getuid();
}

static int ctl_denied(const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%.20s: permission denied (root or uid %ld only)", what,
		 (long)getuid());
	return -EPERM;
}

/* A change, run under exec_lock: one at a time, never delaying stats or get. */
static int ctl_exec_change(struct daemon *d, const char *line, char *arg, FILE *out, char *err,
			   size_t errlen)
{
	if (!strcmp(line, "set"))
		return arg ? ctl_set(d, arg, err, errlen) : -EINVAL;
	if (!strcmp(line, "mark"))
		return ctl_mark(d, arg, err, errlen);
	if (!strcmp(line, "drop-caches")) {
		fprintf(out, "dropped_pages %lu\n", cache_drop_clean(d->fs->cache));
		return 0;
	}
	if (!strcmp(line, "reclaim"))
		return ctl_reclaim(d, arg, out, err, errlen);
	return fs_sync(d->fs);
}

/* Run one request; output to @out, one line in @err on failure. */
static int ctl_exec(struct daemon *d, char *line, uid_t uid, FILE *out, char *err, size_t errlen)
{
	char *arg = strchr(line, ' ');
	int ret;

	if (arg)
		*arg++ = '\0';
	if (!strcmp(line, "stats") && !arg) {
		ctl_stats_counters(d, out);
		ctl_stats_daemon(d, out);
		fputc('\n', out);
		ctl_stats_meminfo(d, out);
		return 0;
	}
	if (!strcmp(line, "get") && arg) {
		ret = ctl_get(d, arg, out);
		if (ret)
			snprintf(err, errlen, "unknown key '%.100s'", arg);
		return ret;
	}
	if (strcmp(line, "set") && strcmp(line, "drop-caches") && strcmp(line, "sync") &&
	    strcmp(line, "reclaim") && strcmp(line, "mark")) {
		snprintf(err, errlen, "unknown request '%.100s'", line);
		return -EINVAL;
	}
	if (!ctl_may_change(d, uid))
		return ctl_denied(line, err, errlen);
	pthread_mutex_lock(&d->ctl.exec_lock);
	ret = ctl_exec_change(d, line, arg, out, err, errlen);
	pthread_mutex_unlock(&d->ctl.exec_lock);
	return ret;
}

/* ---- connections ---- */

static int64_t ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until @fd is ready for @events. -ETIMEDOUT past @deadline (ms),
 * -ECANCELED when the daemon stops. */
static int ctl_conn_wait(struct daemon *d, int fd, short events, int64_t deadline)
{
	struct pollfd p[2] = {
		{.fd = fd, .events = events},
		{.fd = d->ctl.stop_pipe[0], .events = POLLIN},
	};

	for (;;) {
		int64_t left = deadline - ctl_now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(p, 2, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (p[1].revents)
			return -ECANCELED;
		if (p[0].revents)
			return 0;
	}
}

/* Send all of @buf on the non-blocking @fd before @deadline. */
static int ctl_conn_send(struct daemon *d, int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		int err;

		if (w > 0) {
			buf += w;
			len -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return -EPIPE;
		err = ctl_conn_wait(d, fd, POLLOUT, deadline);
		if (err)
			return err;
	}
	return 0;
}

/* Read the request line (without its newline) from the non-blocking @fd before
 * @deadline. -EMSGSIZE for a line that does not fit. */
static int ctl_conn_read_line(struct daemon *d, int fd, char *buf, size_t size, int64_t deadline)
{
	size_t n = 0;

	while (!memchr(buf, '\n', n)) {
		ssize_t r;
		int err;

		if (n + 1 == size)
			return -EMSGSIZE;
		r = read(fd, buf + n, size - 1 - n);
		if (r > 0) {
			n += (size_t)r;
			continue;
		}
		if (r == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		err = ctl_conn_wait(d, fd, POLLIN, deadline);
		if (err)
			return err;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return n ? 0 : -EIO;
}

/* One connection: the hello line, the request, the answer. */
static void ctl_serve(struct daemon *d, int fd, uid_t uid)
{
	int64_t deadline = ctl_now_ms() + CTL_TIMEOUT_S * 1000;
	char line[CTL_LINE_MAX], err[512] = "", hello[CTL_HELLO_MAX];
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int ret, n;

	n = snprintf(hello, sizeof(hello), CTL_HELLO_FMT, (long)getpid(), d->ctl.dev_major,
		     d->ctl.dev_minor);
	if (ctl_conn_send(d, fd, hello, (size_t)n, deadline))
		return;
	ret = ctl_conn_read_line(d, fd, line, sizeof(line), deadline);
	if (ret && ret != -EMSGSIZE)
		return; /* gone, silent past the timeout, or the daemon stops */
	out = open_memstream(&text, &len);
	if (!out)
		return;
	if (ret)
		snprintf(err, sizeof(err), "request longer than %d bytes", CTL_LINE_MAX - 1);
	else
		ret = ctl_exec(d, line, uid, out, err, sizeof(err));
	if (ret)
		fprintf(out, "ERR 1 %s\n", err[0] ? err : strerror(-ret));
	else
		fputs("OK\n", out);
	if (!fclose(out)) /* a client that left has no answer */
		ctl_conn_send(d, fd, text, len, ctl_now_ms() + CTL_TIMEOUT_S * 1000);
	free(text);
}

/* Admit a connection from @uid: CTL_CONN_PER_UID per uid, CTL_CONN_MAX in all but for
 * root and the daemon's uid. */
static bool ctl_conn_get(struct daemon *d, uid_t uid)
{
	struct daemon_ctl *ctl = &d->ctl;
	bool ok, own = ctl_may_change(d, uid);
	unsigned mine = 0;

	pthread_mutex_lock(&ctl->conn_lock);
	for (unsigned i = 0; i < ctl->nr_conns; i++)
		mine += ctl->conn_uid[i] == uid;
	ok = mine < CTL_CONN_PER_UID && (ctl->nr_conns < CTL_CONN_MAX || own) &&
	     ctl->nr_conns < CTL_CONN_SLOTS;
	if (ok)
		ctl->conn_uid[ctl->nr_conns++] = uid;
	pthread_mutex_unlock(&ctl->conn_lock);
	return ok;
}

static void ctl_conn_put(struct daemon *d, uid_t uid)
{
	struct daemon_ctl *ctl = &d->ctl;

	pthread_mutex_lock(&ctl->conn_lock);
	for (unsigned i = 0; i < ctl->nr_conns; i++) {
		if (ctl->conn_uid[i] == uid) {
			ctl->conn_uid[i] = ctl->conn_uid[--ctl->nr_conns];
			break;
		}
	}
	pthread_cond_broadcast(&ctl->conn_gone);
	pthread_mutex_unlock(&ctl->conn_lock);
}

struct ctl_conn {
	struct daemon *d;
	int fd;
	uid_t uid;
};

static void *ctl_conn_thread(void *arg)
{
	struct ctl_conn *c = arg;
	struct daemon *d = c->d;
	uid_t uid = c->uid;

	ctl_serve(d, c->fd, uid);
	close(c->fd);
	free(c);
	ctl_conn_put(d, uid); /* last: ctl_stop may return once it is done */
	return NULL;
}

/* Over the limit: the hello line and one ERR line, without waiting for anything. */
static void ctl_refuse(struct daemon *d, int fd, uid_t uid)
{
	char msg[CTL_HELLO_MAX + 128];
	int n;

	n = snprintf(msg, sizeof(msg),
		     CTL_HELLO_FMT "ERR 1 too many control connections open (uid %ld may hold "
				   "%d at once)\n",
		     (long)getpid(), d->ctl.dev_major, d->ctl.dev_minor, (long)uid,
		     CTL_CONN_PER_UID);
	if (send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return; /* the client has gone */
}

/* Hand a new connection to its own thread. */
static void ctl_accept_one(struct daemon *d, int fd)
{
	struct ucred cred = {.uid = (uid_t)-1};
	socklen_t clen = sizeof(cred);
	struct ctl_conn *c = NULL;
	pthread_attr_t attr;
	int err = -1;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen))
		goto out_close;
	if (!ctl_conn_get(d, cred.uid)) {
		ctl_refuse(d, fd, cred.uid);
		goto out_close;
	}
	c = malloc(sizeof(*c));
	if (c && !pthread_attr_init(&attr)) {
		*c = (struct ctl_conn){.d = d, .fd = fd, .uid = cred.uid};
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		err = pthread_create(&(pthread_t){0}, &attr, ctl_conn_thread, c);
		pthread_attr_destroy(&attr);
	}
	if (!err)
		return;
	free(c);
	ctl_conn_put(d, cred.uid);
out_close:
	close(fd);
}

static void *ctl_thread(void *arg)
{
	struct daemon *d = arg;
	struct pollfd p[2] = {
		{.fd = d->ctl.listen_fd, .events = POLLIN},
		{.fd = d->ctl.stop_pipe[0], .events = POLLIN},
	};

	for (;;) {
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(d->ctl.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0)
			ctl_accept_one(d, fd);
		else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
			usleep(10 * 1000); /* out of descriptors: let connections finish */
	}
	return NULL;
}

/* ---- start and stop ---- */

static void ctl_locks_init(struct daemon_ctl *ctl)
{
	pthread_mutex_init(&ctl->exec_lock, NULL);
	pthread_mutex_init(&ctl->conn_lock, NULL);
	pthread_cond_init(&ctl->conn_gone, NULL);
	ctl->nr_conns = 0;
}

static void ctl_locks_destroy(struct daemon_ctl *ctl)
{
	pthread_cond_destroy(&ctl->conn_gone);
	pthread_mutex_destroy(&ctl->conn_lock);
	pthread_mutex_destroy(&ctl->exec_lock);
}

/**
 * ctl_start - open the control socket and start its accepting thread
 * @d: the daemon, mounted (its mount is in /proc/self/mountinfo)
 *
 * Says on stderr why when there is no socket.
 *
 * Context: main thread, before the session loop; signals blocked.
 * Return: 0 or a negative errno (the daemon goes on without the socket).
 */
int ctl_start(struct daemon *d)
{
	char why[PATH_MAX + 128] = "";
	int err;

	d->ctl.listen_fd = -1;
	d->ctl.stop_pipe[0] = d->ctl.stop_pipe[1] = -1;
	err = ctl_find_dev(d);
	if (err)
		snprintf(why, sizeof(why), "the mount is not in /proc/self/mountinfo");
	else
		err = ctl_sock_open(d, why, sizeof(why));
	if (err) {
		fprintf(stderr, "foliofs: control socket: %s\n", why);
		return err;
	}
	if (pipe2(d->ctl.stop_pipe, O_CLOEXEC)) {
		err = -errno;
		goto out_close;
	}
	ctl_locks_init(&d->ctl);
	err = -pthread_create(&d->ctl.thread, NULL, ctl_thread, d);
	if (err)
		goto out_pipe;
	d->ctl.running = true;
	return 0;
out_pipe:
	ctl_locks_destroy(&d->ctl);
	close(d->ctl.stop_pipe[0]);
	close(d->ctl.stop_pipe[1]);
out_close:
	ctl_sock_close(d);
	return err;
}

/**
 * ctl_stop - stop serving the control socket and remove its file
 * @d: the daemon
 *
 * The file goes first (so the next daemon of this device number may take the name),
 * then every connection thread is waited for: idle ones leave at once, one running a
 * request finishes it first.
 *
 * Context: main thread, at shutdown.
 */
void ctl_stop(struct daemon *d)
{
	struct daemon_ctl *ctl = &d->ctl;

	if (!ctl->running)
		return;
	if (write(ctl->stop_pipe[1], "x", 1) < 0)
		perror("foliofs: stopping the control threads");
	pthread_join(ctl->thread, NULL);
	ctl_sock_close(d);
	pthread_mutex_lock(&ctl->conn_lock);
	while (ctl->nr_conns)
		pthread_cond_wait(&ctl->conn_gone, &ctl->conn_lock);
	pthread_mutex_unlock(&ctl->conn_lock);
	ctl_locks_destroy(ctl);
	ctl->running = false;
	close(ctl->stop_pipe[0]);
	close(ctl->stop_pipe[1]);
}
