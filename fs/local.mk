# fs/: the filesystem library, usable without FUSE (linked by the daemon and
# the filesystem's unit tests).
noinst_LIBRARIES += fs/libfs.a
fs_libfs_a_SOURCES = fs/fs.h fs/super.c fs/alloc.c fs/inode.c fs/orphan.c fs/extent.c fs/file.c \
	fs/dir.c fs/xattr.c fs/namei.c
FS_LIBS = fs/libfs.a $(FORMAT_LIBS) $(CACHE_LIBS)
