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
 * unmount leaves an empty log and RECOVER cleared.
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

int main(void)
{
	static const unsigned sizes[] = {1024, 2048, 4096};

	for (unsigned i = 0; i < 3; i++) {
		test_crash_replay(sizes[i]);
		test_busy(sizes[i]);
		test_revoke(sizes[i]);
	}
	return done_testing();
}
