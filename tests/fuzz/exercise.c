/*
 * tests/fuzz/exercise.c - one (mutated) image through the filesystem
 * library, the calls the daemon makes, without FUSE.
 *
 * Interface: fz_exercise() (tests/fuzz/fuzz.h).
 *
 * Mount; walk the tree from the root (readdir, lookup, stat, listxattr and
 * getxattr of every name; read every regular file, seek for data and holes,
 * write at its start and past its end, truncate some; readlink); in every
 * directory visited, create a file, write it, set an xattr, rename it, make
 * and remove a directory, link and unlink; sync; unmount. Whatever an
 * operation returns is counted, not judged: on an image that lies any
 * operation may fail, and the fuzzer's question is only whether the library
 * survives it (no crash, no hang, no sanitizer report).
 *
 * Invariants: every reference taken (fs_lookup, fs_create ...) is dropped
 * before the unmount; budgets bound the work per image (directories,
 * entries, bytes read) whatever sizes and counts the image claims.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/fs.h"
#include "tests/fuzz/fuzz.h"

#define X_MAX_DIRS    48	  /* directories walked */
#define X_MAX_NAMES   40	  /* names taken from one directory */
#define X_MAX_ENTRIES 300	  /* names looked at in all */
#define X_FILE_READ   (128 << 10) /* bytes read from the start of one file */
#define X_MAX_DEPTH   10

static const struct fs_cred x_cred = {.uid = 0, .gid = 0, .umask = 022};

struct xwalk {
	struct fs *fs;
	struct fz_xstats *st;
	uint32_t dirs_seen[X_MAX_DIRS];
	unsigned ndirs, entries, serial;
	char *buf; /* X_FILE_READ bytes */
};

static bool x_trace; /* FUZZ_TRACE set: each operation on stderr */

/* Count one result. */
#define xr(w, call) xr_(w, x_trace ? fprintf(stderr, "%s\n", #call) : 0, call)
static int xr_(struct xwalk *w, int traced, long long ret)
{
	(void)traced;
	if (x_trace)
		fprintf(stderr, " -> %lld\n", ret);
	if (ret >= 0)
		w->st->ok++;
	else if (ret == -EIO || ret == -EUCLEAN)
		w->st->eio++;
	else
		w->st->other++;
	return ret < 0 ? (int)ret : 0;
}

static void x_put(struct inode *inode)
{
	fs_forget(inode->fs, inode->ino, 1);
	fs_iput(inode);
}

struct xnames {
	char (*name)[256];
	unsigned n;
};

static int x_collect(void *ctx, const char *name, size_t len, uint32_t ino, uint8_t type,
		     uint64_t next_cookie)
{
	struct xnames *xn = ctx;

	(void)ino, (void)type, (void)next_cookie;
	if (xn->n >= X_MAX_NAMES || len == 0 || len > 255)
		return 1;
	memcpy(xn->name[xn->n], name, len);
	xn->name[xn->n][len] = 0;
	xn->n++;
	return 0;
}

static void x_xattrs(struct xwalk *w, struct inode *inode)
{
	char list[4096], val[512];
	int n = fs_listxattr(inode, list, sizeof(list));

	xr(w, n);
	for (int off = 0; n > 0 && off < n;) {
		size_t len = strnlen(list + off, (size_t)(n - off));

		if (len == (size_t)(n - off))
			break;
		xr(w, fs_getxattr(inode, list + off, val, sizeof(val)));
		off += (int)len + 1;
	}
	xr(w, fs_setxattr(inode, "user.fuzz", "fz", 2, 0));
	if (w->serial++ % 3 == 0)
		xr(w, fs_removexattr(inode, "user.a"));
}

static void x_file(struct xwalk *w, struct inode *inode)
{
	struct stat st;
	struct fs_file *f;
	uint64_t size;
	ssize_t n;

	fs_inode_stat(inode, &st);
	if (xr(w, fs_open(inode, O_RDWR, &f)))
		return;
	size = (uint64_t)st.st_size;
	for (uint64_t off = 0; off < size && off < X_FILE_READ; off += (uint64_t)n) {
		n = fs_read(f, w->buf + off, X_FILE_READ - off, off);
		if (xr(w, n) || n == 0)
			break;
	}
	if (size > 100)
		xr(w, fs_read(f, w->buf, 100, size - 100));
	xr(w, fs_read(f, w->buf, 4096, size / 2));
	xr(w, fs_lseek(inode, 0, SEEK_DATA));
	xr(w, fs_lseek(inode, 0, SEEK_HOLE));
	xr(w, fs_write(f, "overwritten at the start", 24, 0));
	xr(w, fs_write(f, w->buf, 5000, size < (1ULL << 40) ? size : 4096));
	switch (w->serial++ % 4) {
	case 0:
		xr(w, fs_setsize(inode, size / 3));
		break;
	case 1:
		xr(w, fs_fallocate(inode, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1024, 8192));
		break;
	case 2:
		xr(w, fs_fallocate(inode, 0, size, 10000));
		break;
	default:
		xr(w, fs_fsync(f, false));
		break;
	}
	fs_release(f);
}

/* Changes made in every directory visited. */
static void x_changes(struct xwalk *w, struct inode *dir)
{
	struct inode *f = NULL, *d = NULL, *l = NULL;
	struct fs_file *fh;

	if (!xr(w, fs_create(dir, "fz-new", S_IFREG | 0644, 0, &x_cred, &f))) {
		if (!xr(w, fs_open(f, O_RDWR, &fh))) {
			xr(w, fs_write(fh, w->buf, 7000, 0));
			xr(w, fs_fsync(fh, true));
			fs_release(fh);
		}
		xr(w, fs_setxattr(f, "user.new", w->buf, 300, 0));
		xr(w, fs_link(f, dir, "fz-link"));
		x_put(f);
	}
	xr(w, fs_rename(dir, "fz-new", dir, "fz-renamed", 0));
	if (!xr(w, fs_mkdir(dir, "fz-dir", 0755, &x_cred, &d)))
		x_put(d);
	xr(w, fs_rename(dir, "fz-link", dir, "fz-dir", 0));
	xr(w, fs_rmdir(dir, "fz-dir"));
	if (!xr(w, fs_symlink(dir, "fz-sym", "fz-renamed", &x_cred, &l)))
		x_put(l);
	xr(w, fs_unlink(dir, "fz-link"));
	if (w->serial++ % 2)
		xr(w, fs_unlink(dir, "fz-renamed"));
}

static void x_dir(struct xwalk *w, struct inode *dir, unsigned depth);

static void x_entry(struct xwalk *w, struct inode *dir, const char *name, unsigned depth)
{
	struct inode *inode;
	uint32_t mode;
	char target[FOLIO_SYMLINK_MAX + 1];

	if (xr(w, fs_lookup(dir, name, &inode)))
		return;
	mode = fs_inode_mode(inode);
	if (x_trace)
		fprintf(stderr, "entry %s in %u: inode %u mode %o\n", name, dir->ino, inode->ino,
			mode);
	x_xattrs(w, inode);
	if (S_ISREG(mode))
		x_file(w, inode);
	else if (S_ISLNK(mode))
		xr(w, fs_readlink(inode, target, sizeof(target)));
	else if (S_ISDIR(mode))
		x_dir(w, inode, depth + 1);
	x_put(inode);
	if (w->serial++ % 7 == 0) {
		char to[300];

		snprintf(to, sizeof(to), "%.200s-mv", name);
		xr(w, fs_rename(dir, name, dir, to, 0));
		if (w->serial % 3 == 0)
			xr(w, S_ISDIR(mode) ? fs_rmdir(dir, to) : fs_unlink(dir, to));
	}
}

static void x_dir(struct xwalk *w, struct inode *dir, unsigned depth)
{
	struct xnames xn = {0};

	for (unsigned i = 0; i < w->ndirs; i++)
		if (w->dirs_seen[i] == dir->ino)
			return;
	if (w->ndirs >= X_MAX_DIRS || depth > X_MAX_DEPTH)
		return;
	w->dirs_seen[w->ndirs++] = dir->ino;
	xn.name = malloc(sizeof(*xn.name) * X_MAX_NAMES);
	if (!xn.name)
		return;
	xr(w, fs_readdir(dir, 0, x_collect, &xn));
	for (unsigned i = 0; i < xn.n && w->entries < X_MAX_ENTRIES; i++, w->entries++)
		x_entry(w, dir, xn.name[i], depth);
	free(xn.name);
	x_changes(w, dir);
}

/**
 * fz_exercise - mount an image with the library, use it, unmount it
 * @image: the image file
 * @cont: mount with errors=continue (the filesystem stays writable after a lie)
 * @st: the counts (zeroed here)
 * @msg: fs_mount's message when it refuses the image
 * @msglen: room in @msg
 *
 * Context: the process's only mount; called in a child process by the
 * fuzzer, so that a crash or a hang ends only that child.
 * Return: 0.
 */
int fz_exercise(const char *image, bool cont, struct fz_xstats *st, char *msg, size_t msglen)
{
	struct fs_options o = {.cache_size = 4 << 20,
			       .ra_max_pages = 8,
			       .errors = cont ? FS_ERRORS_CONTINUE : FS_ERRORS_REMOUNT_RO};
	struct xwalk w = {.st = st};
	struct inode *root;

	memset(st, 0, sizeof(*st));
	msg[0] = 0;
	x_trace = getenv("FUZZ_TRACE") != NULL;
	if (fs_mount(image, &o, &w.fs, msg, msglen)) {
		st->refused = 1;
		return 0;
	}
	w.buf = calloc(1, X_FILE_READ);
	if (w.buf && !xr(&w, fs_iget(w.fs, FOLIO_ROOT_INO, &root))) {
		x_dir(&w, root, 0);
		xr(&w, fs_sync(w.fs));
		fs_iput(root);
	}
	free(w.buf);
	st->went_ro = atomic_load(&w.fs->rdonly);
	if (fs_unmount(w.fs))
		st->umount_err = 1;
	return 0;
}
