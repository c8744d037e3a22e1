# tools/fsx.mk: foliofs-fsx, the random-operation consistency tester, and its tests.
bin_PROGRAMS += tools/foliofs-fsx
tools_foliofs_fsx_SOURCES = tools/fsx.c tools/fsx_ops.c tools/fsx_check.c tools/fsx.h

# Shell tests printing TAP; they find the binary through $top_builddir.
FSX_TESTS = \
	tests/fsx/fsx-tool.sh \
	tests/fsx/fsx-repro.sh \
	tests/fsx/fsx-corrupt.sh \
	tests/fsx/fsx-options.sh
TESTS += $(FSX_TESTS)
EXTRA_DIST += $(FSX_TESTS) tests/fsx/lib.sh
