# fs/: the filesystem (on-disk format library now; the daemon comes next).
include fs/format.mk
include fs/fs.mk
include fs/daemon.mk
