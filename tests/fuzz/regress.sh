#!/bin/sh
# tests/fuzz/regress.sh - the images the fuzzer found bugs with
# (tests/fuzz/regress/*.img.xz, one per bug, named after it): each through
# the library and fsck.foliofs -n and -y as fuzzimg does, and none may crash,
# hang or leave a sanitizer report.
. "$(dirname "$0")/lib.sh"

for x in "$srcdir"/tests/fuzz/regress/*.img.xz; do
	xz -dc "$x" >"$T/$(basename "$x" .xz)" || bail "cannot decompress $x"
done
sub_tap "$FUZZIMG" -T "$FUZZ_TOOLS" -j "$FUZZ_JOBS" replay "$T"/*.img
done_testing
