# format/: the on-disk format library (structures, checksums, name hash,
# geometry), shared by the daemon, mkfs.foliofs and fsck.foliofs.
noinst_LIBRARIES += format/libformat.a
format_libformat_a_SOURCES = format/format.h format/format.c format/crc32c.h format/crc32c.c \
	format/journal.h format/journal.c
FORMAT_LIBS = format/libformat.a
