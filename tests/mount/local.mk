# tests/mount/: the mount scenarios - shell scripts printing TAP that make
# images with tools/mkfs.foliofs, mount them with daemon/foliofs, check
# through the kernel's FUSE client and end with tools/fsck.foliofs. They need
# root and /dev/fuse and skip without them. The slowest come first so a
# parallel `make check` starts them early.
check_PROGRAMS += tests/mount/mmap_helper tests/mount/daemon_mmap

MOUNT_TESTS = \
	tests/mount/bigdir.sh \
	tests/mount/fio.sh \
	tests/mount/durability.sh \
	tests/mount/syncwrite.sh \
	tests/mount/writeback.sh \
	tests/mount/memory.sh \
	tests/mount/zswap.sh \
	tests/mount/mmap.sh \
	tests/mount/ops.sh \
	tests/mount/enospc.sh \
	tests/mount/sparse.sh \
	tests/mount/links.sh \
	tests/mount/rename.sh \
	tests/mount/xattr.sh \
	tests/mount/perms.sh \
	tests/mount/orphan.sh \
	tests/mount/badinput.sh \
	tests/mount/lies.sh \
	tests/mount/mountfuse.sh \
	tests/mount/daemon-basic.sh
TESTS += $(MOUNT_TESTS)
EXTRA_DIST += $(MOUNT_TESTS) tests/mount/lib.sh tests/mount/lib.py \
	tests/mount/ops.py tests/mount/sparse.py tests/mount/bigdir.py tests/mount/links.py \
	tests/mount/rename.py tests/mount/xattr.py tests/mount/perms.py tests/mount/orphan.py \
	tests/mount/enospc.py tests/mount/syncwrite.py tests/mount/zswap.py
