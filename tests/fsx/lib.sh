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

tap_n=0
tap_failed=0
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

tap_ok() {
	tap_n=$((tap_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

# tap_check DESC COMMAND...: a test that passes when COMMAND succeeds.
tap_check() {
	desc=$1
	shift
	if "$@"; then tap_ok 0 "$desc"; else tap_ok 1 "$desc"; fi
}

tap_skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n # SKIP $1"
}

tap_diag() {
	echo "# $*"
}

# Show a file's contents as TAP comments (for failures).
tap_show() {
	sed 's/^/#   /' "$1" | head -n "${2:-40}"
}

tap_done() {
	echo "1..$tap_n"
	[ "$tap_failed" = 0 ]
	exit $?
}

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
