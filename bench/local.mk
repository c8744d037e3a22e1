# bench/: benchmarks, run by `make bench` (never by make check). Each entry of
# BENCH_RUN is a command run from the build directory.
bench: all
	@set -e; for b in $(BENCH_RUN); do echo "== $$b"; $$b; done

# The page cache microbenchmark (docs/BENCHMARKS.md). Build it without
# --enable-debug for figures worth recording.
noinst_PROGRAMS += bench/bench_cache
bench_bench_cache_LDADD = $(TESTFS_LIBS)
BENCH_RUN += bench/bench_cache

# The fio comparison (foliofs, fuse2fs, ext4, the FUSE ceiling, the raw
# device) and the metadata figures; both need root and mount things
# (docs/BENCHMARKS.md). Sizes come from BENCH_* variables.
BENCH_RUN += $(top_srcdir)/bench/compare.sh $(top_srcdir)/bench/metadata.sh
# The compressed tier's fio figures (docs/BENCHMARKS.md, "Compressed tier").
BENCH_RUN += $(top_srcdir)/bench/zswap.sh
EXTRA_DIST += bench/lib.sh bench/compare.sh bench/compare_table.py bench/metadata.sh \
	bench/metadata.py bench/fio/seqwrite.fio bench/fio/seqread.fio bench/fio/randread.fio \
	bench/fio/randwrite.fio bench/fio/randrw.fio bench/fio/mmap.fio \
	bench/fio/randwrite-fsync.fio bench/fio/compress4x.fio bench/fio/rawwrite.fio \
	bench/writeback.sh bench/zswap.sh bench/zswap_table.py bench/fio/zswap.fio \
	bench/fio/zswap-scan.fio
