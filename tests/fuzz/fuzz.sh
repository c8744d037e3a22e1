#!/bin/sh
# tests/fuzz/fuzz.sh - make check's share of the image fuzzer: FUZZ_IMAGES
# (default 1000) images mutated from the seed images, from image number
# FUZZ_FIRST (default 0), each mounted and exercised with the library in a
# child process, then checked by fsck.foliofs -n and -y, on FUZZ_JOBS (2)
# workers. Passes when every image was run and none crashed, hung or left a
# sanitizer report; the counts are printed as comments. A failing image is
# kept in $FUZZ_KEEP (default: the test's directory, removed at exit; set it to
# keep them) and can be rebuilt with `fuzzimg mutate SEEDS NUM OUT`.
. "$(dirname "$0")/lib.sh"

n=${FUZZ_IMAGES:-1000}
first=${FUZZ_FIRST:-0}
keep=${FUZZ_KEEP:-$T/keep}
fuzz_seeds "$T/seeds"
ok 0 "seed images built"
out=$("$FUZZIMG" -T "$FUZZ_TOOLS" -j "$FUZZ_JOBS" -k "$keep" run "$T/seeds" "$first" "$n" 2>"$T/run.err")
rc=$?
fuzz_counts "$out"
grep -E '^FAIL' "$T/run.err" | head -n 20 | sed 's/^/# /'
is "$images" "$n" "$n images fuzzed (numbers $first to $((first + n - 1)))"
is "$crashes" 0 "no crash (library, fsck -n, fsck -y)"
is "$hangs" 0 "no hang"
is "$reports" 0 "no sanitizer report"
is "$rc" 0 "fuzzimg run exits 0"
done_testing
