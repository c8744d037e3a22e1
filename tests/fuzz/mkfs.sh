#!/bin/sh
# tests/fuzz/mkfs.sh - mkfs.foliofs with random option strings and sizes
# (block and inode sizes valid and not, inode counts, journal sizes, labels,
# uuids, tiny and odd image sizes, existing files of odd lengths):
# FUZZ_MKFS (default 60) command lines from number FUZZ_FIRST. mkfs may refuse,
# but must not crash or hang; an image it makes must be fsck-clean, mount,
# take the library's exercise and be fsck-clean again.
. "$(dirname "$0")/lib.sh"

n=${FUZZ_MKFS:-60}
first=${FUZZ_FIRST:-0}
out=$("$FUZZIMG" -T "$FUZZ_TOOLS" -j "$FUZZ_JOBS" mkfs "$first" "$n" 2>"$T/run.err")
rc=$?
fuzz_counts "$out"
grep -E '^FAIL|^mkfs [0-9]' "$T/run.err" | head -n 20 | sed 's/^/# /'
is "$images" "$n" "$n mkfs command lines"
unclean=$(printf '%s\n' "$out" | sed -nE 's/.*not fsck-clean ([0-9]+).*/\1/p')
made=$(printf '%s\n' "$out" | sed -nE 's/^mkfs: made ([0-9]+).*/\1/p')
ok "$([ "${made:-0}" -gt 0 ]; echo $?)" "some command lines made an image (${made:-0})"
is "${unclean:-x}" 0 "every image mkfs made is fsck-clean, mounts and stays clean"
is "$crashes" 0 "no crash"
is "$hangs" 0 "no hang"
is "$reports" 0 "no sanitizer report"
is "$rc" 0 "fuzzimg mkfs exits 0"
done_testing
