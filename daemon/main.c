/*
 * daemon/main.c - the foliofs daemon: foliofs IMAGE MOUNTPOINT [-o opts] [-f] [-d]
 *
 * Owns start-up, the session loop and clean shutdown. In order:
 *   1. Parse and check every option and the mountpoint (opts.c).
 *      A mistake: one line on stderr, exit 2, nothing opened.
 *   2. Without -f: fork. The parent waits on a pipe and exits 0 once the
 *      child says the filesystem is mounted and the kernel's INIT has been
 *      answered, or with the child's status when the child fails; the child
 *      carries on in a new session. The fork comes first because the cache
 *      starts threads at fs_mount() and threads do not survive a fork;
 *      fuse_daemonize() forks where it is called, so it cannot be used after
 *      the mount, and errors must reach the terminal before the parent
 *      exits. The child detaches from the terminal (stdio to /dev/null,
 *      cwd /) only when it reports success (daemon_ready()).
 *   3. fs_mount() with a pool of cache_max bytes, then the memory limit set
 *      to cache_size, the readahead maximum, the writeback tunables (in the
 *      order given) and, unless read-only, the flusher threads (stopped
 *      again before fs_unmount()). A bad image: one line, exit
 *      1, nothing written (fs_mount's promise). The root inode stays
 *      referenced until shutdown.
 *   4. The FUSE session: fuse_session_new() with fsname, subtype,
 *      default_permissions (always: the kernel checks permissions and ACLs),
 *      allow_other and ro as asked; fuse_session_mount(); then
 *      fuse_session_custom_io() on the same descriptor, so reads and writes
 *      of /dev/fuse go through io.c. libfuse 3.14 keeps the
 *      mountpoint from fuse_session_mount() and unmounts with it, closing
 *      the descriptor then; fuse_session_destroy() closes it otherwise.
 *   5. The control socket and the notifier thread, then the multithreaded
 *      loop. SIGINT, SIGTERM and SIGHUP are blocked while threads are
 *      started, so only the main thread takes them (libfuse's handlers end
 *      the loop); libfuse blocks them in its workers itself.
 *   6. When the loop ends (fusermount3 -u, umount, or a signal): stop the
 *      notifier and control threads, unmount if still mounted, release the
 *      handles the kernel left open, drop the root, fs_unmount() - every dirty page and metadata
 * block written, the device flushed, the image marked clean - and only then exit. Exit status: 0
 * after a clean unmount, 1 when mounting or unmounting failed, 2 for a bad command line.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/daemon.h"

/* ---- detaching ---- */

/* Parent side of the start-up fork: wait for the child's word. Returns the
 * pipe's write end in the child; the parent exits here. */
static int daemon_fork(void)
{
	int p[2], status;
	ssize_t n;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) || (pid = fork()) < 0) {
		perror("foliofs: cannot start the daemon");
		exit(1);
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		return p[1];
	}
	close(p[1]);
	do
		n = read(p[0], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		_exit(0);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		_exit(1);
	_exit(WEXITSTATUS(status) ? WEXITSTATUS(status) : 1);
}

/**
 * daemon_ready - the filesystem is mounted and serving: release the parent
 * @d: the daemon
 *
 * Without -f, tells the waiting parent to exit 0, then points stdin, stdout
 * and stderr at /dev/null and leaves the working directory. Does nothing
 * the second time or in the foreground.
 *
 * Context: the init handler (one libfuse worker, once).
 */
void daemon_ready(struct daemon *d)
{
	int fd;

	if (d->ready_fd < 0)
		return;
	if (write(d->ready_fd, "", 1) != 1)
		perror("foliofs: telling the parent");
	close(d->ready_fd);
	d->ready_fd = -1;
	if (chdir("/"))
		perror("foliofs: chdir /");
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/* ---- start-up ---- */

/* The mountpoint must be a directory; keep its absolute path. */
static int check_mountpoint(struct daemon_opts *o)
{
	char *real = realpath(o->mountpoint, NULL);
	struct stat st;

	if (!real || stat(real, &st)) {
		fprintf(stderr, "foliofs: %s: %s\n", o->mountpoint, strerror(errno));
		free(real);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "foliofs: %s: not a directory\n", o->mountpoint);
		free(real);
		return -1;
	}
	free(o->mountpoint);
	o->mountpoint = real;
	return 0;
}

#define DAEMON_FLUSHERS 2 /* flusher threads: two device writes in flight */

/* The writeback tunables in the order given, then the flusher threads. */
static int daemon_start_writeback(struct daemon *d)
{
	struct cache *cache = d->fs->cache;
	int err = 0;

	for (unsigned i = 0; i < d->opts.nr_wb && !err; i++)
		err = cache_wb_set(cache, d->opts.wb[i].key, d->opts.wb[i].value);
	if (!err && !d->opts.fs.rdonly)
		err = cache_flusher_start(cache, DAEMON_FLUSHERS);
	return err;
}

/* The compressed tier: on (the daemon's default), then the options in the
 * order given. */
static int daemon_start_zswap(struct daemon *d)
{
	struct cache *cache = d->fs->cache;
	int err = cache_zswap_set(cache, ZSWAP_ENABLED, "on");

	for (unsigned i = 0; i < d->opts.nr_zswap && !err; i++)
		err = cache_zswap_set(cache, d->opts.zswap[i].key, d->opts.zswap[i].value);
	return err;
}

/* fs_mount with the pool at cache_max, then the limit, readahead, the
 * compressed tier and writeback (flusher threads). */
static int daemon_mount_fs(struct daemon *d)
{
	struct fs_options fo = d->opts.fs;
	char msg[512];
	int err;

	fo.cache_size = d->opts.cache_max;
	err = fs_mount(d->opts.image, &fo, &d->fs, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "foliofs: %s\n", msg[0] ? msg : strerror(-err));
		return err;
	}
	err = cache_set_limit(d->fs->cache, d->opts.fs.cache_size);
	if (!err)
		err = cache_set_ra_max(d->fs->cache, d->opts.fs.ra_max_pages);
	if (!err)
		err = daemon_start_zswap(d);
	if (!err)
		err = daemon_start_writeback(d);
	if (!err)
		err = fs_iget(d->fs, FOLIO_ROOT_INO, &d->root);
	if (err) {
		fprintf(stderr, "foliofs: %s: cannot set up: %s\n", d->opts.image, strerror(-err));
		fs_unmount(d->fs);
		d->fs = NULL;
	}
	return err;
}

/* "a,b" -> "a\,b" and "\" -> "\\" for a value inside an -o list. */
static char *opt_escape(const char *s)
{
	char *out = malloc(2 * strlen(s) + 1), *w = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		if (*s == ',' || *s == '\\')
			*w++ = '\\';
		*w++ = *s;
	}
	*w = '\0';
	return out;
}

/* The options for fuse_session_new(): the mount's, as one -o list. */
static char *session_mount_opts(const struct daemon_opts *o)
{
	char *fsname = opt_escape(o->fsname), *subtype = opt_escape(o->subtype), *s = NULL;

	if (fsname && subtype &&
	    asprintf(&s, "fsname=%s,subtype=%s,default_permissions%s%s", fsname, subtype,
		     o->allow_other ? ",allow_other" : "", o->fs.rdonly ? ",ro" : "") < 0)
		s = NULL;
	free(fsname);
	free(subtype);
	return s;
}

static struct fuse_session *session_new(struct daemon *d)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char *mopts = session_mount_opts(&d->opts);
	struct fuse_session *se = NULL;

	if (mopts && !fuse_opt_add_arg(&args, "foliofs") && !fuse_opt_add_arg(&args, "-o") &&
	    !fuse_opt_add_arg(&args, mopts) && (!d->opts.debug || !fuse_opt_add_arg(&args, "-d")))
		se = fuse_session_new(&args, &daemon_ll_ops, sizeof(daemon_ll_ops), d);
	fuse_opt_free_args(&args);
	free(mopts);
	return se;
}

/* Session, signal handlers, the mount, our I/O functions. */
static int daemon_session(struct daemon *d)
{
	const struct fuse_custom_io io = {.read = daemon_io_read, .writev = daemon_io_writev};

	d->se = session_new(d);
	if (!d->se) {
		fprintf(stderr, "foliofs: cannot create the FUSE session\n");
		return -1;
	}
	if (fuse_set_signal_handlers(d->se)) {
		fprintf(stderr, "foliofs: cannot install signal handlers\n");
		goto out_destroy;
	}
	if (fuse_session_mount(d->se, d->opts.mountpoint)) {
		fprintf(stderr, "foliofs: cannot mount %s on %s\n", d->opts.image,
			d->opts.mountpoint);
		goto out_signals;
	}
	if (fuse_session_custom_io(d->se, &io, fuse_session_fd(d->se))) {
		fprintf(stderr, "foliofs: cannot set up /dev/fuse I/O\n");
		fuse_session_unmount(d->se);
		goto out_signals;
	}
	return 0;
out_signals:
	fuse_remove_signal_handlers(d->se);
out_destroy:
	fuse_session_destroy(d->se);
	d->se = NULL;
	return -1;
}

static void session_end(struct daemon *d)
{
	fuse_session_unmount(d->se);
	fuse_remove_signal_handlers(d->se);
	fuse_session_destroy(d->se);
	d->se = NULL;
}

/* ---- the loop and shutdown ---- */

static int daemon_loop(struct daemon *d, const sigset_t *sigs)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int err;

	if (ctl_start(d))
		fprintf(stderr,
			"foliofs: no control socket for %s (foliofs-ctl will not reach it)\n",
			d->opts.mountpoint);
	err = daemon_notify_start(d);
	if (err || !cfg) {
		fprintf(stderr, "foliofs: cannot start: %s\n", strerror(err ? -err : ENOMEM));
		ctl_stop(d);
		fuse_loop_cfg_destroy(cfg);
		return -1;
	}
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, d->opts.max_threads);
	pthread_sigmask(SIG_SETMASK, sigs, NULL);
	err = fuse_session_loop_mt(d->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	daemon_notify_stop(d);
	ctl_stop(d);
	if (!atomic_load(&d->init_done)) {
		fprintf(stderr, "foliofs: the kernel ended the session before it started\n");
		return -1;
	}
	return err < 0 ? err : 0;
}

/* Write everything and mark the image clean. */
static int daemon_unmount_fs(struct daemon *d)
{
	int err;

	cache_flusher_stop(d->fs->cache);
	fs_iput(d->root);
	err = fs_unmount(d->fs);
	d->fs = NULL;
	if (err)
		fprintf(stderr, "foliofs: %s: unmount failed: %s\n", d->opts.image, strerror(-err));
	return err;
}

static int daemon_run(struct daemon *d)
{
	sigset_t block, old;
	int ret;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if (daemon_mount_fs(d))
		return 1;
	daemon_handles_init(d);
	if (daemon_session(d)) {
		daemon_handles_release(d);
		daemon_unmount_fs(d);
		return 1;
	}
	ret = daemon_loop(d, &old) ? 1 : 0;
	session_end(d);
	daemon_handles_release(d);
	if (daemon_unmount_fs(d))
		ret = 1;
	return ret;
}

int main(int argc, char **argv)
{
	struct daemon *d = calloc(1, sizeof(*d));
	char msg[512];
	int ret;

	if (!d) {
		fprintf(stderr, "foliofs: out of memory\n");
		return 1;
	}
	d->ready_fd = -1;
	ret = daemon_parse_args(argc, argv, &d->opts, msg, sizeof(msg));
	if (ret == 0 && check_mountpoint(&d->opts))
		ret = 2;
	else if (ret < 0)
		fprintf(stderr, "foliofs: %s\n", msg);
	if (ret == 0) {
		if (!d->opts.foreground)
			d->ready_fd = daemon_fork();
		ret = daemon_run(d);
	} else {
		ret = ret == 1 ? 0 : 2;
	}
	daemon_opts_free(&d->opts);
	free(d);
	return ret;
}
