/*
 * daemon/fuse_ops.c - the FUSE low-level operations: each request becomes fs_*
 * calls and exactly one reply. This is the only file where an errno becomes
 * a reply (reply_err()).
 *
 * Interface (daemon/daemon.h): daemon_ll_ops, daemon_op_name, daemon_handles_init,
 * daemon_handles_release.
 *
 * Rules every handler keeps:
 *  - One reply per request, on every path. Handlers take no fs lock: every
 *    fs_* call they make takes what it needs (i_rwsem included) and drops it
 *    before returning. Inode references (iref) are dropped before replying;
 *    the kernel's lookup count or an open handle keeps the inode alive.
 *  - FUSE node ids are inode numbers (FUSE_ROOT_ID is FOLIO_ROOT_INO). The
 *    inode behind a node id is found with fs_iget(); the root stays
 *    referenced for the whole mount (main.c).
 *  - Lookup counts: every entry reply (lookup, create, mknod, mkdir, symlink,
 *    link, and every readdirplus entry but "." and "..") adds one lookup;
 *    namei.c adds it for the inodes it returns, link and readdirplus add it
 *    here with fs_inode_lookup(). When an entry reply cannot be delivered
 *    (the request was interrupted) the lookup is dropped again.
 *    forget/batch_forget give them back with fs_forget().
 *  - Open files and directories: fh is a struct daemon_handle holding a
 *    struct fs_file (open/create .. release) or a referenced directory
 *    inode (opendir .. releasedir), listed so shutdown releases what the
 *    kernel did not. An unlinked file stays until its last release
 *    (inode.c's counts).
 *  - Kernel page-cache invalidations that an operation needs are queued to
 *    the notifier thread, never sent from here (notify.c).
 *
 * Timeouts: attributes and names may be cached by the kernel for
 * DAEMON_ATTR_TIMEOUT / DAEMON_ENTRY_TIMEOUT (1 s); negative lookups too.
 * Every change reaches foliofs through this kernel mount, which updates or
 * drops its cached copies itself when it sends the change, so the timeouts
 * only bound how long another view could be stale; 1 s keeps stat-heavy
 * workloads (a directory walk, 100,000 lookups) from paying a request per
 * call while keeping times and block counts close to current.
 *
 * Capabilities: POSIX ACLs with DONT_MASK (the kernel passes the umask
 * instead of applying it; namei.c applies a default ACL or the umask),
 * readdirplus, export support, async reads, parallel directory operations;
 * not HANDLE_KILLPRIV (the kernel clears suid/sgid through setattr), not
 * ATOMIC_O_TRUNC (truncation arrives as setattr), no splice (the custom I/O
 * has no splice functions), no writeback cache. max_write is 1 MiB, the
 * kernel's readahead at most the readahead option.
 *
 * Cache modes (docs/DESIGN.md): with cache=daemon regular files are opened
 * with direct_io (and the INIT reply carries FUSE_DIRECT_IO_ALLOW_MMAP, see
 * io.c), with cache=kernel with keep_cache.
 *
 * O_APPEND is taken out of the flags given to fs_open(): the kernel already
 * turns an append into a write at the end of the file, and the same handle
 * is used for writing back mapped pages at their own offsets.
 *
 * Sync writes: with cache=daemon a write whose flags carry O_SYNC or O_DSYNC
 * (the descriptor's, or pwritev2's RWF_SYNC/RWF_DSYNC) is made durable with
 * fs_fsync() before the reply; with cache=kernel the kernel sends FUSE_FSYNC
 * after it (write_sync_kind()).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "daemon/daemon.h"

static const char *const op_names[NR_DAEMON_OPS] = {
	[DOP_LOOKUP] = "lookup",
	[DOP_FORGET] = "forget",
	[DOP_GETATTR] = "getattr",
	[DOP_SETATTR] = "setattr",
	[DOP_READLINK] = "readlink",
	[DOP_MKNOD] = "mknod",
	[DOP_MKDIR] = "mkdir",
	[DOP_UNLINK] = "unlink",
	[DOP_RMDIR] = "rmdir",
	[DOP_SYMLINK] = "symlink",
	[DOP_RENAME] = "rename",
	[DOP_LINK] = "link",
	[DOP_CREATE] = "create",
	[DOP_OPEN] = "open",
	[DOP_READ] = "read",
	[DOP_WRITE] = "write",
	[DOP_FLUSH] = "flush",
	[DOP_RELEASE] = "release",
	[DOP_FSYNC] = "fsync",
	[DOP_OPENDIR] = "opendir",
	[DOP_READDIR] = "readdir",
	[DOP_READDIRPLUS] = "readdirplus",
	[DOP_RELEASEDIR] = "releasedir",
	[DOP_FSYNCDIR] = "fsyncdir",
	[DOP_STATFS] = "statfs",
	[DOP_SETXATTR] = "setxattr",
	[DOP_GETXATTR] = "getxattr",
	[DOP_LISTXATTR] = "listxattr",
	[DOP_REMOVEXATTR] = "removexattr",
	[DOP_FALLOCATE] = "fallocate",
	[DOP_LSEEK] = "lseek",
	[DOP_COPY_FILE_RANGE] = "copy_file_range",
};

/**
 * daemon_op_name - the name of a counted FUSE operation
 * @op: the operation
 *
 * Context: any thread.
 * Return: a static string ("lookup", "read", ...).
 */
const char *daemon_op_name(enum daemon_op op)
{
	return op < NR_DAEMON_OPS ? op_names[op] : "?";
}

/* ---- helpers ---- */

static struct daemon *req_daemon(fuse_req_t req, enum daemon_op op)
{
	struct daemon *d = fuse_req_userdata(req);

	atomic_fetch_add_explicit(&d->nr_ops[op], 1, memory_order_relaxed);
	return d;
}

/* The one place an errno becomes a reply; @err is 0 or a negative errno.
 * Corruption (-EUCLEAN from fs_corrupt()) reaches the caller as EIO, as on
 * Linux filesystems, once the superblock's ERRORS state is on the device. */
static void reply_err(fuse_req_t req, int err)
{
	struct daemon *d = fuse_req_userdata(req);

	if (err)
		atomic_fetch_add_explicit(&d->nr_errors, 1, memory_order_relaxed);
	if (err == -EUCLEAN) {
		fs_errors_commit(d->fs);
		err = -EIO;
	}
	fuse_reply_err(req, -err);
}

static int ino_get(struct daemon *d, fuse_ino_t ino, struct inode **out)
{
	if (!ino || ino > UINT32_MAX)
		return -ESTALE;
	return fs_iget(d->fs, (uint32_t)ino, out);
}

static void req_cred(fuse_req_t req, struct fs_cred *cred)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	cred->uid = ctx->uid;
	cred->gid = ctx->gid;
	cred->umask = ctx->umask;
}

static void entry_fill(struct inode *inode, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	fs_inode_stat(inode, &e->attr);
	e->ino = inode->ino;
	e->generation = fs_inode_generation(inode);
	e->attr_timeout = DAEMON_ATTR_TIMEOUT;
	e->entry_timeout = DAEMON_ENTRY_TIMEOUT;
}

/* Reply with @inode as an entry. Its lookup is already counted; the
 * caller's reference is dropped. */
static void reply_entry(fuse_req_t req, struct daemon *d, struct inode *inode)
{
	struct fuse_entry_param e;
	uint32_t ino = inode->ino;

	entry_fill(inode, &e);
	fs_iput(inode);
	if (fuse_reply_entry(req, &e))
		fs_forget(d->fs, ino, 1);
}

/* Reply to an operation that returns a new inode (or an error). */
static void reply_new(fuse_req_t req, struct daemon *d, int err, struct inode *inode)
{
	if (err)
		reply_err(req, err);
	else
		reply_entry(req, d, inode);
}

static void reply_attr(fuse_req_t req, struct inode *inode)
{
	struct stat st;

	fs_inode_stat(inode, &st);
	fs_iput(inode);
	fuse_reply_attr(req, &st, DAEMON_ATTR_TIMEOUT);
}

static void file_open_flags(struct daemon *d, struct fuse_file_info *fi)
{
	bool daemon_mode = atomic_load(&d->cache_mode) == DAEMON_CACHE_DAEMON;

	fi->direct_io = daemon_mode;
	fi->keep_cache = !daemon_mode;
}

static struct daemon_handle *fi_handle(struct fuse_file_info *fi)
{
	return (struct daemon_handle *)(uintptr_t)fi->fh;
}

static struct fs_file *fi_file(struct fuse_file_info *fi)
{
	return fi_handle(fi)->file;
}

/* ---- open handles ---- */

/**
 * daemon_handles_init - set up the list of open handles
 * @d: the daemon
 *
 * Context: main thread, before the session starts.
 */
void daemon_handles_init(struct daemon *d)
{
	cache_mutex_init(&d->handles_lock);
	d->handles.next = d->handles.prev = &d->handles;
}

/* A handle for @file or @dir, on the list; NULL without memory. */
static struct daemon_handle *handle_new(struct daemon *d, struct fs_file *file, struct inode *dir)
{
	struct daemon_handle *h = malloc(sizeof(*h));

	if (!h)
		return NULL;
	h->file = file;
	h->dir = dir;
	pthread_mutex_lock(&d->handles_lock);
	h->next = d->handles.next;
	h->prev = &d->handles;
	h->next->prev = h;
	d->handles.next = h;
	pthread_mutex_unlock(&d->handles_lock);
	return h;
}

/* Take @h off the list, release what it holds and free it. */
static void handle_free(struct daemon *d, struct daemon_handle *h)
{
	pthread_mutex_lock(&d->handles_lock);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	pthread_mutex_unlock(&d->handles_lock);
	if (h->file)
		fs_release(h->file);
	if (h->dir)
		fs_iput(h->dir);
	free(h);
}

/**
 * daemon_handles_release - release every handle the kernel left open
 * @d: the daemon
 *
 * Context: main thread, after the session loop ended and before
 * fs_unmount(); no handler runs.
 */
void daemon_handles_release(struct daemon *d)
{
	while (d->handles.next != &d->handles)
		handle_free(d, d->handles.next);
	pthread_mutex_destroy(&d->handles_lock);
}

/* Hand a new fs handle to the kernel as fh (release it on failure). */
static int file_handle(struct daemon *d, struct fs_file *file, struct fuse_file_info *fi)
{
	struct daemon_handle *h = handle_new(d, file, NULL);

	if (!h) {
		fs_release(file);
		return -ENOMEM;
	}
	fi->fh = (uintptr_t)h;
	file_open_flags(d, fi);
	return 0;
}

/* ---- init ---- */

/* Choose the cache mode now that the kernel's offer is known. */
static void init_cache_mode(struct daemon *d)
{
	int mode = d->opts.cache_mode;

	if (mode == DAEMON_CACHE_DAEMON && !atomic_load(&d->io.kernel_mmap)) {
		fprintf(stderr, "foliofs: the kernel does not offer FUSE_DIRECT_IO_ALLOW_MMAP "
				"(Linux 6.6 or later); using cache=kernel\n");
		mode = DAEMON_CACHE_KERNEL;
	}
	atomic_store(&d->io.want_mmap, mode == DAEMON_CACHE_DAEMON);
	atomic_store(&d->cache_mode, mode);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct daemon *d = userdata;
	unsigned want = FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK | FUSE_CAP_EXPORT_SUPPORT |
			FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_ASYNC_READ |
			FUSE_CAP_PARALLEL_DIROPS;

	conn->want |= want & conn->capable;
	conn->want &= ~(FUSE_CAP_HANDLE_KILLPRIV | FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_SPLICE_READ |
			FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_WRITEBACK_CACHE);
	if (!(conn->capable & FUSE_CAP_POSIX_ACL))
		fprintf(stderr, "foliofs: the kernel does not support POSIX ACLs on FUSE\n");
	conn->max_write = DAEMON_MAX_WRITE;
	if (conn->max_readahead > d->opts.readahead)
		conn->max_readahead = d->opts.readahead;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	conn->time_gran = 1;
	init_cache_mode(d);
	atomic_store(&d->init_done, true);
	daemon_ready(d);
}

/* ---- names ---- */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct daemon *d = req_daemon(req, DOP_LOOKUP);
	struct inode *dir, *inode = NULL;
	int err = ino_get(d, parent, &dir);

	if (!err) {
		err = fs_lookup(dir, name, &inode);
		fs_iput(dir);
		if (err == -ENOENT) {
			struct fuse_entry_param e = {.entry_timeout = DAEMON_ENTRY_TIMEOUT};

			fuse_reply_entry(req, &e); /* negative entry, cached */
			return;
		}
	}
	reply_new(req, d, err, inode);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct daemon *d = req_daemon(req, DOP_FORGET);

	if (ino && ino <= UINT32_MAX)
		fs_forget(d->fs, (uint32_t)ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct daemon *d = req_daemon(req, DOP_FORGET);

	for (size_t i = 0; i < count; i++)
		if (forgets[i].ino && forgets[i].ino <= UINT32_MAX)
			fs_forget(d->fs, (uint32_t)forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* mknod, mkdir and symlink share this shape. */
enum make_kind { MAKE_NODE, MAKE_DIR, MAKE_SYMLINK };

static void make_node(fuse_req_t req, enum daemon_op op, fuse_ino_t parent, const char *name,
		      enum make_kind kind, mode_t mode, dev_t rdev, const char *target)
{
	struct daemon *d = req_daemon(req, op);
	struct inode *dir, *inode = NULL;
	struct fs_cred cred;
	int err = ino_get(d, parent, &dir);

	req_cred(req, &cred);
	if (!err) {
		if (kind == MAKE_DIR)
			err = fs_mkdir(dir, name, mode, &cred, &inode);
		else if (kind == MAKE_SYMLINK)
			err = fs_symlink(dir, name, target, &cred, &inode);
		else
			err = fs_create(dir, name, mode, rdev, &cred, &inode);
		fs_iput(dir);
	}
	reply_new(req, d, err, inode);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	make_node(req, DOP_MKNOD, parent, name, MAKE_NODE, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, DOP_MKDIR, parent, name, MAKE_DIR, mode, 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	make_node(req, DOP_SYMLINK, parent, name, MAKE_SYMLINK, 0, 0, link);
}

static void remove_name(fuse_req_t req, enum daemon_op op, fuse_ino_t parent, const char *name)
{
	struct daemon *d = req_daemon(req, op);
	struct inode *dir;
	int err = ino_get(d, parent, &dir);

	if (!err) {
		err = op == DOP_RMDIR ? fs_rmdir(dir, name) : fs_unlink(dir, name);
		fs_iput(dir);
	}
	reply_err(req, err);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, DOP_UNLINK, parent, name);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, DOP_RMDIR, parent, name);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct daemon *d = req_daemon(req, DOP_RENAME);
	struct inode *olddir, *newdir;
	int err;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		reply_err(req, -EINVAL);
		return;
	}
	err = ino_get(d, parent, &olddir);
	if (err) {
		reply_err(req, err);
		return;
	}
	err = ino_get(d, newparent, &newdir);
	if (!err) {
		err = fs_rename(olddir, name, newdir, newname, flags);
		fs_iput(newdir);
	}
	fs_iput(olddir);
	reply_err(req, err);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct daemon *d = req_daemon(req, DOP_LINK);
	struct inode *inode, *dir;
	int err = ino_get(d, ino, &inode);

	if (err) {
		reply_err(req, err);
		return;
	}
	err = ino_get(d, newparent, &dir);
	if (!err) {
		err = fs_link(inode, dir, newname);
		fs_iput(dir);
	}
	if (err) {
		fs_iput(inode);
		reply_err(req, err);
		return;
	}
	fs_inode_lookup(inode);
	reply_entry(req, d, inode);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct daemon *d = req_daemon(req, DOP_READLINK);
	char buf[FOLIO_SYMLINK_MAX + 1];
	struct inode *inode;
	int n = ino_get(d, ino, &inode);

	if (!n) {
		n = fs_readlink(inode, buf, FOLIO_SYMLINK_MAX);
		fs_iput(inode);
	}
	if (n < 0) {
		reply_err(req, n);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

/* ---- attributes ---- */

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct daemon *d = req_daemon(req, DOP_GETATTR);
	struct inode *inode;
	int err = ino_get(d, ino, &inode);

	if (err)
		reply_err(req, err);
	else
		reply_attr(req, inode);
}

/* FUSE_SET_ATTR_* bits -> fs_setattr()'s FS_SET_* (the size is separate). */
static unsigned setattr_which(int to_set)
{
	static const struct {
		int fuse;
		unsigned fs;
	} map[] = {
		{FUSE_SET_ATTR_MODE, FS_SET_MODE},
		{FUSE_SET_ATTR_UID, FS_SET_UID},
		{FUSE_SET_ATTR_GID, FS_SET_GID},
		{FUSE_SET_ATTR_ATIME, FS_SET_ATIME},
		{FUSE_SET_ATTR_ATIME_NOW, FS_SET_ATIME_NOW},
		{FUSE_SET_ATTR_MTIME, FS_SET_MTIME},
		{FUSE_SET_ATTR_MTIME_NOW, FS_SET_MTIME_NOW},
		{FUSE_SET_ATTR_CTIME, FS_SET_CTIME},
	};
	unsigned which = 0;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (to_set & map[i].fuse)
			which |= map[i].fs;
	return which;
}

static int setattr_do(struct daemon *d, struct inode *inode, struct stat *attr, int to_set)
{
	unsigned which = setattr_which(to_set);
	int err = 0;

	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0)
			return -EINVAL;
		err = fs_setsize(inode, (uint64_t)attr->st_size);
		if (!err)
			daemon_notify_inval(d, inode->ino, attr->st_size, 0);
	}
	if (!err && which)
		err = fs_setattr(inode, attr, which);
	return err;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct daemon *d = req_daemon(req, DOP_SETATTR);
	struct inode *inode;
	int err = ino_get(d, ino, &inode);

	if (!err) {
		err = setattr_do(d, inode, attr, to_set);
		if (err)
			fs_iput(inode);
	}
	if (err)
		reply_err(req, err);
	else
		reply_attr(req, inode);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct daemon *d = req_daemon(req, DOP_STATFS);
	struct statvfs st;

	fs_statfs(d->fs, &st);
	fuse_reply_statfs(req, &st);
}

/* ---- files ---- */

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct daemon *d = req_daemon(req, DOP_CREATE);
	struct inode *dir, *inode;
	struct fuse_entry_param e;
	struct fs_file *file;
	struct fs_cred cred;
	int err = ino_get(d, parent, &dir);

	req_cred(req, &cred);
	if (!err) {
		err = fs_create(dir, name, mode, 0, &cred, &inode);
		fs_iput(dir);
	}
	if (err) {
		reply_err(req, err);
		return;
	}
	err = fs_open(inode, fi->flags & ~(O_APPEND | O_TRUNC), &file);
	entry_fill(inode, &e);
	fs_iput(inode);
	if (!err)
		err = file_handle(d, file, fi);
	if (err) {
		fs_forget(d->fs, (uint32_t)e.ino, 1);
		reply_err(req, err);
		return;
	}
	if (fuse_reply_create(req, &e, fi)) {
		handle_free(d, fi_handle(fi));
		fs_forget(d->fs, (uint32_t)e.ino, 1);
	}
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct daemon *d = req_daemon(req, DOP_OPEN);
	struct fs_file *file;
	struct inode *inode;
	int err = ino_get(d, ino, &inode);

	if (!err) {
		err = fs_open(inode, fi->flags & ~O_APPEND, &file);
		fs_iput(inode);
	}
	if (!err)
		err = file_handle(d, file, fi);
	if (err)
		reply_err(req, err);
	else if (fuse_reply_open(req, fi))
		handle_free(d, fi_handle(fi));
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct daemon *d = req_daemon(req, DOP_READ);
	char *buf = malloc(size ? size : 1);
	ssize_t n = buf ? fs_read(fi_file(fi), buf, size, (uint64_t)off) : -ENOMEM;

	if (n < 0) {
		reply_err(req, (int)n);
	} else {
		atomic_fetch_add_explicit(&d->read_bytes, (uint64_t)n, memory_order_relaxed);
		fuse_reply_buf(req, buf, (size_t)n);
	}
	free(buf);
}

/*
 * The sync a write asks for in cache=daemon mode: 1 for O_SYNC (fsync), 2 for
 * O_DSYNC (fdatasync), 0 for none. The kernel puts O_DSYNC and O_SYNC in the
 * write's flags for a descriptor opened with them and for RWF_DSYNC/RWF_SYNC
 * (fuse_write_flags()); libfuse hands them over in fi->flags. O_SYNC's value
 * includes O_DSYNC's bit. With cache=kernel the kernel itself sends FUSE_FSYNC
 * after such a write (generic_write_sync()), so nothing is done here; with
 * direct_io it does not, and durability is the daemon's. The kernel holds the
 * inode's lock across a direct write and across fsync (no
 * FOPEN_PARALLEL_DIRECT_WRITES), so fs_fsync() still sees one caller per
 * handle at a time.
 */
static int write_sync_kind(struct daemon *d, const struct fuse_file_info *fi)
{
	if (atomic_load(&d->cache_mode) != DAEMON_CACHE_DAEMON || fi->writepage)
		return 0;
	if ((fi->flags & O_SYNC) == O_SYNC)
		return 1;
	return fi->flags & O_DSYNC ? 2 : 0;
}

/* A write carrying FUSE_WRITE_CACHE (fi->writepage) is the kernel writing back its own
 * dirty pages: not paced, only held at the dirty threshold (balance_dirty_pages_cleaner).
 * An O_SYNC/O_DSYNC write is durable before the reply (write_sync_kind()); if
 * the sync fails the write reports its error, as Linux's generic_write_sync(). */
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct daemon *d = req_daemon(req, DOP_WRITE);
	int sync = write_sync_kind(d, fi);
	ssize_t n;

	balance_dirty_pages_cleaner(fi->writepage);
	n = fs_write(fi_file(fi), buf, size, (uint64_t)off);
	balance_dirty_pages_cleaner(false);
	if (n > 0 && sync) {
		int err = fs_fsync(fi_file(fi), sync == 2);

		if (err)
			n = err;
	}
	if (n < 0) {
		reply_err(req, (int)n);
		return;
	}
	atomic_fetch_add_explicit(&d->write_bytes, (uint64_t)n, memory_order_relaxed);
	fuse_reply_write(req, (size_t)n);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	req_daemon(req, DOP_FLUSH);
	reply_err(req, 0); /* data reaches the device at writeback or fsync */
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct daemon *d = req_daemon(req, DOP_RELEASE);

	handle_free(d, fi_handle(fi));
	reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	req_daemon(req, DOP_FSYNC);
	reply_err(req, fs_fsync(fi_file(fi), datasync));
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct daemon *d = req_daemon(req, DOP_FALLOCATE);
	struct inode *inode = fi_file(fi)->inode;
	int err;

	if (off < 0 || len <= 0) {
		reply_err(req, -EINVAL);
		return;
	}
	err = fs_fallocate(inode, mode, (uint64_t)off, (uint64_t)len);
	if (!err && (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)))
		daemon_notify_inval(d, inode->ino, off, len);
	reply_err(req, err);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	int64_t pos;

	req_daemon(req, DOP_LSEEK);
	pos = fs_lseek(fi_file(fi)->inode, off, whence);
	if (pos < 0)
		reply_err(req, (int)pos);
	else
		fuse_reply_lseek(req, pos);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct daemon *d = req_daemon(req, DOP_COPY_FILE_RANGE);
	ssize_t n;

	if (flags || off_in < 0 || off_out < 0) {
		reply_err(req, -EINVAL);
		return;
	}
	n = fs_copy_range(fi_file(fi_in), (uint64_t)off_in, fi_file(fi_out), (uint64_t)off_out,
			  len);
	if (n < 0) {
		reply_err(req, (int)n);
		return;
	}
	if (n > 0)
		daemon_notify_inval(d, fi_file(fi_out)->inode->ino, off_out, n);
	fuse_reply_write(req, (size_t)n);
}

/* ---- directories ---- */

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct daemon *d = req_daemon(req, DOP_OPENDIR);
	struct daemon_handle *h;
	struct inode *inode;
	int err = ino_get(d, ino, &inode);

	if (err) {
		reply_err(req, err);
		return;
	}
	h = handle_new(d, NULL, inode);
	if (!h) {
		fs_iput(inode);
		reply_err(req, -ENOMEM);
		return;
	}
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi))
		handle_free(d, h);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct daemon *d = req_daemon(req, DOP_RELEASEDIR);

	handle_free(d, fi_handle(fi));
	reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	req_daemon(req, DOP_FSYNCDIR);
	reply_err(req, fs_fsync_inode(fi_handle(fi)->dir, datasync));
}

/* One readdirplus entry collected under the directory lock. */
struct rd_ent {
	uint32_t ino;
	bool added; /* in the reply, its lookup counted */
	uint64_t next;
	char name[FOLIO_NAME_MAX + 1];
};

/* A readdir or readdirplus in progress. */
struct rd_ctx {
	fuse_req_t req;
	char *buf;
	size_t size, used; /* reply buffer; used also counts reserved plus entries */
	size_t dots;	   /* bytes of "." and ".." at the start */
	bool plus;
	struct rd_ent *ents; /* plus: entries to look up after the lock is dropped */
	size_t n, cap;
	int err;
};

/* Add "." (offset 0) and ".." (offset 1) as the offset asks. */
static void rd_dots(struct rd_ctx *c, struct inode *dir, uint32_t parent, off_t off)
{
	static const char *const names[2] = {".", ".."};

	for (off_t i = off; i < 2; i++) {
		struct fuse_entry_param e = {0};
		size_t n;

		e.attr.st_ino = i ? parent : dir->ino;
		e.attr.st_mode = S_IFDIR;
		if (c->plus) /* e.ino 0: the kernel makes no dentry for it */
			n = fuse_add_direntry_plus(c->req, c->buf + c->used, c->size - c->used,
						   names[i], &e, i + 1);
		else
			n = fuse_add_direntry(c->req, c->buf + c->used, c->size - c->used, names[i],
					      &e.attr, i + 1);
		if (n > c->size - c->used)
			return;
		c->used += n;
	}
}

static int rd_collect(struct rd_ctx *c, const char *name, uint32_t ino, uint64_t next)
{
	struct fuse_entry_param e = {0};
	size_t need = fuse_add_direntry_plus(c->req, NULL, 0, name, &e, (off_t)next);

	if (need > c->size - c->used)
		return 1;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct rd_ent *ents = realloc(c->ents, cap * sizeof(*ents));

		if (!ents) {
			c->err = -ENOMEM;
			return 1;
		}
		c->ents = ents;
		c->cap = cap;
	}
	c->ents[c->n].ino = ino;
	c->ents[c->n].added = false;
	c->ents[c->n].next = next;
	strcpy(c->ents[c->n].name, name);
	c->n++;
	c->used += need;
	return 0;
}

static int rd_actor(void *ctx, const char *name, size_t len, uint32_t ino, uint8_t type,
		    uint64_t next_cookie)
{
	struct rd_ctx *c = ctx;
	char nm[FOLIO_NAME_MAX + 1];
	struct stat st = {.st_ino = ino, .st_mode = (mode_t)type << 12};
	size_t n;

	if (len > FOLIO_NAME_MAX)
		return -EUCLEAN;
	memcpy(nm, name, len);
	nm[len] = '\0';
	if (c->plus)
		return rd_collect(c, nm, ino, next_cookie);
	n = fuse_add_direntry(c->req, c->buf + c->used, c->size - c->used, nm, &st,
			      (off_t)next_cookie);
	if (n > c->size - c->used)
		return 1;
	c->used += n;
	return 0;
}

/* The dots (first time only), then the records from @off on. */
static int rd_scan(struct rd_ctx *c, struct inode *dir, off_t off)
{
	uint64_t cookie = off < (off_t)FOLIO_DIR_KEY_MIN ? 0 : (uint64_t)off;
	int err;

	c->used = c->dots;
	if (off < 2)
		rd_dots(c, dir, fs_dir_parent(dir), off);
	c->dots = c->used;
	err = fs_readdir(dir, cookie, rd_actor, c);
	return err ? err : c->err;
}

/* readdirplus, lock dropped: look each collected entry up and add it. An
 * entry removed meanwhile is left out. An error is returned only when no
 * entry was added. */
static int rd_fill_plus(struct rd_ctx *c, struct daemon *d)
{
	c->used = c->dots;
	for (size_t i = 0; i < c->n; i++) {
		struct fuse_entry_param e;
		struct inode *inode;
		int err = fs_iget(d->fs, c->ents[i].ino, &inode);

		if (err == -ENOENT)
			continue;
		if (err)
			return c->used > c->dots ? 0 : err;
		entry_fill(inode, &e);
		fs_inode_lookup(inode);
		fs_iput(inode);
		c->ents[i].added = true;
		c->used += fuse_add_direntry_plus(c->req, c->buf + c->used, c->size - c->used,
						  c->ents[i].name, &e, (off_t)c->ents[i].next);
	}
	return 0;
}

/* Scan, and for readdirplus fill; when every collected entry vanished before
 * it could be looked up, scan on after them rather than answer with an
 * empty buffer (which would end the listing). */
static int rd_run(struct rd_ctx *c, struct daemon *d, struct inode *dir, off_t off)
{
	for (;;) {
		int err = rd_scan(c, dir, off);

		if (!c->plus || (err && !c->n))
			return err;
		err = rd_fill_plus(c, d);
		if (err || c->used > c->dots || !c->n)
			return err;
		off = (off_t)c->ents[c->n - 1].next;
		c->n = 0;
	}
}

/* A readdirplus reply that did not reach the kernel: its lookups go. */
static void rd_undo_lookups(struct rd_ctx *c, struct daemon *d)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->ents[i].added)
			fs_forget(d->fs, c->ents[i].ino, 1);
}

static void do_readdir(fuse_req_t req, enum daemon_op op, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct daemon *d = req_daemon(req, op);
	struct rd_ctx c = {.req = req, .size = size, .plus = op == DOP_READDIRPLUS};
	int err;

	c.buf = malloc(size ? size : 1);
	if (!c.buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	err = rd_run(&c, d, fi_handle(fi)->dir, off);
	if (err && !c.used)
		reply_err(req, err);
	else if (fuse_reply_buf(req, c.buf, c.used))
		rd_undo_lookups(&c, d);
	free(c.ents);
	free(c.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, DOP_READDIR, size, off, fi);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, DOP_READDIRPLUS, size, off, fi);
}

/* ---- extended attributes ---- */

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct daemon *d = req_daemon(req, DOP_SETXATTR);
	struct inode *inode;
	int err = ino_get(d, ino, &inode);

	if (!err) {
		err = fs_setxattr(inode, name, value, size, flags);
		fs_iput(inode);
	}
	/* an access ACL changes the mode: drop the kernel's attributes */
	if (!err && !strcmp(name, "system.posix_acl_access"))
		daemon_notify_inval(d, ino, -1, 0);
	reply_err(req, err);
}

/* getxattr and listxattr: the length for size 0, else the bytes. */
static void xattr_reply(fuse_req_t req, int n, const char *buf, size_t size)
{
	if (n < 0)
		reply_err(req, n);
	else if (!size)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct daemon *d = req_daemon(req, DOP_GETXATTR);
	char *buf = size ? malloc(size) : NULL;
	struct inode *inode;
	int n = size && !buf ? -ENOMEM : ino_get(d, ino, &inode);

	if (!n) {
		n = fs_getxattr(inode, name, buf, size);
		fs_iput(inode);
	}
	xattr_reply(req, n, buf, size);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct daemon *d = req_daemon(req, DOP_LISTXATTR);
	char *buf = size ? malloc(size) : NULL;
	struct inode *inode;
	int n = size && !buf ? -ENOMEM : ino_get(d, ino, &inode);

	if (!n) {
		n = fs_listxattr(inode, buf, size);
		fs_iput(inode);
	}
	xattr_reply(req, n, buf, size);
	free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct daemon *d = req_daemon(req, DOP_REMOVEXATTR);
	struct inode *inode;
	int err = ino_get(d, ino, &inode);

	if (!err) {
		err = fs_removexattr(inode, name);
		fs_iput(inode);
	}
	reply_err(req, err);
}

const struct fuse_lowlevel_ops daemon_ll_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.create = op_create,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.fallocate = op_fallocate,
	.lseek = op_lseek,
	.copy_file_range = op_copy_file_range,
};
