# tools/: mkfs.foliofs, fsck.foliofs, foliofs-ctl (the control socket's
# client), foliofs-fsx (the random-operation consistency tester) and
# foliofs-crash (the crash replayer: images a crash could leave, from a
# debug_logwrites log).
bin_PROGRAMS += tools/mkfs.foliofs tools/fsck.foliofs tools/foliofs-ctl tools/foliofs-fsx \
	tools/foliofs-crash

tools_mkfs_foliofs_SOURCES = tools/mkfs.c
tools_mkfs_foliofs_LDADD = $(FORMAT_LIBS) $(BACKING_LIBS)

tools_fsck_foliofs_SOURCES = tools/fsck.h tools/fsck.c tools/fsck_super.c \
	tools/fsck_inode.c tools/fsck_extent.c tools/fsck_xattr.c tools/fsck_dir.c \
	tools/fsck_bitmap.c tools/fsck_journal.c tools/fsck_repair.c
tools_fsck_foliofs_LDADD = $(FORMAT_LIBS) $(BACKING_LIBS)

tools_foliofs_ctl_SOURCES = daemon/ctl_proto.h daemon/ctl_dir.c tools/ctl.c

tools_foliofs_crash_SOURCES = tools/crash.c
tools_foliofs_crash_LDADD = $(BACKING_LIBS)

tools_foliofs_fsx_SOURCES = tools/fsx.c tools/fsx_ops.c tools/fsx_check.c tools/fsx_mark.c \
	tools/fsx.h

EXTRA_DIST += tools/setup.sh tools/test-summary.sh tools/demo.sh
