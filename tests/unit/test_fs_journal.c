/*
 * tests/unit/test_fs_journal.c - the metadata journal (fs/journal.c) without
 * FUSE, for block sizes 1, 2 and 4 KiB.
 *
 * Checks: a process that fsyncs and then dies (no unmount) leaves an image
 * that needs recovery; the next mount replays the journal, says so in one
 * line, and finds every fsynced byte and name, and fsck is clean after it;
 * blocks a transaction freed are not allocated again before it commits: an
 * allocation that meets only such blocks commits first and succeeds instead
 * of reusing them at once or failing with ENOSPC; freeing metadata blocks that were
 * logged writes revoke records; commit and checkpoint counters move; a clean
 * unmount leaves an empty log and RECOVER cleared. A filesystem switched
 * read-only by corruption with a change left uncommitted fails fsync,
 * fdatasync, sync and unmount with EIO; with nothing left uncommitted (or on
 * a -o ro mount) they return 0; with errors=continue fsync still commits
 * and what it synced survives a crash.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/fsfix.h"
#include "tests/lib/tap.h"

#define JOPTS "-J size=1M"

static bool check_pattern(struct fs_file *f, unsigned seed, uint64_t off, size_t len)
{
	uint8_t *want = malloc(len);
	bool same;

	fsfix_fill(want, len, seed, off);
	same = fsfix_file_equals(f, want, off, len);
	free(want);
	return same;
}

/* The child of the crash test: fsync some things, leave others unsynced,
 * die without unmounting. */
static void crash_child(struct fsfix *t)
{
	struct inode *a, *b, *d, *x;
	struct fs_file *fa, *fb;

	fsfix_mount(t);
	a = fsfix_create(t, "a");
	fa = fsfix_open(a, O_RDWR);
	fsfix_write_pattern(fa, 11, 0, 200000);
	if (fs_fsync(fa, false))
		_exit(2);
	if (fs_mkdir(t->root, "d", 0755, &fsfix_cred, &d) ||
	    fs_create(d, "x", S_IFREG | 0644, 0, &fsfix_cred, &x))
		_exit(3);
	if (fs_fsync_inode(d, false))
		_exit(4);
	/* not synced: may or may not survive, but must not break anything */
	fsfix_write_pattern(fa, 12, 200000, 50000);
	b = fsfix_create(t, "b");
	fb = fsfix_open(b, O_RDWR);
	fsfix_write_pattern(fb, 13, 0, 30000);
	_exit(0);
}

static void test_crash_replay(unsigned bs)
{
	struct folio_super sb;
	struct inode *a, *d;
	struct fs_file *f;
	char errs[1024];
	int status;
	struct fsfix t;
	pid_t pid;

	fsfix_mkfs(&t, bs, "16M", JOPTS);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		BAIL("fork");
	if (!pid)
		crash_child(&t);
	waitpid(pid, &status, 0);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0, "bs %u: child died on purpose",
	       bs);
	fsfix_read_sb(&t, &sb);
	ok(le32_to_cpu(sb.s_feature_incompat) & FOLIO_INCOMPAT_RECOVER,
	   "bs %u: the image needs recovery", bs);
	is_int(fsfix_mount_capture(&t, errs, sizeof(errs)), 0, "bs %u: mount replays", bs);
	ok(strstr(errs, "journal replayed:") != NULL, "bs %u: one line says so: %s", bs, errs);
	a = fsfix_lookup(&t, "a");
	f = fsfix_open(a, O_RDONLY);
	ok(fsfix_size(a) >= 200000, "bs %u: the fsynced size (%llu)", bs,
	   (unsigned long long)fsfix_size(a));
	ok(check_pattern(f, 11, 0, 200000), "bs %u: every fsynced byte", bs);
	fs_release(f);
	fsfix_put(a);
	d = fsfix_lookup(&t, "d");
	ok(fsfix_ino_of(d, "x") != 0, "bs %u: the name fsynced with its directory", bs);
	fsfix_put(d);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	fsfix_read_sb(&t, &sb);
	ok(!(le32_to_cpu(sb.s_feature_incompat) & FOLIO_INCOMPAT_RECOVER) &&
		   (le16_to_cpu(sb.s_state) & FOLIO_STATE_CLEAN),
	   "bs %u: clean unmount: RECOVER cleared, CLEAN set", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean", bs);
	fsfix_cleanup(&t);
}

/* Blocks a transaction freed are held back until it commits: on a full
 * image whose only free blocks were just freed, a write waits for (makes) a
 * commit and then succeeds, instead of reusing them at once or failing
 * with ENOSPC. */
static void test_busy(unsigned bs)
{
	struct fs_journal_stats js0, js1;
	struct inode *big, *g;
	struct fs_file *fb, *fg;
	uint64_t chunk = 64 * 1024, size = 0, cut;
	uint8_t *buf = malloc(chunk);
	struct fsfix t;
	ssize_t w;

	fsfix_mkfs(&t, bs, "8M", JOPTS);
	fsfix_mount(&t);
	big = fsfix_create(&t, "big");
	fb = fsfix_open(big, O_RDWR);
	memset(buf, 0x5a, chunk);
	while ((w = fs_write(fb, buf, bs, size)) > 0)
		size += (uint64_t)w;
	is_int((int)w, -ENOSPC, "bs %u: filled the image (%llu bytes)", bs,
	       (unsigned long long)size);
	ok(fs_journal_commit(t.fs) >= 0, "bs %u: commit", bs);
	cut = 2 * chunk;
	is_int(fs_setsize(big, size - cut), 0, "bs %u: free %llu bytes' blocks", bs,
	       (unsigned long long)cut);
	fs_journal_stats(t.fs, &js0);
	g = fsfix_create(&t, "g");
	fg = fsfix_open(g, O_RDWR);
	w = fs_write(fg, buf, chunk, 0);
	fs_journal_stats(t.fs, &js1);
	is_int((int)w, (int)chunk, "bs %u: a write that needs the just-freed blocks succeeds", bs);
	ok(js1.commits > js0.commits, "bs %u: ... after a commit (%llu -> %llu)", bs,
	   (unsigned long long)js0.commits, (unsigned long long)js1.commits);
	fs_release(fg);
	fsfix_put(g);
	fs_release(fb);
	fsfix_put(big);
	free(buf);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean", bs);
	fsfix_cleanup(&t);
}

/* Metadata blocks freed after being logged get revoke records. */
static void test_revoke(unsigned bs)
{
	struct fs_journal_stats js;
	struct inode *d, *x;
	char name[64];
	struct fsfix t;
	unsigned n = 400, bad = 0;

	fsfix_mkfs(&t, bs, "16M", JOPTS);
	fsfix_mount(&t);
	is_int(fs_mkdir(t.root, "d", 0755, &fsfix_cred, &d), 0, "bs %u: mkdir", bs);
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "a-fairly-long-name-for-entry-%06u", i);
		if (fs_create(d, name, S_IFREG | 0644, 0, &fsfix_cred, &x))
			bad++;
		else
			fsfix_put(x);
	}
	is_int(bad, 0, "bs %u: %u names (the directory grows a tree)", bs, n);
	ok(fs_journal_commit(t.fs) == 1, "bs %u: committed: its blocks are in the log", bs);
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "a-fairly-long-name-for-entry-%06u", i);
		bad += fs_unlink(d, name) != 0;
	}
	fsfix_put(d);
	bad += fs_rmdir(t.root, "d") != 0;
	is_int(bad, 0, "bs %u: every name and the directory removed", bs);
	ok(fs_journal_commit(t.fs) == 1, "bs %u: commit", bs);
	fs_journal_stats(t.fs, &js);
	ok(js.revokes > 0, "bs %u: the freed tree blocks were revoked (%llu)", bs,
	   (unsigned long long)js.revokes);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean", bs);
	fsfix_cleanup(&t);
}

/* A mount that commits only when told (no periodic commit in the way). */
static void mount_quiet(struct fsfix *t, unsigned errors)
{
	struct fs_options o = {.cache_size = 32ULL << 20,
			       .ra_max_pages = 32,
			       .commit_interval = 3600,
			       .errors = errors};

	if (fsfix_mount_opts(t, &o, NULL, 0))
		BAIL("mount %s", t->image);
}

/* A file @name with @len bytes of pattern @seed, left open in *@f. */
static struct inode *new_file(struct fsfix *t, const char *name, unsigned seed, size_t len,
			      struct fs_file **f)
{
	struct inode *inode = fsfix_create(t, name);

	*f = fsfix_open(inode, O_RDWR);
	fsfix_write_pattern(*f, seed, 0, len);
	return inode;
}

static void close_file(struct inode *inode, struct fs_file *f)
{
	fs_release(f);
	fsfix_put(inode);
}

/* Switched read-only by corruption (errors=remount-ro) with a change the
 * journal never committed: fsync, fdatasync and sync say EIO; the unmount
 * leaves ERRORS on the image. */
static void test_ro_lost(unsigned bs)
{
	struct folio_super sb;
	struct inode *a, *b;
	struct fs_file *fa, *fb;
	struct fsfix t;

	fsfix_mkfs(&t, bs, "16M", JOPTS);
	mount_quiet(&t, FS_ERRORS_REMOUNT_RO);
	a = new_file(&t, "a", 21, 20000, &fa);
	is_int(fs_fsync(fa, false), 0, "bs %u: fsync before the lie", bs);
	b = new_file(&t, "b", 22, 20000, &fb); /* not committed */
	fs_corrupt(t.fs, 0, "test: a lie");
	is_int(fs_check_writable(t.fs), -EROFS, "bs %u: now read-only", bs);
	is_int(fs_fsync(fb, false), -EIO, "bs %u: fsync of the uncommitted file: EIO", bs);
	is_int(fs_fsync(fb, true), -EIO, "bs %u: fdatasync of it: EIO", bs);
	is_int(fs_fsync(fb, false), -EIO, "bs %u: and again (not once only)", bs);
	is_int(fs_fsync(fa, false), -EIO,
	       "bs %u: fsync of another file while a change is lost: EIO", bs);
	is_int(fs_sync(t.fs), -EIO, "bs %u: fs_sync (foliofs-ctl sync): EIO", bs);
	close_file(a, fa);
	close_file(b, fb);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount (the loss was reported, the image marked)", bs);
	fsfix_read_sb(&t, &sb);
	ok((le16_to_cpu(sb.s_state) & FOLIO_STATE_ERRORS) &&
		   !(le16_to_cpu(sb.s_state) & FOLIO_STATE_CLEAN),
	   "bs %u: ERRORS, not CLEAN, on the image", bs);
	fsfix_cleanup(&t);
}

/* Switched read-only with everything committed: nothing to make durable,
 * fsync and sync return 0 (and on a -o ro mount, which never writes). */
static void test_ro_nothing_lost(unsigned bs)
{
	struct fs_options ro = {.cache_size = 32ULL << 20, .ra_max_pages = 32, .rdonly = true};
	struct inode *a;
	struct fs_file *fa;
	struct fsfix t;

	fsfix_mkfs(&t, bs, "16M", JOPTS);
	mount_quiet(&t, FS_ERRORS_REMOUNT_RO);
	a = new_file(&t, "a", 23, 20000, &fa);
	is_int(fs_fsync(fa, false), 0, "bs %u: fsync before the lie", bs);
	fs_corrupt(t.fs, 0, "test: a lie");
	is_int(fs_fsync(fa, false), 0, "bs %u: read-only, nothing uncommitted: fsync 0", bs);
	is_int(fs_fsync(fa, true), 0, "bs %u: fdatasync 0", bs);
	is_int(fs_fsync_inode(t.root, false), 0, "bs %u: fsync of the directory 0", bs);
	is_int(fs_sync(t.fs), 0, "bs %u: fs_sync 0", bs);
	close_file(a, fa);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount 0", bs);
	fsfix_cleanup(&t);

	fsfix_mkfs(&t, bs, "16M", JOPTS);
	if (fsfix_mount_opts(&t, &ro, NULL, 0))
		BAIL("mount -o ro %s", t.image);
	a = fsfix_lookup(&t, "lost+found");
	is_int(fs_fsync_inode(a, false), 0, "bs %u: -o ro: fsync 0", bs);
	fsfix_put(a);
	is_int(fs_fsync_inode(t.root, false), 0, "bs %u: -o ro: fsync of the root 0", bs);
	is_int(fs_sync(t.fs), 0, "bs %u: -o ro: fs_sync 0", bs);
	is_int(fsfix_umount(&t), 0, "bs %u: -o ro: unmount 0", bs);
	fsfix_cleanup(&t);
}

/* errors=continue: the filesystem stays writable and commits go on: fsync
 * returns 0 and what it synced survives a crash. */
static void test_continue_fsync(unsigned bs)
{
	struct inode *c;
	struct fs_file *fc;
	char errs[1024];
	int status;
	struct fsfix t;
	pid_t pid;

	fsfix_mkfs(&t, bs, "16M", JOPTS);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		BAIL("fork");
	if (!pid) {
		mount_quiet(&t, FS_ERRORS_CONTINUE);
		c = new_file(&t, "c", 24, 30000, &fc);
		fs_corrupt(t.fs, 0, "test: a lie");
		if (fs_check_writable(t.fs))
			_exit(2);
		_exit(fs_fsync(fc, false) == 0 ? 0 : 3); /* no unmount: a crash */
	}
	waitpid(pid, &status, 0);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0,
	       "bs %u: errors=continue: still writable, fsync 0", bs);
	is_int(fsfix_mount_capture(&t, errs, sizeof(errs)), 0, "bs %u: mounts again (replay)", bs);
	c = fsfix_lookup(&t, "c");
	ok(c != NULL, "bs %u: the fsynced file is there", bs);
	if (c) {
		fc = fsfix_open(c, O_RDONLY);
		is_int((int)fsfix_size(c), 30000, "bs %u: its size", bs);
		ok(check_pattern(fc, 24, 0, 30000), "bs %u: its bytes", bs);
		close_file(c, fc);
	}
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	fsfix_cleanup(&t);
}

int main(void)
{
	static const unsigned sizes[] = {1024, 2048, 4096};

	for (unsigned i = 0; i < 3; i++) {
		test_crash_replay(sizes[i]);
		test_busy(sizes[i]);
		test_revoke(sizes[i]);
	}
	test_ro_lost(4096);
	test_ro_nothing_lost(4096);
	test_continue_fsync(4096);
	return done_testing();
}
