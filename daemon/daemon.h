/*
 * daemon/daemon.h - the FUSE daemon (daemon/foliofs): its state and the
 * interface its files offer each other.
 *
 *   main.c        arguments, start-up (fork, mount, session), the loop,
 *                 clean unmount; the only place that exits
 *   opts.c        option parsing (-o lists, sizes with K/M/G/T suffixes)
 *   fuse_ops.c    the fuse_lowlevel_ops table: FUSE requests -> fs_* calls;
 *                 the only place an errno becomes a reply
 *   io.c          fuse_session_custom_io read/writev: notes what the
 *                 kernel offers in FUSE_INIT and patches the INIT reply
 *                 (FUSE_DIRECT_IO_ALLOW_MMAP, which libfuse 3.14 cannot
 *                 ask for)
 *   notify.c      the notifier thread: kernel page-cache invalidations
 *                 queued by handlers, sent after their replies
 *   ctl_server.c  the control socket served to tools/foliofs-ctl: requests,
 *                 one thread per connection
 *   ctl_sock.c    the control socket's file: its directory, claiming its name
 *   ctl_dir.c     the rule for the socket's directory (shared with foliofs-ctl)
 *
 * This header does not include the libfuse headers, so io.c can use
 * the kernel's <linux/fuse.h> wire structures without clashing with them.
 *
 * Threads: the main thread (start-up, loop, shutdown), libfuse's workers
 * (handlers), the notifier, the control threads (one accepting, one per
 * connection), and the cache's own threads.
 * SIGINT, SIGTERM and SIGHUP are blocked in every thread but the main one.
 */
#ifndef FOLIO_DAEMON_DAEMON_H
#define FOLIO_DAEMON_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "daemon/ctl_proto.h"
#include "fs/fs.h"

struct fuse_session;

/* Defaults (documented in README.md, "Mount options"). */
#define DAEMON_CACHE_SIZE    (256ULL << 20) /* cache_size */
#define DAEMON_CACHE_MIN     (64ULL << 10)  /* smallest cache_size / cache_max */
#define DAEMON_RA_DEFAULT    (1U << 20)	    /* readahead */
#define DAEMON_RA_MAX	     (16U << 20)    /* largest readahead (4096 pages) */
#define DAEMON_MAX_WRITE     (1U << 20)	    /* FUSE max_write */
#define DAEMON_THREADS	     16		    /* max_threads */
#define DAEMON_ATTR_TIMEOUT  1.0	    /* seconds the kernel may cache attributes */
#define DAEMON_ENTRY_TIMEOUT 1.0	    /* seconds the kernel may cache names */

/* Who holds file data in the page cache: the cache= option. */
enum daemon_cache_mode {
	DAEMON_CACHE_DAEMON, /* FOPEN_DIRECT_IO + FUSE_DIRECT_IO_ALLOW_MMAP (default) */
	DAEMON_CACHE_KERNEL, /* the kernel's page cache in front (keep_cache) */
};

/*
 * struct daemon_opts - the command line after parsing (opts.c).
 * @image, @mountpoint: absolute paths (malloc'd)
 * @fs:          what fs_mount() gets; fs.cache_size is the memory limit
 *               (cache_size=), the pool is @cache_max
 * @cache_mode:  cache= (enum daemon_cache_mode)
 * @allow_other: -o allow_other
 * @foreground, @debug: -f, -d (-d implies -f)
 * @cache_max:   size of the page pool, fixed for the mount; `foliofs-ctl set
 *               cache_size` may go up to it (default 2 * cache_size)
 * @readahead:   readahead maximum in bytes (also the kernel's max_readahead)
 * @fsname, @subtype: what /proc/mounts shows (default: the image, "foliofs")
 * @max_threads: FUSE worker threads at most
 * @wb, @nr_wb:  writeback tunables (dirty_ratio=, ...) in the order given,
 *               applied in that order at mount (a *_bytes zeroes its ratio)
 * @zswap, @nr_zswap: compressed-tier parameters (zswap=, zswap_*=) in the
 *               order given, applied at mount after the daemon's default
 *               zswap=on
 */
struct daemon_opts {
	char *image, *mountpoint;
	struct fs_options fs;
	enum daemon_cache_mode cache_mode;
	bool allow_other, foreground, debug;
	uint64_t cache_max;
	uint32_t readahead;
	char *fsname, *subtype;
	char *logwrites_path; /* -o debug_logwrites= (absolute; fs.debug_logwrites points here) */
	unsigned max_threads;
	struct {
		int key; /* enum wb_tunable */
		uint64_t value;
	} wb[32];
	unsigned nr_wb;
	struct {
		int key; /* enum zswap_param */
		char value[24];
	} zswap[16];
	unsigned nr_zswap;
};

/*
 * struct daemon_io - what the custom I/O functions saw of FUSE_INIT.
 * All atomic: written by the worker that reads INIT, read by the one that
 * runs the init handler and the one that writes the reply.
 */
struct daemon_io {
	_Atomic uint64_t init_unique; /* unique id of the FUSE_INIT request, 0: not seen */
	_Atomic bool kernel_mmap;     /* the kernel offered FUSE_DIRECT_IO_ALLOW_MMAP */
	_Atomic bool want_mmap;	      /* set the bit in the INIT reply */
	_Atomic bool patched;	      /* the INIT reply was patched */
};

/* One queued invalidation (notify.c). */
struct daemon_inval {
	struct daemon_inval *next;
	uint64_t ino;
	int64_t off, len; /* bytes; len 0: to the end of the file */
};

/* The notifier thread: protected by lock. */
struct daemon_notifier {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct daemon_inval *head, *tail; /* queue, oldest first */
	bool stop, running;
	pthread_t thread;
	_Atomic uint64_t sent, failed; /* notifications sent / refused by the kernel */
};

/* The control socket (ctl_server.c, ctl_sock.c). Connections one uid may hold open,
 * and all uids together but root and the daemon's own (which get their own share on
 * top, so nobody else can lock them out). */
#define CTL_CONN_PER_UID 8
#define CTL_CONN_MAX	 32
#define CTL_CONN_SLOTS	 (CTL_CONN_MAX + 2 * CTL_CONN_PER_UID)

struct daemon_ctl {
	/* Set at start-up, immutable while the threads run. */
	int listen_fd;	  /* -1 when there is no control socket */
	int stop_pipe[2]; /* written to stop every control thread */
	bool running;
	pthread_t thread;	       /* the accepting thread */
	unsigned dev_major, dev_minor; /* the mount's device number */
	char *path;		       /* the socket's file, NULL when none */
	dev_t sock_dev;		       /* which file is ours (ctl_sock_close) */
	ino_t sock_ino;

	pthread_mutex_t exec_lock; /* held while a change (set, sync, ...) runs */

	pthread_mutex_t conn_lock; /* protects everything below */
	pthread_cond_t conn_gone;  /* a connection ended */
	unsigned nr_conns;
	uid_t conn_uid[CTL_CONN_SLOTS]; /* the peer uid of each open connection */
};

/* FUSE requests counted by kind (fuse_ops.c), shown by foliofs-ctl stats. */
enum daemon_op {
	DOP_LOOKUP,
	DOP_FORGET,
	DOP_GETATTR,
	DOP_SETATTR,
	DOP_READLINK,
	DOP_MKNOD,
	DOP_MKDIR,
	DOP_UNLINK,
	DOP_RMDIR,
	DOP_SYMLINK,
	DOP_RENAME,
	DOP_LINK,
	DOP_CREATE,
	DOP_OPEN,
	DOP_READ,
	DOP_WRITE,
	DOP_FLUSH,
	DOP_RELEASE,
	DOP_FSYNC,
	DOP_OPENDIR,
	DOP_READDIR,
	DOP_READDIRPLUS,
	DOP_RELEASEDIR,
	DOP_FSYNCDIR,
	DOP_STATFS,
	DOP_SETXATTR,
	DOP_GETXATTR,
	DOP_LISTXATTR,
	DOP_REMOVEXATTR,
	DOP_FALLOCATE,
	DOP_LSEEK,
	DOP_COPY_FILE_RANGE,
	NR_DAEMON_OPS
};

/*
 * struct daemon_handle - one open file or directory (FUSE fh), on the
 * daemon's list so shutdown can release what the kernel never did (a
 * daemon stopped by a signal while files are open).
 * @prev, @next: protected by daemon->handles_lock
 * @file: a regular file's fs handle (fs_open .. fs_release), or NULL
 * @dir:  a directory, referenced (iref) until releasedir, or NULL
 * @uid, @gid: who opened it (immutable): the caller of the kernel's
 *	write-back through it (fuse_ops.c, "Credentials")
 */
struct daemon_handle {
	struct daemon_handle *prev, *next;
	struct fs_file *file;
	struct inode *dir;
	uid_t uid;
	gid_t gid;
};

/*
 * struct daemon - one running foliofs daemon (one mount).
 * Immutable once the loop runs: opts, fs, se, root. ready_fd is used by
 * the main thread before the loop and then once by the init handler
 * (daemon_ready()). cache_mode is written once by the init handler, before
 * the kernel can send any open, and read atomically after.
 */
struct daemon {
	struct daemon_opts opts;
	struct fs *fs;
	struct fuse_session *se;
	struct inode *root;	/* held (iref) for the whole mount */
	_Atomic int cache_mode; /* enum daemon_cache_mode in effect */
	_Atomic bool init_done; /* the init handler ran */
	int ready_fd;		/* pipe to the waiting parent, -1 when none */
	struct daemon_io io;
	struct daemon_notifier notify;
	struct daemon_ctl ctl;
	pthread_mutex_t handles_lock;
	struct daemon_handle handles; /* list head: open handles */
	_Atomic uint64_t nr_ops[NR_DAEMON_OPS];
	_Atomic uint64_t nr_errors; /* error replies */
	_Atomic uint64_t read_bytes, write_bytes;
};

/* opts.c */
int daemon_parse_size(const char *s, uint64_t *out);
int daemon_parse_args(int argc, char **argv, struct daemon_opts *o, char *msg, size_t msglen);
void daemon_opts_free(struct daemon_opts *o);
void daemon_usage(FILE *f);

/* fuse_ops.c */
extern const struct fuse_lowlevel_ops daemon_ll_ops;
const char *daemon_op_name(enum daemon_op op);
void daemon_handles_init(struct daemon *d);
void daemon_handles_release(struct daemon *d);

/* main.c */
void daemon_ready(struct daemon *d);

/* io.c */
ssize_t daemon_io_read(int fd, void *buf, size_t len, void *userdata);
ssize_t daemon_io_writev(int fd, struct iovec *iov, int count, void *userdata);
bool daemon_io_write_kills_suidgid(void);

/* notify.c */
int daemon_notify_start(struct daemon *d);
void daemon_notify_inval(struct daemon *d, uint64_t ino, int64_t off, int64_t len);
void daemon_notify_stop(struct daemon *d);

/* ctl_server.c, ctl_sock.c (the protocol: daemon/ctl_proto.h) */
int ctl_start(struct daemon *d);
void ctl_stop(struct daemon *d);
int ctl_sock_open(struct daemon *d, char *why, size_t whylen);
void ctl_sock_close(struct daemon *d);

#endif /* FOLIO_DAEMON_DAEMON_H */
