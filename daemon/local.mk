# daemon/: the FUSE daemon foliofs (options, mount, the operation table, the
# session's I/O, kernel notifications, the control socket's server).
bin_PROGRAMS += daemon/foliofs
daemon_foliofs_SOURCES = daemon/daemon.h daemon/ctl_proto.h daemon/main.c daemon/opts.c \
	daemon/fuse_ops.c daemon/io.c daemon/notify.c daemon/ctl_server.c \
	daemon/ctl_sock.c daemon/ctl_dir.c
daemon_foliofs_CFLAGS = $(AM_CFLAGS) $(FUSE_CFLAGS) -DFUSE_USE_VERSION=312
daemon_foliofs_LDADD = $(FS_LIBS) $(FUSE_LIBS)
