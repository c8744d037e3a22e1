# tests/fsx/lib.sh - shared helpers for the foliofs-fsx shell tests (sourced).
#
# Gives: $FSX (the binary), $T (a temporary directory under /tmp), and
#   tap_ok STATUS DESC       one TAP line, passing when STATUS is 0
#   tap_check DESC CMD...    one TAP line, passing when CMD succeeds
#   tap_skip DESC, tap_diag TEXT, tap_show FILE [LINES]
#   tap_done                 prints the plan; exits 1 when a test failed
#   tap_tmpdir VAR PARENT    a temporary directory, named in $VAR
#   tap_unmount_on_exit DIR  unmount DIR on exit
#   fs_type DIR              the filesystem DIR is on
#   run_fsx OUT ERR ARGS...  run the tester, stdout to OUT, stderr to ERR, status in $rc
# On every exit, mounts are undone first, then the temporary directories go.

if [ -z "$top_builddir" ]; then
	echo "Bail out! top_builddir is not set (run through make check)"
	exit 1
fi
FSX=$top_builddir/tools/foliofs-fsx
if [ ! -x "$FSX" ]; then
	echo "Bail out! $FSX is not built"
	exit 1
fi

# shellcheck source=tests/lib/tap.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/tap.sh"
tap_cleanups=""
tap_mounts=""

tap_cleanup() {
	for m in $tap_mounts; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for d in $tap_cleanups; do
		rm -rf "$d"
	done
}
trap tap_cleanup EXIT
trap 'exit 1' INT TERM HUP

# Unmount $1 on exit (before the temporary directories go).
tap_unmount_on_exit() {
	tap_mounts="$1 $tap_mounts"
}

# tap_tmpdir VAR PARENT: a new temporary directory in PARENT, named in $VAR and
# removed on exit.
tap_tmpdir() {
	_d=$(mktemp -d "$2/fsx-test.XXXXXX") || {
		echo "Bail out! cannot make a temporary directory in $2"
		exit 1
	}
	tap_cleanups="$tap_cleanups $_d"
	eval "$1=\$_d"
}

tap_tmpdir T /tmp

# The fsx tests' names for tests/lib/tap.sh's functions.
tap_ok() { ok "$@"; }
tap_check() { check "$@"; }
tap_skip() { skip "$@"; }
tap_diag() { diag "$@"; }
tap_show() { show_file "$1" "${2:-40}"; }
tap_done() { done_testing; }

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
