# bench/: benchmarks, run by `make bench` (never by make check). Each entry of
# BENCH_RUN is a command run from the build directory.
bench: all
	@set -e; for b in $(BENCH_RUN); do echo "== $$b"; $$b; done

# The page cache microbenchmark (docs/BENCHMARKS.md). Build it without
# --enable-debug for figures worth recording.
noinst_PROGRAMS += bench/bench_cache
bench_bench_cache_LDADD = $(TESTFS_LIBS)
BENCH_RUN += bench/bench_cache
