# shellcheck shell=sh disable=SC2034
# tests/fuzz/lib.sh - what the image fuzzer's tests share (sourced, not run):
# the TAP vocabulary of tests/lib/tap.sh and tests/lib/util.sh; $FUZZIMG;
# $FUZZ_TOOLS, the directory of the mkfs.foliofs and fsck.foliofs the fuzzer
# runs, and $FUZZ_DAEMON, the daemon daemon.sh mounts: the sanitizer builds
# of tests/fuzz/san when this tree has them (a build without
# --enable-sanitizers), else the tree's own (a sanitizer build already);
# $T, the test's temporary directory, removed on every exit path; and
#   fuzz_seeds DIR          build the seed images in DIR, or bail out
#   fuzz_counts OUTPUT      the counts fuzzimg printed, as comments; sets
#                           $images $crashes $hangs $reports from them

builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/lib/tap.sh
. "$srcdir/tests/lib/tap.sh"
# shellcheck source=tests/lib/util.sh
. "$srcdir/tests/lib/util.sh"

FUZZIMG=$builddir/tests/fuzz/fuzzimg
if [ -x "$builddir/tests/fuzz/san/fsck.foliofs" ]; then
	FUZZ_TOOLS=$builddir/tests/fuzz/san
	FUZZ_DAEMON=$builddir/tests/fuzz/san/foliofs
else
	FUZZ_TOOLS=$builddir/tools
	FUZZ_DAEMON=$builddir/daemon/foliofs
fi
FUZZ_JOBS=${FUZZ_JOBS:-2}

[ -x "$FUZZIMG" ] || bail "$FUZZIMG is not built"

make_tmpdir T "${TMPDIR:-/tmp}" foliofs-fuzz
chmod 0755 "$T"

fuzz_seeds() {
	mkdir -p "$1"
	"$FUZZIMG" -T "$FUZZ_TOOLS" seed "$1" >"$T/seed.out" 2>&1 || {
		show_file "$T/seed.out"
		bail "fuzzimg seed failed"
	}
}

fuzz_counts() {
	printf '%s\n' "$1" | grep -E '^(seed|images|operations|fsck|mkfs|crashes)' | sed 's/^/# /'
	images=$(printf '%s\n' "$1" | sed -nE 's/^images ([0-9]+).*/\1/p' | tail -n1)
	crashes=$(printf '%s\n' "$1" | sed -nE 's/^crashes ([0-9]+).*/\1/p' | tail -n1)
	hangs=$(printf '%s\n' "$1" | sed -nE 's/^crashes .*hangs ([0-9]+).*/\1/p' | tail -n1)
	reports=$(printf '%s\n' "$1" | sed -nE 's/.*sanitizer reports ([0-9]+).*/\1/p' | tail -n1)
}
