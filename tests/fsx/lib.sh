# shellcheck shell=sh disable=SC2034
# tests/fsx/lib.sh - what foliofs-fsx's own shell tests share beyond tests/lib
# (sourced): the TAP vocabulary of tests/lib/tap.sh and the helpers of
# tests/lib/util.sh (make_tmpdir, at_exit, ...), $FSX (the binary), $T (a
# temporary directory under /tmp, removed on exit), and
#   fs_type DIR              the filesystem DIR is on
#   run_fsx OUT ERR ARGS...  run the tester, stdout to OUT, stderr to ERR, status in $rc
# A test that mounts something unmounts it on exit with at_exit, after
# making its directory, so the mount goes before the directory does.

if [ -z "$top_builddir" ]; then
	echo "Bail out! top_builddir is not set (run through make check)"
	exit 1
fi
# shellcheck source=tests/lib/tap.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/tap.sh"
# shellcheck source=tests/lib/util.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/util.sh"

FSX=$top_builddir/tools/foliofs-fsx
[ -x "$FSX" ] || bail "$FSX is not built"

make_tmpdir T /tmp fsx-test

fs_type() {
	stat -f -c %T "$1" 2>/dev/null || echo unknown
}

run_fsx() {
	out=$1
	err=$2
	shift 2
	"$FSX" "$@" >"$out" 2>"$err"
	rc=$?
}
