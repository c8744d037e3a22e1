/*
 * tests/unit/test_fs_enospc.c - a full filesystem and unlinked inodes:
 *  - writing until ENOSPC (contiguous and fragmented files, fallocate) gives
 *    a short count then -ENOSPC, leaves an image fsck calls clean, and
 *    truncating or unlinking brings the free counts back to their values
 *    before, also after a remount;
 *  - running out of inodes likewise;
 *  - an unlinked file stays readable while open or looked up and is freed by
 *    the last release or forget;
 *  - a "crash" (a child process that orphans an inode, syncs and exits
 *    without unmounting) leaves an image whose next mount says it was not
 *    cleanly unmounted and frees the orphan; fsck is clean afterwards.
 * Block sizes 1, 2 and 4 KiB.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/fsfix.h"
#include "tests/lib/tap.h"

#define CHUNK (64U << 10)

/* Write @seed's pattern from @off on in CHUNK pieces until the filesystem is
 * full; returns the bytes written. *short_seen: a write came back short. */
static uint64_t fill_file(struct fs_file *f, unsigned seed, uint64_t off, bool *short_seen,
			  ssize_t *last)
{
	uint8_t *buf = malloc(CHUNK);
	uint64_t done = 0;
	ssize_t n;

	*short_seen = false;
	for (;;) {
		fsfix_fill(buf, CHUNK, seed, off + done);
		n = fs_write(f, buf, CHUNK, off + done);
		if (n <= 0)
			break;
		done += (uint64_t)n;
		if (n < (ssize_t)CHUNK)
			*short_seen = true;
	}
	*last = n;
	free(buf);
	return done;
}

/* Every byte of [0, len) carries @seed's pattern. */
static bool check_pattern(struct fs_file *f, unsigned seed, uint64_t len)
{
	uint8_t *buf = malloc(CHUNK), *want = malloc(CHUNK);
	bool ok = true;

	for (uint64_t off = 0; off < len && ok; off += CHUNK) {
		size_t n = len - off < CHUNK ? (size_t)(len - off) : CHUNK;

		fsfix_fill(want, n, seed, off);
		ok = fs_read(f, buf, n, off) == (ssize_t)n && !memcmp(buf, want, n);
	}
	free(buf);
	free(want);
	return ok;
}

static void test_fill(unsigned bs)
{
	uint64_t free0, written, frag = 0;
	uint32_t ifree0;
	struct inode *a, *b;
	struct fs_file *fa, *fb;
	struct statvfs st;
	bool short_seen;
	ssize_t last;
	struct fsfix t;
	int err;

	fsfix_mkfs(&t, bs, "4M", NULL);
	fsfix_mount(&t);
	free0 = fsfix_free_blocks(&t);
	ifree0 = fsfix_free_inodes(&t);
	a = fsfix_create(&t, "big");
	fa = fsfix_open(a, O_RDWR);
	written = fill_file(fa, 3, 0, &short_seen, &last);
	is_int(last, -ENOSPC, "bs %u: writing on ends with -ENOSPC", bs);
	ok(short_seen || written % CHUNK == 0, "bs %u: the last partial write was short", bs);
	ok(written >= (free0 - 16) * bs && written <= free0 * bs,
	   "bs %u: %llu bytes fit in %llu free blocks", bs, (unsigned long long)written,
	   (unsigned long long)free0);
	fs_statfs(t.fs, &st);
	/* a page of sub-page blocks is allocated only when all of it fits */
	ok(st.f_bfree < 4096 / bs + FOLIO_EXT_MAX_DEPTH,
	   "bs %u: statfs shows the filesystem full (%llu)", bs, (unsigned long long)st.f_bfree);
	ok(check_pattern(fa, 3, written), "bs %u: everything written reads back", bs);
	is_u64(free0 - fsfix_free_blocks(&t), fsfix_blocks(a), "bs %u: free count agrees", bs);
	{
		uint64_t pblk, eof = (written + bs - 1) / bs;
		unsigned flags = 0;

		fs_map_blocks(&a->mapping, eof, 1, &pblk, &flags);
		is_int((int)flags, MAP_HOLE, "bs %u: no block left allocated past the end", bs);
	}

	/* a second file of scattered blocks: tree splits at ENOSPC */
	b = fsfix_create(&t, "frag");
	fb = fsfix_open(b, O_RDWR);
	err = fs_setsize(a, written / 2);
	is_int(err, 0, "bs %u: truncate the big file to half", bs);
	for (uint64_t i = 0;; i++) {
		uint8_t blk[4096];
		ssize_t n;

		fsfix_fill(blk, bs, 9, 2 * i * bs);
		n = fs_write(fb, blk, bs, 2 * i * bs);
		if (n != (ssize_t)bs) {
			is_int(n, -ENOSPC, "bs %u: scattered writes end with -ENOSPC", bs);
			break;
		}
		frag++;
	}
	ok(frag > 100, "bs %u: %llu scattered blocks written", bs, (unsigned long long)frag);
	is_int(fs_fallocate(b, 0, 0, 1 << 20), -ENOSPC, "bs %u: fallocate on a full fs", bs);
	is_int(fs_sync(t.fs), 0, "bs %u: sync a full filesystem", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean on the full, mounted image", bs);
	is_u64(fsfix_blocks(a) + fsfix_blocks(b), free0 - fsfix_free_blocks(&t),
	       "bs %u: blocks owned match the free count", bs);
	ok(check_pattern(fa, 3, written / 2), "bs %u: big file intact", bs);
	fs_release(fa);
	fs_release(fb);
	fsfix_put(a);
	fsfix_put(b);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount the full filesystem", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after unmount", bs);

	fsfix_mount(&t);
	a = fsfix_lookup(&t, "big");
	is_int(fs_setsize(a, 0), 0, "bs %u: truncate the big file", bs);
	fsfix_put(a);
	is_int(fs_unlink(t.root, "frag"), 0, "bs %u: unlink the scattered one", bs);
	is_int(fs_unlink(t.root, "big"), 0, "bs %u: unlink the big one", bs);
	is_u64(fsfix_free_blocks(&t), free0, "bs %u: free blocks back to %llu", bs,
	       (unsigned long long)free0);
	is_int(fsfix_free_inodes(&t), ifree0, "bs %u: free inodes back", bs);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after freeing", bs);
	fsfix_mount(&t);
	fs_statfs(t.fs, &st);
	is_u64(st.f_bfree, free0, "bs %u: free blocks after remount", bs);
	is_u64(st.f_ffree, ifree0, "bs %u: free inodes after remount", bs);
	fsfix_umount(&t);
	fsfix_cleanup(&t);
}

static void test_inodes(unsigned bs)
{
	struct inode *inode;
	uint32_t ifree0, made = 0;
	uint64_t free0;
	char name[32];
	struct fsfix t;
	int err;

	fsfix_mkfs(&t, bs, "4M", "-N 64");
	fsfix_mount(&t);
	ifree0 = fsfix_free_inodes(&t);
	free0 = fsfix_free_blocks(&t);
	for (;;) {
		snprintf(name, sizeof(name), "f%u", made);
		err = fs_create(t.root, name, S_IFREG | 0600, 0, &fsfix_cred, &inode);
		if (err)
			break;
		fsfix_put(inode);
		made++;
	}
	is_int(err, -ENOSPC, "bs %u: creating ends with -ENOSPC", bs);
	is_int(made, ifree0, "bs %u: every free inode used (%u)", bs, made);
	is_int(fsfix_free_inodes(&t), 0, "bs %u: none left", bs);
	is_int(fs_sync(t.fs), 0, "bs %u: sync", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean without free inodes", bs);
	for (uint32_t i = 0; i < made; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		if (fs_unlink(t.root, name))
			BAIL("unlink %s", name);
	}
	is_int(fsfix_free_inodes(&t), ifree0, "bs %u: free inodes back", bs);
	ok(fsfix_free_blocks(&t) <= free0, "bs %u: directory blocks may stay", bs);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean", bs);
	fsfix_cleanup(&t);
}

/* ---- unlinked inodes ---- */

/* With @journal the image has one (mkfs's default); without, mkfs -J none:
 * metadata then goes home at every sync instead of to the log. */
static const char *jopts(bool journal)
{
	return journal ? "-J size=1M" : "-J none";
}

static void test_unlink_open(unsigned bs, bool journal)
{
	struct folio_super sb;
	struct inode *inode, *again;
	struct fs_file *f;
	uint64_t free0, iblocks;
	uint32_t ino;
	struct stat st;
	struct fsfix t;

	fsfix_mkfs(&t, bs, "8M", jopts(journal));
	fsfix_mount(&t);
	free0 = fsfix_free_blocks(&t);
	inode = fsfix_create(&t, "o");
	ino = inode->ino;
	f = fsfix_open(inode, O_RDWR);
	fsfix_write_pattern(f, 4, 0, 100000);
	iblocks = fsfix_blocks(inode);
	fsfix_put(inode); /* the open handle keeps it */
	is_int(fs_unlink(t.root, "o"), 0, "bs %u: unlink an open file", bs);
	fs_inode_stat(f->inode, &st);
	is_int(st.st_nlink, 0, "bs %u: link count 0", bs);
	ok(check_pattern(f, 4, 100000), "bs %u: still readable through the handle", bs);
	fsfix_write_pattern(f, 4, 100000, 1000);
	is_u64(free0 - fsfix_free_blocks(&t), fsfix_blocks(f->inode),
	       "bs %u: its blocks are still allocated", bs);
	is_int(fs_sync(t.fs), 0, "bs %u: sync", bs);
	/* with a journal sync puts it in the log; a checkpoint sends it home */
	is_int(fs_journal_checkpoint(t.fs), 0, "bs %u: checkpoint", bs);
	fsfix_read_sb(&t, &sb);
	is_int(le32_to_cpu(sb.s_orphan_head), ino, "bs %u: on the orphan list on disk", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean (orphan noted) while open", bs);
	fs_release(f);
	is_u64(fsfix_free_blocks(&t), free0, "bs %u: the last release frees it", bs);
	is_int(fs_iget(t.fs, ino, &again), -ENOENT, "bs %u: the inode is free", bs);
	is_int(le32_to_cpu(t.fs->sb.s_orphan_head), 0, "bs %u: orphan list empty", bs);

	/* a lookup (FUSE nlookup) keeps it alive the same way, until forget */
	inode = fsfix_create(&t, "l");
	ino = inode->ino;
	f = fsfix_open(inode, O_RDWR);
	fsfix_write_pattern(f, 5, 0, 3 * bs);
	fs_release(f);
	fs_iput(inode); /* keep only the lookup */
	is_int(fs_unlink(t.root, "l"), 0, "bs %u: unlink a looked-up file", bs);
	ok(free0 - fsfix_free_blocks(&t) == 3, "bs %u: kept while looked up", bs);
	fs_forget(t.fs, ino, 1);
	is_u64(fsfix_free_blocks(&t), free0, "bs %u: forget frees it", bs);
	(void)iblocks;
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	fsfix_read_sb(&t, &sb);
	is_int(le32_to_cpu(sb.s_orphan_head), 0, "bs %u: no orphan on disk after unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean", bs);
	fsfix_cleanup(&t);
}

/* The child: orphan an inode, sync (with a journal: fsync the kept file,
 * which commits the unlink too but leaves it in the log), and "crash".
 * Sends the inode number and the blocks of a kept file through @fd. */
static void crash_child(struct fsfix *t, int fd, bool journal)
{
	struct inode *victim, *keep;
	struct fs_file *fv, *fk;
	uint32_t msg[2];

	fsfix_mount(t);
	keep = fsfix_create(t, "keep");
	fk = fsfix_open(keep, O_RDWR);
	fsfix_write_pattern(fk, 6, 0, 50000);
	victim = fsfix_create(t, "victim");
	fv = fsfix_open(victim, O_RDWR);
	fsfix_write_pattern(fv, 7, 0, 300000);
	if (fs_unlink(t->root, "victim"))
		_exit(2);
	if (journal ? fs_fsync_inode(keep, false) : fs_sync(t->fs))
		_exit(3);
	msg[0] = victim->ino;
	msg[1] = (uint32_t)fsfix_blocks(keep);
	if (write(fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		_exit(4);
	_exit(0); /* no release, no unmount */
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_orphan_crash(unsigned bs, bool journal)
{
	struct folio_super sb0, sb;
	struct inode *inode;
	struct fs_file *f;
	uint32_t msg[2] = {0, 0};
	char errs[1024];
	int pfd[2], status;
	struct fsfix t;
	pid_t pid;

	fsfix_mkfs(&t, bs, "8M", jopts(journal));
	fsfix_read_sb(&t, &sb0);
	if (pipe(pfd))
		BAIL("pipe");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		BAIL("fork");
	if (!pid) {
		close(pfd[0]);
		crash_child(&t, pfd[1], journal);
	}
	close(pfd[1]);
	if (read(pfd[0], msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		diag("child sent nothing");
	close(pfd[0]);
	waitpid(pid, &status, 0);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0, "bs %u: child crashed on purpose",
	       bs);
	fsfix_read_sb(&t, &sb);
	ok(!(le16_to_cpu(sb.s_state) & FOLIO_STATE_CLEAN), "bs %u: image left not clean", bs);
	if (journal) {
		/* the synced orphan is in the journal's log, home after replay */
		ok(le32_to_cpu(sb.s_feature_incompat) & FOLIO_INCOMPAT_RECOVER,
		   "bs %u: the image needs its journal replayed", bs);
	} else {
		is_int(le32_to_cpu(sb.s_orphan_head), msg[0], "bs %u: the orphan is on the list",
		       bs);
		is_int(fsfix_fsck(&t), 0, "bs %u: fsck of the crashed image (orphan is a note)",
		       bs);
	}

	is_int(fsfix_mount_capture(&t, errs, sizeof(errs)), 0, "bs %u: mount after the crash", bs);
	ok(strstr(errs, "not cleanly unmounted") &&
		   (!journal || strstr(errs, "journal replayed: 1 transactions")),
	   "bs %u: it says so: %s", bs, errs);
	is_int(count_lines(errs), journal ? 2 : 1, "bs %u: one line each", bs);
	is_int(le32_to_cpu(t.fs->sb.s_orphan_head), 0, "bs %u: orphan list emptied", bs);
	is_int(fs_iget(t.fs, msg[0], &inode), -ENOENT, "bs %u: the orphan inode is free", bs);
	is_u64(fsfix_free_blocks(&t), le64_to_cpu(sb0.s_free_blocks) - msg[1],
	       "bs %u: its blocks are free; the kept file's are not", bs);
	is_int(fsfix_free_inodes(&t), le32_to_cpu(sb0.s_free_inodes) - 1,
	       "bs %u: one inode in use more than after mkfs", bs);
	inode = fsfix_lookup(&t, "keep");
	f = fsfix_open(inode, O_RDONLY);
	ok(check_pattern(f, 6, 50000), "bs %u: the synced file survived", bs);
	fs_release(f);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	fsfix_read_sb(&t, &sb);
	ok((le16_to_cpu(sb.s_state) & FOLIO_STATE_CLEAN) && !sb.s_orphan_head,
	   "bs %u: clean, no orphans", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after the orphan cleanup", bs);
	fsfix_cleanup(&t);
}

int main(void)
{
	static const unsigned sizes[] = {1024, 2048, 4096};

	for (unsigned i = 0; i < 3; i++) {
		test_fill(sizes[i]);
		test_inodes(sizes[i]);
		test_unlink_open(sizes[i], false);
		test_orphan_crash(sizes[i], false);
		test_unlink_open(sizes[i], true);
		test_orphan_crash(sizes[i], true);
	}
	return done_testing();
}
