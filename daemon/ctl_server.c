/*
 * daemon/ctl_server.c - the control socket: what tools/foliofs-ctl talks to.
 *
 * Interface (daemon/daemon.h): ctl_start, ctl_stop.
 *
 * Channel: a unix stream socket in the abstract namespace named
 * "foliofs-ctl/MAJOR:MINOR" after the mount's device number, which the
 * daemon reads from /proc/self/mountinfo once mounted and a client gets
 * from stat(MOUNTPOINT).st_dev. One thread accepts and serves connections
 * one at a time. The kernel hands a device number to the next mount as soon
 * as a mount goes away, possibly before the old daemon has closed its
 * socket, so a new daemon waits for the name to be free before it reports
 * the mount ready: a client that finds a mount always reaches its daemon.
 *
 * Protocol: the client sends one line, the daemon answers with zero or more
 * lines of output and a last line "OK" or "ERR <exit code> <message>", then
 * closes. Requests:
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
 * Permissions (SO_PEERCRED): anyone may read (stats, get); set, drop-caches,
 * reclaim, sync and mark need root or the user that runs the daemon.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "backing/logwrites.h"
#include "daemon/daemon.h"

#define CTL_LINE_MAX	 8192 /* a mark's label (LW_LABEL_MAX) and its request word */
#define CTL_TIMEOUT_S	 10
#define CTL_BIND_TRIES	 100
#define CTL_BIND_WAIT_MS 100

/* ---- finding the mount's device number ---- */

/* Undo the octal escapes of /proc/self/mountinfo (\040 and friends). */
static void ctl_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

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

static bool ctl_may_change(struct daemon *d, uid_t uid)
{
	return uid == 0 || uid == getuid();
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
	if (!ctl_may_change(d, uid)) {
		snprintf(err, errlen, "%.20s: permission denied (root or uid %ld only)", line,
			 (long)getuid());
		return -EPERM;
	}
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

/* Read one line (without its newline) within the socket's timeout. */
static int ctl_read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, size - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(buf, '\n', n))
			break;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return n ? 0 : -EIO;
}

static void ctl_serve(struct daemon *d, int fd)
{
	struct timeval tv = {.tv_sec = CTL_TIMEOUT_S};
	struct ucred cred = {.uid = (uid_t)-1};
	socklen_t clen = sizeof(cred);
	char line[CTL_LINE_MAX], err[512] = "";
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int ret;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) ||
	    ctl_read_line(fd, line, sizeof(line)))
		return;
	out = open_memstream(&text, &len);
	if (!out)
		return;
	ret = ctl_exec(d, line, cred.uid, out, err, sizeof(err));
	if (ret)
		fprintf(out, "ERR 1 %s\n", err[0] ? err : strerror(-ret));
	else
		fputs("OK\n", out);
	if (!fclose(out))
		ctl_send_all(fd, text, len); /* a client that left has no answer */
	free(text);
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
		fd = accept4(d->ctl.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		ctl_serve(d, fd);
		close(fd);
	}
	return NULL;
}

/* ---- start and stop ---- */

/* Bind the socket's name. A daemon whose mount just went away may still
 * hold it (the kernel reuses device numbers at once): wait for it to let
 * go, CTL_BIND_TRIES times CTL_BIND_WAIT_MS at most. */
static int ctl_bind(int fd, const struct sockaddr_un *sa, socklen_t len)
{
	for (int i = 0;; i++) {
		if (!bind(fd, (const struct sockaddr *)sa, len))
			return 0;
		if (errno != EADDRINUSE || i == CTL_BIND_TRIES)
			return -errno;
		usleep(CTL_BIND_WAIT_MS * 1000);
	}
}

static int ctl_listen(struct daemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n, err, fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, CTL_SOCKET_FMT, d->ctl.dev_major,
		     d->ctl.dev_minor);
	err = ctl_bind(fd, &sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n));
	if (!err && listen(fd, 16))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	d->ctl.listen_fd = fd;
	return 0;
}

/**
 * ctl_start - open the control socket and start its thread
 * @d: the daemon, mounted (its mount is in /proc/self/mountinfo)
 *
 * Context: main thread, before the session loop; signals blocked.
 * Return: 0 or a negative errno (the daemon goes on without the socket).
 */
int ctl_start(struct daemon *d)
{
	int err;

	d->ctl.listen_fd = -1;
	d->ctl.stop_pipe[0] = d->ctl.stop_pipe[1] = -1;
	err = ctl_find_dev(d);
	if (!err)
		err = ctl_listen(d);
	if (err)
		return err;
	if (pipe2(d->ctl.stop_pipe, O_CLOEXEC)) {
		err = -errno;
		goto out_close;
	}
	err = -pthread_create(&d->ctl.thread, NULL, ctl_thread, d);
	if (err)
		goto out_pipe;
	d->ctl.running = true;
	return 0;
out_pipe:
	close(d->ctl.stop_pipe[0]);
	close(d->ctl.stop_pipe[1]);
out_close:
	close(d->ctl.listen_fd);
	d->ctl.listen_fd = -1;
	return err;
}

/**
 * ctl_stop - stop serving the control socket
 * @d: the daemon
 *
 * Waits for a request being served to finish.
 *
 * Context: main thread, at shutdown.
 */
void ctl_stop(struct daemon *d)
{
	if (!d->ctl.running)
		return;
	if (write(d->ctl.stop_pipe[1], "x", 1) < 0)
		perror("foliofs: stopping the control thread");
	pthread_join(d->ctl.thread, NULL);
	d->ctl.running = false;
	close(d->ctl.stop_pipe[0]);
	close(d->ctl.stop_pipe[1]);
	close(d->ctl.listen_fd);
	d->ctl.listen_fd = -1;
}
