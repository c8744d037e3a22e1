/*
 * tests/unit/test_fs_core.c - the filesystem core without FUSE: mount and
 * unmount, mount errors, file reads and writes across block boundaries,
 * persistence across remounts, sparse files past 1 TiB, truncate, punch
 * hole, zero range, preallocation, SEEK_DATA/SEEK_HOLE, copy_file_range and
 * fsync's errseq reporting, for block sizes 1, 2 and 4 KiB; the orphan list
 * while threads release orphans and write the head's inode (with a hardware
 * watchpoint where there is one). Every scenario ends with fsck.foliofs
 * clean.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/fsfix.h"
#include "tests/lib/tap.h"

#define MODEL_SIZE (1U << 20)

/* ---- mount, statfs, clean state ---- */

static void test_mount_basic(unsigned bs)
{
	struct folio_super sb0, sb;
	struct statvfs st;
	struct fsfix t, t2;
	char msg[256] = "";
	struct stat rst;
	int err;

	fsfix_mkfs(&t, bs, "64M", NULL);
	fsfix_read_sb(&t, &sb0);
	fsfix_mount(&t);
	fs_statfs(t.fs, &st);
	is_int(st.f_bsize, bs, "bs %u: statfs block size", bs);
	is_u64(st.f_blocks, le64_to_cpu(sb0.s_blocks_count), "bs %u: statfs blocks", bs);
	is_u64(st.f_bfree, le64_to_cpu(sb0.s_free_blocks), "bs %u: free blocks as mkfs left", bs);
	is_u64(st.f_ffree, le32_to_cpu(sb0.s_free_inodes), "bs %u: free inodes as mkfs left", bs);
	fs_inode_stat(t.root, &rst);
	ok(S_ISDIR(rst.st_mode) && rst.st_ino == 1, "bs %u: root is directory 1", bs);
	fsfix_read_sb(&t, &sb);
	ok(!(le16_to_cpu(sb.s_state) & FOLIO_STATE_CLEAN), "bs %u: mounted image is not clean", bs);
	is_int(le32_to_cpu(sb.s_mount_count), le32_to_cpu(sb0.s_mount_count) + 1,
	       "bs %u: mount counted on disk", bs);
	ok(le64_to_cpu(sb.s_mount_time) != 0, "bs %u: mount time set", bs);
	t2 = t;
	t2.fs = NULL;
	err = fs_mount(t.image, &t.fs->opts, &t2.fs, msg, sizeof(msg));
	is_int(err, -EBUSY, "bs %u: second mount of the image is refused", bs);
	ok(strstr(msg, t.image) != NULL, "bs %u: with a message naming it: %s", bs, msg);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	fsfix_read_sb(&t, &sb);
	ok(le16_to_cpu(sb.s_state) & FOLIO_STATE_CLEAN, "bs %u: unmounted image is clean", bs);
	is_u64(le64_to_cpu(sb.s_free_blocks), le64_to_cpu(sb0.s_free_blocks),
	       "bs %u: free blocks on disk unchanged", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after mount/unmount", bs);
	fsfix_cleanup(&t);
}

/* ---- mount errors ---- */

static void expect_mount_error(struct fsfix *t, int want, const char *what, const char *needle)
{
	size_t len0, len1;
	uint8_t *before = fsfix_slurp(t->image, &len0), *after;
	char msg[256] = "";
	int err = fsfix_mount_opts(t, NULL, msg, sizeof(msg));

	is_int(err, want, "%s: errno", what);
	ok(msg[0] && !strchr(msg, '\n') && (!needle || strstr(msg, needle)), "%s: message '%s'",
	   what, msg);
	after = fsfix_slurp(t->image, &len1);
	ok(len0 == len1 && !memcmp(before, after, len0), "%s: image unchanged", what);
	free(before);
	free(after);
	if (!err)
		fsfix_umount(t);
}

static void test_mount_errors(void)
{
	struct folio_super sb;
	struct fsfix t;
	char msg[256] = "";
	uint8_t *zero = calloc(1, 1 << 20), flip;
	uint64_t gdt;
	int err;

	fsfix_mkfs(&t, 4096, "8M", NULL);
	snprintf(t.image, sizeof(t.image), "%s/missing", t.tmpdir);
	err = fsfix_mount_opts(&t, NULL, msg, sizeof(msg));
	is_int(err, -ENOENT, "missing image: -ENOENT");
	ok(strstr(msg, "missing") != NULL, "missing image: message '%s'", msg);

	snprintf(t.image, sizeof(t.image), "%s/zero", t.tmpdir);
	{
		FILE *f = fopen(t.image, "w");

		fwrite(zero, 1, 1 << 20, f);
		fclose(f);
	}
	expect_mount_error(&t, -EINVAL, "zero-filled image", "not a foliofs");

	snprintf(t.image, sizeof(t.image), "%s/img", t.tmpdir);
	fsfix_read_sb(&t, &sb);
	flip = (uint8_t)(sb.s_label[3] ^ 0x40);
	fsfix_patch(t.image, offsetof(struct folio_super, s_label) + 3, &flip, 1);
	expect_mount_error(&t, -EBADMSG, "flipped label byte", "checksum");
	fsfix_patch(t.image, offsetof(struct folio_super, s_label) + 3, &sb.s_label[3], 1);

	flip = (uint8_t)(((uint8_t *)&sb.s_magic)[1] ^ 1);
	fsfix_patch(t.image, 1, &flip, 1);
	expect_mount_error(&t, -EINVAL, "flipped magic byte", "not a foliofs");
	fsfix_patch(t.image, 1, ((uint8_t *)&sb.s_magic) + 1, 1);

	{
		struct folio_super nsb = sb;

		nsb.s_version = cpu_to_le32(2);
		folio_sb_csum_set(&nsb);
		fsfix_patch(t.image, 0, &nsb, sizeof(nsb));
		expect_mount_error(&t, -EPROTONOSUPPORT, "newer version", "version");
		nsb = sb;
		nsb.s_feature_incompat = cpu_to_le32(0x80);
		folio_sb_csum_set(&nsb);
		fsfix_patch(t.image, 0, &nsb, sizeof(nsb));
		expect_mount_error(&t, -EPROTONOSUPPORT, "unknown incompat feature", "feature");
		fsfix_patch(t.image, 0, &sb, sizeof(sb));
	}

	gdt = le64_to_cpu(sb.s_gdt_block) * 4096;
	{
		struct folio_group_desc gd;
		int fd = open(t.image, O_RDONLY);

		if (fd < 0 || pread(fd, &gd, sizeof(gd), (off_t)gdt) != (ssize_t)sizeof(gd))
			BAIL("read descriptor");
		close(fd);
		flip = (uint8_t)(((uint8_t *)&gd)[0x18] ^ 1);
		fsfix_patch(t.image, gdt + 0x18, &flip, 1);
		expect_mount_error(&t, -EBADMSG, "flipped descriptor byte", "descriptor");
		fsfix_patch(t.image, gdt + 0x18, ((uint8_t *)&gd) + 0x18, 1);
	}

	{
		size_t len;
		uint8_t *whole = fsfix_slurp(t.image, &len);

		if (truncate(t.image, 4 << 20))
			BAIL("truncate image");
		expect_mount_error(&t, -ENOSPC, "image shorter than the filesystem", NULL);
		fsfix_patch(t.image, 0, whole, len);
		free(whole);
	}

	fsfix_mount(&t);
	is_int(fsfix_umount(&t), 0, "restored image mounts again");
	is_int(fsfix_fsck(&t), 0, "restored image fsck clean");
	free(zero);
	fsfix_cleanup(&t);
}

/* A read-only mount writes nothing, not even the superblock. */
static void test_mount_ro(void)
{
	struct fs_options ro = {.cache_size = 32ULL << 20, .ra_max_pages = 32, .rdonly = true};
	struct fsfix t;
	size_t len0, len1;
	uint8_t *before, *after, buf[100];
	struct inode *inode;
	struct fs_file *f;

	fsfix_mkfs(&t, 2048, "8M", NULL);
	fsfix_mount(&t);
	inode = fsfix_create(&t, "f");
	f = fsfix_open(inode, O_RDWR);
	fsfix_write_pattern(f, 3, 0, 5000);
	fs_release(f);
	fsfix_put(inode);
	fsfix_umount(&t);
	before = fsfix_slurp(t.image, &len0);
	is_int(fsfix_mount_opts(&t, &ro, NULL, 0), 0, "read-only mount");
	inode = fsfix_lookup(&t, "f");
	f = fsfix_open(inode, O_RDONLY);
	is_int(fs_write(f, "x", 1, 0), -EROFS, "write on a read-only mount: -EROFS");
	is_int(fs_read(f, buf, sizeof(buf), 4950), 50, "read on a read-only mount");
	ok(buf[0] == fsfix_byte(3, 4950) && buf[49] == fsfix_byte(3, 4999), "bytes read back");
	is_int(fs_setsize(inode, 0), -EROFS, "truncate on a read-only mount: -EROFS");
	fs_release(f);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "read-only unmount");
	after = fsfix_slurp(t.image, &len1);
	ok(len0 == len1 && !memcmp(before, after, len0), "read-only mount changed no byte");
	free(before);
	free(after);
	fsfix_cleanup(&t);
}

/* Corruption found while mounted: the operation fails with -EUCLEAN, the
 * filesystem turns read-only and the image is left marked ERRORS. */
static void test_corrupt_node(void)
{
	struct folio_super sb;
	struct statvfs st;
	struct inode *inode;
	struct fs_file *f;
	uint64_t node;
	uint8_t buf[64], flip;
	struct fsfix t;

	fsfix_mkfs(&t, 1024, "8M", NULL);
	fsfix_mount(&t);
	inode = fsfix_create(&t, "c");
	f = fsfix_open(inode, O_RDWR);
	for (int i = 0; i < 8; i++)
		fsfix_write_pattern(f, 2, (uint64_t)i * 2048, 1024);
	ok(le16_to_cpu(inode->di->i_extents.eh.eh_depth) == 1, "8 extents: a tree with a node");
	node = le64_to_cpu(inode->di->i_extents.idx[0].ei_child);
	fs_release(f);
	fsfix_put(inode);
	fsfix_umount(&t);
	{
		int fd = open(t.image, O_RDONLY);

		if (fd < 0 || pread(fd, &flip, 1, (off_t)(node * 1024 + 40)) != 1)
			BAIL("read node");
		close(fd);
	}
	flip ^= 0x10;
	fsfix_patch(t.image, node * 1024 + 40, &flip, 1);
	fsfix_mount(&t);
	inode = fsfix_lookup(&t, "c");
	f = fsfix_open(inode, O_RDWR);
	is_int(fs_read(f, buf, sizeof(buf), 0), -EUCLEAN, "a corrupt extent node: -EUCLEAN");
	fs_statfs(t.fs, &st);
	ok(st.f_flag & ST_RDONLY, "the filesystem went read-only");
	is_int(fs_write(f, buf, 1, 0), -EROFS, "writes fail with -EROFS");
	fs_release(f);
	fsfix_put(inode);
	fsfix_umount(&t);
	fsfix_read_sb(&t, &sb);
	ok((le16_to_cpu(sb.s_state) & FOLIO_STATE_ERRORS) &&
		   !(le16_to_cpu(sb.s_state) & FOLIO_STATE_CLEAN),
	   "the image is marked ERRORS, not clean");
	is_int(fsfix_fsck(&t), 4, "fsck finds the damage");
	fsfix_cleanup(&t);
}

/* ---- reads and writes ---- */

struct wr {
	uint64_t off;
	size_t len;
};

static void model_write(uint8_t *model, unsigned seed, uint64_t off, size_t len)
{
	fsfix_fill(model + off, len, seed, off);
}

static void test_rw(unsigned bs)
{
	const struct wr w[] = {
		{0, 1},		  {bs - 3, 7},	       {5 * bs + 100, 3 * bs + 17},
		{10000, 65536},	  {123457, 1},	       {2 * bs, bs},
		{300000, 200001}, {MODEL_SIZE - 5, 5}, {7, 2 * bs - 14},
	};
	uint8_t *model = calloc(1, MODEL_SIZE);
	uint64_t free0, size = 0, iblocks, ext_blocks;
	struct inode *inode;
	struct fs_file *f;
	struct stat st;
	struct fsfix t;
	uint64_t pblk;
	unsigned flags = 0;
	int n;

	fsfix_mkfs(&t, bs, "64M", NULL);
	fsfix_mount(&t);
	free0 = fsfix_free_blocks(&t);
	inode = fsfix_create(&t, "data");
	f = fsfix_open(inode, O_RDWR);
	for (unsigned i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		fsfix_write_pattern(f, i + 1, w[i].off, w[i].len);
		model_write(model, i + 1, w[i].off, w[i].len);
		if (w[i].off + w[i].len > size)
			size = w[i].off + w[i].len;
	}
	fs_inode_stat(inode, &st);
	is_u64(st.st_size, size, "bs %u: size after the writes", bs);
	ok(fsfix_file_equals(f, model, 0, size), "bs %u: whole file reads back", bs);
	ok(fsfix_file_equals(f, model + bs - 5, bs - 5, 3 * bs + 11), "bs %u: unaligned read back",
	   bs);
	iblocks = fsfix_blocks(inode);
	ext_blocks = fs_extent_blocks(inode);
	is_u64(iblocks, ext_blocks, "bs %u: i_blocks equals what the tree owns", bs);
	is_u64((uint64_t)st.st_blocks, iblocks * (bs / 512), "bs %u: st_blocks in 512 units", bs);
	is_int(st.st_blksize, 4096, "bs %u: st_blksize 4096", bs);
	is_u64(free0 - fsfix_free_blocks(&t), iblocks, "bs %u: free count fell by i_blocks", bs);
	is_int(fs_read(f, model, 10, size), 0, "bs %u: read at EOF returns 0", bs);
	fs_release(f);
	fsfix_put(inode);

	/* a sequential stream lands contiguously */
	inode = fsfix_create(&t, "seq");
	f = fsfix_open(inode, O_WRONLY | O_APPEND);
	for (int i = 0; i < 64; i++)
		fsfix_write_pattern(f, 99, (uint64_t)i * 4096, 4096);
	n = fs_map_blocks(&inode->mapping, 0, 1000, &pblk, &flags);
	is_int(n, 64 * 4096 / bs, "bs %u: 256 KiB of appends map as one run", bs);
	ok(flags == MAP_MAPPED, "bs %u: ... mapped and written", bs);
	fs_release(f);
	fsfix_put(inode);

	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after writes", bs);
	fsfix_mount(&t);
	inode = fsfix_lookup(&t, "data");
	f = fsfix_open(inode, O_RDONLY);
	fs_inode_stat(inode, &st);
	is_u64(st.st_size, size, "bs %u: size after remount", bs);
	ok(fsfix_file_equals(f, model, 0, size), "bs %u: bytes identical after remount", bs);
	is_u64(fsfix_blocks(inode), iblocks, "bs %u: i_blocks after remount", bs);
	fs_release(f);
	fsfix_put(inode);
	is_int(fs_unlink(t.root, "data"), 0, "bs %u: unlink", bs);
	is_int(fs_unlink(t.root, "seq"), 0, "bs %u: unlink the stream", bs);
	is_u64(fsfix_free_blocks(&t), free0, "bs %u: every block back after unlink", bs);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after unlink", bs);
	free(model);
	fsfix_cleanup(&t);
}

/* ---- sparse file with data past 1 TiB ---- */

static void test_sparse(unsigned bs)
{
	const uint64_t off = (1ULL << 40) + 4096;
	uint64_t free0, found;
	struct inode *inode;
	struct fs_file *f;
	uint8_t *model = malloc(4096);
	struct stat st;
	struct fsfix t;

	fsfix_mkfs(&t, bs, "32M", NULL);
	fsfix_mount(&t);
	free0 = fsfix_free_blocks(&t);
	inode = fsfix_create(&t, "sparse");
	f = fsfix_open(inode, O_RDWR);
	fsfix_write_pattern(f, 7, off, 4096);
	fs_inode_stat(inode, &st);
	is_u64(st.st_size, off + 4096, "bs %u: sparse size 1 TiB + 8 KiB", bs);
	is_u64(fsfix_blocks(inode), 4096 / bs, "bs %u: only the data block(s) owned", bs);
	is_u64((uint64_t)st.st_blocks, 8, "bs %u: st_blocks 8", bs);
	is_u64(free0 - fsfix_free_blocks(&t), 4096 / bs, "bs %u: free count fell by the data", bs);
	ok(fsfix_file_zero(f, 0, 4096), "bs %u: start reads zeros", bs);
	ok(fsfix_file_zero(f, 1ULL << 40, 4096), "bs %u: 1 TiB reads zeros", bs);
	fsfix_fill(model, 4096, 7, off);
	ok(fsfix_file_equals(f, model, off, 4096), "bs %u: data at 1 TiB + 4 KiB", bs);
	found = (uint64_t)fs_lseek(inode, 0, SEEK_DATA);
	is_u64(found, off, "bs %u: SEEK_DATA finds it", bs);
	is_int(fs_lseek(inode, (int64_t)off, SEEK_HOLE), (int64_t)(off + 4096),
	       "bs %u: SEEK_HOLE after it is EOF", bs);
	fs_release(f);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean with a 1 TiB sparse file", bs);
	fsfix_mount(&t);
	inode = fsfix_lookup(&t, "sparse");
	f = fsfix_open(inode, O_RDONLY);
	ok(fsfix_file_equals(f, model, off, 4096), "bs %u: data after remount", bs);
	ok(fsfix_file_zero(f, off - 8192, 8192), "bs %u: hole before it after remount", bs);
	fs_release(f);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	free(model);
	fsfix_cleanup(&t);
}

/* ---- truncate ---- */

static void test_truncate(unsigned bs)
{
	uint8_t *model = calloc(1, 16 * bs);
	uint64_t free0;
	struct inode *inode;
	struct fs_file *f;
	struct stat st;
	struct fsfix t;

	fsfix_mkfs(&t, bs, "16M", NULL);
	fsfix_mount(&t);
	free0 = fsfix_free_blocks(&t);
	inode = fsfix_create(&t, "t");
	f = fsfix_open(inode, O_RDWR);
	fsfix_write_pattern(f, 5, 0, 3 * bs + 100);
	model_write(model, 5, 0, 3 * bs + 100);
	is_int(fs_setsize(inode, bs + 10), 0, "bs %u: truncate down", bs);
	memset(model + bs + 10, 0, 16 * bs - bs - 10);
	fs_inode_stat(inode, &st);
	is_u64(st.st_size, bs + 10, "bs %u: new size", bs);
	is_u64(fsfix_blocks(inode), 2, "bs %u: two blocks kept", bs);
	is_u64(free0 - fsfix_free_blocks(&t), 2, "bs %u: the others freed", bs);
	is_int(fs_setsize(inode, 5 * bs), 0, "bs %u: truncate up", bs);
	ok(fsfix_file_equals(f, model, 0, 5 * bs), "bs %u: tail past the old end reads zeros", bs);
	is_u64(fsfix_blocks(inode), 2, "bs %u: growing allocates nothing", bs);
	fsfix_write_pattern(f, 6, 4 * bs, bs);
	model_write(model, 6, 4 * bs, bs);
	is_int(fs_setsize(inode, 4 * bs + 1), 0, "bs %u: cut inside the last block", bs);
	memset(model + 4 * bs + 1, 0, bs - 1);
	is_int(fs_setsize(inode, 6 * bs), 0, "bs %u: and grow again", bs);
	ok(fsfix_file_equals(f, model, 0, 6 * bs), "bs %u: cut bytes read zeros", bs);
	fs_release(f);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after truncates", bs);
	fsfix_mount(&t);
	inode = fsfix_lookup(&t, "t");
	f = fsfix_open(inode, O_RDWR | O_TRUNC);
	fs_inode_stat(inode, &st);
	ok(fsfix_blocks(inode) == 0 && st.st_size == 0, "bs %u: O_TRUNC empties the file", bs);
	is_u64(fsfix_free_blocks(&t), free0 - 0, "bs %u: every block back", bs);
	fs_release(f);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean", bs);
	free(model);
	fsfix_cleanup(&t);
}

/* ---- punch hole, zero range, preallocation ---- */

static void test_punch_zero(unsigned bs)
{
	uint8_t *model = calloc(1, 16 * bs);
	uint64_t free0, found;
	struct inode *inode;
	struct fs_file *f;
	struct stat st;
	struct fsfix t;

	fsfix_mkfs(&t, bs, "16M", NULL);
	fsfix_mount(&t);
	free0 = fsfix_free_blocks(&t);
	inode = fsfix_create(&t, "p");
	f = fsfix_open(inode, O_RDWR);
	fsfix_write_pattern(f, 8, 0, 8 * bs);
	model_write(model, 8, 0, 8 * bs);
	is_int(fs_fallocate(inode, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, bs + 100,
			    4 * bs - 93),
	       0, "bs %u: punch hole", bs);
	memset(model + bs + 100, 0, 4 * bs - 93);
	ok(fsfix_file_equals(f, model, 0, 8 * bs), "bs %u: punched bytes read zeros", bs);
	is_u64(fsfix_blocks(inode), 5, "bs %u: the 3 whole blocks freed", bs);
	is_u64(free0 - fsfix_free_blocks(&t), 5, "bs %u: free count agrees", bs);
	found = (uint64_t)fs_lseek(inode, 0, SEEK_HOLE);
	is_u64(found, 2 * bs, "bs %u: SEEK_HOLE finds the punched blocks", bs);
	found = (uint64_t)fs_lseek(inode, 2 * bs, SEEK_DATA);
	is_u64(found, 5 * bs, "bs %u: SEEK_DATA after them", bs);
	is_int(fs_fallocate(inode, FALLOC_FL_PUNCH_HOLE, 0, bs), -EOPNOTSUPP,
	       "bs %u: punch without KEEP_SIZE is refused", bs);

	/* the punched blocks may be allocated again once the punch is
	 * committed (the journal holds freed blocks back until then) */
	is_int(fs_sync(t.fs), 0, "bs %u: sync commits the punch", bs);
	is_int(fs_fallocate(inode, FALLOC_FL_ZERO_RANGE, bs / 2, 6 * bs + 1), 0,
	       "bs %u: zero range", bs);
	memset(model + bs / 2, 0, 6 * bs + 1);
	ok(fsfix_file_equals(f, model, 0, 8 * bs), "bs %u: zeroed bytes read zeros", bs);
	is_u64(fsfix_blocks(inode), 8, "bs %u: zero range allocates the holes (unwritten)", bs);
	fs_inode_stat(inode, &st);
	is_u64(st.st_size, 8 * bs, "bs %u: size kept", bs);
	is_int(fs_fallocate(inode, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 7 * bs, 4 * bs), 0,
	       "bs %u: zero range past EOF, KEEP_SIZE", bs);
	fs_inode_stat(inode, &st);
	is_u64(st.st_size, 8 * bs, "bs %u: ... size kept", bs);
	/* [0,1) written, [1,6) unwritten, [6,7) written, [7,11) unwritten: one node */
	is_u64(fsfix_blocks(inode), 11 + le16_to_cpu(inode->di->i_extents.eh.eh_depth),
	       "bs %u: ... blocks past EOF preallocated", bs);
	is_u64(fsfix_blocks(inode), fs_extent_blocks(inode), "bs %u: ... i_blocks agrees", bs);
	is_int(fs_fallocate(inode, FALLOC_FL_ZERO_RANGE, 7 * bs, 4 * bs), 0,
	       "bs %u: zero range past EOF", bs);
	fs_inode_stat(inode, &st);
	is_u64(st.st_size, 11 * bs, "bs %u: ... size grows", bs);
	is_u64(free0 - fsfix_free_blocks(&t), fsfix_blocks(inode), "bs %u: free count agrees", bs);
	memset(model + 7 * bs, 0, bs);
	ok(fsfix_file_equals(f, model, 0, 11 * bs), "bs %u: contents after zero ranges", bs);
	fs_release(f);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after punch and zero range", bs);
	fsfix_mount(&t);
	inode = fsfix_lookup(&t, "p");
	f = fsfix_open(inode, O_RDONLY);
	ok(fsfix_file_equals(f, model, 0, 11 * bs), "bs %u: contents after remount", bs);
	fs_release(f);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	free(model);
	fsfix_cleanup(&t);
}

static void test_prealloc(unsigned bs)
{
	uint8_t *model = calloc(1, 32 * bs);
	uint64_t free0, pblk;
	struct inode *inode;
	struct fs_file *f;
	unsigned flags = 0;
	struct stat st;
	struct fsfix t;
	int n;

	fsfix_mkfs(&t, bs, "16M", NULL);
	fsfix_mount(&t);
	free0 = fsfix_free_blocks(&t);
	inode = fsfix_create(&t, "pre");
	f = fsfix_open(inode, O_RDWR);
	is_int(fs_fallocate(inode, 0, 0, 10 * bs), 0, "bs %u: fallocate 10 blocks", bs);
	fs_inode_stat(inode, &st);
	is_u64(st.st_size, 10 * bs, "bs %u: size set", bs);
	is_u64(fsfix_blocks(inode), 10, "bs %u: 10 blocks owned", bs);
	ok(fsfix_file_zero(f, 0, 10 * bs), "bs %u: preallocated blocks read zeros", bs);
	n = fs_map_blocks(&inode->mapping, 0, 100, &pblk, &flags);
	ok(n == 10 && flags == MAP_UNWRITTEN, "bs %u: one unwritten run of 10 (%d)", bs, n);
	is_int(fs_lseek(inode, 0, SEEK_DATA), 0, "bs %u: unwritten counts as data", bs);
	fsfix_write_pattern(f, 11, 3 * bs + 5, bs);
	model_write(model, 11, 3 * bs + 5, bs);
	ok(fsfix_file_equals(f, model, 0, 10 * bs), "bs %u: write into preallocated blocks", bs);
	is_u64(fsfix_blocks(inode), 10, "bs %u: no new blocks for it", bs);
	for (unsigned i = 0; i < 10; i++) {
		fsfix_write_pattern(f, 12, (uint64_t)i * bs, bs);
		model_write(model, 12, (uint64_t)i * bs, bs);
	}
	flags = 0;
	n = fs_map_blocks(&inode->mapping, 0, 100, &pblk, &flags);
	ok(n == 10 && flags == MAP_MAPPED, "bs %u: written through: one written run (%d)", bs, n);
	is_int(fs_fallocate(inode, FALLOC_FL_KEEP_SIZE, 10 * bs, 6 * bs), 0,
	       "bs %u: fallocate past EOF, KEEP_SIZE", bs);
	fs_inode_stat(inode, &st);
	ok(st.st_size == 10 * bs && fsfix_blocks(inode) == 16, "bs %u: size kept, 16 blocks", bs);
	is_int(fs_setsize(inode, 10 * bs), 0, "bs %u: truncate to the same size", bs);
	is_u64(fsfix_blocks(inode), 10, "bs %u: frees the blocks past EOF", bs);
	is_u64(free0 - fsfix_free_blocks(&t), 10, "bs %u: free count agrees", bs);
	is_int(fs_fallocate(inode, 0x40, 0, bs), -EOPNOTSUPP, "bs %u: unknown mode refused", bs);
	is_int(fs_fallocate(inode, 0, 0, 0), -EINVAL, "bs %u: zero length refused", bs);
	ok(fsfix_file_equals(f, model, 0, 10 * bs), "bs %u: contents", bs);
	fs_release(f);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after preallocation", bs);
	free(model);
	fsfix_cleanup(&t);
}

/* ---- SEEK_DATA / SEEK_HOLE ---- */

static void test_seek(unsigned bs)
{
	struct inode *inode;
	struct fs_file *f;
	struct fsfix t;
	int64_t b = bs;

	fsfix_mkfs(&t, bs, "16M", NULL);
	fsfix_mount(&t);
	inode = fsfix_create(&t, "s");
	f = fsfix_open(inode, O_RDWR);
	fsfix_write_pattern(f, 1, 0, 2 * bs);
	fsfix_write_pattern(f, 1, 5 * bs, bs);
	is_int(fs_setsize(inode, 8 * bs), 0, "bs %u: layout data 0-1, hole 2-4, data 5, hole", bs);
	is_int(fs_lseek(inode, 0, SEEK_DATA), 0, "bs %u: SEEK_DATA 0", bs);
	is_int(fs_lseek(inode, 10, SEEK_DATA), 10, "bs %u: SEEK_DATA inside data", bs);
	is_int(fs_lseek(inode, 0, SEEK_HOLE), 2 * b, "bs %u: SEEK_HOLE 0", bs);
	is_int(fs_lseek(inode, 2 * b + 1, SEEK_DATA), 5 * b, "bs %u: SEEK_DATA in hole", bs);
	is_int(fs_lseek(inode, 3 * b, SEEK_HOLE), 3 * b, "bs %u: SEEK_HOLE in hole", bs);
	is_int(fs_lseek(inode, 5 * b, SEEK_HOLE), 6 * b, "bs %u: SEEK_HOLE after data", bs);
	is_int(fs_lseek(inode, 6 * b, SEEK_DATA), -ENXIO, "bs %u: no data after: -ENXIO", bs);
	is_int(fs_lseek(inode, 7 * b + 3, SEEK_HOLE), 7 * b + 3, "bs %u: SEEK_HOLE at end", bs);
	is_int(fs_lseek(inode, 8 * b, SEEK_DATA), -ENXIO, "bs %u: SEEK_DATA at EOF", bs);
	is_int(fs_lseek(inode, 8 * b, SEEK_HOLE), -ENXIO, "bs %u: SEEK_HOLE at EOF", bs);
	is_int(fs_lseek(inode, -1, SEEK_DATA), -ENXIO, "bs %u: negative offset", bs);
	fs_release(f);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	fsfix_cleanup(&t);
}

/* ---- copy_file_range ---- */

static void test_copy(unsigned bs)
{
	size_t len = 3 * bs + 50;
	uint8_t *ma = calloc(1, 8 * bs), *mb = calloc(1, 8 * bs);
	struct inode *a, *b;
	struct fs_file *fa, *fb;
	struct fsfix t;

	fsfix_mkfs(&t, bs, "16M", NULL);
	fsfix_mount(&t);
	a = fsfix_create(&t, "a");
	b = fsfix_create(&t, "b");
	fa = fsfix_open(a, O_RDWR);
	fb = fsfix_open(b, O_RDWR);
	fsfix_write_pattern(fa, 21, 0, len);
	model_write(ma, 21, 0, len);
	is_int(fs_copy_range(fa, 0, fb, 7, len + 1000), (int64_t)len,
	       "bs %u: copy stops at the source's end", bs);
	memcpy(mb + 7, ma, len);
	ok(fsfix_file_equals(fb, mb, 0, len + 7), "bs %u: copied bytes", bs);
	is_int(fs_copy_range(fa, 0, fa, bs / 2, 2 * bs), 2 * bs, "bs %u: overlapping copy upward",
	       bs);
	memmove(ma + bs / 2, ma, 2 * bs);
	ok(fsfix_file_equals(fa, ma, 0, len), "bs %u: as if the source was read first", bs);
	is_int(fs_copy_range(fa, bs, fa, 10, 2 * bs), 2 * bs, "bs %u: overlapping copy downward",
	       bs);
	memmove(ma + 10, ma + bs, 2 * bs);
	ok(fsfix_file_equals(fa, ma, 0, len), "bs %u: downward result", bs);
	is_int(fs_copy_range(fa, len, fb, 0, 10), 0, "bs %u: copy from EOF copies nothing", bs);
	fs_release(fa);
	fs_release(fb);
	fsfix_put(a);
	fsfix_put(b);
	is_int(fsfix_umount(&t), 0, "bs %u: unmount", bs);
	is_int(fsfix_fsck(&t), 0, "bs %u: fsck clean after copies", bs);
	free(ma);
	free(mb);
	fsfix_cleanup(&t);
}

/* ---- fsync and errseq ---- */

static void test_fsync_errseq(void)
{
	struct inode *inode;
	struct fs_file *a, *b, *c;
	struct fsfix t;

	fsfix_mkfs(&t, 4096, "8M", NULL);
	fsfix_mount(&t);
	inode = fsfix_create(&t, "e");
	a = fsfix_open(inode, O_RDWR);
	b = fsfix_open(inode, O_RDWR);
	fsfix_write_pattern(a, 1, 0, 10000);
	is_int(fs_fsync(a, false), 0, "fsync with nothing failed");
	ok(atomic_load(&inode->mapping.nrdirty) == 0, "fsync left no dirty page");
	mapping_set_error(&inode->mapping, -EIO);
	is_int(fs_fsync(a, false), -EIO, "handle A sees the write-back error");
	is_int(fs_fsync(a, true), 0, "... once");
	c = fsfix_open(inode, O_RDONLY);
	is_int(fs_fsync(b, false), -EIO, "handle B sees it too");
	is_int(fs_fsync(b, false), 0, "... once");
	is_int(fs_fsync(c, false), 0, "a handle opened after it was seen does not");
	mapping_set_error(&inode->mapping, -ENOSPC);
	is_int(fs_fsync(c, false), -ENOSPC, "a new error reaches the late handle");
	is_int(fs_fsync(a, false), -ENOSPC, "and handle A");
	is_int(fs_fsync(a, false), 0, "once");
	is_int(fs_fsync_inode(t.root, false), 0, "fsync of a directory");
	fs_release(a);
	fs_release(b);
	fs_release(c);
	fsfix_put(inode);
	is_int(fsfix_umount(&t), 0, "unmount");
	is_int(fsfix_fsck(&t), 0, "fsck clean");
	fsfix_cleanup(&t);
}

/* ---- the orphan list under concurrent releases ---- */

/*
 * Files unlinked while still referenced (open, or looked up by the kernel)
 * sit on the orphan list; their last releases, from other threads, take them
 * off by walking from the superblock's head through each member's
 * i_orphan_next in its inode-table slot - while the head's own inode may be
 * being written (its unlink sets its ctime after putting it on the list;
 * futimens does the same). Here one thread keeps writing the head's inode
 * while two release the orphans behind it, as a FUSE daemon's workers do with
 * unlinks and forgets. The list must end empty, naming no freed inode, and
 * fsck must be clean.
 *
 * Writing an inode once copied the whole in-core inode into the slot and then
 * put the slot's link back: for a few instructions the slot held the in-core
 * copy's stale link (0), and a walk reading it then stopped short and freed an
 * inode still on the list (tests/mount/bigdir.sh caught it once: "inode N: on
 * the orphan list but marked free" after a clean unmount). Too short a window
 * to hit on purpose, so the writer also watches the head's link with a
 * hardware watchpoint (perf_event_open, its own thread only): writing an
 * inode must never store to its link at all. Where watchpoints are not
 * available that check is skipped and the rest runs as a stress test.
 */
enum { ORPH_FILES = 1000, ORPH_RELEASERS = 2 };

struct orph {
	struct inode **inodes; /* [0] stays at the head; the rest are released */
	const void *link;      /* the head's i_orphan_next in its table buffer */
	_Atomic bool armed;    /* the writer is writing (and watching) */
	_Atomic bool stop;     /* the releasers are done */
	unsigned writes;       /* inode writes the writer made */
	int watch_err;	       /* 0: watched; else why not (negative errno) */
};

/* Stores the writer made to the watched link, and the first value stored. */
static _Atomic unsigned orph_stores;
static uint32_t orph_stored;
static const void *orph_link;

/* SIGTRAP from the watchpoint, in the writer, right after its store. */
static void orph_trap(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	if (!atomic_fetch_add(&orph_stores, 1))
		orph_stored = le32_to_cpu(*(const volatile le32 *)orph_link);
}

/* A write watchpoint on @addr for the calling thread: SIGTRAP after every
 * store to it. Returns the perf fd or a negative errno (-EOPNOTSUPP when the
 * kernel headers predate synchronous SIGTRAP, Linux 5.13). */
static int orph_watch(const void *addr)
{
#ifdef PERF_ATTR_SIZE_VER7
	struct perf_event_attr a = {
		.type = PERF_TYPE_BREAKPOINT,
		.size = sizeof(a),
		.bp_type = HW_BREAKPOINT_W,
		.bp_addr = (uintptr_t)addr,
		.bp_len = HW_BREAKPOINT_LEN_4,
		.sample_period = 1,
		.disabled = 1,
		.exclude_kernel = 1,
		.exclude_hv = 1,
		.remove_on_exec = 1,
		.sigtrap = 1,
	};
	int fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
#else
	(void)addr;
	return -EOPNOTSUPP;
#endif
}

static void *orph_write(void *arg)
{
	struct orph *o = arg;
	int fd = orph_watch(o->link);

	o->watch_err = fd < 0 ? fd : 0;
	while (!atomic_load(&o->stop)) {
		fs_inode_touch(o->inodes[0], FS_ATIME);
		o->writes++;
		atomic_store(&o->armed, true);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

struct orph_releaser {
	struct orph *o;
	unsigned id; /* releases inodes N - 1 - id, N - 1 - id - RELEASERS, ... */
};

static void *orph_release(void *arg)
{
	struct orph_releaser *r = arg;

	while (!atomic_load(&r->o->armed))
		sched_yield();
	/* newest first: each is right behind the head when released */
	for (int i = ORPH_FILES - 1 - (int)r->id; i > 0; i -= ORPH_RELEASERS)
		fsfix_put(r->o->inodes[i]);
	return NULL;
}

/* Make them all and unlink them, o1 ... oN first and o0 last, so o0 is the
 * head of the list. */
static void orph_setup(struct fsfix *t, struct orph *o, uint32_t *inos)
{
	char name[32];

	for (unsigned i = 0; i < ORPH_FILES; i++) {
		snprintf(name, sizeof(name), "o%u", i);
		o->inodes[i] = fsfix_create(t, name);
		inos[i] = o->inodes[i]->ino;
	}
	for (unsigned i = 1; i <= ORPH_FILES; i++) {
		snprintf(name, sizeof(name), "o%u", i % ORPH_FILES);
		if (fs_unlink(t->root, name))
			BAIL("unlink %s", name);
	}
}

/* Release everything behind the head while the head is written. */
static void orph_run(struct orph *o)
{
	struct sigaction sa = {.sa_sigaction = orph_trap, .sa_flags = SA_RESTART | SA_SIGINFO};
	struct orph_releaser r[ORPH_RELEASERS];
	pthread_t rel[ORPH_RELEASERS], writer;

	orph_link = o->link;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTRAP, &sa, NULL);
	pthread_create(&writer, NULL, orph_write, o);
	for (unsigned i = 0; i < ORPH_RELEASERS; i++) {
		r[i] = (struct orph_releaser){.o = o, .id = i};
		pthread_create(&rel[i], NULL, orph_release, &r[i]);
	}
	for (unsigned i = 0; i < ORPH_RELEASERS; i++)
		pthread_join(rel[i], NULL);
	atomic_store(&o->stop, true);
	pthread_join(writer, NULL);
	signal(SIGTRAP, SIG_DFL);
}

static void orph_check_stores(const struct orph *o)
{
	unsigned stores = atomic_load(&orph_stores);

	if (o->watch_err) {
		ok(1,
		   "writes of the head's inode never stored to its link # SKIP no hardware "
		   "watchpoint here (%s)",
		   strerror(-o->watch_err));
		return;
	}
	if (stores)
		diag("the first of %u stores put %u there", stores, orph_stored);
	ok(o->writes > 0 && !stores, "%u writes of the head's inode never stored to its link",
	   o->writes);
}

static void test_orphan_race(void)
{
	uint32_t *inos = calloc(ORPH_FILES, sizeof(*inos));
	struct orph o = {.inodes = calloc(ORPH_FILES, sizeof(struct inode *))};
	struct folio_inode *slot;
	struct buffer_head *bh;
	unsigned freed = 0;
	struct fsfix t;
	int err;

	if (!o.inodes || !inos)
		BAIL("out of memory");
	fsfix_mkfs(&t, 4096, "64M", NULL);
	fsfix_mount(&t);
	orph_setup(&t, &o, inos);
	bh = fs_ino_bread(t.fs, inos[0], &slot, &err);
	if (!bh)
		BAIL("fs_ino_bread: %d", err);
	o.link = &slot->i_orphan_next;
	alarm(300);
	orph_run(&o);
	alarm(0);
	brelse(bh);
	orph_check_stores(&o);
	is_int(fs_orphan_head(t.fs), inos[0],
	       "orphans released behind the head: it is still the head");
	fsfix_put(o.inodes[0]);
	is_int(fs_orphan_head(t.fs), 0, "the orphan list ends empty");
	for (unsigned i = 0; i < ORPH_FILES; i++) {
		struct inode *g;
		int ret = fs_iget(t.fs, inos[i], &g);

		freed += ret == -ENOENT;
		if (!ret)
			fs_iput(g);
	}
	is_int(freed, ORPH_FILES, "every orphan freed");
	ok(!fs_check_writable(t.fs), "still writable (no corruption found)");
	is_int(fsfix_umount(&t), 0, "unmount after the releases");
	is_int(fsfix_fsck(&t), 0, "fsck clean after concurrent orphan releases");
	fsfix_cleanup(&t);
	free(o.inodes);
	free(inos);
}

int main(void)
{
	static const unsigned sizes[] = {1024, 2048, 4096};

	test_mount_errors();
	test_mount_ro();
	test_fsync_errseq();
	test_corrupt_node();
	test_orphan_race();
	for (unsigned i = 0; i < 3; i++) {
		test_mount_basic(sizes[i]);
		test_rw(sizes[i]);
		test_sparse(sizes[i]);
		test_truncate(sizes[i]);
		test_punch_zero(sizes[i]);
		test_prealloc(sizes[i]);
		test_seek(sizes[i]);
		test_copy(sizes[i]);
	}
	return done_testing();
}
