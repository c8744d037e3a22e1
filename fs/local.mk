# fs/: the filesystem library, usable without FUSE (linked by the daemon and
# the filesystem's unit tests). Sources bottom layer first (fs/fs.h).
noinst_LIBRARIES += fs/libfs.a
fs_libfs_a_SOURCES = fs/fs.h fs/acl.c fs/cred.c fs/block.c fs/journal.c fs/alloc.c fs/orphan.c fs/inode.c fs/extent.c \
	fs/dir.c fs/xattr.c fs/file.c fs/attr.c fs/namei.c fs/super.c
FS_LIBS = fs/libfs.a $(FORMAT_LIBS) $(CACHE_LIBS)
