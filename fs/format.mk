# fs/format.mk: the on-disk format library (structures, checksums, name hash,
# geometry), shared by the daemon, mkfs.foliofs and fsck.foliofs.
noinst_LIBRARIES += fs/libformat.a
fs_libformat_a_SOURCES = fs/format.h fs/format.c fs/crc32c.h fs/crc32c.c
FORMAT_LIBS = fs/libformat.a -lpthread
