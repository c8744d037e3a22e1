# fs/daemon.mk: the FUSE daemon fs/foliofs, its control tool foliofs-ctl,
# and the daemon's own mount test.
bin_PROGRAMS += fs/foliofs tools/foliofs-ctl

fs_foliofs_SOURCES = fs/daemon.h fs/daemon_ctl.h fs/main.c fs/daemon_opts.c fs/fuse_ops.c \
	fs/daemon_attr.c fs/daemon_io.c fs/daemon_notify.c fs/ctl.c
fs_foliofs_CFLAGS = $(AM_CFLAGS) $(FUSE_CFLAGS) -DFUSE_USE_VERSION=312
fs_foliofs_LDADD = $(FS_LIBS) $(FUSE_LIBS)

tools_foliofs_ctl_SOURCES = fs/daemon_ctl.h tools/ctl.c

# MAP_SHARED coherence helper for tests/mount/daemon-basic.sh.
check_PROGRAMS += tests/mount/daemon_mmap
tests_mount_daemon_mmap_SOURCES = tests/mount/daemon_mmap.c

TESTS += tests/mount/daemon-basic.sh
EXTRA_DIST += tests/mount/daemon-basic.sh tools/demo.sh
