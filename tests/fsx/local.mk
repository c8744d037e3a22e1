# tests/fsx/: foliofs-fsx's own tests and the consistency suite on foliofs
# mounts (docs/TESTING.md). Shell tests printing TAP; they find the binaries
# through $top_builddir. The suite on foliofs mounts (one script per block
# size, slowest first so a parallel make starts them early) needs root and
# /dev/fuse and skips without.
FSX_TESTS = \
	tests/fsx/fsx-foliofs-1k.sh \
	tests/fsx/fsx-foliofs-2k.sh \
	tests/fsx/fsx-foliofs-4k.sh \
	tests/fsx/fsx-foliofs-corrupt.sh \
	tests/fsx/fsx-punch-race.sh \
	tests/fsx/fsx-tool.sh \
	tests/fsx/fsx-repro.sh \
	tests/fsx/fsx-corrupt.sh \
	tests/fsx/fsx-options.sh
TESTS += $(FSX_TESTS)
EXTRA_DIST += $(FSX_TESTS) tests/fsx/lib.sh tests/fsx/fsx-foliofs.sh \
	tests/fsx/fsx-mount-lib.sh tests/fsx/fsx-remount.sh tests/fsx/fsx-long.sh \
	tests/fsx/punch_race.py

# make check-long: the long consistency run (tests/fsx/fsx-long.sh), at least
# a million operations across seeds, cache modes, block sizes and the
# multi-process mode. Not part of make check. FSX_LONG_SCALE=N multiplies
# every run's operations by N; FSX_SEED_BASE shifts every seed.
check-long: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		bash $(top_srcdir)/tests/fsx/fsx-long.sh
