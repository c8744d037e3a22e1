# fs/fs.mk: the filesystem library (linked by the daemon and the fs unit tests).
noinst_LIBRARIES += fs/libfs.a
fs_libfs_a_SOURCES = fs/fs.h fs/super.c fs/alloc.c fs/inode.c fs/extent.c fs/file.c \
	fs/dir.c fs/xattr.c fs/namei.c
FS_LIBS = fs/libfs.a fs/libformat.a $(CACHE_LIBS)
