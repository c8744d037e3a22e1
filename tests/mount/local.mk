# tests/mount/: the mount scenarios - shell scripts printing TAP that make
# images with tools/mkfs.foliofs, mount them with daemon/foliofs, check
# through the kernel's FUSE client and end with tools/fsck.foliofs. They need
# root and /dev/fuse and skip without them. The slowest come first so a
# parallel `make check` starts them early.
check_PROGRAMS += tests/mount/mmap_helper tests/mount/daemon_mmap

# The load and exhaustion tests: flood.sh and limits.sh are in MOUNT_TESTS
# below; soak.sh and the full sizes run in make check-load.
check_PROGRAMS += tests/mount/flood
EXTRA_DIST += tests/mount/loadlib.sh tests/mount/limits.py tests/mount/soak.sh \
	tests/mount/check-load.sh

# make check-load: the load and exhaustion tests at full size
# (tests/mount/check-load.sh): the flood for a minute, files of 100,000
# extents, a directory of a million entries, and the ten-minute fio soak
# while the cache is retuned. Not part of make check. FLOOD_SECONDS,
# SOAK_SECONDS, BIGDIR_ENTRIES shorten them; LOAD_TESTS picks some.
check-load: all $(check_PROGRAMS)
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		bash $(top_srcdir)/tests/mount/check-load.sh

MOUNT_TESTS = \
	tests/mount/flood.sh \
	tests/mount/limits.sh \
	tests/mount/bigdir.sh \
	tests/mount/fio.sh \
	tests/mount/durability.sh \
	tests/mount/syncwrite.sh \
	tests/mount/writeback.sh \
	tests/mount/memory.sh \
	tests/mount/ctlsock.sh \
	tests/mount/zswap.sh \
	tests/mount/mmap.sh \
	tests/mount/ops.sh \
	tests/mount/enospc.sh \
	tests/mount/sparse.sh \
	tests/mount/links.sh \
	tests/mount/rename.sh \
	tests/mount/xattr.sh \
	tests/mount/perms.sh \
	tests/mount/perms-suid.sh \
	tests/mount/perms-reserve.sh \
	tests/mount/perms-acl.sh \
	tests/mount/perms-user.sh \
	tests/mount/orphan.sh \
	tests/mount/badinput.sh \
	tests/mount/lies.sh \
	tests/mount/mountfuse.sh \
	tests/mount/daemon-basic.sh
TESTS += $(MOUNT_TESTS)
EXTRA_DIST += $(MOUNT_TESTS) tests/mount/lib.sh tests/mount/lib.py \
	tests/mount/ops.py tests/mount/sparse.py tests/mount/bigdir.py tests/mount/links.py \
	tests/mount/rename.py tests/mount/xattr.py tests/mount/perms.py tests/mount/perms_suid.py \
	tests/mount/perms_reserve.py tests/mount/perms_acl.py tests/mount/orphan.py \
	tests/mount/enospc.py tests/mount/syncwrite.py tests/mount/zswap.py \
	tests/mount/ctlsock.py
